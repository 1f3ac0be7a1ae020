"""House rules that CI enforces: ruff and mypy --strict clean, the core free of I/O imports.

ruff's TID251 rule (pyproject.toml) bans asyncio, socket, time and pyroute2 in the protocol core
(wire/, fsm/, session, neighbor, rib/); this test runs ruff so the ban holds on every CI run, not
only on a developer's machine.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=600)


def test_ruff_is_clean() -> None:
    if shutil.which("ruff") is None and _run(sys.executable, "-m", "ruff", "--version").returncode:
        pytest.skip("ruff is not installed (pip install -e '.[test]' installs it)")
    result = _run(sys.executable, "-m", "ruff", "check", "pybgp", "tests", "benchmarks",
                  "examples")
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_strict_is_clean() -> None:
    if _run(sys.executable, "-m", "mypy", "--version").returncode:
        pytest.skip("mypy is not installed (pip install -e '.[test]' installs it)")
    result = _run(sys.executable, "-m", "mypy")
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_protocol_core_imports_no_io() -> None:
    """Belt and braces for the ruff rule: grep the core for the banned imports."""
    core = _core_files()
    assert len(core) > 20, core
    banned = ("asyncio", "socket", "time", "pyroute2")
    offenders = []
    for path in core:
        for number, line in enumerate(path.read_text().splitlines(), 1):
            words = line.split()
            if len(words) >= 2 and words[0] in ("import", "from"):
                module = words[1].split(".")[0]
                if module in banned:
                    offenders.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert not offenders, "\n".join(offenders)


def _core_files() -> list[Path]:
    """The protocol core as pyproject.toml declares it: the negated glob of the TID251 ignore
    (``"!pybgp/{wire/**,rib/**,...}"``), so the list lives in one place."""
    with (ROOT / "pyproject.toml").open("rb") as file:
        ignores = tomllib.load(file)["tool"]["ruff"]["lint"]["per-file-ignores"]
    (pattern,) = [key for key in ignores if key.startswith("!pybgp/{")]
    files: list[Path] = []
    for entry in pattern.removeprefix("!pybgp/{").removesuffix("}").split(","):
        if entry.endswith("/**"):
            files.extend(sorted((ROOT / "pybgp" / entry.removesuffix("/**")).rglob("*.py")))
        else:
            files.append(ROOT / "pybgp" / entry)
    return files


def _imports(path: Path, modules: dict[str, Path]) -> set[str]:
    """The pybgp modules ``path`` imports (TYPE_CHECKING ones included: a cycle is a cycle)."""
    import ast

    def resolve(name: str) -> str | None:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [
                f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in modules else node.module
                for a in node.names
            ]
        found.update(r for r in map(resolve, names) if r is not None)
    return found


def test_no_import_cycles() -> None:
    """Issue 10: no module reaches itself through its imports (speaker <-> reload was one)."""
    modules: dict[str, Path] = {}
    for path in (ROOT / "pybgp").rglob("*.py"):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    graph = {name: _imports(path, modules) - {name} for name, path in modules.items()}
    cycles = []
    for start in sorted(graph):
        stack, seen = [(start, (start,))], {start}
        while stack:
            node, trail = stack.pop()
            for nxt in sorted(graph[node]):
                if nxt == start:
                    cycles.append(" -> ".join((*trail, nxt)))
                elif nxt not in seen:
                    seen.add(nxt)
                    stack.append((nxt, (*trail, nxt)))
    assert not cycles, "\n".join(cycles)

"""Long-running processes started by the harness, and the pybgp speaker process itself.

``ManagedProcess`` is the generic part, :class:`pybgp.demo.lab.Process` (the one the demo uses
too): a command list, optionally run inside a network namespace with ``ip netns exec NS``,
output in a log file, a new session, a stop by pid (SIGTERM, then SIGKILL after a timeout).
Every process started through a ``Topology`` node is tracked by its lab and stopped at
teardown.

``PybgpProcess`` runs ``python -m pybgp run -c FILE`` in a node with a generated TOML config.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pybgp.demo.lab import Process, pid_alive

if TYPE_CHECKING:
    from .netns import Node

__all__ = ["REPO_ROOT", "ManagedProcess", "PybgpProcess", "pid_alive", "to_toml"]

REPO_ROOT = Path(__file__).resolve().parents[2]


class ManagedProcess(Process):
    """A :class:`pybgp.demo.lab.Process` (start, pid, logs, stop by pid, freeze/thaw, kill),
    with the assertion tests make on how it ended."""

    def check_returncode(self, expected: int = 0) -> None:
        """Raise AssertionError (with the log tail) unless the process ended with ``expected``."""
        code = self.returncode
        if code != expected:
            raise AssertionError(
                f"{self.name} (pid {self.pid}) exit status {code}, expected {expected}; "
                f"log tail:\n{self.logs()[-4000:]}"
            )


# -- TOML ---------------------------------------------------------------------------------
def _toml_key(key: str) -> str:
    if key and all(ch.isalnum() or ch in "-_" for ch in key):
        return key
    return _toml_value(key)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
        return f'"{escaped}"'
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(item) for item in value) + "]"
    if isinstance(value, Mapping):
        inner = ", ".join(f"{_toml_key(k)} = {_toml_value(v)}" for k, v in value.items())
        return "{" + inner + "}"
    # ipaddress objects and the like
    return _toml_value(str(value))


def _is_table_array(value: Any) -> bool:
    return (
        isinstance(value, list | tuple)
        and len(value) > 0
        and all(isinstance(item, Mapping) for item in value)
    )


def to_toml(data: Mapping[str, Any], _prefix: str = "") -> str:
    """Serialise nested dicts/lists of scalars to TOML (the subset our configs use)."""
    lines: list[str] = []
    nested: list[tuple[str, Any]] = []
    for key, value in data.items():
        if isinstance(value, Mapping) or _is_table_array(value):
            nested.append((key, value))
        elif value is not None:
            lines.append(f"{_toml_key(key)} = {_toml_value(value)}")
    for key, value in nested:
        full = f"{_prefix}{_toml_key(key)}"
        if isinstance(value, Mapping):
            lines.append("")
            lines.append(f"[{full}]")
            body = to_toml(value, f"{full}.")
            if body:
                lines.append(body)
        else:
            for item in value:
                lines.append("")
                lines.append(f"[[{full}]]")
                body = to_toml(item, f"{full}.")
                if body:
                    lines.append(body)
    return "\n".join(lines).strip("\n") + ("\n" if not _prefix else "")


# -- the pybgp speaker ----------------------------------------------------------------------
class PybgpProcess:
    """``python -m pybgp run -c FILE`` inside ``node``'s namespace.

    ``config`` is a TOML text or a mapping (serialised with ``to_toml``). The repository
    root is put on PYTHONPATH so the checkout under test is what runs. ``argv`` overrides
    the command (the harness self-test uses it to run a trivial command instead).
    """

    def __init__(
        self,
        node: Node,
        config: Mapping[str, Any] | str,
        workdir: str | os.PathLike[str] | None = None,
        *,
        argv: Sequence[str] | None = None,
        name: str = "pybgp",
    ) -> None:
        self.node = node
        self.workdir = Path(workdir) if workdir is not None else node.topology.workdir / node.name
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.config_path = self.workdir / f"{name}.toml"
        text = config if isinstance(config, str) else to_toml(config)
        self.config_path.write_text(text)
        command = (
            list(argv)
            if argv is not None
            else [sys.executable, "-m", "pybgp", "run", "-c", str(self.config_path)]
        )
        pythonpath = os.pathsep.join(
            part for part in (str(REPO_ROOT), os.environ.get("PYTHONPATH", "")) if part
        )
        self.process = node.spawn(
            command,
            log_path=self.workdir / f"{name}.log",
            env={"PYTHONPATH": pythonpath, "PYTHONUNBUFFERED": "1"},
            name=f"{name}@{node.name}",
        )

    @property
    def pid(self) -> int:
        """The speaker's pid."""
        return self.process.pid

    def cli(
        self, *args: str, check: bool = False, timeout: float = 10.0
    ) -> subprocess.CompletedProcess[str]:
        """Run ``python -m pybgp ARGS`` in the node's namespace (e.g. ``status --json``)."""
        return self.node.run(
            [sys.executable, "-m", "pybgp", *args],
            check=check,
            timeout=timeout,
            env={"PYTHONPATH": str(REPO_ROOT)},
        )

    def stop(self, timeout: float = 5.0) -> int | None:
        """SIGTERM, then SIGKILL after ``timeout``; returns the exit status."""
        return self.process.stop(timeout)

    def logs(self) -> str:
        """The speaker's captured stdout/stderr."""
        return self.process.logs()

    def wait_exit(self, timeout: float = 10.0) -> int:
        """Wait until the process ends on its own and return its status."""
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(
                f"{self.process.name} still running after {timeout:g}s; log:\n{self.logs()[-4000:]}"
            ) from None

"""Every code block of docs/library.md and docs/operations.md is run or checked.

* ```python: a complete program, run in a subprocess (loopback addresses only, with a
  timeout); when the block right after it is a ```text block whose first line is
  ``# output of the block above``, the program's output must be exactly that text. A block
  whose first line is ``# from examples/X.py`` is an excerpt: it must appear word for word in
  that file (which the tests of the examples exercise).
* ```toml: parsed with ``pybgp.config.parse_config``; a block starting with ``# invalid``
  must be refused (and, when its second line is a comment, with exactly that message).
* ```console / ```sh: every ``$ pybgp ...`` command must exist with the flags shown
  (``pybgp SUBCOMMAND --help`` through ``pybgp.cli.main``); JSON lines printed after a
  ``status --json`` / ``routes --json`` command must have the contract's keys.
* ```text starting with ``# output of: curl ... /metrics``: the metrics must be what
  ``render_metrics`` makes of the ``status --json`` sample of the same page.
* any other block must start with ``# from <file>`` and appear word for word in that file.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import shlex
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest

from pybgp.cli import main as cli_main
from pybgp.config import ConfigError, parse_config
from pybgp.metrics import render_metrics

REPO = Path(__file__).resolve().parents[2]
DOCS = ("docs/library.md", "docs/operations.md")
BLOCK = re.compile(r"^```(\w*)\n(.*?)^```\s*$", re.S | re.M)
OUTPUT_MARK = "# output of the block above"
METRICS_MARK = re.compile(r"^# output of: curl .*/metrics$")
LOG_MARK = re.compile(r"^# output of: pybgp run ")
LOG_LINE = re.compile(
    r"^\d{4}-\d\d-\d\dT[\d:.]+Z (?P<level>DEBUG|INFO|WARNING|ERROR) +"
    r"(?P<logger>pybgp(?:\.\w+)*) (?P<message>.+)$"
)

STATUS_KEYS = {"asn", "router_id", "rib", "kernel", "peers"}
PEER_KEYS = {"address", "asn", "type", "state", "since", "info", "received", "accepted",
             "advertised"}
PEER_DETAIL_KEYS = {
    "address", "asn", "type", "state", "since", "info", "last_error", "router_id", "hold_time",
    "keepalive_time", "send_hold_time", "capabilities", "families", "disabled_families",
    "graceful_restart", "counters",
}
PATH_KEYS = {"prefix", "family", "next_hop", "as_path", "origin", "local_pref", "med",
             "communities", "large_communities"}
MONITOR_KEYS = {
    "snapshot": {"type", "time", "peers", "prefixes"},
    "peer": {"type", "time", "peer", "old", "new", "reason"},
    "best": {"type", "time", "prefix", "family", "action", "next_hop", "peer", "as_path",
             "reason"},
    "kernel": {"type", "time", "prefix", "family", "state"},
}
ROUTE_KEYS = {"prefix", "next_hop", "peer", "as_path", "origin", "local_pref", "med",
              "communities", "large_communities", "best", "reason", "installed"}


class Block:
    def __init__(self, doc: str, line: int, language: str, text: str) -> None:
        self.doc = doc
        self.line = line
        self.language = language
        self.text = text

    @property
    def first_line(self) -> str:
        return self.text.split("\n", 1)[0]

    def __repr__(self) -> str:
        return f"{self.doc}:{self.line} ({self.language})"


def blocks_of(doc: str) -> list[Block]:
    text = (REPO / doc).read_text(encoding="utf-8")
    return [
        Block(doc, text.count("\n", 0, match.start()) + 1, match.group(1), match.group(2))
        for match in BLOCK.finditer(text)
    ]


ALL_BLOCKS = [block for doc in DOCS for block in blocks_of(doc)]


def by_language(*languages: str) -> list[Any]:
    return [
        pytest.param(block, id=f"{block.doc}:{block.line}")
        for block in ALL_BLOCKS
        if block.language in languages
    ]


def following(block: Block) -> Block | None:
    same = [b for b in ALL_BLOCKS if b.doc == block.doc]
    index = same.index(block)
    return same[index + 1] if index + 1 < len(same) else None


def check_excerpt(block: Block) -> None:
    """``# from FILE`` then text that must appear in FILE word for word."""
    first, _, body = block.text.partition("\n")
    source = first.removeprefix("# from ").strip()
    path = REPO / source
    assert path.is_file(), f"{block}: {source} does not exist"
    assert body.strip(), f"{block}: empty excerpt"
    assert body in path.read_text(encoding="utf-8"), f"{block}: not found verbatim in {source}"


def test_the_docs_have_blocks_of_each_kind() -> None:
    languages = {(b.doc, b.language) for b in ALL_BLOCKS}
    assert ("docs/library.md", "python") in languages
    assert ("docs/operations.md", "console") in languages
    assert ("docs/operations.md", "toml") in languages


@pytest.mark.parametrize("block", by_language("python"))
def test_python_block(block: Block) -> None:
    if block.first_line.startswith("# from "):
        check_excerpt(block)
        return
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        part for part in (str(REPO), env.get("PYTHONPATH", "")) if part
    )
    result = subprocess.run(
        [sys.executable, "-c", block.text],
        capture_output=True, text=True, timeout=60, cwd=str(REPO), env=env, check=False,
    )
    assert result.returncode == 0, f"{block} failed:\n{result.stdout}\n{result.stderr}"
    nxt = following(block)
    if nxt is not None and nxt.language == "text" and nxt.first_line == OUTPUT_MARK:
        expected = nxt.text.split("\n", 1)[1]
        assert result.stdout == expected, f"{block}: output differs:\n{result.stdout}"


@pytest.mark.parametrize("block", by_language("toml"))
def test_toml_block(block: Block) -> None:
    data = tomllib.loads(block.text)
    if block.first_line.strip() == "# invalid":
        with pytest.raises(ConfigError) as caught:
            parse_config(data)
        second = block.text.split("\n")[1]
        if second.startswith("# "):
            assert str(caught.value) == second[2:]
    else:
        parse_config(data)


def cli_help(*argv: str) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.raises(SystemExit) as leaving:
        cli_main([*argv, "--help"])
    assert leaving.value.code == 0, argv
    return out.getvalue()


def _positional(command: list[str]) -> list[str]:
    """The arguments after the subcommand that are neither flags nor flag values."""
    valued = {"-s", "--socket", "-c", "--config", "--peer", "--family", "--community",
              "--next-hop"}
    words, skip = [], False
    for token in command[2:]:
        if skip:
            skip = False
        elif token in valued:
            skip = True
        elif not token.startswith("-"):
            words.append(token)
    return words


def check_json_output(command: list[str], line: str, block: Block) -> None:
    document = json.loads(line)
    if "monitor" in command:
        assert document["type"] in MONITOR_KEYS, (block, document)
        assert set(document) == MONITOR_KEYS[document["type"]], (block, document)
    elif "status" in command and _positional(command):
        assert set(document) >= PEER_DETAIL_KEYS, (block, document)
    elif "status" in command:
        assert set(document) >= STATUS_KEYS, (block, document)
        for peer in document["peers"]:
            assert set(peer) >= PEER_KEYS, (block, peer)
    elif "routes" in command and "--received" in command:
        for route in document["routes"]:
            assert set(route) >= PATH_KEYS | {"peer", "accepted", "reason"}, (block, route)
    elif "routes" in command and "--advertised" in command:
        for route in document["routes"]:
            assert set(route) >= PATH_KEYS | {"to"}, (block, route)
    elif "routes" in command:
        for route in document["routes"]:
            assert set(route) >= ROUTE_KEYS, (block, route)
    else:
        raise AssertionError(f"{block}: JSON after {command}")


@pytest.mark.parametrize("block", by_language("console", "sh"))
def test_console_block(block: Block) -> None:
    commands = 0
    command: list[str] = []
    for line in block.text.splitlines():
        if line.startswith("$ pybgp"):
            command = shlex.split(line[2:], comments=True)
            commands += 1
            subcommand = command[1]
            text = cli_help(*command[1:3]) if subcommand == "mrt" else cli_help(subcommand)
            for token in command[2:]:
                if token.startswith("-"):
                    flag = token.split("=", 1)[0]
                    assert re.search(rf"(^|[\s,\[]){re.escape(flag)}\b", text), (
                        f"{block}: pybgp {subcommand} has no flag {flag}"
                    )
        elif line.startswith("{") and command:
            assert "--json" in command, (block, line)
            check_json_output(command, line, block)
    assert commands, f"{block}: a console block shows pybgp commands"


def check_log_line(block: Block, line: str) -> None:
    """A log line of `pybgp run`: its format, and its message made by the module named."""
    match = LOG_LINE.match(line)
    assert match, f"{block}: not a pybgp log line: {line!r}"
    module = REPO / (match["logger"].replace(".", "/") + ".py")
    assert module.is_file(), f"{block}: no module for logger {match['logger']}"
    fixed = match["message"].split(":", 1)[0]
    assert fixed in module.read_text(encoding="utf-8"), (
        f"{block}: {module.name} never logs {fixed!r}"
    )
    if ".toml: speaker.hold_time: " in match["message"]:
        # the refused reload quotes the config error: the config check must say the same
        quoted = match["message"].split(".toml: ", 1)[1]
        with pytest.raises(ConfigError) as caught:
            parse_config({"speaker": {"asn": 64512, "router_id": "10.0.0.1", "hold_time": 2}})
        assert str(caught.value) == quoted


def _metrics_series(text: str) -> dict[str, str]:
    series = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            series[name] = value
    return series


def _status_sample(doc: str) -> dict[str, Any]:
    for block in ALL_BLOCKS:
        if block.doc != doc or block.language != "console":
            continue
        lines = block.text.splitlines()
        for index, line in enumerate(lines):
            if (
                line.startswith("$ pybgp status")
                and "--json" in line
                and not _positional(shlex.split(line[2:]))
            ):
                return dict(json.loads(lines[index + 1]))
    raise AssertionError(f"{doc} has no `pybgp status --json` sample")


@pytest.mark.parametrize("block", by_language("text", "ini", "yaml", "json", ""))
def test_other_block(block: Block) -> None:
    if block.first_line == OUTPUT_MARK:
        previous = [b for b in ALL_BLOCKS if b.doc == block.doc and following(b) is block]
        assert previous and previous[0].language == "python", (
            f"{block}: an output block follows the python block it shows"
        )
        return  # compared by test_python_block
    if METRICS_MARK.match(block.first_line):
        status = _status_sample(block.doc)
        expected = _metrics_series(render_metrics(status))
        shown = _metrics_series(block.text)
        lag = "pybgp_event_loop_lag_seconds"  # measured at a different moment
        assert lag in shown
        shown.pop(lag)
        expected.pop(lag)
        assert shown == expected
        return
    if LOG_MARK.match(block.first_line):
        for line in block.text.splitlines()[1:]:
            check_log_line(block, line)
        return
    assert block.first_line.startswith("# from "), (
        f"{block}: a block that is not run must be an excerpt of a file (# from FILE)"
    )
    check_excerpt(block)


def test_every_subcommand_of_the_contract_has_help() -> None:
    for subcommand in ("run", "status", "routes", "check", "demo", "monitor", "reload",
                       "announce", "withdraw", "mrt"):
        assert subcommand in cli_help()
        assert cli_help(subcommand).startswith("usage: pybgp " + subcommand)

"""The ``pybgp`` command as operators use it: real ``pybgp run`` processes on loopback.

Checks the CONTRACT.md surface: exit codes, the ``status``/``routes`` JSON shapes, SIGHUP
reloads (a new peer starts, the others keep their sessions, an invalid file is refused), and a
clean stop on SIGTERM.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from pybgp.cli import main

ROOT = Path(__file__).resolve().parents[2]


def _free_port(address: str) -> int:
    with socket.socket() as probe:
        probe.bind((address, 0))
        return int(probe.getsockname()[1])


def _wait(condition: Callable[[], Any], timeout: float, what: str) -> Any:
    """Poll ``condition`` until it returns something truthy; fail naming ``what``."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = condition()
        if last:
            return last
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}; last: {last!r}")


class Node:
    """One ``pybgp run`` process with its config file and control socket."""

    def __init__(self, workdir: Path, name: str, config: str) -> None:
        self.config_path = workdir / f"{name}.toml"
        self.config_path.write_text(config)
        self.socket = str(workdir / f"{name}.sock")
        self.log_path = workdir / f"{name}.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "pybgp", "run", "-c", str(self.config_path)],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        log.close()

    def ask(self, command: str) -> Any:
        result = subprocess.run(
            [sys.executable, "-m", "pybgp", command, "-s", self.socket, "--json"],
            capture_output=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
            timeout=30,
        )
        if result.returncode != 0:
            return None
        return json.loads(result.stdout)

    def peer_states(self) -> dict[str, str]:
        status = self.ask("status")
        return {} if status is None else {p["address"]: p["state"] for p in status["peers"]}

    def stop(self) -> int:
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                return self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
                raise
        return self.process.returncode

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def _config(name: str, address: str, port: int, sock: str, peers: list[str],
            prefixes: list[str], extra: str = "") -> str:
    lines = [
        "[speaker]", "asn = 64512", f'router_id = "{address}"', f'listen_address = "{address}"',
        f"listen_port = {port}", f'control_socket = "{sock}"', "connect_delay = 0.0",
        "connect_retry_time = 1.0", "error_wait_min = 0.5", "error_wait_max = 1.0", "",
    ]
    for peer in peers:
        lines += ["[[peers]]", f'address = "{peer}"', "asn = 64512", f"port = {port}",
                  f'local_address = "{address}"', ""]
    if prefixes:
        lines += ["[originate]", "prefixes = [" + ", ".join(f'"{p}"' for p in prefixes) + "]", ""]
    lines += ["[kernel]", 'adapter = "memory"', 'encapsulation = "ipip"', "", extra]
    return "\n".join(lines)


PORTS: dict[Path, int] = {}
"""The listen port of each test's cluster, by its tmp_path."""


@pytest.fixture
def nodes(tmp_path: Path) -> Iterator[dict[str, Node]]:
    """Three speakers on 127.0.4.1-3; node a and b peer with each other, c starts alone."""
    port = _free_port("127.0.4.1")
    made: dict[str, Node] = {}

    def add(name: str, address: str, peers: list[str], prefixes: list[str]) -> Node:
        sock = str(tmp_path / f"{name}.sock")
        node = Node(tmp_path, name, _config(name, address, port, sock, peers, prefixes))
        made[name] = node
        return node

    add("a", "127.0.4.1", ["127.0.4.2"], ["10.244.1.0/26"])
    add("b", "127.0.4.2", ["127.0.4.1"], ["10.244.2.0/26"])
    add("c", "127.0.4.3", ["127.0.4.1"], ["10.244.3.0/26"])
    PORTS[tmp_path] = port
    try:
        yield made
    finally:
        for node in made.values():
            if node.process is not None:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    node.stop()
        for node in made.values():
            if node.process is not None:
                print(f"--- log of {node.config_path.name}\n{node.log()}")


def test_status_and_routes_follow_the_contract(nodes: dict[str, Node]) -> None:
    a, b = nodes["a"], nodes["b"]
    a.start()
    b.start()
    _wait(lambda: a.peer_states().get("127.0.4.2") == "Established", 20, "a <-> b Established")
    status = _wait(lambda: (s := a.ask("status")) and s["rib"]["ipv4"] == 2 and s, 10, "2 routes")
    assert status["asn"] == 64512 and status["router_id"] == "127.0.4.1"
    assert set(status) >= {"asn", "router_id", "rib", "kernel", "peers"}
    assert status["kernel"]["failed"] == 0
    assert stat.S_IMODE(os.stat(a.socket).st_mode) == 0o600  # the control socket's default
    (peer,) = status["peers"]
    assert set(peer) >= {"address", "asn", "type", "state", "since", "info", "received",
                         "accepted", "advertised"}
    assert peer == peer | {"address": "127.0.4.2", "asn": 64512, "type": "mesh",
                           "state": "Established", "received": 1, "accepted": 1,
                           "advertised": 1}
    assert peer["since"].endswith("Z")
    # Beyond the contract: what the session negotiated, and message counters.
    assert peer["families"] == ["ipv4"] and peer["hold_time"] == 90
    assert {"four-octet-as", "route-refresh"} <= set(peer["capabilities"])
    assert peer["router_id"] == "127.0.4.2" and peer["updates_in"] >= 1

    routes = a.ask("routes")["routes"]
    by_prefix = {r["prefix"]: r for r in routes}
    learned = by_prefix["10.244.2.0/26"]
    assert learned == learned | {"next_hop": "127.0.4.2", "peer": "127.0.4.2", "as_path": [],
                                 "origin": "igp", "local_pref": 100, "med": None,
                                 "communities": [], "large_communities": [], "best": True,
                                 "reason": "only path", "installed": True}
    assert by_prefix["10.244.1.0/26"]["peer"] is None  # originated here

    assert a.stop() == 0
    assert "Cease" in a.log() or "stopped" in a.log()
    _wait(lambda: a.ask("status") is None, 5, "a's control socket to go away")
    assert main(["status", "-s", a.socket]) == 1  # nobody answers


def test_sighup_adds_a_peer_without_resetting_the_others(nodes: dict[str, Node]) -> None:
    a, b, c = nodes["a"], nodes["b"], nodes["c"]
    a.start()
    b.start()
    c.start()
    _wait(lambda: a.peer_states().get("127.0.4.2") == "Established", 20, "a <-> b Established")
    since_before = {p["address"]: p["since"] for p in a.ask("status")["peers"]}

    # An invalid file is refused and the running config kept.
    good = a.config_path.read_text()
    a.config_path.write_text(good + "\n[speaker2]\n")
    assert a.process is not None
    a.process.send_signal(signal.SIGHUP)
    _wait(lambda: "reload refused" in a.log(), 10, "the refused reload to be logged")
    assert "speaker2" in a.log()
    assert a.peer_states() == {"127.0.4.2": "Established"}

    # Adding c: c comes up, b's session is untouched.
    a.config_path.write_text(
        good + '\n[[peers]]\naddress = "127.0.4.3"\nasn = 64512\n'
        f'port = {PORTS[a.config_path.parent]}\nlocal_address = "127.0.4.1"\n'
    )
    a.process.send_signal(signal.SIGHUP)
    _wait(lambda: a.peer_states().get("127.0.4.3") == "Established", 20, "a <-> c Established")
    after = {p["address"]: p["since"] for p in a.ask("status")["peers"]}
    assert after["127.0.4.2"] == since_before["127.0.4.2"]
    # a is no route reflector: iBGP split horizon keeps b's block from c (RFC 4271 §9.2).
    _wait(lambda: {r["prefix"] for r in (c.ask("routes") or {"routes": []})["routes"]}
          == {"10.244.1.0/26", "10.244.3.0/26"}, 10, "c to learn a's block (and not b's)")
    _wait(lambda: "10.244.3.0/26" in {r["prefix"] for r in a.ask("routes")["routes"]}, 10,
          "a to learn c's block")


def test_check_and_run_refuse_a_bad_config(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[speaker]\nasn = 64512\nrouter_id = "10.0.0.1"\n\n[[peers]]\n'
                   'address = "10.0.0.2"\nasn = 4294967296\n')
    assert main(["check", "-c", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "peers[0].asn" in err and "4294967296" in err
    assert main(["run", "-c", str(bad)]) == 2
    assert "peers[0].asn" in capsys.readouterr().err

    unknown = tmp_path / "unknown.toml"
    unknown.write_text('[speaker]\nasn = 64512\nrouter_id = "10.0.0.1"\nlisten_prot = 179\n')
    assert main(["check", "-c", str(unknown)]) == 2
    assert "speaker.listen_prot" in capsys.readouterr().err

    good = tmp_path / "good.toml"
    good.write_text('[speaker]\nasn = 64512\nrouter_id = "10.0.0.1"\n')
    assert main(["check", "-c", str(good)]) == 0
    assert "valid" in capsys.readouterr().out


def test_help_reads_for_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    for command in ("run", "status", "routes", "check", "demo"):
        with pytest.raises(SystemExit) as stopped:
            main([command, "--help"])
        assert stopped.value.code == 0
        assert command in capsys.readouterr().out

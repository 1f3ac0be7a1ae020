"""``pybgp demo --netns``: the demo cluster in real namespaces, run as a user would run it.

Proves the command converges, routes a pod's ping to a pod on another node through the kernel
routes pybgp installed, and leaves no namespace or process behind, also when interrupted.
"""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from pybgp.demo import netns_demo as demo_netns
from pybgp.demo.lab import list_namespaces, netns_unavailable
from tests.harness import pid_alive, wait_until

REPO_ROOT = Path(__file__).resolve().parents[2]


def _demo_namespaces(pid: int) -> list[str]:
    return [name for name in list_namespaces() if name.startswith(f"pybgp-demo-{pid}-")]


def _speaker_pids(pid: int) -> list[int]:
    """pids of `pybgp run` processes whose config lives in the demo's temp dir."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"run" in cmdline and any(b"/pybgp-demo-" in part for part in cmdline):
            found.append(int(entry.name))
    return [p for p in found if p != pid]


def _skip_without_netns() -> None:
    reason = netns_unavailable()
    if reason is not None:
        pytest.skip(reason)


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO_ROOT), "PYTHONUNBUFFERED": "1"}


@pytest.mark.netns
def test_demo_netns_converges_pings_and_cleans_up() -> None:
    _skip_without_netns()
    before = set(_speaker_pids(0))
    process = subprocess.Popen(
        [sys.executable, "-m", "pybgp", "demo", "--netns"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(),
        cwd=REPO_ROOT,
    )
    try:
        stdout, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)  # lets the demo clean up
            process.communicate(timeout=30)
    assert process.returncode == 0, f"stdout:\n{stdout}\nstderr:\n{stderr}"
    assert "ping succeeded" in stdout
    assert "ping FAILED" not in stdout
    assert "converged in" in stdout
    # Each node showed its sessions Established and the routes pybgp put in its kernel.
    assert stdout.count("Established") == 6
    assert "10.244.2.0/26 via 10.99.0.2 dev eth0" in stdout
    assert "blackhole 10.244.1.0/26" in stdout
    assert "nothing of the demo is left" in stdout
    assert _demo_namespaces(process.pid) == []
    assert set(_speaker_pids(0)) - before == set()


@pytest.mark.netns
def test_demo_netns_interrupted_removes_everything() -> None:
    _skip_without_netns()
    process = subprocess.Popen(
        [sys.executable, "-m", "pybgp", "demo", "--netns"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=_env(),
        cwd=REPO_ROOT,
    )
    lines: list[str] = []
    try:
        assert process.stdout is not None

        def started() -> bool:
            line = process.stdout.readline() if process.stdout else ""
            lines.append(line)
            return "(pid " in line  # a speaker is running: namespaces and processes exist

        wait_until(started, timeout=30, interval=0, describe="the demo to start a speaker")
        assert _demo_namespaces(process.pid), "the demo's namespaces should exist by now"
        speakers = _speaker_pids(process.pid)
        assert speakers
        process.send_signal(signal.SIGINT)
        rest, _ = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate(timeout=10)
    output = "".join(lines) + rest
    assert process.returncode == 130, output
    assert "interrupted" in output
    assert _demo_namespaces(process.pid) == []
    assert not [pid for pid in speakers if pid_alive(pid)]


def test_demo_netns_without_root_says_why(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(demo_netns.os, "geteuid", lambda: 1000)
    out = io.StringIO()
    assert demo_netns.run_netns_demo(timeout=1, out=out) == 1
    assert "need root" in capsys.readouterr().err
    assert out.getvalue() == ""

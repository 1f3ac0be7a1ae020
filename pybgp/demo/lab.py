"""A small helper for Linux network namespaces, built on the ``ip`` command (iproute2).

Used by ``pybgp demo --netns``. A :class:`Lab` owns everything it creates: namespaces (all
named with one prefix), processes started inside them (tracked by pid) and nothing else; its
:meth:`Lab.cleanup` stops those processes by pid, kills whatever else still runs inside its own
namespaces, deletes the namespaces and reports what could not be removed. It never touches
the root namespace's interfaces or routes: veth pairs are created from inside a namespace
straight into another one, and bridges live in a namespace of their own.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO

__all__ = ["Lab", "NetnsError", "Process", "list_namespaces", "netns_unavailable", "run"]


class NetnsError(RuntimeError):
    """An ``ip`` (or other) command failed; the message has its stderr."""


def run(
    argv: Sequence[str], *, check: bool = True, timeout: float = 30.0
) -> subprocess.CompletedProcess[str]:
    """Run a command, capture its output; raise :class:`NetnsError` on failure if ``check``."""
    result = subprocess.run(
        list(argv), capture_output=True, text=True, timeout=timeout, check=False
    )
    if check and result.returncode != 0:
        raise NetnsError(
            f"`{' '.join(argv)}` exited with {result.returncode}: "
            f"{(result.stderr or result.stdout).strip()}"
        )
    return result


def list_namespaces() -> list[str]:
    """Names of every named network namespace (``ip netns list``)."""
    result = run(["ip", "netns", "list"], check=False)
    return [line.split()[0] for line in result.stdout.splitlines() if line.strip()]


def netns_unavailable() -> str | None:
    """None when this process can create network namespaces, else why it cannot."""
    if not os.path.isdir("/proc/self/ns") or not os.path.exists("/proc/self/ns/net"):
        return "this system has no network namespaces (Linux only)"
    if os.geteuid() != 0:
        return "network namespaces need root (run it with sudo)"
    if shutil.which("ip") is None:
        return "the `ip` command (iproute2) is not installed"
    probe = f"pybgp-probe-{os.getpid()}"
    result = run(["ip", "netns", "add", probe], check=False)
    if result.returncode != 0:
        return f"`ip netns add` failed: {result.stderr.strip() or result.returncode}"
    run(["ip", "netns", "del", probe], check=False)
    return None


class Process:
    """A process started inside a namespace (``ip netns exec`` execs it: the pid is its own)."""

    def __init__(self, name: str, argv: Sequence[str], log_path: Path) -> None:
        self.name = name
        self.argv = list(argv)
        self.log_path = log_path
        self._log: IO[bytes] | None = None
        self._popen: subprocess.Popen[bytes] | None = None

    def start(self, env: Mapping[str, str] | None = None) -> None:
        """Start it with output to ``log_path``, in a new session (Ctrl-C does not reach it)."""
        environment = dict(os.environ)
        if env:
            environment.update(env)
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        self._popen = subprocess.Popen(
            self.argv,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=environment,
            start_new_session=True,
        )

    @property
    def pid(self) -> int | None:
        """The pid, once started."""
        return None if self._popen is None else self._popen.pid

    @property
    def running(self) -> bool:
        """True while the process lives."""
        return self._popen is not None and self._popen.poll() is None

    def logs(self) -> str:
        """What it wrote so far."""
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def stop(self, timeout: float = 5.0) -> int | None:
        """SIGTERM by pid, SIGKILL after ``timeout``; returns the exit status. Idempotent."""
        popen = self._popen
        if popen is not None and popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(popen.pid, signal.SIGTERM)
            try:
                popen.wait(timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(popen.pid, signal.SIGKILL)
                popen.wait(timeout)
        if self._log is not None:
            self._log.close()
            self._log = None
        return None if popen is None else popen.returncode


class Lab:
    """Namespaces and processes created under one name prefix, removed by :meth:`cleanup`."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.namespaces: list[str] = []
        self.processes: list[Process] = []
        self._interfaces: dict[str, int] = {}

    # -- building ------------------------------------------------------------------------
    def namespace(self, name: str, forwarding: bool = False) -> str:
        """Create namespace ``<prefix><name>`` with ``lo`` up; returns its full name."""
        full = f"{self.prefix}{name}"
        run(["ip", "netns", "add", full])
        self.namespaces.append(full)
        self.ip(full, "link", "set", "lo", "up")
        # No duplicate address detection: IPv6 addresses are usable at once.
        self.sysctl(full, "net.ipv6.conf.all.accept_dad", 0, check=False)
        self.sysctl(full, "net.ipv6.conf.default.accept_dad", 0, check=False)
        if forwarding:
            self.sysctl(full, "net.ipv4.ip_forward", 1)
            self.sysctl(full, "net.ipv6.conf.all.forwarding", 1)
        return full

    @staticmethod
    def ip(namespace: str, *args: str) -> str:
        """``ip -n NAMESPACE ARGS``; returns stdout."""
        return run(["ip", "-n", namespace, *args]).stdout

    @staticmethod
    def exec(
        namespace: str, argv: Sequence[str], *, check: bool = True, timeout: float = 30.0
    ) -> subprocess.CompletedProcess[str]:
        """Run a command inside ``namespace`` and wait for it."""
        return run(["ip", "netns", "exec", namespace, *argv], check=check, timeout=timeout)

    def sysctl(self, namespace: str, key: str, value: object, check: bool = True) -> None:
        """Set a per-namespace sysctl."""
        self.exec(namespace, ["sysctl", "-q", "-w", f"{key}={value}"], check=check)

    def bridge(self, namespace: str, name: str) -> None:
        """A bridge (STP off) named ``name`` in ``namespace``, up."""
        self.ip(namespace, "link", "add", name, "type", "bridge", "stp_state", "0")
        self.ip(namespace, "link", "set", name, "up")

    def veth(self, ns_a: str, name_a: str, ns_b: str, name_b: str) -> None:
        """A veth pair: ``name_a`` in ``ns_a``, ``name_b`` in ``ns_b``; both up."""
        self.ip(ns_a, "link", "add", name_a, "type", "veth", "peer", "name", name_b, "netns", ns_b)
        self.ip(ns_a, "link", "set", name_a, "up")
        self.ip(ns_b, "link", "set", name_b, "up")

    def spawn(
        self,
        namespace: str,
        name: str,
        argv: Sequence[str],
        log_path: Path,
        env: Mapping[str, str] | None = None,
    ) -> Process:
        """Start a long-running process inside ``namespace``, tracked for cleanup."""
        process = Process(name, ["ip", "netns", "exec", namespace, *argv], log_path)
        self.processes.append(process)
        process.start(env)
        return process

    # -- cleanup -------------------------------------------------------------------------
    def cleanup(self) -> list[str]:
        """Stop our processes, delete our namespaces; returns what could not be removed.

        Idempotent; safe to call from a ``finally`` after any failure.
        """
        problems: list[str] = []
        for process in reversed(self.processes):
            try:
                process.stop(timeout=5.0)
            except Exception as error:  # keep going: the namespaces must still go
                problems.append(f"stopping {process.name}: {error}")
        self.processes.clear()
        for namespace in self.namespaces:
            # Anything else still running inside our namespaces was started by us: kill it.
            pids = run(["ip", "netns", "pids", namespace], check=False).stdout.split()
            for pid in (int(word) for word in pids if word.isdigit()):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        for namespace in reversed(self.namespaces):
            for _attempt in range(20):
                if run(["ip", "netns", "del", namespace], check=False).returncode == 0:
                    break
                if namespace not in list_namespaces():
                    break
                time.sleep(0.05)  # a killed process may still hold it for a moment
        left = [name for name in list_namespaces() if name.startswith(self.prefix)]
        if left:
            problems.append(f"namespaces left: {', '.join(left)}")
        self.namespaces.clear()
        return problems

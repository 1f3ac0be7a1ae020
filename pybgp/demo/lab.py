"""Linux network namespaces and the processes run in them, on the ``ip`` command (iproute2).

One implementation for ``pybgp demo --netns`` and for the test harness (``tests/harness``
builds its ``Topology`` of nodes, bridges and pods on a :class:`Lab`).

A :class:`Lab` owns everything it creates: namespaces (all named with one prefix) and the
processes started inside them (tracked by pid), nothing else. :meth:`Lab.cleanup` stops those
processes by pid, kills whatever else still runs inside its own namespaces, deletes the
namespaces and reports what could not be removed. It never touches the root namespace's
interfaces or routes: veth pairs are created from inside a namespace straight into another
one, and bridges live in a namespace of their own.

A :class:`Process` is one long-running command, optionally inside a namespace with
``ip netns exec NS`` (which execs the command, so the pid held *is* the daemon's), its output
in a log file, in a new session (a terminal's Ctrl-C does not reach it, and its children share
one process group it leads), stopped by pid: SIGTERM, then SIGKILL after a timeout.
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
from typing import IO, Self

__all__ = [
    "Lab",
    "NetnsError",
    "Process",
    "list_namespaces",
    "netns_unavailable",
    "pid_alive",
    "run",
]


class NetnsError(RuntimeError):
    """A command failed; the message has its stderr (and its stdout when stderr is empty)."""

    def __init__(
        self,
        message: str,
        argv: Sequence[str] = (),
        returncode: int | None = None,
        stdout: str = "",
        stderr: str = "",
    ) -> None:
        super().__init__(message)
        self.argv = list(argv)
        self.returncode = returncode
        self.stdout = stdout
        self.stderr = stderr


def run(
    argv: Sequence[str],
    *,
    check: bool = True,
    timeout: float = 30.0,
    env: Mapping[str, str] | None = None,
    input: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run a command and capture its output; raise :class:`NetnsError` on failure if ``check``.

    ``env`` is added to this process's environment."""
    environment = None
    if env is not None:
        environment = dict(os.environ)
        environment.update(env)
    result = subprocess.run(
        list(argv),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env=environment,
        input=input,
    )
    if check and result.returncode != 0:
        raise NetnsError(
            f"`{' '.join(argv)}` exited with {result.returncode}: "
            f"{(result.stderr or result.stdout).strip()[:2000]}",
            argv,
            result.returncode,
            result.stdout,
            result.stderr,
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
        return f"network namespaces need root (running as uid {os.geteuid()}; use sudo)"
    if shutil.which("ip") is None:
        return "the `ip` command (iproute2) is not installed"
    probe = f"pybgp-probe-{os.getpid()}"
    result = run(["ip", "netns", "add", probe], check=False)
    if result.returncode != 0:
        return f"`ip netns add` failed: {result.stderr.strip() or result.returncode}"
    run(["ip", "netns", "del", probe], check=False)
    return None


def pid_alive(pid: int) -> bool:
    """True when ``pid`` names a live (not zombie) process."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as handle:
            stat = handle.read()
    except (FileNotFoundError, ProcessLookupError):
        return False
    # Field 3 (after the parenthesised command name) is the state; Z and X are dead.
    state = stat.rsplit(")", 1)[-1].split()[0]
    return state not in ("Z", "X")


class Process:
    """One process we start and therefore own: start, pid, logs, stop by pid, returncode."""

    def __init__(
        self,
        argv: Sequence[str],
        log_path: str | os.PathLike[str],
        *,
        netns: str | None = None,
        env: Mapping[str, str] | None = None,
        cwd: str | os.PathLike[str] | None = None,
        name: str | None = None,
    ) -> None:
        self.argv: list[str] = [str(arg) for arg in argv]
        self.netns = netns
        self.log_path = Path(log_path)
        self.env = dict(env) if env is not None else None
        self.cwd = cwd
        self.name = name or Path(self.argv[0]).name
        self._popen: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def command(self) -> list[str]:
        """The full command line executed (with the ``ip netns exec`` prefix if any)."""
        if self.netns is None:
            return list(self.argv)
        return ["ip", "netns", "exec", self.netns, *self.argv]

    def start(self) -> Self:
        """Start the process (again, once it ended); its output is appended to ``log_path``."""
        if self._popen is not None and self.returncode is None:
            raise RuntimeError(f"{self.name} is already running as pid {self.pid}")
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._close_log()
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        environment = dict(os.environ)
        if self.env is not None:
            environment.update(self.env)
        self._popen = subprocess.Popen(
            self.command,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=environment,
            cwd=self.cwd,
            start_new_session=True,
        )
        return self

    @property
    def pid(self) -> int:
        """The process id (``ip netns exec`` execs the command, so this is the daemon)."""
        if self._popen is None:
            raise RuntimeError(f"{self.name} was never started")
        return self._popen.pid

    @property
    def started(self) -> bool:
        """True once ``start()`` was called."""
        return self._popen is not None

    @property
    def returncode(self) -> int | None:
        """The exit status once the process ended (negative = killed by that signal)."""
        if self._popen is None:
            return None
        return self._popen.poll()

    @property
    def running(self) -> bool:
        """True while the process lives (a stopped/frozen process still counts)."""
        return self._popen is not None and self._popen.poll() is None

    def wait(self, timeout: float | None = None) -> int:
        """Wait for the process to end and return its exit status."""
        if self._popen is None:
            raise RuntimeError(f"{self.name} was never started")
        return self._popen.wait(timeout)

    def send_signal(self, signum: int) -> None:
        """Send ``signum`` to our pid (and nothing else)."""
        if self.running:
            os.kill(self.pid, signum)

    def freeze(self) -> None:
        """SIGSTOP: the process stops answering (its TCP sessions stay open)."""
        self.send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        """SIGCONT: undo ``freeze()``."""
        self.send_signal(signal.SIGCONT)

    def _exited_unreaped(self, timeout: float) -> bool:
        """Wait up to ``timeout`` for our child to exit *without reaping it* (waitid WNOWAIT).

        While the exited leader is unreaped, its pid and process-group id cannot be reused,
        so signalling the group afterwards can only reach our own descendants.
        """
        deadline = time.monotonic() + timeout
        while True:
            try:
                info = os.waitid(os.P_PID, self.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
            except ChildProcessError:  # already reaped
                return False
            if info is not None:
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.02)  # bounded by the deadline: waitid has no timeout of its own

    def stop(self, timeout: float = 5.0) -> int | None:
        """SIGTERM our pid, SIGKILL it after ``timeout`` seconds; returns the exit status.

        Idempotent. Before reaping the process, SIGKILLs whatever is left of the process
        group it led (its own children: the group was created for it by ``start()``).
        """
        if self._popen is None:
            return None
        if self._popen.returncode is None and self._popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGCONT)  # a frozen process cannot act on SIGTERM
                os.kill(self.pid, signal.SIGTERM)
            if not self._exited_unreaped(timeout):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(self.pid, signal.SIGKILL)
                self._exited_unreaped(timeout)
            if self._popen.returncode is None:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(self.pid, signal.SIGKILL)
            self._popen.wait(timeout)
        self._close_log()
        return self._popen.returncode

    def kill(self) -> int | None:
        """SIGKILL at once (a crash, for peers going away without a NOTIFICATION)."""
        if self._popen is not None and self._popen.poll() is None:
            os.kill(self.pid, signal.SIGKILL)
            self._popen.wait(5.0)
        return self.stop(timeout=0.1)

    def logs(self) -> str:
        """Everything the process wrote to stdout/stderr so far."""
        if self._log is not None:
            self._log.flush()
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def _close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None

    def __repr__(self) -> str:
        state = "not started" if self._popen is None else f"pid {self.pid} rc={self.returncode}"
        return f"<{type(self).__name__} {self.name} {state}>"


class Lab:
    """Namespaces and processes created under one name prefix, removed by :meth:`cleanup`."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.namespaces: list[str] = []
        self.processes: list[Process] = []

    # -- building ------------------------------------------------------------------------
    def namespace(self, name: str, forwarding: bool = False) -> str:
        """Create namespace ``<prefix><name>`` with ``lo`` up; returns its full name."""
        if not name or not all(ch.isalnum() or ch in "-_" for ch in name):
            raise ValueError(f"bad name {name!r}: use letters, digits, '-' and '_'")
        full = f"{self.prefix}{name}"
        if full in self.namespaces:
            raise ValueError(f"{name!r} already exists in this lab")
        run(["ip", "netns", "add", full])
        self.namespaces.append(full)
        self.ip(full, "link", "set", "lo", "up")
        # No duplicate address detection: IPv6 addresses are usable at once.
        self.sysctl(full, "net.ipv6.conf.all.accept_dad", 0, check=False)
        self.sysctl(full, "net.ipv6.conf.default.accept_dad", 0, check=False)
        if forwarding:
            self.forwarding(full)
        return full

    @staticmethod
    def ip(namespace: str, *args: str, check: bool = True) -> str:
        """``ip -n NAMESPACE ARGS``; returns stdout."""
        return run(["ip", "-n", namespace, *args], check=check).stdout

    @staticmethod
    def exec(
        namespace: str,
        argv: Sequence[str],
        *,
        check: bool = True,
        timeout: float = 30.0,
        env: Mapping[str, str] | None = None,
        input: str | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """Run a command inside ``namespace`` and wait for it."""
        return run(
            ["ip", "netns", "exec", namespace, *argv],
            check=check,
            timeout=timeout,
            env=env,
            input=input,
        )

    def sysctl(self, namespace: str, key: str, value: object, check: bool = True) -> None:
        """Set a per-namespace sysctl."""
        self.exec(namespace, ["sysctl", "-q", "-w", f"{key}={value}"], check=check)

    def forwarding(self, namespace: str) -> None:
        """IPv4 and IPv6 forwarding on in ``namespace``."""
        self.sysctl(namespace, "net.ipv4.ip_forward", 1)
        self.sysctl(namespace, "net.ipv6.conf.all.forwarding", 1)

    def bridge(self, namespace: str, name: str) -> None:
        """A bridge named ``name`` in ``namespace``, up; no STP (ports forward at once) and no
        multicast snooping (IPv6 neighbour discovery reaches every port)."""
        options = ("stp_state", "0", "mcast_snooping", "0")
        self.ip(namespace, "link", "add", name, "type", "bridge", *options)
        self.ip(namespace, "link", "set", name, "up")

    def veth(self, ns_a: str, name_a: str, ns_b: str, name_b: str) -> None:
        """A veth pair: ``name_a`` in ``ns_a``, ``name_b`` in ``ns_b``; both up."""
        self.ip(ns_a, "link", "add", name_a, "type", "veth", "peer", "name", name_b, "netns", ns_b)
        self.ip(ns_a, "link", "set", name_a, "up")
        self.ip(ns_b, "link", "set", name_b, "up")

    def plug(self, namespace: str, ifname: str, switch: str, port: str, bridge: str) -> None:
        """Plug ``namespace`` into ``bridge`` (in namespace ``switch``): a veth named ``ifname``
        in ``namespace`` and ``port`` in ``switch``, that end enslaved to the bridge."""
        self.veth(namespace, ifname, switch, port)
        self.ip(switch, "link", "set", port, "master", bridge)

    def pod(
        self,
        node: str,
        pod: str,
        host_side: str,
        address: str,
        address6: str | None = None,
    ) -> None:
        """Wire namespace ``pod`` behind namespace ``node`` as Calico does.

        The pod's ``eth0`` holds ``address`` as a /32 (and ``address6`` as a /128); its
        default route goes via 169.254.1.1 (fe80::1 for IPv6), which the node end of the veth
        (``host_side``) owns; the node gets a host route to the pod over that veth.
        """
        self.veth(pod, "eth0", node, host_side)
        self.ip(node, "addr", "add", "169.254.1.1/32", "dev", host_side, "scope", "link")
        self.ip(pod, "addr", "add", f"{address}/32", "dev", "eth0")
        self.ip(pod, "route", "add", "169.254.1.1", "dev", "eth0", "scope", "link")
        self.ip(pod, "route", "add", "default", "via", "169.254.1.1", "dev", "eth0")
        self.ip(node, "route", "add", f"{address}/32", "dev", host_side, "scope", "link")
        if address6:
            self.ip(node, "-6", "addr", "add", "fe80::1/64", "dev", host_side, "nodad")
            self.ip(pod, "-6", "addr", "add", f"{address6}/128", "dev", "eth0", "nodad")
            self.ip(pod, "-6", "route", "add", "default", "via", "fe80::1", "dev", "eth0")
            self.ip(node, "-6", "route", "add", f"{address6}/128", "dev", host_side)

    # -- processes -----------------------------------------------------------------------
    def track(self, process: Process) -> Process:
        """Remember ``process`` so that :meth:`cleanup` stops it."""
        self.processes.append(process)
        return process

    def spawn(
        self,
        namespace: str,
        name: str,
        argv: Sequence[str],
        log_path: str | os.PathLike[str],
        env: Mapping[str, str] | None = None,
        cwd: str | os.PathLike[str] | None = None,
    ) -> Process:
        """Start a long-running process inside ``namespace``, tracked for cleanup."""
        process = Process(argv, log_path, netns=namespace, env=env, cwd=cwd, name=name)
        return self.track(process).start()

    def pids(self) -> list[int]:
        """Pids of every process started through this lab."""
        return [process.pid for process in self.processes if process.started]

    # -- cleanup -------------------------------------------------------------------------
    def leftover_namespaces(self) -> list[str]:
        """Namespaces with our prefix that still exist."""
        return [name for name in list_namespaces() if name.startswith(self.prefix)]

    def cleanup(self, stop_timeout: float = 5.0) -> list[str]:
        """Stop our processes, delete our namespaces; returns what could not be removed.

        Idempotent; safe to call from a ``finally`` after any failure.
        """
        problems: list[str] = []
        for process in reversed(self.processes):
            try:
                process.stop(timeout=stop_timeout)
            except Exception as error:  # keep going: the namespaces must still go
                problems.append(f"stopping {process!r}: {error!r}")
        # Anything else still running inside our namespaces (a hung ping, a child that
        # escaped its process group) was started by us: kill it by pid.
        for namespace in self.namespaces:
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
        left = self.leftover_namespaces()
        if left:
            problems.append(f"namespaces left behind: {left}")
        alive = [p.pid for p in self.processes if p.started and pid_alive(p.pid)]
        if alive:
            problems.append(f"processes still alive: {alive}")
        self.namespaces.clear()
        return problems

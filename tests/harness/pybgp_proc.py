"""Long-running processes started by the harness, and the pybgp speaker process itself.

``ManagedProcess`` is the generic part: a command list, optionally run inside a network
namespace with ``ip netns exec NS`` (which execs the command, so the pid we hold *is* the
daemon's pid), stdout and stderr captured in a log file, a new session (so a terminal
Ctrl-C does not reach it and its children share one process group we own), and a stop by pid:
SIGTERM, then SIGKILL after a timeout. Every process started through a ``Topology`` node is
tracked by the topology and stopped at teardown.

``PybgpProcess`` runs ``python -m pybgp run -c FILE`` in a node with a generated TOML config.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .netns import Node

__all__ = ["REPO_ROOT", "ManagedProcess", "PybgpProcess", "pid_alive", "to_toml"]

REPO_ROOT = Path(__file__).resolve().parents[2]


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


class ManagedProcess:
    """One process we started and therefore own: start, pid, logs, stop by pid, returncode."""

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

    # -- lifecycle ---------------------------------------------------------------------
    @property
    def command(self) -> list[str]:
        """The full command line executed (with the ``ip netns exec`` prefix if any)."""
        if self.netns is None:
            return list(self.argv)
        return ["ip", "netns", "exec", self.netns, *self.argv]

    def start(self) -> ManagedProcess:
        """Start the process (once); its output is appended to ``log_path``."""
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
            time.sleep(0.02)

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
        """SIGKILL at once (a crash, for tests of peers going away without a NOTIFICATION)."""
        if self._popen is not None and self._popen.poll() is None:
            os.kill(self.pid, signal.SIGKILL)
            self._popen.wait(5.0)
        return self.stop(timeout=0.1)

    def check_returncode(self, expected: int = 0) -> None:
        """Raise AssertionError (with the log tail) unless the process ended with ``expected``."""
        code = self.returncode
        if code != expected:
            raise AssertionError(
                f"{self.name} (pid {self.pid}) exit status {code}, expected {expected}; "
                f"log tail:\n{self.logs()[-4000:]}"
            )

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
        return f"<ManagedProcess {self.name} {state}>"


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

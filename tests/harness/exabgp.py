"""ExaBGP 5 as a scripted BGP peer inside a topology node.

``ExaBgpPeer`` runs ``exabgp server CONF`` in the node's namespace (foreground, so the pid
is ExaBGP's), configured through ``exabgp_<section>_<option>`` environment variables (no
daemonising, runs as root, logs to a file, no listening socket, no CLI pipes). ExaBGP
connects out to its neighbor. ``exabgp_config`` writes the 5.x configuration syntax for one
neighbor with static routes.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .pybgp_proc import ManagedProcess

if TYPE_CHECKING:
    from .netns import Node

__all__ = ["ExaBgpPeer", "ExaRoute", "exabgp_available", "exabgp_config"]


def exabgp_command() -> str | None:
    """The ``exabgp`` program: beside this Python first (the README runs the tests as
    ``.venv/bin/python -m pytest`` without activating the venv, so its bin is not on PATH),
    else on PATH; None when neither has it."""
    beside = Path(sys.executable).parent / "exabgp"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    return shutil.which("exabgp")


def _exabgp() -> str:
    command = exabgp_command()
    if command is None:
        raise RuntimeError(exabgp_available())
    return command


def exabgp_available() -> str | None:
    """None when the ``exabgp`` command is installed, else the exact reason it is not."""
    if exabgp_command() is None:
        return (
            "ExaBGP is not installed (no `exabgp` beside this Python or on PATH; "
            "pip install exabgp, or pip install -e '.[test]')"
        )
    return None


@dataclass(frozen=True)
class ExaRoute:
    """One static route: ``route PREFIX next-hop NH [community [...]] [...]``."""

    prefix: str
    next_hop: str = "self"
    communities: Sequence[str] = ()
    large_communities: Sequence[str] = ()
    local_preference: int | None = None
    med: int | None = None
    as_path: Sequence[int] = ()
    origin: str | None = None

    def render(self) -> str:
        """The ``route ...;`` statement."""
        parts = [f"route {self.prefix} next-hop {self.next_hop}"]
        if self.origin:
            parts.append(f"origin {self.origin}")
        if self.as_path:
            parts.append("as-path [ " + " ".join(str(asn) for asn in self.as_path) + " ]")
        if self.local_preference is not None:
            parts.append(f"local-preference {self.local_preference}")
        if self.med is not None:
            parts.append(f"med {self.med}")
        if self.communities:
            parts.append("community [ " + " ".join(self.communities) + " ]")
        if self.large_communities:
            parts.append("large-community [ " + " ".join(self.large_communities) + " ]")
        return " ".join(parts) + ";"


def exabgp_config(
    neighbor: str,
    local_address: str,
    local_as: int,
    peer_as: int,
    router_id: str | None = None,
    routes: Sequence[ExaRoute] = (),
    families: Sequence[str] = ("ipv4 unicast",),
    hold_time: int | None = None,
    md5_password: str | None = None,
    passive: bool = False,
    extra: str = "",
) -> str:
    """An ExaBGP 5 configuration with one neighbor and its static routes."""
    lines = [
        f"neighbor {neighbor} {{",
        f"  router-id {router_id or local_address};",
        f"  local-address {local_address};",
        f"  local-as {local_as};",
        f"  peer-as {peer_as};",
        "  group-updates false;",
    ]
    if hold_time is not None:
        lines.append(f"  hold-time {hold_time};")
    if md5_password is not None:
        lines.append(f"  md5-password {md5_password};")
    if passive:
        lines.append("  passive true;")
    lines.append("  family {")
    lines += [f"    {family};" for family in families]
    lines.append("  }")
    if routes:
        lines.append("  static {")
        lines += [f"    {route.render()}" for route in routes]
        lines.append("  }")
    if extra:
        lines.append(f"  {extra}")
    lines.append("}")
    return "\n".join(lines) + "\n"


class ExaBgpPeer:
    """An ExaBGP process in ``node``'s namespace, owned by pid."""

    def __init__(
        self,
        node: Node,
        config: str,
        workdir: str | os.PathLike[str] | None = None,
        *,
        name: str | None = None,
        env: Mapping[str, str] | None = None,
        start: bool = True,
    ) -> None:
        self.node = node
        self.name = name or f"exabgp-{node.name}"
        self.workdir = Path(workdir) if workdir is not None else (node.topology.workdir / self.name)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.config_path = self.workdir / "exabgp.conf"
        self.config_path.write_text(config)
        self.config_text = config
        self.log_path = self.workdir / "exabgp.log"
        self.stdout_path = self.workdir / "exabgp.stdout.log"
        self.env = {
            "EXABGP_ENVFILE": os.devnull,  # empty: ignore any /etc/exabgp/exabgp.env
            "exabgp_daemon_user": "root",
            "exabgp_daemon_daemonize": "false",
            "exabgp_daemon_drop": "false",
            "exabgp_log_destination": str(self.log_path),
            "exabgp_log_level": "INFO",
            "exabgp_log_routes": "true",
            "exabgp_log_packets": "false",
            "exabgp_tcp_bind": "",
            "exabgp_api_cli": "false",
            "exabgp_api_ack": "false",
            **(dict(env) if env else {}),
        }
        self.process: ManagedProcess | None = None
        node.topology.debug_hooks.append(self.debug_dump)
        if start:
            self.start()

    def validate(self) -> None:
        """``exabgp validate CONF``: raise AssertionError with ExaBGP's words on a bad config."""
        result = subprocess.run(
            [_exabgp(), "validate", str(self.config_path)],
            capture_output=True,
            text=True,
            check=False,
            timeout=30,
            env={**os.environ, **self.env},
        )
        if result.returncode != 0:
            raise AssertionError(
                f"{self.name}: invalid ExaBGP config:\n{result.stdout}{result.stderr}\n"
                f"{self.config_text}"
            )

    def start(self) -> None:
        """Start ExaBGP (it connects out to its neighbor on its own)."""
        self.process = self.node.spawn(
            [_exabgp(), "server", str(self.config_path)],
            log_path=self.stdout_path,
            env=self.env,
            name=self.name,
        )

    @property
    def pid(self) -> int:
        """ExaBGP's pid."""
        if self.process is None:
            raise RuntimeError(f"{self.name} not started")
        return self.process.pid

    @property
    def running(self) -> bool:
        """True while ExaBGP lives."""
        return self.process is not None and self.process.running

    def stop(self, timeout: float = 5.0) -> int | None:
        """SIGTERM by pid, SIGKILL after ``timeout``; returns the exit status."""
        return self.process.stop(timeout) if self.process is not None else None

    def logs(self) -> str:
        """ExaBGP's log file followed by its captured stdout/stderr."""
        parts = []
        for path in (self.log_path, self.stdout_path):
            with contextlib.suppress(FileNotFoundError):
                parts.append(path.read_text(errors="replace"))
        return "".join(parts)

    def debug_dump(self) -> str:
        """Config and logs, for failure reports."""
        pid = self.process.pid if self.process else "-"
        return (
            f"===== {self.name} (pid {pid}) =====\n--- exabgp.conf\n{self.config_text}"
            f"--- log\n{self.logs()[-20000:]}"
        )

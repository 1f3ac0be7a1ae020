"""FRR (Debian package ``frr``) in a namespace: zebra + bfdd + bgpd, owned by pid.

The daemons run in the foreground (``node.spawn``, so the topology stops them), as the
``frr`` user the package creates (FRR refuses to run as root without it in ``frrvty``). That
user cannot enter pytest's private tmp directory, so configs, pid files and the vty / zebra
sockets live in a directory of their own under /tmp, removed by :meth:`FrrRouter.cleanup`
(the ``frr`` fixture of tests/netns/test_bfd.py calls it whatever happens).
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .netns import Node
from .pybgp_proc import ManagedProcess
from .wait import AbortWait, wait_until

FRR_DIR = Path("/usr/lib/frr")


def frr_available() -> str | None:
    """None when zebra, bfdd, bgpd, vtysh and the frr user exist, else why not."""
    for daemon in ("zebra", "bfdd", "bgpd"):
        if not (FRR_DIR / daemon).exists():
            return f"FRR not installed ({FRR_DIR / daemon} missing: apt-get install frr)"
    if shutil.which("vtysh") is None:
        return "vtysh not found (apt-get install frr)"
    try:
        pwd.getpwnam("frr")
    except KeyError:
        return "no 'frr' user (the Debian frr package creates it)"
    return None


@dataclass(frozen=True)
class FrrNeighbor:
    """One BGP neighbour with BFD."""

    address: str
    asn: int
    bfd: bool = True


class FrrRouter:
    """zebra, bfdd and bgpd in ``node``: eBGP/iBGP neighbours, ``networks`` announced."""

    def __init__(
        self,
        node: Node,
        router_id: str,
        asn: int,
        neighbors: Sequence[FrrNeighbor],
        networks: Sequence[str] = (),
        *,
        min_tx_ms: int = 300,
        min_rx_ms: int = 300,
        multiplier: int = 3,
    ) -> None:
        self.node = node
        self.dir = Path(tempfile.mkdtemp(prefix="pbt-frr-", dir="/tmp"))
        self.dir.chmod(0o755)
        self.run_dir = self.dir / "run"
        self.run_dir.mkdir()
        frr = pwd.getpwnam("frr")
        os.chown(self.run_dir, frr.pw_uid, frr.pw_gid)
        self.zserv = self.run_dir / "zserv.api"
        self.processes: list[ManagedProcess] = []
        self.logdir = node.topology.workdir / f"frr-{node.name}"
        self.logdir.mkdir(parents=True, exist_ok=True)
        header = f"hostname {node.name}\nlog stdout informational\n"
        bfd_peers = "".join(
            f" peer {n.address}\n"
            f"  receive-interval {min_rx_ms}\n"
            f"  transmit-interval {min_tx_ms}\n"
            f"  detect-multiplier {multiplier}\n"
            " !\n"
            for n in neighbors
            if n.bfd
        )
        neighbor_lines = "".join(
            f" neighbor {n.address} remote-as {n.asn}\n"
            f" neighbor {n.address} timers connect 1\n"
            + (f" neighbor {n.address} bfd\n" if n.bfd else "")
            for n in neighbors
        )
        network_lines = "".join(f"  network {prefix}\n" for prefix in networks)
        configs = {
            "zebra": header,
            "bfdd": header + "bfd\n" + bfd_peers + "!\n",
            "bgpd": header
            + f"router bgp {asn}\n bgp router-id {router_id}\n"
            + " no bgp ebgp-requires-policy\n no bgp network import-check\n"
            + neighbor_lines
            + " address-family ipv4 unicast\n"
            + network_lines
            + " exit-address-family\n!\n",
        }
        for daemon, text in configs.items():
            path = self.dir / f"{daemon}.conf"
            path.write_text(text)
            path.chmod(0o644)
        node.topology.debug_hooks.append(self.debug_dump)
        try:
            self._start("zebra")
            wait_until(self.zserv.exists, timeout=10, interval=0.05, describe="zebra socket")
            self._start("bfdd", "--bfdctl", str(self.run_dir / "bfdd.sock"))
            self._start("bgpd", "-p", "179")
            wait_until(
                lambda: self._alive() and self.vtysh("show bgp summary", check=False),
                timeout=10,
                interval=0.1,
                describe=f"FRR in {node.name} to answer vtysh",
            )
        except BaseException:
            self.stop()
            self.cleanup()
            raise

    def _start(self, daemon: str, *extra: str) -> None:
        argv = [
            str(FRR_DIR / daemon),
            "-f",
            str(self.dir / f"{daemon}.conf"),
            "-i",
            str(self.run_dir / f"{daemon}.pid"),
            "-z",
            str(self.zserv),
            "--vty_socket",
            str(self.run_dir),
            *extra,
        ]
        self.processes.append(
            self.node.spawn(
                argv, log_path=self.logdir / f"{daemon}.log", name=f"{daemon}@{self.node.name}"
            )
        )

    def _alive(self) -> bool:
        for process in self.processes:
            if not process.running:
                raise AbortWait(f"{process.name} exited:\n{process.logs()[-3000:]}")
        return True

    # -- asking ------------------------------------------------------------------------------
    def vtysh(self, command: str, check: bool = True) -> str:
        result = subprocess.run(
            ["vtysh", "--vty_socket", str(self.run_dir), "-c", command],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
        if check and result.returncode != 0:
            raise AssertionError(f"vtysh {command!r}: {result.stdout}{result.stderr}")
        return result.stdout if result.returncode == 0 else ""

    def bfd_peers(self) -> dict[str, dict[str, Any]]:
        """``show bfd peers json`` by peer address."""
        text = self.vtysh("show bfd peers json")
        return {entry["peer"]: entry for entry in json.loads(text or "[]")}

    def bgp_state(self, address: str) -> str:
        text = self.vtysh(f"show bgp neighbors {address} json")
        return str(json.loads(text).get(address, {}).get("bgpState", ""))

    # -- lifecycle ---------------------------------------------------------------------------
    def stop(self) -> None:
        for process in reversed(self.processes):
            process.stop()

    def cleanup(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)

    def debug_dump(self) -> str:
        parts = [f"===== FRR in {self.node.name} ====="]
        for command in ("show bfd peers", "show bgp summary", "show ip route"):
            try:
                parts.append(f"--- {command}\n{self.vtysh(command, check=False)}")
            except Exception as error:
                parts.append(f"--- {command}: {error!r}")
        for process in self.processes:
            parts.append(f"--- {process.name} log\n{process.logs()[-6000:]}")
        return "\n".join(parts)

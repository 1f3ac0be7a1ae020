"""Shared pieces of the pybgp-against-BIRD namespace tests (test_bird_sessions/routing).

Every node sits on one bridge ``lan`` with 10.99.0.<n>/24 and fd00:99::<n>/64. A pybgp speaker
runs as ``python -m pybgp run`` in its node (``Speaker``), read through its control socket
(a filesystem path, so the test process asks it directly with ``pybgp.control.request``).
"""

from __future__ import annotations

import signal
from collections.abc import Callable, Sequence
from typing import Any

from pybgp.control import request
from tests.harness import AbortWait, Node, PybgpProcess, Topology, to_toml, wait_until

FAST_SPEAKER = {
    "connect_delay": 0,
    "connect_retry_time": 1,
    "error_wait_min": 0.5,
    "error_wait_max": 1,
}


def lan(topology: Topology, count: int) -> list[Node]:
    """``count`` nodes n1..nN on bridge ``lan``: 10.99.0.<i>/24 and fd00:99::<i>/64."""
    topology.add_bridge("lan")
    nodes = []
    for index in range(1, count + 1):
        node = topology.add_node(f"n{index}")
        topology.connect(node, "lan", f"10.99.0.{index}/24", f"fd00:99::{index}/64")
        nodes.append(node)
    return nodes


def peer(address: str, asn: int, **extra: Any) -> dict[str, Any]:
    """One ``[[peers]]`` table."""
    return {"address": address, "asn": asn, **extra}


class Speaker:
    """``pybgp run`` in ``node`` with a generated config; status/routes via the socket.

    ``speaker`` keywords go into ``[speaker]``; ``sections`` adds top-level tables
    (``filters``, a richer ``originate``...)."""

    def __init__(
        self,
        node: Node,
        router_id: str,
        asn: int,
        peers: Sequence[dict[str, Any]],
        originate: Sequence[str] = (),
        listen_address: str = "::",
        sections: dict[str, Any] | None = None,
        **speaker: Any,
    ) -> None:
        self.node = node
        self.router_id = router_id
        self.socket = str(node.topology.rundir / f"pybgp-{node.name}.sock")
        config: dict[str, Any] = {
            "speaker": {
                "asn": asn,
                "router_id": router_id,
                "listen_address": listen_address,
                "listen_port": 179,
                "control_socket": self.socket,
                **FAST_SPEAKER,
                **speaker,
            },
            "peers": list(peers),
            "kernel": {"adapter": "none"},
            "logging": {"level": "debug"},
        }
        if originate:
            config["originate"] = {"prefixes": list(originate)}
        config.update(sections or {})
        self.config = config
        self.process = PybgpProcess(node, config, name=f"pybgp-{node.name}")
        node.topology.debug_hooks.append(self.debug_dump)

    # -- asking the speaker ------------------------------------------------------------
    def _alive(self) -> None:
        if not self.process.process.running:
            raise AbortWait(f"pybgp in {self.node.name} died:\n{self.logs()[-4000:]}")

    def status(self) -> dict[str, Any]:
        self._alive()
        return request(self.socket, "status", timeout=5)

    def peer(self, address: str) -> dict[str, Any]:
        """The status entry of peer ``address`` (AssertionError when absent)."""
        for entry in self.status()["peers"]:
            if entry["address"] == address:
                return entry
        raise AssertionError(f"no peer {address} in pybgp status of {self.node.name}")

    def routes(self, family: str | None = None) -> list[dict[str, Any]]:
        self._alive()
        arguments = {"family": family} if family else {}
        return request(self.socket, "routes", timeout=5, **arguments)["routes"]

    def logs(self) -> str:
        return self.process.logs()

    def reload(self, config: dict[str, Any]) -> None:
        """Write ``config`` as the new file and SIGHUP the speaker (``pybgp run`` reloads).

        Only once the speaker is up (its control socket answers): before that SIGHUP's
        default action would kill it."""
        self.status()
        self.config = config
        self.process.config_path.write_text(to_toml(config))
        self.process.process.send_signal(signal.SIGHUP)

    def start(self) -> None:
        """Start ``pybgp run`` again with the same config file (after ``stop``)."""
        self.process.process.start()

    def stop(self, timeout: float = 5.0) -> int | None:
        """SIGTERM (a clean stop); returns the exit status."""
        return self.process.stop(timeout)

    # -- waiting -------------------------------------------------------------------------
    def wait_state(
        self, address: str, state: str = "Established", timeout: float = 15.0
    ) -> dict[str, Any]:
        """Wait until peer ``address`` is in ``state``; returns its status entry."""
        return wait_until(
            lambda: self.peer(address),
            timeout=timeout,
            describe=f"pybgp {self.node.name}: peer {address} {state}",
            predicate=lambda entry: entry["state"] == state,
        )

    def wait_route(
        self,
        prefix: str,
        predicate: Callable[[dict[str, Any]], bool] = lambda route: True,
        timeout: float = 10.0,
        what: str = "",
    ) -> dict[str, Any]:
        """Wait for a best path to ``prefix`` satisfying ``predicate``; return it."""

        def probe() -> list[dict[str, Any]]:
            return [
                route
                for route in self.routes()
                if route["prefix"] == prefix and route["best"] and predicate(route)
            ]

        return wait_until(
            probe, timeout=timeout, describe=f"{prefix} {what}in pybgp {self.node.name}"
        )[0]

    def debug_dump(self) -> str:
        parts = [f"===== pybgp in {self.node.name} ====="]
        parts.append("--- config\n" + self.process.config_path.read_text())
        try:
            parts.append(f"--- status\n{self.status()}")
            parts.append(f"--- routes\n{self.routes()}")
        except Exception as error:
            parts.append(f"--- status/routes: {error!r}")
        parts.append("--- log\n" + self.logs()[-20000:])
        return "\n".join(parts)


def bird_route(bird: Any, prefix: str, protocol: str, timeout: float = 10.0) -> dict[str, Any]:
    """Wait for ``prefix`` learned over BGP protocol ``protocol`` in BIRD; return it."""
    return bird.wait_route(prefix, protocol=protocol, timeout=timeout)

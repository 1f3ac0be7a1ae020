"""Graceful restart (RFC 4724, RFC 8538) with real kernels, real BIRD 2 and pings between pods.

One cluster: n1 and n2 run ``pybgp run`` with ``[graceful_restart] enabled``, n3 runs BIRD 2
with ``graceful restart on`` (its kernel protocol with ``persist`` and ``graceful restart``),
full iBGP mesh on one bridge; a pod behind each node (10.244.N.2) and pings every 50 ms
between every pair of pods. ``ip monitor route`` in every node namespace records every kernel
change. Then, one after the other:

(a) n1, then n2, restart with SIGTERM (a planned restart: Cease/Administrative Reset to a peer
    with the N-bit, a TCP close without NOTIFICATION to one without), exit 0, started again;
(b) n1, then n2, are killed with SIGKILL and started again;
(c) n1 stops (SIGTERM) and comes back without one of its two blocks: the peers remove exactly
    that block, after n1's End-of-RIB, and n1 sweeps its own blackhole of it;
(d) BIRD restarts gracefully (``birdc graceful restart``, then ``bird -R``);
(e) SIGINT is still the full stop that withdraws.

Each time: no ping is lost, no kernel anywhere sees a change of an unchanged route (pybgp
nodes: not a single line about it; the BIRD node: no deletion), and the figures are printed
(``-s`` shows them) for docs/operations.md.
"""

from __future__ import annotations

import json
import re
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.harness import (
    AbortWait,
    BirdDaemon,
    BirdPeer,
    ManagedProcess,
    Node,
    PybgpProcess,
    Topology,
    bird_config,
    to_toml,
    wait_until,
)

pytestmark = [pytest.mark.netns, pytest.mark.bird, pytest.mark.slow]

ASN = 64512
PROTO = 186
GR_TIME = 30
EXTRA = "10.244.11.0/26"  # n1's second block, dropped in (c)


# -- observers ---------------------------------------------------------------------------------


class Monitor:
    """``ip -ts monitor route`` in a namespace; ``start`` waits until it is subscribed."""

    MARKER = "198.18.254."

    def __init__(self, node: Node, workdir: Path, label: str) -> None:
        self.node = node
        self.path = workdir / f"monitor-{label}-{node.name}.log"
        self.process: ManagedProcess | None = None
        self.markers = 0

    def start(self) -> Monitor:
        self.process = self.node.spawn(
            ["ip", "-ts", "monitor", "route"], self.path, name=f"monitor@{self.node.name}"
        )

        def marked() -> bool:
            if self.MARKER in self.text():
                return True
            self.markers += 1
            self.node.ip("route", "add", f"{self.MARKER}{self.markers}/32", "dev", "lo")
            return False

        wait_until(marked, timeout=5, interval=0.05, describe=f"ip monitor in {self.node.name}")
        return self

    def text(self) -> str:
        return self.process.logs() if self.process is not None else ""

    def stop(self) -> str:
        if self.process is not None:
            self.process.stop(timeout=2)
        return self.text()

    def lines(self, prefix: str) -> list[str]:
        network = prefix.split("/")[0]
        pattern = re.compile(rf"\b{re.escape(network)}/")
        return [line for line in self.text().splitlines() if pattern.search(line)]

    def deletions(self, prefix: str) -> list[str]:
        return [line for line in self.lines(prefix) if "Deleted" in line]


class Pinger:
    """``ping -i 0.05`` from a pod; losses = sequence numbers missing between the first and the
    last reply."""

    def __init__(self, pod: Node, target: str, workdir: Path, label: str) -> None:
        self.pod, self.target = pod, target
        self.path = workdir / f"ping-{label}-{pod.name}-{target}.log"
        self.process = pod.spawn(
            ["ping", "-n", "-i", "0.05", "-W", "1", target], self.path, name=f"ping@{pod.name}"
        )

    def replies(self) -> list[int]:
        text = self.process.logs()
        return [int(m) for m in re.findall(r"icmp_seq=(\d+) ttl=", text)]

    def stop(self) -> tuple[int, list[int]]:
        """(replies, lost sequence numbers)."""
        self.process.stop(timeout=2)
        seen = sorted(set(self.replies()))
        if not seen:
            return 0, []
        lost = sorted(set(range(seen[0], seen[-1] + 1)) - set(seen))
        return len(seen), lost


# -- the cluster -------------------------------------------------------------------------------


class Cluster:
    def __init__(self, topology: Topology) -> None:
        self.topology = topology
        topology.add_bridge("lan")
        self.nodes: list[Node] = []
        for index in (1, 2, 3):
            node = topology.add_node(f"n{index}")
            topology.connect(node, "lan", f"10.99.0.{index}/24")
            self.nodes.append(node)
        self.n1, self.n2, self.n3 = self.nodes
        self.blocks = {
            "n1": ["10.244.1.0/26", EXTRA],
            "n2": ["10.244.2.0/26"],
            "n3": ["10.244.3.0/26"],
        }
        self.pybgp = {
            node.name: PybgpProcess(node, self.config(node)) for node in (self.n1, self.n2)
        }
        self.bird_text = bird_config(
            self.n3.address,
            ASN,
            [
                BirdPeer(
                    node.name,
                    node.address,
                    ASN,
                    hold_time=3,
                    extra=f"graceful restart on; graceful restart time {GR_TIME};",
                )
                for node in (self.n1, self.n2)
            ],
            originate=self.blocks["n3"],
            kernel_export=True,
        )
        # The kernel protocol keeps BIRD's routes when it exits and waits for the recovery.
        self.bird_text = re.sub(
            r"^(protocol kernel .*scan time 5;) }$",
            r"\1 persist; graceful restart on; }",
            self.bird_text,
            flags=re.MULTILINE,
        )
        self.bird = BirdDaemon(self.n3, self.bird_text)
        self.pods = {
            node.name: topology.add_pod(node, f"p{i}", f"10.244.{i}.2")
            for i, node in enumerate(self.nodes, 1)
        }

    def config(self, node: Node, blocks: list[str] | None = None) -> dict[str, Any]:
        return {
            "speaker": {
                "asn": ASN,
                "router_id": node.address,
                "listen_address": node.address,
                "control_socket": str(self.topology.rundir / f"{node.name}.sock"),
                "hold_time": 3,
                "connect_delay": 0,
                "connect_retry_time": 1,
                "error_wait_min": 0.5,
                "error_wait_max": 1,
            },
            "peers": [
                {"address": other.address, "asn": ASN, "local_address": node.address}
                for other in self.nodes
                if other is not node
            ],
            "originate": {
                "prefixes": blocks if blocks is not None else self.blocks[node.name],
                "blackhole": True,
            },
            "kernel": {"adapter": "netlink", "encapsulation": "none", "protocol": PROTO},
            "graceful_restart": {
                "enabled": True,
                "restart_time": GR_TIME,
                "stale_routes_time": 2 * GR_TIME,
            },
        }

    # -- observations --------------------------------------------------------------------

    def status(self, name: str) -> dict[str, Any]:
        process = self.pybgp[name]
        if not process.process.running:
            raise AbortWait(f"pybgp@{name} died:\n{process.logs()[-4000:]}")
        result = process.cli("status", "--json", "-c", str(process.config_path), check=True)
        document: dict[str, Any] = json.loads(result.stdout)
        return document

    def gateways(self, node: Node) -> dict[str, str]:
        proto: int | str = "bird" if node is self.n3 else PROTO
        return {
            str(route["dst"]): str(route.get("gateway") or route.get("type", "unicast"))
            for route in node.routes(proto=proto)
        }

    def expected(self, node: Node) -> dict[str, str]:
        out = {block: "blackhole" for block in self.blocks[node.name]}
        for other in self.nodes:
            if other is not node:
                out.update({block: other.address for block in self.blocks[other.name]})
        return out

    def settled(self) -> bool:
        """Every kernel as expected, every session up, nobody restarting or deferring."""
        for node in self.nodes:
            if self.gateways(node) != self.expected(node):
                return False
        for name in self.pybgp:
            status = self.status(name)
            if status["graceful_restart"].get("deferral") != "done":
                return False
            for peer in status["peers"]:
                if peer["state"] != "Established" or peer["graceful_restart"]["phase"] != "none":
                    return False
        if not self.bird.running:
            return False
        rows = self.bird.protocols()
        return all(rows.get(name) == "Established" for name in self.pybgp)

    def wait_settled(self, timeout: float = 30) -> None:
        wait_until(self.settled, timeout=timeout, interval=0.2, describe="cluster settled")

    # -- one scenario ----------------------------------------------------------------------

    def scenario(self, label: str, action: Callable[[], None], workdir: Path) -> dict[str, Any]:
        """Monitors and pingers around ``action``; returns what they saw."""
        monitors = {node.name: Monitor(node, workdir, label).start() for node in self.nodes}
        pingers = [
            Pinger(self.pods[a], f"10.244.{b[-1]}.2", workdir, label)
            for a, b in (("n1", "n2"), ("n1", "n3"), ("n2", "n3"))
        ]
        for pinger in pingers:
            wait_until(lambda p=pinger: len(p.replies()) >= 5, timeout=10, describe="pings flow")
        started = time.monotonic()
        action()
        self.wait_settled()
        took = time.monotonic() - started
        marks = [len(p.replies()) for p in pingers]
        for pinger, mark in zip(pingers, marks, strict=True):
            wait_until(
                lambda p=pinger, m=mark: len(p.replies()) >= m + 10,
                timeout=10,
                describe="pings after the restart",
            )
        results = [p.stop() for p in pingers]
        for monitor in monitors.values():
            monitor.stop()
        return {
            "label": label,
            "seconds": round(took, 1),
            "pings": sum(r[0] for r in results),
            "lost": sum(len(r[1]) for r in results),
            "lost_detail": {
                f"{p.pod.name}->{p.target}": r[1] for p, r in zip(pingers, results, strict=True)
            },
            "monitors": monitors,
        }


def _start_bird_recovering(bird: BirdDaemon) -> None:
    """``bird -R``: start in graceful restart recovery (the harness starts without it)."""
    bird.socket_path.unlink(missing_ok=True)
    bird.process = bird.node.spawn(
        [
            "bird", "-f", "-R", "-c", str(bird.config_path), "-s", str(bird.socket_path),
            "-P", str(bird.pid_path),
        ],
        log_path=bird.stdout_path,
        name=bird.name,
    )  # fmt: skip
    wait_until(
        lambda: (
            bird.socket_path.exists()
            and "Daemon is up and running" in bird.birdc("show status", check=False)
        ),
        timeout=10,
        interval=0.05,
        describe="bird -R to answer",
    )


@pytest.fixture
def cluster(bird: None, topology: Topology) -> Iterator[Cluster]:
    cluster = Cluster(topology)
    cluster.wait_settled(timeout=40)
    yield cluster


def _report(result: dict[str, Any], unchanged: dict[str, list[str]]) -> dict[str, int]:
    """Count, per node, the kernel lines about routes that did not change."""
    touched: dict[str, int] = {}
    for name, monitor in result["monitors"].items():
        touched[name] = sum(
            len(monitor.deletions(p) if name == "n3" else monitor.lines(p)) for p in unchanged[name]
        )
    print(
        f"\n[{result['label']}] {result['seconds']} s to settle, {result['pings']} pings, "
        f"{result['lost']} lost {result['lost_detail']}, kernel lines about unchanged routes "
        f"{touched}"
    )
    return touched


def test_restarts_lose_no_ping_and_touch_no_unchanged_route(
    cluster: Cluster, tmp_path: Path
) -> None:
    n1, n2, n3 = cluster.n1, cluster.n2, cluster.n3
    every_block = [b for blocks in cluster.blocks.values() for b in blocks]
    everywhere = {node.name: every_block for node in cluster.nodes}
    # Negotiated as configured: N-bit with the other pybgp node, families with the F-bit field.
    peers = {p["address"]: p for p in cluster.status("n1")["peers"]}
    assert peers[n2.address]["graceful_restart"]["notification"] is True
    assert peers[n2.address]["graceful_restart"]["families"] == ["ipv4"]
    assert peers[n3.address]["graceful_restart"]["negotiated"] is True

    # (a) A rolling SIGTERM restart of both pybgp nodes: a planned restart each.
    def sigterm(name: str, node: Node) -> Callable[[], None]:
        def action() -> None:
            process = cluster.pybgp[name].process
            process.send_signal(signal.SIGTERM)
            assert process.wait(10) == 0, "SIGTERM with graceful restart exits 0"
            assert cluster.gateways(node) == cluster.expected(node), "its kernel kept every route"
            for other in cluster.nodes:
                if other is node:
                    continue
                if other.name in cluster.pybgp:
                    entry = {p["address"]: p for p in cluster.status(other.name)["peers"]}
                    gr = entry[node.address]["graceful_restart"]
                    assert gr["phase"] == "restarting", gr
                    assert gr["stale_routes"] == len(cluster.blocks[name])
                assert cluster.gateways(other) == cluster.expected(other)
            process.start()

        return action

    # (b) Then a rolling SIGKILL: nothing runs at all, the kernel keeps the same state.
    def sigkill(name: str, node: Node) -> Callable[[], None]:
        def action() -> None:
            process = cluster.pybgp[name].process
            process.kill()
            assert cluster.gateways(node) == cluster.expected(node)
            process.start()

        return action

    for label, action in (
        ("a-sigterm-n1", sigterm("n1", n1)),
        ("a-sigterm-n2", sigterm("n2", n2)),
        ("b-sigkill-n1", sigkill("n1", n1)),
        ("b-sigkill-n2", sigkill("n2", n2)),
    ):
        result = cluster.scenario(label, action, tmp_path)
        assert _report(result, everywhere) == {"n1": 0, "n2": 0, "n3": 0}, label
        assert result["lost"] == 0, (label, result["lost_detail"])
    logs = cluster.pybgp["n1"].logs()
    assert "selection deferred" in logs and "selection deferral over" in logs
    bird_gr = {p["address"]: p for p in cluster.status("n1")["peers"]}[n3.address]
    print(f"\nBIRD's graceful restart as n1 sees it: {bird_gr['graceful_restart']}")

    # (c) n1 comes back without EXTRA: exactly that block goes, everywhere, once.
    def drop_block() -> None:
        process = cluster.pybgp["n1"]
        process.process.send_signal(signal.SIGTERM)
        assert process.process.wait(10) == 0
        cluster.blocks["n1"] = ["10.244.1.0/26"]
        process.config_path.write_text(to_toml(cluster.config(n1)))
        process.process.start()

    result = cluster.scenario("c-drop-block", drop_block, tmp_path)
    kept = [b for b in every_block if b != EXTRA]
    assert _report(result, {node.name: kept for node in cluster.nodes}) == {
        "n1": 0,
        "n2": 0,
        "n3": 0,
    }
    assert result["lost"] == 0, result["lost_detail"]
    for node in cluster.nodes:
        gone = result["monitors"][node.name].deletions(EXTRA)
        assert len(gone) == 1, f"{node.name}: {EXTRA} removed once:\n{gone}"
    assert EXTRA not in cluster.gateways(n1)

    # (d) BIRD restarts gracefully; pybgp is the helper.
    def bird_restart() -> None:
        output = cluster.bird.birdc("graceful restart", check=False)
        assert cluster.bird.process is not None
        cluster.bird.process.wait(10)
        for node in (n1, n2):
            assert cluster.gateways(node) == cluster.expected(node), output
        _start_bird_recovering(cluster.bird)

    result = cluster.scenario("d-bird-graceful", bird_restart, tmp_path)
    assert _report(result, {node.name: kept for node in cluster.nodes}) == {
        "n1": 0,
        "n2": 0,
        "n3": 0,
    }
    assert result["lost"] == 0, result["lost_detail"]
    # n2 (itself killed last in (b)) saw n1 restart once since, in (c), and BIRD once.
    restarts = {
        p["address"]: p["graceful_restart"]["restarts"] for p in cluster.status("n2")["peers"]
    }
    assert restarts == {n1.address: 1, n3.address: 1}

    # (e) SIGINT stays the full stop: Cease/Hard Reset (RFC 8538 §5) to the N-bit peer, every
    # kernel route of n1 removed, and the peers remove n1's blocks at once.
    process = cluster.pybgp["n1"].process
    process.send_signal(signal.SIGINT)
    assert process.wait(10) == 0
    assert cluster.gateways(n1) == {}
    for node in (n2, n3):
        expected = {
            b: g for b, g in cluster.expected(node).items() if b not in cluster.blocks["n1"]
        }
        wait_until(
            lambda node=node: cluster.gateways(node),
            timeout=5,
            describe=f"{node.name} without n1's blocks",
            predicate=lambda seen, expected=expected: seen == expected,
        )
    assert "Cease: hard reset" in cluster.pybgp["n2"].logs()

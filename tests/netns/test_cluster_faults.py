"""Proven with real routers: dual stack, node loss and return, import policy, security.

Every test builds its own namespaces (``topology`` fixture: nodes on one bridge, 10.99.0.N/24
and fd00:99::N/64) and runs real ``pybgp run`` processes next to BIRD 2 and ExaBGP; the
kernel tables of the namespaces are the ground truth (``proto 186`` = routes pybgp installed,
``proto bird`` = BIRD's).

* dual stack: IPv6 pod blocks across a mesh of three pybgp nodes and a BIRD node, over IPv6
  sessions and carried over IPv4 sessions (MP-BGP), each node's kernel routing the others'
  blocks via the right node.
* node loss and return: ``kill -9`` of a node; its block leaves the others' kernels within
  the hold time and comes back when it returns; ``ip monitor route`` in every namespace proves
  nothing else was ever removed or re-added (the restarted node adopts its own routes).
* import policy: a declarative ``[[filters]]`` import filter on routes ExaBGP announces with
  communities; exactly the right routes are kept, with the filter's changes.
* security: TCP MD5 with BIRD, a stranger closed without an OPEN, a wrong password never
  establishes.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import pytest

from tests.harness import (
    AbortWait,
    BirdDaemon,
    BirdPeer,
    ExaBgpPeer,
    ExaRoute,
    ManagedProcess,
    Node,
    PybgpProcess,
    Topology,
    bird_config,
    exabgp_config,
    wait_until,
)

pytestmark = pytest.mark.netns

ASN = 64512
PROTO = 186


# -- helpers -----------------------------------------------------------------------------------


def _lan(topology: Topology, count: int) -> list[Node]:
    """``count`` nodes n1..nN on one bridge: 10.99.0.N/24 and fd00:99::N/64."""
    topology.add_bridge("lan")
    nodes = []
    for index in range(1, count + 1):
        node = topology.add_node(f"n{index}")
        topology.connect(node, "lan", f"10.99.0.{index}/24", f"fd00:99::{index}/64")
        nodes.append(node)
    return nodes


def _speaker(topology: Topology, node: Node, **overrides: Any) -> dict[str, Any]:
    speaker = {
        "asn": ASN,
        "router_id": node.address,
        "listen_address": "::",
        "control_socket": str(topology.rundir / f"{node.name}.sock"),
        "hold_time": 3,
        "connect_delay": 0,
        "connect_retry_time": 1,
        "error_wait_min": 0.5,
        "error_wait_max": 1,
    }
    speaker.update(overrides)
    return speaker


def _kernel() -> dict[str, Any]:
    return {"adapter": "netlink", "encapsulation": "none", "protocol": PROTO}


def _status(process: PybgpProcess) -> dict[str, Any]:
    result = process.cli("status", "--json", "-c", str(process.config_path), check=True)
    document: dict[str, Any] = json.loads(result.stdout)
    return document


def _routes(process: PybgpProcess, family: str = "ipv4") -> list[dict[str, Any]]:
    result = process.cli(
        "routes", "--json", "--family", family, "-c", str(process.config_path), check=True
    )
    routes: list[dict[str, Any]] = json.loads(result.stdout)["routes"]
    return routes


def _peer_states(process: PybgpProcess) -> dict[str, str]:
    if not process.process.running:
        raise AbortWait(f"{process.process.name} died:\n{process.logs()[-4000:]}")
    return {peer["address"]: peer["state"] for peer in _status(process)["peers"]}


def _wait_established(process: PybgpProcess, addresses: Iterable[str], timeout: float = 20) -> None:
    wanted = set(addresses)
    wait_until(
        lambda: _peer_states(process),
        timeout=timeout,
        describe=f"{process.process.name}: sessions with {sorted(wanted)} Established",
        predicate=lambda states: all(states.get(a) == "Established" for a in wanted),
    )


def _gateways(node: Node, family: int = 4) -> dict[str, str]:
    """dst -> gateway (or the route type, e.g. "blackhole") of the node's proto-186 routes."""
    return {
        str(route["dst"]): str(route.get("gateway") or route.get("type", "unicast"))
        for route in node.routes(proto=PROTO, family=family)
    }


def _wait_gateways(
    node: Node, expected: dict[str, str], family: int = 4, timeout: float = 20
) -> dict[str, str]:
    """Wait until the node's proto-186 routes are exactly ``expected``."""
    return wait_until(
        lambda: _gateways(node, family),
        timeout=timeout,
        describe=f"{node.name}'s kernel routes (proto {PROTO}, IPv{family}) == {expected}",
        predicate=lambda seen: seen == expected,
    )


class RouteMonitor:
    """``ip monitor route`` inside a namespace, its output captured in a file.

    ``start`` proves the monitor is subscribed before returning: it adds a marker route and
    waits until the monitor printed it.
    """

    MARKER = "198.18.255."  # benchmarking range (RFC 2544): never one of the test's prefixes

    def __init__(self, node: Node, workdir: Path) -> None:
        self.node = node
        self.log_path = workdir / f"monitor-{node.name}.log"
        self.process: ManagedProcess | None = None
        self._markers = 0

    def _mark(self) -> bool:
        """Add one more marker route; True once the monitor printed any of them."""
        if self.MARKER in self.text():
            return True
        self._markers += 1
        self.node.ip("route", "add", f"{self.MARKER}{self._markers}/32", "dev", "lo")
        return False

    def start(self) -> RouteMonitor:
        self.process = self.node.spawn(
            ["ip", "-ts", "monitor", "route"], self.log_path, name=f"monitor@{self.node.name}"
        )
        # The monitor may not be subscribed yet when a marker is added: add another each try.
        wait_until(
            self._mark,
            timeout=5,
            interval=0.05,
            describe=f"ip monitor in {self.node.name} to print a marker route",
        )
        return self

    def text(self) -> str:
        return self.process.logs() if self.process is not None else ""

    def stop(self) -> str:
        if self.process is not None:
            self.process.stop(timeout=2)
        return self.text()

    def lines_about(self, prefix: str) -> list[str]:
        network = prefix.split("/")[0]
        return [
            line
            for line in self.text().splitlines()
            if re.search(rf"\b{re.escape(network)}/", line)
        ]


# -- 5. dual stack -----------------------------------------------------------------------------


@pytest.mark.bird
@pytest.mark.parametrize("transport", ["ipv6-sessions", "ipv4-sessions"])
def test_dual_stack_mesh_with_bird(bird: None, topology: Topology, transport: str) -> None:
    """3 pybgp nodes + 1 BIRD node, full iBGP mesh, IPv4 /26 and IPv6 /122 pod blocks.

    ``ipv6-sessions``: IPv6 routes over sessions between the fd00:99:: addresses.
    ``ipv4-sessions``: one IPv4 session per pair carries both families (MP-BGP, RFC 4760);
    the IPv6 routes must still get an installable IPv6 next hop: n1 and n3 derive it from the
    interface of their IPv4 session address (fd00:99::N), n2 is told to use a second address
    of its interface (``local_address6 = "fd00:99::22"``).
    """
    nodes = _lan(topology, 4)
    *speakers_nodes, bird_node = nodes
    over_v6 = transport == "ipv6-sessions"
    next_hop6 = {node.name: node.address6 for node in nodes}
    if not over_v6:
        nodes[1].ip("addr", "add", "fd00:99::22/64", "dev", "eth0", "nodad")
        next_hop6["n2"] = "fd00:99::22"
    block4 = {node.name: f"10.244.{i}.0/26" for i, node in enumerate(nodes, 1)}
    block6 = {node.name: f"fd00:244:{i}::/122" for i, node in enumerate(nodes, 1)}

    def session_address(node: Node) -> str:
        return node.address6 if over_v6 else node.address

    processes = []
    for node in speakers_nodes:
        peers = []
        for other in nodes:
            if other is node:
                continue
            peer: dict[str, Any] = {
                "address": session_address(other),
                "asn": ASN,
                "local_address": session_address(node),
                "families": ["ipv6"] if over_v6 else ["ipv4", "ipv6"],
            }
            if not over_v6 and node.name == "n2":
                peer["local_address6"] = next_hop6["n2"]
            peers.append(peer)
        prefixes = [block6[node.name]] if over_v6 else [block4[node.name], block6[node.name]]
        config = {
            "speaker": _speaker(topology, node),
            "peers": peers,
            "originate": {"prefixes": prefixes, "blackhole": True},
            "kernel": _kernel(),
        }
        processes.append(PybgpProcess(node, config))
    bird_peers = [
        BirdPeer(
            other.name,
            session_address(other),
            ASN,
            ipv4=not over_v6,
            ipv6=True,
            hold_time=3,
        )
        for other in speakers_nodes
    ]
    originate = (
        [block6[bird_node.name]] if over_v6 else [block4[bird_node.name], block6[bird_node.name]]
    )
    bird = BirdDaemon(
        bird_node,
        bird_config(bird_node.address, ASN, bird_peers, originate=originate, kernel_export=True),
    )
    for process, node in zip(processes, speakers_nodes, strict=True):
        _wait_established(process, [session_address(o) for o in nodes if o is not node])
    for other in speakers_nodes:
        bird.wait_established(other.name)

    for node in speakers_nodes:
        expected6 = {block6[node.name]: "blackhole"}
        expected6.update({block6[o.name]: next_hop6[o.name] for o in nodes if o is not node})
        _wait_gateways(node, expected6, family=6)
        if not over_v6:
            expected4 = {block4[node.name]: "blackhole"}
            expected4.update({block4[o.name]: o.address for o in nodes if o is not node})
            _wait_gateways(node, expected4, family=4)
    # BIRD accepted pybgp's IPv6 next hops and put the routes in its kernel, via each node.
    for node in speakers_nodes:
        route = bird.wait_route(block6[node.name], protocol=node.name)
        assert route["next_hop"][0] == next_hop6[node.name], route
        kernel = wait_until(
            lambda node=node: [
                r for r in bird_node.routes(proto="bird", family=6) if r["dst"] == block6[node.name]
            ],
            timeout=10,
            describe=f"{block6[node.name]} in the BIRD node's kernel",
        )
        assert kernel[0]["gateway"] == next_hop6[node.name]
    # The Loc-RIB says the same: IPv6 routes with IPv6 next hops, all installed.
    n1_routes = {r["prefix"]: r for r in _routes(processes[0], "ipv6") if r["best"]}
    for other in nodes[1:]:
        route = n1_routes[block6[other.name]]
        assert route["next_hop"] == next_hop6[other.name]
        assert route["installed"]
    # And traffic flows along those routes: from a pod behind n1 to a pod behind the BIRD
    # node and back (n1 -> n4 by pybgp's route, n4 -> n1 by BIRD's).
    n1 = speakers_nodes[0]
    pod1 = topology.add_pod(n1, "pod1", "10.244.1.2", address6="fd00:244:1::2")
    topology.add_pod(bird_node, "pod4", "10.244.4.2", address6="fd00:244:4::2")
    assert pod1.ping("fd00:244:4::2", count=2, timeout=2)
    if not over_v6:
        assert pod1.ping("10.244.4.2", count=2, timeout=2)


# -- 6. node loss and return -----------------------------------------------------------------


class Mesh:
    """Three pybgp nodes n1..n3 in a full IPv4 mesh, each originating 10.244.N.0/26."""

    def __init__(self, topology: Topology) -> None:
        self.nodes = _lan(topology, 3)
        self.blocks = {node.name: f"10.244.{i}.0/26" for i, node in enumerate(self.nodes, 1)}
        self.processes: dict[str, PybgpProcess] = {}
        for node in self.nodes:
            config = {
                "speaker": _speaker(topology, node),
                "peers": [
                    {"address": other.address, "asn": ASN, "local_address": node.address}
                    for other in self.nodes
                    if other is not node
                ],
                "originate": {"prefixes": [self.blocks[node.name]], "blackhole": True},
                "kernel": _kernel(),
            }
            self.processes[node.name] = PybgpProcess(node, config)

    def expected(self, node: Node, present: Sequence[Node]) -> dict[str, str]:
        """The proto-186 routes of ``node`` when the nodes ``present`` are up."""
        out = {self.blocks[node.name]: "blackhole"}
        out.update({self.blocks[o.name]: o.address for o in present if o is not node})
        return out

    def wait_converged(self) -> None:
        for node in self.nodes:
            _wait_gateways(node, self.expected(node, self.nodes))


@pytest.mark.slow
def test_node_loss_and_return_touches_only_the_lost_nodes_block(
    topology: Topology, tmp_path: Path
) -> None:
    mesh = Mesh(topology)
    nodes, blocks, processes, expected = mesh.nodes, mesh.blocks, mesh.processes, mesh.expected
    mesh.wait_converged()
    n1, n2, n3 = nodes
    monitors = {node.name: RouteMonitor(node, tmp_path).start() for node in nodes}

    # kill -9: no NOTIFICATION, no clean-up; the TCP sessions die with the process.
    lost = processes["n3"]
    killed_at = time.monotonic()
    lost.process.kill()
    for survivor in (n1, n2):
        _wait_gateways(survivor, expected(survivor, [n1, n2]), timeout=10)
    gone_after = time.monotonic() - killed_at
    assert gone_after < 3 + 1.5, f"n3's block lingered {gone_after:.1f} s (hold time 3 s)"
    # The dead node's kernel still has its routes: nobody removed them.
    assert _gateways(n3) == expected(n3, nodes)

    # It comes back with the same config: its block returns everywhere.
    lost.process.start()
    _wait_established(lost, [n1.address, n2.address])
    mesh.wait_converged()
    wait_until(
        lambda: _status(lost)["kernel"],
        timeout=10,
        describe="the restarted n3 to hold its 3 routes installed",
        predicate=lambda kernel: kernel.get("installed") == 3 and kernel.get("failed") == 0,
    )

    texts = {name: monitor.stop() for name, monitor in monitors.items()}
    for survivor in (n1, n2):
        monitor = monitors[survivor.name]
        lost_lines = monitor.lines_about(blocks["n3"])
        assert [line.split("]", 1)[-1].split()[0] for line in lost_lines] == [
            "Deleted",
            blocks["n3"],
        ], f"{survivor.name}: n3's block should go once and come back once:\n{texts[survivor.name]}"
        for unchanged in (blocks["n1"], blocks["n2"]):
            assert monitor.lines_about(unchanged) == [], (
                f"{survivor.name}: {unchanged} was touched during n3's loss and return:\n"
                f"{texts[survivor.name]}"
            )
    # The restarted node adopted the routes its previous life left: none removed or re-added.
    for block in blocks.values():
        assert monitors["n3"].lines_about(block) == [], (
            f"n3 re-did {block} when it restarted:\n{texts['n3']}"
        )
    assert "Established" in lost.logs()


def test_frozen_node_is_dropped_after_the_hold_time_and_returns(
    topology: Topology, tmp_path: Path
) -> None:
    """SIGSTOP: the TCP sessions stay open, only the hold timer (3 s) can notice."""
    mesh = Mesh(topology)
    mesh.wait_converged()
    n1, n2, n3 = mesh.nodes
    monitors = {node.name: RouteMonitor(node, tmp_path).start() for node in (n1, n2)}
    frozen = mesh.processes["n3"]
    frozen_at = time.monotonic()
    frozen.process.freeze()
    try:
        for survivor in (n1, n2):
            _wait_gateways(survivor, mesh.expected(survivor, [n1, n2]), timeout=10)
        gone_after = time.monotonic() - frozen_at
        # Keepalives every second: the last one came at most 1 s before the freeze.
        assert 2.0 - 0.2 <= gone_after < 3 + 1.5, f"n3's block left after {gone_after:.2f} s"
        # While frozen its block stays gone (nothing flaps back in).
        assert _gateways(n1) == mesh.expected(n1, [n1, n2])
    finally:
        frozen.process.thaw()
    _wait_established(frozen, [n1.address, n2.address])
    mesh.wait_converged()
    texts = {name: monitor.stop() for name, monitor in monitors.items()}
    for survivor in (n1, n2):
        monitor = monitors[survivor.name]
        words = [
            line.split("]", 1)[-1].split()[0] for line in monitor.lines_about(mesh.blocks["n3"])
        ]
        assert words == ["Deleted", mesh.blocks["n3"]], texts[survivor.name]
        for unchanged in (mesh.blocks["n1"], mesh.blocks["n2"]):
            assert monitor.lines_about(unchanged) == [], texts[survivor.name]
    states = _peer_states(mesh.processes["n1"])
    assert states[n3.address] == "Established"
    assert "hold timer expired" in mesh.processes["n1"].logs()


# -- 8. security -------------------------------------------------------------------------------

STRANGER_PROBE = """
import socket, sys, time
start = time.monotonic()
s = socket.create_connection(("10.99.0.1", 179), timeout=5)
s.settimeout(5)
try:
    data = s.recv(4096)
    outcome = f"read {len(data)} bytes"
except ConnectionResetError:
    data, outcome = b"", "reset"
except TimeoutError:
    data, outcome = b"", "timeout"
print(f"{outcome} in {time.monotonic() - start:.3f} s")
"""


@pytest.mark.bird
def test_md5_session_stranger_and_wrong_password(bird: None, topology: Topology) -> None:
    n1, n2, n3, n4 = _lan(topology, 4)  # n1 pybgp, n2 BIRD (right key), n3 BIRD (wrong key)
    speaker = PybgpProcess(
        n1,
        {
            "speaker": _speaker(topology, n1, listen_address="0.0.0.0"),
            "peers": [
                {"address": n2.address, "asn": ASN, "password": "s3cret pass"},
                {"address": n3.address, "asn": ASN, "password": "right one"},
            ],
            "originate": {"prefixes": ["10.244.1.0/26"]},
            "kernel": {"adapter": "memory"},
        },
    )
    good = BirdDaemon(
        n2,
        bird_config(
            n2.address,
            ASN,
            [BirdPeer("n1", n1.address, ASN, password="s3cret pass", hold_time=3)],
            originate=["10.244.2.0/26"],
        ),
    )
    bad = BirdDaemon(
        n3,
        bird_config(
            n3.address,
            ASN,
            [BirdPeer("n1", n1.address, ASN, password="wrong one", hold_time=3)],
            originate=["10.244.3.0/26"],
        ),
    )
    good.wait_established("n1")
    _wait_established(speaker, [n2.address])
    route = good.wait_route("10.244.1.0/26", protocol="n1")
    assert route["next_hop"] == [n1.address]
    # The kernel signs the established session (RFC 2385): the socket holds the key.
    assert f"md5keys:{n2.address}/32" in n1.run("ss -tnie state established").stdout

    # A stranger (n4, configured nowhere) connects to port 179: closed at once, no OPEN.
    result = n4.run(["python3", "-c", STRANGER_PROBE], timeout=15)
    match = re.match(r"(read 0 bytes|reset) in ([\d.]+) s", result.stdout.strip())
    assert match, f"the stranger got: {result.stdout!r} {result.stderr!r}"
    assert float(match.group(2)) < 2.0
    wait_until(
        lambda: n4.address in speaker.logs(),
        timeout=5,
        describe="pybgp's log to name the stranger's address",
    )
    stranger_lines = [line for line in speaker.logs().splitlines() if n4.address in line]
    assert any("refused" in line for line in stranger_lines), stranger_lines

    # The wrong password: both sides keep trying, but the session never comes up; pybgp
    # says why (SYNs signed with another key are dropped by the kernel: connects time out).
    wait_until(
        lambda: _status(speaker)["peers"][1]["info"],
        timeout=10,
        describe="pybgp to report the failed connection to the wrong-key peer",
        predicate=lambda info: "TCP MD5 configured: check the password" in info,
    )
    deadline = time.monotonic() + 6
    seen: set[str] = set()
    while time.monotonic() < deadline:  # a bounded observation: it must never establish
        seen.add(_peer_states(speaker)[n3.address])
        seen.add(bad.protocols()["n1"])
        assert "Established" not in seen, seen
    assert _peer_states(speaker)[n2.address] == "Established"
    assert "10.244.3.0/26" not in {r["prefix"] for r in _routes(speaker)}


# -- 7. import policy --------------------------------------------------------------------------

IMPORT_FILTER = {
    "name": "from-exa",
    "rules": [
        {"communities": ["65000:200"], "action": "Reject"},
        {
            "cidr": "10.50.0.0/16",
            "match_operator": "In",
            "prefix_length": {"max": 24},
            "action": "Accept",
            "set": {"local_pref": 250, "add_communities": ["64512:77"]},
        },
        {"action": "Reject"},
    ],
}


def test_import_filter_keeps_exactly_the_matching_routes(exabgp: None, topology: Topology) -> None:
    n1, n2 = _lan(topology, 2)
    speaker = PybgpProcess(
        n1,
        {
            "speaker": _speaker(topology, n1),
            "peers": [
                {
                    "address": n2.address,
                    "asn": 65001,
                    "passive": True,
                    "import_filters": ["from-exa"],
                }
            ],
            "filters": [IMPORT_FILTER],
            "kernel": _kernel(),
        },
    )
    announced = [
        ExaRoute("10.50.1.0/24", communities=["65000:100"]),  # accepted, changed
        ExaRoute("10.50.2.0/24", communities=["65000:200"]),  # rejected by community
        ExaRoute("10.60.0.0/16"),  # outside 10.50.0.0/16: the final Reject
        ExaRoute("10.50.3.0/25", communities=["65000:100"]),  # longer than /24
        ExaRoute("10.50.4.0/24"),  # accepted, changed
    ]
    exa = ExaBgpPeer(
        n2,
        exabgp_config(
            neighbor=n1.address,
            local_address=n2.address,
            local_as=65001,
            peer_as=ASN,
            routes=announced,
        ),
    )
    _wait_established(speaker, [n2.address], timeout=30)
    peer = wait_until(
        lambda: _status(speaker)["peers"][0],
        timeout=15,
        describe="pybgp to have received all 5 of ExaBGP's routes",
        predicate=lambda peer: peer["received"] == 5,
    )
    assert peer["accepted"] == 2, peer
    routes = {route["prefix"]: route for route in _routes(speaker)}
    assert set(routes) == {"10.50.1.0/24", "10.50.4.0/24"}, routes
    first, second = routes["10.50.1.0/24"], routes["10.50.4.0/24"]
    assert first["communities"] == ["65000:100", "64512:77"]
    assert second["communities"] == ["64512:77"]
    for route in (first, second):
        assert route["local_pref"] == 250
        assert route["peer"] == n2.address
        assert route["next_hop"] == n2.address
        assert route["as_path"] == [65001]
        assert route["best"]
    # Only the accepted routes reached the kernel.
    _wait_gateways(n1, {"10.50.1.0/24": n2.address, "10.50.4.0/24": n2.address})
    assert exa.running

"""Proven with real routers: Calico-style clusters of pybgp and BIRD 2 nodes in namespaces.

Each test builds a small cluster on bridges inside network namespaces (tests/harness) and
checks what an operator would check: BGP sessions, every node's kernel routing table
(pybgp's routes carry protocol 186, which ``ip`` may print as ``bgp``), BIRD's own view of
the routes and, where the data path is real, pods pinging pods.

* ``test_full_mesh_of_pybgp_and_bird_nodes``: four pybgp nodes and one BIRD node in one AS
  exchange their /26 pod blocks; every pod reaches every other pod.
* ``test_route_reflectors_with_pybgp_and_bird_clients``: two pybgp reflectors (one cluster
  id) serve four pybgp and two BIRD clients; stopping one reflector loses no route.
* ``test_upstream_ebgp_to_a_bird_top_of_rack``: the cluster peers with a BIRD ToR in another
  AS, which learns the pod blocks and hands out the default route every node installs.
* ``test_crosssubnet_encapsulation_across_a_router[mesh|reflector]``: nodes in two subnets
  take the tunnel form of the route only for next hops across the router, also when the
  route came from a reflector on the other side. It runs no BIRD (BIRD has no CrossSubnet
  mode), and does not ask for the ``bird`` fixture, so it runs where BIRD is missing too.

Every node's status counters, Loc-RIB (``pybgp routes``) and kernel table are cross-checked,
so a route "in the kernel" is also the route BGP chose.

Timers are short (pybgp: connect_delay 0, connect_retry_time 1, error_wait_min 0.5, hold 9;
BIRD: connect delay/retry 1, error wait 1,2) so each cluster converges in a few seconds.
On failure, the harness dump (every node's addresses and routes, BIRD state and logs) is
followed by each pybgp speaker's ``status`` and ``routes`` JSON and its log.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import pytest

from pybgp.control import ControlError, request
from tests.harness import (
    AbortWait,
    BirdDaemon,
    BirdPeer,
    Node,
    PybgpProcess,
    Topology,
    bird_config,
    wait_until,
)

pytestmark = [pytest.mark.netns, pytest.mark.bird]

ASN = 64512
PROTO = 186
# ``ip -j route`` prints a protocol it knows by name: 186 is "bgp" in /etc/iproute2/rt_protos.
PROTO_NAMES = {str(PROTO), "bgp"}
CONVERGE = 30.0  # seconds: generous for a loaded CI machine, typically 2-5 s here

SPEAKER_TIMERS: dict[str, Any] = {
    "hold_time": 9,
    "connect_retry_time": 1,
    "connect_delay": 0,
    "error_wait_min": 0.5,
    "error_wait_max": 2,
}


def block(index: int) -> str:
    """The /26 pod block of node ``index``."""
    return f"10.244.{index}.0/26"


def pod_address(index: int) -> str:
    """A pod address inside node ``index``'s block."""
    return f"10.244.{index}.10"


# -- pybgp speakers --------------------------------------------------------------------------
@dataclass
class Speaker:
    """A ``pybgp run`` process in a node, with its control socket and failure dump."""

    node: Node
    address: str
    process: PybgpProcess
    socket: str
    prefixes: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.node.name

    def ask(self, command: str, **arguments: Any) -> Any:
        """One control command (the socket is a file path: no namespace needed)."""
        if not self.process.process.running:
            raise AbortWait(
                f"pybgp on {self.name} exited ({self.process.process.returncode}); log tail:\n"
                f"{self.process.logs()[-4000:]}"
            )
        return request(self.socket, command, timeout=5.0, **arguments)

    def status(self) -> dict[str, Any]:
        return dict(self.ask("status"))

    def routes(self) -> list[dict[str, Any]]:
        return list(self.ask("routes", family="ipv4")["routes"])

    def peer_states(self) -> dict[str, str]:
        return {peer["address"]: peer["state"] for peer in self.status()["peers"]}

    def debug_dump(self) -> str:
        parts = [f"===== pybgp {self.name} ({self.address}, pid {self.process.pid}) ====="]
        parts.append("--- config\n" + self.process.config_path.read_text())
        for command in ("status", "routes"):
            try:
                answer = request(self.socket, command, timeout=3.0)
                parts.append(f"--- {command}\n" + json.dumps(answer, indent=1))
            except (ControlError, OSError) as error:
                parts.append(f"--- {command}: {error}")
        parts.append("--- log\n" + self.process.logs()[-20000:])
        return "\n".join(parts)


def start_speaker(
    topology: Topology,
    node: Node,
    address: str,
    peers: Sequence[Mapping[str, Any]] = (),
    prefixes: Sequence[str] = (),
    *,
    dynamic_peers: Sequence[Mapping[str, Any]] = (),
    cluster_id: str | None = None,
    adapter: str = "netlink",
    encapsulation: str = "none",
    tunnel_device: str | None = None,
) -> Speaker:
    """Write a config for ``node`` and start ``pybgp run`` there."""
    socket = str(topology.rundir / f"{node.name}.sock")
    speaker: dict[str, Any] = {
        "asn": ASN,
        "router_id": address,
        "listen_address": "0.0.0.0",
        "control_socket": socket,
        **SPEAKER_TIMERS,
    }
    if cluster_id:
        speaker["cluster_id"] = cluster_id
    config: dict[str, Any] = {"speaker": speaker}
    if peers:
        config["peers"] = [{"local_address": address, **peer} for peer in peers]
    if dynamic_peers:
        config["dynamic_peers"] = list(dynamic_peers)
    if prefixes:
        config["originate"] = {"prefixes": list(prefixes), "blackhole": True}
    kernel: dict[str, Any] = {"adapter": adapter}
    if adapter != "none":
        kernel.update(protocol=PROTO, encapsulation=encapsulation)
        if tunnel_device:
            kernel["tunnel_device"] = tunnel_device
    config["kernel"] = kernel
    config["logging"] = {"level": "debug"}
    process = PybgpProcess(node, config)
    result = Speaker(node, address, process, socket, list(prefixes))
    topology.debug_hooks.append(result.debug_dump)
    return result


def mesh_peers(own: str, addresses: Iterable[str], asn: int = ASN) -> list[dict[str, Any]]:
    return [{"address": other, "asn": asn} for other in addresses if other != own]


def wait_sessions(speaker: Speaker, addresses: Iterable[str], timeout: float = CONVERGE) -> None:
    """Wait until ``speaker`` has an Established session with each of ``addresses``."""
    wanted = set(addresses)
    wait_until(
        speaker.peer_states,
        timeout=timeout,
        describe=f"{speaker.name}: sessions with {sorted(wanted)} Established",
        predicate=lambda states: all(states.get(a) == "Established" for a in wanted),
    )


def wait_counters(
    speaker: Speaker, expected: Mapping[str, tuple[int, int, int]], timeout: float = 10.0
) -> None:
    """Wait until ``status`` shows (received, accepted, advertised) == ``expected`` per peer.

    The counters are checked once the routes are in the kernels, so they must settle at
    exactly these values; the wait only covers an UPDATE still on its way.
    """

    def counters() -> dict[str, tuple[int, int, int]]:
        return {
            peer["address"]: (peer["received"], peer["accepted"], peer["advertised"])
            for peer in speaker.status()["peers"]
        }

    wait_until(
        counters,
        timeout=timeout,
        describe=f"{speaker.name}: peer counters (received, accepted, advertised) {expected}",
        predicate=lambda seen: seen == dict(expected),
    )


def bird_sessions(bird: BirdDaemon, names: Iterable[str], timeout: float = CONVERGE) -> None:
    for name in names:
        bird.wait_established(name, timeout=timeout)


# -- kernel routes ---------------------------------------------------------------------------
def kernel_routes(node: Node, protocols: set[str] | None = None) -> dict[str, dict[str, Any]]:
    """{dst: route} of node's IPv4 main table, only routes of ``protocols`` when given."""
    found = {}
    for route in node.routes():
        if protocols is None or str(route.get("protocol")) in protocols:
            found[str(route["dst"])] = route
    return found


def pybgp_routes(node: Node) -> dict[str, dict[str, Any]]:
    """Routes installed by pybgp (protocol 186, printed as "186" or "bgp")."""
    return kernel_routes(node, PROTO_NAMES)


def wait_kernel(
    node: Node,
    expected: Mapping[str, str],
    protocols: set[str],
    timeout: float = CONVERGE,
) -> dict[str, dict[str, Any]]:
    """Wait until node's kernel has each {prefix: gateway} of ``expected`` from ``protocols``."""

    def probe() -> dict[str, Any]:
        routes = kernel_routes(node, protocols)
        return {prefix: routes[prefix].get("gateway") for prefix in expected if prefix in routes}

    wait_until(
        probe,
        timeout=timeout,
        describe=f"{node.name}: kernel routes {dict(expected)} (protocol {sorted(protocols)})",
        predicate=lambda seen: seen == dict(expected),
    )
    return kernel_routes(node, protocols)


def assert_blackhole(node: Node, prefix: str) -> None:
    """pybgp installed the blackhole of its own originated block (originate.blackhole)."""
    route = pybgp_routes(node).get(prefix)
    assert route is not None, f"{node.name}: no blackhole route for its own block {prefix}"
    assert route.get("type") == "blackhole", f"{node.name}: {prefix} is {route}"


# -- pods ------------------------------------------------------------------------------------
def ping_all_pairs(pods: Mapping[str, tuple[Node, str]], timeout: float = 15.0) -> None:
    """Every pod pings every other pod (bounded: 1 echo, 2 s wait, retried until ``timeout``).

    The pairs run concurrently; the first echo of a pair may need ARP on both LAN hops, so a
    pair counts once any attempt within ``timeout`` was answered.
    """
    pairs = [(src, dst) for src in pods for dst in pods if src != dst]

    def one(pair: tuple[str, str]) -> tuple[str, str, bool]:
        src, dst = pair
        pod, _ = pods[src]
        target = pods[dst][1]
        try:
            wait_until(
                lambda: pod.ping(target, count=1, timeout=2.0),
                timeout=timeout,
                interval=0.2,
                describe=f"{src} ping {dst} ({target})",
            )
        except AssertionError:
            return src, dst, False
        return src, dst, True

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(one, pairs))
    failed = [f"{src}->{dst}" for src, dst, ok in results if not ok]
    assert not failed, f"pod pairs without a ping reply: {failed}"


def lan(topology: Topology, names: Sequence[str], subnet: str = "10.99.0") -> list[Node]:
    """Nodes ``names`` on one bridge, node i (from 1) at ``subnet.i/24``."""
    bridge = topology.add_bridge("lan")
    nodes = []
    for index, name in enumerate(names, 1):
        node = topology.add_node(name)
        topology.connect(node, bridge, f"{subnet}.{index}/24")
        nodes.append(node)
    return nodes


# -- 1. full mesh ------------------------------------------------------------------------------
def test_full_mesh_of_pybgp_and_bird_nodes(bird: None, topology: Topology) -> None:
    """Four pybgp nodes and one BIRD node, one AS, full iBGP mesh on one bridge.

    Every node originates its /26 block with a blackhole; every kernel ends up with a route
    to every other block via the owning node, and a pod behind each node pings a pod behind
    every other node (20 ordered pairs).
    """
    names = ["n1", "n2", "n3", "n4", "n5"]
    nodes = lan(topology, names)
    addresses = [node.address for node in nodes]
    pods = {
        f"pod{i}": (topology.add_pod(node, f"pod{i}", pod_address(i)), pod_address(i))
        for i, node in enumerate(nodes, 1)
    }
    speakers = [
        start_speaker(topology, node, node.address, mesh_peers(node.address, addresses), [block(i)])
        for i, node in enumerate(nodes[:4], 1)
    ]
    bird_node = nodes[4]
    bird5 = BirdDaemon(
        bird_node,
        bird_config(
            bird_node.address,
            ASN,
            [BirdPeer(f"n{i}", nodes[i - 1].address, ASN) for i in range(1, 5)],
            originate=[block(5)],
            kernel_export=True,
        ),
    )

    for speaker in speakers:
        wait_sessions(speaker, [a for a in addresses if a != speaker.address])
    bird_sessions(bird5, ["n1", "n2", "n3", "n4"])

    owners = {block(i): node.address for i, node in enumerate(nodes, 1)}
    for i, speaker in enumerate(speakers, 1):
        expected = {prefix: gw for prefix, gw in owners.items() if prefix != block(i)}
        routes = wait_kernel(speaker.node, expected, PROTO_NAMES)
        for prefix in expected:
            assert routes[prefix]["dev"] == "eth0", routes[prefix]
            assert "onlink" not in routes[prefix].get("flags", []), routes[prefix]
        assert_blackhole(speaker.node, block(i))
        status = speaker.status()
        assert status["asn"] == ASN and status["router_id"] == speaker.address
        assert status["kernel"]["failed"] == 0, status
        assert {p["state"] for p in status["peers"]} == {"Established"}
        # each mesh peer sent its own block and got ours (iBGP split horizon, RFC 4271 §9.2)
        wait_counters(speaker, {a: (1, 1, 1) for a in addresses if a != speaker.address})
        # the Loc-RIB agrees with the kernel: one best path per foreign block, from its owner
        best = {r["prefix"]: r for r in speaker.routes() if r["best"]}
        for prefix, owner in expected.items():
            assert best[prefix]["next_hop"] == owner and best[prefix]["peer"] == owner
            assert best[prefix]["installed"] is True
        assert best[block(i)]["peer"] is None  # locally originated

    # The BIRD node installed the pybgp blocks through its kernel protocol (proto bird).
    expected = {prefix: gw for prefix, gw in owners.items() if prefix != block(5)}
    wait_kernel(bird_node, expected, {"bird"})
    for i in range(1, 5):
        route = bird5.wait_route(block(i), protocol=f"n{i}")
        assert route["next_hop"] == [nodes[i - 1].address] and route["as_path"] == []
        assert route["local_pref"] == 100 and route["origin"] == "IGP"

    ping_all_pairs(pods)


# -- 2. route reflectors -----------------------------------------------------------------------
CLUSTER_ID = "10.99.0.100"


class KernelWatch:
    """Samples nodes' pybgp kernel routes in a thread; records every sample missing a prefix.

    Used around the stop of a reflector: "loses nothing" means no sample (taken every few
    milliseconds while the reflector goes away) lacks a block or shows another gateway.
    """

    def __init__(self, expected: Mapping[str, Mapping[str, str]], nodes: Mapping[str, Node]):
        self.expected = expected
        self.nodes = nodes
        self.samples = 0
        self.losses: list[str] = []
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="kernel-watch", daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            for name, node in self.nodes.items():
                try:
                    routes = pybgp_routes(node)
                except Exception as error:  # recorded, reported by the test
                    self.errors.append(f"{name}: {error!r}")
                    continue
                for prefix, gateway in self.expected[name].items():
                    seen = routes.get(prefix, {}).get("gateway")
                    if seen != gateway:
                        self.losses.append(f"{name}: {prefix} gateway {seen} (want {gateway})")
            self.samples += 1

    def __enter__(self) -> KernelWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join(10)


def test_route_reflectors_with_pybgp_and_bird_clients(bird: None, topology: Topology) -> None:
    """Two pybgp reflectors (one cluster id) serve six clients: four pybgp, two BIRD.

    No client peers with another client. Every client learns every other block with the
    originating node as next hop; BIRD shows ORIGINATOR_ID = the originator's router id and
    CLUSTER_LIST = [cluster id]. rr1 lists its clients as ``[[peers]]``, rr2 accepts them
    through ``[[dynamic_peers]]``. Then rr1 is stopped (SIGTERM): every client keeps every
    route, through rr2, without a gap in the pybgp clients' kernel tables.
    """
    topology.add_bridge("lan")
    clients: list[Node] = []
    for i in range(1, 7):
        node = topology.add_node(f"c{i}")
        topology.connect(node, "lan", f"10.99.0.{i}/24")
        clients.append(node)
    rr_nodes = []
    for i in (1, 2):
        node = topology.add_node(f"rr{i}")
        topology.connect(node, "lan", f"10.99.0.{100 + i}/24")
        rr_nodes.append(node)
    rr_addresses = [node.address for node in rr_nodes]

    rr1 = start_speaker(
        topology,
        rr_nodes[0],
        rr_addresses[0],
        [{"address": rr_addresses[1], "asn": ASN}]
        + [
            {"address": client.address, "asn": ASN, "route_reflector_client": True}
            for client in clients
        ],
        cluster_id=CLUSTER_ID,
        adapter="none",
    )
    rr2 = start_speaker(
        topology,
        rr_nodes[1],
        rr_addresses[1],
        [{"address": rr_addresses[0], "asn": ASN}],
        dynamic_peers=[
            {"range": "10.99.0.0/26", "asn": ASN, "route_reflector_client": True},
        ],
        cluster_id=CLUSTER_ID,
        adapter="none",
    )
    speakers = {
        f"c{i}": start_speaker(
            topology,
            clients[i - 1],
            clients[i - 1].address,
            mesh_peers("", rr_addresses),
            [block(i)],
        )
        for i in range(1, 5)
    }
    birds = {
        f"c{i}": BirdDaemon(
            clients[i - 1],
            bird_config(
                clients[i - 1].address,
                ASN,
                [BirdPeer(f"rr{j}", rr_addresses[j - 1], ASN) for j in (1, 2)],
                originate=[block(i)],
                kernel_export=True,
            ),
        )
        for i in (5, 6)
    }

    client_addresses = [client.address for client in clients]
    wait_sessions(rr1, [*client_addresses, rr_addresses[1]])
    wait_sessions(rr2, [*client_addresses, rr_addresses[0]])
    for speaker in speakers.values():
        wait_sessions(speaker, rr_addresses)
        assert set(speaker.peer_states()) == set(rr_addresses)  # no client-to-client session
    for daemon in birds.values():
        bird_sessions(daemon, ["rr1", "rr2"])
    rr2_peers = {p["address"]: p for p in rr2.status()["peers"]}
    assert all(rr2_peers[a]["type"] == "rr-client" for a in client_addresses), rr2_peers
    assert rr2_peers[rr_addresses[0]]["type"] == "mesh"

    owners = {block(i): client.address for i, client in enumerate(clients, 1)}
    expected = {
        f"c{i}": {prefix: gw for prefix, gw in owners.items() if prefix != block(i)}
        for i in range(1, 7)
    }

    def check_bird_views(protocols: set[str]) -> None:
        """Each BIRD client has each foreign block from a reflector, with RR attributes."""
        for name, daemon in birds.items():
            want = set(expected[name])

            def probe(daemon: BirdDaemon = daemon, want: set[str] = want) -> dict[str, list[Any]]:
                found: dict[str, list[Any]] = {}
                for route in daemon.routes():
                    if route["prefix"] in want and route["protocol"] in protocols:
                        found.setdefault(route["prefix"], []).append(route)
                return found

            def complete(found: dict[str, list[Any]], want: set[str] = want) -> bool:
                return set(found) == want and all(
                    len(routes) == len(protocols) for routes in found.values()
                )

            views = wait_until(
                probe,
                timeout=CONVERGE,
                describe=f"{name}: every block from {sorted(protocols)}",
                predicate=complete,
            )
            for prefix, owner in expected[name].items():
                for route in views[prefix]:
                    assert route["next_hop"] == [owner], (name, route)
                    assert route["via"] == [owner], (name, route)
                    assert route["originator_id"] == owner, (name, route)
                    assert route["cluster_list"] == [CLUSTER_ID], (name, route)
                    assert route["as_path"] == [] and route["local_pref"] == 100, (name, route)
            # ... and BIRD's kernel protocol installed them via the owner
            wait_kernel(daemon.node, expected[name], {"bird"})

    for name, speaker in speakers.items():
        wait_kernel(speaker.node, expected[name], PROTO_NAMES)
        # two paths per foreign block (one per reflector), both with the owner as next hop
        paths: dict[str, list[dict[str, Any]]] = {}
        for route in speaker.routes():
            paths.setdefault(route["prefix"], []).append(route)
        for prefix, owner in expected[name].items():
            assert sorted(p["peer"] for p in paths[prefix]) == rr_addresses, paths[prefix]
            assert {p["next_hop"] for p in paths[prefix]} == {owner}, paths[prefix]
        wait_counters(speaker, {a: (5, 5, 1) for a in rr_addresses})
    check_bird_views({"rr1", "rr2"})
    for speaker in (rr1, rr2):
        # the reflectors hold every block (from its originator) and install nothing
        status = speaker.status()
        assert status["rib"]["ipv4"] == 6, status
        assert status["kernel"]["installed"] == 0, status
        assert pybgp_routes(speaker.node) == {}

    # Stop rr1. While it goes away, and after, nothing is missing anywhere.
    with KernelWatch(
        {name: expected[name] for name in speakers},
        {name: speaker.node for name, speaker in speakers.items()},
    ) as watch:
        assert rr1.process.stop(timeout=10) == 0, rr1.process.logs()[-4000:]
        # the stop is complete once every client has dropped rr1's paths
        for name, speaker in speakers.items():

            def peers_with_paths(speaker: Speaker = speaker) -> set[str]:
                return {r["peer"] for r in speaker.routes()} - {None}

            wait_until(
                peers_with_paths,
                timeout=CONVERGE,
                describe=f"{name}: only rr2's paths left",
                predicate=lambda peers: peers == {rr_addresses[1]},
            )
            assert speaker.peer_states()[rr_addresses[0]] != "Established"
        for name, daemon in birds.items():

            def rr1_state(daemon: BirdDaemon = daemon) -> str:
                return daemon.protocols()["rr1"]

            wait_until(
                rr1_state,
                timeout=CONVERGE,
                describe=f"{name}: session with rr1 down",
                predicate=lambda state: state != "Established",
            )
        check_bird_views({"rr2"})
        for name, speaker in speakers.items():
            assert pybgp_routes(speaker.node).keys() >= expected[name].keys()
    assert not watch.errors, watch.errors
    assert watch.samples > 0
    assert not watch.losses, f"routes lost while rr1 stopped: {watch.losses[:20]}"
    for name, daemon in birds.items():
        assert kernel_routes(daemon.node, {"bird"}).keys() >= expected[name].keys(), name


# -- 3. upstream eBGP --------------------------------------------------------------------------
TOR_ASN = 65000
TOR_ADDRESS = "10.99.0.254"
OUTSIDE = "10.99.254.1"  # an address "beyond" the ToR, reachable from pods only by default


def test_upstream_ebgp_to_a_bird_top_of_rack(bird: None, topology: Topology) -> None:
    """Three pybgp nodes (iBGP mesh, AS 64512) peer with a BIRD ToR in AS 65000.

    The ToR learns every pod block with AS_PATH 64512 and the owning node as next hop and
    installs it; it sends 0.0.0.0/0, which every node installs (proto 186, via the ToR). A pod
    then reaches an address that only the default route leads to, and the ToR answers
    through the pod block route it learned.
    """
    nodes = lan(topology, ["n1", "n2", "n3"])
    tor = topology.add_node("tor")
    topology.connect(tor, "lan", f"{TOR_ADDRESS}/24")
    tor.ip("addr", "add", f"{OUTSIDE}/32", "dev", "lo")
    addresses = [node.address for node in nodes]
    pods = [topology.add_pod(node, f"pod{i}", pod_address(i)) for i, node in enumerate(nodes, 1)]

    speakers = [
        start_speaker(
            topology,
            node,
            node.address,
            [*mesh_peers(node.address, addresses), {"address": TOR_ADDRESS, "asn": TOR_ASN}],
            [block(i)],
        )
        for i, node in enumerate(nodes, 1)
    ]
    tor_config = bird_config(
        TOR_ADDRESS,
        TOR_ASN,
        [
            BirdPeer(f"n{i}", node.address, ASN, export="where net = 0.0.0.0/0")
            for i, node in enumerate(nodes, 1)
        ],
        originate=["0.0.0.0/0"],
        kernel_export=True,
    )
    # The ToR's kernel gets its BGP routes only (its static default stays inside BIRD).
    kernel_all = "export all; }; scan time 5;"
    assert kernel_all in tor_config
    tor_bird = BirdDaemon(
        tor, tor_config.replace(kernel_all, "export where source = RTS_BGP; }; scan time 5;")
    )

    for speaker in speakers:
        wait_sessions(speaker, [*[a for a in addresses if a != speaker.address], TOR_ADDRESS])
        peers = {p["address"]: p for p in speaker.status()["peers"]}
        assert peers[TOR_ADDRESS]["asn"] == TOR_ASN and peers[TOR_ADDRESS]["type"] == "global"
    bird_sessions(tor_bird, ["n1", "n2", "n3"])

    # The ToR: every block with AS_PATH 64512, the best path from the owning node.
    owners = {block(i): node.address for i, node in enumerate(nodes, 1)}
    for i, (prefix, owner) in enumerate(owners.items(), 1):
        route = tor_bird.wait_route(prefix, protocol=f"n{i}")
        assert route["as_path"] == [ASN], route
        assert route["next_hop"] == [owner] and route["via"] == [owner], route
        assert route["summary"] == f"AS{ASN}i", route
    for route in tor_bird.routes():
        if route["prefix"] in owners:
            # Every node also passes the blocks it learned by iBGP on to the ToR, with its
            # own address as NEXT_HOP: pybgp does not use the "third-party" next hop of
            # RFC 4271 §5.1.3 (a MAY). BIRD does it on single-hop eBGP sessions but not with
            # `multihop` (Calico's bird template), so a Calico node sends the same as pybgp
            # and the ToR may prefer, e.g., n1's copy of n3's block. Whichever node sent
            # it: one AS hop and a next hop that is a cluster node.
            assert route["as_path"] == [ASN], route
            assert route["next_hop"] == route["via"], route
            assert route["next_hop"][0] in addresses, route
    # ... and the ToR's kernel routes every block to a cluster node (proto bird).
    wait_until(
        lambda: kernel_routes(tor, {"bird"}),
        timeout=CONVERGE,
        describe="tor: kernel routes to every block via a cluster node",
        predicate=lambda routes: all(
            routes.get(prefix, {}).get("gateway") in addresses for prefix in owners
        ),
    )

    # Every node: the default route via the ToR, from pybgp, next to the other blocks.
    for i, speaker in enumerate(speakers, 1):
        expected = {prefix: gw for prefix, gw in owners.items() if prefix != block(i)}
        routes = wait_kernel(speaker.node, {**expected, "default": TOR_ADDRESS}, PROTO_NAMES)
        assert routes["default"]["dev"] == "eth0", routes["default"]
        defaults = [r for r in speaker.routes() if r["prefix"] == "0.0.0.0/0"]
        best = [r for r in defaults if r["best"]]
        assert len(best) == 1 and best[0]["peer"] == TOR_ADDRESS, best
        assert best[0]["as_path"] == [TOR_ASN] and best[0]["next_hop"] == TOR_ADDRESS, best
        # The mesh peers pass it on over iBGP with the NEXT_HOP unchanged (RFC 4271 §5.1.3)
        # and it loses to the eBGP path (RFC 4271 §9.1.2.2 d).
        others = [r for r in defaults if not r["best"]]
        assert sorted(r["peer"] for r in others) == [
            a for a in addresses if a != speaker.address
        ], defaults
        assert all(r["next_hop"] == TOR_ADDRESS for r in others), defaults
        # to the ToR: every block; from it: the default. To a mesh peer: our block and the
        # default (eBGP-learned routes go to iBGP peers); from it: its block and the default.
        wait_counters(
            speaker,
            {
                TOR_ADDRESS: (1, 1, 3),
                **{a: (2, 2, 2) for a in addresses if a != speaker.address},
            },
        )
        # pybgp never sent the ToR's default back to it, nor any block it did not learn
        exported = {r["prefix"] for r in tor_bird.routes() if r["protocol"] == f"n{i}"}
        assert exported <= set(owners), exported

    # The data path: pod -> node -> default route -> ToR; ToR -> block route -> node -> pod.
    for i, pod in enumerate(pods, 1):

        def answered(pod: Node = pod) -> bool:
            return pod.ping(OUTSIDE, count=1, timeout=2.0)

        wait_until(
            answered,
            timeout=15,
            describe=f"pod{i} ping {OUTSIDE} (via the default route)",
        )


# -- 4. CrossSubnet ----------------------------------------------------------------------------
TUNNEL = "tunl-sub"


def add_tunnel_stand_in(node: Node) -> None:
    """A veth pair named ``tunl-sub`` (+ ``tunl-sub-p``), both ends up, in ``node``.

    It stands in for Calico's ``tunl0``: this kernel cannot create ipip (nor gre, nor dummy)
    links, and the kernel accepts ``via NH dev <veth> onlink`` just as it would for tunl0, so
    the route *shape* is real. Nothing is encapsulated: packets sent into it go nowhere, so no
    traffic is sent across subnets in this test.
    """
    node.ip("link", "add", TUNNEL, "type", "veth", "peer", "name", f"{TUNNEL}-p")
    node.ip("link", "set", f"{TUNNEL}-p", "up")
    node.ip("link", "set", TUNNEL, "up")
    node.interfaces += [TUNNEL, f"{TUNNEL}-p"]


@pytest.mark.parametrize("sessions", ["mesh", "reflector"])
def test_crosssubnet_encapsulation_across_a_router(topology: Topology, sessions: str) -> None:
    """Four pybgp nodes in two subnets joined by a router namespace.

    With ``encapsulation = "crosssubnet"`` a route to a node of the same subnet is plain
    (``via NODE dev eth0``, no onlink) and a route to a node across the router takes the
    tunnel form (``via NODE dev tunl-sub onlink``). Pods of the same subnet ping each other
    over the plain routes. (No BIRD here: it has no CrossSubnet mode to compare with.)

    ``mesh``: a full iBGP mesh. ``reflector``: no mesh; every node peers only with a pybgp
    route reflector in subnet 2, so the subnet-1 nodes learn each other's blocks from a peer
    across the router: the form must follow the BGP next hop (the originating node, kept by
    the reflector, RFC 4456 §10), not the peer the route came from.
    """
    router = topology.add_node("router")  # forwarding is on by default
    subnets = {1: "10.99.1", 2: "10.99.2"}
    nodes: dict[str, Node] = {}
    for number, subnet in subnets.items():
        bridge = topology.add_bridge(f"lan{number}")
        topology.connect(router, bridge, f"{subnet}.254/24")
        for host in (1, 2):
            name = f"s{number}n{host}"
            node = topology.add_node(name)
            topology.connect(node, bridge, f"{subnet}.{host}/24")
            other = subnets[3 - number]
            # The other subnet is reachable through the router (BGP sessions and next hops).
            topology.add_route(node, f"{other}.0/24", via=f"{subnet}.254")
            add_tunnel_stand_in(node)
            nodes[name] = node
    names = list(nodes)  # s1n1, s1n2, s2n1, s2n2: blocks 1..4
    addresses = [node.address for node in nodes.values()]
    assert nodes["s1n1"].ping("10.99.2.2", timeout=2)  # the router forwards

    reflector = None
    if sessions == "reflector":
        rr_node = topology.add_node("rr")
        topology.connect(rr_node, "lan2", "10.99.2.100/24")
        topology.add_route(rr_node, "10.99.1.0/24", via="10.99.2.254")
        reflector = start_speaker(
            topology,
            rr_node,
            rr_node.address,
            [{"address": a, "asn": ASN, "route_reflector_client": True} for a in addresses],
            cluster_id=rr_node.address,
            adapter="none",
        )

    def peers_of(address: str) -> list[str]:
        if reflector is not None:
            return [reflector.address]
        return [a for a in addresses if a != address]

    speakers = {
        name: start_speaker(
            topology,
            node,
            node.address,
            mesh_peers("", peers_of(node.address)),
            [block(index)],
            encapsulation="crosssubnet",
            tunnel_device=TUNNEL,
        )
        for index, (name, node) in enumerate(nodes.items(), 1)
    }
    pods = {
        name: topology.add_pod(node, f"pod{index}", pod_address(index))
        for index, (name, node) in enumerate(nodes.items(), 1)
    }
    for speaker in speakers.values():
        wait_sessions(speaker, peers_of(speaker.address))
        assert set(speaker.peer_states()) == set(peers_of(speaker.address))
    if reflector is not None:
        wait_sessions(reflector, addresses)

    owners = {block(index): (name, nodes[name].address) for index, name in enumerate(names, 1)}
    for index, (name, speaker) in enumerate(speakers.items(), 1):
        same_subnet = name[:2]
        expected = {p: owner[1] for p, owner in owners.items() if p != block(index)}
        routes = wait_kernel(speaker.node, expected, PROTO_NAMES)
        for prefix, (owner, gateway) in owners.items():
            if prefix == block(index):
                assert_blackhole(speaker.node, prefix)
                continue
            route = routes[prefix]
            flags = route.get("flags", [])
            if owner.startswith(same_subnet):
                assert route["dev"] == "eth0" and "onlink" not in flags, (name, route)
            else:
                assert route["dev"] == TUNNEL and "onlink" in flags, (name, route)
            assert route["gateway"] == gateway, (name, route)
        status = speaker.status()
        assert status["kernel"]["failed"] == 0, status
        assert status["kernel"]["installed"] == 4, status  # 3 blocks + own blackhole
        learned = {r["prefix"]: r for r in speaker.routes() if r["best"] and r["peer"]}
        assert {r["peer"] for r in learned.values()} == set(peers_of(speaker.address))
        assert {p: r["next_hop"] for p, r in learned.items()} == expected
    # Exactly what `ip route` shows, for the record (and the failure message):
    shown = speakers["s1n1"].node.ip("-4", "route", "show", "proto", str(PROTO))
    assert f"{block(2)} via 10.99.1.2 dev eth0" in shown, shown
    assert f"{block(3)} via 10.99.2.1 dev {TUNNEL} onlink" in shown, shown

    # Same-subnet pods reach each other over the plain routes.
    ping_all_pairs({"pod1": (pods["s1n1"], pod_address(1)), "pod2": (pods["s1n2"], pod_address(2))})
    ping_all_pairs({"pod3": (pods["s2n1"], pod_address(3)), "pod4": (pods["s2n2"], pod_address(4))})

"""BFD interop in namespaces: pybgp with BIRD 2 (``protocol bfd``, BGP ``bfd on``) and FRR
(zebra + bfdd + bgpd, ``neighbor X bfd``), real kernels, a link cut on the bridge.

Bridge ``lan``: n1 = pybgp 10.99.0.1 (AS 64512), n2 = BIRD 10.99.0.2 (AS 64513),
n3 = FRR 10.99.0.3 (AS 64514). n2 and n3 both hold the anycast address 10.200.0.1 and
announce 10.200.0.0/24; pybgp announces 10.244.1.0/26. A "dead node" is one whose bridge
port goes down in the switch namespace: its own interface keeps its carrier, so only BFD
can tell (as when a machine hangs or a cable is cut beyond a switch).

Measured and printed (``pytest -s``): from the cut to the route leaving (or moving in) the
kernel of every peer. BFD timers are the defaults, 300 ms x 3 (0.9 s detection time).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from datetime import datetime

import pytest

from tests.harness import BirdDaemon, BirdPeer, Node, Topology, bird_config, wait_until
from tests.harness.frr import FrrNeighbor, FrrRouter, frr_available
from tests.netns.bird_pybgp import Speaker, lan, peer

pytestmark = [pytest.mark.netns, pytest.mark.bird, pytest.mark.slow]

ANYCAST = "10.200.0.1"
SERVICE = "10.200.0.0/24"
BLOCK = "10.244.1.0/26"
DETECTION = 0.9  # s: 3 x 300 ms
SLACK = 2.0  # s: a loaded CI machine (2 cores, many tests)

BIRD_BFD = """
protocol bfd {
  interface "*" { min rx interval 300 ms; min tx interval 300 ms; multiplier 3; };
}
"""


@pytest.fixture
def frr() -> None:
    reason = frr_available()
    if reason is not None:
        pytest.skip(reason)


def port_of(topology: Topology, node: Node) -> str:
    """The switch-side veth of ``node`` on the bridge."""
    links = json.loads(topology.switch.ip("-j", "link", "show", "master", "lan"))
    names = [link["ifname"] for link in links if link["ifname"].startswith(f"{node.name}-")]
    assert len(names) == 1, names
    return str(names[0])


def next_hops(node: Node, prefix: str) -> set[str]:
    """The gateways of ``prefix`` in ``node``'s main table (empty: no route)."""
    hops: set[str] = set()
    for route in node.routes():
        if route["dst"] == prefix:
            if "gateway" in route:
                hops.add(route["gateway"])
            hops.update(hop["gateway"] for hop in route.get("nexthops", ()))
    return hops


def bird_bfd_state(bird: BirdDaemon, address: str) -> str:
    for line in bird.birdc("show bfd sessions").splitlines():
        fields = line.split()
        if fields and fields[0] == address:
            return fields[2]
    return ""


def logged_at(speaker: Speaker, text: str) -> float:
    """Wall-clock time of the last log line of ``speaker`` holding ``text``."""
    stamps = [line.split()[0] for line in speaker.logs().splitlines() if text in line]
    assert stamps, f"{text!r} not in the log of pybgp in {speaker.node.name}"
    return datetime.strptime(stamps[-1], "%Y-%m-%dT%H:%M:%S.%f%z").timestamp()


def timed(condition: object, what: str, start: float, timeout: float = 10.0) -> float:
    """Wait (polling every 10 ms) for ``condition`` and return seconds since ``start``."""
    wait_until(condition, timeout=timeout, interval=0.01, describe=what)  # type: ignore[arg-type]
    return time.monotonic() - start


@pytest.fixture
def cluster(topology: Topology, bird: None, frr: None) -> Iterator[tuple[Node, ...]]:
    n1, n2, n3 = lan(topology, 3)
    for node in (n2, n3):
        node.ip("addr", "add", f"{ANYCAST}/32", "dev", "lo")
    yield n1, n2, n3


def test_bfd_with_bird_and_frr(topology: Topology, cluster: tuple[Node, ...]) -> None:
    n1, n2, n3 = cluster
    bird = BirdDaemon(
        n2,
        bird_config(
            "10.99.0.2",
            64513,
            [BirdPeer("pybgp", "10.99.0.1", 64512, local_address="10.99.0.2", extra="bfd on;")],
            originate=[SERVICE],
            kernel_export=True,
            extra=BIRD_BFD,
        ),
    )
    frr = FrrRouter(n3, "10.99.0.3", 64514, [FrrNeighbor("10.99.0.1", 64512)], [SERVICE])
    try:
        _run(topology, n1, n2, n3, bird, frr)
    finally:
        frr.stop()
        frr.cleanup()


def _run(
    topology: Topology, n1: Node, n2: Node, n3: Node, bird: BirdDaemon, frr: FrrRouter
) -> None:
    speaker = Speaker(
        n1,
        "10.99.0.1",
        64512,
        [
            peer("10.99.0.2", 64513, local_address="10.99.0.1", bfd=True),
            peer("10.99.0.3", 64514, local_address="10.99.0.1", bfd=True),
        ],
        originate=[BLOCK],
        sections={"kernel": {"adapter": "netlink"}},
    )
    routers = {"10.99.0.2": n2, "10.99.0.3": n3}

    # Sessions come up: BGP and BFD, seen from both ends.
    for address in routers:
        wait_until(
            lambda address=address: speaker.peer(address),
            timeout=20,
            describe=f"BGP and BFD Up with {address}",
            predicate=lambda e: e["state"] == "Established" and e["bfd"]["state"] == "Up",
        )
    wait_until(lambda: bird_bfd_state(bird, "10.99.0.1"), timeout=10,
               predicate=lambda state: state == "Up", describe="BIRD's BFD session Up")
    wait_until(lambda: frr.bfd_peers().get("10.99.0.1", {}).get("status"), timeout=10,
               predicate=lambda state: state == "up", describe="FRR's BFD session up")
    frr_view = frr.bfd_peers()["10.99.0.1"]
    assert frr_view["remote-id"] == speaker.peer("10.99.0.3")["bfd"]["local_discriminator"]
    # The Poll Sequence brought both sides to 300 ms.
    wait_until(lambda: speaker.peer("10.99.0.2")["bfd"]["tx_interval_ms"], timeout=10,
               predicate=lambda ms: ms == 300, describe="300 ms towards BIRD")
    for node in (n2, n3):
        wait_until(lambda node=node: next_hops(node, BLOCK), timeout=10,
                   predicate=lambda hops: hops == {"10.99.0.1"},
                   describe=f"{BLOCK} in {node.name}'s kernel")
    first = wait_until(lambda: next_hops(n1, SERVICE), timeout=10,
                       predicate=lambda hops: len(hops) == 1, describe=f"{SERVICE} in n1")
    (dead,) = first
    (alive,) = set(routers) - first
    assert n1.ping(ANYCAST)

    # The router pybgp routes through dies: BFD tears BGP down, the route moves.
    port = port_of(topology, routers[dead])
    start = time.monotonic()
    topology.switch.ip("link", "set", port, "down")
    moved = timed(lambda: next_hops(n1, SERVICE) == {alive}, f"{SERVICE} via {alive}", start)
    after_detection = time.time() - logged_at(speaker, f"BFD {dead}: Up -> Down")
    entry = speaker.peer(dead)
    assert entry["state"] != "Established"
    assert "BFD down" in entry["info"]
    assert entry["bfd"]["state"] == "Down" and entry["bfd"]["down_because_bfd"]
    assert wait_until(lambda: n1.ping(ANYCAST), timeout=5, describe="ping via the other router")
    print(f"\nBFD: {dead} cut -> pybgp's kernel route via {alive} after {moved:.3f} s "
          f"({after_detection * 1000:.0f} ms after BFD declared it down)")
    assert moved < DETECTION + SLACK

    # The other router dies too: the route leaves pybgp's kernel, pings fail.
    other_port = port_of(topology, routers[alive])
    start = time.monotonic()
    topology.switch.ip("link", "set", other_port, "down")
    removed = timed(lambda: not next_hops(n1, SERVICE), f"{SERVICE} gone from n1", start)
    after_detection = time.time() - logged_at(speaker, f"BFD {alive}: Up -> Down")
    assert "BFD down" in speaker.peer(alive)["info"]
    assert not n1.ping(ANYCAST)
    print(f"BFD: {alive} cut as well -> {SERVICE} left pybgp's kernel after {removed:.3f} s "
          f"({after_detection * 1000:.0f} ms after BFD declared it down)")
    assert removed < DETECTION + SLACK

    # Both come back: BFD and BGP are Up again.
    topology.switch.ip("link", "set", port, "up")
    topology.switch.ip("link", "set", other_port, "up")
    for address in routers:
        wait_until(lambda address=address: speaker.peer(address), timeout=30,
                   describe=f"{address} back", predicate=lambda e: (
                       e["state"] == "Established" and e["bfd"]["state"] == "Up"))
    assert wait_until(lambda: n1.ping(ANYCAST), timeout=10, describe="ping again")
    wait_until(lambda: bird_bfd_state(bird, "10.99.0.1"), timeout=10,
               predicate=lambda state: state == "Up", describe="BIRD's BFD Up again")
    wait_until(lambda: frr.bfd_peers().get("10.99.0.1", {}).get("status"), timeout=10,
               predicate=lambda state: state == "up", describe="FRR's BFD up again")
    for node in (n2, n3):
        wait_until(lambda node=node: next_hops(node, BLOCK), timeout=10,
                   predicate=lambda hops: hops == {"10.99.0.1"},
                   describe=f"{BLOCK} back in {node.name}'s kernel")

    # The pybgp node dies: its block leaves the kernels of BIRD's and FRR's nodes.
    port = port_of(topology, n1)
    start = time.monotonic()
    topology.switch.ip("link", "set", port, "down")
    gone: dict[str, float] = {}
    for _ in range(2000):
        for node in (n2, n3):
            if node.name not in gone and not next_hops(node, BLOCK):
                gone[node.name] = time.monotonic() - start
        if len(gone) == 2 or time.monotonic() - start > 10:
            break
    assert set(gone) == {"n2", "n3"}, f"{BLOCK} still in {set(('n2', 'n3')) - set(gone)}"
    print(f"BFD: pybgp node cut -> {BLOCK} left BIRD's kernel after {gone['n2']:.3f} s, "
          f"FRR's after {gone['n3']:.3f} s")
    assert max(gone.values()) < DETECTION + SLACK
    assert bird_bfd_state(bird, "10.99.0.1") == "Down"
    assert frr.bfd_peers()["10.99.0.1"]["status"] == "down"
    assert re.search(r"BFD", frr.vtysh("show bgp neighbors 10.99.0.1"))


def test_bfd_over_ipv6_with_bird(topology: Topology, bird: None) -> None:
    """An IPv6 session (fd00:99::/64): BFD with Hop Limit 255 both ways, then a cut."""
    n1, n2 = lan(topology, 2)
    bird6 = BirdDaemon(
        n2,
        bird_config(
            "10.99.0.2",
            64513,
            [
                BirdPeer(
                    "pybgp", "fd00:99::1", 64512, local_address="fd00:99::2",
                    ipv4=False, ipv6=True, extra="bfd on;",
                )
            ],
            originate=["fd00:200::/64"],
            kernel_export=True,
            extra=BIRD_BFD,
        ),
    )
    speaker = Speaker(
        n1,
        "10.99.0.1",
        64512,
        [peer("fd00:99::2", 64513, local_address="fd00:99::1", bfd=True)],
        originate=["fd00:244::/64"],
        sections={"kernel": {"adapter": "netlink"}, "bfd": {"min_tx_ms": 100, "min_rx_ms": 100}},
    )
    wait_until(lambda: speaker.peer("fd00:99::2"), timeout=20, describe="BGP and BFD Up",
               predicate=lambda e: e["state"] == "Established" and e["bfd"]["state"] == "Up")
    wait_until(lambda: bird_bfd_state(bird6, "fd00:99::1"), timeout=10,
               predicate=lambda state: state == "Up", describe="BIRD's BFD Up")
    wait_until(lambda: n1.routes(family=6), timeout=10, describe="fd00:200::/64 in n1",
               predicate=lambda routes: any(r["dst"] == "fd00:200::/64" for r in routes))
    # 100 ms here, BIRD asks for 300 ms: each side sends at the slower of the two.
    bfd = wait_until(lambda: speaker.peer("fd00:99::2")["bfd"], timeout=10,
                     predicate=lambda b: b["tx_interval_ms"] == 300,
                     describe="negotiated intervals")
    assert bfd["detection_time_ms"] == 900  # BIRD's 3 x max(our 100 ms, its 300 ms)
    start = time.monotonic()
    topology.switch.ip("link", "set", port_of(topology, n2), "down")
    removed = timed(
        lambda: not any(r["dst"] == "fd00:200::/64" for r in n1.routes(family=6)),
        "fd00:200::/64 gone from n1", start,
    )
    assert "BFD down" in speaker.peer("fd00:99::2")["info"]
    print(f"\nBFD over IPv6: BIRD cut -> its route left pybgp's kernel after {removed:.3f} s")
    assert removed < DETECTION + SLACK


def test_dead_node_in_a_pybgp_mesh(topology: Topology) -> None:
    """Three pybgp nodes in a full iBGP mesh with BFD (Calico's shape): one node's port goes
    dark, and its block leaves both other nodes' kernels within about a second."""
    nodes = lan(topology, 3)
    addresses = [f"10.99.0.{i}" for i in (1, 2, 3)]
    blocks = [f"10.244.{i}.0/26" for i in (1, 2, 3)]
    speakers = [
        Speaker(
            node,
            address,
            64512,
            [peer(other, 64512, local_address=address, bfd=True)
             for other in addresses if other != address],
            originate=[block],
            sections={"kernel": {"adapter": "netlink"}},
        )
        for node, address, block in zip(nodes, addresses, blocks, strict=True)
    ]
    for speaker, address in zip(speakers, addresses, strict=True):
        for other in addresses:
            if other != address:
                wait_until(lambda s=speaker, o=other: s.peer(o), timeout=20,
                           describe=f"{address} -> {other} Established, BFD Up",
                           predicate=lambda e: e["state"] == "Established"
                           and e["bfd"]["state"] == "Up")
    for node in nodes[:2]:
        wait_until(lambda node=node: next_hops(node, blocks[2]), timeout=10,
                   predicate=lambda hops: hops == {addresses[2]},
                   describe=f"{blocks[2]} in {node.name}")
    start = time.monotonic()
    topology.switch.ip("link", "set", port_of(topology, nodes[2]), "down")
    gone: dict[str, float] = {}
    for _ in range(2000):
        for node in nodes[:2]:
            if node.name not in gone and not next_hops(node, blocks[2]):
                gone[node.name] = time.monotonic() - start
        if len(gone) == 2 or time.monotonic() - start > 10:
            break
    assert set(gone) == {"n1", "n2"}, gone
    print(f"\nBFD mesh: n3 cut -> {blocks[2]} left n1's kernel after {gone['n1']:.3f} s, "
          f"n2's after {gone['n2']:.3f} s")
    assert max(gone.values()) < DETECTION + SLACK
    for speaker in speakers[:2]:
        entry = speaker.peer(addresses[2])
        assert entry["state"] != "Established" and "BFD down" in entry["info"]
    # The two live nodes still route to each other.
    assert next_hops(nodes[0], blocks[1]) == {addresses[1]}

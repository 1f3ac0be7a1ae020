"""ADD-PATH (RFC 7911) between real speakers in namespaces: pybgp and BIRD 2 (`add paths`).

* BIRD as a client of a pybgp reflector (``add paths on``): BIRD gets both nodes' paths for a
  block two pybgp nodes announce, each with its originator; one node stops: that path alone is
  withdrawn (by its path id). BIRD's own block reaches the reflector with BIRD's path id.
* BIRD as the reflector (``add paths tx``) of pybgp nodes: the pybgp client keeps both paths
  from the one BIRD session and selects both (multipath).
* pybgp only: two nodes announce the same block through a pybgp reflector; the pybgp client
  installs one ECMP kernel route over both (read back with ``ip -j route``), and one next hop
  when a node leaves.

Nodes sit on bridge ``lan``: n<i> = 10.99.0.<i>/24.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.harness import BirdDaemon, BirdPeer, Node, Topology, bird_config, wait_until
from tests.netns.bird_pybgp import Speaker, lan, peer

pytestmark = [pytest.mark.netns, pytest.mark.bird]

ASN = 64512
CLUSTER_ID = "10.99.0.250"
BLOCK = "10.244.9.0/26"  # announced by two nodes
PROTO = 186


def _node(node: Node, index: int, upstream: str, **extra: Any) -> Speaker:
    """A pybgp node announcing BLOCK (and its own block) to ``upstream``."""
    return Speaker(
        node,
        f"10.99.0.{index}",
        ASN,
        [peer(upstream, ASN, local_address=f"10.99.0.{index}", **extra)],
        originate=[BLOCK, f"10.244.{index}.0/26"],
    )


def _bird_paths(bird: BirdDaemon, protocol: str) -> list[dict[str, Any]]:
    return [r for r in bird.routes() if r["prefix"] == BLOCK and r["protocol"] == protocol]


def test_bird_client_gets_every_path_from_a_pybgp_reflector(bird: None, topology: Topology) -> None:
    n1, n2, n3, n4 = lan(topology, 4)
    reflector = Speaker(
        n1,
        "10.99.0.1",
        ASN,
        [
            peer(
                f"10.99.0.{i}",
                ASN,
                local_address="10.99.0.1",
                route_reflector_client=True,
                add_paths_send="all",
                add_paths_receive=True,
            )
            for i in (2, 3, 4)
        ],
        cluster_id=CLUSTER_ID,
    )
    # add paths on = rx and tx: BIRD's own block comes to the reflector with a path id too.
    client = BirdDaemon(
        n2,
        bird_config(
            "10.99.0.2",
            ASN,
            [BirdPeer("reflector", "10.99.0.1", ASN, add_paths="on")],
            originate=["10.244.2.0/26"],
        ),
    )
    _node(n3, 3, "10.99.0.1")
    node4 = _node(n4, 4, "10.99.0.1")
    client.wait_established("reflector")
    status = reflector.wait_state("10.99.0.2")
    assert "add-path" in status["capabilities"]

    paths = wait_until(
        lambda: _bird_paths(client, "reflector"),
        timeout=15,
        describe=f"two paths for {BLOCK} in BIRD",
        predicate=lambda found: len(found) == 2,
    )
    assert sorted(p["next_hop"][0] for p in paths) == ["10.99.0.3", "10.99.0.4"]
    assert sorted(p["originator_id"] for p in paths) == ["10.99.0.3", "10.99.0.4"]
    assert all(p["cluster_list"] == [CLUSTER_ID] and p["from"] == "10.99.0.1" for p in paths)
    # A block with one announcer is one path.
    assert len([r for r in client.routes() if r["prefix"] == "10.244.3.0/26"]) == 1
    # The reflector advertised two paths for BLOCK plus one for each node block.
    assert reflector.peer("10.99.0.2")["advertised"] == 4
    # BIRD's block reached the reflector with BIRD's path id, and was reflected on.
    from_bird = reflector.wait_route("10.244.2.0/26")
    assert from_bird["peer"] == "10.99.0.2" and from_bird["path_id"] != 0
    node4.wait_route("10.244.2.0/26", lambda r: r["next_hop"] == "10.99.0.2")

    # Node 4 leaves: its path alone is withdrawn, node 3's stays.
    node4.stop()
    paths = wait_until(
        lambda: _bird_paths(client, "reflector"),
        timeout=15,
        describe=f"only node 3's path for {BLOCK} in BIRD",
        predicate=lambda found: len(found) == 1,
    )
    assert paths[0]["next_hop"] == ["10.99.0.3"]


def test_pybgp_client_keeps_every_path_from_a_bird_reflector(
    bird: None, topology: Topology
) -> None:
    n1, n2, n3, n4 = lan(topology, 4)
    BirdDaemon(
        n1,
        bird_config(
            "10.99.0.1",
            ASN,
            [
                BirdPeer(
                    f"n{i}",
                    f"10.99.0.{i}",
                    ASN,
                    rr_client=True,
                    rr_cluster_id=CLUSTER_ID,
                    add_paths="tx",
                )
                for i in (2, 3, 4)
            ],
        ),
    )
    _node(n2, 2, "10.99.0.1")
    _node(n3, 3, "10.99.0.1")
    client = Speaker(
        n4,
        "10.99.0.4",
        ASN,
        [peer("10.99.0.1", ASN, local_address="10.99.0.4", add_paths_receive=True)],
        multipath=4,
    )
    client.wait_state("10.99.0.1")

    def block_paths() -> list[dict[str, Any]]:
        return [r for r in client.routes() if r["prefix"] == BLOCK]

    paths = wait_until(
        block_paths,
        timeout=15,
        describe=f"two selected paths for {BLOCK} at the pybgp client",
        predicate=lambda found: len(found) == 2 and all(r["best"] for r in found),
    )
    assert sorted(r["next_hop"] for r in paths) == ["10.99.0.2", "10.99.0.3"]
    assert {r["peer"] for r in paths} == {"10.99.0.1"}  # both over the one session
    assert len({r["path_id"] for r in paths}) == 2  # BIRD's two path ids
    assert client.peer("10.99.0.1")["received"] == 4  # BLOCK twice, 10.244.2/3.0/26


def test_client_of_a_pybgp_reflector_installs_ecmp_over_every_announcing_node(
    topology: Topology,
) -> None:
    n1, n2, n3, n4 = lan(topology, 4)
    Speaker(
        n1,
        "10.99.0.1",
        ASN,
        [],
        cluster_id=CLUSTER_ID,
        sections={
            "dynamic_peers": [
                {
                    "range": "10.99.0.0/24",
                    "asn": ASN,
                    "route_reflector_client": True,
                    "add_paths_send": "all",
                }
            ]
        },
    )
    _node(n2, 2, "10.99.0.1")
    node3 = _node(n3, 3, "10.99.0.1")
    client = Speaker(
        n4,
        "10.99.0.4",
        ASN,
        [peer("10.99.0.1", ASN, local_address="10.99.0.4", add_paths_receive=True)],
        multipath=8,
        sections={"kernel": {"adapter": "netlink", "protocol": PROTO}},
    )
    client.wait_state("10.99.0.1")

    def kernel_hops() -> list[str]:
        for route in n4.routes():
            if route.get("dst") == BLOCK:
                hops = route.get("nexthops") or [route]
                return sorted(str(hop.get("gateway")) for hop in hops)
        return []

    hops = wait_until(
        kernel_hops,
        timeout=15,
        describe=f"an ECMP route for {BLOCK} in n4's kernel",
        predicate=lambda found: found == ["10.99.0.2", "10.99.0.3"],
    )
    assert hops == ["10.99.0.2", "10.99.0.3"]
    # Node 3 leaves: one next hop is left, node 2's.
    node3.stop()
    wait_until(
        kernel_hops,
        timeout=15,
        describe=f"n4's route for {BLOCK} via node 2 only",
        predicate=lambda found: found == ["10.99.0.2"],
    )

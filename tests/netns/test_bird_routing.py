"""What pybgp does to routes, seen by a real BIRD 2 (issue "Routing").

* BIRD as a route-reflector client of a pybgp reflector, next to a pybgp client: the client's
  block reaches BIRD with ORIGINATOR_ID, CLUSTER_LIST and the client's own NEXT_HOP (IPv4 and
  IPv6; configured and dynamic clients; non-client routes only to clients).
* BIRD as an eBGP neighbour (AS 64513) of a pybgp node (AS 64512): BIRD gets AS_PATH 64512,
  NEXT_HOP = the node (next-hop-self on eBGP) and no LOCAL_PREF; the node learns BIRD's block
  with AS_PATH 64513 and passes it to its iBGP peer (a third node) by the iBGP rules.
* BIRD speaking 2-octet AS numbers only (no RFC 6793 capability) with pybgp.
* Withdrawals both ways, pybgp filters and communities, AS-path loops, RFC 1997 well-known
  communities, best path by MED with failover.

Nodes sit on bridge ``lan``: n<i> = 10.99.0.<i>/24.
"""

from __future__ import annotations

import re

import pytest

from tests.harness import BirdDaemon, BirdPeer, Node, Topology, bird_config, wait_until
from tests.netns.bird_pybgp import Speaker, lan, peer

pytestmark = [pytest.mark.netns, pytest.mark.bird]

CLUSTER_ID = "10.99.0.250"  # deliberately not the reflector's router id


def test_bird_as_route_reflector_client_of_pybgp(bird: None, topology: Topology) -> None:
    n1, n2, n3 = lan(topology, 3)
    reflector = Speaker(
        n1,
        "10.99.0.1",
        64512,
        [
            peer("10.99.0.2", 64512, local_address="10.99.0.1", route_reflector_client=True),
            peer("10.99.0.3", 64512, local_address="10.99.0.1", route_reflector_client=True),
        ],
        originate=["10.244.1.0/26"],
        cluster_id=CLUSTER_ID,
    )
    bird_n2 = BirdDaemon(
        n2,
        bird_config(
            "10.99.0.2",
            64512,
            [BirdPeer("reflector", "10.99.0.1", 64512)],
            originate=["10.244.2.0/26"],
        ),
    )
    client = Speaker(
        n3,
        "10.99.0.3",
        64512,
        [peer("10.99.0.1", 64512, local_address="10.99.0.3")],
        originate=["10.244.3.0/26"],
    )
    assert reflector.wait_state("10.99.0.2")["type"] == "rr-client"
    assert reflector.wait_state("10.99.0.3")["type"] == "rr-client"
    client.wait_state("10.99.0.1")
    bird_n2.wait_established("reflector")

    # The pybgp client's block, reflected to BIRD.
    reflected = bird_n2.wait_route("10.244.3.0/26", protocol="reflector")
    assert reflected["originator_id"] == "10.99.0.3"
    assert reflected["cluster_list"] == [CLUSTER_ID]
    assert reflected["next_hop"] == ["10.99.0.3"]  # the reflector does not touch it
    assert reflected["via"] == ["10.99.0.3"]
    assert reflected["from"] == "10.99.0.1"  # learned from the reflector
    assert reflected["as_path"] == []
    assert reflected["local_pref"] == 100
    assert reflected["origin"] == "IGP"

    # The reflector's own block is not reflected: no RR attributes, its own next hop.
    own = bird_n2.wait_route("10.244.1.0/26", protocol="reflector")
    assert own["originator_id"] is None and own["cluster_list"] == []
    assert own["next_hop"] == ["10.99.0.1"]

    # And the other way: BIRD's block reaches the pybgp client with BIRD's next hop.
    learned = client.wait_route("10.244.2.0/26")
    assert learned["peer"] == "10.99.0.1"
    assert learned["next_hop"] == "10.99.0.2"
    assert learned["as_path"] == []
    assert learned["local_pref"] == 100
    at_reflector = reflector.wait_route("10.244.2.0/26")
    assert at_reflector["next_hop"] == "10.99.0.2" and at_reflector["peer"] == "10.99.0.2"

    # BIRD got exactly the two other blocks from the reflector (its own is not looped back
    # into its table: a reflected copy would carry ORIGINATOR_ID 10.99.0.2 and be dropped).
    wait_until(
        lambda: sorted(r["prefix"] for r in bird_n2.routes() if r["protocol"] == "reflector"),
        timeout=5,
        describe="BIRD's routes from the reflector",
        predicate=lambda prefixes: prefixes == ["10.244.1.0/26", "10.244.3.0/26"],
    )


@pytest.mark.parametrize("next_hop_self", [False, True], ids=["ibgp-keeps", "next-hop-self"])
def test_bird_as_ebgp_neighbour_of_a_pybgp_node(
    bird: None, topology: Topology, next_hop_self: bool
) -> None:
    n1, n2, n3 = lan(topology, 3)
    node = Speaker(
        n1,
        "10.99.0.1",
        64512,
        [
            peer("10.99.0.2", 64513, local_address="10.99.0.1"),
            peer("10.99.0.3", 64512, local_address="10.99.0.1", next_hop_self=next_hop_self),
        ],
        originate=["10.244.1.0/26"],
    )
    # BIRD keeps a LOCAL_PREF that arrives over eBGP (allow bgp_local_pref) and uses 77 when
    # none arrives: 77 at BIRD proves pybgp sent none.
    bird_n2 = BirdDaemon(
        n2,
        bird_config(
            "10.99.0.2",
            64513,
            [
                BirdPeer(
                    "node",
                    "10.99.0.1",
                    64512,
                    export="filter { bgp_med = 5; bgp_community.add((64513, 100)); "
                    "bgp_large_community.add((64513, 1, 2)); accept; }",
                    extra="allow bgp_local_pref on; default bgp_local_pref 77;",
                )
            ],
            originate=["10.244.2.0/26"],
        ),
    )
    third = Speaker(
        n3,
        "10.99.0.3",
        64512,
        [peer("10.99.0.1", 64512, local_address="10.99.0.3")],
        originate=["10.244.3.0/26"],
    )
    assert node.wait_state("10.99.0.2")["type"] == "global"
    node.wait_state("10.99.0.3")
    third.wait_state("10.99.0.1")
    bird_n2.wait_established("node")

    # BIRD sees the node's block: AS_PATH 64512, NEXT_HOP the node, no LOCAL_PREF.
    own = bird_n2.wait_route("10.244.1.0/26", protocol="node")
    assert own["as_path"] == [64512]
    assert own["summary"] == "AS64512i"
    assert own["next_hop"] == ["10.99.0.1"]
    assert own["local_pref"] == 77
    assert own["med"] is None
    assert own["originator_id"] is None and own["cluster_list"] == []
    # The third node's block, learned by the node over iBGP: next hop rewritten to the node
    # on eBGP, AS_PATH gets 64512 once.
    relayed = bird_n2.wait_route("10.244.3.0/26", protocol="node")
    assert relayed["as_path"] == [64512]
    assert relayed["next_hop"] == ["10.99.0.1"]
    assert relayed["local_pref"] == 77

    # The node learns BIRD's block with AS_PATH 64513, BIRD's next hop, MED and community.
    learned = node.wait_route("10.244.2.0/26")
    assert learned["peer"] == "10.99.0.2"
    assert learned["as_path"] == [64513]
    assert learned["next_hop"] == "10.99.0.2"
    assert learned["med"] == 5
    assert learned["communities"] == ["64513:100"]
    assert learned["large_communities"] == ["64513:1:2"]
    assert learned["local_pref"] == 100  # speaker.default_local_pref for eBGP paths

    # ... and passes it on over iBGP unchanged but for the next hop when next_hop_self.
    expected_hop = "10.99.0.1" if next_hop_self else "10.99.0.2"
    at_third = third.wait_route("10.244.2.0/26")
    assert at_third["peer"] == "10.99.0.1"
    assert at_third["next_hop"] == expected_hop
    assert at_third["as_path"] == [64513]
    assert at_third["local_pref"] == 100
    assert at_third["med"] == 5
    assert at_third["communities"] == ["64513:100"]
    assert at_third["large_communities"] == ["64513:1:2"]

    # BIRD has exactly the two blocks of AS 64512 and nothing of its own looped back.
    wait_until(
        lambda: sorted(r["prefix"] for r in bird_n2.routes() if r["protocol"] == "node"),
        timeout=5,
        describe="BIRD's routes from the node",
        predicate=lambda prefixes: prefixes == ["10.244.1.0/26", "10.244.3.0/26"],
    )
    assert "Discarding" not in bird_n2.logs()


def test_bird_without_four_octet_as_support(bird: None, topology: Topology) -> None:
    n1, n2 = lan(topology, 2)
    node = Speaker(
        n1,
        "10.99.0.1",
        64512,
        [peer("10.99.0.2", 64513, local_address="10.99.0.1")],
        originate=["10.244.1.0/26"],
    )
    bird_n2 = BirdDaemon(
        n2,
        bird_config(
            "10.99.0.2",
            64513,
            [BirdPeer("node", "10.99.0.1", 64512, extra="enable as4 off;")],
            originate=["10.244.2.0/26"],
        ),
    )
    node.wait_state("10.99.0.2")
    bird_n2.wait_established("node")
    # BIRD runs the session with 2-octet AS numbers ("external", not "external AS4").
    detail = bird_n2.birdc("show protocols all node")
    assert re.search(r"^\s+Session:\s+external$", detail, re.MULTILINE), detail
    route = bird_n2.wait_route("10.244.1.0/26", protocol="node")
    assert route["as_path"] == [64512]
    assert route["next_hop"] == ["10.99.0.1"]
    learned = node.wait_route("10.244.2.0/26")
    assert learned["as_path"] == [64513]
    assert learned["next_hop"] == "10.99.0.2"


def _prefixes_from(bird: BirdDaemon, protocol: str) -> list[str]:
    return sorted(r["prefix"] for r in bird.routes() if r["protocol"] == protocol)


def test_withdrawals_flow_both_ways_without_resetting_the_session(
    bird: None, topology: Topology
) -> None:
    n1, n2 = lan(topology, 2)
    node = Speaker(
        n1,
        "10.99.0.1",
        64512,
        [peer("10.99.0.2", 64513, local_address="10.99.0.1")],
        originate=["10.244.1.0/26", "10.244.1.64/26"],
    )

    def bird_text(prefixes: list[str]) -> str:
        return bird_config(
            "10.99.0.2", 64513, [BirdPeer("node", "10.99.0.1", 64512)], originate=prefixes
        )

    bird_n2 = BirdDaemon(n2, bird_text(["10.244.2.0/26", "10.244.2.64/26"]))
    since = node.wait_state("10.99.0.2")["since"]
    bird_n2.wait_established("node")
    wait_until(
        lambda: _prefixes_from(bird_n2, "node"),
        timeout=10,
        describe="both pybgp blocks at BIRD",
        predicate=lambda found: found == ["10.244.1.0/26", "10.244.1.64/26"],
    )
    node.wait_route("10.244.2.64/26")

    # pybgp stops originating one block (SIGHUP reload): BIRD gets a withdrawal.
    config = dict(node.config, originate={"prefixes": ["10.244.1.0/26"]})
    node.reload(config)
    wait_until(
        lambda: _prefixes_from(bird_n2, "node"),
        timeout=10,
        describe="10.244.1.64/26 withdrawn at BIRD",
        predicate=lambda found: found == ["10.244.1.0/26"],
    )
    # BIRD stops originating one block (birdc configure): pybgp drops it.
    bird_n2.reconfigure(bird_text(["10.244.2.0/26"]))
    wait_until(
        lambda: sorted(r["prefix"] for r in node.routes() if r["peer"] == "10.99.0.2"),
        timeout=10,
        describe="10.244.2.64/26 withdrawn at pybgp",
        predicate=lambda found: found == ["10.244.2.0/26"],
    )
    # Neither change reset the session.
    entry = node.peer("10.99.0.2")
    assert entry["state"] == "Established" and entry["since"] == since
    assert entry["advertised"] == 1
    assert bird_n2.protocols()["node"] == "Established"
    assert "node: State changed to down" not in bird_n2.logs()


def test_pybgp_filters_and_communities_as_bird_sees_them(bird: None, topology: Topology) -> None:
    n1, n2 = lan(topology, 2)
    node = Speaker(
        n1,
        "10.99.0.1",
        64512,
        [
            peer(
                "10.99.0.2",
                64513,
                local_address="10.99.0.1",
                export_filters=["to-upstream"],
                import_filters=["from-upstream"],
            )
        ],
        sections=dict(
            originate={
                "prefixes": ["10.244.1.0/26", "10.244.9.0/24"],
                "communities": ["64512:100"],
                "large_communities": ["64512:1:2"],
            },
            filters=[
                {
                    "name": "to-upstream",
                    "rules": [
                        {
                            "cidr": "10.244.0.0/16",
                            "match_operator": "In",
                            "prefix_length": {"min": 26, "max": 26},
                            "action": "Accept",
                            "set": {"add_communities": ["64512:200"], "as_path_prepend": [64512]},
                        },
                        {"action": "Reject"},
                    ],
                },
                {
                    "name": "from-upstream",
                    "rules": [
                        {
                            "cidr": "10.244.2.0/26",
                            "match_operator": "Equal",
                            "action": "Accept",
                            "set": {"local_pref": 200},
                        },
                        {"cidr": "10.244.3.0/26", "match_operator": "Equal", "action": "Reject"},
                    ],
                },
            ],
        ),
    )
    bird_n2 = BirdDaemon(
        n2,
        bird_config(
            "10.99.0.2",
            64513,
            [BirdPeer("node", "10.99.0.1", 64512)],
            originate=["10.244.2.0/26", "10.244.3.0/26", "10.244.4.0/26"],
        ),
    )
    bird_n2.wait_established("node")
    node.wait_state("10.99.0.2")

    route = bird_n2.wait_route("10.244.1.0/26", protocol="node")
    assert route["as_path"] == [64512, 64512]
    assert route["communities"] == ["64512:100", "64512:200"]
    assert route["large_communities"] == ["64512:1:2"]
    assert route["next_hop"] == ["10.99.0.1"]

    # The /24 is not a /26: the export filter's final rule rejects it.
    wait_until(
        lambda: node.peer("10.99.0.2"),
        timeout=10,
        describe="pybgp counters: 3 received, 2 accepted, 1 advertised",
        predicate=lambda e: (e["received"], e["accepted"], e["advertised"]) == (3, 2, 1),
    )
    assert _prefixes_from(bird_n2, "node") == ["10.244.1.0/26"]
    learned = {r["prefix"]: r for r in node.routes() if r["peer"] == "10.99.0.2"}
    assert sorted(learned) == ["10.244.2.0/26", "10.244.4.0/26"]
    assert learned["10.244.2.0/26"]["local_pref"] == 200
    assert learned["10.244.4.0/26"]["local_pref"] == 100


@pytest.mark.parametrize("allow_own_as", [0, 1], ids=["loop-rejected", "allow-own-as"])
def test_as_path_loop_from_bird(bird: None, topology: Topology, allow_own_as: int) -> None:
    n1, n2 = lan(topology, 2)
    node = Speaker(
        n1,
        "10.99.0.1",
        64512,
        [peer("10.99.0.2", 64513, local_address="10.99.0.1", allow_own_as=allow_own_as)],
    )
    bird_n2 = BirdDaemon(
        n2,
        bird_config(
            "10.99.0.2",
            64513,
            [
                BirdPeer(
                    "node",
                    "10.99.0.1",
                    64512,
                    export="filter { if net = 10.244.5.0/26 then bgp_path.prepend(64512); "
                    "accept; }",
                )
            ],
            originate=["10.244.2.0/26", "10.244.5.0/26"],
        ),
    )
    bird_n2.wait_established("node")
    node.wait_state("10.99.0.2")
    clean = node.wait_route("10.244.2.0/26")
    assert clean["as_path"] == [64513]
    entry = wait_until(
        lambda: node.peer("10.99.0.2"),
        timeout=10,
        describe="both BIRD routes received by pybgp",
        predicate=lambda e: e["received"] == 2,
    )
    prefixes = sorted(r["prefix"] for r in node.routes())
    if allow_own_as:
        assert entry["accepted"] == 2
        assert prefixes == ["10.244.2.0/26", "10.244.5.0/26"]
        looped = node.wait_route("10.244.5.0/26")
        assert looped["as_path"] == [64513, 64512]
    else:
        assert entry["accepted"] == 1
        assert prefixes == ["10.244.2.0/26"]
    assert node.peer("10.99.0.2")["state"] == "Established"


def test_bird_as_dynamic_client_of_a_pybgp_reflector(bird: None, topology: Topology) -> None:
    """The reflector knows only a range ([[dynamic_peers]]); BIRD and a pybgp node connect.
    When the pybgp client stops, its block is withdrawn from BIRD through the reflector."""
    n1, n2, n3 = lan(topology, 3)
    reflector = Speaker(
        n1,
        "10.99.0.1",
        64512,
        [],
        cluster_id=CLUSTER_ID,
        sections={
            "dynamic_peers": [
                {"range": "10.99.0.0/24", "asn": 64512, "route_reflector_client": True}
            ]
        },
    )
    bird_n2 = BirdDaemon(
        n2,
        bird_config(
            "10.99.0.2",
            64512,
            [BirdPeer("reflector", "10.99.0.1", 64512)],
            originate=["10.244.2.0/26"],
        ),
    )
    client = Speaker(
        n3,
        "10.99.0.3",
        64512,
        [peer("10.99.0.1", 64512, local_address="10.99.0.3")],
        originate=["10.244.3.0/26"],
    )
    bird_n2.wait_established("reflector")
    client.wait_state("10.99.0.1")
    peers = wait_until(
        lambda: {p["address"]: p for p in reflector.status()["peers"]},
        timeout=10,
        describe="both clients in the reflector's status",
        predicate=lambda found: (
            {address: entry["state"] for address, entry in found.items()}
            == {"10.99.0.2": "Established", "10.99.0.3": "Established"}
        ),
    )
    assert {entry["type"] for entry in peers.values()} == {"rr-client"}

    reflected = bird_n2.wait_route("10.244.3.0/26", protocol="reflector")
    assert reflected["originator_id"] == "10.99.0.3"
    assert reflected["cluster_list"] == [CLUSTER_ID]
    assert reflected["next_hop"] == ["10.99.0.3"]
    learned = client.wait_route("10.244.2.0/26")
    assert learned["next_hop"] == "10.99.0.2" and learned["peer"] == "10.99.0.1"

    assert client.stop() == 0
    wait_until(
        lambda: _prefixes_from(bird_n2, "reflector"),
        timeout=10,
        describe="the stopped client's block withdrawn at BIRD",
        predicate=lambda found: found == [],
    )
    assert bird_n2.protocols()["reflector"] == "Established"


def test_well_known_communities_from_bird_limit_readvertisement(
    bird: None, topology: Topology
) -> None:
    """BIRD A (AS 64513) tags its blocks NO_EXPORT / NO_ADVERTISE (RFC 1997); the pybgp node
    passes them to its iBGP peer or to nobody, never to BIRD B (AS 64514).

    Found a bug: pybgp ignored these communities (fixed in pybgp/rib/export.py)."""
    n1, n2, n3, n4 = lan(topology, 4)
    node = Speaker(
        n1,
        "10.99.0.1",
        64512,
        [
            peer("10.99.0.2", 64513, local_address="10.99.0.1"),
            peer("10.99.0.3", 64512, local_address="10.99.0.1"),
            peer("10.99.0.4", 64514, local_address="10.99.0.1"),
        ],
    )
    tagging = (
        "filter { if net = 10.244.2.64/26 then bgp_community.add((65535, 65281)); "
        "if net = 10.244.2.128/26 then bgp_community.add((65535, 65282)); accept; }"
    )
    bird_a = BirdDaemon(
        n2,
        bird_config(
            "10.99.0.2",
            64513,
            [BirdPeer("node", "10.99.0.1", 64512, export=tagging)],
            originate=["10.244.2.0/26", "10.244.2.64/26", "10.244.2.128/26"],
        ),
        name="bird-a",
    )
    third = Speaker(n3, "10.99.0.3", 64512, [peer("10.99.0.1", 64512, local_address="10.99.0.3")])
    bird_b = BirdDaemon(
        n4,
        bird_config("10.99.0.4", 64514, [BirdPeer("node", "10.99.0.1", 64512)]),
        name="bird-b",
    )
    for address in ("10.99.0.2", "10.99.0.3", "10.99.0.4"):
        node.wait_state(address)
    bird_a.wait_established("node")
    bird_b.wait_established("node")

    at_node = wait_until(
        lambda: {r["prefix"]: r for r in node.routes()},
        timeout=10,
        describe="BIRD A's three blocks at the node",
        predicate=lambda found: len(found) == 3,
    )
    assert at_node["10.244.2.64/26"]["communities"] == ["65535:65281"]
    assert at_node["10.244.2.128/26"]["communities"] == ["65535:65282"]
    assert {r["peer"] for r in at_node.values()} == {"10.99.0.2"}
    # iBGP: the NO_EXPORT block goes on (it stays inside the AS), NO_ADVERTISE does not.
    wait_until(
        lambda: sorted(r["prefix"] for r in third.routes()),
        timeout=10,
        describe="the iBGP peer's blocks",
        predicate=lambda found: found == ["10.244.2.0/26", "10.244.2.64/26"],
    )
    # eBGP to another AS: only the untagged block, next hop the node, AS_PATH 64512 64513.
    route = bird_b.wait_route("10.244.2.0/26", protocol="node")
    assert route["as_path"] == [64512, 64513]
    assert route["next_hop"] == ["10.99.0.1"]
    assert _prefixes_from(bird_b, "node") == ["10.244.2.0/26"]
    assert node.peer("10.99.0.4")["advertised"] == 1
    assert node.peer("10.99.0.3")["advertised"] == 2


def test_best_path_between_two_birds_and_failover(bird: None, topology: Topology) -> None:
    """Two BIRDs of AS 64513 announce the same block, MED 5 and MED 10: pybgp picks MED 5
    (RFC 4271 §9.1.2.2 c), tells its iBGP peer, and fails over when that BIRD stops."""
    n1, n2, n3, n4 = lan(topology, 4)
    node = Speaker(
        n1,
        "10.99.0.1",
        64512,
        [
            peer("10.99.0.2", 64513, local_address="10.99.0.1"),
            peer("10.99.0.3", 64513, local_address="10.99.0.1"),
            peer("10.99.0.4", 64512, local_address="10.99.0.1"),
        ],
    )

    def bird_with_med(where: Node, router_id: str, med: int, name: str) -> BirdDaemon:
        return BirdDaemon(
            where,
            bird_config(
                router_id,
                64513,
                [
                    BirdPeer(
                        "node",
                        "10.99.0.1",
                        64512,
                        export=f"filter {{ bgp_med = {med}; accept; }}",
                    )
                ],
                originate=["10.244.7.0/26"],
            ),
            name=name,
        )

    worse = bird_with_med(n2, "10.99.0.2", 10, "bird-worse")
    better = bird_with_med(n3, "10.99.0.3", 5, "bird-better")
    third = Speaker(n4, "10.99.0.4", 64512, [peer("10.99.0.1", 64512, local_address="10.99.0.4")])
    worse.wait_established("node")
    better.wait_established("node")
    paths = wait_until(
        lambda: [r for r in node.routes() if r["prefix"] == "10.244.7.0/26"],
        timeout=10,
        describe="both paths at the node",
        predicate=lambda found: len(found) == 2,
    )
    best = [r for r in paths if r["best"]]
    assert [(r["next_hop"], r["med"]) for r in best] == [("10.99.0.3", 5)], paths
    assert "med" in best[0]["reason"].lower(), best[0]
    at_third = third.wait_route("10.244.7.0/26", lambda r: r["next_hop"] == "10.99.0.3")
    assert at_third["med"] == 5 and at_third["as_path"] == [64513]

    better.stop()
    failover = node.wait_route(
        "10.244.7.0/26", lambda r: r["next_hop"] == "10.99.0.2", what="via the MED 10 BIRD "
    )
    assert failover["med"] == 10
    assert len([r for r in node.routes() if r["prefix"] == "10.244.7.0/26"]) == 1
    at_third = third.wait_route(
        "10.244.7.0/26", lambda r: r["next_hop"] == "10.99.0.2", what="failed over "
    )
    assert at_third["med"] == 10


def test_ipv6_route_reflection_with_a_bird_client(bird: None, topology: Topology) -> None:
    """The same reflector set-up over IPv6 sessions: next hops stay the originators' global
    addresses (BIRD's link-local next hop is not passed on, RFC 2545 §3)."""
    n1, n2, n3 = lan(topology, 3)
    Speaker(
        n1,
        "10.99.0.1",
        64512,
        [
            peer("fd00:99::2", 64512, local_address="fd00:99::1", route_reflector_client=True),
            peer("fd00:99::3", 64512, local_address="fd00:99::1", route_reflector_client=True),
        ],
        cluster_id=CLUSTER_ID,
    )
    bird_n2 = BirdDaemon(
        n2,
        bird_config(
            "10.99.0.2",
            64512,
            [BirdPeer("reflector", "fd00:99::1", 64512, ipv4=False, ipv6=True)],
            originate=["fd00:244:2::/64"],
        ),
    )
    client = Speaker(
        n3,
        "10.99.0.3",
        64512,
        [peer("fd00:99::1", 64512, local_address="fd00:99::3")],
        originate=["fd00:244:3::/64"],
    )
    bird_n2.wait_established("reflector")
    client.wait_state("fd00:99::1")

    reflected = bird_n2.wait_route("fd00:244:3::/64", protocol="reflector")
    assert reflected["next_hop"] == ["fd00:99::3"]
    assert reflected["originator_id"] == "10.99.0.3"
    assert reflected["cluster_list"] == [CLUSTER_ID]
    assert reflected["via"] == ["fd00:99::3"]

    learned = client.wait_route("fd00:244:2::/64")
    assert learned["next_hop"] == "fd00:99::2"
    assert learned["peer"] == "fd00:99::1"
    assert learned["family"] == "ipv6"


def test_reflector_sends_non_client_routes_to_clients_only(bird: None, topology: Topology) -> None:
    """RFC 4456 §8: a route from a non-client goes to the clients (BIRD) but not to the other
    non-clients; a client's route goes to everyone."""
    n1, n2, n3, n4 = lan(topology, 4)
    Speaker(
        n1,
        "10.99.0.1",
        64512,
        [
            peer("10.99.0.2", 64512, local_address="10.99.0.1", route_reflector_client=True),
            peer("10.99.0.3", 64512, local_address="10.99.0.1"),
            peer("10.99.0.4", 64512, local_address="10.99.0.1"),
        ],
        cluster_id=CLUSTER_ID,
    )
    bird_n2 = BirdDaemon(
        n2,
        bird_config(
            "10.99.0.2",
            64512,
            [BirdPeer("reflector", "10.99.0.1", 64512)],
            originate=["10.244.2.0/26"],
        ),
    )
    non_clients = [
        Speaker(
            node,
            f"10.99.0.{index}",
            64512,
            [peer("10.99.0.1", 64512, local_address=f"10.99.0.{index}")],
            originate=[f"10.244.{index}.0/26"],
        )
        for index, node in ((3, n3), (4, n4))
    ]
    bird_n2.wait_established("reflector")
    for speaker in non_clients:
        speaker.wait_state("10.99.0.1")

    # Both non-clients' blocks reach the client BIRD, reflected.
    wait_until(
        lambda: _prefixes_from(bird_n2, "reflector"),
        timeout=10,
        describe="the non-clients' blocks at BIRD",
        predicate=lambda found: found == ["10.244.3.0/26", "10.244.4.0/26"],
    )
    for index in (3, 4):
        route = bird_n2.wait_route(f"10.244.{index}.0/26", protocol="reflector")
        assert route["originator_id"] == f"10.99.0.{index}"
        assert route["cluster_list"] == [CLUSTER_ID]
        assert route["next_hop"] == [f"10.99.0.{index}"]
    # The client's block reaches both non-clients; neither gets the other's block.
    for index, speaker in zip((3, 4), non_clients, strict=True):
        learned = speaker.wait_route("10.244.2.0/26")
        assert learned["next_hop"] == "10.99.0.2" and learned["peer"] == "10.99.0.1"
        assert speaker.peer("10.99.0.1")["received"] == 1
        assert sorted(r["prefix"] for r in speaker.routes()) == [
            "10.244.2.0/26",
            f"10.244.{index}.0/26",
        ]

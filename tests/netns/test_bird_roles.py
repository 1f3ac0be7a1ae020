"""RFC 9234 BGP roles between pybgp and BIRD 2 (``local role``, BIRD 2.0.11 and later).

n1 = pybgp 10.99.0.1 (AS 64512); n2, n3 = BIRD (AS 64513, 64514), all on bridge ``lan``. A role
pair that does not match is refused on both sides with OPEN error 2/11 (RFC 9234 §4.2); a
matching pair establishes, and the OTC attribute (§5) keeps a route learned from one provider
away from another provider while pybgp's own routes reach both.
"""

from __future__ import annotations

import pytest

from tests.harness import BirdDaemon, BirdPeer, Topology, bird_config, wait_until
from tests.netns.bird_pybgp import Speaker, lan, peer

pytestmark = [pytest.mark.netns, pytest.mark.bird]

PYBGP_V4 = "10.244.1.0/26"
N2_V4 = "10.244.2.0/26"


def test_role_mismatch_is_refused_on_both_sides(bird: None, topology: Topology) -> None:
    n1, n2 = lan(topology, 2)
    # Both claim to be the provider: no allowed pair (RFC 9234 §4.2 Table 2).
    speaker = Speaker(n1, "10.99.0.1", 64512, [peer("10.99.0.2", 64513, role="provider")])
    bird_n2 = BirdDaemon(
        n2,
        bird_config(
            "10.99.0.2",
            64513,
            [BirdPeer("pybgp", "10.99.0.1", 64512, extra="local role provider;")],
        ),
    )
    entry = wait_until(
        lambda: speaker.peer("10.99.0.2"),
        timeout=20,
        describe="pybgp refusing BIRD's role",
        predicate=lambda e: "role mismatch" in e["info"].lower(),
    )
    assert entry["state"] != "Established"
    row = wait_until(
        lambda: bird_n2.protocol_rows()["pybgp"],
        timeout=20,
        describe="BIRD refusing pybgp's role",
        predicate=lambda r: "role mismatch" in r.info.lower(),
    )
    assert row.bgp_state != "Established"


def test_routes_from_a_provider_do_not_leak_to_another_provider(
    bird: None, topology: Topology
) -> None:
    n1, n2, n3 = lan(topology, 3)
    # pybgp is the customer of both BIRDs; each BIRD says it is pybgp's provider.
    speaker = Speaker(
        n1,
        "10.99.0.1",
        64512,
        [
            peer("10.99.0.2", 64513, role="customer"),
            peer("10.99.0.3", 64514, role="customer"),
        ],
        originate=[PYBGP_V4],
    )
    provider = "local role provider;"
    bird_n2 = BirdDaemon(
        n2,
        bird_config(
            "10.99.0.2",
            64513,
            [BirdPeer("pybgp", "10.99.0.1", 64512, extra=provider)],
            originate=[N2_V4],
        ),
    )
    bird_n3 = BirdDaemon(
        n3, bird_config("10.99.0.3", 64514, [BirdPeer("pybgp", "10.99.0.1", 64512, extra=provider)])
    )
    speaker.wait_state("10.99.0.2")
    speaker.wait_state("10.99.0.3")
    bird_n2.wait_established("pybgp")
    bird_n3.wait_established("pybgp")
    # pybgp learns n2's route (OTC 64513 added on receipt from a provider, RFC 9234 §5) ...
    learned = speaker.wait_route(N2_V4)
    assert learned["as_path"] == [64513]
    # ... and its own route reaches both providers, without OTC (only towards customers).
    for bird in (bird_n2, bird_n3):
        route = bird.wait_route(PYBGP_V4, protocol="pybgp")
        assert route["as_path"] == [64512]
        assert "BGP.otc" not in route["attributes"]
    # Once n2's route is in pybgp's Loc-RIB, the export to n3 is decided: only pybgp's own
    # prefix was advertised to n3, so n2's route did not leak to the other provider.
    assert speaker.peer("10.99.0.3")["advertised"] == 1
    assert [r for r in bird_n3.routes() if r["prefix"] == N2_V4] == []
    assert speaker.peer("10.99.0.2")["advertised"] == 1

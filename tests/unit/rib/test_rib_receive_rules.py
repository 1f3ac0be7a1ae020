"""Receive-side rules that need the session's facts (pybgp.rib.receive): a NEXT_HOP that is our
own address (RFC 4271 §6.3) and the RFC 9234 §5 OTC attribute on eBGP sessions with a role."""

from __future__ import annotations

import pytest
from rib_helpers import (
    add_peer,
    address,
    announce,
    announce6,
    announced,
    attributes,
    make_rib,
    pfx,
    withdraw,
)

from pybgp.rib import PeerInfo
from pybgp.rib.receive import otc_blocks_export, otc_ingress, otc_to_add, own_next_hop
from pybgp.wire.attributes import Otc
from pybgp.wire.constants import IPV4_UNICAST, IPV6_UNICAST, Role

P = "10.1.0.0/16"
Q = "10.2.0.0/16"

# -- RFC 4271 §6.3: NEXT_HOP = our own address on the session ----------------------------------


def test_route_with_our_own_address_as_next_hop_is_ignored_without_a_reset() -> None:
    rib = make_rib()
    add_peer(rib, "172.16.0.2", asn=65010, local_address="172.16.0.1")
    out = rib.apply_update(
        "172.16.0.2", announce(attributes(as_path=(65010,), next_hop="172.16.0.1"), P, Q)
    )
    assert rib.best(IPV4_UNICAST, pfx(P)) == ()
    assert rib.prefix_count(IPV4_UNICAST) == 0
    # One debug line for the whole UPDATE, naming the peer and the rule; nothing at info.
    assert out.debug_notes == (
        "peer 172.16.0.2: 2 prefixes ignored: NEXT_HOP 172.16.0.1 is our own address on this "
        "session (RFC 4271 §6.3)",
    )
    assert out.notes == ()
    counters = rib.peer_counters("172.16.0.2")
    assert (counters.received, counters.accepted) == (2, 0)


def test_an_ignored_update_replaces_the_earlier_route() -> None:
    # The new UPDATE replaces the earlier route of the prefix (RFC 4271 §3.1); ignoring it
    # must not leave the old one installed (BIRD withdraws it too).
    rib = make_rib()
    add_peer(rib, "172.16.0.2", asn=65010, local_address="172.16.0.1")
    rib.apply_update("172.16.0.2", announce(attributes(as_path=(65010,), next_hop="172.16.0.2"), P))
    assert rib.best(IPV4_UNICAST, pfx(P))
    rib.apply_update("172.16.0.2", announce(attributes(as_path=(65010,), next_hop="172.16.0.1"), P))
    assert rib.best(IPV4_UNICAST, pfx(P)) == ()
    # And a later good announcement is accepted again.
    rib.apply_update("172.16.0.2", announce(attributes(as_path=(65010,), next_hop="172.16.0.9"), P))
    assert str(rib.best(IPV4_UNICAST, pfx(P))[0].next_hop) == "172.16.0.9"
    rib.apply_update("172.16.0.2", withdraw(P))
    assert rib.peer_counters("172.16.0.2").received == 0


def test_other_next_hops_and_other_sessions_are_not_affected() -> None:
    rib = make_rib()
    add_peer(rib, "10.0.0.2", local_address="10.0.0.1")
    add_peer(rib, "172.16.0.2", asn=65010, local_address="172.16.0.1")
    # 10.0.0.1 is our address on the *other* session: a third-party next hop here, accepted.
    rib.apply_update("172.16.0.2", announce(attributes(as_path=(65010,), next_hop="10.0.0.1"), P))
    assert rib.best(IPV4_UNICAST, pfx(P))


def test_ipv6_next_hop_equal_to_our_ipv6_next_hop_is_ignored() -> None:
    rib = make_rib()
    add_peer(
        rib,
        "172.16.0.2",
        asn=65010,
        local_address="172.16.0.1",
        families=(IPV4_UNICAST, IPV6_UNICAST),
        local_address6=address("fd00::1"),
    )
    out = rib.apply_update(
        "172.16.0.2", announce6(attributes(as_path=(65010,)), "fd00::1", "fd00:1::/64")
    )
    assert rib.prefix_count(IPV6_UNICAST) == 0
    assert "NEXT_HOP fd00::1 is our own address" in out.debug_notes[0]
    rib.apply_update(
        "172.16.0.2", announce6(attributes(as_path=(65010,)), "fd00::2", "fd00:1::/64")
    )
    assert rib.prefix_count(IPV6_UNICAST) == 1


def test_soft_reconfiguration_does_not_bring_an_own_next_hop_back() -> None:
    rib = make_rib(soft_reconfiguration_inbound=True)
    add_peer(rib, "172.16.0.2", asn=65010, local_address="172.16.0.1")
    rib.apply_update("172.16.0.2", announce(attributes(as_path=(65010,), next_hop="172.16.0.1"), P))
    rib.set_policies("172.16.0.2", import_=lambda route: route)  # re-runs the import
    assert rib.best(IPV4_UNICAST, pfx(P)) == ()


def test_own_next_hop_without_a_known_local_address() -> None:
    info = PeerInfo("10.0.0.2", address("10.0.0.2"), 65000, 65000)
    assert own_next_hop(info, address("10.0.0.1")) is None


# -- RFC 9234 §5: OTC --------------------------------------------------------------------------

LEAK = attributes(as_path=(65010, 65099), next_hop="172.16.0.2", extra=(Otc(65099),))


def _peer(role: Role, asn: int = 65010) -> PeerInfo:
    return PeerInfo("172.16.0.2", address("172.16.0.2"), asn, 65000, role=role)


@pytest.mark.parametrize(
    ("role", "with_otc", "leak", "otc_after"),
    [
        # ingress 1: from a customer or an RS client an OTC is a leak.
        (Role.PROVIDER, True, True, 65099),
        (Role.ROUTE_SERVER, True, True, 65099),
        (Role.PROVIDER, False, False, None),
        # ingress 2: from a peer, an OTC naming another AS is a leak; its own AS is fine.
        (Role.PEER, True, True, 65099),
        # ingress 3: from a provider, a peer or an RS, OTC = their AS is added when absent.
        (Role.CUSTOMER, False, False, 65010),
        (Role.PEER, False, False, 65010),
        (Role.ROUTE_SERVER_CLIENT, False, False, 65010),
        (Role.CUSTOMER, True, False, 65099),  # kept as received
    ],
)
def test_otc_ingress(role: Role, with_otc: bool, leak: bool, otc_after: int | None) -> None:
    a = LEAK if with_otc else LEAK.without(Otc.code)
    after, reason = otc_ingress(_peer(role), a)
    assert (reason is not None) == leak
    if leak:
        assert reason is not None and "route leak" in reason and "RFC 9234 §5" in reason
    assert (after.otc.asn if after.otc else None) == otc_after


def test_otc_from_a_peer_naming_that_peer_is_accepted() -> None:
    a = LEAK.replace(Otc(65010))
    assert otc_ingress(_peer(Role.PEER), a) == (a, None)


def test_otc_rules_do_not_apply_without_a_role_or_on_ibgp() -> None:
    no_role = PeerInfo("172.16.0.2", address("172.16.0.2"), 65010, 65000)
    ibgp = PeerInfo("10.0.0.2", address("10.0.0.2"), 65000, 65000, role=Role.PROVIDER)
    for info in (no_role, ibgp):
        assert otc_ingress(info, LEAK) == (LEAK, None)
        assert not otc_blocks_export(info, LEAK)
        assert otc_to_add(info, 65000, LEAK.without(Otc.code)) is None


@pytest.mark.parametrize(
    ("role", "blocked", "added"),
    [
        (Role.CUSTOMER, True, None),  # egress 1: OTC routes never go to providers ...
        (Role.PEER, True, None),  # ... peers ...
        (Role.ROUTE_SERVER_CLIENT, True, None),  # ... or route servers
        (Role.PROVIDER, False, None),  # customers get them, OTC kept as is
        (Role.ROUTE_SERVER, False, None),
    ],
)
def test_otc_egress_with_otc(role: Role, blocked: bool, added: None) -> None:
    assert otc_blocks_export(_peer(role), LEAK) is blocked
    assert otc_to_add(_peer(role), 65000, LEAK) is added


@pytest.mark.parametrize(
    ("role", "added"),
    [
        (Role.PROVIDER, Otc(65000)),  # egress 2: to a customer, a peer or an RS client
        (Role.PEER, Otc(65000)),
        (Role.ROUTE_SERVER, Otc(65000)),
        (Role.CUSTOMER, None),
        (Role.ROUTE_SERVER_CLIENT, None),
    ],
)
def test_otc_egress_without_otc(role: Role, added: Otc | None) -> None:
    plain = LEAK.without(Otc.code)
    assert not otc_blocks_export(_peer(role), plain)
    assert otc_to_add(_peer(role), 65000, plain) == added


def test_a_route_from_a_provider_never_reaches_another_provider_but_reaches_customers() -> None:
    """The route-leak case RFC 9234 exists for, through the RIB: import adds OTC, export obeys."""
    rib = make_rib()
    add_peer(rib, "172.16.0.2", asn=65010, local_address="172.16.0.1", role=Role.CUSTOMER)
    add_peer(rib, "172.16.1.2", asn=65020, local_address="172.16.1.1", role=Role.CUSTOMER)
    add_peer(rib, "172.16.2.2", asn=65030, local_address="172.16.2.1", role=Role.PROVIDER)
    add_peer(rib, "10.0.0.2", local_address="10.0.0.1")  # iBGP: OTC preserved unchanged
    out = rib.apply_update(
        "172.16.0.2", announce(attributes(as_path=(65010,), next_hop="172.16.0.2"), P)
    )
    stored = rib.best(IPV4_UNICAST, pfx(P))[0].attributes
    assert stored.otc == Otc(65010)  # ingress 3: from a provider, OTC = its AS
    assert P not in announced(out, "172.16.1.2")  # egress 1: not to the other provider
    assert announced(out, "172.16.2.2", peer_as=65030)[P].otc == Otc(65010)  # to a customer
    assert announced(out, "10.0.0.2")[P].otc == Otc(65010)
    # Our own routes go to providers, and get OTC = our AS towards customers (egress 2).
    out = rib.originate(IPV4_UNICAST, pfx(Q))
    assert announced(out, "172.16.0.2", peer_as=65010)[Q].otc is None
    assert announced(out, "172.16.2.2", peer_as=65030)[Q].otc == Otc(65000)


def test_a_leak_from_a_customer_is_refused_with_a_note() -> None:
    rib = make_rib()
    add_peer(rib, "172.16.0.2", asn=65010, local_address="172.16.0.1", role=Role.PROVIDER)
    out = rib.apply_update("172.16.0.2", announce(LEAK, P))
    assert rib.best(IPV4_UNICAST, pfx(P)) == ()
    assert out.notes == (
        "peer 172.16.0.2: 1 prefixes rejected: route leak: OTC 65099 from a customer "
        "(RFC 9234 §5)",
    )

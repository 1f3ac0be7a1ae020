"""Rib.prefix_counter: the count a peer would hold after UPDATEs not yet applied."""

from __future__ import annotations

import attrs
from rib_helpers import add_peer, announce, announce6, attributes, make_rib, withdraw, withdraw6

from pybgp.wire.constants import IPV4_UNICAST, IPV6_UNICAST
from pybgp.wire.update import ErrorAction

PEER = "10.0.0.2"


def test_count_follows_announces_replacements_and_withdrawals_in_order() -> None:
    rib = make_rib()
    add_peer(rib, PEER)
    rib.apply_update(PEER, announce(attributes(), "10.1.0.0/16"))
    count = rib.prefix_counter(PEER)
    # Two UPDATEs of one read, counted before either is applied: a new prefix, then the same
    # one again (a replacement), then one withdrawn and one that was never there.
    assert count(announce(attributes(), "10.2.0.0/16", "10.1.0.0/16")) == 2
    assert count(announce(attributes(med=5), "10.2.0.0/16")) == 2
    assert count(withdraw("10.1.0.0/16", "10.9.0.0/16")) == 1
    assert count(withdraw("10.1.0.0/16")) == 1
    # Nothing was applied: the RIB still holds one prefix.
    assert rib.peer_counters(PEER).received == 1


def test_count_matches_the_rib_after_applying() -> None:
    rib = make_rib()
    add_peer(rib, PEER, families=(IPV4_UNICAST, IPV6_UNICAST))
    updates = [
        announce(attributes(), "10.1.0.0/16", "10.2.0.0/16"),
        announce6(attributes(), "2001:db8::1", "2001:db8:1::/48", "2001:db8:2::/48"),
        withdraw("10.2.0.0/16"),
        withdraw6("2001:db8:1::/48"),
        announce(attributes(as_path=(65000,)), "10.3.0.0/16"),  # a loop: rejected, counted
    ]
    count = rib.prefix_counter(PEER)
    predicted = [count(u) for u in updates]
    applied = []
    for update in updates:
        rib.apply_update(PEER, update)
        applied.append(rib.peer_counters(PEER).received)
    assert predicted == applied == [2, 4, 3, 2, 3]


def test_treat_as_withdraw_and_family_disable_lower_the_count() -> None:
    rib = make_rib()
    add_peer(rib, PEER, families=(IPV4_UNICAST, IPV6_UNICAST))
    rib.apply_update(PEER, announce(attributes(), "10.1.0.0/16", "10.2.0.0/16"))
    rib.apply_update(PEER, announce6(attributes(), "2001:db8::1", "2001:db8:1::/48"))
    count = rib.prefix_counter(PEER)
    broken = attrs.evolve(
        announce(attributes(), "10.1.0.0/16"), action=ErrorAction.TREAT_AS_WITHDRAW
    )
    assert count(broken) == 2  # RFC 7606: treat-as-withdraw
    disabled = attrs.evolve(
        announce6(attributes(), "2001:db8::1", "2001:db8:5::/48"),
        action=ErrorAction.AFI_SAFI_DISABLE,
        disabled_families=frozenset({IPV6_UNICAST}),
    )
    assert count(disabled) == 1  # RFC 7606: the family's routes go, its NLRI are ignored
    rib.apply_update(PEER, broken)
    rib.apply_update(PEER, disabled)
    assert rib.peer_counters(PEER).received == 1


def test_nlri_of_a_family_not_negotiated_are_ignored_with_a_note() -> None:
    """RFC 4760 §8: ignored, never a crash; the one place that filters families."""
    rib = make_rib()
    add_peer(rib, PEER)  # IPv4 unicast only
    out = rib.apply_update(PEER, announce6(attributes(), "2001:db8::1", "2001:db8:1::/48"))
    assert rib.prefix_count(IPV6_UNICAST) == 0 and rib.peer_counters(PEER).received == 0
    assert any("ipv6 NLRI" in n and "not negotiated (RFC 4760 §8)" in n for n in out.notes)

"""``Rib.originate_many`` / ``withdraw_originated_many``: the batch gives what one call per
prefix gives (Loc-RIB, changes, UPDATEs), on an empty table and on a busy one."""

from __future__ import annotations

from rib_helpers import add_peer, announce, announced, attributes, make_rib, pfx, withdrawn

from pybgp.rib import Rib
from pybgp.wire.constants import IPV4_UNICAST

TEXTS = [f"10.{i >> 8}.{i & 255}.0/24" for i in range(3000)]
KEYS = [pfx(t) for t in TEXTS]
COMMUNITY = (65000 * 65536 + 7,)


def _two_ribs() -> tuple[Rib, Rib]:
    ribs = (make_rib(), make_rib())
    for rib in ribs:
        add_peer(rib, "10.0.0.2", local_address="10.0.0.1")
    return ribs


def test_a_batch_on_an_empty_table_equals_one_call_per_prefix() -> None:
    single, batch = _two_ribs()
    one_by_one = {}
    for key in KEYS:
        one_by_one.update(announced(single.originate(IPV4_UNICAST, key, COMMUNITY), "10.0.0.2"))
    out = batch.originate_many(IPV4_UNICAST, KEYS, COMMUNITY)
    assert announced(out, "10.0.0.2") == one_by_one
    assert len(one_by_one) == 3000
    assert len(out.changes) == 3000 and all(c.old == () for c in out.changes)
    assert len(out.changes.groups()) == 1  # one group, not 3000
    assert batch.originated_count() == single.originated_count() == 3000
    # a second batch of the same prefixes changes nothing
    again = batch.originate_many(IPV4_UNICAST, KEYS, COMMUNITY)
    assert not again.changes and not again.messages


def test_a_batch_over_learned_and_originated_prefixes() -> None:
    single, batch = _two_ribs()
    for rib in (single, batch):
        add_peer(rib, "172.16.0.2", asn=65010)
        rib.apply_update("172.16.0.2", announce(attributes(as_path=(65010,)), *TEXTS[:100]))
        rib.originate(IPV4_UNICAST, KEYS[200])
    doubled = [*KEYS[:300], KEYS[0]]  # a prefix twice in one batch
    expected = {}
    for key in doubled:
        expected.update(announced(single.originate(IPV4_UNICAST, key), "10.0.0.2"))
    out = batch.originate_many(IPV4_UNICAST, doubled)
    # locally originated beats learned (RFC 4271 §9.1.2.2 as pybgp orders it): all 300 ours
    assert announced(out, "10.0.0.2") == expected and len(expected) == 299
    assert batch.originated_count() == 300
    gone = batch.withdraw_originated_many(IPV4_UNICAST, [*KEYS[250:300], pfx("192.0.2.0/24")])
    assert sorted(withdrawn(gone, "10.0.0.2")) == sorted(TEXTS[250:300])
    back = batch.withdraw_originated_many(IPV4_UNICAST, KEYS[:10])
    # the learned path comes back for the first hundred
    assert sorted(announced(back, "10.0.0.2")) == sorted(TEXTS[:10])
    assert batch.originated_count() == 240


def test_the_initial_table_of_a_new_peer_with_one_shared_path_or_several() -> None:
    """A peer coming up after the origination gets the whole table (``resend_table``): the
    one-path shortcut and the general loop send the same prefixes and attributes."""
    one, several = make_rib(), make_rib()
    one.originate_many(IPV4_UNICAST, KEYS, COMMUNITY)
    several.originate_many(IPV4_UNICAST, KEYS[:1500], COMMUNITY)
    several.originate_many(IPV4_UNICAST, KEYS[1500:])
    sent_one = announced(add_peer(one, "10.0.0.2", local_address="10.0.0.1"), "10.0.0.2")
    sent_several = announced(add_peer(several, "10.0.0.2", local_address="10.0.0.1"), "10.0.0.2")
    assert sorted(sent_one) == sorted(sent_several) == sorted(TEXTS)
    assert len(set(sent_one.values())) == 1
    assert len(set(sent_several.values())) == 2
    assert sent_one[TEXTS[0]] == sent_several[TEXTS[0]]
    # what was sent is the Adj-RIB-Out: originating the same again sends nothing
    assert not one.originate_many(IPV4_UNICAST, KEYS, COMMUNITY).messages
    # a withdrawal after the shortcut reaches the peer
    gone = one.withdraw_originated_many(IPV4_UNICAST, KEYS[:5])
    assert sorted(withdrawn(gone, "10.0.0.2")) == sorted(TEXTS[:5])


def test_originated_prefixes_live_in_the_loc_rib_only() -> None:
    """The originated routes are the Loc-RIB's peerless candidates: their count follows every
    way in and out, and a peer that leaves takes only its own candidates with it."""
    rib = make_rib()
    add_peer(rib, "10.0.0.2", local_address="10.0.0.1")
    add_peer(rib, "172.16.0.2", asn=65010)
    rib.apply_update("172.16.0.2", announce(attributes(as_path=(65010,)), *TEXTS[:20]))
    rib.originate_many(IPV4_UNICAST, KEYS[:10])
    assert rib.originated_count() == 10
    # new communities for an originated prefix replace its path: still one route
    out = rib.originate(IPV4_UNICAST, KEYS[0], COMMUNITY)
    assert list(announced(out, "10.0.0.2")) == [TEXTS[0]]
    assert rib.originated_count() == 10
    # withdrawing what is not originated (a learned prefix, an unknown one) changes nothing
    assert not rib.withdraw_originated(IPV4_UNICAST, KEYS[15]).changes
    assert not rib.withdraw_originated_many(IPV4_UNICAST, [KEYS[16], pfx("192.0.2.0/24")]).changes
    assert rib.originated_count() == 10
    # the learned peer leaves: its candidates go, ours stay best
    out = rib.remove_peer("172.16.0.2")
    assert sorted(withdrawn(out, "10.0.0.2")) == sorted(TEXTS[10:20])
    assert rib.originated_count() == 10
    rib.withdraw_originated(IPV4_UNICAST, KEYS[9])
    rib.withdraw_originated_many(IPV4_UNICAST, KEYS[:5])
    assert rib.originated_count() == 4

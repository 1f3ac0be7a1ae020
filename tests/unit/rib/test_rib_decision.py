"""One test per RFC 4271 §9.1 tie-breaker: two paths differing only in that criterion."""

from __future__ import annotations

from ipaddress import IPv4Address

from rib_helpers import add_peer, announce, attributes, make_rib, pfx

from pybgp.rib import BestPathReason
from pybgp.wire.attributes import AsPathSegment
from pybgp.wire.constants import IPV4_UNICAST, AsPathSegmentType

P = "10.1.0.0/16"


def _winner(rib, prefix: str = P):  # type: ignore[no-untyped-def]
    entry = rib.lookup(IPV4_UNICAST, pfx(prefix))
    assert entry is not None
    return entry.best.peer_id, entry.reason


def test_only_path() -> None:
    rib = make_rib()
    add_peer(rib, "10.0.0.2")
    out = rib.apply_update("10.0.0.2", announce(attributes(), P))
    assert _winner(rib) == ("10.0.0.2", BestPathReason.ONLY_PATH)
    assert len(out.changes) == 1 and out.changes[0].reason is BestPathReason.ONLY_PATH
    assert BestPathReason.ONLY_PATH.describe() == "only path"


def test_local_pref() -> None:
    rib = make_rib()
    add_peer(rib, "10.0.0.2")
    add_peer(rib, "10.0.0.3")
    rib.apply_update("10.0.0.2", announce(attributes(local_pref=100), P))
    out = rib.apply_update("10.0.0.3", announce(attributes(local_pref=200), P))
    assert _winner(rib) == ("10.0.0.3", BestPathReason.LOCAL_PREF)
    change = out.changes[0]
    assert change.old[0].peer_id == "10.0.0.2" and change.new[0].peer_id == "10.0.0.3"
    assert change.reason.describe() == "higher local-pref"


def test_missing_local_pref_is_default_100() -> None:
    rib = make_rib()
    add_peer(rib, "10.0.0.2")
    add_peer(rib, "10.0.0.3")
    rib.apply_update("10.0.0.2", announce(attributes(local_pref=99), P))
    rib.apply_update("10.0.0.3", announce(attributes(), P))
    assert _winner(rib) == ("10.0.0.3", BestPathReason.LOCAL_PREF)


def test_ebgp_local_pref_is_ignored_and_default_applies() -> None:
    # RFC 4271 §5.1.5: LOCAL_PREF from an external peer is ignored: the default (100) applies.
    rib = make_rib(default_local_pref=100)
    add_peer(rib, "10.0.0.2", asn=65001)
    add_peer(rib, "10.0.0.3")
    rib.apply_update("10.0.0.2", announce(attributes(as_path=(65001,), local_pref=500), P))
    rib.apply_update("10.0.0.3", announce(attributes(local_pref=150), P))
    assert _winner(rib) == ("10.0.0.3", BestPathReason.LOCAL_PREF)


def test_locally_originated() -> None:
    rib = make_rib()
    add_peer(rib, "10.0.0.2")
    rib.apply_update("10.0.0.2", announce(attributes(), P))
    out = rib.originate(IPV4_UNICAST, pfx(P))
    best, reason = _winner(rib)
    assert best is None and reason is BestPathReason.LOCALLY_ORIGINATED
    assert out.changes[0].new[0].originated


def test_as_path_length() -> None:
    rib = make_rib()
    add_peer(rib, "10.0.0.2", asn=65001)
    add_peer(rib, "10.0.0.3", asn=65002)
    rib.apply_update("10.0.0.2", announce(attributes(as_path=(65001, 65009)), P))
    rib.apply_update("10.0.0.3", announce(attributes(as_path=(65002,)), P))
    assert _winner(rib) == ("10.0.0.3", BestPathReason.AS_PATH_LENGTH)


def test_as_path_length_as_set_counts_one_confed_zero() -> None:
    rib = make_rib()
    add_peer(rib, "10.0.0.2", asn=65001)
    add_peer(rib, "10.0.0.3", asn=65001)
    seq = AsPathSegmentType.AS_SEQUENCE
    # 65001 + {1,2,3} = length 2; confed (4 ASes) + 65001 65005 65006 = length 3.
    set_path = (AsPathSegment(seq, (65001,)), AsPathSegment(AsPathSegmentType.AS_SET, (1, 2, 3)))
    confed = (
        AsPathSegment(AsPathSegmentType.AS_CONFED_SEQUENCE, (1, 2, 3, 4)),
        AsPathSegment(seq, (65001, 65005, 65006)),
    )
    rib.apply_update("10.0.0.2", announce(attributes(segments=confed), P))
    rib.apply_update("10.0.0.3", announce(attributes(segments=set_path), P))
    assert _winner(rib) == ("10.0.0.3", BestPathReason.AS_PATH_LENGTH)


def test_origin() -> None:
    rib = make_rib()
    add_peer(rib, "10.0.0.2")
    add_peer(rib, "10.0.0.3")
    rib.apply_update("10.0.0.2", announce(attributes(origin=2), P))
    rib.apply_update("10.0.0.3", announce(attributes(origin=1), P))
    assert _winner(rib) == ("10.0.0.3", BestPathReason.ORIGIN)


def test_med_same_neighbour_as() -> None:
    rib = make_rib()
    add_peer(rib, "10.0.0.2", asn=65001)
    add_peer(rib, "10.0.0.3", asn=65001)
    rib.apply_update("10.0.0.3", announce(attributes(as_path=(65001,), med=20), P))
    rib.apply_update("10.0.0.2", announce(attributes(as_path=(65001,), med=10), P))
    assert _winner(rib) == ("10.0.0.2", BestPathReason.MED)


def test_missing_med_is_zero() -> None:
    rib = make_rib()
    add_peer(rib, "10.0.0.2", asn=65001)
    add_peer(rib, "10.0.0.3", asn=65001)
    rib.apply_update("10.0.0.2", announce(attributes(as_path=(65001,), med=5), P))
    rib.apply_update("10.0.0.3", announce(attributes(as_path=(65001,)), P))
    assert _winner(rib) == ("10.0.0.3", BestPathReason.MED)


def test_med_not_compared_across_neighbour_as() -> None:
    rib = make_rib()
    add_peer(rib, "10.0.0.2", asn=65001, router_id="9.9.9.9")
    add_peer(rib, "10.0.0.3", asn=65002, router_id="1.1.1.1")
    rib.apply_update("10.0.0.2", announce(attributes(as_path=(65001,), med=10), P))
    rib.apply_update("10.0.0.3", announce(attributes(as_path=(65002,), med=20), P))
    # MED differs but the neighbour ASes differ: decided by router id instead.
    assert _winner(rib) == ("10.0.0.3", BestPathReason.ROUTER_ID)


def test_always_compare_med() -> None:
    rib = make_rib(always_compare_med=True)
    add_peer(rib, "10.0.0.2", asn=65001, router_id="9.9.9.9")
    add_peer(rib, "10.0.0.3", asn=65002, router_id="1.1.1.1")
    rib.apply_update("10.0.0.2", announce(attributes(as_path=(65001,), med=10), P))
    rib.apply_update("10.0.0.3", announce(attributes(as_path=(65002,), med=20), P))
    assert _winner(rib) == ("10.0.0.2", BestPathReason.MED)


def test_ebgp_over_ibgp() -> None:
    rib = make_rib()
    add_peer(rib, "10.0.0.2", router_id="1.1.1.1")  # iBGP, lower router id
    add_peer(rib, "10.0.0.3", asn=65001, router_id="9.9.9.9")
    rib.apply_update("10.0.0.2", announce(attributes(as_path=(65001,)), P))
    rib.apply_update("10.0.0.3", announce(attributes(as_path=(65001,)), P))
    assert _winner(rib) == ("10.0.0.3", BestPathReason.EBGP_OVER_IBGP)


def test_cluster_list_length() -> None:
    rib = make_rib()
    add_peer(rib, "10.0.0.2", router_id="1.1.1.1")
    add_peer(rib, "10.0.0.3", router_id="9.9.9.9")
    rib.apply_update(
        "10.0.0.2",
        announce(attributes(originator_id="5.5.5.5", cluster_list=("7.7.7.7", "8.8.8.8")), P),
    )
    rib.apply_update(
        "10.0.0.3", announce(attributes(originator_id="5.5.5.5", cluster_list=("7.7.7.7",)), P)
    )
    assert _winner(rib) == ("10.0.0.3", BestPathReason.CLUSTER_LIST_LENGTH)


def test_router_id() -> None:
    rib = make_rib()
    add_peer(rib, "10.0.0.2", router_id="9.9.9.9")
    add_peer(rib, "10.0.0.3", router_id="1.1.1.1")
    rib.apply_update("10.0.0.2", announce(attributes(), P))
    rib.apply_update("10.0.0.3", announce(attributes(), P))
    assert _winner(rib) == ("10.0.0.3", BestPathReason.ROUTER_ID)


def test_originator_id_stands_in_for_router_id() -> None:
    rib = make_rib()
    add_peer(rib, "10.0.0.2", router_id="1.1.1.1")
    add_peer(rib, "10.0.0.3", router_id="9.9.9.9")
    rib.apply_update(
        "10.0.0.2", announce(attributes(originator_id="8.8.8.8", cluster_list=("7.7.7.7",)), P)
    )
    rib.apply_update(
        "10.0.0.3", announce(attributes(originator_id="2.2.2.2", cluster_list=("7.7.7.7",)), P)
    )
    assert _winner(rib) == ("10.0.0.3", BestPathReason.ROUTER_ID)


def test_peer_address() -> None:
    rib = make_rib()
    add_peer(rib, "10.0.0.3", router_id="5.5.5.5")
    add_peer(rib, "10.0.0.2", router_id="5.5.5.5")
    rib.apply_update("10.0.0.3", announce(attributes(), P))
    rib.apply_update("10.0.0.2", announce(attributes(), P))
    assert _winner(rib) == ("10.0.0.2", BestPathReason.PEER_ADDRESS)


def test_withdraw_best_falls_back_and_reports_reason() -> None:
    rib = make_rib()
    add_peer(rib, "10.0.0.2")
    add_peer(rib, "10.0.0.3")
    rib.apply_update("10.0.0.2", announce(attributes(local_pref=200), P))
    rib.apply_update("10.0.0.3", announce(attributes(), P))
    from rib_helpers import withdraw

    out = rib.apply_update("10.0.0.2", withdraw(P))
    assert [c.new[0].peer_id for c in out.changes] == ["10.0.0.3"]
    assert out.changes[0].reason is BestPathReason.ONLY_PATH
    out = rib.apply_update("10.0.0.3", withdraw(P))
    assert out.changes[0].new == () and out.changes[0].reason is BestPathReason.WITHDRAWN
    assert rib.prefix_count(IPV4_UNICAST) == 0


def test_multipath_ecmp_set_and_next_hop_collapse() -> None:
    rib = make_rib(multipath=4)
    add_peer(rib, "10.0.0.2", asn=65001, router_id="2.2.2.2")
    add_peer(rib, "10.0.0.3", asn=65001, router_id="3.3.3.3")
    add_peer(rib, "10.0.0.4", asn=65001, router_id="4.4.4.4")
    add_peer(rib, "10.0.0.5", asn=65001, router_id="5.5.5.5")
    a = attributes(as_path=(65001,), next_hop="192.0.2.2")
    rib.apply_update("10.0.0.3", announce(attributes(as_path=(65001,), next_hop="192.0.2.3"), P))
    rib.apply_update("10.0.0.2", announce(a, P))
    # Same next hop as 10.0.0.2's path: collapses. Longer AS_PATH: not equal cost.
    rib.apply_update("10.0.0.4", announce(attributes(as_path=(65001,), next_hop="192.0.2.2"), P))
    out = rib.apply_update(
        "10.0.0.5", announce(attributes(as_path=(65001, 65001), next_hop="192.0.2.5"), P)
    )
    assert out.changes == ()  # a worse path does not change the selection
    selected = rib.best(IPV4_UNICAST, pfx(P))
    assert [p.peer_id for p in selected] == ["10.0.0.2", "10.0.0.3"]
    assert [p.next_hop for p in selected] == [IPv4Address("192.0.2.2"), IPv4Address("192.0.2.3")]
    entry = rib.lookup(IPV4_UNICAST, pfx(P))
    assert entry is not None and entry.selected == 2 and len(entry.paths) == 4


def test_multipath_needs_same_med_and_type() -> None:
    rib = make_rib(multipath=4)
    add_peer(rib, "10.0.0.2", asn=65001, router_id="2.2.2.2")
    add_peer(rib, "10.0.0.3", asn=65002, router_id="3.3.3.3")
    add_peer(rib, "10.0.0.4", router_id="4.4.4.4")
    rib.apply_update(
        "10.0.0.2", announce(attributes(as_path=(65001,), med=1, next_hop="192.0.2.2"), P)
    )
    rib.apply_update(
        "10.0.0.3", announce(attributes(as_path=(65002,), med=2, next_hop="192.0.2.3"), P)
    )
    rib.apply_update(
        "10.0.0.4", announce(attributes(as_path=(65003,), med=1, next_hop="192.0.2.4"), P)
    )
    assert [p.peer_id for p in rib.best(IPV4_UNICAST, pfx(P))] == ["10.0.0.2"]

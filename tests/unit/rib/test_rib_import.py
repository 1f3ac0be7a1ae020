"""Import side: loop prevention, RFC 7606 actions, peer down, counters, import policies."""

from __future__ import annotations

import attrs
from rib_helpers import (
    add_peer,
    announce,
    announce6,
    attributes,
    make_rib,
    pfx,
    withdraw,
    withdraw6,
)

from pybgp.rib import BestPathReason, Route
from pybgp.wire.constants import IPV4_UNICAST, IPV6_UNICAST
from pybgp.wire.update import ErrorAction, Update, UpdateResult

P = "10.1.0.0/16"
Q = "10.2.0.0/16"


def test_loop_own_as_rejected() -> None:
    rib = make_rib()
    add_peer(rib, "10.0.0.2", asn=65001)
    out = rib.apply_update("10.0.0.2", announce(attributes(as_path=(65001, 65000, 65009)), P))
    assert out.changes == () and rib.prefix_count(IPV4_UNICAST) == 0
    assert any("AS_PATH holds local AS 65000" in n for n in out.notes)
    counters = rib.peer_counters("10.0.0.2")
    assert (counters.received, counters.accepted) == (1, 0)


def test_loop_allow_own_as() -> None:
    rib = make_rib()
    add_peer(rib, "10.0.0.2", asn=65001, allow_own_as=1)
    rib.apply_update("10.0.0.2", announce(attributes(as_path=(65001, 65000)), P))
    assert rib.prefix_count(IPV4_UNICAST) == 1
    rib.apply_update("10.0.0.2", announce(attributes(as_path=(65001, 65000, 65000)), Q))
    assert rib.best(IPV4_UNICAST, pfx(Q)) == ()


def test_loop_rejection_replaces_accepted_path() -> None:
    rib = make_rib()
    add_peer(rib, "10.0.0.2", asn=65001)
    rib.apply_update("10.0.0.2", announce(attributes(as_path=(65001,)), P))
    out = rib.apply_update("10.0.0.2", announce(attributes(as_path=(65001, 65000)), P))
    assert [c.reason for c in out.changes] == [BestPathReason.WITHDRAWN]
    assert rib.prefix_count(IPV4_UNICAST) == 0


def test_own_originator_id_rejected() -> None:
    rib = make_rib(router_id="10.0.0.1")
    add_peer(rib, "10.0.0.2")
    rib.apply_update("10.0.0.2", announce(attributes(originator_id="10.0.0.1"), P))
    assert rib.prefix_count(IPV4_UNICAST) == 0


def test_own_cluster_id_rejected() -> None:
    rib = make_rib(cluster_id="1.1.1.1")
    add_peer(rib, "10.0.0.2")
    rib.apply_update(
        "10.0.0.2",
        announce(attributes(originator_id="10.0.0.9", cluster_list=("2.2.2.2", "1.1.1.1")), P),
    )
    assert rib.prefix_count(IPV4_UNICAST) == 0
    rib.apply_update(
        "10.0.0.2", announce(attributes(originator_id="10.0.0.9", cluster_list=("2.2.2.2",)), Q)
    )
    assert rib.prefix_count(IPV4_UNICAST) == 1


def test_treat_as_withdraw_withdraws_exactly_that_updates_nlri() -> None:
    rib = make_rib()
    add_peer(rib, "10.0.0.2", families=(IPV4_UNICAST, IPV6_UNICAST))
    rib.apply_update("10.0.0.2", announce(attributes(), P, Q, "10.3.0.0/16"))
    rib.apply_update("10.0.0.2", announce6(attributes(), "2001:db8::1", "2001:db8:1::/48"))
    assert rib.prefix_count(IPV4_UNICAST) == 3 and rib.prefix_count(IPV6_UNICAST) == 1
    bad = announce(attributes(), P)
    mp = announce6(attributes(), "2001:db8::1", "2001:db8:1::/48").update.attributes.mp_reach
    assert mp is not None
    update = Update((pfx(Q),), bad.update.attributes.replace(mp), bad.update.nlri)
    result = UpdateResult(update, ErrorAction.TREAT_AS_WITHDRAW, ("bad ORIGIN",), frozenset())
    out = rib.apply_update("10.0.0.2", result)
    assert sorted(c.prefix for c in out.changes) == sorted([pfx(P), pfx(Q), pfx("2001:db8:1::/48")])
    assert all(c.new == () for c in out.changes)
    assert rib.prefix_count(IPV4_UNICAST) == 1 and rib.prefix_count(IPV6_UNICAST) == 0
    assert any("bad ORIGIN" in n for n in out.notes)


def test_attribute_discard_applies_update() -> None:
    # ATTRIBUTE_DISCARD: the codec already dropped the attribute; the rest is applied.
    rib = make_rib()
    add_peer(rib, "10.0.0.2")
    base = announce(attributes(), P)
    out = rib.apply_update(
        "10.0.0.2",
        UpdateResult(base.update, ErrorAction.ATTRIBUTE_DISCARD, ("MED dropped",), frozenset()),
    )
    assert len(out.changes) == 1 and rib.prefix_count(IPV4_UNICAST) == 1


def test_afi_safi_disable_drops_family_and_ignores_it() -> None:
    rib = make_rib()
    add_peer(rib, "10.0.0.2", families=(IPV4_UNICAST, IPV6_UNICAST))
    rib.apply_update("10.0.0.2", announce(attributes(), P))
    rib.apply_update("10.0.0.2", announce6(attributes(), "2001:db8::1", "2001:db8:1::/48"))
    empty = Update((), attributes(next_hop=None).without(1, 2), ())
    result = UpdateResult(
        empty, ErrorAction.AFI_SAFI_DISABLE, ("bad MP_REACH",), frozenset({IPV6_UNICAST})
    )
    out = rib.apply_update("10.0.0.2", result)
    assert [c.prefix for c in out.changes] == [pfx("2001:db8:1::/48")]
    assert rib.disabled_families("10.0.0.2") == {IPV6_UNICAST}
    rib.apply_update("10.0.0.2", announce6(attributes(), "2001:db8::1", "2001:db8:2::/48"))
    assert rib.prefix_count(IPV6_UNICAST) == 0 and rib.prefix_count(IPV4_UNICAST) == 1


def test_peer_down_withdraws_its_routes_only() -> None:
    rib = make_rib()
    add_peer(rib, "10.0.0.2")
    add_peer(rib, "10.0.0.3")
    rib.apply_update("10.0.0.2", announce(attributes(local_pref=200), P, Q))
    rib.apply_update("10.0.0.3", announce(attributes(), P))
    out = rib.peer_down("10.0.0.2")
    by_prefix = {c.prefix: c for c in out.changes}
    assert by_prefix[pfx(P)].new[0].peer_id == "10.0.0.3"
    assert by_prefix[pfx(Q)].new == ()
    assert rib.prefix_count(IPV4_UNICAST) == 1
    assert rib.peer_counters("10.0.0.2").received == 0


def test_counters_and_routes_query() -> None:
    rib = make_rib()
    add_peer(rib, "10.0.0.2")
    add_peer(rib, "10.0.0.3", asn=65001)
    rib.apply_update("10.0.0.2", announce(attributes(), P, Q))
    rib.apply_update("10.0.0.2", withdraw(Q))
    counters = rib.peer_counters("10.0.0.2")
    assert (counters.received, counters.accepted) == (1, 1)
    # The iBGP-learned P went out to the eBGP peer.
    assert rib.peer_counters("10.0.0.3").advertised == 1
    entries = list(rib.routes())
    assert [(e.prefix, e.best.peer_id, e.reason.describe()) for e in entries] == [
        (pfx(P), "10.0.0.2", "only path")
    ]


def test_ipv6_withdraw() -> None:
    rib = make_rib()
    add_peer(rib, "10.0.0.2", families=(IPV4_UNICAST, IPV6_UNICAST))
    rib.apply_update("10.0.0.2", announce6(attributes(), "2001:db8::1", "2001:db8:1::/48"))
    path = rib.best(IPV6_UNICAST, pfx("2001:db8:1::/48"))[0]
    assert str(path.next_hop) == "2001:db8::1" and path.attributes.mp_reach is None
    rib.apply_update("10.0.0.2", withdraw6("2001:db8:1::/48"))
    assert rib.prefix_count(IPV6_UNICAST) == 0


# ---------------------------------------------------------------- import policies


def _prefer_community(route: Route) -> Route | None:
    if 65000 * 65536 + 666 in route.communities:
        return None  # reject
    if 65000 * 65536 + 200 in route.communities:
        return attrs.evolve(route, local_pref=200)
    return route


def test_import_policy_rejects_and_sets_local_pref() -> None:
    rib = make_rib()
    add_peer(rib, "10.0.0.2", import_policy=_prefer_community)
    add_peer(rib, "10.0.0.3")
    rib.apply_update("10.0.0.3", announce(attributes(), P))
    rib.apply_update("10.0.0.2", announce(attributes(communities=(65000 * 65536 + 200,)), P))
    rib.apply_update("10.0.0.2", announce(attributes(communities=(65000 * 65536 + 666,)), Q))
    entry = rib.lookup(IPV4_UNICAST, pfx(P))
    assert entry is not None and entry.best.peer_id == "10.0.0.2"
    assert entry.best.local_pref == 200 and entry.reason is BestPathReason.LOCAL_PREF
    assert rib.best(IPV4_UNICAST, pfx(Q)) == ()
    counters = rib.peer_counters("10.0.0.2")
    assert (counters.received, counters.accepted) == (2, 1)


def test_import_policy_sees_network_lazily() -> None:
    seen = []

    def only_slash16(route: Route) -> Route | None:
        seen.append(str(route.network))
        return route if route.network.prefixlen == 16 else None

    rib = make_rib()
    add_peer(rib, "10.0.0.2", import_policy=only_slash16)
    rib.apply_update("10.0.0.2", announce(attributes(), P, "10.9.9.0/24"))
    assert seen == [P, "10.9.9.0/24"]
    assert rib.prefix_count(IPV4_UNICAST) == 1


def test_set_policies_soft_reconfiguration_reapplies_import() -> None:
    rib = make_rib(soft_reconfiguration_inbound=True)
    add_peer(rib, "10.0.0.2")
    rib.apply_update("10.0.0.2", announce(attributes(), P, Q))
    out = rib.set_policies("10.0.0.2", import_=lambda r: r if r.prefix == pfx(P) else None)
    assert [(c.prefix, c.new) for c in out.changes] == [(pfx(Q), ())]
    assert "10.0.0.2" not in out.messages  # nothing asked of the peer
    out = rib.set_policies("10.0.0.2", import_=None)
    assert [c.prefix for c in out.changes] == [pfx(Q)] and rib.prefix_count(IPV4_UNICAST) == 2


def test_set_policies_without_soft_reconfiguration_asks_route_refresh() -> None:
    rib = make_rib()
    add_peer(rib, "10.0.0.2", route_refresh=True)
    out = rib.set_policies("10.0.0.2", import_=lambda r: None)
    (message,) = out.messages["10.0.0.2"]
    assert message[18] == 5  # ROUTE-REFRESH
    # The peer re-sends: the new policy applies and the accepted route is replaced.
    rib2 = make_rib()
    add_peer(rib2, "10.0.0.2", route_refresh=True)
    rib2.apply_update("10.0.0.2", announce(attributes(), P))
    rib2.set_policies("10.0.0.2", import_=lambda r: None)
    out = rib2.apply_update("10.0.0.2", announce(attributes(), P))
    assert [c.new for c in out.changes] == [()]


def test_enhanced_route_refresh_from_peer_sweeps_stale_routes() -> None:
    from pybgp.wire.constants import RouteRefreshSubcode

    rib = make_rib()
    add_peer(rib, "10.0.0.2", enhanced_route_refresh=True)
    rib.apply_update("10.0.0.2", announce(attributes(), P, Q))
    out = rib.route_refresh("10.0.0.2", IPV4_UNICAST, RouteRefreshSubcode.BEGIN)
    assert out.changes == () and "10.0.0.2" not in out.messages  # BoRR is not a request
    rib.apply_update("10.0.0.2", announce(attributes(), P))  # P re-sent, Q not
    out = rib.route_refresh("10.0.0.2", IPV4_UNICAST, RouteRefreshSubcode.END)
    assert [(c.prefix, c.new) for c in out.changes] == [(pfx(Q), ())]
    assert rib.best(IPV4_UNICAST, pfx(P))[0].peer_id == "10.0.0.2"

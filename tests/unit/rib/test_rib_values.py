"""The public values: Route view and policy folding, ChangeList, decide() over many paths."""

from __future__ import annotations

from ipaddress import IPv4Address

import attrs
import pytest
from rib_helpers import add_peer, announce, attributes, make_rib, pfx

import pybgp.rib.importing as importing_module
import pybgp.rib.peer as peer_module
from pybgp.rib import BestPathReason, ChangeList, Path, decide, make_route
from pybgp.rib.policy import apply_route
from pybgp.wire.constants import IPV4_UNICAST


def _path(peer: str, router_id: str, asn: int, med: int, ibgp: bool = False) -> Path:
    return Path(
        peer,
        attributes(as_path=(asn,), med=med, next_hop=peer),
        IPv4Address(peer),
        ibgp=ibgp,
        peer_router_id=IPv4Address(router_id),
        peer_address=IPv4Address(peer),
    )


def test_route_view_and_apply_route() -> None:
    a = attributes(as_path=(65001, 65002), med=5, communities=(1,))
    route = make_route(IPV4_UNICAST, pfx("10.1.0.0/16"), a, IPv4Address("192.0.2.1"), "10.0.0.2")
    assert str(route.network) == "10.1.0.0/16" and str(route) == "10.1.0.0/16"
    assert route.as_path == (65001, 65002) and route.med == 5 and route.local_pref is None
    same, hop = apply_route(route, route, a)
    assert same is a and hop == IPv4Address("192.0.2.1")
    changed = attrs.evolve(route.prepend(64999, 2).with_communities(2), local_pref=300, med=None)
    result, _ = apply_route(route, changed, a)
    assert result.as_path is not None
    assert tuple(result.as_path.asns()) == (64999, 64999, 65001, 65002)
    assert result.local_pref is not None and result.local_pref.value == 300
    assert result.med is None
    assert result.communities is not None and result.communities.values == (1, 2)


def test_no_policy_builds_no_route(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*args: object, **kwargs: object) -> None:
        raise AssertionError("a Route was built without a policy")

    monkeypatch.setattr(importing_module, "make_route", boom)
    monkeypatch.setattr(peer_module, "make_route", boom)
    rib = make_rib()
    add_peer(rib, "10.0.0.2")
    add_peer(rib, "172.16.0.2", asn=65010)
    out = rib.apply_update("10.0.0.2", announce(attributes(), "10.1.0.0/16"))
    assert len(out.changes) == 1 and "172.16.0.2" in out.messages


def test_change_list_groups_and_sequence() -> None:
    rib = make_rib()
    add_peer(rib, "10.0.0.2")
    out = rib.apply_update("10.0.0.2", announce(attributes(), "10.1.0.0/16", "10.2.0.0/16"))
    changes = out.changes
    assert isinstance(changes, ChangeList) and len(changes) == 2
    assert len(changes.groups()) == 1  # one group for the whole UPDATE
    assert changes[-1].prefix == pfx("10.2.0.0/16") and changes[0].prefix == pfx("10.1.0.0/16")
    assert [c.prefix for c in changes[0:1]] == [pfx("10.1.0.0/16")]
    assert changes == tuple(changes) and changes != ()
    with pytest.raises(IndexError):
        changes[2]


def test_decide_med_is_per_neighbour_as_among_three() -> None:
    a = _path("10.0.0.2", "2.2.2.2", 65001, 10)
    b = _path("10.0.0.3", "3.3.3.3", 65001, 5)
    c = _path("10.0.0.4", "4.4.4.4", 65002, 50)
    selected, reason = decide([a, b, c])
    # a loses to b on MED (same AS); b and c are not MED-comparable: router id decides.
    assert selected == (b,) and reason is BestPathReason.ROUTER_ID
    selected, reason = decide([a, b, c], always_compare_med=True)
    assert selected == (b,) and reason is BestPathReason.MED


def test_decide_multipath_limit() -> None:
    paths = [_path(f"10.0.0.{i}", f"9.9.9.{i}", 65001, 0) for i in range(2, 7)]
    selected, reason = decide(paths, multipath=3)
    assert [p.peer_id for p in selected] == ["10.0.0.2", "10.0.0.3", "10.0.0.4"]
    assert reason is BestPathReason.ROUTER_ID


def test_reasons_have_words() -> None:
    assert {r.describe() for r in BestPathReason} >= {"higher local-pref", "lower MED"}
    assert len({r.describe() for r in BestPathReason}) == len(BestPathReason)

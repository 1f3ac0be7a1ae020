"""ADD-PATH (RFC 7911) in the RIB: several paths per prefix received from one peer, decided
over, withdrawn by id; several paths per prefix sent ("all", N), with stable ids of ours."""

from __future__ import annotations

from collections.abc import Sequence
from ipaddress import IPv4Address, IPv6Address, ip_address, ip_interface

import attrs
from rib_helpers import LOCAL_AS, add_peer, announce, attributes, make_rib, pfx, withdraw

from pybgp.kernel import KernelSync, MemoryInstaller, prefix_text
from pybgp.rib import BestPathReason, PeerInfo, Rib, RibOutput, Route
from pybgp.rib.export import end_of_rib
from pybgp.wire.attributes import MpReachNlri, MpUnreachNlri, PathAttributes
from pybgp.wire.constants import IPV4_UNICAST, IPV6_UNICAST, Family
from pybgp.wire.negotiated import Negotiated
from pybgp.wire.nlri import prefix_to_str
from pybgp.wire.update import ErrorAction, Update, UpdateResult, decode_update

P = "10.1.0.0/16"
Q = "10.2.0.0/16"
BOTH = (IPV4_UNICAST, IPV6_UNICAST)


def ap_peer(
    rib: Rib,
    address: str,
    *,
    receive: Sequence[Family] = (),
    send: Sequence[Family] = (),
    families: Sequence[Family] = (IPV4_UNICAST,),
    router_id: str | None = None,
    **info: object,
) -> RibOutput:
    """Configure and bring up a peer whose session negotiated ADD-PATH ``receive``/``send``."""
    rib.add_peer(
        PeerInfo(
            peer_id=address,
            address=ip_address(address),
            asn=int(info.pop("asn", LOCAL_AS)),  # type: ignore[call-overload]
            local_as=rib.local_as,
            local_address=IPv4Address("10.0.0.1"),
            families=frozenset(families),
            **info,  # type: ignore[arg-type]
        )
    )
    negotiated = Negotiated(
        families=frozenset(families),
        add_path_receive=frozenset(receive),
        add_path_send=frozenset(send),
        local_as=rib.local_as,
        peer_as=LOCAL_AS,
    )
    return rib.peer_up(address, negotiated, IPv4Address(router_id or address))


def announce_ids(attrs_: PathAttributes, path_id: int, *prefixes: str) -> UpdateResult:
    """An IPv4 UPDATE announcing ``prefixes`` with path id ``path_id``."""
    keys = tuple(pfx(p) for p in prefixes)
    update = Update((), attrs_, keys, nlri_path_ids=(path_id,) * len(keys))
    return UpdateResult(update, ErrorAction.NONE, (), frozenset())


def withdraw_ids(path_id: int, *prefixes: str) -> UpdateResult:
    keys = tuple(pfx(p) for p in prefixes)
    update = Update(keys, PathAttributes(()), (), withdrawn_path_ids=(path_id,) * len(keys))
    return UpdateResult(update, ErrorAction.NONE, (), frozenset())


def sent_paths(
    output: RibOutput, peer_id: str, families: Sequence[Family] = (IPV4_UNICAST,)
) -> tuple[dict[tuple[str, int], PathAttributes], list[tuple[str, int]]]:
    """Decode what ``output`` sends ``peer_id`` with ADD-PATH: ({(prefix, id): attributes},
    [(prefix, id) withdrawn])."""
    neg = Negotiated(families=frozenset(BOTH), add_path_receive=frozenset(families))
    announced: dict[tuple[str, int], PathAttributes] = {}
    gone: list[tuple[str, int]] = []
    for message in output.messages.get(peer_id, ()):
        if message[18] != 2:
            continue
        update = decode_update(message[19:], neg).update
        if update.end_of_rib is not None:
            continue
        mp = update.attributes.mp_reach
        if mp is not None:
            assert mp.path_ids is not None
            for key, i in zip(mp.nlri, mp.path_ids, strict=True):
                announced[(prefix_to_str(key, mp.afi), i)] = update.attributes
        unreach = update.attributes.mp_unreach
        if unreach is not None:
            assert unreach.path_ids is not None
            gone += [
                (prefix_to_str(k, unreach.afi), i)
                for k, i in zip(unreach.withdrawn, unreach.path_ids, strict=True)
            ]
        if update.nlri or update.withdrawn:
            assert IPV4_UNICAST in families
            assert update.nlri_path_ids is not None or not update.nlri
            assert update.withdrawn_path_ids is not None or not update.withdrawn
        for key, i in zip(update.nlri, update.nlri_path_ids or (), strict=True):
            announced[(prefix_to_str(key, 1), i)] = update.attributes
        gone += [
            (prefix_to_str(k, 1), i)
            for k, i in zip(update.withdrawn, update.withdrawn_path_ids or (), strict=True)
        ]
    return announced, gone


def next_hop_of(a: PathAttributes) -> str:
    assert a.next_hop is not None
    return str(a.next_hop.address)


def selected(rib: Rib, prefix: str = P) -> list[tuple[str | None, int, str]]:
    return [(p.peer_id, p.path_id, str(p.next_hop)) for p in rib.best(IPV4_UNICAST, pfx(prefix))]


# ------------------------------------------------------------------------------- receive


def test_several_paths_from_one_peer_are_all_kept_and_decided() -> None:
    rib = make_rib()
    ap_peer(rib, "10.0.0.9", receive=[IPV4_UNICAST])
    rib.apply_update("10.0.0.9", announce_ids(attributes(next_hop="10.0.0.20"), 2, P))
    out = rib.apply_update("10.0.0.9", announce_ids(attributes(next_hop="10.0.0.10"), 1, P))
    entry = rib.lookup(IPV4_UNICAST, pfx(P))
    assert entry is not None and len(entry.paths) == 2
    # Everything else equal: the lower received path id wins (the last tie-breaker).
    assert (entry.best.path_id, entry.reason) == (1, BestPathReason.PATH_ID)
    assert BestPathReason.PATH_ID.describe() == "lower path id"
    assert [c.new[0].path_id for c in out.changes] == [1]
    counters = rib.peer_counters("10.0.0.9")
    assert (counters.received, counters.accepted) == (2, 2)  # paths, not prefixes
    assert sorted(p.path_id for p in rib.adj_rib_in("10.0.0.9", IPV4_UNICAST).values()) == [1, 2]


def test_decision_runs_over_the_paths_of_one_peer_and_other_peers() -> None:
    rib = make_rib()
    ap_peer(rib, "10.0.0.9", receive=[IPV4_UNICAST])
    add_peer(rib, "10.0.0.2")
    rib.apply_update("10.0.0.9", announce_ids(attributes(as_path=(1, 2)), 1, P))
    rib.apply_update("10.0.0.2", announce(attributes(as_path=(1, 2)), P))
    rib.apply_update("10.0.0.9", announce_ids(attributes(as_path=(1,)), 7, P))
    entry = rib.lookup(IPV4_UNICAST, pfx(P))
    assert entry is not None and len(entry.paths) == 3
    assert (entry.best.peer_id, entry.best.path_id) == ("10.0.0.9", 7)
    assert entry.reason is BestPathReason.AS_PATH_LENGTH
    # Path 7 withdrawn: the two 2-AS paths remain; 10.0.0.2 has the lower router id.
    rib.apply_update("10.0.0.9", withdraw_ids(7, P))
    entry = rib.lookup(IPV4_UNICAST, pfx(P))
    assert entry is not None and len(entry.paths) == 2
    assert entry.best.peer_id == "10.0.0.2" and entry.reason is BestPathReason.ROUTER_ID


def test_withdraw_by_path_id_removes_that_path_only() -> None:
    rib = make_rib()
    ap_peer(rib, "10.0.0.9", receive=[IPV4_UNICAST])
    rib.apply_update("10.0.0.9", announce_ids(attributes(next_hop="10.0.0.10"), 1, P, Q))
    rib.apply_update("10.0.0.9", announce_ids(attributes(next_hop="10.0.0.20"), 2, P, Q))
    out = rib.apply_update("10.0.0.9", withdraw_ids(1, P))
    assert selected(rib) == [("10.0.0.9", 2, "10.0.0.20")]
    assert [(c.old[0].path_id, c.new[0].path_id) for c in out.changes] == [(1, 2)]
    assert len(rib.lookup(IPV4_UNICAST, pfx(Q)).paths) == 2  # type: ignore[union-attr]
    # A withdrawal of an id never announced changes nothing.
    assert not rib.apply_update("10.0.0.9", withdraw_ids(3, P)).changes
    out = rib.apply_update("10.0.0.9", withdraw_ids(2, P))
    assert rib.lookup(IPV4_UNICAST, pfx(P)) is None
    assert out.changes[0].reason is BestPathReason.WITHDRAWN


def test_same_path_id_again_replaces_that_path() -> None:
    rib = make_rib()
    ap_peer(rib, "10.0.0.9", receive=[IPV4_UNICAST])
    rib.apply_update("10.0.0.9", announce_ids(attributes(next_hop="10.0.0.10"), 1, P))
    rib.apply_update("10.0.0.9", announce_ids(attributes(next_hop="10.0.0.20"), 2, P))
    rib.apply_update("10.0.0.9", announce_ids(attributes(next_hop="10.0.0.30"), 1, P))
    entry = rib.lookup(IPV4_UNICAST, pfx(P))
    assert entry is not None
    assert sorted((p.path_id, str(p.next_hop)) for p in entry.paths) == [
        (1, "10.0.0.30"),
        (2, "10.0.0.20"),
    ]


def test_ecmp_over_paths_of_one_peer_with_different_next_hops() -> None:
    # The client of an ADD-PATH reflector: two originators, one peer, two next hops.
    rib = make_rib(multipath=4)
    ap_peer(rib, "10.0.0.9", receive=[IPV4_UNICAST])
    a = attributes(next_hop="10.0.0.2", originator_id="10.0.0.2", cluster_list=("10.0.0.9",))
    b = attributes(next_hop="10.0.0.3", originator_id="10.0.0.3", cluster_list=("10.0.0.9",))
    rib.apply_update("10.0.0.9", announce_ids(a, 1, P))
    out = rib.apply_update("10.0.0.9", announce_ids(b, 2, P))
    assert [hop for _, _, hop in selected(rib)] == ["10.0.0.2", "10.0.0.3"]
    assert [str(p.next_hop) for p in out.changes[0].new] == ["10.0.0.2", "10.0.0.3"]
    out = rib.apply_update("10.0.0.9", withdraw_ids(1, P))
    assert [str(p.next_hop) for p in out.changes[0].new] == ["10.0.0.3"]


def test_ipv6_paths_by_id_and_treat_as_withdraw() -> None:
    rib = make_rib()
    ap_peer(rib, "10.0.0.9", receive=BOTH, families=BOTH)
    six = "2001:db8:1::/48"
    for path_id, hop in ((1, "2001:db8::10"), (2, "2001:db8::20")):
        mp = MpReachNlri(2, 1, (IPv6Address(hop),), (pfx(six),), (path_id,))
        update = Update((), attributes(next_hop=None).replace(mp), ())
        rib.apply_update("10.0.0.9", UpdateResult(update, ErrorAction.NONE, (), frozenset()))
    assert len(rib.lookup(IPV6_UNICAST, pfx(six)).paths) == 2  # type: ignore[union-attr]
    unreach = MpUnreachNlri(2, 1, (pfx(six),), (1,))
    rib.apply_update(
        "10.0.0.9",
        UpdateResult(Update((), PathAttributes((unreach,)), ()), ErrorAction.NONE, (), frozenset()),
    )
    assert [p.path_id for p in rib.best(IPV6_UNICAST, pfx(six))] == [2]
    # RFC 7606 treat-as-withdraw withdraws the (prefix, id) pairs the UPDATE names.
    rib.apply_update("10.0.0.9", announce_ids(attributes(), 1, P))
    rib.apply_update("10.0.0.9", announce_ids(attributes(), 2, P))
    bad = announce_ids(attributes(), 2, P)
    rib.apply_update("10.0.0.9", attrs.evolve(bad, action=ErrorAction.TREAT_AS_WITHDRAW))
    assert [p.path_id for p in rib.best(IPV4_UNICAST, pfx(P))] == [1]


def test_import_policy_and_refresh_sweep_work_per_path() -> None:
    def no_twenty(route: Route) -> Route | None:
        return None if str(route.next_hop) == "10.0.0.20" else route

    rib = make_rib()
    ap_peer(rib, "10.0.0.9", receive=[IPV4_UNICAST], import_policy=no_twenty)
    rib.apply_update("10.0.0.9", announce_ids(attributes(next_hop="10.0.0.10"), 1, P))
    rib.apply_update("10.0.0.9", announce_ids(attributes(next_hop="10.0.0.20"), 2, P))
    assert selected(rib) == [("10.0.0.9", 1, "10.0.0.10")]
    counters = rib.peer_counters("10.0.0.9")
    assert (counters.received, counters.accepted) == (2, 1)
    # RFC 7313: BoRR marks every path stale; only path 1 is re-sent; EoRR sweeps the rest.
    rib.apply_update("10.0.0.9", announce_ids(attributes(next_hop="10.0.0.11"), 3, P))
    rib.route_refresh("10.0.0.9", IPV4_UNICAST, 1)
    rib.apply_update("10.0.0.9", announce_ids(attributes(next_hop="10.0.0.10"), 1, P))
    rib.route_refresh("10.0.0.9", IPV4_UNICAST, 2)
    entry = rib.lookup(IPV4_UNICAST, pfx(P))
    assert entry is not None and [p.path_id for p in entry.paths] == [1]


def test_peer_without_add_path_unchanged() -> None:
    # Without ADD-PATH a second announcement replaces the peer's path; ids are not kept.
    rib = make_rib()
    add_peer(rib, "10.0.0.2")
    ap_peer(rib, "10.0.0.9", receive=[IPV4_UNICAST])
    rib.apply_update("10.0.0.2", announce(attributes(next_hop="10.0.0.10"), P))
    rib.apply_update("10.0.0.2", announce(attributes(next_hop="10.0.0.20"), P))
    assert list(rib.adj_rib_in("10.0.0.2", IPV4_UNICAST)) == [pfx(P)]
    assert selected(rib) == [("10.0.0.2", 0, "10.0.0.20")]
    rib.apply_update("10.0.0.2", withdraw(P))
    assert rib.lookup(IPV4_UNICAST, pfx(P)) is None
    # An ADD-PATH family of one peer does not change how another family is read.
    ap_peer(rib, "10.0.0.8", receive=[IPV6_UNICAST], families=BOTH)
    rib.apply_update("10.0.0.8", announce(attributes(), P))
    rib.apply_update("10.0.0.8", announce(attributes(next_hop="10.0.0.30"), P))
    assert list(rib.adj_rib_in("10.0.0.8", IPV4_UNICAST)) == [pfx(P)]


# ---------------------------------------------------------------------------------- send


def _reflector(limit: int, **extra: object) -> Rib:
    """A reflector with clients .2, .3, .4 (no ADD-PATH) and client .9 (ADD-PATH send)."""
    rib = make_rib(cluster_id="10.0.0.1")
    for address in ("10.0.0.2", "10.0.0.3", "10.0.0.4"):
        add_peer(rib, address, route_reflector_client=True)
    ap_peer(
        rib,
        "10.0.0.9",
        send=[IPV4_UNICAST],
        route_reflector_client=True,
        add_paths_send=limit,
        **extra,
    )
    return rib


def test_send_all_paths_to_an_add_path_client() -> None:
    rib = _reflector(0)
    out2 = rib.apply_update("10.0.0.2", announce(attributes(next_hop="10.0.0.2"), P))
    out3 = rib.apply_update("10.0.0.3", announce(attributes(next_hop="10.0.0.3"), P))
    first, _ = sent_paths(out2, "10.0.0.9")
    second, _ = sent_paths(out3, "10.0.0.9")
    # The second path changed no selection (.2 stays best) but is sent, under another id.
    assert [next_hop_of(a) for a in first.values()] == ["10.0.0.2"]
    assert [next_hop_of(a) for a in second.values()] == ["10.0.0.3"]
    (id2,) = (i for _, i in first)
    (id3,) = (i for _, i in second)
    assert id2 != id3
    # RFC 4456 §8 per path: reflected attributes on each, none back to its source.
    assert all(a.originator_id is not None and a.cluster_list is not None for a in second.values())
    assert rib.peer_counters("10.0.0.9").advertised == 2
    # Plain clients still get the best path only (.2's): .3 gets it, .2 nothing back.
    assert set(rib.adj_rib_out("10.0.0.3", IPV4_UNICAST)) == {pfx(P)}
    assert rib.adj_rib_out("10.0.0.2", IPV4_UNICAST) == {}
    # One path goes: withdrawn by its id; the other stays.
    out = rib.apply_update("10.0.0.2", withdraw(P))
    announced, gone = sent_paths(out, "10.0.0.9")
    assert gone == [(P, id2)] and announced == {}


def test_send_best_only_when_add_path_not_negotiated() -> None:
    rib = make_rib(cluster_id="10.0.0.1")
    add_peer(rib, "10.0.0.2", route_reflector_client=True)
    add_peer(rib, "10.0.0.3", route_reflector_client=True)
    # Configured for all paths, but the peer did not advertise receive: no ADD-PATH send.
    add_peer(rib, "10.0.0.9", route_reflector_client=True, add_paths_send=0)
    rib.apply_update("10.0.0.2", announce(attributes(next_hop="10.0.0.2"), P))
    out = rib.apply_update("10.0.0.3", announce(attributes(next_hop="10.0.0.3"), P))
    assert "10.0.0.9" not in out.messages  # best unchanged: nothing to send
    assert list(rib.adj_rib_out("10.0.0.9", IPV4_UNICAST)) == [pfx(P)]


def test_send_n_paths_in_decision_order_and_ids_stay() -> None:
    rib = _reflector(2)
    rib.apply_update("10.0.0.4", announce(attributes(as_path=(1, 2, 3), next_hop="10.0.0.4"), P))
    rib.apply_update("10.0.0.3", announce(attributes(as_path=(1, 2), next_hop="10.0.0.3"), P))
    out = rib.apply_update("10.0.0.2", announce(attributes(as_path=(1,), next_hop="10.0.0.2"), P))
    announced, gone = sent_paths(out, "10.0.0.9")
    # .2 enters the best two: announced; .4 (the worst of three) leaves: withdrawn by its id.
    assert [next_hop_of(a) for a in announced.values()] == ["10.0.0.2"]
    assert len(gone) == 1
    out_ids = {next_hop_of(a): i for (_, i), a in announced.items()}
    kept = {(prefix, i) for prefix, i in _adj_out_ids(rib, "10.0.0.9")}
    assert len(kept) == 2 and (P, out_ids["10.0.0.2"]) in kept
    # The best path leaves: .4 comes back with the id it had before (ids are per source).
    out = rib.apply_update("10.0.0.2", withdraw(P))
    announced, gone2 = sent_paths(out, "10.0.0.9")
    assert gone2 == [(P, out_ids["10.0.0.2"])]
    assert [(next_hop_of(a), i) for (_, i), a in announced.items()] == [("10.0.0.4", gone[0][1])]


def test_path_ids_are_per_source_stable_across_prefixes_and_attribute_changes() -> None:
    rib = _reflector(0)
    out = rib.apply_update("10.0.0.2", announce(attributes(next_hop="10.0.0.2"), P, Q))
    announced, _ = sent_paths(out, "10.0.0.9")
    assert len({i for _, i in announced}) == 1  # one source, one id, both prefixes
    (source_id,) = {i for _, i in announced}
    rib.apply_update("10.0.0.3", announce(attributes(next_hop="10.0.0.3"), Q))
    # New attributes from the same source replace the path under the same id: no withdrawal.
    out = rib.apply_update("10.0.0.2", announce(attributes(next_hop="10.0.0.2", med=5), P))
    announced, gone = sent_paths(out, "10.0.0.9")
    assert list(announced) == [(P, source_id)] and gone == []
    assert announced[(P, source_id)].med is not None
    # The source's session resets: its paths come back under the same id.
    rib.peer_down("10.0.0.2")
    add_peer(rib, "10.0.0.2", route_reflector_client=True)
    out = rib.apply_update("10.0.0.2", announce(attributes(next_hop="10.0.0.2"), P))
    assert list(sent_paths(out, "10.0.0.9")[0]) == [(P, source_id)]


def test_paths_received_with_ids_are_sent_on_with_ids_of_ours() -> None:
    # A reflector reflecting an ADD-PATH client's two paths to an ADD-PATH client.
    rib = make_rib(cluster_id="10.0.0.1")
    ap_peer(rib, "10.0.0.8", receive=[IPV4_UNICAST], route_reflector_client=True)
    ap_peer(rib, "10.0.0.9", send=[IPV4_UNICAST], route_reflector_client=True, add_paths_send=0)
    rib.apply_update("10.0.0.8", announce_ids(attributes(next_hop="10.0.0.10"), 100, P))
    out = rib.apply_update("10.0.0.8", announce_ids(attributes(next_hop="10.0.0.20"), 200, P))
    announced, _ = sent_paths(out, "10.0.0.9")
    assert [next_hop_of(a) for a in announced.values()] == ["10.0.0.20"]
    assert len(_adj_out_ids(rib, "10.0.0.9")) == 2


def test_initial_table_route_refresh_and_export_policy_with_add_path() -> None:
    rib = make_rib(cluster_id="10.0.0.1")
    add_peer(rib, "10.0.0.2", route_reflector_client=True)
    add_peer(rib, "10.0.0.3", route_reflector_client=True)
    rib.apply_update("10.0.0.2", announce(attributes(next_hop="10.0.0.2"), P))
    rib.apply_update("10.0.0.3", announce(attributes(next_hop="10.0.0.3"), P, Q))
    rib.originate(IPV4_UNICAST, pfx("10.9.0.0/16"))
    out = ap_peer(
        rib, "10.0.0.9", send=[IPV4_UNICAST], route_reflector_client=True, add_paths_send=0
    )
    announced, _ = sent_paths(out, "10.0.0.9")
    assert sorted((prefix, next_hop_of(a)) for (prefix, _), a in announced.items()) == [
        ("10.1.0.0/16", "10.0.0.2"),
        ("10.1.0.0/16", "10.0.0.3"),
        ("10.2.0.0/16", "10.0.0.3"),
        ("10.9.0.0/16", "10.0.0.1"),
    ]
    assert out.messages["10.0.0.9"][-1] == _eor()
    refreshed = rib.route_refresh("10.0.0.9", IPV4_UNICAST)
    assert sent_paths(refreshed, "10.0.0.9")[0].keys() == announced.keys()

    def not_via_three(route: Route) -> Route | None:
        return None if str(route.next_hop) == "10.0.0.3" else route

    out = rib.set_policies("10.0.0.9", export=not_via_three)
    announced2, gone = sent_paths(out, "10.0.0.9")
    assert announced2 == {}
    assert sorted(gone) == sorted(k for k, a in announced.items() if next_hop_of(a) == "10.0.0.3")


def test_negotiation_per_family() -> None:
    # ADD-PATH send negotiated for IPv4 only: IPv6 goes out best-only without ids.
    rib = make_rib(cluster_id="10.0.0.1")
    add_peer(rib, "10.0.0.2", route_reflector_client=True, families=BOTH)
    add_peer(rib, "10.0.0.3", route_reflector_client=True, families=BOTH)
    ap_peer(
        rib,
        "10.0.0.9",
        send=[IPV4_UNICAST],
        families=BOTH,
        route_reflector_client=True,
        add_paths_send=0,
    )
    six = "2001:db8:1::/48"
    outs = []
    for address, hop in (("10.0.0.2", "2001:db8::2"), ("10.0.0.3", "2001:db8::3")):
        mp = MpReachNlri(2, 1, (IPv6Address(hop),), (pfx(six),), None)
        update = Update((), attributes(next_hop=None).replace(mp), ())
        outs.append(
            rib.apply_update(address, UpdateResult(update, ErrorAction.NONE, (), frozenset()))
        )
    assert "10.0.0.9" in outs[0].messages and "10.0.0.9" not in outs[1].messages
    assert list(rib.adj_rib_out("10.0.0.9", IPV6_UNICAST)) == [pfx(six)]
    # Decoded as a peer without ADD-PATH for IPv6 would: a plain NLRI.
    neg = Negotiated(families=frozenset(BOTH), add_path_receive=frozenset({IPV4_UNICAST}))
    (message,) = outs[0].messages["10.0.0.9"]
    mp_reach = decode_update(message[19:], neg).update.attributes.mp_reach
    assert mp_reach is not None and mp_reach.path_ids is None and mp_reach.nlri == (pfx(six),)


def test_non_add_path_peers_see_no_difference() -> None:
    # The same reflector exchange, with and without an ADD-PATH client beside: the plain
    # clients get byte-identical messages.
    def run(with_add_path: bool) -> list[dict[str, tuple[bytes, ...]]]:
        rib = make_rib(cluster_id="10.0.0.1")
        for address in ("10.0.0.2", "10.0.0.3"):
            add_peer(rib, address, route_reflector_client=True)
        if with_add_path:
            ap_peer(
                rib, "10.0.0.9", send=[IPV4_UNICAST], route_reflector_client=True, add_paths_send=0
            )
        outs = [
            rib.apply_update("10.0.0.2", announce(attributes(next_hop="10.0.0.2"), P, Q)),
            rib.apply_update("10.0.0.3", announce(attributes(next_hop="10.0.0.3"), P)),
            rib.apply_update("10.0.0.2", withdraw(P)),
        ]
        return [{k: v for k, v in o.messages.items() if k != "10.0.0.9"} for o in outs]

    assert run(True) == run(False)


def _adj_out_ids(rib: Rib, peer_id: str) -> list[tuple[str, int]]:
    return sorted(
        (prefix_to_str(key[4:], 1), int.from_bytes(key[:4]))
        for key in rib.adj_rib_out(peer_id, IPV4_UNICAST)
    )


def _eor() -> bytes:
    return end_of_rib(IPV4_UNICAST)


# -------------------------------------------------------------------------------- kernel


async def test_kernel_gets_one_ecmp_route_from_the_paths_of_one_peer() -> None:
    # The client of an ADD-PATH reflector: both originators' next hops in one kernel route.
    rib = make_rib(multipath=4)
    ap_peer(rib, "10.0.0.9", receive=[IPV4_UNICAST])
    installer = MemoryInstaller((ip_interface("10.0.0.1/24"),))
    sync = KernelSync(installer, None, run_retries=False)
    await sync.start()
    for path_id, node in ((1, "10.0.0.2"), (2, "10.0.0.3")):
        a = attributes(next_hop=node, originator_id=node, cluster_list=("10.0.0.9",))
        await sync.apply(rib.apply_update("10.0.0.9", announce_ids(a, path_id, P)).changes)
    routes = {prefix_text(r.afi, r.prefix): r for r in installer.routes.values()}
    assert routes[P].next_hops == (IPv4Address("10.0.0.2"), IPv4Address("10.0.0.3"))
    await sync.apply(rib.apply_update("10.0.0.9", withdraw_ids(1, P)).changes)
    (route,) = installer.routes.values()
    assert route.next_hops == (IPv4Address("10.0.0.3"),)
    await sync.stop()


def test_routes_kept_over_a_restart_under_another_add_path_mode_are_dropped() -> None:
    # Graceful restart keeps a peer's Adj-RIB-In over a session loss; if the new session
    # negotiates ADD-PATH receive differently, the kept keys are of the other form.
    rib = make_rib()
    ap_peer(rib, "10.0.0.9", receive=[IPV4_UNICAST])
    rib.apply_update("10.0.0.9", announce_ids(attributes(), 1, P))
    rib._peers["10.0.0.9"].up = False  # as a restarting peer's routes are kept
    out = rib.peer_up("10.0.0.9", Negotiated(local_as=LOCAL_AS, peer_as=LOCAL_AS), IPv4Address(1))
    assert [c.reason for c in out.changes] == [BestPathReason.WITHDRAWN]
    rib.apply_update("10.0.0.9", announce(attributes(), P))
    assert list(rib.adj_rib_in("10.0.0.9", IPV4_UNICAST)) == [pfx(P)]


def test_ipv6_paths_sent_with_ids_in_mp_reach_and_withdrawn_in_mp_unreach() -> None:
    rib = make_rib(cluster_id="10.0.0.1")
    add_peer(rib, "10.0.0.2", route_reflector_client=True, families=BOTH)
    add_peer(rib, "10.0.0.3", route_reflector_client=True, families=BOTH)
    ap_peer(
        rib, "10.0.0.9", send=BOTH, families=BOTH, route_reflector_client=True, add_paths_send=0
    )
    six = "2001:db8:1::/48"
    outs = []
    for address, hop in (("10.0.0.2", "2001:db8::2"), ("10.0.0.3", "2001:db8::3")):
        mp = MpReachNlri(2, 1, (IPv6Address(hop),), (pfx(six),), None)
        update = Update((), attributes(next_hop=None).replace(mp), ())
        outs.append(
            rib.apply_update(address, UpdateResult(update, ErrorAction.NONE, (), frozenset()))
        )
    hops = {}
    for out in outs:
        announced, _ = sent_paths(out, "10.0.0.9", BOTH)
        for (prefix, path_id), a in announced.items():
            assert prefix == six and a.mp_reach is not None
            hops[str(a.mp_reach.next_hops[0])] = path_id
    assert sorted(hops) == ["2001:db8::2", "2001:db8::3"] and len(set(hops.values())) == 2
    unreach = MpUnreachNlri(2, 1, (pfx(six),), None)
    out = rib.apply_update(
        "10.0.0.3",
        UpdateResult(Update((), PathAttributes((unreach,)), ()), ErrorAction.NONE, (), frozenset()),
    )
    assert sent_paths(out, "10.0.0.9", BOTH) == ({}, [(six, hops["2001:db8::3"])])


def test_an_add_path_peer_own_paths_never_come_back_to_it() -> None:
    rib = _reflector(0)
    rib.apply_update("10.0.0.2", announce(attributes(next_hop="10.0.0.2"), P))
    before = _adj_out_ids(rib, "10.0.0.9")
    out = rib.apply_update("10.0.0.9", announce(attributes(next_hop="10.0.0.9"), P))
    assert "10.0.0.9" not in out.messages
    assert [hop for _, _, hop in selected(rib)] == ["10.0.0.2"]  # lower router id
    # The others (best-only clients) learn nothing new: .2 stays best.
    out = rib.apply_update("10.0.0.9", announce(attributes(next_hop="10.0.0.9", med=1), P))
    assert "10.0.0.9" not in out.messages
    assert rib.apply_update("10.0.0.9", withdraw(P)).messages.get("10.0.0.9") is None
    assert _adj_out_ids(rib, "10.0.0.9") == before


def test_prefix_counter_counts_paths_as_the_adj_rib_in_holds_them() -> None:
    # The max-prefix check counts before the RIB applies an UPDATE: with ADD-PATH it must
    # count (prefix, path id) pairs, as received_count does once applied.
    rib = make_rib()
    ap_peer(rib, "10.0.0.9", receive=[IPV4_UNICAST])
    rib.apply_update("10.0.0.9", announce_ids(attributes(), 1, P))
    count = rib.prefix_counter("10.0.0.9")
    updates = [
        announce_ids(attributes(next_hop="10.0.0.20"), 2, P),
        announce_ids(attributes(next_hop="10.0.0.21"), 2, P),  # replaces id 2
        announce_ids(attributes(), 3, P, Q),
        withdraw_ids(1, P),
    ]
    expected = [2, 2, 4, 3]
    assert [count(update) for update in updates] == expected
    for update in updates:
        rib.apply_update("10.0.0.9", update)
    assert rib.peer_counters("10.0.0.9").received == expected[-1]


def test_graceful_restart_keeps_every_path_stale_and_end_of_rib_sweeps_by_path_id() -> None:
    rib = make_rib(multipath=4)
    ap_peer(rib, "10.0.0.9", receive=[IPV4_UNICAST])
    rib.apply_update("10.0.0.9", announce_ids(attributes(next_hop="10.0.0.10"), 1, P))
    rib.apply_update("10.0.0.9", announce_ids(attributes(next_hop="10.0.0.20"), 2, P))
    out = rib.peer_down("10.0.0.9", keep=[IPV4_UNICAST])  # RFC 4724 §4.2
    # Stale twins: the prefix ends the call with the same next hops (the last change of a
    # prefix is what the kernel and the other peers act on).
    assert {str(p.next_hop) for p in out.changes[-1].new} == {"10.0.0.10", "10.0.0.20"}
    assert all(p.stale for p in rib.best(IPV4_UNICAST, pfx(P)))
    assert sorted(p.path_id for p in rib.best(IPV4_UNICAST, pfx(P))) == [1, 2]
    negotiated = Negotiated(
        add_path_receive=frozenset({IPV4_UNICAST}), local_as=LOCAL_AS, peer_as=LOCAL_AS
    )
    rib.peer_up("10.0.0.9", negotiated, IPv4Address("10.0.0.9"))
    rib.apply_update("10.0.0.9", announce_ids(attributes(next_hop="10.0.0.10"), 1, P))
    end_of_rib_update = UpdateResult(Update(), ErrorAction.NONE, (), frozenset())
    rib.apply_update("10.0.0.9", end_of_rib_update)
    assert selected(rib) == [("10.0.0.9", 1, "10.0.0.10")]
    assert not rib.best(IPV4_UNICAST, pfx(P))[0].stale

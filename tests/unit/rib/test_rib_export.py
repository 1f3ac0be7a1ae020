"""Export side: rules of the road, route reflection, packing, End-of-RIB, ROUTE-REFRESH."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv6Address

import attrs
from rib_helpers import (
    add_peer,
    announce,
    announce6,
    announced,
    as_path_of,
    attributes,
    make_rib,
    negotiated,
    pfx,
    updates,
    withdraw,
    withdrawn,
)

from pybgp.rib import Route
from pybgp.wire.constants import IPV4_UNICAST, IPV6_UNICAST, RouteRefreshSubcode
from pybgp.wire.refresh import decode_route_refresh

P = "10.1.0.0/16"


def _ebgp_pair():  # type: ignore[no-untyped-def]
    rib = make_rib()
    add_peer(rib, "10.0.0.2")  # iBGP source
    add_peer(rib, "172.16.0.2", asn=65010, local_address="172.16.0.1")
    return rib


def test_ebgp_export_prepends_sets_next_hop_strips_local_pref_and_med() -> None:
    rib = _ebgp_pair()
    out = rib.apply_update(
        "10.0.0.2",
        announce(
            attributes(
                as_path=(65020,),
                local_pref=300,
                med=7,
                next_hop="192.0.2.9",
                originator_id="10.0.0.9",
                cluster_list=("10.0.0.8",),
            ),
            P,
        ),
    )
    sent = announced(out, "172.16.0.2", peer_as=65010)[P]
    assert as_path_of(sent) == (65000, 65020)
    assert sent.next_hop is not None and sent.next_hop.address == IPv4Address("172.16.0.1")
    assert sent.local_pref is None and sent.med is None
    assert sent.originator_id is None and sent.cluster_list is None


def test_ebgp_keep_original_next_hop() -> None:
    rib = make_rib()
    add_peer(rib, "10.0.0.2")
    add_peer(rib, "172.16.0.2", asn=65010, keep_original_next_hop=True)
    out = rib.apply_update("10.0.0.2", announce(attributes(next_hop="192.0.2.9"), P))
    sent = announced(out, "172.16.0.2", peer_as=65010)[P]
    assert sent.next_hop is not None and sent.next_hop.address == IPv4Address("192.0.2.9")


def test_never_sent_back_and_sender_side_loop_avoidance() -> None:
    rib = make_rib()
    add_peer(rib, "172.16.0.2", asn=65010)
    add_peer(rib, "172.16.0.3", asn=65020)
    add_peer(rib, "172.16.0.4", asn=65030)
    out = rib.apply_update("172.16.0.2", announce(attributes(as_path=(65010, 65020)), P))
    assert "172.16.0.2" not in out.messages  # not back to the source
    assert "172.16.0.3" not in out.messages  # 65020 already in the AS_PATH
    assert as_path_of(announced(out, "172.16.0.4", peer_as=65030)[P]) == (65000, 65010, 65020)


def test_ibgp_split_horizon_and_ebgp_learned_to_ibgp() -> None:
    rib = make_rib()
    add_peer(rib, "10.0.0.2")
    add_peer(rib, "10.0.0.3")
    add_peer(rib, "172.16.0.2", asn=65010)
    out = rib.apply_update("10.0.0.2", announce(attributes(), P))
    assert "10.0.0.3" not in out.messages  # RFC 4271 §9.2: iBGP -> iBGP not sent
    out = rib.apply_update(
        "172.16.0.2",
        announce(attributes(as_path=(65010,), next_hop="172.16.0.2", med=5), "10.9.0.0/16"),
    )
    sent = announced(out, "10.0.0.3")["10.9.0.0/16"]
    assert sent.local_pref is not None and sent.local_pref.value == 100
    assert sent.next_hop is not None and sent.next_hop.address == IPv4Address("172.16.0.2")
    assert sent.med is not None and sent.med.value == 5  # MED kept inside the AS
    assert as_path_of(sent) == (65010,)


def test_next_hop_self_on_ibgp() -> None:
    rib = make_rib()
    add_peer(rib, "10.0.0.3", next_hop_self=True)
    add_peer(rib, "172.16.0.2", asn=65010)
    out = rib.apply_update("172.16.0.2", announce(attributes(as_path=(65010,)), P))
    sent = announced(out, "10.0.0.3")[P]
    assert sent.next_hop is not None and sent.next_hop.address == IPv4Address("10.0.0.1")


def test_originated_routes() -> None:
    rib = make_rib()
    add_peer(rib, "10.0.0.2", local_address="10.0.0.1")
    add_peer(rib, "172.16.0.2", asn=65010, local_address="172.16.0.1")
    out = rib.originate(IPV4_UNICAST, pfx("10.244.1.0/26"), communities=(65000 * 65536 + 1,))
    ibgp = announced(out, "10.0.0.2")["10.244.1.0/26"]
    assert ibgp.origin is not None and ibgp.origin.value == 0
    assert as_path_of(ibgp) == () and ibgp.as_path is not None
    assert ibgp.next_hop is not None and ibgp.next_hop.address == IPv4Address("10.0.0.1")
    assert ibgp.local_pref is not None and ibgp.local_pref.value == 100
    assert ibgp.communities is not None and ibgp.communities.values == (65000 * 65536 + 1,)
    ebgp = announced(out, "172.16.0.2", peer_as=65010)["10.244.1.0/26"]
    assert as_path_of(ebgp) == (65000,) and ebgp.local_pref is None
    assert ebgp.next_hop is not None and ebgp.next_hop.address == IPv4Address("172.16.0.1")
    out = rib.withdraw_originated(IPV4_UNICAST, pfx("10.244.1.0/26"))
    assert withdrawn(out, "10.0.0.2") == ["10.244.1.0/26"]
    assert withdrawn(out, "172.16.0.2", peer_as=65010) == ["10.244.1.0/26"]


def test_originated_ipv6_uses_mp_reach_with_local_address() -> None:
    rib = make_rib()
    add_peer(rib, "2001:db8::2", local_address="2001:db8::1", families=(IPV6_UNICAST,))
    out = rib.originate(IPV6_UNICAST, pfx("2001:db8:5::/48"))
    sent = announced(out, "2001:db8::2", families=(IPV6_UNICAST,))["2001:db8:5::/48"]
    assert sent.mp_reach is not None
    assert sent.mp_reach.next_hops[0] == IPv6Address("2001:db8::1")


def test_ipv6_over_an_ipv4_session_uses_our_ipv6_address_as_next_hop() -> None:
    """MP-BGP: an IPv4 session carrying IPv6 routes sends local_address6 as their NEXT_HOP.

    Without it the IPv4-mapped form (::ffff:10.0.0.1) goes out, which no receiver can
    install (BIRD drops such routes as invalid).
    """
    rib = make_rib()
    both = (IPV4_UNICAST, IPV6_UNICAST)
    add_peer(rib, "10.0.0.2", families=both, local_address6=IPv6Address("fd00:99::1"))
    add_peer(rib, "10.0.0.3", families=both)
    out = rib.originate(IPV6_UNICAST, pfx("fd00:244:1::/122"))
    sent = announced(out, "10.0.0.2", families=both)["fd00:244:1::/122"]
    assert sent.mp_reach is not None
    assert sent.mp_reach.next_hops == (IPv6Address("fd00:99::1"),)
    mapped = announced(out, "10.0.0.3", families=both)["fd00:244:1::/122"]
    assert mapped.mp_reach is not None
    assert mapped.mp_reach.next_hops == (IPv6Address("::ffff:10.0.0.1"),)
    # IPv4 routes on the same session keep the IPv4 local address.
    out = rib.originate(IPV4_UNICAST, pfx("10.244.1.0/26"))
    sent4 = announced(out, "10.0.0.2", families=both)["10.244.1.0/26"]
    assert sent4.next_hop is not None and sent4.next_hop.address == IPv4Address("10.0.0.1")


def test_ipv6_reflected_keeps_next_hop() -> None:
    rib = make_rib(cluster_id="10.0.0.1")
    fams = (IPV4_UNICAST, IPV6_UNICAST)
    add_peer(rib, "10.0.0.2", route_reflector_client=True, families=fams)
    add_peer(rib, "10.0.0.3", route_reflector_client=True, families=fams)
    out = rib.apply_update("10.0.0.2", announce6(attributes(), "2001:db8::2", "2001:db8:7::/48"))
    sent = announced(out, "10.0.0.3")["2001:db8:7::/48"]
    assert sent.mp_reach is not None and sent.mp_reach.next_hops[0] == IPv6Address("2001:db8::2")


# ---------------------------------------------------------------- route reflection


def _rr():  # type: ignore[no-untyped-def]
    rib = make_rib(router_id="10.0.0.1", cluster_id="1.1.1.1")
    add_peer(rib, "10.0.0.2", router_id="2.2.2.2", route_reflector_client=True)
    add_peer(rib, "10.0.0.3", router_id="3.3.3.3", route_reflector_client=True)
    add_peer(rib, "10.0.0.4", router_id="4.4.4.4")  # non-client
    add_peer(rib, "10.0.0.5", router_id="5.5.5.5")  # non-client
    return rib


def test_reflect_from_client_to_clients_and_non_clients() -> None:
    rib = _rr()
    out = rib.apply_update("10.0.0.2", announce(attributes(next_hop="10.0.0.2"), P))
    assert set(out.messages) == {"10.0.0.3", "10.0.0.4", "10.0.0.5"}  # not the originator
    sent = announced(out, "10.0.0.3")[P]
    assert sent.originator_id is not None
    assert sent.originator_id.address == IPv4Address("2.2.2.2")
    assert sent.cluster_list is not None and sent.cluster_list.ids == (IPv4Address("1.1.1.1"),)
    assert sent.next_hop is not None and sent.next_hop.address == IPv4Address("10.0.0.2")
    assert P in announced(out, "10.0.0.4")


def test_reflect_from_non_client_to_clients_only() -> None:
    rib = _rr()
    out = rib.apply_update(
        "10.0.0.4",
        announce(attributes(originator_id="9.9.9.9", cluster_list=("7.7.7.7",)), P),
    )
    assert set(out.messages) == {"10.0.0.2", "10.0.0.3"}  # non-client -> non-client: no
    sent = announced(out, "10.0.0.2")[P]
    assert sent.originator_id is not None
    assert sent.originator_id.address == IPv4Address("9.9.9.9")  # kept when present
    assert sent.cluster_list is not None
    assert sent.cluster_list.ids == (IPv4Address("1.1.1.1"), IPv4Address("7.7.7.7"))


def test_reflector_sends_ebgp_routes_to_everyone_without_reflection_attributes() -> None:
    rib = _rr()
    add_peer(rib, "172.16.0.2", asn=65010)
    out = rib.apply_update("172.16.0.2", announce(attributes(as_path=(65010,)), P))
    assert {"10.0.0.2", "10.0.0.3", "10.0.0.4", "10.0.0.5"} <= set(out.messages)
    sent = announced(out, "10.0.0.4")[P]
    assert sent.originator_id is None and sent.cluster_list is None


def test_reflector_next_hop_self_applies_to_reflected() -> None:
    rib = make_rib(cluster_id="1.1.1.1")
    add_peer(rib, "10.0.0.2", route_reflector_client=True)
    add_peer(rib, "10.0.0.3", route_reflector_client=True, next_hop_self=True)
    out = rib.apply_update("10.0.0.2", announce(attributes(next_hop="10.0.0.2"), P))
    sent = announced(out, "10.0.0.3")[P]
    assert sent.next_hop is not None and sent.next_hop.address == IPv4Address("10.0.0.1")


# ---------------------------------------------------------------- Adj-RIB-Out, packing


def test_packing_prefixes_sharing_attributes() -> None:
    rib = make_rib()
    add_peer(rib, "10.0.0.2")
    add_peer(rib, "172.16.0.2", asn=65010)
    prefixes_a = [f"10.{i // 256}.{i % 256}.0/24" for i in range(3000)]
    prefixes_b = [f"11.{i // 256}.{i % 256}.0/24" for i in range(10)]
    rib.apply_update("10.0.0.2", announce(attributes(med=1), *prefixes_a[:1500]))
    rib.apply_update("10.0.0.2", announce(attributes(med=2), *prefixes_b))
    out = rib.peer_up(
        "172.16.0.2",
        negotiated(65000, 65010),
        IPv4Address("172.16.0.2"),
    )
    messages = out.messages["172.16.0.2"]
    # MED stripped towards eBGP: both sets export identically -> one run; 1510 /24s at 4
    # octets each fit in 2 messages of 4096 octets, plus End-of-RIB.
    results = updates(out, "172.16.0.2", peer_as=65010)
    assert sum(len(r.update.nlri) for r in results) == 1510
    assert len(messages) == 3
    assert results[-1].update.end_of_rib == IPV4_UNICAST
    assert all(len(m) <= 4096 for m in messages)


def test_export_packing_per_update_call() -> None:
    rib = make_rib()
    add_peer(rib, "10.0.0.2")
    add_peer(rib, "172.16.0.2", asn=65010)
    prefixes = [f"10.{i // 256}.{i % 256}.0/24" for i in range(500)]
    out = rib.apply_update("10.0.0.2", announce(attributes(), *prefixes))
    assert len(out.messages["172.16.0.2"]) == 1  # 500 prefixes, one attribute set: one UPDATE
    assert rib.peer_counters("172.16.0.2").advertised == 500


def test_adj_rib_out_sends_only_diffs() -> None:
    rib = make_rib()
    add_peer(rib, "10.0.0.2")
    add_peer(rib, "10.0.0.3")
    add_peer(rib, "172.16.0.2", asn=65010)
    rib.apply_update("10.0.0.2", announce(attributes(local_pref=200), P))
    # Same route again: nothing new to send.
    assert (
        "172.16.0.2"
        not in rib.apply_update("10.0.0.2", announce(attributes(local_pref=200), P)).messages
    )
    # The best path moves to another iBGP peer with identical exported attributes: no resend.
    rib.apply_update("10.0.0.3", announce(attributes(), P))
    out = rib.apply_update("10.0.0.2", withdraw(P))
    assert out.changes and "172.16.0.2" not in out.messages
    out = rib.apply_update("10.0.0.3", withdraw(P))
    assert withdrawn(out, "172.16.0.2", peer_as=65010) == [P]


def test_end_of_rib_after_initial_table_per_family() -> None:
    rib = make_rib()
    add_peer(rib, "10.0.0.2", families=(IPV4_UNICAST, IPV6_UNICAST))
    rib.apply_update("10.0.0.2", announce(attributes(), P))
    rib.apply_update("10.0.0.2", announce6(attributes(), "2001:db8::2", "2001:db8:1::/48"))
    out = add_peer(
        rib,
        "172.16.0.2",
        asn=65010,
        families=(IPV4_UNICAST, IPV6_UNICAST),
        local_address="2001:db8::1",
    )
    results = updates(out, "172.16.0.2", peer_as=65010)
    eors = [r.update.end_of_rib for r in results if r.update.end_of_rib is not None]
    assert eors == [IPV4_UNICAST, IPV6_UNICAST]
    # Each End-of-RIB comes after that family's routes.
    kinds = [
        ("eor", r.update.end_of_rib)
        if r.update.end_of_rib is not None
        else ("route", IPV4_UNICAST if r.update.nlri else IPV6_UNICAST)
        for r in results
    ]
    assert kinds == [
        ("route", IPV4_UNICAST),
        ("eor", IPV4_UNICAST),
        ("route", IPV6_UNICAST),
        ("eor", IPV6_UNICAST),
    ]


def test_empty_table_still_gets_end_of_rib() -> None:
    rib = make_rib()
    out = add_peer(rib, "10.0.0.2")
    (message,) = out.messages["10.0.0.2"]
    assert len(message) == 23  # RFC 4724 §2: IPv4 End-of-RIB is an empty UPDATE


def test_route_refresh_resends_adj_rib_out() -> None:
    rib = make_rib()
    add_peer(rib, "10.0.0.2")
    add_peer(rib, "172.16.0.2", asn=65010)
    rib.apply_update("10.0.0.2", announce(attributes(), P, "10.2.0.0/16"))
    out = rib.route_refresh("172.16.0.2", IPV4_UNICAST)
    assert set(announced(out, "172.16.0.2", peer_as=65010)) == {P, "10.2.0.0/16"}
    assert len(out.messages["172.16.0.2"]) == 1


def test_enhanced_route_refresh_borr_eorr() -> None:
    rib = make_rib()
    add_peer(rib, "10.0.0.2")
    add_peer(rib, "172.16.0.2", asn=65010, enhanced_route_refresh=True)
    rib.apply_update("10.0.0.2", announce(attributes(), P))
    messages = rib.route_refresh("172.16.0.2", IPV4_UNICAST).messages["172.16.0.2"]
    assert len(messages) == 3
    first, last = (decode_route_refresh(m[19:]) for m in (messages[0], messages[-1]))
    assert first.subtype == RouteRefreshSubcode.BEGIN and last.subtype == RouteRefreshSubcode.END
    assert messages[1][18] == 2


def test_export_policy_and_set_policies_sends_diff() -> None:
    rib = make_rib()
    add_peer(rib, "10.0.0.2")

    def med_and_filter(route: Route) -> Route | None:
        if route.prefix == pfx("10.2.0.0/16"):
            return None
        return attrs.evolve(route.prepend(65000, 2), med=50)

    add_peer(rib, "172.16.0.2", asn=65010, export_policy=med_and_filter)
    out = rib.apply_update("10.0.0.2", announce(attributes(), P, "10.2.0.0/16"))
    sent = announced(out, "172.16.0.2", peer_as=65010)
    assert set(sent) == {P}
    assert sent[P].med is not None and sent[P].med.value == 50
    assert as_path_of(sent[P]) == (65000, 65000, 65000)
    out = rib.set_policies("172.16.0.2", export=None)
    sent = announced(out, "172.16.0.2", peer_as=65010)
    assert set(sent) == {P, "10.2.0.0/16"} and sent[P].med is None
    assert rib.peer_counters("172.16.0.2").advertised == 2
    out = rib.set_policies("172.16.0.2", export=lambda r: None)
    assert sorted(withdrawn(out, "172.16.0.2", peer_as=65010)) == ["10.1.0.0/16", "10.2.0.0/16"]


def test_peer_down_withdraws_towards_others_and_clears_adj_rib_out() -> None:
    rib = make_rib()
    add_peer(rib, "10.0.0.2")
    add_peer(rib, "172.16.0.2", asn=65010)
    rib.apply_update("10.0.0.2", announce(attributes(), P))
    out = rib.peer_down("10.0.0.2")
    assert withdrawn(out, "172.16.0.2", peer_as=65010) == [P]
    rib.peer_down("172.16.0.2")
    assert rib.peer_counters("172.16.0.2").advertised == 0


def test_re_adding_an_established_peer_sends_the_difference() -> None:
    rib = make_rib()
    add_peer(rib, "10.0.0.3")
    add_peer(rib, "172.16.0.2", asn=65010)
    rib.apply_update("172.16.0.2", announce(attributes(as_path=(65010,), next_hop="172.16.0.2"), P))
    out = add_peer(rib, "10.0.0.3", up=False, next_hop_self=True)
    sent = announced(out, "10.0.0.3")[P]
    assert sent.next_hop is not None and sent.next_hop.address == IPv4Address("10.0.0.1")


def test_two_octet_peers_as4_path_merged_on_import_and_made_on_export() -> None:
    from pybgp.wire.attributes import As4Path, AsPathSegment
    from pybgp.wire.constants import AS_TRANS, AsPathSegmentType
    from pybgp.wire.negotiated import Negotiated

    seq = AsPathSegmentType.AS_SEQUENCE
    rib = make_rib()
    for address, asn in (("172.16.0.2", 65010), ("172.16.0.3", 65020)):
        add_peer(rib, address, asn=asn, up=False)
        rib.peer_up(
            address,
            Negotiated(four_octet_as=False, local_as=65000, peer_as=asn),
            IPv4Address(address),
        )
    old_style = attributes(
        as_path=(65010, AS_TRANS),
        extra=(As4Path((AsPathSegment(seq, (65010, 4200000001)),)),),
    )
    out = rib.apply_update("172.16.0.2", announce(old_style, P))
    path = rib.best(IPV4_UNICAST, pfx(P))[0]
    assert path.attributes.as_path is not None
    assert tuple(path.attributes.as_path.asns()) == (65010, 4200000001)
    assert path.attributes.get(17) is None  # AS4_PATH merged away (RFC 6793 §4.2.3)
    (message,) = out.messages["172.16.0.3"]
    from pybgp.wire.update import decode_update

    sent = decode_update(
        message[19:], Negotiated(four_octet_as=False, local_as=65020, peer_as=65000)
    ).update.attributes
    assert as_path_of(sent) == (65000, 65010, AS_TRANS)
    as4 = sent.get(17)
    assert isinstance(as4, As4Path)
    assert tuple(a for s in as4.segments for a in s.asns) == (65000, 65010, 4200000001)

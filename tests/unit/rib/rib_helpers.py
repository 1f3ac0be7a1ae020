"""Builders shared by the RIB tests: attribute sets, UPDATE results, peers, decoding output."""

from __future__ import annotations

from collections.abc import Sequence
from ipaddress import IPv4Address, IPv6Address, ip_address

from pybgp.rib import PeerInfo, Rib, RibOptions, RibOutput
from pybgp.wire.attributes import (
    AsPath,
    AsPathSegment,
    Attribute,
    ClusterList,
    Communities,
    LocalPref,
    MpReachNlri,
    MpUnreachNlri,
    MultiExitDisc,
    NextHop,
    Origin,
    OriginatorId,
    PathAttributes,
)
from pybgp.wire.constants import IPV4_UNICAST, IPV6_UNICAST, AsPathSegmentType, Family
from pybgp.wire.negotiated import Negotiated
from pybgp.wire.nlri import prefix_from_str, prefix_to_str
from pybgp.wire.update import ErrorAction, Update, UpdateResult, decode_update

LOCAL_AS = 65000


def pfx(text: str) -> bytes:
    """Prefix key of ``text``."""
    return prefix_from_str(text)[1]


def attributes(
    *,
    as_path: Sequence[int] = (),
    segments: Sequence[AsPathSegment] | None = None,
    origin: int = 0,
    next_hop: str | None = "192.0.2.1",
    med: int | None = None,
    local_pref: int | None = None,
    communities: Sequence[int] = (),
    originator_id: str | None = None,
    cluster_list: Sequence[str] = (),
    extra: Sequence[Attribute] = (),
) -> PathAttributes:
    """A classic (IPv4 unicast) attribute set."""
    if segments is None:
        segments = (
            (AsPathSegment(AsPathSegmentType.AS_SEQUENCE, tuple(as_path)),) if as_path else ()
        )
    parts: list[Attribute] = [Origin(origin), AsPath(tuple(segments))]
    if next_hop is not None:
        parts.append(NextHop(IPv4Address(next_hop)))
    if med is not None:
        parts.append(MultiExitDisc(med))
    if local_pref is not None:
        parts.append(LocalPref(local_pref))
    if communities:
        parts.append(Communities(tuple(communities)))
    if originator_id is not None:
        parts.append(OriginatorId(IPv4Address(originator_id)))
    if cluster_list:
        parts.append(ClusterList(tuple(IPv4Address(c) for c in cluster_list)))
    parts.extend(extra)
    return PathAttributes(tuple(parts))


def announce(attrs_: PathAttributes, *prefixes: str) -> UpdateResult:
    """An IPv4 UPDATE announcing ``prefixes`` with ``attrs_``."""
    update = Update((), attrs_, tuple(pfx(p) for p in prefixes))
    return UpdateResult(update, ErrorAction.NONE, (), frozenset())


def announce6(attrs_: PathAttributes, next_hop: str, *prefixes: str) -> UpdateResult:
    """An IPv6 UPDATE (MP_REACH_NLRI) announcing ``prefixes``."""
    mp = MpReachNlri(2, 1, (IPv6Address(next_hop),), tuple(pfx(p) for p in prefixes), None)
    update = Update((), attrs_.without(3).replace(mp), ())
    return UpdateResult(update, ErrorAction.NONE, (), frozenset())


def withdraw(*prefixes: str) -> UpdateResult:
    """An IPv4 UPDATE withdrawing ``prefixes``."""
    update = Update(tuple(pfx(p) for p in prefixes), PathAttributes(()), ())
    return UpdateResult(update, ErrorAction.NONE, (), frozenset())


def withdraw6(*prefixes: str) -> UpdateResult:
    """An IPv6 UPDATE (MP_UNREACH_NLRI) withdrawing ``prefixes``."""
    mp = MpUnreachNlri(2, 1, tuple(pfx(p) for p in prefixes), None)
    return UpdateResult(Update((), PathAttributes((mp,)), ()), ErrorAction.NONE, (), frozenset())


def make_rib(
    router_id: str = "10.0.0.1",
    local_as: int = LOCAL_AS,
    cluster_id: str | None = None,
    **options: object,
) -> Rib:
    """A Rib with the given options."""
    return Rib(
        local_as,
        IPv4Address(router_id),
        IPv4Address(cluster_id) if cluster_id else None,
        RibOptions(**options),  # type: ignore[arg-type]
    )


def negotiated(
    local_as: int, peer_as: int, families: Sequence[Family] = (IPV4_UNICAST,)
) -> Negotiated:
    """A Negotiated for a session between ``local_as`` and ``peer_as``."""
    return Negotiated(
        four_octet_as=True, families=frozenset(families), local_as=local_as, peer_as=peer_as
    )


def add_peer(
    rib: Rib,
    address: str,
    asn: int = LOCAL_AS,
    router_id: str | None = None,
    *,
    local_address: str = "10.0.0.1",
    up: bool = True,
    families: Sequence[Family] = (IPV4_UNICAST,),
    enhanced_route_refresh: bool = False,
    route_refresh: bool = False,
    **info: object,
) -> RibOutput:
    """Configure a peer and (by default) bring it up; returns the peer_up output."""
    peer_info = PeerInfo(
        peer_id=address,
        address=ip_address(address),
        asn=asn,
        local_as=rib.local_as,
        local_address=ip_address(local_address),
        families=frozenset(families),
        **info,  # type: ignore[arg-type]
    )
    output = rib.add_peer(peer_info)
    if not up:
        return output
    return rib.peer_up(
        address,
        negotiated(rib.local_as, asn, families),
        IPv4Address(router_id or (address if ":" not in address else "10.255.255.254")),
        route_refresh=route_refresh,
        enhanced_route_refresh=enhanced_route_refresh,
    )


def updates(
    output: RibOutput,
    peer_id: str,
    rib: Rib | None = None,
    peer_as: int = LOCAL_AS,
    families: Sequence[Family] = (IPV4_UNICAST, IPV6_UNICAST),
) -> list[UpdateResult]:
    """Decode the UPDATE messages ``output`` sends to ``peer_id`` (others are skipped)."""
    local_as = rib.local_as if rib is not None else LOCAL_AS
    neg = negotiated(peer_as, local_as, families)
    results = []
    for message in output.messages.get(peer_id, ()):
        if message[18] == 2:
            results.append(decode_update(message[19:], neg))
    return results


def announced(output: RibOutput, peer_id: str, **kw: object) -> dict[str, PathAttributes]:
    """prefix text -> attributes announced to ``peer_id`` (IPv4 and IPv6)."""
    result: dict[str, PathAttributes] = {}
    for r in updates(output, peer_id, **kw):  # type: ignore[arg-type]
        u = r.update
        for key in u.nlri:
            result[prefix_to_str(key, 1)] = u.attributes
        mp = u.attributes.mp_reach
        if mp is not None:
            for key in mp.nlri:
                result[prefix_to_str(key, mp.afi)] = u.attributes
    return result


def withdrawn(output: RibOutput, peer_id: str, **kw: object) -> list[str]:
    """Prefix texts withdrawn toward ``peer_id``."""
    result: list[str] = []
    for r in updates(output, peer_id, **kw):  # type: ignore[arg-type]
        u = r.update
        result += [prefix_to_str(k, 1) for k in u.withdrawn]
        mp = u.attributes.mp_unreach
        if mp is not None:
            result += [prefix_to_str(k, mp.afi) for k in mp.withdrawn]
    return result


def as_path_of(a: PathAttributes) -> tuple[int, ...]:
    """The flattened AS_PATH."""
    return tuple(a.as_path.asns()) if a.as_path is not None else ()


def address(text: str) -> IPv4Address | IPv6Address:
    """ip_address, typed."""
    return ip_address(text)

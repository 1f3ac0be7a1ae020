"""Rules of the road for sending a path to one peer, and Adj-RIB-Out packing.

``export_attributes`` answers "what do we send peer X for path P" (or None: do not send), per
RFC 4271 §9.2 (iBGP split horizon), §5.1.2-5.1.5 (AS_PATH prepend, NEXT_HOP, MED, LOCAL_PREF),
RFC 4456 §8 (route reflection) and RFC 1997 (NO_EXPORT, NO_ADVERTISE). It depends only on
(target peer, path), so the engine caches the answer per (peer, Path) and a million prefixes
sharing a few thousand paths cost a few thousand calls. ``pack`` turns an Adj-RIB-Out diff
into as few UPDATE messages as fit.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from ipaddress import IPv4Address, IPv6Address

import attrs

from pybgp.rib.paths import Path
from pybgp.rib.receive import otc_blocks_export, otc_to_add
from pybgp.rib.types import PeerInfo
from pybgp.wire.aspath import to_two_octet
from pybgp.wire.attributes import (
    AsPath,
    Attribute,
    ClusterList,
    LocalPref,
    MpReachNlri,
    NextHop,
    OriginatorId,
    PathAttributes,
    prepare_for_export,
)
from pybgp.wire.constants import IPV4_UNICAST, AttributeCode, Family
from pybgp.wire.negotiated import Negotiated
from pybgp.wire.update import EMPTY_ATTRIBUTES, encode_end_of_rib, pack_update_messages

# RFC 1997 well-known communities that restrict where a route may be advertised.
NO_EXPORT = 0xFFFFFF01
NO_ADVERTISE = 0xFFFFFF02
NO_EXPORT_SUBCONFED = 0xFFFFFF03
_WELL_KNOWN_LIMITS = frozenset((NO_EXPORT, NO_ADVERTISE, NO_EXPORT_SUBCONFED))


@attrs.frozen
class ExportTarget:
    """What the rules need to know about the receiving side of one session."""

    info: PeerInfo
    negotiated: Negotiated
    local_as: int
    router_id: IPv4Address
    cluster_id: IPv4Address | None


def _local_next_hop(target: ExportTarget, family: Family) -> IPv4Address | IPv6Address:
    address = target.info.local_address
    if address is None:
        address = target.router_id
    if family == IPV4_UNICAST or family[0] == 1:
        if isinstance(address, IPv4Address):
            return address
        return target.router_id
    if isinstance(address, IPv6Address):
        return address
    # An IPv6 route over an IPv4 session: our IPv6 address when we know one (an IPv4-mapped
    # next hop is not installable on the receiving side, so BIRD rejects it as invalid).
    if target.info.local_address6 is not None:
        return target.info.local_address6
    # Else the IPv4-mapped address (as RFC 4798 does, for IPv6-over-IPv4 tunnels).
    return IPv6Address("::ffff:" + str(address))


def export_attributes(
    target: ExportTarget,
    family: Family,
    path: Path,
    source_is_client: bool,
    *,
    split_horizon: bool = True,
) -> PathAttributes | None:
    """The attributes to send ``path`` with to ``target`` (None = not sent to that peer).

    ``source_is_client``: the path was learned from a route-reflector client of ours.
    ``split_horizon=False``: the answer for any peer like ``target`` (an update group, see
    ``pybgp.rib.groups``), whose caller withholds the path from its source itself.
    """
    info = target.info
    if split_horizon and path.peer_id is not None and path.peer_id == info.peer_id:
        return None  # never back to the peer it came from (RFC 4271 §9.2)
    originated = path.peer_id is None
    # Originated here: our own address as next hop, unless the origination gave one
    # (``pybgp announce --next-hop``, a third-party next hop).
    own_hop = originated and path.next_hop.is_unspecified
    a = path.attributes
    if a.communities is not None and _WELL_KNOWN_LIMITS.intersection(a.communities.values):
        # RFC 1997: NO_ADVERTISE = to no peer at all; NO_EXPORT = not outside the AS; with
        # no confederations NO_EXPORT_SUBCONFED means the same as NO_EXPORT. Checked on the
        # path as selected, before the export policy (as BIRD does): a community the policy
        # adds is a request to the receiver, not a restriction on this export.
        values = a.communities.values
        if NO_ADVERTISE in values:
            return None
        if not info.ibgp and (NO_EXPORT in values or NO_EXPORT_SUBCONFED in values):
            return None
    reflect = False
    if info.ibgp:
        if not originated and path.ibgp:
            if target.cluster_id is None:
                return None  # RFC 4271 §9.2: iBGP-learned routes are not sent to iBGP peers
            # RFC 4456 §8: client routes go to everyone, non-client routes to clients only.
            if not source_is_client and not info.route_reflector_client:
                return None
            reflect = True
    elif not originated and a.as_path is not None and a.as_path.contains(info.asn):
        # Sender-side loop avoidance: the peer would drop it (RFC 4271 §9.1.2), do not send.
        return None

    drop: list[int] = [AttributeCode.MP_REACH_NLRI, AttributeCode.MP_UNREACH_NLRI]
    add: list[Attribute] = []
    as_path = a.as_path if a.as_path is not None else AsPath(())
    if info.ibgp:
        # RFC 4271 §5.1.5: LOCAL_PREF in every UPDATE to internal peers.
        if a.local_pref is None or a.local_pref.value != path.local_pref:
            add.append(LocalPref(path.local_pref))
        if a.as_path is None:
            add.append(as_path)
        if reflect:
            # RFC 4456 §8: ORIGINATOR_ID (if absent) and our cluster id prepended.
            if a.originator_id is None:
                add.append(OriginatorId(path.peer_router_id))
            old_ids = a.cluster_list.ids if a.cluster_list is not None else ()
            assert target.cluster_id is not None
            add.append(ClusterList((target.cluster_id, *old_ids)))
        else:
            drop += [AttributeCode.ORIGINATOR_ID, AttributeCode.CLUSTER_LIST]
        self_hop = own_hop or info.next_hop_self
    else:
        # RFC 4271 §5.1.2: prepend our AS; §5.1.5: no LOCAL_PREF to external peers;
        # §5.1.4: a MED received from one AS is not propagated to other ASes;
        # RFC 4456 §8: ORIGINATOR_ID/CLUSTER_LIST stay inside the AS.
        add.append(as_path.prepend(target.local_as))
        drop += [
            AttributeCode.LOCAL_PREF,
            AttributeCode.ORIGINATOR_ID,
            AttributeCode.CLUSTER_LIST,
        ]
        if not originated:
            drop.append(AttributeCode.MULTI_EXIT_DISC)
        # RFC 9234 §5 egress (eBGP peers with a role): OTC routes go only to customers (and
        # RS clients); OTC = our AS is added towards customers, peers and RS clients.
        if otc_blocks_export(info, a):
            return None
        otc = otc_to_add(info, target.local_as, a)
        if otc is not None:
            add.append(otc)
        self_hop = own_hop or (
            not originated and (info.next_hop_self or not info.keep_original_next_hop)
        )
    next_hop = _local_next_hop(target, family) if self_hop else path.next_hop
    if family == IPV4_UNICAST:
        if isinstance(next_hop, IPv4Address):
            add.append(NextHop(next_hop))
    else:
        drop.append(AttributeCode.NEXT_HOP)
        # RFC 2545 §3: a learned link-local next hop is only meaningful on the link it was
        # learned on, so only the global next hop is passed on.
        add.append(MpReachNlri(family[0], family[1], (next_hop,), (), None))
    # RFC 4271 §5: unrecognised non-transitive optional attributes are not passed along;
    # transitive ones are, with the Partial bit set.
    result = prepare_for_export(a).without(*drop)
    if add:
        result = result.replace(*add)
    # Sent in ascending type-code order (RFC 4271 §5 suggests it; receivers accept any order).
    result = PathAttributes(tuple(sorted(result.attributes, key=lambda x: int(x.code))))
    if not target.negotiated.four_octet_as:
        result = to_two_octet(result)  # RFC 6793 §4.2.2
    return result


def pack(
    family: Family,
    announce: Mapping[PathAttributes, Sequence[bytes]],
    withdraw: Sequence[bytes],
    negotiated: Negotiated,
) -> list[bytes]:
    """Withdrawals first, then one packed run of UPDATEs per attribute set.

    In a family sent with ADD-PATH (RFC 7911) the keys are path keys (``pybgp.rib.addpath``):
    each goes out with its path id.
    """
    if family in negotiated.add_path_send:
        return _pack_paths(family, announce, withdraw, negotiated)
    messages: list[bytes] = []
    if withdraw:
        messages += pack_update_messages(family, EMPTY_ATTRIBUTES, (), withdraw, negotiated)
    for attributes, keys in announce.items():
        if keys:
            messages += pack_update_messages(family, attributes, keys, (), negotiated)
    return messages


def _pack_paths(
    family: Family,
    announce: Mapping[PathAttributes, Sequence[bytes]],
    withdraw: Sequence[bytes],
    negotiated: Negotiated,
) -> list[bytes]:
    messages: list[bytes] = []
    if withdraw:
        prefixes, ids = _split(withdraw)
        messages += pack_update_messages(
            family, EMPTY_ATTRIBUTES, (), prefixes, negotiated, withdraw_path_ids=ids
        )
    for attributes, keys in announce.items():
        if keys:
            prefixes, ids = _split(keys)
            messages += pack_update_messages(
                family, attributes, prefixes, (), negotiated, path_ids=ids
            )
    return messages


def _split(keys: Sequence[bytes]) -> tuple[list[bytes], list[int]]:
    """(prefix keys, path ids) of ADD-PATH path keys (4-octet id + prefix key)."""
    return [key[4:] for key in keys], [int.from_bytes(key[:4]) for key in keys]


def end_of_rib(family: Family) -> bytes:
    """The End-of-RIB marker of a family (RFC 4724 §2)."""
    return encode_end_of_rib(family)

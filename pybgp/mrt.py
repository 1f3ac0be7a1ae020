"""MRT export format (RFC 6396): bytes only, no I/O, no clock (timestamps are passed in).

Two record families are written:

* TABLE_DUMP_V2 (type 13, §4.3) for ``pybgp mrt dump``: one PEER_INDEX_TABLE, then one
  RIB_IPV4_UNICAST / RIB_IPV6_UNICAST record per prefix with one RIB entry per path.
* BGP4MP (type 16, §4.4) for the ``[mrt]`` update log: BGP4MP_MESSAGE_AS4 (subtype 4) with a
  whole BGP message, and BGP4MP_STATE_CHANGE_AS4 (subtype 5) for session state changes.

``bgpdump`` (and every other MRT reader) reads what this module writes; the tests check it.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Iterator, Sequence
from ipaddress import IPv4Address, IPv6Address

import attrs

from pybgp.wire.attribute_codec import encode_attributes
from pybgp.wire.attributes import NextHop, PathAttributes
from pybgp.wire.constants import AttributeCode, Family
from pybgp.wire.negotiated import Negotiated

__all__ = [
    "BGP4MP",
    "BGP4MP_MESSAGE_AS4",
    "BGP4MP_STATE_CHANGE_AS4",
    "PEER_INDEX_TABLE",
    "RIB_IPV4_UNICAST",
    "RIB_IPV6_UNICAST",
    "TABLE_DUMP_V2",
    "MrtPeer",
    "RibEntry",
    "bgp4mp_message",
    "bgp4mp_state_change",
    "peer_index_table",
    "record",
    "rib_record",
    "table_attributes",
]

# RFC 6396 §4: MRT types and subtypes.
TABLE_DUMP_V2 = 13
PEER_INDEX_TABLE = 1
RIB_IPV4_UNICAST = 2
RIB_IPV6_UNICAST = 4
BGP4MP = 16
BGP4MP_STATE_CHANGE_AS4 = 5
BGP4MP_MESSAGE_AS4 = 4

_HEADER = struct.Struct("!IHHI")
_FOUR_OCTET = Negotiated(four_octet_as=True)
_FLAG_OPTIONAL = 0x80
_FLAG_EXTENDED = 0x10


@attrs.frozen
class MrtPeer:
    """One PEER_INDEX_TABLE entry (RFC 6396 §4.3.1)."""

    router_id: IPv4Address
    address: IPv4Address | IPv6Address
    asn: int


@attrs.frozen
class RibEntry:
    """One path of a RIB record: the peer's index, when it arrived, its attribute block."""

    peer_index: int
    originated: int
    attributes: bytes


def record(timestamp: int, type_: int, subtype: int, body: bytes) -> bytes:
    """An MRT record: the common header (§2) then ``body``."""
    return _HEADER.pack(timestamp & 0xFFFFFFFF, type_, subtype, len(body)) + body


def peer_index_table(
    timestamp: int, collector_id: IPv4Address, view: str, peers: Sequence[MrtPeer]
) -> bytes:
    """The PEER_INDEX_TABLE record (§4.3.1); every peer gets the AS4 form (peer type bit 1)."""
    name = view.encode()
    parts = [collector_id.packed, struct.pack("!H", len(name)), name, struct.pack("!H", len(peers))]
    for peer in peers:
        ipv6 = isinstance(peer.address, IPv6Address)
        peer_type = 0x02 | (0x01 if ipv6 else 0x00)  # bit 1: AS4, bit 0: IPv6 address
        parts += [
            bytes((peer_type,)),
            peer.router_id.packed,
            peer.address.packed,
            struct.pack("!I", peer.asn),
        ]
    return record(timestamp, TABLE_DUMP_V2, PEER_INDEX_TABLE, b"".join(parts))


def rib_record(
    timestamp: int, family: Family, sequence: int, prefix: bytes, entries: Sequence[RibEntry]
) -> bytes:
    """A RIB_IPV4_UNICAST / RIB_IPV6_UNICAST record (§4.3.2) for one prefix key."""
    subtype = RIB_IPV4_UNICAST if family[0] == 1 else RIB_IPV6_UNICAST
    parts = [struct.pack("!I", sequence & 0xFFFFFFFF), prefix, struct.pack("!H", len(entries))]
    for entry in entries:
        parts.append(
            struct.pack("!HIH", entry.peer_index, entry.originated & 0xFFFFFFFF,
                        len(entry.attributes))
        )
        parts.append(entry.attributes)
    return record(timestamp, TABLE_DUMP_V2, subtype, b"".join(parts))


def table_attributes(
    attributes: PathAttributes, family: Family, next_hop: IPv4Address | IPv6Address
) -> bytes:
    """The attribute block of a TABLE_DUMP_V2 RIB entry (§4.3.4): 4-octet AS numbers always;
    IPv4 with a NEXT_HOP attribute; others with the abbreviated MP_REACH_NLRI (next hop
    length and next hop only)."""
    if family[0] == 1:
        if attributes.get(AttributeCode.NEXT_HOP) is None and isinstance(next_hop, IPv4Address):
            attributes = attributes.replace(NextHop(next_hop))
        return encode_attributes(attributes, _FOUR_OCTET)
    plain = attributes.without(
        AttributeCode.MP_REACH_NLRI, AttributeCode.MP_UNREACH_NLRI, AttributeCode.NEXT_HOP
    )
    value = bytes((len(next_hop.packed),)) + next_hop.packed
    return encode_attributes(plain, _FOUR_OCTET) + _attribute(
        _FLAG_OPTIONAL, AttributeCode.MP_REACH_NLRI, value
    )


def _attribute(flags: int, code: int, value: bytes) -> bytes:
    if len(value) > 255:
        return struct.pack("!BBH", flags | _FLAG_EXTENDED, code, len(value)) + value
    return struct.pack("!BBB", flags, code, len(value)) + value


def table_dump(
    timestamp: int,
    collector_id: IPv4Address,
    view: str,
    peers: Sequence[MrtPeer],
    routes: Iterable[tuple[Family, bytes, Sequence[RibEntry]]],
) -> Iterator[bytes]:
    """A whole TABLE_DUMP_V2 file as records: the peer index, then one record per prefix."""
    yield peer_index_table(timestamp, collector_id, view, peers)
    for sequence, (family, prefix, entries) in enumerate(routes):
        yield rib_record(timestamp, family, sequence, prefix, entries)


def _bgp4mp_head(
    peer_as: int,
    local_as: int,
    peer_address: IPv4Address | IPv6Address,
    local_address: IPv4Address | IPv6Address,
) -> bytes:
    # §4.4.2/§4.4.3: the AFI says how long both addresses are; they must share it.
    if peer_address.version != local_address.version:
        local_address = IPv4Address(0) if peer_address.version == 4 else IPv6Address(0)
    afi = 1 if peer_address.version == 4 else 2
    return (
        struct.pack("!IIHH", peer_as, local_as, 0, afi)
        + peer_address.packed
        + local_address.packed
    )


def bgp4mp_message(
    timestamp: int,
    peer_as: int,
    local_as: int,
    peer_address: IPv4Address | IPv6Address,
    local_address: IPv4Address | IPv6Address,
    message: bytes,
) -> bytes:
    """A BGP4MP_MESSAGE_AS4 record (§4.4.3): ``message`` is a whole BGP message (marker,
    length, type, body) as received."""
    head = _bgp4mp_head(peer_as, local_as, peer_address, local_address)
    return record(timestamp, BGP4MP, BGP4MP_MESSAGE_AS4, head + message)


def bgp4mp_state_change(
    timestamp: int,
    peer_as: int,
    local_as: int,
    peer_address: IPv4Address | IPv6Address,
    local_address: IPv4Address | IPv6Address,
    old_state: int,
    new_state: int,
) -> bytes:
    """A BGP4MP_STATE_CHANGE_AS4 record (§4.4.4); states numbered as in RFC 4271 §8.2.2
    (Idle 1 ... Established 6)."""
    head = _bgp4mp_head(peer_as, local_as, peer_address, local_address)
    return record(
        timestamp, BGP4MP, BGP4MP_STATE_CHANGE_AS4, head + struct.pack("!HH", old_state, new_state)
    )

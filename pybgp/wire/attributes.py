"""Path attributes as frozen values (RFC 4271 §4.3 and §5, and the RFCs named on each class).

Theory of operation
-------------------
One frozen class per attribute, each with its type ``code`` as a class variable and its
``flags`` octet as an instance field defaulting to the canonical flags. The flags are kept
because implementations differ (FRR sets Extended Length on short AS_PATHs: flags 0x50) and
re-encoding must be byte exact. Attributes pybgp does not know are kept whole, byte for byte, as
:class:`UnknownAttribute`.

:class:`PathAttributes` is the set of attributes of one UPDATE, in received order. It is frozen
and hashable with a cached hash, because it is the *interning key*: the decoder hands out the
same ``PathAttributes`` object for every UPDATE whose attribute block has the same bytes (see
``attribute_codec``), so a million prefixes share a few thousand attribute objects, and the
RIB can compare attribute sets by identity first.

Encoding and decoding live in :mod:`pybgp.wire.attribute_codec`; the RFC 7606 rule table in
:mod:`pybgp.wire.update_errors`; the RFC 6793 AS_PATH/AS4_PATH logic in :mod:`pybgp.wire.aspath`.
"""

from __future__ import annotations

from collections.abc import Iterator
from ipaddress import IPv4Address, IPv6Address
from typing import Any, ClassVar, Final

import attrs

from pybgp.wire.constants import AsPathSegmentType, AttributeCode, AttributeFlag

__all__ = [
    "FLAGS_OPTIONAL_NON_TRANSITIVE",
    "FLAGS_OPTIONAL_TRANSITIVE",
    "FLAGS_WELL_KNOWN",
    "Aggregator",
    "As4Aggregator",
    "As4Path",
    "AsPath",
    "AsPathSegment",
    "AtomicAggregate",
    "Attribute",
    "ClusterList",
    "Communities",
    "ExtendedCommunities",
    "LargeCommunities",
    "LocalPref",
    "MpReachNlri",
    "MpUnreachNlri",
    "MultiExitDisc",
    "NextHop",
    "Origin",
    "OriginatorId",
    "Otc",
    "PathAttributes",
    "UnknownAttribute",
    "prepare_for_export",
]

FLAGS_WELL_KNOWN: Final = int(AttributeFlag.TRANSITIVE)  # 0x40
FLAGS_OPTIONAL_NON_TRANSITIVE: Final = int(AttributeFlag.OPTIONAL)  # 0x80
FLAGS_OPTIONAL_TRANSITIVE: Final = int(AttributeFlag.OPTIONAL | AttributeFlag.TRANSITIVE)  # 0xc0

_CONFED_TYPES: Final = frozenset(
    {AsPathSegmentType.AS_CONFED_SEQUENCE, AsPathSegmentType.AS_CONFED_SET}
)


@attrs.frozen
class Origin:
    """ORIGIN (RFC 4271 §5.1.1): 0 IGP, 1 EGP, 2 INCOMPLETE."""

    code: ClassVar[AttributeCode] = AttributeCode.ORIGIN
    value: int
    flags: int = FLAGS_WELL_KNOWN


@attrs.frozen
class AsPathSegment:
    """One AS_PATH segment (RFC 4271 §4.3; confederation types from RFC 5065 §3)."""

    type: int
    asns: tuple[int, ...]


def _path_length(segments: tuple[AsPathSegment, ...]) -> int:
    # RFC 4271 §9.1.2.2 (a): an AS_SET counts 1; RFC 5065 §5.3: confederation segments count 0.
    total = 0
    for seg in segments:
        if seg.type == AsPathSegmentType.AS_SEQUENCE:
            total += len(seg.asns)
        elif seg.type == AsPathSegmentType.AS_SET:
            total += 1
    return total


@attrs.frozen
class AsPath:
    """AS_PATH (RFC 4271 §5.1.2). ASNs are ints whatever their width on the wire (RFC 6793)."""

    code: ClassVar[AttributeCode] = AttributeCode.AS_PATH
    segments: tuple[AsPathSegment, ...] = ()
    flags: int = FLAGS_WELL_KNOWN

    @property
    def length(self) -> int:
        """Path length for the decision process: AS_SET counts 1, confederation segments 0."""
        return _path_length(self.segments)

    @property
    def neighbor_as(self) -> int | None:
        """The first AS of the path when it starts (after confederation segments) with an
        AS_SEQUENCE, else None (RFC 4271 §9.1.2.2 (c), RFC 5065 §5.3)."""
        for seg in self.segments:
            if seg.type in _CONFED_TYPES:
                continue
            if seg.type == AsPathSegmentType.AS_SEQUENCE and seg.asns:
                return seg.asns[0]
            return None
        return None

    def contains(self, asn: int) -> int:
        """How many times ``asn`` occurs anywhere in the path (loop detection, RFC 4271 §9.1.2)."""
        return sum(seg.asns.count(asn) for seg in self.segments)

    def prepend(self, asn: int, count: int = 1) -> AsPath:
        """The path with ``asn`` prepended ``count`` times (RFC 4271 §5.1.2)."""
        if count <= 0:
            return self
        head = (asn,) * count
        segs = self.segments
        if segs and segs[0].type == AsPathSegmentType.AS_SEQUENCE:
            first = AsPathSegment(AsPathSegmentType.AS_SEQUENCE, head + segs[0].asns)
            return AsPath((first, *segs[1:]), self.flags)
        return AsPath((AsPathSegment(AsPathSegmentType.AS_SEQUENCE, head), *segs), self.flags)

    def asns(self) -> Iterator[int]:
        """Every ASN in order, across segments."""
        for seg in self.segments:
            yield from seg.asns


@attrs.frozen
class NextHop:
    """NEXT_HOP (RFC 4271 §5.1.3): the IPv4 next hop of the classic NLRI field."""

    code: ClassVar[AttributeCode] = AttributeCode.NEXT_HOP
    address: IPv4Address
    flags: int = FLAGS_WELL_KNOWN


@attrs.frozen
class MultiExitDisc:
    """MULTI_EXIT_DISC (RFC 4271 §5.1.4)."""

    code: ClassVar[AttributeCode] = AttributeCode.MULTI_EXIT_DISC
    value: int
    flags: int = FLAGS_OPTIONAL_NON_TRANSITIVE


@attrs.frozen
class LocalPref:
    """LOCAL_PREF (RFC 4271 §5.1.5); only meaningful between internal peers."""

    code: ClassVar[AttributeCode] = AttributeCode.LOCAL_PREF
    value: int
    flags: int = FLAGS_WELL_KNOWN


@attrs.frozen
class AtomicAggregate:
    """ATOMIC_AGGREGATE (RFC 4271 §5.1.6): no value."""

    code: ClassVar[AttributeCode] = AttributeCode.ATOMIC_AGGREGATE
    flags: int = FLAGS_WELL_KNOWN


@attrs.frozen
class Aggregator:
    """AGGREGATOR (RFC 4271 §5.1.7); 2- or 4-octet ASN on the wire per RFC 6793."""

    code: ClassVar[AttributeCode] = AttributeCode.AGGREGATOR
    asn: int
    address: IPv4Address
    flags: int = FLAGS_OPTIONAL_TRANSITIVE


@attrs.frozen
class Communities:
    """COMMUNITIES (RFC 1997): 32-bit values, ``asn << 16 | value``."""

    code: ClassVar[AttributeCode] = AttributeCode.COMMUNITIES
    values: tuple[int, ...]
    flags: int = FLAGS_OPTIONAL_TRANSITIVE


@attrs.frozen
class OriginatorId:
    """ORIGINATOR_ID (RFC 4456 §8)."""

    code: ClassVar[AttributeCode] = AttributeCode.ORIGINATOR_ID
    address: IPv4Address
    flags: int = FLAGS_OPTIONAL_NON_TRANSITIVE


@attrs.frozen
class ClusterList:
    """CLUSTER_LIST (RFC 4456 §8): cluster ids, most recent first."""

    code: ClassVar[AttributeCode] = AttributeCode.CLUSTER_LIST
    ids: tuple[IPv4Address, ...]
    flags: int = FLAGS_OPTIONAL_NON_TRANSITIVE


@attrs.frozen
class MpReachNlri:
    """MP_REACH_NLRI (RFC 4760 §3). ``next_hops`` holds one address, or two for an IPv6 global
    plus link-local next hop (RFC 2545 §3, next hop length 32). An IPv6 next hop for IPv4 NLRI
    is RFC 8950. ``nlri`` are prefix keys; ``path_ids`` the parallel RFC 7911 identifiers."""

    code: ClassVar[AttributeCode] = AttributeCode.MP_REACH_NLRI
    afi: int
    safi: int
    next_hops: tuple[IPv4Address | IPv6Address, ...]
    nlri: tuple[bytes, ...] = ()
    path_ids: tuple[int, ...] | None = None
    flags: int = FLAGS_OPTIONAL_NON_TRANSITIVE

    @property
    def family(self) -> tuple[int, int]:
        """(AFI, SAFI)."""
        return (self.afi, self.safi)


@attrs.frozen
class MpUnreachNlri:
    """MP_UNREACH_NLRI (RFC 4760 §4); empty ``withdrawn`` is End-of-RIB (RFC 4724 §2)."""

    code: ClassVar[AttributeCode] = AttributeCode.MP_UNREACH_NLRI
    afi: int
    safi: int
    withdrawn: tuple[bytes, ...] = ()
    path_ids: tuple[int, ...] | None = None
    flags: int = FLAGS_OPTIONAL_NON_TRANSITIVE

    @property
    def family(self) -> tuple[int, int]:
        """(AFI, SAFI)."""
        return (self.afi, self.safi)


@attrs.frozen
class ExtendedCommunities:
    """EXTENDED_COMMUNITIES (RFC 4360): 8-octet values kept as bytes."""

    code: ClassVar[AttributeCode] = AttributeCode.EXTENDED_COMMUNITIES
    values: tuple[bytes, ...]
    flags: int = FLAGS_OPTIONAL_TRANSITIVE


@attrs.frozen
class As4Path:
    """AS4_PATH (RFC 6793 §3): the 4-octet path beside an AS_PATH sent to a 2-octet speaker."""

    code: ClassVar[AttributeCode] = AttributeCode.AS4_PATH
    segments: tuple[AsPathSegment, ...]
    flags: int = FLAGS_OPTIONAL_TRANSITIVE

    @property
    def length(self) -> int:
        """Path length counted as for AS_PATH (RFC 6793 §4.2.3)."""
        return _path_length(self.segments)


@attrs.frozen
class As4Aggregator:
    """AS4_AGGREGATOR (RFC 6793 §3)."""

    code: ClassVar[AttributeCode] = AttributeCode.AS4_AGGREGATOR
    asn: int
    address: IPv4Address
    flags: int = FLAGS_OPTIONAL_TRANSITIVE


@attrs.frozen
class LargeCommunities:
    """LARGE_COMMUNITIES (RFC 8092): (global administrator, local data 1, local data 2)."""

    code: ClassVar[AttributeCode] = AttributeCode.LARGE_COMMUNITIES
    values: tuple[tuple[int, int, int], ...]
    flags: int = FLAGS_OPTIONAL_TRANSITIVE


@attrs.frozen
class Otc:
    """Only to Customer (RFC 9234 §5)."""

    code: ClassVar[AttributeCode] = AttributeCode.OTC
    asn: int
    flags: int = FLAGS_OPTIONAL_TRANSITIVE


@attrs.frozen
class UnknownAttribute:
    """An attribute pybgp does not interpret, kept byte for byte (RFC 4271 §5)."""

    code: int
    flags: int
    value: bytes


Attribute = (
    Origin
    | AsPath
    | NextHop
    | MultiExitDisc
    | LocalPref
    | AtomicAggregate
    | Aggregator
    | Communities
    | OriginatorId
    | ClusterList
    | MpReachNlri
    | MpUnreachNlri
    | ExtendedCommunities
    | As4Path
    | As4Aggregator
    | LargeCommunities
    | Otc
    | UnknownAttribute
)
"""Any path attribute value."""


@attrs.frozen(cache_hash=True)
class PathAttributes:
    """The path attributes of an UPDATE, in received order; hashable (the interning key).

    Accessors return the attribute or None. ``replace`` and ``without`` build changed copies.
    ``wire`` is a private cache of the encoded block (filled by the codec), not part of equality.
    """

    attributes: tuple[Attribute, ...] = ()
    wire: dict[Any, bytes] = attrs.field(factory=dict, init=False, eq=False, hash=False, repr=False)

    def get(self, code: int) -> Attribute | None:
        """The first attribute with type ``code``, or None."""
        for attr in self.attributes:
            if attr.code == code:
                return attr
        return None

    def __contains__(self, code: object) -> bool:
        return any(attr.code == code for attr in self.attributes)

    def __iter__(self) -> Iterator[Attribute]:
        return iter(self.attributes)

    def __len__(self) -> int:
        return len(self.attributes)

    @property
    def codes(self) -> tuple[int, ...]:
        """The attribute type codes, in order."""
        return tuple(int(a.code) for a in self.attributes)

    @property
    def origin(self) -> Origin | None:
        """ORIGIN or None."""
        attr = self.get(AttributeCode.ORIGIN)
        return attr if isinstance(attr, Origin) else None

    @property
    def as_path(self) -> AsPath | None:
        """AS_PATH or None."""
        attr = self.get(AttributeCode.AS_PATH)
        return attr if isinstance(attr, AsPath) else None

    @property
    def next_hop(self) -> NextHop | None:
        """NEXT_HOP or None."""
        attr = self.get(AttributeCode.NEXT_HOP)
        return attr if isinstance(attr, NextHop) else None

    @property
    def med(self) -> MultiExitDisc | None:
        """MULTI_EXIT_DISC or None."""
        attr = self.get(AttributeCode.MULTI_EXIT_DISC)
        return attr if isinstance(attr, MultiExitDisc) else None

    @property
    def local_pref(self) -> LocalPref | None:
        """LOCAL_PREF or None."""
        attr = self.get(AttributeCode.LOCAL_PREF)
        return attr if isinstance(attr, LocalPref) else None

    @property
    def atomic_aggregate(self) -> AtomicAggregate | None:
        """ATOMIC_AGGREGATE or None."""
        attr = self.get(AttributeCode.ATOMIC_AGGREGATE)
        return attr if isinstance(attr, AtomicAggregate) else None

    @property
    def aggregator(self) -> Aggregator | None:
        """AGGREGATOR or None."""
        attr = self.get(AttributeCode.AGGREGATOR)
        return attr if isinstance(attr, Aggregator) else None

    @property
    def communities(self) -> Communities | None:
        """COMMUNITIES or None."""
        attr = self.get(AttributeCode.COMMUNITIES)
        return attr if isinstance(attr, Communities) else None

    @property
    def extended_communities(self) -> ExtendedCommunities | None:
        """EXTENDED_COMMUNITIES or None."""
        attr = self.get(AttributeCode.EXTENDED_COMMUNITIES)
        return attr if isinstance(attr, ExtendedCommunities) else None

    @property
    def large_communities(self) -> LargeCommunities | None:
        """LARGE_COMMUNITIES or None."""
        attr = self.get(AttributeCode.LARGE_COMMUNITIES)
        return attr if isinstance(attr, LargeCommunities) else None

    @property
    def originator_id(self) -> OriginatorId | None:
        """ORIGINATOR_ID or None."""
        attr = self.get(AttributeCode.ORIGINATOR_ID)
        return attr if isinstance(attr, OriginatorId) else None

    @property
    def cluster_list(self) -> ClusterList | None:
        """CLUSTER_LIST or None."""
        attr = self.get(AttributeCode.CLUSTER_LIST)
        return attr if isinstance(attr, ClusterList) else None

    @property
    def mp_reach(self) -> MpReachNlri | None:
        """MP_REACH_NLRI or None."""
        attr = self.get(AttributeCode.MP_REACH_NLRI)
        return attr if isinstance(attr, MpReachNlri) else None

    @property
    def mp_unreach(self) -> MpUnreachNlri | None:
        """MP_UNREACH_NLRI or None."""
        attr = self.get(AttributeCode.MP_UNREACH_NLRI)
        return attr if isinstance(attr, MpUnreachNlri) else None

    @property
    def otc(self) -> Otc | None:
        """OTC or None."""
        attr = self.get(AttributeCode.OTC)
        return attr if isinstance(attr, Otc) else None

    def replace(self, *attributes: Attribute) -> PathAttributes:
        """A copy where each given attribute replaces the one with its code (in place), or is
        appended when absent."""
        new = {int(a.code): a for a in attributes}
        out: list[Attribute] = []
        for attr in self.attributes:
            code = int(attr.code)
            if code in new:
                out.append(new.pop(code))
            else:
                out.append(attr)
        out.extend(new.values())
        return PathAttributes(tuple(out))

    def without(self, *codes: int) -> PathAttributes:
        """A copy without the attributes of the given codes."""
        drop = {int(c) for c in codes}
        kept = tuple(a for a in self.attributes if int(a.code) not in drop)
        if len(kept) == len(self.attributes):
            return self
        return PathAttributes(kept)


def prepare_for_export(attributes: PathAttributes) -> PathAttributes:
    """Prepare received attributes for re-advertisement, as RFC 4271 §5 and §9.1 ask.

    Unknown optional non-transitive attributes are dropped; unknown optional transitive ones are
    passed on with the Partial bit set. (Known attributes are the export policy's business:
    LOCAL_PREF, MED, NEXT_HOP and friends are rewritten in the RIB.) Returns the same object when
    nothing changes, so interning survives.
    """
    out: list[Attribute] = []
    changed = False
    for attr in attributes.attributes:
        if isinstance(attr, UnknownAttribute) and attr.flags & AttributeFlag.OPTIONAL:
            if not attr.flags & AttributeFlag.TRANSITIVE:
                changed = True  # RFC 4271 §5: not passed on
                continue
            if not attr.flags & AttributeFlag.PARTIAL:
                changed = True  # RFC 4271 §5: Partial set when passing on unrecognized
                attr = UnknownAttribute(attr.code, attr.flags | AttributeFlag.PARTIAL, attr.value)
        out.append(attr)
    return PathAttributes(tuple(out)) if changed else attributes

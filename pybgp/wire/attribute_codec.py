"""Decoding and encoding of the path attribute block (RFC 4271 §4.3, RFC 7606).

Theory of operation
-------------------
``decode_attributes(data, negotiated)`` walks the attribute block once. Each attribute goes
through the same three gates, in the order RFC 7606 gives them:

1. *Framing* (RFC 7606 §4): an attribute header or value that runs past the block is an
   "attribute length overrun": treat-as-withdraw, and nothing after it can be read.
2. *Duplicates* (RFC 7606 §3 (g)): a second MP_REACH_NLRI/MP_UNREACH_NLRI resets the session;
   any other repeated attribute is discarded, the first one kept.
3. *The rule row* (``update_errors.RULES``): Optional/Transitive flags (§3 (c); Partial per
   RFC 4271 §4.3), the length rule (§4, §7.x), then the attribute's own value checks (§7.x);
   a failure costs the row's action.

Unknown attributes are kept byte for byte; an unknown one *without* the Optional bit is an
unrecognized well-known attribute, which RFC 7606 does not revise: session reset, 3/2
(RFC 4271 §6.3). The section -> action summary is in ``update_errors``.

Interning. The result depends only on the block's bytes and on the few session facts that
change its meaning (AS width, local and peer AS), so it is memoized in a bounded dict: every
UPDATE carrying the same attribute bytes gets the *same* :class:`PathAttributes` object. Blocks
holding MP_REACH_NLRI/MP_UNREACH_NLRI carry their own NLRI and are not memoized. The memo is a
pure function cache (deterministic, no clock), so it is allowed in the core.

Encoding writes each attribute with its stored flags (keeping an Extended Length bit the sender
set on a short value, as FRR does) and caches the encoded block on the ``PathAttributes`` object
per AS width. A cleanly decoded block is cached as the bytes it arrived in.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from ipaddress import IPv4Address, IPv6Address
from typing import Final

import attrs

from pybgp.wire.attributes import (
    Aggregator,
    As4Aggregator,
    As4Path,
    AsPath,
    AsPathSegment,
    AtomicAggregate,
    Attribute,
    ClusterList,
    Communities,
    ExtendedCommunities,
    LargeCommunities,
    LocalPref,
    MpReachNlri,
    MpUnreachNlri,
    MultiExitDisc,
    NextHop,
    Origin,
    OriginatorId,
    Otc,
    PathAttributes,
    UnknownAttribute,
)
from pybgp.wire.constants import (
    AFI,
    AS_TRANS,
    SAFI,
    AsPathSegmentType,
    AttributeCode,
    AttributeFlag,
    ErrorCode,
    Family,
    UpdateMessageSubcode,
)
from pybgp.wire.errors import LocalProtocolError, RemoteProtocolError
from pybgp.wire.negotiated import Negotiated
from pybgp.wire.nlri import decode_prefixes, encode_prefixes
from pybgp.wire.update_errors import RULES, AttributeRule, ErrorAction, ErrorState

__all__ = [
    "DecodedAttributes",
    "clear_attribute_memo",
    "decode_as_path_segments",
    "decode_attributes",
    "encode_as_path_segments",
    "encode_attribute",
    "encode_attributes",
]

_MEMO_MAX: Final = 100_000
_MEMO_CONTEXTS: Final = 256
_memo: dict[tuple[bool, int, int], dict[bytes, DecodedAttributes]] = {}
_UNICAST_FAMILIES: Final = frozenset(
    (afi, safi) for afi in (AFI.IPV4, AFI.IPV6) for safi in (SAFI.UNICAST, SAFI.MULTICAST)
)
_CONFED: Final = (AsPathSegmentType.AS_CONFED_SEQUENCE, AsPathSegmentType.AS_CONFED_SET)
_MP_CODES: Final = (AttributeCode.MP_REACH_NLRI, AttributeCode.MP_UNREACH_NLRI)
# Plain ints: IntFlag arithmetic costs a Python-level call per operation on the hot path.
_OPTIONAL: Final = int(AttributeFlag.OPTIONAL)
_PARTIAL: Final = int(AttributeFlag.PARTIAL)
_EXTENDED_LENGTH: Final = int(AttributeFlag.EXTENDED_LENGTH)
_CLASSIC_MANDATORY: Final = frozenset(
    {AttributeCode.ORIGIN, AttributeCode.AS_PATH, AttributeCode.NEXT_HOP}
)


@attrs.frozen
class DecodedAttributes:
    """What the attribute block said: the attributes kept, and the RFC 7606 verdict so far."""

    attributes: PathAttributes
    action: ErrorAction
    issues: tuple[str, ...]
    disabled_families: frozenset[Family]
    fatal: RemoteProtocolError | None
    overrun: bool  # RFC 7606 §4: the block could not be read to its end
    seen: frozenset[int]  # every attribute code met, kept or not
    simple: bool = False  # no problem, no MP attribute, ORIGIN + AS_PATH + NEXT_HOP all present


class _Malformed(RemoteProtocolError):
    """An attribute value broke its rule. Inside the decoder it becomes the rule row's RFC 7606
    action; raised from a public helper it is UPDATE 3/1 with ``reason`` saying why."""

    def __init__(self, reason: str) -> None:
        super().__init__(
            ErrorCode.UPDATE_MESSAGE, UpdateMessageSubcode.MALFORMED_ATTRIBUTE_LIST, b"", reason
        )


# --- AS_PATH segments (RFC 4271 §4.3, RFC 6793) ------------------------------------------------


def decode_as_path_segments(value: bytes, asn_size: int) -> tuple[AsPathSegment, ...]:
    """Segments of an AS_PATH/AS4_PATH value with ``asn_size``-octet ASNs (2 or 4).

    Raises :class:`RemoteProtocolError` (3/1) on an unknown segment type, an empty segment or a
    segment that runs past the value, or a single octet left over (RFC 7606 §7.2).
    """
    segments: list[AsPathSegment] = []
    fmt = "!%d" + ("H" if asn_size == 2 else "I")
    i = 0
    n = len(value)
    while i < n:
        if i + 2 > n:
            raise _Malformed("a segment header is cut short")
        seg_type = value[i]
        count = value[i + 1]
        if seg_type not in (1, 2, 3, 4):
            raise _Malformed(f"unknown segment type {seg_type}")
        if count == 0:
            raise _Malformed("a segment has zero length")
        end = i + 2 + count * asn_size
        if end > n:
            raise _Malformed("a segment runs past the attribute")
        asns = struct.unpack_from(fmt % count, value, i + 2)
        segments.append(AsPathSegment(seg_type, asns))
        i = end
    return tuple(segments)


def encode_as_path_segments(segments: tuple[AsPathSegment, ...], asn_size: int) -> bytes:
    """Encode segments; segments longer than 255 ASNs are split (RFC 4271 §4.3). On 2-octet
    sessions ASNs above 65535 become AS_TRANS (RFC 6793 §4.2.2; pair with ``to_two_octet``)."""
    parts: list[bytes] = []
    code = "H" if asn_size == 2 else "I"
    for seg in segments:
        asns = seg.asns
        if asn_size == 2 and any(a > 0xFFFF for a in asns):
            asns = tuple(a if a <= 0xFFFF else AS_TRANS for a in asns)
        for start in range(0, max(len(asns), 1), 255):
            chunk = asns[start : start + 255]
            try:
                parts.append(struct.pack(f"!BB{len(chunk)}{code}", seg.type, len(chunk), *chunk))
            except struct.error as exc:
                raise LocalProtocolError(f"AS_PATH segment not encodable: {exc}") from None
    return b"".join(parts)


# --- per-attribute value decoders ------------------------------------------------------------

_Decoder = Callable[[bytes, int, Negotiated], Attribute]


def _origin(value: bytes, flags: int, neg: Negotiated) -> Attribute:
    if value[0] > 2:  # RFC 7606 §7.1 (undefined value, RFC 4271 §6.3)
        raise _Malformed(f"undefined ORIGIN value {value[0]}")
    return Origin(value[0], flags)


class _ZeroAs(_Malformed):
    """AS number 0 in AS_PATH or AS4_PATH: the whole UPDATE is malformed (RFC 7607 §2), handled
    as RFC 7606 says: treat-as-withdraw, also for AS4_PATH (whose other malformations are only
    attribute discard, RFC 6793 §6), because RFC 7607 makes the UPDATE malformed, not just the
    attribute. FRR does the same; BIRD discards the AS4_PATH instead."""


def _no_zero_as(segments: tuple[AsPathSegment, ...], name: str) -> None:
    # RFC 7607 §2: "An UPDATE message that contains the AS number of zero in the AS_PATH or
    # AS4_PATH attribute MUST be considered as malformed" (any peer, any segment type).
    for seg in segments:
        if 0 in seg.asns:
            raise _ZeroAs(f"AS number 0 in {name} (RFC 7607 §2)")


def _as_path(value: bytes, flags: int, neg: Negotiated) -> Attribute:
    segments = decode_as_path_segments(value, 4 if neg.four_octet_as else 2)
    _no_zero_as(segments, "AS_PATH")
    if neg.peer_as and not neg.ibgp:
        # RFC 5065 §5: confederation segments from outside the confederation (we run none)
        # make a malformed AS_PATH, treat-as-withdraw (RFC 7606 §3 (e)).
        if any(seg.type in _CONFED for seg in segments):
            raise _Malformed("confederation segment from an external peer (RFC 5065 §5)")
        # RFC 4271 §6.3 (a MAY, always on here): the leftmost AS of an eBGP route must be the
        # peer's AS; RFC 7606 §7.2: such routes SHOULD be treat-as-withdraw.
        peer = neg.peer_as
        if not neg.four_octet_as and peer > 0xFFFF:
            peer = AS_TRANS
        if not segments or segments[0].type != AsPathSegmentType.AS_SEQUENCE:
            raise _Malformed("an external peer's AS_PATH does not start with an AS_SEQUENCE")
        if segments[0].asns[0] != peer:
            raise _Malformed(
                f"leftmost AS {segments[0].asns[0]} is not the peer's AS {peer} "
                "(RFC 4271 §6.3, RFC 7606 §7.2)"
            )
    return AsPath(segments, flags)


def _next_hop(value: bytes, flags: int, neg: Negotiated) -> Attribute:
    # RFC 4271 §6.3: syntactically incorrect when not a valid host address; treat-as-withdraw
    # by RFC 7606 §3 (e) (§7.3 covers the length). The semantic check that needs the session's
    # local address ("equals our own address": ignore the route, no NOTIFICATION) is the RIB
    # import's (pybgp.rib.receive), which holds that address in PeerInfo.local_address.
    first = value[0]
    if value == b"\x00\x00\x00\x00" or 224 <= first <= 239 or value == b"\xff\xff\xff\xff":
        raise _Malformed(
            f"NEXT_HOP {IPv4Address(value)} is not a valid host address "
            "(RFC 4271 §6.3, RFC 7606 §3 (e))"
        )
    return NextHop(IPv4Address(value), flags)


def _med(value: bytes, flags: int, neg: Negotiated) -> Attribute:
    return MultiExitDisc(int.from_bytes(value, "big"), flags)


def _local_pref(value: bytes, flags: int, neg: Negotiated) -> Attribute:
    return LocalPref(int.from_bytes(value, "big"), flags)


def _atomic(value: bytes, flags: int, neg: Negotiated) -> Attribute:
    return AtomicAggregate(flags)


def _aggregator(value: bytes, flags: int, neg: Negotiated) -> Attribute:
    width = 4 if neg.four_octet_as else 2
    if len(value) != width + 4:  # RFC 7606 §7.7: 6 octets, 8 with 4-octet ASNs (RFC 6793)
        raise _Malformed(f"length {len(value)} does not match {width}-octet AS numbers")
    asn = int.from_bytes(value[:width], "big")
    if asn == 0:  # RFC 7607 §2: AS 0 in AGGREGATOR: malformed, attribute discard (RFC 7606 §7.7)
        raise _Malformed("AS number 0 (RFC 7607 §2)")
    return Aggregator(asn, IPv4Address(value[width:]), flags)


def _communities(value: bytes, flags: int, neg: Negotiated) -> Attribute:
    return Communities(struct.unpack(f"!{len(value) // 4}I", value), flags)


def _originator(value: bytes, flags: int, neg: Negotiated) -> Attribute:
    return OriginatorId(IPv4Address(value), flags)


def _cluster_list(value: bytes, flags: int, neg: Negotiated) -> Attribute:
    return ClusterList(tuple(IPv4Address(value[i : i + 4]) for i in range(0, len(value), 4)), flags)


def _ext_communities(value: bytes, flags: int, neg: Negotiated) -> Attribute:
    return ExtendedCommunities(tuple(value[i : i + 8] for i in range(0, len(value), 8)), flags)


def _as4_path(value: bytes, flags: int, neg: Negotiated) -> Attribute:
    # Malformed segments raise: attribute discard (RFC 6793 §6, RULES). Confederation segments
    # are dropped by the decode loop, which logs them (RFC 6793 §6). AS 0 raises _ZeroAs:
    # treat-as-withdraw (RFC 7607 §2).
    segments = decode_as_path_segments(value, 4)
    _no_zero_as(segments, "AS4_PATH")
    return As4Path(segments, flags)


def _as4_aggregator(value: bytes, flags: int, neg: Negotiated) -> Attribute:
    asn = int.from_bytes(value[:4], "big")
    if asn == 0:  # RFC 7607 §2: malformed, attribute discard (RFC 6793 §6, RFC 7606 §7.7)
        raise _Malformed("AS number 0 (RFC 7607 §2)")
    return As4Aggregator(asn, IPv4Address(value[4:]), flags)


def _large_communities(value: bytes, flags: int, neg: Negotiated) -> Attribute:
    flat = struct.unpack(f"!{len(value) // 4}I", value)
    return LargeCommunities(
        tuple((flat[i], flat[i + 1], flat[i + 2]) for i in range(0, len(flat), 3)), flags
    )


def _otc(value: bytes, flags: int, neg: Negotiated) -> Attribute:
    return Otc(int.from_bytes(value, "big"), flags)


_DECODERS: Final[dict[int, _Decoder]] = {
    AttributeCode.ORIGIN: _origin,
    AttributeCode.AS_PATH: _as_path,
    AttributeCode.NEXT_HOP: _next_hop,
    AttributeCode.MULTI_EXIT_DISC: _med,
    AttributeCode.LOCAL_PREF: _local_pref,
    AttributeCode.ATOMIC_AGGREGATE: _atomic,
    AttributeCode.AGGREGATOR: _aggregator,
    AttributeCode.COMMUNITIES: _communities,
    AttributeCode.ORIGINATOR_ID: _originator,
    AttributeCode.CLUSTER_LIST: _cluster_list,
    AttributeCode.EXTENDED_COMMUNITIES: _ext_communities,
    AttributeCode.AS4_PATH: _as4_path,
    AttributeCode.AS4_AGGREGATOR: _as4_aggregator,
    AttributeCode.LARGE_COMMUNITIES: _large_communities,
    AttributeCode.OTC: _otc,
}


class _BadNextHop(_Malformed):
    """The MP_REACH_NLRI next hop length is not what the family expects (RFC 7606 §7.11)."""


def _decode_next_hops(
    family: tuple[int, int], data: bytes, neg: Negotiated
) -> tuple[IPv4Address | IPv6Address, ...]:
    # RFC 7606 §7.11: the length must be "that which was expected" for the AFI/SAFI, "modified
    # by any extensions in use": 4 for IPv4; 16, or 32 with the link-local address second, for
    # IPv6 (RFC 2545 §3) and for IPv4 only once the RFC 8950 extended next hop was negotiated.
    length = len(data)
    afi = family[0]
    if afi == AFI.IPV4 and length == 4:
        return (IPv4Address(data),)
    if afi == AFI.IPV6 or family in neg.extended_next_hop:
        if length == 16:
            return (IPv6Address(data),)
        if length == 32:
            return (IPv6Address(data[:16]), IPv6Address(data[16:]))
    raise _BadNextHop(f"next hop length {length} is not what AFI {afi} expects")


def _mp_reach(
    value: bytes, flags: int, neg: Negotiated, st: ErrorState, raw: bytes
) -> Attribute | None:
    # RFC 7606 §3 (j), §5.3, §7.11: AFI/SAFI disable if the AFI/SAFI can be read, else
    # session reset (3/9, RFC 4760 §7).
    if len(value) < 3:
        st.reset(
            UpdateMessageSubcode.OPTIONAL_ATTRIBUTE_ERROR,
            "MP_REACH_NLRI too short to carry an AFI/SAFI (RFC 7606 §5.3)",
            raw,
        )
        return None
    family = (int.from_bytes(value[:2], "big"), value[2])
    if family not in _UNICAST_FAMILIES:
        return UnknownAttribute(AttributeCode.MP_REACH_NLRI, flags, value)  # not ours to parse
    try:
        if len(value) < 5:  # RFC 7606 §5.3: "less than 5"
            raise _Malformed("length under 5: no next hop length and reserved octet")
        nh_len = value[3]
        if 5 + nh_len > len(value):
            raise _BadNextHop(f"next hop length {nh_len} runs past the attribute")
        next_hops = _decode_next_hops(family, value[4 : 4 + nh_len], neg)
        nlri, ids = decode_prefixes(value[5 + nh_len :], family[0], family in neg.add_path_receive)
    except RemoteProtocolError as exc:  # _Malformed, _BadNextHop, or NlriError (§5.3)
        section = "§7.11" if isinstance(exc, _BadNextHop) else "§5.3"
        st.disable(
            family,
            f"MP_REACH_NLRI for {family}: {exc.reason}; AFI/SAFI disabled (RFC 7606 {section})",
        )
        return None
    return MpReachNlri(family[0], family[1], next_hops, nlri, ids, flags)


def _mp_unreach(
    value: bytes, flags: int, neg: Negotiated, st: ErrorState, raw: bytes
) -> Attribute | None:
    if len(value) < 3:  # RFC 7606 §5.3: "less than 3"; no family to disable (§3 (j))
        st.reset(
            UpdateMessageSubcode.OPTIONAL_ATTRIBUTE_ERROR,
            "MP_UNREACH_NLRI too short to carry an AFI/SAFI (RFC 7606 §5.3)",
            raw,
        )
        return None
    family = (int.from_bytes(value[:2], "big"), value[2])
    if family not in _UNICAST_FAMILIES:
        return UnknownAttribute(AttributeCode.MP_UNREACH_NLRI, flags, value)
    try:
        withdrawn, ids = decode_prefixes(value[3:], family[0], family in neg.add_path_receive)
    except RemoteProtocolError as exc:
        st.disable(
            family,
            f"MP_UNREACH_NLRI for {family}: {exc.reason}; AFI/SAFI disabled (RFC 7606 §5.3)",
        )
        return None
    return MpUnreachNlri(family[0], family[1], withdrawn, ids, flags)


def _malformed(st: ErrorState, rule: AttributeRule, reason: str, value: bytes, raw: bytes) -> None:
    """Apply a rule row's action to a malformed attribute."""
    if rule.action is ErrorAction.AFI_SAFI_DISABLE:
        if len(value) >= 3:
            family = (int.from_bytes(value[:2], "big"), value[2])
            st.disable(
                family, f"{rule.name} for {family}: {reason}; AFI/SAFI disabled ({rule.section})"
            )
        else:
            st.reset(
                UpdateMessageSubcode.OPTIONAL_ATTRIBUTE_ERROR,
                f"{rule.name}: {reason}, AFI/SAFI unreadable ({rule.section})",
                raw,
            )
        return
    verb = "discarded" if rule.action is ErrorAction.ATTRIBUTE_DISCARD else "treat-as-withdraw"
    st.add(rule.action, f"{rule.name}: {reason}; {verb} ({rule.section})")


def clear_attribute_memo() -> None:
    """Forget every memoized attribute block (benchmarks, tests; never needed for correctness)."""
    _memo.clear()


def decode_attributes(data: bytes, negotiated: Negotiated) -> DecodedAttributes:
    """Decode a path attribute block, applying RFC 7606; memoized per distinct block bytes."""
    context = (negotiated.four_octet_as, negotiated.local_as, negotiated.peer_as)
    memo = _memo.get(context)
    if memo is None:
        if len(_memo) >= _MEMO_CONTEXTS:
            _memo.clear()  # bounded too: one context per (AS width, local AS, peer AS)
        memo = _memo[context] = {}
    hit = memo.get(data)
    if hit is not None:
        return hit
    result = _decode_attributes(data, negotiated)
    if not any(a.code in _MP_CODES for a in result.attributes.attributes) and result.fatal is None:
        if len(memo) >= _MEMO_MAX:
            memo.clear()  # bounded; a full table has a few thousand distinct sets
        memo[data] = result
    return result


def _decode_attributes(data: bytes, neg: Negotiated) -> DecodedAttributes:
    st = ErrorState()
    out: list[Attribute] = []
    seen: set[int] = set()
    overrun = False
    ebgp = bool(neg.peer_as) and not neg.ibgp
    i = 0
    n = len(data)
    while i < n:
        # RFC 7606 §4: fewer octets than a header, or a value past the end: attribute length
        # overrun, treat-as-withdraw; the Total Path Attribute Length still locates the NLRI.
        flags = data[i]
        header = 4 if flags & _EXTENDED_LENGTH else 3
        if i + header > n:
            st.add(
                ErrorAction.TREAT_AS_WITHDRAW,
                "attribute header cut short by the Total Path Attribute Length; "
                "treat-as-withdraw (RFC 7606 §4)",
            )
            overrun = True
            break
        code = data[i + 1]
        length = data[i + 2] << 8 | data[i + 3] if header == 4 else data[i + 2]
        start = i + header
        end = start + length
        if end > n:
            st.add(
                ErrorAction.TREAT_AS_WITHDRAW,
                f"attribute {code} length {length} overruns the attribute block; "
                "treat-as-withdraw (RFC 7606 §4)",
            )
            overrun = True
            break
        value = data[start:end]
        raw = data[i:end]
        i = end
        if code in seen:
            if code in _MP_CODES:
                st.reset(
                    UpdateMessageSubcode.MALFORMED_ATTRIBUTE_LIST,
                    f"attribute {code} appears more than once (RFC 7606 §3 (g))",
                )
            else:
                st.add(
                    ErrorAction.ATTRIBUTE_DISCARD,
                    f"attribute {code} repeated; all but the first discarded (RFC 7606 §3 (g))",
                )
            continue
        seen.add(code)
        rule = RULES.get(code)
        if rule is None:
            if not flags & _OPTIONAL:
                st.reset(
                    UpdateMessageSubcode.UNRECOGNIZED_WELL_KNOWN_ATTRIBUTE,
                    f"unrecognized well-known attribute {code} (RFC 4271 §6.3)",
                    raw,
                )
                continue
            out.append(UnknownAttribute(code, flags, value))  # RFC 4271 §5: kept as is
            continue
        # RFC 7606 §7.5, §7.9, §7.10: from an external peer the attribute is discarded whatever
        # its form; the length rules below apply to internal peers.
        if ebgp and rule.ebgp_action is not ErrorAction.NONE:
            st.add(
                rule.ebgp_action,
                f"{rule.name} from an external peer discarded ({rule.ebgp_section})",
            )
            continue
        # RFC 7606 §3 (c): Optional/Transitive bits must match. RFC 4271 §4.3: Partial only on
        # optional transitive attributes; handled the same way (stricter than §3 (c)).
        if (flags & 0xC0) != rule.flags:
            why = f"flags 0x{flags:02x} conflict with 0x{rule.flags:02x} (RFC 7606 §3 (c))"
            _malformed(st, rule, why, value, raw)
            continue
        if flags & _PARTIAL and rule.flags != 0xC0:
            why = f"Partial bit set on a {rule.name} (RFC 4271 §4.3, as RFC 7606 §3 (c))"
            _malformed(st, rule, why, value, raw)
            continue
        if not rule.length.ok(length):  # RFC 7606 §4 (zero length) and the §7.x length rules
            _malformed(st, rule, f"length {length} is not {rule.length.describe()}", value, raw)
            continue
        if code == AttributeCode.MP_REACH_NLRI:
            mp = _mp_reach(value, flags, neg, st, raw)
            if mp is not None:
                out.append(mp)
            continue
        if code == AttributeCode.MP_UNREACH_NLRI:
            mp = _mp_unreach(value, flags, neg, st, raw)
            if mp is not None:
                out.append(mp)
            continue
        if neg.four_octet_as and code in (AttributeCode.AS4_PATH, AttributeCode.AS4_AGGREGATOR):
            st.add(
                ErrorAction.ATTRIBUTE_DISCARD,
                f"{rule.name} between 4-octet-AS speakers discarded (RFC 6793 §4.1)",
            )
            continue
        try:
            attribute = _DECODERS[code](value, flags, neg)
        except _ZeroAs as exc:
            # RFC 7607 §2: the UPDATE is malformed; RFC 7606 §7.2 treat-as-withdraw, whatever
            # the row of AS4_PATH says about its other malformations.
            st.add(
                ErrorAction.TREAT_AS_WITHDRAW,
                f"{rule.name}: {exc.reason}; treat-as-withdraw (RFC 7606 §7.2)",
            )
            continue
        except _Malformed as exc:
            _malformed(st, rule, exc.reason, value, raw)
            continue
        if isinstance(attribute, As4Path) and any(s.type in _CONFED for s in attribute.segments):
            # RFC 6793 §6: "MUST discard these path segments ... and continue processing".
            st.add(ErrorAction.NONE, "AS4_PATH confederation segments discarded (RFC 6793 §6)")
            kept = tuple(seg for seg in attribute.segments if seg.type not in _CONFED)
            if not kept:
                continue
            attribute = As4Path(kept, flags)
        elif isinstance(attribute, LargeCommunities) and len(set(attribute.values)) < len(
            attribute.values
        ):
            # RFC 8092 §3: "MUST silently remove redundant" values; not an error (§6). Noted
            # so that the received bytes, duplicates included, are not cached for sending.
            st.add(ErrorAction.NONE, "duplicate LARGE_COMMUNITIES values removed (RFC 8092 §3)")
            attribute = LargeCommunities(tuple(dict.fromkeys(attribute.values)), flags)
        out.append(attribute)
    attributes = PathAttributes(tuple(out))
    simple = False
    if not st.issues and not any(a.code in _MP_CODES for a in out):
        attributes.wire[neg.four_octet_as] = data  # byte exact, and free to re-encode
        simple = seen >= _CLASSIC_MANDATORY
    return DecodedAttributes(
        attributes,
        st.action,
        tuple(st.issues),
        frozenset(st.disabled),
        st.fatal,
        overrun,
        frozenset(seen),
        simple,
    )


# --- encoding --------------------------------------------------------------------------------


def _encode_value(attr: Attribute, neg: Negotiated) -> bytes:
    if isinstance(attr, UnknownAttribute):
        return attr.value
    if isinstance(attr, Origin):
        return bytes((attr.value,))
    if isinstance(attr, AsPath):
        return encode_as_path_segments(attr.segments, 4 if neg.four_octet_as else 2)
    if isinstance(attr, (NextHop, OriginatorId)):
        return attr.address.packed
    if isinstance(attr, (MultiExitDisc, LocalPref)):
        return attr.value.to_bytes(4, "big")
    if isinstance(attr, AtomicAggregate):
        return b""
    if isinstance(attr, Aggregator):
        if neg.four_octet_as:
            return attr.asn.to_bytes(4, "big") + attr.address.packed
        asn = attr.asn if attr.asn <= 0xFFFF else AS_TRANS  # RFC 6793 §4.2.2
        return asn.to_bytes(2, "big") + attr.address.packed
    if isinstance(attr, Communities):
        return struct.pack(f"!{len(attr.values)}I", *attr.values)
    if isinstance(attr, ClusterList):
        return b"".join(a.packed for a in attr.ids)
    if isinstance(attr, ExtendedCommunities):
        if any(len(v) != 8 for v in attr.values):
            raise LocalProtocolError("extended communities are 8 octets each")
        return b"".join(attr.values)
    if isinstance(attr, As4Path):
        return encode_as_path_segments(attr.segments, 4)
    if isinstance(attr, As4Aggregator):
        return attr.asn.to_bytes(4, "big") + attr.address.packed
    if isinstance(attr, LargeCommunities):
        return b"".join(struct.pack("!III", *v) for v in attr.values)
    if isinstance(attr, Otc):
        return attr.asn.to_bytes(4, "big")
    if isinstance(attr, MpReachNlri):
        nh = b"".join(a.packed for a in attr.next_hops)
        ids = attr.path_ids if attr.family in neg.add_path_send else None
        if ids is None and attr.family in neg.add_path_send:
            ids = (0,) * len(attr.nlri)
        return (
            struct.pack("!HBB", attr.afi, attr.safi, len(nh))
            + nh
            + b"\x00"
            + encode_prefixes(attr.nlri, ids)
        )
    if isinstance(attr, MpUnreachNlri):
        ids = attr.path_ids if attr.family in neg.add_path_send else None
        if ids is None and attr.family in neg.add_path_send:
            ids = (0,) * len(attr.withdrawn)
        return struct.pack("!HB", attr.afi, attr.safi) + encode_prefixes(attr.withdrawn, ids)
    raise LocalProtocolError(f"not an attribute: {attr!r}")


def encode_attribute(attr: Attribute, negotiated: Negotiated) -> bytes:
    """One attribute with its header (RFC 4271 §4.3). The stored flags are kept; Extended Length
    is added when the value needs it."""
    try:
        value = _encode_value(attr, negotiated)
    except (struct.error, OverflowError, ValueError) as exc:
        raise LocalProtocolError(f"{type(attr).__name__} not encodable: {exc}") from None
    flags = attr.flags & 0xFF
    length = len(value)
    if length > 0xFFFF:
        raise LocalProtocolError(f"{type(attr).__name__} value too long ({length} octets)")
    if length > 0xFF or flags & _EXTENDED_LENGTH:
        flags |= _EXTENDED_LENGTH
        return struct.pack("!BBH", flags, attr.code, length) + value
    return struct.pack("!BBB", flags, attr.code, length) + value


def encode_attributes(attributes: PathAttributes, negotiated: Negotiated) -> bytes:
    """The attribute block of an UPDATE, cached on the object when it has no MP attributes."""
    key = negotiated.four_octet_as
    cached = attributes.wire.get(key)
    if cached is not None:
        return cached
    encoded = b"".join([encode_attribute(a, negotiated) for a in attributes.attributes])
    if not any(a.code in _MP_CODES for a in attributes.attributes):
        attributes.wire[key] = encoded
    return encoded

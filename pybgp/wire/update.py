"""The UPDATE message (RFC 4271 §4.3), multiprotocol NLRI (RFC 4760), ADD-PATH (RFC 7911) and the
RFC 7606 verdict on what to do with it.

Theory of operation
-------------------
``decode_update(body, negotiated)`` takes the body (what follows the 19-octet header) and returns
an :class:`UpdateResult`: the decoded :class:`Update` *and* the RFC 7606 action the receiver must
take (``update_errors.ErrorAction``), one sentence per problem, and the families to disable. Only
a session-reset problem raises (:class:`~pybgp.wire.errors.RemoteProtocolError` carrying the
NOTIFICATION); everything weaker is returned so the RIB can withdraw, discard or disable.

Order of the checks, and why:

* RFC 4271 §6.3, kept by RFC 7606 §3 (b): Withdrawn Routes Length and Total Path Attribute
  Length must fit the message, else 3/1 (nothing else can be located);
* RFC 7606 §3 (i), (j) and §5.3: the withdrawn routes and NLRI fields must parse, else session
  reset 3/10 (treat-as-withdraw needs the prefixes);
* the attribute block (``attribute_codec``): per-attribute rules, duplicates, overrun;
* RFC 7606 §3 (d): a missing well-known mandatory attribute (ORIGIN, AS_PATH; NEXT_HOP only when
  the classic NLRI field is used, RFC 4760 §3) is treat-as-withdraw, checked only when the UPDATE
  announces something. An UPDATE with nothing at all is the IPv4 End-of-RIB (RFC 4724 §2);
* RFC 7606 §5.2: attributes other than MP_UNREACH_NLRI but no reachable NLRI (no NLRI field, no
  MP_REACH_NLRI), and an error stronger than attribute discard: session reset 3/1, since the
  NLRI may not have been located right. Without errors such an UPDATE is valid (RFC 4271 §6.3).
  The section -> action summary is in ``update_errors``.

IPv4 unicast travels in the classic fields; every other family (and IPv4 with an RFC 8950 IPv6
next hop) inside MP_REACH_NLRI/MP_UNREACH_NLRI attributes, which may sit anywhere in the block on
receipt (RFC 7606 §5.1) and are written first when we build messages, where each UPDATE also
carries only one of withdrawn routes, NLRI, MP_REACH_NLRI and MP_UNREACH_NLRI (§5.1).

The hot path is a full table: the attribute block is decoded once per distinct bytes (interned),
the NLRI field is one tight slicing loop (``nlri.decode_prefixes``), and encoding is a join of
cached attribute bytes and the prefix keys themselves.
"""

from __future__ import annotations

import struct
from bisect import bisect_right
from collections.abc import Sequence
from itertools import accumulate
from typing import Final

import attrs

from pybgp.wire.attribute_codec import DecodedAttributes, decode_attributes, encode_attributes
from pybgp.wire.attributes import MpUnreachNlri, PathAttributes, UnknownAttribute
from pybgp.wire.constants import (
    AFI,
    IPV4_UNICAST,
    MARKER,
    AttributeCode,
    AttributeFlag,
    ErrorCode,
    Family,
    MessageType,
    UpdateMessageSubcode,
)
from pybgp.wire.errors import LocalProtocolError, RemoteProtocolError
from pybgp.wire.negotiated import Negotiated
from pybgp.wire.nlri import decode_prefixes, encode_prefixes
from pybgp.wire.update_errors import ErrorAction

__all__ = [
    "EMPTY_ATTRIBUTES",
    "ErrorAction",
    "Update",
    "UpdateResult",
    "decode_update",
    "encode_end_of_rib",
    "encode_update",
    "pack_update_messages",
]

EMPTY_ATTRIBUTES: Final = PathAttributes(())
_HEADER = struct.Struct("!16sHB")
_U16 = struct.Struct("!H")
_PATH_ID = struct.Struct("!I")
_UPDATE_OVERHEAD: Final = 19 + 2 + 2  # header, withdrawn length, total attribute length
_NO_ATTRIBUTES: Final = DecodedAttributes(
    EMPTY_ATTRIBUTES, ErrorAction.NONE, (), frozenset(), None, False, frozenset(), False
)


@attrs.frozen
class Update:
    """An UPDATE: IPv4 unicast withdrawals and NLRI in the classic fields, other families in the
    MP_REACH_NLRI/MP_UNREACH_NLRI attributes. Prefixes are keys (see :mod:`pybgp.wire.nlri`);
    the path id tuples are parallel to them when ADD-PATH is in use (RFC 7911), else None."""

    withdrawn: tuple[bytes, ...] = ()
    attributes: PathAttributes = EMPTY_ATTRIBUTES
    nlri: tuple[bytes, ...] = ()
    withdrawn_path_ids: tuple[int, ...] | None = None
    nlri_path_ids: tuple[int, ...] | None = None

    @property
    def end_of_rib(self) -> Family | None:
        """The family this UPDATE marks End-of-RIB for (RFC 4724 §2), or None.

        IPv4 unicast: an UPDATE with nothing in it. Others: only an empty MP_UNREACH_NLRI.
        """
        if self.withdrawn or self.nlri:
            return None
        attributes = self.attributes.attributes
        if not attributes:
            return IPV4_UNICAST
        if len(attributes) != 1:
            return None
        attr = attributes[0]
        if isinstance(attr, MpUnreachNlri) and not attr.withdrawn:
            return (attr.afi, attr.safi)
        if (
            isinstance(attr, UnknownAttribute)
            and attr.code == AttributeCode.MP_UNREACH_NLRI
            and len(attr.value) == 3
        ):
            return (int.from_bytes(attr.value[:2], "big"), attr.value[2])
        return None


@attrs.frozen
class UpdateResult:
    """A decoded UPDATE with the RFC 7606 action to take (strongest wins, §3 (h)).

    ``issues`` has one sentence per problem, each citing its RFC section (an issue can come with
    action NONE: it is then only worth a log line). ``disabled_families`` lists the AFI/SAFIs to
    disable (RFC 4760 §7) when ``action`` is AFI_SAFI_DISABLE.

    How to apply it: NONE and ATTRIBUTE_DISCARD: process ``update`` as is (discarded attributes
    are already gone from it). TREAT_AS_WITHDRAW: withdraw every prefix the UPDATE names (classic
    NLRI and withdrawn routes, MP_REACH_NLRI and MP_UNREACH_NLRI). AFI_SAFI_DISABLE: disable the
    listed families and, conservatively, treat the rest of the UPDATE as withdraw too, since the
    strongest action hides weaker ones (RFC 7606 §3 (h)).
    """

    update: Update
    action: ErrorAction = ErrorAction.NONE
    issues: tuple[str, ...] = ()
    disabled_families: frozenset[Family] = frozenset()


def _update_error(subcode: int, reason: str, data: bytes = b"") -> RemoteProtocolError:
    return RemoteProtocolError(ErrorCode.UPDATE_MESSAGE, subcode, data, reason)


def decode_update(body: bytes, negotiated: Negotiated) -> UpdateResult:
    """Decode an UPDATE body and decide the RFC 7606 action; raises only for session reset."""
    n = len(body)
    if n < 4:
        raise _update_error(
            UpdateMessageSubcode.MALFORMED_ATTRIBUTE_LIST, "UPDATE shorter than 4 octets"
        )
    wlen = body[0] << 8 | body[1]
    if 4 + wlen > n:  # RFC 4271 §6.3, RFC 7606 §3 (b)
        raise _update_error(
            UpdateMessageSubcode.MALFORMED_ATTRIBUTE_LIST,
            f"Withdrawn Routes Length {wlen} exceeds the message (RFC 7606 §3 (b))",
        )
    astart = 4 + wlen
    alen = body[astart - 2] << 8 | body[astart - 1]
    aend = astart + alen
    if aend > n:  # RFC 4271 §6.3, RFC 7606 §3 (b)
        raise _update_error(
            UpdateMessageSubcode.MALFORMED_ATTRIBUTE_LIST,
            f"Total Path Attribute Length {alen} exceeds the message (RFC 7606 §3 (b))",
        )
    add_path = IPV4_UNICAST in negotiated.add_path_receive
    try:
        # RFC 7606 §3 (i), (j), §5.3: both fields must parse, else session reset (3/10).
        if wlen:
            withdrawn, withdrawn_ids = decode_prefixes(body[2 : 2 + wlen], AFI.IPV4, add_path)
        else:
            withdrawn, withdrawn_ids = (), None
        if aend < n:
            nlri, nlri_ids = decode_prefixes(body[aend:], AFI.IPV4, add_path)
        else:
            nlri, nlri_ids = (), None
    except RemoteProtocolError as exc:
        raise _update_error(
            UpdateMessageSubcode.INVALID_NETWORK_FIELD,
            f"{exc.reason}; session reset (RFC 7606 §3 (j), §5.3)",
        ) from None
    decoded = decode_attributes(body[astart:aend], negotiated) if alen else _NO_ATTRIBUTES
    if decoded.fatal is not None:
        raise decoded.fatal
    attributes = decoded.attributes
    action = decoded.action
    issues = decoded.issues
    update = Update(withdrawn, attributes, nlri, withdrawn_ids, nlri_ids)
    if decoded.simple and (nlri or withdrawn):
        return UpdateResult(update)  # the common case: nothing more to check
    mp_reach = attributes.mp_reach
    announces = bool(nlri) or (mp_reach is not None and bool(mp_reach.nlri))
    extra: list[str] = []
    # RFC 7606 §5.2: attributes other than MP_UNREACH_NLRI (an overrun block counts: its tail
    # is unknown) and no reachable NLRI. An MP_REACH_NLRI that did not parse still encodes
    # reachable NLRI: its family is disabled instead (a deviation noted in update_errors).
    reachable = bool(nlri) or AttributeCode.MP_REACH_NLRI in decoded.seen
    other = decoded.overrun or any(c != AttributeCode.MP_UNREACH_NLRI for c in decoded.seen)
    if not reachable and other and action > ErrorAction.ATTRIBUTE_DISCARD:
        raise _update_error(
            UpdateMessageSubcode.MALFORMED_ATTRIBUTE_LIST,
            f"{'; '.join(issues)}; attributes with no reachable NLRI and an error stronger "
            "than attribute discard: session reset (RFC 7606 §5.2)",
        )
    if announces:
        seen = decoded.seen
        missing = [
            name
            for code, name in _MANDATORY
            if code not in seen and (code != AttributeCode.NEXT_HOP or nlri)
        ]
        if missing:
            extra.append(
                f"missing well-known attribute {', '.join(missing)}; treat-as-withdraw "
                "(RFC 7606 §3 (d))"
            )
            action = max(action, ErrorAction.TREAT_AS_WITHDRAW)
    elif (
        not withdrawn
        and attributes.attributes
        and not any(code in decoded.seen for code in _MP_CODES)
    ):
        # RFC 4271 §6.3: "correct path attributes, but no NLRI" is a valid UPDATE; nothing to
        # act on (with an error it was a session reset above, RFC 7606 §5.2).
        extra.append("path attributes with no NLRI; ignored (RFC 4271 §6.3, RFC 7606 §5.2)")
    if extra:
        issues = (*issues, *extra)
    return UpdateResult(update, action, issues, decoded.disabled_families)


_MANDATORY: Final = (
    (AttributeCode.ORIGIN, "ORIGIN"),
    (AttributeCode.AS_PATH, "AS_PATH"),
    (AttributeCode.NEXT_HOP, "NEXT_HOP"),
)
_MP_CODES: Final = (AttributeCode.MP_REACH_NLRI, AttributeCode.MP_UNREACH_NLRI)


def _prefixes_field(keys: Sequence[bytes], ids: Sequence[int] | None, add_path: bool) -> bytes:
    if not add_path:
        return b"".join(keys)
    return encode_prefixes(keys, ids if ids is not None else (0,) * len(keys))


def _message(body_parts: Sequence[bytes], negotiated: Negotiated) -> bytes:
    length = 19 + sum(len(p) for p in body_parts)
    if length > negotiated.max_message_length:
        raise LocalProtocolError(
            f"UPDATE of {length} octets exceeds the maximum {negotiated.max_message_length}"
        )
    return b"".join((_HEADER.pack(MARKER, length, MessageType.UPDATE), *body_parts))


def encode_update(update: Update, negotiated: Negotiated) -> bytes:
    """The whole UPDATE message (header included); byte exact with what ``decode_update`` read.

    Path identifiers are written when ADD-PATH send is negotiated for the family (0 when the
    update carries none).
    """
    add_path = IPV4_UNICAST in negotiated.add_path_send
    withdrawn = _prefixes_field(update.withdrawn, update.withdrawn_path_ids, add_path)
    attributes = encode_attributes(update.attributes, negotiated)
    nlri = _prefixes_field(update.nlri, update.nlri_path_ids, add_path)
    return _message(
        (
            _U16.pack(len(withdrawn)),
            withdrawn,
            _U16.pack(len(attributes)),
            attributes,
            nlri,
        ),
        negotiated,
    )


def encode_end_of_rib(family: Family) -> bytes:
    """The End-of-RIB marker for ``family`` (RFC 4724 §2): an empty UPDATE for IPv4 unicast,
    else an UPDATE with an empty MP_UNREACH_NLRI."""
    if tuple(family) == IPV4_UNICAST:
        body = b"\x00\x00\x00\x00"
    else:
        afi, safi = family
        attr = struct.pack(
            "!BBBHB", AttributeFlag.OPTIONAL, AttributeCode.MP_UNREACH_NLRI, 3, afi, safi
        )
        body = b"\x00\x00" + _U16.pack(len(attr)) + attr
    return _HEADER.pack(MARKER, 19 + len(body), MessageType.UPDATE) + body


def _pieces(keys: Sequence[bytes], ids: Sequence[int] | None, add_path: bool) -> list[bytes]:
    if not add_path:
        return keys if isinstance(keys, list) else list(keys)  # read only: no copy needed
    if ids is None:
        ids = (0,) * len(keys)
    if len(ids) != len(keys):
        raise LocalProtocolError("path_ids must be parallel to the prefixes")
    pack = _PATH_ID.pack
    return [pack(i) + k for i, k in zip(ids, keys, strict=True)]


def _chunks(pieces: list[bytes], first_budget: int, budget: int) -> list[bytes]:
    """Greedy packing: consecutive runs of pieces, the first run within ``first_budget``
    octets (may be empty), the others within ``budget``; each run joined."""
    if not pieces:
        return []
    lengths = set(map(len, pieces))
    if max(lengths) > budget:
        raise LocalProtocolError("a prefix does not fit in one UPDATE")
    if len(lengths) == 1:
        # All the same length (a node's blocks, a table of /24s): runs of a fixed count, no
        # running total per piece (a million of them would be a million int objects).
        size = lengths.pop()
        first, per = first_budget // size, budget // size
        return [b"".join(pieces[:first])] + [
            b"".join(pieces[i : i + per]) for i in range(first, len(pieces), per)
        ]
    sizes = list(accumulate(map(len, pieces)))
    out: list[bytes] = []
    start = 0
    base = 0
    limit = first_budget
    total = len(pieces)
    while start < total:
        end = bisect_right(sizes, base + limit, lo=start)
        out.append(b"".join(pieces[start:end]))
        base = sizes[end - 1] if end > start else base
        start = end
        limit = budget
    return out


def pack_update_messages(
    family: Family,
    attributes: PathAttributes,
    announce: Sequence[bytes],
    withdraw: Sequence[bytes],
    negotiated: Negotiated,
    path_ids: Sequence[int] | None = None,
    withdraw_path_ids: Sequence[int] | None = None,
) -> list[bytes]:
    """Whole UPDATE messages announcing ``announce`` with ``attributes`` and withdrawing
    ``withdraw``, as few as the maximum message length allows (RFC 4271 §4.3, RFC 8654).

    IPv4 unicast goes in the classic fields, withdrawals first. Other families, and IPv4 when
    ``attributes`` holds an MP_REACH_NLRI for it (RFC 8950), use MP_UNREACH_NLRI /
    MP_REACH_NLRI; the MP_REACH_NLRI of ``attributes`` is the template (AFI, SAFI, next hops,
    flags) and is written first (RFC 7606 §5.1). No message carries more than one of withdrawn
    routes, NLRI, MP_REACH_NLRI and MP_UNREACH_NLRI (RFC 7606 §5.1). ADD-PATH identifiers are
    written when negotiated for sending (RFC 7911), 0 when ``path_ids`` is None.
    """
    family = (int(family[0]), int(family[1]))
    add_path = family in negotiated.add_path_send
    max_len = negotiated.max_message_length
    mp = attributes.mp_reach
    use_mp = family != IPV4_UNICAST or (mp is not None and mp.family == family)
    messages: list[bytes] = []
    if not use_mp:
        if mp is not None or attributes.mp_unreach is not None:
            attributes = attributes.without(*_MP_CODES)  # another family's template
        attr_bytes = encode_attributes(attributes, negotiated) if announce else b""
        w_runs = _chunks(_pieces(withdraw, withdraw_path_ids, add_path), max_len - 23, max_len - 23)
        a_pieces = _pieces(announce, path_ids, add_path)
        a_budget = max_len - _UPDATE_OVERHEAD - len(attr_bytes)
        if a_pieces and a_budget <= 0:
            raise LocalProtocolError("path attributes do not fit in one UPDATE")
        # RFC 7606 §5.1: withdrawals and announcements never share a message.
        messages.extend(_classic(run, b"", b"") for run in w_runs if run)
        if a_pieces:
            for run in _chunks(a_pieces, a_budget, a_budget):
                if run:
                    messages.append(_classic(b"", attr_bytes, run))
        return messages
    afi, safi = family
    if withdraw:
        # MP_UNREACH_NLRI, Extended Length header (4) + AFI/SAFI (3).
        for run in _chunks(_pieces(withdraw, withdraw_path_ids, add_path), 0, max_len - 30):
            if not run:
                continue
            value = struct.pack("!HB", afi, safi) + run
            attr = _attribute(AttributeFlag.OPTIONAL, AttributeCode.MP_UNREACH_NLRI, value)
            messages.append(_classic(b"", attr, b""))
    if announce:
        if mp is None or mp.family != family:
            raise LocalProtocolError(f"announcing {family} needs an MP_REACH_NLRI template")
        rest = encode_attributes(attributes.without(*_MP_CODES), negotiated)
        head = struct.pack("!HBB", afi, safi, sum(len(a.packed) for a in mp.next_hops))
        head += b"".join(a.packed for a in mp.next_hops) + b"\x00"
        budget = max_len - _UPDATE_OVERHEAD - len(rest) - 4 - len(head)
        if budget <= 0:
            raise LocalProtocolError("path attributes do not fit in one UPDATE")
        for run in _chunks(_pieces(announce, path_ids, add_path), 0, budget):
            if run:
                attr = _attribute(mp.flags, AttributeCode.MP_REACH_NLRI, head + run)
                messages.append(_classic(b"", attr + rest, b""))
    return messages


def _attribute(flags: int, code: int, value: bytes) -> bytes:
    if len(value) > 0xFF or flags & AttributeFlag.EXTENDED_LENGTH:
        return struct.pack("!BBH", flags | AttributeFlag.EXTENDED_LENGTH, code, len(value)) + value
    return struct.pack("!BBB", flags, code, len(value)) + value


def _classic(withdrawn: bytes, attributes: bytes, nlri: bytes) -> bytes:
    length = _UPDATE_OVERHEAD + len(withdrawn) + len(attributes) + len(nlri)
    return b"".join(
        (
            _HEADER.pack(MARKER, length, MessageType.UPDATE),
            _U16.pack(len(withdrawn)),
            withdrawn,
            _U16.pack(len(attributes)),
            attributes,
            nlri,
        )
    )

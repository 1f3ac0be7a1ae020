"""The OPEN message (RFC 4271 §4.2) with optional parameters (RFC 5492, RFC 9072).

Theory of operation
-------------------
``decode_open`` checks *syntax* only: the fixed fields are there, the optional parameters fit
the message exactly, every capability we understand has a well-formed value. Whether the OPEN is
*acceptable* (version, AS, hold time, BGP identifier, parameter types) is ``validate_open``'s job,
because that needs the local configuration: syntax kept apart from semantic checks, as GoBGP does.

Byte-exact re-encoding. Implementations group capabilities differently: BIRD and GoBGP put all
of them in one Capabilities parameter, FRR and ExaBGP send one parameter per capability. The
decoded :class:`Open` remembers the grouping in ``parameters`` (number of capabilities in each
Capabilities parameter, in order) and whether the RFC 9072 extended format was used
(``extended_parameters``), so ``encode_open(decode_open(body))`` reproduces the body exactly.
``parameters`` does not take part in equality. An :class:`Open` built by hand leaves it ``None``
and gets one capability per parameter (the FRR/ExaBGP layout); so does one whose
``parameters`` no longer adds up to its capabilities (after ``attrs.evolve``, say).

The RFC 9072 extended optional-parameters format is used on encode only when needed (the
parameters exceed 255 octets in total, or one parameter exceeds 255) or when
``extended_parameters=True``.
"""

from __future__ import annotations

import struct
from ipaddress import IPv4Address
from typing import Final, TypeVar, overload

import attrs

from pybgp.wire.capabilities import (
    AddPathCapability,
    Capability,
    ExtendedMessageCapability,
    ExtendedNextHopCapability,
    FourOctetAsCapability,
    MultiprotocolCapability,
    decode_capabilities,
    encode_capability,
)
from pybgp.wire.constants import (
    AFI,
    AS_TRANS,
    BGP_VERSION,
    IPV4_UNICAST,
    MAX_MESSAGE_LENGTH,
    ErrorCode,
    Family,
    MessageHeaderSubcode,
    MessageType,
    OpenMessageSubcode,
    OptionalParameterType,
)
from pybgp.wire.errors import LocalProtocolError, RemoteProtocolError
from pybgp.wire.framing import encode_message
from pybgp.wire.negotiated import Negotiated

__all__ = [
    "Open",
    "OptionalParameter",
    "decode_open",
    "encode_open",
    "encode_open_body",
    "negotiate",
    "validate_open",
]

_C = TypeVar("_C", bound=Capability)

_OPEN_FIXED: Final = 10  # version 1, My AS 2, Hold Time 2, BGP Identifier 4, Opt Parm Len 1


@attrs.frozen
class OptionalParameter:
    """An optional parameter other than Capabilities (RFC 4271 §4.2), kept raw.

    RFC 5492 leaves type 2 as the only one in use; ``validate_open`` answers any other with
    2/4 Unsupported Optional Parameter (RFC 4271 §6.2).
    """

    type: int
    value: bytes = b""


def _opt_parameter_layout(value: tuple[int, ...] | None) -> tuple[int, ...] | None:
    return None if value is None else tuple(value)


@attrs.frozen
class Open:
    """An OPEN message (RFC 4271 §4.2).

    ``asn`` is the 2-octet My Autonomous System field (AS_TRANS 23456 when the real AS needs
    four octets, RFC 6793 §4.1); :attr:`my_as` gives the real AS.
    """

    version: int
    asn: int
    hold_time: int
    router_id: IPv4Address
    capabilities: tuple[Capability, ...] = ()
    extended_parameters: bool = False
    """RFC 9072: the optional parameters use (or are to use) the extended-length format."""
    parameters: tuple[int, ...] | None = attrs.field(
        default=None, eq=False, converter=_opt_parameter_layout
    )
    """Layout only: how many capabilities each Capabilities parameter held (None = default)."""
    other_parameters: tuple[OptionalParameter, ...] = ()
    """Optional parameters that are not Capabilities (encoded after them)."""

    @classmethod
    def create(
        cls,
        my_as: int,
        hold_time: int,
        router_id: IPv4Address,
        capabilities: tuple[Capability, ...] = (),
    ) -> Open:
        """An OPEN for AS ``my_as``: AS_TRANS in the 2-octet field when ``my_as`` needs four
        octets, and a 4-octet AS capability added when none is among ``capabilities``
        (RFC 6793 §4.1). AS 0 is refused: "A router MUST NOT initiate a connection claiming
        to be AS 0" (RFC 7607 §2)."""
        if my_as == 0:
            raise LocalProtocolError("AS 0 cannot be claimed in an OPEN (RFC 7607 §2)")
        if not any(isinstance(c, FourOctetAsCapability) for c in capabilities):
            capabilities = (*capabilities, FourOctetAsCapability(my_as))
        asn = my_as if my_as <= 0xFFFF else AS_TRANS
        return cls(BGP_VERSION, asn, hold_time, router_id, tuple(capabilities))

    @property
    def my_as(self) -> int:
        """The sender's AS: from the 4-octet AS capability when present (RFC 6793 §4.1), else
        the 2-octet My Autonomous System field."""
        cap = self.capability(FourOctetAsCapability)
        return self.asn if cap is None else cap.asn

    @property
    def families(self) -> tuple[Family, ...]:
        """The (AFI, SAFI) pairs of the multiprotocol capabilities, in order (RFC 4760 §8)."""
        return tuple(c.family for c in self.capabilities_of(MultiprotocolCapability))

    @overload
    def capability(self, kind: type[_C]) -> _C | None: ...

    @overload
    def capability(self, kind: int) -> Capability | None: ...

    def capability(self, kind: type[object] | int) -> Capability | None:
        """The first capability of this class (or with this code), or None."""
        for cap in self.capabilities:
            if isinstance(kind, int):
                if cap.code == kind:
                    return cap
            elif isinstance(cap, kind):
                return cap
        return None

    def capabilities_of(self, kind: type[_C]) -> tuple[_C, ...]:
        """Every capability of this class, in order (several multiprotocol ones, say)."""
        return tuple(cap for cap in self.capabilities if isinstance(cap, kind))


def _open_error(subcode: int, reason: str, data: bytes = b"") -> RemoteProtocolError:
    return RemoteProtocolError(ErrorCode.OPEN_MESSAGE, subcode, data, reason)


def _decode_parameters(
    data: bytes, length_size: int
) -> tuple[tuple[Capability, ...], tuple[int, ...], tuple[OptionalParameter, ...]]:
    """Split the optional parameters region into capabilities, layout and other parameters."""
    capabilities: list[Capability] = []
    layout: list[int] = []
    others: list[OptionalParameter] = []
    offset = 0
    end = len(data)
    while offset < end:
        if offset + 1 + length_size > end:
            raise _open_error(
                OpenMessageSubcode.UNSPECIFIC,
                f"optional parameter header truncated at offset {offset} of {end} octets "
                "(RFC 4271 §4.2, RFC 9072 §2)",
            )
        ptype = data[offset]
        if length_size == 1:
            plen = data[offset + 1]
        else:
            (plen,) = struct.unpack_from("!H", data, offset + 1)
        start = offset + 1 + length_size
        if start + plen > end:
            raise _open_error(
                OpenMessageSubcode.UNSPECIFIC,
                f"optional parameter type {ptype} claims {plen} octets but only "
                f"{end - start} remain (RFC 4271 §4.2)",
            )
        value = data[start : start + plen]
        if ptype == OptionalParameterType.CAPABILITIES:
            caps = decode_capabilities(value)
            capabilities.extend(caps)
            layout.append(len(caps))
        else:
            others.append(OptionalParameter(ptype, bytes(value)))
        offset = start + plen
    return tuple(capabilities), tuple(layout), tuple(others)


def decode_open(body: bytes) -> Open:
    """Decode an OPEN body (after the 19-octet header). Syntax only; see :func:`validate_open`.

    Raises 1/2 when the body is shorter than the fixed fields (RFC 4271 §6.1, data = the
    2-octet message length) and 2/0 when the optional parameters do not fit the message
    exactly or a capability is malformed.
    """
    body = bytes(body)
    if len(body) < _OPEN_FIXED:
        # RFC 4271 §6.1: an OPEN shorter than 29 octets is a bad message length.
        raise RemoteProtocolError(
            ErrorCode.MESSAGE_HEADER,
            MessageHeaderSubcode.BAD_MESSAGE_LENGTH,
            struct.pack("!H", min(len(body) + 19, 0xFFFF)),
            f"OPEN of {len(body) + 19} octets is shorter than the minimum 29 (RFC 4271 §4.2)",
        )
    version, asn, hold_time, router_id, opt_len = struct.unpack_from("!BHHIB", body)
    extended = False
    marker = body[_OPEN_FIXED] if len(body) > _OPEN_FIXED else None
    if opt_len and marker == OptionalParameterType.EXTENDED_LENGTH:
        # RFC 9072 §2: Non-Ext OP Type 255 announces a 2-octet Extended Opt. Parm. Length,
        # and 2-octet lengths in every parameter.
        if len(body) < _OPEN_FIXED + 3:
            raise _open_error(
                OpenMessageSubcode.UNSPECIFIC,
                "extended optional parameters length truncated (RFC 9072 §2)",
            )
        (opt_len,) = struct.unpack_from("!H", body, _OPEN_FIXED + 1)
        start = _OPEN_FIXED + 3
        extended = True
    else:
        start = _OPEN_FIXED
    remaining = len(body) - start
    if opt_len != remaining:
        # RFC 4271 §4.2: the parameters fill the rest of the message, no more and no less.
        raise _open_error(
            OpenMessageSubcode.UNSPECIFIC,
            f"optional parameters length {opt_len} does not match the {remaining} octets "
            "left in the OPEN message (RFC 4271 §4.2)",
        )
    capabilities, layout, others = _decode_parameters(body[start:], 2 if extended else 1)
    return Open(
        version=version,
        asn=asn,
        hold_time=hold_time,
        router_id=IPv4Address(router_id),
        capabilities=capabilities,
        extended_parameters=extended,
        parameters=layout,
        other_parameters=others,
    )


def _parameter_values(open_: Open) -> list[tuple[int, bytes]]:
    encoded = [encode_capability(c) for c in open_.capabilities]
    layout = open_.parameters
    if layout is None or sum(layout) != len(encoded) or any(n < 0 for n in layout):
        layout = (1,) * len(encoded)
    values: list[tuple[int, bytes]] = []
    index = 0
    for count in layout:
        values.append(
            (OptionalParameterType.CAPABILITIES, b"".join(encoded[index : index + count]))
        )
        index += count
    values.extend((p.type, p.value) for p in open_.other_parameters)
    return values


def encode_open_body(open_: Open) -> bytes:
    """The OPEN body (no header). Uses the RFC 9072 format only when needed or asked for."""
    for name, value, bits in (
        ("version", open_.version, 8),
        ("My Autonomous System", open_.asn, 16),
        ("hold time", open_.hold_time, 16),
    ):
        if not 0 <= value < (1 << bits):
            raise LocalProtocolError(f"OPEN {name} {value} does not fit in {bits} bits")
    values = _parameter_values(open_)
    for parameter in open_.other_parameters:
        # RFC 5492 §4: type 2 is Capabilities; RFC 9072 §2: 255 marks the extended format.
        if not 0 <= parameter.type < 255 or parameter.type == OptionalParameterType.CAPABILITIES:
            raise LocalProtocolError(f"optional parameter type {parameter.type} cannot be sent")
    short_total = sum(2 + len(v) for _, v in values)
    extended = (
        open_.extended_parameters or short_total > 255 or any(len(v) > 255 for _, v in values)
    )
    if extended:
        # RFC 9072 §2: Non-Ext OP Len 255, Non-Ext OP Type 255, 2-octet lengths.
        params = b"".join(struct.pack("!BH", t, len(v)) + v for t, v in values)
        if len(params) > 0xFFFF:
            raise LocalProtocolError(f"optional parameters of {len(params)} octets do not fit")
        opt = b"\xff\xff" + struct.pack("!H", len(params)) + params
    else:
        params = b"".join(bytes((t, len(v))) + v for t, v in values)
        opt = bytes((len(params),)) + params
    return (
        struct.pack("!BHH4s", open_.version, open_.asn, open_.hold_time, open_.router_id.packed)
        + opt
    )


def encode_open(open_: Open) -> bytes:
    """The whole OPEN message, header included. At most 4096 octets (RFC 8654 §3)."""
    message = encode_message(MessageType.OPEN, encode_open_body(open_))
    if len(message) > MAX_MESSAGE_LENGTH:
        raise LocalProtocolError(
            f"OPEN of {len(message)} octets exceeds 4096 (RFC 8654 §3 keeps OPEN at 4096)"
        )
    return message


def validate_open(
    open_: Open,
    *,
    peer_as: int | None,
    local_router_id: IPv4Address,
    local_as: int,
) -> None:
    """Raise the RFC 4271 §6.2 error for an unacceptable OPEN; return None when it is fine.

    ``peer_as`` is the AS configured for the peer (None accepts any, as for dynamic peers).
    Checks, in the order of RFC 4271 §6.2: version (2/1), peer AS (2/2), hold time (2/6),
    BGP identifier (2/3), optional parameter types (2/4).
    """
    if open_.version != BGP_VERSION:
        # RFC 4271 §6.2: data = the largest locally supported version, 2 octets.
        raise _open_error(
            OpenMessageSubcode.UNSUPPORTED_VERSION_NUMBER,
            f"peer speaks BGP version {open_.version}, only version 4 is supported (RFC 4271 §6.2)",
            struct.pack("!H", BGP_VERSION),
        )
    my_as = open_.my_as
    if my_as == 0 or open_.asn == 0:
        # RFC 7607 §2: AS 0 in the OPEN is a Bad Peer AS.
        raise _open_error(
            OpenMessageSubcode.BAD_PEER_AS, "peer sent AS 0 in its OPEN (RFC 7607 §2)"
        )
    if peer_as is not None and my_as != peer_as:
        # RFC 4271 §6.2: My Autonomous System unacceptable.
        raise _open_error(
            OpenMessageSubcode.BAD_PEER_AS,
            f"peer claims AS {my_as}, configured AS is {peer_as} (RFC 4271 §6.2)",
        )
    if open_.hold_time in (1, 2):
        # RFC 4271 §6.2: the hold time MUST be zero or at least three seconds.
        raise _open_error(
            OpenMessageSubcode.UNACCEPTABLE_HOLD_TIME,
            f"hold time {open_.hold_time} s is neither 0 nor at least 3 (RFC 4271 §6.2)",
        )
    if int(open_.router_id) == 0:
        # RFC 6286 §2.2: the BGP Identifier is a non-zero 4-octet unsigned integer.
        raise _open_error(
            OpenMessageSubcode.BAD_BGP_IDENTIFIER, "BGP identifier 0.0.0.0 (RFC 6286 §2.2)"
        )
    if my_as == local_as and open_.router_id == local_router_id:
        # RFC 6286 §2.2: within an AS, the BGP Identifier must be unique.
        raise _open_error(
            OpenMessageSubcode.BAD_BGP_IDENTIFIER,
            f"internal peer uses our own BGP identifier {local_router_id} (RFC 6286 §2.2)",
        )
    if open_.other_parameters:
        # RFC 4271 §6.2 / RFC 5492 §4: only the Capabilities parameter (type 2) is supported.
        types = ", ".join(str(p.type) for p in open_.other_parameters)
        raise _open_error(
            OpenMessageSubcode.UNSUPPORTED_OPTIONAL_PARAMETER,
            f"unsupported optional parameter type {types} (RFC 4271 §6.2)",
        )


def _offered_families(open_: Open) -> frozenset[Family]:
    # RFC 4760 §8 / RFC 4271: a speaker without multiprotocol capabilities does IPv4 unicast.
    return frozenset(open_.families) or frozenset({IPV4_UNICAST})


def _add_path_modes(open_: Open) -> dict[Family, tuple[bool, bool]]:
    modes: dict[Family, tuple[bool, bool]] = {}
    for cap in open_.capabilities_of(AddPathCapability):
        for entry in cap.entries:
            modes[(entry.afi, entry.safi)] = (entry.send, entry.receive)
    return modes


def _extended_next_hop(open_: Open) -> frozenset[Family]:
    return frozenset(
        (entry.nlri_afi, entry.nlri_safi)
        for cap in open_.capabilities_of(ExtendedNextHopCapability)
        for entry in cap.entries
        if entry.next_hop_afi == AFI.IPV6
    )


def negotiate(local: Open, remote: Open) -> Negotiated:
    """What the two OPENs agree on, as the :class:`Negotiated` value the codec takes.

    Families: those both offered (RFC 4760 §8; no multiprotocol capability = IPv4 unicast).
    4-octet AS (RFC 6793 §4) and extended messages (RFC 8654 §4): both sent the capability.
    ADD-PATH (RFC 7911 §5): we receive path ids for a family when we said receive and the peer
    said send, and send them when we said send and the peer said receive. Extended next hop
    (RFC 8950 §3): families both listed with an IPv6 next hop.
    """
    families = _offered_families(local) & _offered_families(remote)
    local_modes = _add_path_modes(local)
    remote_modes = _add_path_modes(remote)
    receive = frozenset(
        family
        for family, (_, local_receive) in local_modes.items()
        if family in families and local_receive and remote_modes.get(family, (False, False))[0]
    )
    send = frozenset(
        family
        for family, (local_send, _) in local_modes.items()
        if family in families and local_send and remote_modes.get(family, (False, False))[1]
    )
    return Negotiated(
        four_octet_as=(
            local.capability(FourOctetAsCapability) is not None
            and remote.capability(FourOctetAsCapability) is not None
        ),
        extended_message=(
            local.capability(ExtendedMessageCapability) is not None
            and remote.capability(ExtendedMessageCapability) is not None
        ),
        families=families,
        add_path_receive=receive,
        add_path_send=send,
        extended_next_hop=_extended_next_hop(local) & _extended_next_hop(remote) & families,
        local_as=local.my_as,
        peer_as=remote.my_as,
    )

"""BGP capabilities (RFC 5492) as frozen values, and their codec.

Theory of operation
-------------------
A capability on the wire is ``code (1) | length (1) | value (length)`` and sits inside an OPEN
optional parameter of type 2 (RFC 5492 §4). Each capability pybgp understands has one frozen
class here with a ``code`` class variable, an ``encode_value()`` method and a ``decode_value``
classmethod; :data:`CAPABILITY_DECODERS` is the explicit code -> class table (no registry filled by
import side effects). Codes not in the table decode to :class:`UnknownCapability`, which keeps the
value bytes so that re-encoding is byte exact (RFC 5492 §3: a speaker ignores capabilities it does
not understand).

A malformed *value* of a capability we do understand (a multiprotocol capability three octets
long, say) raises :class:`RemoteProtocolError` 2/0 (OPEN Message Error, unspecific) with a reason
naming the capability, as RFC 5492 gives no finer subcode.
"""

from __future__ import annotations

import struct
from typing import ClassVar, Final

import attrs

from pybgp.wire.constants import CapabilityCode, ErrorCode, OpenMessageSubcode
from pybgp.wire.errors import LocalProtocolError, RemoteProtocolError

__all__ = [
    "CAPABILITY_DECODERS",
    "AddPathCapability",
    "AddPathEntry",
    "Capability",
    "EnhancedRouteRefreshCapability",
    "ExtendedMessageCapability",
    "ExtendedNextHopCapability",
    "ExtendedNextHopEntry",
    "FourOctetAsCapability",
    "FqdnCapability",
    "GracefulRestartCapability",
    "GracefulRestartFamily",
    "LongLivedGracefulRestartCapability",
    "MultiprotocolCapability",
    "RoleCapability",
    "RouteRefreshCapability",
    "RouteRefreshOldCiscoCapability",
    "UnknownCapability",
    "decode_capabilities",
    "decode_capability",
    "encode_capability",
]


def _malformed(name: str, value: bytes, why: str) -> RemoteProtocolError:
    """2/0 for a capability whose value we cannot parse (RFC 5492 names no finer subcode)."""
    return RemoteProtocolError(
        ErrorCode.OPEN_MESSAGE,
        OpenMessageSubcode.UNSPECIFIC,
        b"",
        f"malformed {name} capability ({why}): value {value.hex() or 'empty'}",
    )


def _check_range(name: str, value: int, bits: int) -> None:
    if not 0 <= value < (1 << bits):
        raise LocalProtocolError(f"{name} {value} does not fit in {bits} bits")


def _expect_empty(name: str, value: bytes) -> None:
    if value:
        raise _malformed(name, value, f"length {len(value)}, expected 0")


@attrs.frozen
class MultiprotocolCapability:
    """RFC 4760 §8: the speaker wants to exchange NLRI of this (AFI, SAFI)."""

    code: ClassVar[CapabilityCode] = CapabilityCode.MULTIPROTOCOL
    afi: int
    safi: int

    @property
    def family(self) -> tuple[int, int]:
        """The (AFI, SAFI) pair."""
        return (self.afi, self.safi)

    def encode_value(self) -> bytes:
        """AFI (2), reserved (1), SAFI (1)."""
        _check_range("AFI", self.afi, 16)
        _check_range("SAFI", self.safi, 8)
        return struct.pack("!HBB", self.afi, 0, self.safi)

    @classmethod
    def decode_value(cls, value: bytes) -> MultiprotocolCapability:
        """RFC 4760 §8: exactly four octets; the reserved octet is ignored on receipt."""
        if len(value) != 4:
            raise _malformed("multiprotocol", value, f"length {len(value)}, expected 4")
        afi, _reserved, safi = struct.unpack("!HBB", value)
        return cls(afi, safi)


@attrs.frozen
class RouteRefreshCapability:
    """RFC 2918 §2: the speaker accepts ROUTE-REFRESH messages."""

    code: ClassVar[CapabilityCode] = CapabilityCode.ROUTE_REFRESH

    def encode_value(self) -> bytes:
        """Empty value."""
        return b""

    @classmethod
    def decode_value(cls, value: bytes) -> RouteRefreshCapability:
        """RFC 2918 §2: capability length 0."""
        _expect_empty("route refresh", value)
        return cls()


@attrs.frozen
class RouteRefreshOldCiscoCapability:
    """Pre-standard route refresh (code 128), still advertised by FRR next to code 2."""

    code: ClassVar[CapabilityCode] = CapabilityCode.ROUTE_REFRESH_OLD_CISCO

    def encode_value(self) -> bytes:
        """Empty value."""
        return b""

    @classmethod
    def decode_value(cls, value: bytes) -> RouteRefreshOldCiscoCapability:
        """Length 0, as for the standard code."""
        _expect_empty("route refresh (old Cisco)", value)
        return cls()


@attrs.frozen
class EnhancedRouteRefreshCapability:
    """RFC 7313 §2: the speaker sends and understands BoRR/EoRR markers."""

    code: ClassVar[CapabilityCode] = CapabilityCode.ENHANCED_ROUTE_REFRESH

    def encode_value(self) -> bytes:
        """Empty value."""
        return b""

    @classmethod
    def decode_value(cls, value: bytes) -> EnhancedRouteRefreshCapability:
        """RFC 7313 §2: capability length 0."""
        _expect_empty("enhanced route refresh", value)
        return cls()


@attrs.frozen
class FourOctetAsCapability:
    """RFC 6793 §3: the speaker supports 4-octet AS numbers; ``asn`` is its real AS."""

    code: ClassVar[CapabilityCode] = CapabilityCode.FOUR_OCTET_AS
    asn: int

    def encode_value(self) -> bytes:
        """The 4-octet AS number."""
        _check_range("AS number", self.asn, 32)
        return struct.pack("!I", self.asn)

    @classmethod
    def decode_value(cls, value: bytes) -> FourOctetAsCapability:
        """RFC 6793 §3: exactly four octets."""
        if len(value) != 4:
            raise _malformed("4-octet AS", value, f"length {len(value)}, expected 4")
        return cls(struct.unpack("!I", value)[0])


@attrs.frozen
class GracefulRestartFamily:
    """One (AFI, SAFI) tuple of the graceful restart capability (RFC 4724 §3)."""

    afi: int
    safi: int
    forwarding_state: bool = False
    """The F bit: forwarding state for this family was preserved across the restart."""


_GR_RESTART_STATE: Final = 0x8000  # RFC 4724 §3 R bit
_GR_NOTIFICATION: Final = 0x4000  # RFC 8538 §2 N bit
_GR_FORWARDING: Final = 0x80  # RFC 4724 §3 F bit of the per-family flags


@attrs.frozen
class GracefulRestartCapability:
    """RFC 4724 §3 (and RFC 8538's N bit): restart flags, restart time, per-family flags.

    BIRD and FRR send it with no (AFI, SAFI) tuples at all, meaning "I am a helper only".
    """

    code: ClassVar[CapabilityCode] = CapabilityCode.GRACEFUL_RESTART
    restart_state: bool = False
    notification: bool = False
    restart_time: int = 0
    families: tuple[GracefulRestartFamily, ...] = ()

    def encode_value(self) -> bytes:
        """Flags (4 bits) + restart time (12 bits), then AFI (2), SAFI (1), flags (1) each."""
        _check_range("graceful restart time", self.restart_time, 12)
        head = self.restart_time
        if self.restart_state:
            head |= _GR_RESTART_STATE
        if self.notification:
            head |= _GR_NOTIFICATION
        parts = [struct.pack("!H", head)]
        for family in self.families:
            _check_range("AFI", family.afi, 16)
            _check_range("SAFI", family.safi, 8)
            flags = _GR_FORWARDING if family.forwarding_state else 0
            parts.append(struct.pack("!HBB", family.afi, family.safi, flags))
        return b"".join(parts)

    @classmethod
    def decode_value(cls, value: bytes) -> GracefulRestartCapability:
        """RFC 4724 §3: two octets, then a multiple of four."""
        if len(value) < 2 or (len(value) - 2) % 4:
            raise _malformed(
                "graceful restart", value, f"length {len(value)} is not 2 + a multiple of 4"
            )
        (head,) = struct.unpack_from("!H", value)
        families = tuple(
            GracefulRestartFamily(afi, safi, bool(flags & _GR_FORWARDING))
            for afi, safi, flags in struct.iter_unpack("!HBB", value[2:])
        )
        return cls(
            restart_state=bool(head & _GR_RESTART_STATE),
            notification=bool(head & _GR_NOTIFICATION),
            restart_time=head & 0x0FFF,
            families=families,
        )


@attrs.frozen
class AddPathEntry:
    """One (AFI, SAFI, Send/Receive) tuple of the ADD-PATH capability (RFC 7911 §4)."""

    afi: int
    safi: int
    send: bool
    receive: bool


@attrs.frozen
class AddPathCapability:
    """RFC 7911 §4: per family, whether the speaker can send and/or receive path identifiers."""

    code: ClassVar[CapabilityCode] = CapabilityCode.ADD_PATH
    entries: tuple[AddPathEntry, ...] = ()

    def encode_value(self) -> bytes:
        """AFI (2), SAFI (1), Send/Receive (1: 1 receive, 2 send, 3 both) per entry."""
        parts = []
        for entry in self.entries:
            _check_range("AFI", entry.afi, 16)
            _check_range("SAFI", entry.safi, 8)
            mode = (1 if entry.receive else 0) | (2 if entry.send else 0)
            parts.append(struct.pack("!HBB", entry.afi, entry.safi, mode))
        return b"".join(parts)

    @classmethod
    def decode_value(cls, value: bytes) -> AddPathCapability:
        """RFC 7911 §4: a multiple of four octets; Send/Receive must be 1, 2 or 3."""
        if len(value) % 4:
            raise _malformed("ADD-PATH", value, f"length {len(value)} is not a multiple of 4")
        entries = []
        for afi, safi, mode in struct.iter_unpack("!HBB", value):
            if mode > 3:
                raise _malformed("ADD-PATH", value, f"Send/Receive value {mode} is not 1, 2 or 3")
            entries.append(AddPathEntry(afi, safi, send=bool(mode & 2), receive=bool(mode & 1)))
        return cls(tuple(entries))


@attrs.frozen
class ExtendedNextHopEntry:
    """One tuple of the extended next hop capability (RFC 8950 §3)."""

    nlri_afi: int
    nlri_safi: int
    next_hop_afi: int


@attrs.frozen
class ExtendedNextHopCapability:
    """RFC 8950 §3: NLRI of ``nlri_afi``/``nlri_safi`` may carry a next hop of ``next_hop_afi``."""

    code: ClassVar[CapabilityCode] = CapabilityCode.EXTENDED_NEXT_HOP
    entries: tuple[ExtendedNextHopEntry, ...] = ()

    def encode_value(self) -> bytes:
        """NLRI AFI (2), NLRI SAFI (2), next hop AFI (2) per entry."""
        parts = []
        for entry in self.entries:
            _check_range("AFI", entry.nlri_afi, 16)
            _check_range("SAFI", entry.nlri_safi, 16)
            _check_range("AFI", entry.next_hop_afi, 16)
            parts.append(struct.pack("!HHH", entry.nlri_afi, entry.nlri_safi, entry.next_hop_afi))
        return b"".join(parts)

    @classmethod
    def decode_value(cls, value: bytes) -> ExtendedNextHopCapability:
        """RFC 8950 §3: a multiple of six octets."""
        if len(value) % 6:
            raise _malformed(
                "extended next hop", value, f"length {len(value)} is not a multiple of 6"
            )
        return cls(tuple(ExtendedNextHopEntry(*t) for t in struct.iter_unpack("!HHH", value)))


@attrs.frozen
class ExtendedMessageCapability:
    """RFC 8654 §3: the speaker accepts messages up to 65535 octets."""

    code: ClassVar[CapabilityCode] = CapabilityCode.EXTENDED_MESSAGE

    def encode_value(self) -> bytes:
        """Empty value."""
        return b""

    @classmethod
    def decode_value(cls, value: bytes) -> ExtendedMessageCapability:
        """RFC 8654 §3: capability length 0."""
        _expect_empty("extended message", value)
        return cls()


@attrs.frozen
class RoleCapability:
    """RFC 9234 §4.1: the speaker's BGP role on this session (see :class:`Role`)."""

    code: ClassVar[CapabilityCode] = CapabilityCode.ROLE
    role: int

    def encode_value(self) -> bytes:
        """One octet."""
        _check_range("BGP role", self.role, 8)
        return bytes((self.role,))

    @classmethod
    def decode_value(cls, value: bytes) -> RoleCapability:
        """RFC 9234 §4.1: capability length 1."""
        if len(value) != 1:
            raise _malformed("BGP role", value, f"length {len(value)}, expected 1")
        return cls(value[0])


def _encode_label(what: str, text: str) -> bytes:
    try:
        raw = text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError as exc:
        raise LocalProtocolError(f"FQDN {what} {text!r} cannot be encoded") from exc
    if len(raw) > 255:
        raise LocalProtocolError(f"FQDN {what} is {len(raw)} octets, at most 255 fit")
    return bytes((len(raw),)) + raw


@attrs.frozen
class FqdnCapability:
    """draft-walton-bgp-hostname-capability: the speaker's host and domain name.

    Undecodable octets survive as surrogate escapes, so odd names still re-encode exactly.
    """

    code: ClassVar[CapabilityCode] = CapabilityCode.FQDN
    hostname: str
    domain: str = ""

    def encode_value(self) -> bytes:
        """Host name length (1), host name, domain name length (1), domain name."""
        return _encode_label("host name", self.hostname) + _encode_label("domain", self.domain)

    @classmethod
    def decode_value(cls, value: bytes) -> FqdnCapability:
        """Two length-prefixed strings, nothing after them."""
        if not value:
            raise _malformed("FQDN", value, "empty")
        host_end = 1 + value[0]
        if host_end >= len(value):
            raise _malformed("FQDN", value, "host name overruns the capability")
        domain_end = host_end + 1 + value[host_end]
        if domain_end != len(value):
            raise _malformed("FQDN", value, "domain name length does not match the capability")
        host = value[1:host_end].decode("utf-8", "surrogateescape")
        domain = value[host_end + 1 : domain_end].decode("utf-8", "surrogateescape")
        return cls(host, domain)


@attrs.frozen
class LongLivedGracefulRestartCapability:
    """RFC 9494: long-lived graceful restart, kept as raw bytes (pybgp does not act on it)."""

    code: ClassVar[CapabilityCode] = CapabilityCode.LONG_LIVED_GRACEFUL_RESTART
    value: bytes = b""

    def encode_value(self) -> bytes:
        """The raw value."""
        return self.value

    @classmethod
    def decode_value(cls, value: bytes) -> LongLivedGracefulRestartCapability:
        """Any value is accepted."""
        return cls(bytes(value))


@attrs.frozen
class UnknownCapability:
    """A capability pybgp does not understand: code and value kept for byte-exact re-encoding."""

    code: int
    value: bytes = b""

    def encode_value(self) -> bytes:
        """The raw value."""
        return self.value


Capability = (
    MultiprotocolCapability
    | RouteRefreshCapability
    | RouteRefreshOldCiscoCapability
    | EnhancedRouteRefreshCapability
    | FourOctetAsCapability
    | GracefulRestartCapability
    | AddPathCapability
    | ExtendedNextHopCapability
    | ExtendedMessageCapability
    | RoleCapability
    | FqdnCapability
    | LongLivedGracefulRestartCapability
    | UnknownCapability
)
"""Any capability value."""

_KnownCapability = (
    type[MultiprotocolCapability]
    | type[RouteRefreshCapability]
    | type[RouteRefreshOldCiscoCapability]
    | type[EnhancedRouteRefreshCapability]
    | type[FourOctetAsCapability]
    | type[GracefulRestartCapability]
    | type[AddPathCapability]
    | type[ExtendedNextHopCapability]
    | type[ExtendedMessageCapability]
    | type[RoleCapability]
    | type[FqdnCapability]
    | type[LongLivedGracefulRestartCapability]
)

CAPABILITY_DECODERS: Final[dict[int, _KnownCapability]] = {
    CapabilityCode.MULTIPROTOCOL: MultiprotocolCapability,
    CapabilityCode.ROUTE_REFRESH: RouteRefreshCapability,
    CapabilityCode.EXTENDED_NEXT_HOP: ExtendedNextHopCapability,
    CapabilityCode.EXTENDED_MESSAGE: ExtendedMessageCapability,
    CapabilityCode.ROLE: RoleCapability,
    CapabilityCode.GRACEFUL_RESTART: GracefulRestartCapability,
    CapabilityCode.FOUR_OCTET_AS: FourOctetAsCapability,
    CapabilityCode.ADD_PATH: AddPathCapability,
    CapabilityCode.ENHANCED_ROUTE_REFRESH: EnhancedRouteRefreshCapability,
    CapabilityCode.LONG_LIVED_GRACEFUL_RESTART: LongLivedGracefulRestartCapability,
    CapabilityCode.FQDN: FqdnCapability,
    CapabilityCode.ROUTE_REFRESH_OLD_CISCO: RouteRefreshOldCiscoCapability,
}
"""Capability code -> class. Codes missing here decode to :class:`UnknownCapability`."""


def decode_capability(code: int, value: bytes) -> Capability:
    """Decode one capability value; unknown codes become :class:`UnknownCapability`."""
    cls = CAPABILITY_DECODERS.get(code)
    if cls is None:
        return UnknownCapability(code, bytes(value))
    return cls.decode_value(bytes(value))


def decode_capabilities(data: bytes) -> tuple[Capability, ...]:
    """Decode the value of one Capabilities optional parameter (RFC 5492 §4).

    It holds zero or more ``code (1) | length (1) | value`` triples; a triple that overruns the
    parameter raises 2/0.
    """
    capabilities: list[Capability] = []
    offset = 0
    end = len(data)
    while offset < end:
        if offset + 2 > end:
            raise RemoteProtocolError(
                ErrorCode.OPEN_MESSAGE,
                OpenMessageSubcode.UNSPECIFIC,
                b"",
                f"capability header truncated at offset {offset} of a {end}-octet parameter "
                "(RFC 5492 §4)",
            )
        code = data[offset]
        length = data[offset + 1]
        start = offset + 2
        if start + length > end:
            raise RemoteProtocolError(
                ErrorCode.OPEN_MESSAGE,
                OpenMessageSubcode.UNSPECIFIC,
                b"",
                f"capability {code} claims {length} octets but only {end - start} remain "
                "in its parameter (RFC 5492 §4)",
            )
        capabilities.append(decode_capability(code, data[start : start + length]))
        offset = start + length
    return tuple(capabilities)


def encode_capability(capability: Capability) -> bytes:
    """``code (1) | length (1) | value``; a value over 255 octets is a LocalProtocolError."""
    value = capability.encode_value()
    code = int(capability.code)
    _check_range("capability code", code, 8)
    if len(value) > 255:
        raise LocalProtocolError(
            f"capability {code} value is {len(value)} octets, at most 255 fit (RFC 5492 §4)"
        )
    return bytes((code, len(value))) + value

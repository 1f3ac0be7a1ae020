"""The BFD Control packet (RFC 5880 §4.1): bytes <-> :class:`ControlPacket`. No I/O.

::

     0                   1                   2                   3
     0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    |Vers |  Diag   |Sta|P|F|C|A|D|M|  Detect Mult  |    Length     |
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    |                       My Discriminator                        |
    |                      Your Discriminator                       |
    |                    Desired Min TX Interval                    |
    |                   Required Min RX Interval                    |
    |                 Required Min Echo RX Interval                 |
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    |   optional Authentication Section (A bit set)                 |

Intervals are in microseconds. :func:`decode_control` applies the reception rules of
RFC 5880 §6.8.6 that need nothing but the packet; the rules that need a session (the
discriminator lookup, the A bit against the session's authentication, AdminDown) are applied
by :meth:`pybgp.bfd.session.BfdSession.receive` and the shell's demultiplexer. A packet that
breaks a rule raises :class:`BfdPacketError` naming it: RFC 5880 says to discard it, which is
what the callers do.
"""

from __future__ import annotations

import enum
import struct
from typing import Final

import attrs

__all__ = [
    "BFD_VERSION",
    "HEADER_LENGTH",
    "BfdPacketError",
    "BfdState",
    "ControlPacket",
    "Diagnostic",
    "decode_control",
    "encode_control",
]

BFD_VERSION: Final = 1
"""RFC 5880 §4.1: the version of the protocol, 1."""

HEADER_LENGTH: Final = 24
"""The mandatory section of a Control packet, in bytes."""

_AUTH_MIN_LENGTH: Final = 26
"""RFC 5880 §6.8.6: with the A bit set the packet holds at least the 2-byte auth header."""

_FORMAT: Final = struct.Struct("!BBBBIIIII")


class BfdState(enum.IntEnum):
    """RFC 5880 §4.1 "Sta": the transmitting system's session state."""

    ADMIN_DOWN = 0
    DOWN = 1
    INIT = 2
    UP = 3

    @property
    def label(self) -> str:
        """The RFC's spelling: AdminDown, Down, Init, Up."""
        return ("AdminDown", "Down", "Init", "Up")[self.value]


class Diagnostic(enum.IntEnum):
    """RFC 5880 §4.1 "Diag": why the session last left Up (or is not Up)."""

    NO_DIAGNOSTIC = 0
    CONTROL_DETECTION_TIME_EXPIRED = 1
    ECHO_FUNCTION_FAILED = 2
    NEIGHBOR_SIGNALED_SESSION_DOWN = 3
    FORWARDING_PLANE_RESET = 4
    PATH_DOWN = 5
    CONCATENATED_PATH_DOWN = 6
    ADMINISTRATIVELY_DOWN = 7
    REVERSE_CONCATENATED_PATH_DOWN = 8

    @property
    def text(self) -> str:
        """The RFC's words for the code."""
        return self.name.replace("_", " ").capitalize()


class BfdPacketError(ValueError):
    """A packet RFC 5880 §6.8.6 says to discard; ``str()`` names the rule."""


@attrs.frozen(kw_only=True)
class ControlPacket:
    """One BFD Control packet (RFC 5880 §4.1). Intervals in microseconds."""

    state: BfdState
    my_discriminator: int
    your_discriminator: int = 0
    diagnostic: int = Diagnostic.NO_DIAGNOSTIC
    """A :class:`Diagnostic` value; kept as an int since codes 9..31 are reserved, not wrong."""
    detect_mult: int = 3
    desired_min_tx: int = 1_000_000
    required_min_rx: int = 1_000_000
    required_min_echo_rx: int = 0
    poll: bool = False
    final: bool = False
    control_plane_independent: bool = False
    """The C bit: BFD runs apart from the control plane (survives its restart)."""
    authentication: bool = False
    """The A bit. pybgp does not authenticate, so a received packet with it set is dropped."""
    demand: bool = False
    multipoint: bool = False
    version: int = BFD_VERSION


def encode_control(packet: ControlPacket) -> bytes:
    """The 24 bytes of ``packet`` (no Authentication Section: pybgp does not authenticate)."""
    flags = (
        (packet.state & 0x3) << 6
        | packet.poll << 5
        | packet.final << 4
        | packet.control_plane_independent << 3
        | packet.authentication << 2
        | packet.demand << 1
        | packet.multipoint
    )
    return _FORMAT.pack(
        (packet.version & 0x7) << 5 | (packet.diagnostic & 0x1F),
        flags,
        packet.detect_mult,
        HEADER_LENGTH,
        packet.my_discriminator,
        packet.your_discriminator,
        packet.desired_min_tx,
        packet.required_min_rx,
        packet.required_min_echo_rx,
    )


def decode_control(data: bytes) -> ControlPacket:
    """Decode a received Control packet, applying the session-free rules of RFC 5880 §6.8.6.

    Raises :class:`BfdPacketError` (naming the rule) for a packet to discard.
    """
    if len(data) < HEADER_LENGTH:
        raise BfdPacketError(
            f"RFC 5880 §6.8.6: {len(data)} bytes is shorter than a Control packet (24)"
        )
    (
        version_diag,
        flags,
        detect_mult,
        length,
        my_discriminator,
        your_discriminator,
        desired_min_tx,
        required_min_rx,
        required_min_echo_rx,
    ) = _FORMAT.unpack_from(data)
    version = version_diag >> 5
    state = BfdState(flags >> 6)
    authentication = bool(flags & 0x04)
    multipoint = bool(flags & 0x01)
    # RFC 5880 §6.8.6, in the order the RFC lists the rules.
    if version != BFD_VERSION:
        raise BfdPacketError(f"RFC 5880 §6.8.6: version {version} is not 1")
    minimum = _AUTH_MIN_LENGTH if authentication else HEADER_LENGTH
    if length < minimum:
        raise BfdPacketError(
            f"RFC 5880 §6.8.6: Length {length} is less than the minimum ({minimum}"
            f"{' with the A bit set' if authentication else ''})"
        )
    if length > len(data):
        raise BfdPacketError(
            f"RFC 5880 §6.8.6: Length {length} is greater than the payload ({len(data)} bytes)"
        )
    if detect_mult == 0:
        raise BfdPacketError("RFC 5880 §6.8.6: Detect Mult is zero")
    if multipoint:
        raise BfdPacketError("RFC 5880 §6.8.6: Multipoint (M) bit is set")
    if my_discriminator == 0:
        raise BfdPacketError("RFC 5880 §6.8.6: My Discriminator is zero")
    if your_discriminator == 0 and state not in (BfdState.DOWN, BfdState.ADMIN_DOWN):
        raise BfdPacketError(
            f"RFC 5880 §6.8.6: Your Discriminator is zero and State is {state.label}, "
            "not Down or AdminDown"
        )
    return ControlPacket(
        version=version,
        diagnostic=version_diag & 0x1F,
        state=state,
        poll=bool(flags & 0x20),
        final=bool(flags & 0x10),
        control_plane_independent=bool(flags & 0x08),
        authentication=authentication,
        demand=bool(flags & 0x02),
        multipoint=multipoint,
        detect_mult=detect_mult,
        my_discriminator=my_discriminator,
        your_discriminator=your_discriminator,
        desired_min_tx=desired_min_tx,
        required_min_rx=required_min_rx,
        required_min_echo_rx=required_min_echo_rx,
    )

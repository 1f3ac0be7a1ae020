"""BFD (RFC 5880, single hop RFC 5881): a sans-I/O session and its packet codec.

:mod:`pybgp.bfd.packet` and :mod:`pybgp.bfd.session` are protocol core (no I/O, no clock);
:mod:`pybgp.bfd.shell` is the asyncio UDP shell that carries their bytes and time.
"""

from pybgp.bfd.packet import (
    BfdPacketError,
    BfdState,
    ControlPacket,
    Diagnostic,
    decode_control,
    encode_control,
)
from pybgp.bfd.session import (
    SLOW_TX_INTERVAL,
    BfdAction,
    BfdSession,
    BfdSessionStatus,
    BfdTimers,
    SendPacket,
    StateChanged,
)

__all__ = [
    "SLOW_TX_INTERVAL",
    "BfdAction",
    "BfdPacketError",
    "BfdSession",
    "BfdSessionStatus",
    "BfdState",
    "BfdTimers",
    "ControlPacket",
    "Diagnostic",
    "SendPacket",
    "StateChanged",
    "decode_control",
    "encode_control",
]

"""Every BGP message as one union, with a decode dispatch on the type octet and an encode.

``decode_message`` takes a :class:`RawMessage` from :class:`MessageReader` and the session's
:class:`Negotiated` value (only UPDATE needs it). UPDATE decoding returns an
:class:`UpdateResult`, the message *and* the RFC 7606 action to take, rather than the bare
:class:`Update`; every other type returns its value.
"""

from __future__ import annotations

import struct
from typing import Final, TypeAlias

import attrs

from pybgp.wire.constants import (
    HEADER_LENGTH,
    MARKER,
    ErrorCode,
    MessageHeaderSubcode,
    MessageType,
)
from pybgp.wire.errors import LocalProtocolError, RemoteProtocolError
from pybgp.wire.framing import RawMessage
from pybgp.wire.negotiated import DEFAULT_NEGOTIATED, Negotiated
from pybgp.wire.notification import Notification, decode_notification, encode_notification
from pybgp.wire.open import Open, decode_open, encode_open
from pybgp.wire.refresh import RouteRefresh, decode_route_refresh, encode_route_refresh
from pybgp.wire.update import Update, UpdateResult, decode_update, encode_update

__all__ = [
    "KEEPALIVE_MESSAGE",
    "Keepalive",
    "Message",
    "decode_keepalive",
    "decode_message",
    "encode",
]

KEEPALIVE_MESSAGE: Final = MARKER + struct.pack("!HB", HEADER_LENGTH, MessageType.KEEPALIVE)
"""The whole KEEPALIVE message: a header with no body (RFC 4271 §4.4)."""


@attrs.frozen
class Keepalive:
    """A KEEPALIVE (RFC 4271 §4.4): no fields."""


Message: TypeAlias = Open | Update | Notification | Keepalive | RouteRefresh
"""Any decoded BGP message value."""


def decode_keepalive(body: bytes) -> Keepalive:
    """A KEEPALIVE has no body: anything else is 1/2 (RFC 4271 §6.1)."""
    if body:
        length = min(len(body) + HEADER_LENGTH, 0xFFFF)
        raise RemoteProtocolError(
            ErrorCode.MESSAGE_HEADER,
            MessageHeaderSubcode.BAD_MESSAGE_LENGTH,
            struct.pack("!H", length),
            f"KEEPALIVE of {length} octets, must be 19 (RFC 4271 §4.4)",
        )
    return Keepalive()


def decode_message(
    raw: RawMessage, negotiated: Negotiated = DEFAULT_NEGOTIATED
) -> Open | UpdateResult | Notification | Keepalive | RouteRefresh:
    """Decode one framed message by its type; UPDATE yields an :class:`UpdateResult`."""
    mtype = raw.type
    if mtype == MessageType.UPDATE:
        return decode_update(raw.body, negotiated)
    if mtype == MessageType.KEEPALIVE:
        return decode_keepalive(raw.body)
    if mtype == MessageType.OPEN:
        return decode_open(raw.body)
    if mtype == MessageType.NOTIFICATION:
        return decode_notification(raw.body)
    if mtype == MessageType.ROUTE_REFRESH:
        return decode_route_refresh(raw.body)
    # RFC 4271 §6.1: Bad Message Type, data = the type octet.
    raise RemoteProtocolError(
        ErrorCode.MESSAGE_HEADER,
        MessageHeaderSubcode.BAD_MESSAGE_TYPE,
        bytes((mtype & 0xFF,)),
        f"unknown message type {mtype} (RFC 4271 §6.1)",
    )


def encode(message: Message, negotiated: Negotiated = DEFAULT_NEGOTIATED) -> bytes:
    """The whole message on the wire, header included."""
    if isinstance(message, Keepalive):
        return KEEPALIVE_MESSAGE
    if isinstance(message, Update):
        return encode_update(message, negotiated)
    if isinstance(message, Open):
        return encode_open(message)
    if isinstance(message, Notification):
        return encode_notification(message, max_length=negotiated.max_message_length)
    if isinstance(message, RouteRefresh):
        return encode_route_refresh(message)
    raise LocalProtocolError(f"cannot encode {type(message).__name__}")

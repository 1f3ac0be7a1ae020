"""Message framing: split a TCP byte stream into whole BGP messages (RFC 4271 §4.1, §6.1).

Theory of operation
-------------------
:class:`MessageReader` is fed whatever the socket returned (one octet, or a megabyte) and hands
back every message completed so far as a :class:`RawMessage` (type + body). It keeps one
``bytearray`` and an offset into it: parsed messages only advance the offset, and the consumed
prefix is dropped once per ``feed`` call, so a megabyte fed at once costs O(n), not O(n^2).

The header is checked as soon as its 19 octets are in, before waiting for the body, in the
order of RFC 4271 §6.1: marker (1/1), length within 19..max (1/2, data = the bad length),
type known (1/3, data = the type octet), then the length the type allows (1/2). Once an error
was raised the reader is dead: every later ``feed`` raises the same error again.

``max_length`` is 4096 until both sides negotiate RFC 8654 extended messages; the session then
sets it to 65535. OPEN and KEEPALIVE stay limited to 4096 regardless (RFC 8654 §3).
"""

from __future__ import annotations

import struct
from typing import Final

import attrs

from pybgp.wire.constants import (
    HEADER_LENGTH,
    MARKER,
    MAX_EXTENDED_MESSAGE_LENGTH,
    MAX_MESSAGE_LENGTH,
    ErrorCode,
    MessageHeaderSubcode,
    MessageType,
    RouteRefreshSubcode,
)
from pybgp.wire.errors import LocalProtocolError, RemoteProtocolError

__all__ = ["MIN_LENGTHS", "MessageReader", "RawMessage", "encode_message"]

MIN_LENGTHS: Final[dict[int, int]] = {
    MessageType.OPEN: 29,  # RFC 4271 §4.2
    MessageType.UPDATE: 23,  # RFC 4271 §4.3
    MessageType.NOTIFICATION: 21,  # RFC 4271 §4.5
    MessageType.KEEPALIVE: 19,  # RFC 4271 §4.4
    MessageType.ROUTE_REFRESH: 23,  # RFC 2918 §3
}
"""Smallest legal length, header included, per message type."""

_RFC7313_SUBTYPES: Final = frozenset({RouteRefreshSubcode.BEGIN, RouteRefreshSubcode.END})


@attrs.frozen
class RawMessage:
    """One framed message: its type octet and its body (everything after the header)."""

    type: int
    body: bytes

    def encode(self) -> bytes:
        """The message back on the wire, header included."""
        return encode_message(self.type, self.body)


def encode_message(type: int, body: bytes) -> bytes:
    """Marker, 2-octet length and type in front of ``body`` (RFC 4271 §4.1)."""
    length = HEADER_LENGTH + len(body)
    if length > MAX_EXTENDED_MESSAGE_LENGTH:
        raise LocalProtocolError(f"message of {length} octets exceeds 65535 (RFC 8654)")
    if not 0 <= type <= 255:
        raise LocalProtocolError(f"message type {type} does not fit in one octet")
    return MARKER + struct.pack("!HB", length, type) + bytes(body)


def _bad_length(length: int, reason: str) -> RemoteProtocolError:
    # RFC 4271 §6.1: Bad Message Length, the Data field holds the erroneous Length field.
    return RemoteProtocolError(
        ErrorCode.MESSAGE_HEADER,
        MessageHeaderSubcode.BAD_MESSAGE_LENGTH,
        struct.pack("!H", length),
        reason,
    )


def check_header(header: bytes | bytearray, max_length: int, offset: int = 0) -> tuple[int, int]:
    """Check the 19-octet header at ``offset`` (RFC 4271 §6.1); return (length, type).

    The ROUTE-REFRESH exact-length rule needs the body (RFC 7313 subtypes may be longer) and is
    checked by the reader once the body is in.
    """
    if not header.startswith(MARKER, offset):
        # RFC 4271 §6.1: the Marker field is not all ones.
        raise RemoteProtocolError(
            ErrorCode.MESSAGE_HEADER,
            MessageHeaderSubcode.CONNECTION_NOT_SYNCHRONIZED,
            b"",
            "marker is not 16 octets of 0xff (RFC 4271 §6.1)",
        )
    length, mtype = struct.unpack_from("!HB", header, offset + 16)
    if length < HEADER_LENGTH or length > max_length:
        # RFC 4271 §6.1: Length less than 19 or greater than 4096 (65535 with RFC 8654).
        raise _bad_length(
            length, f"message length {length} is outside 19..{max_length} (RFC 4271 §6.1)"
        )
    minimum = MIN_LENGTHS.get(mtype)
    if minimum is None:
        # RFC 4271 §6.1: Bad Message Type, the Data field holds the erroneous Type field.
        raise RemoteProtocolError(
            ErrorCode.MESSAGE_HEADER,
            MessageHeaderSubcode.BAD_MESSAGE_TYPE,
            bytes((mtype,)),
            f"unknown message type {mtype} (RFC 4271 §6.1)",
        )
    if length < minimum:
        # RFC 4271 §6.1: the length is too small for the type.
        raise _bad_length(
            length,
            f"{MessageType(mtype).name} of {length} octets is shorter than the minimum "
            f"{minimum} (RFC 4271 §6.1)",
        )
    if mtype == MessageType.KEEPALIVE and length != HEADER_LENGTH:
        # RFC 4271 §4.4: a KEEPALIVE is the header only.
        raise _bad_length(length, f"KEEPALIVE of {length} octets, must be 19 (RFC 4271 §4.4)")
    if mtype == MessageType.OPEN and length > MAX_MESSAGE_LENGTH:
        # RFC 8654 §3: OPEN stays within 4096 octets even with extended messages.
        raise _bad_length(length, f"OPEN of {length} octets exceeds 4096 (RFC 8654 §3)")
    return length, mtype


def _check_route_refresh(length: int, body: bytes) -> None:
    # RFC 2918 §3: ROUTE-REFRESH is exactly 23 octets. RFC 7313 §5: BoRR/EoRR of another
    # length are passed on, so that decode_route_refresh answers them with 7/1.
    if length == 23:
        return
    if len(body) >= 3 and body[2] in _RFC7313_SUBTYPES:
        return
    raise _bad_length(length, f"ROUTE-REFRESH of {length} octets, must be 23 (RFC 2918 §3)")


@attrs.define
class MessageReader:
    """Stream splitter: :meth:`feed` bytes in, whole :class:`RawMessage` values out."""

    max_length: int = MAX_MESSAGE_LENGTH
    """4096, or 65535 once RFC 8654 extended messages are negotiated."""
    _buffer: bytearray = attrs.field(factory=bytearray, init=False, repr=False)
    _error: RemoteProtocolError | None = attrs.field(default=None, init=False, repr=False)

    @property
    def buffered(self) -> int:
        """Octets received but not yet part of a whole message."""
        return len(self._buffer)

    def feed(self, data: bytes) -> list[RawMessage]:
        """Add ``data`` to the stream; return the messages it completed (maybe none).

        Raises :class:`RemoteProtocolError` (RFC 4271 §6.1) on a bad header; the messages
        completed before the bad one are lost with it, as the session closes anyway.
        """
        if self._error is not None:
            raise self._error
        buffer = self._buffer
        buffer += data
        messages: list[RawMessage] = []
        offset = 0
        end = len(buffer)
        max_length = self.max_length
        try:
            while end - offset >= HEADER_LENGTH:
                length, mtype = check_header(buffer, max_length, offset)
                if end - offset < length:
                    break
                body = bytes(buffer[offset + HEADER_LENGTH : offset + length])
                if mtype == MessageType.ROUTE_REFRESH:
                    _check_route_refresh(length, body)
                messages.append(RawMessage(mtype, body))
                offset += length
        except RemoteProtocolError as exc:
            self._error = exc
            buffer.clear()
            raise
        if offset:
            del buffer[:offset]
        return messages

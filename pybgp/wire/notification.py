"""The NOTIFICATION message (RFC 4271 §4.5) and the shutdown communication (RFC 8203, 9003).

A Cease NOTIFICATION with subcode Administrative Shutdown (2) or Administrative Reset (4) may
carry a short operator message: one length octet, then that many octets of UTF-8 (RFC 9003 §2
allows up to 255; RFC 8203 had 128). A message that is too long, overruns the data or is not
valid UTF-8 is not an error: the raw data stays in ``data`` and ``shutdown_message`` is None
(RFC 9003 §2: the receiver logs it and carries on closing).
"""

from __future__ import annotations

import struct
from typing import Final

import attrs

from pybgp.wire.constants import (
    MAX_MESSAGE_LENGTH,
    CeaseSubcode,
    ErrorCode,
    MessageHeaderSubcode,
    MessageType,
    error_name,
)
from pybgp.wire.errors import LocalProtocolError, RemoteProtocolError
from pybgp.wire.framing import encode_message

__all__ = [
    "MAX_SHUTDOWN_MESSAGE_LENGTH",
    "Notification",
    "decode_notification",
    "encode_notification",
]

MAX_SHUTDOWN_MESSAGE_LENGTH: Final = 255  # RFC 9003 §2
_SHUTDOWN_SUBCODES: Final = frozenset(
    {CeaseSubcode.ADMINISTRATIVE_SHUTDOWN, CeaseSubcode.ADMINISTRATIVE_RESET}
)


def _truncate_utf8(text: str, limit: int) -> bytes:
    raw = text.encode("utf-8", "replace")
    if len(raw) <= limit:
        return raw
    # Cut on a character boundary: drop continuation octets (10xxxxxx) at the cut.
    cut = limit
    while cut > 0 and (raw[cut] & 0xC0) == 0x80:
        cut -= 1
    return raw[:cut]


@attrs.frozen
class Notification:
    """A NOTIFICATION: error code, subcode and data (RFC 4271 §4.5)."""

    code: int
    subcode: int
    data: bytes = b""

    @classmethod
    def from_error(cls, error: RemoteProtocolError) -> Notification:
        """The NOTIFICATION that answers a protocol error of the peer (RFC 4271 §6)."""
        return cls(error.code, error.subcode, error.data)

    @classmethod
    def shutdown(
        cls, subcode: int = CeaseSubcode.ADMINISTRATIVE_SHUTDOWN, message: str = ""
    ) -> Notification:
        """A Cease with an RFC 9003 shutdown communication (cut to 255 octets of UTF-8).

        An empty message still sends the length octet 0, as RFC 9003 §2 allows.
        """
        raw = _truncate_utf8(message, MAX_SHUTDOWN_MESSAGE_LENGTH)
        return cls(ErrorCode.CEASE, subcode, bytes((len(raw),)) + raw)

    @property
    def shutdown_message(self) -> str | None:
        """The RFC 8203/9003 shutdown communication, or None when absent or malformed."""
        if self.code != ErrorCode.CEASE or self.subcode not in _SHUTDOWN_SUBCODES:
            return None
        if not self.data:
            return None
        length = self.data[0]
        if 1 + length > len(self.data):
            return None  # RFC 9003 §2: length overruns the data; keep the raw data only
        try:
            return self.data[1 : 1 + length].decode("utf-8")
        except UnicodeDecodeError:
            return None  # RFC 9003 §2: invalid UTF-8 is logged raw, not an error

    @property
    def error(self) -> str:
        """The code/subcode in words, e.g. ``Cease: administrative shutdown``."""
        return error_name(self.code, self.subcode)

    def describe(self) -> str:
        """A sentence for logs and ``pybgp status``: the code in words, then the data."""
        text = self.error
        message = self.shutdown_message
        if message is not None:
            return f'{text}: "{message}"' if message else text
        if self.data:
            return f"{text} (data {self.data.hex()})"
        return text


def decode_notification(body: bytes) -> Notification:
    """Decode a NOTIFICATION body. Shorter than two octets is a 1/2 (RFC 4271 §6.1)."""
    body = bytes(body)
    if len(body) < 2:
        length = len(body) + 19
        raise RemoteProtocolError(
            ErrorCode.MESSAGE_HEADER,
            MessageHeaderSubcode.BAD_MESSAGE_LENGTH,
            struct.pack("!H", length),
            f"NOTIFICATION of {length} octets is shorter than the minimum 21 (RFC 4271 §4.5)",
        )
    return Notification(body[0], body[1], body[2:])


def encode_notification(
    notification: Notification, *, max_length: int = MAX_MESSAGE_LENGTH
) -> bytes:
    """The whole NOTIFICATION message. Data that would exceed ``max_length`` is cut (RFC 8654
    §5: a NOTIFICATION to a peer without extended messages stays within 4096 octets)."""
    code, subcode = notification.code, notification.subcode
    if not (0 <= code <= 255 and 0 <= subcode <= 255):
        raise LocalProtocolError(f"NOTIFICATION code {code}/{subcode} does not fit in octets")
    data = notification.data[: max_length - 21]
    return encode_message(MessageType.NOTIFICATION, bytes((code, subcode)) + data)

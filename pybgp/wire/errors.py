"""The codec's errors.

Two kinds, as in h11: a :class:`RemoteProtocolError` means the *peer* sent something wrong and
carries the NOTIFICATION (code, subcode, data) that RFC 4271 §6 says to answer with; a
:class:`LocalProtocolError` means the *caller* asked for something the protocol cannot express
(an encode of an out-of-range value, say) and is a bug on our side.

Malformed input of any kind raises only :class:`RemoteProtocolError` (or a subclass): never
IndexError, struct.error or ValueError. Tests hold the codec to that with Hypothesis.
"""

from __future__ import annotations

from pybgp.wire.constants import ErrorCode, error_name


class ProtocolError(Exception):
    """Base of every error the codec raises."""


class LocalProtocolError(ProtocolError):
    """The caller asked the codec for something that cannot be put on the wire."""


class RemoteProtocolError(ProtocolError):
    """The peer sent bytes that break the protocol.

    ``code``/``subcode``/``data`` are the NOTIFICATION to send before closing the session
    (RFC 4271 §6). ``reason`` is a sentence for logs and ``pybgp status``.
    """

    def __init__(self, code: int, subcode: int, data: bytes = b"", reason: str = "") -> None:
        self.code = int(code)
        self.subcode = int(subcode)
        self.data = bytes(data)
        self.reason = reason or error_name(code, subcode)
        super().__init__(f"{error_name(code, subcode)}: {self.reason}")

    @property
    def is_header_error(self) -> bool:
        """True for RFC 4271 §6.1 errors (the FSM's BGPHeaderErr event)."""
        return self.code == ErrorCode.MESSAGE_HEADER

    @property
    def is_open_error(self) -> bool:
        """True for RFC 4271 §6.2 errors (the FSM's BGPOpenMsgErr event)."""
        return self.code == ErrorCode.OPEN_MESSAGE

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(code={self.code}, subcode={self.subcode}, "
            f"data={self.data!r}, reason={self.reason!r})"
        )

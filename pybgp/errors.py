"""Errors for misuse of the library (the caller's mistake, not the peer's).

Protocol errors the *peer* makes never raise out of the speaker: they become NOTIFICATIONs
(:class:`pybgp.wire.errors.RemoteProtocolError` carries the one to send). The errors here are
raised to the embedding program by :class:`pybgp.Speaker`'s public methods, and each also
subclasses the built-in type those methods raised before, so existing ``except`` clauses keep
working. Configuration files have their own :class:`pybgp.config.ConfigError`.
"""

from __future__ import annotations

__all__ = ["NotRunningError", "PybgpError", "UnknownPeerError"]


class PybgpError(Exception):
    """Base of every error pybgp raises for a misuse of its API."""


class NotRunningError(PybgpError, RuntimeError):
    """The call needs a started speaker (``async with Speaker(...)`` or ``await start()``),
    or the speaker stopped while the call waited."""


class UnknownPeerError(PybgpError, KeyError):
    """No peer (configured or dynamic) has this address."""

    def __init__(self, address: object) -> None:
        super().__init__(str(address))
        self.address = str(address)

    def __str__(self) -> str:
        return f"no peer {self.address}"

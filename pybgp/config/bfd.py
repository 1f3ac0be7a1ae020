"""``[bfd]``: the BFD timers (RFC 5880) of the peers with ``bfd = true``.

Kept in its own module so that the config values and parser only gain a line or two each.
"""

from __future__ import annotations

from typing import Any

import attrs

__all__ = ["BfdConfig", "parse_bfd"]


@attrs.frozen(kw_only=True)
class BfdConfig:
    """``[bfd]``: timers of every BFD session (single hop, RFC 5881)."""

    min_tx_ms: int = 300
    """Desired Min TX Interval once the session is Up, milliseconds (10..60000). While not
    Up pybgp sends once a second at most (RFC 5880 §6.8.3)."""

    min_rx_ms: int = 300
    """Required Min RX Interval: the fastest we accept the peer's packets, ms (10..60000)."""

    multiplier: int = 3
    """Detect Mult (1..255): the peer is declared down after this many intervals without a
    packet. The detection time is the peer's multiplier x max(our min_rx_ms, its TX)."""


_MS = "{value} ms is out of range (10..60000 ms)"


def parse_bfd(table: Any) -> BfdConfig:
    """``[bfd]`` from a parse table (``pybgp.config.parse._Table`` of :class:`BfdConfig`)."""
    return BfdConfig(
        min_tx_ms=table.integer("min_tx_ms", 300, low=10, high=60_000, words=_MS),
        min_rx_ms=table.integer("min_rx_ms", 300, low=10, high=60_000, words=_MS),
        multiplier=table.integer("multiplier", 3, low=1, high=255),
    )

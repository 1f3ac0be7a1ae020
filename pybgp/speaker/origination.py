"""Originating many prefixes at once: ``Speaker.originate_many`` / ``withdraw_many``.

The prefixes become :class:`~pybgp.config.prefixes.Prefixes` (NLRI keys per family), and each
family goes to the RIB in one call (``Rib.originate_many``): a million prefixes share one path
and one change group, instead of a million RIB calls, events and flushes.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_network

from pybgp.config.originate import prefix_key, read_prefixes
from pybgp.config.prefixes import Prefixes
from pybgp.kernel.sync import give_back_memory
from pybgp.rib import Rib, RibOutput

__all__ = [
    "BIG_ORIGINATION",
    "FAMILY_OF_AFI",
    "as_prefixes",
    "give_back_memory",
    "originate_batches",
    "prefix_key",
    "withdraw_batches",
]

BIG_ORIGINATION = 100_000
"""From this many configured prefixes on, the C heap's free pages are given back once the
table is built (reading the config leaves tens of MiB free in it)."""

FAMILY_OF_AFI: dict[int, tuple[int, int]] = {1: (1, 1), 2: (2, 1)}
"""AFI -> the unicast family originated prefixes go to."""


def as_prefixes(prefixes: Iterable[str | IPv4Network | IPv6Network]) -> Prefixes:
    """``prefixes`` as :class:`Prefixes` (as they are when they already are)."""
    if isinstance(prefixes, Prefixes):
        return prefixes
    items = list(prefixes)
    if all(type(p) is str for p in items):
        # The config's reader: IPv4 text without ipaddress objects; a ValueError (ConfigError)
        # names the first bad element, as "prefixes[12]: ...".
        return read_prefixes(items, "prefixes")
    return Prefixes(ip_network(p) if isinstance(p, str) else p for p in items)


def originate_batches(
    rib: Rib,
    prefixes: Iterable[str | IPv4Network | IPv6Network],
    communities: Sequence[int],
    large_communities: Sequence[tuple[int, int, int]],
    next_hop: IPv4Address | IPv6Address | None,
) -> Iterator[RibOutput]:
    """``Rib.originate_many`` once per family present; the outputs for the speaker to carry
    out. The prefixes are all read (and refused, naming the first bad one) before any is
    originated."""
    given = as_prefixes(prefixes)
    for afi, family in FAMILY_OF_AFI.items():
        if keys := given.keys(afi):
            yield rib.originate_many(
                family, keys, communities, large_communities, next_hop=next_hop
            )


def withdraw_batches(
    rib: Rib, prefixes: Iterable[str | IPv4Network | IPv6Network]
) -> Iterator[RibOutput]:
    """``Rib.withdraw_originated_many`` once per family present."""
    given = as_prefixes(prefixes)
    for afi, family in FAMILY_OF_AFI.items():
        if keys := given.keys(afi):
            yield rib.withdraw_originated_many(family, keys)

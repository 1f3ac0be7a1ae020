"""The RIB's public values: peer description, options, best-path changes and output."""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterator, Mapping, Sequence
from ipaddress import IPv4Address, IPv6Address
from typing import TYPE_CHECKING, overload

import attrs

from pybgp.rib.decision import BestPathReason
from pybgp.rib.paths import Path
from pybgp.wire.constants import IPV4_UNICAST, Family

if TYPE_CHECKING:
    from pybgp.rib.policy import Route

_ZERO_ID = IPv4Address(0)

PolicyCallable = Callable[["Route"], "Route | None"]


@attrs.frozen
class PeerInfo:
    """What the RIB needs to know about one configured peer."""

    peer_id: str
    """The peer address as text (e.g. ``"10.0.0.2"``): the key of every per-peer call."""
    address: IPv4Address | IPv6Address
    asn: int
    local_as: int
    local_address: IPv4Address | IPv6Address | None = None
    """Our address on the session: NEXT_HOP of originated routes and of next-hop-self."""
    local_address6: IPv6Address | None = None
    """Our IPv6 address for IPv6 routes sent over an IPv4 session (their NEXT_HOP); None =
    the IPv4-mapped form of ``local_address``, which only a tunnel can use."""
    router_id: IPv4Address = _ZERO_ID
    route_reflector_client: bool = False
    next_hop_self: bool = False
    """Set NEXT_HOP to ``local_address`` on every route sent (reflected iBGP routes too)."""
    keep_original_next_hop: bool = False
    """eBGP only: keep the NEXT_HOP as learned instead of setting it to ourselves."""
    families: frozenset[Family] = frozenset({IPV4_UNICAST})
    allow_own_as: int = 0
    """Accept paths holding our AS up to this many times (Calico numAllowedLocalASNumbers)."""
    max_prefixes: int = 0
    """The peer's limit, for display; :mod:`pybgp.neighbor` enforces it (with
    :meth:`pybgp.rib.Rib.prefix_counter`) before an UPDATE reaches the RIB."""
    import_policy: PolicyCallable | None = attrs.field(default=None, eq=False)
    export_policy: PolicyCallable | None = attrs.field(default=None, eq=False)
    soft_reconfiguration_inbound: bool = False
    """Keep the pre-policy Adj-RIB-In so that a new import policy is applied without a refresh."""
    role: int | None = None
    """Our RFC 9234 role towards this (eBGP) peer, a ``Role`` value; None = no role, no OTC
    procedures (RFC 9234 §5, see ``pybgp.rib.receive``)."""

    @property
    def ibgp(self) -> bool:
        """True for an internal peer (same AS as ours)."""
        return self.asn == self.local_as


@attrs.frozen
class RibOptions:
    """Decision-process and table options."""

    multipath: int = 1
    """Maximum number of equal-cost paths selected per prefix (1 = no ECMP)."""
    always_compare_med: bool = False
    """Compare MED between paths from different neighbour ASes (RFC 4271 §9.1.2.2 c)."""
    default_local_pref: int = 100
    """LOCAL_PREF of paths that carry none (all eBGP-learned ones: RFC 4271 §5.1.5)."""
    soft_reconfiguration_inbound: bool = False
    """Keep the pre-policy Adj-RIB-In for every peer (also settable per peer in PeerInfo)."""


@attrs.frozen
class BestPathChange:
    """The selected paths of one prefix changed.

    ``new`` is the best path then the other ECMP members; empty = the prefix is unreachable.
    """

    family: Family
    prefix: bytes
    old: tuple[Path, ...]
    new: tuple[Path, ...]
    reason: BestPathReason


ChangeGroup = tuple[Family, Sequence[bytes], tuple[Path, ...], tuple[Path, ...], BestPathReason]


class ChangeList(Sequence[BestPathChange]):
    """The changes of one call, stored as groups of prefixes that changed the same way.

    Behaves as a read-only sequence of :class:`BestPathChange` (made on access). Consumers
    that handle many prefixes at once use :meth:`groups` and skip the per-prefix objects.
    """

    __slots__ = ("_ends", "_groups")

    def __init__(self, groups: Sequence[ChangeGroup] = ()) -> None:
        self._groups = tuple(g for g in groups if g[1])
        ends: list[int] = []
        total = 0
        for group in self._groups:
            total += len(group[1])
            ends.append(total)
        self._ends = ends

    def groups(self) -> tuple[ChangeGroup, ...]:
        """``(family, prefixes, old, new, reason)`` groups, in the order they happened."""
        return self._groups

    def __len__(self) -> int:
        return self._ends[-1] if self._ends else 0

    @overload
    def __getitem__(self, index: int) -> BestPathChange: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[BestPathChange]: ...
    def __getitem__(self, index: int | slice) -> BestPathChange | Sequence[BestPathChange]:
        if isinstance(index, slice):
            return tuple(self)[index]
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(index)
        g = bisect.bisect_right(self._ends, index)
        family, keys, old, new, reason = self._groups[g]
        start = self._ends[g - 1] if g else 0
        return BestPathChange(family, keys[index - start], old, new, reason)

    def __iter__(self) -> Iterator[BestPathChange]:
        for family, keys, old, new, reason in self._groups:
            for key in keys:
                yield BestPathChange(family, key, old, new, reason)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Sequence):
            return tuple(self) == tuple(other)
        return NotImplemented

    def __hash__(self) -> int:
        return hash(tuple(self))

    def __repr__(self) -> str:
        return f"ChangeList({len(self)} changes in {len(self._groups)} groups)"


@attrs.frozen
class RibOutput:
    """What one RIB call produced: best-path changes and the UPDATEs to send, per peer."""

    changes: ChangeList = attrs.field(factory=ChangeList)
    messages: Mapping[str, tuple[bytes, ...]] = attrs.field(factory=dict)
    """peer id -> whole encoded messages (UPDATE, End-of-RIB, ROUTE-REFRESH BoRR/EoRR)."""
    notes: tuple[str, ...] = ()
    """Log lines (rejected paths, disabled families ...)."""
    debug_notes: tuple[str, ...] = ()
    """Log lines for the debug level (routes ignored as RFC 4271 §6.3 says, without a log
    line at the default level: NEXT_HOP = our own address)."""

    def __bool__(self) -> bool:
        return bool(self.changes) or bool(self.messages) or bool(self.notes)


@attrs.frozen
class PeerCounters:
    """Cheap per-peer prefix counts, summed over families."""

    received: int
    accepted: int
    advertised: int


@attrs.frozen
class RouteEntry:
    """One prefix of the Loc-RIB, for ``pybgp routes``."""

    family: Family
    prefix: bytes
    paths: tuple[Path, ...]
    """Every candidate path, the selected ones first (best, then ECMP members)."""
    selected: int
    """How many of ``paths`` are selected (best + ECMP members)."""
    reason: BestPathReason

    @property
    def best(self) -> Path:
        """The best path."""
        return self.paths[0]

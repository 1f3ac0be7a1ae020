"""What :class:`~pybgp.kernel.sync.KernelSync` tells its owner, and its options."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from typing import Any

import attrs

from pybgp.kernel.base import RT_TABLE_MAIN, RTPROT_BGP
from pybgp.kernel.encap import Encapsulation

Family = tuple[int, int]


@attrs.frozen
class KernelSyncOptions:
    """How routes go into the kernel (the ``[kernel]`` config section, and a few more).

    ``metric`` ``None`` means the kernel default of the family (0 for IPv4, 1024 for IPv6).
    ``blackhole_originated``: a prefix this node originates gets a blackhole route (as
    Calico does for its own blocks) instead of no route at all.
    ``overwrite_foreign``: replace a route of another protocol on the same key instead of
    reporting a conflict. ``retry_initial``/``retry_max``: back-off of failed installs,
    doubling from the first to the second (seconds).
    """

    encapsulation: Encapsulation = Encapsulation.NONE
    tunnel_device: str = "tunl0"
    table: int = RT_TABLE_MAIN
    protocol: int = RTPROT_BGP
    metric: int | None = None
    source_ipv4: ipaddress.IPv4Address | None = None
    source_ipv6: ipaddress.IPv6Address | None = None
    blackhole_originated: bool = True
    overwrite_foreign: bool = False
    keep_on_stop: bool = False
    retry_initial: float = 1.0
    retry_max: float = 60.0
    afis: tuple[int, ...] = (1, 2)
    pools: tuple[tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, Encapsulation], ...] = ()
    """Per-pool encapsulation (Calico IPPools from the datastore): a route inside a pool
    uses the pool's mode (the most specific pool wins), every other route ``encapsulation``."""

    def encapsulation_for(
        self, network: ipaddress.IPv4Network | ipaddress.IPv6Network
    ) -> Encapsulation:
        """The encapsulation of a route to ``network``."""
        best: tuple[int, Encapsulation] | None = None
        for pool, mode in self.pools:
            inside = pool.version == network.version and network.subnet_of(pool)  # type: ignore[arg-type]
            if inside and (best is None or pool.prefixlen > best[0]):
                best = (pool.prefixlen, mode)
        return self.encapsulation if best is None else best[1]

    @classmethod
    def from_config(cls, kernel: object, **more: Any) -> KernelSyncOptions:
        """Options from the ``[kernel]`` config section (any object with its field names:
        table, protocol, encapsulation, tunnel_device, keep_on_stop; missing ones keep
        their defaults), plus keyword overrides."""
        values: dict[str, Any] = {}
        for name in ("table", "protocol", "tunnel_device", "keep_on_stop", "metric",
                     "overwrite_foreign", "blackhole_originated"):  # fmt: skip
            if hasattr(kernel, name):
                values[name] = getattr(kernel, name)
        if hasattr(kernel, "encapsulation"):
            values["encapsulation"] = Encapsulation(str(kernel.encapsulation))
        if getattr(kernel, "pools", ()):
            pools = getattr(kernel, "pools", ())
            values["pools"] = tuple((net, Encapsulation(mode)) for net, mode in pools)
        source = getattr(kernel, "source_address", None)
        if isinstance(source, ipaddress.IPv4Address):
            values["source_ipv4"] = source
        elif isinstance(source, ipaddress.IPv6Address):
            values["source_ipv6"] = source
        values.update(more)
        return cls(**values)


@attrs.frozen
class KernelCounters:
    """Cheap counts (kept up to date, never computed by walking the table)."""

    installed: int
    failed: int
    not_installed: int
    stale: int
    drift_repairs: int
    conflicts: int


@attrs.frozen
class InstallFailed:
    """The kernel refused a route; it will be retried in ``retry_in`` seconds."""

    family: Family
    prefix: bytes
    error: str
    attempts: int
    retry_in: float


@attrs.frozen
class ForeignConflict:
    """A route of another protocol holds the key; pybgp left it alone."""

    family: Family
    prefix: bytes
    protocol: int


@attrs.frozen
class DriftRepaired:
    """Someone deleted (``what="deleted"``) or changed one of pybgp's routes; put back."""

    family: Family
    prefix: bytes
    what: str


@attrs.frozen
class NotInstalled:
    """The best path cannot be installed (e.g. next hop not on a connected subnet)."""

    family: Family
    prefix: bytes
    reason: str


@attrs.frozen
class StaleRemoved:
    """Routes adopted at start and not announced again were removed."""

    count: int


SyncEvent = InstallFailed | ForeignConflict | DriftRepaired | NotInstalled | StaleRemoved
SyncEventCallback = Callable[[SyncEvent], None]

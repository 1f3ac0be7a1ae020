"""Values shared by every route installer: the kernel route, results, events, the protocol.

A :class:`KernelRoute` is the exact form pybgp wants in one routing table: what the kernel
calls the route key (family, table, destination, metric) plus its next hops. Installers
(memory, netlink, none) all speak :class:`RouteInstaller` (narrow: what KernelSync calls), the
netlink one also the optional :class:`CodeAnswers` and :class:`NotificationFilter`.
:mod:`pybgp.kernel.plan` decides *which* routes to ask for, the installers only carry the
requests out and report, per route, what the kernel answered. Nothing here raises into the
caller on a kernel refusal: an :class:`InstallResult` carries the errno and the kernel's words.
"""

from __future__ import annotations

import errno as errno_module
import ipaddress
import os
from collections.abc import Callable, Iterable, Sequence
from typing import Literal, NamedTuple, Protocol, runtime_checkable

import attrs

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPInterface = ipaddress.IPv4Interface | ipaddress.IPv6Interface

RTPROT_BGP = 186
"""The route protocol number pybgp writes by default (``/etc/iproute2/rt_protos``: bgp)."""
RT_TABLE_MAIN = 254
"""The kernel's main routing table."""

AFI_IPV4 = 1
AFI_IPV6 = 2

RouteKind = Literal["unicast", "blackhole"]
Action = Literal["add", "replace", "remove"]


def default_metric(afi: int) -> int:
    """The metric the kernel stores when none is given: 0 for IPv4, 1024 for IPv6."""
    return 1024 if afi == AFI_IPV6 else 0


@attrs.frozen(slots=True)
class KernelRoute:
    """One route in one kernel table.

    ``prefix`` is pybgp's prefix key (length octet then the significant address octets);
    ``afi`` says which family. ``next_hops`` has one address for a plain route, several for
    an ECMP (RTA_MULTIPATH) route and none for a blackhole. ``device`` names the outgoing
    interface (``None`` = let the kernel resolve the next hop); ``onlink`` tells the kernel
    the next hop is reachable on ``device`` without a connected route (RTNH_F_ONLINK, as
    IP-in-IP routes to other nodes need). ``source`` is the preferred source address
    (RTA_PREFSRC) or ``None``.
    """

    afi: int
    prefix: bytes
    next_hops: tuple[IPAddress, ...] = ()
    kind: RouteKind = "unicast"
    device: str | None = None
    onlink: bool = False
    table: int = RT_TABLE_MAIN
    metric: int = 0
    protocol: int = RTPROT_BGP
    source: IPAddress | None = None

    @property
    def key(self) -> tuple[int, int, bytes, int]:
        """What the kernel uses to tell routes apart: (afi, table, prefix, metric)."""
        return (self.afi, self.table, self.prefix, self.metric)

    def same_as(self, other: KernelRoute) -> bool:
        """True when ``other`` (usually read back from the kernel) is this route.

        Next hops compare as a set (the kernel keeps ECMP members in the order given, but the
        order carries no meaning for pybgp); a ``device`` of ``None`` here matches any device
        there, since the kernel fills the interface in when it resolves the next hop.
        """
        return (
            self.key == other.key
            and self.kind == other.kind
            and self.protocol == other.protocol
            and self.onlink == other.onlink
            and self.source == other.source
            and (self.device is None or self.device == other.device)
            and (
                self.next_hops == other.next_hops
                or frozenset(self.next_hops) == frozenset(other.next_hops)
            )
        )

    def describe(self) -> str:
        """The route as ``ip route`` would print it (for logs)."""
        text = prefix_text(self.afi, self.prefix)
        if self.kind == "blackhole":
            text = f"blackhole {text}"
        elif len(self.next_hops) == 1:
            text += f" via {self.next_hops[0]}"
        else:
            text += " " + " ".join(f"nexthop via {hop}" for hop in self.next_hops)
        if self.device is not None:
            text += f" dev {self.device}"
        if self.onlink:
            text += " onlink"
        text += f" proto {self.protocol} table {self.table} metric {self.metric}"
        if self.source is not None:
            text += f" src {self.source}"
        return text


def prefix_text(afi: int, prefix: bytes) -> str:
    """``10.244.1.0/26`` from a prefix key (kept here so kernel/ does not need wire/nlri)."""
    length = prefix[0]
    size = 16 if afi == AFI_IPV6 else 4
    packed = prefix[1:].ljust(size, b"\x00")
    address: IPAddress = (
        ipaddress.IPv6Address(packed) if afi == AFI_IPV6 else ipaddress.IPv4Address(packed)
    )
    return f"{address}/{length}"


def prefix_key(network: str | ipaddress.IPv4Network | ipaddress.IPv6Network) -> bytes:
    """The prefix key of a network (``"10.244.1.0/26"`` -> ``b"\\x1a\\x0a\\xf4\\x01\\x00"``)."""
    net = ipaddress.ip_network(network) if isinstance(network, str) else network
    length = net.prefixlen
    return bytes((length,)) + net.network_address.packed[: (length + 7) // 8]


def error_name(code: int) -> str:
    """``ENETUNREACH`` for 101 (or ``E101`` for a code Python does not name)."""
    return errno_module.errorcode.get(code, f"E{code}")


class InstallResult(NamedTuple):
    """What the kernel answered for one route operation: ``error`` 0 means done.

    A NamedTuple rather than an attrs class on purpose: a batch creates one per route
    (100,000 at a time) and a tuple costs a fifth of the time to build.
    """

    route: KernelRoute
    action: Action
    error: int = 0
    message: str = ""

    @property
    def ok(self) -> bool:
        """True when the kernel accepted the operation."""
        return self.error == 0

    def describe(self) -> str:
        """``EEXIST File exists`` (the errno name, then the kernel's or libc's words)."""
        if self.error == 0:
            return "ok"
        words = self.message or os.strerror(self.error)
        return f"{error_name(self.error)} {words}"


class RouteOp(NamedTuple):
    """One step of a batch: add (fails on any existing route with the same key), replace
    (create or overwrite) or remove. A NamedTuple for the same reason as InstallResult."""

    action: Action
    route: KernelRoute


@attrs.frozen(slots=True)
class ReconcileResult:
    """What :meth:`RouteInstaller.reconcile` did: counts, then every failed result."""

    added: int
    replaced: int
    removed: int
    unchanged: int
    failures: tuple[InstallResult, ...]


@attrs.frozen(slots=True)
class RouteEvent:
    """A route appeared/changed (``"new"``) or went away (``"del"``) in the kernel."""

    kind: Literal["new", "del"]
    route: KernelRoute


@attrs.frozen(slots=True)
class InterfacesChanged:
    """An address or link changed: connected subnets and device indexes may differ now."""

    what: Literal["address", "link"]


@attrs.frozen(slots=True)
class MonitorOverrun:
    """The kernel dropped notifications (ENOBUFS): the listener must re-read the table."""


KernelEvent = RouteEvent | InterfacesChanged | MonitorOverrun
EventCallback = Callable[[KernelEvent], None]


class KernelError(Exception):
    """The installer itself cannot work (socket cannot be opened, namespace missing).

    Per-route refusals never raise: they come back as :class:`InstallResult`.
    """


class RouteInstaller(Protocol):
    """What :class:`~pybgp.kernel.sync.KernelSync` calls: the whole contract of an installer.

    Optional, faster parts are declared by the protocols below (:class:`CodeAnswers`,
    :class:`NotificationFilter`); KernelSync uses them when an installer implements them.
    :class:`InstallerConveniences` adds one-route and list calls on top of :meth:`execute`.
    """

    async def open(self) -> None:
        """Get ready (sockets, route monitor)."""

    async def close(self) -> None:
        """Release everything (routes stay as they are)."""

    async def execute(self, ops: Sequence[RouteOp]) -> tuple[InstallResult, ...]:
        """Carry out a batch in order: "add" fails with EEXIST when any route has the key,
        "replace" creates or overwrites, "remove" deletes the route of ``route.protocol``
        (ESRCH when there is none). One result per operation; refusals never raise."""

    async def dump(self, afi: int, *, protocol: int, table: int) -> tuple[KernelRoute, ...]:
        """Every route of ``protocol`` (0 = any) in ``table`` for ``afi``."""

    async def find(self, afi: int, prefix: bytes, *, table: int, metric: int) -> KernelRoute | None:
        """The route, of any protocol, that holds this key, or ``None``."""

    async def connected_networks(self) -> tuple[IPInterface, ...]:
        """The addresses configured on this host's interfaces (with their prefix length)."""

    def subscribe(self, callback: EventCallback) -> None:
        """Call ``callback`` for every kernel route/address/link change seen after open()."""


Answer = tuple[int, str]
"""``(errno, kernel message)`` of one operation; 0 = done."""
EventFilter = Callable[[int, bytes], bool]
"""``(afi, prefix key)`` -> keep this route notification?"""


@runtime_checkable
class CodeAnswers(Protocol):
    """Optional: :meth:`RouteInstaller.execute` answering ``(errno, message)`` pairs instead of
    :class:`InstallResult` objects (100,000 result objects cost more than the kernel's work
    on them; KernelSync keeps its own per-route state)."""

    async def execute_codes(self, ops: Sequence[RouteOp]) -> Sequence[Answer]:
        """One ``(errno, message)`` per operation, in order."""


@runtime_checkable
class NotificationFilter(Protocol):
    """Optional: route notifications filtered before they are decoded."""

    @property
    def filters_own_echoes(self) -> bool:
        """True once open() had the kernel drop the notifications of this installer's own
        route changes: only others' changes arrive."""

    def set_event_filter(self, wanted: EventFilter | None) -> None:
        """Drop route notifications whose ``(afi, prefix key)`` ``wanted`` rejects."""


class InstallerConveniences:
    """One-route and list calls, and a reconcile, for installers that define ``execute`` and
    ``dump`` (used by tests, tools and embedders; KernelSync needs none of them)."""

    async def execute(self, ops: Sequence[RouteOp]) -> tuple[InstallResult, ...]:
        raise NotImplementedError

    async def dump(self, afi: int, *, protocol: int, table: int) -> tuple[KernelRoute, ...]:
        raise NotImplementedError

    async def install(self, route: KernelRoute, *, replace: bool = False) -> InstallResult:
        """Add ``route`` (``replace=False``: fail with EEXIST when any route has its key) or
        create/overwrite it (``replace=True``)."""
        return (await self.execute((RouteOp("replace" if replace else "add", route),)))[0]

    async def remove(self, route: KernelRoute) -> InstallResult:
        """Delete ``route`` (matched by key and protocol)."""
        return (await self.execute((RouteOp("remove", route),)))[0]

    async def install_many(
        self, routes: Sequence[KernelRoute], *, replace: bool = False
    ) -> tuple[InstallResult, ...]:
        """:meth:`install` for many routes; results in the same order."""
        action: Action = "replace" if replace else "add"
        return await self.execute([RouteOp(action, route) for route in routes])

    async def remove_many(self, routes: Sequence[KernelRoute]) -> tuple[InstallResult, ...]:
        """:meth:`remove` for many routes; results in the same order."""
        return await self.execute([RouteOp("remove", route) for route in routes])

    async def reconcile(
        self, afi: int, desired: Iterable[KernelRoute], *, protocol: int, table: int
    ) -> ReconcileResult:
        """Make the ``protocol`` routes of ``table`` exactly ``desired``, touching only the
        differences."""
        return await reconcile_routes(self, afi, desired, protocol=protocol, table=table)


async def reconcile_routes(
    installer: RouteInstaller | InstallerConveniences,
    afi: int,
    desired: Iterable[KernelRoute],
    *,
    protocol: int,
    table: int,
) -> ReconcileResult:
    """The shared reconcile: dump, compare, then one batch of only the differences."""
    present = {
        route.key: route for route in await installer.dump(afi, protocol=protocol, table=table)
    }
    ops: list[RouteOp] = []
    unchanged = 0
    for route in desired:
        have = present.pop(route.key, None)
        if have is None:
            ops.append(RouteOp("add", route))
        elif route.same_as(have):
            unchanged += 1
        else:
            ops.append(RouteOp("replace", route))
    ops.extend(RouteOp("remove", route) for route in present.values())
    results = await installer.execute(ops)
    counts = {"add": 0, "replace": 0, "remove": 0}
    for result in results:
        if result.ok:
            counts[result.action] += 1
    return ReconcileResult(
        added=counts["add"],
        replaced=counts["replace"],
        removed=counts["remove"],
        unchanged=unchanged,
        failures=tuple(result for result in results if not result.ok),
    )

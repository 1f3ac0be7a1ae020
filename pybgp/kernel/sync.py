"""KernelSync: keeps the kernel's routes equal to the RIB's best paths (the asyncio runner).

Theory of operation
-------------------
The deciding is done by :class:`~pybgp.kernel.plan.KernelPlan` (pure: wanted against installed
routes, per prefix key, into operations; answers into state; retry deadlines from ``now``).
This runner carries the plans out: it hands each batch of operations to the installer (which
sends them in netlink batches, answers per route), gives the answers back to the plan, looks up
the occupant of a key the kernel refused with EEXIST ("add" is create-exclusive, so pybgp never
overwrites a route of another protocol unless ``overwrite_foreign``), writes the plan's log
lines and hands its events to ``on_event``. One lock keeps batches in order.

Kernel notifications (drift): a deletion or change of one of pybgp's routes by someone else
is repaired and reported; a foreign route taking the key is a conflict; an address change
re-decides every route (connected subnets feed the encapsulation decision); a new link retries
the failed routes at once; a notification overrun re-reads the table. Nothing is polled: the
only timer is the retry back-off. An installer that is a
:class:`~pybgp.kernel.base.NotificationFilter` (netlink) can have the kernel drop the
notifications of its own changes, so what arrives is someone else's doing: a notification for
a key of the batch being sent is kept until the batch's answers are recorded, then judged.
With an installer that echoes pybgp's own changes, notifications for keys of the batch being
sent are ignored (they are pybgp's own doing).
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import errno
import logging
import time
from collections.abc import Callable, Iterable, Sequence

from pybgp.kernel.base import (
    CodeAnswers,
    InstallResult,
    InterfacesChanged,
    KernelEvent,
    KernelRoute,
    MonitorOverrun,
    NotificationFilter,
    RouteEvent,
    RouteInstaller,
    RouteOp,
)
from pybgp.kernel.encap import ConnectedSubnets
from pybgp.kernel.events import (
    Family,
    KernelCounters,
    KernelSyncOptions,
    StaleRemoved,
    SyncEvent,
    SyncEventCallback,
)
from pybgp.kernel.plan import (
    Answer,
    Batch,
    BestPathChangeLike,
    KernelPlan,
    Key,
    Note,
    PathLike,
)

log = logging.getLogger("pybgp.kernel")

FIND_ONE_BY_ONE = 8
"""Up to this many EEXIST answers in a batch are looked up one by one, more with one dump."""
_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING}


def installer_for(adapter: str, *, netns: str | None = None) -> RouteInstaller:
    """The installer the ``[kernel] adapter`` setting names: netlink, memory or none."""
    from pybgp.kernel.memory import MemoryInstaller
    from pybgp.kernel.netlink import NetlinkInstaller
    from pybgp.kernel.null import NullInstaller

    if adapter == "netlink":
        return NetlinkInstaller(netns)
    if adapter == "memory":
        return MemoryInstaller()
    if adapter == "none":
        return NullInstaller()
    raise ValueError(f"unknown kernel adapter {adapter!r} (netlink, memory or none)")


def _malloc_trim() -> Callable[[], None]:
    """glibc's ``malloc_trim(0)``, or a no-op elsewhere (musl, macOS)."""
    try:
        trim = ctypes.CDLL(None).malloc_trim  # the C library the interpreter runs on
    except (OSError, AttributeError):
        return lambda: None
    return lambda: trim(0) and None


give_back_memory = _malloc_trim()
"""Return the C heap's free pages to the system. Called after a batch that emptied the big
per-key tables (a mass withdrawal): CPython frees the route objects into the C allocator, which
otherwise keeps the pages, so the process would stay at its peak size for ever."""


class KernelSync:
    """Subscriber of the RIB's best-path changes that installs them through ``installer``.

    Call :meth:`start` (adopts pybgp's routes already in the kernel), feed :meth:`apply`,
    call :meth:`initial_sync_done` once every peer sent End-of-RIB (or a timeout), and
    :meth:`stop` at the end. Kernel refusals never raise: they become statuses, events,
    log lines and retries. ``clock`` is the monotonic clock the retry deadlines use.
    ``run_retries=False``: no background task; the owner calls :meth:`service` after
    kernel notifications and at :meth:`next_retry_deadline` (or :meth:`retry_due`).
    """

    def __init__(
        self,
        installer: RouteInstaller,
        options: KernelSyncOptions | None = None,
        *,
        on_event: SyncEventCallback | None = None,
        clock: Callable[[], float] = time.monotonic,
        run_retries: bool = True,
    ) -> None:
        self.installer = installer
        self.plan = KernelPlan(options)
        """The deciding half (pure); this object carries its batches out."""
        self._on_event = on_event
        self._clock = clock
        self._run_retries = run_retries
        self._codes = installer if isinstance(installer, CodeAnswers) else None
        self._echo_free = False
        self._inflight: set[Key] = set()
        self._deferred: list[RouteEvent] = []
        self._reevaluate = False
        self._resync = False
        self._lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    # -- life cycle ----------------------------------------------------------------------

    async def start(self) -> None:
        """Open the installer, read connected subnets, adopt pybgp's routes as stale."""
        installer = self.installer
        await installer.open()
        installer.subscribe(self._on_kernel_event)
        if isinstance(installer, NotificationFilter):
            installer.set_event_filter(self._event_wanted)
            # the kernel drops the echoes of our own changes only if the filter took
            self._echo_free = installer.filters_own_echoes
        plan = self.plan
        plan.set_connected(ConnectedSubnets.from_interfaces(await installer.connected_networks()))
        options = self.options
        for afi in options.afis:
            plan.adopt(
                afi, await installer.dump(afi, protocol=options.protocol, table=options.table)
            )
        if plan.stale:
            log.info("adopted %d routes of protocol %d as stale", len(plan.stale), options.protocol)
        if self._run_retries:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="kernel-sync")

    async def initial_sync_done(self) -> None:
        """The initial exchange is over: remove adopted routes nobody announced again."""
        async with self._lock:
            ops = self.plan.leftovers()
            if not ops:
                return
            removed = self.plan.record_sweep(await self._execute_results(ops))
            self._flush()
            log.info("removed %d stale routes", removed)
            self._emit(StaleRemoved(removed))
            self._replay_deferred()

    async def stop(self, *, keep: bool = False) -> None:
        """Stop; remove pybgp's routes unless ``keep_on_stop`` or ``keep`` (a graceful
        restart keeps the forwarding state, RFC 4724 §4.1); close the installer."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        async with self._lock:
            if not (keep or self.options.keep_on_stop):
                results = await self._execute_results(self.plan.everything())
                for result in results:
                    if not result.ok and result.error != errno.ESRCH:
                        log.warning(
                            "removing %s at stop failed: %s",
                            result.route.describe(),
                            result.describe(),
                        )
                self.plan.forget_routes()
        await self.installer.close()

    # -- queries -------------------------------------------------------------------------

    @property
    def options(self) -> KernelSyncOptions:
        """How routes go into the kernel."""
        return self.plan.options

    @property
    def installed_count(self) -> int:
        """Routes pybgp holds in the kernel (adopted stale ones excluded)."""
        return len(self.plan.installed)

    def adopted_afis(self) -> frozenset[int]:
        """AFIs of the routes adopted at start and not yet confirmed or swept: the forwarding
        state a previous run left (graceful restart's F-bit, RFC 4724 §3)."""
        return frozenset(afi for afi, _prefix in self.plan.stale)

    @property
    def failed_count(self) -> int:
        """Routes the kernel refused, waiting for a retry."""
        return len(self.plan.failed)

    @property
    def drift_repairs(self) -> int:
        """Routes changed or deleted by someone else and put back."""
        return self.plan.drift_repairs

    @property
    def conflicts(self) -> int:
        """Keys found held by a route of another protocol."""
        return self.plan.conflict_count

    def counters(self) -> KernelCounters:
        """All counters at once (O(1))."""
        return self.plan.counters()

    def status(self, family: Family, prefix: bytes) -> str:
        """``"installed"``, ``"not installed: <why>"``, ``"failed: <errno> <words>"``..."""
        return self.plan.status(family, prefix)

    def next_retry_deadline(self) -> float | None:
        """When the earliest failed route is due for a retry (the ``clock``), or ``None``."""
        return self.plan.next_retry_deadline()

    async def retry_due(self, now: float) -> int:
        """Retry every failed route whose deadline is ``<= now``; how many were retried."""
        due = self.plan.due(now)
        if due:
            await self._replan(due)
        return len(due)

    # -- input from the RIB --------------------------------------------------------------

    async def apply(self, changes: Iterable[BestPathChangeLike]) -> None:
        """Bring the kernel in line with ``changes`` (one batch for all of them).

        A change list with ``groups()`` (the RIB's :class:`~pybgp.rib.types.ChangeList`) is
        read group by group, the kernel form decided once per group.
        """
        await self._replan(self.plan.take(changes))

    async def _replan(self, keys: Iterable[Key]) -> None:
        async with self._lock:
            batch = self.plan.plan(keys)
            if batch.ops:
                await self._run_batch(batch)
                self._replay_deferred()
            self._flush()

    # -- carrying a batch out ------------------------------------------------------------

    async def _execute(
        self, ops: Sequence[RouteOp], keys: Sequence[Key] | None = None
    ) -> Sequence[Answer]:
        """The installer's ``(errno, message)`` for each of ``ops``, in order."""
        self._inflight = (
            set(keys) if keys is not None else {(op.route.afi, op.route.prefix) for op in ops}
        )
        try:
            if self._codes is not None:
                answers: Sequence[Answer] = await self._codes.execute_codes(ops)
            else:
                answers = [(r.error, r.message) for r in await self.installer.execute(ops)]
            if len(answers) != len(ops):
                raise RuntimeError(f"{len(answers)} answers to {len(ops)} operations")
            return answers
        except Exception as exc:  # the installer broke (socket closed...): never raise upward
            log.exception("kernel installer failed on a batch of %d operations", len(ops))
            code = getattr(exc, "errno", None) or errno.EIO
            return [(code, str(exc))] * len(ops)
        finally:
            self._inflight = set()

    async def _execute_results(self, ops: Sequence[RouteOp]) -> list[InstallResult]:
        return [
            InstallResult(op.route, op.action, code, message)
            for op, (code, message) in zip(ops, await self._execute(ops), strict=True)
        ]

    async def _run_batch(self, batch: Batch) -> None:
        plan = self.plan
        answers = await self._execute(batch.ops, batch.keys)
        occupied = plan.record(batch, answers, self._clock())
        if occupied:
            holders = await self._occupants(occupied)
            second = plan.resolve(occupied, holders, self._clock())
            if second:
                plan.record_replaces(await self._execute_results(second), self._clock())
        if plan.finish_batch():
            give_back_memory()

    async def _occupants(self, occupied: Sequence[InstallResult]) -> list[KernelRoute | str | None]:
        """Who holds the key of each EEXIST answer (the route, None, or why the lookup failed);
        many answers: one dump per family beats many finds."""
        tables: dict[int, dict[tuple[bytes, int], KernelRoute]] = {}
        if len(occupied) > FIND_ONE_BY_ONE:
            for afi in {result.route.afi for result in occupied}:
                try:
                    dumped = await self.installer.dump(afi, protocol=0, table=self.options.table)
                except Exception:
                    log.exception("reading the routing table failed")
                    dumped = ()
                tables[afi] = {(route.prefix, route.metric): route for route in dumped}
        holders: list[KernelRoute | str | None] = []
        for result in occupied:
            route = result.route
            if route.afi in tables:
                holders.append(tables[route.afi].get((route.prefix, route.metric)))
                continue
            try:
                holders.append(
                    await self.installer.find(
                        route.afi, route.prefix, table=route.table, metric=route.metric
                    )
                )
            except Exception as exc:  # never raise upward: retried later
                holders.append(str(exc))
        return holders

    # -- what the plan says --------------------------------------------------------------

    def _flush(self) -> None:
        """Write the plan's log lines, hand its events on, wake the task if it asked."""
        for output in self.plan.take_outputs():
            if isinstance(output, Note):
                log.log(_LEVELS[output.level], "%s", output.text)
            else:
                self._emit(output)
        if self.plan.wake:
            self.plan.wake = False
            self._wake.set()

    def _emit(self, event: SyncEvent) -> None:
        if self._on_event is not None:
            try:
                self._on_event(event)
            except Exception:
                log.exception("kernel event callback failed")

    # -- kernel notifications ------------------------------------------------------------

    def _on_kernel_event(self, event: KernelEvent) -> None:
        if isinstance(event, RouteEvent):
            self._on_route_event(event)
        elif isinstance(event, InterfacesChanged):
            if event.what == "address":
                self._reevaluate = True
            else:
                self.plan.links_changed()
            self._wake.set()
        elif isinstance(event, MonitorOverrun):
            self._resync = True
            self._wake.set()

    def _event_wanted(self, afi: int, prefix: bytes) -> bool:
        return self.plan.wants(afi, prefix) and (
            self._echo_free or (afi, prefix) not in self._inflight
        )

    def _replay_deferred(self) -> None:
        """Handle the notifications that arrived for keys of the batch just recorded."""
        while self._deferred:
            deferred, self._deferred = self._deferred, []
            for event in deferred:
                self._on_route_event(event)

    def _on_route_event(self, event: RouteEvent) -> None:
        route = event.route
        if not self.plan.concerns(route):
            return
        if (route.afi, route.prefix) in self._inflight:
            # Being sent now: without the installer's echoes this is someone else's change,
            # judged once the batch's answers are recorded; with them, pybgp's own doing.
            if self._echo_free:
                self._deferred.append(event)
            return
        self.plan.route_event(event, self._clock())
        self._flush()

    async def _resync_from_kernel(self) -> None:
        """After lost notifications: believe the kernel, then re-plan everything."""
        options = self.options
        present: dict[Key, KernelRoute] = {}
        for afi in options.afis:
            metric = self.plan.metric(afi)
            for route in await self.installer.dump(
                afi, protocol=options.protocol, table=options.table
            ):
                if route.metric == metric:
                    present[(afi, route.prefix)] = route
        async with self._lock:
            keys = self.plan.believe(present)
        await self._replan(keys)

    async def _run(self) -> None:
        """Background task: notifications' follow-ups and retries at their deadlines."""
        while True:
            deadline = self.next_retry_deadline()
            timeout = None if deadline is None else max(0.0, deadline - self._clock())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout)
            self._wake.clear()
            try:
                await self.service()
            except asyncio.CancelledError:
                raise
            except Exception:  # never let the task die: log and carry on
                log.exception("kernel sync follow-up failed")

    async def set_pools(self, kernel: object) -> None:
        """Take the per-pool encapsulation of a changed ``[kernel]`` config (pools from the
        datastore) and re-decide every route: those whose kernel form changed are replaced."""
        keys = self.plan.set_pools(KernelSyncOptions.from_config(kernel).pools)
        if keys:
            await self._replan(keys)

    async def service(self) -> None:
        """Carry out what kernel notifications asked for (drift repairs, re-decisions after
        an address change, a resync after lost notifications) and the retries now due.

        The background task (``run_retries=True``, the default) calls this whenever it is
        woken or a retry deadline passes; with ``run_retries=False`` the owner calls it
        (e.g. from its own timer at :meth:`next_retry_deadline`).
        """
        if self._resync:
            self._resync = False
            await self._resync_from_kernel()
        if self._reevaluate:
            self._reevaluate = False
            connected = ConnectedSubnets.from_interfaces(await self.installer.connected_networks())
            self.plan.set_connected(connected)
        if self.plan.dirty:
            await self._replan(self.plan.take_dirty())
        await self.retry_due(self._clock())


__all__ = ["BestPathChangeLike", "KernelSync", "PathLike", "installer_for"]

"""KernelSync: keeps the kernel's routes equal to the RIB's best paths.

Theory of operation
-------------------
State per prefix key ``K = (afi, prefix)``:

* ``_inputs[K]``: what the RIB said (BGP next hops, or "originated here");
* ``_want[K]``: the :class:`KernelRoute` those inputs give in the current encapsulation
  mode and connected subnets, or the reason (str) it cannot be installed;
* ``_installed[K]``: pybgp's route as the kernel holds it (confirmed by an ack or a dump);
* ``_stale[K]``: pybgp-protocol routes found in the kernel at start, not yet confirmed.
  A best path that matches one exactly adopts it without touching the kernel (a restart
  never flushes and re-adds unchanged routes); ``initial_sync_done()`` removes the rest;
* ``_failed[K]``: the last refusal, its attempt count and when to retry (doubling back-off).

Every change is planned into one batch of add/replace/remove operations handed to the
installer (which sends them in netlink batches, one ack per route). "add" is create-exclusive,
so the kernel refuses with EEXIST rather than overwrite a route of another protocol; the
occupant is then looked up and reported as a conflict (unless ``overwrite_foreign``).

Kernel notifications (drift): a deletion or change of one of pybgp's routes by someone else
is repaired and reported; a foreign route taking the key is a conflict; an address change
re-decides every route (connected subnets feed the encapsulation decision); a new link retries
the failed routes at once; a notification overrun re-reads the table. Nothing is polled: the
only timer is the retry back-off. The netlink installer has the kernel drop the notifications
of its own changes (a socket filter on the sender's port id), so what arrives is someone
else's doing: a notification for a key of the batch being sent is kept until the batch's
answers are recorded, then judged. With an installer that echoes pybgp's own changes,
notifications for keys of the batch being sent are ignored (they are pybgp's own doing).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import heapq
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Protocol

import attrs

from pybgp.kernel.base import (
    AFI_IPV4,
    AFI_IPV6,
    InstallResult,
    InterfacesChanged,
    IPAddress,
    KernelEvent,
    KernelRoute,
    MonitorOverrun,
    RouteEvent,
    RouteInstaller,
    RouteOp,
    default_metric,
    prefix_text,
)
from pybgp.kernel.encap import ConnectedSubnets, KernelForm, Unusable, decide
from pybgp.kernel.events import (
    DriftRepaired,
    Family,
    ForeignConflict,
    InstallFailed,
    KernelCounters,
    KernelSyncOptions,
    NotInstalled,
    StaleRemoved,
    SyncEvent,
    SyncEventCallback,
)
from pybgp.wire.nlri import network_from_prefix

log = logging.getLogger("pybgp.kernel")

Key = tuple[int, bytes]
FIND_ONE_BY_ONE = 8
"""Up to this many EEXIST answers in a batch are looked up one by one, more with one dump."""
LOG_BUDGET = 20
"""Failures logged one by one per batch; the rest are summed up in one line."""
LOCAL = "local"
"""``_inputs`` marker of a prefix originated by this node."""


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


class PathLike(Protocol):
    """What KernelSync reads of a RIB path."""

    @property
    def next_hop(self) -> IPAddress:
        """The BGP next hop."""

    @property
    def peer_id(self) -> str | None:
        """The peer it came from; ``None`` = originated here."""


class BestPathChangeLike(Protocol):
    """What KernelSync reads of a RIB best-path change."""

    @property
    def family(self) -> tuple[int, int]:
        """(AFI, SAFI)."""

    @property
    def prefix(self) -> bytes:
        """The prefix key."""

    @property
    def new(self) -> Sequence[PathLike]:
        """Best path first, then ECMP members; empty = no route now."""


@attrs.define
class _Failure:
    text: str
    attempts: int
    deadline: float


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
        self.options = options or KernelSyncOptions()
        self._on_event = on_event
        self._clock = clock
        self._run_retries = run_retries
        self._inputs: dict[Key, tuple[IPAddress, ...] | str] = {}
        self._want: dict[Key, KernelRoute | str] = {}
        self._installed: dict[Key, KernelRoute] = {}
        self._stale: dict[Key, KernelRoute] = {}
        self._stale_other: list[KernelRoute] = []
        self._failed: dict[Key, _Failure] = {}
        self._conflicts: set[Key] = set()
        self._heap: list[tuple[float, Key]] = []
        self._inflight: set[Key] = set()
        self._echo_free = False
        self._deferred: list[RouteEvent] = []
        self._dirty: set[Key] = set()
        self._reevaluate = False
        self._resync = False
        self._connected = ConnectedSubnets()
        self._decisions: dict[int, dict[tuple[object, ...], KernelForm | Unusable]] = {
            AFI_IPV4: {},
            AFI_IPV6: {},
        }
        self._lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._initial_done = False
        self._not_installed = 0
        self._log_budget = LOG_BUDGET
        self.drift_repairs = 0
        self.conflicts = 0

    # -- life cycle ----------------------------------------------------------------------

    async def start(self) -> None:
        """Open the installer, read connected subnets, adopt pybgp's routes as stale."""
        await self.installer.open()
        self.installer.subscribe(self._on_kernel_event)
        if hasattr(self.installer, "event_filter"):
            self.installer.event_filter = self._event_wanted
        # True when the installer's notifications never include the echoes of its own changes
        self._echo_free = bool(getattr(self.installer, "filters_own_echoes", False))
        self._connected = ConnectedSubnets.from_interfaces(
            await self.installer.connected_networks()
        )
        options = self.options
        for afi in options.afis:
            metric = self._metric(afi)
            for route in await self.installer.dump(
                afi, protocol=options.protocol, table=options.table
            ):
                if route.metric == metric:
                    self._stale[(afi, route.prefix)] = route
                else:
                    self._stale_other.append(route)
        if self._stale:
            log.info(
                "adopted %d routes of protocol %d as stale", len(self._stale), options.protocol
            )
        if self._run_retries:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="kernel-sync")

    async def initial_sync_done(self) -> None:
        """The initial exchange is over: remove adopted routes nobody announced again."""
        async with self._lock:
            self._initial_done = True
            leftovers = [route for key, route in self._stale.items() if key not in self._want]
            leftovers.extend(self._stale_other)
            self._stale_other = []
            if not leftovers:
                return
            results = await self._execute_results([RouteOp("remove", route) for route in leftovers])
            removed = 0
            for result in results:
                key = (result.route.afi, result.route.prefix)
                if result.ok or result.error == errno.ESRCH:
                    removed += 1
                    if self._stale.get(key) == result.route:
                        del self._stale[key]
                else:
                    log.warning(
                        "removing stale %s failed: %s", result.route.describe(), result.describe()
                    )
            log.info("removed %d stale routes", removed)
            self._emit(StaleRemoved(removed))
            self._replay_deferred()

    async def stop(self) -> None:
        """Stop; remove pybgp's routes unless ``keep_on_stop``; close the installer."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        async with self._lock:
            if not self.options.keep_on_stop:
                routes = [*self._installed.values(), *self._stale.values(), *self._stale_other]
                results = await self._execute_results(
                    [RouteOp("remove", route) for route in routes]
                )
                failures = [r for r in results if not r.ok and r.error != errno.ESRCH]
                for result in failures:
                    log.warning(
                        "removing %s at stop failed: %s", result.route.describe(), result.describe()
                    )
                self._installed.clear()
                self._stale.clear()
                self._stale_other = []
        await self.installer.close()

    # -- queries -------------------------------------------------------------------------

    @property
    def installed_count(self) -> int:
        """Routes pybgp holds in the kernel (adopted stale ones excluded)."""
        return len(self._installed)

    @property
    def failed_count(self) -> int:
        """Routes the kernel refused, waiting for a retry."""
        return len(self._failed)

    def counters(self) -> KernelCounters:
        """All counters at once (O(1))."""
        return KernelCounters(
            installed=len(self._installed),
            failed=len(self._failed),
            not_installed=self._not_installed,
            stale=len(self._stale) + len(self._stale_other),
            drift_repairs=self.drift_repairs,
            conflicts=self.conflicts,
        )

    def status(self, family: Family, prefix: bytes) -> str:
        """``"installed"``, ``"not installed: <why>"``, ``"failed: <errno> <words>"``..."""
        key = (family[0], prefix)
        failure = self._failed.get(key)
        if failure is not None:
            return f"failed: {failure.text}"
        want = self._want.get(key)
        if isinstance(want, str):
            return f"not installed: {want}"
        if key in self._installed:
            return "installed"
        if key in self._stale:
            return "installed (adopted at start, not announced yet)"
        if want is not None:
            return "pending"
        return "not installed: no best path"

    def next_retry_deadline(self) -> float | None:
        """When the earliest failed route is due for a retry (the ``clock``), or ``None``."""
        heap = self._heap
        while heap:
            deadline, key = heap[0]
            failure = self._failed.get(key)
            if failure is not None and failure.deadline == deadline:
                return deadline
            heapq.heappop(heap)
        return None

    async def retry_due(self, now: float) -> int:
        """Retry every failed route whose deadline is ``<= now``; how many were retried."""
        due: list[Key] = []
        heap = self._heap
        while heap and heap[0][0] <= now:
            deadline, key = heapq.heappop(heap)
            failure = self._failed.get(key)
            if failure is not None and failure.deadline == deadline:
                due.append(key)
        if due:
            await self._replan(due)
        return len(due)

    # -- input from the RIB --------------------------------------------------------------

    async def apply(self, changes: Iterable[BestPathChangeLike]) -> None:
        """Bring the kernel in line with ``changes`` (one batch for all of them).

        A change list with ``groups()`` (the RIB's :class:`~pybgp.rib.types.ChangeList`:
        ``(family, prefixes, old, new, reason)``, many prefixes sharing one new path) is read
        group by group, the kernel form decided once per group.
        """
        groups = getattr(changes, "groups", None)
        keys = self._take_groups(groups()) if callable(groups) else self._take_changes(changes)
        await self._replan(keys)

    def _given(self, paths: Sequence[PathLike]) -> tuple[IPAddress, ...] | str | None:
        """What ``_inputs`` keeps for the best paths ``paths`` (``None``: no route)."""
        if not paths:
            return None
        if paths[0].peer_id is None:
            return LOCAL if self.options.blackhole_originated else "originated here"
        if len(paths) == 1:
            return (paths[0].next_hop,)
        # dict.fromkeys: ADD-PATH can bring one next hop twice; keep order, once
        return tuple(dict.fromkeys(path.next_hop for path in paths if path.peer_id is not None))

    def _take_groups(self, groups: Iterable[Sequence[object]]) -> list[Key]:
        keys: list[Key] = []
        inputs = self._inputs
        for group in groups:
            family, prefixes, _old, new = group[0], group[1], group[2], group[3]
            afi = family[0]  # type: ignore[index]
            if afi not in (AFI_IPV4, AFI_IPV6):
                continue  # only IP routes go into the kernel
            these = [(afi, prefix) for prefix in prefixes]  # type: ignore[attr-defined]
            given = self._given(new)  # type: ignore[arg-type]
            if given is None:
                for key in these:
                    inputs.pop(key, None)
            else:
                inputs.update(dict.fromkeys(these, given))
            keys.extend(these)
        return keys

    def _take_changes(self, changes: Iterable[BestPathChangeLike]) -> list[Key]:
        keys: list[Key] = []
        inputs = self._inputs
        blackhole = self.options.blackhole_originated
        # consecutive changes to one next hop share one inputs tuple, so that planning
        # recognises it by identity instead of hashing addresses
        last_hop: object = None
        last_given: tuple[IPAddress, ...] = ()
        for change in changes:
            key = (change.family[0], change.prefix)
            if key[0] not in (AFI_IPV4, AFI_IPV6):
                continue  # only IP routes go into the kernel
            paths = change.new
            if not paths:
                inputs.pop(key, None)
            elif len(paths) == 1:
                path = paths[0]
                if path.peer_id is None:
                    inputs[key] = LOCAL if blackhole else "originated here"
                else:
                    hop = path.next_hop
                    if hop is not last_hop:
                        last_hop, last_given = hop, (hop,)
                    inputs[key] = last_given
            else:
                inputs[key] = self._given(paths)  # type: ignore[assignment]
            keys.append(key)
        return keys

    # -- planning ------------------------------------------------------------------------

    def _metric(self, afi: int) -> int:
        return self.options.metric if self.options.metric is not None else default_metric(afi)

    def _form(self, key: Key) -> KernelRoute | str | None:
        given = self._inputs.get(key)
        if given is None:
            return None
        afi, prefix = key
        options = self.options
        source = options.source_ipv6 if afi == AFI_IPV6 else options.source_ipv4
        if isinstance(given, str):
            if given != LOCAL:
                return given
            return KernelRoute(
                afi,
                prefix,
                (),
                "blackhole",
                None,
                False,
                options.table,
                self._metric(afi),
                options.protocol,
                None,
            )
        mode = options.encapsulation
        if options.pools:  # per-pool encapsulation (datastore): the mode is part of the key
            mode = options.encapsulation_for(network_from_prefix(prefix, afi))
        decisions = self._decisions[afi]
        cache = given if mode is options.encapsulation else (mode, *given)
        form = decisions.get(cache)
        if form is None:
            version = 6 if afi == AFI_IPV6 else 4
            if any(hop.version != version for hop in given):
                return "next hop of the other address family (RFC 8950) is not supported"
            form = decide(mode, given, self._connected, options.tunnel_device)
            if len(decisions) >= 65536:  # one entry per next-hop set: bounded anyway
                decisions.clear()
            decisions[cache] = form
        if not isinstance(form, KernelForm):
            return form.reason
        return KernelRoute(
            afi,
            prefix,
            form.next_hops,
            "unicast",
            form.device,
            form.onlink,
            options.table,
            self._metric(afi),
            options.protocol,
            source,
        )

    def _set_want(self, key: Key, want: KernelRoute | str | None) -> None:
        old = self._want.get(key)
        if isinstance(old, str):
            self._not_installed -= 1
        if want is None:
            self._want.pop(key, None)
        else:
            self._want[key] = want
            if isinstance(want, str):
                self._not_installed += 1
                if old != want:
                    afi, prefix = key
                    log.info("%s not installed: %s", prefix_text(afi, prefix), want)
                    self._emit(NotInstalled((afi, 1), prefix, want))

    def _plan(self, key: Key) -> RouteOp | None:
        want = self._want.get(key)
        installed = self._installed.get(key)
        if isinstance(want, KernelRoute):
            if installed is not None:
                if want.same_as(installed):
                    self._clear_failure(key)
                    return None
                return RouteOp("replace", want)
            stale = self._stale.get(key)
            if stale is not None:
                if want.same_as(stale):
                    del self._stale[key]
                    self._installed[key] = stale
                    self._clear_failure(key)
                    return None
                return RouteOp("replace", want)
            return RouteOp("replace" if self.options.overwrite_foreign else "add", want)
        self._clear_failure(key)
        if installed is not None:
            return RouteOp("remove", installed)
        stale = self._stale.get(key)
        if stale is not None:  # withdrawn (or unusable) before initial_sync_done: remove now
            return RouteOp("remove", stale)
        return None

    def _plan_many(self, keys: Iterable[Key]) -> tuple[list[RouteOp], list[Key]]:
        """:meth:`_set_want` then :meth:`_plan` for every key: the operations and their keys.

        The common cases (a new route for a key pybgp does not hold, a withdrawal of one it
        holds) are handled inline, the kernel form built once per distinct input (inputs
        shared by many keys are recognised by identity); every other case goes through
        :meth:`_form`, :meth:`_set_want` and :meth:`_plan`."""
        ops: list[RouteOp] = []
        op_keys: list[Key] = []
        inputs = self._inputs
        wants = self._want
        installed = self._installed
        stale = self._stale
        failed = self._failed
        options = self.options
        table, protocol = options.table, options.protocol
        exclusive = "replace" if options.overwrite_foreign else "add"
        metrics = {AFI_IPV4: self._metric(AFI_IPV4), AFI_IPV6: self._metric(AFI_IPV6)}
        last_given: object = None
        last_afi = 0
        last_form: tuple[object, ...] | None = None
        for key in keys:
            given = inputs.get(key)
            old = wants.get(key)
            if given is None:
                if old.__class__ is str or failed or stale:
                    self._set_want(key, None)
                    op = self._plan(key)
                    if op is not None:
                        ops.append(op)
                        op_keys.append(key)
                    continue
                if old is not None:
                    del wants[key]
                have = installed.get(key)
                if have is not None:
                    ops.append(RouteOp("remove", have))
                    op_keys.append(key)
                continue
            afi = key[0]
            if given is not last_given or afi != last_afi:
                last_given, last_afi = given, afi
                want = self._form(key)
                if isinstance(want, KernelRoute):
                    last_form = (want.next_hops, want.kind, want.device, want.onlink, want.source)
                else:
                    last_form = None
            elif last_form is not None:
                hops, kind, device, onlink, source = last_form
                want = KernelRoute(
                    afi, key[1], hops, kind, device, onlink,  # type: ignore[arg-type]
                    table, metrics[afi], protocol, source,  # type: ignore[arg-type]
                )  # fmt: skip
            else:
                want = self._form(key)
            if (
                old is None
                and want.__class__ is KernelRoute
                and key not in installed
                and not (stale and key in stale)
            ):
                wants[key] = want
                ops.append(RouteOp(exclusive, want))  # type: ignore[arg-type]
                op_keys.append(key)
                continue
            self._set_want(key, want)
            op = self._plan(key)
            if op is not None:
                ops.append(op)
                op_keys.append(key)
        return ops, op_keys

    async def _replan(self, keys: Iterable[Key]) -> None:
        async with self._lock:
            ops, op_keys = self._plan_many(keys)
            if ops:
                await self._run_ops(ops, op_keys)
                self._replay_deferred()

    async def _execute(
        self, ops: Sequence[RouteOp], keys: Sequence[Key] | None = None
    ) -> Sequence[tuple[int, str]]:
        """The installer's ``(errno, message)`` for each of ``ops``, in order."""
        self._inflight = (
            set(keys) if keys is not None else {(op.route.afi, op.route.prefix) for op in ops}
        )
        try:
            execute_codes = getattr(self.installer, "execute_codes", None)
            if execute_codes is not None:
                codes: Sequence[tuple[int, str]] = await execute_codes(ops)
            else:
                codes = [(r.error, r.message) for r in await self.installer.execute(ops)]
            if len(codes) != len(ops):
                raise RuntimeError(f"{len(codes)} answers to {len(ops)} operations")
            return codes
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

    async def _run_ops(self, ops: Sequence[RouteOp], keys: Sequence[Key]) -> None:
        self._log_budget = LOG_BUDGET
        codes = await self._execute(ops, keys)
        installed = self._installed
        stale = self._stale
        failed = self._failed
        occupied: list[InstallResult] = []
        for op, key, answer in zip(ops, keys, codes, strict=True):
            action, route = op
            code = answer[0]
            if action == "remove":
                if code == 0 or code == errno.ESRCH:
                    if installed.get(key) == route:
                        del installed[key]
                    if stale and stale.get(key) == route:
                        del stale[key]
                else:
                    self._fail(key, InstallResult(route, action, *answer).describe())
            elif code == 0:
                installed[key] = route
                if stale:
                    stale.pop(key, None)
                if failed:
                    self._clear_failure(key)
            elif code == errno.EEXIST:
                occupied.append(InstallResult(route, action, *answer))
            else:
                self._fail(key, InstallResult(route, action, *answer).describe())
        if occupied:
            await self._resolve_occupied(occupied)
        if self._log_budget < 0:
            log.warning(
                "%d more routes failed in this batch (see status/events)", -self._log_budget
            )

    async def _resolve_occupied(self, occupied: Sequence[InstallResult]) -> None:
        """EEXIST on add: find who holds the key; adopt ours, report foreign."""
        second: list[RouteOp] = []
        tables: dict[int, dict[tuple[bytes, int], KernelRoute]] = {}
        if len(occupied) > FIND_ONE_BY_ONE:  # many: one dump per family beats many finds
            for afi in {result.route.afi for result in occupied}:
                try:
                    dumped = await self.installer.dump(afi, protocol=0, table=self.options.table)
                except Exception:
                    log.exception("reading the routing table failed")
                    dumped = ()
                tables[afi] = {(route.prefix, route.metric): route for route in dumped}
        for result in occupied:
            route = result.route
            key = (route.afi, route.prefix)
            try:
                if route.afi in tables:
                    holder = tables[route.afi].get((route.prefix, route.metric))
                else:
                    holder = await self.installer.find(
                        route.afi, route.prefix, table=route.table, metric=route.metric
                    )
            except Exception as exc:  # never raise upward: retry later
                self._fail(key, f"{result.describe()} (looking up the occupant failed: {exc})")
                continue
            if holder is None:
                self._fail(key, f"{result.describe()} (the occupant went away)")
            elif holder.protocol == route.protocol:
                if route.same_as(holder):
                    self._installed[key] = holder
                    self._clear_failure(key)
                else:
                    second.append(RouteOp("replace", route))
            elif self.options.overwrite_foreign:
                second.append(RouteOp("replace", route))
            else:
                self._conflict(key, holder.protocol)
        if second:
            for result in await self._execute_results(second):
                key = (result.route.afi, result.route.prefix)
                if result.ok:
                    self._installed[key] = result.route
                    self._clear_failure(key)
                else:
                    self._fail(key, result.describe())

    # -- failures ------------------------------------------------------------------------

    def _conflict(self, key: Key, protocol: int) -> None:
        afi, prefix = key
        self._installed.pop(key, None)
        if key not in self._conflicts:
            self._conflicts.add(key)
            self.conflicts += 1
            log.warning(
                "%s: a route of protocol %d holds the key; left alone (overwrite_foreign=false)",
                prefix_text(afi, prefix),
                protocol,
            )
            self._emit(ForeignConflict((afi, 1), prefix, protocol))
        self._fail(key, f"EEXIST foreign route (proto {protocol})", quiet=True)

    def _fail(self, key: Key, text: str, *, quiet: bool = False) -> None:
        afi, prefix = key
        failure = self._failed.get(key)
        attempts = 1 if failure is None else failure.attempts + 1
        delay = min(self.options.retry_initial * 2 ** (attempts - 1), self.options.retry_max)
        deadline = self._clock() + delay
        self._failed[key] = _Failure(text, attempts, deadline)
        heapq.heappush(self._heap, (deadline, key))
        self._wake.set()
        if not quiet and attempts == 1:
            self._log_budget -= 1
        if not quiet and (attempts > 1 or self._log_budget >= 0):
            level = logging.WARNING if attempts == 1 else logging.DEBUG
            log.log(
                level,
                "installing %s failed: %s (attempt %d, retry in %.1fs)",
                prefix_text(afi, prefix),
                text,
                attempts,
                delay,
            )
        self._emit(InstallFailed((afi, 1), prefix, text, attempts, delay))

    def _clear_failure(self, key: Key) -> None:
        if self._failed.pop(key, None) is not None:
            self._conflicts.discard(key)

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
                for key in self._failed:
                    self._dirty.add(key)
            self._wake.set()
        elif isinstance(event, MonitorOverrun):
            self._resync = True
            self._wake.set()

    def _event_wanted(self, afi: int, prefix: bytes) -> bool:
        key = (afi, prefix)
        return key in self._want and (self._echo_free or key not in self._inflight)

    def _replay_deferred(self) -> None:
        """Handle the notifications that arrived for keys of the batch just recorded."""
        while self._deferred:
            deferred, self._deferred = self._deferred, []
            for event in deferred:
                self._on_route_event(event)

    def _on_route_event(self, event: RouteEvent) -> None:
        route = event.route
        options = self.options
        key = (route.afi, route.prefix)
        if (
            route.table != options.table
            or route.metric != self._metric(route.afi)
            or key not in self._want
        ):
            return
        if key in self._inflight:
            # Being sent now: without the installer's echoes this is someone else's change,
            # judged once the batch's answers are recorded; with them, pybgp's own doing.
            if self._echo_free:
                self._deferred.append(event)
            return
        ours = route.protocol == options.protocol
        installed = self._installed.get(key)
        if event.kind == "del":
            if ours and installed is not None:
                # also a partial delete (one IPv6 ECMP member): re-adding finds the rest of
                # the route (EEXIST) and replaces it whole
                del self._installed[key]
                self._drift(key, "deleted")
            elif ours:
                self._stale.pop(key, None)
            elif key in self._conflicts:
                self._dirty.add(key)  # the foreign occupant left: try again now
                self._wake.set()
            return
        if ours:
            if installed is not None and not installed.same_as(route):
                self._installed[key] = route
                self._drift(key, "changed")
            return
        if installed is not None:
            if options.overwrite_foreign:
                del self._installed[key]
                self._drift(key, f"replaced by protocol {route.protocol}")
            else:
                self._conflict(key, route.protocol)

    def _drift(self, key: Key, what: str) -> None:
        afi, prefix = key
        self.drift_repairs += 1
        log.warning("%s was %s outside pybgp: repairing", prefix_text(afi, prefix), what)
        self._emit(DriftRepaired((afi, 1), prefix, what))
        self._dirty.add(key)
        self._wake.set()

    async def _resync_from_kernel(self) -> None:
        """After lost notifications: believe the kernel, then re-plan everything."""
        options = self.options
        present: dict[Key, KernelRoute] = {}
        for afi in options.afis:
            for route in await self.installer.dump(
                afi, protocol=options.protocol, table=options.table
            ):
                if route.metric == self._metric(afi):
                    present[(afi, route.prefix)] = route
        async with self._lock:
            for key in list(self._installed):
                have = present.get(key)
                if have is None:
                    del self._installed[key]
                else:
                    self._installed[key] = have
        await self._replan(list(self._want))

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
        pools = KernelSyncOptions.from_config(kernel).pools
        if pools == self.options.pools:
            return
        self.options = attrs.evolve(self.options, pools=pools)
        self._decisions = {AFI_IPV4: {}, AFI_IPV6: {}}
        await self._replan(set(self._inputs))

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
            if connected != self._connected:  # e.g. IPv6 DAD flag changes do not count
                self._connected = connected
                self._decisions = {AFI_IPV4: {}, AFI_IPV6: {}}
                self._dirty.update(self._inputs)
        if self._dirty:
            dirty, self._dirty = self._dirty, set()
            await self._replan(dirty)
        await self.retry_due(self._clock())


__all__ = ["BestPathChangeLike", "KernelSync", "PathLike", "installer_for"]

"""The kernel plan: pybgp's wanted routes against the kernel's, as operations (pure: no I/O).

:class:`KernelPlan` holds, per prefix key ``K = (afi, prefix)``:

* ``inputs[K]``: what the RIB said (BGP next hops, or "originated here");
* ``want[K]``: the :class:`KernelRoute` those inputs give in the current encapsulation mode and
  connected subnets, or the reason (str) it cannot be installed;
* ``installed[K]``: pybgp's route as the kernel holds it (confirmed by an answer or a dump);
* ``stale[K]``: pybgp-protocol routes found in the kernel at start, not yet confirmed. A best
  path that matches one exactly adopts it without touching the kernel (a restart never flushes
  and re-adds unchanged routes); :meth:`KernelPlan.leftovers` lists the rest for removal;
* ``failed[K]``: the last refusal, its attempt count and when to retry (doubling back-off).

It turns changed keys into one batch of add/replace/remove operations (:meth:`plan`), and the
kernel's answers to a batch into new state (:meth:`record`); "add" is create-exclusive, so an
EEXIST answer means some route holds the key: the runner looks the occupant up and hands it to
:meth:`resolve`. Time is an argument (``now``, for the retry deadlines), never read; log lines
and :mod:`~pybgp.kernel.events` values are queued for the runner (:meth:`take_outputs`).
:class:`~pybgp.kernel.sync.KernelSync` is the asyncio runner that carries the plans out.

The hot path (100,000 routes in one batch) is :meth:`plan` and :meth:`record`: a new route for
a key pybgp does not hold and the withdrawal of one it holds are handled inline, and the kernel
form is built once per distinct input (consecutive keys that share one inputs tuple, as a RIB
change group gives them, are recognised by identity). The per-key tables are dicts, which keep
their size after a mass withdrawal: :meth:`finish_batch` rebuilds one that has shrunk to a
quarter of its peak, so that memory goes back to where it was before the routes came.
"""

from __future__ import annotations

import errno
import heapq
from collections.abc import Iterable, Sequence
from typing import Literal, NamedTuple, Protocol

import attrs

from pybgp.kernel.base import (
    AFI_IPV4,
    AFI_IPV6,
    InstallResult,
    IPAddress,
    KernelRoute,
    RouteEvent,
    RouteOp,
    default_metric,
    prefix_text,
)
from pybgp.kernel.encap import (
    ConnectedSubnets,
    Encapsulation,
    IPNetwork,
    KernelForm,
    Unusable,
    decide,
)
from pybgp.kernel.events import (
    DriftRepaired,
    Family,
    ForeignConflict,
    InstallFailed,
    KernelCounters,
    KernelSyncOptions,
    NotInstalled,
    SyncEvent,
)
from pybgp.wire.nlri import network_from_prefix

Key = tuple[int, bytes]
LOG_BUDGET = 20
"""Failures logged one by one per batch; the rest are summed up in one line."""
LOCAL = "local"
"""``inputs`` marker of a prefix originated by this node (installed as a blackhole)."""
RIGHT_SIZE_FROM = 4096
"""Tables smaller than this at their peak are never rebuilt (not worth it)."""

Answer = tuple[int, str]
"""The kernel's answer to one operation: ``(errno, message)``, 0 = done."""


class Note(NamedTuple):
    """A log line for the runner to write (the plan itself does no I/O, logging included)."""

    level: Literal["debug", "info", "warning"]
    text: str


Output = SyncEvent | Note


class Batch(NamedTuple):
    """Operations to hand to the installer, in order, and the key of each."""

    ops: list[RouteOp]
    keys: list[Key]


class PathLike(Protocol):
    """What the plan reads of a RIB path."""

    @property
    def next_hop(self) -> IPAddress:
        """The BGP next hop."""

    @property
    def peer_id(self) -> str | None:
        """The peer it came from; ``None`` = originated here."""


class BestPathChangeLike(Protocol):
    """What the plan reads of a RIB best-path change."""

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
class Failure:
    """The last refusal of one key: its words, how many attempts, when to retry."""

    text: str
    attempts: int
    deadline: float


class KernelPlan:
    """Desired against installed routes, per prefix key; see the module text."""

    def __init__(self, options: KernelSyncOptions | None = None) -> None:
        self.options = options or KernelSyncOptions()
        self.inputs: dict[Key, tuple[IPAddress, ...] | str] = {}
        self.want: dict[Key, KernelRoute | str] = {}
        self.installed: dict[Key, KernelRoute] = {}
        self.stale: dict[Key, KernelRoute] = {}
        self.stale_other: list[KernelRoute] = []
        """pybgp-protocol routes of another metric found at start: removed by the sweep."""
        self.failed: dict[Key, Failure] = {}
        self.conflicts: set[Key] = set()
        self.dirty: set[Key] = set()
        """Keys to plan again soon (drift, a foreign occupant gone, a new link)."""
        self.wake = False
        """Set when a retry deadline or :attr:`dirty` changed: the runner should look again."""
        self.connected = ConnectedSubnets()
        self.initial_done = False
        self.drift_repairs = 0
        self.conflict_count = 0
        self._heap: list[tuple[float, Key]] = []
        self._decisions: dict[int, dict[tuple[object, ...], KernelForm | Unusable]] = {
            AFI_IPV4: {},
            AFI_IPV6: {},
        }
        self._not_installed = 0
        self._log_budget = LOG_BUDGET
        self._outputs: list[Output] = []
        self._peaks = {"inputs": 0, "want": 0, "installed": 0}

    # -- outputs ---------------------------------------------------------------------------

    def take_outputs(self) -> list[Output]:
        """Log lines and events queued since the last call, in order."""
        outputs, self._outputs = self._outputs, []
        return outputs

    def _note(self, level: Literal["debug", "info", "warning"], text: str) -> None:
        self._outputs.append(Note(level, text))

    # -- start -----------------------------------------------------------------------------

    def metric(self, afi: int) -> int:
        """The metric pybgp's routes of ``afi`` carry."""
        return self.options.metric if self.options.metric is not None else default_metric(afi)

    def adopt(self, afi: int, routes: Iterable[KernelRoute]) -> None:
        """pybgp-protocol routes found in the kernel at start become stale (see the module)."""
        metric = self.metric(afi)
        for route in routes:
            if route.metric == metric:
                self.stale[(afi, route.prefix)] = route
            else:
                self.stale_other.append(route)

    def set_pools(self, pools: tuple[tuple[IPNetwork, Encapsulation], ...]) -> list[Key]:
        """Take a new per-pool encapsulation (Calico IPPools from the datastore); the keys to
        plan again (every one, when the pools changed: those whose kernel form changed are
        then replaced)."""
        if pools == self.options.pools:
            return []
        self.options = attrs.evolve(self.options, pools=pools)
        self._decisions = {AFI_IPV4: {}, AFI_IPV6: {}}
        return list(self.inputs)

    def set_connected(self, connected: ConnectedSubnets) -> bool:
        """New connected subnets; when they differ, every route is decided again (dirty)."""
        if connected == self.connected:  # e.g. IPv6 DAD flag changes do not count
            return False
        self.connected = connected
        self._decisions = {AFI_IPV4: {}, AFI_IPV6: {}}
        self.dirty.update(self.inputs)
        self.wake = True
        return True

    # -- input from the RIB ----------------------------------------------------------------

    def take(self, changes: Iterable[BestPathChangeLike]) -> list[Key]:
        """Record best-path changes as inputs; the keys to plan.

        A change list with ``groups()`` (the RIB's :class:`~pybgp.rib.types.ChangeList`:
        ``(family, prefixes, old, new, reason)``, many prefixes sharing one new path) is read
        group by group, the inputs made once per group.
        """
        groups = getattr(changes, "groups", None)
        return self._take_groups(groups()) if callable(groups) else self._take_changes(changes)

    def _given(self, paths: Sequence[PathLike]) -> tuple[IPAddress, ...] | str | None:
        """What ``inputs`` keeps for the best paths ``paths`` (``None``: no route)."""
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
        inputs = self.inputs
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
        inputs = self.inputs
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

    # -- planning --------------------------------------------------------------------------

    def _form(self, key: Key) -> KernelRoute | str | None:
        """The route the inputs of ``key`` give, the reason it cannot be installed, or None."""
        given = self.inputs.get(key)
        if given is None:
            return None
        afi, prefix = key
        options = self.options
        source = options.source_ipv6 if afi == AFI_IPV6 else options.source_ipv4
        if isinstance(given, str):
            if given != LOCAL:
                return given
            return KernelRoute(
                afi, prefix, (), "blackhole", None, False,
                options.table, self.metric(afi), options.protocol, None,
            )  # fmt: skip
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
            form = decide(mode, given, self.connected, options.tunnel_device)
            if len(decisions) >= 65536:  # one entry per next-hop set: bounded anyway
                decisions.clear()
            decisions[cache] = form
        if not isinstance(form, KernelForm):
            return form.reason
        return KernelRoute(
            afi, prefix, form.next_hops, "unicast", form.device, form.onlink,
            options.table, self.metric(afi), options.protocol, source,
        )  # fmt: skip

    def _set_want(self, key: Key, want: KernelRoute | str | None) -> None:
        old = self.want.get(key)
        if isinstance(old, str):
            self._not_installed -= 1
        if want is None:
            self.want.pop(key, None)
        else:
            self.want[key] = want
            if isinstance(want, str):
                self._not_installed += 1
                if old != want:
                    afi, prefix = key
                    self._note("info", f"{prefix_text(afi, prefix)} not installed: {want}")
                    self._outputs.append(NotInstalled((afi, 1), prefix, want))

    def _plan_one(self, key: Key) -> RouteOp | None:
        """The operation that brings ``key`` from installed to wanted (None: nothing to do)."""
        want = self.want.get(key)
        installed = self.installed.get(key)
        if isinstance(want, KernelRoute):
            if installed is not None:
                if want.same_as(installed):
                    self._clear_failure(key)
                    return None
                return RouteOp("replace", want)
            stale = self.stale.get(key)
            if stale is not None:
                if want.same_as(stale):
                    del self.stale[key]
                    self.installed[key] = stale
                    self._clear_failure(key)
                    return None
                return RouteOp("replace", want)
            return RouteOp("replace" if self.options.overwrite_foreign else "add", want)
        self._clear_failure(key)
        if installed is not None:
            return RouteOp("remove", installed)
        stale = self.stale.get(key)
        if stale is not None:  # withdrawn (or unusable) before the sweep: remove now
            return RouteOp("remove", stale)
        return None

    def plan(self, keys: Iterable[Key]) -> Batch:
        """Decide the wanted route of every key, then the operations that get the kernel there.

        The common cases (a new route for a key pybgp does not hold, a withdrawal of one it
        holds) are handled inline, the kernel form built once per distinct input; every other
        case goes through :meth:`_form`, :meth:`_set_want` and :meth:`_plan_one`."""
        ops: list[RouteOp] = []
        op_keys: list[Key] = []
        inputs = self.inputs
        wants = self.want
        installed = self.installed
        stale = self.stale
        failed = self.failed
        options = self.options
        table, protocol = options.table, options.protocol
        exclusive = "replace" if options.overwrite_foreign else "add"
        metrics = {AFI_IPV4: self.metric(AFI_IPV4), AFI_IPV6: self.metric(AFI_IPV6)}
        last_given: object = None
        last_afi = 0
        last_form: tuple[object, ...] | None = None
        # with per-pool encapsulation, prefixes that share inputs may still differ in form
        share_forms = not options.pools
        for key in keys:
            given = inputs.get(key)
            old = wants.get(key)
            if given is None:
                if old.__class__ is str or failed or stale:
                    self._set_want(key, None)
                    op = self._plan_one(key)
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
            elif last_form is not None and share_forms:
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
            op = self._plan_one(key)
            if op is not None:
                ops.append(op)
                op_keys.append(key)
        return Batch(ops, op_keys)

    # -- the kernel's answers --------------------------------------------------------------

    def record(self, batch: Batch, answers: Sequence[Answer], now: float) -> list[InstallResult]:
        """Take the kernel's answers to ``batch`` (one per operation, in order).

        Returns the adds refused with EEXIST: some route holds the key. The runner looks the
        occupants up and calls :meth:`resolve`; then :meth:`finish_batch`.
        """
        self._log_budget = LOG_BUDGET
        installed = self.installed
        stale = self.stale
        failed = self.failed
        occupied: list[InstallResult] = []
        for op, key, answer in zip(batch.ops, batch.keys, answers, strict=True):
            action, route = op
            code = answer[0]
            if action == "remove":
                if code == 0 or code == errno.ESRCH:
                    have = installed.get(key)
                    # usually the very object removed: identity first, equality otherwise
                    if have is route or (have is not None and have == route):
                        del installed[key]
                    if stale and stale.get(key) == route:
                        del stale[key]
                else:
                    self.fail(key, InstallResult(route, action, *answer).describe(), now)
            elif code == 0:
                installed[key] = route
                if stale:
                    stale.pop(key, None)
                if failed:
                    self._clear_failure(key)
            elif code == errno.EEXIST:
                occupied.append(InstallResult(route, action, *answer))
            else:
                self.fail(key, InstallResult(route, action, *answer).describe(), now)
        return occupied

    def resolve(
        self,
        occupied: Sequence[InstallResult],
        holders: Sequence[KernelRoute | str | None],
        now: float,
    ) -> list[RouteOp]:
        """Judge the occupant of each EEXIST answer (``holders[i]``: the route holding the key,
        ``None`` if it went away, or the text of the lookup's failure): adopt pybgp's own
        identical route, replace pybgp's differing one (or a foreign one with
        ``overwrite_foreign``), report a foreign one as a conflict. Returns the replaces to
        send; their answers go to :meth:`record_replaces`."""
        second: list[RouteOp] = []
        for result, holder in zip(occupied, holders, strict=True):
            route = result.route
            key = (route.afi, route.prefix)
            if isinstance(holder, str):
                self.fail(
                    key, f"{result.describe()} (looking up the occupant failed: {holder})", now
                )
            elif holder is None:
                self.fail(key, f"{result.describe()} (the occupant went away)", now)
            elif holder.protocol == route.protocol:
                if route.same_as(holder):
                    self.installed[key] = holder
                    self._clear_failure(key)
                else:
                    second.append(RouteOp("replace", route))
            elif self.options.overwrite_foreign:
                second.append(RouteOp("replace", route))
            else:
                self._conflict(key, holder.protocol, now)
        return second

    def record_replaces(self, results: Iterable[InstallResult], now: float) -> None:
        """The answers to the replaces :meth:`resolve` asked for."""
        for result in results:
            key = (result.route.afi, result.route.prefix)
            if result.ok:
                self.installed[key] = result.route
                self._clear_failure(key)
            else:
                self.fail(key, result.describe(), now)

    def finish_batch(self) -> bool:
        """End of a batch: sum up the failures not logged one by one; rebuild the per-key
        tables that shrank to a quarter of their peak (a dict never gives back its slots).
        True when a table was rebuilt, i.e. a lot of memory was just freed."""
        if self._log_budget < 0:
            self._note(
                "warning",
                f"{-self._log_budget} more routes failed in this batch (see status/events)",
            )
            self._log_budget = LOG_BUDGET
        rebuilt = False
        peaks = self._peaks
        for name in ("inputs", "want", "installed"):
            size = len(getattr(self, name))
            if size > peaks[name]:
                peaks[name] = size
            elif size * 4 < peaks[name] and peaks[name] >= RIGHT_SIZE_FROM:
                setattr(self, name, dict(getattr(self, name)))
                peaks[name] = size
                rebuilt = True
        return rebuilt

    # -- the sweep and the end -------------------------------------------------------------

    def leftovers(self) -> list[RouteOp]:
        """The initial exchange is over: the removals of adopted routes nobody announced."""
        self.initial_done = True
        routes = [route for key, route in self.stale.items() if key not in self.want]
        routes.extend(self.stale_other)
        self.stale_other = []
        return [RouteOp("remove", route) for route in routes]

    def record_sweep(self, results: Iterable[InstallResult]) -> int:
        """The answers to :meth:`leftovers`' removals; how many routes are gone."""
        removed = 0
        for result in results:
            key = (result.route.afi, result.route.prefix)
            if result.ok or result.error == errno.ESRCH:
                removed += 1
                if self.stale.get(key) == result.route:
                    del self.stale[key]
            else:
                self._note(
                    "warning",
                    f"removing stale {result.route.describe()} failed: {result.describe()}",
                )
        return removed

    def everything(self) -> list[RouteOp]:
        """The removals of every route pybgp holds (installed or adopted), for the stop."""
        routes = [*self.installed.values(), *self.stale.values(), *self.stale_other]
        return [RouteOp("remove", route) for route in routes]

    def forget_routes(self) -> None:
        """The routes were removed (the stop): hold nothing."""
        self.installed.clear()
        self.stale.clear()
        self.stale_other = []

    # -- failures and retries --------------------------------------------------------------

    def fail(self, key: Key, text: str, now: float, *, quiet: bool = False) -> None:
        """The kernel refused ``key`` (``text`` says why): retry after the back-off."""
        afi, prefix = key
        failure = self.failed.get(key)
        attempts = 1 if failure is None else failure.attempts + 1
        options = self.options
        delay = min(options.retry_initial * 2 ** (attempts - 1), options.retry_max)
        deadline = now + delay
        self.failed[key] = Failure(text, attempts, deadline)
        heapq.heappush(self._heap, (deadline, key))
        self.wake = True
        if not quiet and attempts == 1:
            self._log_budget -= 1
        if not quiet and (attempts > 1 or self._log_budget >= 0):
            self._note(
                "warning" if attempts == 1 else "debug",
                f"installing {prefix_text(afi, prefix)} failed: {text} "
                f"(attempt {attempts}, retry in {delay:.1f}s)",
            )
        self._outputs.append(InstallFailed((afi, 1), prefix, text, attempts, delay))

    def _clear_failure(self, key: Key) -> None:
        if self.failed.pop(key, None) is not None:
            self.conflicts.discard(key)

    def _conflict(self, key: Key, protocol: int, now: float) -> None:
        afi, prefix = key
        self.installed.pop(key, None)
        if key not in self.conflicts:
            self.conflicts.add(key)
            self.conflict_count += 1
            self._note(
                "warning",
                f"{prefix_text(afi, prefix)}: a route of protocol {protocol} holds the key; "
                "left alone (overwrite_foreign=false)",
            )
            self._outputs.append(ForeignConflict((afi, 1), prefix, protocol))
        self.fail(key, f"EEXIST foreign route (proto {protocol})", now, quiet=True)

    def next_retry_deadline(self) -> float | None:
        """When the earliest failed route is due for a retry, or ``None``."""
        heap = self._heap
        while heap:
            deadline, key = heap[0]
            failure = self.failed.get(key)
            if failure is not None and failure.deadline == deadline:
                return deadline
            heapq.heappop(heap)
        return None

    def due(self, now: float) -> list[Key]:
        """The failed keys whose retry deadline is ``<= now`` (taken off the schedule)."""
        keys: list[Key] = []
        heap = self._heap
        while heap and heap[0][0] <= now:
            deadline, key = heapq.heappop(heap)
            failure = self.failed.get(key)
            if failure is not None and failure.deadline == deadline:
                keys.append(key)
        return keys

    def take_dirty(self) -> set[Key]:
        """The keys marked for planning again (and forget the marks)."""
        dirty, self.dirty = self.dirty, set()
        return dirty

    # -- kernel notifications --------------------------------------------------------------

    def wants(self, afi: int, prefix: bytes) -> bool:
        """True when pybgp has a wanted route (or reason) for this key."""
        return (afi, prefix) in self.want

    def concerns(self, route: KernelRoute) -> bool:
        """True when a notification about ``route`` may matter: a key pybgp wants, in its
        table, at its metric."""
        return (
            route.table == self.options.table
            and route.metric == self.metric(route.afi)
            and (route.afi, route.prefix) in self.want
        )

    def route_event(self, event: RouteEvent, now: float) -> None:
        """Someone else changed a route of a key pybgp wants (:meth:`concerns` said so)."""
        route = event.route
        key = (route.afi, route.prefix)
        ours = route.protocol == self.options.protocol
        installed = self.installed.get(key)
        if event.kind == "del":
            if ours and installed is not None:
                # also a partial delete (one IPv6 ECMP member): re-adding finds the rest of
                # the route (EEXIST) and replaces it whole
                del self.installed[key]
                self._drift(key, "deleted")
            elif ours:
                self.stale.pop(key, None)
            elif key in self.conflicts:
                self.dirty.add(key)  # the foreign occupant left: try again now
                self.wake = True
            return
        if ours:
            if installed is not None and not installed.same_as(route):
                self.installed[key] = route
                self._drift(key, "changed")
            return
        if installed is not None:
            if self.options.overwrite_foreign:
                del self.installed[key]
                self._drift(key, f"replaced by protocol {route.protocol}")
            else:
                self._conflict(key, route.protocol, now)

    def _drift(self, key: Key, what: str) -> None:
        afi, prefix = key
        self.drift_repairs += 1
        self._note("warning", f"{prefix_text(afi, prefix)} was {what} outside pybgp: repairing")
        self._outputs.append(DriftRepaired((afi, 1), prefix, what))
        self.dirty.add(key)
        self.wake = True

    def links_changed(self) -> None:
        """A link appeared or changed: every failed route is tried again now."""
        self.dirty.update(self.failed)
        self.wake = True

    def believe(self, present: dict[Key, KernelRoute]) -> list[Key]:
        """After lost notifications: ``present`` is pybgp's routes as the kernel holds them
        now. Returns every wanted key, to plan again."""
        installed = self.installed
        for key in list(installed):
            have = present.get(key)
            if have is None:
                del installed[key]
            else:
                installed[key] = have
        return list(self.want)

    # -- queries ---------------------------------------------------------------------------

    def counters(self) -> KernelCounters:
        """All counters at once (O(1))."""
        return KernelCounters(
            installed=len(self.installed),
            failed=len(self.failed),
            not_installed=self._not_installed,
            stale=len(self.stale) + len(self.stale_other),
            drift_repairs=self.drift_repairs,
            conflicts=self.conflict_count,
        )

    def status(self, family: Family, prefix: bytes) -> str:
        """``"installed"``, ``"not installed: <why>"``, ``"failed: <errno> <words>"``..."""
        key = (family[0], prefix)
        failure = self.failed.get(key)
        if failure is not None:
            return f"failed: {failure.text}"
        want = self.want.get(key)
        if isinstance(want, str):
            return f"not installed: {want}"
        if key in self.installed:
            return "installed"
        if key in self.stale:
            return "installed (adopted at start, not announced yet)"
        if want is not None:
            return "pending"
        return "not installed: no best path"

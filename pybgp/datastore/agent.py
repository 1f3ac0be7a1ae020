"""The datastore agent: snapshot, watch, reconnect, and apply what changed (the shell).

Theory of operation. :meth:`DatastoreAgent.start` connects (retrying with back-off until
etcd answers), reads a snapshot of the prefix and derives this node's config: the daemon
needs it before the speaker can start (AS, router id). :meth:`DatastoreAgent.follow` then
watches from the snapshot's revision + 1, so no write between the two is lost. Each batch of
events updates the :class:`~pybgp.datastore.model.ClusterState`, the node's config is derived
again and handed to ``apply`` (the speaker's hitless reload path: only sessions whose
parameters changed are touched) when it differs from the last one applied.

When etcd is unreachable (stopped, partitioned, no leader) or the watch revision was
compacted, the agent keeps the last applied config -- it never withdraws anything because the
datastore is away -- and reconnects with doubling back-off; on reconnect it reads a fresh
snapshot and applies only the difference. A config that cannot be derived (the node deleted,
say) is logged and the last one kept.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from pybgp.config.values import DatastoreConfig, SpeakerConfig
from pybgp.datastore.diff import derived_diff
from pybgp.datastore.etcd import Change, Compacted, EtcdError, EtcdLink
from pybgp.datastore.mapping import DatastoreProblem, DerivedConfig, derive, merge
from pybgp.datastore.model import ClusterState

__all__ = ["DatastoreAgent"]

log = logging.getLogger("pybgp.datastore")

BATCH_WINDOW = 0.05
"""Seconds to wait for more events after one arrives (a block and its affinity are two
writes): one derivation per batch."""

Apply = Callable[[SpeakerConfig], Awaitable[str]]


class DatastoreAgent:
    """Follows one node's view of a Calico datastore in etcd."""

    def __init__(
        self,
        config: DatastoreConfig,
        base: SpeakerConfig,
        link: EtcdLink | None = None,
    ) -> None:
        self.config = config
        self.base = base
        """The file's config: the datastore's values are laid over it (:func:`merge`)."""
        self.link = link if link is not None else EtcdLink(config)
        self.cluster = ClusterState()
        self.derived: DerivedConfig | None = None
        self.revision = 0
        """The etcd revision of the state last applied."""
        self.state = "connecting"
        """connecting | in-sync | disconnected."""
        self.last_error = ""
        self.last_change = ""
        self.changes_applied = 0
        self.resyncs = 0
        self.since = time.time()
        self._backoff = config.reconnect_min
        self._connected = False

    # ------------------------------------------------------------------ status

    def status(self) -> dict[str, Any]:
        """The ``"datastore"`` object of ``pybgp status --json``."""
        return {
            "type": self.config.type,
            "node": self.config.node,
            "endpoint": self.link.endpoint,
            "state": self.state,
            "since": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.since)),
            "revision": self.revision,
            "last_error": self.last_error,
            "last_change": self.last_change,
            "changes_applied": self.changes_applied,
            "resyncs": self.resyncs,
            "problems": list(self.derived.problems) if self.derived is not None else [],
        }

    def _set_state(self, state: str, error: str = "") -> None:
        if state != self.state:
            self.since = time.time()
        self.state = state
        if error:
            self.last_error = error

    def rebase(self, base: SpeakerConfig) -> SpeakerConfig:
        """A reloaded file: the new base, merged with the last derived config."""
        self.base = base
        assert self.derived is not None
        return merge(base, self.derived)

    # ------------------------------------------------------------------ start

    async def start(self) -> SpeakerConfig:
        """Connect, snapshot and derive the first config, retrying until it succeeds."""
        while True:
            try:
                await self._sync()
            except (EtcdError, DatastoreProblem) as exc:
                self._set_state("disconnected" if isinstance(exc, EtcdError) else "connecting",
                                str(exc))
                log.warning("datastore: %s; retrying in %.1f s", exc, self._backoff)
                await self._sleep_backoff()
                continue
            assert self.derived is not None
            return merge(self.base, self.derived)

    async def _sync(self) -> DerivedConfig:
        """(Re)connect if needed and read a snapshot; sets cluster, revision and derived."""
        if not self._connected:
            await self.link.connect()
            self._connected = True
        revision, items = await self.link.snapshot(self.config.prefix)
        cluster = ClusterState.from_items(self.config.prefix, items)
        derived = derive(cluster, self.config.node)
        self.cluster, self.revision = cluster, revision
        self.derived = derived
        self._set_state("in-sync")
        self._backoff = self.config.reconnect_min
        log.info("datastore: snapshot at revision %d (%d keys) from %s",
                 revision, len(items), self.link.endpoint)
        return derived

    async def _sleep_backoff(self) -> None:
        await asyncio.sleep(self._backoff)
        self._backoff = min(self._backoff * 2, self.config.reconnect_max)

    async def _disconnect(self) -> None:
        self._connected = False
        await self.link.close()

    # ------------------------------------------------------------------ follow

    async def follow(self, apply: Apply) -> None:
        """Watch and apply changes until cancelled; reconnect and resync on any failure."""
        try:
            while True:
                try:
                    await self._watch(apply)
                except (EtcdError, DatastoreProblem) as exc:
                    compacted = isinstance(exc, Compacted)
                    self._set_state("disconnected", str(exc))
                    log.warning("datastore: %s; keeping the last known state (revision %d)%s",
                                exc, self.revision,
                                "" if compacted else f", reconnecting in {self._backoff:.1f} s")
                    await self._disconnect()
                    if not compacted:
                        await self._sleep_backoff()
                while True:
                    old = self.derived
                    try:
                        derived = await self._sync()
                    except (EtcdError, DatastoreProblem) as exc:
                        self._set_state("disconnected", str(exc))
                        log.warning("datastore: resync failed: %s; retrying in %.1f s",
                                    exc, self._backoff)
                        await self._disconnect()
                        await self._sleep_backoff()
                        continue
                    self.resyncs += 1
                    await self._apply(apply, old, derived)
                    break
        finally:
            await self._disconnect()

    async def _watch(self, apply: Apply) -> None:
        queue: asyncio.Queue[Change | BaseException] = asyncio.Queue()

        async def pump() -> None:
            try:
                async for change in self.link.watch(self.config.prefix, self.revision + 1):
                    queue.put_nowait(change)
            except asyncio.CancelledError:
                raise
            except BaseException as exc:
                queue.put_nowait(exc)

        async def probe() -> None:
            while True:
                await asyncio.sleep(self.config.timeout)
                try:
                    await self.link.probe()
                except EtcdError as exc:
                    queue.put_nowait(exc)
                    return

        tasks = [asyncio.create_task(pump()), asyncio.create_task(probe())]
        try:
            while True:
                item = await queue.get()
                batch: list[Change] = []
                while True:
                    if isinstance(item, BaseException):
                        raise item
                    batch.append(item)
                    try:
                        item = await asyncio.wait_for(queue.get(), BATCH_WINDOW)
                    except TimeoutError:
                        break
                await self._apply_batch(apply, batch)
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(BaseException):
                    await task

    async def _apply_batch(self, apply: Apply, batch: list[Change]) -> None:
        cluster = self.cluster
        for key, value, _ in batch:
            cluster = cluster.with_value(self.config.prefix, key, value)
        self.cluster = cluster
        self.revision = max(self.revision, max(revision for _, _, revision in batch))
        old = self.derived
        try:
            derived = derive(cluster, self.config.node)
        except DatastoreProblem as exc:
            self.last_error = str(exc)
            log.error("datastore: %s; keeping the running config", exc)
            return
        await self._apply(apply, old, derived)

    async def _apply(self, apply: Apply, old: DerivedConfig | None, new: DerivedConfig) -> None:
        self.derived = new
        diff = derived_diff(old, new)
        if diff.empty:
            return
        if old is None or old.problems != new.problems:
            for problem in new.problems:
                log.warning("datastore: %s", problem)
        try:
            summary = await apply(merge(self.base, new))
        except Exception:  # a speaker bug must not stop the node following the datastore
            log.exception("datastore: applying revision %d failed", self.revision)
            self.last_error = f"applying revision {self.revision} failed (see the log)"
            return
        self.changes_applied += 1
        self.last_change = diff.describe()
        log.info("datastore revision %d: %s -> %s", self.revision, diff.describe(), summary)

"""The speaker's kernel seam: building the :class:`~pybgp.kernel.KernelSync` from the config and
feeding it best-path changes in order (:class:`KernelFeed`: one queue, one task running
:func:`feed_kernel`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from typing import Final

from pybgp.config import SpeakerConfig
from pybgp.kernel import KernelSync, KernelSyncOptions, RouteInstaller, installer_for
from pybgp.rib import BestPathChange, Rib
from pybgp.speaker.events import EventQueue, KernelChanged

__all__ = [
    "INITIAL_SYNC",
    "KernelFeed",
    "current_best_paths",
    "feed_kernel",
    "kernel_changed",
    "make_kernel_sync",
]

log = logging.getLogger("pybgp.speaker")

INITIAL_SYNC: Final = object()
"""Queue marker: the initial exchange is over (sweep the stale routes of a previous run)."""


def make_kernel_sync(config: SpeakerConfig, installer: RouteInstaller | None) -> KernelSync | None:
    """The kernel sync for ``config`` (``installer`` overrides ``[kernel] adapter``); None when
    the adapter is ``"none"`` and no installer is given."""
    kernel = config.kernel
    if installer is None and kernel.adapter != "none":
        installer = installer_for(kernel.adapter)
    if installer is None:
        return None
    options = KernelSyncOptions.from_config(kernel, blackhole_originated=config.originate.blackhole)
    return KernelSync(installer, options)


def current_best_paths(rib: Rib) -> list[BestPathChange]:
    """The Loc-RIB as changes from nothing, for a kernel sync that starts late."""
    return [
        BestPathChange(e.family, e.prefix, (), e.paths[: e.selected], e.reason)
        for e in rib.routes()
    ]


def kernel_changed(kernel: KernelSync, changes: Sequence[BestPathChange]) -> KernelChanged:
    """The monitor event for change lists the kernel applied: each prefix's kernel state."""
    return KernelChanged([(c.family, c.prefix, kernel.status(c.family, c.prefix)) for c in changes])


async def feed_kernel(
    kernel: KernelSync,
    queue: EventQueue,
    applied: Callable[[Sequence[BestPathChange]], None] | None = None,
) -> None:
    """Apply queued change lists in order until a None arrives; INITIAL_SYNC sweeps stale
    routes. A failure is logged, never raised: the sessions must survive a kernel bug.
    ``applied`` is called with each change list once the kernel has it (``pybgp monitor``)."""
    while True:
        item = await queue.get()
        if item is None:
            return
        try:
            if item is INITIAL_SYNC:
                await kernel.initial_sync_done()
            else:
                await kernel.apply(item)  # type: ignore[arg-type]
                if applied is not None:
                    applied(item)  # type: ignore[arg-type]
        except Exception:
            log.exception("kernel sync failed")


class KernelFeed:
    """The kernel sync as a best-path subscriber: the RIB's change lists reach it in order
    through one queue, carried out by one task."""

    def __init__(
        self,
        kernel: KernelSync,
        loop: asyncio.AbstractEventLoop,
        applied: Callable[[Sequence[BestPathChange]], None],
    ) -> None:
        self.kernel = kernel
        self._queue: asyncio.Queue[object] = asyncio.Queue()
        self._task = loop.create_task(feed_kernel(kernel, self._queue, applied))

    def put(self, changes: Sequence[BestPathChange]) -> None:
        """Queue a change list for the kernel."""
        self._queue.put_nowait(changes)

    def startup_done(self, rib: Rib, *, deferred: bool) -> None:
        """The start-up wait ended: after a deferral the kernel gets the whole Loc-RIB at once
        (unchanged routes are adopted without a kernel operation); then the sweep."""
        if deferred:
            self._queue.put_nowait(current_best_paths(rib))
        self._queue.put_nowait(INITIAL_SYNC)

    async def stop(self, *, keep: bool) -> None:
        """Apply what is queued, then stop the kernel sync (``keep``: leave every route)."""
        self._queue.put_nowait(None)
        await self._task
        await self.kernel.stop(keep=keep)

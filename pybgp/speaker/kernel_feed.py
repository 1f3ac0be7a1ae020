"""The speaker's kernel seam: building the :class:`~pybgp.kernel.KernelSync` from the config and
feeding it best-path changes in order (the speaker owns the queue and the task that runs
:func:`feed_kernel`). Kept apart from the shell to keep each file short; no asyncio import.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Final

from pybgp.config import SpeakerConfig
from pybgp.kernel import KernelSync, KernelSyncOptions, RouteInstaller, installer_for
from pybgp.rib import BestPathChange, Rib
from pybgp.speaker.events import EventQueue, KernelChanged

__all__ = [
    "INITIAL_SYNC",
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

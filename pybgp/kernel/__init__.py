"""Route-table sync: pybgp's best paths into the kernel.

:class:`KernelSync` decides the kernel form of each best path (encapsulation mode, ECMP,
blackholes) and keeps the kernel in line; a :class:`RouteInstaller` carries the changes out:
:class:`NetlinkInstaller` (the real kernel, batched rtnetlink), :class:`MemoryInstaller`
(records, for tests and embedders) or :class:`NullInstaller` (installs nothing).
"""

from pybgp.kernel.base import (
    RT_TABLE_MAIN,
    RTPROT_BGP,
    InstallResult,
    InterfacesChanged,
    KernelError,
    KernelEvent,
    KernelRoute,
    MonitorOverrun,
    ReconcileResult,
    RouteEvent,
    RouteInstaller,
    RouteOp,
    prefix_key,
    prefix_text,
)
from pybgp.kernel.encap import ConnectedSubnets, Encapsulation, KernelForm, Unusable, decide
from pybgp.kernel.events import (
    DriftRepaired,
    ForeignConflict,
    InstallFailed,
    KernelCounters,
    KernelSyncOptions,
    NotInstalled,
    StaleRemoved,
    SyncEvent,
)
from pybgp.kernel.memory import MemoryInstaller
from pybgp.kernel.netlink import NetlinkInstaller
from pybgp.kernel.null import NullInstaller
from pybgp.kernel.sync import BestPathChangeLike, KernelSync, PathLike, installer_for

__all__ = [
    "RTPROT_BGP",
    "RT_TABLE_MAIN",
    "BestPathChangeLike",
    "ConnectedSubnets",
    "DriftRepaired",
    "Encapsulation",
    "ForeignConflict",
    "InstallFailed",
    "InstallResult",
    "InterfacesChanged",
    "KernelCounters",
    "KernelError",
    "KernelEvent",
    "KernelForm",
    "KernelRoute",
    "KernelSync",
    "KernelSyncOptions",
    "MemoryInstaller",
    "MonitorOverrun",
    "NetlinkInstaller",
    "NotInstalled",
    "NullInstaller",
    "PathLike",
    "ReconcileResult",
    "RouteEvent",
    "RouteInstaller",
    "RouteOp",
    "StaleRemoved",
    "SyncEvent",
    "Unusable",
    "decide",
    "installer_for",
    "prefix_key",
    "prefix_text",
]

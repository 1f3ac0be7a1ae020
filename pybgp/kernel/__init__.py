"""Route-table sync: pybgp's best paths into the kernel.

:class:`KernelPlan` (pure) decides the kernel form of each best path (encapsulation mode, ECMP,
blackholes) and the operations that bring the kernel in line; :class:`KernelSync` runs it; a
:class:`RouteInstaller` carries the changes out:
:class:`NetlinkInstaller` (the real kernel, batched rtnetlink), :class:`MemoryInstaller`
(records, for tests and embedders) or :class:`NullInstaller` (installs nothing).
"""

from pybgp.kernel.base import (
    RT_TABLE_MAIN,
    RTPROT_BGP,
    CodeAnswers,
    InstallerConveniences,
    InstallResult,
    InterfacesChanged,
    KernelError,
    KernelEvent,
    KernelRoute,
    MonitorOverrun,
    NotificationFilter,
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
from pybgp.kernel.plan import KernelPlan
from pybgp.kernel.sync import BestPathChangeLike, KernelSync, PathLike, installer_for

__all__ = [
    "RTPROT_BGP",
    "RT_TABLE_MAIN",
    "BestPathChangeLike",
    "CodeAnswers",
    "ConnectedSubnets",
    "DriftRepaired",
    "Encapsulation",
    "ForeignConflict",
    "InstallFailed",
    "InstallResult",
    "InstallerConveniences",
    "InterfacesChanged",
    "KernelCounters",
    "KernelError",
    "KernelEvent",
    "KernelForm",
    "KernelPlan",
    "KernelRoute",
    "KernelSync",
    "KernelSyncOptions",
    "MemoryInstaller",
    "MonitorOverrun",
    "NetlinkInstaller",
    "NotInstalled",
    "NotificationFilter",
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

"""``adapter = "none"``: accept every request and install nothing."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from pybgp.kernel.base import (
    EventCallback,
    InstallerConveniences,
    InstallResult,
    IPInterface,
    KernelRoute,
    RouteOp,
)


class NullInstaller(InstallerConveniences):
    """Answers every operation with success and holds nothing (a speaker that only
    reflects routes, or runs where it may not touch the kernel). Every next hop counts as
    directly connected, so nothing is refused for reachability."""

    async def open(self) -> None:
        """Nothing to open."""

    async def close(self) -> None:
        """Nothing to close."""

    def subscribe(self, callback: EventCallback) -> None:
        """No kernel, so no events."""

    async def execute(self, ops: Sequence[RouteOp]) -> tuple[InstallResult, ...]:
        """Every operation succeeds."""
        return tuple(InstallResult(op.route, op.action) for op in ops)

    async def dump(self, afi: int, *, protocol: int, table: int) -> tuple[KernelRoute, ...]:
        """Nothing is ever present."""
        return ()

    async def find(self, afi: int, prefix: bytes, *, table: int, metric: int) -> KernelRoute | None:
        """Nothing is ever present."""
        return None

    async def connected_networks(self) -> tuple[IPInterface, ...]:
        """Everything is connected (0.0.0.0/0 and ::/0)."""
        return (ipaddress.ip_interface("0.0.0.0/0"), ipaddress.ip_interface("::/0"))

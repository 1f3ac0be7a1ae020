"""Installers without a kernel: :class:`MemoryInstaller` (records) and helpers for tests."""

from __future__ import annotations

import errno
from collections.abc import Iterable, Sequence

from pybgp.kernel.base import (
    EventCallback,
    InstallerConveniences,
    InstallResult,
    InterfacesChanged,
    IPInterface,
    KernelEvent,
    KernelRoute,
    RouteEvent,
    RouteOp,
)

Key = tuple[int, int, bytes, int]


class MemoryInstaller(InstallerConveniences):
    """Keeps routes in a dictionary with the kernel's rules, for tests and embedders.

    Like the kernel: "add" fails with EEXIST when any route (any protocol) holds the key,
    "replace" overwrites, "remove" only matches the route's own protocol (ESRCH otherwise).
    ``devices`` lists the device names that exist (``None`` = every name exists);
    ``fail`` maps a prefix key to an errno that every add/replace of it returns, to simulate
    kernel refusals. ``operations`` counts the changes carried out (what "no-op" tests check).
    """

    def __init__(
        self,
        connected: Iterable[IPInterface] = (),
        *,
        devices: Iterable[str] | None = None,
    ) -> None:
        self.routes: dict[Key, KernelRoute] = {}
        self.connected: tuple[IPInterface, ...] = tuple(connected)
        self.devices: set[str] | None = None if devices is None else set(devices)
        self.fail: dict[bytes, int] = {}
        self.operations = 0
        self.is_open = False
        self._subscribers: list[EventCallback] = []

    async def open(self) -> None:
        """Nothing to open."""
        self.is_open = True

    async def close(self) -> None:
        """Nothing to close; routes stay."""
        self.is_open = False

    def subscribe(self, callback: EventCallback) -> None:
        """Deliver the simulated kernel changes to ``callback``."""
        self._subscribers.append(callback)

    def emit(self, event: KernelEvent) -> None:
        """Hand ``event`` to every subscriber."""
        for callback in self._subscribers:
            callback(event)

    # -- simulation of other actors --------------------------------------------------------

    def external_add(self, route: KernelRoute) -> None:
        """Someone else (``ip route replace``) writes ``route``; subscribers are told."""
        self.routes[route.key] = route
        self.emit(RouteEvent("new", route))

    def external_delete(self, route: KernelRoute) -> None:
        """Someone else deletes the route with ``route``'s key; subscribers are told."""
        gone = self.routes.pop(route.key, None)
        if gone is not None:
            self.emit(RouteEvent("del", gone))

    def set_connected(self, connected: Iterable[IPInterface]) -> None:
        """Change the host's addresses; subscribers are told."""
        self.connected = tuple(connected)
        self.emit(InterfacesChanged("address"))

    def add_device(self, name: str) -> None:
        """A device appears; subscribers are told."""
        if self.devices is not None:
            self.devices.add(name)
        self.emit(InterfacesChanged("link"))

    # -- the installer protocol ------------------------------------------------------------

    def _one(self, op: RouteOp) -> InstallResult:
        route = op.route
        if op.action == "remove":
            have = self.routes.get(route.key)
            if have is None or have.protocol != route.protocol:
                return InstallResult(route, op.action, errno.ESRCH, "No such process")
            del self.routes[route.key]
            self.operations += 1
            return InstallResult(route, op.action)
        code = self.fail.get(route.prefix, 0)
        if code:
            return InstallResult(route, op.action, code)
        if (
            route.device is not None
            and self.devices is not None
            and route.device not in self.devices
        ):
            return InstallResult(route, op.action, errno.ENODEV, f"device {route.device} not found")
        if op.action == "add" and route.key in self.routes:
            return InstallResult(route, op.action, errno.EEXIST, "File exists")
        self.routes[route.key] = route
        self.operations += 1
        return InstallResult(route, op.action)

    async def execute(self, ops: Sequence[RouteOp]) -> tuple[InstallResult, ...]:
        """Carry out ``ops`` in order."""
        return tuple(self._one(op) for op in ops)

    async def dump(self, afi: int, *, protocol: int, table: int) -> tuple[KernelRoute, ...]:
        """Routes of ``protocol`` (0 = any) in ``table``."""
        return tuple(
            route
            for route in self.routes.values()
            if route.afi == afi and route.table == table and protocol in (0, route.protocol)
        )

    async def find(self, afi: int, prefix: bytes, *, table: int, metric: int) -> KernelRoute | None:
        """The route with this key, any protocol."""
        return self.routes.get((afi, table, prefix, metric))

    async def connected_networks(self) -> tuple[IPInterface, ...]:
        """The addresses given to the constructor or :meth:`set_connected`."""
        return self.connected

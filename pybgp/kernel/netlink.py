"""The real kernel: :class:`NetlinkInstaller`.

Everything goes through pybgp's own rtnetlink codec, :mod:`pybgp.kernel.rtnl`: route changes
(hand-encoded messages in batches: pyroute2's per-message objects are far too slow for 100k
routes a second), route dumps, and the link and address dumps (few, and rare). Kernel
notifications (routes of both families, addresses, links) arrive on a multicast-subscribed
socket read from the event loop; they are turned into
:class:`~pybgp.kernel.base.KernelEvent` values for subscribers.
"""

from __future__ import annotations

import asyncio
import errno
import ipaddress
import logging
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

from pybgp.kernel import rtnl
from pybgp.kernel.base import (
    EventCallback,
    EventFilter,
    InstallerConveniences,
    InstallResult,
    InterfacesChanged,
    IPInterface,
    KernelError,
    KernelRoute,
    MonitorOverrun,
    RouteEvent,
    RouteOp,
)

log = logging.getLogger("pybgp.kernel")


class NetlinkInstaller(InstallerConveniences):
    """Installs routes in the kernel of this host, or of network namespace ``netns``.

    A :class:`~pybgp.kernel.base.RouteInstaller` with both optional parts:
    :class:`~pybgp.kernel.base.CodeAnswers` and :class:`~pybgp.kernel.base.NotificationFilter`.

    ``batch_size`` is the number of netlink messages per ``send()``; ``monitor=False`` skips
    the notification socket (no drift detection: for one-shot tools and benchmarks).
    """

    def __init__(
        self,
        netns: str | None = None,
        *,
        batch_size: int = rtnl.DEFAULT_BATCH,
        monitor: bool = True,
    ) -> None:
        self.netns = netns
        self._want_monitor = monitor
        self._batch_size = batch_size
        self._socket: rtnl.RtnlSocket | None = None
        """Route changes, sent from the sender thread."""
        self._query: rtnl.RtnlSocket | None = None
        """Dumps (routes, links, addresses), from the event loop: never the changes' socket,
        which the sender thread may be using at the same moment."""
        self._sender: ThreadPoolExecutor | None = None
        self._monitor: rtnl.MonitorSocket | None = None
        self._subscribers: list[EventCallback] = []
        self.event_filter: EventFilter | None = None
        """When set, route notifications whose (afi, prefix key) it rejects are dropped
        before being decoded (KernelSync uses it to skip prefixes it has no route for, and,
        when the kernel cannot filter them, the echoes of its own batches)."""
        self._index: dict[str, int] = {}
        self._names: dict[int, str] = {}
        self.filters_own_echoes = False
        """True once open() had the kernel drop the notifications caused by this installer's
        own route changes (a socket filter on the monitor): only others' changes arrive."""

    async def open(self) -> None:
        """Open the sockets, read the links and start listening for notifications."""
        if self._socket is not None:
            return
        self._socket = rtnl.RtnlSocket(self.netns, batch_size=self._batch_size)
        try:
            self._query = rtnl.RtnlSocket(self.netns, buffer_size=4 << 20)
        except KernelError:
            self._socket.close()
            self._socket = None
            raise
        self._sender = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pybgp-netlink")
        await self.refresh_links()
        if self._want_monitor:
            self._monitor = rtnl.MonitorSocket(self.netns)
            self.filters_own_echoes = self._monitor.ignore_sender(self._socket.portid)
            if not self.filters_own_echoes:
                log.debug("no socket filter on the monitor: own notifications are read too")
            asyncio.get_running_loop().add_reader(self._monitor.fileno(), self._on_readable)

    async def close(self) -> None:
        """Close everything; routes stay in the kernel."""
        if self._monitor is not None:
            asyncio.get_running_loop().remove_reader(self._monitor.fileno())
            self._monitor.close()
            self._monitor = None
        if self._sender is not None:
            self._sender.shutdown(wait=True)
            self._sender = None
        for sock in (self._socket, self._query):
            if sock is not None:
                sock.close()
        self._socket = self._query = None

    async def __aenter__(self) -> NetlinkInstaller:
        await self.open()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    def subscribe(self, callback: EventCallback) -> None:
        """Call ``callback`` with every route, address and link notification."""
        self._subscribers.append(callback)

    def set_event_filter(self, wanted: EventFilter | None) -> None:
        """Drop route notifications whose ``(afi, prefix key)`` ``wanted`` rejects."""
        self.event_filter = wanted

    # -- links and addresses --------------------------------------------------------------

    async def refresh_links(self) -> None:
        """Re-read interface names and indexes."""
        index = self._queries().links()
        self._index = index
        self._names = {number: name for name, number in index.items()}

    def index_of(self, device: str) -> int | None:
        """The ifindex of ``device`` as last read, or ``None``."""
        return self._index.get(device)

    async def connected_networks(self) -> tuple[IPInterface, ...]:
        """Every address on this host's interfaces with its prefix length."""
        return tuple(
            ipaddress.ip_interface((entry.prefix_address, entry.prefixlen))
            for entry in self._queries().addresses()
        )

    def _rtnl(self) -> rtnl.RtnlSocket:
        if self._socket is None:
            raise KernelError("NetlinkInstaller used before open()")
        return self._socket

    def _queries(self) -> rtnl.RtnlSocket:
        if self._query is None:
            raise KernelError("NetlinkInstaller used before open()")
        return self._query

    # -- routes (rtnl) --------------------------------------------------------------------

    async def execute(self, ops: Sequence[RouteOp]) -> tuple[InstallResult, ...]:
        """Carry out ``ops`` in order, in batches; one result per operation."""
        answers = await self.execute_codes(ops)
        return tuple(
            InstallResult(op.route, op.action, code, message)
            for op, (code, message) in zip(ops, answers, strict=True)
        )

    async def execute_codes(self, ops: Sequence[RouteOp]) -> list[tuple[int, str]]:
        """:meth:`execute` answering ``(errno, kernel message)`` per operation, in order, instead
        of :class:`InstallResult` objects (for callers that keep their own per-route state:
        100,000 result objects cost more than the kernel's work on them). Accepted operations
        answer the shared :data:`rtnl.OK`.

        Double-buffered: while the sender thread hands batch *k* to the kernel (which does its
        work inside ``send()``, without the GIL), this thread encodes batch *k + 1*; the event
        loop runs between batches."""
        sock = self._rtnl()
        loop = asyncio.get_running_loop()
        answers: list[tuple[int, str]] = [rtnl.OK] * len(ops)
        packed: dict[int, bytes] = {}
        sending: asyncio.Future[None] | None = None
        size = sock.batch_size
        for start in range(0, len(ops), size):
            batch = sock.encode(
                ops, start, min(start + size, len(ops)), self.index_of, answers, packed
            )
            if sending is not None:
                await sending
            sending = None
            if batch is not None:
                sending = loop.run_in_executor(self._sender, sock.transmit, batch, answers)
        if sending is not None:
            await sending
        if answers.count(rtnl.OK) != len(answers) and any(
            code == errno.ENODEV for code, _ in answers
        ):
            await self.refresh_links()  # a device may have appeared: one more try
            retry = [position for position, (code, _) in enumerate(answers) if code == errno.ENODEV]
            again = sock.execute([ops[position] for position in retry], self.index_of)
            for position, answer in zip(retry, again, strict=True):
                answers[position] = answer
        return answers

    async def dump(self, afi: int, *, protocol: int, table: int) -> tuple[KernelRoute, ...]:
        """The routes of ``protocol`` in ``table`` (filtered by the kernel)."""
        return tuple(self._queries().dump(afi, protocol, table, self._names))

    async def find(self, afi: int, prefix: bytes, *, table: int, metric: int) -> KernelRoute | None:
        """The route of any protocol with this key (one table dump: for rare conflicts)."""
        for route in self._queries().dump(afi, 0, table, self._names):
            if route.prefix == prefix and route.metric == metric:
                return route
        return None

    # -- notifications --------------------------------------------------------------------

    def _on_readable(self) -> None:
        monitor = self._monitor
        if monitor is None:
            return
        events: list[RouteEvent | InterfacesChanged | MonitorOverrun] = []
        links_changed = False
        wanted = self.event_filter
        try:
            for kind, data, offset, length in monitor.read():
                if kind in (rtnl.RTM_NEWROUTE, rtnl.RTM_DELROUTE):
                    if wanted is not None and not wanted(*rtnl.peek_key(data, offset, length)):
                        continue
                    route = rtnl.parse_route(data, offset, length, self._names)
                    if route is not None:
                        events.append(
                            RouteEvent("new" if kind == rtnl.RTM_NEWROUTE else "del", route)
                        )
                elif kind in (rtnl.RTM_NEWADDR, rtnl.RTM_DELADDR):
                    events.append(InterfacesChanged("address"))
                elif kind in (rtnl.RTM_NEWLINK, rtnl.RTM_DELLINK):
                    links_changed = True
        except OSError as exc:
            if exc.errno != errno.ENOBUFS:
                raise
            log.warning("kernel notifications were dropped (ENOBUFS): re-reading the table")
            events.append(MonitorOverrun())
        if links_changed:
            asyncio.get_running_loop().create_task(self._links_changed())
        self._deliver(events)

    async def _links_changed(self) -> None:
        try:
            await self.refresh_links()
        except Exception:  # the installer may be closing
            log.debug("link refresh failed", exc_info=True)
            return
        self._deliver([InterfacesChanged("link")])

    def _deliver(self, events: Sequence[RouteEvent | InterfacesChanged | MonitorOverrun]) -> None:
        for event in events:
            for callback in self._subscribers:
                try:
                    callback(event)
                except Exception:  # a subscriber's bug must not stop the monitor
                    log.exception("kernel event subscriber failed")

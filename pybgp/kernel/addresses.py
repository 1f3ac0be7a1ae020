"""Interface addresses of this host (its network namespace), through pybgp's rtnetlink codec.

Used to pick the NEXT_HOP of IPv6 routes sent over an IPv4 session: a global IPv6 address of
the interface that holds the session's local IPv4 address (BIRD does the same), so that the
receiving side gets a next hop it can install instead of an IPv4-mapped one.

:class:`InterfaceAddresses` keeps the table current without ever blocking the event loop: one
RTM_GETADDR dump when opened, then the kernel's address notifications, both read on one
non-blocking socket from the loop; a session coming up only looks the table up.
:func:`interface_addresses` is the one-shot blocking dump, for tools.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import socket
import struct
from collections.abc import Iterable

from pybgp.kernel import rtnl
from pybgp.kernel.base import IPAddress
from pybgp.kernel.rtnl import InterfaceAddress

log = logging.getLogger("pybgp.kernel")

RT_SCOPE_UNIVERSE = 0
IFA_F_DADFAILED = 0x08
IFA_F_DEPRECATED = 0x20
IFA_F_TENTATIVE = 0x40
READY_TIMEOUT = 2.0
"""Seconds :meth:`InterfaceAddresses.open` waits for the first dump (the kernel answers in
about a millisecond)."""
_ADDRESS_GROUPS = rtnl.RTMGRP_IPV4_IFADDR | rtnl.RTMGRP_IPV6_IFADDR
_HEADER = struct.Struct("=IHHII")  # nlmsghdr: len, type, flags, seq, pid


def choose_address(
    addresses: Iterable[InterfaceAddress], local: IPAddress, version: int
) -> IPAddress | None:
    """A usable global address of IP ``version`` on the interface holding ``local`` (None when
    ``local`` is on no interface or the interface has no such address)."""
    addresses = list(addresses)
    indexes = {entry.ifindex for entry in addresses if entry.address == local}
    # A tentative address (duplicate address detection still running) becomes usable within
    # a second or two: taken when there is nothing better, rather than no IPv6 next hop.
    candidates = sorted(
        (bool(entry.flags & IFA_F_TENTATIVE), int(entry.address), entry.address)
        for entry in addresses
        if entry.ifindex in indexes
        and entry.address.version == version
        and entry.scope == RT_SCOPE_UNIVERSE
        and not entry.flags & (IFA_F_DEPRECATED | IFA_F_DADFAILED)
        and not entry.address.is_link_local
        and not entry.address.is_loopback
    )
    return candidates[0][2] if candidates else None


def interface_addresses(netns: str | None = None) -> list[InterfaceAddress]:
    """Every address of every interface: one blocking RTM_GETADDR dump (a millisecond)."""
    sock = rtnl.RtnlSocket(netns, buffer_size=1 << 20)
    try:
        return sock.addresses()
    finally:
        sock.close()


def same_interface_address(local: IPAddress, version: int) -> IPAddress | None:
    """:func:`choose_address` over a fresh dump (blocking; None when netlink is unavailable)."""
    try:
        addresses = interface_addresses()
    except (OSError, AttributeError, ValueError, struct.error) as error:
        # An optional refinement, never fatal (AttributeError: no AF_NETLINK, not Linux).
        log.debug("cannot read interface addresses: %s", error)
        return None
    return choose_address(addresses, local, version)


class InterfaceAddresses:
    """This namespace's interface addresses, kept current from the event loop.

    :meth:`open` dumps them once and subscribes to their changes; :meth:`same_interface` is
    a lookup in memory. Where netlink cannot be used (not Linux, a restricted sandbox) the
    table stays empty and every lookup answers None.
    """

    def __init__(self) -> None:
        self._sock: socket.socket | None = None
        self._table: dict[tuple[int, IPAddress], InterfaceAddress] = {}
        self._dumping: dict[tuple[int, IPAddress], InterfaceAddress] | None = None
        self._seq = 0
        self._portid = 0
        self._ready: asyncio.Future[None] | None = None

    async def open(self) -> None:
        """Read every address and start following the changes (never raises)."""
        if self._sock is not None:
            return
        loop = asyncio.get_running_loop()
        try:
            sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, rtnl.NETLINK_ROUTE)
            sock.bind((0, _ADDRESS_GROUPS))
            sock.setblocking(False)
        except (OSError, AttributeError) as error:  # AttributeError: no AF_NETLINK
            log.debug("cannot follow interface addresses: %s", error)
            return
        self._sock = sock
        self._portid = int(sock.getsockname()[0])
        self._ready = loop.create_future()
        loop.add_reader(sock.fileno(), self._on_readable)
        self._request_dump()
        try:
            await asyncio.wait_for(asyncio.shield(self._ready), READY_TIMEOUT)
        except TimeoutError:
            log.warning("no answer to the interface address dump within %gs", READY_TIMEOUT)

    def close(self) -> None:
        """Stop following the changes."""
        sock, self._sock = self._sock, None
        if sock is not None:
            asyncio.get_running_loop().remove_reader(sock.fileno())
            sock.close()
        if self._ready is not None and not self._ready.done():
            self._ready.cancel()

    def addresses(self) -> list[InterfaceAddress]:
        """Every address as last known."""
        return list(self._table.values())

    def same_interface(self, local: IPAddress, version: int) -> IPAddress | None:
        """:func:`choose_address` over the addresses as last known (no I/O)."""
        return choose_address(self._table.values(), local, version)

    def _request_dump(self) -> None:
        assert self._sock is not None
        self._seq += 1
        self._dumping = {}
        try:
            self._sock.send(rtnl.dump_request(rtnl.RTM_GETADDR, self._seq))
        except OSError as error:
            log.warning("cannot dump the interface addresses: %s", error)
            self._dumping = None

    def _on_readable(self) -> None:
        sock = self._sock
        if sock is None:
            return
        while True:
            try:
                data = sock.recv(1 << 16)
            except BlockingIOError:
                return
            except OSError as error:
                if error.errno == errno.ENOBUFS:  # changes were lost: read everything again
                    self._request_dump()
                    continue
                log.warning("interface address notifications failed: %s", error)
                return
            self._take(data)

    def _take(self, data: bytes) -> None:
        """Apply dump answers and notifications in the order the kernel queued them: a dump
        fills a new table (notifications go to both), which replaces the old one when done."""
        offset = 0
        while offset + 16 <= len(data):
            length, kind, _flags, seq, pid = _HEADER.unpack_from(data, offset)
            if length < 16:
                break
            answer = pid == self._portid and seq == self._seq  # else a notification
            if kind in (rtnl.RTM_NEWADDR, rtnl.RTM_DELADDR):
                entry = rtnl.parse_address(data, offset, length)
                if entry is not None:
                    key = (entry.ifindex, entry.address)
                    tables = [self._dumping] if answer else [self._table, self._dumping]
                    for table in tables:
                        if table is None:
                            continue
                        if kind == rtnl.RTM_NEWADDR:
                            table[key] = entry
                        else:
                            table.pop(key, None)
            elif kind in (rtnl.NLMSG_DONE, rtnl.NLMSG_ERROR) and answer:
                if self._dumping is not None:
                    self._table = self._dumping
                self._dumping = None
                if self._ready is not None and not self._ready.done():
                    self._ready.set_result(None)
            offset += (length + 3) & ~3


__all__ = [
    "InterfaceAddresses",
    "choose_address",
    "interface_addresses",
    "same_interface_address",
]

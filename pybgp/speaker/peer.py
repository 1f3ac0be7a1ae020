"""The speaker's per-peer records: a peer, its session drivers, and connection helpers.

A :class:`Peer` holds a neighbour's config, its RIB description, its
:class:`~pybgp.neighbor.Neighbor` (which decides) and the I/O of each of the neighbour's
sessions: one :class:`Driver` per session (its connection and connect task), and one
``loop.call_at`` timer per peer, armed at :meth:`~pybgp.neighbor.Neighbor.next_deadline`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from ipaddress import IPv4Address, IPv6Address, ip_address
from typing import Final

import attrs

from pybgp.config import PeerConfig
from pybgp.fsm import State
from pybgp.logs import PeerAdapter
from pybgp.neighbor import Neighbor
from pybgp.rib import PeerInfo
from pybgp.session import Session, SessionConfig
from pybgp.speaker import tcp

Connection = tcp.BgpConnection["Driver"]
"""A BGP connection whose context is the session driver it feeds."""

WRITE_BATCH: Final = 64 * 1024
"""Consecutive UPDATEs to one peer are joined into writes of up to this many octets."""


@attrs.define(eq=False)
class Driver:
    """The I/O of one session: its connection and its connect task."""

    peer: Peer
    session: Session
    conn: Connection | None = None
    connect_task: asyncio.Task[None] | None = None
    connect_started: float = 0.0

    def cancel(self) -> None:
        """Abandon a connection attempt in progress."""
        if self.connect_task is not None:
            self.connect_task.cancel()
            self.connect_task = None

    def send_updates(self, messages: Sequence[bytes], now: float) -> None:
        """Write UPDATEs of the RIB's output (held in the backlog while writing is paused).

        On a route reflector this runs once per client per change, so the usual case (one
        message, nothing held back) takes the shortest path."""
        conn = self.conn
        session = self.session
        if conn is None or session.state is not State.ESTABLISHED:
            return
        if conn.paused or conn.backlog:
            conn.backlog.extend(messages)
            return
        count = len(messages)
        if count == 1:
            session.updates_written(1, now)
            conn.write(messages[0])
            return
        # Consecutive messages go out in one write of up to WRITE_BATCH octets (one send()
        # per peer for a typical change, not one per UPDATE); flow control is checked between
        # writes.
        index = 0
        while index < count:
            if conn.paused:
                conn.backlog.extend(messages[index:])
                break
            end, size = index + 1, len(messages[index])
            while end < count and size + len(messages[end]) <= WRITE_BATCH:
                size += len(messages[end])
                end += 1
            session.updates_written(end - index, now)
            conn.write(messages[index] if end == index + 1 else b"".join(messages[index:end]))
            index = end

    def drain(self, now: float) -> None:
        """Writing moves again: send what waited in the backlog, while it keeps moving."""
        conn = self.conn
        if conn is None:
            return
        while conn.backlog and not conn.paused and self.conn is conn:
            message = conn.backlog.popleft()
            self.session.send_update(message, now)
            conn.write(message)


@attrs.define(eq=False)
class Peer:
    """A neighbour: its config, its RIB description, its Neighbor and session drivers."""

    config: PeerConfig
    session_config: SessionConfig
    info: PeerInfo
    log: PeerAdapter
    neighbor: Neighbor
    drivers: dict[int, Driver] = attrs.field(factory=dict)
    """id(session) -> its driver, for the neighbour's current sessions."""
    timer: asyncio.TimerHandle | None = None
    timer_at: float | None = None
    since: float = attrs.field(factory=time.time)
    """Wall-clock time of the last state change (``pybgp status``)."""

    @property
    def peer_id(self) -> str:
        return self.info.peer_id

    @property
    def dynamic(self) -> bool:
        return self.neighbor.settings.dynamic

    @property
    def removed(self) -> bool:
        return self.neighbor.removed

    def driver(self, session: Session) -> Driver:
        """The driver of ``session`` (made on first use)."""
        driver = self.drivers.get(id(session))
        if driver is None:
            driver = self.drivers[id(session)] = Driver(self, session)
        return driver

    def discard(self, session: Session) -> None:
        """``session`` left the neighbour: drop its driver (cancelling a connect)."""
        driver = self.drivers.pop(id(session), None)
        if driver is not None:
            driver.cancel()

    def cancel(self) -> None:
        """Stop the timer and every connection attempt."""
        if self.timer is not None:
            self.timer.cancel()
        self.timer = None
        self.timer_at = None
        for driver in self.drivers.values():
            driver.cancel()


def clean_address(text: str) -> IPv4Address | IPv6Address:
    """The address of a peername: scope ids dropped, IPv4-mapped IPv6 turned into IPv4."""
    address = ip_address(text.split("%", 1)[0])
    if isinstance(address, IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address

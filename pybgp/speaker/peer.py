"""The speaker's per-peer records: a peer, its session drivers, and connection helpers.

A :class:`Peer` holds a neighbour's config, its RIB description and up to two session drivers
(the main one and, during a connection collision, a candidate: RFC 4271 §6.8). A
:class:`Driver` is one session with its connection, timer and connect task.
"""

from __future__ import annotations

import asyncio
import time
from ipaddress import IPv4Address, IPv6Address, ip_address
from typing import Final

import attrs

from pybgp.config import PeerConfig
from pybgp.fsm import State
from pybgp.graceful_restart import PeerRestart
from pybgp.logs import PeerAdapter
from pybgp.rib import PeerInfo
from pybgp.session import Session, SessionConfig
from pybgp.speaker import tcp

CONNECTED: Final = (State.OPEN_SENT, State.OPEN_CONFIRM, State.ESTABLISHED)
"""States with a TCP connection."""
UNCONNECTED: Final = (State.CONNECT, State.ACTIVE)
"""States waiting for a TCP connection."""


Connection = tcp.BgpConnection["Driver"]
"""A BGP connection whose context is the session driver it feeds."""


@attrs.define(eq=False)
class Driver:
    """One session, its connection, its timer and its connect task."""

    peer: Peer
    session: Session
    conn: Connection | None = None
    timer: asyncio.TimerHandle | None = None
    timer_at: float | None = None
    connect_task: asyncio.Task[None] | None = None
    connect_started: float = 0.0

    def cancel(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
        self.timer = None
        self.timer_at = None
        if self.connect_task is not None:
            self.connect_task.cancel()
            self.connect_task = None


@attrs.define(eq=False)
class Peer:
    """A neighbour: its config, its RIB description, its main and candidate sessions."""

    config: PeerConfig
    session_config: SessionConfig
    info: PeerInfo
    log: PeerAdapter
    main: Driver = attrs.field(init=False)
    candidate: Driver | None = None
    since: float = attrs.field(factory=time.time)
    dynamic: bool = False
    removed: bool = False
    end_of_rib_pending: frozenset[tuple[int, int]] | None = None
    """Families whose End-of-RIB the peer has not sent yet (None: never up)."""
    restart: PeerRestart = attrs.field(factory=PeerRestart)
    """The peer's graceful restart state (RFC 4724 §4.2, helper role)."""

    @property
    def peer_id(self) -> str:
        return self.info.peer_id


def clean_address(text: str) -> IPv4Address | IPv6Address:
    """The address of a peername: scope ids dropped, IPv4-mapped IPv6 turned into IPv4."""
    address = ip_address(text.split("%", 1)[0])
    if isinstance(address, IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address

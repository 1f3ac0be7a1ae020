"""How the speaker gets its TCP connections: listening, accepting, connecting, callbacks.

A mixin of :class:`pybgp.speaker.Speaker`, kept apart so that the speaker module holds the
peer lifecycle and the carrying out of actions, and this one the sockets: strangers refused
(no OPEN sent; one log line per address and minute, :class:`~pybgp.neighbor.RefusalLog`),
dynamic peers made from a range, every other connection offered to its
:class:`~pybgp.neighbor.Neighbor`, which decides (collisions, back-off); TTL and GTSM
(RFC 5082), and connect attempts that give up with a reason (a wrong TCP MD5 key drops SYNs
silently).
"""

from __future__ import annotations

import asyncio
import logging
import socket
from typing import Final

from pybgp.config import PeerConfig, SpeakerConfig
from pybgp.neighbor import RefusalLog, RefuseConnection, Step
from pybgp.session import Session
from pybgp.speaker import tcp
from pybgp.speaker.peer import Connection, Driver, Peer, clean_address
from pybgp.wire.notification import encode_notification

log = logging.getLogger("pybgp.speaker")

WRITE_HIGH_WATER: Final = 256 * 1024
"""Per-connection transport buffer above which UPDATE production for the peer pauses."""

STOP_TIMEOUT: Final = 3.0
"""Seconds :meth:`Speaker.stop` waits for NOTIFICATIONs to drain before aborting transports."""


class ConnectionHandling:
    """The connection side of the speaker (see the module docstring)."""

    # Provided by Speaker:
    config: SpeakerConfig
    _peers: dict[str, Peer]
    _loop: asyncio.AbstractEventLoop
    _running: bool
    _connections: set[Connection]
    _tasks: set[asyncio.Task[None]]

    _refusals: RefusalLog

    def _add_peer(self, config: PeerConfig, *, dynamic: bool) -> Peer:
        raise NotImplementedError

    def _run(self, peer: Peer, steps: list[Step]) -> None:
        raise NotImplementedError

    # ---------------------------------------------------------------- listening / accepting

    def _accepted(self, conn: Connection) -> None:
        """An incoming connection: its neighbour decides; strangers are refused."""
        now = self._loop.time()
        try:
            address = clean_address(conn.remote)
        except ValueError:
            conn.close()
            return
        peer = self._peers.get(str(address))
        if peer is None and self._running:
            template = self.config.peer_for(address)
            if template is not None and template.from_range is not None:
                peer = self._add_peer(template, dynamic=True)
        if peer is None or not self._running:
            self._refused(
                conn,
                str(address),
                RefuseConnection(
                    f"connection from {address} refused: no configured peer or dynamic range "
                    "matches",
                    warning=True,
                ),
            )
            return
        session, steps = peer.neighbor.connection_offered(now, outgoing=False)
        self._offered(peer, conn, session, steps, outgoing=False)

    def _offered(
        self,
        peer: Peer,
        conn: Connection,
        session: Session | None,
        steps: list[Step],
        *,
        outgoing: bool,
    ) -> None:
        """Attach ``conn`` to the session the neighbour chose, then carry out its steps."""
        if session is not None:
            driver = peer.driver(session)
            conn.context = driver
            driver.conn = conn
            self._socket_options(peer, conn)
        for _session, action in steps:
            if isinstance(action, RefuseConnection):
                if outgoing:
                    peer.log.debug("%s", action.reason)
                    conn.close()
                else:
                    self._refused(conn, peer.peer_id, action, peer)
        self._run(peer, [s for s in steps if not isinstance(s[1], RefuseConnection)])

    def _refused(
        self,
        conn: Connection,
        address: str,
        refusal: RefuseConnection,
        peer: Peer | None = None,
    ) -> None:
        """Close a refused connection (NOTIFICATION first when there is one); the log line is
        rate-limited per source address."""
        if refusal.notification is not None:
            conn.write(encode_notification(refusal.notification))
        conn.close()
        logged, suppressed = self._refusals.refused(address, self._loop.time())
        if not logged:
            return
        more = f" ({suppressed} more refused since the last line)" if suppressed else ""
        level = logging.WARNING if refusal.warning else logging.INFO
        (peer.log if peer is not None else log).log(level, "%s%s", refusal.reason, more)

    def _socket_options(self, peer: Peer, conn: Connection) -> None:
        if conn.transport is None:
            return
        sock = conn.transport.get_extra_info("socket")
        if sock is None:
            return
        ttl, hops = self._ttl(peer)
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if hops is not None:
                tcp.set_ttl_security(sock, hops)
            elif ttl is not None:
                tcp.set_ttl(sock, ttl)
        except OSError as exc:
            peer.log.warning("cannot set TTL options: %s", exc)

    def _ttl(self, peer: Peer) -> tuple[int | None, int | None]:
        """(TTL, GTSM hops): RFC 5082 GTSM when ``ttl_security`` (hops = ``multihop`` or 1),
        else the ``multihop`` TTL, by default 1 for eBGP and 255 for iBGP."""
        config = peer.config
        if config.ttl_security:
            return None, config.multihop or 1
        if config.multihop is not None:
            return config.multihop, None
        return (255 if config.asn == self.config.speaker.asn else 1), None

    # ---------------------------------------------------------------- connecting

    def _start_connect(self, driver: Driver) -> None:
        peer = driver.peer
        if driver.connect_task is not None and not driver.connect_task.done():
            driver.connect_task.cancel()
            waited = self._loop.time() - driver.connect_started
            reason = (
                f"connect to {peer.peer_id} port {peer.config.port} timed out after {waited:.0f} s"
            )
            if peer.config.password:
                reason += "; TCP MD5 configured: check the password"
            driver.session.record_reason(reason)
            peer.log.info("%s", reason)
        driver.connect_started = self._loop.time()
        task = self._loop.create_task(self._connect(driver))
        driver.connect_task = task
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _connect(self, driver: Driver) -> None:
        config = driver.peer.config
        # Give up on an attempt a little before the ConnectRetryTimer would (0.75 x with jitter),
        # so that a hanging connect (SYNs dropped: wrong TCP MD5 key, filtered port) shows as a
        # failure with its reason rather than as a silent retry.
        limit = max(0.2, 0.7 * driver.peer.session_config.timers.connect_retry_time)
        where = f"connect to {config.address} port {config.port}"
        ttl, hops = self._ttl(driver.peer)
        try:
            conn = await tcp.open_connection(
                lambda: Connection(self, outgoing=True, high_water=WRITE_HIGH_WATER),
                config.address,
                config.port,
                local_address=config.local_address,
                password=config.password,
                ttl=ttl,
                ttl_security_hops=hops,
                timeout=limit,
            )
        except TimeoutError:
            self._connect_failed(driver, f"{where} timed out after {limit:.1f} s")
            return
        except OSError as exc:
            self._connect_failed(driver, f"{where} failed: {exc.strerror or exc}")
            return
        if driver.connect_task is asyncio.current_task():
            driver.connect_task = None
        self._outgoing_connected(driver, conn)

    def _connect_failed(self, driver: Driver, reason: str) -> None:
        if driver.connect_task is asyncio.current_task():
            driver.connect_task = None
        peer = driver.peer
        if peer.removed or not self._running:
            return
        if peer.config.password and "timed out" in reason:
            reason += "; TCP MD5 configured: check the password"
        now = self._loop.time()
        self._run(peer, peer.neighbor.connect_failed(driver.session, now, reason))

    def _outgoing_connected(self, driver: Driver, conn: Connection) -> None:
        self._connections.add(conn)
        peer = driver.peer
        if peer.removed or not self._running:
            conn.close()
            return
        session, steps = peer.neighbor.connection_offered(self._loop.time(), outgoing=True)
        self._offered(peer, conn, session, steps, outgoing=True)

    # ---------------------------------------------------------------- connection callbacks

    def connection_accepted(self, conn: Connection) -> None:
        """tcp.ConnectionOwner: an incoming connection."""
        self._connections.add(conn)
        self._accepted(conn)

    def connection_data(self, conn: Connection, data: bytes) -> None:
        """tcp.ConnectionOwner: bytes for the connection's session."""
        driver = conn.context
        if driver is not None:
            peer = driver.peer
            self._run(peer, peer.neighbor.receive_data(driver.session, data, self._loop.time()))

    def connection_closed(self, conn: Connection, exc: Exception | None) -> None:
        """tcp.ConnectionOwner: the connection is gone."""
        self._connections.discard(conn)
        driver, conn.context = conn.context, None
        if driver is not None and driver.conn is conn:
            driver.conn = None
            reason = f"connection lost: {exc}" if exc else "connection closed by the peer"
            peer = driver.peer
            now = self._loop.time()
            self._run(peer, peer.neighbor.connection_lost(driver.session, now, reason))

    def connection_paused(self, conn: Connection) -> None:
        """tcp.ConnectionOwner: writes are not keeping up (RFC 9687 send hold timer starts)."""
        driver = conn.context
        if driver is not None:
            peer = driver.peer
            self._run(peer, peer.neighbor.send_stalled(driver.session, self._loop.time()))

    def connection_resumed(self, conn: Connection) -> None:
        """tcp.ConnectionOwner: writes move again; send what waited."""
        driver = conn.context
        if driver is not None:
            peer = driver.peer
            self._run(peer, peer.neighbor.send_drained(driver.session, self._loop.time()))
            driver.drain(self._loop.time())

    async def _wait_connections(self) -> None:
        """Wait for every connection to close (NOTIFICATIONs drained); abort the laggards."""
        pending = [conn.closed for conn in self._connections if not conn.closed.done()]
        if pending:
            _done, still = await asyncio.wait(pending, timeout=STOP_TIMEOUT)
            if still:
                for conn in list(self._connections):
                    conn.close(abort=True)
                await asyncio.wait(
                    [conn.closed for conn in self._connections], timeout=STOP_TIMEOUT
                )

"""How the speaker gets its TCP connections: listening, accepting, connecting, callbacks.

A mixin of :class:`pybgp.speaker.Speaker`, kept apart so that the speaker module holds the
peer lifecycle and session actions, and this one what happens on the wire before a session
owns a connection: strangers refused (no OPEN sent), dynamic peers from a range, connection
collisions (RFC 4271 §6.8), TTL and GTSM (RFC 5082), and connect attempts that give up with a
reason (a wrong TCP MD5 key drops SYNs silently).
"""

from __future__ import annotations

import asyncio
import logging
import socket
from typing import Final

from pybgp.config import PeerConfig, SpeakerConfig
from pybgp.fsm import Action, State, Timer
from pybgp.speaker import tcp
from pybgp.speaker.peer import CONNECTED, UNCONNECTED, Connection, Driver, Peer, clean_address
from pybgp.wire.constants import CeaseSubcode, ErrorCode
from pybgp.wire.notification import Notification, encode_notification

log = logging.getLogger("pybgp.speaker")

WRITE_HIGH_WATER: Final = 256 * 1024
"""Per-connection transport buffer above which UPDATE production for the peer pauses."""


class ConnectionHandling:
    """The connection side of the speaker (see the module docstring)."""

    # Provided by Speaker:
    config: SpeakerConfig
    _peers: dict[str, Peer]
    _loop: asyncio.AbstractEventLoop
    _running: bool
    _connections: set[Connection]
    _tasks: set[asyncio.Task[None]]

    def _add_peer(self, config: PeerConfig, *, dynamic: bool) -> Peer:
        raise NotImplementedError

    def _new_driver(self, peer: Peer, *, auto_restart: bool) -> Driver:
        raise NotImplementedError

    def _run(self, driver: Driver, actions: list[Action]) -> None:
        raise NotImplementedError

    def _drain(self, driver: Driver) -> None:
        raise NotImplementedError

    def _restart_negotiated(self, driver: Driver) -> bool:
        raise NotImplementedError

    # ---------------------------------------------------------------- listening / accepting

    def _accepted(self, conn: Connection) -> None:
        """An incoming connection: hand it to its peer's session, or refuse it."""
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
                self._run(peer.main, peer.main.session.start(now, passive=True))
        if peer is None or not self._running:
            log.warning(
                "connection from %s refused: no configured peer or dynamic range matches",
                address,
            )
            conn.close()
            return
        main = peer.main
        idle_hold = main.session.fsm.deadline(Timer.IDLE_HOLD)
        if main.session.state is State.IDLE and idle_hold is not None:
            # In the error wait (DampPeerOscillations) yet the peer calls: accept, or two
            # speakers in error wait would keep refusing each other.
            self._run(main, main.session.start(now, passive=True, automatic=True))
        state = main.session.state
        if state in UNCONNECTED and main.conn is None:
            self._attach(main, conn, outgoing=False, now=now)
        elif peer.candidate is None and (
            state in (State.OPEN_SENT, State.OPEN_CONFIRM)
            or (state is State.ESTABLISHED and self._restart_negotiated(main))
        ):
            # RFC 4271 §6.8: keep both until an OPEN tells us the peer's BGP identifier.
            # Established with graceful restart: the peer may have restarted without our
            # noticing (RFC 4724 §4.2): its OPEN decides (see Speaker._after_state_change).
            candidate = self._new_driver(peer, auto_restart=False)
            peer.candidate = candidate
            self._run(candidate, candidate.session.start(now, passive=True))
            self._attach(candidate, conn, outgoing=False, now=now)
        else:
            # Established (RFC 4271 §6.8: close the new connection) or stopped / waiting.
            subcode = (
                CeaseSubcode.CONNECTION_COLLISION_RESOLUTION
                if state is State.ESTABLISHED or state in CONNECTED
                else CeaseSubcode.CONNECTION_REJECTED
            )
            peer.log.info("incoming connection refused: session is %s", state)
            conn.write(encode_notification(Notification(ErrorCode.CEASE, subcode)))
            conn.close()

    def _attach(self, driver: Driver, conn: Connection, *, outgoing: bool, now: float) -> None:
        conn.context = driver
        driver.conn = conn
        self._socket_options(driver.peer, conn)
        self._run(driver, driver.session.connection_made(now, outgoing=outgoing))

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
            driver.session.fsm.last_reason = reason
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
        if driver.session.state is State.CONNECT:
            if peer.config.password and "timed out" in reason:
                reason += "; TCP MD5 configured: check the password"
            self._run(driver, driver.session.connect_failed(self._loop.time(), reason))
        else:
            peer.log.debug("%s (ignored: session is %s)", reason, driver.session.state)

    def _outgoing_connected(self, driver: Driver, conn: Connection) -> None:
        self._connections.add(conn)
        peer = driver.peer
        now = self._loop.time()
        if peer.removed or not self._running:
            conn.close()
            return
        main = peer.main
        if main.session.state in UNCONNECTED and main.conn is None:
            self._attach(main, conn, outgoing=True, now=now)
        elif main.session.state in (State.OPEN_SENT, State.OPEN_CONFIRM) and peer.candidate is None:
            candidate = self._new_driver(peer, auto_restart=False)
            peer.candidate = candidate
            self._run(candidate, candidate.session.start(now, passive=True))
            self._attach(candidate, conn, outgoing=True, now=now)
        else:
            conn.close()

    # ---------------------------------------------------------------- connection callbacks

    def connection_accepted(self, conn: Connection) -> None:
        """tcp.ConnectionOwner: an incoming connection."""
        self._connections.add(conn)
        self._accepted(conn)

    def connection_data(self, conn: Connection, data: bytes) -> None:
        """tcp.ConnectionOwner: bytes for the connection's session."""
        driver = conn.context
        if driver is not None:
            self._run(driver, driver.session.receive_data(data, self._loop.time()))

    def connection_closed(self, conn: Connection, exc: Exception | None) -> None:
        """tcp.ConnectionOwner: the connection is gone."""
        self._connections.discard(conn)
        driver, conn.context = conn.context, None
        if driver is not None and driver.conn is conn:
            driver.conn = None
            reason = f"connection lost: {exc}" if exc else "connection closed by the peer"
            self._run(driver, driver.session.connection_lost(self._loop.time(), reason))

    def connection_paused(self, conn: Connection) -> None:
        """tcp.ConnectionOwner: writes are not keeping up (RFC 9687 send hold timer starts)."""
        driver = conn.context
        if driver is not None:
            self._run(driver, driver.session.send_stalled(self._loop.time()))

    def connection_resumed(self, conn: Connection) -> None:
        """tcp.ConnectionOwner: writes move again; send what waited."""
        driver = conn.context
        if driver is not None:
            self._run(driver, driver.session.send_drained(self._loop.time()))
            self._drain(driver)

"""The asyncio shell: sockets, one ``loop.call_at`` timer per session, the RIB, event streams.

Theory of operation
-------------------
Everything that decides is elsewhere: :class:`~pybgp.session.Session` (FSM + codec, no I/O)
and :class:`~pybgp.rib.Rib` (no I/O). This module only moves bytes and time between them:

* one :class:`~pybgp.speaker.tcp.BgpConnection` (an ``asyncio.Protocol``) per TCP connection reports
  to the speaker (``connection_*`` callbacks), which feeds received bytes to the connection's
  session and carries out the returned actions (write, close, hand UPDATEs to the RIB...);
* one :class:`Driver` per session holds its single ``loop.call_at`` handle, re-armed to
  ``session.next_deadline()`` after every input (the aioquic pattern);
* one :class:`Peer` per configured (or dynamic) neighbour holds its main driver and, during a
  connection collision, a second *candidate* driver; when either reaches OpenConfirm the
  RFC 4271 §6.8 rule (:func:`~pybgp.session.collision_loser`) closes one with Cease/7.

Connections from addresses that match no configured peer and no ``dynamic_peers`` range are
closed at once (no OPEN sent) and logged with the address. A dynamic peer gets a passive
session built from its range's template and is forgotten when that session ends.

Back-pressure: each transport has a write high-water mark. Above it asyncio calls
``pause_writing``: RIB output for that peer then waits in a per-connection backlog (the loop is
never blocked) and the session's RFC 9687 send hold timer starts; ``resume_writing`` drains the
backlog and stops the timer. KEEPALIVEs and NOTIFICATIONs are always written.

A clean :meth:`Speaker.stop` sends every peer Cease/Administrative Shutdown with an RFC 9003
message, closes listeners and connections, waits for them, and cancels every task and timer.

Subscribers get typed events (:class:`PeerStateChanged`, :class:`UpdateReceived`,
:class:`BestPathChanged`, defined in :mod:`pybgp.speaker.events` with the other pure values).
:meth:`Speaker.subscribe` takes a snapshot and registers the queue in the same synchronous step,
so no event falls between the two.

Outgoing connection attempts give up after 0.7 x ConnectRetryTime, so that a connect that hangs
(SYNs dropped: a wrong TCP MD5 key, a filtered port) shows as Connect -> Active with the reason
("... timed out; TCP MD5 configured: check the password") instead of a silent retry. An incoming
connection while the peer waits out its error back-off (Idle with the IdleHoldTimer running) is
accepted, so that two speakers in back-off do not keep refusing each other.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_network
from types import TracebackType
from typing import Any, Final

import attrs

from pybgp.config import PeerConfig, SpeakerConfig
from pybgp.fsm import (
    Action,
    CloseTcp,
    ConnectTcp,
    DeliverRouteRefresh,
    DeliverUpdate,
    NegotiatedSession,
    Note,
    SendBytes,
    SessionDown,
    SessionUp,
    State,
    StateChange,
)
from pybgp.kernel import KernelSync, RouteInstaller
from pybgp.kernel.addresses import same_interface_address
from pybgp.logs import peer_logger
from pybgp.rib import PeerInfo, Policy, Rib, RibOptions, RibOutput
from pybgp.session import Session, collision_loser
from pybgp.speaker import tcp
from pybgp.speaker.connections import WRITE_HIGH_WATER, ConnectionHandling
from pybgp.speaker.events import (
    BestPathChanged,
    EventStream,
    PeerStateChanged,
    PeerStatus,
    Snapshot,
    SpeakerEvent,
    UpdateReceived,
    peer_info,
    peer_policies,
    peer_status,
    session_config,
    status_dict,
)
from pybgp.speaker.kernel_feed import (
    INITIAL_SYNC,
    current_best_paths,
    feed_kernel,
    make_kernel_sync,
)
from pybgp.speaker.peer import CONNECTED, Connection, Driver, Peer, clean_address
from pybgp.speaker.reload import apply_config
from pybgp.wire.constants import IPV6_UNICAST, CeaseSubcode, ErrorCode
from pybgp.wire.nlri import prefix_from_network
from pybgp.wire.notification import Notification

__all__ = [
    "BestPathChanged",
    "EventStream",
    "PeerStateChanged",
    "PeerStatus",
    "Snapshot",
    "Speaker",
    "SpeakerEvent",
    "UpdateReceived",
]

log = logging.getLogger("pybgp.speaker")

STOP_TIMEOUT: Final = 3.0
"""Seconds :meth:`Speaker.stop` waits for NOTIFICATIONs to drain before aborting transports."""


# --------------------------------------------------------------------------------------------
# The speaker


class Speaker(ConnectionHandling):
    """A BGP speaker: ``async with Speaker(config) as speaker: ...``.

    ``rib`` may be given to share or pre-fill a routing table; by default one is built from
    ``config.speaker``. ``installer`` overrides the ``[kernel] adapter`` (a MemoryInstaller in
    tests and embedding); the kernel sync then follows every best-path change.
    """

    def __init__(
        self,
        config: SpeakerConfig,
        *,
        rib: Rib | None = None,
        installer: RouteInstaller | None = None,
    ) -> None:
        section = config.speaker
        self.config = config
        self.rib: Rib = (
            rib
            if rib is not None
            else Rib(
                section.asn,
                section.router_id,
                section.cluster_id,
                RibOptions(
                    multipath=section.multipath,
                    always_compare_med=section.always_compare_med,
                    default_local_pref=section.default_local_pref,
                ),
            )
        )
        """The routing table: the speaker calls add_peer/peer_up/peer_down/apply_update/
        route_refresh/originate on it and sends the messages of every RibOutput."""
        self._peers: dict[str, Peer] = {}
        self._listener = tcp.Listener()
        self._subscribers: set[EventStream] = set()
        self._connections: set[Connection] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._running = False
        self._stopping = False
        self._loop: asyncio.AbstractEventLoop = None  # type: ignore[assignment]
        self._installer = installer
        self.kernel: KernelSync | None = None
        """The kernel route sync (a best-path subscriber), None with ``adapter = "none"`` and
        no ``installer``."""
        self._kernel_queue: asyncio.Queue[object] | None = None
        self._kernel_task: asyncio.Task[None] | None = None
        self._sweep: asyncio.TimerHandle | None = None

    # ---------------------------------------------------------------- lifecycle

    async def __aenter__(self) -> Speaker:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    async def start(self) -> None:
        """Listen, start the configured peers and originate the configured prefixes."""
        if self._running:
            return
        self._loop = asyncio.get_running_loop()
        self._running = True
        self._stopping = False
        try:
            section = self.config.speaker
            await self._listener.open(
                section.listen_address,
                section.listen_port,
                lambda: Connection(self, outgoing=False, high_water=WRITE_HIGH_WATER),
            )
            await self._start_kernel()
        except BaseException:
            self._running = False
            await self._listener.close()
            raise
        for dynamic in self.config.dynamic_peers:
            if dynamic.password:
                self._listener.set_md5(
                    dynamic.range.network_address, dynamic.password, dynamic.range.prefixlen
                )
        for peer in self.config.peers:
            await self.add_peer(peer)
        originate = self.config.originate
        for prefix in originate.prefixes:
            self.originate(prefix, originate.communities, originate.large_communities)

    async def stop(self, message: str = "pybgp speaker shutting down") -> None:
        """Cease/Administrative Shutdown (RFC 9003 ``message``) to every peer, then close
        everything and wait for it: sockets, transports, timers, tasks."""
        if not self._running:
            return
        self._running = False
        self._stopping = True  # the kernel keeps the routes until KernelSync.stop decides
        await self._listener.close()
        now = self._loop.time()
        for peer in list(self._peers.values()):
            self._stop_peer(peer, now, message, CeaseSubcode.ADMINISTRATIVE_SHUTDOWN)
        await self._wait_connections()
        await self._stop_kernel()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        for stream in list(self._subscribers):
            stream.close()

    @property
    def listen_addresses(self) -> list[tuple[str, int]]:
        """The (host, port) pairs actually listened on (the port is real with port 0)."""
        return self._listener.addresses

    # ---------------------------------------------------------------- peers

    async def add_peer(self, config: PeerConfig) -> None:
        """Configure a peer and start its session (a passive one only accepts connections).

        Re-adding an address replaces the peer (its session is reset). Needs a started speaker.
        """
        if not self._running:
            raise RuntimeError("Speaker.add_peer needs a started speaker (async with / start())")
        peer_id = str(config.address)
        if peer_id in self._peers:
            await self.remove_peer(peer_id)
        self._add_peer(config, dynamic=False)

    async def remove_peer(
        self,
        address: str | IPv4Address | IPv6Address,
        message: str = "peer removed",
        subcode: int = CeaseSubcode.PEER_DECONFIGURED,
    ) -> None:
        """Stop a peer's session (Cease/Peer De-configured by default) and forget it."""
        peer = self._peers.get(str(address))
        if peer is None:
            return
        waits = [d.conn.closed for d in (peer.main, peer.candidate) if d and d.conn]
        self._stop_peer(peer, self._loop.time(), message, subcode)
        self._forget_peer(peer)
        if waits:
            await asyncio.wait(waits, timeout=STOP_TIMEOUT)

    async def apply_config(self, new: SpeakerConfig) -> str:
        """Apply a reloaded config (SIGHUP); returns what happened, in words.

        See :func:`pybgp.speaker.reload.apply_config` for what is applied live.
        """
        return await apply_config(self, new)

    def set_policies(
        self,
        address: str | IPv4Address | IPv6Address,
        import_policy: Policy | None = None,
        export_policy: Policy | None = None,
    ) -> None:
        """Give a peer import/export policies (``Route -> Route | None`` callables, None =
        accept everything) without resetting its session.

        Import: re-applied to the routes already received (soft reconfiguration) or asked for
        again with a ROUTE-REFRESH (RFC 2918); export: only the difference is sent.
        """
        peer = self._peers.get(str(address))
        if peer is None:
            raise KeyError(f"no peer {address}")
        peer.info = attrs.evolve(
            peer.info, import_policy=import_policy, export_policy=export_policy
        )
        self._rib_output(
            self.rib.set_policies(peer.peer_id, import_=import_policy, export=export_policy)
        )

    def update_policies(self, config: PeerConfig) -> None:
        """Apply the filters of ``config`` to its running peer, keeping the session up.

        Import: re-applied from the kept routes, or by a ROUTE-REFRESH to the peer (RFC 2918);
        export: only the difference is sent. Other settings in ``config`` are not applied here
        (``apply_config`` resets a peer whose session settings changed).
        """
        peer = self._peers.get(str(config.address))
        if peer is None:
            return
        peer.config = config
        self.set_policies(config.address, *peer_policies(self.config, config))

    def update_peer(self, config: PeerConfig) -> None:
        """Apply export-side settings of ``config`` (``route_reflector_client``, labels,
        filters) to its running peer without a reset: only the Adj-RIB-Out difference is
        sent. Session settings (asn, port, timers...) need ``apply_config``'s reset."""
        peer = self._peers.get(str(config.address))
        if peer is None:
            return
        peer.config = config
        peer.info = peer_info(self.config.speaker, config, *peer_policies(self.config, config))
        self._rib_output(self.rib.add_peer(peer.info))

    def set_cluster_id(self, cluster_id: IPv4Address | None) -> None:
        """Become, or stop being, a route reflector without resetting sessions (RFC 4456):
        ``config.speaker.cluster_id`` and the RIB take the new id; mark clients afterwards
        with :meth:`update_peer`."""
        self.config = attrs.evolve(
            self.config, speaker=attrs.evolve(self.config.speaker, cluster_id=cluster_id)
        )
        self._rib_output(self.rib.set_cluster_id(cluster_id))

    def peers(self) -> tuple[PeerStatus, ...]:
        """Every peer's status (configured and dynamic)."""
        return tuple(self._status(peer) for peer in self._peers.values())

    def peer(self, address: str | IPv4Address | IPv6Address) -> PeerStatus | None:
        """One peer's status, or None."""
        peer = self._peers.get(str(address))
        return None if peer is None else self._status(peer)

    def session(self, address: str | IPv4Address | IPv6Address) -> Session | None:
        """The main session of a peer (read-only use: state, negotiated, counters)."""
        peer = self._peers.get(str(address))
        return None if peer is None else peer.main.session

    # ---------------------------------------------------------------- routes

    def originate(
        self,
        prefix: str | IPv4Network | IPv6Network,
        communities: Sequence[int] = (),
        large_communities: Sequence[tuple[int, int, int]] = (),
    ) -> None:
        """Announce ``prefix`` to every peer (through the RIB's export rules)."""
        network = ip_network(prefix) if isinstance(prefix, str) else prefix
        family = (1, 1) if network.version == 4 else (2, 1)
        key = prefix_from_network(network)
        self._rib_output(self.rib.originate(family, key, communities, large_communities))

    def withdraw(self, prefix: str | IPv4Network | IPv6Network) -> None:
        """Stop announcing ``prefix``."""
        network = ip_network(prefix) if isinstance(prefix, str) else prefix
        family = (1, 1) if network.version == 4 else (2, 1)
        self._rib_output(self.rib.withdraw_originated(family, prefix_from_network(network)))

    # ---------------------------------------------------------------- events

    def subscribe(self, *, routes: bool = True) -> tuple[Snapshot, EventStream]:
        """A snapshot of peers and routes plus the stream of every later event (atomic: no
        event falls between the two).

        ``routes=False`` leaves the Loc-RIB out of the snapshot (``Snapshot.routes`` is empty):
        copying a million-route table takes seconds, which a caller interested in sessions
        only should not pay.
        """
        table = tuple(self.rib.routes()) if routes else ()
        snapshot = Snapshot(self.peers(), table)
        stream = EventStream(asyncio.Queue(), self._subscribers.discard)
        if self._running:
            self._subscribers.add(stream)
        else:
            stream._end()
        return snapshot, stream

    def events(self) -> EventStream:
        """The stream of events from now on (``async for event in speaker.events()``)."""
        return self.subscribe(routes=False)[1]

    async def wait_state(
        self,
        address: str | IPv4Address | IPv6Address,
        state: State = State.ESTABLISHED,
        timeout: float | None = None,
    ) -> PeerStatus:
        """Wait until the peer's session is in ``state``; raise TimeoutError after ``timeout``.

        The status returned is read when the event is handled; should the session already have
        left ``state`` again by then (a collision resolved, say), waiting goes on.
        """
        peer_id = str(address)
        snapshot, stream = self.subscribe(routes=False)
        with stream:
            for status in snapshot.peers:
                if status.address == peer_id and status.state is state:
                    return status
            async with asyncio.timeout(timeout):
                async for event in stream:
                    if (
                        isinstance(event, PeerStateChanged)
                        and event.peer == peer_id
                        and event.new is state
                    ):
                        current = self.peer(peer_id)
                        if current is not None and current.state is state:
                            return current
        raise RuntimeError("the speaker stopped")

    def status(self) -> dict[str, Any]:
        """The ``pybgp status --json`` shape (without the kernel part)."""
        return status_dict(self.config.speaker, self.rib, self.peers())

    # ================================================================ internals

    def _publish(self, event: SpeakerEvent) -> None:
        for stream in self._subscribers:
            stream._put(event)

    def _status(self, peer: Peer) -> PeerStatus:
        return peer_status(
            peer.config, peer.main.session, peer.since, self.rib, self.config.speaker.asn
        )

    def _add_peer(self, config: PeerConfig, *, dynamic: bool) -> Peer:
        section = self.config.speaker
        peer_id = str(config.address)
        info = peer_info(section, config, *peer_policies(self.config, config))
        peer = Peer(
            config=config,
            session_config=session_config(section, config),
            info=info,
            log=peer_logger("pybgp.speaker", peer_id),
            dynamic=dynamic,
        )
        peer.main = self._new_driver(peer, auto_restart=not dynamic)
        self._peers[peer_id] = peer
        if config.password and not dynamic:
            self._listener.set_md5(config.address, config.password, None)
        self._rib_output(self.rib.add_peer(info))
        if config.enabled and not dynamic:
            now = self._loop.time()
            self._run(peer.main, peer.main.session.start(now, passive=config.passive))
        peer.log.info(
            "peer configured: AS %d%s%s",
            config.asn,
            " passive" if config.passive else "",
            " (dynamic)" if dynamic else "",
        )
        return peer

    def _new_driver(self, peer: Peer, *, auto_restart: bool) -> Driver:
        session = Session(peer.session_config)
        session.fsm.auto_restart = auto_restart
        session.state_since = self._loop.time()
        return Driver(peer, session)

    def _stop_peer(self, peer: Peer, now: float, message: str, subcode: int) -> None:
        peer.removed = True
        for driver in (peer.candidate, peer.main):
            if driver is None:
                continue
            self._run(driver, driver.session.stop(now, message, subcode))
            driver.cancel()

    def _forget_peer(self, peer: Peer) -> None:
        peer.removed = True
        for driver in (peer.main, peer.candidate):
            if driver is not None:
                driver.cancel()
        if self._peers.get(peer.peer_id) is peer:
            del self._peers[peer.peer_id]
            if peer.config.password and not peer.dynamic:
                self._listener.set_md5(peer.config.address, "", None)
            self._rib_output(self.rib.remove_peer(peer.peer_id))

    # ---------------------------------------------------------------- actions

    def _run(self, driver: Driver, actions: list[Action]) -> None:
        """Carry out a session's actions, then re-arm its timer."""
        peer = driver.peer
        notification: Notification | None = None
        check_collision = False
        for action in actions:
            if isinstance(action, SendBytes):
                if driver.conn is not None:
                    driver.conn.write(action.data)
            elif isinstance(action, StateChange):
                check_collision = True
                if driver is peer.main:
                    peer.since = time.time()
                    peer.log.info("%s -> %s: %s", action.old, action.new, action.reason)
                    self._publish(
                        PeerStateChanged(
                            peer.peer_id, action.old, action.new, action.reason, notification
                        )
                    )
            elif isinstance(action, SessionDown):
                notification = action.notification_sent or action.notification_received
                if action.was_established and driver is peer.main:
                    self._rib_output(self.rib.peer_down(peer.peer_id))
            elif isinstance(action, CloseTcp):
                conn, driver.conn = driver.conn, None
                if conn is not None:
                    conn.close(abort=action.abort)
                if driver.connect_task is not None:
                    driver.connect_task.cancel()
                    driver.connect_task = None
            elif isinstance(action, ConnectTcp):
                self._start_connect(driver)
            elif isinstance(action, DeliverUpdate):
                if driver is peer.main and not peer.removed:
                    self._publish(UpdateReceived(peer.peer_id, action.update))
                    self._rib_output(self.rib.apply_update(peer.peer_id, action.update))
                    eor = action.update.update.end_of_rib
                    if eor is not None and peer.end_of_rib_pending:
                        peer.end_of_rib_pending = peer.end_of_rib_pending - {eor}
                        self._check_end_of_rib()
            elif isinstance(action, DeliverRouteRefresh):
                if driver is peer.main and not peer.removed:
                    self._rib_output(self.rib.route_refresh(peer.peer_id, action.refresh.family))
            elif isinstance(action, SessionUp):
                if driver is peer.main and not peer.removed:
                    self._session_up(driver, action.negotiated)
            elif isinstance(action, Note):
                level = getattr(logging, action.level.upper(), logging.INFO)
                peer.log.log(level, "%s", action.text)
        self._arm(driver)
        if check_collision:
            self._after_state_change(peer)

    def _with_ipv6_next_hop(
        self, peer: Peer, info: PeerInfo, negotiated: NegotiatedSession
    ) -> PeerInfo:
        """IPv6 routes over an IPv4 session need an IPv6 NEXT_HOP the receiver can install.

        Unless ``local_address6`` is configured, use a global IPv6 address of the interface
        holding the session's IPv4 address (as BIRD does), read again at each session start.
        """
        local = info.local_address
        if (
            peer.config.local_address6 is not None
            or not isinstance(local, IPv4Address)
            or IPV6_UNICAST not in negotiated.families
        ):
            return info
        derived = same_interface_address(local, 6)
        if not isinstance(derived, IPv6Address):
            derived = None
            peer.log.warning(
                "no global IPv6 address on the interface of %s: IPv6 routes go out with the "
                "IPv4-mapped next hop ::ffff:%s, which receivers cannot install (set "
                "local_address6)",
                local,
                local,
            )
        return attrs.evolve(info, local_address6=derived)

    def _session_up(self, driver: Driver, negotiated: NegotiatedSession) -> None:
        peer = driver.peer
        info = peer.info
        if info.local_address is None and driver.conn is not None and driver.conn.transport:
            sockname = driver.conn.transport.get_extra_info("sockname")
            if sockname:
                info = attrs.evolve(info, local_address=clean_address(str(sockname[0])))
        info = self._with_ipv6_next_hop(peer, info, negotiated)
        if info != peer.info:
            peer.info = info
            self._rib_output(self.rib.add_peer(peer.info))
        peer.end_of_rib_pending = negotiated.families
        self._rib_output(
            self.rib.peer_up(
                peer.peer_id,
                negotiated.negotiated,
                negotiated.peer_router_id,
                route_refresh=negotiated.route_refresh,
                enhanced_route_refresh=negotiated.enhanced_route_refresh,
            )
        )

    def _after_state_change(self, peer: Peer) -> None:
        """Collision detection (RFC 4271 §6.8), candidate promotion, dynamic peer clean-up."""
        candidate = peer.candidate
        main = peer.main
        now = self._loop.time()
        if candidate is not None:
            cstate, mstate = candidate.session.state, main.session.state
            if cstate is State.IDLE:
                candidate.cancel()
                peer.candidate = None
            elif cstate not in CONNECTED:
                pass  # being set up: the connection is attached next
            elif mstate not in CONNECTED:
                self._promote(peer, "the other connection went down")
            elif State.OPEN_CONFIRM in (cstate, mstate) or State.ESTABLISHED in (cstate, mstate):
                loser = collision_loser(
                    self.config.speaker.router_id, main.session, candidate.session
                )
                winner = main if loser is candidate.session else candidate
                loser_driver = main if winner is candidate else candidate
                kept = "our" if winner.session.outgoing else "the peer's"
                peer.log.info("connection collision: keeping %s connection (RFC 4271 §6.8)", kept)
                if winner is candidate:
                    self._promote(peer, f"connection collision: kept {kept} connection")
                else:
                    peer.candidate = None
                self._run(loser_driver, loser_driver.session.collision_dump(now))
                loser_driver.cancel()
        if (
            peer.dynamic
            and not peer.removed
            and peer.candidate is None
            and peer.main.session.state is State.IDLE
        ):
            self._forget_peer(peer)

    def _promote(self, peer: Peer, reason: str) -> None:
        candidate = peer.candidate
        assert candidate is not None
        old = peer.main
        peer.main = candidate
        peer.candidate = None
        candidate.session.fsm.auto_restart = not peer.dynamic
        old_state = old.session.state
        if old_state in CONNECTED:
            pass  # the caller dumps it
        else:
            old.cancel()
        peer.since = time.time()
        self._publish(
            PeerStateChanged(peer.peer_id, old_state, candidate.session.state, reason, None)
        )

    def _arm(self, driver: Driver) -> None:
        deadline = driver.session.next_deadline()
        if deadline == driver.timer_at:
            return
        if driver.timer is not None:
            driver.timer.cancel()
        driver.timer_at = deadline
        driver.timer = (
            None if deadline is None else self._loop.call_at(deadline, self._on_timer, driver)
        )

    def _on_timer(self, driver: Driver) -> None:
        when = driver.timer_at
        driver.timer = None
        driver.timer_at = None
        now = self._loop.time()
        if when is not None:
            now = max(now, when)
        self._run(driver, driver.session.handle_timers(now))

    # ---------------------------------------------------------------- RIB output

    def _rib_output(self, output: RibOutput) -> None:
        if output.changes:
            self._publish(BestPathChanged(output.changes))
            if self._kernel_queue is not None and not self._stopping:
                self._kernel_queue.put_nowait(output.changes)
        for peer_id, messages in output.messages.items():
            peer = self._peers.get(peer_id)
            if peer is not None and messages:
                self._send_updates(peer.main, messages)
        for note in output.notes:
            log.info("%s", note)
        for note in output.debug_notes:
            log.debug("%s", note)
        for peer_id in output.exceeded:
            peer = self._peers.get(peer_id)
            if peer is not None:
                # RFC 4486 §4: Cease / Maximum Number of Prefixes Reached.
                reason = f"maximum number of prefixes ({peer.config.max_prefixes}) exceeded"
                notification = Notification(ErrorCode.CEASE, CeaseSubcode.MAXIMUM_PREFIXES_REACHED)
                self._run(
                    peer.main,
                    peer.main.session.automatic_stop(self._loop.time(), notification, reason),
                )

    def _send_updates(self, driver: Driver, messages: Sequence[bytes]) -> None:
        conn = driver.conn
        if conn is None or driver.session.state is not State.ESTABLISHED:
            return
        if conn.paused or conn.backlog:
            conn.backlog.extend(messages)
            return
        now = self._loop.time()
        for index, message in enumerate(messages):
            driver.session.send_update(message, now)
            conn.write(message)
            if conn.paused:
                conn.backlog.extend(messages[index + 1 :])
                break

    def _drain(self, driver: Driver) -> None:
        conn = driver.conn
        if conn is None:
            return
        now = self._loop.time()
        while conn.backlog and not conn.paused and driver.conn is conn:
            message = conn.backlog.popleft()
            driver.session.send_update(message, now)
            conn.write(message)

    # ---------------------------------------------------------------- kernel

    async def _start_kernel(self) -> None:
        """Start the kernel sync and feed it the Loc-RIB as it is now, then every change."""
        self.kernel = make_kernel_sync(self.config, self._installer)
        if self.kernel is None:
            return
        await self.kernel.start()
        queue: asyncio.Queue[object] = asyncio.Queue()
        initial = current_best_paths(self.rib)
        if initial:
            queue.put_nowait(initial)
        self._kernel_queue = queue
        self._kernel_task = self._loop.create_task(feed_kernel(self.kernel, queue))
        # Routes found in the kernel from a previous run are swept once every configured
        # peer sent End-of-RIB, or after sweep_timeout (RFC 4724 §2 style).
        timeout = self.config.kernel.sweep_timeout
        self._sweep = self._loop.call_later(timeout, self._initial_sync)

    def _initial_sync(self) -> None:
        if self._sweep is not None:
            self._sweep.cancel()
            self._sweep = None
            if self._kernel_queue is not None:
                self._kernel_queue.put_nowait(INITIAL_SYNC)

    def _check_end_of_rib(self) -> None:
        """Sweep stale kernel routes early once every configured peer sent End-of-RIB."""
        if self._sweep is None:
            return
        peers = [p for p in self._peers.values() if not p.dynamic and p.config.enabled]
        if peers and all(p.end_of_rib_pending == frozenset() for p in peers):
            self._initial_sync()

    async def _stop_kernel(self) -> None:
        if self._sweep is not None:
            self._sweep.cancel()
            self._sweep = None
        if self._kernel_queue is not None and self._kernel_task is not None:
            self._kernel_queue.put_nowait(None)
            await self._kernel_task
        self._kernel_queue = self._kernel_task = None
        if self.kernel is not None:
            await self.kernel.stop()

    async def _wait_connections(self) -> None:
        pending = [conn.closed for conn in self._connections if not conn.closed.done()]
        if pending:
            _done, still = await asyncio.wait(pending, timeout=STOP_TIMEOUT)
            if still:
                for conn in list(self._connections):
                    conn.close(abort=True)
                await asyncio.wait(
                    [conn.closed for conn in self._connections], timeout=STOP_TIMEOUT
                )

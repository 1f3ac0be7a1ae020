"""The asyncio shell: sockets, one ``loop.call_at`` timer per session, the RIB, event streams.

Theory of operation
-------------------
Everything that decides is elsewhere: :class:`~pybgp.neighbor.Neighbor` (one peer's sessions,
collisions, back-off, End-of-RIB, max-prefix; no I/O), :class:`~pybgp.session.Session` (FSM +
codec, no I/O) and :class:`~pybgp.rib.Rib` (no I/O). This module only moves bytes and time
between them:

* one :class:`~pybgp.speaker.tcp.BgpConnection` (an ``asyncio.BufferedProtocol``) per TCP
  connection reports to the speaker (``connection_*`` callbacks), which feeds received bytes to
  the connection's neighbour and carries out the returned steps in order (write, close, connect,
  hand UPDATEs to the RIB, publish a state change...);
* one :class:`~pybgp.speaker.peer.Peer` per configured (or dynamic) neighbour holds its
  ``Neighbor``, a :class:`~pybgp.speaker.peer.Driver` per session (its connection and connect
  task) and a single ``loop.call_at`` handle, re-armed to ``neighbor.next_deadline()`` after
  every input (the aioquic pattern).

Connections from addresses that match no configured peer and no ``dynamic_peers`` range are
closed at once (no OPEN sent) and logged with the address, once per address and minute. A
dynamic peer gets a passive neighbour built from its range's template; the neighbour says when
to forget it.

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
("... timed out; TCP MD5 configured: check the password") instead of a silent retry.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable, Sequence
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_network
from types import TracebackType
from typing import Any

import attrs

from pybgp.config import BfdConfig, PeerConfig, SpeakerConfig
from pybgp.errors import NotRunningError, UnknownPeerError
from pybgp.explain import describe_update
from pybgp.fsm import (
    CloseTcp,
    ConnectTcp,
    DeliverRouteRefresh,
    DeliverUpdate,
    NegotiatedSession,
    Note,
    SendBytes,
    SessionUp,
    State,
)
from pybgp.graceful_restart import StartupSync
from pybgp.kernel import KernelSync, RouteInstaller
from pybgp.kernel.addresses import InterfaceAddresses
from pybgp.logs import peer_logger
from pybgp.neighbor import (
    DiscardSession,
    EndOfRibReceived,
    FlushRoutes,
    FlushStale,
    ForgetNeighbor,
    KeepStale,
    Neighbor,
    RefusalLog,
    ReportState,
    Step,
)
from pybgp.rib import BestPathChange, PeerInfo, Policy, Rib, RibOptions, RibOutput
from pybgp.session import Session
from pybgp.speaker import tcp
from pybgp.speaker.bfd_feed import BfdFeed
from pybgp.speaker.connections import STOP_TIMEOUT, WRITE_HIGH_WATER, ConnectionHandling
from pybgp.speaker.events import (
    BestPathChanged,
    EventStream,
    PeerStateChanged,
    PeerStatus,
    Snapshot,
    SpeakerEvent,
    UpdateReceived,
    neighbor_settings,
    peer_info,
    peer_policies,
    peer_status,
    status_document,
)
from pybgp.speaker.graceful import GracefulRestartShell
from pybgp.speaker.kernel_feed import (
    KernelFeed,
    current_best_paths,
    kernel_changed,
    make_kernel_sync,
)
from pybgp.speaker.origination import (
    BIG_ORIGINATION,
    FAMILY_OF_AFI,
    give_back_memory,
    originate_batches,
    prefix_key,
    withdraw_batches,
)
from pybgp.speaker.peer import Connection, Driver, Peer, clean_address
from pybgp.speaker.policies import KEEP, remember, with_pending
from pybgp.speaker.policies import changes as policy_changes
from pybgp.speaker.reload import apply_config
from pybgp.wire.constants import IPV6_UNICAST, CeaseSubcode
from pybgp.wire.nlri import prefix_from_network

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
        self._stopped = False
        self._loop: asyncio.AbstractEventLoop = None  # type: ignore[assignment]
        self._installer = installer
        self.kernel: KernelSync | None = None
        """The kernel route sync (a best-path subscriber), None with ``adapter = "none"`` and
        no ``installer``."""
        self._kernel_feed: KernelFeed | None = None
        self._refusals = RefusalLog()
        self.graceful: GracefulRestartShell = None  # type: ignore[assignment]
        """Graceful restart (RFC 4724): our own restart and the status; made at start."""
        self._restart_stop = False
        self._addresses = InterfaceAddresses()
        """This host's interface addresses, followed from the loop (IPv6 next hops)."""
        self._pending_policies: dict[str, tuple[object, object]] = {}  # set before start()
        self.bfd = BfdFeed(self)
        """BFD sessions of the peers with ``bfd = true`` (see :mod:`pybgp.speaker.bfd_feed`)."""

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
        self._restart_stop = False
        self.graceful = GracefulRestartShell(
            self.config,
            self.rib,
            self._loop,
            self._rib_output,
            self._startup_done,
            lambda: list(self._peers.values()),
        )
        try:
            section = self.config.speaker
            await self._listener.open(
                section.listen_address,
                section.listen_port,
                lambda: Connection(self, outgoing=False, high_water=WRITE_HIGH_WATER),
            )
            await self._addresses.open()
            self.bfd.open()
            await self._start_kernel()
        except BaseException:
            self._running = False
            self._addresses.close()
            self.bfd.close()
            await self._listener.close()
            raise
        for dynamic in self.config.dynamic_peers:
            if dynamic.password:
                self._set_range_password(dynamic.range, dynamic.password)
        for peer in self.config.peers:
            await self.add_peer(peer)
        originate = self.config.originate
        self.originate_many(originate.prefixes, originate.communities, originate.large_communities)
        if len(originate.prefixes) >= BIG_ORIGINATION:
            give_back_memory()  # what reading the config and building the table left free

    async def stop(
        self, message: str = "pybgp speaker shutting down", *, restart: bool = False
    ) -> None:
        """Cease/Administrative Shutdown (RFC 9003 ``message``) to every peer, then close
        everything and wait for it: sockets, transports, timers, tasks.

        ``restart`` (with ``[graceful_restart]`` enabled): a planned restart. Peers that
        negotiated graceful restart keep our routes as stale: those with the RFC 8538 N-bit get
        Cease/Administrative Reset, the others a TCP close without NOTIFICATION (as BIRD does);
        no route is withdrawn and every kernel route stays. Without ``restart``, peers with the
        N-bit get Cease/Hard Reset (RFC 8538 §5) so that they do flush our routes (see
        :meth:`pybgp.neighbor.Neighbor.shutdown`).
        """
        if not self._running:
            return
        restart = restart and self.graceful.options.enabled
        self._running = False
        self._stopped = True
        self._stopping = True  # the kernel keeps the routes until KernelSync.stop decides
        self._restart_stop = restart
        await self._listener.close()
        now = self._loop.time()
        for peer in list(self._peers.values()):
            self._run(peer, peer.neighbor.shutdown(now, message, restart=restart))
            peer.cancel()
        # AdminDown to every BFD peer, a planned restart too: RFC 5882 §3.2, the peer does not
        # take it for a path failure (and so keeps our routes when graceful restart allows).
        self.bfd.close()
        await self._wait_connections()
        await self._stop_kernel()
        self._addresses.close()
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

        Re-adding an address replaces the peer (its session is reset). Raises
        :class:`~pybgp.errors.NotRunningError` before :meth:`start` or after :meth:`stop`.
        """
        if not self._running:
            raise NotRunningError("Speaker.add_peer needs a started speaker (async with / start())")
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
        """Stop a peer's session (Cease/Peer De-configured by default) and forget it.

        Raises :class:`~pybgp.errors.NotRunningError` when the speaker is not running and
        :class:`~pybgp.errors.UnknownPeerError` (a ``KeyError``) when no peer has ``address``.
        """
        if not self._running:
            raise NotRunningError("Speaker.remove_peer needs a started speaker")
        peer = self._peers.get(str(address))
        if peer is None:
            raise UnknownPeerError(address)
        waits = [d.conn.closed for d in peer.drivers.values() if d.conn is not None]
        self._stop_peer(peer, self._loop.time(), message, subcode)
        self._forget_peer(peer)
        if waits:
            await asyncio.wait(waits, timeout=STOP_TIMEOUT)

    def _set_range_password(self, network: IPv4Network | IPv6Network, password: str) -> None:
        """TCP MD5 key (RFC 2385) for a dynamic peer range on the listener ("" = none)."""
        self._listener.set_md5(network.network_address, password, network.prefixlen)

    async def apply_config(self, new: SpeakerConfig) -> str:
        """Apply a reloaded config (SIGHUP); returns what happened, in words.

        See :func:`pybgp.speaker.reload.apply_config` for what is applied live.
        """
        return await apply_config(self, new)

    def set_policies(
        self,
        address: str | IPv4Address | IPv6Address,
        import_policy: Policy | object | None = KEEP,
        export_policy: Policy | object | None = KEEP,
    ) -> None:
        """Give a peer import/export policies (``Route -> Route | None`` callables, None =
        accept everything) without resetting its session; one left out (``KEEP``) stays.

        Import: re-applied to the routes already received (soft reconfiguration) or asked for
        again with a ROUTE-REFRESH (RFC 2918); export: only the difference is sent. Before
        :meth:`start`, kept for the peer start() adds; on a started speaker an address that is
        no peer raises :class:`~pybgp.errors.UnknownPeerError` (a ``KeyError``).
        """
        peer = self._peers.get(str(address))
        if peer is None:
            if self._running:
                raise UnknownPeerError(address)
            remember(self._pending_policies, str(address), import_policy, export_policy)
            return
        info_changes, rib_changes = policy_changes(import_policy, export_policy)
        if info_changes:
            peer.info = attrs.evolve(peer.info, **info_changes)
            self._rib_output(self.rib.set_policies(peer.peer_id, **rib_changes))

    def set_bfd_timers(self, config: BfdConfig) -> None:
        """New ``[bfd]`` timers for the running BFD sessions (a Poll Sequence when Up)."""
        self.bfd.set_timers(config)

    def update_policies(self, config: PeerConfig) -> None:
        """Apply the filters of ``config`` to its running peer, keeping the session up.

        Import: re-applied from the kept routes, or by a ROUTE-REFRESH to the peer (RFC 2918);
        export: only the difference is sent. Other settings in ``config`` are not applied here
        (``apply_config`` resets a peer whose session settings changed). Raises
        :class:`~pybgp.errors.UnknownPeerError` (a ``KeyError``) for an unknown address.
        """
        peer = self._peers.get(str(config.address))
        if peer is None:
            raise UnknownPeerError(config.address)
        peer.config = config
        self.set_policies(config.address, *peer_policies(self.config, config))

    def update_peer(self, config: PeerConfig) -> None:
        """Apply export-side settings of ``config`` (``route_reflector_client``, labels,
        filters) to its running peer without a reset: only the Adj-RIB-Out difference is
        sent. Session settings (asn, port, timers...) need ``apply_config``'s reset. Raises
        :class:`~pybgp.errors.UnknownPeerError` (a ``KeyError``) for an unknown address."""
        peer = self._peers.get(str(config.address))
        if peer is None:
            raise UnknownPeerError(config.address)
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

    def peer_config(self, address: str | IPv4Address | IPv6Address) -> PeerConfig | None:
        """The config a peer runs with (a dynamic peer's comes from its range), or None."""
        peer = self._peers.get(str(address))
        return None if peer is None else peer.config

    def session(self, address: str | IPv4Address | IPv6Address) -> Session | None:
        """The main session of a peer (read-only use: state, negotiated, counters)."""
        peer = self._peers.get(str(address))
        return None if peer is None else peer.neighbor.main

    # ---------------------------------------------------------------- routes

    def originate(
        self,
        prefix: str | IPv4Network | IPv6Network,
        communities: Sequence[int] = (),
        large_communities: Sequence[tuple[int, int, int]] = (),
        next_hop: IPv4Address | IPv6Address | None = None,
    ) -> None:
        """Announce ``prefix`` to every peer (export rules apply); ``next_hop``: a third party's."""
        if isinstance(prefix, str):
            afi, key = prefix_key(prefix)  # plain IPv4 text without ipaddress objects
        else:
            afi, key = (1 if prefix.version == 4 else 2), prefix_from_network(prefix)
        self._rib_output(self.rib.originate(
            FAMILY_OF_AFI[afi], key, communities, large_communities, next_hop=next_hop
        ))

    def withdraw(self, prefix: str | IPv4Network | IPv6Network) -> None:
        """Stop announcing ``prefix``."""
        network = ip_network(prefix) if isinstance(prefix, str) else prefix
        family = (1, 1) if network.version == 4 else (2, 1)
        self._rib_output(self.rib.withdraw_originated(family, prefix_from_network(network)))

    def originate_many(
        self,
        prefixes: Iterable[str | IPv4Network | IPv6Network],
        communities: Sequence[int] = (),
        large_communities: Sequence[tuple[int, int, int]] = (),
        next_hop: IPv4Address | IPv6Address | None = None,
    ) -> None:
        """:meth:`originate` for many prefixes (a :class:`~pybgp.config.Prefixes` is fastest):
        one RIB batch per family."""
        for output in originate_batches(self.rib, prefixes, communities, large_communities,
                                        next_hop):
            self._rib_output(output)

    def withdraw_many(self, prefixes: Iterable[str | IPv4Network | IPv6Network]) -> None:
        """:meth:`withdraw` for many prefixes, one RIB batch per family."""
        for output in withdraw_batches(self.rib, prefixes):
            self._rib_output(output)

    # ---------------------------------------------------------------- events

    def subscribe(self, *, routes: bool = True) -> tuple[Snapshot, EventStream]:
        """A snapshot of peers and routes plus the stream of every later event (atomic: no
        event falls between the two).

        Earlier events are only in the snapshot; a stream taken before ``start()`` sees all.

        ``routes=False`` leaves the Loc-RIB out of the snapshot (``Snapshot.routes`` is empty):
        copying a million-route table takes seconds, which a caller interested in sessions
        only should not pay.
        """
        table = tuple(self.rib.routes()) if routes else ()
        snapshot = Snapshot(self.peers(), table)
        stream = EventStream(asyncio.Queue(), self._subscribers.discard)
        if self._running or not self._stopped:
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
        left ``state`` again by then (a collision resolved, say), waiting goes on. Raises
        :class:`~pybgp.errors.NotRunningError` when the speaker stops (or never started).
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
        raise NotRunningError("the speaker stopped")

    def status(self) -> dict[str, Any]:
        """The ``pybgp status --json`` document (:func:`~pybgp.speaker.events.status_document`)."""
        kernel = None if self.kernel is None else self.kernel.counters()
        document = status_document(
            self.config.speaker, self.rib, self.peers(), kernel, self.config.kernel.adapter
        )
        if self.graceful is not None:
            document["graceful_restart"] = self.graceful.document()
            for entry in document["peers"]:
                peer = self._peers.get(entry["address"])
                if peer is not None:
                    entry["graceful_restart"] = self.graceful.peer_document(
                        peer, peer.neighbor.main.negotiated
                    )
        return document

    # ================================================================ internals

    def _kernel_applied(self, changes: Sequence[BestPathChange]) -> None:
        if self._subscribers and self.kernel is not None:  # pybgp monitor
            self._publish(kernel_changed(self.kernel, changes))

    def _publish(self, event: SpeakerEvent) -> None:
        for stream in self._subscribers:
            stream._put(event)

    def _status(self, peer: Peer) -> PeerStatus:
        return attrs.evolve(
            peer_status(
                peer.config, peer.neighbor.main, peer.since, self.rib, self.config.speaker.asn
            ),
            bfd=self.bfd.status(peer.peer_id),
        )

    def _add_peer(self, config: PeerConfig, *, dynamic: bool) -> Peer:
        section = self.config.speaker
        peer_id = str(config.address)
        policies = with_pending(
            self._pending_policies, peer_id, *peer_policies(self.config, config)
        )
        info = peer_info(section, config, *policies)
        settings = neighbor_settings(section, config, dynamic=dynamic)
        settings = attrs.evolve(
            settings,
            session=attrs.evolve(
                settings.session, graceful_restart=self.graceful.capability(config)
            ),
            stale_routes_time=float(self.config.graceful_restart.stale_routes_time),
        )
        rib = self.rib
        peer = Peer(
            config=config,
            session_config=settings.session,
            info=info,
            log=peer_logger("pybgp.speaker", peer_id),
            neighbor=Neighbor(settings, prefix_counter=lambda: rib.prefix_counter(peer_id)),
        )
        self._peers[peer_id] = peer
        if config.password and not dynamic:
            self._listener.set_md5(config.address, config.password, None)
        self._rib_output(self.rib.add_peer(info))
        self._run(peer, peer.neighbor.start(self._loop.time()))
        if config.enabled and not dynamic:
            self.bfd.peer_added(peer)
        peer.log.info(
            "peer configured: AS %d%s%s",
            config.asn,
            " passive" if config.passive else "",
            " (dynamic)" if dynamic else "",
        )
        return peer

    def _stop_peer(self, peer: Peer, now: float, message: str, subcode: int) -> None:
        self._run(peer, peer.neighbor.stop(now, message, subcode))
        peer.cancel()

    def _forget_peer(self, peer: Peer) -> None:
        peer.cancel()
        self.graceful.remove_peer(peer)
        if self._peers.get(peer.peer_id) is peer:
            self.bfd.peer_removed(peer)
            del self._peers[peer.peer_id]
            if peer.config.password and not peer.dynamic:
                self._listener.set_md5(peer.config.address, "", None)
            self._rib_output(self.rib.remove_peer(peer.peer_id))

    # ---------------------------------------------------------------- actions

    def _run(self, peer: Peer, steps: list[Step]) -> None:
        """Carry out a neighbour's steps in order, then re-arm its timer."""
        forget = False
        notified: set[int] = set()  # sessions that just queued a NOTIFICATION
        for session, action in steps:
            if isinstance(action, SendBytes):
                driver = peer.drivers.get(id(session))
                if driver is not None and driver.conn is not None:
                    driver.conn.write(action.data)
                    if tcp.is_notification(action.data):
                        notified.add(id(session))
            elif isinstance(action, DeliverUpdate):
                if peer.log.isEnabledFor(logging.DEBUG):  # cheap when DEBUG is off
                    peer.log.debug("UPDATE received: %s", describe_update(action.update))
                self._publish(UpdateReceived(peer.peer_id, action.update))
                self._rib_output(self.rib.apply_update(peer.peer_id, action.update))
            elif isinstance(action, ReportState):
                peer.since = time.time()
                peer.log.info("%s -> %s: %s", action.old, action.new, action.reason)
                self._publish(
                    PeerStateChanged(
                        peer.peer_id, action.old, action.new, action.reason, action.notification
                    )
                )
            elif isinstance(action, CloseTcp):
                driver = peer.drivers.get(id(session))
                if driver is not None:
                    conn, driver.conn = driver.conn, None
                    if conn is not None and action.abort and id(session) in notified:
                        conn.close_after()  # RFC 9687 §4: the NOTIFICATION tried, then dropped
                    elif conn is not None:
                        conn.close(abort=action.abort)
                    driver.cancel()
            elif isinstance(action, ConnectTcp):
                assert session is not None
                self._start_connect(peer.driver(session))
            elif isinstance(action, FlushRoutes):
                if not self._restart_stop:
                    self._rib_output(self.rib.peer_down(peer.peer_id))
            elif isinstance(action, KeepStale):
                if not self._restart_stop:
                    self.graceful.keep_stale(peer, action)
            elif isinstance(action, FlushStale):
                self.graceful.flush_stale(peer, action)
            elif isinstance(action, SessionUp):
                assert session is not None
                self.graceful.session_up(peer, action.negotiated)
                self._session_up(peer.driver(session), action.negotiated)
            elif isinstance(action, DeliverRouteRefresh):
                self._rib_output(self.rib.route_refresh(peer.peer_id, action.refresh.family))
            elif isinstance(action, EndOfRibReceived):
                self.graceful.end_of_rib(peer, action.family)
            elif isinstance(action, Note):
                level = getattr(logging, action.level.upper(), logging.INFO)
                peer.log.log(level, "%s", action.text)
            elif isinstance(action, DiscardSession):
                assert session is not None
                peer.discard(session)
            elif isinstance(action, ForgetNeighbor):
                peer.log.info("dynamic peer forgotten: %s", action.reason)
                forget = True
        if forget:
            self._forget_peer(peer)
        elif not peer.removed:
            self._arm(peer)

    def _with_ipv6_next_hop(
        self, peer: Peer, info: PeerInfo, negotiated: NegotiatedSession
    ) -> PeerInfo:
        """IPv6 routes over an IPv4 session need an IPv6 NEXT_HOP the receiver can install.

        Unless ``local_address6`` is configured, use a global IPv6 address of the interface
        holding the session's IPv4 address (as BIRD does), as the address table, kept current
        from netlink notifications, knows it now (no kernel round trip at session start).
        """
        local = info.local_address
        if (
            peer.config.local_address6 is not None
            or not isinstance(local, IPv4Address)
            or IPV6_UNICAST not in negotiated.families
        ):
            return info
        derived = self._addresses.same_interface(local, 6)
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
        self._rib_output(
            self.rib.peer_up(
                peer.peer_id,
                negotiated.negotiated,
                negotiated.peer_router_id,
                route_refresh=negotiated.route_refresh,
                enhanced_route_refresh=negotiated.enhanced_route_refresh,
            )
        )

    def _arm(self, peer: Peer) -> None:
        deadline = peer.neighbor.next_deadline()
        if deadline == peer.timer_at:
            return
        if peer.timer is not None:
            peer.timer.cancel()
        peer.timer_at = deadline
        peer.timer = (
            None if deadline is None else self._loop.call_at(deadline, self._on_timer, peer)
        )

    def _on_timer(self, peer: Peer) -> None:
        when = peer.timer_at
        peer.timer = None
        peer.timer_at = None
        now = self._loop.time()
        if when is not None:
            now = max(now, when)
        self._run(peer, peer.neighbor.handle_timers(now))

    # ---------------------------------------------------------------- RIB output

    def _rib_output(self, output: RibOutput) -> None:
        if output.changes:
            self._publish(BestPathChanged(output.changes))
            feed = self._kernel_feed
            if feed is not None and not self._stopping and not self.graceful.deferring:
                feed.put(output.changes)
        now = self._loop.time()
        for peer_id, messages in output.messages.items():
            peer = self._peers.get(peer_id)
            if peer is not None and messages:
                peer.driver(peer.neighbor.main).send_updates(messages, now)
        for note in output.notes:
            log.info("%s", note)
        for note in output.debug_notes:
            log.debug("%s", note)

    # ---------------------------------------------------------------- kernel

    async def _start_kernel(self) -> None:
        """Start the kernel sync and feed it the Loc-RIB as it is now, then every change."""
        kernel = self.kernel = make_kernel_sync(self.config, self._installer)
        if kernel is None:
            return
        await kernel.start()
        # Routes found in the kernel from a previous run (adopted as stale) are swept once
        # every configured peer sent End-of-RIB, or after sweep_timeout; after a graceful
        # restart they are our preserved forwarding state (RFC 4724 §4.1): selection towards
        # the kernel is deferred until then (see pybgp.graceful_restart.StartupSync).
        self.graceful.begin(kernel.adopted_afis(), self.config.kernel.sweep_timeout)
        feed = self._kernel_feed = KernelFeed(kernel, self._loop, self._kernel_applied)
        initial = current_best_paths(self.rib)
        if initial and not self.graceful.deferring:
            feed.put(initial)

    def _startup_done(self, startup: StartupSync) -> None:
        if self._kernel_feed is not None and not self._stopping:
            self._kernel_feed.startup_done(self.rib, deferred=startup.defer)

    async def _stop_kernel(self) -> None:
        self.graceful.close()
        if self._kernel_feed is not None:
            # A planned graceful restart keeps every kernel route, own blackholes included:
            # the forwarding state survives (RFC 4724 §4.1).
            await self._kernel_feed.stop(keep=self._restart_stop)
            self._kernel_feed = None

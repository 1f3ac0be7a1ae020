"""One BGP session without I/O: framing + decoding + capability negotiation + the FSM.

Theory of operation
-------------------
A :class:`Session` sits between one peer's byte stream and the :class:`~pybgp.fsm.Fsm`. The
shell (``pybgp.speaker``, or a test wiring two sessions together in memory) calls:

* :meth:`Session.start` / :meth:`Session.stop` (ManualStart / ManualStop),
* :meth:`Session.connection_made` / :meth:`Session.connection_lost` /
  :meth:`Session.connect_failed` (the TCP events),
* :meth:`Session.receive_data` with whatever the socket returned,
* :meth:`Session.handle_timers` when :meth:`Session.next_deadline` is reached,
* :meth:`Session.send_update` to queue UPDATE messages once Established,

and carries out the returned :data:`~pybgp.fsm.Action` list in order. Messages the FSM wants
to send come back as :class:`~pybgp.fsm.SendBytes`, already encoded.

Received bytes go through :class:`~pybgp.wire.framing.MessageReader` (RFC 4271 §6.1 header
checks) and then map to the FSM events of RFC 4271 §8.1: a header error is ``BGPHeaderErr``, a
bad OPEN ``BGPOpenMsgErr``, a session-reset UPDATE error ``UpdateMsgErr``; each carries the
NOTIFICATION the error names. UPDATE bodies are only decoded in Established (elsewhere an UPDATE
is an FSM error whatever it contains).

Capability negotiation (:func:`negotiate`) turns the two OPENs into a frozen
:class:`~pybgp.fsm.NegotiatedSession`: families both sides enabled (RFC 4760 §8; IPv4 unicast
when the peer sends no multiprotocol capability at all), 4-octet AS (RFC 6793), extended
messages (RFC 8654: the reader then accepts 65535 octets), ADD-PATH directions (RFC 7911 §4),
extended next hop (RFC 8950), route refresh (RFC 2918, RFC 7313), the peer's graceful restart
capability (recorded only) and roles (RFC 9234 §4.2, a mismatch is 2/11).

Decoded UPDATEs are delivered as decoded: the RIB merges the AS4_PATH of a 2-octet speaker
(RFC 6793 §4.2.3) and ignores NLRI of families that were not negotiated (RFC 4760 §8), once
per attribute set, in one place (:meth:`pybgp.rib.Rib.apply_update`).

Connection collisions (RFC 4271 §6.8) involve two sessions of one peer; the rule is
:func:`collision_loser`, applied by :class:`pybgp.neighbor.Neighbor` when a session reaches
OpenConfirm.
"""

from __future__ import annotations

from ipaddress import IPv4Address
from typing import Final

import attrs

from pybgp.fsm import (
    Action,
    EventData,
    Fsm,
    FsmTimers,
    NegotiatedSession,
    Note,
    SendBytes,
    SendMessage,
    SessionUp,
    State,
    StateChange,
    Timer,
)
from pybgp.fsm import Event as E
from pybgp.wire.capabilities import (
    AddPathCapability,
    AddPathEntry,
    Capability,
    EnhancedRouteRefreshCapability,
    ExtendedMessageCapability,
    ExtendedNextHopCapability,
    ExtendedNextHopEntry,
    FourOctetAsCapability,
    FqdnCapability,
    GracefulRestartCapability,
    MultiprotocolCapability,
    RoleCapability,
    RouteRefreshCapability,
    RouteRefreshOldCiscoCapability,
)
from pybgp.wire.constants import (
    IPV4_UNICAST,
    CeaseSubcode,
    ErrorCode,
    Family,
    MessageType,
    OpenMessageSubcode,
    Role,
    family_name,
)
from pybgp.wire.errors import RemoteProtocolError
from pybgp.wire.framing import MessageReader, RawMessage
from pybgp.wire.messages import KEEPALIVE_MESSAGE, Keepalive
from pybgp.wire.notification import Notification, decode_notification, encode_notification
from pybgp.wire.open import Open, decode_open, encode_open, validate_open
from pybgp.wire.open import negotiate as negotiate_open
from pybgp.wire.refresh import RouteRefresh, decode_route_refresh, encode_route_refresh
from pybgp.wire.update import decode_update

__all__ = [
    "NegotiatedSession",
    "Session",
    "SessionConfig",
    "build_open",
    "collision_loser",
    "negotiate",
]

_NO_DATA: Final = EventData()

_ROLE_PAIRS: Final = frozenset(
    {
        # RFC 9234 §4.2 Table 2: the allowed (local, remote) role pairs.
        (Role.PROVIDER, Role.CUSTOMER),
        (Role.CUSTOMER, Role.PROVIDER),
        (Role.ROUTE_SERVER, Role.ROUTE_SERVER_CLIENT),
        (Role.ROUTE_SERVER_CLIENT, Role.ROUTE_SERVER),
        (Role.PEER, Role.PEER),
    }
)


@attrs.frozen
class SessionConfig:
    """What one session needs to know about both ends (the speaker maps PeerConfig to it)."""

    local_as: int
    """Our AS number."""
    router_id: IPv4Address
    """Our BGP identifier."""
    peer_as: int | None
    """The AS the peer must claim (RFC 4271 §6.2); None accepts any (dynamic peers)."""
    peer_address: str = ""
    """The peer address as text, for reasons and logs."""
    families: frozenset[Family] = frozenset({IPV4_UNICAST})
    """Families we advertise in multiprotocol capabilities (RFC 4760 §8)."""
    timers: FsmTimers = attrs.field(factory=FsmTimers)
    """Hold time proposed, keepalive, connect retry, error wait, send hold time, passive."""
    route_refresh: bool = True
    """Advertise route refresh (RFC 2918)."""
    enhanced_route_refresh: bool = True
    """Advertise enhanced route refresh (RFC 7313)."""
    extended_message: bool = False
    """Advertise extended messages (RFC 8654)."""
    add_path_send: frozenset[Family] = frozenset()
    """Families we can send several paths for (RFC 7911)."""
    add_path_receive: frozenset[Family] = frozenset()
    """Families we accept several paths for (RFC 7911)."""
    extended_next_hop: frozenset[Family] = frozenset()
    """NLRI families for which we accept an IPv6 next hop (RFC 8950)."""
    graceful_restart: GracefulRestartCapability | None = None
    """Our graceful restart capability, advertised as is (None: not advertised)."""
    role: int | None = None
    """Our RFC 9234 role on this session (None: no role capability)."""
    hostname: str | None = None
    """Advertise the FQDN capability with this host name."""


def build_open(config: SessionConfig) -> Open:
    """Our OPEN for this session: capabilities in a stable order (RFC 5492)."""
    caps: list[Capability] = [
        MultiprotocolCapability(afi, safi) for afi, safi in sorted(config.families)
    ]
    if config.route_refresh:
        caps.append(RouteRefreshCapability())
    if config.enhanced_route_refresh:
        caps.append(EnhancedRouteRefreshCapability())
    if config.extended_message:
        caps.append(ExtendedMessageCapability())
    if config.extended_next_hop:
        caps.append(
            ExtendedNextHopCapability(
                tuple(
                    ExtendedNextHopEntry(afi, safi, 2)
                    for afi, safi in sorted(config.extended_next_hop)
                )
            )
        )
    add_path = sorted(config.add_path_send | config.add_path_receive)
    if add_path:
        caps.append(
            AddPathCapability(
                tuple(
                    AddPathEntry(
                        afi,
                        safi,
                        send=(afi, safi) in config.add_path_send,
                        receive=(afi, safi) in config.add_path_receive,
                    )
                    for afi, safi in add_path
                )
            )
        )
    if config.graceful_restart is not None:
        caps.append(config.graceful_restart)
    if config.role is not None:
        caps.append(RoleCapability(config.role))
    if config.hostname:
        caps.append(FqdnCapability(config.hostname, ""))
    caps.append(FourOctetAsCapability(config.local_as))
    return Open.create(config.local_as, config.timers.hold_time, config.router_id, tuple(caps))


def _open_error(subcode: int, reason: str) -> RemoteProtocolError:
    return RemoteProtocolError(ErrorCode.OPEN_MESSAGE, subcode, b"", reason)


def negotiate(config: SessionConfig, local: Open, peer: Open) -> NegotiatedSession:
    """The capabilities both OPENs agree on (hold/keepalive times are the FSM's to fill in).

    Raises :class:`RemoteProtocolError` 2/11 on an RFC 9234 role mismatch.
    """
    def has_refresh(open_: Open) -> bool:
        return (
            open_.capability(RouteRefreshCapability) is not None
            or open_.capability(RouteRefreshOldCiscoCapability) is not None
        )

    local_role_cap = local.capability(RoleCapability)
    peer_role_cap = peer.capability(RoleCapability)
    local_role = None if local_role_cap is None else local_role_cap.role
    peer_role = None if peer_role_cap is None else peer_role_cap.role
    if (
        local_role is not None
        and peer_role is not None
        and (local_role, peer_role) not in _ROLE_PAIRS
    ):
        # RFC 9234 §4.2: an unacceptable pair of roles is a Role Mismatch (2/11).
        raise _open_error(
            OpenMessageSubcode.ROLE_MISMATCH,
            f"role mismatch: we are {_role_name(local_role)}, the peer says it is "
            f"{_role_name(peer_role)} (RFC 9234 §4.2)",
        )
    fqdn = peer.capability(FqdnCapability)
    # Families (RFC 4760 §8), 4-octet AS, extended messages, ADD-PATH (RFC 7911 §4) and
    # extended next hop (RFC 8950 §3): the codec's own negotiation of the two OPENs.
    negotiated = attrs.evolve(negotiate_open(local, peer), local_as=config.local_as)
    return NegotiatedSession(
        negotiated=negotiated,
        peer_router_id=peer.router_id,
        local_open=local,
        peer_open=peer,
        route_refresh=has_refresh(local) and has_refresh(peer),
        enhanced_route_refresh=(
            local.capability(EnhancedRouteRefreshCapability) is not None
            and peer.capability(EnhancedRouteRefreshCapability) is not None
        ),
        graceful_restart=peer.capability(GracefulRestartCapability),
        local_role=local_role,
        peer_role=peer_role,
        hostname=None if fqdn is None else fqdn.hostname,
    )


def _role_name(role: int) -> str:
    try:
        return Role(role).name.lower().replace("_", "-")
    except ValueError:
        return f"role {role}"


def collision_loser(local_router_id: IPv4Address, existing: Session, new: Session) -> Session:
    """RFC 4271 §6.8: which of two connections to the same peer to close.

    The BGP identifiers are compared as unsigned integers; when ours is the lower, the
    connection *we* initiated is closed, otherwise the one the peer initiated. A collision with
    an Established session always closes the other connection.
    """
    if existing.state is State.ESTABLISHED:
        return new
    if new.state is State.ESTABLISHED:
        # Whichever connection reached Established first stays: closing an Established
        # session over a collision would tear down a working session (RFC 4271 §6.8).
        return existing
    peer_id = existing.peer_router_id or new.peer_router_id
    if peer_id is None or existing.outgoing == new.outgoing:
        return new
    close_ours = int(local_router_id) < int(peer_id)
    return existing if existing.outgoing == close_ours else new


@attrs.define
class Session:
    """One peer's session: the FSM plus framing, decoding and negotiation. No I/O."""

    config: SessionConfig
    fsm: Fsm = attrs.field()
    outgoing: bool = False
    """Whether the current connection was initiated by us (RFC 4271 §6.8)."""
    messages_received: int = 0
    messages_sent: int = 0
    updates_received: int = 0
    updates_sent: int = 0
    state_since: float = 0.0
    """When the FSM last changed state (the shell's clock)."""
    _reader: MessageReader = attrs.field(factory=MessageReader)
    _local_open: Open = attrs.field(init=False)

    @fsm.default
    def _default_fsm(self) -> Fsm:
        return Fsm(timers=self.config.timers)

    def __attrs_post_init__(self) -> None:
        self._local_open = build_open(self.config)
        self.fsm.open_message = self._local_open

    def update_open(self, config: SessionConfig) -> None:
        """Send the OPEN of ``config`` from the next connection on (graceful restart's R- and
        F-bits are cleared once our restart is over, RFC 4724 §3); what was negotiated on the
        current connection stays as it is."""
        self.config = config
        self._local_open = build_open(config)
        self.fsm.open_message = self._local_open

    # ---------------------------------------------------------------- state

    @property
    def state(self) -> State:
        """The RFC 4271 state."""
        return self.fsm.state

    @property
    def negotiated(self) -> NegotiatedSession | None:
        """The negotiated session once the peer's OPEN is in (None before, and after a drop)."""
        return self.fsm.negotiated

    @property
    def peer_router_id(self) -> IPv4Address | None:
        """The peer's BGP identifier, once its OPEN was received."""
        negotiated = self.fsm.negotiated
        return None if negotiated is None else negotiated.peer_router_id

    @property
    def local_open(self) -> Open:
        """The OPEN this session sends."""
        return self._local_open

    @property
    def last_reason(self) -> str:
        """The last error or NOTIFICATION in words."""
        return self.fsm.last_reason

    def record_reason(self, reason: str) -> None:
        """Keep ``reason`` as the last error without an FSM event (e.g. a connection attempt
        abandoned by the shell because it hung)."""
        self.fsm.last_reason = reason

    @property
    def auto_restart(self) -> bool:
        """Whether the session restarts itself after an error (RFC 4271 §8.1.1
        AllowAutomaticStart with DampPeerOscillations); False for a collision candidate."""
        return self.fsm.auto_restart

    @auto_restart.setter
    def auto_restart(self, value: bool) -> None:
        self.fsm.auto_restart = value

    @property
    def error_wait_until(self) -> float | None:
        """When the error back-off (IdleHoldTimer) ends, while it runs; else None."""
        return self.fsm.deadline(Timer.IDLE_HOLD)

    @property
    def failures(self) -> int:
        """Consecutive session failures (what the error back-off grows with)."""
        return self.fsm.failures

    def next_deadline(self) -> float | None:
        """When :meth:`handle_timers` must next be called (None: no timer running)."""
        return self.fsm.next_deadline()

    # ---------------------------------------------------------------- inputs

    def start(self, now: float, *, passive: bool = False, automatic: bool = False) -> list[Action]:
        """ManualStart (or AutomaticStart), with PassiveTcpEstablishment when ``passive``."""
        if automatic:
            event = E.AutomaticStart_with_PassiveTcpEstablishment if passive else E.AutomaticStart
        else:
            event = E.ManualStart_with_PassiveTcpEstablishment if passive else E.ManualStart
        return self._fsm(event, now)

    def stop(
        self,
        now: float,
        message: str = "",
        subcode: int = CeaseSubcode.ADMINISTRATIVE_SHUTDOWN,
    ) -> list[Action]:
        """ManualStop: Cease with an RFC 9003 shutdown communication when connected."""
        if subcode in (CeaseSubcode.ADMINISTRATIVE_SHUTDOWN, CeaseSubcode.ADMINISTRATIVE_RESET):
            notification = Notification.shutdown(subcode, message)
        else:
            notification = Notification(ErrorCode.CEASE, subcode)
        reason = f"stopped: {notification.describe()}"
        return self._fsm(E.ManualStop, now, EventData(notification=notification, reason=reason))

    def automatic_stop(self, now: float, notification: Notification, reason: str) -> list[Action]:
        """AutomaticStop (e.g. maximum prefixes reached, RFC 4486 Cease/1)."""
        return self._fsm(E.AutomaticStop, now, EventData(notification=notification, reason=reason))

    def connection_made(self, now: float, *, outgoing: bool) -> list[Action]:
        """A TCP connection is up (Tcp_CR_Acked when ours, TcpConnectionConfirmed when the
        peer's): the FSM sends the OPEN."""
        self.outgoing = outgoing
        self._reader = MessageReader()
        event = E.Tcp_CR_Acked if outgoing else E.TcpConnectionConfirmed
        return self._fsm(event, now)

    def connection_lost(self, now: float, reason: str = "") -> list[Action]:
        """The TCP connection closed or broke (TcpConnectionFails)."""
        return self._fsm(
            E.TcpConnectionFails, now, EventData(reason=reason or "TCP connection closed")
        )

    def connect_failed(self, now: float, reason: str) -> list[Action]:
        """An outgoing connection attempt failed (TcpConnectionFails in Connect)."""
        return self._fsm(E.TcpConnectionFails, now, EventData(reason=reason))

    def collision_dump(self, now: float, reason: str = "") -> list[Action]:
        """OpenCollisionDump: this connection lost RFC 4271 §6.8 collision resolution."""
        return self._fsm(
            E.OpenCollisionDump,
            now,
            EventData(reason=reason or "closed by connection collision resolution (RFC 4271 §6.8)"),
        )

    def send_stalled(self, now: float, since: float | None = None) -> list[Action]:
        """The shell's writes stopped making progress (RFC 9687 send hold timer starts)."""
        return self._fsm(E.SendBufferStalled, now, EventData(since=since))

    def send_drained(self, now: float) -> list[Action]:
        """The shell's writes are moving again (RFC 9687 send hold timer stops)."""
        return self._fsm(E.SendBufferDrained, now)

    def handle_timers(self, now: float) -> list[Action]:
        """Fire every FSM timer due at ``now``."""
        return self._finish(self.fsm.handle_timers(now), now)

    def send_update(self, data: bytes, now: float) -> list[Action]:
        """Send one encoded UPDATE message (whole, header included) when Established.

        Returns ``[SendBytes]``, or a Note when the session is not Established (the RIB
        re-sends the table at the next SessionUp anyway).
        """
        if self.fsm.state is not State.ESTABLISHED:
            return [Note(f"UPDATE not sent: session is {self.fsm.state}", "debug")]
        self.updates_written(1, now)
        return [SendBytes(data, "UPDATE")]

    def updates_written(self, count: int, now: float) -> None:
        """``count`` encoded UPDATEs were written by the caller while Established (the bulk
        form of :meth:`send_update`, without building actions): counted, and the
        KeepaliveTimer restarted (RFC 4271 §8.2.2: an UPDATE sent restarts it)."""
        self.fsm.message_sent(now)
        self.messages_sent += count
        self.updates_sent += count

    def send_route_refresh(self, family: Family, now: float, subtype: int = 0) -> list[Action]:
        """Ask the peer to re-send a family (RFC 2918), when route refresh was negotiated."""
        negotiated = self.fsm.negotiated
        if self.fsm.state is not State.ESTABLISHED or negotiated is None:
            return [Note("ROUTE-REFRESH not sent: session not Established", "debug")]
        if not negotiated.route_refresh:
            return [Note("ROUTE-REFRESH not sent: the peer did not advertise route refresh")]
        self.messages_sent += 1
        refresh = RouteRefresh(family[0], family[1], subtype)
        return [SendBytes(encode_route_refresh(refresh), "ROUTE-REFRESH")]

    def receive_data(self, data: bytes, now: float) -> list[Action]:
        """Bytes from the connection: frame, decode, drive the FSM; return the actions."""
        if not self.fsm.connected:
            return []
        try:
            raws = self._reader.feed(data)
        except RemoteProtocolError as error:
            # RFC 4271 §6.1: message header error (marker, length, type).
            raws = []
            header_error: RemoteProtocolError | None = error
        else:
            header_error = None
        actions: list[Action] = []
        for raw in raws:
            if not self.fsm.connected:
                break  # the session went down on an earlier message of this batch
            self.messages_received += 1
            actions.extend(self._receive_message(raw, now))
        if header_error is not None and self.fsm.connected:
            actions.extend(self._error_event(E.BGPHeaderErr, header_error, now))
        return actions

    # ---------------------------------------------------------------- internals

    def _receive_message(self, raw: RawMessage, now: float) -> list[Action]:
        mtype = raw.type
        state = self.fsm.state
        if mtype == MessageType.KEEPALIVE:
            # the reader checked the length already (RFC 4271 §4.4)
            return self._fsm(E.KeepAliveMsg, now)
        if mtype == MessageType.UPDATE:
            if state is not State.ESTABLISHED:
                return self._fsm(E.UpdateMsg, now)  # an FSM error (RFC 6608)
            return self._receive_update(raw.body, now)
        if mtype == MessageType.NOTIFICATION:
            try:
                notification = decode_notification(raw.body)
            except RemoteProtocolError as error:
                return self._error_event(E.BGPHeaderErr, error, now)
            # RFC 4271 §8.1 event 24: a NOTIFICATION with an OPEN version error.
            event = (
                E.NotifMsgVerErr
                if notification.code == ErrorCode.OPEN_MESSAGE
                and notification.subcode == OpenMessageSubcode.UNSUPPORTED_VERSION_NUMBER
                else E.NotifMsg
            )
            return self._fsm(event, now, EventData(notification=notification))
        if mtype == MessageType.OPEN:
            return self._receive_open(raw.body, now)
        if mtype == MessageType.ROUTE_REFRESH:
            return self._receive_route_refresh(raw.body, now)
        return []  # pragma: no cover - the reader rejects unknown types (RFC 4271 §6.1)

    def _receive_open(self, body: bytes, now: float) -> list[Action]:
        try:
            peer = decode_open(body)
        except RemoteProtocolError as error:
            event = E.BGPHeaderErr if error.is_header_error else E.BGPOpenMsgErr
            return self._error_event(event, error, now)
        if self.fsm.state is not State.OPEN_SENT:
            return self._fsm(E.BGPOpen, now)  # an FSM error in OpenConfirm/Established
        try:
            # RFC 4271 §6.2 checks (version, peer AS, hold time 1/2, identifier, parameters).
            validate_open(
                peer,
                peer_as=self.config.peer_as,
                local_router_id=self.config.router_id,
                local_as=self.config.local_as,
            )
            negotiated = negotiate(self.config, self._local_open, peer)
        except RemoteProtocolError as error:
            return self._error_event(E.BGPOpenMsgErr, error, now)
        # RFC 8654 §4: extended messages negotiated: accept up to 65535 octets from now on.
        self._reader.max_length = negotiated.negotiated.max_message_length
        names = ", ".join(family_name(f) for f in sorted(negotiated.families)) or "none"
        return self._fsm(
            E.BGPOpen,
            now,
            EventData(
                hold_time=peer.hold_time,
                negotiated=negotiated,
                reason=f"OPEN received from AS {peer.my_as} id {peer.router_id} "
                f"(families: {names})",
            ),
        )

    def _receive_update(self, body: bytes, now: float) -> list[Action]:
        negotiated = self.fsm.negotiated
        assert negotiated is not None
        try:
            result = decode_update(body, negotiated.negotiated)
        except RemoteProtocolError as error:
            # RFC 7606 §2 session reset: 3/x NOTIFICATION (UpdateMsgErr, RFC 4271 §8.1).
            return self._error_event(E.UpdateMsgErr, error, now)
        self.updates_received += 1
        # NLRI of families that were not negotiated (RFC 4760 §8) and the AS4_PATH of a
        # 2-octet speaker (RFC 6793 §4.2.3) are the RIB's to handle, once, on import.
        notes: list[Action] = [Note(f"UPDATE: {issue}", "warning") for issue in result.issues]
        return notes + self._fsm(E.UpdateMsg, now, EventData(update=result))

    def _receive_route_refresh(self, body: bytes, now: float) -> list[Action]:
        try:
            refresh = decode_route_refresh(body)
        except RemoteProtocolError as error:
            # RFC 7313 §5: a malformed ROUTE-REFRESH is answered with 7/1 and a reset.
            return self._error_event(E.BGPHeaderErr, error, now)
        negotiated = self.fsm.negotiated
        if self.fsm.state is State.ESTABLISHED and negotiated is not None:
            if not refresh.known_subtype:
                # RFC 7313 §5: ignore a ROUTE-REFRESH with an unknown subtype.
                return [Note(f"ignored ROUTE-REFRESH with unknown subtype {refresh.subtype}")]
            if refresh.family not in negotiated.families:
                # RFC 2918 §4: ignore a family we did not advertise.
                return [
                    Note(
                        f"ignored ROUTE-REFRESH for {family_name(refresh.family)}: "
                        "not negotiated (RFC 2918 §4)"
                    )
                ]
        return self._fsm(E.RouteRefreshMsg, now, EventData(refresh=refresh))

    def _error_event(self, event: E, error: RemoteProtocolError, now: float) -> list[Action]:
        notification = Notification.from_error(error)
        return self._fsm(
            event,
            now,
            EventData(notification=notification, reason=f"{notification.error}: {error.reason}"),
        )

    def _fsm(self, event: E, now: float, data: EventData | None = None) -> list[Action]:
        return self._finish(self.fsm.handle(event, now, data or _NO_DATA), now)

    def _finish(self, actions: list[Action], now: float) -> list[Action]:
        """Encode SendMessage actions into SendBytes; note state change times."""
        out: list[Action] = []
        for action in actions:
            if isinstance(action, SendMessage):
                out.append(self._encode(action.message))
                continue
            if isinstance(action, SessionUp):
                self._reader.max_length = action.negotiated.negotiated.max_message_length
            out.append(action)
            if isinstance(action, StateChange):
                self.state_since = now
        return out

    def _encode(self, message: Open | Notification | Keepalive) -> SendBytes:
        self.messages_sent += 1
        if isinstance(message, Keepalive):
            return SendBytes(KEEPALIVE_MESSAGE, "KEEPALIVE")
        if isinstance(message, Notification):
            negotiated = self.fsm.negotiated
            max_length = 4096 if negotiated is None else negotiated.negotiated.max_message_length
            return SendBytes(
                encode_notification(message, max_length=max_length),
                f"NOTIFICATION {message.describe()}",
            )
        return SendBytes(encode_open(message), "OPEN")

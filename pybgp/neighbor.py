"""One neighbour without I/O: its sessions, connections, back-off, End-of-RIB and limits.

Theory of operation
-------------------
A :class:`Neighbor` owns one peer's main :class:`~pybgp.session.Session` and, during a
connection collision, a second *candidate* session. It takes every per-peer decision the
asyncio shell (:mod:`pybgp.speaker`) used to take, from inputs that carry ``now``:

* **accepting or refusing a connection** (:meth:`Neighbor.connection_offered`): the session
  that gets it is returned, or a :class:`RefuseConnection` action says why not;
* **RFC 4271 §6.8 collisions**: a connection that arrives while the main session is in OpenSent
  or OpenConfirm becomes the candidate; once either reaches OpenConfirm (or Established)
  :func:`~pybgp.session.collision_loser` picks the one to close with Cease/7, and the candidate
  is *promoted* to main when it wins or when the main connection went down first;
* **error back-off** (RFC 4271 §8.1.1 DampPeerOscillations): the FSM's IdleHoldTimer grows
  5, 10, 20... up to ``error_wait_max`` with consecutive session failures and resets after a
  session that stayed up ``error_wait_max``. A peer that only connects *to us* (``passive`` or
  dynamic) is refused while its back-off runs, so a flapping inbound peer cannot bring its
  routes back at once every time; a peer we connect to ourselves is still accepted (two
  speakers in back-off must not keep refusing each other);
* **dynamic peers' lifetime**: a neighbour built from a ``[[dynamic_peers]]`` range stays after
  its session ended while the back-off runs (refusing), then waits ``error_wait_max`` more
  seconds for the peer to come back (so the back-off can grow) and is then forgotten
  (:class:`ForgetNeighbor`);
* **End-of-RIB per family** (RFC 4724 §2): the families whose End-of-RIB marker has not come
  yet, and :class:`EndOfRibReceived` when one comes;
* **max-prefix** (RFC 4486 Cease subcode 1): before an UPDATE is handed to the RIB, the count
  the peer would hold after it is checked; with ``max_prefixes_action = "stop"`` the UPDATE is
  never delivered and the session is closed, with ``"warn"`` it is delivered with one warning
  per crossing of the limit.

Outputs are :data:`Step` values ``(session, action)`` to carry out in order: the session's
own actions (:class:`~pybgp.fsm.SendBytes`, :class:`~pybgp.fsm.CloseTcp`,
:class:`~pybgp.fsm.ConnectTcp`, :class:`~pybgp.fsm.Note`) name the session whose connection
they concern; the main session's :class:`~pybgp.fsm.SessionUp`,
:class:`~pybgp.fsm.DeliverUpdate` and :class:`~pybgp.fsm.DeliverRouteRefresh` pass through
(a candidate's never do); neighbour actions (:class:`ReportState`, :class:`FlushRoutes`,
:class:`EndOfRibReceived`, :class:`RefuseConnection`, :class:`DiscardSession`,
:class:`ForgetNeighbor`) are this module's. The shell re-arms one ``loop.call_at`` at
:meth:`Neighbor.next_deadline` after every input.

Graceful restart (RFC 4724, RFC 8538), the receiving side
----------------------------------------------------------
The neighbour holds a :class:`~pybgp.graceful_restart.PeerRestart` (``restart``) and consults it
where the routes of the peer change fate:

* :meth:`Neighbor._session_lost` (a main session left Established): :class:`KeepStale` (the
  peer restarts: its routes of those families stay, stale, restart and stale-routes timers
  running) or :class:`FlushRoutes`;
* the main session's SessionUp: :class:`FlushStale` for the stale families the new OPEN does
  not keep (no capability, or no F-bit), before the SessionUp itself;
* :meth:`Neighbor._end_of_rib`: the RIB sweeps what the peer did not re-announce;
* :meth:`Neighbor.handle_timers`: an expired restart or stale-routes timer is a
  :class:`FlushStale`;
* :meth:`Neighbor.connection_offered` / :meth:`Neighbor._after_state_change`: a connection
  while the session with graceful restart is Established is taken as a candidate, and its OPEN
  means the peer restarted (RFC 4724 §4.2): the old session is closed without a NOTIFICATION,
  its routes kept stale, and the candidate becomes the session.

:meth:`Neighbor.shutdown` is the speaker's stop, planned restart or not: which Cease subcode
(or no NOTIFICATION at all) each peer gets depends on what it negotiated (RFC 8538 §4, §5).
"""

from __future__ import annotations

import enum
from collections import OrderedDict
from collections.abc import Callable
from typing import Final, Literal

import attrs

from pybgp.fsm import (
    Action,
    CloseTcp,
    DeliverRouteRefresh,
    DeliverUpdate,
    Fsm,
    NegotiatedSession,
    Note,
    SessionDown,
    SessionUp,
    State,
    StateChange,
)
from pybgp.graceful_restart import (
    FlushStale,
    KeepStale,
    PeerRestart,
    notification_negotiated,
)
from pybgp.session import Session, SessionConfig, collision_loser
from pybgp.wire.capabilities import GracefulRestartCapability
from pybgp.wire.constants import CeaseSubcode, ErrorCode, Family
from pybgp.wire.notification import Notification
from pybgp.wire.update import UpdateResult

__all__ = [
    "CONNECTED",
    "UNCONNECTED",
    "DiscardSession",
    "EndOfRibReceived",
    "FlushRoutes",
    "FlushStale",
    "ForgetNeighbor",
    "KeepStale",
    "LossCause",
    "Neighbor",
    "NeighborAction",
    "NeighborSettings",
    "PrefixCounter",
    "RefusalLog",
    "RefuseConnection",
    "ReportState",
    "Step",
]

CONNECTED: Final = (State.OPEN_SENT, State.OPEN_CONFIRM, State.ESTABLISHED)
"""States with a TCP connection."""
UNCONNECTED: Final = (State.CONNECT, State.ACTIVE)
"""States waiting for a TCP connection."""


# --------------------------------------------------------------------------------------------
# Actions (imperative names, like the FSM's)


@attrs.frozen
class RefuseConnection:
    """Close the connection just offered; write ``notification`` first when there is one.

    ``reason`` is the log line; ``warning`` says whether it deserves a WARNING (a stranger, a
    stopped peer) rather than an INFO (a collision, a back-off)."""

    reason: str
    notification: Notification | None = None
    warning: bool = False


@attrs.frozen
class ReportState:
    """The neighbour's state changed (its main session's, or a promotion): log and publish."""

    old: State
    new: State
    reason: str
    notification: Notification | None = None
    """The NOTIFICATION sent or received on the way, if any."""


@attrs.frozen
class FlushRoutes:
    """Withdraw every route learned from the peer (its Established session went down)."""

    reason: str


@attrs.frozen
class EndOfRibReceived:
    """The peer sent End-of-RIB for ``family``; ``complete`` once every family's came."""

    family: Family
    complete: bool


@attrs.frozen
class DiscardSession:
    """This session is no longer the neighbour's: release its timer, connection attempt and
    connection record (after the actions before this one were carried out)."""


@attrs.frozen
class ForgetNeighbor:
    """A dynamic neighbour is done: forget it (and its routes' peer entry)."""

    reason: str


NeighborAction = (
    RefuseConnection
    | ReportState
    | FlushRoutes
    | EndOfRibReceived
    | DiscardSession
    | ForgetNeighbor
    | KeepStale
    | FlushStale
)
"""Actions of the neighbour itself (beside the sessions' :data:`~pybgp.fsm.Action`)."""

Step = tuple[Session | None, Action | NeighborAction]
"""One thing to do: the session it concerns (None for a connection not given to any) and the
action."""


class LossCause(enum.Enum):
    """Why a session went down, as graceful restart needs it (RFC 4724 §4.2)."""

    TCP_CLOSED = "tcp-closed"
    """The connection closed or broke without a NOTIFICATION."""
    HOLD_TIMER = "hold-timer"
    """We sent NOTIFICATION 4 (Hold Timer Expired)."""
    NOTIFICATION_RECEIVED = "notification-received"
    NOTIFICATION_SENT = "notification-sent"
    STOPPED = "stopped"
    """ManualStop (removal, reset, shutdown) or a collision that closed this connection."""


PrefixCounter = Callable[[UpdateResult], int]
"""Given UPDATEs in the order they will be applied, the number of prefixes the peer holds in
its Adj-RIB-In after each (see :meth:`pybgp.rib.Rib.prefix_counter`)."""


@attrs.frozen
class NeighborSettings:
    """What a neighbour needs to know beyond its sessions' configuration."""

    session: SessionConfig
    dynamic: bool = False
    """Built from a ``[[dynamic_peers]]`` range: only accepts, forgotten when done."""
    passive: bool = False
    """Never connects out (``passive = true``)."""
    enabled: bool = True
    max_prefixes: int = 0
    """0 = no limit (RFC 4486 Cease 1 above it)."""
    max_prefixes_action: Literal["stop", "warn"] = "stop"
    """``stop``: refuse the UPDATE and close the session; ``warn``: log and keep going."""
    stale_routes_time: float = 360.0
    """Graceful restart: the longest the peer's routes stay stale over its restart."""

    @property
    def inbound_only(self) -> bool:
        """The peer connects to us, never we to it: its back-off refuses its connections."""
        return self.dynamic or self.passive


# --------------------------------------------------------------------------------------------
# The neighbour


@attrs.define(eq=False)
class Neighbor:
    """One peer: main + candidate sessions and the per-peer decisions (module docstring)."""

    settings: NeighborSettings
    prefix_counter: Callable[[], PrefixCounter] | None = None
    """Starts a count of the peer's prefixes (needed when ``max_prefixes`` is set)."""
    random: Callable[[], float] | None = None
    """The FSMs' jitter source (tests pass a constant)."""
    main: Session = attrs.field(init=False)
    candidate: Session | None = attrs.field(init=False, default=None)
    removed: bool = attrs.field(init=False, default=False)
    """Stopped for good (removed or the speaker stopping): every later input is ignored."""
    end_of_rib_pending: frozenset[Family] | None = attrs.field(init=False, default=None)
    """Families whose End-of-RIB the peer has not sent yet (None: never Established)."""
    forget_at: float | None = attrs.field(init=False, default=None)
    """A dynamic neighbour without a session is forgotten then."""
    last_negotiated: NegotiatedSession | None = attrs.field(init=False, default=None)
    """What the last Established main session negotiated, kept after it went down (the
    session forgets it on the way to Idle): the peer's graceful restart capability is here
    when :meth:`_session_lost` decides."""
    restart: PeerRestart = attrs.field(init=False)
    """The peer's graceful restart state (RFC 4724 §4.2, receiving speaker)."""
    _over_limit: bool = attrs.field(init=False, default=False)

    def __attrs_post_init__(self) -> None:
        self.main = self._new_session(auto_restart=True)
        self.restart = PeerRestart(self.settings.stale_routes_time)

    # ---------------------------------------------------------------- read-only views

    @property
    def state(self) -> State:
        """The main session's RFC 4271 state."""
        return self.main.state

    @property
    def sessions(self) -> tuple[Session, ...]:
        """The main session and the candidate, if any."""
        return (self.main,) if self.candidate is None else (self.main, self.candidate)

    @property
    def in_back_off(self) -> bool:
        """Idle, waiting out the error back-off before the session may start again."""
        return self.main.state is State.IDLE and self.main.error_wait_until is not None

    @property
    def graceful_restart(self) -> bool:
        """Both OPENs of the main session carried the graceful restart capability."""
        local, peer = _capabilities(self.main.negotiated)
        return local is not None and peer is not None

    def next_deadline(self) -> float | None:
        """When :meth:`handle_timers` must next be called (None: nothing to wait for)."""
        deadlines = [s.next_deadline() for s in self.sessions]
        deadlines.append(self.forget_at)
        deadlines.append(self.restart.next_deadline())
        due = [d for d in deadlines if d is not None]
        return min(due) if due else None

    # ---------------------------------------------------------------- inputs

    def start(self, now: float) -> list[Step]:
        """Start the configured peer (connecting unless passive; dynamic ones only accept)."""
        if self.removed or not self.settings.enabled:
            return []
        passive = self.settings.passive or self.settings.dynamic
        return self._output(self.main, self.main.start(now, passive=passive), now)

    def stop(
        self,
        now: float,
        message: str = "",
        subcode: int = CeaseSubcode.ADMINISTRATIVE_SHUTDOWN,
    ) -> list[Step]:
        """Stop for good (Cease ``subcode``, RFC 9003 ``message``): both sessions, then
        :class:`DiscardSession` for each."""
        self.removed = True
        self.forget_at = None
        steps: list[Step] = []
        for session in (self.candidate, self.main):
            if session is None:
                continue
            steps += self._output(session, session.stop(now, message, subcode), now)
            steps.append((session, DiscardSession()))
        self.candidate = None
        return steps

    def shutdown(self, now: float, message: str = "", *, restart: bool = False) -> list[Step]:
        """The speaker stops (see :meth:`stop`), choosing the Cease by what was negotiated.

        ``restart`` = a planned graceful restart: a peer with the N-bit gets Cease/
        Administrative Reset (RFC 8538 §4: it keeps our routes), one without gets no
        NOTIFICATION at all, the TCP connection is just closed (RFC 4724 §4.2, as BIRD does).
        Otherwise a peer with the N-bit gets Cease/Hard Reset (RFC 8538 §5: only that makes it
        flush our routes), the others Administrative Shutdown.
        """
        local, peer = _capabilities(self.main.negotiated)
        if local is None or peer is None:
            return self.stop(now, message, CeaseSubcode.ADMINISTRATIVE_SHUTDOWN)
        n_bit = notification_negotiated(local, peer)
        if not restart:
            subcode = CeaseSubcode.HARD_RESET if n_bit else CeaseSubcode.ADMINISTRATIVE_SHUTDOWN
            return self.stop(now, message, subcode)
        if n_bit:
            return self.stop(now, "graceful restart", CeaseSubcode.ADMINISTRATIVE_RESET)
        self.removed = True
        self.forget_at = None
        steps: list[Step] = []
        for session in (self.candidate, self.main):
            if session is None:
                continue
            steps.append((session, CloseTcp(abort=True)))
            steps += self._output(session, session.connection_lost(now, "graceful restart"), now)
            steps.append((session, DiscardSession()))
        self.candidate = None
        return steps

    def update_session_config(self, config: SessionConfig) -> None:
        """Use ``config`` for the OPENs sent from now on (graceful restart's R-bit cleared
        after our restart, RFC 4724 §3); the current sessions keep what they negotiated."""
        self.settings = attrs.evolve(self.settings, session=config)
        for session in self.sessions:
            session.update_open(config)

    def connection_offered(
        self, now: float, *, outgoing: bool
    ) -> tuple[Session | None, list[Step]]:
        """A TCP connection to or from the peer is up: the session that takes it (the shell
        attaches the connection to it before carrying out the steps), or None with a
        :class:`RefuseConnection` step."""
        main = self.main
        if self.removed:
            return None, [(None, RefuseConnection("peer removed"))]
        steps: list[Step] = []
        if not outgoing and self.in_back_off:
            until = main.error_wait_until
            if self.settings.inbound_only:
                # RFC 4271 §8.1.1 DampPeerOscillations: the peer flapped; it waits.
                return None, [
                    (
                        None,
                        RefuseConnection(
                            f"incoming connection refused: error back-off for "
                            f"{(until or now) - now:.0f} s more (RFC 4271 §8.1.1 "
                            f"DampPeerOscillations, failure {main.failures})"
                        ),
                    )
                ]
            # A peer we also connect to calls during our back-off: accept, or two speakers
            # in back-off would keep refusing each other.
            steps += self._output(main, main.start(now, passive=True, automatic=True), now)
        state = main.state
        if state in UNCONNECTED:
            self.forget_at = None
            steps += self._output(main, main.connection_made(now, outgoing=outgoing), now)
            return main, steps
        if self.candidate is None and (
            state in (State.OPEN_SENT, State.OPEN_CONFIRM)
            or (state is State.ESTABLISHED and not outgoing and self.graceful_restart)
        ):
            # RFC 4271 §6.8: keep both until an OPEN tells us the peer's BGP identifier.
            # Established with graceful restart: the peer may have restarted without our
            # noticing (RFC 4724 §4.2); its OPEN decides (see _after_state_change).
            candidate = self._new_session(auto_restart=False)
            self.candidate = candidate
            steps += self._output(candidate, candidate.start(now, passive=True), now)
            steps += self._output(candidate, candidate.connection_made(now, outgoing=outgoing), now)
            return candidate, steps
        if outgoing:
            return None, [*steps, (None, RefuseConnection(f"connection not needed: {state}"))]
        # Established (RFC 4271 §6.8: close the new connection) or stopped.
        subcode = (
            CeaseSubcode.CONNECTION_COLLISION_RESOLUTION
            if state in CONNECTED
            else CeaseSubcode.CONNECTION_REJECTED
        )
        refusal = RefuseConnection(
            f"incoming connection refused: session is {state}",
            Notification(ErrorCode.CEASE, subcode),
        )
        return None, [*steps, (None, refusal)]

    def receive_data(self, session: Session, data: bytes, now: float) -> list[Step]:
        """Bytes from ``session``'s connection."""
        return self._output(session, session.receive_data(data, now), now)

    def connection_lost(self, session: Session, now: float, reason: str) -> list[Step]:
        """``session``'s connection closed or broke."""
        return self._output(session, session.connection_lost(now, reason), now)

    def connect_failed(self, session: Session, now: float, reason: str) -> list[Step]:
        """An outgoing connection attempt of ``session`` failed."""
        if self.removed or session.state is not State.CONNECT:
            return [(session, Note(f"{reason} (ignored: session is {session.state})", "debug"))]
        return self._output(session, session.connect_failed(now, reason), now)

    def send_stalled(self, session: Session, now: float) -> list[Step]:
        """Writes to ``session``'s connection stopped moving (RFC 9687)."""
        return self._output(session, session.send_stalled(now), now)

    def send_drained(self, session: Session, now: float) -> list[Step]:
        """Writes to ``session``'s connection move again."""
        return self._output(session, session.send_drained(now), now)

    def handle_timers(self, now: float) -> list[Step]:
        """Fire every session timer due at ``now`` and the dynamic neighbour's end of life."""
        steps: list[Step] = []
        for session in self.sessions:
            deadline = session.next_deadline()
            if deadline is not None and deadline <= now:
                steps += self._output(session, session.handle_timers(now), now)
        deadline = self.restart.next_deadline()
        if deadline is not None and deadline <= now:
            steps += [(self.main, action) for action in self.restart.handle_timers(now)]
        if (
            self.forget_at is not None
            and self.forget_at <= now
            and not self.removed
            and self.candidate is None
            and self.main.state in UNCONNECTED
        ):
            steps += self._forget("dynamic peer did not come back")
        return steps

    # ---------------------------------------------------------------- the decisions

    def _new_session(self, *, auto_restart: bool) -> Session:
        config = self.settings.session
        if self.settings.inbound_only and not config.timers.passive:
            config = attrs.evolve(config, timers=attrs.evolve(config.timers, passive=True))
        fsm = (
            Fsm(timers=config.timers)
            if self.random is None
            else Fsm(timers=config.timers, random=self.random)
        )
        session = Session(config, fsm)
        session.auto_restart = auto_restart
        return session

    def _output(self, session: Session, actions: list[Action], now: float) -> list[Step]:
        """A session's actions, decided on: pass, translate or hold back; then collisions."""
        steps: list[Step] = []
        is_main = session is self.main
        notification: Notification | None = None
        changed = False
        counter: PrefixCounter | None = None
        stop_reason: str | None = None
        for action in actions:
            if isinstance(action, StateChange):
                changed = True
                if is_main:
                    steps.append(
                        (
                            session,
                            ReportState(action.old, action.new, action.reason, notification),
                        )
                    )
            elif isinstance(action, SessionDown):
                notification = action.notification_sent or action.notification_received
                if is_main:
                    steps += [(session, a) for a in self._session_lost(session, action, now)]
            elif isinstance(action, DeliverUpdate):
                if not is_main or self.removed or stop_reason is not None:
                    continue
                if self.settings.max_prefixes and self.prefix_counter is not None:
                    counter = counter or self.prefix_counter()
                    verdict = self._check_limit(counter(action.update))
                    if verdict is not None:
                        if self.settings.max_prefixes_action == "stop":
                            stop_reason = verdict
                            continue
                        steps.append((session, Note(verdict, "warning")))
                steps.append((session, action))
                eor = action.update.update.end_of_rib
                if eor is not None:
                    steps += [(session, a) for a in self._end_of_rib(eor, now)]
            elif isinstance(action, DeliverRouteRefresh):
                if is_main and not self.removed:
                    steps.append((session, action))
            elif isinstance(action, SessionUp):
                if is_main and not self.removed:
                    steps += self._main_up(session, action.negotiated, now)
            else:
                steps.append((session, action))
        if stop_reason is not None:
            # RFC 4486 §4: Cease / Maximum Number of Prefixes Reached, before the UPDATE that
            # went over the limit (or any after it) reaches the RIB.
            cease = Notification(ErrorCode.CEASE, CeaseSubcode.MAXIMUM_PREFIXES_REACHED)
            steps.append((session, Note(stop_reason, "warning")))
            steps += self._output(session, session.automatic_stop(now, cease, stop_reason), now)
        if changed:
            steps += self._after_state_change(now)
        return steps

    def _check_limit(self, count: int) -> str | None:
        """The words of a max-prefix violation, or None (``warn`` reports each crossing once)."""
        limit = self.settings.max_prefixes
        if count <= limit:
            self._over_limit = False
            return None
        if self.settings.max_prefixes_action == "warn":
            if self._over_limit:
                return None
            self._over_limit = True
            return (
                f"maximum number of prefixes ({limit}) exceeded: {count} received "
                "(max_prefixes_action = warn: routes kept)"
            )
        return f"maximum number of prefixes ({limit}) exceeded"

    def _main_up(self, session: Session, negotiated: NegotiatedSession, now: float) -> list[Step]:
        """The main session reached Established: the stale families its OPEN does not keep
        are flushed first (RFC 4724 §4.2), then the SessionUp."""
        self.end_of_rib_pending = negotiated.families
        self.last_negotiated = negotiated
        self._over_limit = False
        local, peer = _capabilities(negotiated)
        flush = self.restart.session_up(now, local, peer, negotiated.families)
        return [*((session, a) for a in flush), (session, SessionUp(negotiated))]

    def _session_lost(
        self, session: Session, down: SessionDown, now: float
    ) -> list[Action | NeighborAction]:
        """The main session went down: what becomes of the peer's routes. With graceful
        restart negotiated, RFC 4724 §4.2 / RFC 8538 §4 decide (``restart``)."""
        cause = _loss_cause(down)
        if not down.was_established:
            return []
        verdict = self.restart.session_lost(
            now,
            self.settings.session.families,
            sent=down.notification_sent,
            received=down.notification_received,
        )
        if isinstance(verdict, KeepStale) and verdict.families:
            return [verdict]
        return [FlushRoutes(f"{down.reason} ({cause.value})")]

    def _end_of_rib(self, family: Family, now: float) -> list[NeighborAction]:
        """End-of-RIB for ``family`` arrived on the main session (RFC 4724 §2); the RIB sweeps
        the family's stale routes itself (RFC 4724 §4.2)."""
        self.restart.end_of_rib(now, family)
        pending = self.end_of_rib_pending
        if pending is None or family not in pending:
            return []
        self.end_of_rib_pending = pending - {family}
        return [EndOfRibReceived(family, not self.end_of_rib_pending)]

    def _after_state_change(self, now: float) -> list[Step]:
        """Collision resolution (RFC 4271 §6.8), promotion, dynamic neighbours' lifetime."""
        steps: list[Step] = []
        if self.removed:
            return steps
        candidate, main = self.candidate, self.main
        if candidate is not None:
            cstate, mstate = candidate.state, main.state
            if cstate is State.IDLE:
                self.candidate = None
                steps.append((candidate, DiscardSession()))
            elif cstate not in CONNECTED:
                pass  # being set up: its connection is attached next
            elif mstate not in CONNECTED:
                steps += self._promote("the other connection went down")
                steps.append((main, DiscardSession()))
            elif mstate is State.ESTABLISHED and self.graceful_restart:
                if cstate in (State.OPEN_CONFIRM, State.ESTABLISHED):  # its OPEN came
                    steps += self._peer_restarted(now)
            elif State.OPEN_CONFIRM in (cstate, mstate) or State.ESTABLISHED in (cstate, mstate):
                loser = collision_loser(main.config.router_id, main, candidate)
                winner = main if loser is candidate else candidate
                kept = "our" if winner.outgoing else "the peer's"
                note = f"connection collision: keeping {kept} connection (RFC 4271 §6.8)"
                steps.append((winner, Note(note)))
                if winner is candidate:
                    steps += self._promote(f"connection collision: kept {kept} connection")
                else:
                    self.candidate = None
                steps += self._output(loser, loser.collision_dump(now), now)
                steps.append((loser, DiscardSession()))
        main = self.main
        if self.settings.dynamic and not self.removed and self.candidate is None:
            if main.state is State.IDLE and main.error_wait_until is None:
                steps += self._forget("session ended")
            elif main.state in UNCONNECTED and self.forget_at is None:
                # Back-off over: the peer may come back for a while, keeping its failures.
                self.forget_at = now + main.config.timers.error_wait_max
        return steps

    def _peer_restarted(self, now: float) -> list[Step]:
        """RFC 4724 §4.2: a new OPEN while the session with graceful restart is Established.
        The old session is closed without a NOTIFICATION, its routes kept stale, and the new
        one becomes the main session."""
        old, candidate = self.main, self.candidate
        assert candidate is not None
        reason = "the peer restarted: new OPEN while Established (RFC 4724 §4.2)"
        down = SessionDown(reason, was_established=True)
        steps: list[Step] = [(old, Note(reason))]
        steps += [(old, a) for a in self._session_lost(old, down, now)]
        steps += self._promote(reason)
        steps.append((old, CloseTcp(abort=True)))
        steps += self._output(old, old.connection_lost(now, reason), now)
        steps.append((old, DiscardSession()))
        negotiated = candidate.negotiated
        if candidate.state is State.ESTABLISHED and negotiated is not None:
            # OPEN and KEEPALIVE came in one read: its SessionUp passed while a candidate.
            steps += self._main_up(candidate, negotiated, now)
        return steps

    def _promote(self, reason: str) -> list[Step]:
        candidate = self.candidate
        assert candidate is not None
        old = self.main
        self.main, self.candidate = candidate, None
        candidate.auto_restart = True
        self.forget_at = None
        return [(candidate, ReportState(old.state, candidate.state, reason))]

    def _forget(self, reason: str) -> list[Step]:
        self.removed = True
        self.forget_at = None
        steps: list[Step] = [(s, DiscardSession()) for s in self.sessions]
        self.candidate = None
        steps.append((None, ForgetNeighbor(reason)))
        return steps


def _capabilities(
    negotiated: NegotiatedSession | None,
) -> tuple[GracefulRestartCapability | None, GracefulRestartCapability | None]:
    """(our, the peer's) graceful restart capability on a session."""
    if negotiated is None:
        return None, None
    return negotiated.local_open.capability(GracefulRestartCapability), negotiated.graceful_restart


def _loss_cause(down: SessionDown) -> LossCause:
    if down.notification_received is not None:
        return LossCause.NOTIFICATION_RECEIVED
    sent = down.notification_sent
    if sent is None:
        return LossCause.TCP_CLOSED
    if sent.code == ErrorCode.HOLD_TIMER_EXPIRED:
        return LossCause.HOLD_TIMER
    if sent.code == ErrorCode.CEASE and sent.subcode in (
        CeaseSubcode.ADMINISTRATIVE_SHUTDOWN,
        CeaseSubcode.PEER_DECONFIGURED,
        CeaseSubcode.ADMINISTRATIVE_RESET,
        CeaseSubcode.OTHER_CONFIGURATION_CHANGE,
        CeaseSubcode.CONNECTION_COLLISION_RESOLUTION,
    ):
        return LossCause.STOPPED
    return LossCause.NOTIFICATION_SENT


# --------------------------------------------------------------------------------------------
# Refusal log lines, rate-limited per source address


@attrs.define
class RefusalLog:
    """Whether a refused connection deserves a log line: the first from an address does, then
    one per ``interval`` seconds saying how many were refused since (a stranger connecting
    1,000 times writes a handful of lines, not 1,000). Remembers at most ``size`` addresses."""

    interval: float = 60.0
    size: int = 1024
    _seen: OrderedDict[str, tuple[float, int]] = attrs.field(factory=OrderedDict)

    def refused(self, address: str, now: float) -> tuple[bool, int]:
        """(log this one?, refusals not logged since the last line)."""
        entry = self._seen.get(address)
        if entry is not None and now - entry[0] < self.interval:
            self._seen[address] = (entry[0], entry[1] + 1)
            return False, 0
        suppressed = 0 if entry is None else entry[1]
        self._seen[address] = (now, 0)
        self._seen.move_to_end(address)
        while len(self._seen) > self.size:
            self._seen.popitem(last=False)
        return True, suppressed

"""The RFC 4271 §8 BGP finite state machine: events in, imperative actions out.

Theory of operation
-------------------
:class:`Fsm` is a pure engine: it does no I/O and never reads a clock. Every entry point takes
``now`` (seconds, any monotonic origin: tests use ``0.0, 90.0, 180.0``) and returns a list of
:data:`Action` values for the caller to carry out in order (send this message, open a TCP
connection, close it, hand this UPDATE to the RIB...). The machine keeps its timers as absolute
deadlines; :meth:`Fsm.next_deadline` tells the shell when to call :meth:`Fsm.handle_timers`,
which fires every timer that is due (an asyncio shell re-arms one ``loop.call_at`` after every
input, as aioquic does).

The transitions are a table, ``_TABLE[(state, event)] -> handler``, as in h11. A pair that is
not in the table is a *defined* error, never an exception: in OpenSent, OpenConfirm and
Established it is the RFC 6608 FSM Error NOTIFICATION (5/1, 5/2, 5/3) and a drop to Idle; in
Connect and Active (no BGP session yet) it drops the TCP connection and goes Idle; in Idle every
event not in the table is ignored, as RFC 4271 §8.2.2 says for the Idle state.

Inputs that carry data (the OPEN's hold time, the NOTIFICATION received, the UPDATE decoded)
travel in an :class:`EventData`; the message-level work (decoding, capability negotiation,
validation) is done by :mod:`pybgp.session`, which feeds the FSM the RFC 4271 §8.1 events.

Timers (RFC 4271 §8, §10)
-------------------------
* ConnectRetryTimer: ``connect_retry_time`` (3 s), jittered; the first connection attempt after
  a start waits ``connect_delay`` (1 s) so that a peer starting at the same moment may connect
  first (BIRD's "connect delay time", used by Calico).
* HoldTimer: 240 s ("large", RFC 4271 §8.2.2) in OpenSent, then the negotiated hold time (the
  smaller of the two OPENs; 0 = no hold timer and no keepalives). Never jittered (§10).
* KeepaliveTimer: the configured keepalive time, else hold time / 3; jittered (§10) and
  restarted whenever a KEEPALIVE or UPDATE is sent.
* IdleHoldTimer (§8.1.1 DampPeerOscillations): after a session error the machine waits in Idle
  for ``error_wait`` seconds, doubling from ``error_wait_min`` (5 s) to ``error_wait_max``
  (60 s) with each consecutive session failure (``Fsm.failures``), then restarts itself
  (AutomaticStart). A session that stayed Established for ``error_wait_max`` seconds resets the
  back-off. Failed connection attempts do not grow it: they are retried every
  ConnectRetryTime (the RFC's ConnectRetryCounter still counts them).
* SendHoldTimer (RFC 9687): the shell reports when its writes stop making progress
  (``SendBufferStalled``) and when they resume (``SendBufferDrained``); a stall longer than the
  send hold time (default max(8 min, 2 x hold time), RFC 9687 §3) tears the session down with
  NOTIFICATION 8/0.

Jitter is ``value * (0.75 + 0.25 * random())`` with an injected random source (RFC 4271 §10).

Deviations from RFC 4271 §8.2.2, on purpose
-------------------------------------------
* A failed TCP connection attempt in Connect or Active moves to (or stays in) Active with the
  ConnectRetryTimer running, as RFC 4271 does when DelayOpen is in use and as BIRD does, rather
  than dropping to Idle and waiting for an AutomaticStart.
* PassiveTcpEstablishment is permanent: a passive peer never starts the ConnectRetryTimer, so it
  never initiates a connection (the RFC would connect once the timer expires in Active).
* A NOTIFICATION received in any state is never answered with a NOTIFICATION (RFC 4271 §6.4),
  though §8.2.2's OpenSent "any other event" row would send an FSM error for event 25.
* The FSM restarts itself after errors (AllowAutomaticStart with DampPeerOscillations); only
  ManualStop and OpenCollisionDump on a collision loser leave it stopped.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Final

import attrs

from pybgp.fsm.values import (
    OPEN_HOLD_TIME,
    SEND_HOLD_MINIMUM,
    Action,
    CloseTcp,
    ConnectTcp,
    DeliverRouteRefresh,
    DeliverUpdate,
    Event,
    EventData,
    FsmTimers,
    NegotiatedSession,
    Note,
    SendBytes,
    SendMessage,
    SessionDown,
    SessionUp,
    State,
    StateChange,
    Timer,
)
from pybgp.wire.constants import CeaseSubcode, ErrorCode, FsmSubcode
from pybgp.wire.messages import Keepalive
from pybgp.wire.notification import Notification
from pybgp.wire.open import Open

__all__ = [
    "OPEN_HOLD_TIME",
    "SEND_HOLD_MINIMUM",
    "Action",
    "CloseTcp",
    "ConnectTcp",
    "DeliverRouteRefresh",
    "DeliverUpdate",
    "Event",
    "EventData",
    "Fsm",
    "FsmTimers",
    "NegotiatedSession",
    "Note",
    "SendBytes",
    "SendMessage",
    "SessionDown",
    "SessionUp",
    "State",
    "StateChange",
    "Timer",
    "negotiate_hold_time",
]

_TIMER_EVENTS: Final = {
    Timer.CONNECT_RETRY: Event.ConnectRetryTimer_Expires,
    Timer.HOLD: Event.HoldTimer_Expires,
    Timer.KEEPALIVE: Event.KeepaliveTimer_Expires,
    Timer.IDLE_HOLD: Event.IdleHoldTimer_Expires,
    Timer.SEND_HOLD: Event.SendHoldTimer_Expires,
}

_FSM_SUBCODES: Final = {
    # RFC 6608 §4: the FSM Error subcode names the state the unexpected event arrived in.
    State.OPEN_SENT: FsmSubcode.UNEXPECTED_IN_OPENSENT,
    State.OPEN_CONFIRM: FsmSubcode.UNEXPECTED_IN_OPENCONFIRM,
    State.ESTABLISHED: FsmSubcode.UNEXPECTED_IN_ESTABLISHED,
}

_CONNECTED: Final = frozenset({State.OPEN_SENT, State.OPEN_CONFIRM, State.ESTABLISHED})


_NO_DATA: Final = EventData()
_KEEPALIVE: Final = Keepalive()


def negotiate_hold_time(local: int, peer: int) -> int:
    """RFC 4271 §4.2: the smaller of the two proposed hold times (0 disables the timer)."""
    return min(local, peer)


def _keepalive_time(hold: int, configured: float | None) -> float:
    # RFC 4271 §4.4: hold 0 means no KEEPALIVEs at all; §10: a third of the hold time.
    if hold == 0:
        return 0.0
    if configured is not None and configured > 0:
        return min(float(configured), hold / 3)
    return hold / 3


# --------------------------------------------------------------------------------------------
# The machine

_Handler = Callable[["Fsm", float, EventData], None]


@attrs.define
class Fsm:
    """One BGP connection's RFC 4271 §8 state machine (no I/O, no clock)."""

    timers: FsmTimers = attrs.field(factory=FsmTimers)
    open_message: Open | None = None
    """The OPEN to send on connection (set by the session before a start)."""
    random: Callable[[], float] = attrs.field(factory=lambda: random.Random().random)
    """The jitter source: a float in [0, 1) per call (tests inject a constant)."""
    auto_restart: bool = True
    """Restart after errors (AllowAutomaticStart with DampPeerOscillations, RFC 4271 §8.1.1)."""

    state: State = State.IDLE
    connect_retry_counter: int = 0
    """RFC 4271 §8 ConnectRetryCounter (connection attempts and sessions that failed)."""
    failures: int = 0
    """Consecutive session failures: drives the IdleHoldTimer back-off (DampPeerOscillations);
    reset by ManualStart, ManualStop and a session that stayed up ``error_wait_max``."""
    negotiated: NegotiatedSession | None = None
    """Set once a valid OPEN was received; cleared on the way back to Idle."""
    last_reason: str = ""
    """The last error or NOTIFICATION in words (``pybgp status`` info)."""
    established_at: float | None = None
    passive_start: bool = False
    _deadlines: dict[Timer, float] = attrs.field(factory=dict)
    _connecting: bool = False
    _out: list[Action] = attrs.field(factory=list)

    # ---------------------------------------------------------------- public entry points

    def handle(self, event: Event, now: float, data: EventData = _NO_DATA) -> list[Action]:
        """Feed one event; return the actions to carry out, in order."""
        self._dispatch(event, now, data)
        out, self._out = self._out, []
        return out

    def next_deadline(self) -> float | None:
        """When :meth:`handle_timers` next has something to do (None: no timer running)."""
        return min(self._deadlines.values()) if self._deadlines else None

    def handle_timers(self, now: float) -> list[Action]:
        """Fire every timer due at ``now`` (earliest first); return the actions."""
        while True:
            due = [(when, timer) for timer, when in self._deadlines.items() if when <= now]
            if not due:
                break
            _when, timer = min(due, key=lambda item: item[0])
            del self._deadlines[timer]
            self._dispatch(_TIMER_EVENTS[timer], now, _NO_DATA)
        out, self._out = self._out, []
        return out

    def deadline(self, timer: Timer) -> float | None:
        """When ``timer`` expires, or None when it is not running."""
        return self._deadlines.get(timer)

    def message_sent(self, now: float) -> None:
        """An UPDATE (or KEEPALIVE) went out: restart the KeepaliveTimer (RFC 4271 §8.2.2)."""
        if self.state is State.ESTABLISHED and Timer.KEEPALIVE in self._deadlines:
            self._start_keepalive(now)

    @property
    def connected(self) -> bool:
        """True in OpenSent, OpenConfirm and Established (a BGP connection exists)."""
        return self.state in _CONNECTED

    # ---------------------------------------------------------------- machinery

    def _dispatch(self, event: Event, now: float, data: EventData) -> None:
        handler = _TABLE.get((self.state, event))
        if handler is None:
            if self.state is State.IDLE:
                return  # RFC 4271 §8.2.2 Idle: any other event is ignored.
            _fsm_error(self, now, event, data)
            return
        handler(self, now, data)

    def _emit(self, action: Action) -> None:
        self._out.append(action)

    def _jitter(self, value: float) -> float:
        # RFC 4271 §10: jitter by a random factor in 0.75..1.0.
        return value * (0.75 + 0.25 * self.random())

    def _set(self, timer: Timer, now: float, seconds: float) -> None:
        self._deadlines[timer] = now + seconds

    def _stop(self, *timers: Timer) -> None:
        for timer in timers:
            self._deadlines.pop(timer, None)

    def _goto(self, new: State, reason: str) -> None:
        old = self.state
        if old is new:
            return
        self.state = new
        self._emit(StateChange(old, new, reason))

    def _start_keepalive(self, now: float) -> None:
        assert self.negotiated is not None
        if self.negotiated.keepalive_time > 0:
            self._set(Timer.KEEPALIVE, now, self._jitter(self.negotiated.keepalive_time))

    def _restart_hold(self, now: float) -> None:
        if self.negotiated is not None and self.negotiated.hold_time > 0:
            self._set(Timer.HOLD, now, float(self.negotiated.hold_time))

    def _send_hold_time(self) -> float:
        if self.timers.send_hold_time is not None:
            return self.timers.send_hold_time
        hold = self.negotiated.hold_time if self.negotiated is not None else 0
        # RFC 9687 §3: max(8 minutes, 2 x HoldTime).
        return max(SEND_HOLD_MINIMUM, 2.0 * hold)

    def _start(self, now: float, passive: bool, reason: str) -> None:
        # RFC 4271 §8.2.2 Idle, events 1-5: initialize resources, start the ConnectRetryTimer
        # (not when passive: see the module docstring), listen, go to Connect or Active.
        self._stop(Timer.IDLE_HOLD)
        self.passive_start = passive or self.timers.passive
        if self.passive_start:
            self._goto(State.ACTIVE, reason)
            return
        delay = self.timers.connect_delay
        if delay > 0:
            self._set(Timer.CONNECT_RETRY, now, self._jitter(delay))
        else:
            self._connect(now)
        self._goto(State.CONNECT, reason)

    def _connect(self, now: float) -> None:
        self._connecting = True
        self._emit(ConnectTcp())
        self._set(Timer.CONNECT_RETRY, now, self._jitter(self.timers.connect_retry_time))

    def _drop(
        self,
        now: float,
        reason: str,
        *,
        sent: Notification | None = None,
        received: Notification | None = None,
        restart: bool = True,
        count: bool = True,
        abort: bool = False,
    ) -> None:
        """Leave a connected state for Idle: send ``sent``, close, count, maybe restart."""
        was_established = self.state is State.ESTABLISHED
        if sent is not None:
            self._emit(SendMessage(sent))
        self._emit(CloseTcp(abort=abort))
        self._connecting = False
        self._deadlines.clear()
        if (
            was_established
            and self.established_at is not None
            and now - self.established_at >= self.timers.error_wait_max
        ):
            self.failures = 0  # a stable session resets the back-off
        if count:
            self.connect_retry_counter += 1
            self.failures += 1
        self.last_reason = reason
        self.negotiated = None
        self.established_at = None
        self._emit(SessionDown(reason, sent, received, was_established))
        self._goto(State.IDLE, reason)
        if restart and self.auto_restart:
            self._schedule_restart(now)

    def _schedule_restart(self, now: float) -> None:
        # RFC 4271 §8.1.1 DampPeerOscillations: wait longer after each consecutive failure.
        failures = max(self.failures, 1)
        wait = min(
            self.timers.error_wait_max, self.timers.error_wait_min * (1 << min(failures - 1, 30))
        )
        self._set(Timer.IDLE_HOLD, now, self._jitter(wait))

    @property
    def error_wait(self) -> float:
        """The IdleHoldTimer the next failure would start (before jitter)."""
        failures = self.failures + 1
        return min(
            self.timers.error_wait_max, self.timers.error_wait_min * (1 << min(failures - 1, 30))
        )


# --------------------------------------------------------------------------------------------
# Handlers (RFC 4271 §8.2.2, one function per row; the table at the bottom wires them up)


def _describe(data: EventData, default: str) -> str:
    return data.reason or default


def _idle_start(fsm: Fsm, now: float, data: EventData) -> None:
    fsm.connect_retry_counter = fsm.failures = 0
    fsm._start(now, passive=False, reason=_describe(data, "start"))


def _idle_auto_start(fsm: Fsm, now: float, data: EventData) -> None:
    fsm._start(now, passive=False, reason=_describe(data, "automatic start"))


def _idle_passive_start(fsm: Fsm, now: float, data: EventData) -> None:
    fsm.connect_retry_counter = fsm.failures = 0
    fsm._start(now, passive=True, reason=_describe(data, "start (passive)"))


def _idle_auto_passive_start(fsm: Fsm, now: float, data: EventData) -> None:
    fsm._start(now, passive=True, reason=_describe(data, "automatic start (passive)"))


def _idle_hold_expires(fsm: Fsm, now: float, data: EventData) -> None:
    # §8.1.1: the IdleHoldTimer ran out; generate AutomaticStart (keeping the passive mode).
    fsm._start(now, passive=fsm.timers.passive, reason="automatic restart after error wait")


def _idle_stop(fsm: Fsm, now: float, data: EventData) -> None:
    # RFC 4271 §8.2.2 Idle: ManualStop is ignored, but a pending automatic restart is cancelled.
    fsm._stop(Timer.IDLE_HOLD)
    fsm.connect_retry_counter = fsm.failures = 0


def _unconnected_stop(fsm: Fsm, now: float, data: EventData) -> None:
    # Connect/Active, ManualStop: drop TCP, release, counter to zero, stop timer, Idle.
    if fsm._connecting:
        fsm._emit(CloseTcp())
    fsm._connecting = False
    fsm._deadlines.clear()
    fsm.connect_retry_counter = fsm.failures = 0
    fsm._goto(State.IDLE, _describe(data, "stopped"))


def _connect_retry_expires(fsm: Fsm, now: float, data: EventData) -> None:
    # Connect/Active, event 9: (drop a pending attempt,) initiate a TCP connection, restart
    # the ConnectRetryTimer, go (or stay) in Connect.
    fsm._connect(now)
    fsm._goto(State.CONNECT, "connect retry timer expired")


def _tcp_established(fsm: Fsm, now: float, data: EventData) -> None:
    # Connect/Active, events 16/17: stop the ConnectRetryTimer, send OPEN, set the HoldTimer to
    # a large value (4 minutes), go to OpenSent.
    if fsm.open_message is None:
        raise RuntimeError("Fsm.open_message must be set before a connection is made")
    fsm._connecting = False
    fsm._stop(Timer.CONNECT_RETRY)
    fsm._emit(SendMessage(fsm.open_message))
    fsm._set(Timer.HOLD, now, fsm.timers.open_hold_time)
    fsm._goto(State.OPEN_SENT, _describe(data, "TCP connection established"))


def _unconnected_tcp_fails(fsm: Fsm, now: float, data: EventData) -> None:
    # Connect/Active, event 18: go (or stay) in Active with the ConnectRetryTimer restarted
    # (deviation from §8.2.2 explained in the module docstring).
    fsm._connecting = False
    fsm.connect_retry_counter += 1
    fsm.last_reason = _describe(data, "TCP connection failed")
    if not fsm.passive_start:
        fsm._set(Timer.CONNECT_RETRY, now, fsm._jitter(fsm.timers.connect_retry_time))
    fsm._goto(State.ACTIVE, fsm.last_reason)


def _connected_stop(fsm: Fsm, now: float, data: EventData) -> None:
    # OpenSent/OpenConfirm/Established, event 2: NOTIFICATION Cease, close, counter to zero,
    # Idle, no restart.
    sent = data.notification or Notification.shutdown(CeaseSubcode.ADMINISTRATIVE_SHUTDOWN, "")
    fsm._drop(now, _describe(data, f"stopped ({sent.describe()})"), sent=sent, restart=False)
    fsm.connect_retry_counter = fsm.failures = 0


def _connected_auto_stop(fsm: Fsm, now: float, data: EventData) -> None:
    # Event 8 (e.g. maximum prefixes): NOTIFICATION Cease, close, counter++, damping, Idle.
    sent = data.notification or Notification(ErrorCode.CEASE, CeaseSubcode.UNSPECIFIC)
    fsm._drop(now, _describe(data, sent.describe()), sent=sent)


def _hold_expires(fsm: Fsm, now: float, data: EventData) -> None:
    # Event 10: NOTIFICATION Hold Timer Expired (4/0), close, counter++, Idle.
    sent = Notification(ErrorCode.HOLD_TIMER_EXPIRED, 0)
    fsm._drop(now, "hold timer expired", sent=sent)


def _send_hold_expires(fsm: Fsm, now: float, data: EventData) -> None:
    # RFC 9687 §4: the peer stopped reading; try NOTIFICATION 8/0 and drop the connection
    # without waiting for the stuck buffer to drain.
    sent = Notification(ErrorCode.SEND_HOLD_TIMER_EXPIRED, 0)
    fsm._drop(
        now,
        f"send hold timer expired: the peer read nothing for {fsm._send_hold_time():.0f} s",
        sent=sent,
        abort=True,
    )


def _send_stalled(fsm: Fsm, now: float, data: EventData) -> None:
    # RFC 9687 §4: start the SendHoldTimer when writes stop making progress (if not running).
    if Timer.SEND_HOLD not in fsm._deadlines and fsm._send_hold_time() > 0:  # 0 = off
        since = now if data.since is None else data.since
        fsm._set(Timer.SEND_HOLD, since, fsm._send_hold_time())


def _send_drained(fsm: Fsm, now: float, data: EventData) -> None:
    fsm._stop(Timer.SEND_HOLD)


def _keepalive_expires(fsm: Fsm, now: float, data: EventData) -> None:
    # OpenConfirm/Established, event 11: send KEEPALIVE, restart the KeepaliveTimer.
    fsm._emit(SendMessage(_KEEPALIVE))
    fsm._start_keepalive(now)


def _connected_tcp_fails(fsm: Fsm, now: float, data: EventData) -> None:
    if fsm.state is State.OPEN_SENT:
        # OpenSent, event 18: close, restart the ConnectRetryTimer, go to Active.
        reason = _describe(data, "TCP connection closed")
        fsm._emit(CloseTcp())
        fsm._deadlines.clear()
        fsm.last_reason = reason
        fsm._emit(SessionDown(reason))
        # a one-off passive start (an incoming connection accepted during the error wait)
        # does not make a connecting peer passive for good: only timers.passive does.
        if fsm.auto_restart and not fsm.timers.passive:
            fsm._set(Timer.CONNECT_RETRY, now, fsm._jitter(fsm.timers.connect_retry_time))
        fsm._goto(State.ACTIVE if fsm.auto_restart else State.IDLE, reason)
        return
    # OpenConfirm/Established, event 18: close, counter++, damping, Idle.
    fsm._drop(now, _describe(data, "TCP connection closed by the peer"))


def _notification_received(fsm: Fsm, now: float, data: EventData) -> None:
    # Events 24/25: close, counter++, Idle; never answer a NOTIFICATION with one (RFC 4271
    # §6.4). RFC 9003: the shutdown communication is part of describe().
    received = data.notification
    text = received.describe() if received is not None else "NOTIFICATION"
    fsm._drop(now, _describe(data, f"peer sent NOTIFICATION: {text}"), received=received)


def _message_error(fsm: Fsm, now: float, data: EventData) -> None:
    # Events 21/22/28: send the error's NOTIFICATION, close, counter++, Idle (RFC 4271 §6).
    sent = data.notification
    text = sent.describe() if sent is not None else "message error"
    fsm._drop(now, _describe(data, f"error in the peer's message: {text}"), sent=sent)


def _collision_dump(fsm: Fsm, now: float, data: EventData) -> None:
    # Event 23 (RFC 4271 §6.8): NOTIFICATION Cease/Connection Collision Resolution, close, Idle.
    sent = Notification(ErrorCode.CEASE, CeaseSubcode.CONNECTION_COLLISION_RESOLUTION)
    fsm._drop(
        now,
        _describe(data, "connection collision resolution"),
        sent=sent,
        restart=False,
        count=False,
    )


def _open_received(fsm: Fsm, now: float, data: EventData) -> None:
    # OpenSent, event 19: stop the ConnectRetryTimer, send KEEPALIVE, set the KeepaliveTimer,
    # set the HoldTimer to the negotiated hold time, go to OpenConfirm.
    if data.negotiated is None:
        raise RuntimeError("BGPOpen needs EventData.negotiated")
    # RFC 4271 §4.2: the negotiated hold time is the smaller of the two.
    hold = negotiate_hold_time(fsm.timers.hold_time, data.hold_time)
    fsm.negotiated = attrs.evolve(
        data.negotiated,
        hold_time=hold,
        keepalive_time=_keepalive_time(hold, fsm.timers.keepalive_time),
    )
    fsm._stop(Timer.CONNECT_RETRY, Timer.HOLD)
    fsm._emit(SendMessage(_KEEPALIVE))
    fsm._start_keepalive(now)
    # RFC 4271 §8.2.2: "If the value of the autonegotiated Hold Time value is zero, then the
    # HoldTimer and KeepaliveTimer are not started."
    fsm._restart_hold(now)
    fsm._goto(State.OPEN_CONFIRM, _describe(data, "OPEN received"))


def _open_confirm_keepalive(fsm: Fsm, now: float, data: EventData) -> None:
    # OpenConfirm, event 26: restart the HoldTimer, go to Established.
    assert fsm.negotiated is not None
    fsm._restart_hold(now)
    fsm.established_at = now
    fsm.last_reason = ""
    fsm._goto(State.ESTABLISHED, "KEEPALIVE received")
    fsm._emit(SessionUp(fsm.negotiated))


def _established_keepalive(fsm: Fsm, now: float, data: EventData) -> None:
    # Established, event 26: restart the HoldTimer.
    fsm._restart_hold(now)


def _established_update(fsm: Fsm, now: float, data: EventData) -> None:
    # Established, event 27: restart the HoldTimer, process the UPDATE.
    fsm._restart_hold(now)
    if data.update is not None:
        fsm._emit(DeliverUpdate(data.update))


def _established_refresh(fsm: Fsm, now: float, data: EventData) -> None:
    # RFC 2918 §4: re-advertise the family; any message received shows the peer is alive.
    fsm._restart_hold(now)
    if data.refresh is not None:
        fsm._emit(DeliverRouteRefresh(data.refresh))


def _fsm_error(fsm: Fsm, now: float, event: Event, data: EventData) -> None:
    """A (state, event) pair with no row: RFC 4271 §8.2.2 "any other event", with the RFC 6608
    subcode when a BGP connection exists."""
    reason = f"unexpected {event.name} in {fsm.state}"
    if fsm.state in _CONNECTED:
        sent = Notification(ErrorCode.FSM, _FSM_SUBCODES[fsm.state])
        fsm._drop(now, f"FSM error: {reason} (RFC 6608)", sent=sent)
        return
    # Connect/Active: drop the TCP connection, counter++, damping, Idle.
    if fsm._connecting:
        fsm._emit(CloseTcp())
    fsm._connecting = False
    fsm._deadlines.clear()
    fsm.connect_retry_counter += 1
    fsm.failures += 1
    fsm.last_reason = f"FSM error: {reason}"
    fsm._goto(State.IDLE, fsm.last_reason)
    if fsm.auto_restart:
        fsm._schedule_restart(now)


def _ignore(fsm: Fsm, now: float, data: EventData) -> None:
    """Events a state does not act on (a start while already started, say)."""


def _build_table() -> dict[tuple[State, Event], _Handler]:
    table: dict[tuple[State, Event], _Handler] = {}
    idle, connect, active = State.IDLE, State.CONNECT, State.ACTIVE
    sent, confirm, established = State.OPEN_SENT, State.OPEN_CONFIRM, State.ESTABLISHED
    starts = (
        Event.ManualStart,
        Event.AutomaticStart,
        Event.ManualStart_with_PassiveTcpEstablishment,
        Event.AutomaticStart_with_PassiveTcpEstablishment,
    )
    # Idle (§8.2.2): starts, the IdleHoldTimer; everything else is ignored.
    table[idle, Event.ManualStart] = _idle_start
    table[idle, Event.AutomaticStart] = _idle_auto_start
    table[idle, Event.ManualStart_with_PassiveTcpEstablishment] = _idle_passive_start
    table[idle, Event.AutomaticStart_with_PassiveTcpEstablishment] = _idle_auto_passive_start
    table[idle, Event.IdleHoldTimer_Expires] = _idle_hold_expires
    table[idle, Event.ManualStop] = _idle_stop
    # Connect and Active.
    for state in (connect, active):
        for event in starts:
            table[state, event] = _ignore
        table[state, Event.ManualStop] = _unconnected_stop
        table[state, Event.AutomaticStop] = _unconnected_stop
        table[state, Event.ConnectRetryTimer_Expires] = _connect_retry_expires
        table[state, Event.Tcp_CR_Acked] = _tcp_established
        table[state, Event.TcpConnectionConfirmed] = _tcp_established
        table[state, Event.TcpConnectionFails] = _unconnected_tcp_fails
        table[state, Event.SendBufferStalled] = _ignore
        table[state, Event.SendBufferDrained] = _ignore
    # OpenSent, OpenConfirm, Established: the rows they share.
    for state in (sent, confirm, established):
        for event in starts:
            table[state, event] = _ignore
        table[state, Event.ManualStop] = _connected_stop
        table[state, Event.AutomaticStop] = _connected_auto_stop
        table[state, Event.HoldTimer_Expires] = _hold_expires
        table[state, Event.TcpConnectionFails] = _connected_tcp_fails
        table[state, Event.BGPHeaderErr] = _message_error
        table[state, Event.BGPOpenMsgErr] = _message_error
        table[state, Event.NotifMsgVerErr] = _notification_received
        table[state, Event.NotifMsg] = _notification_received
        table[state, Event.OpenCollisionDump] = _collision_dump
        table[state, Event.SendHoldTimer_Expires] = _send_hold_expires
        table[state, Event.SendBufferStalled] = _send_stalled
        table[state, Event.SendBufferDrained] = _send_drained
        # A second connection completing is the shell's business (collision detection, §6.8);
        # this FSM ignores a stale connect completion rather than failing the session.
        table[state, Event.Tcp_CR_Acked] = _ignore
        table[state, Event.TcpConnectionConfirmed] = _ignore
    table[sent, Event.BGPOpen] = _open_received
    for state in (confirm, established):
        table[state, Event.KeepaliveTimer_Expires] = _keepalive_expires
    table[confirm, Event.KeepAliveMsg] = _open_confirm_keepalive
    table[established, Event.KeepAliveMsg] = _established_keepalive
    table[established, Event.UpdateMsg] = _established_update
    table[established, Event.UpdateMsgErr] = _message_error
    table[established, Event.RouteRefreshMsg] = _established_refresh
    return table


_TABLE: Final = _build_table()
"""(state, event) -> handler. Pairs not listed: see :func:`_fsm_error` (and Idle ignores)."""


def is_defined(state: State, event: Event) -> bool:
    """True when ``(state, event)`` has its own row (else it is an FSM error or ignored)."""
    return (state, event) in _TABLE

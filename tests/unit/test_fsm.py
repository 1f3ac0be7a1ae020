"""The RFC 4271 §8 FSM driven by hand: plain numbers for time, no I/O."""

from __future__ import annotations

import itertools
from ipaddress import IPv4Address

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pybgp.fsm import (
    CloseTcp,
    ConnectTcp,
    DeliverRouteRefresh,
    DeliverUpdate,
    Event,
    EventData,
    Fsm,
    FsmTimers,
    NegotiatedSession,
    SendMessage,
    SessionDown,
    SessionUp,
    State,
    StateChange,
    Timer,
    is_defined,
)
from pybgp.wire.constants import CeaseSubcode, ErrorCode, FsmSubcode
from pybgp.wire.messages import Keepalive
from pybgp.wire.negotiated import Negotiated
from pybgp.wire.notification import Notification
from pybgp.wire.open import Open
from pybgp.wire.refresh import RouteRefresh
from pybgp.wire.update import Update, UpdateResult

LOCAL_OPEN = Open.create(65001, 90, IPv4Address("10.0.0.1"))
PEER_OPEN = Open.create(65002, 90, IPv4Address("10.0.0.2"))
NEGOTIATED = NegotiatedSession(
    negotiated=Negotiated(local_as=65001, peer_as=65002),
    peer_router_id=IPv4Address("10.0.0.2"),
    local_open=LOCAL_OPEN,
    peer_open=PEER_OPEN,
)


def make_fsm(**timers: float | bool | int | None) -> Fsm:
    """A machine with jitter pinned to 1.0 (timers fire at their full value)."""
    return Fsm(timers=FsmTimers(**timers), open_message=LOCAL_OPEN, random=lambda: 1.0)  # type: ignore[arg-type]


def sent(actions: list[object]) -> list[object]:
    return [a.message for a in actions if isinstance(a, SendMessage)]


def established(fsm: Fsm, hold: int = 90) -> None:
    """Drive ``fsm`` to Established at time 0."""
    fsm.handle(Event.ManualStart, 0.0)
    fsm.handle(Event.Tcp_CR_Acked, 0.0)
    fsm.handle(Event.BGPOpen, 0.0, EventData(hold_time=hold, negotiated=NEGOTIATED))
    fsm.handle(Event.KeepAliveMsg, 0.0)
    assert fsm.state is State.ESTABLISHED


def test_start_waits_connect_delay_then_connects() -> None:
    fsm = make_fsm(connect_delay=1.0, connect_retry_time=3.0)
    actions = fsm.handle(Event.ManualStart, 0.0)
    assert actions == [StateChange(State.IDLE, State.CONNECT, "start")]
    assert fsm.next_deadline() == 1.0
    assert fsm.handle_timers(0.5) == []
    actions = fsm.handle_timers(1.0)
    assert ConnectTcp() in actions
    assert fsm.next_deadline() == 4.0  # connect retry 3 s after the attempt


def test_passive_start_never_connects() -> None:
    fsm = make_fsm(passive=True)
    actions = fsm.handle(Event.ManualStart, 0.0)
    assert fsm.state is State.ACTIVE
    assert fsm.next_deadline() is None
    assert not any(isinstance(a, ConnectTcp) for a in actions)
    # a failed (incoming) connection keeps it passive
    fsm.handle(Event.TcpConnectionConfirmed, 1.0)
    fsm.handle(Event.TcpConnectionFails, 2.0)
    assert fsm.state is State.ACTIVE
    assert fsm.next_deadline() is None


def test_full_handshake_and_timers() -> None:
    fsm = make_fsm(connect_delay=0.0)
    actions = fsm.handle(Event.ManualStart, 0.0)
    assert ConnectTcp() in actions and fsm.state is State.CONNECT
    actions = fsm.handle(Event.Tcp_CR_Acked, 0.5)
    assert sent(actions) == [LOCAL_OPEN]
    assert fsm.state is State.OPEN_SENT
    assert fsm.deadline(Timer.HOLD) == 240.5  # RFC 4271 §8.2.2 large hold time
    actions = fsm.handle(Event.BGPOpen, 1.0, EventData(hold_time=30, negotiated=NEGOTIATED))
    assert sent(actions) == [Keepalive()]
    assert fsm.negotiated is not None
    assert fsm.negotiated.hold_time == 30  # the smaller of 90 and 30
    assert fsm.negotiated.keepalive_time == 10.0
    assert fsm.deadline(Timer.HOLD) == 31.0
    assert fsm.deadline(Timer.KEEPALIVE) == 11.0
    actions = fsm.handle(Event.KeepAliveMsg, 2.0)
    assert fsm.state is State.ESTABLISHED
    assert any(isinstance(a, SessionUp) for a in actions)
    assert fsm.deadline(Timer.HOLD) == 32.0
    actions = fsm.handle_timers(11.0)
    assert sent(actions) == [Keepalive()]
    assert fsm.deadline(Timer.KEEPALIVE) == 21.0
    fsm.handle(Event.KeepAliveMsg, 20.0)
    assert fsm.deadline(Timer.HOLD) == 50.0


def test_hold_time_zero_means_no_keepalives() -> None:
    fsm = make_fsm(connect_delay=0.0)
    established(fsm, hold=0)
    assert fsm.deadline(Timer.HOLD) is None
    assert fsm.deadline(Timer.KEEPALIVE) is None
    assert fsm.next_deadline() is None


def test_configured_keepalive_is_used() -> None:
    fsm = make_fsm(connect_delay=0.0, keepalive_time=5)
    established(fsm, hold=90)
    assert fsm.negotiated is not None and fsm.negotiated.keepalive_time == 5.0


def test_hold_timer_expiry_sends_4_0_and_goes_idle() -> None:
    fsm = make_fsm(connect_delay=0.0)
    established(fsm)
    assert sent(fsm.handle_timers(30.0)) == [Keepalive()]
    assert sent(fsm.handle_timers(60.0)) == [Keepalive()]
    actions = fsm.handle_timers(90.0)
    # the KEEPALIVE due at 90 goes out first (earliest deadline), then the hold timer fires
    assert sent(actions)[-1] == Notification(ErrorCode.HOLD_TIMER_EXPIRED, 0)
    assert CloseTcp() in actions
    assert fsm.state is State.IDLE
    down = [a for a in actions if isinstance(a, SessionDown)]
    assert down and down[0].was_established and "hold timer" in down[0].reason
    # automatic restart after the error wait (5 s for the first failure)
    assert fsm.deadline(Timer.IDLE_HOLD) == 95.0


def test_hold_timer_in_open_sent() -> None:
    fsm = make_fsm(connect_delay=0.0)
    fsm.handle(Event.ManualStart, 0.0)
    fsm.handle(Event.Tcp_CR_Acked, 0.0)
    actions = fsm.handle_timers(240.0)
    assert sent(actions) == [Notification(4, 0)]
    assert fsm.state is State.IDLE


def test_error_wait_backs_off_and_caps() -> None:
    fsm = make_fsm(connect_delay=0.0, error_wait_min=5.0, error_wait_max=60.0)
    waits = []
    now = 0.0
    fsm.handle(Event.ManualStart, now)
    for _ in range(6):
        fsm.handle(Event.Tcp_CR_Acked, now)
        fsm.handle(Event.NotifMsg, now, EventData(notification=Notification(6, 0)))
        assert fsm.state is State.IDLE
        deadline = fsm.deadline(Timer.IDLE_HOLD)
        assert deadline is not None
        waits.append(deadline - now)
        now = deadline
        fsm.handle_timers(now)  # AutomaticStart
        assert fsm.state is State.CONNECT
    assert waits == [5.0, 10.0, 20.0, 40.0, 60.0, 60.0]


def test_stable_session_resets_back_off() -> None:
    fsm = make_fsm(connect_delay=0.0)
    fsm.failures = 4
    established(fsm)
    fsm.handle(Event.KeepAliveMsg, 80.0)
    fsm.handle(Event.NotifMsg, 100.0, EventData(notification=Notification(6, 2)))
    assert fsm.deadline(Timer.IDLE_HOLD) == 105.0


def test_connect_retry_after_failure() -> None:
    fsm = make_fsm(connect_delay=0.0, connect_retry_time=3.0)
    fsm.handle(Event.ManualStart, 0.0)
    actions = fsm.handle(Event.TcpConnectionFails, 0.1, EventData(reason="refused"))
    assert fsm.state is State.ACTIVE
    assert fsm.last_reason == "refused"
    assert StateChange(State.CONNECT, State.ACTIVE, "refused") in actions
    assert fsm.next_deadline() == pytest.approx(3.1)
    actions = fsm.handle_timers(3.1)
    assert ConnectTcp() in actions and fsm.state is State.CONNECT
    # a connect attempt that hangs is retried at each expiry
    actions = fsm.handle_timers(6.1)
    assert ConnectTcp() in actions and fsm.state is State.CONNECT


def test_jitter_uses_injected_random() -> None:
    fsm = Fsm(timers=FsmTimers(connect_delay=0.0, connect_retry_time=4.0), random=lambda: 0.0)
    fsm.handle(Event.ManualStart, 0.0)
    assert fsm.next_deadline() == 3.0  # RFC 4271 §10: 0.75 x the value at the low end


def test_notification_never_answered() -> None:
    for state_setup in ("open_sent", "established"):
        fsm = make_fsm(connect_delay=0.0)
        if state_setup == "established":
            established(fsm)
        else:
            fsm.handle(Event.ManualStart, 0.0)
            fsm.handle(Event.Tcp_CR_Acked, 0.0)
        received = Notification.shutdown(CeaseSubcode.ADMINISTRATIVE_SHUTDOWN, "maintenance")
        actions = fsm.handle(Event.NotifMsg, 1.0, EventData(notification=received))
        assert sent(actions) == []
        assert fsm.state is State.IDLE
        assert '"maintenance"' in fsm.last_reason  # RFC 9003 message shown


def test_manual_stop_sends_cease_and_stays_idle() -> None:
    fsm = make_fsm(connect_delay=0.0)
    established(fsm)
    shutdown = Notification.shutdown(CeaseSubcode.ADMINISTRATIVE_SHUTDOWN, "bye")
    actions = fsm.handle(Event.ManualStop, 5.0, EventData(notification=shutdown))
    assert sent(actions) == [shutdown]
    assert fsm.state is State.IDLE
    assert fsm.next_deadline() is None  # no automatic restart after ManualStop


@pytest.mark.parametrize(
    ("state", "subcode"),
    [
        (State.OPEN_SENT, FsmSubcode.UNEXPECTED_IN_OPENSENT),
        (State.OPEN_CONFIRM, FsmSubcode.UNEXPECTED_IN_OPENCONFIRM),
        (State.ESTABLISHED, FsmSubcode.UNEXPECTED_IN_ESTABLISHED),
    ],
)
def test_unexpected_message_is_rfc6608_error(state: State, subcode: int) -> None:
    fsm = make_fsm(connect_delay=0.0)
    fsm.handle(Event.ManualStart, 0.0)
    fsm.handle(Event.Tcp_CR_Acked, 0.0)
    if state is not State.OPEN_SENT:
        fsm.handle(Event.BGPOpen, 0.0, EventData(hold_time=90, negotiated=NEGOTIATED))
    if state is State.ESTABLISHED:
        fsm.handle(Event.KeepAliveMsg, 0.0)
    assert fsm.state is state
    event = Event.UpdateMsg if state is not State.ESTABLISHED else Event.BGPOpen
    actions = fsm.handle(event, 1.0)
    assert sent(actions) == [Notification(ErrorCode.FSM, subcode)]
    assert fsm.state is State.IDLE


def test_collision_dump_sends_cease_7_and_does_not_restart() -> None:
    fsm = make_fsm(connect_delay=0.0)
    fsm.handle(Event.ManualStart, 0.0)
    fsm.handle(Event.Tcp_CR_Acked, 0.0)
    fsm.handle(Event.BGPOpen, 0.0, EventData(hold_time=90, negotiated=NEGOTIATED))
    actions = fsm.handle(Event.OpenCollisionDump, 1.0)
    assert sent(actions) == [
        Notification(ErrorCode.CEASE, CeaseSubcode.CONNECTION_COLLISION_RESOLUTION)
    ]
    assert fsm.state is State.IDLE
    assert fsm.deadline(Timer.IDLE_HOLD) is None


def test_update_and_refresh_delivered_in_established() -> None:
    fsm = make_fsm(connect_delay=0.0)
    established(fsm)
    result = UpdateResult(Update())
    actions = fsm.handle(Event.UpdateMsg, 10.0, EventData(update=result))
    assert actions == [DeliverUpdate(result)]
    assert fsm.deadline(Timer.HOLD) == 100.0
    refresh = RouteRefresh(1, 1)
    assert fsm.handle(Event.RouteRefreshMsg, 11.0, EventData(refresh=refresh)) == [
        DeliverRouteRefresh(refresh)
    ]


def test_send_hold_timer_rfc9687() -> None:
    fsm = make_fsm(connect_delay=0.0)
    established(fsm, hold=90)
    fsm.handle(Event.SendBufferStalled, 10.0)
    # RFC 9687 §3: max(8 minutes, 2 x 90 s) = 480 s
    assert fsm.deadline(Timer.SEND_HOLD) == 490.0
    fsm.handle(Event.SendBufferDrained, 20.0)
    assert fsm.deadline(Timer.SEND_HOLD) is None
    short = make_fsm(connect_delay=0.0, send_hold_time=30.0)
    established(short, hold=0)
    short.handle(Event.SendBufferStalled, 1.0, EventData(since=0.5))
    actions = short.handle_timers(30.5)
    assert sent(actions) == [Notification(ErrorCode.SEND_HOLD_TIMER_EXPIRED, 0)]
    assert CloseTcp(abort=True) in actions
    assert short.state is State.IDLE
    # send_hold_time = 0: the timer is off (a stalled peer is left to the hold timer).
    off = make_fsm(connect_delay=0.0, send_hold_time=0.0)
    established(off, hold=90)
    off.handle(Event.SendBufferStalled, 10.0)
    assert off.deadline(Timer.SEND_HOLD) is None


def test_idle_ignores_everything_else() -> None:
    fsm = make_fsm()
    for event in Event:
        if is_defined(State.IDLE, event):
            continue
        assert fsm.handle(event, 0.0) == []
        assert fsm.state is State.IDLE


def test_every_pair_has_a_defined_outcome() -> None:
    """Each (state, event) pair, fed once, ends in a state and never raises."""
    for target in State:
        for event in Event:
            fsm = drive_to(target)
            data = data_for(event)
            actions = fsm.handle(event, 50.0, data)
            assert isinstance(fsm.state, State)
            check_actions(fsm, actions)


def drive_to(state: State) -> Fsm:
    fsm = make_fsm(connect_delay=0.0)
    if state is State.IDLE:
        return fsm
    fsm.handle(Event.ManualStart, 0.0)
    if state is State.CONNECT:
        return fsm
    if state is State.ACTIVE:
        fsm.handle(Event.TcpConnectionFails, 0.0)
        return fsm
    fsm.handle(Event.Tcp_CR_Acked, 0.0)
    if state is State.OPEN_SENT:
        return fsm
    fsm.handle(Event.BGPOpen, 0.0, EventData(hold_time=90, negotiated=NEGOTIATED))
    if state is State.OPEN_CONFIRM:
        return fsm
    fsm.handle(Event.KeepAliveMsg, 0.0)
    return fsm


def data_for(event: Event) -> EventData:
    if event is Event.BGPOpen:
        return EventData(hold_time=90, negotiated=NEGOTIATED)
    if event in (Event.NotifMsg, Event.NotifMsgVerErr):
        return EventData(notification=Notification(6, 2))
    if event in (Event.BGPHeaderErr, Event.BGPOpenMsgErr, Event.UpdateMsgErr):
        return EventData(notification=Notification(1, 2))
    if event is Event.UpdateMsg:
        return EventData(update=UpdateResult(Update()))
    if event is Event.RouteRefreshMsg:
        return EventData(refresh=RouteRefresh(1, 1))
    return EventData()


def check_actions(fsm: Fsm, actions: list[object]) -> None:
    """Sanity rules that hold after any input."""
    changes = [a for a in actions if isinstance(a, StateChange)]
    for before, after in itertools.pairwise(changes):
        assert before.new is after.old  # a chain of transitions
    if changes:
        assert changes[-1].new is fsm.state
    notifications = [m for m in sent(actions) if isinstance(m, Notification)]
    assert len(notifications) <= 1
    if notifications:
        # a NOTIFICATION is always followed by closing the connection, and the FSM is Idle
        assert any(isinstance(a, CloseTcp) for a in actions)
        assert fsm.state is State.IDLE
    if fsm.state is State.IDLE:
        assert fsm.negotiated is None
    if fsm.state is State.ESTABLISHED:
        assert fsm.negotiated is not None
        assert fsm.deadline(Timer.HOLD) is not None
    deadline = fsm.next_deadline()
    assert deadline is None or deadline >= 0.0


@settings(max_examples=400, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(list(Event)), st.floats(min_value=0.0, max_value=600.0)),
        max_size=40,
    )
)
def test_random_event_sequences(steps: list[tuple[Event, float]]) -> None:
    """Hypothesis: any sequence of events and timer runs ends in a defined state with sane
    actions; time only moves forward."""
    fsm = make_fsm(connect_delay=0.0)
    now = 0.0
    for event, advance in steps:
        now += advance / 10
        check_actions(fsm, fsm.handle_timers(now))
        if event is Event.BGPOpen and fsm.state is not State.OPEN_SENT:
            data = EventData()  # only the session sends BGPOpen with data, and only in OpenSent
        else:
            data = data_for(event)
        if event is Event.BGPOpen and fsm.state is State.OPEN_SENT:
            data = data_for(event)
        actions = fsm.handle(event, now, data)
        check_actions(fsm, actions)
        if any(isinstance(a, SessionUp) for a in actions):
            assert fsm.state is State.ESTABLISHED
        assert isinstance(fsm.state, State)


def test_one_off_passive_start_keeps_connecting_afterwards() -> None:
    """A connecting peer started passively (incoming connection during the error wait) goes
    back to connecting after a failure."""
    fsm = make_fsm(connect_delay=0.0, connect_retry_time=3.0)
    fsm.handle(Event.AutomaticStart_with_PassiveTcpEstablishment, 0.0)
    assert fsm.state is State.ACTIVE and fsm.next_deadline() is None
    fsm.handle(Event.TcpConnectionConfirmed, 0.0)
    fsm.handle(Event.TcpConnectionFails, 1.0)
    assert fsm.state is State.ACTIVE
    assert fsm.deadline(Timer.CONNECT_RETRY) == 4.0
    assert ConnectTcp() in fsm.handle_timers(4.0)


def test_connect_failures_do_not_grow_the_error_wait() -> None:
    """Refused connections retry every ConnectRetryTime; only session failures back off."""
    fsm = make_fsm(connect_delay=0.0, connect_retry_time=3.0)
    fsm.handle(Event.ManualStart, 0.0)
    now = 0.0
    for _ in range(10):
        fsm.handle(Event.TcpConnectionFails, now)
        deadline = fsm.next_deadline()
        assert deadline == now + 3.0
        now = deadline
        fsm.handle_timers(now)
    assert fsm.connect_retry_counter == 10 and fsm.failures == 0
    fsm.handle(Event.Tcp_CR_Acked, now)
    fsm.handle(Event.HoldTimer_Expires, now)
    assert fsm.deadline(Timer.IDLE_HOLD) == now + 5.0  # first session failure: error_wait_min

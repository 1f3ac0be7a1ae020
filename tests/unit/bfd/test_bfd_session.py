"""The BFD session (RFC 5880 §6.8) driven by hand with plain numbers for time.

Two sessions are wired back to back through the codec: every packet one sends is encoded,
decoded and handed to the other at the same instant (or dropped, to cut the link).
"""

from __future__ import annotations

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from pybgp.bfd import (
    SLOW_TX_INTERVAL,
    BfdAction,
    BfdPacketError,
    BfdSession,
    BfdState,
    BfdTimers,
    ControlPacket,
    Diagnostic,
    SendPacket,
    StateChanged,
    decode_control,
)

FAST = BfdTimers(desired_min_tx=300_000, required_min_rx=300_000, detect_mult=3)


def no_jitter() -> float:
    return 0.0


@attrs.define
class Pair:
    """Two sessions, ``a`` and ``b``, and what happened between them."""

    a: BfdSession
    b: BfdSession
    now: float = 0.0
    link_up: bool = True
    changes: list[tuple[float, str, StateChanged]] = attrs.Factory(list)
    sent: list[tuple[float, str, ControlPacket]] = attrs.Factory(list)
    discarded: list[tuple[float, str, str]] = attrs.Factory(list)

    def name(self, session: BfdSession) -> str:
        return "a" if session is self.a else "b"

    def other(self, session: BfdSession) -> BfdSession:
        return self.b if session is self.a else self.a

    def apply(self, session: BfdSession, actions: list[BfdAction]) -> None:
        for action in actions:
            if isinstance(action, StateChanged):
                self.changes.append((self.now, self.name(session), action))
            elif isinstance(action, SendPacket):
                self.sent.append((self.now, self.name(session), action.packet))
                if self.link_up:
                    peer = self.other(session)
                    try:
                        answer = peer.receive(decode_control(action.data), self.now)
                    except BfdPacketError as error:  # discarded, as the shell does
                        self.discarded.append((self.now, self.name(peer), str(error)))
                        continue
                    self.apply(peer, answer)

    def start(self) -> None:
        self.apply(self.a, self.a.start(self.now))
        self.apply(self.b, self.b.start(self.now))

    def run_until(self, end: float) -> None:
        for _ in range(100_000):
            deadlines = [
                (d, s)
                for s in (self.a, self.b)
                if (d := s.next_deadline()) is not None and d <= end
            ]
            if not deadlines:
                break
            when, session = min(deadlines, key=lambda item: item[0])
            self.now = max(self.now, when)
            self.apply(session, session.handle_timers(self.now))
        self.now = end

    def states(self) -> tuple[BfdState, BfdState]:
        return self.a.state, self.b.state


def pair(a: BfdTimers = FAST, b: BfdTimers = FAST) -> Pair:
    return Pair(BfdSession(0x1111, a, random=no_jitter), BfdSession(0x2222, b, random=no_jitter))


def up_pair(a: BfdTimers = FAST, b: BfdTimers = FAST) -> Pair:
    p = pair(a, b)
    p.start()
    p.run_until(5.0)
    assert p.states() == (BfdState.UP, BfdState.UP)
    return p


def test_three_way_handshake() -> None:
    p = pair()
    p.start()
    # a's Down reaches b (Down -> Init); b's Down reaches a, now Init... (both start at 0).
    transitions = [(who, c.old, c.new) for _, who, c in p.changes]
    assert transitions[:2] == [("b", BfdState.DOWN, BfdState.INIT),
                               ("a", BfdState.DOWN, BfdState.UP)]
    p.run_until(2.0)
    assert p.states() == (BfdState.UP, BfdState.UP)
    assert (p.a.remote_discriminator, p.b.remote_discriminator) == (0x2222, 0x1111)
    # Every packet sent while the sender was not Up advertised the slow rate (§6.8.3).
    for _, _, packet in p.sent:
        if packet.state is not BfdState.UP:
            assert packet.desired_min_tx >= SLOW_TX_INTERVAL


def test_handshake_from_one_side_first() -> None:
    """b starts a second later: Down -> Init -> Up on both, in the §6.8.6 order."""
    p = pair()
    p.link_up = False
    p.apply(p.a, p.a.start(0.0))  # b is not running: the packet is lost
    p.link_up = True
    p.now = 1.0
    p.apply(p.b, p.b.start(1.0))  # b Down reaches a: a Down -> Init
    assert p.a.state is BfdState.INIT
    assert p.b.state is BfdState.DOWN
    p.run_until(3.0)
    names = [(who, c.new) for _, who, c in p.changes]
    assert names == [("a", BfdState.INIT), ("b", BfdState.UP), ("a", BfdState.UP)]


def test_poll_sequence_brings_the_fast_rate_once_up() -> None:
    p = up_pair()
    # Up: the configured 300 ms is advertised with P until an F comes back.
    polls = [pk for _, who, pk in p.sent if who == "a" and pk.poll]
    finals = [pk for _, who, pk in p.sent if who == "b" and pk.final]
    assert polls and finals
    assert all(pk.desired_min_tx == 300_000 for pk in polls)
    assert not any(pk.poll and pk.final for _, _, pk in p.sent)  # §6.5: never both
    assert not p.a.polling and not p.b.polling
    assert p.a.tx_interval == p.b.tx_interval == 300_000
    assert p.a.detection_time == p.b.detection_time == 900_000
    sent_before = len(p.sent)
    p.run_until(p.now + 3.0)
    assert len(p.sent) - sent_before == 20  # 10 a second each way at 300 ms


def test_detection_timeout() -> None:
    p = up_pair()
    last = max(t for t, who, _ in p.sent if who == "b")
    p.link_up = False
    p.run_until(last + 0.899)
    assert p.a.state is BfdState.UP
    p.run_until(last + 0.901)
    assert p.a.state is BfdState.DOWN
    when, who, change = p.changes[-2] if p.changes[-1][1] == "b" else p.changes[-1]
    assert who == "a"
    assert when == pytest.approx(last + 0.9)
    assert change.diagnostic is Diagnostic.CONTROL_DETECTION_TIME_EXPIRED
    assert p.a.remote_discriminator == 0  # §6.8.1
    # Down again: back to the slow rate, and nothing is Up until the link returns.
    assert p.a.tx_interval == SLOW_TX_INTERVAL
    p.link_up = True
    p.run_until(p.now + 4.0)
    assert p.states() == (BfdState.UP, BfdState.UP)


def test_peer_signalling_down() -> None:
    p = up_pair()
    p.b.state = BfdState.DOWN  # as if b lost a's packets for a while
    p.run_until(p.now + 1.0)
    downs = [(who, c) for _, who, c in p.changes if c.new is BfdState.DOWN]
    assert downs[0][0] == "a"
    assert downs[0][1].diagnostic is Diagnostic.NEIGHBOR_SIGNALED_SESSION_DOWN


def test_admin_down() -> None:
    p = up_pair()
    p.apply(p.a, p.a.admin_down(p.now))
    assert p.a.state is BfdState.ADMIN_DOWN
    assert p.a.local_diag is Diagnostic.ADMINISTRATIVELY_DOWN
    assert p.b.state is BfdState.DOWN
    change = p.changes[-1][2]
    assert (change.diagnostic, change.remote_state) == (
        Diagnostic.NEIGHBOR_SIGNALED_SESSION_DOWN,
        BfdState.ADMIN_DOWN,
    )
    # §6.8.6: packets are discarded while AdminDown.
    with pytest.raises(BfdPacketError, match="AdminDown"):
        p.a.receive(ControlPacket(state=BfdState.DOWN, my_discriminator=0x2222), p.now)
    # §6.8.16: AdminDown is sent for a Detection Time, then no more.
    start = p.now
    p.run_until(start + 10.0)
    a_sent = [t for t, who, _ in p.sent if who == "a" and t > start]
    assert a_sent and max(a_sent) < start + 3 * SLOW_TX_INTERVAL * 1e-6
    assert p.b.state is BfdState.DOWN
    assert p.discarded and all(who == "a" for _, who, _ in p.discarded)
    p.apply(p.a, p.a.admin_up(p.now))
    p.run_until(p.now + 4.0)
    assert p.states() == (BfdState.UP, BfdState.UP)


def test_timer_negotiation() -> None:
    """Each side sends at the slower of its Desired Min TX and the peer's Required Min RX."""
    slow_rx = BfdTimers(desired_min_tx=100_000, required_min_rx=500_000, detect_mult=5)
    p = up_pair(FAST, slow_rx)
    assert p.a.tx_interval == 500_000  # a wants 300 ms, b accepts one every 500 ms
    assert p.b.tx_interval == 300_000  # b wants 100 ms, a accepts one every 300 ms
    # Detection time: the sender's Detect Mult x the interval it sends at (§6.8.4).
    assert p.a.detection_time == 5 * 300_000
    assert p.b.detection_time == 3 * 500_000
    status = p.a.status()
    assert (status.tx_interval_us, status.rx_interval_us) == (500_000, 300_000)
    assert (status.remote_detect_mult, status.remote_discriminator) == (5, 0x2222)


def test_set_timers_longer_tx_waits_for_final() -> None:
    p = up_pair()
    p.link_up = False  # hold the Final back
    p.apply(p.a, p.a.set_timers(attrs.evolve(FAST, desired_min_tx=600_000), p.now))
    assert p.a.polling
    assert p.a.tx_interval == 300_000  # §6.8.3: not before the Poll Sequence ends
    p.link_up = True
    p.run_until(p.now + 1.0)
    assert not p.a.polling
    assert p.a.tx_interval == 600_000
    assert p.b.detection_time == 3 * 600_000


def test_set_timers_shorter_rx_waits_for_final() -> None:
    p = up_pair()
    p.link_up = False
    p.apply(p.a, p.a.set_timers(attrs.evolve(FAST, required_min_rx=100_000), p.now))
    assert p.a.detection_time == 900_000  # the old RX until the sequence ends
    p.link_up = True
    p.run_until(p.now + 1.0)
    assert not p.a.polling
    assert p.b.tx_interval == 300_000  # b's own desired TX is 300 ms
    assert p.a.detection_time == 900_000  # max(100 ms, b's 300 ms) x 3


def test_poll_gets_an_immediate_final() -> None:
    session = BfdSession(5, FAST, random=no_jitter)
    session.start(0.0)
    actions = session.receive(
        ControlPacket(state=BfdState.DOWN, my_discriminator=9, poll=True), 0.1
    )
    finals = [a.packet for a in actions if isinstance(a, SendPacket)]
    assert len(finals) == 1
    assert finals[0].final and not finals[0].poll
    assert finals[0].your_discriminator == 9


def test_no_periodic_packets_when_peer_wants_none() -> None:
    session = BfdSession(5, FAST, random=no_jitter)
    session.start(0.0)
    session.receive(
        ControlPacket(state=BfdState.DOWN, my_discriminator=9, required_min_rx=0), 0.1
    )
    assert not any(isinstance(a, SendPacket) for a in session.handle_timers(5.0))


def test_jitter_bounds() -> None:
    for value, factor in ((0.0, 1.0), (0.999999, 0.75)):
        session = BfdSession(5, FAST, random=lambda value=value: value)
        session.start(0.0)
        assert session.next_deadline() == pytest.approx(factor * 1.0, abs=1e-5)
    # §6.8.7: with a Detect Mult of 1, between 75 % and 90 %.
    for value, factor in ((0.0, 0.9), (0.999999, 0.75)):
        session = BfdSession(
            5, attrs.evolve(FAST, detect_mult=1), random=lambda value=value: value
        )
        session.start(0.0)
        assert session.next_deadline() == pytest.approx(factor * 1.0, abs=1e-5)


# The §6.8.6 rules that need the session (the others are in test_bfd_packet.py).
def test_discard_wrong_your_discriminator() -> None:
    session = BfdSession(5, FAST, random=no_jitter)
    with pytest.raises(BfdPacketError, match="Your Discriminator 6 selects no session"):
        session.receive(
            ControlPacket(state=BfdState.UP, my_discriminator=9, your_discriminator=6), 0.0
        )
    assert session.packets_received == 0


def test_discard_authentication_without_authentication() -> None:
    session = BfdSession(5, FAST, random=no_jitter)
    with pytest.raises(BfdPacketError, match="A bit set"):
        session.receive(
            ControlPacket(state=BfdState.DOWN, my_discriminator=9, authentication=True), 0.0
        )
    assert session.state is BfdState.DOWN


def test_local_discriminator_must_be_nonzero() -> None:
    with pytest.raises(ValueError, match="nonzero"):
        BfdSession(0, FAST, random=no_jitter)


def test_down_without_packets_forgets_the_remote_discriminator() -> None:
    session = BfdSession(5, FAST, random=no_jitter)
    session.start(0.0)
    session.receive(ControlPacket(state=BfdState.DOWN, my_discriminator=9), 0.5)
    assert session.state is BfdState.INIT
    assert session.detection_time == 3 * 1_000_000
    actions = session.handle_timers(3.5)
    assert [a.new for a in actions if isinstance(a, StateChanged)] == [BfdState.DOWN]
    assert session.remote_discriminator == 0
    assert session.local_diag is Diagnostic.CONTROL_DETECTION_TIME_EXPIRED


@given(
    steps=st.lists(
        st.tuples(
            st.floats(0.0, 2.0),
            st.sampled_from(BfdState),
            st.booleans(),
            st.booleans(),
            st.integers(0, 2_000_000),
            st.integers(1, 5),
        ),
        max_size=40,
    )
)
def test_any_packet_sequence_keeps_the_invariants(
    steps: list[tuple[float, BfdState, bool, bool, int, int]],
) -> None:
    """Whatever the peer sends and whenever, only discards raise, and the RFC's rules hold."""
    session = BfdSession(5, FAST, random=lambda: 0.5)
    now = 0.0
    sent = [a.packet for a in session.start(now) if isinstance(a, SendPacket)]
    for delay, state, poll, final, interval, mult in steps:
        now += delay
        deadline = session.next_deadline()
        if deadline is not None and deadline <= now:
            actions = session.handle_timers(now)
            sent += [a.packet for a in actions if isinstance(a, SendPacket)]
        packet = ControlPacket(
            state=state,
            my_discriminator=9,
            your_discriminator=0 if state in (BfdState.DOWN, BfdState.ADMIN_DOWN) else 5,
            poll=poll,
            final=final and not poll,
            desired_min_tx=interval,
            required_min_rx=interval,
            detect_mult=mult,
        )
        try:
            actions = session.receive(packet, now)
        except BfdPacketError:
            assert session.state is BfdState.ADMIN_DOWN
            continue
        sent += [a.packet for a in actions if isinstance(a, SendPacket)]
        if poll:
            assert any(a.packet.final for a in actions if isinstance(a, SendPacket))
    for packet in sent:
        assert not (packet.poll and packet.final)  # §6.5
        if packet.state is not BfdState.UP:
            assert packet.desired_min_tx >= SLOW_TX_INTERVAL  # §6.8.3
        assert packet.my_discriminator == 5

"""The Neighbor without I/O: collisions, promotion, refusal, back-off, dynamic peers' lifetime,
End-of-RIB, max-prefix; time is plain numbers, the peer is a Session wired byte to byte."""

from __future__ import annotations

from collections.abc import Callable
from ipaddress import IPv4Address, ip_address

import pytest

from pybgp.fsm import (
    CloseTcp,
    DeliverUpdate,
    FsmTimers,
    SendBytes,
    SessionUp,
    State,
)
from pybgp.neighbor import (
    DiscardSession,
    EndOfRibReceived,
    FlushRoutes,
    ForgetNeighbor,
    Neighbor,
    NeighborSettings,
    RefusalLog,
    RefuseConnection,
    ReportState,
    Step,
)
from pybgp.rib import PeerInfo, Rib
from pybgp.session import Session, SessionConfig
from pybgp.wire.attributes import AsPath, AsPathSegment, NextHop, Origin, PathAttributes
from pybgp.wire.constants import IPV4_UNICAST, IPV6_UNICAST, CeaseSubcode, ErrorCode
from pybgp.wire.notification import decode_notification
from pybgp.wire.update import Update, encode_end_of_rib, encode_update

OUR_AS, PEER_AS = 65001, 65002
PEER = "10.0.0.2"
TIMERS = FsmTimers(connect_delay=0.0, error_wait_min=5.0, error_wait_max=60.0)


def no_jitter() -> float:
    return 0.0  # jitter factor 0.75 (RFC 4271 §10): every wait below is 0.75 x its value


def neighbor(
    router_id: str = "10.0.0.1",
    *,
    passive: bool = False,
    dynamic: bool = False,
    families: frozenset[tuple[int, int]] = frozenset({IPV4_UNICAST}),
    max_prefixes: int = 0,
    action: str = "stop",
    counter: Callable[[], Callable[..., int]] | None = None,
) -> Neighbor:
    session = SessionConfig(
        local_as=OUR_AS,
        router_id=IPv4Address(router_id),
        peer_as=PEER_AS,
        peer_address=PEER,
        families=families,
        timers=TIMERS,
    )
    settings = NeighborSettings(
        session,
        dynamic=dynamic,
        passive=passive,
        max_prefixes=max_prefixes,
        max_prefixes_action=action,  # type: ignore[arg-type]
    )
    return Neighbor(settings, prefix_counter=counter, random=no_jitter)


class Wire:
    """Our Neighbor and the peer's sessions, one remote Session per TCP connection.

    Bytes wait in flight until :meth:`deliver` moves them, so two connections can be set up
    side by side (a collision)."""

    def __init__(
        self, n: Neighbor, families: frozenset[tuple[int, int]] = frozenset({IPV4_UNICAST})
    ) -> None:
        self.n = n
        self.families = families
        self.remote: dict[int, Session] = {}
        self.ours: dict[int, Session] = {}
        self.to_remote: list[tuple[Session, bytes]] = []
        self.to_us: list[tuple[Session, bytes]] = []
        self.steps: list[Step] = []
        self.rib: Rib | None = None

    def remote_session(self) -> Session:
        config = SessionConfig(
            local_as=PEER_AS,
            router_id=IPv4Address(PEER),
            peer_as=OUR_AS,
            families=self.families,
            timers=FsmTimers(connect_delay=0.0, passive=True),
        )
        session = Session(config)
        session.auto_restart = False
        session.start(0.0, passive=True)
        return session

    def offer(self, now: float, *, outgoing: bool) -> Session | None:
        """A TCP connection comes up (``outgoing``: one we opened)."""
        session, steps = self.n.connection_offered(now, outgoing=outgoing)
        self.take(steps, now)
        if session is None:
            return None
        remote = self.remote_session()
        self.remote[id(session)] = remote
        self.ours[id(remote)] = session
        self.take_remote(remote, remote.connection_made(now, outgoing=not outgoing), now)
        # our OPEN was produced before the remote existed: send it now
        self.to_remote += [
            (session, a.data) for s, a in steps if s is session and isinstance(a, SendBytes)
        ]
        return session

    def take(self, steps: list[Step], now: float) -> None:
        self.steps += steps
        for session, action in steps:
            if session is None:
                continue
            remote = self.remote.get(id(session))
            if isinstance(action, SendBytes) and remote is not None:
                self.to_remote.append((session, action.data))
            elif isinstance(action, CloseTcp) and remote is not None:
                del self.remote[id(session)]
                self.take_remote(remote, remote.connection_lost(now, "closed by us"), now)
            elif isinstance(action, SessionUp) and self.rib is not None:
                negotiated = action.negotiated
                self.rib.peer_up(PEER, negotiated.negotiated, negotiated.peer_router_id)
            elif isinstance(action, DeliverUpdate) and self.rib is not None:
                self.rib.apply_update(PEER, action.update)
            elif isinstance(action, FlushRoutes) and self.rib is not None:
                self.rib.peer_down(PEER)

    def take_remote(self, remote: Session, actions: list[object], now: float) -> None:
        ours = self.ours.get(id(remote))
        for action in actions:
            if ours is None:
                continue
            if isinstance(action, SendBytes):
                self.to_us.append((remote, action.data))
            elif isinstance(action, CloseTcp) and self.remote.get(id(ours)) is remote:
                del self.remote[id(ours)]
                self.take(self.n.connection_lost(ours, now, "closed by the peer"), now)

    def deliver(self, now: float) -> None:
        """Move every byte in flight, both ways, until nothing is left."""
        for _ in range(100):
            if not self.to_remote and not self.to_us:
                return
            to_remote, self.to_remote = self.to_remote, []
            for session, data in to_remote:
                remote = self.remote.get(id(session))
                if remote is not None:
                    self.take_remote(remote, remote.receive_data(data, now), now)
            to_us, self.to_us = self.to_us, []
            for remote, data in to_us:
                ours = self.ours.get(id(remote))
                if ours is not None and self.remote.get(id(ours)) is remote:
                    self.take(self.n.receive_data(ours, data, now), now)
        raise AssertionError("the two ends keep talking")

    def send(self, data: bytes, now: float, session: Session | None = None) -> None:
        """The peer sends ``data`` on the connection of ``session`` (default: our main)."""
        ours = session or self.n.main
        self.to_us.append((self.remote[id(ours)], data))
        self.deliver(now)

    def drop(self, now: float) -> None:
        """The main connection breaks (TCP reset)."""
        ours = self.n.main
        self.remote.pop(id(ours), None)
        self.take(self.n.connection_lost(ours, now, "connection reset"), now)

    def of(self, kind: type) -> list[object]:
        return [a for _s, a in self.steps if isinstance(a, kind)]

    def established(self, now: float, *, outgoing: bool = False) -> None:
        assert self.offer(now, outgoing=outgoing) is not None
        self.deliver(now)
        assert self.n.state is State.ESTABLISHED


def notifications_to_peer(wire: Wire, session: Session) -> list[tuple[int, int]]:
    out = []
    for s, a in wire.steps:
        if s is session and isinstance(a, SendBytes) and a.what.startswith("NOTIFICATION"):
            n = decode_notification(a.data[19:])
            out.append((n.code, n.subcode))
    return out


# -------------------------------------------------------------------------------- accepting


def test_incoming_connection_reaches_established_and_reports_it() -> None:
    wire = Wire(neighbor(passive=True))
    wire.take(wire.n.start(0.0), 0.0)
    assert wire.n.state is State.ACTIVE
    wire.established(1.0)
    states = [(r.old, r.new) for r in wire.of(ReportState)]  # type: ignore[attr-defined]
    assert states[-1] == (State.OPEN_CONFIRM, State.ESTABLISHED)
    assert len(wire.of(SessionUp)) == 1
    assert wire.n.end_of_rib_pending == frozenset({IPV4_UNICAST})
    wire.drop(2.0)
    negotiated = wire.n.last_negotiated  # kept for graceful restart after the drop
    assert negotiated is not None and negotiated.peer_router_id == IPv4Address(PEER)


def test_connection_to_a_stopped_neighbor_is_refused_with_cease_5() -> None:
    n = neighbor()  # never started: Idle without back-off
    session, steps = n.connection_offered(0.0, outgoing=False)
    assert session is None
    [(_, refusal)] = steps
    assert isinstance(refusal, RefuseConnection) and refusal.notification is not None
    assert (refusal.notification.code, refusal.notification.subcode) == (
        ErrorCode.CEASE,
        CeaseSubcode.CONNECTION_REJECTED,
    )
    n.stop(1.0)
    session, steps = n.connection_offered(2.0, outgoing=False)
    assert session is None and isinstance(steps[0][1], RefuseConnection)


def test_established_session_is_kept_and_the_new_connection_closed_with_cease_7() -> None:
    wire = Wire(neighbor(passive=True))
    wire.take(wire.n.start(0.0), 0.0)
    wire.established(1.0)
    main = wire.n.main
    session, steps = wire.n.connection_offered(2.0, outgoing=False)
    assert session is None and wire.n.main is main and wire.n.candidate is None
    refusal = steps[-1][1]
    assert isinstance(refusal, RefuseConnection) and refusal.notification is not None
    assert refusal.notification.subcode == CeaseSubcode.CONNECTION_COLLISION_RESOLUTION


# -------------------------------------------------------------------------------- collisions


def collision(router_id: str) -> tuple[Wire, Session, Session]:
    """Our outgoing connection and the peer's incoming one, both in OpenSent."""
    wire = Wire(neighbor(router_id))
    wire.take(wire.n.start(0.0), 0.0)
    assert wire.n.state is State.CONNECT
    ours = wire.offer(0.1, outgoing=True)
    theirs = wire.offer(0.2, outgoing=False)
    assert ours is wire.n.main and theirs is wire.n.candidate and theirs is not None
    assert ours is not None and ours.state is theirs.state is State.OPEN_SENT
    wire.deliver(0.3)
    return wire, ours, theirs


def test_collision_higher_router_id_keeps_our_connection() -> None:
    """RFC 4271 §6.8: our BGP identifier is the higher: the peer's connection is closed."""
    wire, ours, theirs = collision("10.0.0.9")
    assert wire.n.main is ours and wire.n.candidate is None
    assert ours.state is State.ESTABLISHED
    assert notifications_to_peer(wire, theirs) == [
        (ErrorCode.CEASE, CeaseSubcode.CONNECTION_COLLISION_RESOLUTION)
    ]
    assert (theirs, DiscardSession()) in wire.steps


def test_collision_lower_router_id_promotes_the_peers_connection() -> None:
    """RFC 4271 §6.8: our identifier is the lower: our connection is closed, the candidate
    (the peer's connection) becomes the main session."""
    wire, ours, theirs = collision("10.0.0.1")
    assert wire.n.main is theirs and wire.n.candidate is None
    assert theirs.state is State.ESTABLISHED and theirs.auto_restart
    assert notifications_to_peer(wire, ours) == [
        (ErrorCode.CEASE, CeaseSubcode.CONNECTION_COLLISION_RESOLUTION)
    ]
    promoted = [r for r in wire.of(ReportState) if "collision" in r.reason]  # type: ignore[attr-defined]
    assert promoted and (ours, DiscardSession()) in wire.steps
    # Once promoted away, the loser's session reports nothing (its drop to Idle included).
    after = wire.steps[wire.steps.index((theirs, promoted[0])) :]
    assert all(s is not ours for s, a in after if isinstance(a, ReportState | SessionUp))


def test_candidate_is_promoted_when_the_main_connection_goes_down_first() -> None:
    wire = Wire(neighbor("10.0.0.1"))
    wire.take(wire.n.start(0.0), 0.0)
    ours = wire.offer(0.1, outgoing=True)
    theirs = wire.offer(0.2, outgoing=False)
    assert ours is not None and theirs is not None
    wire.remote.pop(id(ours))
    wire.take(wire.n.connection_lost(ours, 0.3, "connection reset"), 0.3)
    assert wire.n.main is theirs and wire.n.candidate is None
    assert (ours, DiscardSession()) in wire.steps
    wire.deliver(0.4)
    assert wire.n.state is State.ESTABLISHED


# -------------------------------------------------------------------------------- back-off


def test_inbound_peer_is_refused_during_its_back_off_which_grows_and_resets() -> None:
    """RFC 4271 §8.1.1 DampPeerOscillations for a peer that only connects to us."""
    wire = Wire(neighbor(passive=True))
    n = wire.n
    wire.take(n.start(0.0), 0.0)
    waits = []
    now = 1.0
    for _flap in range(3):
        wire.established(now)
        wire.drop(now + 1)
        assert n.in_back_off and n.main.error_wait_until is not None
        waits.append(n.main.error_wait_until - (now + 1))
        session, steps = n.connection_offered(now + 2, outgoing=False)
        assert session is None
        [(_, refusal)] = steps
        assert isinstance(refusal, RefuseConnection) and refusal.notification is None
        assert "DampPeerOscillations" in refusal.reason
        now = n.main.error_wait_until
        wire.take(n.handle_timers(now), now)
        assert n.state is State.ACTIVE  # back-off over: accepting again
    assert waits == [3.75, 7.5, 15.0]  # 5, 10, 20 s x 0.75 jitter
    # A session that stays up error_wait_max (60 s) resets the back-off.
    wire.established(now)
    wire.drop(now + 61)
    assert n.main.error_wait_until == pytest.approx(now + 61 + 3.75)


def test_a_peer_we_also_connect_to_is_accepted_during_our_back_off() -> None:
    """Two speakers in back-off must not keep refusing each other."""
    wire = Wire(neighbor())
    n = wire.n
    wire.take(n.start(0.0), 0.0)
    wire.established(0.1, outgoing=True)
    wire.drop(1.0)
    assert n.in_back_off
    assert wire.offer(2.0, outgoing=False) is not None
    wire.deliver(2.0)
    assert n.state is State.ESTABLISHED


def test_repeated_flaps_of_an_inbound_peer_do_not_flap_routes_each_time() -> None:
    """A peer that reconnects every second and drops at once: 30 attempts, few sessions."""
    wire = Wire(neighbor(passive=True))
    n = wire.n
    wire.take(n.start(0.0), 0.0)
    attempts = accepted = 0
    for second in range(30):
        now = float(second)
        wire.take(n.handle_timers(now), now)
        attempts += 1
        if wire.offer(now, outgoing=False) is not None:
            accepted += 1
            wire.deliver(now)
            wire.drop(now + 0.5)
    assert attempts == 30
    assert accepted == len(wire.of(FlushRoutes)) == 4  # at 0, 4, 12, 28 s
    assert n.main.failures == 4


# -------------------------------------------------------------------------------- dynamic peers


def test_dynamic_neighbor_outlives_its_back_off_then_is_forgotten() -> None:
    wire = Wire(neighbor(dynamic=True))
    n = wire.n
    wire.take(n.start(0.0), 0.0)
    assert n.state is State.ACTIVE  # dynamic neighbours never connect out
    wire.established(0.0)
    wire.drop(1.0)
    assert not wire.of(ForgetNeighbor) and n.in_back_off
    end = n.main.error_wait_until
    assert end is not None
    wire.take(n.handle_timers(end), end)
    assert n.state is State.ACTIVE and n.forget_at == end + 60.0
    assert n.next_deadline() == end + 60.0
    wire.take(n.handle_timers(end + 59.0), end + 59.0)
    assert not wire.of(ForgetNeighbor)
    wire.take(n.handle_timers(end + 60.0), end + 60.0)
    assert len(wire.of(ForgetNeighbor)) == 1
    assert n.removed and n.candidate is None


def test_dynamic_neighbor_that_comes_back_keeps_its_failures() -> None:
    wire = Wire(neighbor(dynamic=True))
    n = wire.n
    wire.take(n.start(0.0), 0.0)
    wire.established(0.0)
    wire.drop(1.0)
    end = n.main.error_wait_until
    assert end is not None
    wire.take(n.handle_timers(end), end)
    wire.established(end + 10)
    assert n.forget_at is None
    wire.drop(end + 11)
    assert n.main.error_wait_until == pytest.approx(end + 11 + 7.5)  # grew: 10 s x 0.75
    assert not wire.of(ForgetNeighbor)


# -------------------------------------------------------------------------------- End-of-RIB


def test_end_of_rib_is_tracked_per_family() -> None:
    both = frozenset({IPV4_UNICAST, IPV6_UNICAST})
    wire = Wire(neighbor(passive=True, families=both), families=both)
    wire.take(wire.n.start(0.0), 0.0)
    wire.established(0.0)
    assert wire.n.end_of_rib_pending == both
    wire.send(encode_end_of_rib(IPV6_UNICAST), 1.0)
    assert wire.of(EndOfRibReceived) == [EndOfRibReceived(IPV6_UNICAST, False)]
    wire.send(encode_end_of_rib(IPV4_UNICAST), 2.0)
    assert wire.of(EndOfRibReceived)[-1] == EndOfRibReceived(IPV4_UNICAST, True)
    assert wire.n.end_of_rib_pending == frozenset()
    wire.send(encode_end_of_rib(IPV4_UNICAST), 3.0)  # a second one changes nothing
    assert len(wire.of(EndOfRibReceived)) == 2


# -------------------------------------------------------------------------------- max-prefix


def update_bytes(*prefixes: str) -> bytes:
    from pybgp.wire.negotiated import Negotiated
    from pybgp.wire.nlri import prefix_from_str

    attributes = PathAttributes(
        (Origin(0), AsPath((AsPathSegment(2, (PEER_AS,)),)), NextHop(IPv4Address(PEER)))
    )
    keys = tuple(prefix_from_str(p)[1] for p in prefixes)
    negotiated = Negotiated(four_octet_as=True, local_as=PEER_AS, peer_as=OUR_AS)
    return encode_update(Update((), attributes, keys), negotiated)


def limited(limit: int, action: str = "stop") -> Wire:
    rib = Rib(OUR_AS, IPv4Address("10.0.0.1"))
    rib.add_peer(PeerInfo(PEER, ip_address(PEER), PEER_AS, OUR_AS))
    wire = Wire(
        neighbor(
            passive=True,
            max_prefixes=limit,
            action=action,
            counter=lambda: rib.prefix_counter(PEER),
        )
    )
    wire.rib = rib
    wire.take(wire.n.start(0.0), 0.0)
    wire.established(0.0)
    return wire


def test_max_prefixes_stop_refuses_the_update_before_the_rib_and_closes_with_cease_1() -> None:
    wire = limited(2)
    assert wire.rib is not None
    main = wire.n.main
    # Two UPDATEs in one read: the first fits (2), the second would make 3.
    wire.send(update_bytes("10.1.0.0/16", "10.2.0.0/16") + update_bytes("10.3.0.0/16"), 1.0)
    delivered = wire.of(DeliverUpdate)
    assert len(delivered) == 1  # the UPDATE that went over never left the neighbour
    assert notifications_to_peer(wire, main) == [
        (ErrorCode.CEASE, CeaseSubcode.MAXIMUM_PREFIXES_REACHED)
    ]
    assert main.state is State.IDLE and "maximum number of prefixes (2)" in main.last_reason
    assert len(wire.of(FlushRoutes)) == 1
    assert list(wire.rib.routes()) == []


def test_max_prefixes_warn_keeps_the_routes_and_warns_once_per_crossing() -> None:
    wire = limited(2, "warn")
    assert wire.rib is not None
    wire.send(update_bytes("10.1.0.0/16", "10.2.0.0/16", "10.3.0.0/16"), 1.0)
    wire.send(update_bytes("10.4.0.0/16"), 2.0)
    warnings = [a for _s, a in wire.steps if getattr(a, "level", "") == "warning"]
    assert [w.text for w in warnings] == [  # type: ignore[attr-defined]
        "maximum number of prefixes (2) exceeded: 3 received (max_prefixes_action = warn: "
        "routes kept)"
    ]
    assert wire.n.state is State.ESTABLISHED
    assert wire.rib.peer_counters(PEER).received == 4


def test_max_prefixes_counts_withdrawals() -> None:
    wire = limited(2)
    from pybgp.wire.negotiated import Negotiated
    from pybgp.wire.nlri import prefix_from_str

    wire.send(update_bytes("10.1.0.0/16", "10.2.0.0/16"), 1.0)
    withdraw = encode_update(
        Update((prefix_from_str("10.1.0.0/16")[1],), PathAttributes(()), ()),
        Negotiated(four_octet_as=True, local_as=PEER_AS, peer_as=OUR_AS),
    )
    wire.send(withdraw + update_bytes("10.3.0.0/16"), 2.0)  # still 2
    assert wire.n.state is State.ESTABLISHED and len(wire.of(DeliverUpdate)) == 3


# -------------------------------------------------------------------------------- refusal log


def test_refusal_log_writes_one_line_per_address_and_interval() -> None:
    refusals = RefusalLog(interval=60.0, size=2)
    lines = [refusals.refused("192.0.2.7", i / 100) for i in range(1000)]
    assert lines.count((True, 0)) == 1 and sum(1 for logged, _ in lines if logged) == 1
    assert refusals.refused("192.0.2.7", 61.0) == (True, 999)
    assert refusals.refused("192.0.2.8", 61.0) == (True, 0)
    refusals.refused("192.0.2.9", 61.0)  # size 2: the oldest address is forgotten
    assert refusals.refused("192.0.2.7", 62.0) == (True, 0)


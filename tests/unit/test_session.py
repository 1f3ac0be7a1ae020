"""Sessions without I/O: two of them wired byte to byte in memory, plus decode-error mapping,
capability negotiation and the RFC 4271 §6.8 collision rule."""

from __future__ import annotations

import struct
from ipaddress import IPv4Address, IPv6Address

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pybgp.fsm import (
    Action,
    DeliverUpdate,
    FsmTimers,
    Note,
    SendBytes,
    SessionDown,
    SessionUp,
    State,
)
from pybgp.session import Session, SessionConfig, build_open, collision_loser, negotiate
from pybgp.wire.attributes import (
    As4Path,
    AsPath,
    AsPathSegment,
    MpReachNlri,
    NextHop,
    Origin,
    PathAttributes,
)
from pybgp.wire.capabilities import (
    AddPathCapability,
    AddPathEntry,
    ExtendedMessageCapability,
    GracefulRestartCapability,
    MultiprotocolCapability,
)
from pybgp.wire.constants import (
    AS_TRANS,
    IPV4_UNICAST,
    IPV6_UNICAST,
    CeaseSubcode,
    ErrorCode,
    MessageType,
    OpenMessageSubcode,
)
from pybgp.wire.framing import MessageReader, encode_message
from pybgp.wire.negotiated import Negotiated
from pybgp.wire.notification import Notification, decode_notification
from pybgp.wire.open import Open, encode_open
from pybgp.wire.update import Update, encode_update

A_ID = IPv4Address("10.0.0.1")
B_ID = IPv4Address("10.0.0.2")
TIMERS = FsmTimers(connect_delay=0.0)


def config(
    local_as: int, router_id: IPv4Address, peer_as: int | None, **kw: object
) -> SessionConfig:
    kw.setdefault("timers", TIMERS)
    return SessionConfig(local_as, router_id, peer_as, str(router_id), **kw)  # type: ignore[arg-type]


class Pair:
    """Two sessions whose SendBytes go straight into the other's receive_data."""

    def __init__(self, a: Session, b: Session) -> None:
        self.a, self.b = a, b
        self.log: dict[str, list[Action]] = {"a": [], "b": []}
        for s in (a, b):
            s.fsm.random = lambda: 1.0

    def pump(self, now: float, from_a: list[Action], from_b: list[Action]) -> None:
        while from_a or from_b:
            self.log["a"] += from_a
            self.log["b"] += from_b
            to_b = b"".join(x.data for x in from_a if isinstance(x, SendBytes))
            to_a = b"".join(x.data for x in from_b if isinstance(x, SendBytes))
            from_b = self.b.receive_data(to_b, now) if to_b else []
            from_a = self.a.receive_data(to_a, now) if to_a else []

    def connect(self, now: float = 0.0) -> None:
        from_a = self.a.start(now) + self.a.connection_made(now, outgoing=True)
        from_b = self.b.start(now, passive=True) + self.b.connection_made(now, outgoing=False)
        self.pump(now, from_a, from_b)

    def of(self, side: str, kind: type) -> list[Action]:
        return [x for x in self.log[side] if isinstance(x, kind)]


def make_pair(**b_kw: object) -> Pair:
    a = Session(config(65001, A_ID, 65002))
    b = Session(config(65002, B_ID, 65001, **b_kw))
    return Pair(a, b)


def test_pair_reaches_established_and_exchanges_update() -> None:
    pair = make_pair()
    pair.connect()
    assert pair.a.state is State.ESTABLISHED and pair.b.state is State.ESTABLISHED
    up = pair.of("a", SessionUp)
    assert len(up) == 1
    negotiated = up[0].negotiated  # type: ignore[attr-defined]
    assert negotiated.families == frozenset({IPV4_UNICAST})
    assert negotiated.hold_time == 90 and negotiated.peer_router_id == B_ID
    assert negotiated.route_refresh and negotiated.enhanced_route_refresh
    update = Update(
        attributes=PathAttributes(
            (Origin(0), AsPath((AsPathSegment(2, (65001,)),)), NextHop(A_ID))
        ),
        nlri=(b"\x18\x0a\x01\x02",),
    )
    assert pair.a.negotiated is not None
    data = encode_update(update, pair.a.negotiated.negotiated)
    actions = pair.a.send_update(data, 5.0)
    assert actions == [SendBytes(data, "UPDATE")]
    received = pair.b.receive_data(data, 5.0)
    delivered = [x for x in received if isinstance(x, DeliverUpdate)]
    assert len(delivered) == 1
    assert delivered[0].update.update.nlri == (b"\x18\x0a\x01\x02",)
    assert pair.b.updates_received == 1 and pair.a.updates_sent == 1


def test_keepalives_keep_both_sides_up() -> None:
    pair = make_pair(timers=FsmTimers(connect_delay=0.0, hold_time=30))
    pair.connect()
    now = 0.0
    for _ in range(20):
        deadlines = [d for d in (pair.a.next_deadline(), pair.b.next_deadline()) if d]
        now = min(deadlines)
        pair.pump(now, pair.a.handle_timers(now), pair.b.handle_timers(now))
    assert now > 90.0
    assert pair.a.state is State.ESTABLISHED and pair.b.state is State.ESTABLISHED


def test_clean_stop_carries_shutdown_message() -> None:
    pair = make_pair()
    pair.connect()
    actions = pair.a.stop(10.0, "maintenance window")
    pair.pump(10.0, actions, [])
    assert pair.a.state is State.IDLE and pair.b.state is State.IDLE
    down = pair.of("b", SessionDown)
    assert down and down[-1].notification_received is not None  # type: ignore[attr-defined]
    assert down[-1].notification_received.shutdown_message == "maintenance window"  # type: ignore[attr-defined]
    assert '"maintenance window"' in pair.b.last_reason
    # the receiver answered nothing (RFC 4271 §6.4)
    assert not [x for x in pair.of("b", SendBytes) if "NOTIFICATION" in x.what]  # type: ignore[attr-defined]


def notification_sent(actions: list[Action]) -> Notification:
    for action in actions:
        if isinstance(action, SendBytes) and action.what.startswith("NOTIFICATION"):
            raw = MessageReader().feed(action.data)[0]
            return decode_notification(raw.body)
    raise AssertionError(f"no NOTIFICATION in {actions}")


def open_sent_session(**kw: object) -> Session:
    session = Session(config(65001, A_ID, 65002, **kw))
    session.fsm.random = lambda: 1.0
    session.start(0.0)
    session.connection_made(0.0, outgoing=True)
    assert session.state is State.OPEN_SENT
    return session


def test_bad_marker_is_header_error() -> None:
    session = open_sent_session()
    actions = session.receive_data(b"\x00" * 19, 1.0)
    assert notification_sent(actions) == Notification(1, 1)
    assert session.state is State.IDLE


def test_wrong_peer_as_is_2_2() -> None:
    session = open_sent_session()
    peer = Open.create(65009, 90, B_ID)
    actions = session.receive_data(encode_open(peer), 1.0)
    assert notification_sent(actions).code == ErrorCode.OPEN_MESSAGE
    assert notification_sent(actions).subcode == OpenMessageSubcode.BAD_PEER_AS
    assert "65009" in session.last_reason


def test_hold_time_two_is_rejected() -> None:
    session = open_sent_session()
    actions = session.receive_data(encode_open(Open.create(65002, 2, B_ID)), 1.0)
    assert notification_sent(actions) == Notification(2, OpenMessageSubcode.UNACCEPTABLE_HOLD_TIME)


def test_update_in_open_sent_is_fsm_error() -> None:
    session = open_sent_session()
    actions = session.receive_data(encode_message(MessageType.UPDATE, b"\x00\x00\x00\x00"), 1.0)
    assert notification_sent(actions) == Notification(5, 1)


def test_malformed_update_resets_with_3_x() -> None:
    pair = make_pair()
    pair.connect()
    # withdrawn routes length overruns the message: RFC 7606 §5.3 / RFC 4271 §6.3 -> 3/1
    actions = pair.b.receive_data(encode_message(MessageType.UPDATE, b"\x00\x10\x00\x00"), 1.0)
    assert notification_sent(actions).code == ErrorCode.UPDATE_MESSAGE
    assert pair.b.state is State.IDLE


def test_family_not_negotiated_is_delivered_for_the_rib_to_ignore() -> None:
    """RFC 4760 §8: the RIB ignores (with a note) NLRI of a family that was not negotiated;
    the session only decodes (one place decides: tests/unit/rib/test_rib_count.py)."""
    pair = make_pair()
    pair.connect()
    assert pair.a.negotiated is not None
    reach = MpReachNlri(
        2, 1, (IPv6Address("2001:db8::1"),), (b"\x40\x20\x01\x0d\xb8\x00\x00\x00\x01",), None
    )
    update = Update(
        attributes=PathAttributes((Origin(0), AsPath((AsPathSegment(2, (65001,)),)), reach)),
    )
    data = encode_update(
        update,
        attrs.evolve(
            pair.a.negotiated.negotiated, families=frozenset({IPV4_UNICAST, IPV6_UNICAST})
        ),
    )
    actions = pair.b.receive_data(data, 1.0)
    assert pair.b.state is State.ESTABLISHED
    delivered = [x for x in actions if isinstance(x, DeliverUpdate)]
    assert [d.update.update.attributes.mp_reach for d in delivered] == [reach]


def test_two_octet_peer_as4_path_is_delivered_for_the_rib_to_merge() -> None:
    """RFC 6793 §4.2.3: a 2-octet peer's AS4_PATH reaches the RIB, which merges it once per
    attribute set (tests/unit/rib/test_rib_export.py checks the merge)."""
    session = open_sent_session()
    local = session.local_open
    # a peer without the 4-octet AS capability
    old = Open(4, 65002, 90, B_ID, (MultiprotocolCapability(1, 1),))
    session.receive_data(encode_open(old), 1.0)
    session.receive_data(encode_message(MessageType.KEEPALIVE, b""), 1.0)
    assert session.state is State.ESTABLISHED
    assert session.negotiated is not None and not session.negotiated.negotiated.four_octet_as
    two = Negotiated(four_octet_as=False, local_as=65002, peer_as=65001)
    update = Update(
        attributes=PathAttributes(
            (
                Origin(0),
                AsPath((AsPathSegment(2, (65002, AS_TRANS)),)),
                NextHop(B_ID),
                As4Path((AsPathSegment(2, (65002, 4200000001)),)),
            )
        ),
        nlri=(b"\x18\x0a\x01\x02",),
    )
    actions = session.receive_data(encode_update(update, two), 2.0)
    delivered = [x for x in actions if isinstance(x, DeliverUpdate)]
    assert delivered, actions
    path = delivered[0].update.update.attributes.as_path
    assert path is not None and path.segments[0].asns == (65002, AS_TRANS)
    assert delivered[0].update.update.attributes.get(17) is not None
    assert local.my_as == 65001


def test_negotiation_details() -> None:
    cfg = config(
        65001,
        A_ID,
        65002,
        families=frozenset({IPV4_UNICAST, IPV6_UNICAST}),
        extended_message=True,
        add_path_receive=frozenset({IPV4_UNICAST}),
        add_path_send=frozenset({IPV6_UNICAST}),
    )
    local = build_open(cfg)
    peer = Open.create(
        65002,
        60,
        B_ID,
        (
            MultiprotocolCapability(1, 1),
            ExtendedMessageCapability(),
            AddPathCapability((AddPathEntry(1, 1, send=True, receive=False),)),
            GracefulRestartCapability(restart_time=120),
        ),
    )
    result = negotiate(cfg, local, peer)
    assert result.families == frozenset({IPV4_UNICAST})  # the peer did not offer IPv6
    assert result.negotiated.extended_message
    assert result.negotiated.add_path_receive == frozenset({IPV4_UNICAST})
    assert result.negotiated.add_path_send == frozenset()
    assert result.graceful_restart is not None and result.graceful_restart.restart_time == 120
    assert not result.route_refresh  # the peer sent no route refresh capability
    # no multiprotocol capability at all = IPv4 unicast (RFC 4760)
    bare = Open(4, 65002, 90, B_ID, ())
    assert negotiate(cfg, local, bare).families == frozenset({IPV4_UNICAST})


def big_update(negotiated: Negotiated) -> bytes:
    """An UPDATE of 1200 /24 prefixes: about 4.9 KB, over the RFC 4271 limit of 4096."""
    nlri = tuple(bytes((24, 10, i // 256, i % 256)) for i in range(1200))
    update = Update(
        attributes=PathAttributes(
            (Origin(0), AsPath((AsPathSegment(2, (65001,)),)), NextHop(A_ID))
        ),
        nlri=nlri,
    )
    return encode_update(update, attrs.evolve(negotiated, extended_message=True))


def test_extended_message_raises_reader_limit() -> None:
    """RFC 8654: with the capability on both sides, UPDATEs above 4096 octets are accepted."""
    pair = Pair(
        Session(config(65001, A_ID, 65002, extended_message=True)),
        Session(config(65002, B_ID, 65001, extended_message=True)),
    )
    pair.connect()
    assert pair.b.negotiated is not None and pair.b.negotiated.negotiated.extended_message
    data = big_update(pair.b.negotiated.negotiated)
    assert len(data) > 4096
    delivered = [x for x in pair.b.receive_data(data, 1.0) if isinstance(x, DeliverUpdate)]
    assert len(delivered[0].update.update.nlri) == 1200
    # without the capability on one side the same message is a 1/2 Bad Message Length
    plain = make_pair()
    plain.connect()
    assert plain.b.negotiated is not None
    actions = plain.b.receive_data(big_update(plain.b.negotiated.negotiated), 1.0)
    assert notification_sent(actions) == Notification(1, 2, struct.pack("!H", len(data)))


def make_open_confirm(local_id: IPv4Address, peer_id: IPv4Address, outgoing: bool) -> Session:
    session = Session(config(65001, local_id, 65001))
    session.fsm.random = lambda: 1.0
    session.start(0.0, passive=not outgoing)
    session.connection_made(0.0, outgoing=outgoing)
    session.receive_data(encode_open(Open.create(65001, 90, peer_id)), 0.0)
    assert session.state is State.OPEN_CONFIRM
    return session


@pytest.mark.parametrize(
    ("local_id", "peer_id", "closed_is_ours"),
    [
        (IPv4Address("10.0.0.1"), IPv4Address("10.0.0.2"), True),  # lower: close ours
        (IPv4Address("10.0.0.9"), IPv4Address("10.0.0.2"), False),  # higher: close theirs
        (IPv4Address("1.0.0.0"), IPv4Address("200.0.0.0"), True),  # unsigned compare
    ],
)
def test_collision_rule(local_id: IPv4Address, peer_id: IPv4Address, closed_is_ours: bool) -> None:
    ours = make_open_confirm(local_id, peer_id, outgoing=True)
    theirs = make_open_confirm(local_id, peer_id, outgoing=False)
    for existing, new in ((ours, theirs), (theirs, ours)):
        loser = collision_loser(local_id, existing, new)
        assert loser.outgoing is closed_is_ours
    loser = collision_loser(local_id, ours, theirs)
    actions = loser.collision_dump(1.0)
    assert notification_sent(actions) == Notification(
        ErrorCode.CEASE, CeaseSubcode.CONNECTION_COLLISION_RESOLUTION
    )
    assert loser.state is State.IDLE


def test_collision_with_established_closes_new() -> None:
    pair = make_pair()
    pair.connect()
    new = make_open_confirm(A_ID, B_ID, outgoing=False)
    assert collision_loser(A_ID, pair.a, new) is new


def test_collision_never_closes_an_established_newcomer() -> None:
    """RFC 4271 §6.8: the Established connection stays, even when it is the newer one
    (the rule by BGP identifier alone would have closed it here)."""
    pair = make_pair()
    pair.connect()
    assert pair.a.state is State.ESTABLISHED
    older = make_open_confirm(A_ID, B_ID, outgoing=not pair.a.outgoing)
    assert collision_loser(A_ID, older, pair.a) is older
    assert collision_loser(B_ID, older, pair.a) is older


@settings(max_examples=300, deadline=None)
@given(
    junk=st.binary(min_size=1, max_size=120),
    framed=st.booleans(),
    mtype=st.integers(min_value=0, max_value=7),
    state=st.sampled_from(["open_sent", "established"]),
)
def test_random_bytes_never_crash(junk: bytes, framed: bool, mtype: int, state: str) -> None:
    """Hypothesis: any bytes from the peer end in a defined state (usually Idle with a
    NOTIFICATION sent), never an exception."""
    if state == "established":
        pair = make_pair()
        pair.connect()
        session = pair.b
    else:
        session = open_sent_session()
    if framed:
        junk = b"\xff" * 16 + struct.pack("!HB", 19 + len(junk), mtype) + junk
    actions = session.receive_data(junk, 1.0)
    assert isinstance(session.state, State)
    if session.state is State.IDLE:
        down = [a for a in actions if isinstance(a, SessionDown)]
        assert down and down[-1].reason


def test_role_mismatch_is_2_11() -> None:
    """RFC 9234 §4.2: provider facing provider is a Role Mismatch."""
    from pybgp.wire.capabilities import RoleCapability
    from pybgp.wire.constants import Role

    session = open_sent_session(role=Role.PROVIDER)
    peer_open = Open.create(65002, 90, B_ID, (RoleCapability(Role.PROVIDER),))
    actions = session.receive_data(encode_open(peer_open), 1.0)
    assert notification_sent(actions) == Notification(2, OpenMessageSubcode.ROLE_MISMATCH)
    good = open_sent_session(role=Role.PROVIDER)
    good.receive_data(
        encode_open(Open.create(65002, 90, B_ID, (RoleCapability(Role.CUSTOMER),))), 1.0
    )
    assert good.state is State.OPEN_CONFIRM
    assert good.negotiated is not None and good.negotiated.peer_role == Role.CUSTOMER


def test_route_refresh_for_unnegotiated_family_is_ignored() -> None:
    from pybgp.fsm import DeliverRouteRefresh
    from pybgp.wire.refresh import RouteRefresh, encode_route_refresh

    pair = make_pair()
    pair.connect()
    actions = pair.b.receive_data(encode_route_refresh(RouteRefresh(2, 1)), 1.0)
    assert any(isinstance(x, Note) and "not negotiated" in x.text for x in actions)
    actions = pair.b.receive_data(encode_route_refresh(RouteRefresh(1, 1)), 1.0)
    assert [x for x in actions if isinstance(x, DeliverRouteRefresh)]
    assert pair.b.state is State.ESTABLISHED

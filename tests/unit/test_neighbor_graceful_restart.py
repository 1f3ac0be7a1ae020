"""The Neighbor's graceful restart (RFC 4724 §4.2, RFC 8538) with plain numbers for time.

The peer is a Session wired byte to byte (``Wire`` of test_neighbor); both OPENs carry the
capability unless a test says otherwise.
"""

from __future__ import annotations

from ipaddress import IPv4Address

import attrs

from pybgp.fsm import CloseTcp, SessionUp, State
from pybgp.graceful_restart import Phase
from pybgp.neighbor import (
    FlushRoutes,
    FlushStale,
    KeepStale,
    Neighbor,
    NeighborSettings,
    RefuseConnection,
    ReportState,
)
from pybgp.session import Session, SessionConfig
from pybgp.wire.capabilities import GracefulRestartCapability, GracefulRestartFamily
from pybgp.wire.constants import IPV4_UNICAST, CeaseSubcode, ErrorCode
from pybgp.wire.notification import Notification, encode_notification
from pybgp.wire.update import encode_end_of_rib
from tests.unit.test_neighbor import (
    OUR_AS,
    PEER,
    PEER_AS,
    TIMERS,
    Wire,
    no_jitter,
    notifications_to_peer,
)

V4 = frozenset({IPV4_UNICAST})


def capability(
    *, forwarding: bool = True, n: bool = True, restart_time: int = 120, listed: bool = True
) -> GracefulRestartCapability:
    families = (GracefulRestartFamily(1, 1, forwarding),) if listed else ()
    return GracefulRestartCapability(
        restart_state=False, notification=n, restart_time=restart_time, families=families
    )


def gr_neighbor(local: GracefulRestartCapability | None = None) -> Neighbor:
    session = SessionConfig(
        local_as=OUR_AS,
        router_id=IPv4Address("10.0.0.1"),
        peer_as=PEER_AS,
        peer_address=PEER,
        families=V4,
        timers=TIMERS,
        graceful_restart=local if local is not None else capability(forwarding=False),
    )
    settings = NeighborSettings(session, passive=True, stale_routes_time=300.0)
    return Neighbor(settings, random=no_jitter)


class GrWire(Wire):
    """The peer advertises ``peer_capability`` (None: no graceful restart)."""

    def __init__(self, n: Neighbor, peer_capability: GracefulRestartCapability | None) -> None:
        super().__init__(n)
        self.peer_capability = peer_capability

    def remote_session(self) -> Session:
        session = super().remote_session()
        config = attrs.evolve(session.config, graceful_restart=self.peer_capability)
        session.update_open(config)
        return session


def setup(
    peer: GracefulRestartCapability | None = None, local: GracefulRestartCapability | None = None
) -> GrWire:
    wire = GrWire(gr_neighbor(local), peer if peer is not None else capability())
    wire.take(wire.n.start(0.0), 0.0)
    wire.established(0.0)
    return wire


def back(wire: GrWire, now: float) -> None:
    """The peer comes back at ``now`` (after our error back-off of the lost session)."""
    wire.take(wire.n.handle_timers(now), now)
    wire.established(now)


def test_tcp_reset_keeps_routes_stale_and_the_restart_timer_flushes_them() -> None:
    wire = setup(capability(restart_time=60))
    wire.steps.clear()
    wire.drop(10.0)
    assert wire.of(FlushRoutes) == []
    (keep,) = wire.of(KeepStale)
    assert isinstance(keep, KeepStale) and keep.families == V4
    assert wire.n.restart.phase is Phase.RESTARTING
    assert wire.n.next_deadline() is not None and wire.n.next_deadline() <= 70.0
    wire.steps.clear()
    wire.take(wire.n.handle_timers(70.0), 70.0)
    assert wire.of(FlushStale) == [FlushStale(V4, "restart timer expired (RFC 4724 §4.2)")]
    assert wire.n.restart.phase is Phase.NONE


def test_peer_back_with_f_bit_keeps_stale_until_its_end_of_rib() -> None:
    wire = setup()
    wire.drop(10.0)
    wire.steps.clear()
    back(wire, 20.0)
    assert wire.of(FlushStale) == [] and len(wire.of(SessionUp)) == 1
    assert wire.n.restart.phase is Phase.RECOVERING
    wire.send(encode_end_of_rib(IPV4_UNICAST), 21.0)
    assert wire.n.restart.phase is Phase.NONE
    assert wire.n.next_deadline() != 300.0 + 10.0  # the stale-routes timer is gone


def test_peer_back_without_f_bit_is_flushed_before_its_session_up() -> None:
    wire = setup()
    wire.drop(10.0)
    wire.peer_capability = capability(forwarding=False)
    wire.steps.clear()
    back(wire, 20.0)
    kinds = [type(a) for _s, a in wire.steps if isinstance(a, FlushStale | SessionUp)]
    assert kinds == [FlushStale, SessionUp]


def test_notification_with_n_bit_is_a_restart_hard_reset_is_not() -> None:
    wire = setup()
    wire.steps.clear()
    admin = Notification(ErrorCode.CEASE, CeaseSubcode.ADMINISTRATIVE_RESET)
    wire.send(encode_notification(admin), 5.0)
    assert len(wire.of(KeepStale)) == 1 and wire.of(FlushRoutes) == []
    back(wire, 20.0)
    wire.steps.clear()
    wire.send(encode_notification(Notification(ErrorCode.CEASE, CeaseSubcode.HARD_RESET)), 21.0)
    assert wire.of(KeepStale) == [] and len(wire.of(FlushRoutes)) == 1


def test_notification_without_n_bit_flushes() -> None:
    wire = setup(capability(n=False))
    wire.steps.clear()
    admin = Notification(ErrorCode.CEASE, CeaseSubcode.ADMINISTRATIVE_SHUTDOWN)
    wire.send(encode_notification(admin), 5.0)
    assert wire.of(KeepStale) == [] and len(wire.of(FlushRoutes)) == 1


def test_without_graceful_restart_a_reset_flushes_and_a_new_connection_is_refused() -> None:
    wire = GrWire(gr_neighbor(), None)
    wire.take(wire.n.start(0.0), 0.0)
    wire.established(0.0)
    assert wire.offer(1.0, outgoing=False) is None
    assert wire.of(RefuseConnection)
    wire.drop(2.0)
    assert wire.of(KeepStale) == [] and len(wire.of(FlushRoutes)) == 1


def test_new_open_while_established_is_the_peers_restart() -> None:
    """RFC 4724 §4.2: the old session goes without a NOTIFICATION, its routes stay stale and
    the new connection becomes the session."""
    wire = setup()
    old = wire.n.main
    wire.steps.clear()
    new = wire.offer(5.0, outgoing=False)
    assert new is not None and wire.n.candidate is new
    wire.deliver(5.0)
    assert wire.n.main is new and wire.n.candidate is None
    assert new.state is State.ESTABLISHED
    assert len(wire.of(KeepStale)) == 1 and wire.of(FlushRoutes) == []
    assert notifications_to_peer(wire, old) == []  # closed without a NOTIFICATION
    assert any(s is old and isinstance(a, CloseTcp) and a.abort for s, a in wire.steps)
    assert len(wire.of(SessionUp)) == 1  # the new session's, once
    assert [a.new for a in wire.of(ReportState)][-1] is State.ESTABLISHED
    assert wire.n.restart.restarts == 1 and wire.n.restart.phase is Phase.RECOVERING


def test_shutdown_for_a_planned_restart_with_and_without_n_bit() -> None:
    wire = setup()
    session = wire.n.main
    wire.take(wire.n.shutdown(1.0, "bye", restart=True), 1.0)
    assert notifications_to_peer(wire, session) == [(6, CeaseSubcode.ADMINISTRATIVE_RESET)]

    wire = setup(capability(n=False))
    session = wire.n.main
    wire.take(wire.n.shutdown(1.0, "bye", restart=True), 1.0)
    assert notifications_to_peer(wire, session) == []
    assert any(s is session and isinstance(a, CloseTcp) and a.abort for s, a in wire.steps)


def test_full_stop_sends_hard_reset_to_an_n_bit_peer_admin_shutdown_otherwise() -> None:
    wire = setup()
    session = wire.n.main
    wire.take(wire.n.shutdown(1.0, "bye"), 1.0)
    assert notifications_to_peer(wire, session) == [(6, CeaseSubcode.HARD_RESET)]

    wire = setup(capability(n=False))
    session = wire.n.main
    wire.take(wire.n.shutdown(1.0, "bye"), 1.0)
    assert notifications_to_peer(wire, session) == [(6, CeaseSubcode.ADMINISTRATIVE_SHUTDOWN)]


def test_update_session_config_changes_the_next_open() -> None:
    n = gr_neighbor(capability(forwarding=True))
    restarted = attrs.evolve(
        n.settings.session, graceful_restart=capability(forwarding=False, listed=True)
    )
    n.update_session_config(restarted)
    sent = n.main.local_open.capability(GracefulRestartCapability)
    assert sent is not None and not sent.families[0].forwarding_state

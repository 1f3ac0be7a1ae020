"""Neighbor.bfd_down: BFD takes the sessions down with Cease/BFD Down (RFC 9384) and marks the
loss a forwarding failure for graceful restart (RFC 5882 §4.3.1)."""

from __future__ import annotations

from pybgp.fsm import State
from pybgp.neighbor import FlushRoutes, ReportState
from pybgp.wire.constants import CeaseSubcode, ErrorCode
from tests.unit.test_neighbor import Wire, neighbor, notifications_to_peer


def test_bfd_down_stops_the_session_with_cease_10() -> None:
    wire = Wire(neighbor(passive=True))
    wire.take(wire.n.start(0.0), 0.0)
    wire.established(1.0)
    main = wire.n.main
    wire.take(wire.n.bfd_down(2.0, "BFD down (Control detection time expired)"), 2.0)
    wire.deliver(2.0)  # the NOTIFICATION meets a closed connection
    assert notifications_to_peer(wire, main) == [(ErrorCode.CEASE, CeaseSubcode.BFD_DOWN)]
    assert main.state is State.IDLE
    assert "BFD down" in wire.of(ReportState)[-1].reason  # type: ignore[attr-defined]
    assert len(wire.of(FlushRoutes)) == 1
    assert wire.n.down_because_bfd and wire.n.forwarding_failure
    # Established again: no longer down because of BFD.
    now = wire.n.main.error_wait_until
    assert now is not None
    wire.take(wire.n.handle_timers(now), now)
    wire.established(now)
    assert not wire.n.down_because_bfd and not wire.n.forwarding_failure


def test_control_plane_independent_peer_is_no_forwarding_failure() -> None:
    wire = Wire(neighbor(passive=True))
    wire.take(wire.n.start(0.0), 0.0)
    wire.established(1.0)
    wire.take(wire.n.bfd_down(2.0, "BFD down", control_plane_independent=True), 2.0)
    assert wire.n.down_because_bfd and not wire.n.forwarding_failure


def test_bfd_down_without_a_running_session_does_nothing() -> None:
    n = neighbor()  # never started: Idle
    assert n.bfd_down(0.0, "BFD down") == []
    assert not n.down_because_bfd


def test_graceful_restart_keeps_nothing_after_a_forwarding_failure() -> None:
    """RFC 5882 §4.3.1: with the N-bit, Cease/BFD Down sent would be a graceful loss (RFC 8538
    §4), but BFD saw the forwarding plane fail: every family is flushed."""
    from pybgp.graceful_restart import FlushStale, KeepStale
    from pybgp.wire.notification import Notification
    from tests.unit.test_graceful_restart_state import BOTH, established

    bfd_cease = Notification(ErrorCode.CEASE, CeaseSubcode.BFD_DOWN)
    assert isinstance(established().session_lost(1.0, BOTH, sent=bfd_cease), KeepStale)
    verdict = established().session_lost(1.0, BOTH, sent=bfd_cease, forwarding_failure=True)
    assert isinstance(verdict, FlushStale) and verdict.families == BOTH
    assert "RFC 5882" in verdict.reason

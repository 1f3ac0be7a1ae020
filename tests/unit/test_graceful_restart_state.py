"""Graceful restart state (RFC 4724, RFC 8538) with plain numbers for time: every path."""

from __future__ import annotations

import pytest

from pybgp.graceful_restart import (
    FlushStale,
    GracefulRestartOptions,
    KeepStale,
    PeerRestart,
    StartupSync,
    local_capability,
    loss_is_graceful,
)
from pybgp.graceful_restart import Phase as P
from pybgp.wire.capabilities import GracefulRestartCapability, GracefulRestartFamily
from pybgp.wire.constants import IPV4_UNICAST, IPV6_UNICAST, CeaseSubcode, ErrorCode
from pybgp.wire.notification import Notification

V4, V6 = IPV4_UNICAST, IPV6_UNICAST
BOTH = frozenset({V4, V6})


def cap(
    *families: tuple[int, int],
    forwarding: bool = True,
    n: bool = True,
    r: bool = False,
    time: int = 120,
) -> GracefulRestartCapability:
    return GracefulRestartCapability(
        restart_state=r,
        notification=n,
        restart_time=time,
        families=tuple(GracefulRestartFamily(a, s, forwarding) for a, s in families),
    )


LOCAL = cap(V4, V6)
CEASE_ADMIN = Notification(ErrorCode.CEASE, CeaseSubcode.ADMINISTRATIVE_SHUTDOWN)
HARD_RESET = Notification(ErrorCode.CEASE, CeaseSubcode.HARD_RESET)


def established(peer_cap: GracefulRestartCapability | None = None, **kw: float) -> PeerRestart:
    state = PeerRestart(stale_routes_time=kw.get("stale", 360.0))
    state.session_up(0.0, LOCAL, peer_cap if peer_cap is not None else cap(V4, V6), BOTH)
    return state


# ---------------------------------------------------------------- capability


def test_capability_carries_restart_time_r_f_n() -> None:
    options = GracefulRestartOptions(enabled=True, restart_time=90, notification=True)
    fresh = local_capability(options, [V6, V4])
    assert fresh == cap(V4, V6, forwarding=False, time=90)
    restarted = local_capability(options, [V4, V6], restarting=True, preserved_afis=frozenset({1}))
    assert restarted is not None and restarted.restart_state and restarted.notification
    assert [(f.afi, f.forwarding_state) for f in restarted.families] == [(1, True), (2, False)]
    assert local_capability(GracefulRestartOptions(enabled=False), [V4]) is None
    no_n = local_capability(GracefulRestartOptions(enabled=True, notification=False), [V4])
    assert no_n is not None and not no_n.notification
    # Encodes and decodes (RFC 4724 §3 layout).
    assert GracefulRestartCapability.decode_value(restarted.encode_value()) == restarted


# ---------------------------------------------------------------- which losses are restarts


@pytest.mark.parametrize(
    ("sent", "received", "local_n", "peer_n", "graceful"),
    [
        (None, None, True, True, True),  # TCP reset / close
        (None, None, False, False, True),
        (Notification(ErrorCode.HOLD_TIMER_EXPIRED, 0), None, False, False, True),
        (None, CEASE_ADMIN, True, True, True),  # RFC 8538: Cease other than Hard Reset
        (CEASE_ADMIN, None, True, True, True),
        (None, Notification(ErrorCode.CEASE, CeaseSubcode.ADMINISTRATIVE_RESET), True, True, True),
        (None, Notification(ErrorCode.UPDATE_MESSAGE, 1), True, True, True),
        (None, HARD_RESET, True, True, False),  # RFC 8538 §5
        (HARD_RESET, None, True, True, False),
        (None, CEASE_ADMIN, True, False, False),  # N-bit on one side only
        (None, CEASE_ADMIN, False, True, False),
        (None, CEASE_ADMIN, False, False, False),
    ],
)
def test_loss_is_graceful(
    sent: Notification | None,
    received: Notification | None,
    local_n: bool,
    peer_n: bool,
    graceful: bool,
) -> None:
    result, reason = loss_is_graceful(
        cap(V4, n=local_n), cap(V4, n=peer_n), sent=sent, received=received
    )
    assert result is graceful, reason
    assert reason


def test_loss_without_graceful_restart_negotiated_is_not_a_restart() -> None:
    assert loss_is_graceful(None, cap(V4))[0] is False
    assert loss_is_graceful(cap(V4), None)[0] is False


# ---------------------------------------------------------------- helper role


def test_tcp_reset_keeps_listed_families_and_starts_both_timers() -> None:
    state = established(cap(V4, V6, time=120), stale=300.0)
    action = state.session_lost(10.0, BOTH)
    assert action == KeepStale(BOTH, "session lost without NOTIFICATION (RFC 4724 §4.2)")
    assert state.phase is P.RESTARTING
    assert state.restart_deadline == 130.0 and state.stale_deadline == 310.0
    assert state.next_deadline() == 130.0
    assert state.time_left(100.0) == 30.0


def test_only_families_in_the_peer_capability_are_kept() -> None:
    state = established(cap(V4))
    action = state.session_lost(0.0, BOTH)
    assert isinstance(action, KeepStale) and action.families == {V4}


def test_helper_only_capability_keeps_nothing() -> None:
    # BIRD/FRR in "aware" mode send the capability with no families.
    state = established(cap())
    action = state.session_lost(0.0, BOTH)
    assert isinstance(action, KeepStale) and action.families == frozenset()
    assert state.phase is P.NONE and state.next_deadline() is None


def test_notification_without_n_bit_flushes() -> None:
    state = established(cap(V4, V6, n=False))
    action = state.session_lost(0.0, BOTH, received=CEASE_ADMIN)
    assert isinstance(action, FlushStale) and action.families == BOTH
    assert state.phase is P.NONE


def test_hard_reset_flushes_other_cease_keeps() -> None:
    state = established()
    assert isinstance(state.session_lost(0.0, BOTH, received=HARD_RESET), FlushStale)
    state = established()
    assert isinstance(state.session_lost(0.0, BOTH, received=CEASE_ADMIN), KeepStale)


def test_no_capability_in_last_session_flushes() -> None:
    state = PeerRestart()
    state.session_up(0.0, LOCAL, None, BOTH)
    assert isinstance(state.session_lost(5.0, BOTH), FlushStale)


def test_restart_timer_expiry_flushes() -> None:
    state = established(cap(V4, V6, time=60))
    state.session_lost(0.0, BOTH)
    assert state.handle_timers(59.9) == []
    actions = state.handle_timers(60.0)
    assert actions == [FlushStale(BOTH, "restart timer expired (RFC 4724 §4.2)")]
    assert state.phase is P.NONE and state.next_deadline() is None


def test_peer_back_with_f_bit_waits_for_end_of_rib_per_family() -> None:
    state = established()
    state.session_lost(0.0, BOTH)
    assert state.session_up(5.0, LOCAL, cap(V4, V6, r=True), BOTH) == []
    assert state.phase is P.RECOVERING
    assert state.restart_deadline is None and state.stale_deadline == 360.0
    assert state.end_of_rib(6.0, V4) is True
    assert state.stale == {V6} and state.phase is P.RECOVERING
    assert state.end_of_rib(6.0, V4) is False  # a second End-of-RIB sweeps nothing
    assert state.end_of_rib(7.0, V6) is True
    assert state.phase is P.NONE and state.next_deadline() is None


def test_f_bit_cleared_in_new_open_flushes_that_family() -> None:
    state = established()
    state.session_lost(0.0, BOTH)
    new = GracefulRestartCapability(
        restart_state=True,
        notification=True,
        restart_time=120,
        families=(GracefulRestartFamily(1, 1, True), GracefulRestartFamily(2, 1, False)),
    )
    actions = state.session_up(5.0, LOCAL, new, BOTH)
    assert actions == [
        FlushStale(frozenset({V6}), "the new OPEN does not set the F-bit (RFC 4724 §4.2)")
    ]
    assert state.stale == {V4}


def test_family_missing_from_new_open_is_flushed() -> None:
    state = established()
    state.session_lost(0.0, BOTH)
    actions = state.session_up(5.0, LOCAL, cap(V4), BOTH)
    assert actions and actions[0].families == {V6}


def test_new_open_without_capability_flushes_everything() -> None:
    state = established()
    state.session_lost(0.0, BOTH)
    actions = state.session_up(5.0, LOCAL, None, BOTH)
    assert actions == [FlushStale(BOTH, "the new OPEN has no graceful restart capability")]
    assert state.phase is P.NONE


def test_stale_routes_timer_expiry_flushes_while_waiting_for_end_of_rib() -> None:
    state = established(stale=100.0)
    state.session_lost(0.0, BOTH)
    state.session_up(5.0, LOCAL, cap(V4, V6), BOTH)
    assert state.next_deadline() == 100.0
    assert state.handle_timers(99.0) == []
    actions = state.handle_timers(100.0)
    assert actions == [FlushStale(BOTH, "stale-routes timer expired (RFC 4724 §4.2)")]


def test_second_restart_during_the_first_does_not_extend_the_stale_bound() -> None:
    state = established(cap(V4, V6, time=60), stale=100.0)
    state.session_lost(0.0, BOTH)
    state.session_up(5.0, LOCAL, cap(V4, V6, time=60), BOTH)
    state.end_of_rib(6.0, V4)  # IPv4 recovered; IPv6 still stale
    action = state.session_lost(50.0, BOTH)  # lost again before IPv6's End-of-RIB
    assert isinstance(action, KeepStale) and action.families == BOTH
    assert state.restarts == 2
    assert state.restart_deadline == 110.0  # restart timer restarts
    assert state.stale_deadline == 100.0  # the first restart's bound stays
    assert state.handle_timers(100.0)[0].families == BOTH


def test_non_graceful_loss_during_recovery_flushes_what_is_stale() -> None:
    state = established()
    state.session_lost(0.0, frozenset({V4}))
    state.session_up(5.0, LOCAL, cap(V4, V6), BOTH)
    action = state.session_lost(6.0, frozenset({V6}), received=HARD_RESET)
    assert action == FlushStale(BOTH, "Cease/Hard Reset (RFC 8538 §5)")


def test_forget_flushes() -> None:
    state = established()
    state.session_lost(0.0, BOTH)
    assert state.forget()[0].families == BOTH
    assert state.forget() == []


# ---------------------------------------------------------------- restarting role


def test_startup_without_graceful_restart_only_waits_to_sweep() -> None:
    sync = StartupSync.begin(0.0, ["a", "b"], timeout=120.0)
    assert not sync.defer and not sync.restarting
    assert not sync.peer_up(1.0, "a", {V4}, None, None)
    assert not sync.end_of_rib(2.0, "a", V4)
    assert sync.peer_up(3.0, "b", {V4}, None, None) is False
    assert sync.end_of_rib(4.0, "b", V4) is True
    assert sync.done and sync.next_deadline() is None
    assert sync.end_of_rib(5.0, "b", V4) is False  # once


def test_restart_with_preserved_routes_defers_until_every_end_of_rib() -> None:
    sync = StartupSync.begin(
        0.0, ["a", "b"], timeout=120.0, graceful=True, preserved_afis=frozenset({1})
    )
    assert sync.defer and sync.restarting
    assert not sync.peer_up(1.0, "a", BOTH, cap(V4, V6), LOCAL)
    assert not sync.end_of_rib(2.0, "a", V4)
    assert not sync.end_of_rib(2.0, "a", V6)
    assert not sync.peer_up(3.0, "b", {V4}, cap(V4), LOCAL)
    assert sync.end_of_rib(4.0, "b", V4) is True
    assert not sync.restarting
    assert sync.reason == "End-of-RIB from every peer (RFC 4724 §4.1)"


def test_peers_without_capability_or_with_r_bit_are_not_waited_for() -> None:
    sync = StartupSync.begin(
        0.0, ["a", "b", "c"], timeout=120.0, graceful=True, preserved_afis=frozenset({1})
    )
    assert not sync.peer_up(1.0, "a", {V4}, None, LOCAL)  # no capability
    assert not sync.peer_up(1.0, "b", {V4}, cap(V4, r=True), LOCAL)  # restarted too
    assert not sync.peer_up(1.0, "c", {V4}, cap(V4), LOCAL)
    assert sync.end_of_rib(2.0, "c", V4) is True


def test_deferral_timer_expiry_ends_the_wait() -> None:
    sync = StartupSync.begin(0.0, ["a"], timeout=30.0, graceful=True, preserved_afis=frozenset({1}))
    assert sync.next_deadline() == 30.0
    assert sync.handle_timers(29.0) is False
    assert sync.handle_timers(30.0) is True
    assert "deferral timer expired" in sync.reason and "a" in sync.reason
    assert sync.handle_timers(31.0) is False


def test_nothing_preserved_means_no_deferral_and_no_r_bit() -> None:
    sync = StartupSync.begin(0.0, ["a"], timeout=30.0, graceful=True)
    assert not sync.defer and not sync.restarting and sync.preserved_afis == frozenset()


def test_removed_peer_is_not_waited_for() -> None:
    sync = StartupSync.begin(0.0, ["a", "b"], timeout=30.0)
    sync.peer_up(1.0, "a", {V4}, None, None)
    sync.end_of_rib(1.0, "a", V4)
    assert sync.remove_peer(2.0, "b") is True

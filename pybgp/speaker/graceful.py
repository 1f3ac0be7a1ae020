"""The shell side of graceful restart: timers and wiring for :mod:`pybgp.graceful_restart`.

Every decision is in the pure module (which losses are restarts, what is kept, flushed or
swept, when the start-up deferral ends); this file only carries time (one ``loop.call_at`` per
restarting peer and one for the start-up deferral) and turns the decisions into RIB calls.

GR-SHELL: the per-peer calls (:meth:`GracefulRestartShell.session_up`, ``session_lost``,
``end_of_rib``, ``new_open_while_established``) belong in the no-I/O per-peer core once it
exists (``pybgp/neighbor.py``); they are kept thin here so that moving them is a re-wiring, not a
rewrite.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import attrs

from pybgp.config import PeerConfig, SpeakerConfig
from pybgp.fsm import NegotiatedSession, SessionDown
from pybgp.graceful_restart import (
    FlushStale,
    GracefulRestartOptions,
    KeepStale,
    RestartAction,
    StartupSync,
    graceful_families,
    local_capability,
    notification_negotiated,
)
from pybgp.rib import Rib, RibOutput
from pybgp.wire.capabilities import GracefulRestartCapability
from pybgp.wire.constants import Family, family_name

if TYPE_CHECKING:
    from pybgp.speaker.peer import Peer

__all__ = ["GracefulRestartShell", "local_and_peer"]

log = logging.getLogger("pybgp.speaker")


def options_of(config: SpeakerConfig) -> GracefulRestartOptions:
    """The pure module's options from ``[graceful_restart]``."""
    section = config.graceful_restart
    return GracefulRestartOptions(
        enabled=section.enabled,
        restart_time=section.restart_time,
        stale_routes_time=section.stale_routes_time,
        notification=section.notification,
    )


def local_and_peer(
    negotiated: NegotiatedSession | None,
) -> tuple[GracefulRestartCapability | None, GracefulRestartCapability | None]:
    """(what we advertised, what the peer advertised) on a session."""
    if negotiated is None:
        return None, None
    return negotiated.local_open.capability(GracefulRestartCapability), negotiated.graceful_restart


@attrs.define(eq=False)
class GracefulRestartShell:
    """Graceful restart for one speaker: our restart (start-up) and every peer's."""

    config: SpeakerConfig
    rib: Rib
    loop: asyncio.AbstractEventLoop
    output: Callable[[RibOutput], None]
    """Carries out a RibOutput (the speaker's ``_rib_output``)."""
    on_startup_done: Callable[[StartupSync], None]
    """Called once when the start-up wait (deferral or sweep wait) ends."""
    peers: Callable[[], list[Peer]]
    """The speaker's peers now (their OPENs lose the R- and F-bits after our restart)."""
    options: GracefulRestartOptions = attrs.field(init=False)
    startup: StartupSync | None = None
    _startup_timer: asyncio.TimerHandle | None = None
    _timers: dict[str, tuple[float, asyncio.TimerHandle]] = attrs.field(factory=dict)

    def __attrs_post_init__(self) -> None:
        self.options = options_of(self.config)

    # ---------------------------------------------------------------- our restart

    def begin(self, preserved_afis: frozenset[int], sweep_timeout: float) -> None:
        """Start-up: wait for End-of-RIB from the configured peers (deferring selection when we
        restart gracefully, RFC 4724 §4.1) or the timer."""
        peers = [str(p.address) for p in self.config.peers if p.enabled]
        graceful = self.options.enabled
        defer = graceful and bool(preserved_afis)
        timeout = float(self.options.restart_time) if defer else float(sweep_timeout)
        now = self.loop.time()
        self.startup = StartupSync.begin(
            now, peers, timeout=timeout, graceful=graceful, preserved_afis=preserved_afis
        )
        if self.startup.defer:
            self.rib.hold_end_of_rib = True
            log.info(
                "graceful restart: forwarding state of %s kept; selection deferred up to %d s "
                "for End-of-RIB from %d peers (RFC 4724 §4.1)",
                ", ".join(f"AFI {afi}" for afi in sorted(preserved_afis)),
                timeout,
                len(peers),
            )
        self._startup_timer = self.loop.call_at(now + timeout, self._startup_expired)

    @property
    def deferring(self) -> bool:
        """Kernel changes and our End-of-RIB are held (RFC 4724 §4.1)."""
        return self.startup is not None and self.startup.defer and not self.startup.done

    def capability(self, config: PeerConfig) -> GracefulRestartCapability | None:
        """Our capability towards ``config``'s peer now (R- and F-bits while restarting)."""
        if not config.graceful_restart:
            return None
        startup = self.startup
        restarting = startup is not None and startup.restarting
        return local_capability(
            self.options,
            config.family_set,
            restarting=restarting,
            preserved_afis=startup.preserved_afis if restarting and startup else frozenset(),
        )

    def _startup_expired(self) -> None:
        self._startup_timer = None
        if self.startup is not None and self.startup.handle_timers(self.loop.time()):
            self._startup_done()

    def _startup_done(self) -> None:
        if self._startup_timer is not None:
            self._startup_timer.cancel()
            self._startup_timer = None
        startup = self.startup
        assert startup is not None
        if startup.defer:
            log.info("graceful restart: selection deferral over: %s", startup.reason)
        self.on_startup_done(startup)
        if startup.defer:
            self.output(self.rib.release_end_of_rib())
            for peer in self.peers():  # RFC 4724 §3: the R-bit only after a restart
                peer.session_config = attrs.evolve(
                    peer.session_config, graceful_restart=self.capability(peer.config)
                )
                for driver in (peer.main, peer.candidate):
                    if driver is not None:
                        driver.session.update_open(peer.session_config)

    def remove_peer(self, peer: Peer) -> None:
        """A peer is forgotten."""
        self._cancel(peer.peer_id)
        if self.startup is not None and self.startup.remove_peer(self.loop.time(), peer.peer_id):
            self._startup_done()

    # ---------------------------------------------------------------- per peer (GR-SHELL)

    def session_up(self, peer: Peer, negotiated: NegotiatedSession) -> None:
        """Before the RIB hears of the new session: flush what the new OPEN does not keep."""
        now = self.loop.time()
        local, remote = local_and_peer(negotiated)
        self._carry_out(peer, peer.restart.session_up(now, local, remote, negotiated.families))
        if (
            self.startup is not None
            and not peer.dynamic
            and self.startup.peer_up(now, peer.peer_id, negotiated.families, remote, local)
        ):
            self._startup_done()

    def session_lost(self, peer: Peer, down: SessionDown, families: frozenset[Family]) -> None:
        """The main session left Established: keep the routes stale, or flush them."""
        now = self.loop.time()
        action = peer.restart.session_lost(
            now, families, sent=down.notification_sent, received=down.notification_received
        )
        self.output(self.rib.peer_down(peer.peer_id, keep=_kept(action)))
        if isinstance(action, KeepStale) and action.families:
            peer.log.info(
                "graceful restart of the peer: keeping %d routes of %s as stale for up to "
                "%.0f s: %s",
                self.rib.stale_count(peer.peer_id),
                ", ".join(family_name(f) for f in sorted(action.families)),
                peer.restart.time_left(now) or 0.0,
                action.reason,
            )
        self._arm(peer)

    def end_of_rib(self, peer: Peer, family: Family) -> None:
        """The peer's End-of-RIB (the RIB sweeps its stale routes of the family itself)."""
        now = self.loop.time()
        if peer.restart.end_of_rib(now, family):
            peer.log.info("graceful restart of the peer: %s recovered", family_name(family))
            self._arm(peer)
        if self.startup is not None and self.startup.end_of_rib(now, peer.peer_id, family):
            self._startup_done()

    def restart_negotiated(self, negotiated: NegotiatedSession | None) -> bool:
        """Both sides advertised graceful restart on this session."""
        local, remote = local_and_peer(negotiated)
        return local is not None and remote is not None

    def n_bit(self, negotiated: NegotiatedSession | None) -> bool:
        """RFC 8538: both sides set the N-bit on this session."""
        return notification_negotiated(*local_and_peer(negotiated))

    # ---------------------------------------------------------------- status

    def peer_document(self, peer: Peer, negotiated: NegotiatedSession | None) -> dict[str, Any]:
        """The ``graceful_restart`` object of a peer in ``pybgp status --json``."""
        now = self.loop.time()
        state = peer.restart
        local, remote = local_and_peer(negotiated)
        if negotiated is None:
            local, remote = state.local, state.peer
        document: dict[str, Any] = {
            "negotiated": local is not None and remote is not None,
            "phase": state.phase.value,
            "stale_routes": self.rib.stale_count(peer.peer_id),
            "restarts": state.restarts,
        }
        if remote is not None:
            document["peer"] = {
                "restart_time": remote.restart_time,
                "restart_state": remote.restart_state,
                "notification": remote.notification,
                "families": {
                    family_name((f.afi, f.safi)): {"forwarding": f.forwarding_state}
                    for f in remote.families
                },
            }
            document["notification"] = notification_negotiated(local, remote)
            if negotiated is not None:
                document["families"] = sorted(
                    family_name(f) for f in graceful_families(remote, negotiated.families)
                )
        left = state.time_left(now)
        if left is not None:
            document["time_left"] = round(left, 1)
        if state.last_reason:
            document["last_loss"] = state.last_reason
        return document

    def document(self) -> dict[str, Any]:
        """The top-level ``graceful_restart`` object of ``pybgp status --json``: ours."""
        startup = self.startup
        document: dict[str, Any] = {
            "enabled": self.options.enabled,
            "restart_time": self.options.restart_time,
            "stale_routes_time": self.options.stale_routes_time,
            "notification": self.options.notification,
            "restarting": bool(startup and startup.restarting),
        }
        if startup is not None:
            document["preserved"] = sorted(family_name((afi, 1)) for afi in startup.preserved_afis)
            document["deferral"] = (
                "done"
                if startup.done
                else ("deferring" if startup.defer else "waiting for End-of-RIB to sweep")
            )
            if not startup.done:
                document["time_left"] = round(max(0.0, startup.deadline - self.loop.time()), 1)
                document["waiting_for"] = sorted(
                    p for p, pending in startup.waiting.items() if pending != frozenset()
                )
            else:
                document["reason"] = startup.reason
        return document

    # ---------------------------------------------------------------- internals

    def _carry_out(self, peer: Peer, actions: list[RestartAction]) -> None:
        for action in actions:
            if isinstance(action, FlushStale) and action.families:
                peer.log.info(
                    "graceful restart of the peer: stale routes of %s flushed: %s",
                    ", ".join(family_name(f) for f in sorted(action.families)),
                    action.reason,
                )
                self.output(self.rib.flush_stale(peer.peer_id, action.families))
        self._arm(peer)

    def _arm(self, peer: Peer) -> None:
        deadline = peer.restart.next_deadline()
        current = self._timers.get(peer.peer_id)
        if current is not None and current[0] == deadline:
            return
        self._cancel(peer.peer_id)
        if deadline is not None:
            handle = self.loop.call_at(deadline, self._expired, peer)
            self._timers[peer.peer_id] = (deadline, handle)

    def _expired(self, peer: Peer) -> None:
        entry = self._timers.pop(peer.peer_id, None)
        now = self.loop.time()
        if entry is not None:
            now = max(now, entry[0])
        self._carry_out(peer, peer.restart.handle_timers(now))

    def _cancel(self, peer_id: str) -> None:
        entry = self._timers.pop(peer_id, None)
        if entry is not None:
            entry[1].cancel()

    def close(self) -> None:
        """Cancel every timer (the speaker stops)."""
        for peer_id in list(self._timers):
            self._cancel(peer_id)
        if self._startup_timer is not None:
            self._startup_timer.cancel()
            self._startup_timer = None


def _kept(action: RestartAction) -> frozenset[Family]:
    return action.families if isinstance(action, KeepStale) else frozenset()

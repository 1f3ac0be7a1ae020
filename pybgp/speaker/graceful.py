"""The shell side of graceful restart: our own restart's timer and RIB calls.

Every decision is in the core: which losses are a peer's restart, what is kept, flushed or
swept per peer (:class:`~pybgp.neighbor.Neighbor`, with :mod:`pybgp.graceful_restart`), when
our start-up deferral ends (:class:`~pybgp.graceful_restart.StartupSync`). This file carries
time (one ``loop.call_at`` for the deferral; the per-peer timers are the neighbour's deadline),
turns the decisions into RIB calls, and builds the status documents.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import attrs

from pybgp.config import PeerConfig, SpeakerConfig
from pybgp.fsm import NegotiatedSession
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
                peer.neighbor.update_session_config(peer.session_config)

    def remove_peer(self, peer: Peer) -> None:
        """A peer is forgotten: the start-up wait no longer waits for it."""
        if self.startup is not None and self.startup.remove_peer(self.loop.time(), peer.peer_id):
            self._startup_done()

    # ---------------------------------------------------------------- per peer

    def session_up(self, peer: Peer, negotiated: NegotiatedSession) -> None:
        """A session came up: the start-up wait may end (RFC 4724 §4.1)."""
        local, remote = local_and_peer(negotiated)
        if (
            self.startup is not None
            and not peer.dynamic
            and self.startup.peer_up(
                self.loop.time(), peer.peer_id, negotiated.families, remote, local
            )
        ):
            self._startup_done()

    def end_of_rib(self, peer: Peer, family: Family) -> None:
        """The peer's End-of-RIB for ``family``: the start-up wait may end."""
        if self.startup is not None and self.startup.end_of_rib(
            self.loop.time(), peer.peer_id, family
        ):
            self._startup_done()

    def keep_stale(self, peer: Peer, action: KeepStale) -> None:
        """The neighbour decided the peer is restarting: its routes of ``action.families``
        stay, stale (RFC 4724 §4.2); the others go."""
        self.output(self.rib.peer_down(peer.peer_id, keep=action.families))
        state = peer.neighbor.restart
        peer.log.info(
            "graceful restart of the peer: keeping %d routes of %s as stale for up to %.0f s: %s",
            self.rib.stale_count(peer.peer_id),
            ", ".join(family_name(f) for f in sorted(action.families)),
            state.time_left(self.loop.time()) or 0.0,
            action.reason,
        )

    def flush_stale(self, peer: Peer, action: FlushStale) -> None:
        """The neighbour decided the stale routes of ``action.families`` go now."""
        if not action.families:
            return
        peer.log.info(
            "graceful restart of the peer: stale routes of %s flushed: %s",
            ", ".join(family_name(f) for f in sorted(action.families)),
            action.reason,
        )
        self.output(self.rib.flush_stale(peer.peer_id, action.families))

    def restart_negotiated(self, negotiated: NegotiatedSession | None) -> bool:
        """Both sides advertised graceful restart on this session."""
        local, remote = local_and_peer(negotiated)
        return local is not None and remote is not None

    # ---------------------------------------------------------------- status

    def peer_document(self, peer: Peer, negotiated: NegotiatedSession | None) -> dict[str, Any]:
        """The ``graceful_restart`` object of a peer in ``pybgp status --json``."""
        now = self.loop.time()
        state = peer.neighbor.restart
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

    def close(self) -> None:
        """Cancel the start-up timer (the speaker stops)."""
        if self._startup_timer is not None:
            self._startup_timer.cancel()
            self._startup_timer = None


def _kept(action: RestartAction) -> frozenset[Family]:
    return action.families if isinstance(action, KeepStale) else frozenset()

"""BFD for the speaker's peers: one BFD session per peer with ``bfd = true``, and what its
state changes do to the BGP session (RFC 5882).

Choices (RFC 5882 leaves them to the implementation):

* The BFD session starts when the peer is configured and BGP does not wait for it
  (RFC 5882 §4.2 allows either): BFD only ever takes a BGP session *down*, so a peer that
  runs no BFD still gets its session, with hold-time failure detection only.
* A BFD session that was Up and goes Down for any reason but the peer's AdminDown
  (RFC 5882 §3.2: AdminDown is not a path failure) stops the BGP session at once:
  :meth:`pybgp.neighbor.Neighbor.bfd_down`, AutomaticStop with a NOTIFICATION Cease/BFD Down
  (RFC 9384, subcode 10). It is written to the connection if there still is one; the routes
  are withdrawn and leave the kernel whatever happens to it. BGP then retries as after any
  error.
* A BFD failure is a forwarding failure (RFC 5882 §4.3.1): graceful restart must not keep
  the routes of such a peer unless the peer's BFD is control-plane independent (it sent the
  C bit). ``Neighbor.forwarding_failure`` (and :meth:`BfdFeed.forwarding_failure` by peer
  address) answers exactly that, and is already true when the neighbour decides the fate of
  the routes (``Neighbor._session_lost``). It is cleared when the session is Established
  again.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Protocol

from pybgp.bfd.packet import BfdState
from pybgp.bfd.session import BfdTimers, StateChanged
from pybgp.bfd.shell import BfdEndpoint, BfdShell
from pybgp.config import BfdConfig, SpeakerConfig
from pybgp.fsm import State
from pybgp.neighbor import Step
from pybgp.speaker.peer import Peer

__all__ = ["BfdFeed", "BfdHost", "bfd_timers"]

log = logging.getLogger("pybgp.bfd")


class BfdHost(Protocol):
    """What the feed needs of the speaker (a Protocol: the speaker imports this module)."""

    config: SpeakerConfig
    _peers: dict[str, Peer]
    _loop: asyncio.AbstractEventLoop

    def _run(self, peer: Peer, steps: list[Step]) -> None: ...


def bfd_timers(config: BfdConfig) -> BfdTimers:
    """``[bfd]`` (milliseconds) as session timers (microseconds)."""
    return BfdTimers(
        desired_min_tx=config.min_tx_ms * 1000,
        required_min_rx=config.min_rx_ms * 1000,
        detect_mult=config.multiplier,
    )


class BfdFeed:
    """The speaker's BFD sessions (see the module docstring). No sockets until a peer with
    ``bfd = true`` is added."""

    def __init__(self, speaker: BfdHost) -> None:
        self._speaker = speaker
        self.shell: BfdShell | None = None
        self._errors: dict[str, str] = {}

    # ---------------------------------------------------------------- what GR and status ask

    def down_because_bfd(self, peer_id: str) -> bool:
        """True when the peer's BGP session was last taken down by BFD (until it is
        Established again)."""
        peer = self._speaker._peers.get(peer_id)
        return peer is not None and peer.neighbor.down_because_bfd

    def forwarding_failure(self, peer_id: str) -> bool:
        """True when the peer's BGP session went down because BFD detected a forwarding
        failure and the peer's BFD is not control-plane independent (C bit clear):
        graceful restart must then not keep its routes (RFC 5882 §4.3.1)."""
        peer = self._speaker._peers.get(peer_id)
        return peer is not None and peer.neighbor.forwarding_failure

    def status(self, peer_id: str) -> dict[str, Any] | None:
        """The ``"bfd"`` object of the peer's ``pybgp status --json`` entry (None: no BFD)."""
        peer = self._speaker._peers.get(peer_id)
        if peer is None or not peer.config.bfd:
            return None
        endpoint = self.shell.get(peer.config.address) if self.shell is not None else None
        if endpoint is None:
            return {"state": "Down", "error": self._errors.get(peer_id, "not running")}
        s = endpoint.session.status()
        return {
            "state": s.state.label,
            "remote_state": None if s.remote_state is None else s.remote_state.label,
            "local_discriminator": s.local_discriminator,
            "remote_discriminator": s.remote_discriminator,
            "diagnostic": s.diagnostic.text,
            "tx_interval_ms": s.tx_interval_us / 1000,
            "rx_interval_ms": s.rx_interval_us / 1000,
            "detection_time_ms": s.detection_time_us / 1000,
            "multiplier": endpoint.session.timers.detect_mult,
            "remote_multiplier": s.remote_detect_mult,
            "control_plane_independent": s.control_plane_independent,
            "source_port": endpoint.source_port,
            "down_because_bfd": self.down_because_bfd(peer_id),
        }

    # ---------------------------------------------------------------- speaker hooks

    def open(self) -> None:
        """Claim the UDP port 3784 sockets the configured BFD peers need, at start: a port
        that is taken stops the start (OSError naming it), as the BGP listener does."""
        # Wildcard sockets first: a specific address bound before would keep the wildcard out.
        peers = sorted(self._speaker.config.peers, key=lambda p: p.local_address is not None)
        for config in peers:
            if config.bfd and config.enabled:
                if self.shell is None:
                    self.shell = BfdShell()
                self.shell.listen(config.address.version, config.local_address)

    def peer_added(self, peer: Peer) -> None:
        """Start BFD to a configured peer with ``bfd = true``."""
        config = peer.config
        if not config.bfd or peer.dynamic or not config.enabled:
            return
        if self.shell is None:
            self.shell = BfdShell()
        try:
            self.shell.add(
                config.address,
                config.local_address,
                bfd_timers(self._speaker.config.bfd),
                self._changed,
            )
        except (OSError, ValueError) as error:
            self._errors[peer.peer_id] = str(error)
            peer.log.error("BFD not started: %s", error)
        else:
            self._errors.pop(peer.peer_id, None)
            peer.log.info("BFD started (single hop, RFC 5881)")

    def peer_removed(self, peer: Peer) -> None:
        """Stop BFD to a removed peer (one AdminDown packet: RFC 5880 §6.8.16)."""
        self._errors.pop(peer.peer_id, None)
        if self.shell is not None and self.shell.get(peer.config.address) is not None:
            self.shell.remove(peer.config.address)

    def set_timers(self, config: BfdConfig) -> None:
        """New ``[bfd]`` timers for every running session (a Poll Sequence when Up)."""
        if self.shell is None:
            return
        for peer in self._speaker._peers.values():
            if peer.config.bfd:
                self.shell.set_timers(peer.config.address, bfd_timers(config))

    def close(self) -> None:
        """AdminDown to every peer, sockets closed."""
        if self.shell is not None:
            self.shell.close()
            self.shell = None

    # ---------------------------------------------------------------- BFD -> BGP

    def _changed(self, endpoint: BfdEndpoint, change: StateChanged) -> None:
        speaker = self._speaker
        peer = speaker._peers.get(str(endpoint.remote))
        if peer is None:
            return
        if change.new is BfdState.UP:
            peer.log.info("BFD up")
            return
        if change.old is not BfdState.UP or change.new is not BfdState.DOWN:
            return
        if change.remote_state is BfdState.ADMIN_DOWN:
            # RFC 5882 §3.2: the peer stopped BFD on purpose; the path may well be fine.
            peer.log.info("BFD: the peer went AdminDown; BGP session left alone")
            return
        if all(s.state is State.IDLE for s in peer.neighbor.sessions):
            return
        reason = f"BFD down ({change.diagnostic.text})"
        peer.log.warning("%s: stopping the BGP session (Cease/BFD Down, RFC 9384)", reason)
        steps = peer.neighbor.bfd_down(
            speaker._loop.time(),
            reason,
            control_plane_independent=endpoint.session.remote_control_plane_independent,
        )
        speaker._run(peer, steps)

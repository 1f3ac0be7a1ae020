"""Graceful restart (RFC 4724, with RFC 8538's N-bit), both roles, without I/O or a clock.

Theory of operation
-------------------
Two small state holders, each taking ``now`` with every input and exposing its next deadline
(the shell arms one ``loop.call_at`` on it, as it does for a session):

* :class:`PeerRestart` -- the *receiving speaker* (helper) for one peer. When a session that
  negotiated graceful restart is lost in a way RFC 4724 §4.2 / RFC 8538 §4 call a restart
  (:func:`loss_is_graceful`), the peer's routes of the families its capability listed stay,
  marked stale (in the RIB, hence in the kernel too: a stale path stays the best path until a
  fresh one replaces it); the restart timer (the peer's advertised restart time) and the
  stale-routes timer (``stale_routes_time``, ours) start. When the peer comes back
  (:meth:`PeerRestart.session_up`), families its new OPEN does not list with the F-bit, or every
  family when the new OPEN has no capability at all, are flushed at once; the others wait for the
  peer's End-of-RIB per family (:meth:`PeerRestart.end_of_rib`: the RIB then withdraws what was
  not re-announced) or the stale-routes timer. A second loss during the first restart keeps the
  routes that are still stale and restarts the restart timer, but never the stale-routes timer:
  a flapping peer cannot keep stale routes alive for ever.

* :class:`StartupSync` -- the *restarting speaker* (and, without graceful restart, the plain
  start-up sweep). At start the kernel adapter adopts the routes a previous run left (proto 186);
  those families were forwarding across the restart, so our OPENs carry the R-bit and the F-bit
  for them (:func:`local_capability`). Route selection towards the kernel and our End-of-RIB are
  deferred (RFC 4724 §4.1) until every peer we wait for sent End-of-RIB for every family, or the
  selection deferral timer expires. Peers whose OPEN has no graceful restart capability, or has
  the R-bit set (they restarted too), are not waited for (RFC 4724 §4.1). Without graceful
  restart (or with nothing adopted) nothing is deferred; only the sweep of adopted routes waits
  for the same condition, as before.

The functions and classes return what to do; :mod:`pybgp.speaker` carries it out (the RIB
marks, sweeps and flushes stale paths; the kernel adapter follows the best paths).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable

import attrs

from pybgp.wire.capabilities import GracefulRestartCapability, GracefulRestartFamily
from pybgp.wire.constants import CeaseSubcode, ErrorCode, Family
from pybgp.wire.notification import Notification

__all__ = [
    "MAX_RESTART_TIME",
    "FlushStale",
    "GracefulRestartOptions",
    "KeepStale",
    "PeerRestart",
    "RestartAction",
    "StartupSync",
    "graceful_families",
    "local_capability",
    "loss_is_graceful",
    "notification_negotiated",
]

MAX_RESTART_TIME = 4095
"""RFC 4724 §3: the restart time is a 12-bit field (seconds)."""


@attrs.frozen
class GracefulRestartOptions:
    """Our side of graceful restart (``[graceful_restart]`` of the config)."""

    enabled: bool = False
    """Advertise the capability and act on it in both roles."""
    restart_time: int = 120
    """Advertised restart time (seconds, 0..4095): how long peers keep our routes while we
    restart; also our selection deferral time after a restart."""
    stale_routes_time: int = 360
    """The longest we keep a restarting peer's stale routes (seconds)."""
    notification: bool = True
    """Advertise the RFC 8538 N-bit."""


def local_capability(
    options: GracefulRestartOptions,
    families: Iterable[Family],
    *,
    restarting: bool = False,
    preserved_afis: frozenset[int] = frozenset(),
) -> GracefulRestartCapability | None:
    """The capability for our OPEN (None when disabled).

    RFC 4724 §3: the R-bit says we restarted (``restarting``); the F-bit of a family says its
    forwarding state survived, which pybgp knows only when the kernel still held the routes of
    that AFI at start (``preserved_afis``). RFC 8538 §2: the N-bit with ``notification``.
    """
    if not options.enabled:
        return None
    return GracefulRestartCapability(
        restart_state=restarting,
        notification=options.notification,
        restart_time=min(max(options.restart_time, 0), MAX_RESTART_TIME),
        families=tuple(
            GracefulRestartFamily(afi, safi, forwarding_state=afi in preserved_afis)
            for afi, safi in sorted(families)
        ),
    )


def notification_negotiated(
    local: GracefulRestartCapability | None, peer: GracefulRestartCapability | None
) -> bool:
    """RFC 8538 §2: the N-bit applies only when both OPENs carried it."""
    return local is not None and peer is not None and local.notification and peer.notification


def graceful_families(
    peer: GracefulRestartCapability | None, negotiated: Iterable[Family]
) -> frozenset[Family]:
    """The negotiated families whose routes a helper keeps over a restart of this peer:
    those listed in the peer's capability (RFC 4724 §4.2: "for the address families that were
    previously received in the Graceful Restart Capability")."""
    if peer is None:
        return frozenset()
    listed = {(f.afi, f.safi) for f in peer.families}
    return frozenset(f for f in negotiated if f in listed)


def loss_is_graceful(
    local: GracefulRestartCapability | None,
    peer: GracefulRestartCapability | None,
    *,
    sent: Notification | None = None,
    received: Notification | None = None,
) -> tuple[bool, str]:
    """Whether the loss of an Established session is a restart of the peer, and why.

    * Graceful restart not in both OPENs: no (the routes go).
    * No NOTIFICATION either way (TCP reset or close, a new OPEN while Established): yes,
      RFC 4724 §4.2.
    * Our Hold Timer expired (we sent 4/0): yes; the peer went silent, which is how a restart
      that could not close its sockets looks (RFC 4724 §4.2 "detects termination").
    * Any other NOTIFICATION: yes only when both sides set the N-bit and it is not
      Cease/Hard Reset (RFC 8538 §4, §5); without the N-bit a NOTIFICATION ends the session
      normally (RFC 4724 §4.2).
    """
    if local is None or peer is None:
        return False, "graceful restart not negotiated"
    notification = received if received is not None else sent
    if notification is None:
        return True, "session lost without NOTIFICATION (RFC 4724 §4.2)"
    if received is None and sent is not None and sent.code == ErrorCode.HOLD_TIMER_EXPIRED:
        return True, "hold timer expired (RFC 4724 §4.2)"
    if not notification_negotiated(local, peer):
        return False, "NOTIFICATION without the N-bit negotiated (RFC 4724 §4.2)"
    if notification.code == ErrorCode.CEASE and notification.subcode == CeaseSubcode.HARD_RESET:
        return False, "Cease/Hard Reset (RFC 8538 §5)"
    return True, "NOTIFICATION with the N-bit negotiated (RFC 8538 §4)"


# --------------------------------------------------------------------------------------------
# Helper role


@attrs.frozen
class KeepStale:
    """Keep the peer's routes of ``families`` as stale (RFC 4724 §4.2); flush the others."""

    families: frozenset[Family]
    reason: str


@attrs.frozen
class FlushStale:
    """Withdraw the peer's stale routes of ``families`` now."""

    families: frozenset[Family]
    reason: str


RestartAction = KeepStale | FlushStale


class Phase(enum.Enum):
    """Where a peer stands in its restart, as ``pybgp status`` shows it."""

    NONE = "none"
    """Not restarting (or graceful restart not negotiated)."""
    RESTARTING = "restarting"
    """Session lost, routes kept stale; waiting for the peer to come back (restart timer)."""
    RECOVERING = "recovering"
    """Session back, waiting for End-of-RIB of the still stale families."""


@attrs.define
class PeerRestart:
    """The receiving speaker's graceful restart state for one peer (RFC 4724 §4.2)."""

    stale_routes_time: float = 360.0
    """Our bound on how long stale routes are kept."""
    local: GracefulRestartCapability | None = None
    """What we advertised on the current (or last) session."""
    peer: GracefulRestartCapability | None = None
    """What the peer advertised on the current (or last) session."""
    stale: frozenset[Family] = frozenset()
    """Families whose routes are stale now."""
    restart_deadline: float | None = None
    """When the restart timer (the peer's restart time) expires; None = not running."""
    stale_deadline: float | None = None
    """When the stale-routes timer expires; None = not running."""
    restarts: int = 0
    """Restarts of this peer seen (for the status)."""
    last_reason: str = ""
    """Why the last session loss was or was not graceful."""

    @property
    def phase(self) -> Phase:
        """Restarting (waiting for the session), recovering (waiting for End-of-RIB) or none."""
        if not self.stale:
            return Phase.NONE
        return Phase.RESTARTING if self.restart_deadline is not None else Phase.RECOVERING

    def next_deadline(self) -> float | None:
        """The earliest running timer, or None."""
        deadlines = [d for d in (self.restart_deadline, self.stale_deadline) if d is not None]
        return min(deadlines) if deadlines else None

    def time_left(self, now: float) -> float | None:
        """Seconds until the stale routes go at the latest (None when nothing is stale)."""
        deadline = self.next_deadline()
        return None if deadline is None or not self.stale else max(0.0, deadline - now)

    def session_up(
        self,
        now: float,
        local: GracefulRestartCapability | None,
        peer: GracefulRestartCapability | None,
        families: Iterable[Family],
    ) -> list[RestartAction]:
        """The session reached Established with these capabilities (``families`` negotiated).

        RFC 4724 §4.2: the restart timer stops; stale families the new OPEN does not list with
        the F-bit (or all of them when it has no capability) are flushed now.
        """
        self.local = local
        self.peer = peer
        self.restart_deadline = None
        if not self.stale:
            return []
        negotiated = set(families)
        if local is None or peer is None:
            return self._flush(self.stale, "the new OPEN has no graceful restart capability")
        forwarding = {(f.afi, f.safi) for f in peer.families if f.forwarding_state}
        gone = frozenset(f for f in self.stale if f not in forwarding or f not in negotiated)
        if gone:
            return self._flush(gone, "the new OPEN does not set the F-bit (RFC 4724 §4.2)")
        return []

    def session_lost(
        self,
        now: float,
        families: Iterable[Family],
        *,
        sent: Notification | None = None,
        received: Notification | None = None,
    ) -> RestartAction:
        """An Established session ended; ``families`` are the ones it carried.

        Returns :class:`KeepStale` (the peer is restarting: keep those families' routes, flush
        the rest) or :class:`FlushStale` (a normal end: every family goes).
        """
        graceful, reason = loss_is_graceful(self.local, self.peer, sent=sent, received=received)
        self.last_reason = reason
        every = frozenset(families) | self.stale
        if not graceful or self.peer is None:
            self.stale = frozenset()
            self.restart_deadline = self.stale_deadline = None
            return FlushStale(every, reason)
        keep = graceful_families(self.peer, every)
        self.restarts += 1
        self.stale = keep
        if not keep:
            self.restart_deadline = self.stale_deadline = None
            return KeepStale(keep, reason + "; no family listed in the peer's capability")
        self.restart_deadline = now + self.peer.restart_time
        if self.stale_deadline is None:  # a second restart does not extend the first's bound
            self.stale_deadline = now + self.stale_routes_time
        return KeepStale(keep, reason)

    def end_of_rib(self, now: float, family: Family) -> bool:
        """End-of-RIB for ``family`` arrived; True when stale routes of it are to be swept
        (RFC 4724 §4.2: what the peer did not re-announce goes)."""
        if family not in self.stale:
            return False
        self.stale = self.stale - {family}
        if not self.stale:
            self.restart_deadline = self.stale_deadline = None
        return True

    def handle_timers(self, now: float) -> list[RestartAction]:
        """Expired timers: the restart timer (the peer did not come back in time) or the
        stale-routes timer flushes every stale family (RFC 4724 §4.2)."""
        if not self.stale:
            self.restart_deadline = self.stale_deadline = None
            return []
        if self.restart_deadline is not None and now >= self.restart_deadline:
            return self._flush(self.stale, "restart timer expired (RFC 4724 §4.2)")
        if self.stale_deadline is not None and now >= self.stale_deadline:
            return self._flush(self.stale, "stale-routes timer expired (RFC 4724 §4.2)")
        return []

    def forget(self) -> list[RestartAction]:
        """The peer is removed: nothing stays stale."""
        if not self.stale:
            return []
        return self._flush(self.stale, "peer removed")

    def _flush(self, families: frozenset[Family], reason: str) -> list[RestartAction]:
        self.stale = self.stale - families
        if not self.stale:
            self.restart_deadline = self.stale_deadline = None
        return [FlushStale(families, reason)]


# --------------------------------------------------------------------------------------------
# Restarting role (and the plain start-up sweep)


@attrs.define
class StartupSync:
    """From start until the first full table: selection deferral and the kernel sweep.

    ``defer`` is true when we restart gracefully (graceful restart enabled and the kernel still
    held our routes): the kernel gets no best-path change and peers get no End-of-RIB from us
    until :attr:`done` (RFC 4724 §4.1). Either way, adopted kernel routes nobody announced again
    are swept at that moment.
    """

    deadline: float
    """The selection deferral timer (or, without deferral, the sweep timeout)."""
    defer: bool = False
    """Hold kernel changes and our End-of-RIB until done."""
    preserved_afis: frozenset[int] = frozenset()
    """AFIs whose kernel routes survived the restart (the F-bit)."""
    waiting: dict[str, frozenset[Family] | None] = attrs.field(factory=dict)
    """Peers waited for: families still without End-of-RIB (None = session not up yet)."""
    done: bool = False
    reason: str = ""
    """Why the deferral ended (for the status and the log)."""

    @classmethod
    def begin(
        cls,
        now: float,
        peers: Iterable[str],
        *,
        timeout: float,
        graceful: bool = False,
        preserved_afis: frozenset[int] = frozenset(),
    ) -> StartupSync:
        """Start waiting for ``peers`` (the configured ones); ``graceful`` = graceful restart is
        enabled, which defers selection when ``preserved_afis`` is not empty."""
        state = cls(
            deadline=now + timeout,
            defer=graceful and bool(preserved_afis),
            preserved_afis=preserved_afis if graceful else frozenset(),
            waiting=dict.fromkeys(peers),
        )
        return state  # nobody to wait for: the timer (possibly 0) decides

    @property
    def restarting(self) -> bool:
        """Our OPENs carry the R-bit (we restarted with forwarding state) until done."""
        return self.defer and not self.done

    def next_deadline(self) -> float | None:
        """The deferral timer while not done."""
        return None if self.done else self.deadline

    def peer_up(
        self,
        now: float,
        peer_id: str,
        families: Iterable[Family],
        peer: GracefulRestartCapability | None,
        local: GracefulRestartCapability | None,
    ) -> bool:
        """A session came up; True when this ends the wait. RFC 4724 §4.1: with deferral,
        peers without the capability or with the R-bit set are not waited for."""
        if self.done or peer_id not in self.waiting:
            return False
        if self.defer and (local is None or peer is None or peer.restart_state):
            del self.waiting[peer_id]
        else:
            self.waiting[peer_id] = frozenset(families)
        return self._check("End-of-RIB from every peer (RFC 4724 §4.1)")

    def end_of_rib(self, now: float, peer_id: str, family: Family) -> bool:
        """A peer's End-of-RIB for ``family``; True when this ends the wait."""
        pending = self.waiting.get(peer_id)
        if self.done or pending is None:
            return False
        self.waiting[peer_id] = pending - {family}
        return self._check("End-of-RIB from every peer (RFC 4724 §4.1)")

    def remove_peer(self, now: float, peer_id: str) -> bool:
        """A peer is no longer configured; True when this ends the wait."""
        if self.done or self.waiting.pop(peer_id, 0) == 0:
            return False
        return self._check("End-of-RIB from every remaining peer")

    def handle_timers(self, now: float) -> bool:
        """True when the deferral timer expired now (RFC 4724 §4.1 Selection_Deferral_Timer)."""
        if self.done or now < self.deadline:
            return False
        waited = sorted(p for p, pending in self.waiting.items() if pending != frozenset())
        self._finish(f"deferral timer expired, no End-of-RIB from {', '.join(waited) or 'none'}")
        return True

    def _check(self, reason: str) -> bool:
        if self.waiting and all(p == frozenset() for p in self.waiting.values()):
            self._finish(reason)
            return True
        return False

    def _finish(self, reason: str) -> None:
        self.done = True
        self.reason = reason

"""One BFD session (RFC 5880), asynchronous mode, with no I/O and no clock.

Theory of operation
-------------------
The session is the RFC 5880 §6.8.1 state variables plus three inputs, each taking ``now``
(seconds, any monotonic origin) and returning a list of actions:

* :meth:`BfdSession.receive` - a decoded Control packet from the peer (the shell decoded it
  with :func:`~pybgp.bfd.packet.decode_control` and found the session by its discriminator);
* :meth:`BfdSession.handle_timers` - the time in :meth:`BfdSession.next_deadline` came:
  a periodic transmission (§6.8.7) and/or the Detection Time expired (§6.8.4);
* :meth:`BfdSession.admin_down` / :meth:`admin_up` / :meth:`set_timers` - local decisions.

Actions are :class:`SendPacket` (bytes for the peer) and :class:`StateChanged`. The shell
sends the one and tells BGP about the other, then re-arms a single timer at
:meth:`next_deadline`.

Timers (§6.8.2-§6.8.4), all in microseconds as on the wire:

* we transmit every max(bfd.DesiredMinTxInterval, bfd.RemoteMinRxInterval), jittered down by
  0-25% (75-90% with a Detect Mult of 1, §6.8.7) with the injected ``random``;
* while the session is not Up bfd.DesiredMinTxInterval is at least one second (§6.8.3): the
  configured fast rate is advertised once Up, by a Poll Sequence;
* the Detection Time is the peer's Detect Mult times max(bfd.RequiredMinRxInterval, the
  peer's Desired Min TX), counted from the last packet received;
* a change of either local interval while Up starts a Poll Sequence (P bit until a packet
  with F comes back); an increased TX interval and a decreased RX interval take effect only
  when it ends (§6.8.3). When not Up new values apply at once (nothing to coordinate).

Not implemented (not needed for BGP fast failover, issue 14): Echo, Demand mode (we never set
D; a peer that asks for it is honoured as §6.8.7 requires), authentication (a packet with the
A bit set is discarded, as §6.8.6 requires of a session without authentication). We take the
Active role (§6.1).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

import attrs

from pybgp.bfd.packet import (
    BfdPacketError,
    BfdState,
    ControlPacket,
    Diagnostic,
    encode_control,
)

__all__ = [
    "SLOW_TX_INTERVAL",
    "BfdAction",
    "BfdSession",
    "BfdSessionStatus",
    "BfdTimers",
    "SendPacket",
    "StateChanged",
]

SLOW_TX_INTERVAL: Final = 1_000_000
"""RFC 5880 §6.8.3: bfd.DesiredMinTxInterval while the session is not Up (microseconds)."""

_MICRO: Final = 1e-6


@attrs.frozen(kw_only=True)
class BfdTimers:
    """The locally wanted timers, microseconds (RFC 5880 §6.8.1)."""

    desired_min_tx: int = 300_000
    """bfd.DesiredMinTxInterval once Up."""
    required_min_rx: int = 300_000
    """bfd.RequiredMinRxInterval (0 would ask the peer to send nothing: not allowed here)."""
    detect_mult: int = 3
    """bfd.DetectMult (1..255)."""


@attrs.frozen
class SendPacket:
    """Send ``data`` (the encoded ``packet``) to the peer."""

    packet: ControlPacket
    data: bytes


@attrs.frozen
class StateChanged:
    """The session went from ``old`` to ``new``; ``diagnostic`` says why (bfd.LocalDiag)."""

    old: BfdState
    new: BfdState
    diagnostic: Diagnostic
    remote_state: BfdState | None
    """The peer's state in its last packet (None before any): a Down caused by the peer's
    AdminDown is not a path failure (RFC 5882 §3.2)."""

    @property
    def reason(self) -> str:
        return f"{self.old.label} -> {self.new.label}: {self.diagnostic.text}"


BfdAction = SendPacket | StateChanged


@attrs.frozen(kw_only=True)
class BfdSessionStatus:
    """What ``pybgp status`` shows of a BFD session."""

    state: BfdState
    remote_state: BfdState | None
    local_discriminator: int
    remote_discriminator: int
    diagnostic: Diagnostic
    """bfd.LocalDiag: why the session last went down (0 once Up again)."""
    tx_interval_us: int
    """The negotiated transmit interval now in use (before jitter)."""
    rx_interval_us: int
    """The interval the peer sends at: max(our Required Min RX, its Desired Min TX)."""
    detection_time_us: int
    """How long without a packet before the session is declared down (0: no peer yet)."""
    remote_detect_mult: int
    control_plane_independent: bool
    """The peer's C bit (RFC 5880 §4.1): its BFD survives a control-plane restart."""


class BfdSession:
    """A BFD session to one peer: see the module docstring."""

    def __init__(
        self,
        local_discriminator: int,
        timers: BfdTimers = BfdTimers(),
        *,
        random: Callable[[], float],
        control_plane_independent: bool = False,
    ) -> None:
        if not 0 < local_discriminator < 2**32:
            raise ValueError("RFC 5880 §6.8.1: bfd.LocalDiscr must be a nonzero 32-bit value")
        self.local_discriminator = local_discriminator
        self.timers = timers
        self.control_plane_independent = control_plane_independent
        self._random = random
        # RFC 5880 §6.8.1 state variables, initial values as listed there.
        self.state = BfdState.DOWN
        self.remote_state: BfdState | None = None
        self.remote_discriminator = 0
        self.local_diag = Diagnostic.NO_DIAGNOSTIC
        self.remote_min_rx = 1
        self.remote_desired_min_tx = 0
        self.remote_detect_mult = 0
        self.remote_demand = False
        self.remote_control_plane_independent = False
        # Advertised (bfd.DesiredMinTxInterval / RequiredMinRxInterval) and in-use values.
        self._tx_advertised = max(timers.desired_min_tx, SLOW_TX_INTERVAL)
        self._rx_advertised = timers.required_min_rx
        self._tx_effective = self._tx_advertised
        self._rx_effective = self._rx_advertised
        self.polling = False
        """A Poll Sequence is being transmitted (RFC 5880 §6.5)."""
        self._next_tx: float | None = None
        self._detect_at: float | None = None
        self._admin_tx_until: float | None = None
        self.packets_received = 0
        self.packets_sent = 0

    # ---------------------------------------------------------------- derived values

    @property
    def tx_interval(self) -> int:
        """RFC 5880 §6.8.7: max(bfd.DesiredMinTxInterval, bfd.RemoteMinRxInterval), µs."""
        return max(self._tx_effective, self.remote_min_rx)

    @property
    def detection_time(self) -> int:
        """RFC 5880 §6.8.4 (asynchronous mode), µs; 0 before the first packet."""
        return self.remote_detect_mult * max(self._rx_effective, self.remote_desired_min_tx)

    def next_deadline(self) -> float | None:
        """When :meth:`handle_timers` must next be called (None: nothing scheduled)."""
        deadlines = [d for d in (self._next_tx, self._detect_at) if d is not None]
        return min(deadlines) if deadlines else None

    def status(self) -> BfdSessionStatus:
        return BfdSessionStatus(
            state=self.state,
            remote_state=self.remote_state,
            local_discriminator=self.local_discriminator,
            remote_discriminator=self.remote_discriminator,
            diagnostic=self.local_diag,
            tx_interval_us=self.tx_interval,
            rx_interval_us=max(self._rx_effective, self.remote_desired_min_tx),
            detection_time_us=self.detection_time,
            remote_detect_mult=self.remote_detect_mult,
            control_plane_independent=self.remote_control_plane_independent,
        )

    # ---------------------------------------------------------------- inputs

    def start(self, now: float) -> list[BfdAction]:
        """Begin transmitting (Down, Active role: RFC 5880 §6.1): the first packet now."""
        self._next_tx = now
        return self.handle_timers(now)

    def receive(self, packet: ControlPacket, now: float) -> list[BfdAction]:
        """A Control packet from the peer (already through :func:`decode_control`).

        Raises :class:`BfdPacketError` for a packet RFC 5880 §6.8.6 says to discard.
        """
        # RFC 5880 §6.8.6, the rules that need the session.
        if packet.your_discriminator not in (0, self.local_discriminator):
            raise BfdPacketError(
                f"RFC 5880 §6.8.6: Your Discriminator {packet.your_discriminator} selects no "
                "session"
            )
        if packet.authentication:
            raise BfdPacketError(
                "RFC 5880 §6.8.6: A bit set but the session uses no authentication"
            )
        if self.state is BfdState.ADMIN_DOWN:
            raise BfdPacketError("RFC 5880 §6.8.6: the session is AdminDown")
        self.packets_received += 1
        old_interval = self.tx_interval
        self.remote_discriminator = packet.my_discriminator
        self.remote_state = packet.state
        self.remote_demand = packet.demand
        self.remote_min_rx = packet.required_min_rx
        self.remote_desired_min_tx = packet.desired_min_tx
        self.remote_detect_mult = packet.detect_mult
        self.remote_control_plane_independent = packet.control_plane_independent
        if self.polling and packet.final:
            # §6.8.6: the Poll Sequence ends; §6.8.3: the new values now apply.
            self.polling = False
            self._tx_effective = self._tx_advertised
            self._rx_effective = self._rx_advertised
        actions: list[BfdAction] = []
        # §6.8.6 state machine.
        if packet.state is BfdState.ADMIN_DOWN:
            if self.state is not BfdState.DOWN:
                self._change(BfdState.DOWN, Diagnostic.NEIGHBOR_SIGNALED_SESSION_DOWN, actions)
        elif self.state is BfdState.DOWN:
            if packet.state is BfdState.DOWN:
                self._change(BfdState.INIT, self.local_diag, actions)
            elif packet.state is BfdState.INIT:
                self._change(BfdState.UP, Diagnostic.NO_DIAGNOSTIC, actions)
        elif self.state is BfdState.INIT:
            if packet.state in (BfdState.INIT, BfdState.UP):
                self._change(BfdState.UP, Diagnostic.NO_DIAGNOSTIC, actions)
        elif packet.state is BfdState.DOWN:  # we are Up
            self._change(BfdState.DOWN, Diagnostic.NEIGHBOR_SIGNALED_SESSION_DOWN, actions)
        # §6.8.4: the packet counts for the Detection Time (restarted from now).
        detection = self.detection_time
        self._detect_at = now + detection * _MICRO if detection else None
        self._reschedule(now, old_interval)
        if packet.poll:
            # §6.8.7: answer a Poll at once with F set, whatever the timers or state.
            actions.append(self._send(final=True))
        return actions

    def handle_timers(self, now: float) -> list[BfdAction]:
        """Fire what is due at ``now``: the Detection Time, then a periodic transmission."""
        actions: list[BfdAction] = []
        if self._detect_at is not None and now >= self._detect_at:
            self._detect_at = None
            # §6.8.1: bfd.RemoteDiscr is zeroed when a Detection Time passes without a packet.
            self.remote_discriminator = 0
            if self.state in (BfdState.INIT, BfdState.UP):
                # §6.8.4: the session has gone down.
                self._change(BfdState.DOWN, Diagnostic.CONTROL_DETECTION_TIME_EXPIRED, actions)
        if self._next_tx is not None and now >= self._next_tx:
            if self._admin_tx_until is not None and now >= self._admin_tx_until:
                self._next_tx = None  # §6.8.16: AdminDown was sent for a Detection Time
            else:
                if self._may_transmit():
                    actions.append(self._send())
                self._next_tx = now + self._jittered(self.tx_interval)
        return actions

    def admin_down(self, now: float) -> list[BfdAction]:
        """RFC 5880 §6.8.16: AdminDown, sent at once and then for a Detection Time."""
        if self.state is BfdState.ADMIN_DOWN:
            return []
        actions: list[BfdAction] = []
        self._change(BfdState.ADMIN_DOWN, Diagnostic.ADMINISTRATIVELY_DOWN, actions)
        # At the slow rate now (not Up): a Detection Time is Detect Mult of those intervals.
        self._admin_tx_until = now + self.timers.detect_mult * self.tx_interval * _MICRO
        self._detect_at = None
        actions.append(self._send())
        self._next_tx = now + self._jittered(self.tx_interval)
        return actions

    def admin_up(self, now: float) -> list[BfdAction]:
        """Leave AdminDown for Down (§6.8.16) and transmit again."""
        if self.state is not BfdState.ADMIN_DOWN:
            return []
        actions: list[BfdAction] = []
        self._admin_tx_until = None
        self.remote_discriminator = 0
        self._change(BfdState.DOWN, Diagnostic.NO_DIAGNOSTIC, actions)
        self._next_tx = now
        return actions + self.handle_timers(now)

    def set_timers(self, timers: BfdTimers, now: float) -> list[BfdAction]:
        """New local timers; while Up a Poll Sequence carries them to the peer (§6.8.3)."""
        old_interval = self.tx_interval
        self.timers = timers
        self._advertise()
        self._reschedule(now, old_interval)
        return []

    # ---------------------------------------------------------------- internals

    def _change(self, new: BfdState, diagnostic: Diagnostic, actions: list[BfdAction]) -> None:
        old = self.state
        self.state = new
        self.local_diag = diagnostic
        self._advertise()
        actions.append(StateChanged(old, new, diagnostic, self.remote_state))

    def _advertise(self) -> None:
        """Set bfd.DesiredMinTxInterval / RequiredMinRxInterval from the timers and state."""
        tx = self.timers.desired_min_tx
        if self.state is not BfdState.UP:
            tx = max(tx, SLOW_TX_INTERVAL)  # §6.8.3: at least one second when not Up
        rx = self.timers.required_min_rx
        if self.state is not BfdState.UP:
            # Nothing to coordinate with a peer that is not Up: the values apply at once.
            self.polling = False
            self._tx_advertised = self._tx_effective = tx
            self._rx_advertised = self._rx_effective = rx
        elif (tx, rx) != (self._tx_advertised, self._rx_advertised):
            # §6.8.3: a Poll Sequence; a longer TX or a shorter RX waits for its end.
            self._tx_advertised, self._rx_advertised = tx, rx
            self.polling = True
            self._tx_effective = min(tx, self._tx_effective)
            self._rx_effective = max(rx, self._rx_effective)

    def _reschedule(self, now: float, old_interval: int) -> None:
        """Bring the next transmission forward when the interval got shorter."""
        interval = self.tx_interval
        if self._next_tx is None:
            if self.state is not BfdState.ADMIN_DOWN:
                self._next_tx = now + self._jittered(interval)
        elif interval < old_interval:
            self._next_tx = min(self._next_tx, now + self._jittered(interval))

    def _may_transmit(self) -> bool:
        """RFC 5880 §6.8.7: periodic transmission rules."""
        if self.remote_min_rx == 0:
            return False  # the peer asked for no periodic packets
        # Demand mode active on the remote system, and no Poll Sequence to send.
        return not (
            self.remote_demand
            and self.state is BfdState.UP
            and self.remote_state is BfdState.UP
            and not self.polling
        )

    def _jittered(self, interval: int) -> float:
        """RFC 5880 §6.8.7: 75-100% of the interval (75-90% with a Detect Mult of 1), s."""
        r = self._random()
        factor = 0.9 - 0.15 * r if self.timers.detect_mult == 1 else 1.0 - 0.25 * r
        return interval * factor * _MICRO

    def _send(self, *, final: bool = False) -> SendPacket:
        packet = ControlPacket(
            state=self.state,
            diagnostic=self.local_diag,
            my_discriminator=self.local_discriminator,
            your_discriminator=self.remote_discriminator,
            detect_mult=self.timers.detect_mult,
            desired_min_tx=self._tx_advertised,
            required_min_rx=self._rx_advertised,
            required_min_echo_rx=0,  # no Echo function
            poll=self.polling and not final,  # §6.5: never P and F together
            final=final,
            control_plane_independent=self.control_plane_independent,
        )
        self.packets_sent += 1
        return SendPacket(packet, encode_control(packet))

"""The FSM's values: states, events, timers, the data events carry, and the actions.

Split out of :mod:`pybgp.fsm` (which re-exports every name) to keep each file short. No I/O.
"""

from __future__ import annotations

import enum
from ipaddress import IPv4Address
from typing import TYPE_CHECKING, Final

import attrs

from pybgp.wire.capabilities import GracefulRestartCapability
from pybgp.wire.messages import Keepalive
from pybgp.wire.negotiated import Negotiated
from pybgp.wire.notification import Notification
from pybgp.wire.open import Open
from pybgp.wire.refresh import RouteRefresh

if TYPE_CHECKING:
    from pybgp.wire.update import UpdateResult


OPEN_HOLD_TIME: Final = 240.0
"""RFC 4271 §8.2.2: the "large" hold time used in OpenSent (4 minutes suggested)."""

SEND_HOLD_MINIMUM: Final = 480.0
"""RFC 9687 §3: the send hold time is at least 8 minutes by default."""


class State(enum.Enum):
    """The six RFC 4271 §8.2.2 states; the value is the name ``pybgp status`` prints."""

    IDLE = "Idle"
    CONNECT = "Connect"
    ACTIVE = "Active"
    OPEN_SENT = "OpenSent"
    OPEN_CONFIRM = "OpenConfirm"
    ESTABLISHED = "Established"

    def __str__(self) -> str:
        return self.value


class Event(enum.Enum):
    """FSM inputs, named as in RFC 4271 §8.1; the value is the RFC event number.

    Numbers 100 and above are pybgp's own inputs: the IdleHoldTimer of §8.1.1
    (DampPeerOscillations) and the RFC 9687 send hold timer with the shell's write-stall reports.
    """

    ManualStart = 1
    ManualStop = 2
    AutomaticStart = 3
    ManualStart_with_PassiveTcpEstablishment = 4
    AutomaticStart_with_PassiveTcpEstablishment = 5
    AutomaticStop = 8
    ConnectRetryTimer_Expires = 9
    HoldTimer_Expires = 10
    KeepaliveTimer_Expires = 11
    IdleHoldTimer_Expires = 13
    Tcp_CR_Acked = 16
    TcpConnectionConfirmed = 17
    TcpConnectionFails = 18
    BGPOpen = 19
    BGPHeaderErr = 21
    BGPOpenMsgErr = 22
    OpenCollisionDump = 23
    NotifMsgVerErr = 24
    NotifMsg = 25
    KeepAliveMsg = 26
    UpdateMsg = 27
    UpdateMsgErr = 28
    RouteRefreshMsg = 100
    SendHoldTimer_Expires = 101
    SendBufferStalled = 102
    SendBufferDrained = 103


class Timer(enum.Enum):
    """The FSM's timers; each fires the event named after it."""

    CONNECT_RETRY = "ConnectRetryTimer"
    HOLD = "HoldTimer"
    KEEPALIVE = "KeepaliveTimer"
    IDLE_HOLD = "IdleHoldTimer"
    SEND_HOLD = "SendHoldTimer"


# --------------------------------------------------------------------------------------------
# Values


@attrs.frozen
class NegotiatedSession:
    """Everything agreed once both OPENs are in: the codec's :class:`Negotiated` plus the
    session-level results (hold and keepalive times, refresh flavours, the peer's graceful
    restart capability, roles). Built by :mod:`pybgp.session`; the FSM fills in the times."""

    negotiated: Negotiated
    """What the codec needs (families, 4-octet AS, ADD-PATH, extended messages)."""
    peer_router_id: IPv4Address
    """The peer's BGP identifier (RFC 4271 §4.2)."""
    local_open: Open
    """The OPEN we sent."""
    peer_open: Open
    """The OPEN the peer sent."""
    hold_time: int = 0
    """Negotiated hold time: the smaller of the two OPENs (RFC 4271 §4.2); 0 = none."""
    keepalive_time: float = 0.0
    """Seconds between KEEPALIVEs (0 when the hold time is 0)."""
    route_refresh: bool = False
    """Both sides advertised route refresh (RFC 2918, or the old Cisco code 128)."""
    enhanced_route_refresh: bool = False
    """Both sides advertised enhanced route refresh (RFC 7313)."""
    graceful_restart: GracefulRestartCapability | None = None
    """The peer's graceful restart capability (RFC 4724), recorded only; not acted on yet."""
    local_role: int | None = None
    """Our RFC 9234 role, when configured."""
    peer_role: int | None = None
    """The peer's RFC 9234 role, when it sent one."""
    hostname: str | None = None
    """The peer's FQDN capability host name, when sent (for status displays)."""

    @property
    def families(self) -> frozenset[tuple[int, int]]:
        """The (AFI, SAFI) pairs both sides enabled."""
        return self.negotiated.families


@attrs.frozen
class EventData:
    """The data some events carry (every field optional; handlers read what they need)."""

    hold_time: int = 0
    """BGPOpen: the peer's hold time."""
    negotiated: NegotiatedSession | None = None
    """BGPOpen: the negotiated session the FSM completes with the hold/keepalive times."""
    notification: Notification | None = None
    """NotifMsg*: the NOTIFICATION received. *Err, ManualStop, AutomaticStop: the one to send."""
    update: UpdateResult | None = None
    """UpdateMsg: the decoded UPDATE with its RFC 7606 action."""
    refresh: RouteRefresh | None = None
    """RouteRefreshMsg: the ROUTE-REFRESH received."""
    reason: str = ""
    """Words for logs and the StateChange/SessionDown reason."""
    since: float | None = None
    """SendBufferStalled: when writes stopped making progress (default: now)."""


_NO_DATA: Final = EventData()


@attrs.frozen
class SendMessage:
    """Encode and send this message (OPEN, KEEPALIVE or NOTIFICATION)."""

    message: Open | Notification | Keepalive


@attrs.frozen
class SendBytes:
    """Write these bytes to the connection (the session's encoded form of SendMessage)."""

    data: bytes
    what: str = ""
    """Short description for debug logs, e.g. ``KEEPALIVE``."""


@attrs.frozen
class ConnectTcp:
    """Start an outgoing TCP connection to the peer (abandoning a previous attempt)."""


@attrs.frozen
class CloseTcp:
    """Close the connection once what was queued is written; ``abort`` = drop it now."""

    abort: bool = False


@attrs.frozen
class DeliverUpdate:
    """Hand this decoded UPDATE to the RIB."""

    update: UpdateResult


@attrs.frozen
class DeliverRouteRefresh:
    """The peer asked us to re-advertise a family (RFC 2918 / RFC 7313)."""

    refresh: RouteRefresh


@attrs.frozen
class SessionUp:
    """The session reached Established with these negotiated parameters."""

    negotiated: NegotiatedSession


@attrs.frozen
class SessionDown:
    """The connection went down. ``was_established`` says whether routes must be flushed."""

    reason: str
    notification_sent: Notification | None = None
    notification_received: Notification | None = None
    was_established: bool = False


@attrs.frozen
class StateChange:
    """The FSM moved from ``old`` to ``new`` because of ``reason``."""

    old: State
    new: State
    reason: str


@attrs.frozen
class Note:
    """Something worth a log line that needs no other action (e.g. NLRI ignored)."""

    text: str
    level: str = "info"


Action = (
    SendMessage
    | SendBytes
    | ConnectTcp
    | CloseTcp
    | DeliverUpdate
    | DeliverRouteRefresh
    | SessionUp
    | SessionDown
    | StateChange
    | Note
)
"""Anything the FSM or the session asks its shell to do."""


@attrs.frozen
class FsmTimers:
    """Timer settings of one FSM (seconds)."""

    hold_time: int = 90
    """Hold time we propose in our OPEN (RFC 4271 §4.2; 0 or >= 3)."""
    keepalive_time: float | None = None
    """Seconds between KEEPALIVEs; None = negotiated hold time / 3 (RFC 4271 §10)."""
    connect_retry_time: float = 3.0
    """ConnectRetryTimer (RFC 4271 §10 suggests 120 s; Calico/BIRD-style 3 s here)."""
    connect_delay: float = 1.0
    """Wait before the first connection attempt after a start."""
    open_hold_time: float = OPEN_HOLD_TIME
    """The large hold time of OpenSent (RFC 4271 §8.2.2)."""
    error_wait_min: float = 5.0
    """First IdleHoldTimer after a session error."""
    error_wait_max: float = 60.0
    """Largest IdleHoldTimer; also how long a session must stay up to reset the back-off."""
    send_hold_time: float | None = None
    """RFC 9687 send hold time; None = max(8 minutes, 2 x negotiated hold time)."""
    passive: bool = False
    """Never initiate connections; only accept them (PassiveTcpEstablishment)."""

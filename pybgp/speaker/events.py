"""The speaker's public values (events, peer status, snapshots) and the pure mappings from
configuration to the session and RIB descriptions. No I/O: :mod:`pybgp.speaker` is the shell.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, Final, Protocol

import attrs

from pybgp.config import PeerConfig, SpeakerConfig, SpeakerSection
from pybgp.fsm import FsmTimers, NegotiatedSession, State
from pybgp.kernel import KernelCounters
from pybgp.neighbor import NeighborSettings
from pybgp.policy import filter_policy
from pybgp.rib import BestPathChange, PeerInfo, Policy, Rib, RouteEntry
from pybgp.session import Session, SessionConfig
from pybgp.wire.constants import IPV4_UNICAST, IPV6_UNICAST, Family, family_name
from pybgp.wire.notification import Notification
from pybgp.wire.update import UpdateResult

__all__ = [
    "BestPathChanged",
    "EventStream",
    "PeerStateChanged",
    "PeerStatus",
    "Snapshot",
    "SpeakerEvent",
    "UpdateReceived",
    "neighbor_settings",
    "peer_document",
    "peer_info",
    "peer_status",
    "session_config",
    "status_document",
]


@attrs.frozen
class PeerStateChanged:
    """A peer's session changed state; ``notification`` is the one sent or received, if any."""

    peer: str
    old: State
    new: State
    reason: str
    notification: Notification | None = None


@attrs.frozen
class UpdateReceived:
    """An UPDATE from ``peer`` was decoded (and handed to the RIB)."""

    peer: str
    update: UpdateResult


@attrs.frozen
class BestPathChanged:
    """The Loc-RIB's selected paths changed (one or many prefixes)."""

    changes: Sequence[BestPathChange]


SpeakerEvent = PeerStateChanged | UpdateReceived | BestPathChanged
"""Anything an :class:`EventStream` yields."""


@attrs.frozen
class PeerStatus:
    """One peer as ``pybgp status`` shows it."""

    address: str
    asn: int
    type: str
    state: State
    since: float
    """Wall-clock time (epoch seconds) of the last state change."""
    info: str
    """The last error or NOTIFICATION in words (empty while Established)."""
    received: int = 0
    accepted: int = 0
    advertised: int = 0
    negotiated: NegotiatedSession | None = None
    updates_in: int = 0
    """UPDATE messages received on the current session."""
    updates_out: int = 0
    """UPDATE messages sent on the current session."""
    description: str = ""
    disabled_families: frozenset[Family] = frozenset()
    """Families RFC 7606 AFI/SAFI-disable turned off on this session (not in use)."""


@attrs.frozen
class Snapshot:
    """The state at subscription time: every peer and (unless left out) every Loc-RIB entry."""

    peers: tuple[PeerStatus, ...]
    routes: tuple[RouteEntry, ...]


class EventQueue(Protocol):
    """The queue an :class:`EventStream` reads (an ``asyncio.Queue`` in the speaker)."""

    def put_nowait(self, item: object) -> None:
        """Add an item without waiting."""

    async def get(self) -> object:
        """Wait for the next item."""


_END: Final = object()


class EventStream:
    """An async iterator of :data:`SpeakerEvent` values; ends when closed or the speaker stops.

    The queue is unbounded: a subscriber that does not read keeps events in memory.
    """

    def __init__(self, queue: EventQueue, unsubscribe: Callable[[EventStream], None]) -> None:
        self._queue = queue
        self._unsubscribe = unsubscribe
        self._closed = False

    def _put(self, event: object) -> None:
        if not self._closed:
            self._queue.put_nowait(event)

    def _end(self) -> None:
        if not self._closed:
            self._closed = True
            self._queue.put_nowait(_END)

    def close(self) -> None:
        """Stop receiving events (the iteration ends after the ones already queued)."""
        self._unsubscribe(self)
        self._end()

    def __aiter__(self) -> EventStream:
        return self

    async def __anext__(self) -> SpeakerEvent:
        item = await self._queue.get()
        if item is _END:
            self._queue.put_nowait(_END)
            raise StopAsyncIteration
        assert isinstance(item, PeerStateChanged | UpdateReceived | BestPathChanged)
        return item

    async def aclose(self) -> None:
        """Same as :meth:`close` (async iterator protocol)."""
        self.close()

    def __enter__(self) -> EventStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def session_config(section: SpeakerSection, config: PeerConfig) -> SessionConfig:
    """The session parameters of one peer: its own values, else the speaker's defaults."""
    timers = FsmTimers(
        hold_time=section.hold_time if config.hold_time is None else config.hold_time,
        keepalive_time=(
            section.keepalive_time if config.keepalive_time is None else config.keepalive_time
        ),
        connect_retry_time=section.connect_retry_time,
        connect_delay=section.connect_delay,
        error_wait_min=section.error_wait_min,
        error_wait_max=section.error_wait_max,
        passive=config.passive,
    )
    return SessionConfig(
        local_as=section.asn,
        router_id=section.router_id,
        peer_as=config.asn,
        peer_address=str(config.address),
        families=config.family_set,
        timers=timers,
        extended_message=True,
        role=config.role_code,
    )


def neighbor_settings(
    section: SpeakerSection, config: PeerConfig, *, dynamic: bool = False
) -> NeighborSettings:
    """What the :class:`~pybgp.neighbor.Neighbor` of one peer decides with."""
    return NeighborSettings(
        session=session_config(section, config),
        dynamic=dynamic,
        passive=config.passive,
        enabled=config.enabled,
        max_prefixes=config.max_prefixes,
        max_prefixes_action=config.max_prefixes_action,
    )


def peer_info(
    section: SpeakerSection,
    config: PeerConfig,
    import_policy: Policy | None = None,
    export_policy: Policy | None = None,
) -> PeerInfo:
    """What the RIB needs to know about one peer (policies built by :func:`peer_policies`)."""
    return PeerInfo(
        peer_id=str(config.address),
        address=config.address,
        asn=config.asn,
        local_as=section.asn,
        local_address=config.local_address,
        local_address6=config.local_address6,
        route_reflector_client=config.route_reflector_client,
        next_hop_self=config.next_hop_self,
        keep_original_next_hop=config.keep_original_next_hop,
        families=config.family_set,
        allow_own_as=section.allow_own_as if config.allow_own_as is None else config.allow_own_as,
        max_prefixes=config.max_prefixes,
        role=config.role_code,
        import_policy=import_policy,
        export_policy=export_policy,
    )


def peer_policies(config: SpeakerConfig, peer: PeerConfig) -> tuple[Policy | None, Policy | None]:
    """The import and export policies of ``peer`` from its ``[[filters]]`` (None = none)."""
    return (
        filter_policy(config.peer_filters(peer, "import")),
        filter_policy(config.peer_filters(peer, "export")),
    )


def status_document(
    section: SpeakerSection,
    rib: Rib,
    peers: Sequence[PeerStatus],
    kernel: KernelCounters | None = None,
    adapter: str = "none",
) -> dict[str, Any]:
    """The ``pybgp status --json`` document (CONTRACT.md): the one place it is built."""
    return {
        "asn": section.asn,
        "router_id": str(section.router_id),
        "rib": {family_name(f): rib.prefix_count(f) for f in (IPV4_UNICAST, IPV6_UNICAST)},
        "peers": [peer_document(s) for s in peers],
        "kernel": {
            "installed": 0 if kernel is None else kernel.installed,
            "failed": 0 if kernel is None else kernel.failed,
            "adapter": "none" if kernel is None else adapter,
        },
    }


def peer_document(status: PeerStatus) -> dict[str, Any]:
    """One peer of the status document: the contract's keys, then the session details."""
    return {
        "address": status.address,
        "asn": status.asn,
        "type": status.type,
        "state": status.state.value,
        "since": datetime.fromtimestamp(status.since, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "info": status.info,
        "received": status.received,
        "accepted": status.accepted,
        "advertised": status.advertised,
        **_session_details(status),
    }


def _session_details(status: PeerStatus) -> dict[str, Any]:
    """Beyond the contract's keys: what the session negotiated, and message counters.

    ``families`` lists the families in use; one that RFC 7606 AFI/SAFI-disable turned off
    is listed under ``disabled_families`` instead.
    """
    details: dict[str, Any] = {
        "description": status.description,
        "updates_in": status.updates_in,
        "updates_out": status.updates_out,
    }
    negotiated = status.negotiated
    if negotiated is None:
        return details
    capabilities = [
        name
        for name, present in (
            ("four-octet-as", negotiated.negotiated.four_octet_as),
            ("route-refresh", negotiated.route_refresh),
            ("enhanced-route-refresh", negotiated.enhanced_route_refresh),
            ("extended-message", negotiated.negotiated.extended_message),
            ("graceful-restart (peer)", negotiated.graceful_restart is not None),
            ("add-path", bool(negotiated.negotiated.add_path_receive
                              or negotiated.negotiated.add_path_send)),
        )
        if present
    ]
    disabled = status.disabled_families & negotiated.families
    details.update(
        router_id=str(negotiated.peer_router_id),
        hold_time=negotiated.hold_time,
        keepalive_time=negotiated.keepalive_time,
        families=sorted(family_name(f) for f in negotiated.families - disabled),
        disabled_families=sorted(family_name(f) for f in disabled),
        capabilities=capabilities,
        hostname=negotiated.hostname,
    )
    return details


def peer_status(
    config: PeerConfig, session: Session, since: float, rib: Rib, local_as: int
) -> PeerStatus:
    """One peer's status: its session state and the RIB's cheap counters."""
    try:
        counters = rib.peer_counters(str(config.address))
        received, accepted, advertised = (
            counters.received,
            counters.accepted,
            counters.advertised,
        )
        disabled = rib.disabled_families(str(config.address))
    except KeyError:
        received = accepted = advertised = 0
        disabled = frozenset()
    return PeerStatus(
        address=str(config.address),
        asn=config.asn,
        type=config.effective_type(local_as),
        state=session.state,
        since=since,
        info=session.last_reason,
        received=received,
        accepted=accepted,
        advertised=advertised,
        negotiated=session.negotiated,
        updates_in=session.updates_received,
        updates_out=session.updates_sent,
        description=config.description,
        disabled_families=disabled,
    )

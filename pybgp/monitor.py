"""``pybgp monitor``: the speaker's event stream as JSON documents (and one-line text).

The daemon's ``monitor`` stream handler subscribes to the speaker (:meth:`Speaker.subscribe`
takes the snapshot and registers the stream in one synchronous step, so no change falls between
them), sends the snapshot document first, then one document per peer state change, per prefix
whose best path changed and per prefix the kernel adapter applied. No I/O here.

Documents (``type`` says which; shapes in docs/operations.md)::

    {"type": "snapshot", "time": T, "peers": [{"address", "asn", "state", "since"}...],
     "prefixes": {"ipv4": N, "ipv6": M}}
    {"type": "peer", "time": T, "peer": A, "old": S, "new": S, "reason": "..."}
    {"type": "best", "time": T, "prefix": P, "family": F, "action": "add|change|withdraw",
     "next_hop": A|null, "peer": A|null, "as_path": [...], "reason": "..."}
    {"type": "kernel", "time": T, "prefix": P, "family": F, "state": "installed|..."}
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from pybgp.speaker.events import (
    BestPathChanged,
    KernelChanged,
    PeerStateChanged,
    Snapshot,
    SpeakerEvent,
)
from pybgp.wire.constants import IPV4_UNICAST, IPV6_UNICAST, family_name
from pybgp.wire.nlri import prefix_to_str


def _now(epoch: float | None = None) -> str:
    moment = datetime.now(UTC) if epoch is None else datetime.fromtimestamp(epoch, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def snapshot_document(snapshot: Snapshot, prefixes: dict[str, int]) -> dict[str, Any]:
    """The first document of a monitor stream: every peer's state now."""
    return {
        "type": "snapshot",
        "time": _now(),
        "peers": [
            {
                "address": p.address,
                "asn": p.asn,
                "state": p.state.value,
                "since": _now(p.since),
            }
            for p in snapshot.peers
        ],
        "prefixes": prefixes,
    }


def event_documents(event: SpeakerEvent) -> Iterator[dict[str, Any]]:
    """The monitor documents of one speaker event (none for an UPDATE as such: its effect
    shows as best-path changes)."""
    now = _now()
    if isinstance(event, PeerStateChanged):
        yield {
            "type": "peer",
            "time": now,
            "peer": event.peer,
            "old": event.old.value,
            "new": event.new.value,
            "reason": event.reason,
        }
    elif isinstance(event, BestPathChanged):
        for change in event.changes:
            best = change.new[0] if change.new else None
            if best is None:
                action = "withdraw"
            elif change.old:
                action = "change"
            else:
                action = "add"
            yield {
                "type": "best",
                "time": now,
                "prefix": prefix_to_str(change.prefix, change.family[0]),
                "family": family_name(change.family),
                "action": action,
                "next_hop": None if best is None else str(best.next_hop),
                "peer": None if best is None else best.peer_id,
                "as_path": [] if best is None else list(best.as_path_asns()),
                "reason": change.reason.describe(),
            }
    elif isinstance(event, KernelChanged):
        for family, prefix, state in event.routes:
            yield {
                "type": "kernel",
                "time": now,
                "prefix": prefix_to_str(prefix, family[0]),
                "family": family_name(family),
                "state": state,
            }


def prefix_counts(rib: Any) -> dict[str, int]:
    """Loc-RIB prefixes per family (O(1) each)."""
    return {family_name(f): rib.prefix_count(f) for f in (IPV4_UNICAST, IPV6_UNICAST)}

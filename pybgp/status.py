"""The JSON documents of ``pybgp status --json`` and ``pybgp routes --json``.

Their shapes are fixed by the project contract (shared/CONTRACT.md; docs/operations.md shows
them): operators script against the keys, so keys are only ever added. ``status`` must stay
cheap with a million routes: it reads counters, never walks a table.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Protocol

from pybgp.config import SpeakerConfig
from pybgp.kernel import KernelSync
from pybgp.rib import Path, Rib, RouteEntry
from pybgp.speaker.events import peer_document, status_document
from pybgp.wire.constants import IPV4_UNICAST, IPV6_UNICAST, Family, family_name
from pybgp.wire.nlri import prefix_to_str

_ORIGIN_NAMES = {0: "igp", 1: "egp", 2: "incomplete"}
FAMILIES: dict[str, Family] = {"ipv4": IPV4_UNICAST, "ipv6": IPV6_UNICAST}

__all__ = [
    "StatusSource",
    "iter_route_documents",
    "peer_document",
    "route_document",
    "routes_snapshot",
    "status_document",
    "status_snapshot",
]


class StatusSource(Protocol):
    """What the documents are read from (a :class:`pybgp.Speaker`)."""

    config: SpeakerConfig
    rib: Rib
    kernel: KernelSync | None

    def status(self) -> dict[str, Any]: ...


def status_snapshot(speaker: StatusSource) -> dict[str, Any]:
    """The ``pybgp status --json`` document of a running speaker (built by
    :func:`pybgp.speaker.events.status_document`, the one builder)."""
    return speaker.status()


def routes_snapshot(speaker: StatusSource, family: str | None = None) -> dict[str, Any]:
    """The ``pybgp routes --json`` document: one entry per path, best ones marked."""
    families = [FAMILIES[family]] if family else list(FAMILIES.values())
    return {"routes": list(iter_route_documents(speaker, families))}


def iter_route_documents(speaker: StatusSource, families: list[Family]) -> Iterator[dict[str, Any]]:
    """Yield one JSON-ready dict per path of the Loc-RIB (in ``families``)."""
    kernel = speaker.kernel
    for family in families:
        for entry in speaker.rib.routes(family):
            prefix = prefix_to_str(entry.prefix, family[0])
            if kernel is None:
                kernel_state = "not installed: kernel adapter none"
            else:
                kernel_state = kernel.status(family, entry.prefix)
            for index, path in enumerate(entry.paths):
                yield route_document(entry, path, index, prefix, kernel_state)


def route_document(
    entry: RouteEntry, path: Path, index: int, prefix: str, kernel_state: str
) -> dict[str, Any]:
    """The contract's route object for one path of ``entry``."""
    attributes = path.attributes
    communities = attributes.communities
    large = attributes.large_communities
    med = attributes.med
    selected = index < entry.selected
    installed = selected and kernel_state == "installed"
    return {
        "prefix": prefix,
        "family": family_name(entry.family),
        "next_hop": str(path.next_hop),
        "peer": path.peer_id,
        "as_path": list(path.as_path_asns()),
        "origin": _ORIGIN_NAMES.get(attributes.origin.value if attributes.origin else 0, "?"),
        "local_pref": path.local_pref,
        "med": med.value if med is not None else None,
        "communities": [f"{c >> 16}:{c & 0xFFFF}" for c in communities.values]
        if communities is not None
        else [],
        "large_communities": [f"{a}:{b}:{c}" for a, b, c in large.values]
        if large is not None
        else [],
        "best": selected,
        "reason": entry.reason.describe() if index == 0 else ("multipath" if selected else ""),
        "installed": installed,
        "kernel": kernel_state if selected else "",
        "stale": path.stale,
    }

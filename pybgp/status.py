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
from pybgp.wire.attributes import PathAttributes
from pybgp.wire.constants import IPV4_UNICAST, IPV6_UNICAST, Family, family_name
from pybgp.wire.nlri import prefix_to_str

_ORIGIN_NAMES = {0: "igp", 1: "egp", 2: "incomplete"}
FAMILIES: dict[str, Family] = {"ipv4": IPV4_UNICAST, "ipv6": IPV6_UNICAST}

__all__ = [
    "StatusSource",
    "iter_route_documents",
    "not_installed",
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
    :func:`pybgp.speaker.events.status_document`, the one builder), with the count of best
    paths that are not in the kernel (``kernel.not_installed``, for the metrics)."""
    document = speaker.status()
    document["kernel"]["not_installed"] = not_installed(speaker)
    return document


def not_installed(speaker: StatusSource) -> int:
    """Best paths not in the kernel: no usable next hop, or no kernel adapter at all.
    Prefixes originated here are not meant for the kernel (unless blackholed): not counted."""
    originated = speaker.rib.originated_count()
    kernel = speaker.kernel
    if kernel is None:
        return max(0, sum(speaker.rib.prefix_count(f) for f in FAMILIES.values()) - originated)
    if speaker.config.originate.blackhole:
        originated = 0
    return max(0, kernel.counters().not_installed - originated)


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


def origin_name(attributes: PathAttributes) -> str:
    """ORIGIN as a route document writes it."""
    origin = attributes.origin
    return _ORIGIN_NAMES.get(origin.value if origin else 0, "?")


def community_texts(attributes: PathAttributes) -> dict[str, list[str]]:
    """The ``communities`` and ``large_communities`` of a route document."""
    communities = attributes.communities
    large = attributes.large_communities
    return {
        "communities": [] if communities is None
        else [f"{c >> 16}:{c & 0xFFFF}" for c in communities.values],
        "large_communities": [] if large is None
        else [f"{a}:{b}:{c}" for a, b, c in large.values],
    }  # fmt: skip


def route_document(
    entry: RouteEntry, path: Path, index: int, prefix: str, kernel_state: str
) -> dict[str, Any]:
    """The contract's route object for one path of ``entry``."""
    attributes = path.attributes
    med = attributes.med
    selected = index < entry.selected
    installed = selected and kernel_state == "installed"
    return {
        "prefix": prefix,
        "family": family_name(entry.family),
        "next_hop": str(path.next_hop),
        "peer": path.peer_id,
        "as_path": list(path.as_path_asns()),
        "origin": origin_name(attributes),
        "local_pref": path.local_pref,
        "med": med.value if med is not None else None,
        **community_texts(attributes),
        "best": selected,
        "reason": entry.reason.describe() if index == 0 else ("multipath" if selected else ""),
        "installed": installed,
        "kernel": kernel_state if selected else "",
        "path_id": path.path_id,  # RFC 7911: the id the peer sent (0 without ADD-PATH)
        "stale": path.stale,
    }

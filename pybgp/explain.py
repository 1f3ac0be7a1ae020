"""Short, human descriptions of protocol values for DEBUG log lines (no I/O).

The speaker logs one line per UPDATE received with :func:`describe_update`, only when the
DEBUG level is on (callers check ``isEnabledFor`` first, so this costs nothing otherwise).
"""

from __future__ import annotations

from collections.abc import Sequence

from pybgp.wire.attributes import MpReachNlri, MpUnreachNlri, PathAttributes
from pybgp.wire.constants import AFI
from pybgp.wire.nlri import prefix_to_str
from pybgp.wire.update import ErrorAction, UpdateResult

_ORIGINS = {0: "igp", 1: "egp", 2: "incomplete"}
SHOWN = 8
"""Prefixes listed per line; more are counted."""


def _prefixes(keys: Sequence[bytes], afi: int) -> str:
    shown = ", ".join(prefix_to_str(k, afi) for k in keys[:SHOWN])
    more = len(keys) - SHOWN
    return shown + (f" (+{more} more)" if more > 0 else "")


def describe_attributes(attributes: PathAttributes) -> str:
    """``as-path 64513 64514, next-hop 10.0.0.2, origin igp, local-pref 200, communities ...``"""
    parts: list[str] = []
    as_path = attributes.as_path
    if as_path is not None:
        asns = [str(a) for segment in as_path.segments for a in segment.asns]
        parts.append("as-path " + (" ".join(asns) or "(empty)"))
    for attribute in attributes.attributes:
        if isinstance(attribute, MpReachNlri):
            parts.append("next-hop " + " ".join(str(h) for h in attribute.next_hops))
    next_hop = attributes.next_hop
    if next_hop is not None:
        parts.append(f"next-hop {next_hop.address}")
    origin = attributes.origin
    if origin is not None:
        parts.append(f"origin {_ORIGINS.get(origin.value, origin.value)}")
    if attributes.local_pref is not None:
        parts.append(f"local-pref {attributes.local_pref.value}")
    if attributes.med is not None:
        parts.append(f"med {attributes.med.value}")
    communities = attributes.communities
    if communities is not None:
        parts.append(
            "communities " + " ".join(f"{c >> 16}:{c & 0xFFFF}" for c in communities.values)
        )
    large = attributes.large_communities
    if large is not None:
        parts.append("large-communities " + " ".join(f"{a}:{b}:{c}" for a, b, c in large.values))
    return ", ".join(parts)


def describe_update(result: UpdateResult) -> str:
    """One line: what the UPDATE announces and withdraws, its attributes, its RFC 7606 fate."""
    update = result.update
    eor = update.end_of_rib
    if eor is not None:
        return f"End-of-RIB for AFI {eor[0]} SAFI {eor[1]}"
    parts: list[str] = []
    if update.nlri:
        parts.append("announce " + _prefixes(update.nlri, AFI.IPV4))
    if update.withdrawn:
        parts.append("withdraw " + _prefixes(update.withdrawn, AFI.IPV4))
    for attribute in update.attributes.attributes:
        if isinstance(attribute, MpReachNlri) and attribute.nlri:
            parts.append("announce " + _prefixes(attribute.nlri, attribute.afi))
        elif isinstance(attribute, MpUnreachNlri) and attribute.withdrawn:
            parts.append("withdraw " + _prefixes(attribute.withdrawn, attribute.afi))
    text = "; ".join(parts) or "no prefixes"
    if update.nlri or any(isinstance(a, MpReachNlri) for a in update.attributes.attributes):
        text += f" [{describe_attributes(update.attributes)}]"
    if result.action is not ErrorAction.NONE:
        text += f" RFC 7606 {result.action.name.lower()}: " + "; ".join(result.issues)
    return text


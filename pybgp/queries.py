"""What the control socket answers beyond ``status`` and ``routes``: one peer in detail, the
readiness probe, a prefix's paths, a peer's Adj-RIB-In (before policy, with the verdict of each
path) and Adj-RIB-Out, and run-time announce / withdraw.

Each function reads a running :class:`~pybgp.speaker.Speaker` through its public accessors and
returns a JSON-ready document (shapes in docs/operations.md, pinned by tests). Nothing here
changes the speaker except :func:`announce` and :func:`withdraw`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from ipaddress import (
    IPv4Address,
    IPv4Network,
    IPv6Address,
    IPv6Network,
    ip_address,
    ip_network,
)
from typing import TYPE_CHECKING, Any

from pybgp.client import ControlError
from pybgp.config.filters import evaluate_filters, parse_community
from pybgp.fsm import State
from pybgp.policy import describe_verdict
from pybgp.status import FAMILIES, community_texts, origin_name, route_document
from pybgp.wire.attributes import MpReachNlri, NextHop, PathAttributes
from pybgp.wire.constants import Family, family_name
from pybgp.wire.nlri import network_from_prefix, prefix_from_network, prefix_to_str

if TYPE_CHECKING:
    from pybgp.rib import Path
    from pybgp.speaker import Speaker

_FAMILY_BY_VERSION: dict[int, Family] = {4: FAMILIES["ipv4"], 6: FAMILIES["ipv6"]}


def _since(epoch: float) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def sort_key(prefix: bytes) -> tuple[bytes, int]:
    """Prefixes in address order, shorter first on a tie (``10.0.0.0/8`` before ``/24``)."""
    return prefix[1:].ljust(16, b"\x00"), prefix[0]


# --------------------------------------------------------------------------------------------
# pybgp status PEER / --check


def peer_detail(speaker: Speaker, address: str) -> dict[str, Any]:
    """``pybgp status PEER --json``: one peer in detail."""
    status = speaker.peer(address)
    config = speaker.peer_config(address)
    session = speaker.session(address)
    if status is None or config is None or session is None:
        raise ControlError(f"no peer {address}")
    try:
        disabled = speaker.rib.disabled_families(status.address)
    except KeyError:
        disabled = frozenset()
    negotiated = status.negotiated
    families: dict[str, str] = {}
    for family in sorted(config.family_set):
        name = family_name(family)
        if family in disabled:
            families[name] = "disabled (RFC 7606: a malformed UPDATE disabled this family)"
        elif negotiated is None:
            families[name] = "configured"
        elif family in negotiated.families:
            families[name] = "enabled"
        else:
            families[name] = "not negotiated (the peer did not offer it)"
    section = speaker.config.speaker
    send_hold = getattr(config, "send_hold_time", None)
    if send_hold is None:
        send_hold = getattr(section, "send_hold_time", None)
    document: dict[str, Any] = {
        "address": status.address,
        "asn": status.asn,
        "type": status.type,
        "description": status.description,
        "state": status.state.value,
        "since": _since(status.since),
        "info": status.info,
        "last_error": status.info,
        "local_address": None if config.local_address is None else str(config.local_address),
        "router_id": None,
        "hold_time": None,
        "keepalive_time": None,
        "configured_hold_time": section.hold_time if config.hold_time is None
        else config.hold_time,
        "send_hold_time": send_hold,
        "capabilities": [],
        "families": families,
        "disabled_families": sorted(family_name(f) for f in disabled),
        # What the graceful-restart shell reports for the peer in `pybgp status --json`, or
        # whether the peer offered the capability (RFC 4724) when it reports nothing.
        "graceful_restart": _graceful_restart(speaker, status.address, negotiated),
        "counters": {
            "received": status.received,
            "accepted": status.accepted,
            "advertised": status.advertised,
            "updates_in": status.updates_in,
            "updates_out": status.updates_out,
        },
        "import_filters": list(config.import_filters),
        "export_filters": list(config.export_filters),
    }
    if negotiated is not None:
        document.update(
            router_id=str(negotiated.peer_router_id),
            hold_time=negotiated.hold_time,
            keepalive_time=negotiated.keepalive_time,
            capabilities=_capabilities(negotiated),
            hostname=negotiated.hostname,
        )
    else:
        document["hostname"] = None
    return document


def _capabilities(negotiated: Any) -> list[str]:
    """The capabilities both sides agreed on, by name (as ``pybgp status --json`` lists them)."""
    codec = negotiated.negotiated
    return [
        name
        for name, present in (
            ("four-octet-as", codec.four_octet_as),
            ("route-refresh", negotiated.route_refresh),
            ("enhanced-route-refresh", negotiated.enhanced_route_refresh),
            ("extended-message", codec.extended_message),
            ("graceful-restart (peer)", negotiated.graceful_restart is not None),
            ("add-path", bool(codec.add_path_receive or codec.add_path_send)),
        )
        if present
    ]


def _graceful_restart(speaker: Speaker, address: str, negotiated: Any) -> dict[str, Any]:
    for entry in speaker.status().get("peers", ()):
        if entry.get("address") == address and isinstance(entry.get("graceful_restart"), dict):
            return dict(entry["graceful_restart"])
    offered = negotiated is not None and negotiated.graceful_restart is not None
    return {"negotiated": offered, "phase": "none"}


def readiness(speaker: Speaker) -> dict[str, Any]:
    """``pybgp status --check``: ready when every configured enabled peer is Established and
    the kernel holds no failed route; ``reason`` is one line saying why not."""
    waiting = []
    for config in speaker.config.peers:
        if not config.enabled:
            continue
        status = speaker.peer(config.address)
        if status is None or status.state is not State.ESTABLISHED:
            state = "unknown" if status is None else status.state.value
            waiting.append(f"{config.address} {state}")
    reasons = []
    if waiting:
        reasons.append("peers not Established: " + ", ".join(waiting))
    kernel = speaker.kernel
    if kernel is not None:
        failed = kernel.counters().failed
        if failed:
            reasons.append(f"{failed} kernel route(s) failed to install")
    peers = sum(1 for c in speaker.config.peers if c.enabled)
    return {
        "ready": not reasons,
        "reason": "; ".join(reasons) or f"ready: {peers} peer(s) Established, no failed route",
    }


# --------------------------------------------------------------------------------------------
# pybgp routes [PREFIX] [--peer] [--received|--advertised]


def _match(
    prefix: str | None,
) -> tuple[IPv4Network | IPv6Network | None, IPv4Address | IPv6Address | None]:
    """(network for an exact match, address for a longest match)."""
    if prefix is None:
        return None, None
    try:
        if "/" in prefix:
            return ip_network(prefix), None
        return None, ip_address(prefix)
    except ValueError:
        raise ControlError(f"{prefix!r} is neither a prefix nor an address") from None


def _family_keys(
    network: IPv4Network | IPv6Network | None, address: IPv4Address | IPv6Address | None
) -> list[tuple[Family, list[bytes]]] | None:
    """The keys to look up per family, most specific first (None = everything)."""
    if network is not None:
        return [(_FAMILY_BY_VERSION[network.version], [prefix_from_network(network)])]
    if address is not None:
        bits = address.max_prefixlen
        keys = [
            prefix_from_network(ip_network(f"{address}/{length}", strict=False))
            for length in range(bits, -1, -1)
        ]
        return [(_FAMILY_BY_VERSION[address.version], keys)]
    return None


def _families(family: str | None) -> list[Family]:
    if family is None:
        return list(FAMILIES.values())
    if family not in FAMILIES:
        raise ControlError(f"family must be ipv4 or ipv6, not {family!r}")
    return [FAMILIES[family]]


def routes_query(
    speaker: Speaker,
    prefix: str | None = None,
    peer: str | None = None,
    view: str = "loc",
    family: str | None = None,
) -> dict[str, Any]:
    """``pybgp routes`` with its selectors; sorted by family then prefix."""
    network, address = _match(prefix)
    families = _families(family)
    if view in ("received", "advertised"):
        if peer is None:
            raise ControlError(f"--{view} needs --peer ADDR")
        if speaker.peer(peer) is None:
            raise ControlError(f"no peer {peer}")
        if view == "received":
            return {"routes": _received(speaker, peer, families, network, address)}
        return {"routes": _advertised(speaker, peer, families, network, address)}
    if view != "loc":
        raise ControlError(f"unknown view {view!r}")
    return {"routes": _loc_rib(speaker, families, network, address, peer)}


def _loc_rib(
    speaker: Speaker,
    families: list[Family],
    network: IPv4Network | IPv6Network | None,
    address: IPv4Address | IPv6Address | None,
    peer: str | None,
) -> list[dict[str, Any]]:
    rib = speaker.rib
    kernel = speaker.kernel
    wanted = _family_keys(network, address)
    entries = []
    if wanted is None:
        for fam in families:
            found = sorted(rib.routes(fam), key=lambda e: sort_key(e.prefix))
            entries.extend(found)
    else:
        for fam, keys in wanted:
            if fam not in families:
                continue
            for key in keys:  # most specific first: the first hit is the longest match
                entry = rib.lookup(fam, key)
                if entry is not None:
                    entries.append(entry)
                    break
    routes = []
    for entry in entries:
        text = prefix_to_str(entry.prefix, entry.family[0])
        state = (
            "not installed: kernel adapter none"
            if kernel is None
            else kernel.status(entry.family, entry.prefix)
        )
        for index, path in enumerate(entry.paths):
            if peer is not None and path.peer_id != peer:
                continue
            routes.append(route_document(entry, path, index, text, state))
    return routes


def _selected(
    table: dict[bytes, Any],
    network: IPv4Network | IPv6Network | None,
    address: IPv4Address | IPv6Address | None,
    family: Family,
) -> Iterator[bytes]:
    wanted = _family_keys(network, address)
    if wanted is None:
        yield from sorted(table, key=sort_key)
        return
    for fam, keys in wanted:
        if fam != family:
            continue
        for key in keys:
            if key in table:
                yield key
                return


def path_fields(
    family: Family, prefix: bytes, attributes: PathAttributes, next_hop: object
) -> dict[str, Any]:
    """The attribute part of a route document (shared by every view)."""
    med = attributes.med
    local_pref = attributes.local_pref
    as_path = attributes.as_path
    return {
        "prefix": prefix_to_str(prefix, family[0]),
        "family": family_name(family),
        "next_hop": None if next_hop is None else str(next_hop),
        "as_path": [] if as_path is None else list(_asns(as_path)),
        "origin": origin_name(attributes),
        "local_pref": None if local_pref is None else local_pref.value,
        "med": None if med is None else med.value,
        **community_texts(attributes),
    }


def _asns(as_path: Any) -> Iterable[int]:
    for segment in as_path.segments:
        yield from segment.asns


def _received(
    speaker: Speaker,
    peer: str,
    families: list[Family],
    network: IPv4Network | IPv6Network | None,
    address: IPv4Address | IPv6Address | None,
) -> list[dict[str, Any]]:
    rib = speaker.rib
    config = speaker.peer_config(peer)
    filters = speaker.config.peer_filters(config, "import") if config is not None else ()
    routes: list[dict[str, Any]] = []
    for family in families:
        accepted = rib.adj_rib_in(peer, family)
        rejected = rib.rejected(peer, family)
        kept = rib.adj_rib_in_received(peer, family)
        if kept is None:
            # No pre-policy copy (the peer has no import policy): what was received is what
            # was accepted, plus the prefixes refused as loops (their attributes not kept).
            table: dict[bytes, Path | None] = {**accepted, **dict.fromkeys(rejected)}
        else:
            table = {**dict.fromkeys(rejected), **kept}
        for key in _selected(table, network, address, family):
            path = table[key]
            if path is None:
                document: dict[str, Any] = {
                    "prefix": prefix_to_str(key, family[0]),
                    "family": family_name(family),
                    "peer": peer,
                    "accepted": False,
                    "reason": "rejected as a loop (RFC 4271 §9.1.2 / RFC 4456 §8)",
                }
                routes.append(document)
                continue
            document = path_fields(family, key, path.attributes, path.next_hop)
            document["peer"] = peer
            is_accepted = key in accepted
            document["accepted"] = is_accepted
            document["reason"] = _verdict(speaker, peer, family, key, path, filters, is_accepted)
            routes.append(document)
    return routes


def _verdict(
    speaker: Speaker,
    peer: str,
    family: Family,
    key: bytes,
    path: Path,
    filters: Any,
    accepted: bool,
) -> str:
    """Which rule decided a received path (re-evaluated on the pre-policy attributes)."""
    loop = speaker.rib.loop_reason(peer, path.attributes)
    if loop is not None:
        return f"rejected: {loop}"
    if filters:
        communities = path.attributes.communities
        large = path.attributes.large_communities
        verdict = evaluate_filters(
            filters,
            network_from_prefix(key, family[0]),
            frozenset(communities.values) if communities is not None else frozenset(),
            frozenset(large.values) if large is not None else frozenset(),
        )
        return describe_verdict(verdict)
    if accepted:
        return "accepted (no import policy)"
    return "rejected by the import policy"


def _advertised(
    speaker: Speaker,
    peer: str,
    families: list[Family],
    network: IPv4Network | IPv6Network | None,
    address: IPv4Address | IPv6Address | None,
) -> list[dict[str, Any]]:
    rib = speaker.rib
    routes = []
    for family in families:
        table = rib.adj_rib_out(peer, family)
        for key in _selected(table, network, address, family):
            attributes = table[key]
            document = path_fields(family, key, attributes, _next_hop(attributes))
            document["to"] = peer
            routes.append(document)
    return routes


def _next_hop(attributes: PathAttributes) -> object:
    for attribute in attributes.attributes:
        if isinstance(attribute, NextHop):
            return attribute.address
        if isinstance(attribute, MpReachNlri) and attribute.next_hops:
            return attribute.next_hops[0]
    return None


# --------------------------------------------------------------------------------------------
# pybgp announce / withdraw


def announce(
    speaker: Speaker,
    prefix: str,
    communities: Iterable[str] = (),
    next_hop: str | None = None,
) -> dict[str, Any]:
    """Originate ``prefix`` now (until withdrawn or the speaker stops)."""
    network = _network(prefix)
    values = []
    for text in communities:
        try:
            values.append(parse_community(text))
        except ValueError as exc:
            raise ControlError(f"community {text!r}: {exc}") from None
    hop: IPv4Address | IPv6Address | None = None
    if next_hop is not None:
        try:
            hop = ip_address(next_hop)
        except ValueError:
            raise ControlError(f"next hop {next_hop!r} is not an IP address") from None
        if hop.version != network.version:
            raise ControlError(f"next hop {hop} is not of the family of {network}")
    speaker.originate(network, tuple(values), (), next_hop=hop)
    return {"announced": str(network)}


def withdraw(speaker: Speaker, prefix: str) -> dict[str, Any]:
    """Stop originating ``prefix`` (refused when pybgp does not originate it)."""
    network = _network(prefix)
    family = _FAMILY_BY_VERSION[network.version]
    entry = speaker.rib.lookup(family, prefix_from_network(network))
    if entry is None or not any(p.peer_id is None for p in entry.paths):
        raise ControlError(f"{network} is not originated here")
    speaker.withdraw(network)
    return {"withdrawn": str(network)}


def _network(prefix: str) -> IPv4Network | IPv6Network:
    try:
        return ip_network(prefix)
    except ValueError as exc:
        raise ControlError(f"{prefix!r} is not a prefix: {exc}") from None

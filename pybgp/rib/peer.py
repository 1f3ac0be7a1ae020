"""Per-peer state, and the export side: rules -> policy -> Adj-RIB-Out -> packed UPDATEs.

A :class:`PeerState` holds one peer's Adj-RIB-In tables (see ``table``), its Adj-RIB-Out
(``dict[prefix key, exported PathAttributes]`` per family: what the peer has been sent, so only
differences go out) and the caches that keep the hot paths per attribute set rather than per
prefix: interned Paths, normalised received attribute sets, and the exported attributes of each
best Path (rules of the road run once per (peer, Path), see ``export``).

The Adj-RIB-Out is per peer; best-path changes reach it through the peer's update group
(``pybgp.rib.groups``), which runs the export rules and encodes the UPDATEs once for all the
peers that are sent the same thing.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping, Sequence
from ipaddress import IPv4Address
from itertools import repeat
from operator import is_

import attrs

from pybgp.rib.export import ExportTarget, export_attributes, pack
from pybgp.rib.paths import Path
from pybgp.rib.policy import apply_route, make_route
from pybgp.rib.table import AdjRibIn, Entry
from pybgp.rib.types import PeerInfo, RibOptions
from pybgp.wire.attributes import PathAttributes
from pybgp.wire.constants import Family, RouteRefreshSubcode
from pybgp.wire.negotiated import Negotiated
from pybgp.wire.refresh import RouteRefresh, encode_route_refresh

IsClient = Callable[[str], bool]
"""Tells whether a peer id is a route-reflector client of ours."""

_ZERO_V4 = IPv4Address(0)


@attrs.define
class PeerState:
    """Everything the RIB holds for one peer: tables, caches and session facts."""

    info: PeerInfo
    local_as: int
    local_router_id: IPv4Address
    cluster_id: IPv4Address | None
    up: bool = False
    negotiated: Negotiated = attrs.field(factory=Negotiated)
    router_id: IPv4Address = _ZERO_V4
    route_refresh: bool = False
    enhanced_route_refresh: bool = False
    adj_in: dict[Family, AdjRibIn] = attrs.field(factory=dict)
    adj_out: dict[Family, dict[bytes, PathAttributes]] = attrs.field(factory=dict)
    disabled: set[Family] = attrs.field(factory=set)
    """Families disabled by RFC 7606 AFI/SAFI-disable: their routes are ignored until reset."""
    stale: dict[Family, set[bytes]] = attrs.field(factory=dict)
    """Prefixes not re-announced since an enhanced route refresh began (RFC 7313 §4), or since
    the session was lost in a graceful restart (RFC 4724 §4.2): withdrawn at the EoRR, or at
    the peer's End-of-RIB for the family."""
    restart_stale: set[Family] = attrs.field(factory=set)
    """Families kept over the peer's graceful restart: their ``stale`` set is swept at the
    peer's End-of-RIB (RFC 4724 §4.2) or by ``Rib.flush_stale``."""
    stale_twins: dict[Path, Path] = attrs.field(factory=dict)
    """Path -> its stale copy (same attributes, ``stale=True``), one per path."""
    held_end_of_rib: set[Family] = attrs.field(factory=set)
    """End-of-RIB markers not sent yet: selection deferral after our restart (RFC 4724 §4.1)."""
    paths: dict[tuple[object, ...], Path] = attrs.field(factory=dict)
    import_cache: dict[PathAttributes, tuple[PathAttributes, str | None]] = attrs.field(
        factory=dict
    )
    interned: dict[PathAttributes, PathAttributes] = attrs.field(factory=dict)
    export_cache: dict[Path, PathAttributes | None] = attrs.field(factory=dict)
    target: ExportTarget | None = None
    add_path_send: frozenset[Family] = frozenset()
    """Families sent with ADD-PATH (RFC 7911, set at session up): their ``adj_out`` keys are
    path keys and ``pybgp.rib.addpath`` computes them; the others get the best path only."""
    out_ids: dict[Family, dict[bytes, tuple[int, ...]]] = attrs.field(factory=dict)
    """ADD-PATH families: prefix key -> the path ids sent for it."""
    group_key: tuple[PeerInfo, Negotiated, Hashable] | None = None
    """The update group's key (``pybgp.rib.groups``) and the settings it was made from."""

    def receive_families(self) -> frozenset[Family]:
        """Families accepted from the peer (negotiated, configured, not disabled)."""
        return (self.negotiated.families & self.info.families) - self.disabled

    def send_families(self) -> frozenset[Family]:
        """Families sent to the peer."""
        return self.negotiated.families & self.info.families

    def keeps_received(self, options: RibOptions) -> bool:
        """Soft reconfiguration inbound: keep the pre-policy Adj-RIB-In."""
        return options.soft_reconfiguration_inbound or self.info.soft_reconfiguration_inbound

    def reset(self) -> None:
        """The session went down: forget everything learned and sent."""
        self.up = False
        self.adj_in.clear()
        self.adj_out.clear()
        self.stale.clear()
        self.restart_stale.clear()
        self.stale_twins.clear()
        self.held_end_of_rib.clear()
        self.disabled.clear()
        self.paths.clear()
        self.import_cache.clear()
        self.interned.clear()
        self.export_cache.clear()
        self.target = None
        self.add_path_send = frozenset()
        self.out_ids.clear()

    def session_lost(self) -> None:
        """The session went down but the peer is restarting (RFC 4724 §4.2): forget what was
        sent and the session's caches; keep the Adj-RIB-In (the caller marks it stale)."""
        self.up = False
        self.adj_out.clear()
        self.add_path_send = frozenset()
        self.out_ids.clear()
        self.held_end_of_rib.clear()
        self.disabled.clear()
        self.import_cache.clear()
        self.export_cache.clear()
        self.target = None

    def stale_twin(self, path: Path) -> Path:
        """The stale copy of ``path`` (made once)."""
        if path.stale:
            return path
        twin = self.stale_twins.get(path)
        if twin is None:
            twin = self.stale_twins[path] = attrs.evolve(path, stale=True)
        return twin

    def export_target(self) -> ExportTarget:
        """The receiving side as the export rules see it (cached)."""
        target = self.target
        if target is None:
            target = ExportTarget(
                self.info, self.negotiated, self.local_as, self.local_router_id, self.cluster_id
            )
            self.target = target
        return target

    def export(self, family: Family, path: Path, is_client: IsClient) -> PathAttributes | None:
        """Rules of the road for ``path`` to this peer (cached per path)."""
        cache = self.export_cache
        if path in cache:
            return cache[path]
        client = path.peer_id is not None and is_client(path.peer_id)
        result = export_attributes(self.export_target(), family, path, client)
        if result is not None:
            result = self.interned.setdefault(result, result)
        if len(cache) > 65536:
            cache.clear()
        cache[path] = result
        return result

    def export_keys(
        self, family: Family, path: Path, keys: Iterable[bytes], is_client: IsClient
    ) -> Iterator[tuple[PathAttributes | None, Sequence[bytes]]]:
        """(attributes or None, keys) runs for ``keys`` whose best path is ``path``."""
        attributes = self.export(family, path, is_client)
        policy = self.info.export_policy
        if attributes is None or policy is None:
            yield attributes, keys if isinstance(keys, Sequence) else list(keys)
            return
        groups: dict[PathAttributes | None, list[bytes]] = {}
        for key in keys:
            route = make_route(
                family, key, attributes, path.next_hop, path.peer_id, self.info.peer_id
            )
            after = policy(route)
            result: PathAttributes | None = None
            if after is not None:
                result, _ = apply_route(route, after, attributes)
                result = self.interned.setdefault(result, result)
            groups.setdefault(result, []).append(key)
        yield from groups.items()

    def resend_table(
        self, family: Family, loc: Mapping[bytes, Entry], is_client: IsClient, *, diff: bool
    ) -> list[bytes]:
        """Compute the whole Adj-RIB-Out of a family from the Loc-RIB ``loc``.

        With ``diff`` only what changed since the last computation is sent (policy change);
        without, everything (initial table).
        """
        peer = self
        by_path = _by_best_path(loc)
        old = peer.adj_out.get(family, {}) if diff else {}
        out: dict[bytes, PathAttributes] = {}
        announce: dict[PathAttributes, list[bytes]] = {}
        for path, keys in by_path.items():
            for attributes, run in self.export_keys(family, path, keys, is_client):
                if attributes is None:
                    continue
                if not old:  # the initial table: every key goes out, in C-level steps
                    if not out and len(run) == len(loc):
                        out = dict.fromkeys(loc, attributes)  # sized from the Loc-RIB at once
                    else:
                        out.update(zip(run, repeat(attributes)))
                    if attributes not in announce and isinstance(run, list):
                        announce[attributes] = run  # our own list (by_path's): no copy
                    else:
                        announce.setdefault(attributes, []).extend(run)
                    continue
                lst = announce.setdefault(attributes, [])
                get = old.get
                for key in run:
                    out[key] = attributes
                    if get(key) is not attributes:
                        lst.append(key)
        withdraw = [key for key in old if key not in out]
        peer.adj_out[family] = out
        return pack(family, announce, withdraw, peer.negotiated)

    def refresh_messages(self, family: Family) -> list[bytes]:
        """The whole Adj-RIB-Out of ``family`` again (RFC 2918 §4), framed by BoRR/EoRR when
        enhanced route refresh was negotiated (RFC 7313 §4)."""
        messages: list[bytes] = []
        if not self.up or family not in self.send_families():
            return messages
        enhanced = self.enhanced_route_refresh
        if enhanced:
            begin = RouteRefresh(family[0], family[1], RouteRefreshSubcode.BEGIN)
            messages.append(encode_route_refresh(begin))
        groups: dict[PathAttributes, list[bytes]] = {}
        for key, attributes in self.adj_out.get(family, {}).items():
            keys = groups.get(attributes)
            if keys is None:
                groups[attributes] = [key]
            else:
                keys.append(key)
        messages += pack(family, groups, (), self.negotiated)
        if enhanced:
            end = RouteRefresh(family[0], family[1], RouteRefreshSubcode.END)
            messages.append(encode_route_refresh(end))
        return messages


def _by_best_path(loc: Mapping[bytes, Entry]) -> dict[Path, list[bytes]]:
    """The prefix keys of a Loc-RIB grouped by best path. When one path is the best of every
    prefix (a node's originated blocks share one), that is found and the keys listed by
    C-level steps, without a per-prefix Python step."""
    values = loc.values()
    first = next(iter(values), None)
    if first is not None and type(first) is not tuple and all(map(is_, values, repeat(first))):
        return {first: list(loc)}  # type: ignore[dict-item]
    by_path: dict[Path, list[bytes]] = {}
    for key, entry in loc.items():
        best: Path = entry[2] if type(entry) is tuple else entry  # type: ignore[assignment]
        keys = by_path.get(best)
        if keys is None:
            by_path[best] = [key]
        else:
            keys.append(key)
    return by_path


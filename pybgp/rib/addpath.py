"""ADD-PATH (RFC 7911) in the RIB: several paths per prefix from one peer, and to one peer.

Theory of operation
-------------------
*Receive.* A family negotiated for receiving with ADD-PATH (RFC 7911 §4: we said receive, the
peer said send) gets an Adj-RIB-In (``AdjRibIn.add_path``) whose keys are *path keys*: the
4-octet path identifier followed by the prefix key, i.e. the NLRI exactly as it came on the wire
(RFC 7911 §3). Each path key maps to a Path interned per (peer, attribute set, next hop, path
id), so two paths of one peer for a prefix are two candidates of the prefix's Loc-RIB entry and
the decision runs over all of them (RFC 4271 §9.1; the received path id is the last tie-breaker,
see ``decision``). A withdrawal names (prefix, path id) and removes that path only; an
announcement of a known (prefix, path id) replaces that path (RFC 7911 §3: the pair identifies
the path). The Adj-RIB-In holds no table of its own (``table.AcceptedRoutes``): the peer's
path for a path key is the Loc-RIB candidate with that peer and path id, and the engine's loops
(``selection.Selection``) serve both forms of key, checking one flag per UPDATE.

*Send.* For a family negotiated for sending (we said send, the peer said receive), the peer's
Adj-RIB-Out holds path keys too (``PeerState.adj_out``) plus, per prefix, the ids sent
(``PeerState.out_ids``). What is sent is recomputed per touched prefix from the Loc-RIB entry's
candidates, not from best-path changes alone (a second path that arrives changes no selection
but must be advertised): ``add_paths_send = "all"`` sends every candidate the export rules let
through (RFC 4271 §9.2 split horizon, RFC 4456 §8 reflection, RFC 1997, the export policy, all
per path), ``N`` the first N of those in decision order (the selected paths, then the rest
ranked by the same decision). The ids sent are ours (RFC 7911 §3: an identifier is significant
to the sender only): :class:`PathIds` gives one per *source*, (peer, received path id) or
"originated here", so a path keeps its id for every prefix and as long as its source exists; a
path re-announced with other attributes replaces itself under the same id, and a path that
leaves the set is withdrawn by its id.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Mapping, Sequence

import attrs

from pybgp.rib.decision import decide
from pybgp.rib.export import pack as pack_updates
from pybgp.rib.paths import Path
from pybgp.rib.peer import IsClient, PeerState
from pybgp.rib.table import Entry, entry_candidates, entry_selected
from pybgp.wire.attributes import PathAttributes
from pybgp.wire.constants import IPV4_UNICAST, Family
from pybgp.wire.update import Update

_ID = struct.Struct("!I")


def path_keys(keys: Sequence[bytes], ids: Sequence[int] | None) -> list[bytes]:
    """Path keys (4-octet id + prefix key) of ``keys``; ``ids`` None = id 0 for every key."""
    pack = _ID.pack
    if ids is None:
        zero = pack(0)
        return [zero + key for key in keys]
    return [pack(i) + key for i, key in zip(ids, keys, strict=True)]


def update_keys(
    update: Update, add_path_receive: frozenset[Family]
) -> tuple[Sequence[bytes], Sequence[bytes], Sequence[bytes], Sequence[bytes]]:
    """The keys of an UPDATE's (withdrawn, NLRI, MP_UNREACH, MP_REACH) fields: prefix keys,
    or path keys in the families received with ADD-PATH (RFC 7911 §3)."""
    withdrawn: Sequence[bytes] = update.withdrawn
    nlri: Sequence[bytes] = update.nlri
    attributes = update.attributes
    unreach = attributes.mp_unreach
    reach = attributes.mp_reach
    unreach_keys: Sequence[bytes] = unreach.withdrawn if unreach is not None else ()
    reach_keys: Sequence[bytes] = reach.nlri if reach is not None else ()
    if add_path_receive:
        if IPV4_UNICAST in add_path_receive:
            withdrawn = path_keys(withdrawn, update.withdrawn_path_ids)
            nlri = path_keys(nlri, update.nlri_path_ids)
        if unreach is not None and unreach.family in add_path_receive:
            unreach_keys = path_keys(unreach_keys, unreach.path_ids)
        if reach is not None and reach.family in add_path_receive:
            reach_keys = path_keys(reach_keys, reach.path_ids)
    return withdrawn, nlri, unreach_keys, reach_keys


def by_path_id(keys: Iterable[bytes]) -> dict[int, list[bytes]]:
    """Path keys grouped by path id (one Path per id)."""
    keys = keys if isinstance(keys, list | tuple) else list(keys)
    raw_ids = {key[:4] for key in keys}
    if len(raw_ids) == 1:  # the usual UPDATE: one path id for all its prefixes
        return {int.from_bytes(raw_ids.pop()): list(keys)}
    groups: dict[bytes, list[bytes]] = {}
    for key in keys:
        same = groups.get(key[:4])
        if same is None:
            groups[key[:4]] = [key]
        else:
            same.append(key)
    return {int.from_bytes(raw): same for raw, same in groups.items()}


@attrs.define
class PathIds:
    """The path ids we send (RFC 7911 §3), one per source: (peer id, received path id), or
    (None, 0) for routes originated here. Allocated on first use and never reused, so an id
    names the same source for every prefix and every ADD-PATH peer."""

    ids: dict[tuple[str | None, int], int] = attrs.field(factory=dict)

    def of(self, path: Path) -> int:
        """The id path ``path`` is sent with."""
        key = (path.peer_id, path.path_id)
        found = self.ids.get(key)
        if found is None:
            found = self.ids[key] = len(self.ids) + 1
        return found


# ---------------------------------------------------------------------------- send


def touched_for(
    touched: Iterable[tuple[Family, Sequence[bytes], str | None]], family: Family, peer_id: str
) -> dict[bytes, None]:
    """The prefixes of ``family`` to recompute for ``peer_id``: those touched by any source
    but the peer itself (its own paths are never sent back to it, RFC 4271 §9.2, so they
    change nothing it is sent, "all" or N)."""
    prefixes: dict[bytes, None] = {}
    for touched_family, keys, source in touched:
        if touched_family == family and source != peer_id:
            prefixes.update(dict.fromkeys(keys))
    return prefixes


def ordered_candidates(
    entry: Entry | None, limit: int, always_compare_med: bool
) -> tuple[Path, ...]:
    """The candidates of ``entry`` in decision order when only ``limit`` of them will be sent
    (0 = all: any order): the selected paths, then the rest, each the winner of the decision
    over those left (RFC 4271 §9.1.2)."""
    if entry is None:
        return ()
    candidates = entry_candidates(entry)
    if limit == 0 or len(candidates) <= limit:
        return candidates
    order = list(entry_selected(entry))
    rest = list(candidates[len(order) :])
    while rest:
        winner = decide(rest, always_compare_med=always_compare_med)[0][0]
        order.append(winner)
        rest.remove(winner)
    return tuple(order)


def export_paths(
    peer: PeerState,
    family: Family,
    prefixes: Iterable[bytes],
    loc: Mapping[bytes, Entry],
    ids: PathIds,
    is_client: IsClient,
    always_compare_med: bool,
) -> list[bytes]:
    """Bring the ADD-PATH Adj-RIB-Out of ``prefixes`` in line with the Loc-RIB ``loc``.

    Returns the UPDATEs that carry the difference (withdrawals by path id first); the peer's
    ``adj_out``/``out_ids`` are updated. Prefixes are grouped by their (shared) Loc-RIB entry,
    so the rules of the road run once per entry, the export policy once per prefix and path.
    """
    out = peer.adj_out.setdefault(family, {})
    index = peer.out_ids.setdefault(family, {})
    limit = peer.info.add_paths_send
    policy = peer.info.export_policy
    pack = _ID.pack
    by_entry: dict[Entry | None, list[bytes]] = {}
    get = loc.get
    for key in prefixes:
        same = by_entry.get(entry := get(key))
        if same is None:
            by_entry[entry] = [key]
        else:
            same.append(key)
    announce: dict[PathAttributes, list[bytes]] = {}
    withdrawn: list[bytes] = []

    def update(key: bytes, wanted: Sequence[tuple[int, PathAttributes]]) -> None:
        old = index.get(key, ())
        for lid, attributes in wanted:
            path_key = pack(lid) + key
            if out.get(path_key) is not attributes:
                out[path_key] = attributes
                announce.setdefault(attributes, []).append(path_key)
        new = tuple(lid for lid, _ in wanted)
        for lid in old:
            if lid not in new:
                path_key = pack(lid) + key
                if out.pop(path_key, None) is not None:
                    withdrawn.append(path_key)
        if new:
            index[key] = new
        elif old:
            del index[key]

    for entry, keys in by_entry.items():
        candidates = ordered_candidates(entry, limit, always_compare_med)
        if policy is None:
            wanted: list[tuple[int, PathAttributes]] = []
            for path in candidates:
                attributes = peer.export(family, path, is_client)
                if attributes is not None:
                    wanted.append((ids.of(path), attributes))
                    if len(wanted) == limit:
                        break
            if not index or index.keys().isdisjoint(keys):
                # Nothing sent for these prefixes yet: all new, in C-level calls.
                if wanted:
                    for lid, attributes in wanted:
                        path_keys_ = [pack(lid) + key for key in keys]
                        out.update(dict.fromkeys(path_keys_, attributes))
                        announce.setdefault(attributes, []).extend(path_keys_)
                    index.update(dict.fromkeys(keys, tuple(lid for lid, _ in wanted)))
                continue
            for key in keys:
                update(key, wanted)
            continue
        per_key: dict[bytes, list[tuple[int, PathAttributes]]] = {key: [] for key in keys}
        for path in candidates:
            lid = ids.of(path)
            for attributes, run in peer.export_keys(family, path, keys, is_client):
                if attributes is not None:
                    for key in run:
                        per_key[key].append((lid, attributes))
        for key, wanted in per_key.items():
            update(key, wanted[:limit] if limit else wanted)
    return pack_updates(family, announce, withdrawn, peer.negotiated)


def resend_keys(
    peer: PeerState, family: Family, loc: Mapping[bytes, Entry], *, diff: bool
) -> list[bytes]:
    """The prefixes to recompute for a whole-table send: the Loc-RIB's, and (``diff``) those
    sent before and gone since; without ``diff`` the Adj-RIB-Out starts empty."""
    if not diff:
        peer.adj_out[family] = {}
        peer.out_ids[family] = {}
        return list(loc)
    index = peer.out_ids.get(family, {})
    return list(loc) + [key for key in index if key not in loc]


__all__ = [
    "PathIds",
    "by_path_id",
    "export_paths",
    "ordered_candidates",
    "path_keys",
    "resend_keys",
    "touched_for",
    "update_keys",
]

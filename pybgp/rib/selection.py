"""The Loc-RIB side of every change: candidate paths in, best-path changes queued.

A :class:`Selection` owns the Loc-RIB (``table.LocRib``), the queue of best-path changes that
the next flush exports (*groups* ``(family, prefixes, old, new, reason)``: one group for the 500
prefixes of an UPDATE that changed the same way, not one object per prefix) and, while some
peer gets ADD-PATH, the prefixes whose candidates changed.

:meth:`Selection.install` and :meth:`Selection.withdraw` are the hot loops of a full-table
load: they take the keys of one UPDATE with one shared Path, update the peer's Adj-RIB-In
``routes`` and the Loc-RIB together, and run the decision only where a prefix has more than
one candidate (``LocRib.transition``, memoised per shared entry). For a prefix known by one
peer only, the Loc-RIB entry *is* the shared Path. Families received with ADD-PATH take the
path-key twins of these loops in ``addpath``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import cast

import attrs

from pybgp.rib.decision import BestPathReason
from pybgp.rib.paths import Path
from pybgp.rib.table import AdjRibIn, Change, Entry, LocRib, candidate_from
from pybgp.rib.types import ChangeGroup
from pybgp.wire.constants import Family

_ONLY = BestPathReason.ONLY_PATH
_WITHDRAWN = BestPathReason.WITHDRAWN

Touched = list[tuple[Family, Sequence[bytes], str | None]]
"""(family, prefixes, source peer or None) whose candidates changed."""


@attrs.define
class Selection:
    """The Loc-RIB, the queued best-path changes, and the touched prefixes (ADD-PATH)."""

    loc: LocRib
    pending: list[ChangeGroup] = attrs.field(factory=list)
    """Best-path change groups not exported yet (taken by :meth:`take`)."""
    touched: Touched | None = None
    """Prefixes whose candidates changed, kept only while a peer gets ADD-PATH (RFC 7911):
    its paths follow every candidate, not only the selected ones. A path's source never gets
    it back, so its own announcements are skipped for it. None = no peer gets ADD-PATH."""

    def watch(self, on: bool) -> None:
        """Record touched prefixes from now on (``on``), or stop."""
        self.touched = (self.touched or []) if on else None

    def take(self) -> tuple[list[ChangeGroup], Touched]:
        """The queued changes and touched prefixes, leaving both empty."""
        groups = self.pending
        self.pending = []
        touched = self.touched or []
        if touched:
            self.touched = []
        return groups, touched

    def install(self, family: Family, table: AdjRibIn, keys: Iterable[bytes], p: Path) -> None:
        """Accept ``p`` for ``keys`` (the hot loop of a full-table load).

        With ADD-PATH the keys are path keys, all with ``p``'s path id (one Path per id).
        """
        routes = table.routes
        loc = routes.loc
        keys = keys if isinstance(keys, list | tuple) else list(keys)
        if table.rejected:
            table.rejected.difference_update(keys)
        batch = dict.fromkeys(keys, p)
        if len(batch) != len(keys):
            keys = list(batch)  # the same prefix twice in one UPDATE
        if self.touched is not None:
            self.touch(family, table, keys, p.peer_id)
        few = routes.few
        if few is not None:  # a small peer's keys (AcceptedRoutes.few): all accepted now
            few.update(batch)
            if len(few) > routes.FEW:
                routes.few = None
        if table.add_path:
            keys = [key[4:] for key in keys]  # the prefixes (RFC 7911: one path id, p's)
            batch = dict.fromkeys(keys, p)
        if loc.keys().isdisjoint(batch):
            # New prefixes (a full table): best = the only path, no decision; C-level calls.
            loc.update(batch)
            routes.count += len(keys)
            self.pending.append((family, keys, (), (p,), _ONLY))
            return
        pending = self.pending
        transition = self.loc.transition
        peer_id, path_id = p.peer_id, p.path_id
        fresh: list[bytes] = []
        added: list[bytes] = []
        replaced: dict[Path, list[bytes]] = {}
        other: dict[int, list[bytes]] = {}
        seen: dict[int, Change] = {}
        get = loc.get
        for key in keys:
            entry = get(key)
            if entry is None:
                fresh.append(key)
                continue
            if type(entry) is not tuple:
                old = cast(Path, entry)
                if old is p:
                    continue
                if old.peer_id != peer_id or old.path_id != path_id:
                    added.append(key)  # another peer's path: p is a second candidate
                    continue
                loc[key] = p  # the peer's only path, replaced: no decision
                same = replaced.get(old)
                if same is None:
                    replaced[old] = [key]
                else:
                    same.append(key)
                continue
            found = candidate_from(entry, peer_id, path_id)
            if found is None:
                added.append(key)
                continue
            if found is p:
                continue
            new_entry, change = transition(entry, found, p)
            loc[key] = new_entry  # type: ignore[assignment]
            if change is not None:
                # Changes are shared (memoised) objects: group by identity, it is cheaper
                # than hashing nested tuples (``seen`` keeps them alive, ids stay unique).
                same = other.get(id(change))
                if same is None:
                    other[id(change)] = [key]
                    seen[id(change)] = change
                else:
                    same.append(key)
        routes.count += len(fresh) + len(added)
        if fresh:
            loc.update(dict.fromkeys(fresh, p))
            pending.append((family, fresh, (), (p,), _ONLY))
        for old, same in replaced.items():
            pending.append((family, same, (old,), (p,), _ONLY))
        for ident, same in other.items():
            pending.append((family, same, *seen[ident]))
        if added:
            self.add_candidates(family, loc, added, p)

    def add_candidates(
        self, family: Family, loc: dict[bytes, Entry], keys: Sequence[bytes], p: Path
    ) -> None:
        """Add ``p`` as a new candidate of ``keys`` (new from this peer), batched.

        The prefixes of one UPDATE usually share a handful of Loc-RIB entries (the same path,
        or the same shared tuple), so the decision runs once per distinct entry.
        """
        entries = list(map(loc.get, keys))
        transition = self.loc.transition
        outcome = {entry: transition(entry, None, p) for entry in set(entries)}
        new_entry = {entry: result[0] for entry, result in outcome.items()}
        loc.update(zip(keys, map(new_entry.__getitem__, entries), strict=True))  # type: ignore[arg-type]
        pending = self.pending
        if len(outcome) == 1:
            change = next(iter(outcome.values()))[1]
            if change is not None:
                pending.append((family, keys, *change))
            return
        changed = {entry: result[1] for entry, result in outcome.items() if result[1] is not None}
        if not changed:
            return
        groups: dict[Change, list[bytes]] = {}
        for key, entry in zip(keys, entries, strict=True):
            change = changed.get(entry)
            if change is not None:
                same = groups.get(change)
                if same is None:
                    groups[change] = [key]
                else:
                    same.append(key)
        for change, same in groups.items():
            pending.append((family, same, *change))

    def withdraw(self, family: Family, table: AdjRibIn, keys: Iterable[bytes]) -> None:
        """Remove the accepted paths of ``keys`` (path keys with ADD-PATH: RFC 7911 §3, a
        withdrawal names the prefix and the path id) from the Loc-RIB."""
        routes = table.routes
        if self.touched is not None:
            keys = list(keys)
            self.touch(family, table, keys, None)
        if not routes.count:
            return
        few = routes.few
        if few:
            keys = keys if isinstance(keys, list | tuple) else list(keys)
            for key in keys:
                few.pop(key, None)
        loc = routes.loc
        pending = self.pending
        transition = self.loc.transition
        peer_id, add_path = routes.peer_id, routes.add_path
        path_id = 0
        removed = 0
        gone: dict[Path, list[bytes]] = {}
        other: dict[int, list[bytes]] = {}
        seen: dict[int, Change] = {}
        for key in keys:
            if add_path:
                key, path_id = key[4:], int.from_bytes(key[:4])
            entry = loc.get(key)
            if entry is None:
                continue
            if type(entry) is not tuple:
                old = cast(Path, entry)
                if old.peer_id != peer_id or old.path_id != path_id:
                    continue
                del loc[key]
                removed += 1
                same = gone.get(old)
                if same is None:
                    gone[old] = [key]
                else:
                    same.append(key)
                continue
            found = candidate_from(entry, peer_id, path_id)
            if found is None:
                continue
            removed += 1
            new_entry, change = transition(entry, found, None)
            if new_entry is None:
                loc.pop(key, None)
            else:
                loc[key] = new_entry
            if change is not None:
                same = other.get(id(change))
                if same is None:
                    other[id(change)] = [key]
                    seen[id(change)] = change
                else:
                    same.append(key)
        routes.count -= removed
        for old, same in gone.items():
            pending.append((family, same, (old,), (), _WITHDRAWN))
        for ident, same in other.items():
            pending.append((family, same, *seen[ident]))

    def drop(self, family: Family, table: AdjRibIn) -> None:
        """Withdraw every accepted path of ``table``'s peer (its session went down, the family
        was disabled): by its keys for a peer with few routes (``AcceptedRoutes.few``), else
        in one walk of the Loc-RIB, where the peer's paths are."""
        routes = table.routes
        if routes.few is not None or routes.add_path or self.touched is not None:
            self.withdraw(family, table, list(routes))
            return
        if not routes.count:
            return
        loc = routes.loc
        pending = self.pending
        transition = self.loc.transition
        peer_id = routes.peer_id
        dead: list[bytes] = []
        gone: dict[Path, list[bytes]] = {}
        other: dict[int, list[bytes]] = {}
        seen: dict[int, Change] = {}
        for key, entry in loc.items():
            if type(entry) is not tuple:
                old = cast(Path, entry)
                if old.peer_id == peer_id:
                    dead.append(key)
                    same = gone.get(old)
                    if same is None:
                        gone[old] = [key]
                    else:
                        same.append(key)
                continue
            for candidate in cast("tuple[Path, ...]", entry[2:]):
                if candidate.peer_id == peer_id:
                    break
            else:
                continue
            new_entry, change = transition(entry, candidate, None)
            if new_entry is None:
                dead.append(key)
            else:
                loc[key] = new_entry  # an existing key: the walk may go on
            if change is not None:
                same = other.get(id(change))
                if same is None:
                    other[id(change)] = [key]
                    seen[id(change)] = change
                else:
                    same.append(key)
        for key in dead:
            del loc[key]
        routes.count = 0
        routes.few = {}  # none left: a small index again
        for old, same in gone.items():
            pending.append((family, same, (old,), (), _WITHDRAWN))
        for ident, same in other.items():
            pending.append((family, same, *seen[ident]))

    def change(self, family: Family, key: bytes, old: Path | None, new: Path | None) -> None:
        """Replace candidate ``old`` by ``new`` for one prefix (origination)."""
        if self.touched is not None:
            self.touched.append((family, (key,), None))
        result = self.loc.change(self.loc.table(family), key, old, new)
        if result is not None:
            self.pending.append((family, (key,), *result))

    def touch(
        self, family: Family, table: AdjRibIn, keys: Sequence[bytes], source: str | None
    ) -> None:
        """Record that the candidates of ``keys`` changed (``source``: the peer they came from)."""
        assert self.touched is not None
        prefixes = [key[4:] for key in keys] if table.add_path else keys
        self.touched.append((family, prefixes, source))


__all__ = ["Selection", "Touched"]

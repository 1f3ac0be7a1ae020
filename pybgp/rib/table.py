"""Table storage: Adj-RIB-In per peer and family, and the Loc-RIB.

Layout (chosen for a million prefixes; see ``benchmarks/ingest_core.py``):

* prefix keys are the RFC 4271 §4.3 NLRI bytes (``pybgp.wire.nlri``);
* the Loc-RIB is the only per-prefix table: an Adj-RIB-In (:class:`AdjRibIn`) reads a peer's
  accepted routes from it (:class:`AcceptedRoutes`: the peer's candidates), the Path shared
  by all prefixes of one (peer, attribute set); a family received with ADD-PATH names them by
  path key (path id + prefix key, ``pybgp.rib.addpath``), one Path per (peer, attribute set,
  path id);
* a Loc-RIB entry is the Path itself when one peer knows the prefix (the common case: no tuple,
  no per-prefix object), or a tuple ``(reason, selected_count, path, path, ...)`` holding every
  candidate with the selected ones (best, then ECMP members) first; such tuples are shared
  between prefixes that went through the same transition (``LocRib.transition``).

Stale routes (enhanced route refresh, graceful restart) need no per-prefix flag:
``PeerState.stale`` is a set of prefix keys per family, emptied as the peer re-announces, and
what remains is withdrawn at the end (see ``pybgp.rib.stale``); over a graceful restart the
peer's paths are replaced by their stale twins (one per Path), in the Loc-RIB like any other.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any, cast

import attrs

from pybgp.rib.decision import BestPathReason, decide, rank_winner
from pybgp.rib.paths import Path

Entry = Path | tuple[object, ...]
"""A Loc-RIB value: one Path, or (reason as int, selected count, *candidates)."""


def entry_candidates(entry: Entry) -> tuple[Path, ...]:
    """Every candidate path of an entry, the selected ones first."""
    if type(entry) is tuple:
        return entry[2:]  # type: ignore[return-value]
    return (entry,)  # type: ignore[return-value]


def entry_selected(entry: Entry | None) -> tuple[Path, ...]:
    """The selected paths of an entry (best first), empty for None."""
    if entry is None:
        return ()
    if type(entry) is tuple:
        return entry[2 : 2 + entry[1]]  # type: ignore[operator, return-value]
    return (entry,)  # type: ignore[return-value]


def entry_reason(entry: Entry) -> BestPathReason:
    """Why the best path of an entry won."""
    if type(entry) is tuple:
        return _REASONS[cast(int, entry[0])]
    return BestPathReason.ONLY_PATH


def candidate_from(entry: Entry | None, peer_id: str | None, path_id: int) -> Path | None:
    """The candidate of a Loc-RIB entry learned from ``peer_id`` with ``path_id``, or None."""
    if entry is None:
        return None
    if type(entry) is tuple:
        for path in entry[2:]:
            if path.peer_id == peer_id and path.path_id == path_id:  # type: ignore[attr-defined]
                return path  # type: ignore[return-value]
        return None
    path = cast(Path, entry)
    return path if path.peer_id == peer_id and path.path_id == path_id else None


class AcceptedRoutes(Mapping[bytes, Path]):
    """One peer's accepted routes of one family, read from the Loc-RIB: no table of its own.

    Every accepted path is a candidate of its prefix's Loc-RIB entry (the entry holds all of
    them, selected or not), so a second per-prefix dictionary per peer would only repeat what
    the Loc-RIB holds; this view finds the peer's candidate instead (one dictionary lookup and a
    look at the entry's few candidates). Iterating walks the Loc-RIB of the family (what a peer
    going down costs, as in BIRD's table flush); ``count`` keeps ``len`` O(1), and is kept
    exact by the only writers, ``selection.Selection`` and ``addpath``.

    A peer with few routes keeps their keys too (``few``, up to :attr:`FEW` of them), so that
    listing them or the peer going down costs its own routes, not a walk of a full Loc-RIB; a
    peer that sends more (a full table) drops that index and is walked.

    Keys are prefix keys, or path keys (4-octet path id + prefix key) for a family received
    with ADD-PATH (RFC 7911): then the peer's candidate must also have that path id.
    """

    __slots__ = ("add_path", "count", "few", "loc", "peer_id")

    FEW = 16384
    """The most keys kept in ``few`` (~40 bytes a key, at most ~0.7 MiB a peer): a walk of a
    million-prefix Loc-RIB takes ~80 ms, which a peer with a full table pays once when it goes
    down (beside ~1 s of withdrawals), but a small peer should not."""

    def __init__(
        self, loc: dict[bytes, Entry], peer_id: str | None, add_path: bool = False
    ) -> None:
        self.loc = loc
        """The Loc-RIB table of the family (shared with ``LocRib.tables``)."""
        self.peer_id = peer_id
        """The peer (None: the routes originated here, whose paths have no peer)."""
        self.add_path = add_path
        self.count = 0
        """How many of the Loc-RIB's candidates came from this peer (paths, with ADD-PATH)."""
        self.few: dict[bytes, object] | None = {}
        """The keys of the accepted routes, in arrival order, while there are at most
        :attr:`FEW` of them; None after (then they are found by walking the Loc-RIB)."""

    def path(self, key: bytes) -> Path | None:
        """The accepted path of ``key``, or None."""
        if self.add_path:
            return candidate_from(self.loc.get(key[4:]), self.peer_id, int.from_bytes(key[:4]))
        return candidate_from(self.loc.get(key), self.peer_id, 0)

    def pairs(self) -> Iterator[tuple[bytes, Path]]:
        """(key, path) of every accepted route, in Loc-RIB order."""
        if not self.count:
            return
        if self.few is not None:
            for key in list(self.few):
                path = self.path(key)
                if path is not None:
                    yield key, path
            return
        peer_id = self.peer_id
        add_path = self.add_path
        for prefix, entry in self.loc.items():
            if type(entry) is tuple:
                for path in cast("tuple[Path, ...]", entry[2:]):
                    if path.peer_id == peer_id:
                        yield (path.path_id.to_bytes(4) + prefix if add_path else prefix), path
            elif cast(Path, entry).peer_id == peer_id:
                path = cast(Path, entry)
                yield (path.path_id.to_bytes(4) + prefix if add_path else prefix), path

    def __getitem__(self, key: bytes) -> Path:
        path = self.path(key)
        if path is None:
            raise KeyError(key)
        return path

    def __contains__(self, key: object) -> bool:
        return isinstance(key, bytes) and self.path(key) is not None

    def __iter__(self) -> Iterator[bytes]:
        return (key for key, _ in self.pairs())

    def __len__(self) -> int:
        return self.count

    def __repr__(self) -> str:
        return f"AcceptedRoutes({self.peer_id}, {self.count} routes)"


@attrs.define
class AdjRibIn:
    """One peer's routes for one family."""

    routes: AcceptedRoutes
    """Post-policy: what takes part in the decision (read from the Loc-RIB, see
    :class:`AcceptedRoutes`)."""
    received: dict[bytes, Path] | None = None
    """Pre-policy copy, kept with soft reconfiguration inbound."""
    rejected: set[bytes] = attrs.field(factory=set)
    """Received but rejected (loop prevention or import policy); kept for the counters."""

    @property
    def add_path(self) -> bool:
        """Received with ADD-PATH (RFC 7911): every key above is a *path key*, the 4-octet path
        id then the prefix key (the NLRI as it came on the wire), so a peer keeps one path per
        id (see ``pybgp.rib.addpath``); counts are then paths, not prefixes."""
        return self.routes.add_path

    @property
    def received_count(self) -> int:
        """Prefixes the peer announced and has not withdrawn."""
        if self.received is not None:
            return len(self.received)
        return len(self.routes) + len(self.rejected)


Change = tuple[tuple[Path, ...], tuple[Path, ...], BestPathReason]
"""(old selected, new selected, reason) of one prefix; shared between prefixes (memoised)."""

_REASONS = tuple(BestPathReason)


@attrs.define
class LocRib:
    """Best paths per family, with the candidate paths per prefix.

    Entry transitions are memoised: the decision depends only on the candidates, so
    ``(entry, removed path, added path) -> (new entry, change)`` is computed once and the
    resulting entry tuple is *shared* by every prefix that went through the same transition
    (a second peer announcing the same table costs one decision per attribute-set pair, and no
    per-prefix tuple).
    """

    always_compare_med: bool = False
    multipath: int = 1
    tables: dict[tuple[int, int], dict[bytes, Entry]] = attrs.field(factory=dict)
    memo: dict[tuple[object, ...], tuple[Entry | None, Change | None]] = attrs.field(factory=dict)
    pairs: dict[tuple[object, Path], tuple[Entry, Change | None]] = attrs.field(factory=dict)
    memo_limit: int = 65536
    hits: int = 0
    """Memo hits since the last reset: a full memo is only recycled when it was paying off."""
    memo_on: bool = True
    """False after a memo filled up without paying off; retried after ``8 * memo_limit``."""
    skipped: int = 0

    def table(self, family: tuple[int, int]) -> dict[bytes, Entry]:
        """The table of a family (created empty on first use)."""
        table = self.tables.get(family)
        if table is None:
            table = self.tables[family] = {}
        return table

    def decide(self, candidates: Sequence[Path]) -> Entry:
        """Run the decision over ``candidates`` (two or more) and make the entry."""
        selected, reason = decide(
            candidates, always_compare_med=self.always_compare_med, multipath=self.multipath
        )
        rest = tuple(p for p in candidates if p not in selected)
        return (int(reason), len(selected), *selected, *rest)

    def transition(
        self, entry: Entry | None, remove: Path | None, add: Path | None
    ) -> tuple[Entry | None, Change | None]:
        """The entry after replacing candidate ``remove`` by ``add``, and the change (or None)."""
        if type(entry) is not tuple and entry is not None and remove is None and add is not None:
            # One candidate, a second arrives (a second full table): usually decided by
            # LOCAL_PREF .. ORIGIN in one tuple comparison; memoised per pair.
            pair = (entry, add)
            hit = self.pairs.get(pair) if self.memo_on or self._retry() else None
            if hit is not None:
                self.hits += 1
                return hit
            quick = rank_winner(entry, add)  # type: ignore[arg-type]
            if quick is not None:
                winner, loser, reason = quick
                change: Change | None = None
                if winner is add:
                    change = ((entry,), (add,), reason)  # type: ignore[assignment]
                pair_result: tuple[Entry, Change | None] = ((int(reason), 1, winner, loser), change)
                if self.memo_on and (
                    len(self.pairs) < self.memo_limit or self._recycle(self.pairs)
                ):
                    self.pairs[pair] = pair_result
                return pair_result
        memo_key = (entry, remove, add)
        cached = self.memo.get(memo_key) if self.memo_on or self._retry() else None
        if cached is not None:
            self.hits += 1
            return cached
        result: tuple[Entry | None, Change | None]
        if entry is None:
            result = (
                (add, ((), (add,), BestPathReason.ONLY_PATH)) if add is not None else (None, None)
            )
        elif (
            type(entry) is tuple
            and add is None
            and len(entry) == 4
            and (remove is entry[2] or remove is entry[3])
        ):
            # Two candidates, one leaves: the other is the only path (no decision).
            other: Path = entry[3] if remove is entry[2] else entry[2]  # type: ignore[assignment]
            old = entry_selected(entry)
            result = (other, None if old == (other,) else (old, (other,), BestPathReason.ONLY_PATH))
        else:
            old = entry_selected(entry)
            candidates = [p for p in entry_candidates(entry) if p is not remove]
            if add is not None:
                candidates.append(add)
            if not candidates:
                result = (None, (old, (), BestPathReason.WITHDRAWN))
            else:
                new_entry = candidates[0] if len(candidates) == 1 else self.decide(candidates)
                new = entry_selected(new_entry)
                change = None if new == old else (old, new, entry_reason(new_entry))
                result = (new_entry, change)
        if self.memo_on and (len(self.memo) < self.memo_limit or self._recycle(self.memo)):
            self.memo[memo_key] = result
        return result

    def change(
        self,
        table: dict[bytes, Entry],
        key: bytes,
        remove: Path | None,
        add: Path | None,
    ) -> Change | None:
        """Replace candidate ``remove`` by ``add`` (either may be None) for prefix ``key``.

        Returns ``(old selected, new selected, reason)`` when the selection changed, else None.
        """
        new_entry, change = self.transition(table.get(key), remove, add)
        if new_entry is None:
            table.pop(key, None)
        else:
            table[key] = new_entry
        return change

    def _recycle(self, memo: dict[Any, Any]) -> bool:
        """A memo is full: start it afresh if it was paying off, else stop filling it (a
        table whose transitions never repeat would only churn it)."""
        memo.clear()
        if self.hits * 4 < self.memo_limit:
            self.memo_on = False
            self.skipped = 0
            return False
        self.hits = 0
        return True

    def _retry(self) -> bool:
        """Count a transition done without the memos; True when it is time to try again."""
        self.skipped += 1
        if self.skipped > 8 * self.memo_limit:
            self.memo_on = True
            self.hits = 0
        return self.memo_on

    def forget(self) -> None:
        """Drop the memos (a peer went away: its paths need not stay alive in them)."""
        self.memo.clear()
        self.pairs.clear()
        self.hits = 0
        self.memo_on = True

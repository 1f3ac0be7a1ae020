"""RFC 4271 §9.1 best-path selection, with the reason the winner won.

Theory of operation
-------------------
Every :class:`~pybgp.rib.paths.Path` carries its decision data, computed once when the path
object is interned (one object per (peer, attribute set)): ``rank`` = (-LOCAL_PREF,
not-locally-originated, AS_PATH length, ORIGIN), ``med``, ``neighbor_as``, ``ibgp``,
``cluster_length``, ``router_id_value`` and ``address_key``. Deciding between candidates is then a
handful of tuple comparisons, never a walk over attributes.

The steps, in order (RFC 4271 §9.1.2.2, RFC 4456 §9; "locally originated" sits where most
implementations put it, right after LOCAL_PREF):

0. a fresh path over a stale one (kept over a peer's graceful restart: RFC 4724 §4.2 says
   stale routes should be treated as less preferred);
1. highest LOCAL_PREF (eBGP-learned paths carry the configured default, see ``paths``);
2. locally originated over learned;
3. shortest AS_PATH (AS_SET counts 1, confederation segments 0: §9.1.2.2 a);
4. lowest ORIGIN (§9.1.2.2 b);
5. lowest MED among paths from the same neighbouring AS (§9.1.2.2 c; a missing MED is 0;
   ``always_compare_med`` compares across neighbour ASes);
6. eBGP-learned over iBGP-learned (§9.1.2.2 d); (§9.1.2.2 e, IGP cost to the next hop, is not
   known to pybgp: every next hop costs the same);
7. shorter CLUSTER_LIST (RFC 4456 §9);
8. lowest BGP identifier, the ORIGINATOR_ID standing in for it when present (§9.1.2.2 f,
   RFC 4456 §9);
9. lowest peer address (§9.1.2.2 g).

Each step removes the candidates that lose it; the *reason* recorded for the winner is the step
that removed the last competitor (for two candidates: the first step on which they differ).
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pybgp.rib.paths import Path


class BestPathReason(enum.IntEnum):
    """Why the best path of a prefix won (the decision step that removed the last rival)."""

    ONLY_PATH = 0
    LOCAL_PREF = 1
    LOCALLY_ORIGINATED = 2
    AS_PATH_LENGTH = 3
    ORIGIN = 4
    MED = 5
    EBGP_OVER_IBGP = 6
    CLUSTER_LIST_LENGTH = 7
    ROUTER_ID = 8
    PEER_ADDRESS = 9
    WITHDRAWN = 10
    NOT_STALE = 11

    def describe(self) -> str:
        """The reason in words, as ``pybgp routes`` shows it."""
        return _WORDS[self]


_WORDS = {
    BestPathReason.ONLY_PATH: "only path",
    BestPathReason.LOCAL_PREF: "higher local-pref",
    BestPathReason.LOCALLY_ORIGINATED: "locally originated",
    BestPathReason.AS_PATH_LENGTH: "shorter AS path",
    BestPathReason.ORIGIN: "lower origin",
    BestPathReason.MED: "lower MED",
    BestPathReason.EBGP_OVER_IBGP: "eBGP over iBGP",
    BestPathReason.CLUSTER_LIST_LENGTH: "shorter cluster list",
    BestPathReason.ROUTER_ID: "lower router id",
    BestPathReason.PEER_ADDRESS: "lower peer address",
    BestPathReason.WITHDRAWN: "withdrawn",
    BestPathReason.NOT_STALE: "not stale",
}

# Index in Path.rank -> the reason when that component decided.
_RANK_REASONS = (
    BestPathReason.LOCAL_PREF,
    BestPathReason.LOCALLY_ORIGINATED,
    BestPathReason.AS_PATH_LENGTH,
    BestPathReason.ORIGIN,
)


def _first_difference(a: tuple[object, ...], b: tuple[object, ...]) -> int:
    for index in range(len(a)):
        if a[index] != b[index]:
            return index
    return len(a)


def rank_winner(a: Path, b: Path) -> tuple[Path, Path, BestPathReason] | None:
    """(winner, loser, reason) when steps 1-4 (one tuple comparison) separate ``a`` and ``b``,
    else None (the full :func:`decide` is needed). No ECMP is possible when they differ."""
    if a.stale is not b.stale:  # step 0, RFC 4724 §4.2: stale routes are less preferred
        return (b, a, BestPathReason.NOT_STALE) if a.stale else (a, b, BestPathReason.NOT_STALE)
    ra = a.rank
    rb = b.rank
    if ra == rb:
        return None
    if ra[0] != rb[0]:
        reason = BestPathReason.LOCAL_PREF
    elif ra[1] != rb[1]:
        reason = BestPathReason.LOCALLY_ORIGINATED
    elif ra[2] != rb[2]:
        reason = BestPathReason.AS_PATH_LENGTH
    else:
        reason = BestPathReason.ORIGIN
    return (a, b, reason) if ra < rb else (b, a, reason)


def decide(
    candidates: Sequence[Path], *, always_compare_med: bool = False, multipath: int = 1
) -> tuple[tuple[Path, ...], BestPathReason]:
    """Choose the best path (and ECMP members) among ``candidates`` (not empty).

    Returns ``(selected, reason)``: ``selected[0]`` is the best path, followed by at most
    ``multipath - 1`` equal-cost members (same LOCAL_PREF, AS_PATH length, ORIGIN, MED and
    type, distinct next hops), in tie-breaker order.
    """
    if len(candidates) == 1:
        return (candidates[0],), BestPathReason.ONLY_PATH
    reason = BestPathReason.ONLY_PATH
    if any(p.stale for p in candidates):
        fresh = [p for p in candidates if not p.stale]
        if fresh:  # step 0, RFC 4724 §4.2: stale routes are less preferred
            candidates = fresh
            reason = BestPathReason.NOT_STALE
            if len(candidates) == 1:
                return (candidates[0],), reason
    # Steps 1-4: one tuple comparison.
    best_rank = min(p.rank for p in candidates)
    survivors = [p for p in candidates if p.rank == best_rank]
    if len(survivors) < len(candidates):
        last = max(_first_difference(p.rank, best_rank) for p in candidates if p.rank != best_rank)
        reason = _RANK_REASONS[last]
    if len(survivors) > 1:
        # Step 5, RFC 4271 §9.1.2.2 c: MED compared only among paths from the same neighbour AS.
        before = len(survivors)
        if always_compare_med:
            lowest = min(p.med for p in survivors)
            survivors = [p for p in survivors if p.med == lowest]
        else:
            lowest_by_as: dict[int | None, int] = {}
            for p in survivors:
                known = lowest_by_as.get(p.neighbor_as)
                if known is None or p.med < known:
                    lowest_by_as[p.neighbor_as] = p.med
            survivors = [p for p in survivors if p.med == lowest_by_as[p.neighbor_as]]
        if len(survivors) < before:
            reason = BestPathReason.MED
    # Step 6, §9.1.2.2 d: eBGP-learned over iBGP-learned.
    if len(survivors) > 1 and any(not p.ibgp for p in survivors) and any(p.ibgp for p in survivors):
        survivors = [p for p in survivors if not p.ibgp]
        reason = BestPathReason.EBGP_OVER_IBGP
    equal_cost = survivors
    if len(survivors) > 1:
        # Steps 7-9: RFC 4456 §9 cluster list, §9.1.2.2 f router id, g peer address.
        ordered = sorted(survivors, key=_tie_key)
        first, second = _tie_key(ordered[0]), _tie_key(ordered[1])
        reason = (
            BestPathReason.CLUSTER_LIST_LENGTH,
            BestPathReason.ROUTER_ID,
            BestPathReason.PEER_ADDRESS,
            BestPathReason.PEER_ADDRESS,
        )[min(_first_difference(first, second), 2)]
        survivors = ordered
        equal_cost = ordered
    best = survivors[0]
    if multipath <= 1 or len(equal_cost) == 1:
        return (best,), reason
    members = [best]
    hops = {best.next_hop}
    for p in equal_cost[1:]:
        if len(members) >= multipath:
            break
        if p.med != best.med or p.next_hop in hops:
            continue  # equal cost needs the same MED; one member per next hop
        hops.add(p.next_hop)
        members.append(p)
    return tuple(members), reason


def _tie_key(path: Path) -> tuple[int, int, tuple[int, int]]:
    return (path.cluster_length, path.router_id_value, path.address_key)

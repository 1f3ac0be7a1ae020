"""The config's declarative ``[[filters]]`` as RIB policies (plain callables).

A peer's ``import_filters``/``export_filters`` name filters in the order they apply; the first
filter with a matching rule decides and a route no rule matches is accepted unchanged (as
Calico's BGPFilter does). The result is an ordinary :data:`pybgp.rib.Policy`, so declarative
filters and an embedder's own callables travel the same path through the RIB. No I/O.
"""

from __future__ import annotations

from collections.abc import Sequence

import attrs

from pybgp.config.filters import FilterConfig, evaluate_filters
from pybgp.rib.policy import Policy, Route


def filter_policy(filters: Sequence[FilterConfig]) -> Policy | None:
    """A policy that applies ``filters`` in order, or None when there are none (fast path)."""
    if not filters:
        return None
    chain = tuple(filters)

    def policy(route: Route) -> Route | None:
        verdict = evaluate_filters(
            chain, route.network, route.communities, route.large_communities
        )
        if not verdict.accept:
            return None
        communities = route.communities
        if verdict.set_communities is not None:
            communities = verdict.set_communities
        if verdict.add_communities:
            communities = communities + tuple(
                c for c in verdict.add_communities if c not in communities
            )
        if not verdict.changes:
            return route
        return attrs.evolve(
            route,
            communities=communities,
            local_pref=route.local_pref if verdict.local_pref is None else verdict.local_pref,
            med=route.med if verdict.med is None else verdict.med,
            as_path=verdict.as_path_prepend + route.as_path,
        )

    policy.__qualname__ = "filter_policy(" + ", ".join(f.name for f in chain) + ")"
    return policy

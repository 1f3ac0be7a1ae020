"""The config's declarative ``[[filters]]`` as RIB policies (plain callables).

A peer's ``import_filters``/``export_filters`` name filters in the order they apply; the first
filter with a matching rule decides and a route no rule matches is accepted unchanged (as
Calico's BGPFilter does). The result is an ordinary :data:`pybgp.rib.Policy`, so declarative
filters and an embedder's own callables travel the same path through the RIB. No I/O.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import attrs

from pybgp.config.filters import FilterConfig, FilterVerdict, evaluate_filters
from pybgp.rib.policy import Policy, Route

log = logging.getLogger("pybgp.policy")


def describe_verdict(verdict: FilterVerdict) -> str:
    """The verdict and the rule that decided, in words: ``rejected by filter 'NAME' rule 2
    (Reject)``, or ``accepted: no rule matched``."""
    if verdict.filter is None:
        return "accepted: no rule matched"
    action = "Accept" if verdict.accept else "Reject"
    words = "accepted by" if verdict.accept else "rejected by"
    return f"{words} filter {verdict.filter!r} rule {verdict.rule} ({action})"


def filter_policy(filters: Sequence[FilterConfig], direction: str = "") -> Policy | None:
    """A policy that applies ``filters`` in order, or None when there are none (fast path).

    With the ``pybgp.policy`` logger at DEBUG, every verdict is logged (``direction`` names
    ``import`` or ``export`` in those lines); when DEBUG is off this costs one level check.
    """
    if not filters:
        return None
    chain = tuple(filters)
    debug = log.isEnabledFor

    def policy(route: Route) -> Route | None:
        verdict = evaluate_filters(
            chain, route.network, route.communities, route.large_communities
        )
        if debug(logging.DEBUG):
            log.debug(
                "%s %s %s %s: %s",
                direction or "policy",
                route.network,
                "to" if route.to_peer is not None else "from",
                route.to_peer if route.to_peer is not None else (route.peer or "local"),
                describe_verdict(verdict),
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
    # The verdict depends on the route alone (``to_peer`` only names the peer in debug lines),
    # so peers with the same filters may share one export (update groups, pybgp.rib.groups).
    setattr(policy, "update_group_key", ("filters", chain))  # noqa: B010
    return policy

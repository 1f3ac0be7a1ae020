"""Declarative route filters (Calico ``BGPFilter``-like) and BGP community notation.

A filter is an ordered list of rules. Each rule matches on the route's prefix (``cidr`` with a
``match_operator``, an optional ``prefix_length`` range) and on the communities it carries, and
says ``Accept`` or ``Reject``; an accepting rule may also change the route (``set``). The first
matching rule decides. **A route that no rule matches is accepted** (as in Calico): end a filter
with a rule without match keys and ``action = "Reject"`` to make it default-deny.

This module is pure: it knows nothing of the RIB. The RIB (``pybgp.rib.policy``) turns a
:class:`FilterVerdict` into a changed or rejected route. Parsing and validation of the TOML
form lives in ``pybgp.config``.
"""

from __future__ import annotations

import enum
from collections.abc import Collection, Sequence
from ipaddress import IPv4Network, IPv6Network

import attrs

Network = IPv4Network | IPv6Network
LargeCommunity = tuple[int, int, int]

WELL_KNOWN_COMMUNITIES: dict[str, int] = {
    # RFC 1997 §"Well-known Communities", RFC 3765 (NOPEER), RFC 7999 (BLACKHOLE),
    # RFC 8326 (GRACEFUL_SHUTDOWN).
    "graceful-shutdown": 0xFFFF0000,
    "blackhole": 0xFFFF029A,
    "no-export": 0xFFFFFF01,
    "no-advertise": 0xFFFFFF02,
    "no-export-subconfed": 0xFFFFFF03,
    "no-peer": 0xFFFFFF04,
}
"""Names accepted in place of ``"asn:value"`` (lower case)."""


def parse_community(text: str) -> int:
    """``"64512:100"`` (two 16-bit numbers, RFC 1997) or a well-known name -> 32-bit int.

    Raises ValueError with a message fit for a ConfigError.
    """
    named = WELL_KNOWN_COMMUNITIES.get(text.strip().lower())
    if named is not None:
        return named
    parts = text.split(":")
    if len(parts) != 2 or not all(part.isdigit() for part in parts):
        raise ValueError(
            f"{text!r} is not a community: expected \"asn:value\" (e.g. \"64512:100\") "
            f"or one of {', '.join(sorted(WELL_KNOWN_COMMUNITIES))}"
        )
    high, low = int(parts[0]), int(parts[1])
    if high > 0xFFFF or low > 0xFFFF:
        raise ValueError(f"{text!r} is not a community: both numbers must be 0..65535")
    return (high << 16) | low


def format_community(value: int) -> str:
    """32-bit community -> ``"asn:value"``."""
    return f"{value >> 16}:{value & 0xFFFF}"


def parse_large_community(text: str) -> LargeCommunity:
    """``"64512:1:2"`` (three 32-bit numbers, RFC 8092) -> tuple. Raises ValueError."""
    parts = text.split(":")
    if len(parts) != 3 or not all(part.isdigit() for part in parts):
        raise ValueError(
            f"{text!r} is not a large community: expected \"asn:value1:value2\" "
            "(e.g. \"64512:1:2\")"
        )
    a, b, c = (int(part) for part in parts)
    if max(a, b, c) > 0xFFFFFFFF:
        raise ValueError(
            f"{text!r} is not a large community: each number must be 0..4294967295"
        )
    return (a, b, c)


def format_large_community(value: LargeCommunity) -> str:
    """Large community tuple -> ``"a:b:c"``."""
    return f"{value[0]}:{value[1]}:{value[2]}"


class FilterAction(enum.StrEnum):
    """What a matching rule does with the route."""

    ACCEPT = "Accept"
    REJECT = "Reject"


class MatchOperator(enum.StrEnum):
    """How a rule's ``cidr`` is compared with the route's prefix (Calico's matchOperator)."""

    EQUAL = "Equal"
    """The route's prefix is exactly ``cidr``."""
    NOT_EQUAL = "NotEqual"
    """The route's prefix is anything but ``cidr`` (same address family)."""
    IN = "In"
    """The route's prefix lies inside ``cidr`` (``cidr`` itself included)."""
    NOT_IN = "NotIn"
    """The route's prefix does not lie inside ``cidr`` (same address family)."""


@attrs.frozen(kw_only=True)
class PrefixLengthRange:
    """``prefix_length = { min = 24, max = 32 }``: bounds on the route's prefix length."""

    min: int | None = None
    """Shortest accepted prefix length; unset = the length of ``cidr`` with ``In``, else 0."""

    max: int | None = None
    """Longest accepted prefix length; unset = 32 (IPv4) or 128 (IPv6)."""


@attrs.frozen(kw_only=True)
class FilterSetActions:
    """``set = { ... }`` of an accepting rule: how the accepted route is changed."""

    communities: tuple[int, ...] | None = None
    """Replace all communities with these (32-bit values; ``[]`` strips them). None = keep."""

    add_communities: tuple[int, ...] = ()
    """Communities added to the route (after ``communities`` replaced them, if set)."""

    local_pref: int | None = None
    """New LOCAL_PREF (0..4294967295). None = unchanged."""

    med: int | None = None
    """New MULTI_EXIT_DISC (0..4294967295). None = unchanged."""

    as_path_prepend: tuple[int, ...] = ()
    """AS numbers put in front of the AS_PATH, first one leftmost."""

    @property
    def empty(self) -> bool:
        """True when the rule changes nothing."""
        return (
            self.communities is None
            and not self.add_communities
            and self.local_pref is None
            and self.med is None
            and not self.as_path_prepend
        )


@attrs.frozen(kw_only=True)
class FilterRule:
    """One rule of a filter. Every match key that is set must match (logical AND).

    A rule with no match key at all matches every route (a catch-all).
    """

    action: FilterAction
    """``"Accept"`` or ``"Reject"``: what happens to a matching route."""

    cidr: Network | None = None
    """The prefix compared with the route's prefix by ``match_operator``. A rule with an IPv4
    ``cidr`` never matches an IPv6 route and vice versa, whatever the operator."""

    match_operator: MatchOperator | None = None
    """``"Equal"`` / ``"NotEqual"`` / ``"In"`` / ``"NotIn"``; set exactly when ``cidr`` is."""

    prefix_length: PrefixLengthRange | None = None
    """Bounds on the route's prefix length (see :class:`PrefixLengthRange`)."""

    communities: tuple[int, ...] = ()
    """The route must carry every one of these communities."""

    large_communities: tuple[LargeCommunity, ...] = ()
    """The route must carry every one of these large communities (RFC 8092)."""

    set: FilterSetActions = FilterSetActions()
    """Changes made to a route this rule accepts (only allowed with ``action = "Accept"``)."""

    def matches(
        self,
        network: Network,
        communities: Collection[int] = (),
        large_communities: Collection[LargeCommunity] = (),
    ) -> bool:
        """True when the route (its prefix and communities) matches every key of this rule.

        Pass ``frozenset``s for the communities when a route carries many of them.
        """
        cidr = self.cidr
        if cidr is not None:
            if cidr.version != network.version:
                return False
            operator = self.match_operator
            if operator is MatchOperator.EQUAL:
                if network != cidr:
                    return False
            elif operator is MatchOperator.NOT_EQUAL:
                if network == cidr:
                    return False
            else:
                inside = network.prefixlen >= cidr.prefixlen and network.subnet_of(cidr)  # type: ignore[arg-type]
                if inside != (operator is MatchOperator.IN):
                    return False
        length = self.prefix_length
        if length is not None:
            low = length.min
            if low is None:
                inside = cidr is not None and self.match_operator is MatchOperator.IN
                low = cidr.prefixlen if inside and cidr is not None else 0
            high = network.max_prefixlen if length.max is None else length.max
            if not low <= network.prefixlen <= high:
                return False
        if self.communities and not all(c in communities for c in self.communities):
            return False
        return not self.large_communities or all(
            c in large_communities for c in self.large_communities
        )


@attrs.frozen(kw_only=True)
class FilterVerdict:
    """The outcome of a filter (or chain of filters) for one route."""

    accept: bool
    """False = drop the route. True = keep it, after applying the changes below."""

    filter: str | None = None
    """Name of the filter whose rule decided; None = no rule matched (accepted by default)."""

    rule: int | None = None
    """Index of the deciding rule in that filter's ``rules``; None = no rule matched."""

    set_communities: tuple[int, ...] | None = None
    """Replace the route's communities with these (None = keep them)."""

    add_communities: tuple[int, ...] = ()
    """Communities to add (after the replacement)."""

    local_pref: int | None = None
    """New LOCAL_PREF, or None."""

    med: int | None = None
    """New MED, or None."""

    as_path_prepend: tuple[int, ...] = ()
    """AS numbers to prepend to the AS_PATH (first one leftmost)."""

    @property
    def changes(self) -> bool:
        """True when an accepted route must be modified."""
        return (
            self.set_communities is not None
            or bool(self.add_communities)
            or self.local_pref is not None
            or self.med is not None
            or bool(self.as_path_prepend)
        )


ACCEPT_UNMATCHED = FilterVerdict(accept=True)
"""The verdict when no rule matched: accept, unchanged (Calico semantics)."""


@attrs.frozen(kw_only=True)
class FilterConfig:
    """``[[filters]]``: a named, ordered list of rules, referenced by peers by name."""

    name: str
    """Unique name, used in ``import_filters`` / ``export_filters`` of peers."""

    rules: tuple[FilterRule, ...] = ()
    """Evaluated in order; the first matching rule decides. No match = accept."""

    description: str = ""
    """Free text for people."""

    def evaluate(
        self,
        network: Network,
        communities: Collection[int] = (),
        large_communities: Collection[LargeCommunity] = (),
    ) -> FilterVerdict:
        """Verdict of this filter alone: the first matching rule, or accept when none does."""
        verdict = self.first_match(network, communities, large_communities)
        return ACCEPT_UNMATCHED if verdict is None else verdict

    def first_match(
        self,
        network: Network,
        communities: Collection[int] = (),
        large_communities: Collection[LargeCommunity] = (),
    ) -> FilterVerdict | None:
        """Verdict of the first matching rule, or None when no rule matches."""
        for index, rule in enumerate(self.rules):
            if rule.matches(network, communities, large_communities):
                if rule.action is FilterAction.REJECT:
                    return FilterVerdict(accept=False, filter=self.name, rule=index)
                actions = rule.set
                return FilterVerdict(
                    accept=True,
                    filter=self.name,
                    rule=index,
                    set_communities=actions.communities,
                    add_communities=actions.add_communities,
                    local_pref=actions.local_pref,
                    med=actions.med,
                    as_path_prepend=actions.as_path_prepend,
                )
        return None


Filter = FilterConfig
"""Short alias."""


def evaluate_filters(
    filters: Sequence[FilterConfig],
    network: Network,
    communities: Collection[int] = (),
    large_communities: Collection[LargeCommunity] = (),
) -> FilterVerdict:
    """Verdict of a peer's filter list: the first filter with a matching rule decides.

    Filters are tried in the order the peer lists them; a route no rule of any of them
    matches is accepted unchanged (:data:`ACCEPT_UNMATCHED`).
    """
    for config in filters:
        verdict = config.first_match(network, communities, large_communities)
        if verdict is not None:
            return verdict
    return ACCEPT_UNMATCHED

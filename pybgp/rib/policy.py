"""Import and export policies: plain callables over a small frozen :class:`Route` view.

A policy is ``Callable[[Route], Route | None]``: return the route (possibly changed with
``attrs.evolve`` or the helpers below) to accept it, ``None`` to reject it. Routes are only built
when a peer has a policy: the fast path (no policy) never makes one. The ``ipaddress`` network is
built on first access of :attr:`Route.network`, so a policy that only looks at communities does
not pay for it.
"""

from __future__ import annotations

from collections.abc import Callable
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network

import attrs

from pybgp.wire.attributes import (
    AsPath,
    AsPathSegment,
    Communities,
    LargeCommunities,
    LocalPref,
    MultiExitDisc,
    NextHop,
    Origin,
    PathAttributes,
)
from pybgp.wire.constants import AsPathSegmentType, AttributeCode, Family
from pybgp.wire.nlri import network_from_prefix, prefix_to_str


@attrs.frozen
class Route:
    """What a policy sees of one route; ``attrs.evolve`` it to change LOCAL_PREF, MED, ...

    ``as_path`` is the AS_PATH flattened to AS numbers (sets included); to prepend, use
    :meth:`prepend` (a policy that replaces the tuple otherwise gets a single AS_SEQUENCE).
    ``peer`` is the peer id the route came from (None = originated here); for an export policy
    ``to_peer`` is the peer the route is about to be sent to.
    """

    family: Family
    prefix: bytes
    next_hop: IPv4Address | IPv6Address
    as_path: tuple[int, ...]
    origin: int
    local_pref: int | None
    med: int | None
    communities: tuple[int, ...]
    large_communities: tuple[tuple[int, int, int], ...]
    peer: str | None
    to_peer: str | None = None
    attributes: PathAttributes | None = attrs.field(default=None, eq=False, repr=False)
    """The attribute set the view was made from (read only: changes go through the fields)."""

    @property
    def network(self) -> IPv4Network | IPv6Network:
        """The prefix as an ``ipaddress`` network (built on each access; cheap enough)."""
        return network_from_prefix(self.prefix, self.family[0])

    def __str__(self) -> str:
        return prefix_to_str(self.prefix, self.family[0])

    def prepend(self, asn: int, count: int = 1) -> Route:
        """A copy with ``asn`` prepended ``count`` times to the AS_PATH."""
        return attrs.evolve(self, as_path=(asn,) * count + self.as_path)

    def with_communities(self, *values: int) -> Route:
        """A copy with the given standard communities added (RFC 1997), keeping the order."""
        merged = self.communities + tuple(v for v in values if v not in self.communities)
        return attrs.evolve(self, communities=merged)


Policy = Callable[[Route], Route | None]
"""An import or export policy."""


def make_route(
    family: Family,
    prefix: bytes,
    attributes: PathAttributes,
    next_hop: IPv4Address | IPv6Address,
    peer: str | None,
    to_peer: str | None = None,
) -> Route:
    """Build the policy view of one route."""
    a = attributes
    as_path = a.as_path
    origin = a.origin
    lp = a.local_pref
    med = a.med
    communities = a.communities
    large = a.large_communities
    return Route(
        family=family,
        prefix=prefix,
        next_hop=next_hop,
        as_path=tuple(x for s in as_path.segments for x in s.asns) if as_path is not None else (),
        origin=origin.value if origin is not None else 2,
        local_pref=lp.value if lp is not None else None,
        med=med.value if med is not None else None,
        communities=communities.values if communities is not None else (),
        large_communities=large.values if large is not None else (),
        peer=peer,
        to_peer=to_peer,
        attributes=a,
    )


def apply_route(
    before: Route, after: Route, attributes: PathAttributes
) -> tuple[PathAttributes, IPv4Address | IPv6Address]:
    """Fold the changes a policy made (``before`` -> ``after``) back into ``attributes``.

    Returns the new attribute set (the same object when nothing changed) and the next hop.
    """
    if after is before or after == before:
        return attributes, after.next_hop
    add: list[object] = []
    drop: list[int] = []
    if after.origin != before.origin:
        add.append(Origin(after.origin))
    if after.local_pref != before.local_pref:
        if after.local_pref is None:
            drop.append(AttributeCode.LOCAL_PREF)
        else:
            add.append(LocalPref(after.local_pref))
    if after.med != before.med:
        if after.med is None:
            drop.append(AttributeCode.MULTI_EXIT_DISC)
        else:
            add.append(MultiExitDisc(after.med))
    if after.communities != before.communities:
        if after.communities:
            add.append(Communities(tuple(after.communities)))
        else:
            drop.append(AttributeCode.COMMUNITIES)
    if after.large_communities != before.large_communities:
        if after.large_communities:
            add.append(LargeCommunities(tuple(after.large_communities)))
        else:
            drop.append(AttributeCode.LARGE_COMMUNITIES)
    if after.as_path != before.as_path:
        add.append(_new_as_path(before, after, attributes.as_path))
    if after.next_hop != before.next_hop:
        mp_reach = attributes.mp_reach
        if mp_reach is not None:
            add.append(attrs.evolve(mp_reach, next_hops=(after.next_hop,)))
        elif attributes.next_hop is not None and isinstance(after.next_hop, IPv4Address):
            add.append(NextHop(after.next_hop))
    result = attributes
    if drop:
        result = result.without(*drop)
    if add:
        result = result.replace(*add)  # type: ignore[arg-type]
    return result, after.next_hop


def _new_as_path(before: Route, after: Route, old: AsPath | None) -> AsPath:
    extra = len(after.as_path) - len(before.as_path)
    if old is not None and extra > 0 and after.as_path[extra:] == before.as_path:
        result = old
        for asn in reversed(after.as_path[:extra]):
            result = result.prepend(asn)
        return result
    if not after.as_path:
        return AsPath(())
    return AsPath((AsPathSegment(AsPathSegmentType.AS_SEQUENCE, tuple(after.as_path)),))

"""Paths: one interned object per (peer, attribute set, path id), shared by all its prefixes.

A million prefixes learned from one peer in a few thousand attribute sets make a few thousand
:class:`Path` objects, not a million: the Adj-RIB-In maps each prefix key to the shared path and
the Loc-RIB does the same (or holds a small tuple when several peers announce the prefix). The
decision data (``rank``, ``med``, ``neighbor_as`` ...) is computed once, when the path is made.

Paths compare and hash by identity (``eq=False``): two paths are the same path only if they are
the same interned object, which is also what makes them cheap dictionary keys.
"""

from __future__ import annotations

from ipaddress import IPv4Address, IPv6Address

import attrs

from pybgp.wire.attributes import PathAttributes

_ZERO_ID = IPv4Address(0)


def address_key(address: IPv4Address | IPv6Address | None) -> tuple[int, int]:
    """A sort key for addresses: IPv4 before IPv6, then numeric."""
    if address is None:
        return (0, 0)
    return (address.version, int(address))


@attrs.frozen(eq=False)
class Path:
    """One route as learned from one peer (or originated here when ``peer_id`` is None).

    ``attributes`` holds the path attributes as stored (MP_REACH/MP_UNREACH removed, LOCAL_PREF
    of eBGP-learned paths removed unless the import policy set one); ``next_hop`` is the (global)
    next hop, from NEXT_HOP or MP_REACH_NLRI. The remaining fields after ``default_local_pref``
    are decision data derived from the rest, never passed in.
    """

    peer_id: str | None
    attributes: PathAttributes
    next_hop: IPv4Address | IPv6Address
    path_id: int = 0
    ibgp: bool = False
    peer_router_id: IPv4Address = _ZERO_ID
    peer_address: IPv4Address | IPv6Address | None = None
    link_local_next_hop: IPv6Address | None = None
    """RFC 2545 §3: the link-local next hop that came with an IPv6 global one, if any."""
    default_local_pref: int = attrs.field(default=100, repr=False)
    stale: bool = False
    """Kept over the peer's graceful restart (RFC 4724 §4.2): loses the decision to any fresh
    path, and is withdrawn unless re-announced before the peer's End-of-RIB."""

    local_pref: int = attrs.field(init=False, repr=False)
    """Effective LOCAL_PREF: the attribute, else ``default_local_pref`` (RFC 4271 §9.1.1)."""
    rank: tuple[int, int, int, int] = attrs.field(init=False, repr=False)
    """(-local_pref, 0 if originated here else 1, AS_PATH length, ORIGIN): smaller is better."""
    med: int = attrs.field(init=False, repr=False)
    neighbor_as: int | None = attrs.field(init=False, repr=False)
    cluster_length: int = attrs.field(init=False, repr=False)
    router_id_value: int = attrs.field(init=False, repr=False)
    address_key: tuple[int, int] = attrs.field(init=False, repr=False)

    def __attrs_post_init__(self) -> None:
        a = self.attributes
        set_ = object.__setattr__
        lp = a.local_pref
        local_pref = lp.value if lp is not None else self.default_local_pref
        as_path = a.as_path
        origin = a.origin
        med = a.med
        set_(self, "local_pref", local_pref)
        set_(
            self,
            "rank",
            (
                -local_pref,
                0 if self.peer_id is None else 1,
                as_path.length if as_path is not None else 0,
                origin.value if origin is not None else 2,
            ),
        )
        set_(self, "med", med.value if med is not None else 0)  # missing MED = 0
        set_(self, "neighbor_as", as_path.neighbor_as if as_path is not None else None)
        cluster_list = a.cluster_list
        set_(self, "cluster_length", len(cluster_list.ids) if cluster_list is not None else 0)
        originator = a.originator_id
        # RFC 4456 §9: ORIGINATOR_ID stands in for the BGP identifier when present.
        router_id = originator.address if originator is not None else self.peer_router_id
        set_(self, "router_id_value", int(router_id))
        set_(self, "address_key", address_key(self.peer_address))

    @property
    def originated(self) -> bool:
        """True for a path originated by this speaker."""
        return self.peer_id is None

    def as_path_asns(self) -> tuple[int, ...]:
        """Every AS number of the AS_PATH, flattened in order (sets included)."""
        as_path = self.attributes.as_path
        if as_path is None:
            return ()
        return tuple(asn for segment in as_path.segments for asn in segment.asns)

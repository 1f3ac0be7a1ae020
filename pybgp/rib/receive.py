"""Receive-side rules that need the session's facts: own NEXT_HOP, RFC 9234 roles and OTC.

The codec (``pybgp.wire``) judges an UPDATE from its bytes and the negotiated capabilities
alone. Two rules need more, and the RIB import for a peer is where that is known: its
:class:`~pybgp.rib.types.PeerInfo` holds our address on the session (``local_address``, filled
from the socket at session-up when not configured) and our RFC 9234 role towards the peer.

* RFC 4271 §6.3: a NEXT_HOP equal to "the IP address of the BGP speaker" receiving it is
  semantically incorrect: the route is ignored, no NOTIFICATION (:func:`own_next_hop`).
* RFC 9234 §5: the Only to Customer (OTC) attribute, set and checked on eBGP sessions with a
  role, so that a route learned from a provider or a peer is never passed to another provider
  or peer (a route leak): :func:`otc_ingress` on import; :func:`otc_blocks_export` and
  :func:`otc_to_add` on export.

Pure functions, no I/O; the RIB caches their answers per attribute set.
"""

from __future__ import annotations

from ipaddress import IPv4Address, IPv6Address
from typing import Final

from pybgp.rib.types import PeerInfo
from pybgp.wire.attributes import Otc, PathAttributes
from pybgp.wire.constants import Role

__all__ = ["otc_blocks_export", "otc_ingress", "otc_to_add", "own_next_hop"]

# Our role -> what the neighbour is to us (RFC 9234 §4.1 / §5 speak of the neighbour).
_FROM_CUSTOMER_OR_RS_CLIENT: Final = frozenset({Role.PROVIDER, Role.ROUTE_SERVER})
_FROM_PROVIDER_PEER_OR_RS: Final = frozenset(
    {Role.CUSTOMER, Role.PEER, Role.ROUTE_SERVER_CLIENT}
)
_TO_CUSTOMER_PEER_OR_RS_CLIENT: Final = frozenset({Role.PROVIDER, Role.PEER, Role.ROUTE_SERVER})


def own_next_hop(info: PeerInfo, next_hop: IPv4Address | IPv6Address) -> str | None:
    """Why a route with ``next_hop`` from this peer is ignored, or None.

    RFC 4271 §6.3: "If the NEXT_HOP attribute is semantically incorrect, the error SHOULD be
    logged, and the route SHOULD be ignored. In this case, a NOTIFICATION message SHOULD NOT
    be sent"; semantically incorrect includes "the IP address of the receiving speaker". Our
    address on this session (and our IPv6 next hop for IPv6 routes over an IPv4 session).
    """
    if next_hop == info.local_address or (
        info.local_address6 is not None and next_hop == info.local_address6
    ):
        return f"NEXT_HOP {next_hop} is our own address on this session (RFC 4271 §6.3)"
    return None


def otc_ingress(info: PeerInfo, attributes: PathAttributes) -> tuple[PathAttributes, str | None]:
    """RFC 9234 §5 ingress: the attributes to store and, for a route leak, why it is refused.

    Only on an eBGP session with a role configured (``info.role``); otherwise unchanged.
    """
    role = info.role
    if role is None or info.ibgp:
        return attributes, None
    otc = attributes.otc
    if otc is not None:
        # §5 ingress 1: from a Customer or an RS-Client an OTC means the route leaked.
        if role in _FROM_CUSTOMER_OR_RS_CLIENT:
            return attributes, (
                f"route leak: OTC {otc.asn} from a {_neighbour(role)} (RFC 9234 §5)"
            )
        # §5 ingress 2: from a Peer, an OTC other than the peer's AS means the route leaked.
        if role == Role.PEER and otc.asn != info.asn:
            return attributes, (
                f"route leak: OTC {otc.asn} from a peer in AS {info.asn} (RFC 9234 §5)"
            )
        return attributes, None
    # §5 ingress 3: from a Provider, a Peer or an RS, add OTC = the neighbour's AS.
    if role in _FROM_PROVIDER_PEER_OR_RS:
        return attributes.replace(Otc(info.asn)), None
    return attributes, None


def otc_blocks_export(info: PeerInfo, attributes: PathAttributes) -> bool:
    """RFC 9234 §5 egress 1: a route with OTC is never sent to a Provider, a Peer or an RS
    (eBGP sessions with a role only)."""
    return (
        info.role in _FROM_PROVIDER_PEER_OR_RS
        and not info.ibgp
        and attributes.otc is not None
    )


def otc_to_add(info: PeerInfo, local_as: int, attributes: PathAttributes) -> Otc | None:
    """RFC 9234 §5 egress 2: the OTC to add (our AS) when sending to a Customer, a Peer or an
    RS-Client without one; None = nothing to add."""
    if info.role in _TO_CUSTOMER_PEER_OR_RS_CLIENT and not info.ibgp and attributes.otc is None:
        return Otc(local_as)
    return None


def _neighbour(role: int) -> str:
    return "customer" if role == Role.PROVIDER else "route server client"

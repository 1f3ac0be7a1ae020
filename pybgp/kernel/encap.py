"""The kernel form of a BGP route for each encapsulation mode (pure: no I/O).

Calico's three modes:

* ``none``: ``dst via NH``. The next hop must be on a subnet directly connected to this host;
  otherwise the kernel could only reach it through some other route, which is not what BGP
  meant, so the route is not installed and the reason says why.
* ``ipip``: ``dst via NH dev <tunnel> onlink`` for every IPv4 next hop (IP-in-IP to the
  other node; onlink because the next hop is not on the tunnel's own subnet).
* ``crosssubnet``: plain when the next hop is on a directly connected subnet, the tunnel
  otherwise. The decision is made on the BGP next hop itself, never on the peer that sent
  the route: a route reflector keeps the originating node's next hop (RFC 4456 §10), so a
  route learned from a reflector in another subnet may still be plain. A host address
  configured as /32 (or /128) is a subnet that contains nobody else, so every next hop is
  "outside" and goes through the tunnel.

IPv6 next hops are always plain (there is no IP-in-IP of IPv6 next hops in Calico): they
follow the ``none`` rule in every mode. An ECMP set is decided as a whole: in crosssubnet
mode, if any member needs the tunnel every member goes through it (a tunnel reaches a
same-subnet node too); in ``none`` mode unusable members are dropped and the route is only
refused when no member is usable.
"""

from __future__ import annotations

import enum
import ipaddress
from collections.abc import Iterable

import attrs

from pybgp.kernel.base import IPAddress, IPInterface

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class Encapsulation(enum.StrEnum):
    """The ``[kernel] encapsulation`` setting."""

    NONE = "none"
    IPIP = "ipip"
    CROSSSUBNET = "crosssubnet"


@attrs.frozen
class ConnectedSubnets:
    """The subnets directly connected to this host, from its interface addresses.

    Host-only addresses (/32, /128) contribute nothing: no other node lies inside them.
    """

    networks: tuple[IPNetwork, ...] = ()

    @classmethod
    def from_interfaces(cls, interfaces: Iterable[IPInterface]) -> ConnectedSubnets:
        """Subnets of the given interface addresses (host-only ones and loopback left out)."""
        found: list[IPNetwork] = []
        for interface in interfaces:
            network = interface.network
            if network.prefixlen == network.max_prefixlen or interface.ip.is_loopback:
                continue
            if network not in found:
                found.append(network)
        return cls(tuple(found))

    def contains(self, address: IPAddress) -> bool:
        """True when ``address`` is inside one of the connected subnets."""
        version = address.version
        return any(network.version == version and address in network for network in self.networks)


@attrs.frozen
class KernelForm:
    """How the route goes into the kernel: next hops, device (None = resolve), onlink."""

    next_hops: tuple[IPAddress, ...]
    device: str | None = None
    onlink: bool = False


@attrs.frozen
class Unusable:
    """The route cannot be installed; ``reason`` completes "not installed: ..."."""

    reason: str


def decide(
    mode: Encapsulation,
    next_hops: tuple[IPAddress, ...],
    connected: ConnectedSubnets,
    tunnel_device: str,
) -> KernelForm | Unusable:
    """The kernel form of a route with BGP next hops ``next_hops`` in encapsulation ``mode``."""
    if not next_hops:
        return Unusable("no next hop")
    for hop in next_hops:
        if hop.version == 6 and hop.is_link_local:
            return Unusable(f"next hop {hop} is link-local and no device is known for it")
    if next_hops[0].version == 6 or mode is Encapsulation.NONE:
        usable = tuple(hop for hop in next_hops if connected.contains(hop))
        if not usable:
            return Unusable(f"next hop {next_hops[0]} not on a connected subnet")
        return KernelForm(usable)
    if mode is Encapsulation.IPIP:
        return KernelForm(next_hops, tunnel_device, True)
    if all(connected.contains(hop) for hop in next_hops):
        return KernelForm(next_hops)
    return KernelForm(next_hops, tunnel_device, True)

"""The encapsulation decision (pure): none / ipip / crosssubnet, ECMP, IPv6, /32 hosts."""

from __future__ import annotations

import ipaddress

from pybgp.kernel.encap import ConnectedSubnets, Encapsulation, KernelForm, Unusable, decide

A = ipaddress.ip_address
SUBNETS = ConnectedSubnets.from_interfaces(
    [ipaddress.ip_interface("10.0.0.1/24"), ipaddress.ip_interface("fd00::1/64")]
)


def test_connected_subnets_leave_out_host_addresses_and_loopback() -> None:
    subnets = ConnectedSubnets.from_interfaces(
        [
            ipaddress.ip_interface("10.0.0.1/32"),
            ipaddress.ip_interface("127.0.0.1/8"),
            ipaddress.ip_interface("192.168.1.5/24"),
        ]
    )
    assert subnets.networks == (ipaddress.ip_network("192.168.1.0/24"),)


def test_none_mode_plain_route_for_connected_next_hop() -> None:
    assert decide(Encapsulation.NONE, (A("10.0.0.2"),), SUBNETS, "tunl0") == KernelForm(
        (A("10.0.0.2"),)
    )


def test_none_mode_refuses_next_hop_off_subnet_with_reason() -> None:
    form = decide(Encapsulation.NONE, (A("10.1.0.5"),), SUBNETS, "tunl0")
    assert form == Unusable("next hop 10.1.0.5 not on a connected subnet")


def test_none_mode_ecmp_keeps_only_usable_members() -> None:
    form = decide(Encapsulation.NONE, (A("10.1.0.5"), A("10.0.0.3")), SUBNETS, "tunl0")
    assert form == KernelForm((A("10.0.0.3"),))


def test_ipip_mode_always_tunnels_onlink() -> None:
    form = decide(Encapsulation.IPIP, (A("10.0.0.2"), A("10.1.0.5")), SUBNETS, "tunl0")
    assert form == KernelForm((A("10.0.0.2"), A("10.1.0.5")), "tunl0", True)


def test_crosssubnet_plain_inside_tunnel_outside() -> None:
    inside = decide(Encapsulation.CROSSSUBNET, (A("10.0.0.2"),), SUBNETS, "tunl0")
    outside = decide(Encapsulation.CROSSSUBNET, (A("10.1.0.5"),), SUBNETS, "tunl0")
    assert inside == KernelForm((A("10.0.0.2"),))
    assert outside == KernelForm((A("10.1.0.5"),), "tunl0", True)


def test_crosssubnet_mixed_ecmp_goes_through_the_tunnel() -> None:
    form = decide(Encapsulation.CROSSSUBNET, (A("10.0.0.2"), A("10.1.0.5")), SUBNETS, "tunl0")
    assert form == KernelForm((A("10.0.0.2"), A("10.1.0.5")), "tunl0", True)


def test_crosssubnet_host_address_slash_32_tunnels_everything() -> None:
    host_only = ConnectedSubnets.from_interfaces([ipaddress.ip_interface("10.0.0.1/32")])
    form = decide(Encapsulation.CROSSSUBNET, (A("10.0.0.2"),), host_only, "tunl0")
    assert form == KernelForm((A("10.0.0.2"),), "tunl0", True)


def test_crosssubnet_decides_on_next_hop_not_peer_reflected_route() -> None:
    # A reflector at 10.9.9.9 (another subnet) reflects a route whose next hop is a node on
    # our subnet: the decision only sees the next hop, so the route is plain.
    form = decide(Encapsulation.CROSSSUBNET, (A("10.0.0.7"),), SUBNETS, "tunl0")
    assert form == KernelForm((A("10.0.0.7"),))


def test_ipv6_is_plain_in_every_mode() -> None:
    for mode in Encapsulation:
        assert decide(mode, (A("fd00::2"),), SUBNETS, "tunl0") == KernelForm((A("fd00::2"),))
        assert decide(mode, (A("fd01::2"),), SUBNETS, "tunl0") == Unusable(
            "next hop fd01::2 not on a connected subnet"
        )


def test_link_local_ipv6_next_hop_is_refused() -> None:
    form = decide(Encapsulation.NONE, (A("fe80::1"),), SUBNETS, "tunl0")
    assert isinstance(form, Unusable)
    assert "link-local" in form.reason


def test_no_next_hop_is_unusable() -> None:
    assert decide(Encapsulation.IPIP, (), SUBNETS, "tunl0") == Unusable("no next hop")

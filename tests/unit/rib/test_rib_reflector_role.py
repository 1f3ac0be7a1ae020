"""Becoming (and ceasing to be) a route reflector without a session reset (Rib.set_cluster_id),
as a Calico node does when its routeReflectorClusterID is set in the datastore."""

from __future__ import annotations

from ipaddress import IPv4Address

from rib_helpers import add_peer, announce, announced, attributes, make_rib, withdrawn

P = "10.244.2.0/26"


def test_becoming_a_reflector_sends_only_the_reflected_routes() -> None:
    rib = make_rib(router_id="10.0.0.1")
    add_peer(rib, "10.0.0.2", router_id="2.2.2.2")
    add_peer(rib, "10.0.0.3", router_id="3.3.3.3")
    out = rib.apply_update("10.0.0.2", announce(attributes(next_hop="10.0.0.2"), P))
    assert "10.0.0.3" not in out.messages  # iBGP split horizon: not a reflector yet
    out = rib.set_cluster_id(IPv4Address("224.0.0.1"))
    assert not out.messages  # no clients yet: nothing to reflect
    out = add_peer(rib, "10.0.0.3", router_id="3.3.3.3", up=False,
                   route_reflector_client=True)
    sent = announced(out, "10.0.0.3")[P]  # the client gets the route, the session kept
    assert sent.cluster_list is not None and sent.cluster_list.ids == (IPv4Address("224.0.0.1"),)
    assert sent.originator_id is not None and sent.originator_id.address == IPv4Address("2.2.2.2")
    assert sent.next_hop is not None and sent.next_hop.address == IPv4Address("10.0.0.2")
    # and back: the client role and the cluster id removed withdraw what was reflected
    out = add_peer(rib, "10.0.0.3", router_id="3.3.3.3", up=False)
    assert withdrawn(out, "10.0.0.3") == [P]
    assert not rib.set_cluster_id(None).messages

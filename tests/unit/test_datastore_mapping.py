"""The Calico v3 -> pybgp mapping, with plain data (no etcd)."""

from __future__ import annotations

import json
from ipaddress import IPv4Address, ip_address, ip_network
from pathlib import Path
from typing import Any

import pytest

from pybgp.config import SpeakerConfig, SpeakerSection, parse_config
from pybgp.datastore import ClusterState, DatastoreProblem, derive, derived_diff, merge

PREFIX = "/calico"
RES = "/calico/resources/v3/projectcalico.org"
EXAMPLE = Path("/work/shared/datastore/calico-etcd-example.jsonl")


def node(name: str, v4: str | None, v6: str | None = None, *, asn: int | None = None,
         cluster: str | None = None, labels: dict[str, str] | None = None) -> tuple[str, str]:
    bgp: dict[str, Any] = {}
    if v4:
        bgp["ipv4Address"] = v4
    if v6:
        bgp["ipv6Address"] = v6
    if asn:
        bgp["asNumber"] = asn
    if cluster:
        bgp["routeReflectorClusterID"] = cluster
    value = {"kind": "Node", "metadata": {"name": name, "labels": labels or {}},
             "spec": {"bgp": bgp}}
    return f"{RES}/nodes/{name}", json.dumps(value)


def bgpconfig(name: str = "default", **spec: Any) -> tuple[str, str]:
    return f"{RES}/bgpconfigurations/{name}", json.dumps({"kind": "BGPConfiguration",
                                                         "spec": spec})


def bgppeer(name: str, **spec: Any) -> tuple[str, str]:
    return f"{RES}/bgppeers/{name}", json.dumps({"kind": "BGPPeer", "spec": spec})


def pool(name: str, cidr: str, ipip: str = "Never", **spec: Any) -> tuple[str, str]:
    return f"{RES}/ippools/{name}", json.dumps(
        {"kind": "IPPool", "spec": {"cidr": cidr, "ipipMode": ipip, **spec}})


def block(node_name: str, cidr: str, state: str = "confirmed") -> list[tuple[str, str]]:
    slug = cidr.replace("/", "-")
    family = "ipv6" if ":" in cidr else "ipv4"
    return [
        (f"/calico/ipam/v2/host/{node_name}/{family}/block/{slug}",
         json.dumps({"state": state, "deleted": False})),
        (f"/calico/ipam/v2/assignment/{family}/block/{slug}",
         json.dumps({"cidr": cidr, "affinity": f"host:{node_name}", "deleted": False})),
    ]


def four_nodes(*extra: tuple[str, str]) -> ClusterState:
    items = [node(f"n{i}", f"10.0.0.{i}/24") for i in range(1, 5)]
    items += [bgpconfig(asNumber=64512), pool("p", "10.48.0.0/16", "CrossSubnet")]
    for i in range(1, 5):
        items += block(f"n{i}", f"10.48.{i}.0/26")
    return ClusterState.from_items(PREFIX, [*items, *extra])


def peers(state: ClusterState, name: str) -> dict[str, Any]:
    return {str(p.address): p for p in derive(state, name).peers}


def test_full_mesh_is_one_directional() -> None:
    state = four_nodes()
    for i in range(1, 5):
        found = peers(state, f"n{i}")
        assert sorted(found) == sorted(f"10.0.0.{j}" for j in range(1, 5) if j != i)
        for address, peer in found.items():
            assert peer.type == "mesh" and peer.asn == 64512
            assert peer.local_address == ip_address(f"10.0.0.{i}")
            # passive towards the higher address: exactly one side of each pair connects
            other = peers(state, f"n{address[-1]}")[f"10.0.0.{i}"]
            assert peer.passive != other.passive
            assert peer.passive == (address > f"10.0.0.{i}")


def test_identity_blocks_and_pool_encapsulation() -> None:
    derived = derive(four_nodes(), "n2")
    assert derived.asn == 64512 and derived.router_id == IPv4Address("10.0.0.2")
    assert derived.prefixes == (ip_network("10.48.2.0/26"),)
    assert [(str(p.cidr), p.encapsulation) for p in derived.pools] == [
        ("10.48.0.0/16", "crosssubnet")]


def test_encapsulation_modes_per_pool() -> None:
    state = four_nodes(pool("a", "10.60.0.0/16", "Always"), pool("n", "10.61.0.0/16", "Never"),
                       pool("v6", "fd00:48::/48", "Always"))
    modes = {str(p.cidr): p.encapsulation for p in derive(state, "n1").pools}
    assert modes == {"10.48.0.0/16": "crosssubnet", "10.60.0.0/16": "ipip",
                     "10.61.0.0/16": "none", "fd00:48::/48": "none"}
    config = merge(SpeakerConfig(speaker=SpeakerSection(asn=0, router_id=IPv4Address(0))),
                   derive(state, "n1"))
    assert (ip_network("10.60.0.0/16"), "ipip") in config.kernel.pools


def test_default_asn_and_node_as_override() -> None:
    items = [node("a", "10.0.0.1/24"), node("b", "10.0.0.2/24", asn=65002)]
    state = ClusterState.from_items(PREFIX, items)
    a = derive(state, "a")
    assert a.asn == 64512  # no BGPConfiguration: Calico's default
    assert peers(state, "a")["10.0.0.2"].asn == 65002  # mesh peer with its own AS (eBGP)
    assert derive(state, "b").asn == 65002


def test_listen_ports_global_and_per_node() -> None:
    state = four_nodes(bgpconfig(asNumber=64512, listenPort=1179),
                       bgpconfig("node.n3", listenPort=2179),
                       bgppeer("to-n3", node="n1", peerIP="10.0.0.3", asNumber=64512))
    assert derive(state, "n1").listen_port == 1179 and derive(state, "n3").listen_port == 2179
    found = peers(state, "n2")
    assert found["10.0.0.1"].port == 1179 and found["10.0.0.3"].port == 2179
    # a BGPPeer naming a Calico node's address (no port): the node's listen port
    assert peers(state, "n1")["10.0.0.3"].port == 2179
    assert peers(state, "n1")["10.0.0.3"].type == "node-specific"


def test_selector_peering_between_nodes_of_different_as() -> None:
    state = four_nodes(
        bgpconfig(asNumber=64512, nodeToNodeMeshEnabled=False),
        node("n1", "10.0.0.1/24", asn=65001, labels={"edge": "yes"}),
        bgppeer("edge", nodeSelector="!has(edge)", peerSelector="edge == 'yes'"),
    )
    towards_edge = peers(state, "n2")["10.0.0.1"]
    assert towards_edge.asn == 65001 and not towards_edge.passive  # "10.0.0.1" < "10.0.0.2"
    edge = peers(state, "n1")  # the reverse peerings: n1 peers back with n2..n4
    assert sorted(edge) == ["10.0.0.2", "10.0.0.3", "10.0.0.4"]
    assert all(p.asn == 64512 and p.passive for p in edge.values())
    assert derive(state, "n1").asn == 65001


def test_mesh_disabled_and_global_peer() -> None:
    state = four_nodes(bgpconfig(asNumber=64512, nodeToNodeMeshEnabled=False),
                       bgppeer("tor", peerIP="10.0.0.254", asNumber=65010))
    found = peers(state, "n3")
    assert list(found) == ["10.0.0.254"]
    tor = found["10.0.0.254"]
    assert (tor.asn, tor.type, tor.passive, tor.route_reflector_client) == (
        65010, "global", False, False)


def test_node_specific_and_selector_peers() -> None:
    state = four_nodes(
        bgppeer("one", node="n1", peerIP="10.0.0.201", asNumber=65001),
        bgppeer("rack", nodeSelector="rack == 'a' && !has(edge)", peerIP="10.0.0.202:1179",
                asNumber=65002, keepOriginalNextHop=True, sourceAddress="None"),
        node("n2", "10.0.0.2/24", labels={"rack": "a"}),
        node("n3", "10.0.0.3/24", labels={"rack": "a", "edge": "1"}),
    )
    assert "10.0.0.201" in peers(state, "n1") and "10.0.0.201" not in peers(state, "n2")
    rack = peers(state, "n2")["10.0.0.202"]
    assert (rack.port, rack.type, rack.keep_original_next_hop, rack.local_address) == (
        1179, "node-specific", True, None)
    assert "10.0.0.202" not in peers(state, "n3")


def test_route_reflector_one_cluster() -> None:
    state = four_nodes(
        node("n1", "10.0.0.1/24", cluster="224.0.0.1", labels={"route-reflector": "true"}),
        bgppeer("rr", nodeSelector="all()", peerSelector="route-reflector == 'true'"),
        bgpconfig(asNumber=64512, nodeToNodeMeshEnabled=False),
    )
    rr = derive(state, "n1")
    assert rr.cluster_id == IPv4Address("224.0.0.1")
    clients = {str(p.address): p for p in rr.peers}
    assert sorted(clients) == ["10.0.0.2", "10.0.0.3", "10.0.0.4"]
    assert all(p.route_reflector_client and p.type == "rr-client" for p in clients.values())
    client = peers(state, "n2")
    assert list(client) == ["10.0.0.1"]
    assert client["10.0.0.1"].type == "route-reflector"
    assert not client["10.0.0.1"].route_reflector_client
    # still one-directional: the reflector (lower address) waits, the client connects
    assert clients["10.0.0.2"].passive and not client["10.0.0.1"].passive


def test_route_reflectors_with_two_cluster_ids() -> None:
    state = four_nodes(
        node("n1", "10.0.0.1/24", cluster="224.0.0.1", labels={"rr": "a"}),
        node("n2", "10.0.0.2/24", cluster="224.0.0.2", labels={"rr": "b"}),
        bgppeer("rr", nodeSelector="all()", peerSelector="has(rr)"),
        bgpconfig(asNumber=64512, nodeToNodeMeshEnabled=False),
    )
    one = peers(state, "n1")
    # the other reflector has another cluster id: it is our client (and we are its)
    assert one["10.0.0.2"].route_reflector_client
    assert peers(state, "n2")["10.0.0.1"].route_reflector_client
    assert one["10.0.0.3"].route_reflector_client
    client = peers(state, "n3")
    assert sorted(client) == ["10.0.0.1", "10.0.0.2"]
    assert not any(p.route_reflector_client for p in client.values())
    # same cluster id on both reflectors: they are not each other's clients
    same = four_nodes(
        node("n1", "10.0.0.1/24", cluster="224.0.0.1", labels={"rr": "a"}),
        node("n2", "10.0.0.2/24", cluster="224.0.0.1", labels={"rr": "b"}),
        bgppeer("rr", nodeSelector="all()", peerSelector="has(rr)"),
    )
    assert not peers(same, "n1")["10.0.0.2"].route_reflector_client


def test_mesh_skips_reflectors_and_reflectors_skip_mesh() -> None:
    state = four_nodes(node("n1", "10.0.0.1/24", cluster="224.0.0.1"))
    assert "10.0.0.1" not in peers(state, "n2")
    assert peers(state, "n1") == {}  # a reflector has no mesh (and no BGPPeer here)


def test_ipv6_sessions_and_blocks() -> None:
    items = [node("a", "10.0.0.1/24", "fd00::1/64"), node("b", "10.0.0.2/24", "fd00::2/64"),
             node("c", None, "fd00::3/64"), pool("v6", "fd00:48::/48"),
             *block("a", "fd00:48:0:1::/122")]
    state = ClusterState.from_items(PREFIX, items)
    found = peers(state, "a")
    assert sorted(found) == ["10.0.0.2", "fd00::2", "fd00::3"]
    assert found["fd00::2"].families == ("ipv6",) and found["10.0.0.2"].families == ("ipv4",)
    assert found["fd00::2"].local_address == ip_address("fd00::1")
    assert derive(state, "a").prefixes == (ip_network("fd00:48:0:1::/122"),)
    only6 = derive(state, "c")  # IPv6-only: a router id hashed from the name
    assert only6.router_id != IPv4Address(0) and only6.router_id == derive(state, "c").router_id


def test_services_advertised_and_blocks_filtered() -> None:
    state = four_nodes(
        bgpconfig(asNumber=64512, serviceClusterIPs=[{"cidr": "10.96.0.0/12"}],
                  serviceExternalIPs=[{"cidr": "192.0.2.0/24"}]),
        *block("n1", "10.48.9.0/26", state="pending"),
        pool("quiet", "10.70.0.0/16", disableBGPExport=True), *block("n1", "10.70.0.0/26"),
    )
    prefixes = {str(p) for p in derive(state, "n1").prefixes}
    assert prefixes == {"10.48.1.0/26", "10.96.0.0/12", "192.0.2.0/24"}


def test_example_cluster_from_shared_datastore() -> None:
    if not EXAMPLE.exists():
        pytest.skip("no example data set")
    items = [(o["key"], json.dumps(o["value"])) for o in map(json.loads, EXAMPLE.open())]
    state = ClusterState.from_items(PREFIX, items)
    reflector = {str(p.address): p for p in derive(state, "node-1").peers}
    assert reflector["198.18.0.2"].route_reflector_client
    assert reflector["198.18.0.254"].type == "global"
    two = {str(p.address): p for p in derive(state, "node-2").peers}
    assert two["198.18.0.1"].type == "route-reflector" and two["198.18.0.3"].type == "mesh"


def test_bad_resources_are_named_and_left_out() -> None:
    state = four_nodes(bgppeer("broken", peerSelector="name contains 'x'"),
                       (f"{RES}/ippools/junk", "{not json"))
    derived = derive(state, "n1")
    assert any("BGPPeer broken" in p and "peerSelector" in p for p in derived.problems)
    assert any("IPPool junk" in p for p in derived.problems)
    with pytest.raises(DatastoreProblem, match="Node ghost"):
        derive(state, "ghost")


def test_secret_passwords_are_named_as_problems() -> None:
    state = four_nodes(bgppeer("tor", peerIP="10.0.0.254", asNumber=65010,
                               password={"secretKeyRef": {"name": "bgp", "key": "tor"}}))
    derived = derive(state, "n1")
    tor = {str(p.address): p for p in derived.peers}["10.0.0.254"]
    assert tor.password is None
    assert any("BGPPeer tor: spec.password" in p for p in derived.problems)


def test_merge_keeps_file_peers_and_prefixes() -> None:
    base = parse_config({
        "datastore": {"node": "n1"},
        "peers": [{"address": "10.0.0.2", "asn": 65100}],
        "originate": {"prefixes": ["192.0.2.0/24"]},
    })
    merged = merge(base, derive(four_nodes(), "n1"))
    assert merged.speaker.asn == 64512 and merged.speaker.router_id == IPv4Address("10.0.0.1")
    by_address = {str(p.address): p for p in merged.peers}
    assert by_address["10.0.0.2"].asn == 65100  # the file wins
    assert {str(p) for p in merged.originate.prefixes} == {"192.0.2.0/24", "10.48.1.0/26"}
    assert merged.originate.blackhole


def test_diff_between_states() -> None:
    before = derive(four_nodes(), "n1")
    joined = four_nodes(node("n5", "10.0.0.5/24"))
    after = derive(joined, "n1")
    diff = derived_diff(before, after)
    assert [str(p.address) for p in diff.added_peers] == ["10.0.0.5"]
    assert not diff.removed_peers and not diff.changed_peers and not diff.identity_changed
    released = joined.with_value(PREFIX, "/calico/ipam/v2/host/n1/ipv4/block/10.48.1.0-26", None)
    diff = derived_diff(after, derive(released, "n1"))
    assert diff.removed_prefixes == (ip_network("10.48.1.0/26"),)
    assert "prefixes removed: 10.48.1.0/26" in diff.describe()
    assert derived_diff(after, after).empty
    reflector = joined.with_value(PREFIX, *node("n1", "10.0.0.1/24", cluster="224.0.0.1"))
    diff = derived_diff(after, derive(reflector, "n1"))
    assert diff.identity_changed == ("cluster_id",)
    assert len(diff.removed_peers) == 4  # a reflector has no mesh

"""Self-tests of the namespace harness: if these pass, later end-to-end tests can trust it.

They prove the Calico-style mechanics the pybgp tests rely on: nodes on a bridge, pods behind
a node, BIRD iBGP/eBGP sessions exchanging an originated /26 that reaches the other node's
kernel table, TCP MD5, ExaBGP as a scripted peer, and a teardown that leaves nothing behind.
"""

from __future__ import annotations

import re
import signal
import sys
import tomllib
from pathlib import Path

import pytest

from tests.harness import (
    BirdDaemon,
    BirdPeer,
    ExaBgpPeer,
    ExaRoute,
    Node,
    PybgpProcess,
    Topology,
    bird_available,
    bird_config,
    exabgp_config,
    list_namespaces,
    netns_supported,
    parse_show_protocols,
    parse_show_route_all,
    pid_alive,
    to_toml,
    wait_until,
)

# -- pure helpers (no namespaces) ------------------------------------------------------------


def test_wait_until_returns_the_first_satisfying_value() -> None:
    values = iter([0, 0, 3, 4])
    assert wait_until(lambda: next(values), timeout=2, interval=0.001) == 3


def test_wait_until_reports_the_last_observed_value() -> None:
    with pytest.raises(AssertionError) as failure:
        wait_until(
            lambda: {"state": "Active"},
            timeout=0.05,
            interval=0.01,
            describe="peer Established",
            predicate=lambda seen: seen["state"] == "Established",
        )
    message = str(failure.value)
    assert "peer Established" in message
    assert "{'state': 'Active'}" in message


def test_wait_until_records_probe_exceptions() -> None:
    def probe() -> bool:
        raise ConnectionRefusedError("socket not there yet")

    with pytest.raises(AssertionError, match="ConnectionRefusedError: socket not there yet"):
        wait_until(probe, timeout=0.05, interval=0.01)


def test_to_toml_round_trips_a_speaker_config() -> None:
    config = {
        "speaker": {
            "asn": 64512,
            "router_id": "10.99.0.1",
            "listen_port": 179,
            "control_socket": "/tmp/x.sock",
        },
        "peers": [
            {
                "address": "10.99.0.2",
                "asn": 64512,
                "passive": False,
                "families": ["ipv4", "ipv6"],
                "password": 'quo"te',
            }
        ],
        "originate": {"prefixes": ["10.244.1.0/26"]},
        "kernel": {"adapter": "memory"},
    }
    assert tomllib.loads(to_toml(config)) == config


SHOW_PROTOCOLS = """\
BIRD 2.0.12 ready.
Name       Proto      Table      State  Since         Info
device1    Device     ---        up     2026-11-27 03:40:01
kernel4    Kernel     master4    up     2026-11-27 03:40:01
n2         BGP        ---        up     2026-11-27 03:40:03  Established
n3         BGP        ---        start  2026-11-27 03:40:01  Active        Socket: Refused
"""


def test_parse_show_protocols() -> None:
    rows = parse_show_protocols(SHOW_PROTOCOLS)
    assert set(rows) == {"device1", "kernel4", "n2", "n3"}
    assert rows["n2"].bgp_state == "Established"
    assert rows["n3"].state == "start"
    assert rows["n3"].info == "Active        Socket: Refused"
    assert rows["kernel4"].table == "master4"


SHOW_ROUTE_ALL = """\
BIRD 2.0.12 ready.
Table master4:
10.244.2.0/26        unicast [n2 2026-11-27 03:40:03.123 from 10.99.0.9] * (100) [AS64513i]
\tvia 10.99.0.2 on eth0
\tType: BGP univ
\tBGP.origin: IGP
\tBGP.as_path: 64513 64600
\tBGP.next_hop: 10.99.0.2
\tBGP.local_pref: 100
\tBGP.originator_id: 10.99.0.2
\tBGP.cluster_list: 10.99.0.9
\tBGP.community: (65000,1) (65000,2)
\tBGP.large_community: (64512, 1, 2)
                     unicast [n3 2026-11-27 03:40:04.000] (100) [AS64514i]
\tvia 10.99.0.3 on eth0
\tType: BGP univ
\tBGP.origin: IGP
\tBGP.as_path: 64514
\tBGP.next_hop: 10.99.0.3
\tBGP.local_pref: 100
10.244.1.0/26        blackhole [static4 2026-11-27 03:40:01.000] * (200)
\tType: static univ
"""


def test_parse_show_route_all() -> None:
    routes = parse_show_route_all(SHOW_ROUTE_ALL)
    assert [(r["prefix"], r["protocol"], r["primary"]) for r in routes] == [
        ("10.244.2.0/26", "n2", True),
        ("10.244.2.0/26", "n3", False),
        ("10.244.1.0/26", "static4", True),
    ]
    first, second, static = routes
    assert first["from"] == "10.99.0.9"
    assert first["via"] == ["10.99.0.2"] and first["interfaces"] == ["eth0"]
    assert first["as_path"] == [64513, 64600]
    assert first["next_hop"] == ["10.99.0.2"]
    assert first["originator_id"] == "10.99.0.2"
    assert first["cluster_list"] == ["10.99.0.9"]
    assert first["local_pref"] == 100
    assert first["communities"] == ["65000:1", "65000:2"]
    assert first["large_communities"] == ["64512:1:2"]
    assert second["as_path"] == [64514] and second["from"] is None
    assert static["kind"] == "blackhole" and static["preference"] == 200


# -- namespaces -------------------------------------------------------------------------------


def _lan(topology: Topology, count: int) -> list[Node]:
    topology.add_bridge("lan")
    nodes = []
    for index in range(1, count + 1):
        node = topology.add_node(f"n{index}")
        topology.connect(node, "lan", f"10.99.0.{index}/24", f"fd00:99::{index}/64")
        nodes.append(node)
    return nodes


@pytest.mark.netns
def test_two_nodes_on_a_bridge_ping_each_other(topology: Topology) -> None:
    a, b = _lan(topology, 2)
    assert a.namespace.startswith(topology.prefix) and a.namespace in list_namespaces()
    assert a.ping("10.99.0.2", timeout=2)
    assert b.ping("10.99.0.1", timeout=2)
    assert a.ping("fd00:99::2", timeout=2)
    assert not a.ping("10.99.0.77", timeout=1)
    connected = {route["dst"] for route in a.routes()}
    assert "10.99.0.0/24" in connected


@pytest.mark.netns
def test_point_to_point_link_and_static_route(topology: Topology) -> None:
    a, b = topology.add_node("a"), topology.add_node("b")
    topology.link(a, b, "10.99.1.1/30", "10.99.1.2/30")
    topology.add_route(a, "10.244.9.0/26", via="10.99.1.2", proto=186)
    assert a.routes(proto=186)[0]["dst"] == "10.244.9.0/26"
    assert a.route_dsts(proto=186) == {"10.244.9.0/26"}
    assert a.ping("10.99.1.2", timeout=2)


@pytest.mark.netns
def test_pod_behind_a_node(topology: Topology) -> None:
    (node,) = _lan(topology, 1)
    pod = topology.add_pod(node, "pod1", "10.244.1.5", address6="fd00:244::5")
    assert pod.ping(node.address, timeout=2)
    assert node.ping("10.244.1.5", timeout=2)
    assert pod.ping("fd00:99::1", timeout=2)
    assert node.run("sysctl -n net.ipv4.ip_forward").stdout.strip() == "1"
    assert [route["dst"] for route in pod.routes()] == ["default", "169.254.1.1"]


@pytest.mark.netns
def test_managed_process_lifecycle(topology: Topology) -> None:
    (node,) = _lan(topology, 1)
    # A trivial command standing in for `python -m pybgp run`: it must run in the namespace.
    script = "import subprocess, sys; print(open('/proc/net/dev').read()); sys.exit(3)"
    short = PybgpProcess(
        node, {"speaker": {"asn": 64512}}, argv=[sys.executable, "-c", script], name="short"
    )
    assert short.wait_exit(10) == 3
    short.process.check_returncode(3)
    assert "eth0" in short.logs()  # /proc/net/dev inside the node shows the node's veth
    assert tomllib.loads(short.config_path.read_text()) == {"speaker": {"asn": 64512}}
    with pytest.raises(AssertionError, match="exit status 3, expected 0"):
        short.process.check_returncode(0)

    long = PybgpProcess(node, "", argv=["sleep", "60"], name="long")
    assert pid_alive(long.pid)
    assert long.pid in topology.tracked_pids()
    long.process.freeze()
    wait_until(
        lambda: Path(f"/proc/{long.pid}/stat").read_text().split()[2] == "T",
        timeout=5,
        describe="sleep to be stopped",
    )
    long.process.thaw()
    assert long.stop(timeout=2) == -signal.SIGTERM
    assert not pid_alive(long.pid)
    assert long.stop() == -signal.SIGTERM  # idempotent

    stubborn = PybgpProcess(
        node,
        "",
        argv=["sh", "-c", "trap '' TERM; echo ready; while :; do sleep 0.1; done"],
        name="stubborn",
    )
    wait_until(lambda: "ready" in stubborn.logs(), timeout=5, describe="trap to be set")
    assert stubborn.stop(timeout=0.5) == -signal.SIGKILL

    # A child left behind by the process is killed with it (same process group).
    parent = PybgpProcess(node, "", argv=["sh", "-c", "sleep 300 & echo child=$!; wait"])
    found = wait_until(
        lambda: re.findall(r"child=(\d+)", parent.logs()), timeout=5, describe="child pid"
    )
    child = int(found[0])
    assert pid_alive(child)
    parent.stop(timeout=2)
    wait_until(lambda: not pid_alive(child), timeout=5, describe=f"child {child} to die")


# -- BIRD -------------------------------------------------------------------------------------


def _two_birds(
    topology: Topology,
    asn_a: int,
    asn_b: int,
    password: str | None = None,
) -> tuple[Node, Node, BirdDaemon, BirdDaemon]:
    a, b = _lan(topology, 2)
    bird_a = BirdDaemon(
        a,
        bird_config(
            "10.99.0.1",
            asn_a,
            [BirdPeer("n2", "10.99.0.2", asn_b, password=password)],
            originate=["10.244.1.0/26"],
            kernel_export=True,
        ),
    )
    bird_b = BirdDaemon(
        b,
        bird_config(
            "10.99.0.2",
            asn_b,
            [BirdPeer("n1", "10.99.0.1", asn_a, password=password)],
            originate=["10.244.2.0/26"],
            kernel_export=True,
        ),
    )
    return a, b, bird_a, bird_b


def _received(bird: BirdDaemon, prefix: str) -> dict[str, object]:
    routes = [r for r in bird.routes() if r["prefix"] == prefix and r["type"].startswith("BGP")]
    return routes[0] if routes else {}


@pytest.mark.netns
@pytest.mark.bird
@pytest.mark.parametrize(
    ("asn_b", "as_path"), [(64512, []), (64513, [64513])], ids=["ibgp", "ebgp"]
)
def test_two_birds_exchange_an_originated_prefix(
    bird: None, topology: Topology, asn_b: int, as_path: list[int]
) -> None:
    a, b, bird_a, bird_b = _two_birds(topology, 64512, asn_b)
    bird_a.wait_established("n2")
    bird_b.wait_established("n1")
    assert bird_a.protocol_rows()["n2"].proto == "BGP"

    route = wait_until(
        lambda: _received(bird_a, "10.244.2.0/26"),
        timeout=10,
        describe="10.244.2.0/26 in n1's BIRD",
    )
    assert route["next_hop"] == ["10.99.0.2"]
    assert route["via"] == ["10.99.0.2"]
    assert route["as_path"] == as_path
    assert route["primary"]
    if as_path:
        assert route["summary"] == "AS64513i"
    else:
        assert route["local_pref"] == 100

    # The kernel protocol installed it in n1's own routing table (proto bird).
    kernel = wait_until(
        lambda: [r for r in a.routes(proto="bird") if r["dst"] == "10.244.2.0/26"],
        timeout=10,
        describe="10.244.2.0/26 in n1's kernel table",
    )
    assert kernel[0]["gateway"] == "10.99.0.2"
    assert kernel[0]["dev"] == "eth0"
    # And the other direction; the originated prefix is a blackhole where it comes from.
    wait_until(
        lambda: "10.244.1.0/26" in b.route_dsts(proto="bird"),
        timeout=10,
        describe="10.244.1.0/26 in n2's kernel table",
    )
    local = [r for r in b.routes(proto="bird") if r["dst"] == "10.244.2.0/26"]
    assert local and local[0]["type"] == "blackhole"
    assert "n2: State changed to up" in bird_a.logs()  # the log file is captured


@pytest.mark.netns
@pytest.mark.bird
def test_two_birds_over_ipv6(bird: None, topology: Topology) -> None:
    a, b = _lan(topology, 2)
    bird_a = BirdDaemon(
        a,
        bird_config(
            "10.99.0.1",
            64512,
            [BirdPeer("n2", "fd00:99::2", 64513, ipv4=False, ipv6=True)],
            originate=["fd00:244:1::/64"],
            kernel_export=True,
        ),
    )
    bird_b = BirdDaemon(
        b,
        bird_config(
            "10.99.0.2",
            64513,
            [BirdPeer("n1", "fd00:99::1", 64512, ipv4=False, ipv6=True)],
            originate=["fd00:244:2::/64"],
            kernel_export=True,
        ),
    )
    bird_a.wait_established("n2")
    route = bird_b.wait_route("fd00:244:1::/64", protocol="n1")
    assert route["as_path"] == [64512]
    assert route["next_hop"][0] == "fd00:99::1"  # then the link-local, if BIRD sends one
    kernel = wait_until(
        lambda: [r for r in b.routes(proto="bird", family=6) if r["dst"] == "fd00:244:1::/64"],
        timeout=10,
        describe="fd00:244:1::/64 in n2's kernel table",
    )
    assert kernel[0]["dev"] == "eth0"
    assert bird_a.wait_route("fd00:244:2::/64", protocol="n2")["as_path"] == [64513]


@pytest.mark.netns
@pytest.mark.bird
def test_two_birds_with_the_same_md5_password_establish(bird: None, topology: Topology) -> None:
    a, _, bird_a, bird_b = _two_birds(topology, 64512, 64513, password="s3cret pass")
    bird_a.wait_established("n2")
    bird_b.wait_established("n1")
    # The kernel holds an RFC 2385 key on the session's socket (ss shows "md5keys:").
    sockets = a.run("ss -tnie state established").stdout
    assert "md5keys:10.99.0.2/32" in sockets
    assert 'password "s3cret pass";' in bird_a.config_path.read_text()


@pytest.mark.netns
@pytest.mark.bird
def test_bird_freeze_thaw_and_restart(bird: None, topology: Topology) -> None:
    _, _, bird_a, bird_b = _two_birds(topology, 64512, 64512)
    bird_a.wait_established("n2")
    bird_b.freeze()
    with pytest.raises(AssertionError, match="timed out"):
        bird_b.birdc("show status", timeout=0.5)
    bird_b.thaw()
    assert "Daemon is up" in bird_b.birdc("show status")
    old_pid = bird_b.pid
    bird_b.restart()
    assert bird_b.pid != old_pid and not pid_alive(old_pid)
    bird_a.wait_established("n2", timeout=20)


# -- ExaBGP -----------------------------------------------------------------------------------


@pytest.mark.netns
@pytest.mark.bird
def test_exabgp_announces_routes_with_communities_to_bird(
    bird: None, exabgp: None, topology: Topology
) -> None:
    a, b = _lan(topology, 2)
    bird_a = BirdDaemon(
        a, bird_config("10.99.0.1", 64512, [BirdPeer("exa", "10.99.0.2", 65001, passive=True)])
    )
    exa = ExaBgpPeer(
        b,
        exabgp_config(
            neighbor="10.99.0.1",
            local_address="10.99.0.2",
            local_as=65001,
            peer_as=64512,
            routes=[
                ExaRoute("10.244.7.0/26", communities=["65001:100", "65001:200"]),
                ExaRoute("10.244.8.0/26", communities=["65001:300"], med=5),
            ],
        ),
        start=False,
    )
    exa.validate()
    exa.start()
    bird_a.wait_established("exa", timeout=30)
    routes = wait_until(
        lambda: {r["prefix"]: r for r in bird_a.routes() if r["protocol"] == "exa"},
        timeout=15,
        describe="both ExaBGP routes in BIRD",
        predicate=lambda found: len(found) == 2,
    )
    assert routes["10.244.7.0/26"]["communities"] == ["65001:100", "65001:200"]
    assert routes["10.244.8.0/26"]["communities"] == ["65001:300"]
    assert routes["10.244.8.0/26"]["med"] == 5
    assert routes["10.244.7.0/26"]["as_path"] == [65001]
    assert routes["10.244.7.0/26"]["next_hop"] == ["10.99.0.2"]
    assert "10.99.0.1" in exa.logs()  # ExaBGP's log file is captured


# -- teardown ---------------------------------------------------------------------------------


@pytest.mark.netns
def test_teardown_leaves_no_namespace_and_no_process(tmp_path: Path) -> None:
    reason = netns_supported()
    if reason is not None:
        pytest.skip(reason)
    topo = Topology(workdir=tmp_path)
    try:
        nodes = _lan(topo, 2)
        topo.add_pod(nodes[0], "pod", "10.244.1.9")
        nodes[1].spawn(["sleep", "300"], tmp_path / "sleep.log")
        if bird_available() is None:
            BirdDaemon(
                nodes[0], bird_config("10.99.0.1", 64512, [BirdPeer("n2", "10.99.0.2", 64512)])
            )
        pids = topo.tracked_pids()
        assert pids and all(pid_alive(pid) for pid in pids)
        assert len([n for n in list_namespaces() if n.startswith(topo.prefix)]) == 4
    finally:
        topo.teardown()
    assert [n for n in list_namespaces() if n.startswith(topo.prefix)] == []
    assert not any(pid_alive(pid) for pid in pids)
    topo.teardown()  # idempotent

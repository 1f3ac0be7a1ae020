"""Cluster state from a real etcd (Calico v3 keys): four pybgp nodes and a BIRD 2 ToR follow it.

One cluster, built once, goes through every change an operator makes to a Calico datastore;
nobody edits a pybgp config file after the start. Namespaces: ``n1``..``n4`` (pybgp ``run``
with ``[datastore]``), a pod behind each, ``tor`` (BIRD 2, AS 65010) on the BGP LAN
10.99.0.0/24, and ``etcd`` (Debian's etcd-server, temporary data dir) on a separate management
LAN 10.98.0.0/24, so that a node can be cut off from etcd without touching its BGP sessions.

Steps (each checks kernels, sessions and, where it matters, pings between pods):

1. three nodes in etcd: the full mesh converges, one-directional (each pair has exactly one
   connecting side), blocks blackholed at home and routed everywhere else;
2. node n4 joins (its Node and block written, its speaker started): only sessions with n4
   are new; every other session keeps its Established time;
3. a global BGPPeer to the ToR: the ToR learns all four blocks, the mesh is untouched;
4. switch to a route reflector (n1's cluster id and label, a selector BGPPeer, mesh off):
   every pod keeps reaching every other pod;
5. releasing n2's block withdraws it from every kernel and from the ToR;
6. etcd stopped for 30 s: no kernel changes on any node, sessions stay up, status says
   disconnected; after etcd restarts every node is in sync again (with ``timeout = 1`` and
   ``reconnect_max = 2`` the agents detect the loss within 2 s and then fail to reconnect
   every 2 s until etcd is back).
7. n4's management link down while a new block is allocated to it: n4 keeps running on its
   last state; once the link is back it resyncs and announces the new block.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from tests.harness import (
    BirdDaemon,
    BirdPeer,
    Node,
    PybgpProcess,
    Topology,
    bird_config,
    wait_until,
)
from tests.netns.test_cluster import (
    PROTO_NAMES,
    SPEAKER_TIMERS,
    Speaker,
    ping_all_pairs,
    pybgp_routes,
)

pytestmark = [pytest.mark.netns, pytest.mark.bird, pytest.mark.slow]

ETCD = shutil.which("etcd") or "/usr/bin/etcd"
ETCDCTL = shutil.which("etcdctl") or "/usr/bin/etcdctl"
ETCD_IP = "10.98.0.100"
ETCD_URL = f"http://{ETCD_IP}:2379"
RES = "/calico/resources/v3/projectcalico.org"
ASN = 64512
TOR_ASN = 65010
TOR_IP = "10.99.0.254"
CONVERGE = 30.0
ETCD_OUTAGE = 30.0


def lan_ip(i: int) -> str:
    return f"10.99.0.{i}"


def block(i: int) -> str:
    return f"10.244.{i}.0/26"


def pod_ip(i: int) -> str:
    return f"10.244.{i}.10"


class Etcd:
    """An etcd server in its own namespace, with a temporary data dir."""

    def __init__(self, node: Node, workdir: Path) -> None:
        self.node = node
        self.data = workdir / "etcd-data"
        self.log = workdir / "etcd.log"
        self.process: Any = None

    def start(self) -> None:
        argv = [
            ETCD, "--name", "e", "--data-dir", str(self.data),
            "--listen-client-urls", f"{ETCD_URL},http://127.0.0.1:2379",
            "--advertise-client-urls", ETCD_URL,
            "--listen-peer-urls", "http://127.0.0.1:2380",
            "--initial-advertise-peer-urls", "http://127.0.0.1:2380",
            "--initial-cluster", "e=http://127.0.0.1:2380",
        ]
        self.process = self.node.spawn(argv, self.log, env={"ETCD_UNSUPPORTED_ARCH": "arm64"},
                                       name="etcd")
        wait_until(lambda: self.ctl("endpoint", "health", check=False).returncode == 0,
                   timeout=20, describe="etcd healthy")

    def stop(self) -> None:
        self.process.stop()

    def ctl(self, *args: str, check: bool = True, stdin: str | None = None) -> Any:
        env = {"ETCDCTL_API": "3"}
        argv = [ETCDCTL, "--endpoints", "http://127.0.0.1:2379", *args]
        return self.node.run(argv, check=check, env=env, timeout=20)

    def put(self, key: str, value: Mapping[str, Any]) -> None:
        self.ctl("put", key, json.dumps(value))

    def delete(self, key: str) -> None:
        self.ctl("del", key)

    def revision(self) -> int:
        answer = self.ctl("get", "/calico/", "--prefix", "--keys-only", "-w", "json")
        return int(json.loads(answer.stdout)["header"]["revision"])


# -- Calico resources (the shapes of /work/shared/datastore) --------------------------------
def node_resource(i: int, labels: Mapping[str, str] | None = None,
                  cluster: str | None = None) -> tuple[str, dict[str, Any]]:
    bgp: dict[str, Any] = {"ipv4Address": f"{lan_ip(i)}/24"}
    if cluster:
        bgp["routeReflectorClusterID"] = cluster
    return f"{RES}/nodes/n{i}", {
        "kind": "Node", "apiVersion": "projectcalico.org/v3",
        "metadata": {"name": f"n{i}", "labels": {"kubernetes.io/hostname": f"n{i}",
                                                 **(labels or {})}},
        "spec": {"bgp": bgp},
    }


def bgp_configuration(mesh: bool) -> tuple[str, dict[str, Any]]:
    return f"{RES}/bgpconfigurations/default", {
        "kind": "BGPConfiguration", "apiVersion": "projectcalico.org/v3",
        "metadata": {"name": "default"},
        "spec": {"nodeToNodeMeshEnabled": mesh, "asNumber": ASN},
    }


def bgp_peer(name: str, **spec: Any) -> tuple[str, dict[str, Any]]:
    return f"{RES}/bgppeers/{name}", {
        "kind": "BGPPeer", "apiVersion": "projectcalico.org/v3",
        "metadata": {"name": name}, "spec": spec,
    }


def pool() -> tuple[str, dict[str, Any]]:
    return f"{RES}/ippools/default-ipv4-ippool", {
        "kind": "IPPool", "apiVersion": "projectcalico.org/v3",
        "metadata": {"name": "default-ipv4-ippool"},
        "spec": {"cidr": "10.244.0.0/16", "ipipMode": "CrossSubnet", "vxlanMode": "Never",
                 "blockSize": 26, "natOutgoing": True, "nodeSelector": "all()"},
    }


def allocate(etcd: Etcd, node_index: int, cidr: str) -> None:
    slug = cidr.replace("/", "-")
    etcd.put(f"/calico/ipam/v2/assignment/ipv4/block/{slug}", {
        "cidr": cidr, "affinity": f"host:n{node_index}", "allocations": [None] * 64,
        "unallocated": list(range(64)), "attributes": [], "deleted": False,
    })
    etcd.put(f"/calico/ipam/v2/host/n{node_index}/ipv4/block/{slug}",
             {"state": "confirmed", "deleted": False})


def release(etcd: Etcd, node_index: int, cidr: str) -> None:
    slug = cidr.replace("/", "-")
    etcd.delete(f"/calico/ipam/v2/host/n{node_index}/ipv4/block/{slug}")
    etcd.delete(f"/calico/ipam/v2/assignment/ipv4/block/{slug}")


# -- pybgp nodes -----------------------------------------------------------------------------
def start_node(topology: Topology, node: Node, i: int) -> Speaker:
    socket = str(topology.rundir / f"{node.name}.sock")
    config = {
        "speaker": {"listen_address": "0.0.0.0", "control_socket": socket, **SPEAKER_TIMERS},
        "datastore": {"type": "etcd", "endpoints": [ETCD_URL], "node": node.name,
                      "prefix": "/calico", "timeout": 1, "reconnect_min": 0.5,
                      "reconnect_max": 2},
        "kernel": {"adapter": "netlink", "protocol": 186},
        "logging": {"level": "debug"},
    }
    process = PybgpProcess(node, config)
    speaker = Speaker(node, lan_ip(i), process, socket, [block(i)])
    topology.debug_hooks.append(speaker.debug_dump)
    return speaker


def sessions(speaker: Speaker) -> dict[str, tuple[str, str]]:
    return {p["address"]: (p["state"], p["since"]) for p in speaker.status()["peers"]}


def wait_peers(speaker: Speaker, wanted: Sequence[str]) -> dict[str, tuple[str, str]]:
    """Wait until ``speaker``'s peers are exactly ``wanted``, all Established."""
    return wait_until(
        lambda: sessions(speaker), timeout=CONVERGE,
        describe=f"{speaker.name}: exactly {sorted(wanted)} Established",
        predicate=lambda seen: set(seen) == set(wanted)
        and all(state == "Established" for state, _ in seen.values()),
    )


def wait_kernel_blocks(speaker: Speaker, expected: Mapping[str, str]) -> None:
    """``speaker``'s kernel has exactly ``expected`` {block: gateway} (None = blackhole)."""

    def seen() -> dict[str, Any]:
        routes = pybgp_routes(speaker.node)
        return {dst: (r.get("gateway") if r.get("type") != "blackhole" else None)
                for dst, r in routes.items() if dst.startswith("10.244.")}

    wait_until(seen, timeout=CONVERGE, describe=f"{speaker.name}: kernel blocks {expected}",
               predicate=lambda found: found == dict(expected))


def expected_blocks(own: int, owners: Mapping[str, int]) -> dict[str, str | None]:
    return {cidr: (None if owner == own else lan_ip(owner)) for cidr, owner in owners.items()}


def received_from(speaker: Speaker, address: str) -> int:
    for peer in speaker.status()["peers"]:
        if peer["address"] == address:
            return int(peer["received"])
    return 0


def continuous_ping(pod: Node, address: str, seconds: float) -> tuple[int, int]:
    """Echoes every 0.1 s for ``seconds``: (sent, received)."""
    result = pod.run(["ping", "-n", "-q", "-i", "0.1", "-w", str(int(seconds)), address],
                     check=False, timeout=seconds + 10)
    found = re.search(r"(\d+) packets transmitted, (\d+) received", result.stdout)
    assert found, result.stdout
    return int(found.group(1)), int(found.group(2))


def datastore_status(speaker: Speaker) -> dict[str, Any]:
    return dict(speaker.status()["datastore"])


@pytest.mark.skipif(not os.path.exists(ETCD), reason="etcd-server is not installed")
def test_cluster_follows_etcd(bird: None, topology: Topology) -> None:
    lan = topology.add_bridge("lan")
    mgmt = topology.add_bridge("mgmt")
    nodes: list[Node] = []
    mgmt_links: dict[int, str] = {}
    for i in range(1, 5):
        node = topology.add_node(f"n{i}")
        topology.connect(node, lan, f"{lan_ip(i)}/24")
        mgmt_links[i] = topology.connect(node, mgmt, f"10.98.0.{i}/24")
        nodes.append(node)
    tor = topology.add_node("tor")
    topology.connect(tor, lan, f"{TOR_IP}/24")
    etcd_node = topology.add_node("etcd")
    topology.connect(etcd_node, mgmt, f"{ETCD_IP}/24")
    pods = {f"pod{i}": (topology.add_pod(nodes[i - 1], f"pod{i}", pod_ip(i)), pod_ip(i))
            for i in range(1, 5)}

    etcd = Etcd(etcd_node, topology.workdir)
    etcd.start()
    for key, value in (bgp_configuration(mesh=True), pool(),
                       *(node_resource(i) for i in (1, 2, 3))):
        etcd.put(key, value)
    for i in (1, 2, 3):
        allocate(etcd, i, block(i))

    figures: dict[str, float] = {}

    # 1. full mesh of three, one-directional -------------------------------------------------
    started = time.monotonic()
    speakers = {i: start_node(topology, nodes[i - 1], i) for i in (1, 2, 3)}
    owners = {block(i): i for i in (1, 2, 3)}
    for i, speaker in speakers.items():
        wait_peers(speaker, [lan_ip(j) for j in (1, 2, 3) if j != i])
    for i, speaker in speakers.items():
        wait_kernel_blocks(speaker, expected_blocks(i, owners))
    mesh_seconds = time.monotonic() - started
    for speaker in speakers.values():
        config = speaker.process.config_path.read_text()
        assert "peers" not in config and "asn" not in config  # all from etcd
        ds = datastore_status(speaker)
        assert ds["state"] == "in-sync" and ds["revision"] > 0, ds
    ping_all_pairs({k: v for k, v in pods.items() if k != "pod4"})

    # 2. n4 joins: only its sessions are new -------------------------------------------------
    before = {i: sessions(s) for i, s in speakers.items()}
    etcd.put(*node_resource(4))
    allocate(etcd, 4, block(4))
    joined = time.monotonic()
    speakers[4] = start_node(topology, nodes[3], 4)
    owners[block(4)] = 4
    for i, speaker in speakers.items():
        wait_peers(speaker, [lan_ip(j) for j in (1, 2, 3, 4) if j != i])
        wait_kernel_blocks(speaker, expected_blocks(i, owners))
    figures["n4 started -> every session and block in every kernel"] = time.monotonic() - joined
    for i in (1, 2, 3):
        now = sessions(speakers[i])
        for address, (state, since) in before[i].items():
            assert now[address] == (state, since), f"n{i}: session with {address} was reset"
    ping_all_pairs(pods)

    # 3. a global BGPPeer: the ToR learns every block -----------------------------------------
    before = {i: sessions(s) for i, s in speakers.items()}
    tor_bird = BirdDaemon(tor, bird_config(TOR_IP, TOR_ASN, [
        BirdPeer(f"n{i}", lan_ip(i), ASN, export="none") for i in range(1, 5)]))
    written = time.monotonic()
    etcd.put(*bgp_peer("tor", peerIP=TOR_IP, asNumber=TOR_ASN))
    for i in range(1, 5):
        tor_bird.wait_established(f"n{i}", timeout=CONVERGE)
    for i in range(1, 5):
        tor_bird.wait_route(block(i), timeout=CONVERGE)
    figures["global BGPPeer written -> ToR has all 4 blocks"] = time.monotonic() - written
    for i, speaker in speakers.items():
        now = sessions(speaker)
        assert now[TOR_IP][0] == "Established"
        assert all(now[a] == before[i][a] for a in before[i]), f"n{i}: mesh session reset"

    # 4. switch to a route reflector: pods stay reachable --------------------------------------
    # In Calico's documented order: the reflector and the BGPPeer first, the mesh off once
    # every client has its reflector session. A pod pings another across the switch.
    before = {i: sessions(s) for i, s in speakers.items()}
    with ThreadPoolExecutor(max_workers=2) as pingers:
        pinging = [pingers.submit(continuous_ping, pods[a][0], pods[b][1], 15.0)
                   for a, b in (("pod2", "pod3"), ("pod4", "pod1"))]
        time.sleep(1.0)  # the pings are under way (they count themselves)
        etcd.put(*bgp_peer("rr-clients", nodeSelector="all()",
                           peerSelector="route-reflector == 'true'"))
        etcd.put(*node_resource(1, {"route-reflector": "true"}, cluster="224.0.0.1"))
        wait_peers(speakers[1], [lan_ip(j) for j in (2, 3, 4)] + [TOR_IP])
        for i in (2, 3, 4):
            wait_until(lambda s=speakers[i]: sessions(s).get(lan_ip(1), ("", ""))[0],
                       timeout=CONVERGE, describe=f"n{i}: reflector session",
                       predicate=lambda state: state == "Established")
            wait_until(lambda s=speakers[i]: received_from(s, lan_ip(1)), timeout=CONVERGE,
                       describe=f"n{i}: the blocks reflected by n1",
                       predicate=lambda count: count >= 3)
        etcd.put(*bgp_configuration(mesh=False))
        for i in (2, 3, 4):
            wait_peers(speakers[i], [lan_ip(1), TOR_IP])
        losses = {f"{a}->{b}": future.result()
                  for (a, b), future in zip((("pod2", "pod3"), ("pod4", "pod1")), pinging,
                                            strict=True)}
    types = {p["address"]: p["type"] for p in speakers[1].status()["peers"]}
    assert {types[lan_ip(j)] for j in (2, 3, 4)} == {"rr-client"}
    assert {p["type"] for p in speakers[2].status()["peers"]} == {"route-reflector", "global"}
    for i, speaker in speakers.items():
        wait_kernel_blocks(speaker, expected_blocks(i, owners))
    ping_all_pairs(pods)
    # Nothing is lost: the reflected path has the same next hop as the mesh path it
    # replaces, and the reflector takes its cluster id and its clients without a reset.
    for sent, received in losses.values():
        assert sent >= 50 and received == sent, f"pings lost in the switch: {losses}"
    for i in (2, 3, 4):
        assert sessions(speakers[1])[lan_ip(i)] == before[1][lan_ip(i)], f"n1-n{i} was reset"
        assert sessions(speakers[i])[lan_ip(1)] == before[i][lan_ip(1)], f"n{i}-n1 was reset"
    print(f"\nroute-reflector switch, echoes (sent, received): {losses}")

    # 5. releasing a block withdraws it everywhere --------------------------------------------
    written = time.monotonic()
    release(etcd, 2, block(2))
    del owners[block(2)]
    for i, speaker in speakers.items():
        wait_kernel_blocks(speaker, expected_blocks(i, owners))
    figures["block released in etcd -> gone from all 4 kernels"] = time.monotonic() - written
    wait_until(lambda: [r for r in tor_bird.routes() if r["prefix"] == block(2)],
               timeout=CONVERGE, describe="ToR withdrew 10.244.2.0/26",
               predicate=lambda found: not found)

    # 6. etcd stopped: nothing changes in any kernel ------------------------------------------
    def kernels() -> dict[int, dict[str, Any]]:
        return {i: {dst: (r.get("type"), r.get("gateway"))
                    for dst, r in pybgp_routes(s.node).items()}
                for i, s in speakers.items()}

    steady = kernels()
    peer_times = {i: sessions(s) for i, s in speakers.items()}
    etcd.stop()
    deadline = time.monotonic() + ETCD_OUTAGE
    disconnected: set[int] = set()
    while time.monotonic() < deadline:  # bounded: the outage's samples, every 0.5 s
        assert kernels() == steady, "a kernel changed while etcd was down"
        for i, speaker in speakers.items():
            if datastore_status(speaker)["state"] == "disconnected":
                disconnected.add(i)
        time.sleep(0.5)
    assert disconnected == {1, 2, 3, 4}, f"nodes that noticed etcd was down: {disconnected}"
    assert {i: sessions(s) for i, s in speakers.items()} == peer_times
    restarted = time.monotonic()
    etcd.start()
    for speaker in speakers.values():
        wait_until(lambda s=speaker: datastore_status(s)["state"], timeout=CONVERGE,
                   describe=f"{speaker.name} in sync again", predicate=lambda v: v == "in-sync")
    figures["etcd restarted -> all 4 nodes in sync"] = time.monotonic() - restarted
    assert kernels() == steady
    ping_all_pairs({k: v for k, v in pods.items() if k != "pod2"})

    # 7. n4 cut off from etcd while a change is written ---------------------------------------
    nodes[3].ip("link", "set", mgmt_links[4], "down")
    wait_until(lambda: datastore_status(speakers[4])["state"], timeout=CONVERGE,
               describe="n4 notices etcd is gone", predicate=lambda v: v == "disconnected")
    allocate(etcd, 4, "10.244.14.0/26")
    owners["10.244.14.0/26"] = 4
    written = etcd.revision()
    wait_until(lambda: datastore_status(speakers[1])["revision"], timeout=CONVERGE,
               describe=f"n1 saw revision {written}", predicate=lambda r: r >= written)
    assert "10.244.14.0/26" not in pybgp_routes(nodes[0])  # n4 cannot know yet
    relinked = time.monotonic()
    nodes[3].ip("link", "set", mgmt_links[4], "up")
    for i, speaker in speakers.items():
        wait_kernel_blocks(speaker, expected_blocks(i, owners))
    figures["n4 link back -> its new block in all 4 kernels"] = time.monotonic() - relinked
    tor_bird.wait_route("10.244.14.0/26", timeout=CONVERGE)
    assert datastore_status(speakers[4])["resyncs"] >= 1
    figures["3 nodes started -> full mesh and blocks in every kernel"] = mesh_seconds
    print("\n" + "\n".join(f"{what}: {seconds:.2f} s" for what, seconds in figures.items()))
    assert PROTO_NAMES  # pybgp's routes are the ones checked above (protocol 186)

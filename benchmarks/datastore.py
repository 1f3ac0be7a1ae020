"""A 1,000-node Calico data set in a real etcd: how fast one pybgp node follows it.

Starts Debian's etcd-server on loopback (random ports, temporary data dir), writes a
Calico v3 cluster of N nodes (Node resources, a /26 block and its affinity per node, an
IPPool, a BGPConfiguration with the mesh off, a selector BGPPeer making node n1 the route
reflector of every other node), then measures for node n1 (the reflector: N-1 peers):

* start -> derived config: connect, snapshot every key, derive the node's config
  (:meth:`DatastoreAgent.start`), and the pure part alone (``derive`` on the state);
* one etcd write -> applied change: a new block allocated to n1 is written; the time until
  the running speaker (a real :class:`Speaker`, its N-1 passive peers configured) has applied
  it (the prefix originated in its RIB), over ``--writes`` writes (median and max).

    python benchmarks/datastore.py            # N = 1000
    python benchmarks/datastore.py 200 --writes 5
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pybgp.config import parse_config
from pybgp.datastore import derive
from pybgp.datastore.agent import DatastoreAgent
from pybgp.datastore.apply import apply_datastore_config
from pybgp.kernel.memory import MemoryInstaller
from pybgp.speaker import Speaker

RES = "/calico/resources/v3/projectcalico.org"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def node_ip(index: int) -> str:
    return f"10.{index // 62500}.{index // 250 % 250}.{index % 250 + 1}"


def dataset(count: int) -> list[tuple[str, dict[str, Any]]]:
    items: list[tuple[str, dict[str, Any]]] = [
        (f"{RES}/bgpconfigurations/default",
         {"kind": "BGPConfiguration", "spec": {"nodeToNodeMeshEnabled": False,
                                               "asNumber": 64512}}),
        (f"{RES}/ippools/default-ipv4-ippool",
         {"kind": "IPPool", "spec": {"cidr": "10.128.0.0/9", "ipipMode": "CrossSubnet",
                                     "blockSize": 26}}),
        (f"{RES}/bgppeers/rr", {"kind": "BGPPeer", "spec": {
            "nodeSelector": "all()", "peerSelector": "route-reflector == 'true'"}}),
    ]
    for index in range(count):
        name = f"n{index + 1}"
        bgp: dict[str, Any] = {"ipv4Address": f"{node_ip(index)}/8"}
        labels = {"kubernetes.io/hostname": name}
        if index == 0:
            bgp["routeReflectorClusterID"] = "224.0.0.1"
            labels["route-reflector"] = "true"
        items.append((f"{RES}/nodes/{name}", {"kind": "Node", "metadata": {
            "name": name, "labels": labels}, "spec": {"bgp": bgp}}))
        cidr = f"10.{128 + index // 1024}.{index // 4 % 256}.{index % 4 * 64}/26"
        slug = cidr.replace("/", "-")
        items.append((f"/calico/ipam/v2/assignment/ipv4/block/{slug}",
                      {"cidr": cidr, "affinity": f"host:{name}", "deleted": False}))
        items.append((f"/calico/ipam/v2/host/{name}/ipv4/block/{slug}",
                      {"state": "confirmed", "deleted": False}))
    return items


async def load(url: str, items: list[tuple[str, dict[str, Any]]]) -> None:
    import aetcd

    host, port = url.removeprefix("http://").split(":")
    async with aetcd.Client(host, int(port)) as client:
        for start in range(0, len(items), 100):
            chunk = items[start:start + 100]
            await client.transaction(
                compare=[],
                success=[client.transactions.put(k.encode(), json.dumps(v).encode())
                         for k, v in chunk],
                failure=[],
            )


async def measure(url: str, count: int, writes: int) -> None:
    import aetcd

    config = parse_config({
        "speaker": {"listen_address": "127.0.0.1", "listen_port": 0, "control_socket": ""},
        "datastore": {"endpoints": [url], "node": "n1"},
    })
    assert config.datastore is not None
    agent = DatastoreAgent(config.datastore, config)
    started = time.perf_counter()
    derived_config = await agent.start()
    start_seconds = time.perf_counter() - started
    began = time.perf_counter()
    derived = derive(agent.cluster, "n1")
    derive_seconds = time.perf_counter() - began
    print(f"nodes: {count}; keys: {3 + 3 * count}; n1 peers: {len(derived.peers)}")
    print(f"start -> derived config (connect + snapshot + derive): {start_seconds:.3f} s")
    print(f"  of which derive() on the state: {derive_seconds * 1000:.1f} ms")

    speaker = Speaker(derived_config, installer=MemoryInstaller())
    seen: dict[str, float] = {}
    async with speaker:
        async def apply(new: Any) -> str:
            summary = await apply_datastore_config(speaker, new)
            for prefix in new.originate.prefixes:
                seen.setdefault(str(prefix), time.perf_counter())
            return summary

        follow = asyncio.create_task(agent.follow(apply))
        delays = []
        host, port = url.removeprefix("http://").split(":")
        async with aetcd.Client(host, int(port)) as client:
            for write in range(writes):
                cidr = f"10.250.{write}.0/26"
                key = f"/calico/ipam/v2/host/n1/ipv4/block/{cidr.replace('/', '-')}"
                await asyncio.sleep(0.2)
                written = time.perf_counter()
                await client.put(key.encode(), b'{"state": "confirmed", "deleted": false}')
                deadline = written + 30
                while cidr not in seen and time.perf_counter() < deadline:
                    await asyncio.sleep(0.001)
                if cidr not in seen:
                    raise SystemExit(f"write {write}: not applied within 30 s")
                delays.append(seen[cidr] - written)
        follow.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await follow
    print(f"one etcd write -> applied (prefix originated in the RIB), {writes} writes: "
          f"median {statistics.median(delays) * 1000:.1f} ms, max {max(delays) * 1000:.1f} ms"
          f" (includes the {0.05 * 1000:.0f} ms batch window)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("nodes", type=int, nargs="?", default=1000)
    parser.add_argument("--writes", type=int, default=10)
    args = parser.parse_args()
    etcd = shutil.which("etcd")
    if etcd is None:
        raise SystemExit("etcd is not installed (Debian: apt-get install etcd-server)")
    client_port, peer_port = free_port(), free_port()
    url = f"http://127.0.0.1:{client_port}"
    with tempfile.TemporaryDirectory(prefix="pybgp-etcd-") as data:
        server = subprocess.Popen(
            [etcd, "--name", "bench", "--data-dir", data,
             "--listen-client-urls", url, "--advertise-client-urls", url,
             "--listen-peer-urls", f"http://127.0.0.1:{peer_port}",
             "--initial-advertise-peer-urls", f"http://127.0.0.1:{peer_port}",
             "--initial-cluster", f"bench=http://127.0.0.1:{peer_port}"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        try:
            for _ in range(100):  # bounded: up to 10 s for etcd to answer
                try:
                    asyncio.run(load(url, []))
                    break
                except Exception:
                    time.sleep(0.1)
            began = time.perf_counter()
            asyncio.run(load(url, dataset(args.nodes)))
            print(f"loaded the data set in {time.perf_counter() - began:.1f} s")
            asyncio.run(measure(url, args.nodes, args.writes))
        finally:
            server.terminate()
            server.wait(10)


if __name__ == "__main__":
    main()

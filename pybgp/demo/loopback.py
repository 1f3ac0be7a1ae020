"""``pybgp demo``: the whole mission in a few seconds, with no set-up.

A small Calico-style cluster of real pybgp speakers, each on its own loopback address in this
process: four nodes in a full iBGP mesh, and a route reflector that meshes with them and serves
two more nodes as its clients. Every node announces its own /26 pod block; the demo waits until
every node has a route to every other node's block via that node, then prints each node's
sessions and the routes it installed (in the memory kernel adapter: nothing touches this host's
routing table).

``pybgp demo --netns`` (root, Linux) does it for real: see :mod:`pybgp.demo.netns_demo`.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import sys
import time
from collections.abc import Sequence
from ipaddress import ip_network
from typing import Any, TextIO

import attrs

from pybgp.config import SpeakerConfig, parse_config
from pybgp.kernel import MemoryInstaller, prefix_text
from pybgp.speaker import Speaker

ASN = 64512
BASE = "127.0.1."
REFLECTOR_INDEX = 100


@attrs.frozen
class DemoNode:
    """One member of the demo cluster."""

    name: str
    address: str
    block: str | None
    """Its pod CIDR block (None for the route reflector, which hosts no pods)."""
    peers: tuple[str, ...]
    reflector: bool = False
    client: bool = False
    """A route-reflector client (peers with the reflector only)."""


def cluster(count_mesh: int = 4, count_clients: int = 2) -> tuple[DemoNode, ...]:
    """The demo topology: a mesh of ``count_mesh`` nodes plus a reflector and its clients."""
    reflector = f"{BASE}{REFLECTOR_INDEX}"
    mesh = [f"{BASE}{i}" for i in range(1, count_mesh + 1)]
    clients = [f"{BASE}{i}" for i in range(count_mesh + 1, count_mesh + count_clients + 1)]
    nodes = []
    for i, address in enumerate(mesh + clients, start=1):
        peers = [reflector] if address in clients else [*(m for m in mesh if m != address),
                                                        reflector]
        nodes.append(
            DemoNode(f"node-{i}", address, f"10.244.{i}.0/26", tuple(peers),
                     client=address in clients)
        )
    nodes.append(DemoNode("rr-1", reflector, None, tuple(mesh + clients), reflector=True))
    return tuple(nodes)


def node_config(node: DemoNode, nodes: Sequence[DemoNode], port: int) -> SpeakerConfig:
    """The config a node of the demo runs with (what an operator would write in TOML)."""
    by_address = {n.address: n for n in nodes}
    peers: list[dict[str, Any]] = []
    for address in node.peers:
        peer: dict[str, Any] = {
            "address": address,
            "asn": ASN,
            "port": port,
            "local_address": node.address,
            "description": by_address[address].name,
        }
        if node.reflector and by_address[address].client:
            peer["route_reflector_client"] = True
        peers.append(peer)
    speaker: dict[str, Any] = {
        "asn": ASN,
        "router_id": node.address,
        "listen_address": node.address,
        "listen_port": port,
        "hold_time": 30,
        "connect_delay": 0.0,
        "connect_retry_time": 1.0,
        "error_wait_min": 0.5,
        "error_wait_max": 2.0,
    }
    if node.reflector:
        speaker["cluster_id"] = node.address
    data: dict[str, Any] = {
        "speaker": speaker,
        "peers": peers,
        # Calico's default IPIP mode: routes to other nodes' blocks go through the tunnel
        # device, onlink, so loopback next hops need no connected subnet.
        "kernel": {"adapter": "none" if node.reflector else "memory", "encapsulation": "ipip"},
    }
    if node.block:
        data["originate"] = {"prefixes": [node.block], "blackhole": True}
    return parse_config(data)


def _free_port(address: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((address, 0))
        return int(probe.getsockname()[1])


def _expected_routes(nodes: Sequence[DemoNode]) -> dict[str, dict[str, str]]:
    """node name -> {other block: next hop it must be installed via}."""
    out: dict[str, dict[str, str]] = {}
    for node in nodes:
        if node.reflector:
            continue
        out[node.name] = {
            str(other.block): other.address
            for other in nodes
            if other.block and other is not node
        }
    return out


def _installed(installer: MemoryInstaller) -> dict[str, str]:
    """block -> next hop (or "blackhole") of the routes in a memory installer."""
    out: dict[str, str] = {}
    for route in installer.routes.values():
        hop = "blackhole" if route.kind == "blackhole" else ",".join(map(str, route.next_hops))
        out[prefix_text(route.afi, route.prefix)] = hop
    return out


def _route_lines(installer: MemoryInstaller) -> dict[str, str]:
    """block -> the route as ``ip route`` would print it."""
    return {
        prefix_text(route.afi, route.prefix): route.describe().replace(
            f" table {route.table} metric {route.metric}", ""
        )
        for route in installer.routes.values()
    }


class _Progress:
    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.tty = stream.isatty()
        self.last = ""

    def show(self, text: str) -> None:
        if text == self.last:
            return
        self.last = text
        if self.tty:
            self.stream.write(f"\r  {text}\x1b[K")
        else:
            self.stream.write(f"  {text}\n")
        self.stream.flush()

    def done(self) -> None:
        if self.tty:
            self.stream.write("\n")


async def run_cluster(timeout: float = 30.0, out: TextIO = sys.stdout) -> bool:
    """Run the demo cluster; print the story to ``out``; True when it converged."""
    nodes = cluster()
    port = _free_port(nodes[0].address)
    expected = _expected_routes(nodes)
    sessions_total = sum(len(n.peers) for n in nodes) // 2
    print(
        f"pybgp demo: a Calico-style cluster of {len(nodes)} real BGP speakers on loopback, "
        f"AS {ASN}, port {port}",
        file=out,
    )
    for node in nodes:
        role = "route reflector" if node.reflector else f"pod block {node.block}"
        peers = ", ".join(n.name for n in nodes if n.address in node.peers)
        print(f"  {node.name:<5} {node.address:<12} {role:<26} peers: {peers}", file=out)
    print(f"\nbringing up {sessions_total} BGP sessions ...", file=out)

    speakers: dict[str, Speaker] = {}
    installers: dict[str, MemoryInstaller] = {}
    started = time.monotonic()
    converged = False
    async with contextlib.AsyncExitStack() as stack:
        for node in nodes:
            config = node_config(node, nodes, port)
            installer = None
            if not node.reflector:
                installer = MemoryInstaller()
                installers[node.name] = installer
            speaker = Speaker(config, installer=installer)
            speakers[node.name] = await stack.enter_async_context(speaker)
        progress = _Progress(out)
        deadline = started + timeout
        while time.monotonic() < deadline:
            established = sum(
                1 for s in speakers.values() for p in s.peers() if p.state.value == "Established"
            ) // 2
            good = sum(
                1
                for name, want in expected.items()
                for block, hop in want.items()
                if _installed(installers[name]).get(block) == hop
            )
            total = sum(len(w) for w in expected.values())
            progress.show(
                f"sessions established {established}/{sessions_total}, "
                f"routes installed {good}/{total}  ({time.monotonic() - started:.2f} s)"
            )
            if established == sessions_total and good == total:
                converged = True
                break
            await _next_event(speakers.values(), min(0.25, max(0.0, deadline - time.monotonic())))
        progress.done()
        elapsed = time.monotonic() - started
        _report(nodes, speakers, installers, expected, out)
        if converged:
            print(
                f"\nconverged in {elapsed:.2f} s: every node reaches every other node's pod "
                "block via that node. Stopping the cluster (Cease to every peer) ...",
                file=out,
            )
        else:
            print(f"\nthe cluster did not converge within {timeout:.0f} s", file=out)
    return converged


async def _next_event(speakers: Any, timeout: float) -> None:
    """Wait for any speaker event (or ``timeout``): the progress line moves on events."""
    streams = [s.events() for s in speakers]
    waiters = [asyncio.ensure_future(anext(aiter(stream))) for stream in streams]
    try:
        await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
        await asyncio.gather(*waiters, return_exceptions=True)
        for stream in streams:
            stream.close()


def _report(
    nodes: Sequence[DemoNode],
    speakers: dict[str, Speaker],
    installers: dict[str, MemoryInstaller],
    expected: dict[str, dict[str, str]],
    out: TextIO,
) -> None:
    names = {n.address: n.name for n in nodes}
    for node in nodes:
        speaker = speakers[node.name]
        states = ", ".join(
            f"{names.get(p.address, p.address)} {p.state.value}" for p in speaker.peers()
        )
        print(f"\n{node.name} ({node.address}) sessions: {states}", file=out)
        if node.reflector:
            count = speaker.rib.prefix_count((1, 1))
            print(f"  reflects {count} pod blocks; installs nothing (not a node)", file=out)
            continue
        routes = _installed(installers[node.name])
        lines = _route_lines(installers[node.name])
        for block in sorted(routes, key=lambda b: ip_network(b)):
            hop = routes[block]
            if hop == "blackhole":
                note = "its own block"
            elif expected[node.name].get(block) == hop:
                note = f"{names.get(hop, '?')}'s block"
            else:
                note = "UNEXPECTED"
            print(f"  {lines[block]:<55} # {note}", file=out)


def run_demo(netns: bool = False, timeout: float = 30.0) -> int:
    """Entry point of ``pybgp demo``; returns the exit code (0 = converged)."""
    if netns:
        from pybgp.demo.netns_demo import run_netns_demo

        return run_netns_demo(timeout=timeout)
    try:
        converged = asyncio.run(run_cluster(timeout=timeout))
    except KeyboardInterrupt:
        print("\ninterrupted; every speaker was stopped", file=sys.stderr)
        return 130
    return 0 if converged else 1

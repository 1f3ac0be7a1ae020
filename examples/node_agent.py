"""A Calico-style node agent built on pybgp: one node of a Kubernetes-style cluster.

What it does:

* announces the node's pod CIDR blocks (``--block``, and the blocks listed in ``--blocks-file``)
  with a blackhole route for each, as Calico does for its IPAM blocks;
* peers over iBGP with the other nodes or with route reflectors (``--peer``, repeatable);
* installs the other nodes' blocks through a kernel adapter (``--kernel netlink|memory|none``,
  netlink by default) in ``crosssubnet`` mode: plain routes to next hops on a connected
  subnet, IP-in-IP (``--tunnel-device``, onlink) to the others;
* follows the blocks file at run time: it is checked every ``--watch-interval`` seconds (and
  at once on SIGUSR1); a block added there is announced (``speaker.originate``), a block
  removed is withdrawn (``speaker.withdraw``). The file is JSON (``{"blocks": [...]}`` or a
  bare list) or TOML (``blocks = [...]``) by its suffix;
* prints its sessions and routes on start, then one line per change: ``session`` (state
  changes), ``best`` (best-path changes), ``kernel`` (what the kernel adapter accepted),
  ``blocks`` (announced/withdrawn blocks).

SIGTERM / SIGINT stop it cleanly (Cease to every peer; its kernel routes are removed).

    python examples/node_agent.py --address 10.0.0.1 --peer 10.0.0.250 \\
        --block 10.244.1.0/26 --blocks-file /var/lib/node-agent/blocks.json
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import signal
import sys
import tomllib
from collections.abc import Callable, Iterable, Sequence
from ipaddress import IPv4Network, IPv6Network, ip_address, ip_network
from pathlib import Path
from typing import Any

if __package__ is None and importlib.util.find_spec("pybgp") is None:
    # run from a checkout without installing pybgp: use the checkout's copy
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pybgp import ConfigError, Speaker, parse_config
from pybgp.kernel import (
    InstallResult,
    KernelRoute,
    RouteInstaller,
    RouteOp,
    installer_for,
)
from pybgp.kernel.base import EventCallback, IPInterface
from pybgp.speaker.events import BestPathChanged, EventStream, PeerStateChanged, SpeakerEvent
from pybgp.status import routes_snapshot
from pybgp.wire.nlri import prefix_to_str

Network = IPv4Network | IPv6Network


def say(text: str) -> None:
    """One line of output, flushed at once (the output is read line by line)."""
    print(text, flush=True)


class WatchedInstaller:
    """A RouteInstaller that forwards to another one and reports what the kernel accepted.

    It is a small example of a custom :class:`~pybgp.kernel.RouteInstaller`: every operation
    goes to ``inner``; every accepted one is passed to ``report`` (here: printed).
    """

    def __init__(self, inner: RouteInstaller, report: Callable[[InstallResult], None]) -> None:
        self.inner = inner
        self.report = report

    def _seen(self, results: Iterable[InstallResult]) -> tuple[InstallResult, ...]:
        done = tuple(results)
        for result in done:
            self.report(result)
        return done

    async def open(self) -> None:
        await self.inner.open()

    async def close(self) -> None:
        await self.inner.close()

    async def execute(self, ops: Sequence[RouteOp]) -> tuple[InstallResult, ...]:
        return self._seen(await self.inner.execute(ops))

    async def dump(self, afi: int, *, protocol: int, table: int) -> tuple[KernelRoute, ...]:
        return await self.inner.dump(afi, protocol=protocol, table=table)

    async def find(self, afi: int, prefix: bytes, *, table: int, metric: int) -> KernelRoute | None:
        return await self.inner.find(afi, prefix, table=table, metric=metric)

    async def connected_networks(self) -> tuple[IPInterface, ...]:
        return await self.inner.connected_networks()

    def subscribe(self, callback: EventCallback) -> None:
        self.inner.subscribe(callback)


def report_kernel(result: InstallResult) -> None:
    """Print one kernel operation: ``kernel replace 10.244.2.0/26 via ...`` or its failure."""
    if result.ok:
        say(f"kernel {result.action} {result.route.describe()}")
    else:
        say(f"kernel {result.action} FAILED {result.route.describe()}: {result.describe()}")


def read_blocks(path: Path) -> frozenset[Network]:
    """The blocks listed in a JSON or TOML blocks file; raises ValueError when unusable."""
    text = path.read_text(encoding="utf-8")
    data: Any
    if path.suffix == ".toml":
        data = tomllib.loads(text)
    else:
        data = json.loads(text) if text.strip() else []
    if isinstance(data, dict):
        data = data.get("blocks", [])
    if not isinstance(data, list) or not all(isinstance(item, str) for item in data):
        raise ValueError('expected a list of prefixes, or {"blocks": [...]}')
    return frozenset(ip_network(item) for item in data)  # strict: host bits are an error


def build_config(args: argparse.Namespace) -> Any:
    """The speaker config these flags describe (validated by pybgp.parse_config)."""
    address = str(ip_address(args.address))
    speaker: dict[str, Any] = {
        "asn": args.asn,
        "router_id": args.router_id or address,
        "listen_address": address,
        "listen_port": args.port,
        "control_socket": "",  # the control socket is served by `pybgp run`, not by a Speaker
        "hold_time": args.hold_time,
        "connect_delay": 0,
        "connect_retry_time": args.connect_retry,
        "error_wait_min": min(1.0, args.connect_retry),
        "error_wait_max": 10.0,
    }
    peers = [
        {"address": peer, "asn": args.asn, "port": args.port, "local_address": address}
        for peer in args.peer
    ]
    data: dict[str, Any] = {
        "speaker": speaker,
        "peers": peers,
        "kernel": {
            "adapter": args.kernel,
            "encapsulation": "crosssubnet",
            "tunnel_device": args.tunnel_device,
        },
        # the blocks are announced by the agent itself (see Agent.set_blocks); a blackhole
        # route for each one is installed when there is a kernel adapter
        "originate": {"prefixes": [], "blackhole": args.kernel != "none"},
    }
    return parse_config(data)


class Agent:
    """The node agent: a speaker, the blocks it announces, and the printing of changes."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.config = build_config(args)
        installer: RouteInstaller | None = None
        if args.kernel != "none":
            installer = WatchedInstaller(installer_for(args.kernel), report_kernel)
        self.speaker = Speaker(self.config, installer=installer)
        self.static_blocks = frozenset(ip_network(block) for block in args.block)
        self.blocks: frozenset[Network] = frozenset()
        self.blocks_file = Path(args.blocks_file) if args.blocks_file else None
        self.file_stamp: tuple[int, int, int] | None = None
        self.reread = asyncio.Event()
        self.stop = asyncio.Event()

    def set_blocks(self, wanted: frozenset[Network]) -> None:
        """Announce the blocks that are new, withdraw the ones that went away."""
        for block in sorted(wanted - self.blocks, key=str):
            self.speaker.originate(block)
            say(f"blocks announce {block}")
        for block in sorted(self.blocks - wanted, key=str):
            self.speaker.withdraw(block)
            say(f"blocks withdraw {block}")
        self.blocks = wanted

    def check_blocks_file(self, force: bool = False) -> None:
        """Re-read the blocks file when it changed (mtime, size or inode) or when forced."""
        if self.blocks_file is None:
            return
        try:
            stat = self.blocks_file.stat()
        except FileNotFoundError:
            stamp = None
        else:
            stamp = (stat.st_mtime_ns, stat.st_size, stat.st_ino)
        if stamp == self.file_stamp and not force:
            return
        self.file_stamp = stamp
        if stamp is None:
            from_file: frozenset[Network] = frozenset()
        else:
            try:
                from_file = read_blocks(self.blocks_file)
            except (OSError, ValueError, tomllib.TOMLDecodeError) as exc:
                say(f"blocks file {self.blocks_file}: not used ({exc}); keeping the blocks")
                return
        self.set_blocks(self.static_blocks | from_file)

    async def watch_blocks(self) -> None:
        """Check the blocks file on a timer, or at once when SIGUSR1 arrives."""
        while True:
            try:
                await asyncio.wait_for(self.reread.wait(), self.args.watch_interval)
            except TimeoutError:
                self.check_blocks_file()
            else:
                self.reread.clear()
                self.check_blocks_file(force=True)

    def print_state(self) -> None:
        """Sessions and Loc-RIB routes as they are now."""
        for peer in self.speaker.peers():
            info = f" ({peer.info})" if peer.info else ""
            say(f"session {peer.address} AS {peer.asn} {peer.type} {peer.state.value}{info}")
        routes = routes_snapshot(self.speaker)["routes"]
        for route in routes:
            if route["best"]:
                say(
                    f"route {route['prefix']} via {route['next_hop']} "
                    f"from {route['peer'] or 'local'} ({route['reason']})"
                )
        if not routes:
            say("route (none)")

    def print_event(self, event: SpeakerEvent) -> None:
        if isinstance(event, PeerStateChanged):
            say(f"session {event.peer} {event.old.value} -> {event.new.value}: {event.reason}")
        elif isinstance(event, BestPathChanged):
            for change in event.changes:
                prefix = prefix_to_str(change.prefix, change.family[0])
                if not change.new:
                    say(f"best {prefix} withdrawn")
                    continue
                best = change.new[0]
                hops = ",".join(str(path.next_hop) for path in change.new)
                source = best.peer_id or "local"
                say(f"best {prefix} via {hops} from {source} ({change.reason.describe()})")

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.stop.set)
        loop.add_signal_handler(signal.SIGUSR1, self.reread.set)
        async with self.speaker:
            host, port = self.speaker.listen_addresses[0]
            say(
                f"node {self.args.address} AS {self.args.asn} listening on {host}:{port}; "
                f"peers {', '.join(self.args.peer) or '(none)'}; kernel {self.args.kernel} "
                "(crosssubnet)"
            )
            with self.speaker.events() as stream:
                self.set_blocks(self.static_blocks)
                self.check_blocks_file(force=True)
                self.print_state()
                tasks = [
                    asyncio.create_task(self.watch_blocks()),
                    asyncio.create_task(self.follow(stream)),
                ]
                try:
                    await self.stop.wait()
                finally:
                    for task in tasks:
                        task.cancel()
                    await asyncio.gather(*tasks, return_exceptions=True)
            say("stopping (Cease to every peer)")
        say("stopped")

    async def follow(self, stream: EventStream) -> None:
        async for event in stream:
            self.print_event(event)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=(
            "A Calico-style node agent on pybgp: announce this node's pod blocks, peer with "
            "the other nodes or route reflectors, install their blocks in the kernel "
            "(crosssubnet IPIP), and follow a blocks file at run time."
        )
    )
    parser.add_argument("--address", required=True, help="this node's address (BGP source)")
    parser.add_argument("--asn", type=int, default=64512, help="the cluster AS (default 64512)")
    parser.add_argument("--router-id", default=None, help="BGP identifier (default: --address)")
    parser.add_argument("--port", type=int, default=179, help="BGP port, ours and peers'")
    parser.add_argument(
        "--peer", action="append", default=[], metavar="ADDRESS",
        help="another node or a route reflector (repeat the flag for several)",
    )
    parser.add_argument(
        "--block", action="append", default=[], metavar="PREFIX",
        help="a pod CIDR block this node always announces (repeatable)",
    )
    parser.add_argument(
        "--blocks-file", default=None, metavar="FILE",
        help='JSON ({"blocks": [...]}) or TOML (blocks = [...]) file of more blocks, '
        "followed at run time (SIGUSR1 re-reads it at once)",
    )
    parser.add_argument(
        "--watch-interval", type=float, default=1.0, metavar="SECONDS",
        help="how often the blocks file is checked for changes (default 1)",
    )
    parser.add_argument(
        "--kernel", choices=("netlink", "memory", "none"), default="netlink",
        help="kernel adapter (default netlink; memory keeps routes in this process)",
    )
    parser.add_argument("--tunnel-device", default="tunl0", help="IPIP device (default tunl0)")
    parser.add_argument("--hold-time", type=int, default=90, help="BGP hold time (default 90)")
    parser.add_argument(
        "--connect-retry", type=float, default=3.0, metavar="SECONDS",
        help="seconds between connection attempts (default 3)",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        agent = Agent(args)
    except (ConfigError, ValueError) as exc:
        print(f"node_agent: {exc}", file=sys.stderr)
        return 2
    asyncio.run(agent.run())
    return 0


if __name__ == "__main__":
    sys.exit(main())

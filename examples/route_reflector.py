"""A standalone route reflector (RFC 4456) for a Calico-style cluster, built on pybgp.

Clients are accepted from address ranges (``[[dynamic_peers]]``): any node of ``--clients``
that connects with the cluster AS becomes a route-reflector client; its routes are reflected
to every other client with their original next hop, so that nodes send traffic to each other
directly. Other reflectors of the cluster can be added as plain iBGP peers (``--peer``).
Nothing is installed in the reflector's own kernel.

Either from flags::

    python examples/route_reflector.py --asn 64512 --router-id 10.0.0.250 \\
        --listen 0.0.0.0 --port 179 --clients 10.0.0.0/24

or from a pybgp config file (``examples/reflector.toml``)::

    python examples/route_reflector.py --config examples/reflector.toml

It prints client sessions as they come and go (``client 10.0.0.1 up``, ``client 10.0.0.1
down: <reason>``) and the number of prefixes it reflects when that changes. SIGTERM / SIGINT
stop it cleanly.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

if __package__ is None and importlib.util.find_spec("pybgp") is None:
    # run from a checkout without installing pybgp: use the checkout's copy
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pybgp import ConfigError, Speaker, SpeakerConfig, load_config, parse_config
from pybgp.fsm import State
from pybgp.speaker.events import BestPathChanged, EventStream, PeerStateChanged
from pybgp.wire.constants import IPV4_UNICAST, IPV6_UNICAST


def say(text: str) -> None:
    """One line of output, flushed at once."""
    print(text, flush=True)


def config_from_flags(args: argparse.Namespace) -> SpeakerConfig:
    """The reflector config the flags describe (validated by pybgp.parse_config)."""
    speaker: dict[str, Any] = {
        "asn": args.asn,
        "router_id": args.router_id,
        "cluster_id": args.cluster_id or args.router_id,
        "listen_address": args.listen,
        "listen_port": args.port,
        "control_socket": "",
        "hold_time": args.hold_time,
    }
    dynamic = [
        {"range": client_range, "asn": args.asn, "route_reflector_client": True}
        for client_range in args.clients
    ]
    peers = [
        {"address": peer, "asn": args.asn, "port": args.port, "type": "route-reflector"}
        for peer in args.peer
    ]
    return parse_config(
        {
            "speaker": speaker,
            "dynamic_peers": dynamic,
            "peers": peers,
            "kernel": {"adapter": "none"},
        }
    )


class Reflector:
    """A speaker with cluster_id set, and the printing of its client sessions."""

    def __init__(self, config: SpeakerConfig) -> None:
        self.config = config
        self.speaker = Speaker(config)
        self.prefixes = -1
        self.up: set[str] = set()

    def on_event(self, event: PeerStateChanged | BestPathChanged | object) -> None:
        if isinstance(event, PeerStateChanged):
            status = self.speaker.peer(event.peer)
            kind = status.type if status is not None else "client"
            label = "client" if kind == "rr-client" or status is None else f"peer ({kind})"
            if event.new is State.ESTABLISHED:
                self.up.add(event.peer)
                say(f"{label} {event.peer} up ({len(self.up)} established)")
            elif event.old is State.ESTABLISHED:
                self.up.discard(event.peer)
                say(f"{label} {event.peer} down: {event.reason} ({len(self.up)} established)")
        elif isinstance(event, BestPathChanged):
            count = sum(self.speaker.rib.prefix_count(f) for f in (IPV4_UNICAST, IPV6_UNICAST))
            if count != self.prefixes:
                self.prefixes = count
                say(f"reflecting {count} prefixes")

    async def follow(self, stream: EventStream) -> None:
        async for event in stream:
            self.on_event(event)

    async def run(self) -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        section = self.config.speaker
        async with self.speaker:
            where = ", ".join(f"{host}:{port}" for host, port in self.speaker.listen_addresses)
            ranges = ", ".join(str(d.range) for d in self.config.dynamic_peers) or "(none)"
            say(
                f"route reflector AS {section.asn} router id {section.router_id} "
                f"cluster id {section.cluster_id} listening on {where}; clients from {ranges}"
            )
            for peer in self.config.peers:
                say(f"peer {peer.address} AS {peer.asn} ({peer.effective_type(section.asn)})")
            with self.speaker.events() as stream:
                task = asyncio.create_task(self.follow(stream))
                try:
                    await stop.wait()
                finally:
                    task.cancel()
                    await asyncio.gather(task, return_exceptions=True)
            say("stopping (Cease to every client)")
        say("stopped")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=(
            "A standalone BGP route reflector for a cluster: accepts clients from address "
            "ranges and reflects their routes to each other (RFC 4456)."
        )
    )
    parser.add_argument(
        "-c", "--config", default=None, metavar="FILE",
        help="a pybgp TOML config (with cluster_id); the other flags are then not used",
    )
    parser.add_argument("--asn", type=int, default=64512, help="cluster AS (default 64512)")
    parser.add_argument("--router-id", default=None, help="BGP identifier (required w/o -c)")
    parser.add_argument(
        "--cluster-id", default=None, help="CLUSTER_ID (default: the router id)"
    )
    parser.add_argument("--listen", default="0.0.0.0", help="listen address (default 0.0.0.0)")
    parser.add_argument("--port", type=int, default=179, help="listen port (default 179)")
    parser.add_argument(
        "--clients", action="append", default=[], metavar="RANGE",
        help="accept route-reflector clients from this range, e.g. 10.0.0.0/24 (repeatable)",
    )
    parser.add_argument(
        "--peer", action="append", default=[], metavar="ADDRESS",
        help="another route reflector: a plain iBGP peer (repeatable)",
    )
    parser.add_argument("--hold-time", type=int, default=90, help="BGP hold time (default 90)")
    args = parser.parse_args(argv)
    if args.config is None and (args.router_id is None or not args.clients):
        parser.error("give --router-id and --clients, or --config")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        config = load_config(args.config) if args.config else config_from_flags(args)
    except ConfigError as exc:
        print(f"route_reflector: {exc}", file=sys.stderr)
        return 2
    if config.speaker.cluster_id is None:
        print("route_reflector: the config has no speaker.cluster_id", file=sys.stderr)
        return 2
    asyncio.run(Reflector(config).run())
    return 0


if __name__ == "__main__":
    sys.exit(main())

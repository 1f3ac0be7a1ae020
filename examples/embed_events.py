"""Embedding pybgp in a tool: peer with one router and print best-path changes as they happen.

    python examples/embed_events.py --peer 192.0.2.1 --peer-asn 65001 --asn 65002 \\
        --local-address 192.0.2.2

One line per change::

    10.244.2.0/26 via 192.0.2.1 as-path 65001 origin igp from 192.0.2.1 (only path)
    10.244.2.0/26 withdrawn

Session changes go to stderr (``# session 192.0.2.1 OpenConfirm -> Established: ...``). The
tool never listens and announces nothing; it stops on SIGINT/SIGTERM, or after ``--count``
changes (handy in scripts and tests).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import signal
import sys
from collections.abc import Sequence
from ipaddress import IPv4Address, ip_address
from pathlib import Path

if __package__ is None and importlib.util.find_spec("pybgp") is None:
    # run from a checkout without installing pybgp: use the checkout's copy
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pybgp import PeerConfig, Speaker, SpeakerConfig, SpeakerSection
from pybgp.rib import BestPathChange
from pybgp.speaker.events import BestPathChanged, PeerStateChanged
from pybgp.wire.nlri import prefix_to_str

ORIGINS = {0: "igp", 1: "egp", 2: "incomplete"}


def describe(change: BestPathChange) -> str:
    """One readable line for a best-path change."""
    prefix = prefix_to_str(change.prefix, change.family[0])
    if not change.new:
        return f"{prefix} withdrawn"
    best = change.new[0]
    as_path = " ".join(str(asn) for asn in best.as_path_asns()) or "(empty)"
    origin = best.attributes.origin
    origin_name = ORIGINS.get(origin.value if origin is not None else 2, "?")
    hops = ",".join(str(path.next_hop) for path in change.new)
    return (
        f"{prefix} via {hops} as-path {as_path} origin {origin_name} "
        f"from {best.peer_id or 'local'} ({change.reason.describe()})"
    )


def build_config(args: argparse.Namespace) -> SpeakerConfig:
    """A speaker that only connects out to one peer (config objects built by hand)."""
    peer_address = ip_address(args.peer)
    local = ip_address(args.local_address) if args.local_address else None
    router_id = args.router_id or (str(local) if local and local.version == 4 else None)
    if router_id is None:
        raise SystemExit("embed_events: give --router-id (an IPv4 address)")
    section = SpeakerSection(
        asn=args.asn if args.asn is not None else args.peer_asn,
        router_id=IPv4Address(router_id),
        listen_address="",  # never listen: this tool only connects out
        control_socket="",
        hold_time=args.hold_time,
        connect_delay=0.0,
        connect_retry_time=args.connect_retry,
    )
    family = "ipv6" if peer_address.version == 6 else "ipv4"
    peer = PeerConfig(
        address=peer_address,
        asn=args.peer_asn,
        port=args.peer_port,
        local_address=local,
        families=(family,),
    )
    return SpeakerConfig(speaker=section, peers=(peer,))


async def watch(args: argparse.Namespace) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    seen = 0
    async with Speaker(build_config(args)) as speaker:
        print(f"# peering with {args.peer} port {args.peer_port} AS {args.peer_asn}",
              file=sys.stderr, flush=True)
        with speaker.events() as stream:
            stopper = asyncio.create_task(stop.wait())
            stopper.add_done_callback(lambda _: stream.close())
            try:
                async for event in stream:
                    if isinstance(event, PeerStateChanged):
                        print(
                            f"# session {event.peer} {event.old.value} -> {event.new.value}: "
                            f"{event.reason}",
                            file=sys.stderr, flush=True,
                        )
                    elif isinstance(event, BestPathChanged):
                        for change in event.changes:
                            print(describe(change), flush=True)
                            seen += 1
                        if args.count and seen >= args.count:
                            break
            finally:
                stopper.cancel()
                await asyncio.gather(stopper, return_exceptions=True)
    return 0


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Peer with one BGP router and print every best-path change, one line each."
    )
    parser.add_argument("--peer", required=True, metavar="ADDRESS", help="the router's address")
    parser.add_argument("--peer-asn", type=int, required=True, help="the router's AS")
    parser.add_argument("--peer-port", type=int, default=179, help="its BGP port (default 179)")
    parser.add_argument("--asn", type=int, default=None, help="our AS (default: --peer-asn)")
    parser.add_argument("--local-address", default=None, help="our source address")
    parser.add_argument(
        "--router-id", default=None, help="our BGP identifier (default: --local-address)"
    )
    parser.add_argument("--hold-time", type=int, default=90, help="hold time (default 90)")
    parser.add_argument(
        "--connect-retry", type=float, default=3.0, metavar="SECONDS",
        help="seconds between connection attempts (default 3)",
    )
    parser.add_argument(
        "--count", type=int, default=0, help="exit after this many changes (0 = never)"
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    return asyncio.run(watch(parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())

"""In-process RIB ingest benchmark: decode + apply a synthetic 1,000,000-prefix table.

The table is packed the way a real sender packs it: a few thousand attribute sets, about 500
prefixes per UPDATE (``pack_update_messages``). Phases, each timed separately:

1. peer A (eBGP, AS 65001) sends the table: ``decode_update`` + ``Rib.apply_update`` per
   message; every prefix reaches the Loc-RIB with its best path decided;
2. peer B (eBGP, AS 65002) comes up and gets the initial table (Adj-RIB-Out + packing);
   with ``--export-during`` B is up from the start and phase 1 includes exporting to it;
3. B sends the same prefixes with a longer AS_PATH: every prefix gets a second candidate, the
   decision runs and keeps A's path (no change, nothing to export); with ``--mix`` B groups
   the prefixes into attribute sets unlike A (each UPDATE of B meets ~500 different A paths);
4. A goes down: its million paths are withdrawn and B's become best.

With ``--add-path`` both sessions negotiated ADD-PATH (RFC 7911) both ways: A and B send their
tables with path ids, and each is sent every path (``add_paths_send = "all"``): phase 2 is B's
initial table with path ids, phase 3 also sends B's paths to A as second paths.

Prints wall time per phase, RSS growth per prefix and peak RSS; ``--profile`` adds a cProfile
summary (top 10 by internal time) of phase 1 (and 3 with ``--profile-second``).

    python benchmarks/ingest_core.py [--prefixes N] [--sets N] [--profile] [--export-during]
                                     [--add-path]
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import io
import pstats
import random
import resource
import sys
import time
from ipaddress import IPv4Address, ip_address
from pathlib import Path as FsPath

sys.path.insert(0, str(FsPath(__file__).resolve().parent.parent))

from pybgp.rib import PeerInfo, Rib
from pybgp.wire.attributes import (
    AsPath,
    AsPathSegment,
    Communities,
    MultiExitDisc,
    NextHop,
    Origin,
    PathAttributes,
)
from pybgp.wire.constants import IPV4_UNICAST, AsPathSegmentType
from pybgp.wire.negotiated import Negotiated
from pybgp.wire.update import decode_update, pack_update_messages

LOCAL_AS = 64512


def rss_bytes() -> int:
    """Current resident set size."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize()


def peak_rss_bytes() -> int:
    """Peak resident set size (ru_maxrss is in KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def make_prefixes(count: int) -> list[bytes]:
    """``count`` distinct IPv4 prefixes, mostly /24 with some /20-/23 as in a real table."""
    keys: list[bytes] = []
    base = 1 << 24  # 1.0.0.0
    step = 1 << 8
    rng = random.Random(7)
    address = base
    while len(keys) < count:
        roll = rng.random()
        plen = (
            24
            if roll < 0.7
            else 23
            if roll < 0.8
            else 22
            if roll < 0.9
            else 21
            if roll < 0.95
            else 20
        )
        size = 1 << (32 - plen)
        address = (address + size - 1) // size * size
        packed = address.to_bytes(4, "big")
        keys.append(bytes((plen,)) + packed[: (plen + 7) // 8])
        address += max(size, step)
    return keys


def make_sets(count: int, peer_as: int, prepend: int, next_hop: str) -> list[PathAttributes]:
    """``count`` distinct attribute sets as a transit peer would send them."""
    rng = random.Random(11)
    sets = []
    for i in range(count):
        length = rng.randint(1, 5)
        asns = (peer_as,) * (1 + prepend) + tuple(rng.randint(1, 400000) for _ in range(length))
        parts: list[object] = [
            Origin(rng.choice((0, 0, 0, 2))),
            AsPath((AsPathSegment(AsPathSegmentType.AS_SEQUENCE, asns),)),
            NextHop(IPv4Address(next_hop)),
        ]
        if rng.random() < 0.3:
            parts.append(MultiExitDisc(rng.randint(0, 1000)))
        # Every set distinct: a per-set community, plus a few shared ones on half of them.
        shared = tuple(peer_as << 16 | rng.randint(0, 999) for _ in range(3 * (rng.random() < 0.5)))
        parts.append(Communities((*shared, (peer_as << 16) | (1000 + i))))
        sets.append(PathAttributes(tuple(parts)))  # type: ignore[arg-type]
    return sets


def make_messages(
    keys: list[bytes], sets: list[PathAttributes], negotiated: Negotiated
) -> list[bytes]:
    """UPDATE bodies: prefixes dealt to attribute sets in runs, packed by the real packer."""
    per_set = len(keys) // len(sets)
    bodies: list[bytes] = []
    for i, attributes in enumerate(sets):
        run = keys[i * per_set : (i + 1) * per_set] if i < len(sets) - 1 else keys[i * per_set :]
        for message in pack_update_messages(IPV4_UNICAST, attributes, run, (), negotiated):
            bodies.append(message[19:])
    return bodies


def ingest(rib: Rib, peer_id: str, bodies: list[bytes], negotiated: Negotiated) -> int:
    """Decode and apply every body; returns the number of best-path changes."""
    changes = 0
    apply = rib.apply_update
    for body in bodies:
        changes += len(apply(peer_id, decode_update(body, negotiated)).changes)
    return changes


def peer(address: str, asn: int, add_paths_send: int = 1) -> PeerInfo:
    """An eBGP peer description."""
    return PeerInfo(
        peer_id=address,
        address=ip_address(address),
        asn=asn,
        local_as=LOCAL_AS,
        local_address=ip_address("10.0.0.1"),
        add_paths_send=add_paths_send,
    )


def profiled(label: str, function, *args):  # type: ignore[no-untyped-def]
    """Run under cProfile and print the top 10 by internal time."""
    profile = cProfile.Profile()
    result = profile.runcall(function, *args)
    stream = io.StringIO()
    pstats.Stats(profile, stream=stream).sort_stats("tottime").print_stats(10)
    print(f"--- cProfile, {label} (top 10 by tottime) ---")
    print("\n".join(line for line in stream.getvalue().splitlines() if line.strip())[:4000])
    return result


def main() -> None:
    """Run the benchmark."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prefixes", type=int, default=1_000_000)
    parser.add_argument("--sets", type=int, default=2000)
    parser.add_argument("--profile", action="store_true", help="profile phase 1")
    parser.add_argument("--profile-second", action="store_true", help="profile phase 3")
    parser.add_argument(
        "--freeze",
        action="store_true",
        help="gc.freeze() after each phase (what a speaker can do after a table load)",
    )
    parser.add_argument(
        "--mix", action="store_true", help="B deals prefixes to attribute sets unlike A"
    )
    parser.add_argument(
        "--export-during", action="store_true", help="peer B is up during phase 1 (no phase 2)"
    )
    parser.add_argument(
        "--add-path", action="store_true", help="ADD-PATH both ways on both sessions, send all"
    )
    args = parser.parse_args()

    both = frozenset({IPV4_UNICAST}) if args.add_path else frozenset()
    neg_a = Negotiated(local_as=LOCAL_AS, peer_as=65001, add_path_receive=both, add_path_send=both)
    neg_b = Negotiated(local_as=LOCAL_AS, peer_as=65002, add_path_receive=both, add_path_send=both)
    keys = make_prefixes(args.prefixes)
    bodies_a = make_messages(keys, make_sets(args.sets, 65001, 0, "192.0.2.1"), neg_a)
    if args.mix:
        # B groups the prefixes differently from A: each UPDATE of B touches many A paths.
        keys = keys[:]
        random.Random(3).shuffle(keys)
    bodies_b = make_messages(keys, make_sets(args.sets, 65002, 2, "192.0.2.2"), neg_b)
    del keys
    print(
        f"table: {args.prefixes} prefixes, {args.sets} attribute sets, "
        f"{'ADD-PATH both ways, send all, ' if args.add_path else ''}"
        f"{len(bodies_a)} UPDATEs per peer ({args.prefixes / len(bodies_a):.0f} prefixes each)"
    )

    rib = Rib(LOCAL_AS, IPv4Address("10.0.0.1"))
    limit = 0 if args.add_path else 1  # 0 = all paths (with ADD-PATH negotiated)
    rib.add_peer(peer("192.0.2.1", 65001, limit))
    rib.add_peer(peer("192.0.2.2", 65002, limit))
    rib.peer_up("192.0.2.1", neg_a, IPv4Address("1.1.1.1"))
    if args.export_during:
        rib.peer_up("192.0.2.2", neg_b, IPv4Address("2.2.2.2"))
    gc.collect()
    base = rss_bytes()

    start = time.perf_counter()
    if args.profile:
        changes = profiled("phase 1", ingest, rib, "192.0.2.1", bodies_a, neg_a)
    else:
        changes = ingest(rib, "192.0.2.1", bodies_a, neg_a)
    first = time.perf_counter() - start
    after_first = rss_bytes()
    count = rib.prefix_count(IPV4_UNICAST)
    assert count == args.prefixes, count
    print(
        f"phase 1 (first table{', exported to B' if args.export_during else ''}): "
        f"{first:6.2f} s  {changes} changes  Loc-RIB {count}  "
        f"+{(after_first - base) / count:5.0f} bytes/prefix"
    )

    if args.freeze:
        gc.freeze()
    if not args.export_during:
        start = time.perf_counter()
        out = rib.peer_up("192.0.2.2", neg_b, IPv4Address("2.2.2.2"))
        export = time.perf_counter() - start
        sent = len(out.messages["192.0.2.2"])
        del out
        after_first, before = rss_bytes(), after_first
        print(
            f"phase 2 (B up: initial table to B): {export:6.2f} s  {sent} UPDATEs  "
            f"+{(after_first - before) / count:5.0f} bytes/prefix (Adj-RIB-Out)"
        )

    if args.freeze:
        gc.freeze()
    start = time.perf_counter()
    if args.profile_second:
        changes = profiled("phase 3", ingest, rib, "192.0.2.2", bodies_b, neg_b)
    else:
        changes = ingest(rib, "192.0.2.2", bodies_b, neg_b)
    second = time.perf_counter() - start
    after_second = rss_bytes()
    first_key = decode_update(bodies_a[0], neg_a).update.nlri[0]
    assert rib.best(IPV4_UNICAST, first_key)[0].peer_id == "192.0.2.1"
    print(
        f"phase 3 (second table, longer AS_PATH): {second:6.2f} s  {changes} changes  "
        f"+{(after_second - after_first) / count:5.0f} bytes/prefix "
        f"(RIB total {(after_second - base) / count:.0f})"
    )
    if args.freeze:
        gc.freeze()
    start = time.perf_counter()
    out = rib.peer_down("192.0.2.1")
    down = time.perf_counter() - start
    assert rib.best(IPV4_UNICAST, first_key)[0].peer_id == "192.0.2.2"
    print(f"phase 4 (A down: every best moves to B): {down:6.2f} s  {len(out.changes)} changes")
    print(f"peak RSS {peak_rss_bytes() / 2**20:.0f} MiB (includes the pre-encoded messages)")


if __name__ == "__main__":
    main()

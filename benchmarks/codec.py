"""UPDATE codec throughput on a synthetic full IPv4 table.

Builds a 1,000,000-prefix IPv4 table the way a sender packs it: prefixes that share attributes
share UPDATEs (batches of at most ``--batch`` prefixes handed to ``pack_update_messages``, each
message at most 4096 octets), a few thousand distinct attribute sets with AS_PATHs of 1 to 6
ASNs and communities on some. Then prints, beside a reference:

* decode: ``decode_update`` over every message body (attribute memo cold at the start);
* encode: ``encode_update`` of every decoded ``Update`` (re-encoding, as a route server would)
  and ``pack_update_messages`` from fresh attribute objects (the sender's path);
* the reference: a bare Python loop slicing the NLRI bytes of the same messages and nothing
  else; each codec figure is also printed as a ratio of it;
* memory: bytes allocated per decoded prefix (tracemalloc over the list of results).

Run: ``python benchmarks/codec.py [--prefixes N] [--sets N] [--batch N] [--seed N]``.
The machine is shared: run it a few times and read the spread.
"""

from __future__ import annotations

import argparse
import gc
import random
import sys
import time
import tracemalloc
from collections.abc import Callable
from ipaddress import IPv4Address
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout

from pybgp.wire.attribute_codec import clear_attribute_memo
from pybgp.wire.attributes import (
    AsPath,
    AsPathSegment,
    Attribute,
    Communities,
    LocalPref,
    MultiExitDisc,
    NextHop,
    Origin,
    PathAttributes,
)
from pybgp.wire.constants import IPV4_UNICAST
from pybgp.wire.negotiated import Negotiated
from pybgp.wire.update import decode_update, encode_update, pack_update_messages


def make_table(
    n_prefixes: int, n_sets: int, seed: int, unicast_only: bool = False
) -> dict[int, list[bytes]]:
    """Prefix keys grouped by attribute-set index; lengths /8../24 weighted like the DFZ.
    ``unicast_only`` leaves out 0/8, 127/8 and 224/3 (multicast and reserved), which BIRD
    refuses as invalid networks: a table every implementation accepts whole."""
    rng = random.Random(seed)
    lengths = [24] * 60 + [23] * 8 + [22] * 10 + [21] * 5 + [20] * 5 + [19] * 4
    lengths += [18] * 2 + [17] * 2 + [16] * 3 + [12, 13, 14, 15]
    seen: set[bytes] = set()
    groups: dict[int, list[bytes]] = {}
    weights = [1.0 / (i + 1) ** 0.8 for i in range(n_sets)]  # a few sets carry many prefixes
    set_of = rng.choices(range(n_sets), weights=weights, k=n_prefixes * 2)
    k = 0
    while len(seen) < n_prefixes:
        plen = rng.choice(lengths)
        addr = rng.getrandbits(32) & (0xFFFFFFFF << (32 - plen)) & 0xFFFFFFFF
        key = bytes((plen,)) + addr.to_bytes(4, "big")[: (plen + 7) >> 3]
        if unicast_only and (addr >> 24 in (0, 127) or addr >> 24 >= 224):
            continue
        if key in seen:
            continue
        seen.add(key)
        groups.setdefault(set_of[k], []).append(key)
        k += 1
    return groups


def make_attribute_sets(n_sets: int, seed: int) -> list[PathAttributes]:
    rng = random.Random(seed + 1)
    out = []
    for i in range(n_sets):
        path = tuple(
            [65001] + [rng.choice((174, 3356, 1299, 2914, 6939, rng.randrange(1, 400000)))
                       for _ in range(rng.randrange(0, 6))]
        )  # fmt: skip
        attrs: list[Attribute] = [
            Origin(rng.choice((0, 0, 0, 2))),
            AsPath((AsPathSegment(2, path),)),
            NextHop(IPv4Address(f"192.0.2.{1 + i % 4}")),
        ]
        if rng.random() < 0.3:
            attrs.append(MultiExitDisc(rng.randrange(0, 1000)))
        attrs.append(LocalPref(100))
        if rng.random() < 0.4:
            attrs.append(
                Communities(tuple(65001 << 16 | rng.randrange(1, 500) for _ in range(1, 4)))
            )
        out.append(PathAttributes(tuple(attrs)))
    return out


def build_messages(
    groups: dict[int, list[bytes]], sets: list[PathAttributes], batch: int, neg: Negotiated
) -> list[bytes]:
    messages: list[bytes] = []
    for index, keys in sorted(groups.items()):
        for start in range(0, len(keys), batch):
            messages += pack_update_messages(
                IPV4_UNICAST, sets[index], keys[start : start + batch], (), neg
            )
    return messages


def bare_loop(nlri_fields: list[bytes]) -> int:
    """The reference: slice every prefix out of the NLRI fields, nothing else."""
    count = 0
    for data in nlri_fields:
        out = []
        append = out.append
        i = 0
        n = len(data)
        while i < n:
            end = i + 1 + ((data[i] + 7) >> 3)
            append(data[i:end])
            i = end
        count += len(out)
    return count


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    gc.collect()
    gc.disable()
    try:
        start = time.perf_counter()
        result = fn()
        return time.perf_counter() - start, result
    finally:
        gc.enable()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prefixes", type=int, default=1_000_000)
    parser.add_argument("--sets", type=int, default=3000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    # iBGP session (LOCAL_PREF allowed), 4-octet AS.
    neg = Negotiated(local_as=65000, peer_as=65000)
    groups = make_table(args.prefixes, args.sets, args.seed)
    sets = make_attribute_sets(args.sets, args.seed)
    messages = build_messages(groups, sets, args.batch, neg)
    bodies = [m[19:] for m in messages]
    total = sum(len(v) for v in groups.values())
    nlri_fields = []
    for body in bodies:
        wlen = int.from_bytes(body[:2], "big")
        alen = int.from_bytes(body[2 + wlen : 4 + wlen], "big")
        nlri_fields.append(body[4 + wlen + alen :])
    print(
        f"table: {total:,} prefixes, {len(groups):,} attribute sets, {len(messages):,} UPDATEs "
        f"({total / len(messages):.0f} prefixes/UPDATE, {sum(map(len, messages)):,} octets)"
    )

    ref_time, ref_count = timed(lambda: bare_loop(nlri_fields))
    assert ref_count == total
    ref_rate = total / ref_time

    clear_attribute_memo()
    dec_time, results = timed(lambda: [decode_update(b, neg) for b in bodies])
    decoded = sum(len(r.update.nlri) for r in results)
    assert decoded == total and all(r.action == 0 for r in results)
    dec_rate = total / dec_time
    distinct = len({id(r.update.attributes) for r in results})

    enc_time, encoded = timed(lambda: [encode_update(r.update, neg) for r in results])
    assert encoded == messages, "re-encoding is not byte exact"
    enc_rate = total / enc_time

    fresh = [PathAttributes(s.attributes) for s in sets]  # no cached wire form
    pack_time, packed = timed(lambda: build_messages(groups, fresh, args.batch, neg))
    assert packed == messages
    pack_rate = total / pack_time

    results = []
    clear_attribute_memo()
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    kept = [decode_update(b, neg) for b in bodies]
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    per_prefix = (after - before) / total
    del kept

    print(f"reference bare NLRI loop : {ref_time:6.3f} s  {ref_rate:>12,.0f} prefixes/s  (1.00)")
    print(
        f"decode_update            : {dec_time:6.3f} s  {dec_rate:>12,.0f} prefixes/s  "
        f"({dec_rate / ref_rate:.2f} of reference)  {distinct:,} interned attribute objects"
    )
    print(
        f"encode_update (re-encode): {enc_time:6.3f} s  {enc_rate:>12,.0f} prefixes/s  "
        f"({enc_rate / ref_rate:.2f} of reference)"
    )
    print(
        f"pack_update_messages     : {pack_time:6.3f} s  {pack_rate:>12,.0f} prefixes/s  "
        f"({pack_rate / ref_rate:.2f} of reference)"
    )
    print(f"memory per decoded prefix: {per_prefix:.1f} bytes (tracemalloc, results list kept)")


if __name__ == "__main__":
    main()

"""Kernel route installation speed: pybgp's batched rtnetlink against pyroute2.

Creates its own network namespace ``pybgp-bench-<pid>`` (a veth pair, 10.0.0.1/16 on one
end so every next hop used is directly reachable), opens every socket inside it (the process
itself stays in the root namespace) and always deletes it in a ``finally``. Needs root.

Figures, per run: add, replace and delete of N IPv4 routes through ``NetlinkInstaller``
(batched, one ack per route, every error attributed), a reconcile of N desired against N
present with 1% changed, KernelSync applying N best-path changes and withdrawing them
(with the notification monitor on, as in production), then pyroute2's one-call-per-route
API on a subset as the reference, side by side as a rate ratio.

    python benchmarks/kernel.py [--routes 100000] [--reference 5000] [--runs 3]
        [--only-sync] [--no-monitor] [--profile FILE]

``--only-sync``: only the KernelSync figures; ``--no-monitor``: KernelSync without the
notification monitor (to see what the monitor costs); ``--profile FILE``: cProfile the runs.
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable

import attrs
from pyroute2 import IPRoute

from pybgp.kernel import KernelRoute, KernelSync, KernelSyncOptions, NetlinkInstaller

A = ipaddress.ip_address


def sh(*args: str) -> None:
    subprocess.run(args, check=True, capture_output=True)


def make_namespace(name: str) -> None:
    sh("ip", "netns", "add", name)
    sh("ip", "-n", name, "link", "set", "lo", "up")
    sh("ip", "-n", name, "link", "add", "va", "type", "veth", "peer", "name", "vb")
    sh("ip", "-n", name, "link", "set", "va", "up")
    sh("ip", "-n", name, "link", "set", "vb", "up")
    sh("ip", "-n", name, "addr", "add", "10.0.0.1/16", "dev", "va")


def prefixes(count: int, base: int = 0x64000000) -> list[bytes]:
    """``count`` distinct /32 prefix keys from 100.0.0.0 up."""
    return [b"\x20" + (base + i).to_bytes(4, "big") for i in range(count)]


@attrs.frozen
class Path:
    next_hop: ipaddress.IPv4Address | ipaddress.IPv6Address
    peer_id: str | None


@attrs.frozen
class Change:
    family: tuple[int, int]
    prefix: bytes
    new: tuple[Path, ...]


async def timed(what: Callable[[], Awaitable[object]]) -> float:
    start = time.perf_counter()
    await what()
    return time.perf_counter() - start


async def one_run(
    netns: str, count: int, *, only_sync: bool = False, monitor: bool = True
) -> dict[str, float]:
    figures: dict[str, float] = {}
    keys = prefixes(count)
    if not only_sync:
        await installer_run(netns, keys, figures)
    await sync_run(netns, keys, figures, monitor=monitor)
    return figures


async def installer_run(netns: str, keys: list[bytes], figures: dict[str, float]) -> None:
    count = len(keys)
    gateway, other = A("10.0.0.2"), A("10.0.0.3")
    first = [KernelRoute(1, key, (gateway,)) for key in keys]
    second = [KernelRoute(1, key, (other,)) for key in keys]

    async with NetlinkInstaller(netns, monitor=False) as installer:

        async def checked(results: Awaitable[tuple[object, ...]]) -> None:
            failed = [r for r in await results if not getattr(r, "ok", False)]
            if failed:
                raise RuntimeError(f"{len(failed)} routes failed, first: {failed[0]}")

        figures["add"] = await timed(lambda: checked(installer.install_many(first)))
        figures["replace"] = await timed(
            lambda: checked(installer.install_many(second, replace=True))
        )
        figures["delete"] = await timed(lambda: checked(installer.remove_many(second)))

        await checked(installer.install_many(first))
        changed = max(1, count // 100)
        desired = [*first[: count - changed], *second[count - changed :]]

        async def reconcile() -> None:
            result = await installer.reconcile(1, desired, protocol=186, table=254)
            if result.replaced != changed or result.unchanged != count - changed:
                raise RuntimeError(f"reconcile did {result}")

        figures["reconcile"] = await timed(reconcile)
        await checked(installer.remove_many(desired))


async def sync_run(
    netns: str, keys: list[bytes], figures: dict[str, float], *, monitor: bool
) -> None:
    """KernelSync applying then withdrawing one best path per key (monitor on unless told)."""
    count = len(keys)
    gateway = A("10.0.0.2")
    sync = KernelSync(NetlinkInstaller(netns, monitor=monitor), KernelSyncOptions())
    await sync.start()
    try:
        announce = [Change((1, 1), key, (Path(gateway, "10.0.0.2"),)) for key in keys]
        withdraw = [Change((1, 1), key, ()) for key in keys]
        figures["sync apply"] = await timed(lambda: sync.apply(announce))
        if sync.installed_count != count:
            raise RuntimeError(f"sync installed {sync.installed_count}")
        figures["sync withdraw"] = await timed(lambda: sync.apply(withdraw))
        if sync.installed_count != 0:
            raise RuntimeError(f"sync left {sync.installed_count} installed")
    finally:
        await sync.stop()


def reference_run(netns: str, reference: int) -> dict[str, float]:
    """pyroute2's synchronous one-call-per-route API (outside any event loop)."""
    figures: dict[str, float] = {}
    texts = [f"{ipaddress.IPv4Address(key[1:])}" for key in prefixes(reference)]
    with IPRoute(netns=netns) as ipr:
        start = time.perf_counter()
        for text in texts:
            ipr.route("add", dst=text, dst_len=32, gateway="10.0.0.2", proto=186)
        figures["pyroute2 add"] = time.perf_counter() - start
        start = time.perf_counter()
        for text in texts:
            ipr.route("del", dst=text, dst_len=32, proto=186)
        figures["pyroute2 delete"] = time.perf_counter() - start
    return figures


def report(runs: list[dict[str, float]], count: int, reference: int) -> None:
    sizes = {"pyroute2 add": reference, "pyroute2 delete": reference}
    print(
        f"{'operation':<16} {'routes':>7} "
        + " ".join(f"{'run ' + str(i + 1):>18}" for i in range(len(runs)))
        + f" {'median routes/s':>16}"
    )
    rates: dict[str, float] = {}
    for name in runs[0]:
        size = sizes.get(name, count)
        cells = " ".join(f"{r[name]:7.3f}s {size / r[name]:8.0f}/s" for r in runs)
        rates[name] = statistics.median(size / r[name] for r in runs)
        print(f"{name:<16} {size:>7} {cells} {rates[name]:16.0f}")
    print()
    if "add" not in rates:
        return
    for ours, theirs in (("add", "pyroute2 add"), ("delete", "pyroute2 delete")):
        print(
            f"{ours:<7} pybgp {rates[ours]:9.0f}/s vs pyroute2 {rates[theirs]:7.0f}/s: "
            f"x{rates[ours] / rates[theirs]:.1f}"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--routes", type=int, default=100_000)
    parser.add_argument("--reference", type=int, default=5_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--only-sync", action="store_true", help="only the KernelSync apply/withdraw figures"
    )
    parser.add_argument(
        "--no-monitor", action="store_true", help="KernelSync without the notification monitor"
    )
    parser.add_argument("--profile", metavar="FILE", help="cProfile the runs into FILE")
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("needs root (creates a network namespace)", file=sys.stderr)
        return 2
    netns = f"pybgp-bench-{os.getpid()}"
    make_namespace(netns)
    try:
        runs = []
        profiler = None
        if args.profile:
            import cProfile

            profiler = cProfile.Profile()
            profiler.enable()
        for _ in range(args.runs):
            figures = asyncio.run(
                one_run(netns, args.routes, only_sync=args.only_sync, monitor=not args.no_monitor)
            )
            if not args.only_sync:
                figures.update(reference_run(netns, args.reference))
            runs.append(figures)
        if profiler is not None:
            profiler.disable()
            profiler.dump_stats(args.profile)
    finally:
        subprocess.run(["ip", "netns", "del", netns], check=False)
    report(runs, args.routes, args.reference)
    return 0


if __name__ == "__main__":
    sys.exit(main())

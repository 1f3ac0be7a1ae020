"""Kernel route installation: pybgp's KernelSync beside BIRD 2's kernel protocol, same run.

Creates its own network namespaces ``pybgp-bench-<pid>`` and ``pybgp-bench-<pid>-bird`` (each
with a veth pair, 10.0.0.1/16 on one end so every next hop used is directly reachable), runs
everything that touches routes inside them and always deletes them (and stops every process it
started) in a ``finally``. Needs root. BIRD and pybgp each have their own namespace, so that
neither reads the other's 100,000 route notifications.

The comparison (the default): N IPv4 /32 routes via 10.0.0.2 go into the namespace's main
table and out again, alternately by

* BIRD 2: a ``protocol static`` holding the N routes (disabled at start) exported to
  ``protocol kernel``; ``enable`` puts them in, ``disable`` takes them out, each command sent
  on BIRD's control socket;
* pybgp: a child process (``--child``) running :class:`~pybgp.kernel.KernelSync` over the
  ``NetlinkInstaller`` with its notification monitor, as the speaker runs it: fed the RIB's
  :class:`~pybgp.rib.types.ChangeList` (groups of 500 prefixes sharing one best path, as
  UPDATEs bring them), told "in"/"out" on its stdin.

Both are timed the same way, by this process: from the command being written until a
netlink socket subscribed to the route notifications has seen N RTM_NEWROUTE (or
RTM_DELROUTE) messages of that daemon's protocol (12 = bird, 186 = pybgp's bgp). Medians of
``--runs`` rounds. Memory: the child's RSS (VmRSS) before the first round and after each
withdrawal, over ``--cycles`` rounds of N in and out (the rounds after ``--runs`` are pybgp
only).

``--learned`` adds the same N routes learned over an iBGP session, ``pybgp run`` beside BIRD 2's
bgp and kernel protocols (``benchmarks/kernel_learned.py``).

``--installer`` prints the older figures instead: add, replace and delete of N routes through
``NetlinkInstaller`` directly, a reconcile with 1% changed, and pyroute2's one-call-per-route
API on ``--reference`` routes as the reference.

    python benchmarks/kernel.py [--routes 100000] [--runs 3] [--cycles 15] [--no-bird] [--learned]
    python benchmarks/kernel.py --installer [--routes 100000] [--reference 5000] [--runs 3]
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import ipaddress
import json
import os
import select
import shutil
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable
from pathlib import Path as FilePath
from typing import Any

import attrs

sys.path.insert(0, str(FilePath(__file__).resolve().parent.parent))  # run from a checkout
sys.path.insert(0, str(FilePath(__file__).resolve().parent))  # kernel_learned

import kernel_learned
from kernel_learned import ratio

from pybgp.kernel import (
    KernelRoute,
    KernelSync,
    KernelSyncOptions,
    NetlinkInstaller,
    rtnl,
)
from pybgp.rib.decision import BestPathReason
from pybgp.rib.types import ChangeList

A = ipaddress.ip_address
RTPROT_BIRD = 12
RTPROT_BGP = 186
GROUP = 500
"""Prefixes per change group (what one UPDATE carries, roughly)."""
TIMEOUT = 300.0


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


def rss_mib() -> float:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


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


# -- the watcher: counts route notifications per protocol ----------------------------------


class Watcher:
    """A thread reading route notifications in ``netns``; :meth:`timed` runs an action and
    answers how long until ``count`` notifications of one type and protocol were seen."""

    def __init__(self, netns: str) -> None:
        self._sock = rtnl.open_socket(netns)
        self._sock.setsockopt(socket.SOL_SOCKET, rtnl.SO_RCVBUFFORCE, 256 << 20)
        self._sock.bind((0, rtnl.RTMGRP_IPV4_ROUTE))
        self._sock.setblocking(False)
        self._lock = threading.Lock()
        self._want: tuple[int, int] = (0, 0)
        self._target = 0
        self._seen = 0
        self._done = threading.Event()
        self._finished_at = 0.0
        self._overrun = False
        self._stop = False
        self._thread = threading.Thread(target=self._read, name="route-watcher", daemon=True)
        self._thread.start()

    def _read(self) -> None:
        buffer = bytearray(4 << 20)
        view = memoryview(buffer)
        header = struct.Struct("=IHHII")
        while not self._stop:
            ready, _, _ = select.select([self._sock], [], [], 0.1)
            if not ready:
                continue
            try:
                size = self._sock.recv_into(buffer)
            except BlockingIOError:
                continue
            except OSError:
                self._overrun = True
                self._done.set()
                continue
            offset = 0
            while offset + 16 <= size:
                length, kind, _flags, _seq, _pid = header.unpack_from(view, offset)
                if length < 16:
                    break
                # rtm_protocol: the sixth octet of struct rtmsg, after the 16-octet header
                if (kind, view[offset + 21]) == self._want:
                    self._seen += 1
                    if self._seen == self._target:
                        self._finished_at = time.perf_counter()
                        self._done.set()
                offset += (length + 3) & ~3

    def timed(self, action: Callable[[], object], kind: int, protocol: int, count: int) -> float:
        """Seconds from calling ``action`` until ``count`` messages were seen."""
        self._done.clear()
        self._seen = 0
        self._target = count
        self._want = (kind, protocol)
        start = time.perf_counter()
        action()
        if not self._done.wait(TIMEOUT):
            raise RuntimeError(f"saw {self._seen} of {count} notifications in {TIMEOUT:g}s")
        if self._overrun:
            raise RuntimeError("the watcher's socket overran (ENOBUFS): figures unusable")
        self._want = (0, 0)
        return self._finished_at - start

    def close(self) -> None:
        self._stop = True
        self._thread.join()
        self._sock.close()


# -- BIRD 2 --------------------------------------------------------------------------------


class Bird:
    """BIRD 2 in ``netns`` with ``routes`` in a disabled static protocol exported to the
    kernel; :meth:`command` talks to its control socket directly (no birdc process)."""

    def __init__(self, netns: str, workdir: str, keys: list[bytes]) -> None:
        self.socket_path = os.path.join(workdir, "bird.ctl")
        config = os.path.join(workdir, "bird.conf")
        statics = "\n".join(
            f"  route {ipaddress.IPv4Address(key[1:])}/32 via 10.0.0.2;" for key in keys
        )
        with open(config, "w", encoding="ascii") as out:
            out.write(
                "router id 10.0.0.1;\n"
                "protocol device { scan time 10; }\n"
                "protocol kernel k4 { ipv4 { import none; export all; }; }\n"
                f"protocol static s4 {{ disabled; ipv4;\n{statics}\n}}\n"
            )
        self.process = subprocess.Popen(
            ["ip", "netns", "exec", netns, "bird", "-f", "-c", config, "-s", self.socket_path],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + 60
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"bird exited: {self.process.stderr.read()!r}")  # type: ignore[union-attr]
            try:
                if "up and running" in self.command("show status"):
                    return
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("BIRD did not start within 60 s")
            time.sleep(0.05)

    def command(self, text: str) -> str:
        """Send one CLI command, return the reply (up to the line with a final code)."""
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.connect(self.socket_path)
            reply = b""
            while b"\n" not in reply:  # the greeting: "0001 BIRD 2.x ready."
                reply += sock.recv(4096)
            sock.sendall(text.encode() + b"\n")
            reply = b""
            while not any(line[:4].isdigit() and line[4:5] == b" " for line in reply.split(b"\n")):
                chunk = sock.recv(65536)
                if not chunk:
                    break
                reply += chunk
            return reply.decode(errors="replace")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


# -- pybgp: a child process running KernelSync ----------------------------------------------


def change_lists(count: int) -> tuple[ChangeList, ChangeList]:
    """The RIB's change lists for ``count`` routes coming in via 10.0.0.2, and going away."""
    keys = prefixes(count)
    path = (Path(A("10.0.0.2"), "10.0.0.2"),)
    reason = BestPathReason.ONLY_PATH
    groups = [keys[i : i + GROUP] for i in range(0, count, GROUP)]
    announce = ChangeList([((1, 1), group, (), path, reason) for group in groups])  # type: ignore[misc]
    withdraw = ChangeList([((1, 1), group, path, (), reason) for group in groups])  # type: ignore[misc]
    return announce, withdraw


async def child(netns: str, count: int) -> None:
    """Apply/withdraw on each "in"/"out" line of stdin; one JSON line per command."""
    sync = KernelSync(NetlinkInstaller(netns), KernelSyncOptions())
    await sync.start()
    announce, withdraw = change_lists(count)
    # stdin read by the event loop, which keeps reading kernel notifications in between
    # (BIRD's 100,000 while it has its turn)
    loop = asyncio.get_running_loop()
    commands = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(commands), sys.stdin)
    print(json.dumps({"ready": True, "rss": rss_mib()}), flush=True)
    try:
        while line := (await commands.readline()).decode():
            command = line.strip()
            if command not in ("in", "out"):
                break
            seconds = await timed(lambda c=command: sync.apply(announce if c == "in" else withdraw))  # type: ignore[misc]
            expected = count if command == "in" else 0
            if sync.installed_count != expected:
                raise RuntimeError(f"{sync.installed_count} installed after {command!r}")
            print(json.dumps({"seconds": seconds, "rss": rss_mib()}), flush=True)
    finally:
        await sync.stop()


class Child:
    def __init__(self, netns: str, count: int) -> None:
        self.process = subprocess.Popen(
            [sys.executable, __file__, "--child", netns, "--routes", str(count)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.ready = self.answer()

    def send(self, command: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(command + "\n")
        self.process.stdin.flush()

    def answer(self) -> dict[str, Any]:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"the pybgp child exited ({self.process.wait()})")
        return dict(json.loads(line))

    def stop(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid`` (from /proc: load-independent, unlike the
    wall clock on a shared machine; the system part is the kernel's work on the routes)."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def compare(
    netns: str, bird_netns: str | None, count: int, runs: int, cycles: int
) -> dict[str, Any]:
    keys = prefixes(count)
    watcher = Watcher(netns)
    bird_watcher = Watcher(bird_netns) if bird_netns else None
    workdir = tempfile.mkdtemp(prefix="pybgp-bench-")
    daemon: Bird | None = None
    pybgp: Child | None = None
    figures: dict[str, Any] = {"bird in": [], "bird out": [], "pybgp in": [], "pybgp out": []}
    figures["own in"], figures["own out"], figures["rss"] = [], [], []
    for key in ("bird in", "bird out", "pybgp in", "pybgp out"):
        figures[f"cpu {key}"] = []
    try:
        if bird_netns:
            daemon = Bird(bird_netns, workdir, keys)
        pybgp = Child(netns, count)
        figures["rss before"] = pybgp.ready["rss"]
        for cycle in range(max(runs, cycles)):
            if daemon is not None and bird_watcher is not None and cycle < runs:
                for name, command, kind in (
                    ("bird in", "enable s4", rtnl.RTM_NEWROUTE),
                    ("bird out", "disable s4", rtnl.RTM_DELROUTE),
                ):
                    action = functools.partial(daemon.command, command)
                    before = cpu_seconds(daemon.process.pid)
                    figures[name].append(bird_watcher.timed(action, kind, RTPROT_BIRD, count))
                    figures[f"cpu {name}"].append(cpu_seconds(daemon.process.pid) - before)
            for name, command, kind in (
                ("in", "in", rtnl.RTM_NEWROUTE),
                ("out", "out", rtnl.RTM_DELROUTE),
            ):
                before = cpu_seconds(pybgp.process.pid)
                seconds = watcher.timed(
                    functools.partial(pybgp.send, command), kind, RTPROT_BGP, count
                )
                answer = pybgp.answer()
                if cycle < runs:
                    figures[f"cpu pybgp {name}"].append(cpu_seconds(pybgp.process.pid) - before)
                    figures[f"pybgp {name}"].append(seconds)
                    figures[f"own {name}"].append(answer["seconds"])
                if name == "out":
                    figures["rss"].append(answer["rss"])
    finally:
        if pybgp is not None:
            pybgp.stop()
        if daemon is not None:
            daemon.stop()
        watcher.close()
        if bird_watcher is not None:
            bird_watcher.close()
        shutil.rmtree(workdir, ignore_errors=True)
    return figures


def report_compare(figures: dict[str, Any], count: int, runs: int) -> None:
    print(f"{count:,} IPv4 routes into the kernel and out again, {runs} rounds (medians)")
    print(f"{'':<28}{'in':>10}{'out':>10}   rounds in / out")
    rows = [("pybgp KernelSync (watched)", "pybgp"), ("pybgp apply() returns", "own")]
    if figures["bird in"]:
        rows.insert(0, ("BIRD 2 kernel protocol", "bird"))
    medians: dict[str, float] = {}
    for label, key in rows:
        for way in ("in", "out"):
            medians[f"{key} {way}"] = statistics.median(figures[f"{key} {way}"])
        cells = " / ".join(
            " ".join(f"{s:.3f}" for s in figures[f"{key} {way}"]) for way in ("in", "out")
        )
        print(f"{label:<28}{medians[key + ' in']:>9.3f}s{medians[key + ' out']:>9.3f}s   {cells}")
    if figures["bird in"]:
        print(
            f"{'pybgp / BIRD':<28}{ratio(medians['pybgp in'], medians['bird in']):>10}"
            f"{ratio(medians['pybgp out'], medians['bird out']):>10}"
        )
    print("CPU seconds (user + system, from /proc; the machine's load does not inflate them)")
    cpu = {
        key: statistics.median(figures[f"cpu {key}"])
        for key in figures
        if key.startswith(("bird ", "pybgp ")) and figures[f"cpu {key}"]
    }
    for label, key in (("BIRD 2", "bird"), ("pybgp", "pybgp")):
        if f"{key} in" in cpu:
            print(f"{label:<28}{cpu[key + ' in']:>9.3f}s{cpu[key + ' out']:>9.3f}s")
    if "bird in" in cpu:
        print(
            f"{'pybgp / BIRD':<28}{ratio(cpu['pybgp in'], cpu['bird in']):>10}"
            f"{ratio(cpu['pybgp out'], cpu['bird out']):>10}"
        )
    rss = figures["rss"]
    print(
        f"pybgp RSS: {figures['rss before']:.1f} MiB before, after each withdrawal "
        f"{' '.join(f'{value:.0f}' for value in rss)} MiB ({len(rss)} cycles: last "
        f"{rss[-1] - figures['rss before']:+.1f} MiB against before)"
    )


# -- the older installer figures ------------------------------------------------------------


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


def reference_run(netns: str, reference: int) -> dict[str, float]:
    """pyroute2's synchronous one-call-per-route API (outside any event loop)."""
    from pyroute2 import IPRoute

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


def report_installer(runs: list[dict[str, float]], count: int, reference: int) -> None:
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
    for ours, theirs in (("add", "pyroute2 add"), ("delete", "pyroute2 delete")):
        print(
            f"{ours:<7} pybgp {rates[ours]:9.0f}/s vs pyroute2 {rates[theirs]:7.0f}/s: "
            f"x{rates[ours] / rates[theirs]:.1f}"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--routes", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--cycles", type=int, default=15, help="pybgp rounds for the memory")
    parser.add_argument("--no-bird", action="store_true", help="pybgp only")
    parser.add_argument("--installer", action="store_true", help="the installer figures")
    parser.add_argument(
        "--learned", action="store_true", help="also routes learned over BGP: pybgp run vs BIRD"
    )
    parser.add_argument("--only-learned", action="store_true", help="only the --learned part")
    parser.add_argument("--reference", type=int, default=5_000)
    parser.add_argument("--child", metavar="NETNS", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        asyncio.run(child(args.child, args.routes))
        return 0
    if os.geteuid() != 0:
        print("needs root (creates a network namespace)", file=sys.stderr)
        return 2
    bird = not args.no_bird and shutil.which("bird") is not None
    if not args.no_bird and not bird:
        print("bird not installed: pybgp only", file=sys.stderr)
    netns = f"pybgp-bench-{os.getpid()}"
    bird_netns = f"{netns}-bird" if bird and not args.installer else None
    make_namespace(netns)
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}", flush=True)
    try:
        if args.installer:
            runs = []
            for _ in range(args.runs):
                figures: dict[str, float] = {}
                asyncio.run(installer_run(netns, prefixes(args.routes), figures))
                figures.update(reference_run(netns, args.reference))
                runs.append(figures)
            report_installer(runs, args.routes, args.reference)
        else:
            if bird_netns:
                make_namespace(bird_netns)
            if not args.only_learned:
                figures = compare(netns, bird_netns, args.routes, args.runs, args.cycles)
                report_compare(figures, args.routes, args.runs)
            if args.learned or args.only_learned:
                print(flush=True)
                kernel_learned.report(
                    kernel_learned.learned(
                        netns, args.routes, args.runs, args.cycles, bird, Watcher, cpu_seconds
                    ),
                    args.routes,
                )
    finally:
        subprocess.run(["ip", "netns", "del", netns], check=False)
        if bird_netns:
            subprocess.run(["ip", "netns", "del", bird_netns], check=False, capture_output=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""A route reflector with N clients: `pybgp run` beside BIRD 2, same clients, same clock.

Two network namespaces joined by a veth. ``rr`` (10.78.0.1) holds the reflector under test:
``pybgp run -c reflector.toml`` (the route reflector of docs/configuration.md: one
``[[dynamic_peers]]`` range of route-reflector clients, kernel adapter "none"), then BIRD 2
(``neighbor range`` of the same clients, ``rr client``), one after the other, alternating
which goes first from run to run. ``cli`` holds every client: one raw-asyncio process (this
file with ``--clients-process``, no pybgp import) holding N + 1 iBGP sessions from N + 1
addresses of 10.79.0.0/21, all local to ``cli`` (one address on ``lo`` makes the whole range
local, as 127.0.0.0/8 is), routed from ``rr`` via the veth. Address 0 is the *source*
client, the others are the N clients that receive; each counts the prefixes announced to it by
reading the NLRI field of every UPDATE (every prefix sent is a /26: 5 octets each).

Two figures per reflector, both taken inside the client process on one clock:

* fan-out: from the moment the source starts writing the 5,000 /26 (pre-encoded, one write)
  until every client has received all of them;
* one new route: from the moment the source writes one new /26 until the last client has it;
  the median of ``--singles`` announcements, one at a time.

beside each, the CPU time (user + system, from /proc) the reflector and the client process
spent on it: with many clients the client process itself bounds the one-route figure, and the
reflector's CPU per new route shows its own cost. Plus the reflector's resident memory (VmRSS
after the runs, and its peak VmHWM).

    python benchmarks/reflector.py [--clients N] [--prefixes N] [--singles N] [--runs N]
    python benchmarks/reflector.py --runs 1 --profile /tmp/pybgp.prof   # pybgp under cProfile

Needs root (namespaces) and BIRD 2. Raises its own open-file limit (1,000 clients are 1,000
sockets in each process). Everything it starts is stopped by pid and both namespaces are
deleted, also on failure or Ctrl-C.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import resource
import shutil
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from ipaddress import IPv4Address
from pathlib import Path
from typing import Any

from procstat import cpu_seconds, finish_lab, proc_bytes, ratio, reap

HERE = Path(__file__).resolve().parent
REFLECTOR, CLIENT_SIDE = "10.78.0.1", "10.78.0.2"
CLIENT_RANGE = "10.79.0.0/21"
ASN = 65000
HOLD = 240
POLL = 0.02
TIMEOUT = float(os.environ.get("PYBGP_BENCH_TIMEOUT", 300))


def client_address(index: int) -> str:
    """Address of client ``index`` (0 = the source): 10.79.0.1, 10.79.0.2, ..."""
    return str(IPv4Address("10.79.0.1") + index)


# ---------------------------------------------------------------------------------------------
# The clients (``--clients-process``, inside ``cli``): raw asyncio, no pybgp imports.

MARKER = b"\xff" * 16
KEEPALIVE = MARKER + struct.pack("!HB", 19, 4)
PREFIX_LENGTH = 26
TABLE_BASE = int(IPv4Address("20.0.0.0"))


def raw_open(router_id: str) -> bytes:
    """OPEN: AS 65000, IPv4 unicast (multiprotocol), 4-octet AS, route refresh."""
    caps = bytes((1, 4, 0, 1, 0, 1)) + bytes((65, 4)) + struct.pack("!I", ASN) + bytes((2, 0))
    params = bytes((2, len(caps))) + caps
    body = struct.pack("!BHH4sB", 4, ASN, HOLD, IPv4Address(router_id).packed, len(params))
    body += params
    return MARKER + struct.pack("!HB", 19 + len(body), 1) + body


def prefix(index: int) -> bytes:
    """NLRI of the ``index``-th /26 (20.0.0.0/26, 20.0.0.64/26, ...)."""
    return bytes((PREFIX_LENGTH,)) + (TABLE_BASE + index * 64).to_bytes(4)[:4]


def updates(first: int, count: int, next_hop: str) -> bytes:
    """UPDATEs announcing ``count`` /26 from the ``first``-th, packed 800 to a message."""
    attributes = (
        bytes((0x40, 1, 1, 0))  # ORIGIN IGP
        + bytes((0x40, 2, 0))  # AS_PATH empty (iBGP)
        + bytes((0x40, 3, 4))
        + IPv4Address(next_hop).packed  # NEXT_HOP
        + bytes((0x40, 5, 4))
        + struct.pack("!I", 100)  # LOCAL_PREF
    )
    out = bytearray()
    for start in range(first, first + count, 800):
        nlri = b"".join(prefix(i) for i in range(start, min(start + 800, first + count)))
        body = struct.pack("!H", 0) + struct.pack("!H", len(attributes)) + attributes + nlri
        out += MARKER + struct.pack("!HB", 19 + len(body), 2) + body
    return bytes(out)


class Round:
    """One measurement: every receiving client must reach ``target`` prefixes."""

    def __init__(self, target: int, waiting: int) -> None:
        self.target = target
        self.waiting = waiting
        self.done: asyncio.Future[float] = asyncio.get_running_loop().create_future()

    def reached(self) -> None:
        self.waiting -= 1
        if self.waiting == 0 and not self.done.done():
            self.done.set_result(time.monotonic())


class Client(asyncio.Protocol):
    """One iBGP session: OPEN, KEEPALIVE, then counts the prefixes it is sent."""

    def __init__(self, address: str, up: Callable[[], None]) -> None:
        self.address = address
        self.up = up
        self.buffer = b""
        self.received = 0
        self.established = False
        self.round: Round | None = None
        self.transport: asyncio.Transport | None = None
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.write(raw_open(self.address))

    def data_received(self, data: bytes) -> None:
        buffer = self.buffer + data if self.buffer else data
        offset, end = 0, len(buffer)
        while end - offset >= 19:
            length = int.from_bytes(buffer[offset + 16 : offset + 18])
            if end - offset < length:
                break
            kind = buffer[offset + 18]
            if kind == 2:
                self._update(buffer, offset + 19, offset + length)
            elif kind == 1:
                assert self.transport is not None
                self.transport.write(KEEPALIVE)
            elif kind == 4 and not self.established:
                self.established = True
                self.up()
            elif kind == 3:
                print(
                    f"{self.address}: NOTIFICATION {buffer[offset + 19 : offset + length].hex()}",
                    file=sys.stderr,
                    flush=True,
                )
            offset += length
        self.buffer = buffer[offset:]

    def _update(self, buffer: bytes, start: int, end: int) -> None:
        withdrawn = int.from_bytes(buffer[start : start + 2])
        attributes = int.from_bytes(buffer[start + 2 + withdrawn : start + 4 + withdrawn])
        nlri = buffer[start + 4 + withdrawn + attributes : end]
        if not nlri:
            return
        count = len(nlri) // 5
        if len(nlri) % 5 or nlri[::5] != bytes((PREFIX_LENGTH,)) * count:
            raise ValueError(f"{self.address}: an NLRI that is not a run of /26")
        self.received += count
        current = self.round
        if current is not None and self.received >= current.target:
            self.round = None
            current.reached()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True


async def clients_main(reflector: str, count: int, prefixes: int) -> None:
    loop = asyncio.get_running_loop()
    established = 0
    all_up = loop.create_future()

    def up() -> None:
        nonlocal established
        established += 1
        if established == count + 1 and not all_up.done():
            all_up.set_result(None)

    sessions = [Client(client_address(i), up) for i in range(count + 1)]
    connecting = asyncio.Semaphore(64)

    async def connect(client: Client) -> None:
        deadline = time.monotonic() + 120
        async with connecting:
            while True:  # bounded: until the deadline
                try:
                    await loop.create_connection(
                        lambda: client, reflector, 179, local_addr=(client.address, 0)
                    )
                    return
                except OSError:
                    if time.monotonic() > deadline:
                        raise
                    await asyncio.sleep(0.2)  # the reflector is not listening yet

    await asyncio.gather(*(connect(c) for c in sessions))
    async with asyncio.timeout(120):
        await all_up

    async def keepalives() -> None:
        while True:
            await asyncio.sleep(HOLD / 4)
            for client in sessions:
                if client.transport is not None and not client.transport.is_closing():
                    client.transport.write(KEEPALIVE)

    ticker = asyncio.ensure_future(keepalives())
    print("READY", flush=True)
    source, receivers = sessions[0], sessions[1:]
    source_hop = source.address
    assert source.transport is not None
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    sent = 0
    while line := (await reader.readline()).decode().split():
        if line[0] == "table":
            data, new = updates(0, prefixes, source_hop), prefixes
        elif line[0] == "one":
            data, new = updates(prefixes + int(line[1]), 1, source_hop), 1
        else:
            break
        sent += new
        measured = Round(sent, len(receivers))
        for client in receivers:
            if client.received >= sent:
                measured.reached()
            else:
                client.round = measured
        cpu = time.process_time()
        started = time.monotonic()
        source.transport.write(data)
        try:
            async with asyncio.timeout(TIMEOUT):
                finished = await measured.done
            print(f"DONE {finished - started:.6f} {time.process_time() - cpu:.6f}", flush=True)
        except TimeoutError:
            short = [c.received for c in receivers if c.received < sent]
            print(f"TIMEOUT {len(short)} clients short, fewest {min(short)} of {sent}", flush=True)
        lost = sum(1 for c in sessions if c.closed)
        if lost:
            print(f"LOST {lost} sessions", flush=True)
    ticker.cancel()
    for client in sessions:
        if client.transport is not None:
            client.transport.close()


# ---------------------------------------------------------------------------------------------
# The benchmark (root namespace): the namespaces, the reflectors, the measurements.






class Clients:
    """The client process in ``cli``: started, then driven line by line."""

    def __init__(self, namespace: str, count: int, prefixes: int) -> None:
        argv = [
            "ip",
            "netns",
            "exec",
            namespace,
            sys.executable,
            str(Path(__file__).resolve()),
            "--clients-process",
            "--clients",
            str(count),
            "--prefixes",
            str(prefixes),
        ]
        self.process = subprocess.Popen(
            argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )

    def ready(self) -> None:
        assert self.process.stdout is not None
        line = self.process.stdout.readline().strip()
        if line != "READY":
            raise RuntimeError(f"clients did not come up: {line!r}")

    def ask(self, command: str) -> tuple[float, float]:
        """Run one round; (seconds until every client had it, client CPU seconds meanwhile)."""
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(command + "\n")
        self.process.stdin.flush()
        words = self.process.stdout.readline().split()
        if not words or words[0] != "DONE":
            raise RuntimeError(f"{command}: {' '.join(words) or 'the clients exited'}")
        return float(words[1]), float(words[2])

    def stop(self) -> None:
        if self.process.stdin is not None and not self.process.stdin.closed:
            with contextlib.suppress(BrokenPipeError):
                self.process.stdin.close()  # the clients' signal to finish
        reap(self.process, terminate=False)


class Pybgp:
    name = "pybgp run"

    def __init__(self, lab: Any, namespace: str, workdir: Path, profile: Path | None) -> None:
        self.socket = workdir / "pybgp.sock"
        config = workdir / "reflector.toml"
        config.write_text(
            f'[speaker]\nasn = {ASN}\nrouter_id = "{REFLECTOR}"\ncluster_id = "{REFLECTOR}"\n'
            f'listen_address = "{REFLECTOR}"\ncontrol_socket = "{self.socket}"\n'
            f"hold_time = {HOLD}\n"
            f'[kernel]\nadapter = "none"\n'
            f'[[dynamic_peers]]\nrange = "{CLIENT_RANGE}"\nasn = {ASN}\n'
            f"route_reflector_client = true\n"
        )
        profiler = ["-m", "cProfile", "-o", str(profile)] if profile is not None else []
        self.process = lab.spawn(
            namespace,
            "pybgp",
            [sys.executable, *profiler, "-m", "pybgp", "run", "-c", str(config)],
            workdir / "pybgp.log",
            cwd=HERE.parent,
        )

    def _status(self) -> dict[str, Any]:
        with socket.socket(socket.AF_UNIX) as sock:
            sock.settimeout(30)
            sock.connect(str(self.socket))
            sock.sendall(b'{"command": "status"}\n')
            data = b""
            while not data.endswith(b"\n"):
                chunk = sock.recv(1 << 20)
                if not chunk:
                    break
                data += chunk
        result: dict[str, Any] = json.loads(data)["result"]
        return result

    def established(self) -> int:
        try:
            return sum(1 for p in self._status()["peers"] if p["state"] == "Established")
        except (OSError, ValueError):
            return 0


class Bird:
    name = "BIRD 2"

    def __init__(self, lab: Any, namespace: str, workdir: Path, _profile: Path | None) -> None:
        self.socket = workdir / "bird.ctl"
        config = workdir / "bird.conf"
        config.write_text(
            f"router id {REFLECTOR};\n"
            "protocol device {}\n"
            # the clients' next hops resolve through this route (recursive iBGP gateways)
            f"protocol static {{ ipv4; route 0.0.0.0/0 via {CLIENT_SIDE}; }}\n"
            "protocol bgp clients {\n"
            f"  local {REFLECTOR} as {ASN};\n"
            f"  neighbor range {CLIENT_RANGE} as {ASN};\n"
            "  rr client;\n"
            f"  hold time {HOLD};\n"
            "  ipv4 { import all; export where source = RTS_BGP; };\n"
            "}\n"
        )
        self.process = lab.spawn(
            namespace,
            "bird",
            ["bird", "-f", "-c", str(config), "-s", str(self.socket)],
            workdir / "bird.log",
        )

    def established(self) -> int:
        result = subprocess.run(
            ["birdc", "-s", str(self.socket), "show", "protocols"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        return result.stdout.count("Established")


def _wait(condition: Callable[[], bool], what: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(what)
        time.sleep(POLL)


def one(
    kind: type[Pybgp] | type[Bird],
    lab: Any,
    namespaces: tuple[str, str],
    args: argparse.Namespace,
    workdir: Path,
) -> dict[str, float]:
    reflector_ns, clients_ns = namespaces
    reflector = kind(lab, reflector_ns, workdir, args.profile)
    clients = Clients(clients_ns, args.clients, args.prefixes)
    try:
        clients.ready()
        _wait(
            lambda: reflector.established() >= args.clients + 1,
            f"{kind.name}: not every session Established",
            120,
        )
        pid = reflector.process.pid
        cpu = cpu_seconds(pid)
        fan_out, client_cpu = clients.ask("table")
        cpu = cpu_seconds(pid) - cpu
        single_cpu = cpu_seconds(pid)
        rounds = [clients.ask(f"one {i}") for i in range(args.singles)]
        single_cpu = (cpu_seconds(pid) - single_cpu) / max(args.singles, 1)
        singles = [elapsed for elapsed, _ in rounds]
        return {
            "fan_out": fan_out,
            "cpu": cpu,
            "client_cpu": client_cpu,
            "single": statistics.median(singles),
            "single_cpu": single_cpu,
            "single_client_cpu": statistics.median(cpu for _, cpu in rounds),
            "rss": proc_bytes(pid, "VmRSS") / 2**20,
            "hwm": proc_bytes(pid, "VmHWM") / 2**20,
        }
    finally:
        clients.stop()
        reflector.process.stop(timeout=20)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--prefixes", type=int, default=5000)
    parser.add_argument("--singles", type=int, default=50)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--profile", type=Path, help="run pybgp under cProfile, its stats into this file"
    )
    parser.add_argument("--clients-process", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if not 1 <= args.clients <= 2000:
        parser.error("--clients: 1 to 2000 (the range 10.79.0.0/21)")
    # One socket per client in the client process and in each reflector (children inherit).
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = 2 * args.clients + 1000
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, want), hard))
    if args.clients_process:
        asyncio.run(clients_main(REFLECTOR, args.clients, args.prefixes))
        return 0

    # SIGTERM (timeout, kill PID) unwinds like Ctrl-C: the finally below cleans up.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("stopped by SIGTERM"))
    sys.path.insert(0, str(HERE.parent))  # run from a checkout
    from pybgp.demo.lab import Lab, netns_unavailable

    problem = netns_unavailable()
    if problem or shutil.which("bird") is None:
        print(f"skipped: {problem or 'BIRD 2 is not installed'}")
        return 0
    lab = Lab(f"pbr{os.getpid() % 100000}-")
    workdir = Path(tempfile.mkdtemp(prefix="pybgp-reflector-"))
    results: dict[str, list[dict[str, float]]] = {Pybgp.name: [], Bird.name: []}
    try:
        reflector_ns = lab.namespace("rr")
        clients_ns = lab.namespace("cli")
        lab.veth(reflector_ns, "eth0", clients_ns, "eth0")
        lab.ip(reflector_ns, "addr", "add", f"{REFLECTOR}/24", "dev", "eth0")
        lab.ip(clients_ns, "addr", "add", f"{CLIENT_SIDE}/24", "dev", "eth0")
        lab.ip(clients_ns, "addr", "add", f"{client_address(0)}/21", "dev", "lo")
        lab.ip(reflector_ns, "route", "add", CLIENT_RANGE, "via", CLIENT_SIDE)
        load = os.getloadavg()
        print(
            f"route reflector, {args.clients} clients + 1 source, {args.prefixes:,} /26, "
            f"{args.singles} single announcements; {os.cpu_count()} CPUs, load average "
            f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f}",
            flush=True,
        )
        for run in range(args.runs):
            order: list[type[Pybgp] | type[Bird]] = [Pybgp, Bird] if run % 2 == 0 else [Bird, Pybgp]
            for kind in order:
                figures = one(kind, lab, (reflector_ns, clients_ns), args, workdir)
                results[kind.name].append(figures)
                print(
                    f"  run {run + 1} {kind.name:9}: fan-out {figures['fan_out'] * 1000:7.1f} ms"
                    f" (CPU {figures['cpu']:5.2f} s, clients {figures['client_cpu']:5.2f} s)"
                    f"  one new route (median) {figures['single'] * 1000:6.2f} ms"
                    f" (CPU {figures['single_cpu'] * 1000:5.2f} ms,"
                    f" clients {figures['single_client_cpu'] * 1000:5.2f} ms)"
                    f"  RSS {figures['rss']:6.1f} MiB (peak {figures['hwm']:6.1f})",
                    flush=True,
                )
    finally:
        finish_lab(lab, workdir)
    print(f"medians of {args.runs}, {args.clients} clients:")
    medians = {
        name: {key: statistics.median(r[key] for r in runs) for key in runs[0]}
        for name, runs in results.items()
    }
    for key, label, unit, scale in (
        ("fan_out", "fan-out", "ms", 1000),
        ("cpu", "fan-out CPU", "s", 1),
        ("single", "one route", "ms", 1000),
        ("single_cpu", "its CPU", "ms", 1000),
        ("rss", "RSS", "MiB", 1),
        ("hwm", "peak RSS", "MiB", 1),
    ):
        ours, bird = medians[Pybgp.name][key], medians[Bird.name][key]
        print(
            f"  {label:11} pybgp run {ours * scale:8.2f} {unit:3}  BIRD 2 {bird * scale:8.2f} "
            f"{unit:3}  ratio {ratio(ours, bird)}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())

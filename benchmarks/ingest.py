"""BGP ingest over a real session: a 1,000,000-prefix IPv4 table into a pybgp speaker.

This process is the speaker under test: a :class:`~pybgp.speaker.Speaker` with kernel adapter
``"none"`` (no kernel routes: this measures BGP ingest only), Python's default settings and the
default asyncio event loop. Two senders run as separate processes (this script with
``--sender``), each on its own loopback address (127.0.0.2, 127.0.0.3). A sender builds the
table exactly as ``benchmarks/codec.py`` does (prefixes that share attributes share UPDATEs,
at most ``--batch`` prefixes per ``pack_update_messages`` call, a few thousand distinct
attribute sets) and pre-encodes every message BEFORE it accepts a connection, so its own
encoding is not measured. Then it completes OPEN/KEEPALIVE, waits for the speaker's "go" (so
that the speaker can take its memory baseline), writes every UPDATE with one blocking
``sendall`` (as fast as the socket accepts), then End-of-RIB, then keeps the session with
KEEPALIVEs until its stdin closes.

Both peers are iBGP (AS 65000, as in the codec benchmark): iBGP routes are not re-advertised to
another iBGP peer, so the speaker sends nothing back and only ingest is measured.

Phases (all measured inside the speaker process):

1. sender A (127.0.0.2) sends the table;
2. sender B (127.0.0.3) sends the same prefixes, same packing, with an AS_PATH two ASNs longer:
   every prefix gets a second path, the decision runs and keeps A's path (shorter AS_PATH).

How each figure is taken:

* start: ``time.perf_counter()`` on entry to ``Speaker.connection_data`` (the speaker's
  data_received hook) for the first chunk of the phase's peer after "go", i.e. when the event
  loop hands the speaker the first UPDATE bytes (the chunk is checked to start with an UPDATE);
* end: ``perf_counter()`` on return of the ``Rib.apply_update`` call after which the condition
  holds (phase 1: Loc-RIB IPv4 prefix count == N and A's accepted prefixes == N; phase 2: B's
  accepted prefixes == N). The RIB is synchronous: when apply_update returns, the decision has
  run for every prefix of that UPDATE. The End-of-RIB arrival is printed too;
* memory: before "go", ``gc.collect()``, then the baseline is VmRSS from /proc/self/status and
  the peak counter is reset (``5`` written to /proc/self/clear_refs); after the phase, the peak
  is VmHWM. Printed: peak delta (VmHWM - baseline) and bytes/prefix, and RSS after the phase;
* CPU: ``time.process_time()`` of the speaker over the phase.

The garbage collector: by default Python's settings, no ``gc.freeze()``; time spent in
collections (``gc.callbacks``) is printed per phase. ``--gc freeze`` calls ``gc.freeze()``
once the phase-1 table is in (after its End-of-RIB), what a speaker can do after a table load;
``--gc both`` runs both settings; ``--gc off`` (an experiment) disables the collector.
Runs (``--runs``) after the first, and the second setting of ``--gc both``, each use a fresh
speaker process (this script with ``--child``), so that the memory figures are independent.

    python benchmarks/ingest.py [--prefixes N] [--runs N] [--gc default|freeze|both|off] [--profile]

``--profile``: cProfile of the speaker process from "go" until the phase's condition holds, for
phase 1 and phase 2, top 15 by tottime (timings under the profiler are inflated). The machine
may be shared: the load average is printed; run it a few times and read the spread.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import io
import json
import os
import pstats
import select
import socket
import statistics
import subprocess
import sys
import threading
import time
from ipaddress import IPv4Address
from pathlib import Path
from typing import Any

import attrs

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # run from a checkout
sys.path.insert(0, str(HERE))  # the codec benchmark's table builder

from codec import build_messages, make_attribute_sets, make_table  # noqa: E402

from pybgp.config import PeerConfig, parse_config  # noqa: E402
from pybgp.fsm import State  # noqa: E402
from pybgp.rib import Rib  # noqa: E402
from pybgp.speaker import Speaker  # noqa: E402
from pybgp.wire import (  # noqa: E402
    IPV4_UNICAST,
    KEEPALIVE_MESSAGE,
    AsPath,
    AsPathSegment,
    MessageReader,
    MessageType,
    MultiprotocolCapability,
    NextHop,
    Open,
    PathAttributes,
    encode_open,
)
from pybgp.wire.negotiated import Negotiated  # noqa: E402
from pybgp.wire.update import encode_end_of_rib  # noqa: E402

LOCAL_AS = 65000  # iBGP everywhere, as in benchmarks/codec.py
HOLD_TIME = 240  # keepalives every 80 s: none between the handshake and the table
SENDERS = {"A": ("127.0.0.2", 0), "B": ("127.0.0.3", 2)}  # address, extra ASNs in the AS_PATH
PHASE_TIMEOUT = 600.0
REFERENCES = (  # the figures for a 1,000,000-prefix table: seconds, bytes per prefix
    ("BIRD 2", 0.35, 100),
    ("FRR", 2.3, 580),
    ("GoBGP", 11.0, 1300),
    ("ExaBGP", 12.0, 540),
)
TARGET_FIRST_S, TARGET_FIRST_B, TARGET_SECOND_S = 2.0, 300, 2.5
GC_MODES = {
    "default": "Python defaults (no gc.freeze)",
    "freeze": "gc.freeze() after the phase-1 End-of-RIB",
    "off": "gc.disable() for the whole run (experiment)",
}


# ---------------------------------------------------------------------------------------------
# The sender (separate process)


def longer_paths(sets: list[PathAttributes], extra: int) -> list[PathAttributes]:
    """The same attribute sets with ``extra`` more ASNs at the front of the AS_PATH (first AS
    65002) and another next hop: every path is longer than the original's."""
    out = []
    for attributes in sets:
        parts = []
        for attr in attributes.attributes:
            if isinstance(attr, AsPath):
                asns = attr.segments[0].asns
                attr = AsPath((AsPathSegment(2, (65002,) * (1 + extra) + asns[1:]),))
            elif isinstance(attr, NextHop):
                attr = NextHop(IPv4Address("198.51.100." + str(attr.address).rsplit(".", 1)[1]))
            parts.append(attr)
        out.append(PathAttributes(tuple(parts)))
    return out


def _drain(sock: socket.socket) -> None:
    """Read and discard whatever the speaker sends (KEEPALIVEs, End-of-RIB, a NOTIFICATION)."""
    try:
        while sock.recv(65536):
            pass
    except OSError:
        pass


def sender_main(args: argparse.Namespace) -> None:
    neg = Negotiated(local_as=LOCAL_AS, peer_as=LOCAL_AS)
    groups = make_table(args.prefixes, args.sets, args.seed, unicast_only=args.unicast)
    sets = make_attribute_sets(args.sets, args.seed)
    if args.extra_asns:
        sets = longer_paths(sets, args.extra_asns)
    messages = build_messages(groups, sets, args.batch, neg)
    blob = b"".join(messages)
    del messages, groups
    eor = encode_end_of_rib(IPV4_UNICAST)
    open_message = encode_open(
        Open.create(
            LOCAL_AS, HOLD_TIME, IPv4Address(args.address), (MultiprotocolCapability(1, 1),)
        )
    )
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind((args.address, 0))
    server.listen(1)
    server.settimeout(PHASE_TIMEOUT)
    print(f"READY {server.getsockname()[1]} {len(blob)}", flush=True)
    conn, _ = server.accept()
    server.close()
    conn.settimeout(60)
    conn.sendall(open_message)
    reader = MessageReader()
    got_open = got_keepalive = False
    while not (got_open and got_keepalive):  # bounded by the socket timeout
        data = conn.recv(65536)
        if not data:
            sys.exit("sender: connection closed during the handshake")
        for raw in reader.feed(data):
            if raw.type == MessageType.OPEN:
                got_open = True
                conn.sendall(KEEPALIVE_MESSAGE)
            elif raw.type == MessageType.KEEPALIVE:
                got_keepalive = got_open
            elif raw.type == MessageType.NOTIFICATION:
                sys.exit("sender: NOTIFICATION received during the handshake")
    conn.settimeout(None)
    threading.Thread(target=_drain, args=(conn,), daemon=True).start()
    if sys.stdin.readline().strip() != "go":
        return
    conn.sendall(blob)
    conn.sendall(eor)
    deadline = time.monotonic() + PHASE_TIMEOUT * 2
    while time.monotonic() < deadline:  # KEEPALIVEs until stdin closes
        ready, _, _ = select.select([sys.stdin], [], [], HOLD_TIME / 3)
        if ready:
            if not sys.stdin.readline():
                break
        else:
            try:
                conn.sendall(KEEPALIVE_MESSAGE)
            except OSError:
                break
    conn.close()


# ---------------------------------------------------------------------------------------------
# The speaker side (this process)


def proc_status_kib(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def reset_peak_rss() -> bool:
    """Reset VmHWM to the current RSS (Linux >= 4.0); False if not possible."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


class Probe:
    """What the speaker's hooks record for the current phase."""

    def __init__(self) -> None:
        self.arm("", None)

    def arm(self, peer_id: str, condition: Any) -> None:
        """Start a phase: watch ``peer_id`` until ``condition()`` holds after an UPDATE."""
        self.peer_id = peer_id
        self.condition = condition
        self.first: float | None = None
        self.first_is_update = False
        self.done: float | None = None
        self.eor: float | None = None
        self.chunks = 0
        self.octets = 0
        self.updates = 0
        self.done_event = asyncio.Event()
        self.eor_event = asyncio.Event()
        self.profile: cProfile.Profile | None = None


class GcClock:
    """Time spent in the cyclic garbage collector, per generation (gc.callbacks)."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.counts = [0, 0, 0]
        self._start = 0.0
        gc.callbacks.append(self._callback)

    def _callback(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._start = time.perf_counter()
        else:
            self.seconds += time.perf_counter() - self._start
            self.counts[info["generation"]] += 1

    def reset(self) -> None:
        self.seconds = 0.0
        self.counts = [0, 0, 0]

    def close(self) -> None:
        gc.callbacks.remove(self._callback)


class BenchRib(Rib):
    """The RIB with one hook after apply_update (a plain subclass: it has a __dict__)."""

    probe: Probe | None = None

    def apply_update(self, peer_id, result):  # type: ignore[no-untyped-def]
        output = super().apply_update(peer_id, result)
        probe = self.probe
        if probe is not None and peer_id == probe.peer_id:
            probe.updates += 1
            if probe.done is None and probe.condition():
                probe.done = time.perf_counter()
                if probe.profile is not None:
                    probe.profile.disable()
                probe.done_event.set()
            if result.update.end_of_rib is not None:
                probe.eor = time.perf_counter()
                probe.eor_event.set()
        return output


class BenchSpeaker(Speaker):
    """The speaker with one hook on entry to its data_received path."""

    probe: Probe | None = None

    def connection_data(self, conn, data):  # type: ignore[no-untyped-def]
        probe = self.probe
        if probe is not None and probe.peer_id:
            driver = conn.context
            if driver is not None and driver.peer.peer_id == probe.peer_id:
                if probe.first is None:
                    probe.first = time.perf_counter()
                    probe.first_is_update = len(data) > 18 and data[18] == MessageType.UPDATE
                probe.chunks += 1
                probe.octets += len(data)
        super().connection_data(conn, data)


def start_sender(name: str, args: argparse.Namespace) -> subprocess.Popen[str]:
    address, extra = SENDERS[name]
    command = [
        sys.executable, os.path.abspath(__file__), "--sender", "--address", address,
        "--extra-asns", str(extra), "--prefixes", str(args.prefixes), "--sets", str(args.sets),
        "--batch", str(args.batch), "--seed", str(args.seed),
    ]  # fmt: skip
    return subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)


def read_ready(child: subprocess.Popen[str]) -> tuple[int, int]:
    assert child.stdout is not None
    line = child.stdout.readline().split()
    if not line or line[0] != "READY":
        raise RuntimeError(f"sender failed (exit {child.poll()})")
    return int(line[1]), int(line[2])


async def run_phase(
    speaker: BenchSpeaker,
    rib: BenchRib,
    probe: Probe,
    peer: PeerConfig,
    child: subprocess.Popen[str],
    condition: Any,
    profile: bool,
    clock: GcClock,
) -> dict[str, Any]:
    peer_id = str(peer.address)
    await speaker.add_peer(peer)
    # Poll, not speaker.wait_state(): subscribe() snapshots the whole Loc-RIB (1M entries in
    # phase 2), which blocks the loop for seconds.
    deadline = time.monotonic() + 30
    while (session := speaker.session(peer_id)) is None or session.state is not State.ESTABLISHED:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{peer_id} not Established after 30 s")
        await asyncio.sleep(0.01)
    gc.collect()
    base_kib = proc_status_kib("VmRSS")
    peak_reset = reset_peak_rss()
    probe.arm(peer_id, condition)
    clock.reset()
    if profile:
        probe.profile = cProfile.Profile()
    cpu0 = time.process_time()
    assert child.stdin is not None
    if probe.profile is not None:
        probe.profile.enable()
    child.stdin.write("go\n")
    child.stdin.flush()
    async with asyncio.timeout(PHASE_TIMEOUT):
        await probe.done_event.wait()
    cpu = time.process_time() - cpu0
    gc_seconds, gc_counts = clock.seconds, list(clock.counts)
    async with asyncio.timeout(60):
        await probe.eor_event.wait()
    hwm_kib = proc_status_kib("VmHWM")
    rss_kib = proc_status_kib("VmRSS")
    assert probe.first is not None and probe.done is not None and probe.eor is not None
    result = {
        "seconds": probe.done - probe.first,
        "eor_seconds": probe.eor - probe.first,
        "cpu_seconds": cpu,
        "gc_seconds": gc_seconds,
        "gc_counts": gc_counts,
        "peak_delta": (hwm_kib - base_kib) * 1024,
        "rss_delta": (rss_kib - base_kib) * 1024,
        "peak_reset": peak_reset,
        "first_chunk_is_update": probe.first_is_update,
        "chunks": probe.chunks,
        "octets": probe.octets,
        "updates": probe.updates,
    }
    if probe.profile is not None:
        stream = io.StringIO()
        pstats.Stats(probe.profile, stream=stream).sort_stats("tottime").print_stats(15)
        result["profile"] = "\n".join(
            line for line in stream.getvalue().splitlines() if line.strip()
        )
    return result


async def speaker_run(args: argparse.Namespace, gc_mode: str) -> dict[str, Any]:
    """One run: both phases in this process."""
    clock = GcClock()
    if gc_mode == "off":
        gc.disable()
    senders = {name: start_sender(name, args) for name in SENDERS}
    try:
        ports = {}
        for name, child in senders.items():
            port, octets = await asyncio.to_thread(read_ready, child)
            ports[name] = (port, octets)
        raw = {
            "speaker": {
                "asn": LOCAL_AS,
                "router_id": "10.255.0.1",
                "listen_address": "",
                "control_socket": "",
                "hold_time": HOLD_TIME,
                "connect_delay": 0,
            },
            "kernel": {"adapter": "none"},
            "peers": [
                {"address": SENDERS[name][0], "asn": LOCAL_AS, "port": ports[name][0]}
                for name in SENDERS
            ],
        }
        config = parse_config(raw)
        peers = {str(p.address): p for p in config.peers}
        section = config.speaker
        rib = BenchRib(section.asn, section.router_id, section.cluster_id)
        probe = Probe()
        rib.probe = probe
        n = args.prefixes
        result: dict[str, Any] = {"gc": gc_mode, "wire_octets": ports["A"][1]}
        speaker = BenchSpeaker(attrs.evolve(config, peers=()), rib=rib)
        async with speaker:
            speaker.probe = probe
            assert speaker.kernel is None, "kernel adapter 'none' expected"
            a, b = SENDERS["A"][0], SENDERS["B"][0]
            result["phase1"] = await run_phase(
                speaker, rib, probe, peers[a], senders["A"],
                lambda: rib.prefix_count(IPV4_UNICAST) == n and rib.peer_counters(a).accepted == n,
                args.profile, clock,
            )  # fmt: skip
            if gc_mode == "freeze":
                gc.freeze()
            result["phase2"] = await run_phase(
                speaker, rib, probe, peers[b], senders["B"],
                lambda: rib.peer_counters(b).accepted == n,
                args.profile, clock,
            )  # fmt: skip
            rib.probe = None
            speaker.probe = None
            # Check, outside the timed part: every prefix has 2 paths and A's is the best.
            two = best_a = 0
            for entry in rib.routes(IPV4_UNICAST):
                two += len(entry.paths) == 2
                best_a += entry.best.peer_id == a
            result["check"] = {"prefixes": rib.prefix_count(IPV4_UNICAST), "two": two, "a": best_a}
        return result
    finally:
        clock.close()
        gc.enable()
        for child in senders.values():
            if child.stdin is not None and not child.stdin.closed:
                child.stdin.close()
        for child in senders.values():
            try:
                child.wait(timeout=10)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait(timeout=10)


# ---------------------------------------------------------------------------------------------
# Report


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def fmt_phase(label: str, phase: dict[str, Any], n: int) -> str:
    return (
        f"{label}: {phase['seconds']:6.3f} s  {n / phase['seconds']:>10,.0f} prefixes/s  "
        f"CPU {phase['cpu_seconds']:5.2f} s  peak RSS +{phase['peak_delta'] / 2**20:6.1f} MiB "
        f"= {phase['peak_delta'] / n:5.0f} B/prefix  (RSS after +{phase['rss_delta'] / n:4.0f} "
        f"B/prefix; End-of-RIB at {phase['eor_seconds']:.3f} s; {phase['updates']:,} UPDATEs in "
        f"{phase['chunks']:,} reads of {phase['octets'] / max(phase['chunks'], 1) / 1024:.0f} "
        f"KiB; gc {phase['gc_seconds']:.3f} s in {'/'.join(map(str, phase['gc_counts']))} "
        f"gen0/1/2 collections)"
    )


def report(results: list[dict[str, Any]], n: int) -> None:
    for mode in ("default", "freeze", "off"):
        runs = [r for r in results if r["gc"] == mode]
        if not runs:
            continue
        print(f"--- gc: {GC_MODES[mode]} ---")
        for i, r in enumerate(runs, 1):
            print(f"run {i} (load average before: {r['load']})")
            print("  " + fmt_phase("phase 1, first table ", r["phase1"], n))
            print("  " + fmt_phase("phase 2, second table", r["phase2"], n))
            check = r["check"]
            ok = check["prefixes"] == check["two"] == check["a"] == n
            print(
                f"  check: Loc-RIB {check['prefixes']:,}, with 2 paths {check['two']:,}, "
                f"best from A {check['a']:,}: {'OK' if ok else 'MISMATCH'}"
                + ("" if r["phase1"]["first_chunk_is_update"] else "  (first chunk not UPDATE!)")
                + ("" if r["phase1"]["peak_reset"] else "  (VmHWM not reset: peak overstated)")
            )
        p1 = statistics.median(r["phase1"]["seconds"] for r in runs)
        b1 = statistics.median(r["phase1"]["peak_delta"] for r in runs) / n
        p2 = statistics.median(r["phase2"]["seconds"] for r in runs)
        b2 = statistics.median(r["phase2"]["peak_delta"] for r in runs) / n
        print(f"median of {len(runs)}:")
        print(f"  {'':<22}{'first table':>14}{'B/prefix':>10}{'second table':>15}{'B/prefix':>10}")
        print(f"  {'pybgp (this run)':<22}{p1:>12.2f} s{b1:>10.0f}{p2:>13.2f} s{b2:>10.0f}")
        print(
            f"  {'target':<22}{TARGET_FIRST_S:>12.2f} s{TARGET_FIRST_B:>10}"
            f"{TARGET_SECOND_S:>13.2f} s{'':>10}   ratio {p1 / TARGET_FIRST_S:.2f} / "
            f"{b1 / TARGET_FIRST_B:.2f} / {p2 / TARGET_SECOND_S:.2f}"
        )
        for name, seconds, per_prefix in REFERENCES:
            print(f"  {name + ' (issue, 1M)':<22}{seconds:>12.2f} s{per_prefix:>10}")


# ---------------------------------------------------------------------------------------------


def one_run(args: argparse.Namespace, gc_mode: str) -> dict[str, Any]:
    load = load_average()
    result = asyncio.run(speaker_run(args, gc_mode))
    result["load"] = load
    for phase in ("phase1", "phase2"):
        if "profile" in result[phase]:
            print(f"--- cProfile of the speaker, phase {phase[-1]} (top 15 by tottime) ---")
            print(result[phase].pop("profile")[:6000])
    return result


def child_run(args: argparse.Namespace, gc_mode: str) -> dict[str, Any]:
    command = [
        sys.executable, os.path.abspath(__file__), "--child", "--prefixes", str(args.prefixes),
        "--sets", str(args.sets), "--batch", str(args.batch), "--seed", str(args.seed),
        "--gc", gc_mode,
    ]  # fmt: skip
    out = subprocess.run(command, capture_output=True, text=True, timeout=PHASE_TIMEOUT * 3)
    if out.returncode != 0:
        sys.stderr.write(out.stderr)
        raise SystemExit(f"speaker run failed (exit {out.returncode})")
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prefixes", type=int, default=1_000_000)
    parser.add_argument("--sets", type=int, default=3000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument(
        "--gc",
        choices=("default", "freeze", "both", "off"),
        default="default",
        help="default: Python's settings; freeze: gc.freeze() after phase 1; both: each "
        "run with both; off: gc.disable() for the whole run (an experiment, not a setting)",
    )
    parser.add_argument("--profile", action="store_true", help="cProfile both phases")
    parser.add_argument("--sender", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--address", default="127.0.0.2", help=argparse.SUPPRESS)
    parser.add_argument("--extra-asns", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--unicast", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.sender:
        sender_main(args)
        return
    if args.child:
        args.profile = False
        print(json.dumps(one_run(args, args.gc)))
        return
    modes = ["default", "freeze"] if args.gc == "both" else [args.gc]
    print(
        f"table: {args.prefixes:,} IPv4 prefixes, {args.sets:,} attribute sets, <= {args.batch} "
        f"prefixes per pack_update_messages call; speaker: kernel adapter none, default asyncio "
        f"loop, {os.cpu_count()} CPUs, load average {load_average()}",
        flush=True,
    )
    results = []
    for run in range(args.runs):
        for mode in modes:
            if run == 0 and mode == modes[0]:
                results.append(one_run(args, mode))  # the speaker is this process
            else:
                results.append(child_run(args, mode))  # a fresh process: clean memory
            print(
                f"  run {run + 1} (gc {mode}): phase 1 "
                f"{results[-1]['phase1']['seconds']:.3f} s, phase 2 "
                f"{results[-1]['phase2']['seconds']:.3f} s",
                flush=True,
            )
    n = args.prefixes
    first = results[0]
    print(
        f"wire: {first['wire_octets']:,} octets of UPDATEs per sender "
        f"({first['phase1']['updates'] - 1:,} UPDATEs + End-of-RIB)"
    )
    report(results, n)


if __name__ == "__main__":
    main()

"""A million originated prefixes: `pybgp run` beside BIRD 2, from start to the last one sent.

Two network namespaces joined by a veth: ``rcv`` (10.78.0.1, AS 65001) holds a raw asyncio BGP
receiver that counts NLRI; ``spk`` (10.78.0.2, AS 65000) holds the speaker under test, one
after the other, alternating which goes first from run to run:

* ``pybgp run -c FILE`` with the prefixes in ``[originate] prefixes`` (kernel adapter "none",
  no blackhole routes: BGP origination, not kernel sync), the receiver a passive peer;
* BIRD 2 with the same prefixes as ``route P blackhole;`` lines of a ``protocol static``
  (no kernel protocol), exported to the receiver, ``passive on``.

Both speakers only listen; the receiver connects, retrying every 10 ms, from the moment the
speaker process is started. Every moment is taken by the receiver, with the system-wide
monotonic clock the harness also reads just before it starts the speaker (t0):

* ready: t0 until the first UPDATE carrying NLRI arrives (the speaker read its config, built
  its table, accepted the session and started sending: "ready to send", seen from outside);
* all: t0 until the receiver has counted every prefix (``sent`` = all - ready);
* memory: the speaker process's peak RSS (VmHWM) once everything arrived.

Then, in a fresh interpreter, the library path: ``Speaker.originate_many`` of the same million
prefixes as text (time and peak RSS of the process), and ``Speaker.originate`` called once per
prefix (time).

    python benchmarks/originate.py [--prefixes N] [--runs N]

Needs root (namespaces) and BIRD 2 (``apt-get install bird2``). Everything it starts is
stopped by pid and both namespaces are deleted, also on failure or Ctrl-C.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from procstat import finish_lab, proc_bytes, ratio, reap

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # run from a checkout

RECEIVER_ADDRESS, SPEAKER_ADDRESS = "10.78.0.1", "10.78.0.2"
RECEIVER_AS, SPEAKER_AS = 65001, 65000
TIMEOUT = float(os.environ.get("PYBGP_BENCH_TIMEOUT", 120))
RETRY = 0.01


def prefix_texts(count: int) -> list[str]:
    """``count`` distinct unicast /24s from 16.0.0.0 up (BIRD refuses martians)."""
    return [f"{16 + (i >> 16)}.{(i >> 8) & 255}.{i & 255}.0/24" for i in range(count)]


# ---------------------------------------------------------------------------------------------
# The receiver (separate process in the receiver namespace): raw asyncio, no pybgp imports.

MARKER = b"\xff" * 16
KEEPALIVE = MARKER + struct.pack("!HB", 19, 4)


def raw_open(asn: int, hold: int, router_id: str) -> bytes:
    """An OPEN with the multiprotocol IPv4 unicast and 4-octet AS capabilities."""
    caps = bytes((1, 4, 0, 1, 0, 1)) + bytes((65, 4)) + struct.pack("!I", asn)
    params = bytes((2, len(caps))) + caps
    rid = bytes(int(part) for part in router_id.split("."))
    body = struct.pack("!BHH4sB", 4, asn, hold, rid, len(params)) + params
    return MARKER + struct.pack("!HB", 19 + len(body), 1) + body


def count_nlri(nlri: bytes) -> int:
    """Prefixes in an IPv4 NLRI field (RFC 4271 §4.3); all-/24 fields counted in C."""
    if len(nlri) % 4 == 0 and nlri[::4].count(24) == len(nlri) // 4:
        return len(nlri) // 4
    count, i = 0, 0
    while i < len(nlri):
        i += 1 + (nlri[i] + 7) // 8
        count += 1
    return count


class Receiver(asyncio.Protocol):
    """OPEN, KEEPALIVE, then counts the NLRI of every UPDATE; notes the moments."""

    def __init__(self, expected: int, done: asyncio.Future[dict[str, float]]) -> None:
        self.expected = expected
        self.done = done
        self.buffer = bytearray()
        self.count = 0
        self.moments: dict[str, float] = {}
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.moments["connected"] = time.monotonic()
        transport.write(raw_open(RECEIVER_AS, 240, RECEIVER_ADDRESS))

    def data_received(self, data: bytes) -> None:
        buffer = self.buffer
        buffer += data
        start = 0
        while len(buffer) - start >= 19:
            length, kind = struct.unpack_from("!HB", buffer, start + 16)
            if len(buffer) - start < length:
                break
            if kind == 1:
                self.moments["open"] = time.monotonic()
                assert self.transport is not None
                self.transport.write(KEEPALIVE)
            elif kind == 2:
                self._update(bytes(buffer[start + 19 : start + length]))
            elif kind == 3 and not self.done.done():
                self.done.set_exception(RuntimeError(f"NOTIFICATION {buffer[19:21].hex()}"))
            start += length
        del buffer[:start]

    def _update(self, body: bytes) -> None:
        withdrawn = int.from_bytes(body[:2])
        attributes = int.from_bytes(body[2 + withdrawn : 4 + withdrawn])
        found = count_nlri(body[4 + withdrawn + attributes :])
        if found and "first_update" not in self.moments:
            self.moments["first_update"] = time.monotonic()
        self.count += found
        if self.count >= self.expected and not self.done.done():
            self.moments["all"] = time.monotonic()
            self.done.set_result(self.moments)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.done.done():
            self.done.set_exception(RuntimeError(f"closed after {self.count} prefixes: {exc}"))


async def receiver_main(expected: int) -> None:
    loop = asyncio.get_running_loop()
    print("READY", flush=True)
    await loop.run_in_executor(None, sys.stdin.readline)  # "go": the speaker is starting
    done: asyncio.Future[dict[str, float]] = loop.create_future()
    deadline = time.monotonic() + TIMEOUT
    while True:  # bounded: until the speaker listens or the deadline
        try:
            transport, _ = await loop.create_connection(
                lambda: Receiver(expected, done), SPEAKER_ADDRESS, 179,
                local_addr=(RECEIVER_ADDRESS, 0),
            )
            break
        except OSError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(RETRY)
    try:
        moments = await asyncio.wait_for(done, max(1.0, deadline - time.monotonic()))
    finally:
        transport.close()
    print(json.dumps(moments), flush=True)


# ---------------------------------------------------------------------------------------------
# The harness




def write_configs(workdir: Path, prefixes: list[str]) -> None:
    """``pybgp.toml`` and ``bird.conf`` with the same prefixes, written once."""
    with (workdir / "pybgp.toml").open("w") as out:
        out.write(
            f'[speaker]\nasn = {SPEAKER_AS}\nrouter_id = "{SPEAKER_ADDRESS}"\n'
            f'listen_address = "{SPEAKER_ADDRESS}"\n'
            f'control_socket = "{workdir / "pybgp.sock"}"\nhold_time = 240\n'
            '[kernel]\nadapter = "none"\n'
            f'[[peers]]\naddress = "{RECEIVER_ADDRESS}"\nasn = {RECEIVER_AS}\npassive = true\n'
            "[originate]\nprefixes = [\n"
        )
        out.writelines(f'  "{text}",\n' for text in prefixes)
        out.write("]\n")
    with (workdir / "bird.conf").open("w") as out:
        out.write(f"router id {SPEAKER_ADDRESS};\nprotocol device {{}}\n"
                  "protocol static own {\n  ipv4;\n")
        out.writelines(f"  route {text} blackhole;\n" for text in prefixes)
        out.write(
            "}\nprotocol bgp receiver {\n"
            f"  local {SPEAKER_ADDRESS} as {SPEAKER_AS};\n"
            f"  neighbor {RECEIVER_ADDRESS} as {RECEIVER_AS};\n"
            "  passive on;\n  hold time 240;\n"
            "  ipv4 { import none; export all; };\n}\n"
        )


def speaker_argv(kind: str, namespace: str, workdir: Path) -> list[str]:
    if kind == "pybgp run":
        return ["ip", "netns", "exec", namespace, sys.executable, "-m", "pybgp", "run", "-c",
                str(workdir / "pybgp.toml")]
    return ["ip", "netns", "exec", namespace, "bird", "-f", "-c", str(workdir / "bird.conf"),
            "-s", str(workdir / "bird.ctl")]


def one(kind: str, namespaces: tuple[str, str], prefixes: int, workdir: Path) -> dict[str, float]:
    receiver_ns, speaker_ns = namespaces
    receiver = subprocess.Popen(
        ["ip", "netns", "exec", receiver_ns, sys.executable, str(Path(__file__).resolve()),
         "--receiver", "--prefixes", str(prefixes)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    speaker: subprocess.Popen[Any] | None = None
    log = (workdir / f"{kind.split()[0]}.log").open("w")
    try:
        assert receiver.stdin is not None and receiver.stdout is not None
        if receiver.stdout.readline().strip() != "READY":
            raise RuntimeError("receiver did not start")
        receiver.stdin.write("go\n")
        receiver.stdin.flush()
        started = time.monotonic()
        speaker = subprocess.Popen(speaker_argv(kind, speaker_ns, workdir), stdout=log,
                                   stderr=subprocess.STDOUT, cwd=HERE.parent)
        line = receiver.stdout.readline()  # bounded by the receiver's own deadline
        if not line:
            raise RuntimeError(f"{kind}: the receiver gave up (see {log.name})")
        moments = json.loads(line)
        return {
            "ready": moments["first_update"] - started,
            "all": moments["all"] - started,
            "sent": moments["all"] - moments["first_update"],
            "peak_mib": proc_bytes(speaker.pid, "VmHWM") / 2**20,
        }
    finally:
        if speaker is not None:
            reap(speaker)
        if receiver.stdin is not None:
            receiver.stdin.close()
        reap(receiver)
        log.close()


# ---------------------------------------------------------------------------------------------
# The library path, in a fresh interpreter


async def library_main(count: int) -> None:
    from pybgp.config import SpeakerConfig, SpeakerSection
    from pybgp.speaker import Speaker

    texts = prefix_texts(count)
    base = proc_bytes(os.getpid(), "VmRSS")
    section = SpeakerSection(asn=SPEAKER_AS, router_id=SPEAKER_ADDRESS, listen_address="",
                             control_socket="")
    results: dict[str, float] = {}
    speaker = Speaker(SpeakerConfig(speaker=section))
    await speaker.start()
    try:
        started = time.perf_counter()
        speaker.originate_many(texts)
        results["originate_many_s"] = time.perf_counter() - started
        results["originate_many_peak_mib"] = proc_bytes(os.getpid(), "VmHWM") / 2**20
        results["texts_mib"] = base / 2**20
        assert speaker.rib.originated_count() == count
    finally:
        await speaker.stop()
    speaker = Speaker(SpeakerConfig(speaker=section))
    await speaker.start()
    try:
        started = time.perf_counter()
        for text in texts:
            speaker.originate(text)
        results["originate_s"] = time.perf_counter() - started
        assert speaker.rib.originated_count() == count
    finally:
        await speaker.stop()
    print(json.dumps(results), flush=True)


def library(prefixes: int) -> dict[str, float]:
    result = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--library", "--prefixes", str(prefixes)],
        capture_output=True, text=True, timeout=TIMEOUT * 4, check=True, cwd=HERE.parent,
    )
    figures: dict[str, float] = json.loads(result.stdout.splitlines()[-1])
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--prefixes", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--receiver", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--library", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.receiver:
        asyncio.run(receiver_main(args.prefixes))
        return 0
    if args.library:
        asyncio.run(library_main(args.prefixes))
        return 0

    from pybgp.demo.lab import Lab, netns_unavailable

    problem = netns_unavailable()
    if problem or shutil.which("bird") is None:
        print(f"skipped: {problem or 'BIRD 2 is not installed'}")
        return 0
    lab = Lab(f"pbo{os.getpid() % 100000}-")
    workdir = Path(tempfile.mkdtemp(prefix="pybgp-originate-"))
    os.chmod(workdir, 0o755)  # BIRD may drop privileges
    results: dict[str, list[dict[str, float]]] = {"pybgp run": [], "BIRD 2": []}
    try:
        receiver_ns = lab.namespace("rcv")
        speaker_ns = lab.namespace("spk")
        lab.veth(receiver_ns, "eth0", speaker_ns, "eth0")
        lab.ip(receiver_ns, "addr", "add", f"{RECEIVER_ADDRESS}/24", "dev", "eth0")
        lab.ip(speaker_ns, "addr", "add", f"{SPEAKER_ADDRESS}/24", "dev", "eth0")
        write_configs(workdir, prefix_texts(args.prefixes))
        load = os.getloadavg()
        print(f"{args.prefixes:,} originated IPv4 prefixes, eBGP to one receiver over a veth; "
              f"{os.cpu_count()} CPUs, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
        for run in range(args.runs):
            order = ["pybgp run", "BIRD 2"] if run % 2 == 0 else ["BIRD 2", "pybgp run"]
            for kind in order:
                figures = one(kind, (receiver_ns, speaker_ns), args.prefixes, workdir)
                results[kind].append(figures)
                print(f"  run {run + 1} {kind:9}: ready {figures['ready']:6.2f} s  "
                      f"all {figures['all']:6.2f} s  (sent in {figures['sent']:5.2f} s)  "
                      f"peak RSS {figures['peak_mib']:6.1f} MiB", flush=True)
    finally:
        finish_lab(lab, workdir)
    print(f"medians of {args.runs}:")
    medians = {name: {key: statistics.median(r[key] for r in runs) for key in runs[0]}
               for name, runs in results.items()}
    for key, label in (("ready", "ready (s)"), ("all", "all (s)"), ("sent", "sent (s)"),
                       ("peak_mib", "peak MiB")):
        ours, bird = medians["pybgp run"][key], medians["BIRD 2"][key]
        print(f"  {label:10} pybgp run {ours:8.2f}   BIRD 2 {bird:8.2f}   "
              f"ratio {ratio(ours, bird)}")
    lib = library(args.prefixes)
    print(f"library, {args.prefixes:,} prefixes as text: Speaker.originate_many "
          f"{lib['originate_many_s']:.2f} s, peak RSS {lib['originate_many_peak_mib']:.0f} MiB "
          f"({lib['originate_many_peak_mib'] - lib['texts_mib']:.0f} MiB above the "
          f"{lib['texts_mib']:.0f} MiB of the interpreter and the list of texts); "
          f"Speaker.originate once per prefix {lib['originate_s']:.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())

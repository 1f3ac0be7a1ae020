"""How many idle sessions one pybgp speaker holds, and what they cost.

One pybgp speaker (this process) connects to N peers at distinct loopback addresses
(127.1.x.y). The peers are a minimal raw-asyncio BGP responder running in a separate process:
for each connection it sends an OPEN and a KEEPALIVE, then a KEEPALIVE every hold/3 seconds, and
discards whatever it receives. Printed:

* the time from the speaker's start until all N sessions are Established,
* resident memory per session (RSS delta / N, from /proc/self/statm),
* CPU use of the speaker at steady keepalive traffic (hold time 30 s), as a percentage of one
  core, measured with resource.getrusage over ``--measure`` seconds.

Targets: <= 10 s to establish 1000 sessions, <= 50 KiB per session, <= 5 % of one core.

    python benchmarks/sessions.py            # N = 1000, 25 s of steady state
    python benchmarks/sessions.py 200 --measure 10
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import struct
import subprocess
import sys
import time
from ipaddress import IPv4Address, ip_address

HOLD_TIME = 30
PEER_AS = 65000
LOCAL_AS = 64512


def peer_address(index: int) -> str:
    """The loopback address of peer ``index`` (127.1.0.1, 127.1.0.2, ...)."""
    return f"127.1.{index // 250}.{index % 250 + 1}"


# ---------------------------------------------------------------------------------------------
# The responder (separate process): raw asyncio, no pybgp imports.

MARKER = b"\xff" * 16
KEEPALIVE = MARKER + struct.pack("!HB", 19, 4)


def raw_open(asn: int, hold: int, router_id: str) -> bytes:
    """An OPEN with the multiprotocol IPv4 unicast and 4-octet AS capabilities."""
    caps = bytes((1, 4, 0, 1, 0, 1)) + bytes((65, 4)) + struct.pack("!I", asn)
    params = bytes((2, len(caps))) + caps
    body = struct.pack("!BHH4sB", 4, asn, hold, IPv4Address(router_id).packed, len(params))
    body += params
    return MARKER + struct.pack("!HB", 19 + len(body), 1) + body


class Responder(asyncio.Protocol):
    """Sends OPEN + KEEPALIVE, then KEEPALIVEs; ignores what it receives."""

    def __init__(self, hold: int) -> None:
        self.hold = hold
        self.timer: asyncio.TimerHandle | None = None
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        local = transport.get_extra_info("sockname")[0]
        transport.write(raw_open(PEER_AS, self.hold, local) + KEEPALIVE)
        self._arm()

    def _arm(self) -> None:
        loop = asyncio.get_running_loop()
        self.timer = loop.call_later(self.hold / 3, self._keepalive)

    def _keepalive(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(KEEPALIVE)
            self._arm()

    def data_received(self, data: bytes) -> None:
        pass

    def connection_lost(self, exc: Exception | None) -> None:
        if self.timer is not None:
            self.timer.cancel()


async def responder_main(hold: int) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: Responder(hold), "0.0.0.0", 0, backlog=4096)
    port = server.sockets[0].getsockname()[1]
    print(port, flush=True)
    # run until stdin closes (the parent exits or closes the pipe)
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    await reader.read()
    server.close()


# ---------------------------------------------------------------------------------------------
# The speaker side (this process)


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def speaker_main(count: int, measure: float) -> dict[str, float]:
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
    from pybgp.config import PeerConfig, SpeakerConfig, SpeakerSection
    from pybgp.fsm import State
    from pybgp.speaker import PeerStateChanged, Speaker

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 2 * count + 100:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 2 * count + 1000), hard))

    child = subprocess.Popen(
        [sys.executable, os.path.abspath(__file__), "--responder", "--hold", str(HOLD_TIME)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    try:
        assert child.stdout is not None
        port = int(child.stdout.readline())
        config = SpeakerConfig(
            speaker=SpeakerSection(
                asn=LOCAL_AS,
                router_id=IPv4Address("10.255.0.1"),
                listen_address="",
                control_socket="",
                hold_time=HOLD_TIME,
                connect_delay=0.0,
            )
        )
        peers = [
            PeerConfig(address=ip_address(peer_address(i)), asn=PEER_AS, port=port)
            for i in range(count)
        ]
        async with Speaker(config) as speaker:
            rss_before = rss_bytes()
            _snapshot, stream = speaker.subscribe()
            started = time.perf_counter()
            for peer in peers:
                await speaker.add_peer(peer)
            up: set[str] = set()
            with stream:
                async with asyncio.timeout(120):
                    async for event in stream:
                        if isinstance(event, PeerStateChanged):
                            if event.new is State.ESTABLISHED:
                                up.add(event.peer)
                            elif event.old is State.ESTABLISHED:
                                up.discard(event.peer)
                        if len(up) == count:
                            break
            establish_time = time.perf_counter() - started
            # let the initial End-of-RIB and first keepalives settle, then measure memory
            await asyncio.sleep(1.0)
            rss_after = rss_bytes()
            cpu_before, wall_before = cpu_seconds(), time.perf_counter()
            await asyncio.sleep(measure)  # steady state: only keepalives flow
            cpu = (cpu_seconds() - cpu_before) / (time.perf_counter() - wall_before)
            still_up = sum(1 for p in speaker.peers() if p.state is State.ESTABLISHED)
    finally:
        assert child.stdin is not None
        child.stdin.close()
        child.wait(timeout=10)
    return {
        "sessions": count,
        "established_after_measure": still_up,
        "establish_seconds": establish_time,
        "rss_per_session_kib": (rss_after - rss_before) / count / 1024,
        "cpu_percent_of_one_core": cpu * 100,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("count", nargs="?", type=int, default=1000, help="sessions (1000)")
    parser.add_argument("--measure", type=float, default=25.0, help="steady-state seconds")
    parser.add_argument("--responder", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--hold", type=int, default=HOLD_TIME, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.responder:
        asyncio.run(responder_main(args.hold))
        return
    result = asyncio.run(speaker_main(args.count, args.measure))
    print(f"sessions                       {result['sessions']:.0f}")
    print(f"established after measurement  {result['established_after_measure']:.0f}")
    rows = (
        ("time to Established (all)", result["establish_seconds"], "s", 10.0),
        ("RSS per session", result["rss_per_session_kib"], "KiB", 50.0),
        (f"CPU, keepalives, hold {HOLD_TIME} s", result["cpu_percent_of_one_core"], "% core", 5.0),
    )
    for name, value, unit, target in rows:
        print(
            f"{name:<31}{value:8.2f} {unit:<7} target {target:g} {unit:<7}"
            f"ratio {value / target:.2f}"
        )


if __name__ == "__main__":
    main()

"""The BFD UDP shell over loopback: two shells on 127.0.0.1 and 127.0.0.2 (one port each
address, as two hosts would have), real sockets, real TTLs."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from ipaddress import IPv4Address

import pytest

from pybgp.bfd import BfdState, BfdTimers, ControlPacket, Diagnostic, encode_control
from pybgp.bfd.session import StateChanged
from pybgp.bfd.shell import SOURCE_PORTS, BfdEndpoint, BfdShell

A = IPv4Address("127.0.0.1")
B = IPv4Address("127.0.0.2")
TIMERS = BfdTimers(desired_min_tx=100_000, required_min_rx=100_000, detect_mult=3)


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    return port


class Recorder:
    def __init__(self) -> None:
        self.changes: list[StateChanged] = []
        self.event = asyncio.Event()

    def __call__(self, endpoint: BfdEndpoint, change: StateChanged) -> None:
        self.changes.append(change)
        self.event.set()

    async def wait_for(self, state: BfdState, timeout: float) -> StateChanged:
        async with asyncio.timeout(timeout):
            while True:
                for change in self.changes:
                    if change.new is state:
                        return change
                self.event.clear()
                await self.event.wait()


@pytest.fixture
async def shells() -> AsyncIterator[tuple[BfdShell, BfdShell]]:
    port = free_udp_port()
    a, b = BfdShell(port=port), BfdShell(port=port)
    try:
        yield a, b
    finally:
        a.close()
        b.close()


async def test_sessions_come_up_and_detect_a_dead_peer(
    shells: tuple[BfdShell, BfdShell],
) -> None:
    a, b = shells
    seen_a, seen_b = Recorder(), Recorder()
    end_a = a.add(B, A, TIMERS, seen_a)
    b.add(A, B, TIMERS, seen_b)
    assert end_a.source_port in SOURCE_PORTS  # RFC 5881 §4
    await seen_a.wait_for(BfdState.UP, 10.0)
    await seen_b.wait_for(BfdState.UP, 10.0)
    # The Poll Sequence brings the 100 ms rate in.
    loop = asyncio.get_running_loop()
    async with asyncio.timeout(10.0):
        while end_a.session.tx_interval != 100_000 or end_a.session.polling:
            await asyncio.sleep(0.05)
    assert end_a.session.detection_time == 300_000
    # b dies without a word: its sockets close, its timers stop.
    dead_at = loop.time()
    for endpoint in list(b._by_remote.values()):
        if endpoint.timer is not None:
            endpoint.timer.cancel()
        endpoint.sock.close()
    b._by_remote.clear()
    b._by_discriminator.clear()
    change = await seen_a.wait_for(BfdState.DOWN, 10.0)
    assert change.diagnostic is Diagnostic.CONTROL_DETECTION_TIME_EXPIRED
    assert loop.time() - dead_at < 2.0  # 300 ms detection time, a loaded machine


async def test_admin_down_on_removal(shells: tuple[BfdShell, BfdShell]) -> None:
    a, b = shells
    seen_a, seen_b = Recorder(), Recorder()
    a.add(B, A, TIMERS, seen_a)
    b.add(A, B, TIMERS, seen_b)
    await seen_a.wait_for(BfdState.UP, 10.0)
    b.remove(A)
    change = await seen_a.wait_for(BfdState.DOWN, 5.0)
    assert change.diagnostic is Diagnostic.NEIGHBOR_SIGNALED_SESSION_DOWN
    assert change.remote_state is BfdState.ADMIN_DOWN


async def test_packets_without_ttl_255_are_dropped(shells: tuple[BfdShell, BfdShell]) -> None:
    a, _b = shells
    seen = Recorder()
    endpoint = a.add(B, A, TIMERS, seen)
    hello = encode_control(ControlPacket(state=BfdState.DOWN, my_discriminator=77))
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
        sender.bind((str(B), 0))
        sender.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, 254)
        sender.sendto(hello, (str(A), a.port))
        async with asyncio.timeout(5.0):
            while a.dropped_ttl == 0:
                await asyncio.sleep(0.01)
        assert endpoint.session.packets_received == 0
        # The same packet with TTL 255 is taken: Down -> Init.
        sender.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, 255)
        sender.sendto(hello, (str(A), a.port))
        change = await seen.wait_for(BfdState.INIT, 5.0)
    assert change.old is BfdState.DOWN
    assert endpoint.session.remote_discriminator == 77
    assert a.dropped_ttl == 1


async def test_packets_for_no_session_are_discarded(shells: tuple[BfdShell, BfdShell]) -> None:
    """RFC 5880 §6.8.6: an unknown Your Discriminator, or zero from an unknown source."""
    a, _b = shells
    seen = Recorder()
    endpoint = a.add(B, A, TIMERS, seen)
    unknown = endpoint.session.local_discriminator ^ 0x1
    packets = [
        ControlPacket(state=BfdState.INIT, my_discriminator=5, your_discriminator=unknown),
        ControlPacket(state=BfdState.DOWN, my_discriminator=5),  # from 127.0.0.3: no session
    ]
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
        sender.bind(("127.0.0.3", 0))
        sender.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, 255)
        for packet in packets:
            sender.sendto(encode_control(packet), (str(A), a.port))
        async with asyncio.timeout(5.0):
            while a.dropped_unknown < 2:
                await asyncio.sleep(0.01)
    assert endpoint.session.packets_received == 0
    assert not seen.changes

"""Graceful restart between two pybgp speakers over loopback, kernels in memory.

A (the restarting speaker) and B (the helper) peer over 127.0.0.1/127.0.0.2. A's kernel is a
MemoryInstaller that outlives A, as the Linux kernel outlives the process: the routes A left
are adopted by the next A. ``operations`` counts every kernel change, so "nothing touched"
is checked exactly.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from ipaddress import IPv4Address, ip_interface, ip_network

import pytest

from pybgp.config import (
    GracefulRestartConfig,
    KernelConfig,
    OriginateConfig,
    PeerConfig,
    SpeakerConfig,
    SpeakerSection,
)
from pybgp.fsm import State
from pybgp.kernel import MemoryInstaller, prefix_key
from pybgp.speaker import Speaker
from pybgp.wire.capabilities import GracefulRestartCapability
from tests.harness.loopback import loopback_section

TIMEOUT = 10.0
CONNECTED = [ip_interface("127.0.0.1/8")]
A_BLOCKS = ("10.244.1.0/26", "10.244.3.0/26")
B_BLOCK = "10.244.2.0/26"


def section(router_id: str, listen: str) -> SpeakerSection:
    return loopback_section(
        64512, router_id, listen, connect_retry_time=0.3, error_wait_min=0.3, error_wait_max=1.0
    )


GR = GracefulRestartConfig(enabled=True, restart_time=30, stale_routes_time=60)


def config_b(**gr: object) -> SpeakerConfig:
    return SpeakerConfig(
        speaker=section("10.0.0.2", "127.0.0.2"),
        peers=(PeerConfig(address=IPv4Address("127.0.0.1"), asn=64512, passive=True),),
        originate=OriginateConfig(prefixes=(ip_network(B_BLOCK),)),
        kernel=KernelConfig(adapter="memory", encapsulation="ipip"),
        graceful_restart=GracefulRestartConfig(**{**_fields(GR), **gr}),  # type: ignore[arg-type]
    )


def config_a(port_b: int, blocks: tuple[str, ...] = A_BLOCKS, **gr: object) -> SpeakerConfig:
    return SpeakerConfig(
        speaker=section("10.0.0.1", "127.0.0.1"),
        peers=(
            PeerConfig(
                address=IPv4Address("127.0.0.2"),
                asn=64512,
                port=port_b,
                local_address=IPv4Address("127.0.0.1"),
            ),
        ),
        originate=OriginateConfig(prefixes=tuple(ip_network(b) for b in blocks)),
        kernel=KernelConfig(adapter="memory", encapsulation="ipip"),
        graceful_restart=GracefulRestartConfig(**{**_fields(GR), **gr}),  # type: ignore[arg-type]
    )


def _fields(config: GracefulRestartConfig) -> dict[str, object]:
    return {
        "enabled": config.enabled,
        "restart_time": config.restart_time,
        "stale_routes_time": config.stale_routes_time,
        "notification": config.notification,
    }


def has(installer: MemoryInstaller, prefix: str) -> bool:
    key = prefix_key(prefix)
    return any(route.prefix == key for route in installer.routes.values())


async def until(condition: Callable[[], bool], what: str, timeout: float = TIMEOUT) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.02)  # polling a condition, not a fixed wait
    assert condition(), what


@pytest.fixture
async def helper() -> AsyncIterator[tuple[Speaker, MemoryInstaller]]:
    kernel_b = MemoryInstaller(CONNECTED)
    b = Speaker(config_b(), installer=kernel_b)
    await b.start()
    try:
        yield b, kernel_b
    finally:
        await b.stop()


def peer_gr(speaker: Speaker, address: str) -> dict[str, object]:
    for entry in speaker.status()["peers"]:
        if entry["address"] == address:
            return entry["graceful_restart"]  # type: ignore[no-any-return]
    raise AssertionError(address)


async def start_a(port_b: int, kernel_a: MemoryInstaller, **kw: object) -> Speaker:
    a = Speaker(config_a(port_b, **kw), installer=kernel_a)  # type: ignore[arg-type]
    await a.start()
    await a.wait_state("127.0.0.2", State.ESTABLISHED, TIMEOUT)
    return a


async def test_planned_restart_touches_no_kernel_route_on_either_side(
    helper: tuple[Speaker, MemoryInstaller],
) -> None:
    b, kernel_b = helper
    port_b = b.listen_addresses[0][1]
    kernel_a = MemoryInstaller(CONNECTED)
    a = await start_a(port_b, kernel_a)
    await until(lambda: all(has(kernel_b, p) for p in A_BLOCKS), "B installs A's blocks")
    await until(lambda: has(kernel_a, B_BLOCK), "A installs B's block")
    gr = peer_gr(b, "127.0.0.1")
    assert gr["negotiated"] is True and gr["notification"] is True
    assert gr["families"] == ["ipv4"]
    ops_a, ops_b = kernel_a.operations, kernel_b.operations

    await a.stop(restart=True)
    assert has(kernel_a, B_BLOCK), "A's kernel keeps its routes over the restart"
    await until(lambda: peer_gr(b, "127.0.0.1")["phase"] == "restarting", "B sees the restart")
    gr = peer_gr(b, "127.0.0.1")
    assert gr["stale_routes"] == 2 and 0 < gr["time_left"] <= 30  # type: ignore[operator]
    assert "N-bit" in str(gr["last_loss"])  # Cease/Administrative Reset with the N-bit

    a = await start_a(port_b, kernel_a)
    status = a.status()["graceful_restart"]
    assert status["preserved"] == ["ipv4"]
    # RFC 4724 §3: the new OPEN says "restarted" (R) and "forwarding kept" (F) for IPv4.
    seen_by_b = peer_gr(b, "127.0.0.1")["peer"]
    assert seen_by_b["restart_state"] is True  # type: ignore[index]
    assert seen_by_b["families"] == {"ipv4": {"forwarding": True}}  # type: ignore[index]
    await until(lambda: a.graceful.startup is not None and a.graceful.startup.done, "deferral")
    # Once the restart is over, later OPENs no longer carry the R-bit.
    session = a.session("127.0.0.2")
    assert session is not None
    capability = session.local_open.capability(GracefulRestartCapability)
    assert capability is not None and not capability.restart_state
    await until(lambda: peer_gr(b, "127.0.0.1")["phase"] == "none", "B recovers")
    await until(lambda: a.kernel is not None and a.kernel.counters().stale == 0, "A's sweep")
    assert all(has(kernel_b, p) for p in A_BLOCKS) and has(kernel_a, B_BLOCK)
    assert kernel_b.operations == ops_b, "B's kernel was not touched"
    assert kernel_a.operations == ops_a, "A's kernel was not touched"
    assert a.status()["graceful_restart"]["restarting"] is False
    await a.stop()  # the full stop: Hard Reset (RFC 8538 §5), B flushes
    await until(lambda: not any(has(kernel_b, p) for p in A_BLOCKS), "B removes A's blocks")


async def test_block_dropped_while_down_is_removed_after_end_of_rib(
    helper: tuple[Speaker, MemoryInstaller],
) -> None:
    b, kernel_b = helper
    port_b = b.listen_addresses[0][1]
    kernel_a = MemoryInstaller(CONNECTED)
    a = await start_a(port_b, kernel_a)
    await until(lambda: all(has(kernel_b, p) for p in A_BLOCKS), "B installs A's blocks")
    ops_b = kernel_b.operations
    await a.stop(restart=True)
    a = await start_a(port_b, kernel_a, blocks=A_BLOCKS[:1])
    await until(lambda: not has(kernel_b, A_BLOCKS[1]), "B removes the dropped block")
    await until(lambda: peer_gr(b, "127.0.0.1")["phase"] == "none", "B recovers")
    assert has(kernel_b, A_BLOCKS[0])
    assert kernel_b.operations == ops_b + 1, "exactly one kernel change on B: the removal"
    await a.stop()


async def test_without_n_bit_restart_closes_tcp_and_peer_keeps_routes(
    helper: tuple[Speaker, MemoryInstaller],
) -> None:
    b, kernel_b = helper
    port_b = b.listen_addresses[0][1]
    kernel_a = MemoryInstaller(CONNECTED)
    a = await start_a(port_b, kernel_a, notification=False)
    await until(lambda: all(has(kernel_b, p) for p in A_BLOCKS), "B installs A's blocks")
    assert peer_gr(b, "127.0.0.1")["notification"] is False
    ops_b = kernel_b.operations
    await a.stop(restart=True)
    await until(lambda: peer_gr(b, "127.0.0.1")["phase"] == "restarting", "B sees the restart")
    assert "without NOTIFICATION" in str(peer_gr(b, "127.0.0.1")["last_loss"])
    assert kernel_b.operations == ops_b
    # The full stop without the N-bit: Cease/Administrative Shutdown, B flushes.
    a = await start_a(port_b, kernel_a, notification=False)
    await until(lambda: peer_gr(b, "127.0.0.1")["phase"] == "none", "B recovers")
    await a.stop()
    await until(lambda: not any(has(kernel_b, p) for p in A_BLOCKS), "B removes A's blocks")


async def test_peer_not_back_in_restart_time_is_flushed(
    helper: tuple[Speaker, MemoryInstaller],
) -> None:
    b, kernel_b = helper
    port_b = b.listen_addresses[0][1]
    kernel_a = MemoryInstaller(CONNECTED)
    a = await start_a(port_b, kernel_a, restart_time=1)
    await until(lambda: all(has(kernel_b, p) for p in A_BLOCKS), "B installs A's blocks")
    await a.stop(restart=True)
    await until(lambda: peer_gr(b, "127.0.0.1")["phase"] == "restarting", "B sees the restart")
    await until(lambda: not any(has(kernel_b, p) for p in A_BLOCKS), "flushed after 1 s")
    assert peer_gr(b, "127.0.0.1")["stale_routes"] == 0


async def test_new_open_while_established_is_a_restart() -> None:
    """RFC 4724 §4.2: B still sees its session with A Established when a new A connects and
    sends an OPEN (A restarted without B noticing: a reboot, a lost FIN). B closes the old
    session without a NOTIFICATION, keeps A's routes stale and takes the new session."""
    kernel_b = MemoryInstaller(CONNECTED)
    kernel_a = MemoryInstaller(CONNECTED)
    a_config = config_a(0)
    # A only accepts (so it never comes back by itself); B connects to it.
    a_config = SpeakerConfig(
        speaker=a_config.speaker,
        peers=(PeerConfig(address=IPv4Address("127.0.0.2"), asn=64512, passive=True),),
        originate=a_config.originate,
        kernel=a_config.kernel,
        graceful_restart=a_config.graceful_restart,
    )
    a = Speaker(a_config, installer=kernel_a)
    await a.start()
    b_base = config_b()
    b = Speaker(
        SpeakerConfig(
            speaker=b_base.speaker,
            peers=(
                PeerConfig(
                    address=IPv4Address("127.0.0.1"),
                    asn=64512,
                    port=a.listen_addresses[0][1],
                    local_address=IPv4Address("127.0.0.2"),
                ),
            ),
            originate=b_base.originate,
            kernel=b_base.kernel,
            graceful_restart=b_base.graceful_restart,
        ),
        installer=kernel_b,
    )
    await b.start()
    second: Speaker | None = None
    try:
        await b.wait_state("127.0.0.1", State.ESTABLISHED, TIMEOUT)
        await until(lambda: all(has(kernel_b, p) for p in A_BLOCKS), "B installs A's blocks")
        ops_b = kernel_b.operations
        # The "restarted" A: same address, no listener, connects to B; its kernel is what A's
        # was (forwarding state kept, hence the F-bit: without it B would flush).
        second_kernel = MemoryInstaller(CONNECTED)
        second_kernel.routes = dict(kernel_a.routes)
        second_config = config_a(b.listen_addresses[0][1])
        second = Speaker(
            SpeakerConfig(
                speaker=SpeakerSection(
                    asn=64512,
                    router_id=IPv4Address("10.0.0.1"),
                    listen_address="",
                    control_socket="",
                    connect_delay=0.0,
                    connect_retry_time=0.3,
                ),
                peers=second_config.peers,
                originate=second_config.originate,
                kernel=second_config.kernel,
                graceful_restart=second_config.graceful_restart,
            ),
            installer=second_kernel,
        )
        await second.start()
        await until(lambda: peer_gr(b, "127.0.0.1")["restarts"] == 1, "B sees a restart")
        assert "without NOTIFICATION" in str(peer_gr(b, "127.0.0.1")["last_loss"])
        await second.wait_state("127.0.0.2", State.ESTABLISHED, TIMEOUT)
        await until(lambda: peer_gr(b, "127.0.0.1")["phase"] == "none", "B recovers")
        assert all(has(kernel_b, p) for p in A_BLOCKS)
        assert kernel_b.operations == ops_b, "B's kernel was not touched"
    finally:
        if second is not None:
            await second.stop()
        await b.stop()
        await a.stop()

"""Per-peer decisions with real sessions on loopback (issue 12): max-prefix before the RIB and
its warning-only mode, the error back-off for a flapping inbound peer, refusal log lines
rate-limited per source address."""

from __future__ import annotations

import asyncio
import logging
from ipaddress import IPv4Address, IPv4Interface, ip_network

import attrs
import pytest
from test_speaker_loopback import (
    TIMEOUT,
    eventually,
    no_leftovers,  # noqa: F401 - the autouse fixture applies here too
    peer,
    port_of,
    section,
    wait_for_event,
)

from pybgp.config import KernelConfig, SpeakerConfig
from pybgp.fsm import State
from pybgp.kernel import MemoryInstaller
from pybgp.speaker import BestPathChanged, PeerStateChanged, Speaker, SpeakerEvent
from pybgp.wire.constants import CeaseSubcode
from pybgp.wire.nlri import prefix_from_network

PREFIXES = ("10.9.0.0/24", "10.9.1.0/24", "10.9.2.0/24")
KEYS = {prefix_from_network(ip_network(p)) for p in PREFIXES}


def prefixes_seen(events: list[SpeakerEvent]) -> set[bytes]:
    """Prefix keys that had a best path in any BestPathChanged event."""
    return {
        change.prefix
        for event in events
        if isinstance(event, BestPathChanged)
        for change in event.changes
        if change.new
    }


async def collect(stream: object, into: list[SpeakerEvent]) -> None:
    async for event in stream:  # type: ignore[attr-defined]
        into.append(event)


async def three_speakers(action: str) -> tuple[Speaker, Speaker, Speaker, MemoryInstaller]:
    """A announces PREFIXES in one UPDATE to B (max_prefixes = 2); C is B's other peer."""
    installer = MemoryInstaller([IPv4Interface("127.0.0.122/8")])
    a = Speaker(SpeakerConfig(speaker=section(65001, "10.0.0.1", "127.0.0.121")))
    b = Speaker(
        SpeakerConfig(
            speaker=section(65002, "10.0.0.2", "127.0.0.122"),
            kernel=KernelConfig(encapsulation="ipip"),
        ),
        installer=installer,
    )
    c = Speaker(SpeakerConfig(speaker=section(65003, "10.0.0.3", "127.0.0.123")))
    for speaker in (a, b, c):
        await speaker.start()
    for prefix in PREFIXES:
        a.originate(prefix)
    await b.add_peer(
        peer("127.0.0.121", 65001, passive=True, max_prefixes=2, max_prefixes_action=action)
    )
    await b.add_peer(peer("127.0.0.123", 65003, passive=True))
    await c.add_peer(
        peer("127.0.0.122", 65002, port_of(b), local_address=IPv4Address("127.0.0.123"))
    )
    await b.wait_state("127.0.0.123", State.ESTABLISHED, TIMEOUT)
    return a, b, c, installer


async def test_max_prefixes_stop_keeps_the_updates_routes_from_kernel_and_peers() -> None:
    """Issue 12: the UPDATE that goes over the limit never leaves the RIB's door: no best-path
    change, no kernel route, nothing sent to the other peer; the session closes with Cease/1."""
    a, b, c, installer = await three_speakers("stop")
    b_events: list[SpeakerEvent] = []
    c_events: list[SpeakerEvent] = []
    _s, b_stream = b.subscribe(routes=False)
    _s, c_stream = c.subscribe(routes=False)
    tasks = [
        asyncio.create_task(collect(b_stream, b_events)),
        asyncio.create_task(collect(c_stream, c_events)),
    ]
    try:
        await a.add_peer(
            peer("127.0.0.122", 65002, port_of(b), local_address=IPv4Address("127.0.0.121"))
        )
        await eventually(
            lambda: any(
                isinstance(e, PeerStateChanged)
                and e.old is State.ESTABLISHED
                and e.notification is not None
                and e.notification.subcode == CeaseSubcode.MAXIMUM_PREFIXES_REACHED
                for e in b_events
            )
        )
        # Let anything that would have followed arrive (C's session is up: UPDATEs from B
        # would be on their way), then check that none of the routes went anywhere.
        assert await c.wait_state("127.0.0.122", State.ESTABLISHED, TIMEOUT)
        await asyncio.sleep(0.2)
        assert not prefixes_seen(b_events) & KEYS
        assert not prefixes_seen(c_events) & KEYS
        assert not {r.prefix for r in installer.routes.values()} & KEYS
        assert b.rib.prefix_count((1, 1)) == 0
    finally:
        b_stream.close()
        c_stream.close()
        await asyncio.gather(*tasks)
        for speaker in (a, c, b):
            await speaker.stop()


async def test_max_prefixes_warn_keeps_the_routes_and_warns_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="pybgp")
    a, b, c, _installer = await three_speakers("warn")
    try:
        await a.add_peer(
            peer("127.0.0.122", 65002, port_of(b), local_address=IPv4Address("127.0.0.121"))
        )
        kernel = b.kernel
        assert kernel is not None
        await eventually(lambda: all(kernel.status((1, 1), k) == "installed" for k in KEYS))
        await eventually(lambda: c.rib.prefix_count((1, 1)) == 3)
        status = b.peer("127.0.0.121")
        assert status is not None and status.state is State.ESTABLISHED
        lines = [
            r.getMessage()
            for r in caplog.records
            if "maximum number of prefixes" in r.getMessage()
        ]
        assert lines == [
            "maximum number of prefixes (2) exceeded: 3 received (max_prefixes_action = warn: "
            "routes kept)"
        ]
    finally:
        for speaker in (a, c, b):
            await speaker.stop()


async def test_flapping_inbound_peer_is_refused_during_its_back_off() -> None:
    """RFC 4271 §8.1.1 DampPeerOscillations: A drops its session to B (passive) as soon as it
    is up, and reconnects at once, for 5 s. B refuses A during the growing back-off
    (1, 2, 4 s x jitter), so A's route flaps a few times, not at every reconnect."""
    b_section = attrs.evolve(
        section(65002, "10.0.0.2", "127.0.0.132"), error_wait_min=1.0, error_wait_max=30.0
    )
    async with (
        Speaker(SpeakerConfig(speaker=section(65001, "10.0.0.1", "127.0.0.131"))) as a,
        Speaker(SpeakerConfig(speaker=b_section)) as b,
    ):
        a.originate("10.9.0.0/24")
        await b.add_peer(peer("127.0.0.131", 65001, passive=True))
        a_config = peer(
            "127.0.0.132", 65002, port_of(b), local_address=IPv4Address("127.0.0.131")
        )
        events: list[SpeakerEvent] = []
        _s, stream = b.subscribe(routes=False)
        task = asyncio.create_task(collect(stream, events))
        attempts = 0
        try:
            loop = asyncio.get_running_loop()
            end = loop.time() + 5.0
            _s2, a_stream = a.subscribe(routes=False)
            with a_stream:
                await a.add_peer(a_config)
                while loop.time() < end:
                    try:
                        event = await wait_for_event(
                            a_stream,
                            lambda e: isinstance(e, PeerStateChanged)
                            and e.new in (State.OPEN_SENT, State.ESTABLISHED),
                            timeout=end - loop.time(),
                        )
                    except TimeoutError:
                        break
                    assert isinstance(event, PeerStateChanged)
                    if event.new is State.OPEN_SENT:
                        attempts += 1
                    else:  # up: drop it at once and come back
                        await a.remove_peer("127.0.0.132", "flap")
                        await a.add_peer(a_config)
        finally:
            stream.close()
            await task
        sessions = sum(
            1 for e in events if isinstance(e, PeerStateChanged) and e.new is State.ESTABLISHED
        )
        flaps = sum(
            1
            for e in events
            if isinstance(e, BestPathChanged)
            for change in e.changes
            if not change.new
        )
        assert attempts >= sessions + 2, (attempts, sessions)  # refused connects in between
        assert 2 <= sessions <= 4, sessions
        assert flaps <= sessions


async def test_refused_connections_are_logged_once_per_source(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """1,000 connections from a stranger write one WARNING, not 1,000."""
    caplog.set_level(logging.INFO, logger="pybgp")
    async with Speaker(SpeakerConfig(speaker=section(65002, "10.0.0.2", "127.0.0.142"))) as b:
        for _ in range(1000):
            reader, writer = await asyncio.open_connection(
                "127.0.0.142", port_of(b), local_addr=("127.0.0.141", 0)
            )
            assert await reader.read() == b""  # closed at once, no OPEN
            writer.close()
            await writer.wait_closed()
    lines = [r for r in caplog.records if "refused" in r.getMessage()]
    assert len(lines) == 1 and lines[0].levelno == logging.WARNING
    assert "127.0.0.141" in lines[0].getMessage()


async def test_peer_removed_by_reload_is_refused_quietly(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A peer removed from B's config keeps connecting: one log line, not one per attempt."""
    caplog.set_level(logging.INFO, logger="pybgp")
    b_config = SpeakerConfig(
        speaker=section(65002, "10.0.0.2", "127.0.0.152"),
        peers=(peer("127.0.0.151", 65001, passive=True),),
    )
    async with (
        Speaker(SpeakerConfig(speaker=section(65001, "10.0.0.1", "127.0.0.151"))) as a,
        Speaker(b_config) as b,
    ):
        await a.add_peer(
            peer("127.0.0.152", 65002, port_of(b), local_address=IPv4Address("127.0.0.151"))
        )
        await b.wait_state("127.0.0.151", State.ESTABLISHED, TIMEOUT)
        _s, stream = a.subscribe(routes=False)
        with stream:
            assert "removed" in await b.apply_config(attrs.evolve(b_config, peers=()))
            caplog.clear()
            for _ in range(3):  # three more attempts, each refused by B
                await wait_for_event(
                    stream,
                    lambda e: isinstance(e, PeerStateChanged) and e.old is State.OPEN_SENT,
                )
    lines = [r for r in caplog.records if "refused" in r.getMessage()]
    assert len(lines) == 1, [r.getMessage() for r in lines]


async def test_misuse_raises_typed_errors_that_old_callers_still_catch() -> None:
    from pybgp.errors import NotRunningError, PybgpError, UnknownPeerError

    speaker = Speaker(SpeakerConfig(speaker=section(65002, "10.0.0.2", "127.0.0.162")))
    with pytest.raises(NotRunningError, match="started speaker"):
        await speaker.add_peer(peer("127.0.0.161", 65001))
    with pytest.raises(RuntimeError):  # what it was before
        await speaker.remove_peer("127.0.0.161")
    async with speaker:
        with pytest.raises(UnknownPeerError, match=r"no peer 127\.0\.0\.9") as caught:
            speaker.set_policies("127.0.0.9", None, None)
        assert isinstance(caught.value, KeyError) and isinstance(caught.value, PybgpError)
        with pytest.raises(UnknownPeerError):
            await speaker.remove_peer("127.0.0.9")
        with pytest.raises(KeyError):
            speaker.update_policies(peer("127.0.0.9", 65001))
    with pytest.raises(NotRunningError):
        await speaker.wait_state("127.0.0.9", State.ESTABLISHED, 1.0)

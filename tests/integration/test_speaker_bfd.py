"""Two speakers over loopback with ``bfd = true``: BFD comes up beside BGP, and a peer whose
BFD falls silent loses its BGP session with Cease/BFD Down (RFC 9384) within the detection
time. Each speaker binds BFD to its own 127.0.0.x address (``local_address``)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable
from ipaddress import IPv4Address, ip_network
from typing import Any

import attrs
import pytest

from pybgp.bfd.shell import BfdShell
from pybgp.config import BfdConfig, GracefulRestartConfig, PeerConfig, SpeakerConfig
from pybgp.fsm import State
from pybgp.metrics import render_metrics
from pybgp.speaker import PeerStateChanged, Speaker
from pybgp.wire.constants import CeaseSubcode, ErrorCode
from pybgp.wire.nlri import prefix_from_network
from tests.integration.test_speaker_loopback import port_of, section

A, B = "127.0.0.31", "127.0.0.32"
FAST = BfdConfig(min_tx_ms=100, min_rx_ms=100, multiplier=3)


async def eventually(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    """Wait for ``condition`` (checked every 20 ms), failing after ``timeout`` seconds."""
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.02)


def silence(shell: BfdShell) -> None:
    """The BFD of a node that died: no AdminDown, no more packets."""
    for endpoint in list(shell._by_remote.values()):
        if endpoint.timer is not None:
            endpoint.timer.cancel()
        endpoint.sock.close()
    shell._by_remote.clear()
    shell._by_discriminator.clear()


def bfd_of(speaker: Speaker, peer: str) -> dict[str, Any]:
    status = speaker.peer(peer)
    assert status is not None and status.bfd is not None
    return status.bfd


def bfd_state(speaker: Speaker, peer: str) -> str:
    return str(bfd_of(speaker, peer)["state"])


@pytest.mark.parametrize("graceful", [False, True], ids=["plain", "graceful-restart"])
async def test_bfd_down_takes_bgp_down(graceful: bool) -> None:
    """With graceful restart and the N-bit on both sides the Cease would keep b's routes as
    stale (RFC 8538 §4); a BFD failure must not (RFC 5882 §4.3.1): they go at once."""
    gr = GracefulRestartConfig(enabled=graceful)
    config_a = SpeakerConfig(speaker=section(65001, "10.0.0.1", A), bfd=FAST, graceful_restart=gr)
    config_b = SpeakerConfig(speaker=section(65002, "10.0.0.2", B), bfd=FAST, graceful_restart=gr)
    async with Speaker(config_a) as a, Speaker(config_b) as b:
        await b.add_peer(
            PeerConfig(
                address=IPv4Address(A), asn=65001, passive=True,
                local_address=IPv4Address(B), bfd=True,
            )
        )
        await a.add_peer(
            PeerConfig(
                address=IPv4Address(B), asn=65002, port=port_of(b),
                local_address=IPv4Address(A), bfd=True,
            )
        )
        await a.wait_state(B, State.ESTABLISHED, 10.0)
        b.originate("10.244.2.0/26")
        block = prefix_from_network(ip_network("10.244.2.0/26"))
        await eventually(lambda: bool(a.rib.best((1, 1), block)))
        await eventually(lambda: bfd_state(a, B) == "Up" and bfd_state(b, A) == "Up")
        entry = a.status()["peers"][0]
        assert entry["state"] == "Established"  # the contract's keys are still there
        assert ("graceful-restart (peer)" in entry["capabilities"]) is graceful
        bfd = entry["bfd"]
        assert bfd["remote_discriminator"] == bfd_of(b, A)["local_discriminator"]
        assert 49152 <= bfd["source_port"] <= 65535
        await eventually(lambda: bfd_of(a, B)["tx_interval_ms"] == 100)
        assert bfd_of(a, B)["detection_time_ms"] == 300
        metrics = render_metrics(a.status())
        assert f'pybgp_bfd_state{{peer="{B}"}} 3' in metrics
        assert 'pybgp_bfd_sessions{state="Up"} 1' in metrics

        # A reload with new [bfd] timers: a Poll Sequence, BGP untouched.
        done = await a.apply_config(attrs.evolve(a.config, bfd=attrs.evolve(FAST, min_tx_ms=200)))
        assert "[bfd] timers applied" in done
        await eventually(lambda: bfd_of(a, B)["tx_interval_ms"] == 200)
        assert bfd_of(b, A)["detection_time_ms"] == 600
        assert a.peer(B).state is State.ESTABLISHED  # type: ignore[union-attr]

        _snap_b, events_b = b.subscribe(routes=False)
        _snap_a, events_a = a.subscribe(routes=False)
        with events_a, events_b:
            loop = asyncio.get_running_loop()
            assert b.bfd.shell is not None
            silence(b.bfd.shell)
            died = loop.time()
            async with asyncio.timeout(10.0):
                async for event in events_a:
                    if isinstance(event, PeerStateChanged) and event.new is State.IDLE:
                        break
            detected = loop.time() - died
            assert "BFD down" in event.reason
            assert detected < 1.5  # detection time 0.3 s, on a loaded machine
            assert a.bfd.down_because_bfd(B)
            assert a.bfd.forwarding_failure(B)  # the C bit is clear: GR keeps nothing
            assert not a.rib.best((1, 1), block)  # flushed, not kept stale
            assert bfd_of(a, B)["down_because_bfd"] is True
            # b got the NOTIFICATION: loopback still carries TCP.
            async with asyncio.timeout(10.0):
                async for event in events_b:
                    if isinstance(event, PeerStateChanged) and event.notification is not None:
                        break
            notification = event.notification
            assert (notification.code, notification.subcode) == (
                ErrorCode.CEASE,
                CeaseSubcode.BFD_DOWN,
            )
        # BGP comes back (BFD stays Down on a, as b's BFD is gone): BFD does not block it,
        # and the flag is cleared once Established again.
        await a.wait_state(B, State.ESTABLISHED, 15.0)
        assert not a.bfd.down_because_bfd(B)
        assert bfd_state(a, B) == "Down"


async def test_a_taken_bfd_port_stops_the_start() -> None:
    """Like the BGP listener: the start fails naming the port, and leaves nothing open."""
    local = "127.0.0.33"
    config = SpeakerConfig(
        speaker=section(65001, "10.0.0.1", local),
        peers=(
            PeerConfig(
                address=IPv4Address("127.0.0.34"), asn=65002,
                local_address=IPv4Address(local), bfd=True,
            ),
        ),
    )
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as squatter:
        squatter.bind((local, 3784))
        speaker = Speaker(config)
        with pytest.raises(OSError, match=r"BFD: cannot listen on UDP \[127\.0\.0\.33\]:3784"):
            await speaker.start()
    # Once the port is free the same speaker starts, with its BFD session running.
    async with speaker:
        assert bfd_state(speaker, "127.0.0.34") == "Down"
        assert "error" not in bfd_of(speaker, "127.0.0.34")

"""Many originated prefixes between two speakers on loopback: from ``[originate]`` at start,
then ``Speaker.originate_many`` / ``withdraw_many`` while the session is up."""

from __future__ import annotations

import asyncio
from ipaddress import IPv4Address

import pytest
from test_speaker_loopback import TIMEOUT, no_leftovers, peer, port_of, section

from pybgp.config import OriginateConfig, SpeakerConfig
from pybgp.config.originate import read_prefixes
from pybgp.fsm import State
from pybgp.speaker import Speaker
from pybgp.wire.constants import IPV4_UNICAST

__all__ = ["no_leftovers"]

TEXTS = [f"10.{i >> 8}.{i & 255}.0/24" for i in range(20_000)]


async def wait_count(speaker: Speaker, count: int) -> None:
    async with asyncio.timeout(TIMEOUT):
        while speaker.rib.prefix_count(IPV4_UNICAST) != count:
            await asyncio.sleep(0.01)


async def test_twenty_thousand_from_config_then_batches_both_ways() -> None:
    config = SpeakerConfig(
        speaker=section(65001, "10.0.0.1", "127.0.0.1"),
        originate=OriginateConfig(prefixes=read_prefixes(TEXTS, "originate.prefixes")),
    )
    async with (
        Speaker(config) as a,
        Speaker(SpeakerConfig(speaker=section(65002, "10.0.0.2", "127.0.0.2"))) as b,
    ):
        assert a.rib.originated_count() == 20_000
        await b.add_peer(peer("127.0.0.1", 65001, port_of(a), passive=True))
        await a.add_peer(
            peer("127.0.0.2", 65002, port_of(b), local_address=IPv4Address("127.0.0.1"))
        )
        await a.wait_state("127.0.0.2", State.ESTABLISHED, TIMEOUT)
        await wait_count(b, 20_000)
        a.originate_many(["172.16.0.0/24", "172.16.1.0/24", TEXTS[0]])
        await wait_count(b, 20_002)
        a.withdraw_many(TEXTS[:1000])
        await wait_count(b, 19_002)
        assert a.rib.originated_count() == 19_002
        a.originate("172.16.9.0/24")  # one by one: text read without ipaddress too
        a.originate("fd00:9::/64")
        await wait_count(b, 19_003)
        with pytest.raises(ValueError, match=r"^prefix: 172\.16\.9\.1/24 has host bits set"):
            a.originate("172.16.9.1/24")
        with pytest.raises(ValueError, match=r"prefixes\[1\]: '10\.0\.0\.0/33' is not a prefix"):
            a.originate_many(["10.9.0.0/24", "10.0.0.0/33"])
        assert a.rib.originated_count() == 19_004

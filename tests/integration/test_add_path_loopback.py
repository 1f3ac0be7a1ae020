"""ADD-PATH (RFC 7911) between pybgp speakers over loopback: a reflector sending every path, a
client keeping both nodes' paths for one block and selecting both (multipath)."""

from __future__ import annotations

import asyncio
from ipaddress import IPv4Address, ip_address, ip_network

from pybgp.config import PeerConfig, SpeakerConfig, SpeakerSection
from pybgp.fsm import State
from pybgp.speaker import EventStream, Speaker
from pybgp.wire.constants import IPV4_UNICAST
from pybgp.wire.nlri import prefix_from_network
from tests.harness.loopback import loopback_section

TIMEOUT = 10.0
ASN = 64512
BLOCK = "10.244.9.0/26"


def section(router_id: str, listen: str, **kw: object) -> SpeakerSection:
    return loopback_section(ASN, router_id, listen, **kw)


def peer(address: str, port: int = 179, **kw: object) -> PeerConfig:
    return PeerConfig(address=ip_address(address), asn=ASN, port=port, **kw)  # type: ignore[arg-type]


async def wait_paths(speaker: Speaker, stream: EventStream, count: int) -> list[str]:
    """Wait (on ``speaker``'s event stream) until BLOCK has ``count`` selected paths; their
    next hops."""
    key = prefix_from_network(ip_network(BLOCK))
    async with asyncio.timeout(TIMEOUT):
        while True:
            hops = sorted(str(p.next_hop) for p in speaker.rib.best(IPV4_UNICAST, key))
            if len(hops) == count:
                return hops
            await anext(stream)


async def test_client_of_a_reflector_selects_every_node_path() -> None:
    reflector_config = SpeakerConfig(
        speaker=section("10.0.6.1", "127.0.6.1", cluster_id=IPv4Address("10.0.6.1"))
    )
    async with (
        Speaker(reflector_config) as reflector,
        Speaker(SpeakerConfig(speaker=section("10.0.6.2", ""))) as node_a,
        Speaker(SpeakerConfig(speaker=section("10.0.6.3", ""))) as node_b,
        Speaker(SpeakerConfig(speaker=section("10.0.6.4", "", multipath=4))) as client,
    ):
        port = reflector.listen_addresses[0][1]
        _snapshot, stream = client.subscribe()
        with stream:
            for index in (2, 3, 4):
                await reflector.add_peer(
                    peer(
                        f"127.0.6.{index}",
                        passive=True,
                        route_reflector_client=True,
                        add_paths_send="all",
                    )
                )
            for index, speaker in ((2, node_a), (3, node_b)):
                await speaker.add_peer(
                    peer("127.0.6.1", port, local_address=IPv4Address(f"127.0.6.{index}"))
                )
            await client.add_peer(
                peer(
                    "127.0.6.1",
                    port,
                    local_address=IPv4Address("127.0.6.4"),
                    add_paths_receive=True,
                )
            )
            status = await client.wait_state("127.0.6.1", State.ESTABLISHED, TIMEOUT)
            assert status.negotiated is not None
            assert status.negotiated.negotiated.add_path_receive == {IPV4_UNICAST}
            node_a.originate(BLOCK)
            node_b.originate(BLOCK)
            assert await wait_paths(client, stream, 2) == ["127.0.6.2", "127.0.6.3"]
            entry = client.rib.lookup(IPV4_UNICAST, prefix_from_network(ip_network(BLOCK)))
            assert entry is not None and {p.peer_id for p in entry.paths} == {"127.0.6.1"}
            node_a.withdraw(BLOCK)
            assert await wait_paths(client, stream, 1) == ["127.0.6.3"]

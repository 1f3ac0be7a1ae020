"""Receive-side rules against a running speaker over loopback, fed by a scripted peer.

No real router sends these UPDATEs on purpose (BIRD refuses to originate AS 0 or a next hop
equal to its neighbour's address), so the peer here is a plain TCP client writing BGP
messages byte for byte: an OPEN, a KEEPALIVE, then the UPDATEs of each case. The speaker is
the real one (sockets, session, RIB, logs): RFC 7607 §2 AS 0 is treat-as-withdraw with a
warning naming the peer, RFC 4271 §6.3 NEXT_HOP = our own address is ignored with a debug
line, and neither resets the session.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from ipaddress import IPv4Address, ip_network

import pytest

from pybgp.config import PeerConfig, SpeakerConfig
from pybgp.fsm import State
from pybgp.speaker import Speaker
from pybgp.wire.capabilities import MultiprotocolCapability
from pybgp.wire.errors import LocalProtocolError
from pybgp.wire.messages import KEEPALIVE_MESSAGE
from pybgp.wire.nlri import prefix_from_network
from pybgp.wire.open import Open, encode_open
from tests.integration.test_speaker_loopback import TIMEOUT, port_of, section

SPEAKER = "127.0.0.81"  # pybgp, AS 65001
PEER = "127.0.0.82"  # the scripted peer, AS 65002


def update(body_hex: str) -> bytes:
    """A whole UPDATE message around an annotated hex body (``#`` comments dropped)."""
    body = bytes.fromhex(
        "".join(line.split("#")[0] for line in body_hex.splitlines()).replace(" ", "")
    )
    return b"\xff" * 16 + (19 + len(body)).to_bytes(2, "big") + b"\x02" + body


def announce(as_path_hex: str, next_hop: str, prefix_hex: str) -> bytes:
    """ORIGIN IGP, AS_PATH (one AS_SEQUENCE, 4-octet ASNs), NEXT_HOP, one NLRI."""
    as_path = bytes.fromhex(as_path_hex)
    attrs = (
        "40 01 01 00"  # ORIGIN IGP
        + f"40 02 {len(as_path) + 2:02x} 02 {len(as_path) // 4:02x} {as_path_hex}"  # AS_PATH
        + "40 03 04 " + IPv4Address(next_hop).packed.hex()  # NEXT_HOP
    )
    attrs_len = len(bytes.fromhex(attrs.replace(" ", "")))
    return update(f"0000 {attrs_len:04x} {attrs} {prefix_hex}")


def key(prefix: str) -> bytes:
    return prefix_from_network(ip_network(prefix))


@pytest.fixture
async def session() -> AsyncIterator[tuple[Speaker, asyncio.StreamWriter]]:
    """A speaker with the scripted peer Established, torn down after the test."""
    async with Speaker(SpeakerConfig(speaker=section(65001, "10.0.0.1", SPEAKER))) as speaker:
        await speaker.add_peer(
            PeerConfig(address=IPv4Address(PEER), asn=65002, port=1, passive=True)
        )
        reader, writer = await asyncio.open_connection(
            SPEAKER, port_of(speaker), local_addr=(PEER, 0)
        )
        drain = asyncio.create_task(reader.read())  # the speaker's OPEN, KEEPALIVEs ...
        try:
            capabilities = (MultiprotocolCapability(1, 1),)
            hello = Open.create(65002, 90, IPv4Address("10.0.0.2"), capabilities)
            writer.write(encode_open(hello) + KEEPALIVE_MESSAGE)
            await speaker.wait_state(PEER, State.ESTABLISHED, TIMEOUT)
            yield speaker, writer
        finally:
            writer.close()
            await writer.wait_closed()
            drain.cancel()
            await asyncio.gather(drain, return_exceptions=True)


async def wait_for(condition: object, what: str) -> None:
    """Poll the speaker's state (no sleep in place of a condition: a bounded wait for it)."""
    async with asyncio.timeout(TIMEOUT):
        while not condition():  # type: ignore[operator]
            await asyncio.sleep(0.01)
    assert condition(), what  # type: ignore[operator]


async def test_as_zero_withdraws_the_route_and_names_the_peer(
    session: tuple[Speaker, asyncio.StreamWriter], caplog: pytest.LogCaptureFixture
) -> None:
    speaker, writer = session
    caplog.set_level(logging.INFO, logger="pybgp")
    prefix = key("10.244.5.0/26")
    # 00 00fdea: AS_PATH [65002]; NLRI 1a 0af405 00 = 10.244.5.0/26
    writer.write(announce("0000fdea", PEER, "1a 0af40500"))
    await wait_for(lambda: speaker.rib.best((1, 1), prefix), "10.244.5.0/26 learned")
    # The same prefix again with AS_PATH [65002 0]: malformed (RFC 7607 §2), the UPDATE is
    # treat-as-withdraw, so the route learned above goes.
    writer.write(announce("0000fdea 00000000", PEER, "1a 0af40500"))
    await wait_for(lambda: not speaker.rib.best((1, 1), prefix), "10.244.5.0/26 withdrawn")
    lines = [r for r in caplog.records if "RFC 7607 §2" in r.getMessage()]
    assert lines and lines[0].levelno == logging.WARNING
    assert getattr(lines[0], "peer", None) == PEER  # the log line names the peer
    assert "AS number 0 in AS_PATH" in lines[0].getMessage()
    assert speaker.peer(PEER).state is State.ESTABLISHED  # type: ignore[union-attr]


async def test_our_own_address_as_next_hop_is_ignored(
    session: tuple[Speaker, asyncio.StreamWriter], caplog: pytest.LogCaptureFixture
) -> None:
    speaker, writer = session
    caplog.set_level(logging.DEBUG, logger="pybgp")
    own, good = key("10.244.6.0/26"), key("10.244.7.0/26")
    # NEXT_HOP 127.0.0.81: the speaker's own address on this session (RFC 4271 §6.3).
    writer.write(announce("0000fdea", SPEAKER, "1a 0af40600"))
    writer.write(announce("0000fdea", PEER, "1a 0af40700"))
    # UPDATEs are handled in order: once the second is in, the first was decided.
    await wait_for(lambda: speaker.rib.best((1, 1), good), "10.244.7.0/26 learned")
    assert speaker.rib.best((1, 1), own) == ()
    lines = [r for r in caplog.records if "is our own address" in r.getMessage()]
    assert len(lines) == 1 and lines[0].levelno == logging.DEBUG
    assert lines[0].getMessage() == (
        f"peer {PEER}: 1 prefixes ignored: NEXT_HOP {SPEAKER} is our own address on this "
        "session (RFC 4271 §6.3)"
    )
    status = speaker.peer(PEER)
    assert status is not None and status.state is State.ESTABLISHED  # no NOTIFICATION
    assert (status.received, status.accepted) == (2, 1)


async def test_a_speaker_built_by_hand_with_as_zero_never_opens_a_session() -> None:
    # The config parser refuses AS 0 (tests/unit/test_config_role.py); built by hand, the
    # session refuses to build its OPEN: "MUST NOT initiate a connection claiming to be AS 0"
    # (RFC 7607 §2). The peer is never connected to.
    async with Speaker(SpeakerConfig(speaker=section(0, "10.0.0.1", SPEAKER))) as speaker:
        with pytest.raises(LocalProtocolError, match="RFC 7607 §2"):
            await speaker.add_peer(PeerConfig(address=IPv4Address(PEER), asn=65002, port=1))

"""pybgp speakers talking to each other over loopback (IPv4 127.x addresses and IPv6 ::1).

Every wait is on an event or a condition with a timeout; every test checks that no task or
connection is left behind.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import AsyncIterator
from ipaddress import IPv4Address, IPv6Address, ip_address, ip_network

import pytest
from attrs import evolve as attrs_evolve

from pybgp.config import (
    DynamicPeerConfig,
    KernelConfig,
    PeerConfig,
    SpeakerConfig,
)
from pybgp.fsm import State
from pybgp.speaker import (
    BestPathChanged,
    EventStream,
    PeerStateChanged,
    Speaker,
    UpdateReceived,
    tcp,
)
from pybgp.wire.constants import CeaseSubcode, ErrorCode
from pybgp.wire.nlri import prefix_from_network
from tests.harness.loopback import loopback_section

TIMEOUT = 10.0


section = loopback_section


def peer(address: str, asn: int, port: int = 179, **kw: object) -> PeerConfig:
    families = ("ipv6",) if ip_address(address).version == 6 else ("ipv4",)
    kw.setdefault("families", families)
    return PeerConfig(address=ip_address(address), asn=asn, port=port, **kw)  # type: ignore[arg-type]


def port_of(speaker: Speaker) -> int:
    return speaker.listen_addresses[0][1]


@pytest.fixture(autouse=True)
async def no_leftovers() -> AsyncIterator[None]:
    """Tests must not leave tasks behind."""
    yield
    current = asyncio.current_task()
    left = [t for t in asyncio.all_tasks() if t is not current and not t.done()]
    assert not left, left


async def wait_for_event(
    stream: EventStream, predicate: object, timeout: float = TIMEOUT
) -> object:
    async with asyncio.timeout(timeout):
        async for event in stream:
            if predicate(event):  # type: ignore[operator]
                return event
    raise AssertionError("stream ended")


async def test_two_speakers_ipv4_establish_and_exchange_routes() -> None:
    async with (
        Speaker(SpeakerConfig(speaker=section(65001, "10.0.0.1", "127.0.0.1"))) as a,
        Speaker(SpeakerConfig(speaker=section(65002, "10.0.0.2", "127.0.0.2"))) as b,
    ):
        _snapshot, stream = b.subscribe()
        with stream:
            await b.add_peer(peer("127.0.0.1", 65001, port_of(a), passive=True))
            await a.add_peer(
                peer("127.0.0.2", 65002, port_of(b), local_address=IPv4Address("127.0.0.1"))
            )
            status_a = await a.wait_state("127.0.0.2", State.ESTABLISHED, TIMEOUT)
            await b.wait_state("127.0.0.1", State.ESTABLISHED, TIMEOUT)
            assert status_a.negotiated is not None
            assert status_a.negotiated.peer_router_id == IPv4Address("10.0.0.2")
            a.originate("10.244.1.0/26")
            key = prefix_from_network(ip_network("10.244.1.0/26"))

            def has_route(event: object) -> bool:
                return isinstance(event, BestPathChanged) and any(
                    c.prefix == key and c.new for c in event.changes
                )

            await wait_for_event(stream, has_route)
            best = b.rib.best((1, 1), key)
            assert best and str(best[0].next_hop) == "127.0.0.1"
            a.withdraw("10.244.1.0/26")

            def withdrawn(event: object) -> bool:
                return isinstance(event, BestPathChanged) and any(
                    c.prefix == key and not c.new for c in event.changes
                )

            await wait_for_event(stream, withdrawn)
            assert b.status()["peers"][0]["state"] == "Established"


async def test_three_speakers_full_mesh(caplog: pytest.LogCaptureFixture) -> None:
    """Every speaker connects to every other at once: connection collisions (RFC 4271 §6.8)
    are resolved to one session per pair."""
    caplog.set_level(logging.INFO, logger="pybgp.speaker")
    addresses = ["127.0.0.11", "127.0.0.12", "127.0.0.13"]
    speakers = [
        Speaker(SpeakerConfig(speaker=section(65010 + i, f"10.0.1.{i + 1}", addr)))
        for i, addr in enumerate(addresses)
    ]
    for s in speakers:
        await s.start()
    try:
        for i, s in enumerate(speakers):
            for j, other in enumerate(speakers):
                if i != j:
                    await s.add_peer(
                        peer(
                            addresses[j],
                            65010 + j,
                            port_of(other),
                            local_address=IPv4Address(addresses[i]),
                        )
                    )
        waits = [
            s.wait_state(addresses[j], State.ESTABLISHED, TIMEOUT)
            for i, s in enumerate(speakers)
            for j in range(3)
            if i != j
        ]
        results = await asyncio.gather(*waits)
        assert all(r.state is State.ESTABLISHED for r in results)
        # both sides connect: collisions are resolved to exactly one session per pair
        for s in speakers:
            assert all(p.state is State.ESTABLISHED for p in s.peers())
            assert len(s._connections) == 2  # one connection per peer survived
        assert any("connection collision" in r.getMessage() for r in caplog.records)
    finally:
        for s in speakers:
            await s.stop()


def ipv6_loopback() -> bool:
    if not socket.has_ipv6:
        return False
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as sock:
            sock.bind(("::1", 0))
    except OSError:
        return False
    return True


@pytest.mark.skipif(not ipv6_loopback(), reason="no IPv6 loopback on this host")
async def test_two_speakers_ipv6() -> None:
    async with (
        Speaker(SpeakerConfig(speaker=section(65001, "10.0.0.1", "::1"))) as a,
        Speaker(SpeakerConfig(speaker=section(65002, "10.0.0.2", "::1"))) as b,
    ):
        await b.add_peer(peer("::1", 65001, port_of(a), passive=True))
        await a.add_peer(peer("::1", 65002, port_of(b)))
        status = await a.wait_state("::1", State.ESTABLISHED, TIMEOUT)
        await b.wait_state("::1", State.ESTABLISHED, TIMEOUT)
        assert status.negotiated is not None
        assert status.negotiated.families == frozenset({(2, 1)})
        key = prefix_from_network(ip_network("2001:db8:1::/48"))
        _snapshot, stream = b.subscribe()
        with stream:
            a.originate("2001:db8:1::/48")

            def carries_key(event: object) -> bool:
                if not isinstance(event, UpdateReceived):
                    return False
                mp = event.update.update.attributes.mp_reach
                return mp is not None and key in mp.nlri

            event = await wait_for_event(stream, carries_key)
        # The route crossed the IPv6 session with an IPv6 next hop. Both speakers are ::1 (the
        # only IPv6 loopback address), so that next hop is b's own address on the session, and
        # b ignores the route without a NOTIFICATION (RFC 4271 §6.3).
        assert isinstance(event, UpdateReceived)
        mp = event.update.update.attributes.mp_reach
        assert mp is not None and mp.next_hops == (IPv6Address("::1"),)
        assert b.rib.best((2, 1), key) == ()
        counters = b.rib.peer_counters("::1")
        assert (counters.received, counters.accepted) == (1, 0)
        assert b.peer("::1").state is State.ESTABLISHED  # type: ignore[union-attr]


async def test_stranger_is_closed_without_open() -> None:
    async with Speaker(SpeakerConfig(speaker=section(65001, "10.0.0.1", "127.0.0.1"))) as s:
        await s.add_peer(peer("127.0.0.2", 65002, 1, passive=True))
        reader, writer = await asyncio.open_connection(
            "127.0.0.1", port_of(s), local_addr=("127.0.0.99", 0)
        )
        try:
            async with asyncio.timeout(TIMEOUT):
                data = await reader.read()
            assert data == b""  # closed at once, no OPEN
        finally:
            writer.close()
            await writer.wait_closed()
        assert [p.address for p in s.peers()] == ["127.0.0.2"]


async def test_dynamic_peer_from_range() -> None:
    dynamic = DynamicPeerConfig(range=ip_network("127.0.3.0/24"), asn=65001)
    config_b = SpeakerConfig(
        speaker=section(65001, "10.0.0.2", "127.0.3.1"), dynamic_peers=(dynamic,)
    )
    async with (
        Speaker(SpeakerConfig(speaker=section(65001, "10.0.0.1", "127.0.3.2"))) as a,
        Speaker(config_b) as b,
    ):
        await a.add_peer(
            peer("127.0.3.1", 65001, port_of(b), local_address=IPv4Address("127.0.3.2"))
        )
        await a.wait_state("127.0.3.1", State.ESTABLISHED, TIMEOUT)
        status = await b.wait_state("127.0.3.2", State.ESTABLISHED, TIMEOUT)
        assert status.type == "mesh"


async def test_clean_stop_sends_cease_with_message() -> None:
    async with Speaker(SpeakerConfig(speaker=section(65002, "10.0.0.2", "127.0.0.22"))) as b:
        a = Speaker(SpeakerConfig(speaker=section(65001, "10.0.0.1", "127.0.0.21")))
        await a.start()
        try:
            await b.add_peer(peer("127.0.0.21", 65001, port_of(a), passive=True))
            await a.add_peer(
                peer("127.0.0.22", 65002, port_of(b), local_address=IPv4Address("127.0.0.21"))
            )
            await a.wait_state("127.0.0.22", State.ESTABLISHED, TIMEOUT)
            await b.wait_state("127.0.0.21", State.ESTABLISHED, TIMEOUT)
            _snap, stream = b.subscribe()
            with stream:
                await a.stop("rolling upgrade, back in 5 min")
                event = await wait_for_event(
                    stream, lambda e: isinstance(e, PeerStateChanged) and e.new is State.IDLE
                )
        finally:
            await a.stop()
        assert isinstance(event, PeerStateChanged)
        assert event.notification is not None
        assert (event.notification.code, event.notification.subcode) == (
            ErrorCode.CEASE,
            CeaseSubcode.ADMINISTRATIVE_SHUTDOWN,
        )
        assert event.notification.shutdown_message == "rolling upgrade, back in 5 min"
        status = b.peer("127.0.0.21")
        assert status is not None and "rolling upgrade, back in 5 min" in status.info


def md5_supported() -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            tcp.set_md5(sock, IPv4Address("127.0.0.1"), "probe")
        except OSError:
            return False
    return True


@pytest.mark.skipif(not md5_supported(), reason="the kernel refuses TCP_MD5SIG")
async def test_md5_right_key_establishes() -> None:
    async with (
        Speaker(SpeakerConfig(speaker=section(65001, "10.0.0.1", "127.0.0.31"))) as a,
        Speaker(SpeakerConfig(speaker=section(65002, "10.0.0.2", "127.0.0.32"))) as b,
    ):
        await b.add_peer(peer("127.0.0.31", 65001, port_of(a), passive=True, password="s3cret"))
        await a.add_peer(
            peer(
                "127.0.0.32",
                65002,
                port_of(b),
                local_address=IPv4Address("127.0.0.31"),
                password="s3cret",
            )
        )
        await a.wait_state("127.0.0.32", State.ESTABLISHED, TIMEOUT)
        await b.wait_state("127.0.0.31", State.ESTABLISHED, TIMEOUT)


@pytest.mark.skipif(not md5_supported(), reason="the kernel refuses TCP_MD5SIG")
async def test_md5_wrong_key_does_not_establish_and_says_why() -> None:
    async with (
        Speaker(SpeakerConfig(speaker=section(65001, "10.0.0.1", "127.0.0.41"))) as a,
        Speaker(SpeakerConfig(speaker=section(65002, "10.0.0.2", "127.0.0.42"))) as b,
    ):
        await b.add_peer(peer("127.0.0.41", 65001, port_of(a), passive=True, password="right"))
        _snap, stream = a.subscribe()
        with stream:
            await a.add_peer(
                peer(
                    "127.0.0.42",
                    65002,
                    port_of(b),
                    local_address=IPv4Address("127.0.0.41"),
                    password="wrong",
                )
            )
            event = await wait_for_event(
                stream,
                lambda e: isinstance(e, PeerStateChanged) and e.new is State.ACTIVE,
            )
        assert isinstance(event, PeerStateChanged)
        assert "TCP MD5 configured: check the password" in event.reason
        status_b = b.peer("127.0.0.41")
        assert status_b is not None and status_b.state is not State.ESTABLISHED
        status_a = a.peer("127.0.0.42")
        assert status_a is not None and status_a.state is not State.ESTABLISHED


async def test_remove_peer_and_late_connection() -> None:
    """A connection from an Established peer's address is refused with Cease/7 (RFC 4271
    §6.8); removing a peer sends Cease/3 Peer De-configured, which the other side shows."""
    async with (
        Speaker(SpeakerConfig(speaker=section(65001, "10.0.0.1", "127.0.0.51"))) as a,
        Speaker(SpeakerConfig(speaker=section(65002, "10.0.0.2", "127.0.0.52"))) as b,
    ):
        await b.add_peer(peer("127.0.0.51", 65001, port_of(a), passive=True))
        await a.add_peer(
            peer("127.0.0.52", 65002, port_of(b), local_address=IPv4Address("127.0.0.51"))
        )
        await b.wait_state("127.0.0.51", State.ESTABLISHED, TIMEOUT)
        reader, writer = await asyncio.open_connection(
            "127.0.0.52", port_of(b), local_addr=("127.0.0.51", 0)
        )
        try:
            async with asyncio.timeout(TIMEOUT):
                data = await reader.read()
        finally:
            writer.close()
            await writer.wait_closed()
        assert data[18] == 3 and data[19:21] == bytes((6, 7))  # NOTIFICATION Cease/7
        assert b.peer("127.0.0.51").state is State.ESTABLISHED  # type: ignore[union-attr]
        _snap, stream = a.subscribe()
        with stream:
            await b.remove_peer("127.0.0.51")
            event = await wait_for_event(
                stream, lambda e: isinstance(e, PeerStateChanged) and e.new is State.IDLE
            )
        assert isinstance(event, PeerStateChanged) and event.notification is not None
        assert event.notification.subcode == CeaseSubcode.PEER_DECONFIGURED
        assert b.peer("127.0.0.51") is None


async def test_gtsm_sessions_establish() -> None:
    """RFC 5082: both sides send with TTL 255 and require it (IP_MINTTL); loopback keeps 255."""
    async with (
        Speaker(SpeakerConfig(speaker=section(65001, "10.0.0.1", "127.0.0.61"))) as a,
        Speaker(SpeakerConfig(speaker=section(65002, "10.0.0.2", "127.0.0.62"))) as b,
    ):
        await b.add_peer(peer("127.0.0.61", 65001, port_of(a), passive=True, ttl_security=True))
        await a.add_peer(
            peer(
                "127.0.0.62",
                65002,
                port_of(b),
                local_address=IPv4Address("127.0.0.61"),
                ttl_security=True,
            )
        )
        await a.wait_state("127.0.0.62", State.ESTABLISHED, TIMEOUT)
        await b.wait_state("127.0.0.61", State.ESTABLISHED, TIMEOUT)
        session = a.session("127.0.0.62")
        assert session is not None and session.state is State.ESTABLISHED


@pytest.mark.skipif(
    not (md5_supported() and ipv6_loopback()), reason="no TCP_MD5SIG or no IPv6 loopback"
)
async def test_md5_ipv6_right_key_establishes() -> None:
    """The hand-built struct tcp_md5sig carries a sockaddr_in6 for IPv6 peers."""
    async with (
        Speaker(SpeakerConfig(speaker=section(65001, "10.0.0.1", "::1"))) as a,
        Speaker(SpeakerConfig(speaker=section(65002, "10.0.0.2", "::1"))) as b,
    ):
        await b.add_peer(peer("::1", 65001, port_of(a), passive=True, password="v6secret"))
        await a.add_peer(peer("::1", 65002, port_of(b), password="v6secret"))
        await a.wait_state("::1", State.ESTABLISHED, TIMEOUT)
        await b.wait_state("::1", State.ESTABLISHED, TIMEOUT)


def test_md5sig_layout() -> None:
    """struct tcp_md5sig: 128-octet sockaddr_storage, flags, prefixlen, keylen, ifindex, key."""
    raw = tcp.md5sig(IPv4Address("10.1.2.3"), b"key", 24)
    assert len(raw) == 216
    assert raw[4:8] == bytes((10, 1, 2, 3))
    assert raw[128] == tcp.TCP_MD5SIG_FLAG_PREFIX and raw[129] == 24
    assert int.from_bytes(raw[130:132], "little") == 3
    assert raw[136:139] == b"key"
    raw6 = tcp.md5sig(IPv6Address("2001:db8::1"), b"k")
    assert raw6[8:24] == IPv6Address("2001:db8::1").packed and raw6[128] == 0


async def test_back_pressure_pauses_and_send_hold_timer() -> None:
    """A peer that stops reading: UPDATEs wait in the backlog (the loop is not blocked), the
    RFC 9687 send hold timer runs; once the peer reads again everything arrives."""
    from pybgp.fsm import Timer
    from pybgp.wire.framing import MessageReader

    count = 8000
    async with Speaker(SpeakerConfig(speaker=section(64512, "10.0.0.1", "127.0.0.71"))) as s:
        await s.add_peer(peer("127.0.0.72", 65000, passive=True))
        loop = asyncio.get_running_loop()
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.bind(("127.0.0.72", 0))
        sock.setblocking(False)
        try:
            await loop.sock_connect(sock, s.listen_addresses[0])
            their_open = b"\xff" * 16 + bytes.fromhex(
                "0025 01 04 fde8 005a 7f000048 08 0206 0104 00010001"
            )
            await loop.sock_sendall(sock, their_open + b"\xff" * 16 + b"\x00\x13\x04")
            await s.wait_state("127.0.0.72", State.ESTABLISHED, TIMEOUT)
            session = s.session("127.0.0.72")
            assert session is not None
            record = s._peers["127.0.0.72"]
            conn = record.driver(record.neighbor.main).conn
            assert conn is not None and conn.transport is not None
            conn.transport.get_extra_info("socket").setsockopt(
                socket.SOL_SOCKET, socket.SO_SNDBUF, 4096
            )
            for i in range(count):
                s.originate(f"10.{i // 256}.{i % 256}.0/24", communities=(i,))
            assert conn.paused and conn.backlog
            assert session.fsm.deadline(Timer.SEND_HOLD) is not None
            reader = MessageReader()
            updates = 0
            async with asyncio.timeout(TIMEOUT):
                while updates < count + 1:  # + End-of-RIB
                    data = await loop.sock_recv(sock, 65536)
                    assert data
                    updates += sum(1 for m in reader.feed(data) if m.type == 2)
            assert not conn.paused and not conn.backlog
            assert session.fsm.deadline(Timer.SEND_HOLD) is None
            assert session.state is State.ESTABLISHED
        finally:
            sock.close()


async def test_max_prefixes_closes_with_cease_1() -> None:
    """RFC 4486: above max_prefixes the session is closed with Cease/1."""
    async with (
        Speaker(SpeakerConfig(speaker=section(65001, "10.0.0.1", "127.0.0.81"))) as a,
        Speaker(SpeakerConfig(speaker=section(65002, "10.0.0.2", "127.0.0.82"))) as b,
    ):
        for i in range(3):
            a.originate(f"10.9.{i}.0/24")
        _snap, stream = a.subscribe()
        with stream:
            await b.add_peer(peer("127.0.0.81", 65001, port_of(a), passive=True, max_prefixes=2))
            await a.add_peer(
                peer("127.0.0.82", 65002, port_of(b), local_address=IPv4Address("127.0.0.81"))
            )
            event = await wait_for_event(
                stream,
                lambda e: (
                    isinstance(e, PeerStateChanged)
                    and e.old is State.ESTABLISHED
                    and e.new is State.IDLE
                ),
            )
        assert isinstance(event, PeerStateChanged) and event.notification is not None
        assert (event.notification.code, event.notification.subcode) == (
            ErrorCode.CEASE,
            CeaseSubcode.MAXIMUM_PREFIXES_REACHED,
        )
        status = b.peer("127.0.0.81")
        assert status is not None and "maximum number of prefixes (2)" in status.info


async def eventually(condition: object, timeout: float = TIMEOUT) -> None:
    """Wait until ``condition()`` holds (checked after each loop turn), or fail."""
    async with asyncio.timeout(timeout):
        while not condition():  # type: ignore[operator]
            await asyncio.sleep(0.01)


async def test_learned_route_reaches_the_kernel_installer() -> None:
    """Best-path changes feed the kernel sync: a route learned over BGP is installed via the
    peer, and a clean stop removes it (keep_on_stop = false)."""
    from ipaddress import IPv4Interface

    from pybgp.kernel import MemoryInstaller

    installer = MemoryInstaller([IPv4Interface("127.0.0.92/8")])
    # loopback next hops are never "connected" for the kernel sync: IP-in-IP (onlink via the
    # tunnel device) makes them installable
    config_b = SpeakerConfig(
        speaker=section(65002, "10.0.0.2", "127.0.0.92"),
        kernel=KernelConfig(encapsulation="ipip"),
    )
    async with Speaker(SpeakerConfig(speaker=section(65001, "10.0.0.1", "127.0.0.91"))) as a:
        b = Speaker(config_b, installer=installer)
        await b.start()
        try:
            await b.add_peer(peer("127.0.0.91", 65001, port_of(a), passive=True))
            await a.add_peer(
                peer("127.0.0.92", 65002, port_of(b), local_address=IPv4Address("127.0.0.91"))
            )
            a.originate("10.244.9.0/26")
            key = prefix_from_network(ip_network("10.244.9.0/26"))
            assert b.kernel is not None
            kernel = b.kernel
            await eventually(lambda: kernel.status((1, 1), key) == "installed")
            routes = [r for r in installer.routes.values() if r.prefix == key]
            assert len(routes) == 1 and [str(h) for h in routes[0].next_hops] == ["127.0.0.91"]
            assert b.status()["peers"][0]["state"] == "Established"
        finally:
            await b.stop()
        assert not [r for r in installer.routes.values() if r.prefix == key]


async def test_apply_config_adds_removes_and_refuses_identity_changes() -> None:
    import attrs as _attrs

    base = section(65001, "10.0.0.1", "127.0.0.101")
    old = SpeakerConfig(speaker=base, peers=(peer("127.0.0.102", 65002, 1, passive=True),))
    new = SpeakerConfig(speaker=base, peers=(peer("127.0.0.103", 65003, 1, passive=True),))
    async with Speaker(old) as s:
        assert [p.address for p in s.peers()] == ["127.0.0.102"]
        summary = await s.apply_config(new)
        assert "removed peer 127.0.0.102" in summary and "added peer 127.0.0.103" in summary
        assert [p.address for p in s.peers()] == ["127.0.0.103"]
        assert await s.apply_config(new) == "no changes"
        moved = SpeakerConfig(speaker=_attrs.evolve(base, asn=65009), peers=new.peers)
        assert "restart" in await s.apply_config(moved)
        assert s.config is new


async def test_session_recovers_after_peer_restart() -> None:
    """The peer stops (Cease 6/2) and comes back on the same port: after its error wait the
    speaker reconnects and the session is Established again."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.112", 0))
        port_b = probe.getsockname()[1]
    config_b = SpeakerConfig(
        speaker=attrs_evolve(section(65002, "10.0.0.2", "127.0.0.112"), listen_port=port_b)
    )
    async with Speaker(SpeakerConfig(speaker=section(65001, "10.0.0.1", "127.0.0.111"))) as a:
        b = Speaker(config_b)
        await b.start()
        try:
            await b.add_peer(peer("127.0.0.111", 65001, port_of(a), passive=True))
            await a.add_peer(
                peer("127.0.0.112", 65002, port_b, local_address=IPv4Address("127.0.0.111"))
            )
            await a.wait_state("127.0.0.112", State.ESTABLISHED, TIMEOUT)
            _snap, stream = a.subscribe()
            with stream:
                await b.stop("restarting")
                await wait_for_event(
                    stream, lambda e: isinstance(e, PeerStateChanged) and e.new is State.IDLE
                )
            b = Speaker(config_b)
            await b.start()
            await b.add_peer(peer("127.0.0.111", 65001, port_of(a), passive=True))
            status = await a.wait_state("127.0.0.112", State.ESTABLISHED, TIMEOUT)
            assert status.state is State.ESTABLISHED
        finally:
            await b.stop()

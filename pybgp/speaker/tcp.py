"""TCP for BGP: socket options (MD5 RFC 2385, GTSM RFC 5082, TTL), listening and connecting
sockets, and :class:`BgpConnection`, the ``asyncio.BufferedProtocol`` of one connection.

Linux only for the options (other systems raise :class:`OSError`, which callers report).

TCP MD5 (RFC 2385)
------------------
``setsockopt(IPPROTO_TCP, TCP_MD5SIG=14, struct tcp_md5sig)`` installs a key for one peer
address; ``TCP_MD5SIG_EXT=32`` with ``TCP_MD5SIG_FLAG_PREFIX`` installs one for a whole prefix
(dynamic peer ranges). Python has no binding for the struct, so it is built by hand from
``<linux/tcp.h>``::

    struct tcp_md5sig {
        struct __kernel_sockaddr_storage tcpm_addr;  /* 128 octets */
        __u8  tcpm_flags;      /* TCP_MD5SIG_FLAG_PREFIX = 1 */
        __u8  tcpm_prefixlen;
        __u16 tcpm_keylen;     /* 0 deletes the key */
        int   tcpm_ifindex;
        __u8  tcpm_key[80];    /* TCP_MD5SIG_MAXKEYLEN */
    };                         /* 216 octets */

A listening socket needs the key of every peer that may connect to it (the kernel checks the
SYN); accepted sockets inherit the keys. A connecting socket needs the key before ``connect``.

GTSM (RFC 5082)
---------------
Send with TTL 255 and refuse anything that arrives with a TTL below 255 - (hops - 1):
``IP_MINTTL`` (21) for IPv4, ``IPV6_MINHOPCOUNT`` (73) for IPv6. Without GTSM, an eBGP
multihop TTL may be set instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import socket
import struct
from collections import deque
from collections.abc import Callable
from ipaddress import IPv4Address, IPv6Address, ip_address
from typing import Final, Generic, Protocol, TypeVar

__all__ = [
    "TCP_MD5SIG",
    "TCP_MD5SIG_EXT",
    "TCP_MD5SIG_FLAG_PREFIX",
    "TCP_MD5SIG_MAXKEYLEN",
    "BgpConnection",
    "ConnectionOwner",
    "connect_socket",
    "listen_socket",
    "md5sig",
    "open_connection",
    "set_md5",
    "set_ttl",
    "set_ttl_security",
]

log = logging.getLogger("pybgp.speaker.tcp")

TCP_MD5SIG: Final = 14
TCP_MD5SIG_EXT: Final = 32
TCP_MD5SIG_FLAG_PREFIX: Final = 1
TCP_MD5SIG_MAXKEYLEN: Final = 80
IP_MINTTL: Final = 21
IPV6_MINHOPCOUNT: Final = 73
_SOCKADDR_STORAGE: Final = 128

Address = IPv4Address | IPv6Address


def _sockaddr(address: Address) -> bytes:
    """A ``sockaddr_in``/``sockaddr_in6`` (port 0) padded to ``sockaddr_storage``."""
    if isinstance(address, IPv4Address):
        raw = struct.pack("=H", socket.AF_INET) + struct.pack("!H", 0) + address.packed
    else:
        raw = (
            struct.pack("=H", socket.AF_INET6)
            + struct.pack("!HI", 0, 0)
            + address.packed
            + struct.pack("=I", 0)
        )
    return raw.ljust(_SOCKADDR_STORAGE, b"\x00")


def md5sig(address: Address, key: bytes, prefix_length: int | None = None) -> bytes:
    """The ``struct tcp_md5sig`` for ``address`` (or the prefix ``address/prefix_length``).

    An empty ``key`` deletes the key for that address.
    """
    if len(key) > TCP_MD5SIG_MAXKEYLEN:
        raise ValueError(f"TCP MD5 key of {len(key)} octets, at most 80 (linux/tcp.h)")
    flags = 0 if prefix_length is None else TCP_MD5SIG_FLAG_PREFIX
    return (
        _sockaddr(address)
        + struct.pack("=BBHi", flags, prefix_length or 0, len(key), 0)
        + key.ljust(TCP_MD5SIG_MAXKEYLEN, b"\x00")
    )


def set_md5(
    sock: socket.socket, address: Address, key: str | bytes, prefix_length: int | None = None
) -> None:
    """Install (or, with an empty key, remove) the RFC 2385 key for a peer or a prefix.

    Raises OSError when the kernel refuses (no CONFIG_TCP_MD5SIG, not Linux, ...).
    """
    raw = key.encode() if isinstance(key, str) else key
    option = TCP_MD5SIG if prefix_length is None else TCP_MD5SIG_EXT
    sock.setsockopt(socket.IPPROTO_TCP, option, md5sig(address, raw, prefix_length))


def set_ttl(sock: socket.socket, ttl: int) -> None:
    """Set the TTL (IPv4) or unicast hop limit (IPv6) of outgoing packets."""
    if sock.family == socket.AF_INET6:
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_UNICAST_HOPS, ttl)
        # an IPv6 socket may also carry IPv4-mapped traffic
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, ttl)
    else:
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, ttl)


def set_ttl_security(sock: socket.socket, hops: int = 1) -> None:
    """RFC 5082 GTSM: send with TTL 255, accept only TTL >= 256 - hops."""
    set_ttl(sock, 255)
    minimum = 256 - hops
    if sock.family == socket.AF_INET6:
        sock.setsockopt(socket.IPPROTO_IPV6, IPV6_MINHOPCOUNT, minimum)
    else:
        sock.setsockopt(socket.IPPROTO_IP, IP_MINTTL, minimum)


def listen_socket(host: str, port: int, backlog: int = 128) -> socket.socket:
    """A non-blocking listening TCP socket on ``host:port`` (SO_REUSEADDR, TTL 255; IPv6 only
    for an IPv6 address, so that IPv4 gets its own socket)."""
    family = socket.AF_INET6 if ip_address(host).version == 6 else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        # RFC 5082: the SYN-ACK of a GTSM peer must leave with TTL 255 (the peer's IP_MINTTL
        # drops anything lower); accepted sockets get their per-peer TTL afterwards.
        set_ttl(sock, 255)
        sock.bind((host, port))
        sock.listen(backlog)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


def connect_socket(
    peer: Address,
    local_address: Address | None = None,
    *,
    password: str | None = None,
    ttl: int | None = None,
    ttl_security_hops: int | None = None,
) -> socket.socket:
    """A non-blocking socket ready for ``connect`` to ``peer``: bound to ``local_address``
    (bind before connect), with the MD5 key and TTL options set."""
    family = socket.AF_INET6 if peer.version == 6 else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setblocking(False)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if local_address is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((str(local_address), 0))
        if password:
            set_md5(sock, peer, password)
        if ttl_security_hops is not None:
            set_ttl_security(sock, ttl_security_hops)
        elif ttl is not None:
            set_ttl(sock, ttl)
    except BaseException:
        sock.close()
        raise
    return sock


_T = TypeVar("_T")


class ConnectionOwner(Protocol[_T]):
    """What a :class:`BgpConnection` reports to (the speaker)."""

    def connection_accepted(self, conn: BgpConnection[_T]) -> None:
        """An incoming connection is up (not called for outgoing ones)."""

    def connection_data(self, conn: BgpConnection[_T], data: bytes) -> None:
        """Bytes arrived."""

    def connection_closed(self, conn: BgpConnection[_T], exc: Exception | None) -> None:
        """The connection is gone (after :meth:`BgpConnection.close` too)."""

    def connection_paused(self, conn: BgpConnection[_T]) -> None:
        """The write buffer went above the high-water mark."""

    def connection_resumed(self, conn: BgpConnection[_T]) -> None:
        """The write buffer drained below the low-water mark."""


NOTIFICATION_GRACE = 2.0
"""Seconds a NOTIFICATION queued behind a stalled write buffer gets before the connection is
aborted (RFC 9687 send hold timer expiry)."""


def is_notification(message: bytes) -> bool:
    """True for a whole NOTIFICATION message (type octet 3 after marker and length)."""
    return message[18:19] == b"\x03"


READ_SIZE: Final = 64 * 1024
"""Bytes read from a socket per event-loop turn. asyncio reads up to 256 KiB by default: at a
full table that is ~60,000 prefixes, ~0.1 s of decoding and decision in one turn, during which
keepalives, timers and ``pybgp status`` wait. 64 KiB keeps a turn near 25 ms at the same
throughput (the per-turn overhead is microseconds)."""


class BgpConnection(asyncio.BufferedProtocol, Generic[_T]):
    """One TCP connection. ``context`` is the owner's (the speaker's session driver);
    ``backlog`` holds messages waiting while writing is paused.

    A :class:`asyncio.BufferedProtocol`, so that the shell, not asyncio, chooses how much is
    read per loop turn (:data:`READ_SIZE`)."""

    def __init__(
        self, owner: ConnectionOwner[_T], *, outgoing: bool, high_water: int = 256 * 1024
    ) -> None:
        self.owner = owner
        self.outgoing = outgoing
        self.high_water = high_water
        self.context: _T | None = None
        self.transport: asyncio.Transport | None = None
        self.paused = False
        self.backlog: deque[bytes] = deque()
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.remote = ""
        self._buffer = bytearray(READ_SIZE)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.set_write_buffer_limits(high=self.high_water)
        peername = transport.get_extra_info("peername")
        self.remote = str(peername[0]) if peername else ""
        if not self.outgoing:
            self.owner.connection_accepted(self)

    def get_buffer(self, sizehint: int) -> bytearray:
        return self._buffer

    def buffer_updated(self, nbytes: int) -> None:
        self.owner.connection_data(self, bytes(self._buffer[:nbytes]))

    def eof_received(self) -> bool | None:
        return False  # close our side too

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed.done():
            self.closed.set_result(None)
        self.backlog.clear()
        self.owner.connection_closed(self, exc)

    def pause_writing(self) -> None:
        self.paused = True
        self.owner.connection_paused(self)

    def resume_writing(self) -> None:
        self.paused = False
        self.owner.connection_resumed(self)

    def write(self, data: bytes) -> None:
        """Queue ``data`` on the transport (dropped once closing)."""
        transport = self.transport
        if transport is not None and not transport.is_closing():
            transport.write(data)

    def close_after(self, grace: float = NOTIFICATION_GRACE) -> None:
        """Close once the queued data is written, aborting after ``grace`` seconds if it is
        not: a NOTIFICATION queued behind a stalled buffer (RFC 9687 §4) gets its chance
        should the peer read again, and the connection is gone soon either way."""
        self.context = None
        self.backlog.clear()
        transport = self.transport
        if transport is not None and not transport.is_closing():
            transport.close()
            asyncio.get_running_loop().call_later(grace, transport.abort)

    def close(self, abort: bool = False) -> None:
        """Close after the queued data is written, or at once with ``abort``."""
        self.context = None
        self.backlog.clear()
        transport = self.transport
        if transport is not None:
            if abort:
                transport.abort()
            else:
                transport.close()


_P = TypeVar("_P", bound=asyncio.BaseProtocol)


async def open_connection(
    factory: Callable[[], _P],
    peer: Address,
    port: int,
    *,
    local_address: Address | None = None,
    password: str | None = None,
    ttl: int | None = None,
    ttl_security_hops: int | None = None,
    timeout: float | None = None,
) -> _P:
    """Connect to ``peer:port`` (socket options set, bound first) and return the protocol.

    Raises OSError (socket options refused, connection refused...) or TimeoutError.
    """
    loop = asyncio.get_running_loop()
    sock = connect_socket(
        peer, local_address, password=password, ttl=ttl, ttl_security_hops=ttl_security_hops
    )
    transport: asyncio.BaseTransport | None = None
    try:
        async with asyncio.timeout(timeout):
            await loop.sock_connect(sock, (str(peer), port))
        transport, protocol = await loop.create_connection(factory, sock=sock)
    except BaseException:
        if transport is None:
            sock.close()
        else:
            transport.close()
        raise
    return protocol


class Listener:
    """The listening sockets of a speaker: one per address family.

    ``"::"`` listens on IPv6 and IPv4 (two sockets on the same port, IPv6 with V6ONLY, so that
    IPv4 peers keep plain IPv4 addresses and MD5 keys); ``""`` does not listen.
    """

    def __init__(self) -> None:
        self.sockets: list[socket.socket] = []
        self._servers: list[asyncio.Server] = []

    async def open(self, host: str, port: int, factory: Callable[[], asyncio.BaseProtocol]) -> None:
        """Listen on ``host:port`` (port 0: an ephemeral port, the same for both families)."""
        if not host:
            return
        loop = asyncio.get_running_loop()
        hosts = ["::", "0.0.0.0"] if host == "::" else [host]
        for index, name in enumerate(hosts):
            try:
                sock = listen_socket(name, port)
            except OSError as exc:
                if index == 0 and len(hosts) > 1 and exc.errno != errno.EADDRINUSE:
                    log.warning("cannot listen on [%s]:%d (%s); IPv4 only", name, port, exc)
                    continue
                raise OSError(
                    exc.errno, f"cannot listen on [{name}]:{port}: {exc.strerror or exc}"
                ) from None
            port = sock.getsockname()[1]
            self.sockets.append(sock)
            self._servers.append(await loop.create_server(factory, sock=sock))
            log.info("listening on [%s]:%d", name, port)

    @property
    def addresses(self) -> list[tuple[str, int]]:
        """(host, port) of each listening socket."""
        return [(str(s.getsockname()[0]), int(s.getsockname()[1])) for s in self.sockets]

    def set_md5(self, address: Address, password: str, prefix_length: int | None = None) -> None:
        """Install (empty ``password``: remove) a peer's or a range's key on the sockets of its
        family; a refusal by the kernel is logged (the session then fails to connect)."""
        for sock in self.sockets:
            if (sock.family == socket.AF_INET6) != (address.version == 6):
                continue
            try:
                set_md5(sock, address, password, prefix_length)
            except OSError as exc:
                log.warning("TCP MD5 key for %s refused by the kernel: %s", address, exc)

    async def close(self) -> None:
        """Stop listening and close the sockets."""
        servers, self._servers = self._servers, []
        for server in servers:
            server.close()
        for server in servers:
            await server.wait_closed()
        for sock in self.sockets:
            sock.close()
        self.sockets = []

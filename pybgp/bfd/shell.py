"""The asyncio UDP shell of BFD: single-hop RFC 5881 sockets around :class:`BfdSession`.

Theory of operation
-------------------
* Receiving: one UDP socket per bound address on port 3784 (RFC 5881 §4), read with
  ``recvmsg`` so that the TTL / Hop Limit comes along as ancillary data (``IP_RECVTTL``,
  ``IPV6_RECVHOPLIMIT``). RFC 5881 §5: a packet whose TTL is not 255 is dropped (it did not
  come from a directly connected system). The packet is decoded (RFC 5880 §6.8.6 rules) and
  given to the session its Your Discriminator names, or, when that is zero, the session of
  its source address (RFC 5880 §6.3). The source address must be the session's peer.
* Sending: each session has its own socket, bound to the configured local address (if any)
  and a source port picked in 49152..65535 and kept for the session (RFC 5881 §4), with
  TTL / Hop Limit 255 (RFC 5881 §5).
* Time: one ``loop.call_at`` per session at :meth:`BfdSession.next_deadline`, re-armed after
  every input (the same pattern as the BGP sessions).

State changes go to the ``on_change`` callback given with each session; the shell decides
nothing itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import random
import socket
import sys
from collections.abc import Callable
from ipaddress import IPv4Address, IPv6Address, ip_address
from typing import Final

import attrs

from pybgp.bfd.packet import BfdPacketError, decode_control
from pybgp.bfd.session import BfdAction, BfdSession, BfdTimers, SendPacket, StateChanged

__all__ = ["BFD_CONTROL_PORT", "BfdEndpoint", "BfdShell"]

log = logging.getLogger("pybgp.bfd")

BFD_CONTROL_PORT: Final = 3784
"""RFC 5881 §4: single-hop Control packets go to this UDP port."""
SOURCE_PORTS: Final = range(49152, 65536)
"""RFC 5881 §4: the source port of Control packets."""
TTL: Final = 255
IP_RECVTTL: Final = 12  # Linux <netinet/in.h>; not in Python's socket module
_READS_PER_WAKEUP: Final = 64
_BIND_ATTEMPTS: Final = 64

Address = IPv4Address | IPv6Address
ChangeCallback = Callable[["BfdEndpoint", StateChanged], None]


@attrs.define(eq=False)
class BfdEndpoint:
    """One BFD session with its peer address, send socket and timer."""

    remote: Address
    local: Address | None
    session: BfdSession
    sock: socket.socket
    on_change: ChangeCallback
    timer: asyncio.TimerHandle | None = None
    timer_at: float | None = None
    dropped: int = 0
    """Packets for this session discarded (RFC 5880 §6.8.6, RFC 5881 §5 TTL)."""

    @property
    def source_port(self) -> int:
        return int(self.sock.getsockname()[1])


class BfdShell:
    """BFD sessions on real UDP sockets: ``add`` a peer, read state changes from callbacks."""

    def __init__(
        self, *, port: int = BFD_CONTROL_PORT, rng: random.Random | None = None
    ) -> None:
        self.port = port
        self._rng = rng if rng is not None else random.SystemRandom()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._listeners: dict[str, socket.socket] = {}
        self._by_discriminator: dict[int, BfdEndpoint] = {}
        self._by_remote: dict[Address, BfdEndpoint] = {}
        self.dropped_ttl = 0
        """Packets dropped for a TTL / Hop Limit other than 255 (RFC 5881 §5)."""
        self.dropped_unknown = 0
        """Packets that selected no session (RFC 5880 §6.8.6) or failed to decode."""

    # ---------------------------------------------------------------- sessions

    def add(
        self,
        remote: Address,
        local: Address | None,
        timers: BfdTimers,
        on_change: ChangeCallback,
    ) -> BfdEndpoint:
        """Start a session to ``remote`` (Down, sending at once). Raises OSError when a
        socket cannot be had (port 3784 taken, address not local)."""
        loop = self._loop = asyncio.get_running_loop()
        if remote in self._by_remote:
            raise ValueError(f"a BFD session to {remote} exists already")
        self.listen(remote.version, local)
        sock = self._send_socket(remote.version, local)
        discriminator = self._new_discriminator()
        session = BfdSession(discriminator, timers, random=self._rng.random)
        endpoint = BfdEndpoint(remote, local, session, sock, on_change)
        self._by_discriminator[discriminator] = endpoint
        self._by_remote[remote] = endpoint
        self._run(endpoint, session.start(loop.time()))
        return endpoint

    def get(self, remote: Address) -> BfdEndpoint | None:
        return self._by_remote.get(remote)

    def remove(self, remote: Address) -> None:
        """End the session to ``remote``: one AdminDown packet (RFC 5880 §6.8.16; the peer
        does not take it for a path failure, RFC 5882 §3.2), then the socket is closed."""
        endpoint = self._by_remote.pop(remote, None)
        if endpoint is None:
            return
        self._by_discriminator.pop(endpoint.session.local_discriminator, None)
        if self._loop is not None:
            for action in endpoint.session.admin_down(self._loop.time()):
                if isinstance(action, SendPacket):
                    self._send(endpoint, action.data)
        if endpoint.timer is not None:
            endpoint.timer.cancel()
        endpoint.sock.close()

    def set_timers(self, remote: Address, timers: BfdTimers) -> None:
        endpoint = self._by_remote.get(remote)
        if endpoint is not None and self._loop is not None:
            self._run(endpoint, endpoint.session.set_timers(timers, self._loop.time()))

    def close(self) -> None:
        """AdminDown to every peer, then close every socket and timer."""
        for remote in list(self._by_remote):
            self.remove(remote)
        for key, sock in list(self._listeners.items()):
            if self._loop is not None:
                with contextlib.suppress(Exception):
                    self._loop.remove_reader(sock.fileno())
            sock.close()
            del self._listeners[key]

    # ---------------------------------------------------------------- sockets

    def listen(self, version: int, local: Address | None) -> None:
        """A receiving socket on port 3784 for ``local`` (the wildcard address when None);
        nothing new when one that covers it is open. OSError (naming the port) when taken."""
        self._loop = asyncio.get_running_loop()
        wildcard = "0.0.0.0" if version == 4 else "::"
        if wildcard in self._listeners:
            return
        host = wildcard if local is None else str(local)
        if host in self._listeners:
            return
        family = socket.AF_INET if version == 4 else socket.AF_INET6
        sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            sock.setblocking(False)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_RECVHOPLIMIT, 1)
            else:
                sock.setsockopt(socket.IPPROTO_IP, IP_RECVTTL, 1)
            sock.bind((host, self.port))
        except OSError as error:
            sock.close()
            raise OSError(
                error.errno, f"BFD: cannot listen on UDP [{host}]:{self.port}: {error.strerror}"
            ) from error
        assert self._loop is not None
        self._loop.add_reader(sock.fileno(), self._readable, sock)
        self._listeners[host] = sock

    def _send_socket(self, version: int, local: Address | None) -> socket.socket:
        family = socket.AF_INET if version == 4 else socket.AF_INET6
        host = str(local) if local is not None else ("0.0.0.0" if version == 4 else "::")
        sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            sock.setblocking(False)
            # RFC 5881 §5: sent with TTL / Hop Limit 255.
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_UNICAST_HOPS, TTL)
            else:
                sock.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, TTL)
            for _ in range(_BIND_ATTEMPTS):
                port = self._rng.choice(SOURCE_PORTS)
                try:
                    sock.bind((host, port))
                    return sock
                except OSError as error:
                    if error.errno != errno.EADDRINUSE:
                        raise
            raise OSError(errno.EADDRINUSE, "BFD: no free source port in 49152..65535")
        except BaseException:
            sock.close()
            raise

    def _new_discriminator(self) -> int:
        for _ in range(1000):
            value = self._rng.randrange(1, 2**32)
            if value not in self._by_discriminator:
                return value
        raise RuntimeError("no free BFD discriminator")

    # ---------------------------------------------------------------- receiving

    def _readable(self, sock: socket.socket) -> None:
        space = socket.CMSG_SPACE(4)
        for _ in range(_READS_PER_WAKEUP):
            try:
                data, ancillary, _flags, source = sock.recvmsg(512, space)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as error:
                log.debug("BFD receive error: %s", error)
                return
            ttl = None
            for level, kind, value in ancillary:
                if (level, kind) in (
                    (socket.IPPROTO_IP, socket.IP_TTL),
                    (socket.IPPROTO_IPV6, socket.IPV6_HOPLIMIT),
                ):
                    ttl = int.from_bytes(value[:4], sys.byteorder)  # a C int
            self._received(data, source[0], ttl)

    def _received(self, data: bytes, source: str, ttl: int | None) -> None:
        if ttl != TTL:
            # RFC 5881 §5: single hop, so the packet must arrive with TTL 255 (GTSM).
            self.dropped_ttl += 1
            log.debug("BFD packet from %s dropped: TTL %s is not 255 (RFC 5881 §5)", source, ttl)
            return
        try:
            remote = ip_address(source.split("%", 1)[0])
            packet = decode_control(data)
        except (ValueError, BfdPacketError) as error:
            self.dropped_unknown += 1
            log.debug("BFD packet from %s discarded: %s", source, error)
            return
        # RFC 5880 §6.3 / §6.8.6: by Your Discriminator, else by the source address.
        if packet.your_discriminator:
            endpoint = self._by_discriminator.get(packet.your_discriminator)
        else:
            endpoint = self._by_remote.get(remote)
        if endpoint is None or endpoint.remote != remote:
            self.dropped_unknown += 1
            log.debug("BFD packet from %s discarded: no session (RFC 5880 §6.8.6)", remote)
            return
        assert self._loop is not None
        try:
            actions = endpoint.session.receive(packet, self._loop.time())
        except BfdPacketError as error:
            endpoint.dropped += 1
            log.debug("BFD packet from %s discarded: %s", remote, error)
            return
        self._run(endpoint, actions)

    # ---------------------------------------------------------------- actions and time

    def _run(self, endpoint: BfdEndpoint, actions: list[BfdAction]) -> None:
        if self._by_remote.get(endpoint.remote) is not endpoint:
            return  # removed meanwhile
        for action in actions:
            if isinstance(action, SendPacket):
                self._send(endpoint, action.data)
            else:
                log.info("BFD %s: %s", endpoint.remote, action.reason)
                endpoint.on_change(endpoint, action)
        self._arm(endpoint)

    def _send(self, endpoint: BfdEndpoint, data: bytes) -> None:
        try:
            endpoint.sock.sendto(data, (str(endpoint.remote), self.port))
        except OSError as error:  # no route (link down), buffer full: the next one may pass
            log.debug("BFD send to %s failed: %s", endpoint.remote, error)

    def _arm(self, endpoint: BfdEndpoint) -> None:
        deadline = endpoint.session.next_deadline()
        if deadline == endpoint.timer_at:
            return
        if endpoint.timer is not None:
            endpoint.timer.cancel()
        endpoint.timer_at = deadline
        assert self._loop is not None
        endpoint.timer = (
            None if deadline is None else self._loop.call_at(deadline, self._on_timer, endpoint)
        )

    def _on_timer(self, endpoint: BfdEndpoint) -> None:
        when = endpoint.timer_at
        endpoint.timer = None
        endpoint.timer_at = None
        assert self._loop is not None
        now = self._loop.time()
        if when is not None:
            now = max(now, when)
        self._run(endpoint, endpoint.session.handle_timers(now))


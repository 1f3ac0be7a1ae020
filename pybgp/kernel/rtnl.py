"""The fast path: rtnetlink route messages encoded by hand, sent in batches on a raw socket.

Theory of operation
-------------------
pyroute2 builds one Python object tree per message, which caps it at a few thousand routes a
second. Here a route becomes one ``struct nlmsghdr`` + ``struct rtmsg`` + a handful of
``rtattr``s (RTA_TABLE, RTA_DST, RTA_PRIORITY, RTA_PREFSRC, RTA_GATEWAY/RTA_OIF or
RTA_MULTIPATH made of ``struct rtnexthop``), joined with ``struct`` and concatenated into one
buffer of ``batch_size`` messages handed to a single ``send()``. Every message carries its
own sequence number. The kernel runs the whole buffer synchronously inside ``send()``
(``netlink_rcv_skb`` walks it message by message, in order) and queues an NLMSG_ERROR for
every message that failed, and for every message with NLM_F_ACK; only the last message of a
batch carries NLM_F_ACK (a success needs no answer of its own: 100,000 acks cost 100,000
kernel allocations and ``recv()`` calls). So when ``send()`` returns every answer is already
waiting and is read back in a tight ``recv_into`` loop until the last message's answer, which
comes after all the others; an answer names its request by sequence number, so each errno
lands on its own route, and a message without an answer before that barrier succeeded. The
receive buffer is made big (SO_RCVBUFFORCE) because an answer that does not fit is dropped by
the kernel (the socket then reports ENOBUFS and every operation of the batch not known to
have failed is reported unknown, "acknowledgement lost"); NETLINK_CAP_ACK keeps each answer
small (the request is not echoed back) and NETLINK_EXT_ACK asks for the kernel's words on
failures.

Kernel facts this module relies on (include/uapi/linux/rtnetlink.h, net/ipv4/fib_trie.c,
net/ipv6/route.c):
* a route's identity is (family, table, dst/len, tos, priority); ``NLM_F_CREATE|NLM_F_EXCL``
  fails with EEXIST when *any* route (of any protocol) holds that identity, which is how pybgp
  avoids overwriting foreign routes; ``NLM_F_REPLACE`` overwrites whatever is there.
* RTM_DELROUTE with ``rtm_protocol`` set only matches routes of that protocol, with
  ``rtm_scope = RT_SCOPE_NOWHERE`` any scope, and without gateway attributes any next hops.
* single-next-hop flags (RTNH_F_ONLINK) travel in ``rtm_flags``; in RTA_MULTIPATH each
  ``rtnexthop`` has its own flags and ifindex.
* with NETLINK_GET_STRICT_CHK a route dump is filtered in the kernel by table and protocol.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import ipaddress
import os
import socket
import struct
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Final, NamedTuple

from pybgp.kernel.base import AFI_IPV6, IPAddress, KernelError, KernelRoute, RouteOp

NETLINK_ROUTE: Final = 0
SOL_NETLINK: Final = 270
NETLINK_CAP_ACK: Final = 10
NETLINK_EXT_ACK: Final = 11
NETLINK_GET_STRICT_CHK: Final = 12
SO_SNDBUFFORCE: Final = 32
SO_RCVBUFFORCE: Final = 33

NLMSG_ERROR: Final = 2
NLMSG_DONE: Final = 3
NLMSG_OVERRUN: Final = 4
RTM_NEWLINK: Final = 16
RTM_DELLINK: Final = 17
RTM_GETLINK: Final = 18
RTM_NEWADDR: Final = 20
RTM_DELADDR: Final = 21
RTM_GETADDR: Final = 22
RTM_NEWROUTE: Final = 24
RTM_DELROUTE: Final = 25
RTM_GETROUTE: Final = 26

NLM_F_REQUEST: Final = 0x1
NLM_F_MULTI: Final = 0x2
NLM_F_ACK: Final = 0x4
NLM_F_DUMP: Final = 0x300
NLM_F_REPLACE: Final = 0x100
NLM_F_EXCL: Final = 0x200
NLM_F_CREATE: Final = 0x400
NLM_F_CAPPED: Final = 0x100
NLM_F_ACK_TLVS: Final = 0x200
NLMSGERR_ATTR_MSG: Final = 1

RTA_DST: Final = 1
RTA_OIF: Final = 4
RTA_GATEWAY: Final = 5
RTA_PRIORITY: Final = 6
RTA_PREFSRC: Final = 7
RTA_MULTIPATH: Final = 9
RTA_TABLE: Final = 15

RTN_UNICAST: Final = 1
RTN_BLACKHOLE: Final = 6
RT_SCOPE_UNIVERSE: Final = 0
RT_SCOPE_NOWHERE: Final = 255
RT_TABLE_UNSPEC: Final = 0
RTNH_F_ONLINK: Final = 4
RTM_F_CLONED: Final = 0x200

IFLA_IFNAME: Final = 3
IFA_ADDRESS: Final = 1
IFA_LOCAL: Final = 2
IFA_FLAGS: Final = 8

RTMGRP_LINK: Final = 0x1
RTMGRP_IPV4_IFADDR: Final = 0x10
RTMGRP_IPV4_ROUTE: Final = 0x40
RTMGRP_IPV6_IFADDR: Final = 0x100
RTMGRP_IPV6_ROUTE: Final = 0x400
MONITOR_GROUPS: Final = (
    RTMGRP_LINK | RTMGRP_IPV4_IFADDR | RTMGRP_IPV4_ROUTE | RTMGRP_IPV6_IFADDR | RTMGRP_IPV6_ROUTE
)

_HEADER = struct.Struct("=IHHII")  # nlmsghdr: len, type, flags, seq, pid
_RTMSG = struct.Struct("=BBBBBBBBI")  # family dst_len src_len tos table protocol scope type flags
_RTA_U32 = struct.Struct("=HHI")
_RTA_HEAD = struct.Struct("=HH")
_RTNH = struct.Struct("=HBBi")  # rtnexthop: len, flags, hops, ifindex
_IFINFOMSG = struct.Struct("=BxHiII")  # family, type, index, flags, change
_IFADDRMSG = struct.Struct("=BBBBI")  # family, prefixlen, flags, scope, index
_ERRNO = struct.Struct("=i")
_U32 = struct.Struct("=I")

OK: Final = (0, "")
"""The answer of a route operation the kernel accepted (one shared object: callers may test
``results.count(OK) == len(results)`` to learn cheaply that nothing failed)."""

DEFAULT_BATCH = 2000
"""Messages per send(): large enough to amortise the syscall, small enough for the acks."""

IndexOf = Callable[[str], int | None]
"""Device name -> ifindex (``None`` when no such device)."""


def _family(afi: int) -> tuple[int, int]:
    return (socket.AF_INET6, 16) if afi == AFI_IPV6 else (socket.AF_INET, 4)


def _attr(kind: int, payload: bytes) -> bytes:
    length = 4 + len(payload)
    return _RTA_HEAD.pack(length, kind) + payload + b"\x00" * (-length % 4)


def _fast_structs(size: int) -> tuple[struct.Struct, struct.Struct, struct.Struct]:
    """Whole-message layouts of the common shapes: delete; one gateway; gateway + device."""
    base = f"=IHHIIBBBBBBBBIHHIHH{size}sHHI"
    return (
        struct.Struct(base),
        struct.Struct(base + f"HH{size}s"),
        struct.Struct(base + f"HH{size}sHHI"),
    )


_FAST = {1: _fast_structs(4), AFI_IPV6: _fast_structs(16)}


class EncodedBatch(NamedTuple):
    """Route messages ready for one ``send()``: they carry ``ops[start:stop]``, numbered from
    sequence number ``base``; ``barrier`` is the one that asks for an ACK."""

    payload: bytes
    start: int
    stop: int
    base: int
    barrier: int


class UnknownDevice(Exception):
    """A route names a device that does not exist (reported as ENODEV for that route)."""


def encode_route(
    seq: int,
    action: str,
    route: KernelRoute,
    index_of: IndexOf,
    packed: dict[int, bytes] | None = None,
    *,
    ack: bool = True,
) -> bytes:
    """One RTM_NEWROUTE ("add" / "replace") or RTM_DELROUTE ("remove") message, with NLM_F_ACK
    unless ``ack`` is false (the kernel then answers only if the operation fails).

    ``packed`` caches packed next hops by ``id()`` of the address object: next hops repeat
    across routes and ``.packed`` is slow. The caller must keep every route of the batch
    alive while the cache lives (so no id is reused), as :meth:`RtnlSocket.execute` does.

    ``route.prefix`` is used as is: its address octets are padded to 4 or 16 octets.
    Raises :class:`UnknownDevice` when ``route.device`` has no index.
    """
    family, size = _family(route.afi)
    prefix = route.prefix
    table = route.table
    rtm_table = table if table < 256 else RT_TABLE_UNSPEC
    request = NLM_F_REQUEST | NLM_F_ACK if ack else NLM_F_REQUEST
    if action == "remove":
        layout = _FAST[route.afi][0]
        return layout.pack(
            layout.size, RTM_DELROUTE, request, seq, 0,
            family, prefix[0], 0, 0, rtm_table, route.protocol, RT_SCOPE_NOWHERE, 0, 0,
            8, RTA_TABLE, table, 4 + size, RTA_DST, prefix[1:], 8, RTA_PRIORITY, route.metric,
        )  # fmt: skip
    if route.kind == "unicast" and len(route.next_hops) == 1 and route.source is None:
        create = NLM_F_REPLACE if action == "replace" else NLM_F_EXCL
        flags = request | NLM_F_CREATE | create
        onlink = RTNH_F_ONLINK if route.onlink else 0
        hop = route.next_hops[0]
        cached = None if packed is None else packed.get(id(hop))
        if cached is None:
            cached = hop.packed
            if packed is not None:
                packed[id(hop)] = cached
        gateway = cached
        if route.device is None:
            layout = _FAST[route.afi][1]
            return layout.pack(
                layout.size, RTM_NEWROUTE, flags, seq, 0,
                family, prefix[0], 0, 0, rtm_table, route.protocol, RT_SCOPE_UNIVERSE,
                RTN_UNICAST, onlink, 8, RTA_TABLE, table, 4 + size, RTA_DST, prefix[1:],
                8, RTA_PRIORITY, route.metric, 4 + size, RTA_GATEWAY, gateway,
            )  # fmt: skip
        oif = index_of(route.device)
        if oif is None:
            raise UnknownDevice(route.device)
        layout = _FAST[route.afi][2]
        return layout.pack(
            layout.size, RTM_NEWROUTE, flags, seq, 0,
            family, prefix[0], 0, 0, rtm_table, route.protocol, RT_SCOPE_UNIVERSE,
            RTN_UNICAST, onlink, 8, RTA_TABLE, table, 4 + size, RTA_DST, prefix[1:],
            8, RTA_PRIORITY, route.metric, 4 + size, RTA_GATEWAY, gateway, 8, RTA_OIF, oif,
        )  # fmt: skip
    body = [
        b"",
        _RTA_U32.pack(8, RTA_TABLE, table),
        _attr(RTA_DST, prefix[1:].ljust(size, b"\x00")),
        _RTA_U32.pack(8, RTA_PRIORITY, route.metric),
    ]
    if action == "remove":
        kind = 0
        flags = request
        scope = RT_SCOPE_NOWHERE
        msg_type = RTM_DELROUTE
        rtm_flags = 0
    else:
        msg_type = RTM_NEWROUTE
        scope = RT_SCOPE_UNIVERSE
        flags = request | NLM_F_CREATE
        flags |= NLM_F_REPLACE if action == "replace" else NLM_F_EXCL
        rtm_flags = 0
        oif = 0
        if route.device is not None:
            found = index_of(route.device)
            if found is None:
                raise UnknownDevice(route.device)
            oif = found
        if route.source is not None:
            body.append(_attr(RTA_PREFSRC, route.source.packed))
        if route.kind == "blackhole":
            kind = RTN_BLACKHOLE
        else:
            kind = RTN_UNICAST
            hops = route.next_hops
            if len(hops) == 1:
                body.append(_attr(RTA_GATEWAY, hops[0].packed))
                if oif:
                    body.append(_RTA_U32.pack(8, RTA_OIF, oif))
                if route.onlink:
                    rtm_flags = RTNH_F_ONLINK
            elif hops:
                hop_flags = RTNH_F_ONLINK if route.onlink else 0
                parts = []
                for hop in hops:
                    gateway = _attr(RTA_GATEWAY, hop.packed)
                    parts.append(_RTNH.pack(8 + len(gateway), hop_flags, 0, oif) + gateway)
                body.append(_attr(RTA_MULTIPATH, b"".join(parts)))
            elif oif:
                body.append(_RTA_U32.pack(8, RTA_OIF, oif))
    body[0] = _RTMSG.pack(
        family,
        prefix[0],
        0,
        0,
        rtm_table,
        route.protocol,
        scope,
        kind,
        rtm_flags,
    )
    payload = b"".join(body)
    return _HEADER.pack(16 + len(payload), msg_type, flags, seq, 0) + payload


def _parse_attrs(data: bytes | memoryview, offset: int, end: int) -> dict[int, bytes]:
    attrs: dict[int, bytes] = {}
    while offset + 4 <= end:
        length, kind = _RTA_HEAD.unpack_from(data, offset)
        if length < 4:
            break
        attrs[kind & 0x3FFF] = bytes(data[offset + 4 : offset + length])
        offset += (length + 3) & ~3
    return attrs


_ADDRESSES: dict[bytes, IPAddress] = {}


def _address(raw: bytes) -> IPAddress:
    """The address object for packed ``raw``, cached (next hops repeat across routes)."""
    found = _ADDRESSES.get(raw)
    if found is None:
        if len(_ADDRESSES) >= 65536:
            _ADDRESSES.clear()
        found = ipaddress.IPv6Address(raw) if len(raw) == 16 else ipaddress.IPv4Address(raw)
        _ADDRESSES[raw] = found
    return found


def peek_key(data: bytes | memoryview, offset: int, length: int) -> tuple[int, bytes]:
    """``(afi, prefix key)`` of a route message, cheaply (to drop uninteresting ones)."""
    family, dst_len = data[offset + 16], data[offset + 17]
    end = offset + length
    position = offset + 28
    while position + 4 <= end:
        size, kind = _RTA_HEAD.unpack_from(data, position)
        if size < 4:
            break
        if kind == RTA_DST:
            start = position + 4
            dst = bytes(data[start : start + (dst_len + 7) // 8])
            return (AFI_IPV6 if family == socket.AF_INET6 else 1), bytes((dst_len,)) + dst
        position += (size + 3) & ~3
    return (AFI_IPV6 if family == socket.AF_INET6 else 1), bytes((dst_len,))


def parse_route(
    data: bytes | memoryview, offset: int, length: int, names: Mapping[int, str]
) -> KernelRoute | None:
    """The :class:`KernelRoute` in the RTM_NEWROUTE/DELROUTE message at ``offset``, or
    ``None`` for what pybgp never writes (cached clones, other route types, other families)."""
    end = offset + length
    family, dst_len, _src, _tos, table, protocol, _scope, kind, flags = _RTMSG.unpack_from(
        data, offset + 16
    )
    if family == socket.AF_INET:
        afi = 1
    elif family == socket.AF_INET6:
        afi = AFI_IPV6
    else:
        return None
    if flags & RTM_F_CLONED or kind not in (RTN_UNICAST, RTN_BLACKHOLE):
        return None
    attrs = _parse_attrs(data, offset + 28, end)
    if RTA_TABLE in attrs:
        table = _U32.unpack(attrs[RTA_TABLE][:4])[0]
    dst = attrs.get(RTA_DST, b"")
    prefix = bytes((dst_len,)) + dst[: (dst_len + 7) // 8]
    metric = _U32.unpack(attrs[RTA_PRIORITY][:4])[0] if RTA_PRIORITY in attrs else 0
    source = _address(attrs[RTA_PREFSRC]) if RTA_PREFSRC in attrs else None
    oif = _U32.unpack(attrs[RTA_OIF][:4])[0] if RTA_OIF in attrs else 0
    onlink = bool(flags & RTNH_F_ONLINK)
    hops: tuple[IPAddress, ...] = ()
    if kind == RTN_BLACKHOLE:
        return KernelRoute(
            afi, prefix, (), "blackhole", None, False, table, metric, protocol, source
        )
    if RTA_GATEWAY in attrs:
        hops = (_address(attrs[RTA_GATEWAY]),)
    elif RTA_MULTIPATH in attrs:
        raw = attrs[RTA_MULTIPATH]
        found: list[IPAddress] = []
        position = 0
        onlink = True
        while position + 8 <= len(raw):
            hop_len, hop_flags, _hops, hop_index = _RTNH.unpack_from(raw, position)
            if hop_len < 8:
                break
            hop_attrs = _parse_attrs(raw, position + 8, position + hop_len)
            if RTA_GATEWAY in hop_attrs:
                found.append(_address(hop_attrs[RTA_GATEWAY]))
            onlink = onlink and bool(hop_flags & RTNH_F_ONLINK)
            oif = oif or hop_index
            position += (hop_len + 3) & ~3
        hops = tuple(found)
    device = names.get(oif) if oif else None
    return KernelRoute(
        afi, prefix, hops, "unicast", device, onlink, table, metric, protocol, source
    )


class InterfaceAddress(NamedTuple):
    """One address of one interface, as RTM_NEWADDR describes it."""

    ifindex: int
    address: IPAddress
    """The interface's own address (IFA_LOCAL, else IFA_ADDRESS)."""
    prefixlen: int
    scope: int
    flags: int
    """IFA_F_* (IFA_FLAGS when present: it holds the flags that do not fit the 8-bit field)."""
    prefix_address: IPAddress
    """The address ``prefixlen`` applies to (IFA_ADDRESS: the peer's on a point-to-point
    link, where it differs from IFA_LOCAL), i.e. what names the connected subnet."""


def parse_address(data: bytes | memoryview, offset: int, length: int) -> InterfaceAddress | None:
    """The address in the RTM_NEWADDR/DELADDR message at ``offset`` (None: not IPv4/IPv6)."""
    family, prefixlen, flags, scope, index = _IFADDRMSG.unpack_from(data, offset + 16)
    if family not in (socket.AF_INET, socket.AF_INET6):
        return None
    attrs = _parse_attrs(data, offset + 16 + _IFADDRMSG.size, offset + length)
    local = attrs.get(IFA_LOCAL) or attrs.get(IFA_ADDRESS)
    if local is None:
        return None
    if IFA_FLAGS in attrs:
        flags = _U32.unpack(attrs[IFA_FLAGS][:4])[0]
    address = _address(local)
    remote = attrs.get(IFA_ADDRESS)
    prefix_address = address if remote is None or remote == local else _address(remote)
    return InterfaceAddress(index, address, prefixlen, scope, flags, prefix_address)


def parse_link(data: bytes | memoryview, offset: int, length: int) -> tuple[int, str] | None:
    """``(ifindex, name)`` of the RTM_NEWLINK/DELLINK message at ``offset``."""
    _family, _type, index, _flags, _change = _IFINFOMSG.unpack_from(data, offset + 16)
    name = _parse_attrs(data, offset + 16 + _IFINFOMSG.size, offset + length).get(IFLA_IFNAME)
    if name is None:
        return None
    return index, name.rstrip(b"\x00").decode("utf-8", "replace")


def dump_request(kind: int, seq: int, family: int = socket.AF_UNSPEC) -> bytes:
    """An RTM_GETLINK or RTM_GETADDR dump request (every link, every address)."""
    body = (
        _IFINFOMSG.pack(family, 0, 0, 0, 0)
        if kind == RTM_GETLINK
        else _IFADDRMSG.pack(family, 0, 0, 0, 0)
    )
    return _HEADER.pack(16 + len(body), kind, NLM_F_REQUEST | NLM_F_DUMP, seq, 0) + body


CLONE_NEWNET: Final = 0x40000000


def _setns(fd: int) -> None:
    """setns(2) for the calling thread (``os.setns`` only exists from Python 3.12)."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.setns(fd, CLONE_NEWNET) != 0:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code))


def _netns_path(netns: str) -> str:
    return netns if netns.startswith("/") else f"/run/netns/{netns}"


def open_socket(netns: str | None = None, groups: int = 0) -> socket.socket:
    """A NETLINK_ROUTE socket, opened inside network namespace ``netns`` when given.

    The namespace switch happens in a short-lived thread (setns is per thread), so the
    calling process stays where it is; a socket keeps the namespace it was created in.
    """
    if netns is None:
        return socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_ROUTE)
    box: list[socket.socket | BaseException] = []

    def create() -> None:
        try:
            original = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
            target = os.open(_netns_path(netns), os.O_RDONLY)
            try:
                _setns(target)
                try:
                    box.append(socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_ROUTE))
                finally:
                    _setns(original)
            finally:
                os.close(target)
                os.close(original)
        except BaseException as exc:  # handed to the caller below
            box.append(exc)

    thread = threading.Thread(target=create, name="pybgp-setns")
    thread.start()
    thread.join()
    result = box[0]
    if isinstance(result, BaseException):
        raise KernelError(f"cannot open a netlink socket in netns {netns}: {result}") from result
    return result


def _set_buffer(sock: socket.socket, force: int, plain: int, size: int) -> None:
    try:
        sock.setsockopt(socket.SOL_SOCKET, force, size)
    except OSError:
        sock.setsockopt(socket.SOL_SOCKET, plain, size)


class RtnlSocket:
    """A blocking rtnetlink socket for batched route changes and filtered route dumps."""

    def __init__(
        self,
        netns: str | None = None,
        *,
        batch_size: int = DEFAULT_BATCH,
        buffer_size: int = 64 << 20,
    ) -> None:
        try:
            self._sock = open_socket(netns)
            _set_buffer(self._sock, SO_SNDBUFFORCE, socket.SO_SNDBUF, 8 << 20)
            _set_buffer(self._sock, SO_RCVBUFFORCE, socket.SO_RCVBUF, buffer_size)
            for option in (NETLINK_CAP_ACK, NETLINK_EXT_ACK, NETLINK_GET_STRICT_CHK):
                with contextlib.suppress(OSError):
                    self._sock.setsockopt(SOL_NETLINK, option, 1)
            self._sock.bind((0, 0))
            self._sock.settimeout(30.0)
        except OSError as exc:
            raise KernelError(f"cannot open the rtnetlink socket: {exc}") from exc
        received = self._sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
        # An ack costs about 1 KiB of receive buffer (skb overhead included): never send
        # more messages at once than there is room for their acks.
        self.batch_size = max(16, min(batch_size, received // 1024))
        self._seq = 1
        self._buffer = bytearray(1 << 20)

    def close(self) -> None:
        """Close the socket."""
        self._sock.close()

    @property
    def portid(self) -> int:
        """The netlink port id the kernel gave this socket (notifications caused by its
        requests carry it in ``nlmsg_pid``)."""
        return int(self._sock.getsockname()[0])

    def execute(self, ops: Sequence[RouteOp], index_of: IndexOf) -> list[tuple[int, str]]:
        """Carry out ``ops`` in order; ``(errno, kernel message)`` per op (0 = done)."""
        results: list[tuple[int, str]] = [OK] * len(ops)
        size = self.batch_size
        packed: dict[int, bytes] = {}
        for start in range(0, len(ops), size):
            batch = self.encode(ops, start, min(start + size, len(ops)), index_of, results, packed)
            if batch is not None:
                self.transmit(batch, results)
        return results

    def encode(
        self,
        ops: Sequence[RouteOp],
        start: int,
        stop: int,
        index_of: IndexOf,
        results: list[tuple[int, str]],
        packed: dict[int, bytes],
    ) -> EncodedBatch | None:
        """``ops[start:stop]`` as one buffer for :meth:`transmit` (None: nothing to send).

        Each message gets its own sequence number; only the last asks for an ACK. An operation
        naming a device that does not exist gets its ENODEV answer in ``results`` now."""
        count = stop - start
        if self._seq + count >= 0x7FFFFFFF:
            self._seq = 1
        base = self._seq
        self._seq += count
        messages = []
        last = -1
        for position in range(start, stop):
            op = ops[position]
            try:
                messages.append(
                    encode_route(
                        base + position - start, op.action, op.route, index_of, packed, ack=False
                    )
                )
                last = position
            except UnknownDevice as exc:
                results[position] = (errno.ENODEV, f"device {exc.args[0]} not found")
        if not messages:
            return None
        # the last message asks for an ack: its answer closes the batch
        op = ops[last]
        messages[-1] = encode_route(base + last - start, op.action, op.route, index_of, packed)
        return EncodedBatch(b"".join(messages), start, stop, base, base + last - start)

    def transmit(self, batch: EncodedBatch, results: list[tuple[int, str]]) -> None:
        """Send ``batch`` and read the kernel's answers into ``results`` (its positions only).

        The kernel carries the whole buffer out inside ``send()``, which releases the GIL: a
        caller may encode the next batch in another thread meanwhile (one transmit at a time
        per socket)."""
        payload, start, stop, base, barrier = batch
        count = stop - start
        try:
            self._sock.send(payload)
        except OSError as exc:
            code = exc.errno or errno.EIO
            for position in range(start, stop):
                if results[position][0] == 0:
                    results[position] = (code, f"send failed: {exc.strerror}")
            return
        view = memoryview(self._buffer)
        try:
            done = False
            while not done:
                size = self._sock.recv_into(self._buffer)
                offset = 0
                while offset + 16 <= size:
                    length, kind, _flags, seq, _pid = _HEADER.unpack_from(view, offset)
                    if length < 16:
                        break
                    if kind == NLMSG_ERROR and base <= seq < base + count:
                        code = -_ERRNO.unpack_from(view, offset + 16)[0]
                        if code:
                            results[start + seq - base] = (code, _ext_ack(view, offset, length))
                        if seq == barrier:
                            done = True
                    offset += (length + 3) & ~3
        except OSError as exc:  # ENOBUFS (answers dropped) or a timeout: name what is unknown
            code = exc.errno or errno.ETIMEDOUT
            for position in range(start, stop):
                if results[position][0] == 0:
                    results[position] = (code, "acknowledgement lost")

    def dump(
        self, afi: int, protocol: int, table: int, names: Mapping[int, str]
    ) -> list[KernelRoute]:
        """Every route of ``protocol`` (0 = any) in ``table`` for ``afi``."""
        family, _size = _family(afi)
        self._seq = 1 if self._seq >= 0x7FFFFFFE else self._seq + 1
        seq = self._seq
        payload = _RTMSG.pack(
            family, 0, 0, 0, table if table < 256 else RT_TABLE_UNSPEC, protocol, 0, 0, 0
        ) + _RTA_U32.pack(8, RTA_TABLE, table)
        self._sock.send(
            _HEADER.pack(16 + len(payload), RTM_GETROUTE, NLM_F_REQUEST | NLM_F_DUMP, seq, 0)
            + payload
        )
        routes: list[KernelRoute] = []
        for data, offset, length, kind in self._replies(seq):
            if kind != RTM_NEWROUTE:
                continue
            route = parse_route(data, offset, length, names)
            if (
                route is not None
                and route.table == table
                and (protocol == 0 or route.protocol == protocol)
            ):
                routes.append(route)
        return routes

    def links(self) -> dict[str, int]:
        """Every interface: name -> ifindex."""
        found: dict[str, int] = {}
        for data, offset, length, kind in self._replies(self._request(RTM_GETLINK)):
            link = parse_link(data, offset, length) if kind == RTM_NEWLINK else None
            if link is not None:
                found[link[1]] = link[0]
        return found

    def addresses(self) -> list[InterfaceAddress]:
        """Every address of every interface."""
        found: list[InterfaceAddress] = []
        for data, offset, length, kind in self._replies(self._request(RTM_GETADDR)):
            entry = parse_address(data, offset, length) if kind == RTM_NEWADDR else None
            if entry is not None:
                found.append(entry)
        return found

    def _request(self, kind: int) -> int:
        self._seq = 1 if self._seq >= 0x7FFFFFFE else self._seq + 1
        self._sock.send(dump_request(kind, self._seq))
        return self._seq

    def _replies(self, seq: int) -> Iterator[tuple[bytes, int, int, int]]:
        while True:
            data = self._sock.recv(1 << 20)
            offset = 0
            while offset + 16 <= len(data):
                length, kind, _flags, got, _pid = _HEADER.unpack_from(data, offset)
                if length < 16:
                    break
                if got == seq:
                    if kind == NLMSG_DONE:
                        return
                    if kind == NLMSG_ERROR:
                        code = -_ERRNO.unpack_from(data, offset + 16)[0]
                        if code:
                            raise OSError(code, os.strerror(code))
                        return
                    yield data, offset, length, kind
                offset += (length + 3) & ~3


def _ext_ack(view: memoryview, offset: int, length: int) -> str:
    """The kernel's NLMSGERR_ATTR_MSG text of an NLMSG_ERROR, if it sent one."""
    flags = _HEADER.unpack_from(view, offset)[2]
    if not flags & NLM_F_ACK_TLVS:
        return ""
    inner = offset + 20
    inner_length = _HEADER.unpack_from(view, inner)[0]
    tlv = inner + (16 if flags & NLM_F_CAPPED else (inner_length + 3) & ~3)
    attrs = _parse_attrs(view, tlv, offset + length)
    return attrs.get(NLMSGERR_ATTR_MSG, b"").rstrip(b"\x00").decode("utf-8", "replace")


SO_ATTACH_FILTER: Final = 26
_BPF = struct.Struct("=HBBI")  # struct sock_filter: code, jt, jf, k
_BPF_LD_W_ABS: Final = 0x20
_BPF_LD_H_ABS: Final = 0x28
_BPF_JEQ_K: Final = 0x15
_BPF_RET_K: Final = 0x06


def _wire_u32(value: int) -> int:
    """``value`` as BPF's ``ld`` sees a host-order u32 (it loads in network byte order)."""
    return int.from_bytes(_U32.pack(value), "big")


def _wire_u16(value: int) -> int:
    return int.from_bytes(struct.pack("=H", value), "big")


def _sender_filter(portid: int) -> bytes:
    """BPF: drop RTM_NEWROUTE/RTM_DELROUTE whose nlmsg_pid is ``portid``; keep the rest."""
    return b"".join(
        _BPF.pack(*insn)
        for insn in (
            (_BPF_LD_W_ABS, 0, 0, 12),  # nlmsg_pid
            (_BPF_JEQ_K, 0, 3, _wire_u32(portid)),  # not ours: accept
            (_BPF_LD_H_ABS, 0, 0, 4),  # nlmsg_type
            (_BPF_JEQ_K, 2, 0, _wire_u16(RTM_NEWROUTE)),  # ours: drop
            (_BPF_JEQ_K, 1, 0, _wire_u16(RTM_DELROUTE)),  # ours: drop
            (_BPF_RET_K, 0, 0, 0xFFFFFFFF),  # accept
            (_BPF_RET_K, 0, 0, 0),  # drop
        )
    )


class MonitorSocket:
    """A non-blocking socket subscribed to route, address and link notifications."""

    def __init__(self, netns: str | None = None, *, buffer_size: int = 64 << 20) -> None:
        try:
            self._sock = open_socket(netns)
            _set_buffer(self._sock, SO_RCVBUFFORCE, socket.SO_RCVBUF, buffer_size)
            self._sock.bind((0, MONITOR_GROUPS))
            self._sock.setblocking(False)
        except OSError as exc:
            raise KernelError(f"cannot open the rtnetlink monitor: {exc}") from exc

    def ignore_sender(self, portid: int) -> bool:
        """Have the kernel drop, before queueing them, the route notifications caused by the
        requests of netlink socket ``portid`` (the echoes of pybgp's own batches: 100,000
        routes make 100,000 of them). A classic BPF socket filter on ``nlmsg_pid`` and
        ``nlmsg_type``; notifications of anyone else (``ip route``, the kernel itself: pid 0)
        pass. Returns False when the filter cannot be attached (then nothing is filtered).
        """
        if portid == 0:
            return False
        program = _sender_filter(portid)
        buffer = ctypes.create_string_buffer(program, len(program))
        fprog = struct.pack("@HP", len(program) // 8, ctypes.addressof(buffer))
        try:
            self._sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, fprog)
        except OSError:
            return False
        return True

    def fileno(self) -> int:
        """The descriptor (for ``loop.add_reader``)."""
        return self._sock.fileno()

    def close(self) -> None:
        """Close the socket."""
        self._sock.close()

    def read(self) -> Iterator[tuple[int, bytes, int, int]]:
        """``(type, data, offset, length)`` for each queued notification.

        Raises ``OSError(ENOBUFS)`` when the kernel had to drop notifications.
        """
        while True:
            try:
                data = self._sock.recv(1 << 20)
            except BlockingIOError:
                return
            offset = 0
            while offset + 16 <= len(data):
                length, kind, _flags, _seq, _pid = _HEADER.unpack_from(data, offset)
                if length < 16:
                    break
                yield kind, data, offset, length
                offset += (length + 3) & ~3

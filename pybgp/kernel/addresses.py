"""Interface addresses of this host (its network namespace), read once with rtnetlink.

Used to pick the NEXT_HOP of IPv6 routes sent over an IPv4 session: a global IPv6 address of
the interface that holds the session's local IPv4 address (BIRD does the same), so that the
receiving side gets a next hop it can install instead of an IPv4-mapped one.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
import struct

from pybgp.kernel.base import IPAddress

log = logging.getLogger("pybgp.kernel")

RT_SCOPE_UNIVERSE = 0
IFA_F_DADFAILED = 0x08
IFA_F_DEPRECATED = 0x20
IFA_F_TENTATIVE = 0x40

_NLMSG_ERROR = 2
_NLMSG_DONE = 3
_RTM_NEWADDR = 20
_RTM_GETADDR = 22
_NLM_F_REQUEST = 0x1
_NLM_F_DUMP = 0x300
_IFA_ADDRESS = 1
_IFA_LOCAL = 2
_IFA_FLAGS = 8
_HEADER = struct.Struct("=IHHII")  # nlmsghdr: len, type, flags, seq, pid
_IFADDRMSG = struct.Struct("=BBBBI")  # family, prefixlen, flags, scope, index
_RTATTR = struct.Struct("=HH")


def _align(length: int) -> int:
    return (length + 3) & ~3


def _parse_addr(payload: bytes) -> tuple[int, IPAddress, int, int] | None:
    family, _prefixlen, flags, scope, index = _IFADDRMSG.unpack_from(payload)
    attributes: dict[int, bytes] = {}
    offset = _IFADDRMSG.size
    while offset + _RTATTR.size <= len(payload):
        length, kind = _RTATTR.unpack_from(payload, offset)
        if length < _RTATTR.size:
            break
        attributes[kind] = payload[offset + _RTATTR.size : offset + length]
        offset += _align(length)
    raw = attributes.get(_IFA_LOCAL) or attributes.get(_IFA_ADDRESS)
    if raw is None or family not in (socket.AF_INET, socket.AF_INET6):
        return None
    if _IFA_FLAGS in attributes:
        (flags,) = struct.unpack("=I", attributes[_IFA_FLAGS][:4])
    return index, ipaddress.ip_address(raw), scope, flags


def interface_addresses() -> list[tuple[int, IPAddress, int, int]]:
    """(ifindex, address, scope, flags) of every address in this network namespace.

    One RTM_GETADDR dump over a plain rtnetlink socket (blocking, a millisecond or so); no
    event loop is involved, so it may be called from within one.
    """
    found: list[tuple[int, IPAddress, int, int]] = []
    with socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE) as sock:
        sock.settimeout(2.0)
        body = _IFADDRMSG.pack(socket.AF_UNSPEC, 0, 0, 0, 0)
        request = (
            _HEADER.pack(_HEADER.size + len(body), _RTM_GETADDR, _NLM_F_REQUEST | _NLM_F_DUMP, 1, 0)
            + body
        )
        sock.sendto(request, (0, 0))
        while True:
            data = sock.recv(65536)
            offset = 0
            while offset + _HEADER.size <= len(data):
                length, kind, _flags, _seq, _pid = _HEADER.unpack_from(data, offset)
                if length < _HEADER.size:
                    return found
                if kind == _NLMSG_DONE:
                    return found
                if kind == _NLMSG_ERROR:
                    (code,) = struct.unpack_from("=i", data, offset + _HEADER.size)
                    raise OSError(-code, "RTM_GETADDR dump failed")
                if kind == _RTM_NEWADDR:
                    entry = _parse_addr(data[offset + _HEADER.size : offset + length])
                    if entry is not None:
                        found.append(entry)
                offset += _align(length)


def same_interface_address(local: IPAddress, version: int) -> IPAddress | None:
    """A usable global address of IP ``version`` on the interface holding ``local``.

    None when ``local`` is on no interface, the interface has no such address, or the
    addresses cannot be read (no netlink: not Linux, or a restricted sandbox).
    """
    try:
        addresses = interface_addresses()
    except (OSError, AttributeError, ValueError, struct.error) as error:
        # An optional refinement, never fatal (AttributeError: no AF_NETLINK, not Linux).
        log.debug("cannot read interface addresses: %s", error)
        return None
    indexes = {index for index, address, _scope, _flags in addresses if address == local}
    # A tentative address (duplicate address detection still running) becomes usable within
    # a second or two: taken when there is nothing better, rather than no IPv6 next hop.
    candidates = sorted(
        (
            (bool(flags & IFA_F_TENTATIVE), int(address), address)
            for index, address, scope, flags in addresses
            if index in indexes
            and address.version == version
            and scope == RT_SCOPE_UNIVERSE
            and not flags & (IFA_F_DEPRECATED | IFA_F_DADFAILED)
            and not address.is_link_local
            and not address.is_loopback
        ),
    )
    return candidates[0][2] if candidates else None

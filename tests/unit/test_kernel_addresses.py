"""pybgp.kernel.addresses: the RTM_NEWADDR parser, the same-interface address choice and the
table kept current from the event loop."""

from __future__ import annotations

import socket
import struct
from ipaddress import IPv4Address, IPv6Address, ip_address

import pytest

from pybgp.kernel import addresses, rtnl
from pybgp.kernel.addresses import (
    IFA_F_DADFAILED,
    IFA_F_DEPRECATED,
    IFA_F_TENTATIVE,
    InterfaceAddresses,
    choose_address,
    same_interface_address,
)
from pybgp.kernel.rtnl import InterfaceAddress


def _attr(kind: int, payload: bytes) -> bytes:
    length = 4 + len(payload)
    return struct.pack("=HH", length, kind) + payload + b"\0" * ((4 - length % 4) % 4)


def _newaddr(
    index: int,
    address: str,
    *,
    scope: int = 0,
    flags: int = 0,
    kind: int = rtnl.RTM_NEWADDR,
    seq: int = 0,
    pid: int = 0,
    peer: str | None = None,
) -> bytes:
    parsed = ip_address(address)
    family = socket.AF_INET6 if parsed.version == 6 else socket.AF_INET
    body = (
        struct.pack("=BBBBI", family, 64, flags & 0xFF, scope, index)
        + _attr(1, ip_address(peer or address).packed)  # IFA_ADDRESS
        + (_attr(2, parsed.packed) if peer else b"")  # IFA_LOCAL
        + _attr(8, struct.pack("=I", flags))  # IFA_FLAGS (the full 32-bit flags)
    )
    return struct.pack("=IHHII", 16 + len(body), kind, 0, seq, pid) + body


def _entry(index: int, address: str, scope: int = 0, flags: int = 0) -> InterfaceAddress:
    parsed = ip_address(address)
    return InterfaceAddress(index, parsed, 64, scope, flags, parsed)


def test_parse_address_reads_index_address_scope_and_flags() -> None:
    message = _newaddr(3, "fd00:99::1", flags=0x100 | IFA_F_TENTATIVE)
    assert rtnl.parse_address(message, 0, len(message)) == InterfaceAddress(
        3, IPv6Address("fd00:99::1"), 64, 0, 0x100 | IFA_F_TENTATIVE, IPv6Address("fd00:99::1")
    )
    # point-to-point: IFA_LOCAL is ours, IFA_ADDRESS the peer's (what names the subnet)
    message = _newaddr(2, "10.99.0.1", peer="10.98.0.0")
    entry = rtnl.parse_address(message, 0, len(message))
    assert entry is not None
    assert (entry.ifindex, entry.address, entry.prefix_address) == (
        2,
        IPv4Address("10.99.0.1"),
        IPv4Address("10.98.0.0"),
    )


def test_choose_address_picks_a_usable_global_address_of_that_interface() -> None:
    table = [
        _entry(2, "10.99.0.1"),
        _entry(2, "fe80::1", scope=253),  # link-local: never a BGP next hop here
        _entry(2, "fd00:99::9", flags=IFA_F_DADFAILED),  # unusable
        _entry(2, "fd00:99::5", flags=IFA_F_TENTATIVE),  # usable soon: last resort
        _entry(2, "fd00:99::7"),
        _entry(3, "fd00:98::1"),  # another interface
        _entry(3, "10.98.0.1"),
    ]
    assert choose_address(table, IPv4Address("10.99.0.1"), 6) == IPv6Address("fd00:99::7")
    assert choose_address(table, IPv4Address("10.98.0.1"), 6) == IPv6Address("fd00:98::1")
    assert choose_address(table, IPv6Address("fd00:98::1"), 4) == IPv4Address("10.98.0.1")
    assert choose_address(table, IPv4Address("10.97.0.1"), 6) is None  # on no interface
    table[4] = _entry(2, "fd00:99::7", flags=IFA_F_DEPRECATED)
    assert choose_address(table, IPv4Address("10.99.0.1"), 6) == IPv6Address("fd00:99::5")


def test_same_interface_address_without_netlink_is_none(monkeypatch: pytest.MonkeyPatch) -> None:
    def fail() -> list[InterfaceAddress]:
        raise PermissionError("no netlink here")

    monkeypatch.setattr(addresses, "interface_addresses", fail)
    assert same_interface_address(IPv4Address("10.99.0.1"), 6) is None


def test_the_table_follows_dump_answers_then_notifications_in_order() -> None:
    """A dump fills a new table that replaces the old one when done; notifications apply to
    the table in use and to the one being filled."""
    book = InterfaceAddresses()
    book._portid, book._seq, book._dumping = 77, 5, {}
    book._table = {(9, ip_address("10.1.0.1")): _entry(9, "10.1.0.1")}  # gone by now
    done = struct.pack("=IHHII", 20, rtnl.NLMSG_DONE, 0, 5, 77) + b"\0" * 4
    book._take(
        _newaddr(2, "10.99.0.1", seq=5, pid=77)  # dump answer
        + _newaddr(2, "fd00:99::7", seq=5, pid=0)  # a notification (someone's `ip addr add`)
        + _newaddr(2, "fd00:99::7", seq=5, pid=0, kind=rtnl.RTM_DELADDR)
        + _newaddr(2, "fd00:99::8", seq=1, pid=4242)
        + done
    )
    assert sorted(map(str, (entry.address for entry in book.addresses()))) == [
        "10.99.0.1",
        "fd00:99::8",
    ]
    assert book.same_interface(IPv4Address("10.99.0.1"), 6) == IPv6Address("fd00:99::8")
    book._take(_newaddr(2, "fd00:99::8", kind=rtnl.RTM_DELADDR))
    assert book.same_interface(IPv4Address("10.99.0.1"), 6) is None


async def test_open_reads_this_namespace_without_blocking() -> None:
    """Against the real kernel: the dump answers through the event loop; loopback is there."""
    book = InterfaceAddresses()
    await book.open()
    try:
        found = {(entry.ifindex, entry.address) for entry in book.addresses()}
        assert (1, ip_address("127.0.0.1")) in found
        # loopback's addresses do not change under us (other interfaces may, in a busy host)
        loopback = {
            (e.ifindex, e.address) for e in addresses.interface_addresses() if e.ifindex == 1
        }
        assert loopback <= found
    finally:
        book.close()

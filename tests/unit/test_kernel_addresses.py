"""pybgp.kernel.addresses: the RTM_NEWADDR parser and the same-interface address choice."""

from __future__ import annotations

import socket
import struct
from ipaddress import IPv4Address, IPv6Address, ip_address

import pytest

from pybgp.kernel import addresses
from pybgp.kernel.addresses import IFA_F_DADFAILED, IFA_F_TENTATIVE, same_interface_address


def _attr(kind: int, payload: bytes) -> bytes:
    length = 4 + len(payload)
    return struct.pack("=HH", length, kind) + payload + b"\0" * ((4 - length % 4) % 4)


def _ifaddrmsg(family: int, index: int, address: str, scope: int = 0, flags: int = 0) -> bytes:
    packed = ip_address(address).packed
    return (
        struct.pack("=BBBBI", family, 64, flags & 0xFF, scope, index)
        + _attr(1, packed)  # IFA_ADDRESS
        + _attr(8, struct.pack("=I", flags))  # IFA_FLAGS (the full 32-bit flags)
    )


def test_parse_addr_reads_index_address_scope_and_flags() -> None:
    message = _ifaddrmsg(socket.AF_INET6, 3, "fd00:99::1", flags=0x100 | IFA_F_TENTATIVE)
    assert addresses._parse_addr(message) == (
        3,
        IPv6Address("fd00:99::1"),
        0,
        0x100 | IFA_F_TENTATIVE,
    )
    assert addresses._parse_addr(_ifaddrmsg(socket.AF_INET, 2, "10.99.0.1"))[:2] == (
        2,
        IPv4Address("10.99.0.1"),
    )


def test_same_interface_address_picks_a_usable_global_address_of_that_interface(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    table = [
        (2, ip_address("10.99.0.1"), 0, 0),
        (2, ip_address("fe80::1"), 253, 0),  # link-local: never a BGP next hop here
        (2, ip_address("fd00:99::9"), 0, IFA_F_DADFAILED),  # unusable
        (2, ip_address("fd00:99::5"), 0, IFA_F_TENTATIVE),  # usable soon: last resort
        (2, ip_address("fd00:99::7"), 0, 0),
        (3, ip_address("fd00:98::1"), 0, 0),  # another interface
        (3, ip_address("10.98.0.1"), 0, 0),
    ]
    monkeypatch.setattr(addresses, "interface_addresses", lambda: table)
    assert same_interface_address(IPv4Address("10.99.0.1"), 6) == IPv6Address("fd00:99::7")
    assert same_interface_address(IPv4Address("10.98.0.1"), 6) == IPv6Address("fd00:98::1")
    assert same_interface_address(IPv6Address("fd00:98::1"), 4) == IPv4Address("10.98.0.1")
    assert same_interface_address(IPv4Address("10.97.0.1"), 6) is None  # on no interface
    table[4] = (2, ip_address("fd00:99::7"), 0, addresses.IFA_F_DEPRECATED)
    assert same_interface_address(IPv4Address("10.99.0.1"), 6) == IPv6Address("fd00:99::5")


def test_same_interface_address_without_netlink_is_none(monkeypatch: pytest.MonkeyPatch) -> None:
    def fail() -> list[tuple[int, IPv4Address | IPv6Address, int, int]]:
        raise PermissionError("no netlink here")

    monkeypatch.setattr(addresses, "interface_addresses", fail)
    assert same_interface_address(IPv4Address("10.99.0.1"), 6) is None

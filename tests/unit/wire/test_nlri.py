"""Prefix keys and NLRI fields (RFC 4271 §4.3, RFC 7911 §3, RFC 7606 §5.3).

Framing reminder: an UPDATE body is what follows the 19-octet header (16-octet marker, 2-octet
length, 1-octet type); these tests work on bare NLRI fields inside such a body.
"""

from __future__ import annotations

from ipaddress import IPv4Network, IPv6Network

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pybgp.wire.constants import AFI
from pybgp.wire.errors import LocalProtocolError, RemoteProtocolError
from pybgp.wire.nlri import (
    NlriError,
    decode_prefixes,
    encode_prefixes,
    network_from_prefix,
    prefix_from_network,
    prefix_from_str,
    prefix_to_str,
)


def test_spec_examples() -> None:
    # The interface spec's examples.
    assert prefix_from_network(IPv4Network("10.244.1.0/26")) == b"\x1a\x0a\xf4\x01\x00"
    assert prefix_from_network(IPv4Network("0.0.0.0/0")) == b"\x00"
    assert prefix_from_str("10.244.1.0/26") == (AFI.IPV4, b"\x1a\x0a\xf4\x01\x00")
    assert prefix_to_str(b"\x1a\x0a\xf4\x01\x00", AFI.IPV4) == "10.244.1.0/26"


def test_ipv6_round_trip() -> None:
    afi, key = prefix_from_str("2001:db8:1::/48")
    assert afi == AFI.IPV6
    assert key == bytes([48]) + bytes.fromhex("20010db80001")
    assert network_from_prefix(key, AFI.IPV6) == IPv6Network("2001:db8:1::/48")


def test_prefix_from_str_rejects_host_bits_and_garbage() -> None:
    with pytest.raises(LocalProtocolError):
        prefix_from_str("10.0.0.1/8")
    with pytest.raises(LocalProtocolError):
        prefix_from_str("not a prefix")


def test_decode_three_prefixes() -> None:
    # 18 010100 | 18 010200 | 18 010000: 1.0.1.0/24 1.0.2.0/24 1.0.0.0/24 (bird_update_ebgp_0)
    data = bytes.fromhex("180100011801000218010000")
    keys, ids = decode_prefixes(data, AFI.IPV4)
    assert ids is None
    assert [prefix_to_str(k, AFI.IPV4) for k in keys] == ["1.0.1.0/24", "1.0.2.0/24", "1.0.0.0/24"]
    assert encode_prefixes(keys) == data


def test_host_bits_are_masked() -> None:
    # RFC 4271 §4.3: trailing bits are irrelevant; keys stay canonical.
    # 1a 0af401ff: 10.244.1.255/26 -> 10.244.1.192/26
    keys, _ = decode_prefixes(bytes.fromhex("1a0af401ff"), AFI.IPV4)
    assert keys == (bytes.fromhex("1a0af401c0"),)


def test_add_path_identifiers() -> None:
    # RFC 7911 §3: 00000007 (path id 7) 18 0a0000 (10.0.0.0/24), 00000009 10 0a01 (10.1.0.0/16)
    data = bytes.fromhex("00000007180a000000000009100a01")
    keys, ids = decode_prefixes(data, AFI.IPV4, add_path=True)
    assert keys == (bytes.fromhex("180a0000"), bytes.fromhex("100a01"))
    assert ids == (7, 9)
    assert encode_prefixes(keys, ids) == data


@pytest.mark.parametrize(
    ("hexdata", "afi", "add_path"),
    [
        ("21 0a000000 00", AFI.IPV4, False),  # length 33 > 32 (RFC 7606 §5.3)
        ("81" + "00" * 17, AFI.IPV6, False),  # length 129 > 128
        ("18 0a00", AFI.IPV4, False),  # /24 needs 3 octets, 2 present
        ("000000", AFI.IPV4, True),  # path identifier cut short
        ("00000001", AFI.IPV4, True),  # path identifier with no prefix length
        ("00", 25, False),  # AFI pybgp does not decode
    ],
)
def test_syntax_errors_raise_invalid_network_field(hexdata: str, afi: int, add_path: bool) -> None:
    with pytest.raises(NlriError) as info:
        decode_prefixes(bytes.fromhex(hexdata.replace(" ", "")), afi, add_path)
    assert (info.value.code, info.value.subcode) == (3, 10)


def test_encode_path_ids_must_be_parallel() -> None:
    with pytest.raises(LocalProtocolError):
        encode_prefixes([b"\x00"], [1, 2])


ipv4_networks = st.builds(
    lambda addr, plen: IPv4Network((addr, plen), strict=False),
    st.integers(0, 2**32 - 1),
    st.integers(0, 32),
)
ipv6_networks = st.builds(
    lambda addr, plen: IPv6Network((addr, plen), strict=False),
    st.integers(0, 2**128 - 1),
    st.integers(0, 128),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(ipv4_networks, ipv6_networks), max_size=20), st.booleans())
def test_round_trip(networks: list[IPv4Network | IPv6Network], add_path: bool) -> None:
    for version, afi in ((4, AFI.IPV4), (6, AFI.IPV6)):
        nets = [n for n in networks if n.version == version]
        keys = [prefix_from_network(n) for n in nets]
        ids = list(range(len(keys))) if add_path else None
        decoded, decoded_ids = decode_prefixes(encode_prefixes(keys, ids), afi, add_path)
        assert list(decoded) == keys
        assert decoded_ids == (tuple(ids) if ids is not None else None)
        assert [network_from_prefix(k, afi) for k in decoded] == nets


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=64), st.sampled_from([AFI.IPV4, AFI.IPV6]), st.booleans())
def test_arbitrary_bytes_raise_only_protocol_errors(data: bytes, afi: int, add_path: bool) -> None:
    try:
        keys, _ = decode_prefixes(data, afi, add_path)
    except RemoteProtocolError:
        return
    for key in keys:  # every key decoded is canonical
        assert prefix_from_network(network_from_prefix(key, afi)) == key

"""Path attribute values and their codec (RFC 4271 §4.3/§5, RFC 4760, RFC 6793, RFC 8092 …).

Framing reminder: an UPDATE body is what follows the 19-octet header (16-octet marker, 2-octet
length, 1-octet type); the attribute block sits after the withdrawn routes inside it. These tests
work on attribute blocks directly.
"""

from __future__ import annotations

from ipaddress import IPv4Address, IPv6Address

import pytest
from attrs import evolve as attrs_evolve
from hypothesis import given, settings
from hypothesis import strategies as st

from pybgp.wire.aspath import merge_as4_path, to_two_octet
from pybgp.wire.attribute_codec import (
    decode_as_path_segments,
    decode_attributes,
    encode_as_path_segments,
    encode_attribute,
    encode_attributes,
)
from pybgp.wire.attributes import (
    Aggregator,
    As4Aggregator,
    As4Path,
    AsPath,
    AsPathSegment,
    AtomicAggregate,
    Attribute,
    ClusterList,
    Communities,
    ExtendedCommunities,
    LargeCommunities,
    LocalPref,
    MpReachNlri,
    MpUnreachNlri,
    MultiExitDisc,
    NextHop,
    Origin,
    OriginatorId,
    Otc,
    PathAttributes,
    UnknownAttribute,
    prepare_for_export,
)
from pybgp.wire.constants import AS_TRANS, AsPathSegmentType, AttributeCode
from pybgp.wire.errors import LocalProtocolError, RemoteProtocolError
from pybgp.wire.negotiated import Negotiated
from pybgp.wire.update_errors import RULES, ErrorAction

NEG4 = Negotiated(
    four_octet_as=True,
    families=frozenset({(1, 1), (2, 1)}),
    local_as=65000,
    peer_as=65000,
)
NEG2 = Negotiated(
    four_octet_as=False,
    families=frozenset({(1, 1), (2, 1)}),
    local_as=65000,
    peer_as=65000,
)
SEQ = AsPathSegmentType.AS_SEQUENCE
SET = AsPathSegmentType.AS_SET


def seg(kind: int, *asns: int) -> AsPathSegment:
    return AsPathSegment(kind, asns)


# --- value classes -----------------------------------------------------------------------


def test_as_path_length_counts_set_as_one_and_confed_as_zero() -> None:
    # RFC 4271 §9.1.2.2 (a), RFC 5065 §5.3
    path = AsPath((seg(3, 65100), seg(SEQ, 1, 2, 3), seg(SET, 7, 8, 9), seg(4, 65101)))
    assert path.length == 4
    assert path.neighbor_as == 1
    assert AsPath((seg(SET, 5, 6),)).neighbor_as is None
    assert AsPath().neighbor_as is None and AsPath().length == 0


def test_as_path_contains_and_prepend() -> None:
    path = AsPath((seg(SEQ, 10, 20, 10), seg(SET, 10)))
    assert path.contains(10) == 3
    assert path.contains(99) == 0
    assert path.prepend(5, 2).segments == (seg(SEQ, 5, 5, 10, 20, 10), seg(SET, 10))
    assert AsPath((seg(SET, 1),)).prepend(5).segments == (seg(SEQ, 5), seg(SET, 1))
    assert path.prepend(5, 0) is path


def test_path_attributes_accessors_replace_without() -> None:
    attrs = PathAttributes(
        (Origin(0), AsPath((seg(SEQ, 1),)), NextHop(IPv4Address("192.0.2.1")), LocalPref(100))
    )
    assert attrs.origin == Origin(0)
    assert attrs.local_pref == LocalPref(100)
    assert attrs.med is None and attrs.mp_reach is None
    changed = attrs.replace(LocalPref(200), MultiExitDisc(5))
    assert changed.codes == (1, 2, 3, 5, 4)  # replaced in place, new ones appended
    assert changed.local_pref == LocalPref(200)
    assert attrs.without(AttributeCode.LOCAL_PREF).codes == (1, 2, 3)
    assert attrs.without(99) is attrs
    assert hash(attrs) == hash(PathAttributes(attrs.attributes))
    assert AttributeCode.ORIGIN in attrs and len(attrs) == 4


def test_rule_table_has_one_row_per_known_attribute() -> None:
    assert set(RULES) == {int(c) for c in AttributeCode}
    for code, rule in RULES.items():
        assert rule.code == code and rule.section.startswith("RFC ")


# --- codec ---------------------------------------------------------------------------------


def test_frr_extended_length_flag_kept() -> None:
    # FRR: AS_PATH flags 0x50 (Extended Length on a 6-octet value); 2-octet length follows.
    block = bytes.fromhex("50 02 0006 02 01 0000fde8".replace(" ", ""))
    decoded = decode_attributes(block, NEG4)
    assert decoded.attributes.as_path == AsPath((seg(SEQ, 65000),), flags=0x50)
    assert encode_attribute(decoded.attributes.attributes[0], NEG4) == block


def test_long_value_gets_extended_length() -> None:
    comms = Communities(tuple(range(100)))
    wire = encode_attribute(comms, NEG4)
    assert wire[0] == 0xD0 and int.from_bytes(wire[2:4], "big") == 400


def test_identical_blocks_are_interned() -> None:
    block = bytes.fromhex("40010100400206020100000001400304c0000201")
    first = decode_attributes(block, NEG4).attributes
    second = decode_attributes(bytes(bytearray(block)), NEG4).attributes
    assert first is second
    assert encode_attributes(first, NEG4) == block


def test_two_octet_as_path_and_aggregator() -> None:
    # RFC 6793: 2-octet session. AS_PATH 02 02 fde8 1e30; AGGREGATOR fde8 c0000201
    block = bytes.fromhex("400206 0202fde81e30c00706 fde8c0000201".replace(" ", ""))
    attrs = decode_attributes(block, NEG2).attributes
    assert attrs.as_path == AsPath((seg(SEQ, 65000, 7728),))
    assert attrs.aggregator == Aggregator(65000, IPv4Address("192.0.2.1"))
    assert encode_attributes(attrs, NEG2) == block


def test_mp_reach_ipv6_with_link_local() -> None:
    # RFC 4760 §3 / RFC 2545 §3: AFI 2 SAFI 1, next hop length 32 (global + link-local),
    # reserved 0, NLRI 2001:db8::/32
    value = (
        "0002 01 2020010db8000000000000000000000001fe8000000000000000000000000000010020 20010db8"
    ).replace(" ", "")
    block = bytes.fromhex("80 0e") + bytes((len(value) // 2,)) + bytes.fromhex(value)
    mp = decode_attributes(block, NEG4).attributes.mp_reach
    assert mp is not None
    assert mp.next_hops == (IPv6Address("2001:db8::1"), IPv6Address("fe80::1"))
    assert mp.nlri == (bytes.fromhex("2020010db8"),)
    assert encode_attribute(mp, NEG4) == block


def test_mp_reach_rfc8950_ipv4_nlri_ipv6_next_hop() -> None:
    # RFC 8950: AFI 1 SAFI 1, next hop length 16 (IPv6), NLRI 10.0.0.0/8, once the extended
    # next hop capability was negotiated for IPv4 unicast.
    value = "0001 01 10 20010db8000000000000000000000001 00 08 0a".replace(" ", "")
    block = bytes.fromhex("80 0e") + bytes((len(value) // 2,)) + bytes.fromhex(value)
    enh = attrs_evolve(NEG4, extended_next_hop=frozenset({(1, 1)}))
    mp = decode_attributes(block, enh).attributes.mp_reach
    assert mp == MpReachNlri(1, 1, (IPv6Address("2001:db8::1"),), (b"\x08\x0a",), None)


def test_mp_reach_ipv6_next_hop_for_ipv4_without_rfc8950_disables() -> None:
    # RFC 7606 §7.11: the next hop length must be "that which was expected", "potentially
    # modified by any extensions in use"; without RFC 8950 negotiated IPv4 expects 4 octets.
    value = "0001 01 10 20010db8000000000000000000000001 00 08 0a".replace(" ", "")
    block = bytes.fromhex("80 0e") + bytes((len(value) // 2,)) + bytes.fromhex(value)
    decoded = decode_attributes(block, NEG4)
    assert decoded.action is ErrorAction.AFI_SAFI_DISABLE
    assert decoded.disabled_families == {(1, 1)}
    assert any("RFC 7606 §7.11" in issue for issue in decoded.issues)


def test_unknown_attribute_kept_byte_exact_and_export() -> None:
    # c0 63 03 aabbcc: unknown optional transitive 99; 80 64 01 01: unknown optional
    # non-transitive 100
    block = bytes.fromhex("c06303aabbcc80640101")
    attrs = decode_attributes(block, NEG4).attributes
    assert attrs.attributes == (
        UnknownAttribute(99, 0xC0, b"\xaa\xbb\xcc"),
        UnknownAttribute(100, 0x80, b"\x01"),
    )
    assert encode_attributes(attrs, NEG4) == block
    # RFC 4271 §5: non-transitive unknown dropped, transitive unknown gets Partial.
    exported = prepare_for_export(attrs)
    assert exported.attributes == (UnknownAttribute(99, 0xE0, b"\xaa\xbb\xcc"),)
    assert prepare_for_export(exported) is exported


def test_merge_as4_path() -> None:
    # RFC 6793 §4.2.3: AS_PATH [65000 23456 23456 100] + AS4_PATH [23456->400000 500000 100]
    attrs = PathAttributes(
        (
            AsPath((seg(SEQ, 65000, AS_TRANS, AS_TRANS, 100),)),
            As4Path((seg(SEQ, 400000, 500000, 100),)),
            Aggregator(AS_TRANS, IPv4Address("192.0.2.1")),
            As4Aggregator(400000, IPv4Address("192.0.2.1")),
        )
    )
    merged = merge_as4_path(attrs)
    assert merged.as_path == AsPath((seg(SEQ, 65000, 400000, 500000, 100),))
    assert merged.aggregator == Aggregator(400000, IPv4Address("192.0.2.1"))
    assert merged.get(AttributeCode.AS4_PATH) is None
    assert merged.get(AttributeCode.AS4_AGGREGATOR) is None


def test_merge_as4_path_ignored_when_longer_or_aggregator_not_trans() -> None:
    longer = PathAttributes((AsPath((seg(SEQ, 1),)), As4Path((seg(SEQ, 400000, 2),))))
    assert merge_as4_path(longer).as_path == AsPath((seg(SEQ, 1),))
    not_trans = PathAttributes(
        (
            AsPath((seg(SEQ, AS_TRANS),)),
            As4Path((seg(SEQ, 400000),)),
            Aggregator(65000, IPv4Address("192.0.2.1")),
        )
    )
    assert merge_as4_path(not_trans).as_path == AsPath((seg(SEQ, AS_TRANS),))


def test_to_two_octet_and_back() -> None:
    attrs = PathAttributes(
        (
            AsPath((seg(SEQ, 65000, 400000),)),
            Aggregator(400000, IPv4Address("192.0.2.1")),
        )
    )
    old = to_two_octet(attrs)
    assert old.as_path == AsPath((seg(SEQ, 65000, AS_TRANS),))
    assert old.get(AttributeCode.AS4_PATH) == As4Path((seg(SEQ, 65000, 400000),))
    assert old.aggregator == Aggregator(AS_TRANS, IPv4Address("192.0.2.1"))
    # On the wire to a 2-octet peer and back.
    decoded = decode_attributes(encode_attributes(old, NEG2), NEG2).attributes
    assert merge_as4_path(decoded).as_path == attrs.as_path
    assert merge_as4_path(decoded).aggregator == attrs.aggregator
    small = PathAttributes((AsPath((seg(SEQ, 1, 2),)),))
    assert to_two_octet(small) == small


def test_encode_rejects_out_of_range() -> None:
    with pytest.raises(LocalProtocolError):
        encode_attribute(MultiExitDisc(2**32), NEG4)
    with pytest.raises(LocalProtocolError):
        encode_attribute(ExtendedCommunities((b"short",)), NEG4)


# --- Hypothesis round trips, one strategy per attribute -----------------------------------

u32 = st.integers(0, 2**32 - 1)
asn32 = st.integers(1, 2**32 - 1)  # AS 0 makes AS_PATH and AGGREGATOR malformed (RFC 7607 §2)
ipv4 = st.integers(0, 2**32 - 1).map(IPv4Address)
host_ipv4 = st.integers(0x01000000, 0xDFFFFFFF).map(IPv4Address)  # not 0/8-ish, not multicast
ipv6 = st.integers(0, 2**128 - 1).map(IPv6Address)
flags_bits = st.sampled_from([0, 0x10])  # with or without Extended Length on short values


def segments(
    asn: st.SearchStrategy[int], kinds: list[int]
) -> st.SearchStrategy[tuple[AsPathSegment, ...]]:
    one = st.builds(
        AsPathSegment, st.sampled_from(kinds), st.lists(asn, min_size=1, max_size=8).map(tuple)
    )
    return st.lists(one, max_size=4).map(tuple)


def ipv4_keys() -> st.SearchStrategy[tuple[bytes, ...]]:
    def key(addr: int, plen: int) -> bytes:
        addr &= (0xFFFFFFFF << (32 - plen)) & 0xFFFFFFFF
        return bytes((plen,)) + addr.to_bytes(4, "big")[: (plen + 7) >> 3]

    return st.lists(st.builds(key, u32, st.integers(0, 32)), max_size=6).map(tuple)


def ipv6_keys() -> st.SearchStrategy[tuple[bytes, ...]]:
    def key(addr: int, plen: int) -> bytes:
        addr &= ((1 << 128) - 1) ^ ((1 << (128 - plen)) - 1)
        return bytes((plen,)) + addr.to_bytes(16, "big")[: (plen + 7) >> 3]

    return st.lists(
        st.builds(key, st.integers(0, 2**128 - 1), st.integers(0, 128)), max_size=6
    ).map(tuple)


def with_flags(
    cls: type, base: int, *args: st.SearchStrategy[object]
) -> st.SearchStrategy[Attribute]:
    return st.builds(lambda f, *a: cls(*a, flags=base | f), flags_bits, *args)


ext_communities = st.lists(st.binary(min_size=8, max_size=8), min_size=1, max_size=10).map(tuple)
attribute_strategy: st.SearchStrategy[Attribute] = st.one_of(
    with_flags(Origin, 0x40, st.integers(0, 2)),
    with_flags(AsPath, 0x40, segments(asn32, [1, 2, 3, 4])),
    with_flags(NextHop, 0x40, host_ipv4),
    with_flags(MultiExitDisc, 0x80, u32),
    with_flags(LocalPref, 0x40, u32),
    st.builds(AtomicAggregate),
    with_flags(Aggregator, 0xC0, asn32, ipv4),
    with_flags(Communities, 0xC0, st.lists(u32, min_size=1, max_size=80).map(tuple)),
    with_flags(OriginatorId, 0x80, ipv4),
    with_flags(ClusterList, 0x80, st.lists(ipv4, min_size=1, max_size=5).map(tuple)),
    with_flags(ExtendedCommunities, 0xC0, ext_communities),
    # Unique values: a receiver removes duplicates (RFC 8092 §3). At most 21 values, so the
    # value stays under 256 octets and the flags round-trip without Extended Length.
    with_flags(
        LargeCommunities,
        0xC0,
        st.lists(st.tuples(u32, u32, u32), min_size=1, max_size=21, unique=True).map(tuple),
    ),
    with_flags(Otc, 0xC0, u32),
    st.builds(
        lambda c, f, v: UnknownAttribute(c, f, v),
        st.integers(19, 31) | st.integers(36, 255),
        st.sampled_from([0x80, 0xC0, 0xE0, 0x90, 0xD0]),
        st.binary(max_size=300),
    ),
    st.builds(MpReachNlri, st.just(2), st.just(1), st.tuples(ipv6) | st.tuples(ipv6, ipv6),
              ipv6_keys()),
    st.builds(MpReachNlri, st.just(1), st.just(1), st.tuples(ipv4), ipv4_keys()),
    st.builds(MpUnreachNlri, st.sampled_from([1, 2]), st.just(1), st.just(())),
    st.builds(MpUnreachNlri, st.just(2), st.just(1), ipv6_keys()),
)  # fmt: skip


@settings(max_examples=400, deadline=None)
@given(attribute_strategy)
def test_every_attribute_round_trips_on_a_four_octet_session(attr: Attribute) -> None:
    wire = encode_attribute(attr, NEG4)
    decoded = decode_attributes(wire, NEG4)
    assert decoded.action is ErrorAction.NONE, decoded.issues
    assert decoded.attributes.attributes == (attr,)
    assert encode_attributes(decoded.attributes, NEG4) == wire


@settings(max_examples=200, deadline=None)
@given(
    st.one_of(
        with_flags(AsPath, 0x40, segments(st.integers(1, 0xFFFF), [1, 2, 3, 4])),
        with_flags(Aggregator, 0xC0, st.integers(1, 0xFFFF), ipv4),
        # An empty AS4_PATH is malformed (RFC 7606 §4 zero length; discarded, RFC 6793 §6).
        with_flags(As4Path, 0xC0, segments(asn32, [1, 2]).filter(bool)),
        with_flags(As4Aggregator, 0xC0, asn32, ipv4),
    )
)
def test_two_octet_session_attributes_round_trip(attr: Attribute) -> None:
    wire = encode_attribute(attr, NEG2)
    decoded = decode_attributes(wire, NEG2)
    assert decoded.action is ErrorAction.NONE, decoded.issues
    assert decoded.attributes.attributes == (attr,)


def test_as_path_segment_helper_raises_protocol_errors() -> None:
    # 02 02 0000fde8: AS_SEQUENCE claiming 2 ASNs with 1 present (RFC 7606 §7.2).
    with pytest.raises(RemoteProtocolError):
        decode_as_path_segments(bytes.fromhex("02020000fde8"), 4)
    assert decode_as_path_segments(bytes.fromhex("0201fde8"), 2) == (seg(SEQ, 65000),)
    assert encode_as_path_segments((seg(SEQ, 65000),), 2) == bytes.fromhex("0201fde8")


def test_large_communities_duplicates_removed_not_malformed() -> None:
    # RFC 8092 §3: "A receiving speaker MUST silently remove redundant BGP Large Community
    # values"; §6: duplicates do not make the attribute malformed.
    # c0 20 18: LARGE_COMMUNITIES, 24 octets: 65000:1:2 twice
    block = bytes.fromhex("c02018" + "0000fde80000000100000002" * 2)
    decoded = decode_attributes(block, NEG4)
    assert decoded.action is ErrorAction.NONE
    assert decoded.attributes.attributes == (LargeCommunities(((65000, 1, 2),)),)
    assert encode_attributes(decoded.attributes, NEG4) == bytes.fromhex(
        "c0200c0000fde80000000100000002"
    )

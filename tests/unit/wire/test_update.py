"""UPDATE messages: decode, encode, packing, End-of-RIB, ADD-PATH (RFC 4271 §4.3, RFC 4760,
RFC 4724 §2, RFC 7911, RFC 8654).

Framing: an UPDATE body is what follows the 19-octet header (16-octet marker 0xff, 2-octet
length, 1-octet type 2). ``split`` below checks the header and returns the body.
"""

from __future__ import annotations

from ipaddress import IPv4Address, IPv6Address
from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pybgp.wire.attributes import (
    AsPath,
    AsPathSegment,
    Communities,
    LocalPref,
    MpReachNlri,
    MpUnreachNlri,
    NextHop,
    Origin,
    PathAttributes,
)
from pybgp.wire.constants import IPV4_UNICAST, IPV6_UNICAST
from pybgp.wire.errors import LocalProtocolError, RemoteProtocolError
from pybgp.wire.negotiated import Negotiated
from pybgp.wire.nlri import decode_prefixes, prefix_from_str
from pybgp.wire.update import (
    ErrorAction,
    Update,
    UpdateResult,
    decode_update,
    encode_end_of_rib,
    encode_update,
    pack_update_messages,
)

IBGP = Negotiated(families=frozenset({IPV4_UNICAST, IPV6_UNICAST}), local_as=65000, peer_as=65000)
EBGP = Negotiated(families=frozenset({IPV4_UNICAST, IPV6_UNICAST}), local_as=65002, peer_as=65000)
TWO_OCTET = Negotiated(four_octet_as=False, local_as=65000, peer_as=65000)
ADD_PATH = Negotiated(
    families=frozenset({IPV4_UNICAST, IPV6_UNICAST}),
    add_path_receive=frozenset({IPV4_UNICAST, IPV6_UNICAST}),
    add_path_send=frozenset({IPV4_UNICAST, IPV6_UNICAST}),
    local_as=65000,
    peer_as=65000,
)
BASE = PathAttributes(
    (
        Origin(0),
        AsPath((AsPathSegment(2, (65000,)),)),
        NextHop(IPv4Address("192.0.2.1")),
        LocalPref(100),
    )
)
V6 = PathAttributes(
    (
        MpReachNlri(2, 1, (IPv6Address("2001:db8::1"), IPv6Address("fe80::1"))),
        Origin(0),
        AsPath((AsPathSegment(2, (65000,)),)),
    )
)


def split(message: bytes) -> bytes:
    """Check the 19-octet header (marker, length, type 2) and return the UPDATE body."""
    assert message[:16] == b"\xff" * 16
    assert int.from_bytes(message[16:18], "big") == len(message)
    assert message[18] == 2
    return message[19:]


def key(text: str) -> bytes:
    return prefix_from_str(text)[1]


def test_ipv4_update_round_trip() -> None:
    update = Update((key("10.9.0.0/16"),), BASE, (key("10.0.0.0/24"), key("10.1.0.0/23")))
    message = encode_update(update, IBGP)
    result = decode_update(split(message), IBGP)
    assert result == UpdateResult(update)
    assert encode_update(result.update, IBGP) == message


def test_end_of_rib_ipv4_is_an_empty_update() -> None:
    # RFC 4724 §2: 0000 (no withdrawn) 0000 (no attributes), no NLRI.
    message = encode_end_of_rib(IPV4_UNICAST)
    assert message == b"\xff" * 16 + bytes.fromhex("0017 02 0000 0000".replace(" ", ""))
    result = decode_update(split(message), IBGP)
    assert result.action is ErrorAction.NONE
    assert result.update.end_of_rib == IPV4_UNICAST


def test_end_of_rib_ipv6_is_an_empty_mp_unreach() -> None:
    # 0000 | 0006 | 80 0f 03 0002 01: MP_UNREACH_NLRI AFI 2 SAFI 1, no withdrawn routes.
    message = encode_end_of_rib(IPV6_UNICAST)
    assert split(message) == bytes.fromhex("0000 0006 800f03 0002 01".replace(" ", ""))
    result = decode_update(split(message), IBGP)
    assert result.update.end_of_rib == IPV6_UNICAST
    assert result.action is ErrorAction.NONE
    # A family pybgp does not parse (1/4 labeled) is still recognized as End-of-RIB.
    assert decode_update(split(encode_end_of_rib((1, 4))), IBGP).update.end_of_rib == (1, 4)


def test_not_end_of_rib() -> None:
    assert Update(withdrawn=(b"\x00",)).end_of_rib is None
    assert Update(attributes=BASE).end_of_rib is None


def test_ipv6_update_through_mp_reach() -> None:
    mp = MpReachNlri(
        2, 1, (IPv6Address("2001:db8::1"), IPv6Address("fe80::1")), (key("2001:db8:1::/48"),)
    )
    update = Update(attributes=V6.replace(mp))
    message = encode_update(update, IBGP)
    result = decode_update(split(message), IBGP)
    assert result.action is ErrorAction.NONE, result.issues
    assert result.update == update
    assert result.update.attributes.mp_reach == mp


def test_add_path_classic_fields() -> None:
    # RFC 7911 §3: ids precede each prefix in withdrawn routes and NLRI.
    update = Update((key("10.9.0.0/16"),), BASE, (key("10.0.0.0/24"),), (4,), (7,))
    message = encode_update(update, ADD_PATH)
    body = split(message)
    assert body[2:9] == bytes.fromhex("00000004100a09")
    assert decode_update(body, ADD_PATH).update == update
    # Without ADD-PATH negotiated for receive, the same bytes are a different (bad) NLRI field.
    with pytest.raises(RemoteProtocolError):
        decode_update(body, IBGP)


def test_add_path_mp_reach() -> None:
    mp = MpReachNlri(2, 1, (IPv6Address("2001:db8::1"),), (key("2001:db8::/32"),), (9,))
    update = Update(attributes=V6.replace(mp))
    assert decode_update(split(encode_update(update, ADD_PATH)), ADD_PATH).update == update


def test_encode_refuses_too_long() -> None:
    many = tuple(key(f"10.{i // 256}.{i % 256}.0/24") for i in range(1100))
    with pytest.raises(LocalProtocolError):
        encode_update(Update((), BASE, many), IBGP)
    extended = Negotiated(extended_message=True, local_as=65000, peer_as=65000)
    assert len(encode_update(Update((), BASE, many), extended)) > 4096  # RFC 8654


def test_pack_ipv4_never_mixes_withdrawals_and_announcements() -> None:
    # RFC 7606 §5.1: "An UPDATE message MUST NOT contain more than one of the following:
    # non-empty Withdrawn Routes field, non-empty Network Layer Reachability Information field,
    # MP_REACH_NLRI attribute, and MP_UNREACH_NLRI attribute."
    withdraw = [key("10.9.0.0/16")]
    announce = [key("10.0.0.0/24"), key("10.1.0.0/24")]
    messages = pack_update_messages(IPV4_UNICAST, BASE, announce, withdraw, IBGP)
    assert len(messages) == 2
    first, second = (decode_update(split(m), IBGP).update for m in messages)
    assert first == Update(tuple(withdraw))
    assert second == Update((), BASE, tuple(announce))


def test_pack_ipv6_uses_mp_attributes_first() -> None:
    announce = [key("2001:db8:1::/48")]
    withdraw = [key("2001:db8:2::/48")]
    messages = pack_update_messages(IPV6_UNICAST, V6, announce, withdraw, IBGP)
    updates = [decode_update(split(m), IBGP).update for m in messages]
    assert updates[0].attributes.mp_unreach == MpUnreachNlri(2, 1, tuple(withdraw))
    reach = updates[1].attributes
    assert reach.attributes[0].code == 14  # RFC 7606 §5.1: MP_REACH_NLRI first
    assert reach.mp_reach is not None and reach.mp_reach.nlri == tuple(announce)
    with pytest.raises(LocalProtocolError):
        pack_update_messages(IPV6_UNICAST, BASE, announce, (), IBGP)


def _all_prefixes(messages: list[bytes], neg: Negotiated) -> tuple[list[bytes], list[bytes]]:
    announced: list[bytes] = []
    withdrawn: list[bytes] = []
    for message in messages:
        assert len(message) <= neg.max_message_length
        update = decode_update(split(message), neg).update
        announced += update.nlri
        withdrawn += update.withdrawn
        if update.attributes.mp_reach:
            announced += update.attributes.mp_reach.nlri
        if update.attributes.mp_unreach:
            withdrawn += update.attributes.mp_unreach.withdrawn
    return announced, withdrawn


def v4_key(addr: int, plen: int) -> bytes:
    addr &= (0xFFFFFFFF << (32 - plen)) & 0xFFFFFFFF
    return bytes((plen,)) + addr.to_bytes(4, "big")[: (plen + 7) >> 3]


def v6_key(addr: int, plen: int) -> bytes:
    addr &= ((1 << 128) - 1) ^ ((1 << (128 - plen)) - 1)
    return bytes((plen,)) + addr.to_bytes(16, "big")[: (plen + 7) >> 3]


v4_keys = st.lists(st.builds(v4_key, st.integers(0, 2**32 - 1), st.integers(0, 32)), max_size=3000)
v6_keys = st.lists(
    st.builds(v6_key, st.integers(0, 2**128 - 1), st.integers(0, 128)), max_size=1500
)


@settings(max_examples=60, deadline=None)
@given(v4_keys, v4_keys, st.sampled_from([IBGP, ADD_PATH]), st.integers(0, 200))
def test_pack_ipv4_respects_max_length_and_loses_nothing(
    announce: list[bytes], withdraw: list[bytes], neg: Negotiated, communities: int
) -> None:
    attrs = BASE.replace(Communities(tuple(range(communities)))) if communities else BASE
    messages = pack_update_messages(IPV4_UNICAST, attrs, announce, withdraw, neg)
    announced, withdrawn = _all_prefixes(messages, neg)
    assert announced == announce and withdrawn == withdraw
    # As few as the length allows: greedy packing, so the first prefix of each message would not
    # have fitted in the one before it.
    width = 4 if neg is ADD_PATH else 0
    for before, after in pairwise(messages):
        prior = decode_update(split(before), neg).update
        following = decode_update(split(after), neg).update
        first = following.withdrawn[0] if following.withdrawn else following.nlri[0]
        if following.withdrawn or prior.nlri:
            assert len(before) + len(first) + width > neg.max_message_length


@settings(max_examples=40, deadline=None)
@given(v6_keys, v6_keys, st.sampled_from([IBGP, ADD_PATH]))
def test_pack_ipv6_respects_max_length_and_loses_nothing(
    announce: list[bytes], withdraw: list[bytes], neg: Negotiated
) -> None:
    messages = pack_update_messages(IPV6_UNICAST, V6, announce, withdraw, neg)
    announced, withdrawn = _all_prefixes(messages, neg)
    assert announced == announce and withdrawn == withdraw


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.builds(v4_key, st.integers(0, 2**32 - 1), st.integers(0, 32)), max_size=20),
    st.lists(st.builds(v4_key, st.integers(0, 2**32 - 1), st.integers(0, 32)), max_size=20),
    st.lists(st.integers(1, 2**32 - 1), min_size=1, max_size=5),  # AS 0: RFC 7607 §2
    st.booleans(),
)
def test_update_round_trip(
    withdrawn: list[bytes], nlri: list[bytes], path: list[int], add_path: bool
) -> None:
    neg = ADD_PATH if add_path else IBGP
    attrs = BASE.replace(AsPath((AsPathSegment(2, tuple(path)),))) if nlri else PathAttributes()
    update = Update(
        tuple(withdrawn),
        attrs,
        tuple(nlri),
        tuple(range(len(withdrawn))) if add_path and withdrawn else None,
        tuple(range(len(nlri))) if add_path and nlri else None,
    )
    message = encode_update(update, neg)
    result = decode_update(split(message), neg)
    assert result.action is ErrorAction.NONE, result.issues
    assert result.update == update
    assert encode_update(result.update, neg) == message


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=120), st.sampled_from([IBGP, EBGP, TWO_OCTET, ADD_PATH]))
def test_arbitrary_bytes_raise_only_remote_protocol_error(body: bytes, neg: Negotiated) -> None:
    try:
        result = decode_update(body, neg)
    except RemoteProtocolError as exc:
        assert exc.code == 3
        return
    assert isinstance(result.action, ErrorAction)
    assert result.action is not ErrorAction.SESSION_RESET


attribute_header = st.tuples(
    st.sampled_from([0x40, 0x50, 0x80, 0x90, 0xC0, 0xD0, 0xE0, 0x00]),
    st.sampled_from([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 14, 15, 16, 17, 18, 32, 35, 99]),
    st.binary(max_size=40),
)


@settings(max_examples=500, deadline=None)
@given(
    st.lists(attribute_header, max_size=6),
    st.binary(max_size=12),
    st.sampled_from([IBGP, EBGP, TWO_OCTET, ADD_PATH]),
)
def test_structured_garbage_raises_only_remote_protocol_error(
    attributes: list[tuple[int, int, bytes]], nlri: bytes, neg: Negotiated
) -> None:
    # Well-framed attribute headers around random values reach every per-attribute decoder.
    block = b""
    for flags, code, value in attributes:
        if flags & 0x10:
            block += bytes((flags, code)) + len(value).to_bytes(2, "big") + value
        else:
            block += bytes((flags, code, len(value))) + value
    body = b"\x00\x00" + len(block).to_bytes(2, "big") + block + nlri
    try:
        result = decode_update(body, neg)
    except RemoteProtocolError as exc:
        assert exc.code == 3
        return
    # Whatever was accepted re-encodes and decodes to the same values.
    again = decode_update(split(encode_update(result.update, neg)), neg)
    assert again.update.nlri == result.update.nlri
    assert decode_prefixes(b"".join(result.update.nlri), 1)[0] == result.update.nlri


def test_pack_ipv4_with_rfc8950_ipv6_next_hop_uses_mp_reach() -> None:
    # RFC 8950: IPv4 NLRI with an IPv6 next hop travel in MP_REACH_NLRI (AFI 1, SAFI 1).
    attrs = V6.replace(MpReachNlri(1, 1, (IPv6Address("2001:db8::1"),)))
    announce = [key("10.0.0.0/24"), key("10.0.1.0/24")]
    messages = pack_update_messages(IPV4_UNICAST, attrs, announce, (), IBGP)
    # RFC 7606 §7.11: the receiver expects a 16-octet IPv4 next hop only with RFC 8950 on.
    enh = Negotiated(
        families=IBGP.families, local_as=65000, peer_as=65000,
        extended_next_hop=frozenset({IPV4_UNICAST}),
    )  # fmt: skip
    update = decode_update(split(messages[0]), enh).update
    assert update.nlri == ()
    assert update.attributes.mp_reach == MpReachNlri(
        1, 1, (IPv6Address("2001:db8::1"),), tuple(announce)
    )


def test_pack_classic_drops_other_family_templates() -> None:
    messages = pack_update_messages(IPV4_UNICAST, BASE.replace(*V6.attributes), [key("10.0.0.0/8")],
                                    (), IBGP)  # fmt: skip
    update = decode_update(split(messages[0]), IBGP).update
    assert update.attributes.mp_reach is None and update.nlri == (key("10.0.0.0/8"),)


def test_mp_unreach_with_prefixes_is_not_end_of_rib() -> None:
    update = Update(attributes=PathAttributes((MpUnreachNlri(2, 1, (key("2001:db8::/32"),)),)))
    assert update.end_of_rib is None
    assert decode_update(split(encode_update(update, IBGP)), IBGP).update == update

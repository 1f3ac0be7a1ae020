"""Message framing: RFC 4271 §4.1 header, §6.1 Message Header Error handling, RFC 8654 lengths."""

from __future__ import annotations

import itertools
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pybgp.wire import (
    LocalProtocolError,
    MessageReader,
    RawMessage,
    RemoteProtocolError,
    encode_message,
)
from pybgp.wire.framing import MIN_LENGTHS

HYPOTHESIS = settings(max_examples=300, deadline=None)

MARKER = "ff" * 16


def hexv(text: str) -> bytes:
    """Bytes from annotated hex: everything after '#' on a line is a comment."""
    return bytes.fromhex("".join(line.split("#", 1)[0] for line in text.splitlines()))


KEEPALIVE = hexv(MARKER + "0013 04  # Length 19, Type 4 KEEPALIVE")


def header_error(data: bytes, max_length: int = 4096) -> RemoteProtocolError:
    with pytest.raises(RemoteProtocolError) as info:
        MessageReader(max_length).feed(data)
    assert info.value.is_header_error
    return info.value


# --- happy paths -------------------------------------------------------------------------------


def test_keepalive() -> None:
    """RFC 4271 §4.4: a KEEPALIVE is the 19-octet header alone."""
    assert MessageReader().feed(KEEPALIVE) == [RawMessage(4, b"")]


def test_partial_message_waits_for_more() -> None:
    reader = MessageReader()
    assert reader.feed(KEEPALIVE[:10]) == []
    assert reader.buffered == 10
    assert reader.feed(KEEPALIVE[10:] + KEEPALIVE[:5]) == [RawMessage(4, b"")]
    assert reader.buffered == 5
    assert reader.feed(KEEPALIVE[5:]) == [RawMessage(4, b"")]
    assert reader.buffered == 0


def test_one_byte_at_a_time() -> None:
    stream = KEEPALIVE + encode_message(2, b"\x00\x00\x00\x00") + encode_message(3, b"\x06\x02")
    reader = MessageReader()
    out: list[RawMessage] = []
    for i in range(len(stream)):
        out.extend(reader.feed(stream[i : i + 1]))
    assert out == [RawMessage(4, b""), RawMessage(2, bytes(4)), RawMessage(3, b"\x06\x02")]


def test_megabyte_at_once_is_linear() -> None:
    """A megabyte of small messages fed at once: all come out, in order, without an O(n^2)
    buffer (repeated slicing would copy tens of gigabytes here and not finish in time)."""
    update = encode_message(2, bytes(4) + b"\x18\x0a\x00\x00")
    unit = KEEPALIVE + update
    count = (1 << 20) // len(unit) + 1
    reader = MessageReader()
    messages = reader.feed(unit * count)
    assert len(messages) == 2 * count
    assert messages[-1] == RawMessage(2, update[19:])
    assert reader.buffered == 0


def test_extended_message_length_accepted_after_rfc8654() -> None:
    """RFC 8654 §4: up to 65535 octets once extended messages are negotiated."""
    big = encode_message(2, bytes(4) + bytes(60000))
    assert big[16:18] == struct.pack("!H", 60023)
    error = header_error(big)
    assert (error.subcode, error.data) == (2, struct.pack("!H", 60023))
    reader = MessageReader()
    reader.max_length = 65535
    assert reader.feed(big) == [RawMessage(2, big[19:])]


def test_encode_message() -> None:
    """RFC 4271 §4.1: marker, length, type."""
    assert encode_message(4, b"") == KEEPALIVE
    assert RawMessage(4, b"").encode() == KEEPALIVE
    with pytest.raises(LocalProtocolError):
        encode_message(2, bytes(65535 - 18))
    with pytest.raises(LocalProtocolError):
        encode_message(256, b"")


# --- RFC 4271 §6.1 errors ----------------------------------------------------------------------


def test_bad_marker() -> None:
    """RFC 4271 §6.1: marker not all ones -> 1/1 Connection Not Synchronized."""
    data = hexv("""
        ffffffffffffffffffffffffffffff fe  # Marker, last octet 0xfe
        0013 04                            # Length 19, KEEPALIVE
    """)
    error = header_error(data)
    assert (error.code, error.subcode, error.data) == (1, 1, b"")


@pytest.mark.parametrize("length", [0, 18])
def test_length_below_19(length: int) -> None:
    """RFC 4271 §6.1: Length < 19 -> 1/2, data = the erroneous Length field."""
    data = hexv(MARKER + f"{length:04x} 04  # Length {length}, KEEPALIVE")
    error = header_error(data)
    assert (error.code, error.subcode, error.data) == (1, 2, struct.pack("!H", length))


def test_length_above_4096() -> None:
    """RFC 4271 §6.1: Length > 4096 without RFC 8654 -> 1/2; found from the header alone."""
    data = hexv(MARKER + "1001 02  # Length 4097, UPDATE (body not sent yet)")
    error = header_error(data)
    assert (error.code, error.subcode, error.data) == (1, 2, b"\x10\x01")


def test_bad_type() -> None:
    """RFC 4271 §6.1: unknown Type -> 1/3, data = the erroneous Type field."""
    data = hexv(MARKER + "0013 06  # Length 19, Type 6 (unknown)")
    error = header_error(data)
    assert (error.code, error.subcode, error.data) == (1, 3, b"\x06")


def test_bad_type_zero() -> None:
    error = header_error(hexv(MARKER + "0013 00  # Type 0"))
    assert (error.subcode, error.data) == (3, b"\x00")


@pytest.mark.parametrize(
    ("mtype", "length"),
    [
        (4, 20),  # RFC 4271 §4.4: KEEPALIVE exactly 19
        (1, 28),  # RFC 4271 §4.2: OPEN at least 29
        (2, 22),  # RFC 4271 §4.3: UPDATE at least 23
        (3, 20),  # RFC 4271 §4.5: NOTIFICATION at least 21
        (5, 22),  # RFC 2918 §3: ROUTE-REFRESH exactly 23
    ],
)
def test_length_illegal_for_type(mtype: int, length: int) -> None:
    """RFC 4271 §6.1: Length not allowed for the Type -> 1/2 with the length as data."""
    data = hexv(MARKER + f"{length:04x} {mtype:02x}") + bytes(length - 19)
    error = header_error(data)
    assert (error.code, error.subcode, error.data) == (1, 2, struct.pack("!H", length))


@pytest.mark.parametrize("mtype", [1, 2, 3, 4, 5])
def test_minimum_lengths_accepted(mtype: int) -> None:
    length = MIN_LENGTHS[mtype]
    data = encode_message(mtype, bytes(length - 19))
    assert MessageReader().feed(data) == [RawMessage(mtype, bytes(length - 19))]


def test_route_refresh_too_long_normal_subtype() -> None:
    """RFC 2918 §3: a 24-octet ROUTE-REFRESH with subtype 0 -> 1/2."""
    data = hexv(
        MARKER
        + """
        0018 05     # Length 24, ROUTE-REFRESH
        0001 00 01  # AFI 1, Subtype 0, SAFI 1
        00          # one octet too many
    """
    )
    error = header_error(data)
    assert (error.code, error.subcode, error.data) == (1, 2, b"\x00\x18")


def test_route_refresh_rfc7313_subtype_passes_framing() -> None:
    """RFC 7313 §5: BoRR of the wrong length is not a header error; the decoder answers 7/1."""
    data = hexv(MARKER + "0018 05  0001 01 01  00  # BoRR, one octet too many")
    assert MessageReader().feed(data) == [RawMessage(5, hexv("0001 01 01 00"))]


def test_open_above_4096_even_with_extended_messages() -> None:
    """RFC 8654 §3: OPEN stays within 4096 octets."""
    data = hexv(MARKER + "1001 01  # Length 4097, OPEN")
    error = header_error(data, max_length=65535)
    assert (error.subcode, error.data) == (2, b"\x10\x01")


def test_header_checked_before_body_arrives() -> None:
    """The error comes as soon as the 19-octet header is in."""
    reader = MessageReader()
    with pytest.raises(RemoteProtocolError):
        reader.feed(hexv(MARKER + "0fff 09  # Length 4095, Type 9"))


def test_reader_stays_failed() -> None:
    reader = MessageReader()
    with pytest.raises(RemoteProtocolError) as first:
        reader.feed(b"\x00" * 19)
    with pytest.raises(RemoteProtocolError) as second:
        reader.feed(KEEPALIVE)
    assert second.value is first.value


# --- Hypothesis ---------------------------------------------------------------------------------


@st.composite
def valid_messages(draw: st.DrawFn) -> bytes:
    mtype = draw(st.sampled_from([1, 2, 3, 4, 5]))
    if mtype == 4:
        body = b""
    elif mtype == 5:
        body = draw(st.binary(min_size=4, max_size=4).filter(lambda b: b[2] not in (1, 2)))
    else:
        body = draw(st.binary(min_size=MIN_LENGTHS[mtype] - 19, max_size=64))
    return encode_message(mtype, body)


@st.composite
def stream_and_cuts(draw: st.DrawFn) -> tuple[bytes, list[int]]:
    stream = b"".join(draw(st.lists(valid_messages(), max_size=12)))
    cuts = sorted(draw(st.lists(st.integers(0, len(stream)), max_size=10)))
    return stream, cuts


def feed_in_pieces(stream: bytes, cuts: list[int]) -> list[RawMessage]:
    reader = MessageReader()
    out: list[RawMessage] = []
    bounds = [0, *cuts, len(stream)]
    for start, end in itertools.pairwise(bounds):
        out.extend(reader.feed(stream[start:end]))
    assert reader.buffered == 0
    return out


@HYPOTHESIS
@given(stream_and_cuts())
def test_chunking_invariance(case: tuple[bytes, list[int]]) -> None:
    """Any split of a stream of valid messages yields the same messages."""
    stream, cuts = case
    whole = MessageReader().feed(stream)
    assert feed_in_pieces(stream, cuts) == whole
    assert b"".join(m.encode() for m in whole) == stream


def error_of(stream: bytes, cuts: list[int]) -> tuple[int, int, bytes] | None:
    reader = MessageReader()
    bounds = [0, *cuts, len(stream)]
    try:
        for start, end in itertools.pairwise(bounds):
            reader.feed(stream[start:end])
    except RemoteProtocolError as exc:
        return (exc.code, exc.subcode, exc.data)
    return None


@HYPOTHESIS
@given(
    st.binary(max_size=200).flatmap(
        lambda b: st.tuples(st.just(b), st.lists(st.integers(0, len(b)), max_size=6).map(sorted))
    )
)
def test_arbitrary_bytes_raise_only_header_errors(case: tuple[bytes, list[int]]) -> None:
    """Random bytes, cut anywhere: only RemoteProtocolError 1/x, and the same one however cut."""
    data, cuts = case
    whole = error_of(data, [])
    assert whole is None or whole[0] == 1
    assert error_of(data, cuts) == whole


@HYPOTHESIS
@given(st.lists(valid_messages(), max_size=4), st.binary(max_size=40))
def test_valid_prefix_then_garbage(messages: list[bytes], garbage: bytes) -> None:
    """Messages before garbage are delivered when fed separately; garbage raises 1/x only."""
    reader = MessageReader()
    out = reader.feed(b"".join(messages))
    assert [m.encode() for m in out] == messages
    try:
        reader.feed(garbage)
    except RemoteProtocolError as exc:
        assert exc.code == 1

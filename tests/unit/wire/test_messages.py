"""decode_message / encode dispatch over every message type (RFC 4271 §4)."""

from __future__ import annotations

from ipaddress import IPv4Address
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pybgp.wire import (
    DEFAULT_NEGOTIATED,
    KEEPALIVE_MESSAGE,
    Keepalive,
    MessageReader,
    Notification,
    Open,
    RawMessage,
    RemoteProtocolError,
    RouteRefresh,
    RouteRefreshCapability,
    Update,
    UpdateResult,
    decode_message,
    encode,
)
from pybgp.wire.messages import decode_keepalive

HYPOTHESIS = settings(max_examples=300, deadline=None)

VECTORS = Path(__file__).resolve().parents[2] / "vectors"


def test_keepalive_constant() -> None:
    """RFC 4271 §4.4: marker, length 19, type 4."""
    expected = bytes.fromhex("ff" * 16 + "0013 04")
    assert expected == KEEPALIVE_MESSAGE
    assert encode(Keepalive()) == KEEPALIVE_MESSAGE
    [raw] = MessageReader().feed(KEEPALIVE_MESSAGE)
    assert decode_message(raw, DEFAULT_NEGOTIATED) == Keepalive()


def test_keepalive_with_body_is_bad_length() -> None:
    """RFC 4271 §6.1: a KEEPALIVE longer than 19 octets -> 1/2."""
    with pytest.raises(RemoteProtocolError) as info:
        decode_keepalive(b"\x00")
    assert (info.value.code, info.value.subcode, info.value.data) == (1, 2, b"\x00\x14")


@pytest.mark.parametrize(
    "message",
    [
        Keepalive(),
        Notification(6, 2, b"\x03bye"),
        RouteRefresh(2, 1, 1),
        Open.create(65000, 90, IPv4Address("10.0.0.1"), (RouteRefreshCapability(),)),
    ],
    ids=lambda m: type(m).__name__,
)
def test_encode_decode_dispatch(message: Keepalive | Notification | RouteRefresh | Open) -> None:
    wire = encode(message, DEFAULT_NEGOTIATED)
    [raw] = MessageReader().feed(wire)
    assert decode_message(raw, DEFAULT_NEGOTIATED) == message


@pytest.mark.parametrize(
    "path",
    sorted(VECTORS.glob("*_update_*.hex")) + sorted(VECTORS.glob("*_open_*.hex")),
    ids=lambda p: p.stem,
)
def test_vectors_through_dispatch(path: Path) -> None:
    """Every captured message decodes through decode_message and re-encodes byte exact."""
    wire = bytes.fromhex(path.read_text().strip())
    [raw] = MessageReader().feed(wire)
    decoded = decode_message(raw, DEFAULT_NEGOTIATED)
    if isinstance(decoded, UpdateResult):
        assert isinstance(decoded.update, Update)
        assert encode(decoded.update, DEFAULT_NEGOTIATED) == wire
    else:
        assert isinstance(decoded, Open)
        assert encode(decoded, DEFAULT_NEGOTIATED) == wire


def test_unknown_type_in_raw_message() -> None:
    """RFC 4271 §6.1: 1/3 with the type octet as data."""
    with pytest.raises(RemoteProtocolError) as info:
        decode_message(RawMessage(9, b""), DEFAULT_NEGOTIATED)
    assert (info.value.code, info.value.subcode, info.value.data) == (1, 3, b"\x09")


@HYPOTHESIS
@given(st.integers(0, 255), st.binary(max_size=120))
def test_arbitrary_messages_raise_only_protocol_errors(mtype: int, body: bytes) -> None:
    try:
        decoded = decode_message(RawMessage(mtype, body), DEFAULT_NEGOTIATED)
    except RemoteProtocolError as exc:
        assert 1 <= exc.code <= 7
        return
    assert isinstance(decoded, (Open, UpdateResult, Notification, Keepalive, RouteRefresh))


@HYPOTHESIS
@given(st.binary(max_size=400))
def test_arbitrary_stream_end_to_end(data: bytes) -> None:
    """Framing + decoding of random bytes: only RemoteProtocolError, never a hang."""
    decoded = []
    try:
        for raw in MessageReader().feed(data):
            decoded.append(decode_message(raw, DEFAULT_NEGOTIATED))
    except RemoteProtocolError as exc:
        assert 1 <= exc.code <= 7
        return
    assert len(decoded) <= len(data) // 19

"""NOTIFICATION (RFC 4271 §4.5) and the shutdown communication (RFC 8203, RFC 9003)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pybgp.wire import (
    CeaseSubcode,
    LocalProtocolError,
    MessageReader,
    Notification,
    RawMessage,
    RemoteProtocolError,
    decode_notification,
    encode_notification,
)

HYPOTHESIS = settings(max_examples=300, deadline=None)

MARKER = "ff" * 16


def hexv(text: str) -> bytes:
    """Bytes from annotated hex: everything after '#' on a line is a comment."""
    return bytes.fromhex("".join(line.split("#", 1)[0] for line in text.splitlines()))


def test_hold_timer_expired_vector() -> None:
    """RFC 4271 §4.5: code, subcode, no data."""
    wire = hexv(
        MARKER
        + """
        0015 03     # Length 21, NOTIFICATION
        04 00       # Error code 4 Hold Timer Expired, subcode 0
    """
    )
    [raw] = MessageReader().feed(wire)
    notification = decode_notification(raw.body)
    assert notification == Notification(4, 0)
    assert notification.describe() == "Hold Timer Expired"
    assert encode_notification(notification) == wire


def test_shutdown_communication_vector() -> None:
    """RFC 9003 §2: Cease/Administrative Shutdown, length octet + UTF-8 message."""
    wire = hexv(
        MARKER
        + """
        0022 03             # Length 34, NOTIFICATION
        06 02               # Cease, Administrative Shutdown
        0c                  # Shutdown Communication length 12
        6d61696e74656e616e6365 21  # "maintenance!"
    """
    )
    notification = decode_notification(wire[19:])
    assert notification.shutdown_message == "maintenance!"
    assert notification.describe() == 'Cease: administrative shutdown: "maintenance!"'
    assert Notification.shutdown(CeaseSubcode.ADMINISTRATIVE_SHUTDOWN, "maintenance!") == (
        notification
    )
    assert encode_notification(notification) == wire


def test_shutdown_on_administrative_reset() -> None:
    """RFC 9003 §2 covers subcode 4 (Administrative Reset) too."""
    notification = Notification(6, 4, hexv("03 616263  # 'abc'"))
    assert notification.shutdown_message == "abc"


def test_empty_shutdown_communication() -> None:
    notification = Notification.shutdown(2, "")
    assert notification.data == b"\x00"
    assert notification.shutdown_message == ""
    assert notification.describe() == "Cease: administrative shutdown"


def test_shutdown_message_of_255_octets() -> None:
    """RFC 9003 §2: up to 255 octets (RFC 8203 had 128)."""
    text = "x" * 255
    notification = decode_notification(hexv("06 02 ff") + text.encode())
    assert notification.shutdown_message == text


def test_shutdown_truncates_on_character_boundary() -> None:
    """An over-long message is cut at 255 octets without splitting a UTF-8 character."""
    notification = Notification.shutdown(2, "é" * 200)  # 400 octets
    assert notification.data[0] == 254
    assert notification.shutdown_message == "é" * 127


def test_invalid_utf8_keeps_raw_data() -> None:
    """RFC 9003 §2: invalid UTF-8 is not an error; the raw data is kept, no message."""
    body = hexv("06 02  02 c328  # length 2, invalid UTF-8 sequence")
    notification = decode_notification(body)
    assert notification.shutdown_message is None
    assert notification.data == hexv("02 c328")
    assert "02c328" in notification.describe()


def test_length_overrunning_data_keeps_raw_data() -> None:
    """RFC 9003 §2: a length beyond the data is not an error either."""
    notification = decode_notification(hexv("06 02  10 6869  # length 16, 2 octets"))
    assert notification.shutdown_message is None
    assert notification.data == hexv("10 6869")


def test_no_shutdown_message_for_other_codes() -> None:
    assert Notification(6, 3, b"\x01a").shutdown_message is None  # Peer De-configured
    assert Notification(2, 2, b"\x01a").shutdown_message is None
    assert Notification(6, 2).shutdown_message is None


def test_describe_with_data() -> None:
    assert Notification(1, 2, b"\x00\x12").describe() == (
        "Message Header: bad message length (data 0012)"
    )
    assert Notification(99, 1).describe() == "error 99/1"


def test_from_error() -> None:
    error = RemoteProtocolError(1, 3, b"\x09", "unknown message type 9")
    assert Notification.from_error(error) == Notification(1, 3, b"\x09")


def test_short_body_is_bad_length() -> None:
    """RFC 4271 §6.1: a NOTIFICATION shorter than 21 octets -> 1/2."""
    with pytest.raises(RemoteProtocolError) as info:
        decode_notification(b"\x06")
    assert (info.value.code, info.value.subcode, info.value.data) == (1, 2, b"\x00\x14")


def test_encode_truncates_data_to_max_length() -> None:
    """RFC 8654 §5: a NOTIFICATION must fit the peer's maximum message size."""
    notification = Notification(3, 1, bytes(5000))
    assert len(encode_notification(notification)) == 4096
    assert len(encode_notification(notification, max_length=65535)) == 5021


def test_encode_out_of_range() -> None:
    with pytest.raises(LocalProtocolError):
        encode_notification(Notification(256, 0))


notifications = st.builds(
    Notification, st.integers(0, 255), st.integers(0, 255), st.binary(max_size=300)
)


@HYPOTHESIS
@given(notifications)
def test_round_trip(notification: Notification) -> None:
    wire = encode_notification(notification)
    [raw] = MessageReader().feed(wire)
    assert raw == RawMessage(3, wire[19:])
    decoded = decode_notification(raw.body)
    assert decoded == notification
    assert isinstance(decoded.describe(), str)


@HYPOTHESIS
@given(st.sampled_from([2, 4]), st.text(max_size=300))
def test_shutdown_round_trip(subcode: int, text: str) -> None:
    notification = Notification.shutdown(subcode, text)
    decoded = decode_notification(encode_notification(notification)[19:])
    message = decoded.shutdown_message
    assert message is not None
    assert len(message.encode()) <= 255
    if len(text.encode("utf-8", "replace")) <= 255 and text.isprintable():
        assert message == text


@HYPOTHESIS
@given(st.binary(max_size=300))
def test_arbitrary_bytes(body: bytes) -> None:
    """Only RemoteProtocolError, and shutdown_message/describe never raise."""
    try:
        notification = decode_notification(body)
    except RemoteProtocolError as exc:
        assert (exc.code, exc.subcode) == (1, 2)
        return
    assert notification.data == body[2:]
    _ = notification.shutdown_message
    assert notification.describe()

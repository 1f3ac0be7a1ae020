"""BFD Control packet codec (RFC 5880 §4.1) and its session-free §6.8.6 discard rules."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pybgp.bfd import (
    BfdPacketError,
    BfdState,
    ControlPacket,
    Diagnostic,
    decode_control,
    encode_control,
)

# A first packet as a system in Down sends it (the shape BIRD and FRR send before any reply).
DOWN_HELLO = bytes.fromhex(
    "20"  # Vers 1 (001), Diag 0 (00000)
    "40"  # Sta Down (01), P 0, F 0, C 0, A 0, D 0, M 0
    "03"  # Detect Mult 3
    "18"  # Length 24
    "12345678"  # My Discriminator
    "00000000"  # Your Discriminator: unknown yet
    "000f4240"  # Desired Min TX 1,000,000 µs (the slow rate while not Up, §6.8.3)
    "000493e0"  # Required Min RX 300,000 µs
    "00000000"  # Required Min Echo RX 0: no Echo
)

# Up with Poll, after a detection timeout earlier (Diag 1), control-plane independent.
UP_POLL = bytes.fromhex(
    "21"  # Vers 1, Diag 1 (Control Detection Time Expired)
    "e8"  # Sta Up (11), P 1, F 0, C 1, A 0, D 0, M 0
    "05"  # Detect Mult 5
    "18"  # Length 24
    "00000001"  # My Discriminator 1
    "fffffffe"  # Your Discriminator 4294967294
    "000186a0"  # Desired Min TX 100,000 µs
    "0003d090"  # Required Min RX 250,000 µs
    "00000000"  # Required Min Echo RX 0
)


def test_decode_down_hello() -> None:
    packet = decode_control(DOWN_HELLO)
    assert packet == ControlPacket(
        state=BfdState.DOWN,
        my_discriminator=0x12345678,
        your_discriminator=0,
        diagnostic=Diagnostic.NO_DIAGNOSTIC,
        detect_mult=3,
        desired_min_tx=1_000_000,
        required_min_rx=300_000,
    )
    assert encode_control(packet) == DOWN_HELLO


def test_decode_up_with_poll_and_c_bit() -> None:
    packet = decode_control(UP_POLL)
    assert packet.state is BfdState.UP
    assert packet.diagnostic == Diagnostic.CONTROL_DETECTION_TIME_EXPIRED
    assert (packet.poll, packet.final, packet.control_plane_independent) == (True, False, True)
    assert (packet.authentication, packet.demand, packet.multipoint) == (False, False, False)
    assert packet.detect_mult == 5
    assert (packet.my_discriminator, packet.your_discriminator) == (1, 0xFFFFFFFE)
    assert (packet.desired_min_tx, packet.required_min_rx) == (100_000, 250_000)
    assert encode_control(packet) == UP_POLL


def test_final_bit_and_admin_down() -> None:
    packet = ControlPacket(
        state=BfdState.ADMIN_DOWN,
        diagnostic=Diagnostic.ADMINISTRATIVELY_DOWN,
        my_discriminator=7,
        final=True,
    )
    data = encode_control(packet)
    assert data[:2] == bytes([0x27, 0x10])  # Vers 1 Diag 7; Sta AdminDown (00), F bit
    assert decode_control(data) == packet


def test_bytes_beyond_length_are_ignored() -> None:
    assert decode_control(DOWN_HELLO + b"\x00\x00") == decode_control(DOWN_HELLO)


def _with(data: bytes, offset: int, value: int) -> bytes:
    changed = bytearray(data)
    changed[offset] = value
    return bytes(changed)


# One case per RFC 5880 §6.8.6 rule that needs only the packet.
DISCARDED = [
    (DOWN_HELLO[:23], "shorter than a Control packet"),
    (_with(DOWN_HELLO, 0, 0x40), "version 2 is not 1"),
    (_with(DOWN_HELLO, 3, 23), "Length 23 is less than the minimum (24)"),
    (_with(_with(DOWN_HELLO, 1, 0x44), 3, 24), "minimum (26 with the A bit set)"),
    (_with(DOWN_HELLO, 3, 28), "Length 28 is greater than the payload (24 bytes)"),
    (_with(DOWN_HELLO, 2, 0), "Detect Mult is zero"),
    (_with(DOWN_HELLO, 1, 0x41), "Multipoint (M) bit is set"),
    (DOWN_HELLO[:4] + bytes(4) + DOWN_HELLO[8:], "My Discriminator is zero"),
    (_with(DOWN_HELLO, 1, 0x80), "Your Discriminator is zero and State is Init"),
    (_with(DOWN_HELLO, 1, 0xC0), "Your Discriminator is zero and State is Up"),
]


@pytest.mark.parametrize(("data", "words"), DISCARDED)
def test_discard_rules(data: bytes, words: str) -> None:
    with pytest.raises(BfdPacketError, match=r"RFC 5880 §6\.8\.6") as caught:
        decode_control(data)
    assert words in str(caught.value)


def test_zero_your_discriminator_in_admin_down_is_kept() -> None:
    assert decode_control(_with(DOWN_HELLO, 1, 0x00)).state is BfdState.ADMIN_DOWN


@given(st.binary(max_size=64))
def test_random_bytes_raise_only_packet_errors(data: bytes) -> None:
    try:
        packet = decode_control(data)
    except BfdPacketError:
        return
    encoded = encode_control(packet)
    # Everything but Length (always 24 here: no Authentication Section) is as received.
    assert encoded[:3] + encoded[4:] == data[:3] + data[4:24]


@given(
    state=st.sampled_from(BfdState),
    diagnostic=st.integers(0, 31),
    my=st.integers(1, 2**32 - 1),
    your=st.integers(1, 2**32 - 1),
    mult=st.integers(1, 255),
    intervals=st.tuples(*[st.integers(0, 2**32 - 1)] * 3),
    bits=st.tuples(*[st.booleans()] * 4),
)
def test_round_trip(
    state: BfdState,
    diagnostic: int,
    my: int,
    your: int,
    mult: int,
    intervals: tuple[int, int, int],
    bits: tuple[bool, bool, bool, bool],
) -> None:
    packet = ControlPacket(
        state=state,
        diagnostic=diagnostic,
        my_discriminator=my,
        your_discriminator=your,
        detect_mult=mult,
        desired_min_tx=intervals[0],
        required_min_rx=intervals[1],
        required_min_echo_rx=intervals[2],
        poll=bits[0],
        final=bits[1],
        control_plane_independent=bits[2],
        demand=bits[3],
    )
    assert decode_control(encode_control(packet)) == packet

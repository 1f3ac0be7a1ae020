"""ROUTE-REFRESH (RFC 2918 §3) and the enhanced route refresh subtypes (RFC 7313)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pybgp.wire import (
    LocalProtocolError,
    MessageReader,
    RemoteProtocolError,
    RouteRefresh,
    RouteRefreshSubcode,
    decode_route_refresh,
    encode_route_refresh,
)

HYPOTHESIS = settings(max_examples=300, deadline=None)

MARKER = "ff" * 16


def hexv(text: str) -> bytes:
    """Bytes from annotated hex: everything after '#' on a line is a comment."""
    return bytes.fromhex("".join(line.split("#", 1)[0] for line in text.splitlines()))


@pytest.mark.parametrize(
    ("subtype", "name"),
    [(0, "NORMAL"), (1, "BEGIN"), (2, "END")],
)
def test_vectors(subtype: int, name: str) -> None:
    """RFC 2918 §3 / RFC 7313 §3: AFI, Message Subtype, SAFI."""
    wire = hexv(
        MARKER
        + f"""
        0017 05         # Length 23, ROUTE-REFRESH
        0002            # AFI 2 (IPv6)
        {subtype:02x}   # Message Subtype ({name})
        01              # SAFI 1 (unicast)
    """
    )
    [raw] = MessageReader().feed(wire)
    refresh = decode_route_refresh(raw.body)
    assert refresh == RouteRefresh(2, 1, RouteRefreshSubcode[name])
    assert refresh.family == (2, 1)
    assert refresh.known_subtype
    assert encode_route_refresh(refresh) == wire


def test_default_subtype_is_normal() -> None:
    assert RouteRefresh(1, 1).subtype == RouteRefreshSubcode.NORMAL


def test_unknown_subtype_decodes_for_the_caller_to_ignore() -> None:
    """RFC 7313 §5: a subtype other than 0, 1, 2 is ignored (by the session, not an error)."""
    refresh = decode_route_refresh(hexv("0001 07 01  # subtype 7"))
    assert refresh.subtype == 7
    assert not refresh.known_subtype


@pytest.mark.parametrize("subtype", [1, 2])
def test_borr_eorr_bad_length(subtype: int) -> None:
    """RFC 7313 §5: BoRR/EoRR of a length other than 23 -> 7/1, data = the whole message."""
    wire = hexv(
        MARKER
        + f"""
        0019 05         # Length 25, ROUTE-REFRESH
        0001 {subtype:02x} 01  # AFI 1, subtype BoRR/EoRR, SAFI 1
        0000            # two extra octets
    """
    )
    [raw] = MessageReader().feed(wire)
    with pytest.raises(RemoteProtocolError) as info:
        decode_route_refresh(raw.body)
    assert (info.value.code, info.value.subcode, info.value.data) == (7, 1, wire)


@pytest.mark.parametrize("body", ["", "0001", "000100", "0001000100"])
def test_normal_bad_length(body: str) -> None:
    """RFC 2918 §3 via RFC 4271 §6.1: wrong length -> 1/2, data = the message length."""
    raw = bytes.fromhex(body)
    with pytest.raises(RemoteProtocolError) as info:
        decode_route_refresh(raw)
    assert (info.value.code, info.value.subcode) == (1, 2)
    assert info.value.data == (len(raw) + 19).to_bytes(2, "big")


def test_encode_out_of_range() -> None:
    with pytest.raises(LocalProtocolError):
        encode_route_refresh(RouteRefresh(70000, 1))


@HYPOTHESIS
@given(st.builds(RouteRefresh, st.integers(0, 0xFFFF), st.integers(0, 255), st.integers(0, 255)))
def test_round_trip(refresh: RouteRefresh) -> None:
    wire = encode_route_refresh(refresh)
    assert len(wire) == 23
    [raw] = MessageReader().feed(wire)
    assert decode_route_refresh(raw.body) == refresh


@HYPOTHESIS
@given(st.binary(max_size=40))
def test_arbitrary_bytes(body: bytes) -> None:
    try:
        refresh = decode_route_refresh(body)
    except RemoteProtocolError as exc:
        assert (exc.code, exc.subcode) in ((1, 2), (7, 1))
        return
    assert encode_route_refresh(refresh)[19:] == body

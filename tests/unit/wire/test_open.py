"""OPEN message and capabilities: RFC 4271 §4.2/§6.2, RFC 5492, RFC 9072 and the capability RFCs.

Vectors are OPEN *bodies* (after the 19-octet header) written field by field.
"""

from __future__ import annotations

import itertools
from ipaddress import IPv4Address

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pybgp.wire import (
    AddPathCapability,
    AddPathEntry,
    Capability,
    EnhancedRouteRefreshCapability,
    ExtendedMessageCapability,
    ExtendedNextHopCapability,
    ExtendedNextHopEntry,
    FourOctetAsCapability,
    FqdnCapability,
    GracefulRestartCapability,
    GracefulRestartFamily,
    LocalProtocolError,
    LongLivedGracefulRestartCapability,
    MultiprotocolCapability,
    Open,
    OptionalParameter,
    RemoteProtocolError,
    RoleCapability,
    RouteRefreshCapability,
    RouteRefreshOldCiscoCapability,
    UnknownCapability,
    decode_open,
    encode_open,
    negotiate,
    validate_open,
)
from pybgp.wire.capabilities import (
    CAPABILITY_DECODERS,
    decode_capabilities,
    decode_capability,
    encode_capability,
)
from pybgp.wire.constants import AS_TRANS
from pybgp.wire.open import encode_open_body

HYPOTHESIS = settings(max_examples=300, deadline=None)

LOCAL_ID = IPv4Address("10.0.0.1")


def hexv(text: str) -> bytes:
    """Bytes from annotated hex: everything after '#' on a line is a comment."""
    return bytes.fromhex("".join(line.split("#", 1)[0] for line in text.splitlines()))


# version 4, My AS 65001, hold 90, BGP Identifier 10.0.0.2
FIXED = """
04          # Version 4
fde9        # My Autonomous System 65001
005a        # Hold Time 90
0a000002    # BGP Identifier 10.0.0.2
"""

MINIMAL = hexv(FIXED + "00  # Opt Parm Len 0")


def open_error(body: bytes, **kwargs: object) -> RemoteProtocolError:
    with pytest.raises(RemoteProtocolError) as info:
        open_ = decode_open(body)
        validate_open(open_, **kwargs)  # type: ignore[arg-type]
    return info.value


def validate(body: bytes, peer_as: int | None = 65001, local_as: int = 65000) -> None:
    validate_open(decode_open(body), peer_as=peer_as, local_router_id=LOCAL_ID, local_as=local_as)


# --- RFC 4271 §4.2 syntax -------------------------------------------------------------------


def test_minimal_open_decodes() -> None:
    """RFC 4271 §4.2: 10 fixed octets, no optional parameters."""
    open_ = decode_open(MINIMAL)
    assert open_ == Open(4, 65001, 90, IPv4Address("10.0.0.2"), ())
    assert open_.parameters == ()
    assert encode_open(open_) == hexv("ff" * 16 + "001d 01") + MINIMAL
    validate(MINIMAL)


def test_short_body_is_bad_message_length() -> None:
    """RFC 4271 §6.1: an OPEN shorter than 29 octets -> 1/2, data = the length."""
    body = hexv("04 fde9 005a 0a0000")  # BGP Identifier cut short, no Opt Parm Len
    with pytest.raises(RemoteProtocolError) as info:
        decode_open(body)
    assert (info.value.code, info.value.subcode) == (1, 2)
    assert info.value.data == (19 + 8).to_bytes(2, "big")


def test_parameters_overrun_message() -> None:
    """RFC 4271 §4.2: Opt Parm Len 8 but only 6 octets follow -> 2/0, reason says why."""
    body = hexv(
        FIXED
        + """
        08              # Opt Parm Len 8 (too long)
        02 04           # Parm Type 2 Capabilities, Parm Length 4
        41 02 0000      # 4-octet AS capability cut to 2 octets
    """
    )
    error = open_error(body)
    assert (error.code, error.subcode) == (2, 0)
    assert "optional parameters length 8" in error.reason


def test_parameters_shorter_than_message() -> None:
    """RFC 4271 §4.2: trailing octets after the parameters -> 2/0."""
    body = hexv(FIXED + "00  # Opt Parm Len 0\n ffff  # junk")
    error = open_error(body)
    assert (error.code, error.subcode) == (2, 0)


def test_parameter_overruns_region() -> None:
    """RFC 4271 §4.2: a parameter longer than the parameters region -> 2/0."""
    body = hexv(
        FIXED
        + """
        04          # Opt Parm Len 4
        02 06       # Capabilities, Parm Length 6 (only 2 octets remain)
        02 00       # route refresh
    """
    )
    error = open_error(body)
    assert (error.code, error.subcode) == (2, 0)
    assert "claims 6 octets" in error.reason


def test_capability_overruns_parameter() -> None:
    """RFC 5492 §4: a capability longer than its parameter -> 2/0."""
    body = hexv(
        FIXED
        + """
        04          # Opt Parm Len 4
        02 02       # Capabilities, Parm Length 2
        41 04       # 4-octet AS claims 4 octets, none left in the parameter
    """
    )
    error = open_error(body)
    assert (error.code, error.subcode) == (2, 0)
    assert "capability 65" in error.reason


def test_truncated_capability_header() -> None:
    """RFC 5492 §4: one octet left in a parameter is not a capability header -> 2/0."""
    body = hexv(FIXED + "03  # Opt Parm Len 3\n 02 01  # Capabilities, length 1\n 02  # code only")
    assert (open_error(body).code, open_error(body).subcode) == (2, 0)


def test_multiple_capabilities_in_one_parameter_and_several_parameters() -> None:
    """RFC 5492 §4: both groupings decode and re-encode as received."""
    body = hexv(
        FIXED
        + """
        14              # Opt Parm Len 20
        02 0a           # Capabilities, Parm Length 10
          01 04 0001 00 01  # MP IPv4 unicast
          02 00             # route refresh
          06 00             # extended message
        02 06           # Capabilities, Parm Length 6
          41 04 0000fde9    # 4-octet AS 65001
    """
    )
    open_ = decode_open(body)
    assert open_.capabilities == (
        MultiprotocolCapability(1, 1),
        RouteRefreshCapability(),
        ExtendedMessageCapability(),
        FourOctetAsCapability(65001),
    )
    assert open_.parameters == (3, 1)
    assert encode_open_body(open_) == body


def test_empty_capabilities_parameter_round_trips() -> None:
    body = hexv(FIXED + "02  # Opt Parm Len 2\n 02 00  # Capabilities, empty")
    open_ = decode_open(body)
    assert open_.capabilities == ()
    assert open_.parameters == (0,)
    assert encode_open_body(open_) == body


# --- RFC 4271 §6.2 semantic checks -----------------------------------------------------------


def test_unsupported_version() -> None:
    """RFC 4271 §6.2: version not 4 -> 2/1, data = 2-octet largest supported version (4)."""
    body = hexv("""
        03          # Version 3 (unsupported)
        fde9 005a 0a000002 00
    """)
    error = open_error(body, peer_as=65001, local_router_id=LOCAL_ID, local_as=65000)
    assert (error.code, error.subcode, error.data) == (2, 1, b"\x00\x04")


def test_bad_peer_as() -> None:
    """RFC 4271 §6.2: My Autonomous System not the configured one -> 2/2."""
    error = open_error(MINIMAL, peer_as=65002, local_router_id=LOCAL_ID, local_as=65000)
    assert (error.code, error.subcode) == (2, 2)
    assert "65001" in error.reason and "65002" in error.reason


def test_bad_peer_as_from_four_octet_capability() -> None:
    """RFC 6793 §4.1: the real AS is in the capability, AS_TRANS in My AS."""
    body = hexv("""
        04 5ba0     # Version 4, My AS 23456 (AS_TRANS)
        005a 0a000002
        08 02 06 41 04 00030d40   # Capabilities: 4-octet AS 200000
    """)
    validate(body, peer_as=200000)
    error = open_error(body, peer_as=200001, local_router_id=LOCAL_ID, local_as=65000)
    assert (error.code, error.subcode) == (2, 2)


def test_peer_as_zero_is_bad_peer_as() -> None:
    """RFC 7607 §2: AS 0 in the OPEN -> 2/2, even when any AS is accepted."""
    body = hexv("04 0000 # My AS 0\n 005a 0a000002 00")
    error = open_error(body, peer_as=None, local_router_id=LOCAL_ID, local_as=65000)
    assert (error.code, error.subcode) == (2, 2)


def test_any_peer_as_when_unconfigured() -> None:
    validate(MINIMAL, peer_as=None)


@pytest.mark.parametrize("hold", [1, 2])
def test_unacceptable_hold_time(hold: int) -> None:
    """RFC 4271 §6.2: hold time 1 or 2 seconds -> 2/6."""
    body = hexv(f"04 fde9 {hold:04x} # Hold Time {hold}\n 0a000002 00")
    error = open_error(body, peer_as=65001, local_router_id=LOCAL_ID, local_as=65000)
    assert (error.code, error.subcode) == (2, 6)


@pytest.mark.parametrize("hold", [0, 3, 65535])
def test_acceptable_hold_time(hold: int) -> None:
    """RFC 4271 §4.2: zero or at least three seconds."""
    validate(hexv(f"04 fde9 {hold:04x} 0a000002 00"))


def test_bgp_identifier_zero() -> None:
    """RFC 6286 §2.2: BGP Identifier 0 -> 2/3."""
    body = hexv("04 fde9 005a 00000000 # BGP Identifier 0.0.0.0\n 00")
    error = open_error(body, peer_as=65001, local_router_id=LOCAL_ID, local_as=65000)
    assert (error.code, error.subcode) == (2, 3)


def test_bgp_identifier_equal_to_ours_internal() -> None:
    """RFC 6286 §2.2: an iBGP peer with our own BGP Identifier -> 2/3."""
    body = hexv("04 fde8 # My AS 65000 (ours)\n 005a 0a000001 # our id 10.0.0.1\n 00")
    error = open_error(body, peer_as=65000, local_router_id=LOCAL_ID, local_as=65000)
    assert (error.code, error.subcode) == (2, 3)


def test_bgp_identifier_equal_to_ours_external_is_fine() -> None:
    """RFC 6286 §2.2: uniqueness is only required within an AS."""
    validate(hexv("04 fde9 005a 0a000001 00"), peer_as=65001, local_as=65000)


def test_unsupported_optional_parameter() -> None:
    """RFC 4271 §6.2: an optional parameter that is not Capabilities -> 2/4."""
    body = hexv(
        FIXED
        + """
        05          # Opt Parm Len 5
        01 03       # Parm Type 1 (deprecated Authentication), Parm Length 3
        aabbcc
    """
    )
    open_ = decode_open(body)
    assert open_.other_parameters == (OptionalParameter(1, b"\xaa\xbb\xcc"),)
    assert encode_open_body(open_) == body
    error = open_error(body, peer_as=65001, local_router_id=LOCAL_ID, local_as=65000)
    assert (error.code, error.subcode) == (2, 4)


# --- RFC 9072 extended optional parameters ----------------------------------------------------

EXTENDED = (
    FIXED
    + """
    ff          # Non-Ext OP Len 255
    ff          # Non-Ext OP Type 255: extended format
    0009        # Extended Opt. Parm. Length 9
    02 0006     # Capabilities, 2-octet Parm Length 6
      41 04 0000fde9   # 4-octet AS 65001
"""
)


def test_extended_parameters_decode_and_reencode() -> None:
    """RFC 9072 §2: 2-octet lengths after the 255/255 marker."""
    body = hexv(EXTENDED)
    open_ = decode_open(body)
    assert open_.extended_parameters
    assert open_.capabilities == (FourOctetAsCapability(65001),)
    assert encode_open_body(open_) == body


def test_extended_parameters_length_mismatch() -> None:
    """RFC 9072 §2: the extended length must match the message -> else 2/0."""
    body = hexv(EXTENDED)[:-1]
    error = open_error(body)
    assert (error.code, error.subcode) == (2, 0)


def test_extended_parameters_truncated_length() -> None:
    body = hexv(FIXED + "ff ff 00  # extended length cut short")
    assert open_error(body).code == 2


def test_extended_format_only_when_needed() -> None:
    """RFC 9072 §3: used only when the parameters do not fit 255 octets."""
    small = Open(4, 65001, 90, IPv4Address("10.0.0.2"), (RouteRefreshCapability(),))
    assert encode_open_body(small) == hexv(FIXED + "04 02 02 02 00")
    assert encode_open_body(attrs.evolve(small, extended_parameters=True)) == hexv(
        FIXED + "ff ff 0005 02 0002 02 00"
    )
    many = tuple(MultiprotocolCapability(1, safi) for safi in range(60))  # 60 * 8 > 255
    big = Open(4, 65001, 90, IPv4Address("10.0.0.2"), many)
    body = encode_open_body(big)
    assert body[9:11] == b"\xff\xff"  # Non-Ext OP Len and Type 255
    decoded = decode_open(body)
    assert decoded.extended_parameters
    assert decoded.capabilities == many


def test_one_parameter_over_255_octets_uses_extended_format() -> None:
    caps = tuple(UnknownCapability(200, bytes(100)) for _ in range(3))
    open_ = Open(4, 65001, 90, IPv4Address("10.0.0.2"), caps, parameters=(3,))
    decoded = decode_open(encode_open_body(open_))
    assert decoded.extended_parameters
    assert decoded.parameters == (3,)
    assert decoded.capabilities == caps


# --- capabilities ------------------------------------------------------------------------------

MALFORMED = [
    ("01 03 000100", "multiprotocol"),  # RFC 4760 §8: 4 octets
    ("02 01 00", "route refresh"),  # RFC 2918 §2: 0 octets
    ("80 01 00", "route refresh (old Cisco)"),
    ("46 01 00", "enhanced route refresh"),  # RFC 7313 §2
    ("41 02 fde9", "4-octet AS"),  # RFC 6793 §3: 4 octets
    ("40 01 00", "graceful restart"),  # RFC 4724 §3: 2 + 4k octets
    ("40 05 0078 000101", "graceful restart"),
    ("45 03 000101", "ADD-PATH"),  # RFC 7911 §4: 4k octets
    ("45 04 00010104", "ADD-PATH"),  # Send/Receive 4
    ("05 04 00010001", "extended next hop"),  # RFC 8950 §3: 6k octets
    ("06 01 00", "extended message"),  # RFC 8654 §3
    ("09 00", "BGP role"),  # RFC 9234 §4.1: 1 octet
    ("49 00", "FQDN"),
    ("49 02 05 61", "FQDN"),  # host name overruns
    ("49 04 02 7676 05", "FQDN"),  # domain overruns
    ("49 05 01 76 00 ee ee", "FQDN"),  # trailing octets
]


@pytest.mark.parametrize(("capability", "name"), MALFORMED)
def test_malformed_capability_value(capability: str, name: str) -> None:
    """Malformed capability values -> 2/0 naming the capability."""
    cap = hexv(capability)
    body = hexv(FIXED) + bytes((len(cap) + 2, 2, len(cap))) + cap
    error = open_error(body)
    assert (error.code, error.subcode) == (2, 0)
    assert f"malformed {name} capability" in error.reason


def test_unknown_capability_kept_raw() -> None:
    """RFC 5492 §3: unknown capabilities are ignored, here kept for re-encoding."""
    body = hexv(FIXED + "07 02 05 fe 03 010203   # capability 254, 3 octets")
    open_ = decode_open(body)
    assert open_.capabilities == (UnknownCapability(254, b"\x01\x02\x03"),)
    assert open_.capability(254) == UnknownCapability(254, b"\x01\x02\x03")
    assert encode_open_body(open_) == body


def test_graceful_restart_families() -> None:
    """RFC 4724 §3: restart flags/time, then per-family F bits."""
    value = hexv("""
        80b4        # R=1 N=0, Restart Time 180
        0001 01 80  # IPv4 unicast, F=1
        0002 01 00  # IPv6 unicast, F=0
    """)
    cap = decode_capability(64, value)
    assert cap == GracefulRestartCapability(
        restart_state=True,
        notification=False,
        restart_time=180,
        families=(GracefulRestartFamily(1, 1, True), GracefulRestartFamily(2, 1, False)),
    )
    assert cap.encode_value() == value


def test_add_path_modes() -> None:
    """RFC 7911 §4: 1 receive, 2 send, 3 both."""
    value = hexv("0001 01 01  0002 01 02  0001 02 03")
    cap = decode_capability(69, value)
    assert cap == AddPathCapability(
        (
            AddPathEntry(1, 1, send=False, receive=True),
            AddPathEntry(2, 1, send=True, receive=False),
            AddPathEntry(1, 2, send=True, receive=True),
        )
    )
    assert cap.encode_value() == value


def test_role_capability() -> None:
    """RFC 9234 §4.1: one octet role."""
    assert decode_capability(9, b"\x03") == RoleCapability(3)
    assert encode_capability(RoleCapability(3)) == hexv("09 01 03")


def test_fqdn_with_domain_and_odd_bytes() -> None:
    value = hexv("04 686f7374  07 6578616d706c65")  # "host", "example"
    assert decode_capability(73, value) == FqdnCapability("host", "example")
    odd = hexv("02 ff41 00")  # not UTF-8: survives as surrogate escapes
    cap = decode_capability(73, odd)
    assert isinstance(cap, FqdnCapability)
    assert cap.encode_value() == odd


def test_capability_lookup_helpers() -> None:
    caps: tuple[Capability, ...] = (
        MultiprotocolCapability(1, 1),
        MultiprotocolCapability(2, 1),
        FourOctetAsCapability(4200000000),
    )
    open_ = Open(4, AS_TRANS, 90, IPv4Address("10.0.0.2"), caps)
    assert open_.my_as == 4200000000
    assert open_.capability(MultiprotocolCapability) == MultiprotocolCapability(1, 1)
    assert open_.capabilities_of(MultiprotocolCapability) == caps[:2]
    assert open_.capability(RouteRefreshCapability) is None
    assert open_.capability(65) == caps[2]
    assert open_.families == ((1, 1), (2, 1))


def test_create_uses_as_trans_for_large_as() -> None:
    """RFC 6793 §4.1: AS_TRANS in My AS, the real AS in the capability."""
    open_ = Open.create(4200000000, 90, IPv4Address("10.0.0.2"), (RouteRefreshCapability(),))
    assert open_.asn == AS_TRANS
    assert open_.my_as == 4200000000
    assert open_.capability(FourOctetAsCapability) == FourOctetAsCapability(4200000000)
    small = Open.create(65001, 90, IPv4Address("10.0.0.2"))
    assert small.asn == 65001
    assert decode_open(encode_open(small)[19:]) == small


def test_stale_layout_falls_back_to_default() -> None:
    open_ = decode_open(hexv(FIXED + "06 02 04 02 00 06 00"))
    assert open_.parameters == (2,)
    changed = attrs.evolve(open_, capabilities=(RouteRefreshCapability(),))
    assert encode_open_body(changed) == hexv(FIXED + "04 02 02 02 00")


@pytest.mark.parametrize(
    "bad",
    [
        Open(4, 70000, 90, IPv4Address("10.0.0.2")),
        Open(4, 1, 70000, IPv4Address("10.0.0.2")),
        Open(4, 1, 90, IPv4Address("10.0.0.2"), (FourOctetAsCapability(2**32),)),
        Open(4, 1, 90, IPv4Address("10.0.0.2"), (UnknownCapability(1000, b""),)),
        Open(4, 1, 90, IPv4Address("10.0.0.2"), (UnknownCapability(200, bytes(256)),)),
        Open(4, 1, 90, IPv4Address("10.0.0.2"), (FqdnCapability("x" * 256),)),
        Open(4, 1, 90, IPv4Address("10.0.0.2"), (GracefulRestartCapability(restart_time=4096),)),
    ],
)
def test_encode_out_of_range_is_local_error(bad: Open) -> None:
    with pytest.raises(LocalProtocolError):
        encode_open(bad)


# --- Hypothesis ---------------------------------------------------------------------------------

u8 = st.integers(0, 255)
u16 = st.integers(0, 0xFFFF)
label = st.text(max_size=40)  # no lone surrogates by default

capabilities = st.one_of(
    st.builds(MultiprotocolCapability, u16, u8),
    st.just(RouteRefreshCapability()),
    st.just(RouteRefreshOldCiscoCapability()),
    st.just(EnhancedRouteRefreshCapability()),
    st.builds(FourOctetAsCapability, st.integers(0, 2**32 - 1)),
    st.builds(
        GracefulRestartCapability,
        st.booleans(),
        st.booleans(),
        st.integers(0, 4095),
        st.lists(st.builds(GracefulRestartFamily, u16, u8, st.booleans()), max_size=5).map(tuple),
    ),
    st.builds(
        AddPathCapability,
        st.lists(st.builds(AddPathEntry, u16, u8, st.booleans(), st.booleans()), max_size=5).map(
            tuple
        ),
    ),
    st.builds(
        ExtendedNextHopCapability,
        st.lists(st.builds(ExtendedNextHopEntry, u16, u16, u16), max_size=5).map(tuple),
    ),
    st.just(ExtendedMessageCapability()),
    st.builds(RoleCapability, u8),
    st.builds(FqdnCapability, label, label),
    st.builds(LongLivedGracefulRestartCapability, st.binary(max_size=40)),
    st.builds(
        UnknownCapability,
        u8.filter(lambda c: c not in CAPABILITY_DECODERS),
        st.binary(max_size=40),
    ),
)


@HYPOTHESIS
@given(capabilities)
def test_capability_round_trip(capability: Capability) -> None:
    encoded = encode_capability(capability)
    assert decode_capabilities(encoded) == (capability,)


@st.composite
def opens(draw: st.DrawFn) -> Open:
    caps = tuple(draw(st.lists(capabilities, max_size=12)))
    # a random grouping of the capabilities into parameters (or the default)
    layout: tuple[int, ...] | None = None
    if draw(st.booleans()):
        cuts = sorted(draw(st.lists(st.integers(0, len(caps)), max_size=4)))
        bounds = [0, *cuts, len(caps)]
        layout = tuple(b - a for a, b in itertools.pairwise(bounds))
    return Open(
        version=draw(u8),
        asn=draw(u16),
        hold_time=draw(u16),
        router_id=IPv4Address(draw(st.integers(0, 2**32 - 1))),
        capabilities=caps,
        extended_parameters=draw(st.booleans()),
        parameters=layout,
        other_parameters=tuple(
            draw(
                st.lists(
                    st.builds(
                        OptionalParameter,
                        st.integers(0, 254).filter(lambda t: t != 2),
                        st.binary(max_size=8),
                    ),
                    max_size=2,
                )
            )
        ),
    )


@HYPOTHESIS
@given(opens())
def test_open_round_trip(open_: Open) -> None:
    """encode -> decode gives the same Open; and decode -> encode is byte exact."""
    message = encode_open(open_)
    decoded = decode_open(message[19:])
    assert decoded == attrs.evolve(open_, extended_parameters=decoded.extended_parameters)
    assert decoded.extended_parameters >= open_.extended_parameters
    if open_.parameters is not None:
        assert decoded.parameters == open_.parameters
    assert encode_open(decoded) == message


@HYPOTHESIS
@given(st.binary(max_size=300))
def test_arbitrary_bytes_raise_only_protocol_errors(body: bytes) -> None:
    try:
        open_ = decode_open(body)
    except RemoteProtocolError as exc:
        assert exc.code in (1, 2)
        return
    validate_open_only_protocol_errors(open_)


def validate_open_only_protocol_errors(open_: Open) -> None:
    try:
        validate_open(open_, peer_as=None, local_router_id=LOCAL_ID, local_as=65000)
    except RemoteProtocolError as exc:
        assert exc.code == 2


@HYPOTHESIS
@given(st.binary(max_size=60).map(lambda b: hexv(FIXED) + bytes((len(b),)) + b))
def test_arbitrary_parameters_raise_only_protocol_errors(body: bytes) -> None:
    """Random parameter regions behind a valid fixed part reach the capability decoders."""
    try:
        decode_open(body)
    except RemoteProtocolError as exc:
        assert (exc.code, exc.subcode) == (2, 0)


@HYPOTHESIS
@given(st.sampled_from(sorted(CAPABILITY_DECODERS)), st.binary(max_size=20))
def test_arbitrary_capability_values(code: int, value: bytes) -> None:
    try:
        cap = decode_capability(code, value)
    except RemoteProtocolError as exc:
        assert (exc.code, exc.subcode) == (2, 0)
        return
    assert decode_capability(code, cap.encode_value()) == cap


# --- negotiation ---------------------------------------------------------------------------------


def test_negotiate_intersects_capabilities() -> None:
    """RFC 4760 §8, RFC 6793 §4, RFC 8654 §4, RFC 7911 §5, RFC 8950 §3."""
    local = Open.create(
        65000,
        90,
        IPv4Address("10.0.0.1"),
        (
            MultiprotocolCapability(1, 1),
            MultiprotocolCapability(2, 1),
            ExtendedMessageCapability(),
            AddPathCapability(
                (
                    AddPathEntry(1, 1, send=True, receive=True),
                    AddPathEntry(2, 1, send=False, receive=True),
                )
            ),
            ExtendedNextHopCapability((ExtendedNextHopEntry(1, 1, 2),)),
        ),
    )
    remote = Open.create(
        4200000000,
        90,
        IPv4Address("10.0.0.2"),
        (
            MultiprotocolCapability(1, 1),
            MultiprotocolCapability(2, 1),
            AddPathCapability(
                (
                    AddPathEntry(1, 1, send=False, receive=True),
                    AddPathEntry(2, 1, send=True, receive=False),
                )
            ),
            ExtendedNextHopCapability((ExtendedNextHopEntry(1, 1, 2),)),
        ),
    )
    negotiated = negotiate(local, remote)
    assert negotiated.four_octet_as
    assert not negotiated.extended_message
    assert negotiated.families == {(1, 1), (2, 1)}
    assert negotiated.add_path_send == {(1, 1)}
    assert negotiated.add_path_receive == {(2, 1)}
    assert negotiated.extended_next_hop == {(1, 1)}
    assert (negotiated.local_as, negotiated.peer_as) == (65000, 4200000000)
    assert not negotiated.ibgp


def test_negotiate_without_multiprotocol_is_ipv4_unicast() -> None:
    """A speaker that sends no multiprotocol capability does IPv4 unicast only."""
    plain = Open(4, 65001, 90, IPv4Address("10.0.0.2"))
    v6 = Open.create(65000, 90, IPv4Address("10.0.0.1"), (MultiprotocolCapability(2, 1),))
    assert negotiate(v6, plain).families == frozenset()
    assert not negotiate(v6, plain).four_octet_as
    assert negotiate(plain, plain).families == {(1, 1)}


@pytest.mark.parametrize("ptype", [2, 255, 256, -1])
def test_reserved_other_parameter_types_are_local_errors(ptype: int) -> None:
    """RFC 5492 §4 (2 = Capabilities) and RFC 9072 §2 (255 = extended marker)."""
    open_ = Open(4, 1, 90, IPv4Address("10.0.0.2"), other_parameters=(OptionalParameter(ptype),))
    with pytest.raises(LocalProtocolError):
        encode_open(open_)

"""Real OPEN messages from BIRD, GoBGP, FRR and ExaBGP (tests/vectors/README.md).

Each must frame as one message, decode to the capabilities the README lists, validate against
the daemon's AS (65000) and re-encode byte for byte (RFC 4271 §4.2, RFC 5492 §4: the grouping
of capabilities into parameters is kept).
"""

from __future__ import annotations

from ipaddress import IPv4Address
from pathlib import Path

import pytest

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
    LongLivedGracefulRestartCapability,
    MessageReader,
    MessageType,
    MultiprotocolCapability,
    RouteRefreshCapability,
    RouteRefreshOldCiscoCapability,
    decode_open,
    encode_open,
    validate_open,
)

VECTORS = Path(__file__).resolve().parents[2] / "vectors"

GR_HELPER = GracefulRestartCapability(restart_time=120)  # flags+time 0x0078, no AFI tuples

EXPECTED: dict[str, tuple[tuple[Capability, ...], tuple[int, ...]]] = {
    # BIRD: one Capabilities parameter holding all six.
    "bird": (
        (
            MultiprotocolCapability(1, 1),
            RouteRefreshCapability(),
            GR_HELPER,
            FourOctetAsCapability(65000),
            EnhancedRouteRefreshCapability(),
            LongLivedGracefulRestartCapability(b""),
        ),
        (6,),
    ),
    # ExaBGP: one parameter per capability, no route refresh at all.
    "exabgp": (
        (
            MultiprotocolCapability(1, 1),
            FourOctetAsCapability(65000),
            ExtendedMessageCapability(),
        ),
        (1, 1, 1),
    ),
    # FRR: old Cisco route refresh (128) beside code 2; GR with R and N bits, no AFI tuples.
    "frr": (
        (
            MultiprotocolCapability(1, 1),
            RouteRefreshOldCiscoCapability(),
            RouteRefreshCapability(),
            EnhancedRouteRefreshCapability(),
            FourOctetAsCapability(65000),
            ExtendedMessageCapability(),
            AddPathCapability((AddPathEntry(1, 1, send=False, receive=True),)),
            FqdnCapability("anchor-frr", ""),
            GracefulRestartCapability(restart_state=True, notification=True, restart_time=120),
            LongLivedGracefulRestartCapability(bytes.fromhex("00010180000000")),
        ),
        (1,) * 10,
    ),
    # GoBGP: one parameter; FQDN first; extended next hop IPv4 unicast over IPv6.
    "gobgp": (
        (
            RouteRefreshCapability(),
            FqdnCapability("vm", ""),
            MultiprotocolCapability(1, 1),
            FourOctetAsCapability(65000),
            ExtendedNextHopCapability((ExtendedNextHopEntry(1, 1, 2),)),
        ),
        (5,),
    ),
}

FILES = sorted(VECTORS.glob("*_open_*.hex"))


def load(path: Path) -> bytes:
    return bytes.fromhex(path.read_text().strip())


def test_all_vendors_present() -> None:
    assert {p.name.split("_")[0] for p in FILES} == set(EXPECTED)
    assert len(FILES) == 8


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_vector_decodes_and_reencodes_exactly(path: Path) -> None:
    """RFC 4271 §4.2 / RFC 5492 §4: decode, compare with the README, re-encode byte exact."""
    wire = load(path)
    messages = MessageReader().feed(wire)
    assert len(messages) == 1
    assert messages[0].type == MessageType.OPEN
    open_ = decode_open(messages[0].body)

    capabilities, layout = EXPECTED[path.name.split("_")[0]]
    assert open_.version == 4
    assert open_.asn == 65000
    assert open_.my_as == 65000
    assert open_.hold_time == 240
    assert open_.router_id == IPv4Address("192.168.77.1")
    assert open_.capabilities == capabilities
    assert open_.parameters == layout
    assert not open_.extended_parameters
    assert open_.other_parameters == ()
    assert open_.families == ((1, 1),)
    assert encode_open(open_) == wire


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_vector_is_acceptable(path: Path) -> None:
    """RFC 4271 §6.2: each vector is a valid OPEN for a peer configured as AS 65000."""
    open_ = decode_open(MessageReader().feed(load(path))[0].body)
    validate_open(open_, peer_as=65000, local_router_id=IPv4Address("192.168.77.9"), local_as=65000)


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_vector_chunked_one_byte_at_a_time(path: Path) -> None:
    """Framing (RFC 4271 §4.1) is independent of how TCP cut the stream."""
    wire = load(path)
    reader = MessageReader()
    out = []
    for i in range(len(wire)):
        out.extend(reader.feed(wire[i : i + 1]))
    assert [m.encode() for m in out] == [wire]


def test_frr_code_128_and_gr_without_tuples() -> None:
    """FRR sends code 128 and a GR capability with zero (AFI, SAFI) tuples (RFC 4724 §3)."""
    open_ = decode_open(load(VECTORS / "frr_open_ebgp.hex")[19:])
    assert open_.capability(128) == RouteRefreshOldCiscoCapability()
    gr = open_.capability(GracefulRestartCapability)
    assert gr is not None
    assert gr.families == ()
    assert gr.restart_state and gr.notification


def test_bird_gr_helper_only() -> None:
    open_ = decode_open(load(VECTORS / "bird_open_ibgp.hex")[19:])
    assert open_.capability(GracefulRestartCapability) == GR_HELPER


def test_gobgp_extended_next_hop_and_fqdn() -> None:
    """RFC 8950 §3: IPv4 unicast NLRI (1/1) with an IPv6 (2) next hop."""
    open_ = decode_open(load(VECTORS / "gobgp_open_ebgp.hex")[19:])
    enh = open_.capability(ExtendedNextHopCapability)
    assert enh is not None
    assert enh.entries == (ExtendedNextHopEntry(nlri_afi=1, nlri_safi=1, next_hop_afi=2),)
    fqdn = open_.capability(FqdnCapability)
    assert fqdn == FqdnCapability(hostname="vm", domain="")


def test_exabgp_offers_no_route_refresh() -> None:
    open_ = decode_open(load(VECTORS / "exabgp_open_ebgp.hex")[19:])
    assert open_.capability(RouteRefreshCapability) is None
    assert open_.capability(ExtendedMessageCapability) == ExtendedMessageCapability()


def test_default_layout_differs_but_decodes_equal() -> None:
    """A hand-built Open (no layout) gets one capability per parameter; equality ignores the
    layout, so the BIRD OPEN rebuilt by hand compares equal though its bytes differ."""
    wire = load(VECTORS / "bird_open_ebgp.hex")
    decoded = decode_open(wire[19:])
    rebuilt = type(decoded)(
        decoded.version, decoded.asn, decoded.hold_time, decoded.router_id, decoded.capabilities
    )
    assert rebuilt == decoded
    again = encode_open(rebuilt)
    assert again != wire
    assert len(again) == len(wire) + 2 * 5  # five more parameter headers
    assert decode_open(again[19:]) == decoded
    assert decode_open(again[19:]).parameters == (1,) * 6

"""Real UPDATEs from BIRD, GoBGP, FRR and ExaBGP (tests/vectors, see its README).

Each ``*_update_*.hex`` must decode to what the README's field-by-field table says, with no RFC
7606 issue, and re-encode byte for byte (FRR's 0x50 flags on AS_PATH included).

Framing: a ``.hex`` file is a whole message; the UPDATE body is what follows the 19-octet header
(16-octet marker, 2-octet length, 1-octet type 2).
"""

from __future__ import annotations

import re
from ipaddress import IPv4Address
from pathlib import Path

import pytest

from pybgp.wire.attribute_codec import encode_attribute
from pybgp.wire.attributes import (
    AsPath,
    AsPathSegment,
    ClusterList,
    LocalPref,
    MultiExitDisc,
    NextHop,
    Origin,
    OriginatorId,
)
from pybgp.wire.constants import AttributeCode
from pybgp.wire.negotiated import Negotiated
from pybgp.wire.nlri import prefix_to_str
from pybgp.wire.update import ErrorAction, decode_update, encode_update

VECTORS = Path(__file__).resolve().parents[2] / "vectors"
README = (VECTORS / "README.md").read_text()
# The daemons ran as AS 65000; the receiving peer was AS 65002 (eBGP) or AS 65000 (iBGP).
EBGP = Negotiated(local_as=65002, peer_as=65000)
IBGP = Negotiated(local_as=65000, peer_as=65000)
NAMES = {
    "ORIGIN": AttributeCode.ORIGIN,
    "AS_PATH": AttributeCode.AS_PATH,
    "NEXT_HOP": AttributeCode.NEXT_HOP,
    "MED": AttributeCode.MULTI_EXIT_DISC,
    "LOCAL_PREF": AttributeCode.LOCAL_PREF,
    "ORIGINATOR_ID": AttributeCode.ORIGINATOR_ID,
    "CLUSTER_LIST": AttributeCode.CLUSTER_LIST,
}
ROW = re.compile(
    r"^\| `(?P<file>\w+_update_\w+\.hex)` \| (?P<size>\d+) \| (?P<decode>.*) \|$", re.M
)
ATTR = re.compile(
    r"(?P<name>[A-Z_]+)\(flags=0x(?P<flags>[0-9a-f]+),len=(?P<len>\d+)\):(?P<hex>[0-9a-f]*)"
)


def table() -> dict[str, tuple[int, str]]:
    return {m["file"]: (int(m["size"]), m["decode"]) for m in ROW.finditer(README)}


def split(message: bytes) -> bytes:
    """Check the 19-octet header and return the UPDATE body."""
    assert message[:16] == b"\xff" * 16
    assert int.from_bytes(message[16:18], "big") == len(message)
    assert message[18] == 2
    return message[19:]


FILES = sorted(p.name for p in VECTORS.glob("*_update_*.hex"))


def test_every_vector_is_described() -> None:
    assert FILES and set(FILES) == set(table())


@pytest.mark.parametrize("name", FILES)
def test_vector_decodes_as_described_and_reencodes(name: str) -> None:
    message = bytes.fromhex((VECTORS / name).read_text().strip())
    size, decode = table()[name]
    assert len(message) == size
    neg = EBGP if "_ebgp_" in name else IBGP
    result = decode_update(split(message), neg)
    assert result.action is ErrorAction.NONE, result.issues
    update = result.update
    # "withdrawn 0B"
    assert "withdrawn 0B" in decode and update.withdrawn == ()
    # attrs: NAME(flags=..,len=..):value, in order
    expected = list(ATTR.finditer(decode.split("NLRI")[0]))
    assert len(update.attributes) == len(expected)
    for attr, field in zip(update.attributes, expected, strict=True):
        assert attr.code == NAMES[field["name"]], field.group(0)
        assert attr.flags == int(field["flags"], 16), field.group(0)
        wire = encode_attribute(attr, neg)
        header = 4 if attr.flags & 0x10 else 3
        assert len(wire) - header == int(field["len"])
        assert wire[header:].hex() == field["hex"]
    # NLRI (n): prefixes
    count, prefixes = re.search(r"NLRI \((\d+)\): (.*)$", decode).groups()  # type: ignore[union-attr]
    assert [prefix_to_str(k, 1) for k in update.nlri] == prefixes.split()
    assert len(update.nlri) == int(count)
    assert update.end_of_rib is None
    # Byte for byte.
    assert encode_update(update, neg) == message


def test_frr_as_path_extended_length_values() -> None:
    message = bytes.fromhex((VECTORS / "frr_update_ibgp_2.hex").read_text().strip())
    attrs = decode_update(split(message), IBGP).update.attributes
    assert attrs.origin == Origin(0)
    assert attrs.as_path == AsPath((AsPathSegment(2, (31973, 0xFA5B3A2D)),), flags=0x50)
    assert attrs.next_hop == NextHop(IPv4Address("192.168.77.2"))
    assert attrs.med == MultiExitDisc(456)
    assert attrs.local_pref == LocalPref(100)
    assert attrs.originator_id == OriginatorId(IPv4Address("192.168.77.2"))
    assert attrs.cluster_list == ClusterList((IPv4Address("192.168.77.1"),))


def test_vectors_with_same_attributes_share_one_object() -> None:
    # Interning: frr_update_ebgp_0 and _3 carry identical attribute bytes.
    first, second = (
        decode_update(split(bytes.fromhex((VECTORS / n).read_text().strip())), EBGP)
        for n in ("frr_update_ebgp_0.hex", "frr_update_ebgp_3.hex")
    )
    assert first.update.attributes is second.update.attributes

"""The RFC 6396 encoder (pybgp/mrt.py): header bytes by hand, and whole files read back by
``bgpdump`` (IPv4 and IPv6, 4-octet AS numbers, BGP4MP messages and state changes)."""

from __future__ import annotations

import shutil
import subprocess
from ipaddress import IPv4Address, IPv6Address, ip_network
from pathlib import Path

import pytest

from pybgp import mrt
from pybgp.wire.attributes import (
    AsPath,
    AsPathSegment,
    Communities,
    NextHop,
    Origin,
    PathAttributes,
)
from pybgp.wire.negotiated import Negotiated
from pybgp.wire.nlri import prefix_from_network
from pybgp.wire.update import Update, encode_update

T = 1796600000
ROUTER = IPv4Address("10.0.0.1")


def _attributes(*asns: int, next_hop: IPv4Address | None = None) -> PathAttributes:
    parts: list[object] = [Origin(0), AsPath((AsPathSegment(2, asns),))]
    if next_hop is not None:
        parts.append(NextHop(next_hop))
    parts.append(Communities((64512 << 16 | 100,)))
    return PathAttributes(tuple(parts))  # type: ignore[arg-type]


def test_common_header_and_peer_index_table_bytes() -> None:
    record = mrt.peer_index_table(
        T, ROUTER, "v", [mrt.MrtPeer(IPv4Address("10.0.0.2"), IPv6Address("fd00::2"), 4200000000)]
    )
    # RFC 6396 §2: timestamp, type 13, subtype 1, length.
    assert record[:12] == T.to_bytes(4, "big") + b"\x00\x0d\x00\x01" + (len(record) - 12).to_bytes(
        4, "big"
    )
    body = record[12:]
    assert body[:4] == ROUTER.packed and body[4:6] == b"\x00\x01" and body[6:7] == b"v"
    assert body[7:9] == b"\x00\x01"  # one peer
    assert body[9] == 0x03  # §4.3.1: IPv6 address, 4-octet AS
    assert body[10:14] == IPv4Address("10.0.0.2").packed
    assert body[14:30] == IPv6Address("fd00::2").packed
    assert body[30:34] == (4200000000).to_bytes(4, "big")


def test_rib_record_bytes() -> None:
    key = prefix_from_network(ip_network("10.1.0.0/16"))
    record = mrt.rib_record(T, (1, 1), 7, key, [mrt.RibEntry(1, T - 5, b"\x40\x01\x01\x00")])
    body = record[12:]
    assert record[4:8] == b"\x00\x0d\x00\x02"  # TABLE_DUMP_V2 / RIB_IPV4_UNICAST
    assert body[:4] == b"\x00\x00\x00\x07" and body[4:7] == b"\x10\x0a\x01"
    assert body[7:9] == b"\x00\x01"  # one entry
    assert body[9:11] == b"\x00\x01" and body[11:15] == (T - 5).to_bytes(4, "big")
    assert body[15:17] == b"\x00\x04" and body[17:] == b"\x40\x01\x01\x00"


@pytest.fixture
def bgpdump() -> str:
    path = shutil.which("bgpdump")
    if path is None:
        pytest.skip("bgpdump is not installed (apt-get install bgpdump)")
    return path


def _read(bgpdump: str, path: Path) -> list[list[str]]:
    out = subprocess.run([bgpdump, "-m", str(path)], capture_output=True, text=True,
                         check=True, timeout=30).stdout
    return [line.split("|") for line in out.splitlines()]


def test_table_dump_read_by_bgpdump(bgpdump: str, tmp_path: Path) -> None:
    peers = [
        mrt.MrtPeer(ROUTER, IPv4Address(0), 64512),
        mrt.MrtPeer(IPv4Address("10.0.0.2"), IPv4Address("192.0.2.2"), 4200000000),
        mrt.MrtPeer(IPv4Address("10.0.0.3"), IPv6Address("2001:db8::3"), 64513),
    ]
    v4 = prefix_from_network(ip_network("10.244.2.0/26"))
    v6 = prefix_from_network(ip_network("2001:db8:244::/48"))
    routes = [
        ((1, 1), v4, [
            mrt.RibEntry(1, T, mrt.table_attributes(_attributes(4200000000, 65001), (1, 1),
                                                    IPv4Address("192.0.2.2"))),
        ]),
        ((2, 1), v6, [
            mrt.RibEntry(2, T, mrt.table_attributes(_attributes(64513), (2, 1),
                                                    IPv6Address("2001:db8::3"))),
        ]),
    ]
    path = tmp_path / "table.mrt"
    path.write_bytes(b"".join(mrt.table_dump(T, ROUTER, "pybgp", peers, routes)))
    rows = _read(bgpdump, path)
    assert rows[0][:9] == ["TABLE_DUMP2", str(T), "B", "192.0.2.2", "4200000000",
                           "10.244.2.0/26", "4200000000 65001", "IGP", "192.0.2.2"]
    assert rows[1][:9] == ["TABLE_DUMP2", str(T), "B", "2001:db8::3", "64513",
                           "2001:db8:244::/48", "64513", "IGP", "2001:db8::3"]
    assert rows[0][11] == "64512:100"


def test_bgp4mp_read_by_bgpdump(bgpdump: str, tmp_path: Path) -> None:
    update = Update(
        attributes=_attributes(65001, next_hop=IPv4Address("192.0.2.2")),
        nlri=(prefix_from_network(ip_network("10.9.0.0/24")),),
    )
    message = encode_update(update, Negotiated(four_octet_as=True))
    peer, local = IPv4Address("192.0.2.2"), IPv4Address("192.0.2.1")
    path = tmp_path / "updates.mrt"
    path.write_bytes(
        mrt.bgp4mp_state_change(T, 65001, 64512, peer, local, 5, 6)
        + mrt.bgp4mp_message(T + 1, 65001, 64512, peer, local, message)
    )
    rows = _read(bgpdump, path)
    assert rows[0] == ["BGP4MP", str(T), "STATE", "192.0.2.2", "65001", "5", "6"]
    assert rows[1][:9] == ["BGP4MP", str(T + 1), "A", "192.0.2.2", "65001", "10.9.0.0/24",
                           "65001", "IGP", "192.0.2.2"]

"""Packing prefixes of one length (by count) and of mixed lengths (by running total) into
UPDATEs: the same greedy result, every message within the maximum length."""

from __future__ import annotations

from ipaddress import IPv4Address

from pybgp.wire.attributes import AsPath, NextHop, Origin, PathAttributes
from pybgp.wire.constants import IPV4_UNICAST
from pybgp.wire.negotiated import Negotiated
from pybgp.wire.update import decode_update, pack_update_messages


def _nlri(messages: list[bytes], negotiated: Negotiated) -> list[bytes]:
    keys: list[bytes] = []
    for message in messages:
        assert len(message) <= negotiated.max_message_length
        keys += decode_update(message[19:], negotiated).update.nlri
    return keys


def test_one_length_and_mixed_lengths_pack_greedily() -> None:
    negotiated = Negotiated(families=frozenset({IPV4_UNICAST}), local_as=65000, peer_as=65001)
    attributes = PathAttributes((Origin(0), AsPath(()), NextHop(IPv4Address("192.0.2.1"))))
    same = [bytes((24, 10, i >> 8, i & 255)) for i in range(5000)]
    mixed = [*same[:2500], bytes((16, 172, 16)), *same[2500:]]
    for keys in (same, mixed, same[:1], same[:1019], same[:1020], same[:1021]):
        messages = pack_update_messages(IPV4_UNICAST, attributes, keys, (), negotiated)
        assert _nlri(messages, negotiated) == keys
        # greedy: every message but the last is full (no room for one more prefix)
        for message in messages[:-1]:
            assert len(message) + 4 > negotiated.max_message_length

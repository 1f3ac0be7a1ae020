"""``add_paths_send`` / ``add_paths_receive`` (RFC 7911): parsing, errors naming the key, and
what the session offers and negotiates per family."""

from __future__ import annotations

import copy
from ipaddress import IPv4Address
from typing import Any

import pytest

from pybgp.config import ConfigError, parse_config
from pybgp.session import build_open
from pybgp.speaker.events import peer_info, session_config
from pybgp.wire.capabilities import AddPathCapability, AddPathEntry
from pybgp.wire.constants import IPV4_UNICAST, IPV6_UNICAST
from pybgp.wire.open import Open, negotiate


def config(**peer: Any) -> dict[str, Any]:
    entry = {"address": "10.0.0.2", "asn": 64512, "families": ["ipv4", "ipv6"], **peer}
    return {"speaker": {"asn": 64512, "router_id": "10.0.0.1"}, "peers": [copy.deepcopy(entry)]}


def test_defaults_best_and_no_receive() -> None:
    peer = parse_config(config()).peers[0]
    assert (peer.add_paths_send, peer.add_paths_receive) == ("best", False)
    assert peer.add_paths_send_count == 1
    session = session_config(parse_config(config()).speaker, peer)
    assert session.add_path_send == session.add_path_receive == frozenset()
    assert build_open(session).capability(AddPathCapability) is None


@pytest.mark.parametrize(
    ("value", "stored", "count"),
    [
        ("best", "best", 1),
        ("all", "all", 0),
        ("ALL", "all", 0),
        (2, 2, 2),
        (8, 8, 8),
        (65535, 65535, 65535),
    ],
)
def test_send_values(value: object, stored: object, count: int) -> None:
    parsed = parse_config(config(add_paths_send=value))
    peer = parsed.peers[0]
    assert peer.add_paths_send == stored and peer.add_paths_send_count == count
    assert peer_info(parsed.speaker, peer).add_paths_send == count


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (1, 'peers[0].add_paths_send: 1 path is "best"'),
        (0, "peers[0].add_paths_send: 0 is out of range (2..65535)"),
        (70000, "peers[0].add_paths_send: 70000 is out of range (2..65535)"),
        ("some", "peers[0].add_paths_send: 'some' is not one of 'best', 'all'"),
        (True, 'peers[0].add_paths_send: expected "best", "all" or a number of paths, got'),
        (2.5, 'peers[0].add_paths_send: expected "best", "all" or a number of paths, got'),
    ],
)
def test_send_errors_name_the_key(value: object, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(config(add_paths_send=value))
    assert str(info.value).startswith(message)


def test_receive_must_be_a_boolean_and_dynamic_peers_take_both() -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(config(add_paths_receive="yes"))
    assert str(info.value).startswith("peers[0].add_paths_receive: expected true or false")
    data = {
        "speaker": {"asn": 64512, "router_id": "10.0.0.1", "cluster_id": "10.0.0.1"},
        "dynamic_peers": [
            {
                "range": "10.0.0.0/24",
                "asn": 64512,
                "route_reflector_client": True,
                "add_paths_send": "all",
                "add_paths_receive": True,
            }
        ],
    }
    parsed = parse_config(data)
    peer = parsed.dynamic_peers[0].peer(IPv4Address("10.0.0.7"), 64512)
    assert (peer.add_paths_send, peer.add_paths_receive) == ("all", True)


def _open(send: set[tuple[int, int]], receive: set[tuple[int, int]]) -> Open:
    entries = tuple(
        AddPathEntry(afi, safi, send=(afi, safi) in send, receive=(afi, safi) in receive)
        for afi, safi in sorted(send | receive)
    )
    base = build_open(
        session_config(parse_config(config()).speaker, parse_config(config()).peers[0])
    )
    return Open.create(
        64512, 90, IPv4Address("10.0.0.2"), (*base.capabilities, AddPathCapability(entries))
    )


def test_offered_for_every_family_and_negotiated_per_family() -> None:
    parsed = parse_config(config(add_paths_send="all", add_paths_receive=True))
    session = session_config(parsed.speaker, parsed.peers[0])
    ours = build_open(session)
    capability = ours.capability(AddPathCapability)
    assert capability is not None
    assert {(e.afi, e.safi, e.send, e.receive) for e in capability.entries} == {
        (1, 1, True, True),
        (2, 1, True, True),
    }
    # RFC 7911 §4/§5: the peer receives IPv4 only and sends IPv6 only.
    theirs = _open(send={IPV6_UNICAST}, receive={IPV4_UNICAST})
    negotiated = negotiate(ours, theirs)
    assert negotiated.add_path_send == {IPV4_UNICAST}
    assert negotiated.add_path_receive == {IPV6_UNICAST}
    # A peer without the capability: nothing either way.
    plain = negotiate(
        ours, build_open(session_config(parsed.speaker, parse_config(config()).peers[0]))
    )
    assert plain.add_path_send == plain.add_path_receive == frozenset()

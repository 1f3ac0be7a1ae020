"""Declarative ``[[filters]]`` as RIB policies: unit checks and two speakers on loopback."""

from __future__ import annotations

import asyncio
import socket
from ipaddress import IPv4Address, ip_network
from typing import Any

import pytest

from pybgp import Speaker, parse_config
from pybgp.fsm import State
from pybgp.policy import filter_policy
from pybgp.rib import Rib
from pybgp.rib.policy import Route
from pybgp.wire.nlri import network_from_prefix, prefix_from_network

FILTERS: list[dict[str, Any]] = [
    {
        "name": "pods-only",
        "rules": [
            {"action": "Reject", "communities": ["65000:200"]},
            {
                "action": "Accept",
                "cidr": "10.50.0.0/16",
                "match_operator": "In",
                "prefix_length": {"max": 24},
                "set": {"local_pref": 200, "add_communities": ["64512:7"]},
            },
            {"action": "Reject"},
        ],
    }
]


def _route(prefix: str, communities: tuple[int, ...] = ()) -> Route:
    return Route(
        family=(1, 1), prefix=prefix_from_network(ip_network(prefix)),
        next_hop=IPv4Address("10.0.0.2"), as_path=(65000,), origin=0, local_pref=None,
        med=None, communities=communities, large_communities=(), peer="10.0.0.2",
    )


def _filters() -> Any:
    config = parse_config({
        "speaker": {"asn": 64512, "router_id": "10.0.0.1"},
        "filters": FILTERS,
        "peers": [{"address": "10.0.0.2", "asn": 65000, "import_filters": ["pods-only"]}],
    })
    return config.peer_filters(config.peers[0], "import")


def test_no_filters_means_no_policy() -> None:
    assert filter_policy(()) is None


def test_rules_accept_reject_and_set() -> None:
    policy = filter_policy(_filters())
    assert policy is not None
    accepted = policy(_route("10.50.1.0/24", (65000 << 16 | 100,)))
    assert accepted is not None
    assert accepted.local_pref == 200
    assert accepted.communities == (65000 << 16 | 100, 64512 << 16 | 7)
    assert policy(_route("10.50.2.0/24", (65000 << 16 | 200,))) is None  # community rule
    assert policy(_route("10.50.3.0/25")) is None  # longer than /24: falls to "Reject"
    assert policy(_route("10.60.0.0/16")) is None  # outside the CIDR


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.5.1", 0))
        return int(probe.getsockname()[1])


def _config(me: str, peer: str, port: int, prefixes: list[str],
            import_filters: list[str]) -> dict[str, Any]:
    return {
        "speaker": {"asn": 64512 if me.endswith(".1") else 65000, "router_id": me,
                    "listen_address": me, "listen_port": port, "connect_delay": 0.0,
                    "connect_retry_time": 1.0, "error_wait_min": 0.5},
        "filters": FILTERS,
        "peers": [{"address": peer, "asn": 65000 if me.endswith(".1") else 64512,
                   "port": port, "local_address": me, "import_filters": import_filters}],
        "originate": {"prefixes": prefixes},
    }


async def _wait_for(condition: Any, timeout: float = 10.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.02)


async def test_import_filter_and_a_reload_that_keeps_the_session() -> None:
    port = _free_port()
    upstream_prefixes = ["10.50.1.0/24", "10.50.3.0/25", "10.60.0.0/16"]
    node_data = _config("127.0.5.1", "127.0.5.2", port, [], ["pods-only"])
    upstream = parse_config(_config("127.0.5.2", "127.0.5.1", port, upstream_prefixes, []))
    async with Speaker(parse_config(node_data)) as node, Speaker(upstream):
        status = await node.wait_state("127.0.5.2", State.ESTABLISHED, timeout=10)

        def learned() -> set[str]:
            return {str(r) for r in _prefixes(node)}

        await _wait_for(lambda: learned() == {"10.50.1.0/24"})
        entry = next(iter(node.rib.routes((1, 1))))
        assert entry.best.local_pref == 200  # the filter's set action

        # Reload with the filter removed: same session, the other routes arrive.
        node_data["peers"][0]["import_filters"] = []
        summary = await node.apply_config(parse_config(node_data))
        assert "session kept" in summary
        await _wait_for(lambda: learned() == set(upstream_prefixes))
        after = node.peer("127.0.5.2")
        assert after is not None and after.state is State.ESTABLISHED
        assert after.since == status.since


def _prefixes(speaker: Speaker) -> list[Any]:
    return [network_from_prefix(e.prefix, 1) for e in speaker.rib.routes((1, 1))]


async def test_waiting_for_a_session_does_not_copy_the_loc_rib(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """wait_state and events() take no routes snapshot (seconds at a million routes)."""
    port = _free_port()
    node = parse_config(_config("127.0.5.1", "127.0.5.2", port, ["10.50.9.0/24"], []))
    upstream = parse_config(_config("127.0.5.2", "127.0.5.1", port, ["10.50.1.0/24"], []))
    async with Speaker(node) as speaker, Speaker(upstream):
        walks = 0
        original = Rib.routes

        def counting_routes(self: Rib, *args: Any, **kwargs: Any) -> Any:
            nonlocal walks
            walks += self is speaker.rib
            return original(self, *args, **kwargs)

        monkeypatch.setattr(Rib, "routes", counting_routes)
        await speaker.wait_state("127.0.5.2", State.ESTABLISHED, timeout=10)
        speaker.events().close()
        assert walks == 0
        snapshot, stream = speaker.subscribe()
        stream.close()
        assert walks == 1 and {str(r.prefix) for r in snapshot.routes}  # full snapshot asked

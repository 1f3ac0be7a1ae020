"""Config value checks: ranges, addresses, communities, and properties over random input."""

from __future__ import annotations

import copy
import tomllib
from ipaddress import IPv4Address, ip_address, ip_network
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pybgp.config import (
    ConfigError,
    KernelConfig,
    SpeakerConfig,
    format_community,
    format_large_community,
    parse_community,
    parse_config,
    parse_large_community,
)

ROOT = Path(__file__).resolve().parents[2]


def base(**sections: Any) -> dict[str, Any]:
    """A minimal valid config plus the given top-level entries."""
    data: dict[str, Any] = {"speaker": {"asn": 64512, "router_id": "10.0.0.1"}}
    data.update(copy.deepcopy(sections))
    return data


def with_speaker(**keys: Any) -> dict[str, Any]:
    data = base()
    data["speaker"].update(keys)
    return data


def with_peer(**keys: Any) -> dict[str, Any]:
    peer = {"address": "10.0.0.2", "asn": 64512}
    peer.update(keys)
    return base(peers=[peer])


def fails(data: dict[str, Any]) -> str:
    with pytest.raises(ConfigError) as info:
        parse_config(data)
    return str(info.value)


# --------------------------------------------------------------------------------------------
# ranges


@given(st.integers(min_value=-(2**40), max_value=2**40))
def test_hold_time_rule(hold: int) -> None:
    data = with_speaker(hold_time=hold)
    if hold == 0 or 3 <= hold <= 65535:
        assert parse_config(data).speaker.hold_time == hold
    else:
        with pytest.raises(ConfigError) as info:
            parse_config(data)
        assert info.value.key_path == "speaker.hold_time"


def test_hold_time_one_and_two_cite_rfc() -> None:
    assert fails(with_speaker(hold_time=2)) == (
        "speaker.hold_time: 2 is not a valid hold time (0, or 3..65535 seconds; RFC 4271 §4.2)"
    )
    assert fails(with_peer(hold_time=1)).startswith("peers[0].hold_time: 1 is not a valid")


def test_keepalive_time_rules() -> None:
    assert parse_config(with_speaker(keepalive_time=10)).speaker.keepalive_time == 10
    assert fails(with_speaker(keepalive_time=90)) == (
        "speaker.keepalive_time: 90 must be less than the hold time (90)"
    )
    assert fails(with_speaker(hold_time=0, keepalive_time=5)).startswith(
        "speaker.keepalive_time: hold_time 0 disables keepalives"
    )
    # a peer's keepalive is checked against the peer's hold time when it has one
    assert parse_config(with_peer(hold_time=240, keepalive_time=100)).peers[0].keepalive_time
    assert fails(with_peer(keepalive_time=100)) == (
        "peers[0].keepalive_time: 100 must be less than the hold time (90)"
    )


@given(st.integers(min_value=-5, max_value=70000))
def test_peer_port_range(port: int) -> None:
    data = with_peer(port=port)
    if 1 <= port <= 65535:
        assert parse_config(data).peers[0].port == port
    else:
        assert fails(data) == f"peers[0].port: {port} is out of range (1..65535)"


def test_listen_port_allows_zero() -> None:
    assert parse_config(with_speaker(listen_port=0)).speaker.listen_port == 0
    assert fails(with_speaker(listen_port=65536)) == (
        "speaker.listen_port: 65536 is out of range (0..65535)"
    )


@pytest.mark.parametrize(
    ("keys", "expected"),
    [
        ({"multipath": 0}, "speaker.multipath: 0 is out of range (1..256)"),
        ({"allow_own_as": 256}, "speaker.allow_own_as: 256 is out of range (0..255)"),
        ({"control_socket_mode": 0o1000}, "speaker.control_socket_mode: 512 is out of range"),
        ({"control_socket": "/" + "x" * 107}, "speaker.control_socket: path longer than 107"),
        ({"connect_retry_time": 0}, "speaker.connect_retry_time: 0 is out of range"),
        ({"error_wait_min": 10, "error_wait_max": 5},
         "speaker.error_wait_max: 5 is less than error_wait_min (10)"),
        ({"connect_delay": float("nan")}, "speaker.connect_delay: nan is out of range"),
        ({"default_local_pref": -1}, "speaker.default_local_pref: -1 is out of range"),
    ],
)
def test_speaker_ranges(keys: dict[str, Any], expected: str) -> None:
    assert fails(with_speaker(**keys)).startswith(expected)


@pytest.mark.parametrize(
    ("keys", "expected"),
    [
        ({"table": 0}, "kernel.table: 0 is not a routing table id (1..4294967295)"),
        ({"table": 2**32}, "kernel.table: 4294967296 is not a routing table id"),
        ({"table": 255}, "kernel.table: 255 is the kernel's local table"),
        ({"protocol": 256}, "kernel.protocol: 256 is not a route protocol number (5..255)"),
        ({"protocol": 4}, "kernel.protocol: 4 is reserved by the kernel"),
        ({"protocol": 0}, "kernel.protocol: 0 is reserved by the kernel"),
        ({"metric": -1}, "kernel.metric: -1 is out of range"),
        ({"adapter": "iproute"}, "kernel.adapter: 'iproute' is not one of 'netlink', 'memory'"),
        ({"encapsulation": "vxlan"}, "kernel.encapsulation: 'vxlan' is not one of"),
        ({"tunnel_device": "a" * 16}, "kernel.tunnel_device: "),
        ({"tunnel_device": "tun 0"}, "kernel.tunnel_device: 'tun 0' is not an interface name"),
        ({"tunnel_device": ""}, "kernel.tunnel_device: '' is not an interface name"),
        ({"source_address": "nope"}, "kernel.source_address: 'nope' is not an IP address"),
        ({"sweep_timeout": -1}, "kernel.sweep_timeout: -1 is out of range"),
    ],
)
def test_kernel_checks(keys: dict[str, Any], expected: str) -> None:
    assert fails(base(kernel=keys)).startswith(expected)


def test_kernel_full() -> None:
    kernel = parse_config(
        base(kernel={"adapter": "NetLink", "table": 100, "protocol": 5, "metric": 20,
                     "encapsulation": "crosssubnet", "tunnel_device": "ipip0",
                     "keep_on_stop": True, "source_address": "10.0.0.1",
                     "overwrite_foreign": True, "sweep_timeout": 0})
    ).kernel
    assert kernel == KernelConfig(
        adapter="netlink", table=100, protocol=5, metric=20, encapsulation="crosssubnet",
        tunnel_device="ipip0", keep_on_stop=True, source_address=IPv4Address("10.0.0.1"),
        overwrite_foreign=True, sweep_timeout=0,
    )


# --------------------------------------------------------------------------------------------
# addresses


@pytest.mark.parametrize(
    ("keys", "expected"),
    [
        ({"router_id": "fd00::1"}, "speaker.router_id: 'fd00::1' is not an IPv4 address"),
        ({"router_id": "10.0.0.256"}, "speaker.router_id: '10.0.0.256' is not an IPv4 address"),
        ({"router_id": "0.0.0.0"}, "speaker.router_id: 0.0.0.0 is not a valid router id"),
        ({"cluster_id": "fd00::1"}, "speaker.cluster_id: 'fd00::1' is not an IPv4 address"),
        ({"cluster_id": "0.0.0.0"}, "speaker.cluster_id: 0.0.0.0 is not a valid cluster id"),
        ({"listen_address": "any"}, "speaker.listen_address: 'any' is not an IP address"),
    ],
)
def test_speaker_addresses(keys: dict[str, Any], expected: str) -> None:
    assert fails(with_speaker(**keys)).startswith(expected)


def test_peer_addresses() -> None:
    assert fails(with_peer(address="node-2")) == "peers[0].address: 'node-2' is not an IP address"
    assert fails(with_peer(local_address="fd00::1")) == (
        "peers[0].local_address: fd00::1 is not of the same family as address 10.0.0.2"
    )
    assert fails(with_peer(local_address="10.0.0.2")) == (
        "peers[0].local_address: 10.0.0.2 is the peer's own address"
    )
    peer = parse_config(with_peer(address="fd00::2", local_address="fd00::1")).peers[0]
    assert peer.local_address == ip_address("fd00::1")


def test_duplicate_peer_addresses() -> None:
    data = base(peers=[{"address": "10.0.0.2", "asn": 1}, {"address": "10.0.0.3", "asn": 1},
                       {"address": "10.0.0.2", "asn": 2}])
    assert fails(data) == "peers[2].address: 10.0.0.2 is already configured as peers[0]"
    # the same IPv6 address spelt differently is still a duplicate
    data = base(peers=[{"address": "fd00::2", "asn": 1}, {"address": "fd00:0::2", "asn": 1}])
    assert fails(data) == "peers[1].address: fd00::2 is already configured as peers[0]"


def test_originate_prefixes() -> None:
    config = parse_config(base(originate={"prefixes": ["10.244.1.0/26", "fd00:1::/64"],
                                          "blackhole": True}))
    assert config.originate.prefixes == (ip_network("10.244.1.0/26"), ip_network("fd00:1::/64"))
    assert config.originate.blackhole is True
    assert fails(base(originate={"prefixes": ["10.244.1.0/26", "10.244.1.1/26"]})) == (
        "originate.prefixes[1]: 10.244.1.1/26 has host bits set (did you mean 10.244.1.0/26?)"
    )
    assert fails(base(originate={"prefixes": ["10.244.1.0/26", "10.244.1.0/26"]})) == (
        "originate.prefixes[1]: 10.244.1.0/26 is listed twice"
    )
    assert fails(base(originate={"prefixes": ["10.244.1.0/33"]})).startswith(
        "originate.prefixes[0]: '10.244.1.0/33' is not a prefix"
    )


def test_originate_communities() -> None:
    originate = parse_config(
        base(originate={"communities": ["64512:100", "no-export", "BLACKHOLE"],
                        "large_communities": ["64512:1:2"]})
    ).originate
    assert originate.communities == ((64512 << 16) | 100, 0xFFFFFF01, 0xFFFF029A)
    assert originate.large_communities == ((64512, 1, 2),)
    assert fails(base(originate={"communities": ["64512:100", "65536:1"]})).startswith(
        "originate.communities[1]: '65536:1' is not a community"
    )
    assert fails(base(originate={"communities": ["64512"]})).startswith(
        "originate.communities[0]: '64512' is not a community"
    )
    assert fails(base(originate={"large_communities": ["1:2"]})).startswith(
        "originate.large_communities[0]: '1:2' is not a large community"
    )
    assert fails(base(originate={"large_communities": ["1:2:4294967296"]})).startswith(
        "originate.large_communities[0]: '1:2:4294967296' is not a large community"
    )


@given(st.integers(0, 0xFFFF), st.integers(0, 0xFFFF))
def test_community_round_trip(high: int, low: int) -> None:
    text = f"{high}:{low}"
    value = parse_community(text)
    assert value == (high << 16) | low
    assert format_community(value) == text


@given(st.tuples(*[st.integers(0, 2**32 - 1)] * 3))
def test_large_community_round_trip(value: tuple[int, int, int]) -> None:
    assert parse_large_community(format_large_community(value)) == value


# --------------------------------------------------------------------------------------------
# properties


@given(st.integers(0, 2**32 - 1), st.integers(0, 32))
def test_originate_prefix_host_bits(address: int, length: int) -> None:
    loose = ip_network((address, length), strict=False)
    text = f"{IPv4Address(address)}/{length}"
    data = base(originate={"prefixes": [text]})
    if int(loose.network_address) == address:
        assert parse_config(data).originate.prefixes == (loose,)
    else:
        assert fails(data) == (
            f"originate.prefixes[0]: {text} has host bits set (did you mean {loose}?)"
        )


toml_scalars = st.one_of(
    st.booleans(), st.integers(-(2**70), 2**70), st.floats(allow_nan=True),
    st.text(max_size=20), st.sampled_from(["10.0.0.0/24", "fd00::1", "64512:1", "Accept", "In"]),
)
toml_values = st.recursive(
    toml_scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=3),
                            st.dictionaries(st.text(max_size=8), inner, max_size=3)),
    max_leaves=8,
)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, item in value.items():
            found += _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += _paths(item, (*prefix, index))
    return found


FULL = tomllib.loads((ROOT / "examples" / "node.toml").read_text())


@given(st.data())
def test_any_mangled_value_gives_config_error_only(data: st.DataObject) -> None:
    mangled = copy.deepcopy(FULL)
    path = data.draw(st.sampled_from(_paths(mangled)))
    target = mangled
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = data.draw(toml_values)
    try:
        config = parse_config(mangled)
    except ConfigError as exc:
        assert exc.key_path == "" or exc.key_path.split(".")[0].split("[")[0] in FULL
    else:
        assert isinstance(config, SpeakerConfig)

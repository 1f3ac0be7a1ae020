"""Config loading and validation: every rule, key paths in messages, defaults, examples, docs."""

from __future__ import annotations

import copy
import re
import tomllib
from ipaddress import IPv4Address, IPv4Network, IPv6Address, ip_network
from pathlib import Path
from typing import Any

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from pybgp.config import (
    ConfigError,
    DynamicPeerConfig,
    FilterConfig,
    FilterRule,
    FilterSetActions,
    GracefulRestartConfig,
    KernelConfig,
    LoggingConfig,
    MetricsConfig,
    OriginateConfig,
    PeerConfig,
    SpeakerConfig,
    SpeakerSection,
    config_diff,
    evaluate_filters,
    load_config,
    parse_config,
)
from pybgp.wire.constants import IPV4_UNICAST, IPV6_UNICAST

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
# defaults


def test_minimal_config_defaults() -> None:
    config = parse_config(base())
    assert config.speaker == SpeakerSection(asn=64512, router_id=IPv4Address("10.0.0.1"))
    speaker = config.speaker
    assert speaker.listen_address == "0.0.0.0"
    assert speaker.listen_port == 179
    assert speaker.control_socket == "/run/pybgp/pybgp.sock"
    assert speaker.control_socket_mode == 0o600
    assert speaker.hold_time == 90
    assert speaker.keepalive_time is None
    assert speaker.connect_retry_time == 3.0
    assert speaker.connect_delay == 1.0
    assert (speaker.error_wait_min, speaker.error_wait_max) == (5.0, 60.0)
    assert speaker.cluster_id is None
    assert speaker.multipath == 1
    assert speaker.always_compare_med is False
    assert speaker.default_local_pref == 100
    assert speaker.allow_own_as == 0
    assert config.peers == () and config.dynamic_peers == () and config.filters == ()
    assert config.originate == OriginateConfig()
    assert config.kernel == KernelConfig()
    assert config.kernel.adapter == "none"
    assert (config.kernel.table, config.kernel.protocol) == (254, 186)
    assert config.kernel.encapsulation == "none" and config.kernel.tunnel_device == "tunl0"
    assert config.kernel.sweep_timeout == 120 and config.kernel.keep_on_stop is False
    assert config.logging == LoggingConfig(level="info", format="text")
    assert config.metrics == MetricsConfig(listen="", per_peer=True)
    assert config.metrics.address is None


def test_peer_defaults() -> None:
    peer = parse_config(with_peer()).peers[0]
    assert peer.address == IPv4Address("10.0.0.2")
    assert peer.port == 179
    assert peer.passive is False
    assert peer.local_address is None
    assert peer.password is None
    assert peer.route_reflector_client is False
    assert peer.next_hop_self is False and peer.keep_original_next_hop is False
    assert peer.families == ("ipv4",)
    assert peer.family_set == frozenset({IPV4_UNICAST})
    assert peer.max_prefixes == 0
    assert peer.hold_time is None and peer.keepalive_time is None
    assert peer.ttl_security is False and peer.multihop is None
    assert peer.allow_own_as is None
    assert peer.import_filters == () and peer.export_filters == ()
    assert peer.type == "mesh"
    assert peer.description == ""
    assert peer.enabled is True
    assert peer.from_range is None
    assert peer.peer_id == "10.0.0.2"


def test_ipv6_peer_defaults_to_ipv6_family() -> None:
    peer = parse_config(with_peer(address="fd00::2")).peers[0]
    assert peer.address == IPv6Address("fd00::2")
    assert peer.families == ("ipv6",)
    assert peer.family_set == frozenset({IPV6_UNICAST})


def test_explicit_families() -> None:
    peer = parse_config(with_peer(families=["ipv4", "ipv6"])).peers[0]
    assert peer.family_set == frozenset({IPV4_UNICAST, IPV6_UNICAST})


@pytest.mark.parametrize(
    ("asn", "rr_client", "expected"),
    [(64512, False, "mesh"), (65001, False, "global"), (64512, True, "rr-client")],
)
def test_derived_peer_type(asn: int, rr_client: bool, expected: str) -> None:
    data = with_peer(asn=asn, route_reflector_client=rr_client)
    data["speaker"]["cluster_id"] = "10.0.0.1"
    peer = parse_config(data).peers[0]
    assert peer.type == expected
    assert attrs.evolve(peer, type="").effective_type(64512) == expected


def test_explicit_peer_type_and_case() -> None:
    assert parse_config(with_peer(type="Node-Specific")).peers[0].type == "node-specific"


def test_full_speaker_section() -> None:
    config = parse_config(
        with_speaker(
            listen_address="::", listen_port=1179, control_socket="", control_socket_mode=0o660,
            hold_time=0, connect_retry_time=0.5, connect_delay=0, error_wait_min=1,
            error_wait_max=2.5, cluster_id="10.0.0.9", multipath=8, always_compare_med=True,
            default_local_pref=200, allow_own_as=2,
        )
    )
    speaker = config.speaker
    assert speaker.listen_address == "::"
    assert speaker.listen_port == 1179 and speaker.control_socket == ""
    assert speaker.control_socket_mode == 0o660 and speaker.hold_time == 0
    assert speaker.connect_retry_time == 0.5 and speaker.connect_delay == 0.0
    assert (speaker.error_wait_min, speaker.error_wait_max) == (1.0, 2.5)
    assert speaker.cluster_id == IPv4Address("10.0.0.9")
    assert speaker.multipath == 8 and speaker.always_compare_med
    assert speaker.default_local_pref == 200 and speaker.allow_own_as == 2


def test_passive_sessions_need_a_listener() -> None:
    data = with_peer(passive=True)
    data["speaker"]["listen_address"] = ""
    assert fails(data) == (
        'peers[0].passive: a passive peer needs a listener (speaker.listen_address is "")'
    )
    data["peers"][0]["enabled"] = False
    assert parse_config(data).peers[0].passive
    data = base(dynamic_peers=[{"range": "10.0.0.0/24", "asn": 64512}])
    data["speaker"]["listen_address"] = ""
    assert fails(data) == (
        'dynamic_peers: dynamic peers need a listener (speaker.listen_address is "")'
    )


def test_listen_address_empty_means_no_listener_and_is_normalised() -> None:
    assert parse_config(with_speaker(listen_address="")).speaker.listen_address == ""
    assert parse_config(with_speaker(listen_address="fd00:0::1")).speaker.listen_address == (
        "fd00::1"
    )


# --------------------------------------------------------------------------------------------
# error format and required keys


def test_error_format_matches_contract() -> None:
    data = base(
        peers=[
            {"address": "10.0.0.2", "asn": 64512},
            {"address": "10.0.0.3", "asn": 64512},
            {"address": "10.0.0.4", "asn": 4294967296},
        ]
    )
    with pytest.raises(ConfigError) as info:
        parse_config(data)
    assert str(info.value) == "peers[2].asn: 4294967296 is not a valid AS number"
    assert info.value.key_path == "peers[2].asn"
    assert info.value.message == "4294967296 is not a valid AS number"
    assert isinstance(info.value, ValueError)


def test_missing_speaker_table() -> None:
    assert fails({}).startswith("speaker: missing required table")


@pytest.mark.parametrize("key", ["asn", "router_id"])
def test_speaker_required_keys(key: str) -> None:
    data = base()
    del data["speaker"][key]
    assert fails(data) == f"speaker.{key}: missing required key"


@pytest.mark.parametrize("key", ["address", "asn"])
def test_peer_required_keys(key: str) -> None:
    data = with_peer()
    del data["peers"][0][key]
    assert fails(data) == f"peers[0].{key}: missing required key"


def test_dynamic_peer_required_keys() -> None:
    assert fails(base(dynamic_peers=[{"asn": 64512}])) == (
        "dynamic_peers[0].range: missing required key"
    )
    assert fails(base(dynamic_peers=[{"range": "10.0.0.0/24"}])) == (
        "dynamic_peers[0].asn: missing required key"
    )


def test_section_of_wrong_type() -> None:
    assert fails(base(kernel=[1])) == "kernel: expected a table, got an array"
    assert fails(base(peers={"address": "10.0.0.2"})).startswith(
        "peers: expected an array of tables ([[peers]])"
    )
    assert fails(base(peers=[5])) == "peers[0]: expected a table, got an integer (5)"


# --------------------------------------------------------------------------------------------
# unknown keys at every level


RULE = {"action": "Accept"}


@pytest.mark.parametrize(
    ("data", "path"),
    [
        ({**base(), "speakers": {}}, "speakers"),
        (with_speaker(hold=90), "speaker.hold"),
        (with_peer(adress="x"), "peers[0].adress"),
        (base(dynamic_peers=[{"range": "10.0.0.0/24", "asn": 1, "passive": True}]),
         "dynamic_peers[0].passive"),
        (base(dynamic_peers=[{"range": "10.0.0.0/24", "asn": 1, "address": "10.0.0.1"}]),
         "dynamic_peers[0].address"),
        (base(originate={"prefix": []}), "originate.prefix"),
        (base(kernel={"adaptor": "none"}), "kernel.adaptor"),
        (base(logging={"lvl": "info"}), "logging.lvl"),
        (base(metrics={"port": 1}), "metrics.port"),
        (base(filters=[{"name": "f", "rule": []}]), "filters[0].rule"),
        (base(filters=[{"name": "f", "rules": [{**RULE, "prefix": "x"}]}]),
         "filters[0].rules[0].prefix"),
        (base(filters=[{"name": "f", "rules": [{**RULE, "prefix_length": {"minimum": 1}}]}]),
         "filters[0].rules[0].prefix_length.minimum"),
        (base(filters=[{"name": "f", "rules": [{**RULE, "set": {"localpref": 1}}]}]),
         "filters[0].rules[0].set.localpref"),
        (with_peer(from_range="10.0.0.0/24"), "peers[0].from_range"),
    ],
)
def test_unknown_keys_are_errors(data: dict[str, Any], path: str) -> None:
    message = fails(data)
    assert message.startswith(f"{path}: unknown key (")
    assert "expected one of: " in message


def test_unknown_key_suggests_the_closest_one() -> None:
    assert fails(with_peer(adress="10.0.0.2")).startswith(
        "peers[0].adress: unknown key (did you mean 'address'? expected one of: address, "
    )
    assert "did you mean" not in fails(with_peer(zzz=1))


# --------------------------------------------------------------------------------------------
# types


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (with_speaker(asn="64512"), "speaker.asn: expected an integer, got a string ('64512')"),
        (with_speaker(asn=True), "speaker.asn: expected an integer, got a boolean (true)"),
        (with_speaker(asn=64512.0), "speaker.asn: expected an integer, got a float (64512.0)"),
        (with_speaker(listen_port=False),
         "speaker.listen_port: expected an integer, got a boolean (false)"),
        (with_speaker(hold_time="90"),
         "speaker.hold_time: expected an integer, got a string ('90')"),
        (with_speaker(router_id=167772161),
         "speaker.router_id: expected a string, got an integer (167772161)"),
        (with_speaker(always_compare_med=1),
         "speaker.always_compare_med: expected true or false, got an integer (1)"),
        (with_speaker(connect_retry_time=True),
         "speaker.connect_retry_time: expected a number of seconds, got a boolean (true)"),
        (with_peer(passive="yes"),
         "peers[0].passive: expected true or false, got a string ('yes')"),
        (with_peer(families="ipv4"), "peers[0].families: expected an array, got a string ('ipv4')"),
        (with_peer(families=[4]), "peers[0].families[0]: expected a string, got an integer (4)"),
        (with_peer(port=True), "peers[0].port: expected an integer, got a boolean (true)"),
        (with_peer(max_prefixes=1.5),
         "peers[0].max_prefixes: expected an integer, got a float (1.5)"),
        (base(kernel={"table": "main"}),
         "kernel.table: expected an integer, got a string ('main')"),
        (base(filters=[{"name": "f", "rules": [{**RULE, "set": {"med": "10"}}]}]),
         "filters[0].rules[0].set.med: expected an integer, got a string ('10')"),
    ],
)
def test_type_errors(data: dict[str, Any], expected: str) -> None:
    assert fails(data) == expected


# --------------------------------------------------------------------------------------------
# AS numbers (hypothesis)


@given(st.integers(min_value=1, max_value=2**32 - 1).filter(lambda n: n != 23456))
def test_every_valid_asn_is_accepted(asn: int) -> None:
    config = parse_config(with_peer(asn=asn))
    assert config.peers[0].asn == asn
    assert parse_config(with_speaker(asn=asn)).speaker.asn == asn


@given(st.one_of(st.integers(max_value=0), st.integers(min_value=2**32)))
def test_every_invalid_asn_is_refused(asn: int) -> None:
    assert fails(with_peer(asn=asn)) == f"peers[0].asn: {asn} is not a valid AS number"
    assert fails(with_speaker(asn=asn)) == f"speaker.asn: {asn} is not a valid AS number"


def test_as_trans_is_refused() -> None:
    assert fails(with_speaker(asn=23456)) == (
        "speaker.asn: 23456 is AS_TRANS (RFC 6793), not a valid AS number"
    )


# --------------------------------------------------------------------------------------------
# peers: session knobs and cross checks


def test_password_rules() -> None:
    assert parse_config(with_peer(password="x" * 80)).peers[0].password == "x" * 80
    assert fails(with_peer(password="x" * 81)) == (
        "peers[0].password: longer than 80 bytes (TCP_MD5SIG_MAXKEYLEN)"
    )
    # bytes, not characters
    assert fails(with_peer(password="é" * 41)).startswith("peers[0].password: longer than 80")
    assert fails(with_peer(password="")).startswith("peers[0].password: empty password")


def test_route_reflector_client_needs_cluster_id() -> None:
    assert fails(with_peer(route_reflector_client=True)) == (
        "peers[0].route_reflector_client: needs speaker.cluster_id: only a route reflector "
        "has clients (RFC 4456)"
    )
    data = base(dynamic_peers=[{"range": "10.0.0.0/24", "asn": 64512,
                                "route_reflector_client": True}])
    assert fails(data).startswith("dynamic_peers[0].route_reflector_client: needs speaker.")


def test_route_reflector_client_must_be_ibgp() -> None:
    data = with_peer(asn=65001, route_reflector_client=True)
    data["speaker"]["cluster_id"] = "10.0.0.1"
    assert fails(data) == (
        "peers[0].route_reflector_client: a route reflector client must be an iBGP peer "
        "(asn 65001 differs from speaker.asn 64512)"
    )


def test_next_hop_self_conflicts_with_keep_original() -> None:
    assert fails(with_peer(next_hop_self=True, keep_original_next_hop=True)).startswith(
        "peers[0].keep_original_next_hop: contradicts next_hop_self"
    )


@pytest.mark.parametrize(
    ("families", "expected"),
    [
        ([], "peers[0].families: at least one family is needed"),
        (["ipv4", "vpnv4"], "peers[0].families[1]: 'vpnv4' is not one of 'ipv4', 'ipv6'"),
        (["ipv4", "ipv4"], "peers[0].families[1]: 'ipv4' is listed twice"),
    ],
)
def test_family_checks(families: list[str], expected: str) -> None:
    assert fails(with_peer(families=families)) == expected


def test_peer_numeric_knobs() -> None:
    peer = parse_config(
        with_peer(max_prefixes=5000, ttl_security=True, multihop=2, allow_own_as=1,
                  passive=True, port=1179, description="node-2", enabled=False,
                  next_hop_self=True)
    ).peers[0]
    assert (peer.max_prefixes, peer.ttl_security, peer.multihop, peer.allow_own_as) == (
        5000, True, 2, 1
    )
    assert peer.passive and peer.port == 1179 and peer.description == "node-2"
    assert peer.enabled is False and peer.next_hop_self
    assert fails(with_peer(multihop=0)) == "peers[0].multihop: 0 is out of range (1..255)"
    assert fails(with_peer(max_prefixes=-1)).startswith("peers[0].max_prefixes: -1 is out")
    assert fails(with_peer(type="ebgp")).startswith("peers[0].type: 'ebgp' is not one of")


def test_filter_references_must_exist() -> None:
    data = with_peer(import_filters=["f"], export_filters=["f", "g"])
    data["filters"] = [{"name": "f"}]
    assert fails(data) == "peers[0].export_filters[1]: no filter named 'g' (defined: f)"
    data["filters"].append({"name": "g"})
    peer = parse_config(data).peers[0]
    assert peer.import_filters == ("f",) and peer.export_filters == ("f", "g")
    assert fails(with_peer(import_filters=["x"])) == (
        "peers[0].import_filters[0]: no filter named 'x' (defined: none)"
    )


# --------------------------------------------------------------------------------------------
# dynamic peers


def reflector(**dynamic: Any) -> SpeakerConfig:
    entry = {"range": "10.0.0.0/24", "asn": 64512, "route_reflector_client": True}
    entry.update(dynamic)
    data = base(
        dynamic_peers=[entry, {"range": "10.0.0.128/25", "asn": 64512, "description": "upper"},
                       {"range": "fd00::/64", "asn": 64512}],
        peers=[{"address": "10.0.0.200", "asn": 64512, "enabled": False}],
    )
    data["speaker"]["cluster_id"] = "10.0.0.1"
    return parse_config(data)


def test_dynamic_peer_matching() -> None:
    config = reflector(password="pw", families=["ipv4", "ipv6"], max_prefixes=10,
                       import_filters=[])
    peer = config.peer_for("10.0.0.7")
    assert peer is not None
    assert peer.address == IPv4Address("10.0.0.7")
    assert peer.from_range == IPv4Network("10.0.0.0/24")
    assert peer.passive is True
    assert peer.route_reflector_client is True
    assert peer.type == "rr-client"
    assert peer.password == "pw" and peer.max_prefixes == 10
    assert peer.families == ("ipv4", "ipv6")
    # the most specific range wins
    upper = config.peer_for(IPv4Address("10.0.0.130"))
    assert upper is not None and upper.from_range == IPv4Network("10.0.0.128/25")
    assert upper.description == "upper" and upper.type == "mesh"
    # a static peer wins over any range, even when disabled
    static = config.peer_for("10.0.0.200")
    assert static is not None and static.from_range is None and static.enabled is False
    v6 = config.peer_for("fd00::9")
    assert v6 is not None and v6.families == ("ipv6",)
    assert config.peer_for("10.0.1.1") is None
    assert config.peer_for("fd01::1") is None


def test_dynamic_peer_checks() -> None:
    assert fails(base(dynamic_peers=[{"range": "10.0.0.1/24", "asn": 1}])) == (
        "dynamic_peers[0].range: 10.0.0.1/24 has host bits set (did you mean 10.0.0.0/24?)"
    )
    data = base(dynamic_peers=[{"range": "10.0.0.0/24", "asn": 1},
                               {"range": "10.0.0.0/24", "asn": 2}])
    assert fails(data) == (
        "dynamic_peers[1].range: 10.0.0.0/24 is already configured as dynamic_peers[0]"
    )
    assert fails(base(dynamic_peers=[{"range": "10.0.0.0/24", "asn": 0}])) == (
        "dynamic_peers[0].asn: 0 is not a valid AS number"
    )


def test_dynamic_peer_built_from_template_directly() -> None:
    template = DynamicPeerConfig(range=ip_network("10.1.0.0/16"), asn=65001, multihop=3)
    peer = template.peer(IPv4Address("10.1.2.3"), 64512)
    assert peer == PeerConfig(address=IPv4Address("10.1.2.3"), asn=65001, multihop=3,
                              passive=True, type="global", from_range=ip_network("10.1.0.0/16"))


# --------------------------------------------------------------------------------------------
# logging, metrics


def test_logging_and_metrics() -> None:
    config = parse_config(base(logging={"level": "DEBUG", "format": "json"},
                               metrics={"listen": "[::1]:9179", "per_peer": False}))
    assert config.logging == LoggingConfig(level="debug", format="json")
    assert config.metrics.address == ("::1", 9179) and config.metrics.per_peer is False
    assert parse_config(base(metrics={"listen": "127.0.0.1:0"})).metrics.address == (
        "127.0.0.1", 0
    )
    assert fails(base(logging={"level": "verbose"})).startswith(
        "logging.level: 'verbose' is not one of 'debug'"
    )
    assert fails(base(logging={"format": "xml"})).startswith("logging.format: 'xml' is not")
    for bad in ("9179", "localhost:9179", "::1:9179", "127.0.0.1:99999", "127.0.0.1:"):
        assert fails(base(metrics={"listen": bad})).startswith(f"metrics.listen: {bad!r} is not")


# --------------------------------------------------------------------------------------------
# config_diff


def test_config_diff() -> None:
    old_data = base(
        peers=[{"address": "10.0.0.2", "asn": 64512}, {"address": "10.0.0.3", "asn": 64512},
               {"address": "10.0.0.4", "asn": 64512, "import_filters": ["f"]},
               {"address": "10.0.0.5", "asn": 64512}],
        filters=[{"name": "f", "rules": [{"action": "Accept"}]}],
        originate={"prefixes": ["10.244.1.0/26"]},
    )
    old = parse_config(old_data)
    assert config_diff(old, old).empty
    assert not config_diff(old, old).restart_required

    new_data = copy.deepcopy(old_data)
    new_data["peers"] = [
        {"address": "10.0.0.2", "asn": 64512},                   # unchanged
        {"address": "10.0.0.3", "asn": 64512, "passive": True},  # changed
        {"address": "10.0.0.4", "asn": 64512, "import_filters": ["f"]},  # filter changed
        {"address": "10.0.0.6", "asn": 64512},                   # added (10.0.0.5 removed)
    ]
    new_data["filters"] = [{"name": "f", "rules": [{"action": "Reject"}]}, {"name": "g"}]
    new_data["originate"]["prefixes"].append("10.244.2.0/26")
    new_data["kernel"] = {"adapter": "memory"}
    new_data["speaker"]["hold_time"] = 30
    diff = config_diff(old, parse_config(new_data))
    assert [str(p.address) for p in diff.added_peers] == ["10.0.0.6"]
    assert [str(p.address) for p in diff.removed_peers] == ["10.0.0.5"]
    assert [(str(a.address), a.passive, b.passive) for a, b in diff.changed_peers] == [
        ("10.0.0.3", False, True), ("10.0.0.4", False, False)
    ]
    assert diff.filters_changed == ("f", "g")
    assert diff.originate_changed and diff.kernel_changed
    assert diff.speaker_changed == ("hold_time",) and not diff.restart_required
    assert not diff.dynamic_peers_changed and not diff.logging_changed
    assert not diff.metrics_changed and not diff.empty

    moved = copy.deepcopy(old_data)
    moved["speaker"]["router_id"] = "10.0.0.9"
    moved["dynamic_peers"] = [{"range": "10.1.0.0/16", "asn": 64512}]
    moved["logging"] = {"level": "debug"}
    moved["metrics"] = {"listen": "127.0.0.1:9179"}
    diff = config_diff(old, parse_config(moved))
    assert diff.speaker_changed == ("router_id",) and diff.restart_required
    assert diff.dynamic_peers_changed and diff.logging_changed and diff.metrics_changed
    assert not diff.changed_peers and not diff.filters_changed


# --------------------------------------------------------------------------------------------
# files, examples, docs


def test_load_config_file_errors(tmp_path: Path) -> None:
    missing = tmp_path / "missing.toml"
    with pytest.raises(ConfigError) as info:
        load_config(missing)
    assert str(missing) in str(info.value) and "cannot read the file" in str(info.value)
    assert info.value.key_path == ""

    broken = tmp_path / "broken.toml"
    broken.write_text('[speaker]\nasn = 64512\nrouter_id = "10.0.0.1\n')
    with pytest.raises(ConfigError) as info:
        load_config(str(broken))
    assert str(broken) in str(info.value) and "TOML syntax error" in str(info.value)
    assert info.value.line == 3

    binary = tmp_path / "binary.toml"
    binary.write_bytes(b"\xff\xfe")
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_config(binary)

    invalid = tmp_path / "invalid.toml"
    invalid.write_text('[speaker]\nasn = 64512\nrouter_id = "10.0.0.1"\nfoo = 1\n')
    with pytest.raises(ConfigError) as info:
        load_config(invalid)
    assert info.value.key_path == "speaker.foo"
    assert info.value.file == str(invalid)
    assert str(info.value).startswith("speaker.foo: unknown key")
    assert ConfigError("x", "y").file is None


def test_node_example() -> None:
    config = load_config(ROOT / "examples" / "node.toml")
    assert config.kernel.adapter == "netlink"
    assert config.kernel.encapsulation == "crosssubnet"
    assert config.originate.blackhole is True
    assert config.originate.prefixes == (ip_network("10.244.1.0/26"),)
    assert {p.type for p in config.peers} == {"mesh", "global"}
    tor = config.peer_for("10.0.0.254")
    assert tor is not None
    export = config.peer_filters(tor, "export")
    assert evaluate_filters(export, ip_network("10.244.1.0/26")).accept
    assert not evaluate_filters(export, ip_network("10.244.1.0/24")).accept
    assert not evaluate_filters(export, ip_network("10.0.0.0/24")).accept


def test_reflector_example() -> None:
    config = load_config(ROOT / "examples" / "reflector.toml")
    assert config.speaker.cluster_id is not None
    assert config.speaker.listen_address == "0.0.0.0"
    assert config.kernel.adapter == "none"
    client = config.peer_for("10.0.0.17")
    assert client is not None and client.route_reflector_client and client.passive
    assert client.type == "rr-client"


DOC = ROOT / "docs" / "configuration.md"
BLOCKS = re.findall(r"```toml\n(.*?)```", DOC.read_text(), flags=re.DOTALL)


def test_docs_have_toml_blocks() -> None:
    assert len(BLOCKS) >= 4
    assert any(block.startswith("# invalid") for block in BLOCKS)


@pytest.mark.parametrize("block", BLOCKS, ids=[f"block{i}" for i in range(len(BLOCKS))])
def test_docs_toml_blocks(block: str) -> None:
    data = tomllib.loads(block)
    lines = block.splitlines()
    if lines[0].strip() == "# invalid":
        expected = lines[1].lstrip("#").strip()
        with pytest.raises(ConfigError) as info:
            parse_config(data)
        assert str(info.value) == expected
    else:
        assert isinstance(parse_config(data), SpeakerConfig)


def _field_names(cls: type) -> set[str]:
    return {f.name for f in attrs.fields(cls)} - {"from_range"}


@pytest.mark.parametrize(
    "cls",
    [SpeakerSection, PeerConfig, DynamicPeerConfig, OriginateConfig, KernelConfig,
     GracefulRestartConfig, LoggingConfig, MetricsConfig, FilterConfig, FilterRule,
     FilterSetActions],
)
def test_docs_mention_every_key(cls: type) -> None:
    text = DOC.read_text()
    for name in _field_names(cls):
        assert f"`{name}`" in text, f"{cls.__name__}.{name} is not documented"


def test_every_field_has_a_docstring() -> None:
    import ast
    import inspect

    import pybgp.config
    import pybgp.config.filters

    for module in (pybgp.config, pybgp.config.filters):
        tree = ast.parse(inspect.getsource(module))
        for node in tree.body:
            if not isinstance(node, ast.ClassDef):
                continue
            body = node.body
            for i, item in enumerate(body):
                if isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name):
                    following = body[i + 1] if i + 1 < len(body) else None
                    assert isinstance(following, ast.Expr) and isinstance(
                        following.value, ast.Constant
                    ), f"{node.name}.{item.target.id} has no docstring"


def test_config_values_are_frozen_and_hashable() -> None:
    config = load_config(ROOT / "examples" / "node.toml")
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        config.speaker.asn = 1  # type: ignore[misc]
    assert hash(config) == hash(load_config(ROOT / "examples" / "node.toml"))


def test_local_address6_for_ipv6_routes_over_an_ipv4_session() -> None:
    config = parse_config(with_peer(families=["ipv4", "ipv6"], local_address6="fd00:99::1"))
    assert config.peers[0].local_address6 == IPv6Address("fd00:99::1")
    assert parse_config(with_peer()).peers[0].local_address6 is None
    assert fails(with_peer(local_address6="10.0.0.9")) == (
        "peers[0].local_address6: 10.0.0.9 is not a global or unique-local IPv6 address"
    )
    assert fails(with_peer(local_address6="fe80::1")).startswith("peers[0].local_address6: ")
    ipv6_peer = with_peer(address="fd00:99::2", local_address6="fd00:99::1")
    assert fails(ipv6_peer) == (
        "peers[0].local_address6: only for an IPv4 peer (an IPv6 session uses local_address)"
    )

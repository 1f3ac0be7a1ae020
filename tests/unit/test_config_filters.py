"""Route filters: parsing of [[filters]], rule matching, evaluation order, chains."""

from __future__ import annotations

import copy
from ipaddress import IPv4Network, ip_network
from typing import Any

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from pybgp.config import (
    ConfigError,
    FilterAction,
    FilterConfig,
    FilterRule,
    FilterSetActions,
    MatchOperator,
    PrefixLengthRange,
    evaluate_filters,
    parse_community,
    parse_config,
)


def base(**sections: Any) -> dict[str, Any]:
    """A minimal valid config plus the given top-level entries."""
    data: dict[str, Any] = {"speaker": {"asn": 64512, "router_id": "10.0.0.1"}}
    data.update(copy.deepcopy(sections))
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
# filters


def parse_filter(*rules: dict[str, Any]) -> FilterConfig:
    return parse_config(base(filters=[{"name": "f", "rules": list(rules)}])).filters[0]


def filter_error(*rules: dict[str, Any]) -> str:
    return fails(base(filters=[{"name": "f", "rules": list(rules)}]))


def test_filter_parsing() -> None:
    config = parse_filter(
        {"cidr": "10.244.0.0/16", "match_operator": "in", "prefix_length": {"max": 26},
         "communities": ["64512:1"], "large_communities": ["1:2:3"], "action": "accept",
         "set": {"communities": [], "add_communities": ["64512:100"], "local_pref": 50,
                 "med": 7, "as_path_prepend": [64512, 64512]}},
        {"action": "Reject"},
    )
    assert config.rules[0] == FilterRule(
        action=FilterAction.ACCEPT, cidr=ip_network("10.244.0.0/16"),
        match_operator=MatchOperator.IN, prefix_length=PrefixLengthRange(min=None, max=26),
        communities=((64512 << 16) | 1,), large_communities=((1, 2, 3),),
        set=FilterSetActions(communities=(), add_communities=((64512 << 16) | 100,),
                             local_pref=50, med=7, as_path_prepend=(64512, 64512)),
    )
    assert config.rules[1] == FilterRule(action=FilterAction.REJECT)


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        ({}, "filters[0].rules[0].action: missing required key"),
        ({"action": "Drop"}, "filters[0].rules[0].action: 'Drop' is not one of 'Accept', 'Reject'"),
        ({"action": "Accept", "cidr": "10.0.0.0/8"},
         "filters[0].rules[0].match_operator: missing: a rule with cidr needs match_operator"),
        ({"action": "Accept", "match_operator": "In"},
         "filters[0].rules[0].cidr: missing: a rule with match_operator needs cidr"),
        ({"action": "Accept", "cidr": "10.0.0.1/8", "match_operator": "In"},
         "filters[0].rules[0].cidr: 10.0.0.1/8 has host bits set (did you mean 10.0.0.0/8?)"),
        ({"action": "Accept", "cidr": "10.0.0.0/8", "match_operator": "Within"},
         "filters[0].rules[0].match_operator: 'Within' is not one of"),
        ({"action": "Accept", "prefix_length": {"min": 28, "max": 24}},
         "filters[0].rules[0].prefix_length.max: 24 is less than min (28)"),
        ({"action": "Accept", "cidr": "10.0.0.0/8", "match_operator": "In",
          "prefix_length": {"max": 33}},
         "filters[0].rules[0].prefix_length.max: 33 is out of range (0..32)"),
        ({"action": "Accept", "prefix_length": 24},
         "filters[0].rules[0].prefix_length: expected a table, got an integer (24)"),
        ({"action": "Reject", "set": {"med": 1}},
         "filters[0].rules[0].set: a Reject rule cannot change the route"),
        ({"action": "Accept", "set": {"as_path_prepend": [0]}},
         "filters[0].rules[0].set.as_path_prepend[0]: 0 is not a valid AS number"),
        ({"action": "Accept", "set": {"local_pref": 2**32}},
         "filters[0].rules[0].set.local_pref: 4294967296 is out of range"),
        ({"action": "Accept", "set": {"add_communities": ["x"]}},
         "filters[0].rules[0].set.add_communities[0]: 'x' is not a community"),
        ({"action": "Accept", "communities": ["1:2:3"]},
         "filters[0].rules[0].communities[0]: '1:2:3' is not a community"),
    ],
)
def test_filter_rule_checks(rule: dict[str, Any], expected: str) -> None:
    assert filter_error(rule).startswith(expected)


def test_filter_name_checks() -> None:
    assert fails(base(filters=[{"rules": []}])) == "filters[0].name: missing required key"
    assert fails(base(filters=[{"name": " "}])) == (
        "filters[0].name: a filter name cannot be empty"
    )
    assert fails(base(filters=[{"name": "a"}, {"name": "a"}])) == (
        "filters[1].name: 'a' is already the name of filters[0]"
    )


NET = ip_network


@pytest.mark.parametrize(
    ("operator", "route", "expected"),
    [
        ("Equal", "10.244.0.0/16", True),
        ("Equal", "10.244.1.0/26", False),
        ("NotEqual", "10.244.1.0/26", True),
        ("NotEqual", "10.244.0.0/16", False),
        ("In", "10.244.1.0/26", True),
        ("In", "10.244.0.0/16", True),
        ("In", "10.0.0.0/8", False),
        ("In", "10.245.0.0/26", False),
        ("NotIn", "10.245.0.0/26", True),
        ("NotIn", "10.0.0.0/8", True),
        ("NotIn", "10.244.3.0/24", False),
        # a rule of one family never matches the other
        ("NotIn", "fd00::/64", False),
        ("NotEqual", "fd00::/64", False),
    ],
)
def test_match_operators(operator: str, route: str, expected: bool) -> None:
    rule = FilterRule(action=FilterAction.ACCEPT, cidr=NET("10.244.0.0/16"),
                      match_operator=MatchOperator(operator))
    assert rule.matches(NET(route)) is expected


def test_prefix_length_bounds() -> None:
    rule = FilterRule(action=FilterAction.ACCEPT, cidr=NET("10.244.0.0/16"),
                      match_operator=MatchOperator.IN, prefix_length=PrefixLengthRange(max=26))
    assert rule.matches(NET("10.244.0.0/16"))  # min defaults to the cidr's length with In
    assert rule.matches(NET("10.244.1.0/26"))
    assert not rule.matches(NET("10.244.1.0/27"))
    lone = FilterRule(action=FilterAction.REJECT, prefix_length=PrefixLengthRange(min=25))
    assert lone.matches(NET("10.0.0.0/25")) and lone.matches(NET("fd00::/64"))
    assert not lone.matches(NET("10.0.0.0/24"))


def test_community_matching() -> None:
    a, b = parse_community("64512:1"), parse_community("64512:2")
    rule = FilterRule(action=FilterAction.REJECT, communities=(a, b),
                      large_communities=((1, 2, 3),))
    net = NET("10.0.0.0/24")
    assert rule.matches(net, frozenset({a, b, 7}), frozenset({(1, 2, 3)}))
    assert not rule.matches(net, frozenset({a}), frozenset({(1, 2, 3)}))
    assert not rule.matches(net, frozenset({a, b}), frozenset())
    assert FilterRule(action=FilterAction.ACCEPT).matches(net)  # catch-all


def test_filter_evaluate_first_match_and_default_accept() -> None:
    config = parse_filter(
        {"cidr": "0.0.0.0/0", "match_operator": "Equal", "action": "Accept",
         "set": {"local_pref": 50, "med": 5, "as_path_prepend": [64512],
                 "add_communities": ["64512:9"], "communities": ["1:1"]}},
        {"communities": ["65001:666"], "action": "Reject"},
        {"cidr": "10.244.0.0/16", "match_operator": "In", "action": "Reject"},
    )
    default = config.evaluate(NET("0.0.0.0/0"), frozenset({parse_community("65001:666")}))
    assert default.accept and default.filter == "f" and default.rule == 0
    assert default.local_pref == 50 and default.med == 5 and default.as_path_prepend == (64512,)
    assert default.set_communities == (parse_community("1:1"),)
    assert default.add_communities == (parse_community("64512:9"),) and default.changes
    tagged = config.evaluate(NET("192.0.2.0/24"), frozenset({parse_community("65001:666")}))
    assert not tagged.accept and tagged.rule == 1
    pods = config.evaluate(NET("10.244.3.0/26"))
    assert not pods.accept and pods.rule == 2
    other = config.evaluate(NET("192.0.2.0/24"))
    assert other.accept and other.rule is None and other.filter is None and not other.changes


def test_filter_chain() -> None:
    reject_pods = FilterConfig(name="a", rules=(
        FilterRule(action=FilterAction.REJECT, cidr=NET("10.244.0.0/16"),
                   match_operator=MatchOperator.IN),))
    deny_all = FilterConfig(name="b", rules=(FilterRule(action=FilterAction.REJECT),))
    accept_v6 = FilterConfig(name="c", rules=(
        FilterRule(action=FilterAction.ACCEPT, cidr=NET("::/0"),
                   match_operator=MatchOperator.IN, set=FilterSetActions(med=1)),))
    assert evaluate_filters([], NET("10.0.0.0/8")).accept
    verdict = evaluate_filters([reject_pods, deny_all], NET("10.244.1.0/26"))
    assert (verdict.accept, verdict.filter) == (False, "a")
    verdict = evaluate_filters([reject_pods, deny_all], NET("10.1.0.0/16"))
    assert (verdict.accept, verdict.filter) == (False, "b")
    verdict = evaluate_filters([accept_v6, deny_all], NET("fd00::/64"))
    assert (verdict.accept, verdict.filter, verdict.med) == (True, "c", 1)
    assert evaluate_filters([reject_pods, accept_v6], NET("192.0.2.0/24")).accept


def test_speaker_config_filter_lookup() -> None:
    data = with_peer(import_filters=["b", "a"])
    data["filters"] = [{"name": "a"}, {"name": "b"}]
    config = parse_config(data)
    assert [f.name for f in config.peer_filters(config.peers[0], "import")] == ["b", "a"]
    assert config.peer_filters(config.peers[0], "export") == ()
    with pytest.raises(KeyError):
        config.filter("missing")


# --------------------------------------------------------------------------------------------
# properties


ipv4_networks = st.builds(
    lambda address, length: ip_network((address, length), strict=False),
    st.integers(0, 2**32 - 1),
    st.integers(0, 32),
)


@given(ipv4_networks, ipv4_networks)
def test_in_and_not_in_are_complements(cidr: IPv4Network, route: IPv4Network) -> None:
    inside = FilterRule(action=FilterAction.ACCEPT, cidr=cidr, match_operator=MatchOperator.IN)
    outside = attrs.evolve(inside, match_operator=MatchOperator.NOT_IN)
    assert inside.matches(route) != outside.matches(route)
    assert inside.matches(route) == (
        route.prefixlen >= cidr.prefixlen
        and int(route.network_address) & int(cidr.netmask) == int(cidr.network_address)
    )
    equal = attrs.evolve(inside, match_operator=MatchOperator.EQUAL)
    not_equal = attrs.evolve(inside, match_operator=MatchOperator.NOT_EQUAL)
    assert equal.matches(route) == (route == cidr) != not_equal.matches(route)

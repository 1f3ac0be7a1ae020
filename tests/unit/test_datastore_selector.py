"""Calico selectors: the supported subset, and errors that name the resource."""

from __future__ import annotations

import pytest

from pybgp.datastore import SelectorError, parse_selector

LABELS = {"rack": "a", "route-reflector": "true", "zone": "eu-1"}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("all()", True),
        ("has(rack)", True),
        ("has(missing)", False),
        ("rack == 'a'", True),
        ('rack == "b"', False),
        ("rack != 'b'", True),
        ("missing != 'x'", True),  # Calico: != matches when the label is absent
        ("zone in {'eu-1', 'eu-2'}", True),
        ("zone in {'us-1'}", False),
        ("missing in {'x'}", False),
        ("zone not in {'us-1'}", True),
        ("rack == 'a' && route-reflector == 'true'", True),
        ("rack == 'b' || has(zone)", True),
        ("!has(rack)", False),
        ("!(rack == 'b') && (has(zone) || has(x))", True),
        ("rack == 'a' && rack == 'b' || zone == 'eu-1'", True),  # && binds tighter
        ("rack == 'b' && (rack == 'a' || zone == 'eu-1')", False),
    ],
)
def test_selector_semantics(text: str, expected: bool) -> None:
    assert parse_selector(text, "test").matches(LABELS) is expected


@pytest.mark.parametrize(
    "text",
    ["name contains 'x'", "rack == a", "rack ==", "(has(rack)", "has(rack))", "global()",
     "rack starts with 'a'", "rack in {'a' 'b'}", "", "rack == 'a' &&"],
)
def test_unsupported_or_broken_selectors_name_the_resource(text: str) -> None:
    with pytest.raises(SelectorError, match="BGPPeer rr nodeSelector"):
        parse_selector(text, "BGPPeer rr nodeSelector")

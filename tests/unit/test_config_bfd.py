"""``[bfd]`` and the per-peer ``bfd`` key: defaults, values, errors that name the key."""

from __future__ import annotations

from typing import Any

import pytest

from pybgp.config import BfdConfig, ConfigError, config_diff, parse_config

SPEAKER = {"asn": 64512, "router_id": "10.0.0.1"}


def parse(**tables: Any) -> Any:
    return parse_config({"speaker": SPEAKER, **tables})


def test_defaults() -> None:
    config = parse(peers=[{"address": "10.0.0.2", "asn": 64512}])
    assert config.bfd == BfdConfig(min_tx_ms=300, min_rx_ms=300, multiplier=3)
    assert config.peers[0].bfd is False


def test_values() -> None:
    config = parse(
        peers=[{"address": "10.0.0.2", "asn": 64512, "bfd": True}],
        bfd={"min_tx_ms": 100, "min_rx_ms": 200, "multiplier": 5},
    )
    assert config.peers[0].bfd is True
    assert config.bfd == BfdConfig(min_tx_ms=100, min_rx_ms=200, multiplier=5)


@pytest.mark.parametrize(
    ("tables", "message"),
    [
        ({"bfd": {"min_tx_ms": 5}}, "bfd.min_tx_ms: 5 ms is out of range (10..60000 ms)"),
        ({"bfd": {"min_rx_ms": 60001}}, "bfd.min_rx_ms: 60001 ms is out of range"),
        ({"bfd": {"multiplier": 0}}, "bfd.multiplier: 0 is out of range (1..255)"),
        ({"bfd": {"multiplier": 256}}, "bfd.multiplier: 256 is out of range (1..255)"),
        ({"bfd": {"min_tx_ms": "fast"}}, "bfd.min_tx_ms: expected an integer"),
        ({"bfd": {"interval": 3}}, "bfd.interval: unknown key"),
        ({"bfd": True}, "bfd: expected a table"),
        (
            {"peers": [{"address": "10.0.0.2", "asn": 1, "bfd": "yes"}]},
            "peers[0].bfd: expected true or false",
        ),
    ],
)
def test_errors_name_the_key(tables: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse(**tables)
    assert str(caught.value).startswith(message)


def test_reload_sees_bfd_changes() -> None:
    old = parse(bfd={"min_tx_ms": 300})
    new = parse(bfd={"min_tx_ms": 100})
    diff = config_diff(old, new)
    assert diff.bfd_changed and not diff.empty and not diff.restart_required
    assert config_diff(old, old).empty


def test_docs_mention_every_key() -> None:
    from pathlib import Path

    import attrs

    text = (Path(__file__).resolve().parents[2] / "docs" / "configuration.md").read_text()
    assert "## `[bfd]`" in text
    for field in attrs.fields(BfdConfig):
        assert f"`{field.name}`" in text, field.name
    assert "| `bfd` | boolean | `false` |" in text

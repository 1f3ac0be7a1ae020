"""``[datastore]``: parsing, and errors that name the key."""

from __future__ import annotations

from typing import Any

import pytest

from pybgp.config import ConfigError, parse_config


def test_identity_optional_with_a_datastore() -> None:
    config = parse_config({"datastore": {"node": "n1"}})
    assert config.datastore is not None
    assert config.datastore.endpoints == ("http://127.0.0.1:2379",)
    assert config.datastore.prefix == "/calico" and config.speaker.asn == 0
    with_file = parse_config({"speaker": {"asn": 65000, "router_id": "10.0.0.1"},
                              "datastore": {"node": "n1", "endpoints": ["https://e:2379"],
                                            "ca_file": "/ca.pem", "cert_file": "/c.pem",
                                            "key_file": "/k.pem", "username": "u",
                                            "password": "p", "timeout": 2}})
    assert with_file.speaker.asn == 65000
    assert with_file.datastore is not None and with_file.datastore.timeout == 2.0


def test_without_a_datastore_speaker_identity_is_required() -> None:
    with pytest.raises(ConfigError, match="speaker"):
        parse_config({})
    with pytest.raises(ConfigError, match=r"speaker\.asn"):
        parse_config({"speaker": {"router_id": "10.0.0.1"}})


@pytest.mark.parametrize(
    ("table", "key"),
    [
        ({}, "datastore.node"),
        ({"node": "n1", "type": "kubernetes"}, "datastore.type"),
        ({"node": "n1", "endpoints": []}, "datastore.endpoints"),
        ({"node": "n1", "endpoints": ["ftp://x:1"]}, "datastore.endpoints[0]"),
        ({"node": "n1", "endpoints": ["http://x:99999"]}, "datastore.endpoints[0]"),
        ({"node": "n1", "prefix": "calico"}, "datastore.prefix"),
        ({"node": "n1", "cert_file": "/c.pem"}, "datastore.key_file"),
        ({"node": "n1", "password": "p"}, "datastore.username"),
        ({"node": "n1", "timeout": "5"}, "datastore.timeout"),
        ({"node": "n1", "reconnect_min": 10, "reconnect_max": 1}, "datastore.reconnect_max"),
        ({"node": "n1", "colour": "blue"}, "datastore.colour"),
        ({"node": 7}, "datastore.node"),
    ],
)
def test_errors_name_the_key(table: dict[str, Any], key: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config({"datastore": table})
    assert caught.value.key_path == key, str(caught.value)

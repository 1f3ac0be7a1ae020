"""The ``role`` key (RFC 9234) and AS 0 (RFC 7607 §2) in the config: values, errors, the
session and RIB descriptions built from them."""

from __future__ import annotations

from typing import Any

import pytest

from pybgp.config import ROLE_NAMES, ConfigError, parse_config
from pybgp.session import build_open
from pybgp.speaker.events import peer_info, session_config
from pybgp.wire.capabilities import RoleCapability
from pybgp.wire.constants import Role


def config(**peer: Any) -> dict[str, Any]:
    entry = {"address": "10.0.0.2", "asn": 64513, **peer}
    return {"speaker": {"asn": 64512, "router_id": "10.0.0.1"}, "peers": [entry]}


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("provider", Role.PROVIDER),
        ("customer", Role.CUSTOMER),
        ("peer", Role.PEER),
        ("rs", Role.ROUTE_SERVER),
        ("rs-client", Role.ROUTE_SERVER_CLIENT),
        ("RS-Client", Role.ROUTE_SERVER_CLIENT),  # case does not matter, as for other choices
    ],
)
def test_role_reaches_the_session_and_the_rib(text: str, code: Role) -> None:
    parsed = parse_config(config(role=text))
    peer = parsed.peers[0]
    assert peer.role == text.lower() and peer.role_code == code
    session = session_config(parsed.speaker, peer)
    assert session.role == code
    assert build_open(session).capability(RoleCapability) == RoleCapability(code)
    assert peer_info(parsed.speaker, peer).role == code


def test_no_role_by_default_and_for_the_empty_string() -> None:
    for parsed in (parse_config(config()), parse_config(config(role=""))):
        peer = parsed.peers[0]
        assert peer.role == "" and peer.role_code is None
        assert build_open(session_config(parsed.speaker, peer)).capability(RoleCapability) is None
        assert peer_info(parsed.speaker, peer).role is None


@pytest.mark.parametrize(
    ("peer", "message"),
    [
        ({"role": "client"}, "peers[0].role: 'client' is not one of '', 'provider', 'customer', "
                             "'peer', 'rs', 'rs-client'"),
        ({"role": 3}, "peers[0].role: expected a string"),
        ({"role": "peer", "asn": 64512}, "peers[0].role: RFC 9234 roles are for eBGP peers only "
                                         "(asn 64512 is speaker.asn: an iBGP peer)"),
    ],
)
def test_bad_role_names_the_key(peer: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(config(**peer))
    assert str(caught.value).startswith(message)


def test_role_on_a_dynamic_range() -> None:
    parsed = parse_config({
        "speaker": {"asn": 64512, "router_id": "10.0.0.1"},
        "dynamic_peers": [{"range": "10.0.0.0/24", "asn": 64513, "role": "rs"}],
    })
    assert parsed.dynamic_peers[0].role_code == Role.ROUTE_SERVER


def test_role_names_are_the_rfc_9234_codes() -> None:
    assert {name: int(code) for name, code in ROLE_NAMES.items()} == {
        "provider": 0, "rs": 1, "rs-client": 2, "customer": 3, "peer": 4,
    }


@pytest.mark.parametrize(
    ("data", "key"),
    [
        ({"speaker": {"asn": 0, "router_id": "10.0.0.1"}}, "speaker.asn"),
        (config(asn=0), "peers[0].asn"),
        ({"speaker": {"asn": 64512, "router_id": "10.0.0.1"},
          "dynamic_peers": [{"range": "10.0.0.0/24", "asn": 0}]}, "dynamic_peers[0].asn"),
    ],
)
def test_as_zero_is_refused_everywhere(data: dict[str, Any], key: str) -> None:
    # RFC 7607 §2: AS 0 is never ours, never a peer's: refused before anything runs.
    with pytest.raises(ConfigError) as caught:
        parse_config(data)
    assert str(caught.value) == f"{key}: 0 is not a valid AS number"

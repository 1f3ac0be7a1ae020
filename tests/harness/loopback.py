"""Speakers on loopback for the integration tests: a ``[speaker]`` section with an ephemeral
port, no control socket and short timers, so that sessions come up and retry in well under a
second."""

from __future__ import annotations

from ipaddress import IPv4Address

from pybgp.config import SpeakerSection

__all__ = ["loopback_section"]


def loopback_section(asn: int, router_id: str, listen: str, **kw: object) -> SpeakerSection:
    """``[speaker]`` listening on ``listen`` port 0; ``kw`` overrides any value, timers too."""
    values: dict[str, object] = {
        "listen_port": 0,
        "control_socket": "",
        "connect_delay": 0.0,
        "connect_retry_time": 0.5,
        "error_wait_min": 0.5,
        "error_wait_max": 2.0,
        **kw,
    }
    return SpeakerSection(
        asn=asn, router_id=IPv4Address(router_id), listen_address=listen,
        **values,  # type: ignore[arg-type]
    )  # fmt: skip

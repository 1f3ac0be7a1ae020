"""The one builder of the ``pybgp status --json`` document."""

from __future__ import annotations

from ipaddress import IPv4Address

from pybgp.fsm import State
from pybgp.rib import Rib
from pybgp.session import SessionConfig, build_open, negotiate
from pybgp.speaker.events import PeerStatus, status_document
from pybgp.wire.constants import IPV4_UNICAST, IPV6_UNICAST

BOTH = frozenset({IPV4_UNICAST, IPV6_UNICAST})


def status(disabled: frozenset[tuple[int, int]]) -> PeerStatus:
    ours = SessionConfig(65001, IPv4Address("10.0.0.1"), 65002, families=BOTH)
    theirs = SessionConfig(65002, IPv4Address("10.0.0.2"), 65001, families=BOTH)
    negotiated = negotiate(ours, build_open(ours), build_open(theirs))
    return PeerStatus(
        address="10.0.0.2",
        asn=65002,
        type="global",
        state=State.ESTABLISHED,
        since=0.0,
        info="",
        negotiated=negotiated,
        disabled_families=disabled,
    )


def test_a_family_disabled_by_rfc_7606_is_listed_as_disabled_not_active() -> None:
    from pybgp.config import SpeakerSection

    section = SpeakerSection(asn=65001, router_id=IPv4Address("10.0.0.1"))
    rib = Rib(65001, IPv4Address("10.0.0.1"))
    healthy, broken = (
        status_document(section, rib, [status(d)])["peers"][0]
        for d in (frozenset(), frozenset({IPV6_UNICAST}))
    )
    assert (healthy["families"], healthy["disabled_families"]) == (["ipv4", "ipv6"], [])
    assert (broken["families"], broken["disabled_families"]) == (["ipv4"], ["ipv6"])


def test_the_document_always_has_the_kernel_part() -> None:
    from pybgp.config import SpeakerSection

    section = SpeakerSection(asn=65001, router_id=IPv4Address("10.0.0.1"))
    document = status_document(section, Rib(65001, IPv4Address("10.0.0.1")), [])
    assert document["kernel"] == {"installed": 0, "failed": 0, "adapter": "none"}
    assert document["peers"] == [] and document["rib"] == {"ipv4": 0, "ipv6": 0}

"""Export honours the RFC 1997 well-known communities NO_EXPORT, NO_ADVERTISE and
NO_EXPORT_SUBCONFED (found with BIRD in tests/netns/test_bird_routing.py: a NO_ADVERTISE route
from BIRD was passed on to an iBGP peer)."""

from __future__ import annotations

from rib_helpers import add_peer, announce, announced, attributes, make_rib, pfx

from pybgp.wire.constants import IPV4_UNICAST

NO_EXPORT = 0xFFFFFF01
NO_ADVERTISE = 0xFFFFFF02
NO_EXPORT_SUBCONFED = 0xFFFFFF03
P = "10.1.0.0/16"


def _three_peers():  # type: ignore[no-untyped-def]
    rib = make_rib()
    add_peer(rib, "172.16.0.2", asn=65010, local_address="172.16.0.1")  # eBGP source
    add_peer(rib, "10.0.0.3")  # iBGP
    add_peer(rib, "172.16.0.4", asn=65030, local_address="172.16.0.1")  # another eBGP AS
    return rib


def test_no_export_goes_to_ibgp_only() -> None:
    rib = _three_peers()
    out = rib.apply_update(
        "172.16.0.2", announce(attributes(as_path=(65010,), communities=(NO_EXPORT,)), P)
    )
    sent = announced(out, "10.0.0.3")[P]
    assert sent.communities is not None and NO_EXPORT in sent.communities.values
    assert P not in announced(out, "172.16.0.4", peer_as=65030)


def test_no_export_subconfed_is_no_export_without_confederations() -> None:
    rib = _three_peers()
    out = rib.apply_update(
        "172.16.0.2",
        announce(attributes(as_path=(65010,), communities=(NO_EXPORT_SUBCONFED,)), P),
    )
    assert P in announced(out, "10.0.0.3")
    assert P not in announced(out, "172.16.0.4", peer_as=65030)


def test_no_advertise_goes_to_nobody() -> None:
    rib = _three_peers()
    out = rib.apply_update(
        "172.16.0.2",
        announce(attributes(as_path=(65010,), communities=(100, NO_ADVERTISE)), P),
    )
    assert P not in announced(out, "10.0.0.3")
    assert P not in announced(out, "172.16.0.4", peer_as=65030)
    assert rib.best(IPV4_UNICAST, pfx(P))  # still used here, just not advertised


def test_originated_no_export_stays_inside_the_as() -> None:
    rib = make_rib()
    add_peer(rib, "10.0.0.3")
    add_peer(rib, "172.16.0.4", asn=65030, local_address="172.16.0.1")
    out = rib.originate(IPV4_UNICAST, pfx(P), communities=(NO_EXPORT,))
    assert P in announced(out, "10.0.0.3")
    assert P not in announced(out, "172.16.0.4", peer_as=65030)


def test_ordinary_communities_do_not_restrict() -> None:
    rib = _three_peers()
    out = rib.apply_update(
        "172.16.0.2", announce(attributes(as_path=(65010,), communities=(65010 << 16 | 1,)), P)
    )
    assert P in announced(out, "10.0.0.3")
    assert P in announced(out, "172.16.0.4", peer_as=65030)

"""The RIB side of graceful restart (RFC 4724): stale paths, their sweep, held End-of-RIB."""

from __future__ import annotations

from ipaddress import IPv4Address, ip_interface

from pybgp.kernel import KernelSync, KernelSyncOptions, MemoryInstaller
from pybgp.rib import BestPathReason
from pybgp.wire.constants import IPV4_UNICAST, IPV6_UNICAST
from pybgp.wire.update import ErrorAction, Update, UpdateResult, encode_end_of_rib
from tests.unit.rib.rib_helpers import (
    add_peer,
    announce,
    announce6,
    announced,
    attributes,
    make_rib,
    negotiated,
    pfx,
    withdrawn,
)

A = "10.0.0.2"
B = "10.0.0.3"
BOTH = (IPV4_UNICAST, IPV6_UNICAST)
FROM_A = attributes(next_hop=A, as_path=(65001,))
FROM_A6 = attributes(next_hop=None, as_path=(65001,))


def end_of_rib(family: tuple[int, int] = IPV4_UNICAST) -> UpdateResult:
    from pybgp.wire.update import decode_update

    message = encode_end_of_rib(family)
    result = decode_update(message[19:], negotiated(65000, 65000, BOTH))
    assert result.update.end_of_rib == family
    return result


def best(rib, prefix: str, family=IPV4_UNICAST):  # type: ignore[no-untyped-def]
    entries = {e.prefix: e for e in rib.routes(family)}
    entry = entries.get(pfx(prefix))
    return None if entry is None else entry


def two_peers(families=(IPV4_UNICAST,)):  # type: ignore[no-untyped-def]
    """A is an eBGP peer (so B, iBGP, is sent what A announces), B an iBGP one."""
    rib = make_rib()
    add_peer(rib, A, asn=65001, families=families)
    add_peer(rib, B, families=families)
    return rib


def peer_up(rib, peer: str, families=(IPV4_UNICAST,)):  # type: ignore[no-untyped-def]
    asn = 65001 if peer == A else 65000
    return rib.peer_up(peer, negotiated(65000, asn, families), IPv4Address(peer))


def test_graceful_peer_down_keeps_routes_as_stale_without_telling_anyone() -> None:
    rib = two_peers()
    rib.apply_update(A, announce(FROM_A, "10.244.1.0/26", "10.244.2.0/26"))
    output = rib.peer_down(A, keep=[IPV4_UNICAST])
    # The best path is now the stale twin: same next hop, so nothing for the kernel to do, and
    # the other peer is sent nothing (no withdrawal, no re-announcement).
    assert withdrawn(output, B) == [] and announced(output, B) == {}
    for change in output.changes:
        assert [p.next_hop for p in change.old] == [p.next_hop for p in change.new]
        assert change.new[0].stale and not change.old[0].stale
    entry = best(rib, "10.244.1.0/26")
    assert entry is not None and entry.paths[0].stale
    assert rib.stale_count(A) == 2


def test_normal_peer_down_still_withdraws() -> None:
    rib = two_peers()
    rib.apply_update(A, announce(FROM_A, "10.244.1.0/26"))
    output = rib.peer_down(A)
    assert withdrawn(output, B) == ["10.244.1.0/26"]
    assert best(rib, "10.244.1.0/26") is None
    assert rib.stale_count(A) == 0


def test_reannounced_unchanged_route_is_fresh_again_and_nothing_is_sent() -> None:
    rib = two_peers()
    rib.apply_update(A, announce(FROM_A, "10.244.1.0/26", "10.244.2.0/26"))
    rib.peer_down(A, keep=[IPV4_UNICAST])
    peer_up(rib, A)
    output = rib.apply_update(A, announce(FROM_A, "10.244.1.0/26"))
    assert announced(output, B) == {} and withdrawn(output, B) == []
    entry = best(rib, "10.244.1.0/26")
    assert entry is not None and not entry.paths[0].stale
    assert rib.stale_count(A) == 1


def test_end_of_rib_sweeps_what_was_not_reannounced() -> None:
    rib = two_peers()
    rib.apply_update(A, announce(FROM_A, "10.244.1.0/26", "10.244.2.0/26"))
    rib.peer_down(A, keep=[IPV4_UNICAST])
    peer_up(rib, A)
    rib.apply_update(A, announce(FROM_A, "10.244.1.0/26"))
    output = rib.apply_update(A, end_of_rib())
    assert withdrawn(output, B) == ["10.244.2.0/26"]
    assert best(rib, "10.244.2.0/26") is None
    assert best(rib, "10.244.1.0/26") is not None
    assert rib.stale_count(A) == 0
    assert any("not re-announced" in note for note in output.notes)


def test_end_of_rib_is_per_family() -> None:
    rib = two_peers(BOTH)
    rib.apply_update(A, announce(FROM_A, "10.244.1.0/26"))
    rib.apply_update(A, announce6(FROM_A6, "fd00::2", "fd00:244:1::/64"))
    rib.peer_down(A, keep=BOTH)
    peer_up(rib, A, BOTH)
    output = rib.apply_update(A, end_of_rib(IPV4_UNICAST))
    assert withdrawn(output, B, families=BOTH) == ["10.244.1.0/26"]
    assert best(rib, "fd00:244:1::/64", IPV6_UNICAST) is not None  # still stale, still there
    assert rib.stale_count(A) == 1
    output = rib.apply_update(A, end_of_rib(IPV6_UNICAST))
    assert withdrawn(output, B, families=BOTH) == ["fd00:244:1::/64"]


def test_families_not_kept_are_flushed_at_once() -> None:
    rib = two_peers(BOTH)
    rib.apply_update(A, announce(FROM_A, "10.244.1.0/26"))
    rib.apply_update(A, announce6(FROM_A6, "fd00::2", "fd00:244:1::/64"))
    output = rib.peer_down(A, keep=[IPV4_UNICAST])
    assert withdrawn(output, B, families=BOTH) == ["fd00:244:1::/64"]
    assert best(rib, "10.244.1.0/26") is not None


def test_flush_stale_withdraws_the_stale_routes() -> None:
    rib = two_peers()
    rib.apply_update(A, announce(FROM_A, "10.244.1.0/26"))
    rib.peer_down(A, keep=[IPV4_UNICAST])
    output = rib.flush_stale(A, [IPV4_UNICAST])
    assert withdrawn(output, B) == ["10.244.1.0/26"]
    assert rib.stale_count(A) == 0


def test_stale_path_loses_to_a_fresh_one_even_a_worse_one() -> None:
    rib = two_peers()
    rib.apply_update(A, announce(FROM_A, "10.244.1.0/26"))
    longer = attributes(next_hop=B, as_path=(65003, 65002, 65004))
    rib.apply_update(B, announce(longer, "10.244.1.0/26"))
    entry = best(rib, "10.244.1.0/26")
    assert entry is not None and str(entry.paths[0].next_hop) == A
    rib.peer_down(A, keep=[IPV4_UNICAST])
    entry = best(rib, "10.244.1.0/26")
    assert entry is not None and str(entry.paths[0].next_hop) == B
    assert entry.reason is BestPathReason.NOT_STALE
    # Re-announced: fresh again, better again.
    peer_up(rib, A)
    rib.apply_update(A, announce(FROM_A, "10.244.1.0/26"))
    entry = best(rib, "10.244.1.0/26")
    assert entry is not None and str(entry.paths[0].next_hop) == A
    assert entry.reason is BestPathReason.AS_PATH_LENGTH


def test_a_fresh_path_arriving_beats_a_stale_one() -> None:
    rib = two_peers()
    rib.apply_update(A, announce(FROM_A, "10.244.1.0/26"))
    rib.peer_down(A, keep=[IPV4_UNICAST])
    rib.apply_update(B, announce(attributes(next_hop=B, as_path=(65003, 65004)), "10.244.1.0/26"))
    entry = best(rib, "10.244.1.0/26")
    assert entry is not None and str(entry.paths[0].next_hop) == B
    assert entry.reason is BestPathReason.NOT_STALE


def test_second_restart_keeps_the_still_stale_routes() -> None:
    rib = two_peers()
    rib.apply_update(A, announce(FROM_A, "10.244.1.0/26", "10.244.2.0/26"))
    rib.peer_down(A, keep=[IPV4_UNICAST])
    peer_up(rib, A)
    rib.apply_update(A, announce(FROM_A, "10.244.1.0/26"))
    output = rib.peer_down(A, keep=[IPV4_UNICAST])  # lost again before its End-of-RIB
    assert withdrawn(output, B) == []
    assert rib.stale_count(A) == 2
    peer_up(rib, A)
    output = rib.apply_update(A, end_of_rib())
    assert sorted(withdrawn(output, B)) == ["10.244.1.0/26", "10.244.2.0/26"]


def test_held_end_of_rib_is_released_after_deferral() -> None:
    rib = make_rib()
    rib.hold_end_of_rib = True
    output = add_peer(rib, A)
    assert encode_end_of_rib(IPV4_UNICAST) not in output.messages.get(A, ())
    output = rib.release_end_of_rib()
    assert output.messages[A] == (encode_end_of_rib(IPV4_UNICAST),)
    output = add_peer(rib, B)
    assert output.messages[B][-1] == encode_end_of_rib(IPV4_UNICAST)


async def test_kernel_sees_no_operation_for_stale_marking_and_unchanged_reannouncement() -> None:
    installer = MemoryInstaller([ip_interface("10.0.0.1/24")])
    kernel = KernelSync(installer, KernelSyncOptions(), run_retries=False)
    await kernel.start()
    rib = two_peers()
    await kernel.apply(rib.apply_update(A, announce(FROM_A, "10.244.1.0/26")).changes)
    assert kernel.installed_count == 1
    before = installer.operations
    await kernel.apply(rib.peer_down(A, keep=[IPV4_UNICAST]).changes)
    peer_up(rib, A)
    await kernel.apply(rib.apply_update(A, announce(FROM_A, "10.244.1.0/26")).changes)
    await kernel.apply(rib.apply_update(A, end_of_rib()).changes)
    assert installer.operations == before
    assert kernel.installed_count == 1
    await kernel.stop()


def test_withdrawal_during_recovery_removes_a_stale_route() -> None:
    rib = two_peers()
    rib.apply_update(A, announce(FROM_A, "10.244.1.0/26"))
    rib.peer_down(A, keep=[IPV4_UNICAST])
    peer_up(rib, A)
    update = Update((pfx("10.244.1.0/26"),), attributes(next_hop=None).without(1, 2), ())
    output = rib.apply_update(A, UpdateResult(update, ErrorAction.NONE, (), frozenset()))
    assert withdrawn(output, B) == ["10.244.1.0/26"]
    assert rib.stale_count(A) == 0

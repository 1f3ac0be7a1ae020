"""pybgp.kernel.plan: wanted against installed routes, with plain data and numbers for time."""

from __future__ import annotations

import errno
import ipaddress
from typing import NamedTuple

from pybgp.kernel import (
    DriftRepaired,
    ForeignConflict,
    InstallFailed,
    KernelRoute,
    KernelSyncOptions,
    NotInstalled,
    RouteEvent,
    RouteOp,
    prefix_key,
)
from pybgp.kernel.encap import ConnectedSubnets
from pybgp.kernel.plan import RIGHT_SIZE_FROM, Batch, KernelPlan, Note

A = ipaddress.ip_address
OK = (0, "")
V4 = (1, 1)


class P(NamedTuple):
    next_hop: ipaddress.IPv4Address | ipaddress.IPv6Address
    peer_id: str | None = "10.0.0.2"


class C(NamedTuple):
    family: tuple[int, int]
    prefix: bytes
    new: tuple[P, ...]


def plan(**options: object) -> KernelPlan:
    made = KernelPlan(KernelSyncOptions(**options))  # type: ignore[arg-type]
    made.set_connected(ConnectedSubnets.from_interfaces([ipaddress.ip_interface("10.0.0.1/24")]))
    made.take_dirty()
    return made


def announce(prefix: str, *hops: str) -> C:
    return C(V4, prefix_key(prefix), tuple(P(A(hop)) for hop in hops))


def route(prefix: str, hop: str, protocol: int = 186) -> KernelRoute:
    return KernelRoute(1, prefix_key(prefix), (A(hop),), protocol=protocol)


def step(made: KernelPlan, changes: list[C]) -> Batch:
    return made.plan(made.take(changes))


def test_a_new_route_is_added_then_removed_when_withdrawn() -> None:
    made = plan()
    batch = step(made, [announce("10.244.1.0/26", "10.0.0.2")])
    assert batch == Batch(
        [RouteOp("add", route("10.244.1.0/26", "10.0.0.2"))], [(1, prefix_key("10.244.1.0/26"))]
    )
    assert made.status(V4, prefix_key("10.244.1.0/26")) == "pending"
    assert made.record(batch, [OK], now=0.0) == []
    assert made.status(V4, prefix_key("10.244.1.0/26")) == "installed"
    assert step(made, [announce("10.244.1.0/26", "10.0.0.2")]).ops == []  # unchanged: nothing
    moved = step(made, [announce("10.244.1.0/26", "10.0.0.3")])
    assert moved.ops == [RouteOp("replace", route("10.244.1.0/26", "10.0.0.3"))]
    made.record(moved, [OK], now=0.0)
    gone = step(made, [C(V4, prefix_key("10.244.1.0/26"), ())])
    assert gone.ops == [RouteOp("remove", route("10.244.1.0/26", "10.0.0.3"))]
    made.record(gone, [(errno.ESRCH, "")], now=0.0)  # already gone counts as removed
    assert made.counters().installed == 0
    assert made.take_outputs() == []


def test_a_refusal_is_retried_with_a_doubling_back_off() -> None:
    made = plan(retry_initial=1.0, retry_max=3.0)
    key = (1, prefix_key("10.244.1.0/26"))
    batch = step(made, [announce("10.244.1.0/26", "10.0.0.2")])
    made.record(batch, [(errno.ENETUNREACH, "")], now=100.0)
    assert made.next_retry_deadline() == 101.0
    assert made.wake
    assert made.status(V4, key[1]) == "failed: ENETUNREACH Network is unreachable"
    (note, event) = made.take_outputs()
    assert note == Note("warning", "installing 10.244.1.0/26 failed: ENETUNREACH Network is "
                        "unreachable (attempt 1, retry in 1.0s)")  # fmt: skip
    assert event == InstallFailed(V4, key[1], "ENETUNREACH Network is unreachable", 1, 1.0)
    assert made.due(100.5) == []
    assert made.due(101.0) == [key]
    again = made.plan([key])
    made.record(again, [(errno.ENETUNREACH, "")], now=101.0)
    assert made.next_retry_deadline() == 103.0  # doubled
    made.record(made.plan(made.due(103.0)), [(errno.ENETUNREACH, "")], now=103.0)
    assert made.next_retry_deadline() == 106.0  # capped at retry_max
    made.record(made.plan(made.due(106.0)), [OK], now=106.0)
    assert made.next_retry_deadline() is None
    assert made.counters().failed == 0 and made.counters().installed == 1


def test_failures_past_the_budget_are_summed_up() -> None:
    made = plan()
    batch = step(made, [announce(f"10.244.{i}.0/24", "10.0.0.2") for i in range(25)])
    made.record(batch, [(errno.EINVAL, "")] * 25, now=0.0)
    made.finish_batch()
    notes = [out for out in made.take_outputs() if isinstance(out, Note)]
    assert len(notes) == 21
    assert notes[-1] == Note("warning", "5 more routes failed in this batch (see status/events)")


def test_an_occupied_key_is_adopted_replaced_or_a_conflict() -> None:
    made = plan()
    batch = step(
        made,
        [
            announce("10.244.1.0/26", "10.0.0.2"),
            announce("10.244.2.0/26", "10.0.0.2"),
            announce("10.244.3.0/26", "10.0.0.2"),
            announce("10.244.4.0/26", "10.0.0.2"),
        ],
    )
    occupied = made.record(batch, [(errno.EEXIST, "File exists")] * 4, now=5.0)
    assert [(result.route.afi, result.route.prefix) for result in occupied] == batch.keys
    holders = [
        route("10.244.1.0/26", "10.0.0.2"),  # ours, identical: adopted
        route("10.244.2.0/26", "10.0.0.9"),  # ours, different: replaced
        route("10.244.3.0/26", "10.0.0.9", protocol=4),  # foreign: a conflict
        None,  # went away meanwhile: retried later
    ]
    second = made.resolve(occupied, holders, now=5.0)
    assert second == [RouteOp("replace", route("10.244.2.0/26", "10.0.0.2"))]
    made.record_replaces([], now=5.0)
    assert made.status(V4, prefix_key("10.244.1.0/26")) == "installed"
    assert made.status(V4, prefix_key("10.244.3.0/26")) == "failed: EEXIST foreign route (proto 4)"
    assert made.status(V4, prefix_key("10.244.4.0/26")).endswith("(the occupant went away)")
    events = [out for out in made.take_outputs() if not isinstance(out, Note)]
    assert ForeignConflict(V4, prefix_key("10.244.3.0/26"), 4) in events
    assert made.counters().conflicts == 1
    # the foreign route leaves: tried again at once
    made.route_event(RouteEvent("del", holders[2]), now=6.0)  # type: ignore[arg-type]
    assert made.take_dirty() == {(1, prefix_key("10.244.3.0/26"))}


def test_stale_routes_are_adopted_when_identical_and_swept_otherwise() -> None:
    made = plan()
    same, other, unannounced = (
        route("10.244.1.0/26", "10.0.0.2"),
        route("10.244.2.0/26", "10.0.0.9"),
        route("10.244.3.0/26", "10.0.0.2"),
    )
    made.adopt(1, [same, other, unannounced, KernelRoute(1, prefix_key("10.9.0.0/16"), metric=7)])
    assert made.counters().stale == 4
    batch = step(
        made, [announce("10.244.1.0/26", "10.0.0.2"), announce("10.244.2.0/26", "10.0.0.2")]
    )
    assert batch.ops == [RouteOp("replace", route("10.244.2.0/26", "10.0.0.2"))]
    assert made.status(V4, prefix_key("10.244.1.0/26")) == "installed"  # adopted, untouched
    made.record(batch, [OK], now=0.0)
    sweep = made.leftovers()
    assert [op.route for op in sweep] == [
        unannounced,
        KernelRoute(1, prefix_key("10.9.0.0/16"), metric=7),
    ]
    assert made.record_sweep([]) == 0


def test_unusable_next_hops_are_reasons_not_operations() -> None:
    made = plan()
    batch = step(made, [announce("10.244.1.0/26", "10.9.9.9")])
    assert batch.ops == []
    reason = "next hop 10.9.9.9 not on a connected subnet"
    assert made.status(V4, prefix_key("10.244.1.0/26")) == f"not installed: {reason}"
    assert made.take_outputs() == [
        Note("info", f"10.244.1.0/26 not installed: {reason}"),
        NotInstalled(V4, prefix_key("10.244.1.0/26"), reason),
    ]
    # the subnet becomes connected: every route is decided again
    assert made.set_connected(
        ConnectedSubnets.from_interfaces([ipaddress.ip_interface("10.9.0.1/16")])
    )
    again = made.plan(made.take_dirty())
    assert again.ops == [RouteOp("add", route("10.244.1.0/26", "10.9.9.9"))]
    assert made.counters().not_installed == 0


def test_drift_marks_the_key_for_repair() -> None:
    made = plan()
    batch = step(made, [announce("10.244.1.0/26", "10.0.0.2")])
    made.record(batch, [OK], now=0.0)
    mine = route("10.244.1.0/26", "10.0.0.2")
    assert made.concerns(mine) and not made.concerns(route("10.1.0.0/16", "10.0.0.2"))
    made.route_event(RouteEvent("del", mine), now=1.0)
    assert made.take_outputs()[-1] == DriftRepaired(V4, mine.prefix, "deleted")
    assert made.plan(made.take_dirty()).ops == [RouteOp("add", mine)]
    assert made.drift_repairs == 1


def test_tables_are_rebuilt_after_a_mass_withdrawal() -> None:
    made = plan()
    count = RIGHT_SIZE_FROM + 10
    changes = [C(V4, bytes((32,)) + (0x64000000 + i).to_bytes(4, "big"), (P(A("10.0.0.2")),))
               for i in range(count)]  # fmt: skip
    batch = step(made, changes)
    made.record(batch, [OK] * count, now=0.0)
    assert not made.finish_batch()  # at its peak
    table = made.installed
    gone = step(made, [C(V4, change.prefix, ()) for change in changes])
    assert len(gone.ops) == count
    made.record(gone, [OK] * count, now=0.0)
    assert made.finish_batch()  # emptied: rebuilt small
    assert made.installed is not table and made.installed == {}


class Groups:
    """The RIB's ChangeList shape: ``groups()`` of (family, prefixes, old, new, reason)."""

    def __init__(self, *groups: tuple[object, ...]) -> None:
        self._groups = groups

    def groups(self) -> tuple[tuple[object, ...], ...]:
        return self._groups


def test_prefixes_sharing_a_path_still_get_their_pools_encapsulation() -> None:
    """One change group (one next hop for many prefixes) across two pools: the kernel form is
    decided per prefix, not reused from the previous prefix of the group."""
    from pybgp.kernel import Encapsulation

    pool = (ipaddress.ip_network("10.60.0.0/16"), Encapsulation.IPIP)
    made = plan(pools=(pool,))
    prefixes = [prefix_key("10.60.1.0/26"), prefix_key("10.244.1.0/26"), prefix_key("10.60.2.0/26")]
    batch = made.plan(made.take(Groups((V4, prefixes, (), (P(A("10.9.9.9")),), 0))))  # type: ignore[arg-type]
    assert [(op.route.prefix, op.route.device, op.route.onlink) for op in batch.ops] == [
        (prefix_key("10.60.1.0/26"), "tunl0", True),
        (prefix_key("10.60.2.0/26"), "tunl0", True),
    ]
    assert made.status(V4, prefix_key("10.244.1.0/26")).startswith("not installed: next hop")

"""KernelSync over MemoryInstaller: adoption, sweep, conflicts, drift, back-off, stop."""

from __future__ import annotations

import errno
import ipaddress
from collections.abc import Sequence

import attrs
import pytest

from pybgp.kernel import (
    DriftRepaired,
    Encapsulation,
    ForeignConflict,
    InstallFailed,
    KernelRoute,
    KernelSync,
    KernelSyncOptions,
    MemoryInstaller,
    NotInstalled,
    NullInstaller,
    StaleRemoved,
    SyncEvent,
    prefix_key,
    prefix_text,
)
from pybgp.kernel.plan import Batch, KernelPlan

A = ipaddress.ip_address
V4 = (1, 1)
V6 = (2, 1)
CONNECTED = (ipaddress.ip_interface("10.0.0.1/24"), ipaddress.ip_interface("fd00::1/64"))


@attrs.frozen
class FakePath:
    next_hop: ipaddress.IPv4Address | ipaddress.IPv6Address
    peer_id: str | None


@attrs.frozen
class FakeChange:
    family: tuple[int, int]
    prefix: bytes
    new: tuple[FakePath, ...]


def change(prefix: str, *hops: str, family: tuple[int, int] = V4) -> FakeChange:
    return FakeChange(family, prefix_key(prefix), tuple(FakePath(A(h), h) for h in hops))


def local(prefix: str) -> FakeChange:
    return FakeChange(V4, prefix_key(prefix), (FakePath(A("10.0.0.1"), None),))


def withdraw(prefix: str) -> FakeChange:
    return FakeChange(V4, prefix_key(prefix), ())


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


async def make(
    options: KernelSyncOptions | None = None,
    installer: MemoryInstaller | None = None,
) -> tuple[KernelSync, MemoryInstaller, list[SyncEvent], Clock]:
    installer = installer or MemoryInstaller(CONNECTED)
    events: list[SyncEvent] = []
    clock = Clock()
    sync = KernelSync(installer, options, on_event=events.append, clock=clock, run_retries=False)
    await sync.start()
    return sync, installer, events, clock


def routes(installer: MemoryInstaller) -> dict[str, KernelRoute]:
    return {prefix_text(r.afi, r.prefix): r for r in installer.routes.values()}


async def test_install_plain_route_and_withdraw() -> None:
    sync, installer, _events, _ = await make()
    await sync.apply([change("10.244.1.0/26", "10.0.0.2")])
    route = routes(installer)["10.244.1.0/26"]
    assert route.next_hops == (A("10.0.0.2"),)
    assert route.protocol == 186 and route.table == 254 and route.device is None
    assert sync.status(V4, prefix_key("10.244.1.0/26")) == "installed"
    assert sync.counters().installed == 1
    await sync.apply([withdraw("10.244.1.0/26")])
    assert routes(installer) == {}
    assert sync.status(V4, prefix_key("10.244.1.0/26")) == "not installed: no best path"


async def test_unusable_next_hop_status_and_event() -> None:
    sync, installer, events, _ = await make()
    await sync.apply([change("10.244.2.0/26", "10.1.0.5")])
    assert routes(installer) == {}
    assert (
        sync.status(V4, prefix_key("10.244.2.0/26"))
        == "not installed: next hop 10.1.0.5 not on a connected subnet"
    )
    assert isinstance(events[-1], NotInstalled)
    assert sync.counters().not_installed == 1


async def test_address_change_makes_next_hop_usable() -> None:
    sync, installer, _events, _ = await make()
    await sync.apply([change("10.244.2.0/26", "10.1.0.5")])
    installer.set_connected((*CONNECTED, ipaddress.ip_interface("10.1.0.1/24")))
    await sync.service()  # what the background task does when woken
    assert sync.status(V4, prefix_key("10.244.2.0/26")) == "installed"
    assert sync.counters().not_installed == 0


async def test_ipip_ecmp_is_one_multipath_route_onlink() -> None:
    options = KernelSyncOptions(encapsulation=Encapsulation.IPIP, tunnel_device="tunl0")
    sync, installer, _events, _ = await make(options)
    await sync.apply([change("10.244.3.0/26", "10.1.0.5", "10.2.0.6")])
    route = routes(installer)["10.244.3.0/26"]
    assert route.next_hops == (A("10.1.0.5"), A("10.2.0.6"))
    assert route.device == "tunl0" and route.onlink


async def test_originated_prefix_gets_blackhole_or_nothing() -> None:
    sync, installer, _events, _ = await make()
    await sync.apply([local("10.244.9.0/26")])
    assert routes(installer)["10.244.9.0/26"].kind == "blackhole"
    sync2, installer2, _e, _ = await make(KernelSyncOptions(blackhole_originated=False))
    await sync2.apply([local("10.244.9.0/26")])
    assert routes(installer2) == {}
    assert sync2.status(V4, prefix_key("10.244.9.0/26")) == "not installed: originated here"


async def test_ipv6_route_uses_kernel_default_metric() -> None:
    sync, installer, _events, _ = await make()
    await sync.apply([change("fd10::/64", "fd00::2", family=V6)])
    route = routes(installer)["fd10::/64"]
    assert route.metric == 1024 and route.afi == 2


async def test_adoption_is_a_no_op_and_sweep_removes_the_rest() -> None:
    installer = MemoryInstaller(CONNECTED)
    keep = KernelRoute(1, prefix_key("10.244.1.0/26"), (A("10.0.0.2"),))
    gone = KernelRoute(1, prefix_key("10.244.5.0/26"), (A("10.0.0.3"),))
    foreign = KernelRoute(1, prefix_key("10.50.0.0/16"), (A("10.0.0.9"),), protocol=3)
    for route in (keep, gone, foreign):
        installer.routes[route.key] = route
    sync, _, events, _ = await make(installer=installer)
    await sync.apply([change("10.244.1.0/26", "10.0.0.2")])
    assert installer.operations == 0  # adopted, not re-added
    assert sync.status(V4, gone.prefix).startswith("installed (adopted")
    await sync.initial_sync_done()
    assert set(routes(installer)) == {"10.244.1.0/26", "10.50.0.0/16"}
    assert StaleRemoved(1) in events


async def test_foreign_route_is_a_conflict_not_overwritten() -> None:
    installer = MemoryInstaller(CONNECTED)
    foreign = KernelRoute(1, prefix_key("10.244.1.0/26"), (A("10.0.0.9"),), protocol=3)
    installer.routes[foreign.key] = foreign
    sync, _, events, _ = await make(installer=installer)
    await sync.apply([change("10.244.1.0/26", "10.0.0.2")])
    assert installer.routes[foreign.key] == foreign
    assert sync.status(V4, foreign.prefix) == "failed: EEXIST foreign route (proto 3)"
    assert ForeignConflict(V4, foreign.prefix, 3) in events
    assert sync.counters().failed == 1


async def test_overwrite_foreign_replaces() -> None:
    installer = MemoryInstaller(CONNECTED)
    foreign = KernelRoute(1, prefix_key("10.244.1.0/26"), (A("10.0.0.9"),), protocol=3)
    installer.routes[foreign.key] = foreign
    sync, _, _events, _ = await make(KernelSyncOptions(overwrite_foreign=True), installer)
    await sync.apply([change("10.244.1.0/26", "10.0.0.2")])
    assert installer.routes[foreign.key].protocol == 186


async def test_drift_deleted_route_is_put_back() -> None:
    sync, installer, events, _ = await make()
    await sync.apply([change("10.244.1.0/26", "10.0.0.2")])
    route = routes(installer)["10.244.1.0/26"]
    installer.external_delete(route)
    await sync.service()
    assert routes(installer)["10.244.1.0/26"] == route
    assert DriftRepaired(V4, route.prefix, "deleted") in events
    assert sync.counters().drift_repairs == 1


async def test_drift_changed_route_is_put_back() -> None:
    sync, installer, events, _ = await make()
    await sync.apply([change("10.244.1.0/26", "10.0.0.2")])
    route = routes(installer)["10.244.1.0/26"]
    installer.external_add(attrs.evolve(route, next_hops=(A("10.0.0.77"),)))
    await sync.service()
    assert routes(installer)["10.244.1.0/26"] == route
    assert DriftRepaired(V4, route.prefix, "changed") in events


async def test_failure_backs_off_then_succeeds() -> None:
    sync, installer, events, clock = await make()
    key = prefix_key("10.244.1.0/26")
    installer.fail[key] = errno.ENETUNREACH
    await sync.apply([change("10.244.1.0/26", "10.0.0.2")])
    assert sync.status(V4, key).startswith("failed: ENETUNREACH")
    first = [e for e in events if isinstance(e, InstallFailed)]
    assert first[-1].retry_in == 1.0
    assert sync.next_retry_deadline() == 101.0
    assert await sync.retry_due(100.5) == 0
    assert await sync.retry_due(101.0) == 1
    failed = [e for e in events if isinstance(e, InstallFailed)]
    assert failed[-1].attempts == 2 and failed[-1].retry_in == 2.0
    del installer.fail[key]
    clock.now = 103.0
    assert await sync.retry_due(clock.now) == 1
    assert sync.status(V4, key) == "installed"
    assert sync.next_retry_deadline() is None
    assert sync.counters().failed == 0


async def test_stop_removes_unless_keep_on_stop() -> None:
    sync, installer, _events, _ = await make()
    await sync.apply([change("10.244.1.0/26", "10.0.0.2")])
    await sync.stop()
    assert routes(installer) == {}
    kept, installer2, _e, _ = await make(KernelSyncOptions(keep_on_stop=True))
    await kept.apply([change("10.244.1.0/26", "10.0.0.2")])
    await kept.stop()
    assert set(routes(installer2)) == {"10.244.1.0/26"}


async def test_unchanged_best_path_is_not_reinstalled() -> None:
    sync, installer, _events, _ = await make()
    await sync.apply([change("10.244.1.0/26", "10.0.0.2")])
    before = installer.operations
    await sync.apply([change("10.244.1.0/26", "10.0.0.2")])
    assert installer.operations == before


async def test_null_installer_accepts_everything() -> None:
    sync = KernelSync(NullInstaller(), run_retries=False)
    await sync.start()
    changes: Sequence[FakeChange] = [change("10.244.1.0/26", "192.0.2.1")]
    await sync.apply(changes)
    assert sync.status(V4, prefix_key("10.244.1.0/26")) == "installed"
    await sync.stop()


async def test_lost_notifications_trigger_a_resync() -> None:
    from pybgp.kernel import MonitorOverrun

    sync, installer, _events, _ = await make()
    await sync.apply([change("10.244.1.0/26", "10.0.0.2")])
    route = routes(installer)["10.244.1.0/26"]
    del installer.routes[route.key]  # gone without a notification
    installer.emit(MonitorOverrun())
    await sync.service()
    assert routes(installer)["10.244.1.0/26"] == route


async def test_own_identical_route_found_on_eexist_is_adopted() -> None:
    sync, installer, _events, _ = await make()
    same = KernelRoute(1, prefix_key("10.244.1.0/26"), (A("10.0.0.2"),))
    installer.routes[same.key] = same  # appeared after start (not adopted as stale)
    await sync.apply([change("10.244.1.0/26", "10.0.0.2")])
    assert installer.operations == 0
    assert sync.status(V4, same.prefix) == "installed"


async def test_duplicate_next_hops_collapse_and_other_family_is_refused() -> None:
    sync, installer, _events, _ = await make()
    await sync.apply(
        [
            change("10.244.1.0/26", "10.0.0.2", "10.0.0.2", "10.0.0.3"),
            change("fd10::/64", "fd00::2", family=V6),  # caches the decision for fd00::2
            change("10.244.2.0/26", "fd00::2"),
        ]
    )
    assert routes(installer)["10.244.1.0/26"].next_hops == (A("10.0.0.2"), A("10.0.0.3"))
    assert routes(installer)["fd10::/64"].next_hops == (A("fd00::2"),)
    assert sync.status(V4, prefix_key("10.244.2.0/26")) == (
        "not installed: next hop of the other address family (RFC 8950) is not supported"
    )


async def test_counters_follow_every_transition() -> None:
    sync, installer, _events, _ = await make()
    installer.fail[prefix_key("10.244.3.0/26")] = errno.ENETUNREACH
    await sync.apply(
        [
            change("10.244.1.0/26", "10.0.0.2"),
            change("10.244.2.0/26", "10.9.0.2"),
            change("10.244.3.0/26", "10.0.0.2"),
        ]
    )
    counters = sync.counters()
    assert (counters.installed, counters.failed, counters.not_installed) == (1, 1, 1)
    await sync.apply(
        [withdraw("10.244.1.0/26"), withdraw("10.244.2.0/26"), withdraw("10.244.3.0/26")]
    )
    counters = sync.counters()
    assert (counters.installed, counters.failed, counters.not_installed) == (0, 0, 0)


def test_options_from_config_section_and_installer_factory() -> None:
    from pybgp.kernel import installer_for

    @attrs.frozen
    class Section:  # the [kernel] keys of CONTRACT.md
        adapter: str = "memory"
        table: int = 100
        protocol: int = 200
        encapsulation: str = "crosssubnet"
        tunnel_device: str = "tunl0"
        keep_on_stop: bool = True

    options = KernelSyncOptions.from_config(Section(), retry_max=5.0)
    assert (options.table, options.protocol, options.keep_on_stop) == (100, 200, True)
    assert options.encapsulation is Encapsulation.CROSSSUBNET and options.retry_max == 5.0
    assert isinstance(installer_for("memory"), MemoryInstaller)
    assert isinstance(installer_for("none"), NullInstaller)
    with pytest.raises(ValueError, match="bogus"):
        installer_for("bogus")


def test_kernel_options_take_the_preferred_source_from_the_config() -> None:
    """``[kernel] source_address`` becomes RTA_PREFSRC for routes of its family."""
    from pybgp.config import parse_config
    from pybgp.kernel import KernelSyncOptions

    def options(source: str) -> KernelSyncOptions:
        config = parse_config({
            "speaker": {"asn": 64512, "router_id": "10.0.0.1"},
            "kernel": {"adapter": "memory", "source_address": source},
        })
        return KernelSyncOptions.from_config(config.kernel)

    assert str(options("10.0.0.1").source_ipv4) == "10.0.0.1"
    assert options("10.0.0.1").source_ipv6 is None
    assert str(options("fd00::1").source_ipv6) == "fd00::1"


def _scenario() -> list[list[FakeChange]]:
    """Rounds of changes through every planning case: new, unchanged, moved, ECMP, originated,
    unusable, other family, withdrawn, withdrawn while failing, re-announced."""
    shared = change("10.250.0.0/24", "10.0.0.2").new  # one path object for many prefixes
    many = [FakeChange(V4, prefix_key(f"10.250.{i}.0/24"), shared) for i in range(40)]
    return [
        [
            *many,
            change("10.244.1.0/26", "10.0.0.2", "10.0.0.3"),
            local("10.244.2.0/26"),
            change("10.244.3.0/26", "10.9.0.9"),  # unusable
            change("10.244.4.0/26", "10.0.0.4"),  # refused by the "kernel"
            change("fd10::/64", "fd00::2", family=V6),
            change("10.244.5.0/26", "fd00::2"),  # other family
            change("10.244.6.0/26", "10.0.0.6"),  # held by the stale route (other hop)
            change("10.244.7.0/26", "10.0.0.2"),  # held by an identical stale route
        ],
        [
            *many[:20],  # unchanged
            *(change(f"10.250.{i}.0/24", "10.0.0.3") for i in range(20, 30)),  # moved
            *(withdraw(f"10.250.{i}.0/24") for i in range(30, 40)),
            withdraw("10.244.3.0/26"),  # withdrawn while unusable
            withdraw("10.244.4.0/26"),  # withdrawn while failing
            change("10.244.2.0/26", "10.0.0.2"),  # originated -> learned
            withdraw("10.244.1.0/26"),
        ],
        [
            change("10.244.4.0/26", "10.0.0.4"),
            change("10.244.3.0/26", "10.0.0.9"),  # usable now
            local("10.244.1.0/26"),
            *(withdraw(f"10.250.{i}.0/24") for i in range(40)),
        ],
    ]


def _as_change_list(changes: list[FakeChange]) -> object:
    """The RIB's grouped form: consecutive changes to one new path share a group."""
    from pybgp.rib import BestPathReason, ChangeList

    groups: list[tuple[object, ...]] = []
    for item in changes:
        if groups and groups[-1][0] == item.family and groups[-1][3] == item.new:
            groups[-1][1].append(item.prefix)  # type: ignore[attr-defined]
        else:
            groups.append((item.family, [item.prefix], (), item.new, BestPathReason.ONLY_PATH))
    return ChangeList(groups)  # type: ignore[arg-type]


def _reference_plan(self: KernelPlan, keys: Sequence[tuple[int, bytes]]) -> Batch:
    """The planning rule, key by key, without the fast paths."""
    batch = Batch([], [])
    for key in keys:
        self._set_want(key, self._form(key))
        op = self._plan_one(key)
        if op is not None:
            batch.ops.append(op)
            batch.keys.append(key)
    return batch


@pytest.mark.parametrize("grouped", [False, True])
async def test_batched_planning_matches_one_by_one(
    grouped: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """apply() plans many keys at once (fast paths inline, forms shared by identity, groups
    read whole): the outcome must equal the plain rule applied one change at a time."""

    async def run(one_by_one: bool) -> tuple[object, ...]:
        installer = MemoryInstaller(CONNECTED)
        stale = KernelRoute(1, prefix_key("10.244.6.0/26"), (A("10.0.0.99"),))
        same = KernelRoute(1, prefix_key("10.244.7.0/26"), (A("10.0.0.2"),))
        installer.routes[stale.key] = stale
        installer.routes[same.key] = same
        installer.fail[prefix_key("10.244.4.0/26")] = errno.ENETUNREACH
        sync, installer, events, clock = await make(installer=installer)
        statuses = []
        for number, changes in enumerate(_scenario()):
            if number == 2:
                del installer.fail[prefix_key("10.244.4.0/26")]
                installer.set_connected([*CONNECTED, ipaddress.ip_interface("10.0.0.1/12")])
                await sync.service()
            if one_by_one:
                for item in changes:
                    await sync.apply([item])
            else:
                await sync.apply(_as_change_list(changes) if grouped else changes)  # type: ignore[arg-type]
            clock.now += 100
            await sync.retry_due(clock.now)
            statuses.append(
                {
                    prefix_text(item.family[0], item.prefix): sync.status(item.family, item.prefix)
                    for item in changes
                }
            )
            statuses.append(routes(installer))
            statuses.append(sync.counters())
        await sync.initial_sync_done()
        return routes(installer), statuses, sync.counters(), sorted(map(repr, events))

    batched = await run(one_by_one=False)
    monkeypatch.setattr(KernelPlan, "plan", _reference_plan)
    assert batched == await run(one_by_one=True)


def test_the_optional_installer_parts_are_declared_not_probed() -> None:
    """KernelSync uses the fast parts an installer declares (isinstance on the protocols)."""
    from pybgp.kernel import CodeAnswers, NetlinkInstaller, NotificationFilter, RouteInstaller

    netlink: RouteInstaller = NetlinkInstaller("no-such-netns")  # nothing is opened yet
    assert isinstance(netlink, CodeAnswers) and isinstance(netlink, NotificationFilter)
    for plain in (MemoryInstaller(), NullInstaller()):
        assert not isinstance(plain, CodeAnswers) and not isinstance(plain, NotificationFilter)
    assert KernelSync(netlink)._codes is netlink
    assert KernelSync(MemoryInstaller())._codes is None

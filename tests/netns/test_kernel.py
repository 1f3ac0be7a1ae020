"""KernelSync and NetlinkInstaller against a real kernel, each test in its own namespace.

Every test makes a network namespace ``pybgp-t-<random>`` holding a veth pair (``va`` with
10.0.0.1/24 and fd00::1/64, ``vb`` its peer) and deletes it in a ``finally``. The test
process itself never leaves the root namespace: the installer opens its sockets inside the
namespace (a short-lived thread does the setns). ipip links cannot be created in this kernel,
so the IP-in-IP route shape (``via NH dev <tunnel> onlink``) is tested with the veth ``vb``
standing in for the tunnel device.
"""

from __future__ import annotations

import asyncio
import errno
import ipaddress
import json
import os
import secrets
import subprocess
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import attrs
import pytest

from pybgp.kernel import (
    DriftRepaired,
    Encapsulation,
    ForeignConflict,
    KernelEvent,
    KernelRoute,
    KernelSync,
    KernelSyncOptions,
    NetlinkInstaller,
    RouteEvent,
    RouteOp,
    StaleRemoved,
    SyncEvent,
    prefix_key,
    prefix_text,
)

pytestmark = pytest.mark.netns
A = ipaddress.ip_address
V4 = (1, 1)
V6 = (2, 1)


def ip(ns: str, *args: str, check: bool = True) -> str:
    result = subprocess.run(["ip", "-n", ns, *args], capture_output=True, text=True, check=False)
    if check and result.returncode != 0:
        raise RuntimeError(f"ip -n {ns} {' '.join(args)}: {result.stderr.strip()}")
    return result.stdout


def routes(ns: str, family: str = "-4", proto: str = "186") -> dict[str, dict[str, Any]]:
    found = json.loads(ip(ns, "-j", family, "route", "show", "proto", proto) or "[]")
    return {str(entry["dst"]): entry for entry in found}


def _skip_reason() -> str | None:
    if os.geteuid() != 0:
        return "needs root to create network namespaces (euid is not 0)"
    probe = f"pybgp-t-probe{os.getpid()}"
    made = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True)
    if made.returncode != 0:
        return f"`ip netns add` failed: {made.stderr.strip()}"
    subprocess.run(["ip", "netns", "del", probe], capture_output=True)
    return None


SKIP = _skip_reason()


@pytest.fixture
def netns() -> Iterator[str]:
    if SKIP:
        pytest.skip(SKIP)
    name = f"pybgp-t-{secrets.token_hex(4)}"
    home = os.readlink("/proc/thread-self/ns/net")
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        ip(name, "link", "set", "lo", "up")
        ip(name, "link", "add", "va", "type", "veth", "peer", "name", "vb")
        ip(name, "link", "set", "va", "up")
        ip(name, "link", "set", "vb", "up")
        ip(name, "addr", "add", "10.0.0.1/24", "dev", "va")
        ip(name, "-6", "addr", "add", "fd00::1/64", "dev", "va", "nodad")
        yield name
        # the installers opened their sockets inside the namespace from helper threads or
        # processes: this thread never left the namespace it started in
        assert os.readlink("/proc/thread-self/ns/net") == home
    finally:
        subprocess.run(["ip", "netns", "del", name], check=False)


async def eventually(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    """Wait until ``condition()`` holds (checked after each loop turn), or fail."""

    async def wait() -> None:
        while not condition():
            await asyncio.sleep(0.01)

    await asyncio.wait_for(wait(), timeout)


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


@pytest.fixture
async def installer(netns: str) -> AsyncIterator[NetlinkInstaller]:
    inst = NetlinkInstaller(netns)
    await inst.open()
    try:
        yield inst
    finally:
        await inst.close()


def make_sync(netns: str, events: list[SyncEvent], **options: Any) -> KernelSync:
    options.setdefault("retry_initial", 0.05)
    return KernelSync(NetlinkInstaller(netns), KernelSyncOptions(**options), on_event=events.append)


# -- the installer ------------------------------------------------------------------------


async def test_route_shapes(netns: str, installer: NetlinkInstaller) -> None:
    plain = KernelRoute(1, prefix_key("10.244.1.0/26"), (A("10.0.0.2"),))
    tunnel = KernelRoute(
        1, prefix_key("10.244.2.0/26"), (A("192.168.7.2"),), device="vb", onlink=True
    )
    ecmp = KernelRoute(
        1,
        prefix_key("10.244.3.0/26"),
        (A("192.168.7.2"), A("192.168.8.2")),
        device="vb",
        onlink=True,
        metric=20,
        source=A("10.0.0.1"),
    )
    hole = KernelRoute(1, prefix_key("10.244.4.0/26"), (), "blackhole")
    six = KernelRoute(2, prefix_key("fd10::/64"), (A("fd00::2"),), metric=1024)
    six_ecmp = KernelRoute(2, prefix_key("fd11::/64"), (A("fd00::2"), A("fd00::3")), metric=1024)
    results = await installer.install_many([plain, tunnel, ecmp, hole, six, six_ecmp])
    assert [r.describe() for r in results] == ["ok"] * 6
    v4 = routes(netns)
    assert v4["10.244.1.0/26"]["gateway"] == "10.0.0.2"
    assert v4["10.244.2.0/26"]["dev"] == "vb" and "onlink" in v4["10.244.2.0/26"]["flags"]
    hops = v4["10.244.3.0/26"]["nexthops"]
    assert [(h["gateway"], h["dev"], "onlink" in h["flags"]) for h in hops] == [
        ("192.168.7.2", "vb", True),
        ("192.168.8.2", "vb", True),
    ]
    assert v4["10.244.3.0/26"]["metric"] == 20 and v4["10.244.3.0/26"]["prefsrc"] == "10.0.0.1"
    assert v4["10.244.4.0/26"]["type"] == "blackhole"
    v6 = routes(netns, "-6")
    assert v6["fd10::/64"]["gateway"] == "fd00::2"
    assert len(v6["fd11::/64"]["nexthops"]) == 2
    # reading back gives the same routes
    dumped = {r.prefix: r for r in await installer.dump(1, protocol=186, table=254)}
    for route in (plain, tunnel, ecmp, hole):
        assert route.same_as(dumped[route.prefix]), dumped[route.prefix]
    dumped6 = {r.prefix: r for r in await installer.dump(2, protocol=186, table=254)}
    assert six.same_as(dumped6[six.prefix]) and six_ecmp.same_as(dumped6[six_ecmp.prefix])


async def test_every_error_is_attributed_to_its_route(
    netns: str, installer: NetlinkInstaller
) -> None:
    ip(netns, "route", "add", "10.244.9.0/26", "via", "10.0.0.9", "proto", "static")
    good = [
        KernelRoute(1, prefix_key(f"10.{200 + i // 256}.{i % 256}.0/24"), (A("10.0.0.2"),))
        for i in range(3000)
    ]
    unreachable = KernelRoute(1, prefix_key("10.46.0.0/24"), (A("10.99.0.1"),))
    missing = KernelRoute(1, prefix_key("10.46.1.0/24"), (A("10.0.0.2"),), device="nope")
    foreign = KernelRoute(1, prefix_key("10.244.9.0/26"), (A("10.0.0.2"),))
    batch = [*good[:1500], unreachable, missing, foreign, *good[1500:]]
    results = await installer.execute([RouteOp("add", route) for route in batch])
    errors = {prefix_text(1, r.route.prefix): r.error for r in results if not r.ok}
    assert errors == {
        "10.46.0.0/24": errno.ENETUNREACH,
        "10.46.1.0/24": errno.ENODEV,
        "10.244.9.0/26": errno.EEXIST,
    }
    assert len(routes(netns)) == 3000
    assert routes(netns, proto="static")["10.244.9.0/26"]["gateway"] == "10.0.0.9"
    removed = await installer.remove_many([*good, foreign])
    assert [r.error for r in removed[-1:]] == [errno.ESRCH]  # never deletes the foreign one
    assert routes(netns) == {} and "10.244.9.0/26" in routes(netns, proto="static")


async def test_reconcile_touches_only_differences(netns: str, installer: NetlinkInstaller) -> None:
    present = [KernelRoute(1, prefix_key(f"10.250.{i}.0/24"), (A("10.0.0.2"),)) for i in range(50)]
    await installer.install_many(present)
    desired = [
        *present[:40],
        *(attrs.evolve(r, next_hops=(A("10.0.0.3"),)) for r in present[40:45]),
    ]
    desired.append(KernelRoute(1, prefix_key("10.251.0.0/24"), (A("10.0.0.2"),)))
    result = await installer.reconcile(1, desired, protocol=186, table=254)
    assert (result.added, result.replaced, result.removed, result.unchanged) == (1, 5, 5, 40)
    assert result.failures == ()
    assert routes(netns)["10.250.41.0/24"]["gateway"] == "10.0.0.3"
    assert len(routes(netns)) == 46


# -- KernelSync --------------------------------------------------------------------------


async def test_sync_modes_none_ipip_crosssubnet_and_ipv6(netns: str) -> None:
    events: list[SyncEvent] = []
    none = make_sync(netns, events)
    await none.start()
    try:
        await none.apply(
            [
                change("10.244.1.0/26", "10.0.0.2"),
                change("10.244.2.0/26", "10.1.0.5"),
                change("fd10::/64", "fd00::2", family=V6),
                change("10.244.3.0/26", "10.0.0.2", "10.0.0.3"),
                FakeChange(V4, prefix_key("10.244.4.0/26"), (FakePath(A("10.0.0.1"), None),)),
            ]
        )
        assert routes(netns)["10.244.1.0/26"]["gateway"] == "10.0.0.2"
        assert "10.244.2.0/26" not in routes(netns)
        assert none.status(V4, prefix_key("10.244.2.0/26")) == (
            "not installed: next hop 10.1.0.5 not on a connected subnet"
        )
        assert routes(netns, "-6")["fd10::/64"]["gateway"] == "fd00::2"
        assert len(routes(netns)["10.244.3.0/26"]["nexthops"]) == 2
        assert routes(netns)["10.244.4.0/26"]["type"] == "blackhole"
        assert none.counters().installed == 4
    finally:
        await none.stop()
    assert routes(netns) == {} and routes(netns, "-6") == {}

    for mode in (Encapsulation.IPIP, Encapsulation.CROSSSUBNET):
        sync = make_sync(netns, events, encapsulation=mode, tunnel_device="vb")
        await sync.start()
        try:
            await sync.apply(
                [
                    change("10.244.1.0/26", "10.0.0.2"),
                    change("10.244.2.0/26", "10.1.0.5"),
                    change("10.244.3.0/26", "10.1.0.5", "10.2.0.6"),
                    change("fd10::/64", "fd00::2", family=V6),
                ]
            )
            v4 = routes(netns)
            same_subnet = v4["10.244.1.0/26"]
            if mode is Encapsulation.IPIP:
                assert same_subnet["dev"] == "vb" and "onlink" in same_subnet["flags"]
            else:
                assert same_subnet["dev"] == "va" and "onlink" not in same_subnet["flags"]
            assert v4["10.244.2.0/26"]["dev"] == "vb" and "onlink" in v4["10.244.2.0/26"]["flags"]
            hops = v4["10.244.3.0/26"]["nexthops"]
            assert [(h["dev"], "onlink" in h["flags"]) for h in hops] == [("vb", True)] * 2
            assert routes(netns, "-6")["fd10::/64"]["dev"] == "va"  # IPv6 stays plain
        finally:
            await sync.stop()


async def test_adoption_at_start_does_not_touch_unchanged_routes(netns: str) -> None:
    ip(netns, "route", "add", "10.244.1.0/26", "via", "10.0.0.2", "proto", "186")
    ip(netns, "route", "add", "10.244.2.0/26", "via", "10.0.0.3", "proto", "186")
    ip(netns, "route", "add", "10.244.3.0/26", "via", "10.0.0.4", "proto", "186")
    seen: list[KernelEvent] = []
    watcher = NetlinkInstaller(netns)
    await watcher.open()
    watcher.subscribe(seen.append)
    events: list[SyncEvent] = []
    sync = make_sync(netns, events)
    await sync.start()
    try:
        await sync.apply([change("10.244.1.0/26", "10.0.0.2"), change("10.244.2.0/26", "10.0.0.7")])
        assert sync.status(V4, prefix_key("10.244.1.0/26")) == "installed"
        assert "adopted" in sync.status(V4, prefix_key("10.244.3.0/26"))
        # a marker route: notifications arrive in order, so once it is seen every
        # notification caused by start()/apply() has been seen too
        ip(netns, "route", "add", "10.99.99.0/24", "via", "10.0.0.2", "proto", "static")
        await eventually(
            lambda: any(
                isinstance(e, RouteEvent) and e.route.prefix == prefix_key("10.99.99.0/24")
                for e in seen
            )
        )
        touched = {prefix_text(1, e.route.prefix) for e in seen if isinstance(e, RouteEvent)}
        assert touched == {"10.244.2.0/26", "10.99.99.0/24"}  # only the changed one
        assert routes(netns)["10.244.2.0/26"]["gateway"] == "10.0.0.7"
        assert "10.244.3.0/26" in routes(netns)
        await sync.initial_sync_done()
        assert set(routes(netns)) == {"10.244.1.0/26", "10.244.2.0/26"}
        assert StaleRemoved(1) in events
    finally:
        await sync.stop()
        await watcher.close()


async def test_foreign_route_conflict_is_reported_not_overwritten(netns: str) -> None:
    ip(netns, "route", "add", "10.244.1.0/26", "via", "10.0.0.9", "proto", "static")
    events: list[SyncEvent] = []
    sync = make_sync(netns, events)
    await sync.start()
    try:
        await sync.apply([change("10.244.1.0/26", "10.0.0.2")])
        prefix = prefix_key("10.244.1.0/26")
        assert sync.status(V4, prefix) == "failed: EEXIST foreign route (proto 4)"
        assert ForeignConflict(V4, prefix, 4) in events
        assert routes(netns, proto="static")["10.244.1.0/26"]["gateway"] == "10.0.0.9"
        # once the foreign route goes away, pybgp's goes in (notification, no polling)
        ip(netns, "route", "del", "10.244.1.0/26", "proto", "static")
        await eventually(lambda: sync.status(V4, prefix) == "installed")
        assert routes(netns)["10.244.1.0/26"]["gateway"] == "10.0.0.2"
    finally:
        await sync.stop()


async def test_drift_is_repaired(netns: str) -> None:
    events: list[SyncEvent] = []
    sync = make_sync(netns, events)
    await sync.start()
    try:
        await sync.apply([change("10.244.1.0/26", "10.0.0.2"), change("10.244.2.0/26", "10.0.0.2")])
        ip(netns, "route", "del", "10.244.1.0/26")
        await eventually(lambda: "10.244.1.0/26" in routes(netns))
        ip(netns, "route", "change", "10.244.2.0/26", "via", "10.0.0.66", "proto", "186")
        await eventually(
            lambda: routes(netns).get("10.244.2.0/26", {}).get("gateway") == "10.0.0.2"
        )
        assert DriftRepaired(V4, prefix_key("10.244.1.0/26"), "deleted") in events
        assert DriftRepaired(V4, prefix_key("10.244.2.0/26"), "changed") in events
    finally:
        await sync.stop()


async def test_failed_install_backs_off_until_reachable(netns: str) -> None:
    # The address makes 10.1.0.0/24 "connected" for the decision, but without its prefix
    # route the kernel has no way to the next hop: ENETUNREACH until the route is added.
    ip(netns, "addr", "add", "10.1.0.1/24", "dev", "va", "noprefixroute")
    events: list[SyncEvent] = []
    sync = make_sync(netns, events)
    await sync.start()
    try:
        prefix = prefix_key("10.244.1.0/26")
        await sync.apply([change("10.244.1.0/26", "10.1.0.5")])
        assert sync.status(V4, prefix).startswith("failed: ENETUNREACH")
        assert sync.counters().failed == 1
        await eventually(lambda: sync.status(V4, prefix).startswith("failed") and len(events) >= 3)
        ip(netns, "route", "add", "10.1.0.0/24", "dev", "va")
        await eventually(lambda: sync.status(V4, prefix) == "installed")
        assert routes(netns)["10.244.1.0/26"]["gateway"] == "10.1.0.5"
        assert sync.counters().failed == 0
    finally:
        await sync.stop()


async def test_missing_device_is_retried_when_it_appears(netns: str) -> None:
    events: list[SyncEvent] = []
    sync = make_sync(
        netns, events, encapsulation=Encapsulation.IPIP, tunnel_device="tun9", retry_initial=30.0
    )
    await sync.start()
    try:
        prefix = prefix_key("10.244.1.0/26")
        await sync.apply([change("10.244.1.0/26", "10.1.0.5")])
        assert sync.status(V4, prefix) == "failed: ENODEV device tun9 not found"
        ip(netns, "link", "add", "tun9", "type", "veth", "peer", "name", "tun9p")
        ip(netns, "link", "set", "tun9", "up")
        await eventually(lambda: sync.status(V4, prefix) == "installed")  # long before 30 s
        assert routes(netns)["10.244.1.0/26"]["dev"] == "tun9"
    finally:
        await sync.stop()


async def test_keep_on_stop_keeps_routes(netns: str) -> None:
    events: list[SyncEvent] = []
    sync = make_sync(netns, events, keep_on_stop=True)
    await sync.start()
    await sync.apply(
        [change("10.244.1.0/26", "10.0.0.2"), change("fd10::/64", "fd00::2", family=V6)]
    )
    await sync.stop()
    assert "10.244.1.0/26" in routes(netns) and "fd10::/64" in routes(netns, "-6")
    # and a restart adopts them without re-adding
    again = make_sync(netns, events)
    await again.start()
    await again.apply([change("10.244.1.0/26", "10.0.0.2")])
    assert again.status(V4, prefix_key("10.244.1.0/26")) == "installed"
    await again.initial_sync_done()
    assert routes(netns, "-6") == {}
    await again.stop()
    assert routes(netns) == {}


async def test_own_table_protocol_metric_and_source(netns: str) -> None:
    events: list[SyncEvent] = []
    sync = make_sync(netns, events, table=100, protocol=200, metric=50, source_ipv4=A("10.0.0.1"))
    await sync.start()
    try:
        await sync.apply([change("10.244.1.0/26", "10.0.0.2")])
        found = json.loads(ip(netns, "-j", "route", "show", "table", "100", "proto", "200"))
        assert [(r["dst"], r["gateway"], r["metric"], r["prefsrc"]) for r in found] == [
            ("10.244.1.0/26", "10.0.0.2", 50, "10.0.0.1")
        ]
        assert routes(netns) == {}  # nothing in the main table with proto 186
    finally:
        await sync.stop()
    assert json.loads(ip(netns, "-j", "route", "show", "table", "100") or "[]") == []


async def test_ipv6_ecmp_and_drift_repair(netns: str) -> None:
    events: list[SyncEvent] = []
    sync = make_sync(netns, events)
    await sync.start()
    try:
        await sync.apply([change("fd10::/64", "fd00::2", "fd00::3", family=V6)])
        hops = routes(netns, "-6")["fd10::/64"]["nexthops"]
        assert sorted(h["gateway"] for h in hops) == ["fd00::2", "fd00::3"]
        ip(netns, "-6", "route", "del", "fd10::/64")
        await eventually(lambda: "fd10::/64" in routes(netns, "-6"))
        assert len(routes(netns, "-6")["fd10::/64"]["nexthops"]) == 2
        assert DriftRepaired(V6, prefix_key("fd10::/64"), "deleted") in events
    finally:
        await sync.stop()
    assert routes(netns, "-6") == {}


async def test_partial_ipv6_ecmp_delete_is_repaired_whole(netns: str) -> None:
    events: list[SyncEvent] = []
    sync = make_sync(netns, events)
    await sync.start()
    try:
        await sync.apply([change("fd10::/64", "fd00::2", "fd00::3", family=V6)])
        ip(netns, "-6", "route", "del", "fd10::/64", "via", "fd00::2")
        await eventually(
            lambda: len(routes(netns, "-6").get("fd10::/64", {}).get("nexthops", [])) == 2
        )
        assert sync.status(V6, prefix_key("fd10::/64")) == "installed"
    finally:
        await sync.stop()


async def test_many_foreign_conflicts_in_one_batch(netns: str) -> None:
    for i in range(20):
        ip(netns, "route", "add", f"10.244.{i}.0/24", "via", "10.0.0.9", "proto", "static")
    events: list[SyncEvent] = []
    sync = make_sync(netns, events)
    await sync.start()
    try:
        await sync.apply([change(f"10.244.{i}.0/24", "10.0.0.2") for i in range(30)])
        conflicts = [e for e in events if isinstance(e, ForeignConflict)]
        assert len(conflicts) == 20 and {e.protocol for e in conflicts} == {4}
        assert sync.counters().installed == 10 and sync.counters().failed == 20
        assert len(routes(netns, proto="static")) == 20
    finally:
        await sync.stop()


# -- speed paths: answers only for failures, own echoes filtered by the kernel -------------


async def test_errors_are_attributed_with_acks_only_on_failures(netns: str) -> None:
    """Only the last message of a batch asks for an ack: failures anywhere (first, middle,
    last = the barrier itself, a batch that fails whole) still land on their own route."""
    async with NetlinkInstaller(netns, batch_size=16, monitor=False) as installer:
        good = A("10.0.0.2")
        batch = [
            KernelRoute(1, prefix_key(f"10.{200 + i // 256}.{i % 256}.0/24"), (good,))
            for i in range(100)
        ]
        bad = {0, 15, 16, 31, 47, 50, 99, *range(64, 80)}  # 64..79: one whole batch of 16
        for position in bad:
            batch[position] = attrs.evolve(batch[position], next_hops=(A("10.99.0.1"),))
        results = await installer.execute([RouteOp("add", route) for route in batch])
        assert {i for i, r in enumerate(results) if not r.ok} == bad
        assert {r.error for r in results if not r.ok} == {errno.ENETUNREACH}
        assert len(routes(netns)) == 100 - len(bad)
        again = await installer.execute([RouteOp("remove", route) for route in batch])
        assert {i for i, r in enumerate(again) if not r.ok} == bad
        assert {r.error for r in again if not r.ok} == {errno.ESRCH}
        assert routes(netns) == {}


async def test_own_changes_are_not_echoed_but_others_are(netns: str) -> None:
    installer = NetlinkInstaller(netns)
    await installer.open()
    seen: list[KernelEvent] = []
    installer.subscribe(seen.append)
    try:
        assert installer.filters_own_echoes
        ours = [
            KernelRoute(1, prefix_key(f"10.{200 + i // 256}.{i % 256}.0/24"), (A("10.0.0.2"),))
            for i in range(2000)
        ]
        assert all(r.ok for r in await installer.install_many(ours))
        assert all(r.ok for r in await installer.remove_many(ours[1000:]))
        ip(netns, "route", "add", "10.77.0.0/24", "via", "10.0.0.3", "proto", "static")
        ip(netns, "route", "del", ours[0].describe().split()[0], "proto", "186")
        await eventually(lambda: len(seen) >= 2)
        await asyncio.sleep(0.1)
        changes = [
            (e.kind, prefix_text(1, e.route.prefix)) for e in seen if isinstance(e, RouteEvent)
        ]
        assert changes == [("new", "10.77.0.0/24"), ("del", prefix_text(1, ours[0].prefix))]
    finally:
        await installer.close()


def _big_apply(count: int) -> list[FakeChange]:
    path = (FakePath(A("10.0.0.2"), "10.0.0.2"),)  # one path object shared, as the RIB does
    return [FakeChange(V4, (0x64000000 + i).to_bytes(4, "big").rjust(5, b"\x20"), path)
            for i in range(count)]  # fmt: skip


async def test_drift_during_and_after_a_big_apply_is_repaired(netns: str) -> None:
    """Own notifications are filtered in the kernel: others' changes to pybgp's routes, made
    while a big batch is going in or after it, are still repaired or reported."""
    events: list[SyncEvent] = []
    sync = make_sync(netns, events)
    await sync.start()
    try:
        changes = _big_apply(50_000)
        first, middle, last = "100.0.0.0", "100.0.97.0", "100.0.195.79"  # as ip -j shows them
        assert prefix_text(1, changes[-1].prefix) == f"{last}/32"

        def meddle() -> None:  # in a thread, while the batch is being sent
            while first not in ip(netns, "route", "show", first):
                pass
            ip(netns, "route", "replace", first, "via", "10.0.0.66", "proto", "186")

        during = asyncio.get_running_loop().run_in_executor(None, meddle)
        await sync.apply(changes)
        await during
        await eventually(lambda: routes(netns)[first]["gateway"] == "10.0.0.2")
        assert DriftRepaired(V4, prefix_key(f"{first}/32"), "changed") in events
        assert sync.installed_count == 50_000

        # after: a changed gateway, a deletion, a foreign protocol taking the key
        ip(netns, "route", "replace", middle, "via", "10.0.0.77", "proto", "186")
        ip(netns, "route", "del", last, "proto", "186")
        await eventually(
            lambda: routes(netns).get(middle, {}).get("gateway") == "10.0.0.2"
            and last in routes(netns)
        )
        assert DriftRepaired(V4, prefix_key(f"{middle}/32"), "changed") in events
        assert DriftRepaired(V4, prefix_key(f"{last}/32"), "deleted") in events
        ip(netns, "route", "replace", middle, "via", "10.0.0.9", "proto", "static")
        await eventually(lambda: ForeignConflict(V4, prefix_key(f"{middle}/32"), 4) in events)
        status = sync.status(V4, prefix_key(f"{middle}/32"))
        assert status == "failed: EEXIST foreign route (proto 4)"
        assert sync.installed_count == 49_999
    finally:
        await sync.stop()
    assert routes(netns) == {}

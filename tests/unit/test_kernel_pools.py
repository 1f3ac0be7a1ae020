"""Per-pool encapsulation (Calico IPPools from the datastore) in KernelSync."""

from __future__ import annotations

import ipaddress

import attrs

from pybgp.config import KernelConfig
from pybgp.kernel import KernelSync, KernelSyncOptions, MemoryInstaller, prefix_key, prefix_text

A = ipaddress.ip_address
N = ipaddress.ip_network


@attrs.frozen
class Path:
    next_hop: ipaddress.IPv4Address
    peer_id: str | None


@attrs.frozen
class Change:
    family: tuple[int, int]
    prefix: bytes
    new: tuple[Path, ...]


def change(prefix: str, hop: str) -> Change:
    return Change((1, 1), prefix_key(prefix), (Path(A(hop), hop),))  # type: ignore[arg-type]


def forms(installer: MemoryInstaller) -> dict[str, tuple[str, str | None]]:
    return {prefix_text(r.afi, r.prefix): (str(r.next_hops[0]), r.device)
            for r in installer.routes.values()}


async def test_each_pool_has_its_encapsulation_and_a_change_re_decides() -> None:
    kernel = KernelConfig(pools=((N("10.60.0.0/16"), "ipip"), (N("10.48.0.0/16"), "crosssubnet"),
                                 (N("10.48.7.0/24"), "none")))
    options = KernelSyncOptions.from_config(kernel)
    installer = MemoryInstaller((ipaddress.ip_interface("10.0.0.1/24"),))
    sync = KernelSync(installer, options, run_retries=False)
    await sync.start()
    await sync.apply([
        change("10.60.1.0/26", "10.0.0.2"),  # Always: the tunnel even on the same subnet
        change("10.48.1.0/26", "10.0.0.2"),  # CrossSubnet, same subnet: plain
        change("10.48.2.0/26", "10.1.0.5"),  # CrossSubnet, another subnet: the tunnel
        change("10.48.7.0/26", "10.0.0.3"),  # the most specific pool (Never) wins
        change("192.0.2.0/24", "10.0.0.2"),  # outside every pool: [kernel] encapsulation
    ])
    assert forms(installer) == {
        "10.60.1.0/26": ("10.0.0.2", "tunl0"),
        "10.48.1.0/26": ("10.0.0.2", None),
        "10.48.2.0/26": ("10.1.0.5", "tunl0"),
        "10.48.7.0/26": ("10.0.0.3", None),
        "192.0.2.0/24": ("10.0.0.2", None),
    }
    await sync.set_pools(attrs.evolve(kernel, pools=((N("10.60.0.0/16"), "none"),)))
    found = forms(installer)
    assert found["10.60.1.0/26"] == ("10.0.0.2", None)
    assert "10.48.2.0/26" not in found  # now plain, and 10.1.0.5 is not connected
    assert sync.status((1, 1), prefix_key("10.48.2.0/26")).startswith("not installed")
    await sync.stop()

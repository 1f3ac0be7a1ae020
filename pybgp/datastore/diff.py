"""What changed between two derived configs of one node (pure: no I/O).

The speaker applies a change through the same path as a reload (``Speaker.apply_config``);
this diff names what the datastore changed, for the log, ``pybgp status`` and the tests.
"""

from __future__ import annotations

import attrs

from pybgp.config.values import PeerConfig
from pybgp.datastore.mapping import DerivedConfig, IPNetwork, PoolEncapsulation

__all__ = ["DerivedDiff", "derived_diff"]


@attrs.frozen(kw_only=True)
class DerivedDiff:
    """Peers keyed by address; prefixes and pools as sets."""

    added_peers: tuple[PeerConfig, ...] = ()
    removed_peers: tuple[PeerConfig, ...] = ()
    changed_peers: tuple[tuple[PeerConfig, PeerConfig], ...] = ()
    """(old, new) for peers whose settings differ."""
    added_prefixes: tuple[IPNetwork, ...] = ()
    removed_prefixes: tuple[IPNetwork, ...] = ()
    pools_changed: tuple[PoolEncapsulation, ...] = ()
    """Pools added or whose encapsulation changed (new values), and removed ones (old)."""
    identity_changed: tuple[str, ...] = ()
    """Names among asn, router_id, listen_port, cluster_id whose value changed."""

    @property
    def empty(self) -> bool:
        """True when nothing changed."""
        return not any(attrs.astuple(self, recurse=False))

    def describe(self) -> str:
        """One line for the log: what changed."""
        parts = []
        for label, items in (
            ("peers added", [str(p.address) for p in self.added_peers]),
            ("peers removed", [str(p.address) for p in self.removed_peers]),
            ("peers changed", [str(new.address) for _, new in self.changed_peers]),
            ("prefixes added", [str(p) for p in self.added_prefixes]),
            ("prefixes removed", [str(p) for p in self.removed_prefixes]),
            ("pools changed", [f"{p.cidr} {p.encapsulation}" for p in self.pools_changed]),
            ("changed", list(self.identity_changed)),
        ):
            if items:
                parts.append(f"{label}: {', '.join(items)}")
        return "; ".join(parts) or "no changes"


def derived_diff(old: DerivedConfig | None, new: DerivedConfig) -> DerivedDiff:
    """The difference from ``old`` (None = nothing yet) to ``new``."""
    before = {p.address: p for p in old.peers} if old is not None else {}
    after = {p.address: p for p in new.peers}
    old_prefixes = set(old.prefixes) if old is not None else set()
    new_prefixes = set(new.prefixes)
    old_pools = set(old.pools) if old is not None else set()
    new_pools = set(new.pools)
    identity: tuple[str, ...] = ()
    if old is not None:
        identity = tuple(
            name
            for name in ("asn", "router_id", "listen_port", "cluster_id")
            if getattr(old, name) != getattr(new, name)
        )
    else:
        identity = ("asn", "router_id", "listen_port", "cluster_id")
    return DerivedDiff(
        added_peers=tuple(p for a, p in after.items() if a not in before),
        removed_peers=tuple(p for a, p in before.items() if a not in after),
        changed_peers=tuple(
            (before[a], p) for a, p in after.items() if a in before and before[a] != p
        ),
        added_prefixes=tuple(sorted(new_prefixes - old_prefixes, key=_order)),
        removed_prefixes=tuple(sorted(old_prefixes - new_prefixes, key=_order)),
        pools_changed=tuple(
            sorted(new_pools ^ old_pools, key=lambda p: (_order(p.cidr), p.encapsulation))
        ),
        identity_changed=identity,
    )


def _order(network: IPNetwork) -> tuple[int, int, int]:
    return (network.version, int(network.network_address), network.prefixlen)

"""What changed between two configs: the basis of a hitless reload (SIGHUP, ``pybgp reload``).

Pure: two frozen :class:`~pybgp.config.values.SpeakerConfig` values in, one :class:`ConfigDiff`
out; the speaker decides from it which sessions to touch.
"""

from __future__ import annotations

import attrs

from pybgp.config.values import PeerConfig, SpeakerConfig, SpeakerSection

__all__ = ["ConfigDiff", "config_diff"]



@attrs.frozen(kw_only=True)
class ConfigDiff:
    """What changed between two configs (SIGHUP reload). Peers are keyed by address."""

    added_peers: tuple[PeerConfig, ...] = ()
    """``[[peers]]`` whose address is new."""

    removed_peers: tuple[PeerConfig, ...] = ()
    """``[[peers]]`` whose address is gone (the old config)."""

    changed_peers: tuple[tuple[PeerConfig, PeerConfig], ...] = ()
    """(old, new) for peers whose settings differ, including when a filter they reference
    changed content."""

    speaker_changed: tuple[str, ...] = ()
    """Names of the ``[speaker]`` keys whose value changed."""

    dynamic_peers_changed: bool = False
    """``[[dynamic_peers]]`` differ."""

    originate_changed: bool = False
    """``[originate]`` differs."""

    kernel_changed: bool = False
    """``[kernel]`` differs."""

    graceful_restart_changed: bool = False
    """``[graceful_restart]`` differs (applies at the next restart of pybgp)."""

    filters_changed: tuple[str, ...] = ()
    """Names of filters added, removed or changed."""

    logging_changed: bool = False
    """``[logging]`` differs."""

    metrics_changed: bool = False
    """``[metrics]`` differs."""

    @property
    def empty(self) -> bool:
        """True when nothing changed."""
        return not (
            self.added_peers
            or self.removed_peers
            or self.changed_peers
            or self.speaker_changed
            or self.dynamic_peers_changed
            or self.originate_changed
            or self.kernel_changed
            or self.graceful_restart_changed
            or self.filters_changed
            or self.logging_changed
            or self.metrics_changed
        )

    @property
    def restart_required(self) -> bool:
        """True when a ``[speaker]`` key that every session depends on changed (asn,
        router_id, cluster_id, listen_address, listen_port): all sessions must restart."""
        return bool(
            {"asn", "router_id", "cluster_id", "listen_address", "listen_port"}
            & set(self.speaker_changed)
        )


def config_diff(old: SpeakerConfig, new: SpeakerConfig) -> ConfigDiff:
    """Compare two configs for a reload: peers added / removed / changed, sections changed."""
    old_filters = {f.name: f for f in old.filters}
    new_filters = {f.name: f for f in new.filters}
    filters_changed = tuple(
        sorted(
            name
            for name in old_filters.keys() | new_filters.keys()
            if old_filters.get(name) != new_filters.get(name)
        )
    )
    changed_filter_set = set(filters_changed)
    old_peers = {p.address: p for p in old.peers}
    new_peers = {p.address: p for p in new.peers}
    changed: list[tuple[PeerConfig, PeerConfig]] = []
    for address, peer in new_peers.items():
        before = old_peers.get(address)
        if before is None:
            continue
        filters_touched = bool(
            changed_filter_set & set(peer.import_filters + peer.export_filters)
        )
        if before != peer or filters_touched:
            changed.append((before, peer))
    speaker_changed = tuple(
        field.name
        for field in attrs.fields(SpeakerSection)
        if getattr(old.speaker, field.name) != getattr(new.speaker, field.name)
    )
    return ConfigDiff(
        added_peers=tuple(p for a, p in new_peers.items() if a not in old_peers),
        removed_peers=tuple(p for a, p in old_peers.items() if a not in new_peers),
        changed_peers=tuple(changed),
        speaker_changed=speaker_changed,
        dynamic_peers_changed=old.dynamic_peers != new.dynamic_peers,
        originate_changed=old.originate != new.originate,
        kernel_changed=old.kernel != new.kernel,
        graceful_restart_changed=old.graceful_restart != new.graceful_restart,
        filters_changed=filters_changed,
        logging_changed=old.logging != new.logging,
        metrics_changed=old.metrics != new.metrics,
    )

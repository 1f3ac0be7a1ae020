"""Applying a reloaded config to a running :class:`~pybgp.speaker.Speaker` (SIGHUP).

Kept apart from the shell to keep each file short; it only calls the methods of
:class:`Reloadable`, which the speaker has (no import of the speaker: no cycle).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network
from typing import Protocol

import attrs

from pybgp.config import BfdConfig, PeerConfig, SpeakerConfig, config_diff
from pybgp.wire.constants import CeaseSubcode

__all__ = ["Reloadable", "apply_config"]

_SHOWN = 8
"""Originated prefixes named in a reload's summary, added and removed each."""


class Reloadable(Protocol):
    """What applying a config needs of a running speaker."""

    config: SpeakerConfig

    async def add_peer(self, config: PeerConfig) -> None: ...

    async def remove_peer(
        self, address: str | IPv4Address | IPv6Address, message: str = ..., subcode: int = ...
    ) -> None: ...

    def update_policies(self, config: PeerConfig) -> None: ...

    def originate(
        self,
        prefix: str | IPv4Network | IPv6Network,
        communities: Sequence[int] = ...,
        large_communities: Sequence[tuple[int, int, int]] = ...,
    ) -> None: ...

    def withdraw(self, prefix: str | IPv4Network | IPv6Network) -> None: ...

    def originate_many(
        self,
        prefixes: Iterable[str | IPv4Network | IPv6Network],
        communities: Sequence[int] = ...,
        large_communities: Sequence[tuple[int, int, int]] = ...,
    ) -> None: ...

    def withdraw_many(self, prefixes: Iterable[str | IPv4Network | IPv6Network]) -> None: ...

    def _set_range_password(self, network: IPv4Network | IPv6Network, password: str) -> None: ...

    def set_bfd_timers(self, config: BfdConfig) -> None: ...


async def apply_config(speaker: Reloadable, new: SpeakerConfig) -> str:
    """Apply a reloaded config (SIGHUP); returns what happened, in words.

    Peers added start, removed ones get Cease/Peer De-configured, changed ones are reset
    with Cease/Other Configuration Change; ``[originate]`` changes are announced and
    withdrawn. A change of asn, router_id, cluster_id or the listener is refused (restart
    needed); other ``[speaker]`` values apply to sessions started from now on.
    """
    diff = config_diff(speaker.config, new)
    if diff.empty:
        return "no changes"
    if diff.restart_required:
        keys = ", ".join(diff.speaker_changed)
        return f"not applied: [speaker] {keys} changed; restart pybgp to apply"
    old, speaker.config = speaker.config, new
    done: list[str] = []
    for config in diff.removed_peers:
        await speaker.remove_peer(config.address, "peer removed from the configuration")
        done.append(f"removed peer {config.address}")
    for before, config in diff.changed_peers:
        policy_only = (
            attrs.evolve(
                before, import_filters=config.import_filters, export_filters=config.export_filters
            )
            == config
        )
        if policy_only:
            # Only filters changed: new policies, same session (issue: no reset on reload).
            speaker.update_policies(config)
            done.append(f"new policies for peer {config.address} (session kept)")
            continue
        await speaker.remove_peer(config.address, "", CeaseSubcode.OTHER_CONFIGURATION_CHANGE)
        await speaker.add_peer(config)
        done.append(f"reset peer {config.address} (settings changed)")
    for config in diff.added_peers:
        await speaker.add_peer(config)
        done.append(f"added peer {config.address}")
    if diff.originate_changed:
        was, now = old.originate, new.originate
        gone = was.prefixes.difference(now.prefixes)  # linear: sets of keys per family
        added = now.prefixes.difference(was.prefixes)
        speaker.withdraw_many(gone)
        same = (was.communities, was.large_communities) == (
            now.communities, now.large_communities
        )
        # Unchanged attributes: only the new prefixes; else all of them, with the new ones.
        speaker.originate_many(
            added if same else now.prefixes, now.communities, now.large_communities
        )
        changes = [f"+{prefix}" for prefix in added[:_SHOWN]]
        changes += [f"-{prefix}" for prefix in gone[:_SHOWN]]
        if len(added) + len(gone) > len(changes):
            changes.append(f"and {len(added) + len(gone) - len(changes)} more")
        done.append("originated prefixes updated" + (f" ({' '.join(changes)})" if changes else ""))
    if diff.dynamic_peers_changed:
        for dynamic in old.dynamic_peers:
            if dynamic.password:
                speaker._set_range_password(dynamic.range, "")
        for dynamic in new.dynamic_peers:
            if dynamic.password:
                speaker._set_range_password(dynamic.range, dynamic.password)
        done.append("dynamic peer ranges updated (new connections)")
    if diff.speaker_changed:
        done.append(f"[speaker] {', '.join(diff.speaker_changed)}: for new sessions")
    if diff.bfd_changed:
        speaker.set_bfd_timers(new.bfd)
        done.append("[bfd] timers applied to the running BFD sessions (Poll Sequence)")
    if diff.kernel_changed:
        done.append("[kernel] changed: takes effect at the next restart")
    if diff.graceful_restart_changed:
        done.append("[graceful_restart] changed: takes effect at the next restart")
    if diff.filters_changed:
        done.append(f"filters changed: {', '.join(diff.filters_changed)}")
    return "; ".join(done) or "nothing to apply"

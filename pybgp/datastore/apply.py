"""Applying a datastore-derived config to a running speaker (the shell side).

The speaker's reload path (:meth:`Speaker.apply_config`) does the work: peers added, removed
or reset, originated prefixes announced and withdrawn. Three things a datastore changes that
a file reload does not handle live are prepared here first:

* a peer whose only change is its label (``type``/``description``, e.g. a mesh peer that is
  now the same node reached through a BGPPeer) keeps its session;
* this node's ``routeReflectorClusterID`` (``[speaker] cluster_id``) set or cleared: the RIB
  takes the new id and the iBGP sessions restart with it (a reload refuses this);
* the pools' encapsulation: the kernel sync re-decides its routes.

A change of the node's AS or router id needs a restart (every session depends on them): it
is logged and the rest is applied with the running identity.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import attrs

from pybgp.config import SpeakerConfig, config_diff
from pybgp.wire.constants import CeaseSubcode

if TYPE_CHECKING:
    from pybgp.speaker import Speaker

__all__ = ["apply_datastore_config"]

log = logging.getLogger("pybgp.datastore")

_LABELS = ("type", "description")


async def apply_datastore_config(speaker: Speaker, new: SpeakerConfig) -> str:
    """Apply ``new`` (the file merged with the datastore) to ``speaker``; returns a summary."""
    old = speaker.config
    notes: list[str] = []
    fixed = {"asn", "router_id", "listen_address", "listen_port"}
    held = [n for n in sorted(fixed) if getattr(old.speaker, n) != getattr(new.speaker, n)]
    if held:
        notes.append(f"{', '.join(held)} changed in the datastore: restart pybgp to apply")
        log.warning("datastore: %s", notes[-1])
        new = attrs.evolve(
            new,
            speaker=attrs.evolve(new.speaker, **{n: getattr(old.speaker, n) for n in fixed}),
        )
    diff = config_diff(old, new)
    interim_peers = {peer.address: peer for peer in old.peers}
    for before, after in diff.changed_peers:
        if attrs.evolve(before, **{name: getattr(after, name) for name in _LABELS}) == after:
            speaker.update_policies(after)  # same session, new label
            interim_peers[after.address] = after
    resets = []
    if old.speaker.cluster_id != new.speaker.cluster_id:
        speaker.rib.cluster_id = new.speaker.cluster_id
        changed = {after.address for _, after in diff.changed_peers}
        resets = [
            peer for peer in new.peers
            if peer.asn == new.speaker.asn and peer.address in interim_peers
            and peer.address not in changed
        ]
        notes.append(f"cluster id now {new.speaker.cluster_id}")
    if old.kernel.pools != new.kernel.pools and speaker.kernel is not None:
        await speaker.kernel.set_pools(new.kernel)
        notes.append("pool encapsulation updated")
    speaker.config = attrs.evolve(
        old,
        speaker=attrs.evolve(old.speaker, cluster_id=new.speaker.cluster_id),
        peers=tuple(interim_peers.values()),
        kernel=new.kernel,
    )
    summary = await speaker.apply_config(new)
    for peer in resets:
        await speaker.remove_peer(peer.address, "", CeaseSubcode.OTHER_CONFIGURATION_CHANGE)
        await speaker.add_peer(peer)
    if resets:
        notes.append(f"reset {len(resets)} iBGP peers for the new cluster id")
    return "; ".join([summary, *notes]) if notes else summary

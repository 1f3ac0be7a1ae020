"""Applying a datastore-derived config to a running speaker (the shell side).

The speaker's reload path (:meth:`Speaker.apply_config`) does the work: peers added, removed
or reset, originated prefixes announced and withdrawn. Three things a datastore changes that
a file reload does not handle live are prepared here first:

* a peer whose only change is its label (``type``/``description``, e.g. a mesh peer that is
  now the same node reached through a BGPPeer) or its client role keeps its session;
* this node's ``routeReflectorClusterID`` (``[speaker] cluster_id``) set or cleared, and peers
  becoming or ceasing to be route-reflector clients: the RIB takes the new id and roles and
  sends each peer only the difference; no session restarts (a reload refuses a new cluster
  id and resets a peer whose client flag changed);
* the pools' encapsulation: the kernel sync re-decides its routes.

A change of the node's AS or router id needs a restart (every session depends on them): it
is logged and the rest is applied with the running identity.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import attrs

from pybgp.config import SpeakerConfig, config_diff

if TYPE_CHECKING:
    from pybgp.speaker import Speaker

__all__ = ["apply_datastore_config"]

log = logging.getLogger("pybgp.datastore")

_LIVE = ("type", "description", "route_reflector_client")


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
    if old.speaker.cluster_id != new.speaker.cluster_id:
        # Before any client is marked: reflection starts (or stops) with the new id.
        speaker.set_cluster_id(new.speaker.cluster_id)
        notes.append(f"cluster id now {new.speaker.cluster_id}")
        old = speaker.config
    diff = config_diff(old, new)
    interim = {peer.address: peer for peer in old.peers}
    for before, after in diff.changed_peers:
        if attrs.evolve(before, **{name: getattr(after, name) for name in _LIVE}) == after:
            speaker.update_peer(after)  # same session: labels or the client role changed
            interim[after.address] = after
    kept = sum(1 for address, peer in interim.items() if peer is not old.peer_for(address))
    if kept:
        notes.append(f"{kept} peers updated without a reset")
    if old.kernel.pools != new.kernel.pools and speaker.kernel is not None:
        await speaker.kernel.set_pools(new.kernel)
        notes.append("pool encapsulation updated")
    # What is left for the reload path: peers added, removed or with session changes,
    # originated prefixes.
    speaker.config = attrs.evolve(old, peers=tuple(interim.values()), kernel=new.kernel)
    summary = await speaker.apply_config(new)
    return "; ".join([summary, *notes]) if notes else summary

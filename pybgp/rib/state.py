"""What the RIB engine holds, and how its queued changes go out.

:class:`RibState` is the bottom layer of :class:`pybgp.rib.Rib`: the peers (``peer.PeerState``:
Adj-RIB-In, Adj-RIB-Out, caches), the Loc-RIB with its queue of best-path changes
(``selection.Selection``), the originated routes, and the log lines of the current call.
``_flush`` ends every entry point: it exports the queued changes to every established peer
(through their update groups, ``groups.export_groups``: one export and one encoding per
group of alike peers; and ``addpath.export_paths`` for the families sent with ADD-PATH) and
returns them as one :class:`RibOutput`.

The layers above add behaviour, not state: ``importing.RibImport`` (UPDATEs into the
Adj-RIB-In), ``stale.RibStale`` (graceful restart and enhanced route refresh), ``rib.Rib`` (the
public entry points and queries).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from ipaddress import IPv4Address

import attrs

from pybgp.rib import addpath
from pybgp.rib.groups import export_groups
from pybgp.rib.paths import Path
from pybgp.rib.peer import PeerState
from pybgp.rib.selection import Selection
from pybgp.rib.table import AdjRibIn, LocRib
from pybgp.rib.types import ChangeList, RibOptions, RibOutput
from pybgp.wire.constants import Family


@attrs.define
class RibState:
    """The engine's tables and queues; every entry point ends with :meth:`_flush`."""

    local_as: int
    router_id: IPv4Address
    cluster_id: IPv4Address | None = None
    """Set = route reflector for the peers marked ``route_reflector_client`` (RFC 4456)."""
    options: RibOptions = attrs.field(factory=RibOptions)
    _peers: dict[str, PeerState] = attrs.field(init=False, factory=dict)
    _loc: LocRib = attrs.field(init=False)
    _sel: Selection = attrs.field(init=False)
    """The Loc-RIB (``_loc``) with the best-path changes queued since the last flush."""
    _originated: dict[Family, AdjRibIn] = attrs.field(init=False, factory=dict)
    """The prefixes originated here, per family: read from the Loc-RIB (their paths are the
    candidates without a peer), with their count; no table of their own."""
    _origin_paths: dict[tuple[object, ...], Path] = attrs.field(init=False, factory=dict)
    _notes: list[str] = attrs.field(init=False, factory=list)
    _path_ids: addpath.PathIds = attrs.field(init=False, factory=addpath.PathIds)
    hold_end_of_rib: bool = attrs.field(init=False, default=False)
    """True while our selection is deferred after a graceful restart (RFC 4724 §4.1): the
    initial table goes out, its End-of-RIB waits for :meth:`release_end_of_rib`."""
    _debug: list[str] = attrs.field(init=False, factory=list)

    def __attrs_post_init__(self) -> None:
        self._loc = LocRib(self.options.always_compare_med, self.options.multipath)
        self._sel = Selection(self._loc)

    def _drop_peer_routes(self, peer: PeerState) -> None:
        for family, table in peer.adj_in.items():
            self._sel.drop(family, table)
        peer.reset()
        self._loc.forget()
        self._watch_candidates()

    def _watch_candidates(self) -> None:
        """Record touched prefixes only while some peer gets ADD-PATH."""
        self._sel.watch(any(peer.up and peer.add_path_send for peer in self._peers.values()))

    def _resend(self, peer: PeerState, family: Family, *, diff: bool) -> list[bytes]:
        loc = self._loc.tables.get(family, {})
        if family in peer.add_path_send:
            keys = addpath.resend_keys(peer, family, loc, diff=diff)
            return self._export_paths(peer, family, keys)
        return peer.resend_table(family, loc, self._is_client, diff=diff)

    def _export_paths(self, peer: PeerState, family: Family, keys: Iterable[bytes]) -> list[bytes]:
        loc, med = self._loc.tables.get(family, {}), self.options.always_compare_med
        return addpath.export_paths(peer, family, keys, loc, self._path_ids, self._is_client, med)

    def _is_client(self, peer_id: str) -> bool:
        peer = self._peers.get(peer_id)
        return peer is not None and peer.info.route_reflector_client

    def _flush(self) -> RibOutput:
        groups, touched = self._sel.take()
        notes = tuple(self._notes)
        self._notes.clear()
        debug = tuple(self._debug)
        self._debug.clear()
        messages: dict[str, tuple[bytes, ...]] = {}
        if groups or touched:
            up = [peer for peer in self._peers.values() if peer.up]
            if groups:  # one export and one encoding per update group (pybgp.rib.groups)
                messages = export_groups(up, groups, self._is_client)
            for peer in up if touched else ():
                peer_id = peer.info.peer_id
                for family in sorted(peer.add_path_send):
                    keys = addpath.touched_for(touched, family, peer_id)
                    if keys:
                        sent = self._export_paths(peer, family, keys)
                        if sent:
                            messages[peer_id] = messages.get(peer_id, ()) + tuple(sent)
        return RibOutput(ChangeList(groups), messages, notes, debug_notes=debug)


def merge_messages(output: RibOutput, peer_id: str, messages: Sequence[bytes]) -> RibOutput:
    """``output`` with ``messages`` appended to what goes to ``peer_id``."""
    if not messages:
        return output
    merged = dict(output.messages)
    merged[peer_id] = tuple(merged.get(peer_id, ())) + tuple(messages)
    return attrs.evolve(output, messages=merged)


__all__ = ["RibState", "merge_messages"]

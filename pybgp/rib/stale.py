"""Stale routes: a peer's graceful restart (RFC 4724) and enhanced route refresh (RFC 7313).

Graceful restart (RFC 4724 §4.2): ``peer_down(keep=...)`` turns a restarting peer's paths into
stale twins (``Path.stale``, made once per Path by ``PeerState.stale_twin``: same attributes
and next hop, so neither the kernel nor the other peers see a change) that lose the decision
to fresh paths. The prefix keys still stale are a set per family (``PeerState.stale``),
emptied as the peer re-announces; its End-of-RIB, or :meth:`RibStale.flush_stale` (timers),
withdraws the rest. Enhanced route refresh (RFC 7313 §4) uses the same set between the BoRR
and the EoRR. Our own restart defers End-of-RIB (RFC 4724 §4.1): ``hold_end_of_rib``.
"""

from __future__ import annotations

from collections.abc import Iterable

import attrs

from pybgp.rib.export import end_of_rib
from pybgp.rib.importing import RibImport
from pybgp.rib.paths import Path
from pybgp.rib.peer import PeerState
from pybgp.rib.state import merge_messages
from pybgp.rib.types import RibOutput
from pybgp.wire.constants import Family, RouteRefreshSubcode


@attrs.define
class RibStale(RibImport):
    """Stale routes over a peer's restart or refresh, and End-of-RIB deferral."""

    def release_end_of_rib(self) -> RibOutput:
        """Selection deferral is over (RFC 4724 §4.1): send the End-of-RIB markers held back
        and send them at once from now on."""
        self.hold_end_of_rib = False
        output = self._flush()
        for peer_id, peer in self._peers.items():
            if peer.up and peer.held_end_of_rib:
                held = sorted(peer.held_end_of_rib)
                peer.held_end_of_rib.clear()
                output = merge_messages(output, peer_id, [end_of_rib(family) for family in held])
        return output

    def peer_down(self, peer_id: str, keep: Iterable[Family] = ()) -> RibOutput:
        """The session left Established: the peer's routes are withdrawn everywhere, except
        those of the families in ``keep``.

        ``keep`` (the peer restarts gracefully, RFC 4724 §4.2): those routes stay, as stale
        paths (they lose the decision to any fresh path but stay installed while they are the
        best), until the peer re-announces them, its End-of-RIB for the family sweeps what it did
        not re-announce, or :meth:`flush_stale` is called (timers, F-bit cleared).
        """
        peer = self._peers.get(peer_id)
        if peer is None:
            return self._flush()
        kept = set(keep) & set(peer.adj_in)
        if not kept:
            self._drop_peer_routes(peer)
            return self._flush()
        for family in list(peer.adj_in):
            if family not in kept:
                table = peer.adj_in.pop(family)
                self._sel.withdraw(family, table, list(table.routes))
                peer.stale.pop(family, None)
                peer.restart_stale.discard(family)
        peer.session_lost()
        for family in sorted(kept):
            self._mark_stale(peer, family)
        self._loc.forget()
        self._watch_candidates()
        return self._flush()

    def flush_stale(self, peer_id: str, families: Iterable[Family]) -> RibOutput:
        """Withdraw a restarting peer's routes of ``families`` that are still stale (its
        restart or stale-routes timer expired, its new OPEN lacks the F-bit: RFC 4724 §4.2)."""
        peer = self._peers.get(peer_id)
        if peer is not None:
            for family in sorted(families):
                self._sweep_stale(peer, family, "flushed")
        return self._flush()

    def stale_count(self, peer_id: str) -> int:
        """Routes of ``peer_id`` kept stale over its graceful restart."""
        peer = self._peers.get(peer_id)
        if peer is None:
            return 0
        return sum(len(peer.stale.get(family, ())) for family in peer.restart_stale)
    def route_refresh(
        self, peer_id: str, family: Family, subtype: int = RouteRefreshSubcode.NORMAL
    ) -> RibOutput:
        """A ROUTE-REFRESH arrived from the peer; pass its subtype.

        NORMAL (a request): re-send the Adj-RIB-Out of ``family`` (RFC 2918 §4), framed by
        BoRR/EoRR with enhanced route refresh (RFC 7313 §4). BEGIN (the peer starts re-sending,
        RFC 7313 §4): its routes of ``family`` become stale; END: the stale routes it did not
        re-send are withdrawn. Other subtypes are ignored (RFC 7313 §5).
        """
        peer = self._peers[peer_id]
        messages: list[bytes] = []
        if subtype == RouteRefreshSubcode.NORMAL:
            messages = peer.refresh_messages(family)
        elif subtype == RouteRefreshSubcode.BEGIN and peer.up:
            table = peer.adj_in.get(family)
            known = set(table.routes).union(table.rejected) if table is not None else set()
            peer.stale[family] = known
        elif subtype == RouteRefreshSubcode.END:
            stale = peer.stale.pop(family, None)
            if stale:
                self._notes.append(
                    f"peer {peer_id}: {len(stale)} stale routes of {family} withdrawn "
                    "after the enhanced route refresh (RFC 7313 §4)"
                )
                self._withdraw_keys(peer, family, list(stale))
        return merge_messages(self._flush(), peer_id, messages)

    def _mark_stale(self, peer: PeerState, family: Family) -> None:
        """Every route of ``family`` from ``peer`` becomes its stale twin (same attributes and
        next hop: no change for the kernel or the other peers while it stays the best)."""
        table = peer.adj_in.get(family)
        if table is None:
            return
        by_path: dict[Path, list[bytes]] = {}
        for key, path in table.routes.items():
            by_path.setdefault(path, []).append(key)
        for path, keys in by_path.items():
            twin = peer.stale_twin(path)
            if twin is not path:
                self._sel.install(family, table, keys, twin)
        known = peer.stale.setdefault(family, set())
        known.update(table.routes)
        known.update(table.rejected)
        peer.restart_stale.add(family)

    def _sweep_stale(self, peer: PeerState, family: Family, why: str) -> None:
        if family not in peer.restart_stale:
            return
        peer.restart_stale.discard(family)
        stale = peer.stale.pop(family, None)
        if stale:
            self._notes.append(
                f"peer {peer.info.peer_id}: {len(stale)} stale routes of {family} withdrawn: {why}"
            )
            self._withdraw_keys(peer, family, list(stale))


__all__ = ["RibStale"]

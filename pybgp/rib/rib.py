"""The RIB engine: Adj-RIB-In -> decision -> Loc-RIB -> rules + policy -> Adj-RIB-Out.

Theory of operation
-------------------
Every entry point (``apply_update``, ``peer_up``, ``originate`` ...) changes the tables, queues
the best-path changes it caused as *groups* ``(family, prefixes, old, new, reason)`` (one group
for the 500 prefixes of an UPDATE that were new, not one object per prefix), then ``_flush``
exports the queued changes to every established peer and packs one run of UPDATEs per
attribute set. The result is a :class:`RibOutput`; no I/O, no clock.

Only the prefixes an UPDATE touches are re-decided. For a prefix known by one peer only, the
Loc-RIB entry *is* the shared Path (no decision, no tuple); a second candidate makes a tuple
entry and runs :func:`pybgp.rib.decision.decide`.

:class:`Rib` is built in layers, one module each, every layer adding behaviour over the same
state: ``state.RibState`` (tables, queues, the flush that exports), ``importing.RibImport``
(UPDATEs into the Adj-RIB-In: normalise, loops, interned Paths, import policy), ``stale.RibStale``
(graceful restart, RFC 4724, and enhanced route refresh, RFC 7313), and this module (peers,
policies, origination, UPDATEs, queries). The hot loops of a full-table load live in
``selection.Selection`` (Adj-RIB-In and Loc-RIB updated together, changes grouped); ADD-PATH
(RFC 7911) in ``addpath``: without it a peer takes the same code as before.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from ipaddress import IPv4Address, IPv6Address
from typing import cast

import attrs

from pybgp.rib import addpath
from pybgp.rib.count import PrefixCount
from pybgp.rib.decision import BestPathReason
from pybgp.rib.export import end_of_rib
from pybgp.rib.paths import Path
from pybgp.rib.peer import PeerState
from pybgp.rib.stale import RibStale
from pybgp.rib.state import merge_messages
from pybgp.rib.table import (
    AcceptedRoutes,
    AdjRibIn,
    Entry,
    entry_candidates,
    entry_reason,
    entry_selected,
)
from pybgp.rib.types import (
    BestPathChange,
    PeerCounters,
    PeerInfo,
    PolicyCallable,
    RibOutput,
    RouteEntry,
)
from pybgp.wire.attributes import (
    AsPath,
    Communities,
    LargeCommunities,
    Origin,
    PathAttributes,
)
from pybgp.wire.constants import IPV4_UNICAST, Family
from pybgp.wire.negotiated import Negotiated
from pybgp.wire.refresh import RouteRefresh, encode_route_refresh
from pybgp.wire.update import ErrorAction, UpdateResult

_KEEP: object = object()
_ZERO_V4 = IPv4Address(0)
_ZERO_V6 = IPv6Address(0)


@attrs.define
class Rib(RibStale):
    """The routing table engine: no I/O, no clock; every call returns a :class:`RibOutput`."""

    # ------------------------------------------------------------------ peers

    def add_peer(self, info: PeerInfo) -> RibOutput:
        """Configure a peer (down until :meth:`peer_up`); re-adding replaces its settings.

        Re-adding an established peer recomputes its Adj-RIB-Out and sends the difference
        (e.g. ``next_hop_self`` changed); import-side settings apply to routes received from
        then on (use :meth:`set_policies` to re-run an import policy).
        """
        peer = self._peers.get(info.peer_id)
        if peer is None:
            self._peers[info.peer_id] = PeerState(
                info, self.local_as, self.router_id, self.cluster_id
            )
            return self._flush()
        peer.info = info
        peer.target = None
        peer.export_cache.clear()
        output = self._flush()
        messages: list[bytes] = []
        if peer.up:
            for family in sorted(peer.send_families()):
                messages += self._resend(peer, family, diff=True)
        return merge_messages(output, info.peer_id, messages)

    def set_cluster_id(self, cluster_id: IPv4Address | None) -> RibOutput:
        """Become, or stop being, a route reflector (RFC 4456 §7) without resetting a session.

        Every established peer's Adj-RIB-Out is recomputed with the new CLUSTER_ID and only
        the difference is sent; mark the clients with :meth:`add_peer` (``info`` with
        ``route_reflector_client``) afterwards, which again sends only the difference.
        """
        self.cluster_id = cluster_id
        output = self._flush()
        for peer in self._peers.values():
            peer.cluster_id = cluster_id
            peer.target = None
            peer.export_cache.clear()
            if peer.up:
                messages: list[bytes] = []
                for family in sorted(peer.send_families()):
                    messages += self._resend(peer, family, diff=True)
                output = merge_messages(output, peer.info.peer_id, messages)
        return output

    def remove_peer(self, peer_id: str) -> RibOutput:
        """Forget a peer, withdrawing its routes from everyone else."""
        if peer_id in self._peers:
            self._drop_peer_routes(self._peers[peer_id])
            del self._peers[peer_id]
        return self._flush()

    def peer_up(
        self,
        peer_id: str,
        negotiated: Negotiated,
        router_id: IPv4Address,
        *,
        route_refresh: bool = False,
        enhanced_route_refresh: bool = False,
    ) -> RibOutput:
        """The session reached Established: queue the initial table and End-of-RIB per family.

        ``route_refresh``/``enhanced_route_refresh``: both sides sent the RFC 2918 / RFC 7313
        capability (lets :meth:`set_policies` ask for a refresh, and frames refresh answers).
        """
        peer = self._peers[peer_id]
        if peer.up:
            self._drop_peer_routes(peer)  # a new session replaces the old one
        for family, table in list(peer.adj_in.items()):
            if table.add_path != (family in negotiated.add_path_receive):
                # Routes kept over a restart (graceful restart) under the other ADD-PATH mode
                # have keys of the other form: they go, the new session re-sends them.
                self._sel.drop(family, table)
                del peer.adj_in[family]
                peer.stale.pop(family, None)
                peer.restart_stale.discard(family)
        output = self._flush()  # before this peer counts as up: its table follows in full
        peer.up = True
        peer.negotiated = negotiated
        peer.router_id = router_id
        peer.route_refresh = route_refresh or enhanced_route_refresh
        peer.enhanced_route_refresh = enhanced_route_refresh
        peer.add_path_send = negotiated.add_path_send & peer.send_families()
        self._watch_candidates()
        messages: list[bytes] = []
        for family in sorted(peer.send_families()):
            messages += self._resend(peer, family, diff=False)
            if self.hold_end_of_rib:
                peer.held_end_of_rib.add(family)
            else:
                messages.append(end_of_rib(family))  # RFC 4724 §2, after the initial table
        return merge_messages(output, peer_id, messages)

    def set_policies(
        self,
        peer_id: str,
        import_: PolicyCallable | object | None = _KEEP,
        export: PolicyCallable | object | None = _KEEP,
    ) -> RibOutput:
        """Change a peer's policies without resetting the session.

        Import: re-applied from the pre-policy Adj-RIB-In when kept (soft reconfiguration);
        otherwise a ROUTE-REFRESH (RFC 2918) is queued to the peer when it supports one.
        Export: the Adj-RIB-Out is recomputed and only the difference is sent.
        """
        peer = self._peers[peer_id]
        info = peer.info
        messages: list[bytes] = []
        if import_ is not _KEEP:
            info = attrs.evolve(info, import_policy=cast("PolicyCallable | None", import_))
        if export is not _KEEP:
            info = attrs.evolve(info, export_policy=cast("PolicyCallable | None", export))
        peer.info = info
        peer.target = None
        if import_ is not _KEEP and peer.up:
            if peer.keeps_received(self.options):
                self._reimport(peer)
            elif peer.route_refresh:
                for family in sorted(peer.receive_families()):
                    messages.append(encode_route_refresh(RouteRefresh(family[0], family[1])))
            else:
                self._notes.append(
                    f"peer {peer_id}: new import policy applies to routes received from now on "
                    "(no soft reconfiguration, no route refresh)"
                )
        output = self._flush()
        if export is not _KEEP and peer.up:
            peer.export_cache.clear()
            for family in sorted(peer.send_families()):
                messages += self._resend(peer, family, diff=True)
        return merge_messages(output, peer_id, messages)

    # ------------------------------------------------------------------ origination

    def originate(
        self,
        family: Family,
        prefix: bytes,
        communities: Sequence[int] = (),
        large_communities: Sequence[tuple[int, int, int]] = (),
        *,
        next_hop: IPv4Address | IPv6Address | None = None,
    ) -> RibOutput:
        """Originate ``prefix`` (ORIGIN IGP, empty AS_PATH). The next hop is set per session on
        export, unless ``next_hop`` is given: then peers get that address (a third-party next
        hop, as ``pybgp announce --next-hop`` asks)."""
        path = self._origin_path(family, communities, large_communities, next_hop)
        routes = self._origin_table(family).routes
        old = routes.path(prefix)
        if old is not path:
            routes.count += old is None
            self._sel.change(family, prefix, old, path)
        return self._flush()

    def originate_many(
        self,
        family: Family,
        prefixes: Sequence[bytes],
        communities: Sequence[int] = (),
        large_communities: Sequence[tuple[int, int, int]] = (),
        *,
        next_hop: IPv4Address | IPv6Address | None = None,
    ) -> RibOutput:
        """:meth:`originate` for many prefixes at once: one shared path, the prefixes put in
        as a batch (new prefixes cost two C-level dict updates, no per-prefix call)."""
        path = self._origin_path(family, communities, large_communities, next_hop)
        loc = self._loc.table(family)
        if not loc and self._sel.touched is None:
            # An empty table (start-up): every prefix is new and its only candidate is the
            # originated path; the Loc-RIB is filled by one C-level update, no decision.
            loc.update(dict.fromkeys(prefixes, path))
            keys = prefixes if len(loc) == len(prefixes) else list(loc)
            self._origin_table(family).routes.count = len(loc)
            self._sel.pending.append((family, keys, (), (path,), BestPathReason.ONLY_PATH))
            return self._flush()
        self._sel.install(family, self._origin_table(family), prefixes, path)
        return self._flush()

    def _origin_path(
        self,
        family: Family,
        communities: Sequence[int],
        large_communities: Sequence[tuple[int, int, int]],
        next_hop: IPv4Address | IPv6Address | None,
    ) -> Path:
        """The one Path shared by every prefix originated with these attributes."""
        if next_hop is None:
            next_hop = _ZERO_V4 if family[0] == 1 else _ZERO_V6
        key = (family, tuple(communities), tuple(large_communities), next_hop)
        path = self._origin_paths.get(key)
        if path is None:
            parts: list[object] = [Origin(0), AsPath(())]
            if communities:
                parts.append(Communities(tuple(communities)))
            if large_communities:
                parts.append(LargeCommunities(tuple(large_communities)))
            path = Path(
                None,
                PathAttributes(tuple(parts)),  # type: ignore[arg-type]
                next_hop,
                default_local_pref=self.options.default_local_pref,
            )
            self._origin_paths[key] = path
        return path

    def withdraw_originated(self, family: Family, prefix: bytes) -> RibOutput:
        """Stop originating ``prefix``."""
        routes = self._origin_table(family).routes
        old = routes.path(prefix)
        if old is not None:
            routes.count -= 1
            self._sel.change(family, prefix, old, None)
        return self._flush()

    def withdraw_originated_many(self, family: Family, prefixes: Iterable[bytes]) -> RibOutput:
        """Stop originating ``prefixes`` (those not originated are ignored), as one batch."""
        table = self._originated.get(family)
        if table is not None:
            self._sel.withdraw(family, table, prefixes)
        return self._flush()

    def _origin_table(self, family: Family) -> AdjRibIn:
        """The prefixes of ``family`` originated here, as the Loc-RIB holds them: candidates
        with a peerless path, read through a view (the Selection's batch loops keep its count)."""
        table = self._originated.get(family)
        if table is None:
            routes = AcceptedRoutes(self._loc.table(family), None)
            routes.few = None  # a node's few blocks or a million: looked up, never listed
            table = self._originated[family] = AdjRibIn(routes=routes)
        return table

    # ------------------------------------------------------------------ updates

    def apply_update(self, peer_id: str, result: UpdateResult) -> RibOutput:
        """Apply one decoded UPDATE (with its RFC 7606 action) from an established peer."""
        peer = self._peers[peer_id]
        if not peer.up:
            raise ValueError(f"peer {peer_id} is not up")
        update = result.update
        for family in sorted(result.disabled_families):
            self._disable_family(peer, family, result.issues)
        action = result.action
        eor = update.end_of_rib
        if eor is not None:
            # RFC 4724 §4.2: after a graceful restart, what was not re-announced goes now.
            self._sweep_stale(peer, eor, "not re-announced before End-of-RIB (RFC 4724 §4.2)")
            return self._flush()
        attributes = update.attributes
        mp_reach = attributes.mp_reach
        mp_unreach = attributes.mp_unreach
        accept = peer.receive_families()
        multi = peer.negotiated.add_path_receive
        if multi:  # RFC 7911 §3: (prefix, path id) names a path: path keys
            withdrawn, nlri, unreach_keys, reach_keys = addpath.update_keys(update, multi)
        else:
            withdrawn, nlri = update.withdrawn, update.nlri
            unreach_keys = mp_unreach.withdrawn if mp_unreach is not None else ()
            reach_keys = mp_reach.nlri if mp_reach is not None else ()
        if action >= ErrorAction.TREAT_AS_WITHDRAW:
            # RFC 7606 §2: treat-as-withdraw: every NLRI of the UPDATE is withdrawn.
            if result.issues:
                self._notes.append(f"peer {peer_id}: " + "; ".join(result.issues))
            if IPV4_UNICAST in accept:
                self._withdraw_keys(peer, IPV4_UNICAST, withdrawn)
                self._withdraw_keys(peer, IPV4_UNICAST, nlri)
            if mp_unreach is not None and (mp_unreach.afi, mp_unreach.safi) in accept:
                self._withdraw_keys(peer, (mp_unreach.afi, mp_unreach.safi), unreach_keys)
            if mp_reach is not None and (mp_reach.afi, mp_reach.safi) in accept:
                self._withdraw_keys(peer, (mp_reach.afi, mp_reach.safi), reach_keys)
        else:
            if IPV4_UNICAST in accept:
                if withdrawn:
                    self._withdraw_keys(peer, IPV4_UNICAST, withdrawn)
                if nlri and attributes.next_hop is not None:
                    self._announce(
                        peer,
                        IPV4_UNICAST,
                        nlri,
                        attributes,
                        attributes.next_hop.address,
                        None,
                    )
            if mp_unreach is not None and (mp_unreach.afi, mp_unreach.safi) in accept:
                family = (mp_unreach.afi, mp_unreach.safi)
                self._withdraw_keys(peer, family, unreach_keys)
            if mp_reach is not None and (mp_reach.afi, mp_reach.safi) in accept and reach_keys:
                family = (mp_reach.afi, mp_reach.safi)
                hops = mp_reach.next_hops
                link_local = hops[1] if len(hops) > 1 and isinstance(hops[1], IPv6Address) else None
                self._announce(peer, family, reach_keys, attributes, hops[0], link_local)
        self._note_ignored(peer, update, accept)
        return self._flush()

    def prefix_counter(self, peer_id: str) -> PrefixCount:
        """A count of the prefixes ``peer_id`` would hold after the UPDATEs it is given, in
        order, before they are applied (the max-prefix check of :mod:`pybgp.neighbor`)."""
        return PrefixCount(self._peers[peer_id])

    # ------------------------------------------------------------------ queries

    def prefix_count(self, family: Family) -> int:
        """Loc-RIB prefixes of a family (O(1))."""
        return len(self._loc.tables.get(family, {}))

    def peer_counters(self, peer_id: str) -> PeerCounters:
        """Received / accepted / advertised prefix counts of a peer (O(families))."""
        peer = self._peers[peer_id]
        return PeerCounters(
            received=sum(t.received_count for t in peer.adj_in.values()),
            accepted=sum(len(t.routes) for t in peer.adj_in.values()),
            advertised=sum(len(t) for t in peer.adj_out.values()),
        )

    def originated_count(self) -> int:
        """Prefixes originated here, every family (O(families))."""
        return sum(table.routes.count for table in self._originated.values())

    def peer_ids(self) -> tuple[str, ...]:
        """The configured peers."""
        return tuple(self._peers)

    def families(self) -> tuple[Family, ...]:
        """Families with at least one Loc-RIB prefix."""
        return tuple(sorted(f for f, t in self._loc.tables.items() if t))

    def best(self, family: Family, prefix: bytes) -> tuple[Path, ...]:
        """The selected paths of a prefix (best first), empty when unreachable."""
        return entry_selected(self._loc.tables.get(family, {}).get(prefix))

    def lookup(self, family: Family, prefix: bytes) -> RouteEntry | None:
        """The Loc-RIB entry of one prefix."""
        entry = self._loc.tables.get(family, {}).get(prefix)
        return None if entry is None else _route_entry(family, prefix, entry)

    def routes(self, family: Family | None = None) -> Iterator[RouteEntry]:
        """Every Loc-RIB prefix (of one family, or all), for ``pybgp routes``."""
        for fam in sorted(self._loc.tables) if family is None else (family,):
            for prefix, entry in list(self._loc.tables.get(fam, {}).items()):
                yield _route_entry(fam, prefix, entry)

    def adj_rib_out(self, peer_id: str, family: Family) -> dict[bytes, PathAttributes]:
        """What was sent to a peer (a copy); path keys in a family sent with ADD-PATH."""
        return dict(self._peers[peer_id].adj_out.get(family, {}))

    def adj_rib_in(self, peer_id: str, family: Family) -> dict[bytes, Path]:
        """A peer's accepted (post-policy) routes (a copy). In a family received with ADD-PATH
        the keys are path keys (4-octet path id + prefix key, ``pybgp.rib.addpath``)."""
        table = self._peers[peer_id].adj_in.get(family)
        return dict(table.routes.pairs()) if table is not None else {}

    def adj_rib_in_received(self, peer_id: str, family: Family) -> dict[bytes, Path] | None:
        """A peer's pre-policy Adj-RIB-In (a copy), None when not kept (the peer has no soft
        reconfiguration: then what was received and accepted is :meth:`adj_rib_in`)."""
        table = self._peers[peer_id].adj_in.get(family)
        if table is None:
            return None if not self._peers[peer_id].keeps_received(self.options) else {}
        return None if table.received is None else dict(table.received)

    def rejected(self, peer_id: str, family: Family) -> frozenset[bytes]:
        """Prefixes received from a peer but not accepted (import policy or a loop)."""
        table = self._peers[peer_id].adj_in.get(family)
        return frozenset(table.rejected) if table is not None else frozenset()

    def loop_reason(self, peer_id: str, attributes: PathAttributes) -> str | None:
        """Why a path with ``attributes`` from this peer is a loop (None = it is not)."""
        peer = self._peers[peer_id]
        return self._loop(peer, attributes)

    def disabled_families(self, peer_id: str) -> frozenset[Family]:
        """Families disabled for a peer by RFC 7606 AFI/SAFI-disable."""
        return frozenset(self._peers[peer_id].disabled)


def _route_entry(family: Family, prefix: bytes, entry: Entry) -> RouteEntry:
    return RouteEntry(
        family,
        prefix,
        entry_candidates(entry),
        len(entry_selected(entry)),
        entry_reason(entry),
    )


__all__ = ["BestPathChange", "Rib"]

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

Import: the attribute set is normalised once per UPDATE (MP_REACH/MP_UNREACH removed, LOCAL_PREF
of eBGP paths removed (RFC 4271 §5.1.5), AS4_PATH merged for 2-octet peers (RFC 6793 §4.2.3)),
checked for loops (AS_PATH, RFC 4456 §8 ORIGINATOR_ID and CLUSTER_LIST) and interned into a
per-peer Path. Import policies run per prefix, only when set.

Graceful restart (RFC 4724 §4.2): ``peer_down(keep=...)`` turns a restarting peer's paths into
stale twins (``Path.stale``: same attributes and next hop, so neither the kernel nor the other
peers see a change) that lose the decision to fresh paths; End-of-RIB and ``flush_stale`` sweep
what was not re-announced.

This module is over 800 lines on purpose: the entry points share the hot loops
(``_install``, ``_withdraw_accepted``) and the pending-change queue, which stay in one class
so that a million-prefix load pays no extra indirection.

ADD-PATH (RFC 7911) lives in ``addpath``; without it a peer takes the same code as before.
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
from pybgp.rib.groups import export_groups
from pybgp.rib.paths import Path
from pybgp.rib.peer import PeerState
from pybgp.rib.policy import apply_route, make_route
from pybgp.rib.receive import otc_ingress, own_next_hop
from pybgp.rib.table import (
    AdjRibIn,
    Change,
    Entry,
    LocRib,
    entry_candidates,
    entry_reason,
    entry_selected,
)
from pybgp.rib.types import (
    BestPathChange,
    ChangeGroup,
    ChangeList,
    PeerCounters,
    PeerInfo,
    PolicyCallable,
    RibOptions,
    RibOutput,
    RouteEntry,
)
from pybgp.wire.aspath import merge_as4_path
from pybgp.wire.attributes import (
    AsPath,
    Communities,
    LargeCommunities,
    Origin,
    PathAttributes,
)
from pybgp.wire.constants import (
    IPV4_UNICAST,
    AttributeCode,
    Family,
    RouteRefreshSubcode,
    family_name,
)
from pybgp.wire.negotiated import Negotiated
from pybgp.wire.refresh import RouteRefresh, encode_route_refresh
from pybgp.wire.update import ErrorAction, Update, UpdateResult

_KEEP: object = object()
_ONLY = BestPathReason.ONLY_PATH
_WITHDRAWN = BestPathReason.WITHDRAWN
_ZERO_V4 = IPv4Address(0)
_ZERO_V6 = IPv6Address(0)


@attrs.define
class Rib:
    """The routing table engine: no I/O, no clock; every call returns a :class:`RibOutput`."""

    local_as: int
    router_id: IPv4Address
    cluster_id: IPv4Address | None = None
    """Set = route reflector for the peers marked ``route_reflector_client`` (RFC 4456)."""
    options: RibOptions = attrs.field(factory=RibOptions)
    _peers: dict[str, PeerState] = attrs.field(init=False, factory=dict)
    _loc: LocRib = attrs.field(init=False)
    _originated: dict[Family, dict[bytes, Path]] = attrs.field(init=False, factory=dict)
    _origin_paths: dict[tuple[object, ...], Path] = attrs.field(init=False, factory=dict)
    _pending: list[ChangeGroup] = attrs.field(init=False, factory=list)
    _notes: list[str] = attrs.field(init=False, factory=list)
    _path_ids: addpath.PathIds = attrs.field(init=False, factory=addpath.PathIds)
    _touched: list[tuple[Family, Sequence[bytes], str | None]] | None = attrs.field(
        init=False, default=None
    )
    """(family, prefixes, source peer or None) whose candidates changed, kept only while a
    peer gets ADD-PATH (RFC 7911): its paths follow every candidate, not only the selected
    ones. A path's source never gets it back, so its own announcements are skipped for it.
    None = no peer gets ADD-PATH."""
    hold_end_of_rib: bool = attrs.field(init=False, default=False)
    """True while our selection is deferred after a graceful restart (RFC 4724 §4.1): the
    initial table goes out, its End-of-RIB waits for :meth:`release_end_of_rib`."""
    _debug: list[str] = attrs.field(init=False, factory=list)

    def __attrs_post_init__(self) -> None:
        self._loc = LocRib(self.options.always_compare_med, self.options.multipath)

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
        return _merge(output, info.peer_id, messages)

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
                output = _merge(output, peer.info.peer_id, messages)
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
                self._withdraw_accepted(family, table, list(table.routes))
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
        return _merge(output, peer_id, messages)

    def release_end_of_rib(self) -> RibOutput:
        """Selection deferral is over (RFC 4724 §4.1): send the End-of-RIB markers held back
        and send them at once from now on."""
        self.hold_end_of_rib = False
        output = self._flush()
        for peer_id, peer in self._peers.items():
            if peer.up and peer.held_end_of_rib:
                held = sorted(peer.held_end_of_rib)
                peer.held_end_of_rib.clear()
                output = _merge(output, peer_id, [end_of_rib(family) for family in held])
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
                self._withdraw_accepted(family, table, list(table.routes))
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
        return _merge(output, peer_id, messages)

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
        return _merge(self._flush(), peer_id, messages)

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
        table = self._originated.setdefault(family, {})
        old = table.get(prefix)
        if old is not path:
            table[prefix] = path
            self._change(family, prefix, old, path)
        return self._flush()

    def withdraw_originated(self, family: Family, prefix: bytes) -> RibOutput:
        """Stop originating ``prefix``."""
        old = self._originated.get(family, {}).pop(prefix, None)
        if old is not None:
            self._change(family, prefix, old, None)
        return self._flush()

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
        return sum(len(table) for table in self._originated.values())

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
        return dict(table.routes) if table is not None else {}

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

    # ------------------------------------------------------------------ import internals

    def _note_ignored(self, peer: PeerState, update: Update, accept: frozenset[Family]) -> None:
        """RFC 4760 §8: NLRI of a family that was not negotiated (or is disabled, or not
        configured) are ignored, with a note; never a crash."""
        families: list[Family] = []
        if (update.nlri or update.withdrawn) and IPV4_UNICAST not in accept:
            families.append(IPV4_UNICAST)
        for mp in (update.attributes.mp_reach, update.attributes.mp_unreach):
            if mp is not None and (mp.afi, mp.safi) not in accept:
                families.append((mp.afi, mp.safi))
        for family in families:
            why = (
                "disabled (RFC 7606)" if family in peer.disabled
                else "not negotiated (RFC 4760 §8)" if family not in peer.negotiated.families
                else "not configured"
            )
            self._notes.append(
                f"peer {peer.info.peer_id}: ignored {family_name(family)} NLRI: the family "
                f"is {why}"
            )

    def _adj_in(self, peer: PeerState, family: Family) -> AdjRibIn:
        table = peer.adj_in.get(family)
        if table is None:
            table = AdjRibIn(
                received={} if peer.keeps_received(self.options) else None,
                add_path=family in peer.negotiated.add_path_receive,
            )
            peer.adj_in[family] = table
        return table

    def _normalise(self, peer: PeerState, raw: PathAttributes) -> tuple[PathAttributes, str | None]:
        """Stored form of a received attribute set and the loop it shows (None = none)."""
        cached = peer.import_cache.get(raw)
        if cached is not None:
            return cached
        base = raw
        if raw.mp_reach is not None or raw.mp_unreach is not None:
            base = base.without(AttributeCode.MP_REACH_NLRI, AttributeCode.MP_UNREACH_NLRI)
        if not peer.info.ibgp and base.local_pref is not None:
            base = base.without(AttributeCode.LOCAL_PREF)  # RFC 4271 §5.1.5: ignored from eBGP
        if not peer.negotiated.four_octet_as:
            base = merge_as4_path(base)  # RFC 6793 §4.2.3
        base, leak = otc_ingress(peer.info, base)  # RFC 9234 §5 (eBGP peers with a role)
        base = peer.interned.setdefault(base, base)
        result = (base, leak or self._loop(peer, base))
        if raw.mp_reach is None and raw.mp_unreach is None:
            # Classic attribute sets repeat (the codec interns them); MP ones carry NLRI.
            peer.import_cache[raw] = result
        return result

    def _loop(self, peer: PeerState, a: PathAttributes) -> str | None:
        as_path = a.as_path
        if as_path is not None:
            count = as_path.contains(self.local_as)
            if count > peer.info.allow_own_as:
                # RFC 4271 §9.1.2: a route holding our AS is a loop (allow_own_as relaxes it).
                return f"AS_PATH holds local AS {self.local_as} {count} times"
        if a.originator_id is not None and a.originator_id.address == self.router_id:
            return "ORIGINATOR_ID is our router id (RFC 4456 §8)"
        cluster_list = a.cluster_list
        if self.cluster_id is not None and cluster_list and self.cluster_id in cluster_list.ids:
            return "CLUSTER_LIST holds our cluster id (RFC 4456 §8)"
        return None

    def _path(
        self,
        peer: PeerState,
        attributes: PathAttributes,
        next_hop: IPv4Address | IPv6Address,
        link_local: IPv6Address | None,
        path_id: int = 0,
    ) -> Path:
        key = (attributes, next_hop, link_local, path_id)
        path = peer.paths.get(key)
        if path is None:
            path = Path(
                peer.info.peer_id,
                attributes,
                next_hop,
                path_id,
                peer.info.ibgp,
                peer.router_id,
                peer.info.address,
                link_local,
                self.options.default_local_pref,
            )
            peer.paths[key] = path
        return path

    def _announce(
        self,
        peer: PeerState,
        family: Family,
        keys: Sequence[bytes],
        raw: PathAttributes,
        next_hop: IPv4Address | IPv6Address,
        link_local: IPv6Address | None,
    ) -> None:
        stale = peer.stale.get(family)
        if stale:
            stale.difference_update(keys)  # re-announced: fresh again
        base, loop = self._normalise(peer, raw)
        table = self._adj_in(peer, family)
        if table.add_path:
            # One Path per path id (RFC 7911).
            for path_id, same in addpath.by_path_id(keys).items():
                path = self._path(peer, base, next_hop, link_local, path_id)
                self._accept(peer, family, table, same, path, loop)
            return
        self._accept(peer, family, table, keys, self._path(peer, base, next_hop, link_local), loop)

    def _accept(
        self,
        peer: PeerState,
        family: Family,
        table: AdjRibIn,
        keys: Sequence[bytes],
        path: Path,
        loop: str | None,
    ) -> None:
        if table.received is not None:
            received = table.received
            for key in keys:
                received[key] = path
        if loop is not None:
            self._notes.append(f"peer {peer.info.peer_id}: {len(keys)} prefixes rejected: {loop}")
            self._reject(peer, family, table, keys)
            return
        own = own_next_hop(peer.info, path.next_hop)
        if own is not None:
            # RFC 4271 §6.3: ignored, no NOTIFICATION; the UPDATE replaces any earlier route
            # of these prefixes, so that one goes too (as BIRD does). Logged once per UPDATE.
            self._debug.append(f"peer {peer.info.peer_id}: {len(keys)} prefixes ignored: {own}")
            self._reject(peer, family, table, keys)
            return
        policy = peer.info.import_policy
        if policy is None:
            self._install(family, table, keys, path)
        else:
            self._install_with_policy(peer, family, table, keys, path, policy)

    def _install_with_policy(
        self,
        peer: PeerState,
        family: Family,
        table: AdjRibIn,
        keys: Iterable[bytes],
        path: Path,
        policy: PolicyCallable,
    ) -> None:
        by_path: dict[Path, list[bytes]] = {}
        rejected: list[bytes] = []
        peer_id = peer.info.peer_id
        skip = 4 if table.add_path else 0  # path keys: the prefix follows the path id
        for key in keys:
            route = make_route(family, key[skip:], path.attributes, path.next_hop, peer_id)
            after = policy(route)
            if after is None:
                rejected.append(key)
                continue
            attributes, next_hop = apply_route(route, after, path.attributes)
            if attributes is path.attributes and next_hop == path.next_hop:
                chosen = path
            else:
                attributes = peer.interned.setdefault(attributes, attributes)
                chosen = self._path(
                    peer, attributes, next_hop, path.link_local_next_hop, path.path_id
                )
            by_path.setdefault(chosen, []).append(key)
        for chosen, chosen_keys in by_path.items():
            self._install(family, table, chosen_keys, chosen)
        if rejected:
            self._reject(peer, family, table, rejected)

    def _reject(
        self, peer: PeerState, family: Family, table: AdjRibIn, keys: Iterable[bytes]
    ) -> None:
        """Received but not accepted: counted, and any earlier accepted path withdrawn."""
        keys = list(keys)
        self._withdraw_accepted(family, table, keys)
        table.rejected.update(keys)

    def _install(self, family: Family, table: AdjRibIn, keys: Iterable[bytes], p: Path) -> None:
        """Accept ``p`` for ``keys`` (the hot loop of a full-table load)."""
        routes = table.routes
        loc = self._loc.table(family)
        keys = keys if isinstance(keys, list | tuple) else list(keys)
        if table.rejected:
            table.rejected.difference_update(keys)
        batch = dict.fromkeys(keys, p)
        if len(batch) != len(keys):
            keys = list(batch)  # the same prefix twice in one UPDATE
        if self._touched is not None:
            self._touch(family, table, keys, p.peer_id)
        if table.add_path:
            candidates = self._install_candidates
            addpath.install(family, routes, loc, self._loc, candidates, keys, p, self._pending)
            return
        if routes.keys().isdisjoint(batch):
            # Nothing of this batch known from this peer: the whole batch in C-level calls.
            routes.update(batch)
            if loc.keys().isdisjoint(batch):
                loc.update(batch)  # new prefixes: best = the only path, no decision
                self._pending.append((family, keys, (), (p,), _ONLY))
            else:
                self._install_candidates(family, loc, keys, p)
            return
        pending = self._pending
        transition = self._loc.transition
        fresh: list[bytes] = []
        replaced: dict[Path, list[bytes]] = {}
        other: dict[int, list[bytes]] = {}
        seen: dict[int, Change] = {}
        for key in keys:
            old = routes.get(key)
            if old is p:
                continue
            routes[key] = p
            entry = loc.get(key)
            if entry is None:
                loc[key] = p
                fresh.append(key)
            elif entry is old:
                loc[key] = p
                same = replaced.get(old)
                if same is None:
                    replaced[old] = [key]
                else:
                    same.append(key)
            else:
                new_entry, change = transition(entry, old, p)
                loc[key] = new_entry  # type: ignore[assignment]
                if change is not None:
                    # Changes are shared (memoised) objects: group by identity, it is cheaper
                    # than hashing nested tuples (``seen`` keeps them alive, ids stay unique).
                    same = other.get(id(change))
                    if same is None:
                        other[id(change)] = [key]
                        seen[id(change)] = change
                    else:
                        same.append(key)
        if fresh:
            pending.append((family, fresh, (), (p,), _ONLY))
        for old, same in replaced.items():
            pending.append((family, same, (old,), (p,), _ONLY))
        for ident, same in other.items():
            pending.append((family, same, *seen[ident]))

    def _install_candidates(
        self, family: Family, loc: dict[bytes, Entry], keys: Sequence[bytes], p: Path
    ) -> None:
        """Add ``p`` as a new candidate of ``keys`` (new from this peer), batched.

        The prefixes of one UPDATE usually share a handful of Loc-RIB entries (the same path,
        or the same shared tuple), so the decision runs once per distinct entry.
        """
        entries = list(map(loc.get, keys))
        transition = self._loc.transition
        outcome = {entry: transition(entry, None, p) for entry in set(entries)}
        new_entry = {entry: result[0] for entry, result in outcome.items()}
        loc.update(zip(keys, map(new_entry.__getitem__, entries), strict=True))  # type: ignore[arg-type]
        pending = self._pending
        if len(outcome) == 1:
            change = next(iter(outcome.values()))[1]
            if change is not None:
                pending.append((family, keys, *change))
            return
        changed = {entry: result[1] for entry, result in outcome.items() if result[1] is not None}
        if not changed:
            return
        groups: dict[Change, list[bytes]] = {}
        for key, entry in zip(keys, entries, strict=True):
            change = changed.get(entry)
            if change is not None:
                same = groups.get(change)
                if same is None:
                    groups[change] = [key]
                else:
                    same.append(key)
        for change, same in groups.items():
            pending.append((family, same, *change))

    def _withdraw_keys(self, peer: PeerState, family: Family, keys: Sequence[bytes]) -> None:
        if not keys:
            return
        stale = peer.stale.get(family)
        if stale:
            stale.difference_update(keys)
        table = peer.adj_in.get(family)
        if table is None:
            return
        if table.received is not None:
            received = table.received
            for key in keys:
                received.pop(key, None)
        if table.rejected:
            table.rejected.difference_update(keys)
        self._withdraw_accepted(family, table, keys)

    def _withdraw_accepted(self, family: Family, table: AdjRibIn, keys: Iterable[bytes]) -> None:
        routes = table.routes
        loc = self._loc.table(family)
        pending = self._pending
        transition = self._loc.transition
        if self._touched is not None:
            keys = list(keys)
            self._touch(family, table, keys, None)
        if table.add_path:
            addpath.withdraw(family, routes, loc, transition, keys, pending)
            return
        gone: dict[Path, list[bytes]] = {}
        other: dict[int, list[bytes]] = {}
        seen: dict[int, Change] = {}
        for key in keys:
            old = routes.pop(key, None)
            if old is None:
                continue
            entry = loc.get(key)
            if entry is old:
                del loc[key]
                same = gone.get(old)
                if same is None:
                    gone[old] = [key]
                else:
                    same.append(key)
            else:
                new_entry, change = transition(entry, old, None)
                if new_entry is None:
                    loc.pop(key, None)
                else:
                    loc[key] = new_entry
                if change is not None:
                    same = other.get(id(change))
                    if same is None:
                        other[id(change)] = [key]
                        seen[id(change)] = change
                    else:
                        same.append(key)
        for old, same in gone.items():
            pending.append((family, same, (old,), (), _WITHDRAWN))
        for ident, same in other.items():
            pending.append((family, same, *seen[ident]))

    def _change(self, family: Family, key: bytes, old: Path | None, new: Path | None) -> None:
        if self._touched is not None:
            self._touched.append((family, (key,), None))
        result = self._loc.change(self._loc.table(family), key, old, new)
        if result is not None:
            self._pending.append((family, (key,), *result))

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
                self._install(family, table, keys, twin)
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

    def _drop_peer_routes(self, peer: PeerState) -> None:
        for family, table in peer.adj_in.items():
            self._withdraw_accepted(family, table, list(table.routes))
        peer.reset()
        self._loc.forget()
        self._watch_candidates()

    def _watch_candidates(self) -> None:
        """Record touched prefixes (``_touched``) only while some peer gets ADD-PATH."""
        watch = any(peer.up and peer.add_path_send for peer in self._peers.values())
        self._touched = (self._touched or []) if watch else None

    def _touch(
        self, family: Family, table: AdjRibIn, keys: Sequence[bytes], source: str | None
    ) -> None:
        assert self._touched is not None
        prefixes = [key[4:] for key in keys] if table.add_path else keys
        self._touched.append((family, prefixes, source))

    def _disable_family(self, peer: PeerState, family: Family, issues: Sequence[str]) -> None:
        """RFC 7606 §2 AFI/SAFI disable: drop the family's routes and ignore it from now on."""
        if family in peer.disabled:
            return
        peer.disabled.add(family)
        table = peer.adj_in.pop(family, None)
        if table is not None:
            self._withdraw_accepted(family, table, list(table.routes))
        self._notes.append(
            f"peer {peer.info.peer_id}: family {family} disabled (RFC 7606): " + "; ".join(issues)
        )

    def _reimport(self, peer: PeerState) -> None:
        """Soft reconfiguration: run the import policy again over the pre-policy routes."""
        for family, table in list(peer.adj_in.items()):
            received = table.received
            if received is None:
                continue
            by_path: dict[Path, list[bytes]] = {}
            for key, path in received.items():
                by_path.setdefault(path, []).append(key)
            for path, keys in by_path.items():
                loop = self._loop(peer, path.attributes)
                if loop is not None or own_next_hop(peer.info, path.next_hop) is not None:
                    continue
                policy = peer.info.import_policy
                if policy is None:
                    self._install(family, table, keys, path)
                else:
                    self._install_with_policy(peer, family, table, keys, path, policy)

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
        groups = self._pending
        self._pending = []
        notes = tuple(self._notes)
        self._notes.clear()
        debug = tuple(self._debug)
        self._debug.clear()
        messages: dict[str, tuple[bytes, ...]] = {}
        touched = self._touched or ()
        if touched:
            self._touched = []
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


def _route_entry(family: Family, prefix: bytes, entry: Entry) -> RouteEntry:
    return RouteEntry(
        family,
        prefix,
        entry_candidates(entry),
        len(entry_selected(entry)),
        entry_reason(entry),
    )


def _merge(output: RibOutput, peer_id: str, messages: Sequence[bytes]) -> RibOutput:
    if not messages:
        return output
    merged = dict(output.messages)
    merged[peer_id] = tuple(merged.get(peer_id, ())) + tuple(messages)
    return attrs.evolve(output, messages=merged)


__all__ = ["BestPathChange", "Rib"]

"""UPDATEs into the Adj-RIB-In: normalise, check for loops, intern the Path, run the import policy.

The attribute set of an UPDATE is normalised once (MP_REACH/MP_UNREACH removed, LOCAL_PREF of
eBGP paths removed (RFC 4271 §5.1.5), AS4_PATH merged for 2-octet peers (RFC 6793 §4.2.3), OTC
on ingress (RFC 9234 §5)), checked for loops (AS_PATH, RFC 4456 §8 ORIGINATOR_ID and
CLUSTER_LIST) and interned into a per-peer Path (``PeerState.paths``): one Path per (peer,
attribute set, next hop, path id), shared by all its prefixes. Import policies run per
prefix, only when set. What is accepted goes to ``selection.Selection.install``; what is
rejected is remembered in ``AdjRibIn.rejected`` for the counters.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from ipaddress import IPv4Address, IPv6Address

import attrs

from pybgp.rib import addpath
from pybgp.rib.paths import Path
from pybgp.rib.peer import PeerState
from pybgp.rib.policy import apply_route, make_route
from pybgp.rib.receive import otc_ingress, own_next_hop
from pybgp.rib.state import RibState
from pybgp.rib.table import AdjRibIn
from pybgp.rib.types import PolicyCallable
from pybgp.wire.aspath import merge_as4_path
from pybgp.wire.attributes import PathAttributes
from pybgp.wire.constants import IPV4_UNICAST, AttributeCode, Family, family_name
from pybgp.wire.update import Update


@attrs.define
class RibImport(RibState):
    """The import side of the engine (Adj-RIB-In per peer and family)."""

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
            self._sel.install(family, table, keys, path)
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
            self._sel.install(family, table, chosen_keys, chosen)
        if rejected:
            self._reject(peer, family, table, rejected)

    def _reject(
        self, peer: PeerState, family: Family, table: AdjRibIn, keys: Iterable[bytes]
    ) -> None:
        """Received but not accepted: counted, and any earlier accepted path withdrawn."""
        keys = list(keys)
        self._sel.withdraw(family, table, keys)
        table.rejected.update(keys)

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
        self._sel.withdraw(family, table, keys)


    def _disable_family(self, peer: PeerState, family: Family, issues: Sequence[str]) -> None:
        """RFC 7606 §2 AFI/SAFI disable: drop the family's routes and ignore it from now on."""
        if family in peer.disabled:
            return
        peer.disabled.add(family)
        table = peer.adj_in.pop(family, None)
        if table is not None:
            self._sel.withdraw(family, table, list(table.routes))
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
                    self._sel.install(family, table, keys, path)
                else:
                    self._install_with_policy(peer, family, table, keys, path, policy)


__all__ = ["RibImport"]

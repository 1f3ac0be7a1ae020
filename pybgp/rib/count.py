"""How many prefixes a peer would hold after some UPDATEs, without applying them.

The max-prefix check (RFC 4486 Cease subcode 1) is the neighbour's decision
(:mod:`pybgp.neighbor`) and must be taken *before* an UPDATE's routes reach the Loc-RIB, the
kernel or other peers. :class:`PrefixCount` answers it from the peer's Adj-RIB-In plus an
overlay of the UPDATEs already counted but not yet applied (several UPDATEs arrive in one
read), following the same rules as :meth:`pybgp.rib.Rib.apply_update`: families accepted,
RFC 7606 treat-as-withdraw and AFI/SAFI-disable, End-of-RIB markers.
"""

from __future__ import annotations

from collections.abc import Sequence

import attrs

from pybgp.rib.peer import PeerState
from pybgp.wire.constants import IPV4_UNICAST, Family
from pybgp.wire.update import ErrorAction, UpdateResult


@attrs.define
class PrefixCount:
    """A running count of one peer's received prefixes (call it with each UPDATE in order)."""

    peer: PeerState
    total: int = attrs.field(init=False)
    _overlay: dict[Family, dict[bytes, bool]] = attrs.field(init=False, factory=dict)
    _disabled: set[Family] = attrs.field(init=False, factory=set)

    def __attrs_post_init__(self) -> None:
        self.total = sum(t.received_count for t in self.peer.adj_in.values())

    def __call__(self, result: UpdateResult) -> int:
        """The number of prefixes the peer holds once ``result`` is applied too."""
        for family in result.disabled_families:
            self._disable(family)
        update = result.update
        if update.end_of_rib is not None:
            return self.total
        accept = self.peer.receive_families() - self._disabled
        attributes = update.attributes
        mp_reach, mp_unreach = attributes.mp_reach, attributes.mp_unreach
        withdraw_all = result.action >= ErrorAction.TREAT_AS_WITHDRAW
        if IPV4_UNICAST in accept:
            self._withdraw(IPV4_UNICAST, update.withdrawn)
            if withdraw_all:
                self._withdraw(IPV4_UNICAST, update.nlri)
            elif attributes.next_hop is not None:
                self._announce(IPV4_UNICAST, update.nlri)
        if mp_unreach is not None and (mp_unreach.afi, mp_unreach.safi) in accept:
            self._withdraw((mp_unreach.afi, mp_unreach.safi), mp_unreach.withdrawn)
        if mp_reach is not None and (mp_reach.afi, mp_reach.safi) in accept:
            family = (mp_reach.afi, mp_reach.safi)
            if withdraw_all:
                self._withdraw(family, mp_reach.nlri)
            else:
                self._announce(family, mp_reach.nlri)
        return self.total

    def _held(self, family: Family, key: bytes) -> bool:
        overlay = self._overlay.get(family)
        if overlay is not None and key in overlay:
            return overlay[key]
        table = self.peer.adj_in.get(family)
        if table is None:
            return False
        if table.received is not None:
            return key in table.received
        return key in table.routes or key in table.rejected

    def _announce(self, family: Family, keys: Sequence[bytes]) -> None:
        overlay = self._overlay.setdefault(family, {})
        for key in keys:
            if not self._held(family, key):
                self.total += 1
            overlay[key] = True

    def _withdraw(self, family: Family, keys: Sequence[bytes]) -> None:
        if not keys:
            return
        overlay = self._overlay.setdefault(family, {})
        for key in keys:
            if self._held(family, key):
                self.total -= 1
            overlay[key] = False

    def _disable(self, family: Family) -> None:
        """RFC 7606 AFI/SAFI disable: the family's routes go, and it is ignored from now on."""
        if family in self._disabled or family in self.peer.disabled:
            return
        self._disabled.add(family)
        table = self.peer.adj_in.get(family)
        held = 0 if table is None else table.received_count
        for key, present in self._overlay.pop(family, {}).items():
            was = False if table is None else (
                key in table.received if table.received is not None
                else key in table.routes or key in table.rejected
            )
            held += int(present) - int(was)
        self.total -= held

"""Property check: after any sequence of announcements and withdrawals the Loc-RIB holds exactly
what a from-scratch decision over every peer's Adj-RIB-In gives (memos on, off and churning)."""

from __future__ import annotations

import random

import pytest
from rib_helpers import add_peer, announce, attributes, make_rib, withdraw

from pybgp.rib import decide
from pybgp.rib.table import AcceptedRoutes
from pybgp.wire.constants import IPV4_UNICAST
from pybgp.wire.nlri import prefix_to_str

PEERS = [("10.0.0.2", 65000), ("10.0.0.3", 65000), ("172.16.0.2", 65010), ("172.16.0.3", 65020)]
PREFIXES = [f"10.{i}.0.0/16" for i in range(12)]


@pytest.mark.parametrize(
    ("seed", "memo_limit", "multipath", "few"),
    [(1, 65536, 1, 16384), (2, 3, 1, 2), (3, 1, 2, 0), (4, 65536, 1, 3)],
)
def test_incremental_equals_from_scratch(
    seed: int, memo_limit: int, multipath: int, few: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    # ``few``: how many keys a peer's accepted routes index before they are found by walking
    # the Loc-RIB (AcceptedRoutes.FEW): both ways must give the same Adj-RIB-In.
    monkeypatch.setattr(AcceptedRoutes, "FEW", few)
    rng = random.Random(seed)
    rib = make_rib(multipath=multipath)
    rib._loc.memo_limit = memo_limit
    # What each peer announced and did not withdraw: its Adj-RIB-In, kept here independently
    # of the RIB (which reads a peer's accepted routes from its Loc-RIB candidates).
    model: dict[str, dict[str, tuple[object, object]]] = {address: {} for address, _ in PEERS}
    for address, asn in PEERS:
        add_peer(rib, address, asn=asn, router_id=f"1.1.1.{len(address)}")
    for _ in range(600):
        address, asn = rng.choice(PEERS)
        chosen = rng.sample(PREFIXES, rng.randint(1, 5))
        if rng.random() < 0.3:
            rib.apply_update(address, withdraw(*chosen))
            for prefix in chosen:
                model[address].pop(prefix, None)
            continue
        path = (asn,) * (asn != 65000) + tuple(
            rng.choice((1, 2, 3)) for _ in range(rng.randint(0, 2))
        )
        a = attributes(
            as_path=path,
            origin=rng.choice((0, 0, 2)),
            med=rng.choice((None, 0, 10)),
            local_pref=rng.choice((None, 100, 200)) if asn == 65000 else None,
            next_hop=f"192.0.2.{rng.randint(1, 3)}",
        )
        rib.apply_update(address, announce(a, *chosen))
        model[address].update(dict.fromkeys(chosen, (a.as_path, a.next_hop)))
        if rng.random() < 0.02:
            rib.peer_down(address)
            model[address].clear()
            add_peer(rib, address, asn=asn, router_id=f"1.1.1.{len(address)}")
    tables = {address: rib.adj_rib_in(address, IPV4_UNICAST) for address, _ in PEERS}
    for address, table in tables.items():
        held = {prefix_to_str(k, 1): (p.attributes.as_path, p.attributes.next_hop)
                for k, p in table.items()}
        assert held == model[address]
        assert rib.peer_counters(address).accepted == len(model[address])
        adj_in = rib._peers[address].adj_in.get(IPV4_UNICAST)
        if adj_in is not None and adj_in.routes.few is not None:
            assert list(adj_in.routes.few) == list(table)  # the index is exact, in order
    expected: dict[str, tuple[str | None, ...]] = {}
    for prefix in {k for t in tables.values() for k in t}:
        candidates = [t[prefix] for t in tables.values() if prefix in t]
        selected, _ = decide(candidates, multipath=multipath)
        expected[prefix_to_str(prefix, 1)] = tuple(p.peer_id for p in selected)
    got = {
        prefix_to_str(e.prefix, 1): tuple(p.peer_id for p in e.paths[: e.selected])
        for e in rib.routes(IPV4_UNICAST)
    }
    assert got == expected
    assert rib.prefix_count(IPV4_UNICAST) == len(expected)

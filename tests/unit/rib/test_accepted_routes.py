"""A peer's Adj-RIB-In is read from the Loc-RIB (``AcceptedRoutes``): property check with
ADD-PATH peers (RFC 7911: a path per (prefix, path id)), a plain peer, sessions going down and
graceful restarts (RFC 4724: stale paths until End-of-RIB), against a model of what each peer
announced; both with the small-peer key index and with walks of the Loc-RIB (``FEW`` = 0)."""

from __future__ import annotations

import random
from ipaddress import IPv4Address, ip_address

import pytest
from rib_helpers import LOCAL_AS, attributes, make_rib, pfx

from pybgp.rib import PeerInfo, Rib
from pybgp.rib.table import AcceptedRoutes
from pybgp.wire.attributes import PathAttributes
from pybgp.wire.constants import IPV4_UNICAST
from pybgp.wire.negotiated import Negotiated
from pybgp.wire.nlri import prefix_to_str
from pybgp.wire.update import ErrorAction, Update, UpdateResult

PEERS = {"10.0.0.2": True, "10.0.0.3": True, "10.0.0.4": False}  # address -> ADD-PATH receive
PREFIXES = [f"10.{i}.0.0/16" for i in range(8)]


def _up(rib: Rib, address: str) -> None:
    rib.add_peer(
        PeerInfo(
            peer_id=address,
            address=ip_address(address),
            asn=LOCAL_AS,
            local_as=LOCAL_AS,
            local_address=IPv4Address("10.0.0.1"),
        )
    )
    receive = frozenset({IPV4_UNICAST}) if PEERS[address] else frozenset()
    negotiated = Negotiated(add_path_receive=receive, local_as=LOCAL_AS, peer_as=LOCAL_AS)
    rib.peer_up(address, negotiated, IPv4Address(address))


def _update(
    withdrawn: tuple[str, ...], a: PathAttributes, nlri: tuple[str, ...], ids: int | None
) -> UpdateResult:
    w, n = tuple(pfx(p) for p in withdrawn), tuple(pfx(p) for p in nlri)
    update = Update(
        w, a, n,
        withdrawn_path_ids=None if ids is None else (ids,) * len(w),
        nlri_path_ids=None if ids is None else (ids,) * len(n),
    )
    return UpdateResult(update, ErrorAction.NONE, (), frozenset())


@pytest.mark.parametrize(("seed", "few"), [(1, 16384), (2, 0), (3, 2)])
def test_adj_rib_in_follows_what_was_announced(
    seed: int, few: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(AcceptedRoutes, "FEW", few)
    rng = random.Random(seed)
    rib = make_rib()
    model: dict[str, dict[tuple[str, int], tuple[object, object]]] = {a: {} for a in PEERS}
    stale: dict[str, set[tuple[str, int]]] = {}  # graceful restart: not re-announced yet
    sweeps: list[int] = []
    for address in PEERS:
        _up(rib, address)
    for _ in range(500):
        address = rng.choice(list(PEERS))
        path_id = rng.randint(0, 2) if PEERS[address] else None
        key_id = path_id or 0
        chosen = tuple(rng.sample(PREFIXES, rng.randint(1, 4)))
        roll = rng.random()
        if roll < 0.03:
            rib.peer_down(address)
            model[address].clear()
            stale.pop(address, None)
            _up(rib, address)
        elif roll < 0.06 and address not in stale:
            # RFC 4724 §4.2: the peer restarts, its routes stay (stale) until its End-of-RIB.
            rib.peer_down(address, keep=(IPV4_UNICAST,))
            stale[address] = set(model[address])
            _up(rib, address)
        elif roll < 0.1 and address in stale:
            rib.apply_update(address, _update((), PathAttributes(()), (), None))  # End-of-RIB
            swept = stale.pop(address)
            sweeps.append(len(swept))
            for key in swept:
                del model[address][key]
        elif roll < 0.3:
            rib.apply_update(address, _update(chosen, attributes(), (), path_id))
            for prefix in chosen:
                model[address].pop((prefix, key_id), None)
                stale.get(address, set()).discard((prefix, key_id))
        else:
            a = attributes(
                as_path=tuple(rng.choice((1, 2, 3)) for _ in range(rng.randint(0, 2))),
                med=rng.choice((None, 0, 10)),
                next_hop=f"192.0.2.{rng.randint(1, 3)}",
            )
            rib.apply_update(address, _update((), a, chosen, path_id))
            model[address].update(dict.fromkeys(((p, key_id) for p in chosen),
                                                (a.as_path, a.next_hop)))
            stale.get(address, set()).difference_update((p, key_id) for p in chosen)
    for address, add_path in PEERS.items():
        table = rib.adj_rib_in(address, IPV4_UNICAST)
        held = {
            (
                prefix_to_str(key[4:] if add_path else key, 1),
                int.from_bytes(key[:4]) if add_path else 0,
            ): (p.attributes.as_path, p.attributes.next_hop)
            for key, p in table.items()
        }
        assert held == model[address]
        assert rib.peer_counters(address).accepted == len(model[address])
        for (prefix, path_id), _ in model[address].items():
            path = table[(path_id.to_bytes(4) if add_path else b"") + pfx(prefix)]
            assert path.peer_id == address and path.path_id == path_id
            assert path.stale == ((prefix, path_id) in stale.get(address, ()))
    candidates: dict[str, int] = {}
    for paths in model.values():
        for prefix, _ in paths:
            candidates[prefix] = candidates.get(prefix, 0) + 1
    got = {prefix_to_str(e.prefix, 1): len(e.paths) for e in rib.routes(IPV4_UNICAST)}
    assert got == candidates
    assert sweeps and any(sweeps)  # restarts happened, and swept stale paths

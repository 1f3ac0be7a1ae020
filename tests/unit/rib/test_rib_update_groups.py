"""Update groups (pybgp.rib.groups): which peers share one export and one encoding, what
breaks a group, and that sharing changes nothing a peer is sent (split horizon, RFC 4456)."""

from __future__ import annotations

import random
from ipaddress import IPv4Address, ip_network
from typing import Any

import attrs
from rib_helpers import (
    LOCAL_AS,
    add_peer,
    announce,
    announced,
    attributes,
    make_rib,
    negotiated,
    withdraw,
    withdrawn,
)

from pybgp.config import FilterConfig
from pybgp.config.filters import FilterAction, FilterRule, MatchOperator
from pybgp.policy import filter_policy
from pybgp.rib import Rib
from pybgp.rib.groups import group_key
from pybgp.rib.peer import PeerState
from pybgp.wire.constants import IPV4_UNICAST

P = "10.244.1.0/26"
Q = "10.244.2.0/26"
RR = "10.0.0.1"
CLIENTS = ["10.0.0.11", "10.0.0.12", "10.0.0.13", "10.0.0.14"]


def reflector(**client_settings: Any) -> Rib:
    """A route reflector with the four CLIENTS up (the same settings unless overridden)."""
    rib = make_rib(router_id=RR, cluster_id=RR)
    for address in CLIENTS:
        settings = {"route_reflector_client": True, "local_address": RR}
        settings.update(client_settings.get(address, {}))
        add_peer(rib, address, **settings)  # type: ignore[arg-type]
    return rib


def state(rib: Rib, peer_id: str) -> PeerState:
    peer: PeerState = rib._peers[peer_id]
    return peer


def test_clients_alike_share_the_very_same_messages() -> None:
    rib = reflector()
    keys = {group_key(state(rib, address)) for address in CLIENTS}
    assert len(keys) == 1
    out = rib.apply_update(CLIENTS[0], announce(attributes(next_hop=CLIENTS[0], local_pref=100), P))
    receivers = CLIENTS[1:]
    assert all(out.messages[a] is out.messages[receivers[0]] for a in receivers)  # one encoding
    sent = announced(out, receivers[0])[P]
    # RFC 4456 §8: ORIGINATOR_ID = the source's router id, CLUSTER_LIST = our cluster id.
    assert sent.originator_id is not None
    assert sent.originator_id.address == IPv4Address(CLIENTS[0])
    assert sent.cluster_list is not None and sent.cluster_list.ids == (IPv4Address(RR),)
    assert sent.next_hop is not None and sent.next_hop.address == IPv4Address(CLIENTS[0])


def test_split_horizon_holds_inside_a_group() -> None:
    rib = reflector()
    first, second = CLIENTS[0], CLIENTS[1]
    out = rib.apply_update(first, announce(attributes(next_hop=first, local_pref=100), P))
    assert first not in out.messages  # its own route is not sent back (RFC 4271 §9.2)
    # A better path from another client: the first client gets it, the source does not.
    out = rib.apply_update(second, announce(attributes(next_hop=second, local_pref=200), P))
    assert announced(out, first)[P].next_hop.address == IPv4Address(second)  # type: ignore[union-attr]
    assert P not in announced(out, second)  # nothing to it about its own route...
    assert withdrawn(out, second) == [P]  # ...but the first client's path it had is withdrawn
    for other in CLIENTS[2:]:
        assert announced(out, other)[P].next_hop.address == IPv4Address(second)  # type: ignore[union-attr]
    # Its route withdrawn: the first client's path comes back to everyone but the first.
    out = rib.apply_update(second, withdraw(P))
    assert withdrawn(out, first) == [P]
    assert announced(out, second)[P].next_hop.address == IPv4Address(first)  # type: ignore[union-attr]
    assert out.messages[CLIENTS[2]] is out.messages[CLIENTS[3]]
    # Both gone: a withdrawal to all but the first (which had nothing from us any more).
    out = rib.apply_update(first, withdraw(P))
    assert first not in out.messages
    assert all(withdrawn(out, a) == [P] for a in CLIENTS[1:])


def test_a_member_already_holding_the_route_gets_nothing_new() -> None:
    rib = reflector()
    source = CLIENTS[0]
    path = attributes(next_hop=source, local_pref=100)
    rib.apply_update(source, announce(path, P))
    out = rib.apply_update(source, announce(path, P, Q))  # P unchanged, Q new
    for address in CLIENTS[1:]:
        assert set(announced(out, address)) == {Q}


def test_what_breaks_a_group() -> None:
    rib = reflector(
        **{
            CLIENTS[1]: {"next_hop_self": True},
            CLIENTS[2]: {"local_address": "10.0.0.2"},
        }
    )
    add_peer(rib, "10.0.0.21", local_address=RR)  # an iBGP peer that is not a client
    add_peer(rib, "10.0.0.31", asn=65001, local_address=RR)  # an eBGP peer
    keys = [group_key(state(rib, a)) for a in [*CLIENTS, "10.0.0.21", "10.0.0.31"]]
    assert keys[0] == keys[3]  # alike
    assert len(set(keys)) == 5  # next-hop-self, our address, non-client and eBGP: apart
    out = rib.apply_update(CLIENTS[0], announce(attributes(next_hop=CLIENTS[0], local_pref=100), P))
    assert announced(out, CLIENTS[1])[P].next_hop.address == IPv4Address(RR)  # type: ignore[union-attr]
    assert announced(out, CLIENTS[2])[P].next_hop.address == IPv4Address(CLIENTS[0])  # type: ignore[union-attr]
    assert announced(out, "10.0.0.21")[P].cluster_list is not None  # reflected to non-clients
    ebgp = announced(out, "10.0.0.31", peer_as=65001)[P]
    assert ebgp.cluster_list is None and ebgp.originator_id is None  # RFC 4456 §8
    assert out.messages[CLIENTS[3]] is not out.messages[CLIENTS[1]]


def test_negotiated_encoding_breaks_a_group() -> None:
    rib = reflector()
    peer = state(rib, CLIENTS[3])
    before = group_key(peer)
    two_octet = attrs.evolve(negotiated(LOCAL_AS, LOCAL_AS), four_octet_as=False)
    rib.peer_up(CLIENTS[3], two_octet, IPv4Address(CLIENTS[3]))
    assert group_key(peer) != before  # the cached key follows the new session
    assert group_key(peer) != group_key(state(rib, CLIENTS[1]))
    extended = attrs.evolve(negotiated(LOCAL_AS, LOCAL_AS), extended_message=True)
    rib.peer_up(CLIENTS[2], extended, IPv4Address(CLIENTS[2]))
    assert len({group_key(state(rib, a)) for a in CLIENTS}) == 3
    path = attributes(next_hop=CLIENTS[0], local_pref=100, as_path=[65010, 4200000000])
    out = rib.apply_update(CLIENTS[0], announce(path, P))
    assert out.messages[CLIENTS[3]] != out.messages[CLIENTS[1]]  # AS_TRANS, AS4_PATH (RFC 6793)
    assert announced(out, CLIENTS[2])[P] == announced(out, CLIENTS[1])[P]


def test_add_path_peers_keep_their_own_export() -> None:
    rib = reflector()
    both = attrs.evolve(negotiated(LOCAL_AS, LOCAL_AS), add_path_send=frozenset({IPV4_UNICAST}))
    rib.add_peer(attrs.evolve(state(rib, CLIENTS[3]).info, add_paths_send=0))
    rib.peer_up(CLIENTS[3], both, IPv4Address(CLIENTS[3]))
    assert group_key(state(rib, CLIENTS[3])) != group_key(state(rib, CLIENTS[1]))
    rib.apply_update(CLIENTS[0], announce(attributes(next_hop=CLIENTS[0], local_pref=100), P))
    out = rib.apply_update(CLIENTS[1], announce(attributes(next_hop=CLIENTS[1], local_pref=100), P))
    assert CLIENTS[3] in out.messages  # the second path too, with its path id
    assert out.messages[CLIENTS[3]] is not out.messages.get(CLIENTS[2])


def test_export_policies_share_only_when_they_say_so() -> None:
    def own(route: Any) -> Any:  # may look at route.to_peer: never shared
        return route

    deny_q = FilterConfig(
        name="no-q",
        rules=(
            FilterRule(
                action=FilterAction.REJECT, cidr=ip_network(Q), match_operator=MatchOperator.EQUAL
            ),
        ),
    )
    rib = reflector(
        **{
            CLIENTS[1]: {"export_policy": filter_policy([deny_q], "export")},
            CLIENTS[2]: {"export_policy": filter_policy([deny_q], "export")},
            CLIENTS[3]: {"export_policy": own},
        }
    )
    keys = [group_key(state(rib, a)) for a in CLIENTS]
    assert keys[1] == keys[2]  # the same filters: one group
    assert len(set(keys)) == 3
    path = attributes(next_hop=CLIENTS[0], local_pref=100)
    out = rib.apply_update(CLIENTS[0], announce(path, P, Q))
    assert out.messages[CLIENTS[1]] is out.messages[CLIENTS[2]]
    assert set(announced(out, CLIENTS[1])) == {P}
    assert set(announced(out, CLIENTS[3])) == {P, Q}


def test_changed_settings_move_a_peer_to_another_group() -> None:
    rib = reflector()
    peer = state(rib, CLIENTS[2])
    assert group_key(peer) == group_key(state(rib, CLIENTS[1]))
    rib.add_peer(attrs.evolve(peer.info, next_hop_self=True))
    assert group_key(peer) != group_key(state(rib, CLIENTS[1]))
    out = rib.apply_update(CLIENTS[0], announce(attributes(next_hop=CLIENTS[0], local_pref=100), P))
    assert announced(out, CLIENTS[2])[P].next_hop.address == IPv4Address(RR)  # type: ignore[union-attr]
    assert announced(out, CLIENTS[1])[P].next_hop.address == IPv4Address(CLIENTS[0])  # type: ignore[union-attr]


def test_grouped_and_ungrouped_peers_are_sent_the_same() -> None:
    """A seeded random run of announcements and withdrawals from several clients: a reflector
    whose clients share groups sends each client exactly what one with a group per client
    sends (an identity policy per peer, without ``update_group_key``, forbids sharing)."""
    rng = random.Random(13)
    grouped = reflector()
    alone = reflector(**{a: {"export_policy": lambda route: route} for a in CLIENTS})
    assert len({group_key(state(alone, a)) for a in CLIENTS}) == len(CLIENTS)
    prefixes = [f"10.244.{i}.0/26" for i in range(6)]
    for _step in range(150):
        source = rng.choice(CLIENTS)
        chosen = rng.sample(prefixes, rng.randint(1, 3))
        if rng.random() < 0.3:
            update = withdraw(*chosen)
        else:
            pref = rng.choice((100, 150, 200))
            update = announce(attributes(next_hop=source, local_pref=pref), *chosen)
        out_grouped = grouped.apply_update(source, update)
        out_alone = alone.apply_update(source, update)
        for address in CLIENTS:
            assert announced(out_grouped, address) == announced(out_alone, address)
            assert sorted(withdrawn(out_grouped, address)) == sorted(withdrawn(out_alone, address))
            if address == source:  # split horizon: never its own path back
                for sent in announced(out_grouped, address).values():
                    assert sent.originator_id is not None
                    assert sent.originator_id.address != IPv4Address(source)

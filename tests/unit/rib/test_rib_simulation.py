"""Several Rib instances wired by their messages, through the real codec, with no clock.

Every message a node's RibOutput sends to peer X is decoded (``decode_update``) with the
session's negotiated parameters and applied to node X, until nothing is left to deliver.
"""

from __future__ import annotations

from collections import deque
from ipaddress import IPv4Address, ip_address

from rib_helpers import negotiated, pfx

from pybgp.rib import PeerInfo, Rib, RibOutput
from pybgp.wire.constants import IPV4_UNICAST
from pybgp.wire.nlri import prefix_to_str
from pybgp.wire.refresh import decode_route_refresh
from pybgp.wire.update import decode_update

AS = 65000


class Network:
    """Nodes by address; ``run`` delivers messages until quiet."""

    def __init__(self) -> None:
        self.nodes: dict[str, Rib] = {}
        self.asn: dict[str, int] = {}
        self.queue: deque[tuple[str, str, bytes]] = deque()
        self.delivered = 0

    def node(self, address: str, asn: int = AS, cluster_id: str | None = None) -> Rib:
        rib = Rib(asn, IPv4Address(address), IPv4Address(cluster_id) if cluster_id else None)
        self.nodes[address] = rib
        self.asn[address] = asn
        return rib

    def emit(self, sender: str, output: RibOutput) -> None:
        for target, messages in output.messages.items():
            for message in messages:
                self.queue.append((sender, target, message))

    def link(
        self, a: str, b: str, *, a_client_of_b: bool = False, b_client_of_a: bool = False
    ) -> None:
        for me, other, client in ((a, b, b_client_of_a), (b, a, a_client_of_b)):
            rib = self.nodes[me]
            rib.add_peer(
                PeerInfo(
                    peer_id=other,
                    address=ip_address(other),
                    asn=self.asn[other],
                    local_as=self.asn[me],
                    local_address=ip_address(me),
                    route_reflector_client=client,
                )
            )
        for me, other in ((a, b), (b, a)):
            neg = negotiated(self.asn[me], self.asn[other])
            self.emit(me, self.nodes[me].peer_up(other, neg, IPv4Address(other)))

    def run(self, limit: int = 10_000) -> None:
        while self.queue:
            sender, target, message = self.queue.popleft()
            self.delivered += 1
            assert self.delivered < limit, "the network does not converge"
            rib = self.nodes[target]
            if message[18] == 5:
                refresh = decode_route_refresh(message[19:])
                self.emit(target, rib.route_refresh(sender, refresh.family))
                continue
            result = decode_update(message[19:], negotiated(self.asn[target], self.asn[sender]))
            self.emit(target, rib.apply_update(sender, result))

    def originate(self, address: str, prefix: str) -> None:
        self.emit(address, self.nodes[address].originate(IPV4_UNICAST, pfx(prefix)))

    def table(self, address: str) -> dict[str, tuple[str | None, str, int]]:
        """prefix -> (best peer, next hop, number of paths)."""
        return {
            prefix_to_str(e.prefix, 1): (e.best.peer_id, str(e.best.next_hop), len(e.paths))
            for e in self.nodes[address].routes(IPV4_UNICAST)
        }


def _prefix(i: int) -> str:
    return f"10.244.{i}.0/26"


def test_full_mesh_of_four() -> None:
    net = Network()
    addresses = [f"10.0.0.{i}" for i in range(1, 5)]
    for a in addresses:
        net.node(a)
    for i, a in enumerate(addresses):
        for b in addresses[i + 1 :]:
            net.link(a, b)
    for i, a in enumerate(addresses, start=1):
        net.originate(a, _prefix(i))
    net.run()
    for a in addresses:
        table = net.table(a)
        assert set(table) == {_prefix(j) for j in range(1, 5)}
        for j, b in enumerate(addresses, start=1):
            if b == a:
                assert table[_prefix(j)][0] is None  # our own
            else:
                # Learned straight from the originator (iBGP is not re-advertised).
                assert table[_prefix(j)] == (b, b, 1)
    # A withdrawal reaches everyone.
    net.emit("10.0.0.1", net.nodes["10.0.0.1"].withdraw_originated(IPV4_UNICAST, pfx(_prefix(1))))
    net.run()
    assert all(_prefix(1) not in net.table(a) for a in addresses)


def test_two_reflectors_same_cluster_four_clients() -> None:
    net = Network()
    rrs = ["10.0.0.1", "10.0.0.2"]
    clients = [f"10.0.0.{i}" for i in range(11, 15)]
    for rr in rrs:
        net.node(rr, cluster_id="1.1.1.1")
    for c in clients:
        net.node(c)
    net.link(rrs[0], rrs[1])  # non-client iBGP between the reflectors
    for rr in rrs:
        for c in clients:
            net.link(rr, c, b_client_of_a=True)
    for i, c in enumerate(clients):
        net.originate(c, _prefix(i))
    net.run()
    for c in clients:
        table = net.table(c)
        assert set(table) == {_prefix(j) for j in range(4)}
        for j, origin in enumerate(clients):
            if origin == c:
                continue
            best_peer, next_hop, count = table[_prefix(j)]
            # One copy per reflector, no more; NEXT_HOP is the originating client.
            assert count == 2 and next_hop == origin and best_peer in rrs
            path = net.nodes[c].best(IPV4_UNICAST, pfx(_prefix(j)))[0]
            assert path.attributes.originator_id is not None
            assert str(path.attributes.originator_id.address) == origin
            assert path.attributes.cluster_list is not None
            assert [str(x) for x in path.attributes.cluster_list.ids] == ["1.1.1.1"]
    for rr in rrs:
        table = net.table(rr)
        # The copy reflected by the other RR carries our cluster id: rejected (RFC 4456 §8).
        assert {p: v[2] for p, v in table.items()} == {_prefix(j): 1 for j in range(4)}
        assert all(v[0] in clients for v in table.values())
    quiet = net.delivered
    net.run()
    assert net.delivered == quiet
    # A client withdraws: gone everywhere.
    net.emit(clients[0], net.nodes[clients[0]].withdraw_originated(IPV4_UNICAST, pfx(_prefix(0))))
    net.run()
    assert all(_prefix(0) not in net.table(a) for a in net.nodes)
    # A reflector goes down: the clients keep every route through the other one.
    for c in clients:
        net.nodes[c].peer_down(rrs[0])
    assert all(len(net.table(c)) == 3 for c in clients)


def test_ebgp_chain_with_loop_prevention() -> None:
    net = Network()
    net.node("10.0.0.1", asn=65001)
    net.node("10.0.0.2", asn=65002)
    net.node("10.0.0.3", asn=65003)
    net.link("10.0.0.1", "10.0.0.2")
    net.link("10.0.0.2", "10.0.0.3")
    net.link("10.0.0.3", "10.0.0.1")
    net.originate("10.0.0.1", _prefix(1))
    net.run()
    for address, hops in (("10.0.0.2", 1), ("10.0.0.3", 1)):
        entry = net.nodes[address].lookup(IPV4_UNICAST, pfx(_prefix(1)))
        assert entry is not None and entry.best.peer_id == "10.0.0.1"
        assert len(tuple(entry.best.attributes.as_path.asns())) == hops  # type: ignore[union-attr]
        assert len(entry.paths) == 2  # direct, and via the third AS
    # The originator never takes back its own prefix (its AS is in the path).
    entry = net.nodes["10.0.0.1"].lookup(IPV4_UNICAST, pfx(_prefix(1)))
    assert entry is not None and len(entry.paths) == 1 and entry.best.originated

"""From Calico objects to pybgp config values (pure: no I/O).

:func:`derive` reads a :class:`~pybgp.datastore.model.ClusterState` the way Calico's confd does
for one node (``confd/pkg/backends/calico/client.go`` ``updatePeersV1`` and the
``bird.cfg.template`` / ``bird_aggr.cfg.template`` it renders) and returns a
:class:`DerivedConfig`; :func:`merge` lays it over the file's :class:`SpeakerConfig`.

The rules, in Calico's words:

* AS: ``Node.spec.bgp.asNumber``, else ``BGPConfiguration default spec.asNumber``, else 64512.
  Router id: the node's IPv4 address (an IPv6-only node: a hash of its name, as
  ``CALICO_ROUTER_ID=hash``). Listen port: ``BGPConfiguration node.<name>``, then ``default``.
* Mesh (``nodeToNodeMeshEnabled``, default true): every other node with an address of the
  family, except route reflectors (nodes with ``routeReflectorClusterID``); a route reflector
  itself has no mesh. One-directional as in confd's template: towards a node whose address
  (as text) sorts after ours we are passive, so exactly one side connects.
* BGPPeers, in confd's order (an earlier peering to the same address and port wins): global
  ones (no ``node``/``nodeSelector``), then node-specific ones that select this node, then
  the reverse peerings (this node matches ``peerSelector``, or is the ``peerIP``/``asNumber``
  of the resource: it peers back with the nodes the resource selects). ``peerSelector``
  peers are the selected nodes' addresses and AS. A peering to our own address is skipped.
  A session to another Calico node is one-directional by the same rule as the mesh.
* Route reflection: this node has a cluster id, the peer is in our AS and is not a reflector
  of the same cluster -> the peer is our route reflector client.
* Originated: the blocks affine to this node (``/ipam/v2/host/<node>/...``, state confirmed or
  none, block not deleted nor affine elsewhere, pool not ``disableBGPExport``), each with a
  blackhole route, and the ``serviceClusterIPs`` / ``serviceExternalIPs`` /
  ``serviceLoadBalancerIPs`` of ``BGPConfiguration default``.
* Encapsulation per pool: ``ipipMode`` Always -> ipip, CrossSubnet -> crosssubnet,
  Never -> none (routes learned inside the pool).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network

import attrs

from pybgp.config.values import (
    KernelConfig,
    OriginateConfig,
    PeerConfig,
    SpeakerConfig,
    SpeakerSection,
)
from pybgp.datastore.model import DEFAULT_ASN, BGPPeer, CalicoNode, ClusterState, IPPool

__all__ = ["DatastoreProblem", "DerivedConfig", "PoolEncapsulation", "derive", "merge"]

IPAddress = IPv4Address | IPv6Address
IPNetwork = IPv4Network | IPv6Network


class DatastoreProblem(ValueError):
    """The datastore does not describe this node well enough to run (e.g. no Node)."""


@attrs.frozen
class PoolEncapsulation:
    """How routes inside ``cidr`` go into the kernel (``KernelConfig.encapsulation`` values)."""

    cidr: IPNetwork
    encapsulation: str


@attrs.frozen(kw_only=True)
class DerivedConfig:
    """What the datastore says about one node."""

    node: str
    asn: int
    router_id: IPv4Address
    listen_port: int | None
    """None = not set in the datastore (the file's value holds)."""
    cluster_id: IPv4Address | None
    peers: tuple[PeerConfig, ...]
    prefixes: tuple[IPNetwork, ...]
    pools: tuple[PoolEncapsulation, ...]
    problems: tuple[str, ...] = ()
    """Resources left out, and why (shown in status and logged)."""


def router_id_from_name(name: str) -> IPv4Address:
    """A stable non-zero router id from a node name (an IPv6-only node)."""
    digest = int.from_bytes(hashlib.sha256(name.encode()).digest()[:4], "big")
    return IPv4Address(digest or 1)


@attrs.frozen
class _Candidate:
    ip: IPAddress
    port: int
    asn: int
    rr_cluster_id: IPv4Address | None
    kind: str
    calico_node: bool
    peer: BGPPeer | None = None


def _node_as(node: CalicoNode, global_as: int) -> int:
    return node.asn if node.asn is not None else global_as


def derive(state: ClusterState, node_name: str) -> DerivedConfig:
    """The config of node ``node_name`` in ``state``. Raises :class:`DatastoreProblem` when
    the node is missing or has no BGP address."""
    me = state.nodes.get(node_name)
    if me is None:
        raise DatastoreProblem(f"Node {node_name}: not in the datastore")
    if me.ipv4 is None and me.ipv6 is None:
        raise DatastoreProblem(f"Node {node_name}: spec.bgp has no ipv4Address or ipv6Address")
    problems = [f"{key}: {text}" for key, text in sorted(state.problems.items())]
    default = state.bgpconfigurations.get("default")
    global_as = default.asn if default is not None and default.asn else DEFAULT_ASN
    mesh = default.mesh if default is not None and default.mesh is not None else True
    my_as = _node_as(me, global_as)

    def listen_port(name: str) -> int:
        own = state.bgpconfigurations.get(f"node.{name}")
        if own is not None and own.listen_port:
            return own.listen_port
        if default is not None and default.listen_port:
            return default.listen_port
        return 0

    port_here = listen_port(node_name)
    nodes = sorted(state.nodes.values(), key=lambda n: n.name)
    peers: dict[IPAddress, PeerConfig] = {}
    for version in (4, 6):
        mine = me.ipv4 if version == 4 else me.ipv6
        if mine is None:
            continue
        my_ip = mine.ip
        candidates: dict[tuple[IPAddress, int], _Candidate] = {}
        # 1. BGPPeers (global first, then node-specific, then reverse), as confd emits them.
        for candidate in _bgppeer_candidates(state, nodes, me, version, global_as, listen_port):
            key = (candidate.ip, candidate.port)
            if key not in candidates:
                candidates[key] = candidate
        # 2. The mesh (confd renders it apart; here an explicit BGPPeer to the same
        #    address wins, as one address carries one session).
        if mesh and me.cluster_id is None:
            for other in nodes:
                address = other.ipv4 if version == 4 else other.ipv6
                if other.name == node_name or address is None or other.cluster_id is not None:
                    continue
                port = listen_port(other.name)
                if any(ip == address.ip for ip, _ in candidates):
                    continue
                candidates[(address.ip, port)] = _Candidate(
                    address.ip, port, _node_as(other, global_as), None, "mesh", True
                )
        for candidate in candidates.values():
            if candidate.ip == my_ip or candidate.ip in peers:
                continue
            peers[candidate.ip] = _peer_config(candidate, me, my_ip, my_as, version)
            if candidate.peer is not None and candidate.peer.has_password:
                problems.append(
                    f"BGPPeer {candidate.peer.name}: spec.password (a Kubernetes secret) "
                    f"cannot be read from etcd; the session with {candidate.ip} has no TCP MD5"
                )
    prefixes = _prefixes(state, node_name, default, problems)
    pools = _pools(state.ippools.values(), problems)
    router_id = me.ipv4.ip if me.ipv4 is not None else router_id_from_name(node_name)
    return DerivedConfig(
        node=node_name,
        asn=my_as,
        router_id=router_id,
        listen_port=port_here or None,
        cluster_id=me.cluster_id,
        peers=tuple(sorted(peers.values(), key=lambda p: (p.address.version, p.address))),
        prefixes=prefixes,
        pools=pools,
        problems=tuple(problems),
    )


def _as_candidates(
    node: CalicoNode, version: int, global_as: int, port: int, kind: str, peer: BGPPeer
) -> list[_Candidate]:
    address = node.ipv4 if version == 4 else node.ipv6
    if address is None:
        return []
    return [
        _Candidate(address.ip, port, _node_as(node, global_as), node.cluster_id, kind, True, peer)
    ]


def _bgppeer_candidates(
    state: ClusterState,
    nodes: list[CalicoNode],
    me: CalicoNode,
    version: int,
    global_as: int,
    listen_port: object,
) -> Iterable[_Candidate]:
    port_of = listen_port  # callable name -> port
    node_ips = {
        (n.ipv4.ip if version == 4 else n.ipv6.ip): n  # type: ignore[union-attr]
        for n in nodes
        if (n.ipv4 if version == 4 else n.ipv6) is not None
    }
    resources = sorted(state.bgppeers.values(), key=lambda p: p.name)

    def selects_me(peer: BGPPeer) -> bool:
        if peer.node:
            return peer.node == me.name
        if peer.node_selector is not None:
            return peer.node_selector.matches(me.labels)
        return True

    def remote(peer: BGPPeer, kind: str) -> list[_Candidate]:
        if peer.peer_selector is not None:
            found: list[_Candidate] = []
            for node in nodes:
                if peer.peer_selector.matches(node.labels):
                    found += _as_candidates(
                        node, version, global_as, port_of(node.name), kind, peer  # type: ignore[operator]
                    )
            return found
        assert peer.peer_ip is not None
        if peer.peer_ip.version != version:
            return []
        port = peer.port
        target = node_ips.get(peer.peer_ip)
        if port == 0 and target is not None and _node_as(target, global_as) == peer.asn:
            port = port_of(target.name)  # type: ignore[operator]
        return [
            _Candidate(
                peer.peer_ip, port, peer.asn, None, kind, target is not None, peer
            )
        ]

    for global_pass in (True, False):
        for peer in resources:
            if peer.is_global != global_pass or not selects_me(peer):
                continue
            yield from remote(peer, "global" if global_pass else "node-specific")
    # Reverse peerings: this node is on the remote side of the resource.
    for peer in resources:
        if peer.peer_selector is not None:
            local = peer.peer_selector.matches(me.labels)
        else:
            mine = me.ipv4 if version == 4 else me.ipv6
            local = (
                mine is not None
                and peer.peer_ip == mine.ip
                and _node_as(me, global_as) == peer.asn
            )
        if not local:
            continue
        for node in nodes:
            if peer.node:
                chosen = node.name == peer.node
            elif peer.node_selector is not None:
                chosen = peer.node_selector.matches(node.labels)
            else:
                chosen = True
            if chosen:
                yield from _as_candidates(
                    node, version, global_as, port_of(node.name), "node-specific", peer  # type: ignore[operator]
                )


def _peer_config(
    candidate: _Candidate, me: CalicoNode, my_ip: IPAddress, my_as: int, version: int
) -> PeerConfig:
    ibgp = candidate.asn == my_as
    client = (
        ibgp
        and me.cluster_id is not None
        and candidate.rr_cluster_id != me.cluster_id
    )
    if client:
        kind = "rr-client"
    elif candidate.rr_cluster_id is not None and ibgp and candidate.kind != "mesh":
        kind = "route-reflector"
    else:
        kind = candidate.kind
    peer = candidate.peer
    use_node_ip = peer.use_node_ip if peer is not None else True
    allow = peer.num_allowed_local_as if peer is not None and peer.num_allowed_local_as else None
    description = "Calico mesh" if peer is None else f"Calico BGPPeer {peer.name}"
    return PeerConfig(
        address=candidate.ip,
        asn=candidate.asn,
        port=candidate.port or 179,
        # One-directional between Calico nodes (confd: `if gt $onode_ip $node_ip` ->
        # `passive on`, a comparison of the addresses as text).
        passive=candidate.calico_node and str(candidate.ip) > str(my_ip),
        local_address=my_ip if use_node_ip else None,
        route_reflector_client=client,
        keep_original_next_hop=bool(peer and peer.keep_original_next_hop and not ibgp),
        families=("ipv4",) if version == 4 else ("ipv6",),
        allow_own_as=allow,
        type=kind,
        description=description,
    )


def _pool_of(pools: Iterable[IPPool], cidr: IPNetwork) -> IPPool | None:
    best: IPPool | None = None
    for pool in pools:
        inside = pool.cidr.version == cidr.version and cidr.subnet_of(pool.cidr)
        if inside and (best is None or pool.cidr.prefixlen > best.cidr.prefixlen):
            best = pool
    return best


def _prefixes(
    state: ClusterState, node_name: str, default: object, problems: list[str]
) -> tuple[IPNetwork, ...]:
    found: set[IPNetwork] = set()
    blocks = {block.cidr: block for block in state.blocks.values()}
    for affinity in state.affinities.values():
        if affinity.node != node_name or not affinity.confirmed:
            continue
        if affinity.cidr.prefixlen == affinity.cidr.max_prefixlen:
            continue  # bird_aggr: a /32 block is not a blackholed aggregate
        block = blocks.get(affinity.cidr)
        if block is not None and (
            block.deleted or (block.affinity is not None and block.affinity != f"host:{node_name}")
        ):
            continue
        pool = _pool_of(state.ippools.values(), affinity.cidr)
        if pool is not None and pool.disable_bgp_export:
            continue
        found.add(affinity.cidr)
    for attribute in ("service_cluster_ips", "service_external_ips", "service_load_balancer_ips"):
        found.update(getattr(default, attribute, ()))
    return tuple(sorted(found, key=lambda n: (n.version, n)))


_MODES = {"Always": "ipip", "CrossSubnet": "crosssubnet", "Never": "none"}


def _pools(pools: Iterable[IPPool], problems: list[str]) -> tuple[PoolEncapsulation, ...]:
    found = []
    for pool in sorted(pools, key=lambda p: (p.cidr.version, p.cidr)):
        if pool.vxlan_mode != "Never":
            problems.append(
                f"IPPool {pool.name}: vxlanMode {pool.vxlan_mode} is not supported "
                "(VXLAN routes are Felix's job); its routes are installed plain"
            )
        mode = _MODES[pool.ipip_mode] if pool.cidr.version == 4 else "none"
        found.append(PoolEncapsulation(pool.cidr, mode))
    return tuple(found)


def merge(base: SpeakerConfig, derived: DerivedConfig) -> SpeakerConfig:
    """``base`` (the file) with the datastore's identity, peers, prefixes and pools.

    The file's ``[[peers]]`` win over derived peers with the same address; the file's
    ``[originate]`` prefixes are kept beside the blocks; ``[speaker] cluster_id`` in the file
    holds when the node has no ``routeReflectorClusterID``.
    """
    section: SpeakerSection = attrs.evolve(
        base.speaker,
        asn=derived.asn,
        router_id=derived.router_id,
        listen_port=derived.listen_port if derived.listen_port else base.speaker.listen_port,
        cluster_id=derived.cluster_id or base.speaker.cluster_id,
    )
    own = {peer.address for peer in base.peers}
    peers = base.peers + tuple(peer for peer in derived.peers if peer.address not in own)
    originate: OriginateConfig = attrs.evolve(
        base.originate,
        prefixes=base.originate.prefixes.union(derived.prefixes),
        blackhole=True,
    )
    kernel: KernelConfig = attrs.evolve(
        base.kernel,
        pools=tuple((pool.cidr, pool.encapsulation) for pool in derived.pools),
    )
    return attrs.evolve(base, speaker=section, peers=peers, originate=originate, kernel=kernel)

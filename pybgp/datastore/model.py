"""Calico's v3 data model as stored in etcd, read into frozen values (pure: no I/O).

Keys under the datastore prefix (``/calico`` by default) that pybgp reads; the field names are
those of Calico's public source (projectcalico/api ``pkg/apis/projectcalico/v3``,
libcalico-go ``lib/apis/v3/node.go``, ``lib/backend/model/block.go`` and
``block_affinity.go``)::

    /resources/v3/projectcalico.org/nodes/<name>              Node
    /resources/v3/projectcalico.org/bgpconfigurations/<name>  BGPConfiguration
    /resources/v3/projectcalico.org/bgppeers/<name>           BGPPeer
    /resources/v3/projectcalico.org/ippools/<name>            IPPool
    /ipam/v2/host/<node>/ipv4/block/<a.b.c.d-len>             block affinity
    /ipam/v2/assignment/ipv4/block/<a.b.c.d-len>              IPAM block (ipv6 alike)

Every other key is ignored. A value that cannot be read becomes a :class:`ResourceProblem`
(kept in :attr:`ClusterState.problems`, never an exception): one bad resource must not stop
the node from following the rest of the cluster.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from ipaddress import (
    IPv4Address,
    IPv4Interface,
    IPv6Address,
    IPv6Interface,
    ip_interface,
    ip_network,
)
from typing import Any

import attrs

from pybgp.datastore.selector import Selector, SelectorError, parse_selector

__all__ = [
    "DEFAULT_ASN",
    "Affinity",
    "BGPConfiguration",
    "BGPPeer",
    "Block",
    "CalicoNode",
    "ClusterState",
    "IPPool",
    "ResourceProblem",
    "parse_key",
]

DEFAULT_ASN = 64512
"""BGPConfiguration asNumber default (Calico: ``[Default: 64512]``)."""

RESOURCES = "/resources/v3/projectcalico.org/"
IPAM_HOST = "/ipam/v2/host/"
IPAM_BLOCK = "/ipam/v2/assignment/"

IPNetwork = Any  # IPv4Network | IPv6Network, kept loose for the JSON readers


class ResourceProblem(ValueError):
    """A resource pybgp cannot use; ``str()`` names it (``BGPPeer tor: peerIP ...``)."""


@attrs.frozen
class CalicoNode:
    """A ``Node``: ``spec.bgp`` and ``metadata.labels``."""

    name: str
    ipv4: IPv4Interface | None = None
    """``spec.bgp.ipv4Address`` with its prefix length (the subnet matters for CrossSubnet)."""
    ipv6: IPv6Interface | None = None
    """``spec.bgp.ipv6Address``."""
    asn: int | None = None
    """``spec.bgp.asNumber``; None = the BGPConfiguration default."""
    cluster_id: IPv4Address | None = None
    """``spec.bgp.routeReflectorClusterID``: set = this node is a route reflector."""
    labels: Mapping[str, str] = attrs.field(factory=dict, eq=False)
    labels_key: tuple[tuple[str, str], ...] = ()
    """The labels as sorted pairs (what equality compares)."""


@attrs.frozen
class BGPConfiguration:
    """A ``BGPConfiguration`` (``default`` is global; ``node.<name>`` is per node)."""

    name: str
    mesh: bool | None = None
    """``spec.nodeToNodeMeshEnabled`` (None = not set; the default is true)."""
    asn: int | None = None
    """``spec.asNumber`` (None = not set; the default is 64512)."""
    listen_port: int | None = None
    """``spec.listenPort``."""
    service_cluster_ips: tuple[IPNetwork, ...] = ()
    """``spec.serviceClusterIPs[].cidr``."""
    service_external_ips: tuple[IPNetwork, ...] = ()
    """``spec.serviceExternalIPs[].cidr``."""
    service_load_balancer_ips: tuple[IPNetwork, ...] = ()
    """``spec.serviceLoadBalancerIPs[].cidr`` (advertised like external IPs)."""


@attrs.frozen
class BGPPeer:
    """A ``BGPPeer``."""

    name: str
    node: str = ""
    """``spec.node``."""
    node_selector: Selector | None = None
    """``spec.nodeSelector``."""
    peer_ip: IPv4Address | IPv6Address | None = None
    """``spec.peerIP`` (its optional ``:port`` is in ``port``)."""
    port: int = 0
    asn: int = 0
    """``spec.asNumber`` (0 = not set)."""
    peer_selector: Selector | None = None
    """``spec.peerSelector``: peer with the nodes it selects."""
    keep_original_next_hop: bool = False
    """``spec.keepOriginalNextHop``."""
    use_node_ip: bool = True
    """``spec.sourceAddress``: ``UseNodeIP`` (default) or ``None``."""
    num_allowed_local_as: int = 0
    """``spec.numAllowedLocalASNumbers``."""
    has_password: bool = False
    """``spec.password`` is set (a Kubernetes secret reference: not readable from etcd)."""

    @property
    def is_global(self) -> bool:
        """No ``node`` and no ``nodeSelector``: applies to every node."""
        return not self.node and self.node_selector is None


@attrs.frozen
class IPPool:
    """An ``IPPool``."""

    name: str
    cidr: IPNetwork
    ipip_mode: str = "Never"
    """``spec.ipipMode``: Always, CrossSubnet or Never."""
    vxlan_mode: str = "Never"
    """``spec.vxlanMode``."""
    disabled: bool = False
    """``spec.disabled`` (no new allocations; existing blocks stay advertised)."""
    disable_bgp_export: bool = False
    """``spec.disableBGPExport``: blocks of this pool are not advertised."""
    block_size: int = 0


@attrs.frozen
class Affinity:
    """``/ipam/v2/host/<node>/<ipv4|ipv6>/block/<cidr>``: a block affine to a node."""

    node: str
    cidr: IPNetwork
    state: str = ""
    """``state``: confirmed / pending / pendingDeletion; empty = implicitly confirmed."""
    deleted: bool = False

    @property
    def confirmed(self) -> bool:
        """Advertised (Calico's bird_aggr: state confirmed, or no state)."""
        return not self.deleted and self.state in ("", "confirmed")


@attrs.frozen
class Block:
    """``/ipam/v2/assignment/<ipv4|ipv6>/block/<cidr>``: an IPAM block."""

    cidr: IPNetwork
    affinity: str | None = None
    """``affinity``: ``host:<node>`` or None."""
    deleted: bool = False


Resource = CalicoNode | BGPConfiguration | BGPPeer | IPPool | Affinity | Block


def _cidr_from_key(text: str) -> IPNetwork:
    address, _, length = text.rpartition("-")
    return ip_network(f"{address}/{length}")


def parse_key(prefix: str, key: str, value: bytes | str | None) -> tuple[str, str] | None:
    """The (kind, name) slot of ``key`` under ``prefix``, or None for a key pybgp ignores.

    Kinds: ``nodes``, ``bgpconfigurations``, ``bgppeers``, ``ippools``, ``affinities``
    (name ``<node>/<cidr>``), ``blocks`` (name ``<cidr>``).
    """
    if not key.startswith(prefix):
        return None
    rest = key[len(prefix):]
    if rest.startswith(RESOURCES):
        kind, _, name = rest[len(RESOURCES):].partition("/")
        if kind in ("nodes", "bgpconfigurations", "bgppeers", "ippools") and name:
            return kind, name
        return None
    if rest.startswith(IPAM_HOST):
        parts = rest[len(IPAM_HOST):].split("/")
        if len(parts) == 4 and parts[1] in ("ipv4", "ipv6") and parts[2] == "block":
            return "affinities", f"{parts[0]}/{parts[3]}"
        return None
    if rest.startswith(IPAM_BLOCK):
        parts = rest[len(IPAM_BLOCK):].split("/")
        if len(parts) == 3 and parts[0] in ("ipv4", "ipv6") and parts[1] == "block":
            return "blocks", parts[2]
    return None


def _load(value: bytes | str, what: str) -> dict[str, Any]:
    try:
        data = json.loads(value)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ResourceProblem(f"{what}: not JSON ({exc})") from None
    if not isinstance(data, dict):
        raise ResourceProblem(f"{what}: not a JSON object")
    return data


def _obj(data: Mapping[str, Any], name: str, what: str) -> dict[str, Any]:
    value = data.get(name)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ResourceProblem(f"{what}: {name} is not an object")
    return value


def _asn(value: object, what: str) -> int | None:
    # numorstring.ASNumber: a number, or a string "64512" / "1.10" (asdot).
    if value is None or value == "" or value == 0:
        return None
    if isinstance(value, str) and "." in value:
        high, _, low = value.partition(".")
        if high.isdigit() and low.isdigit():
            value = int(high) * 65536 + int(low)
    try:
        number: int = int(str(value))
    except (TypeError, ValueError):
        raise ResourceProblem(f"{what}: {value!r} is not an AS number") from None
    if not 1 <= number <= 0xFFFFFFFF or number == 23456:
        raise ResourceProblem(f"{what}: {number} is not a valid AS number")
    return number


def _cidrs(spec: Mapping[str, Any], name: str, what: str) -> tuple[IPNetwork, ...]:
    found = []
    items = spec.get(name) or []
    if not isinstance(items, list):
        raise ResourceProblem(f"{what}: {name} is not a list")
    for i, item in enumerate(items):
        cidr = item.get("cidr") if isinstance(item, dict) else None
        try:
            found.append(ip_network(str(cidr)))
        except ValueError:
            raise ResourceProblem(f"{what}: {name}[{i}].cidr {cidr!r} is not a CIDR") from None
    return tuple(found)


def _selector(spec: Mapping[str, Any], name: str, what: str) -> Selector | None:
    text = spec.get(name) or ""
    if not text:
        return None
    try:
        return parse_selector(str(text), f"{what} {name}")
    except SelectorError as exc:
        raise ResourceProblem(str(exc)) from None


def read_resource(kind: str, name: str, value: bytes | str) -> Resource:
    """Read one value stored under a key of ``kind`` (see :func:`parse_key`)."""
    label = {
        "nodes": "Node", "bgpconfigurations": "BGPConfiguration", "bgppeers": "BGPPeer",
        "ippools": "IPPool", "affinities": "block affinity", "blocks": "IPAM block",
    }[kind]
    what = f"{label} {name}"
    data = _load(value, what)
    if kind == "affinities":
        node, _, cidr = name.partition("/")
        try:
            network = _cidr_from_key(cidr)
        except ValueError:
            raise ResourceProblem(f"{what}: {cidr!r} is not a block CIDR") from None
        return Affinity(node, network, str(data.get("state") or ""), bool(data.get("deleted")))
    if kind == "blocks":
        try:
            network = ip_network(str(data.get("cidr") or "").strip() or "x")
        except ValueError:
            try:
                network = _cidr_from_key(name)
            except ValueError:
                raise ResourceProblem(f"{what}: no usable cidr") from None
        affinity = data.get("affinity")
        return Block(network, str(affinity) if affinity else None, bool(data.get("deleted")))
    spec = _obj(data, "spec", what)
    if kind == "nodes":
        bgp = _obj(spec, "bgp", what)
        labels = _obj(_obj(data, "metadata", what), "labels", what)
        labels = {str(k): str(v) for k, v in labels.items()}
        ipv4 = ipv6 = None
        for field in ("ipv4Address", "ipv6Address"):
            text = bgp.get(field)
            if not text:
                continue
            try:
                interface = ip_interface(str(text))
            except ValueError:
                raise ResourceProblem(
                    f"{what}: spec.bgp.{field} {text!r} is not an address"
                ) from None
            if (interface.version == 4) != (field == "ipv4Address"):
                raise ResourceProblem(f"{what}: spec.bgp.{field} {text!r} is the wrong family")
            if interface.version == 4:
                ipv4 = interface
            else:
                ipv6 = interface
        cluster = bgp.get("routeReflectorClusterID") or None
        cluster_id = None
        if cluster:
            try:
                cluster_id = IPv4Address(str(cluster))
            except ValueError:
                raise ResourceProblem(
                    f"{what}: spec.bgp.routeReflectorClusterID {cluster!r} is not an IPv4 address"
                ) from None
        return CalicoNode(
            name, ipv4, ipv6,
            _asn(bgp.get("asNumber"), f"{what}: spec.bgp.asNumber"), cluster_id, labels,
            tuple(sorted(labels.items())),
        )
    if kind == "bgpconfigurations":
        mesh = spec.get("nodeToNodeMeshEnabled")
        port = spec.get("listenPort")
        if port is not None and (not isinstance(port, int) or not 1 <= port <= 65535):
            raise ResourceProblem(f"{what}: spec.listenPort {port!r} is not a port")
        return BGPConfiguration(
            name,
            None if mesh is None else bool(mesh),
            _asn(spec.get("asNumber"), f"{what}: spec.asNumber"),
            port,
            _cidrs(spec, "serviceClusterIPs", what),
            _cidrs(spec, "serviceExternalIPs", what),
            _cidrs(spec, "serviceLoadBalancerIPs", what),
        )
    if kind == "bgppeers":
        peer_ip: IPv4Address | IPv6Address | None = None
        port = 0
        text = str(spec.get("peerIP") or "")
        if text:
            host = text
            if text.startswith("["):  # [v6]:port
                host, _, tail = text[1:].partition("]")
                port = int(tail[1:]) if tail.startswith(":") and tail[1:].isdigit() else 0
            elif text.count(":") == 1:
                host, _, tail = text.partition(":")
                port = int(tail) if tail.isdigit() else -1
            try:
                address = ip_interface(host).ip
            except ValueError:
                raise ResourceProblem(f"{what}: spec.peerIP {text!r} is not an address") from None
            if not 0 <= port <= 65535:
                raise ResourceProblem(f"{what}: spec.peerIP {text!r} has no valid port")
            peer_ip = address
        peer_selector = _selector(spec, "peerSelector", what)
        if peer_ip is None and peer_selector is None:
            raise ResourceProblem(f"{what}: neither spec.peerIP nor spec.peerSelector is set")
        if peer_ip is not None and peer_selector is not None:
            raise ResourceProblem(f"{what}: spec.peerIP and spec.peerSelector are both set")
        node = str(spec.get("node") or "")
        node_selector = _selector(spec, "nodeSelector", what)
        if node and node_selector is not None:
            raise ResourceProblem(f"{what}: spec.node and spec.nodeSelector are both set")
        asn = _asn(spec.get("asNumber"), f"{what}: spec.asNumber") or 0
        if peer_ip is not None and not asn:
            raise ResourceProblem(f"{what}: spec.asNumber is required with spec.peerIP")
        source = str(spec.get("sourceAddress") or "UseNodeIP")
        if source not in ("UseNodeIP", "None"):
            raise ResourceProblem(f"{what}: spec.sourceAddress {source!r} is not UseNodeIP/None")
        allowed = spec.get("numAllowedLocalASNumbers") or 0
        if not isinstance(allowed, int) or not 0 <= allowed <= 255:
            raise ResourceProblem(f"{what}: spec.numAllowedLocalASNumbers {allowed!r} not 0..255")
        return BGPPeer(
            name, node, node_selector, peer_ip, port, asn, peer_selector,
            bool(spec.get("keepOriginalNextHop")), source == "UseNodeIP", allowed,
            spec.get("password") is not None,
        )
    # ippools
    cidr_text = spec.get("cidr")
    try:
        pool_cidr = ip_network(str(cidr_text))
    except ValueError:
        raise ResourceProblem(f"{what}: spec.cidr {cidr_text!r} is not a CIDR") from None
    modes = ("Always", "CrossSubnet", "Never")
    ipip = str(spec.get("ipipMode") or "Never")
    vxlan = str(spec.get("vxlanMode") or "Never")
    if ipip not in modes:
        raise ResourceProblem(f"{what}: spec.ipipMode {ipip!r} is not Always/CrossSubnet/Never")
    if vxlan not in modes:
        raise ResourceProblem(f"{what}: spec.vxlanMode {vxlan!r} is not Always/CrossSubnet/Never")
    return IPPool(
        name, pool_cidr, ipip, vxlan, bool(spec.get("disabled")),
        bool(spec.get("disableBGPExport")), int(spec.get("blockSize") or 0),
    )


_KINDS = ("nodes", "bgpconfigurations", "bgppeers", "ippools", "affinities", "blocks")


@attrs.frozen
class ClusterState:
    """Everything pybgp read from the datastore: one mapping per kind, name -> resource.

    Immutable; :meth:`with_value` returns the state after one key changed. ``problems``
    holds, per key, why a resource was left out.
    """

    nodes: Mapping[str, CalicoNode] = attrs.field(factory=dict)
    bgpconfigurations: Mapping[str, BGPConfiguration] = attrs.field(factory=dict)
    bgppeers: Mapping[str, BGPPeer] = attrs.field(factory=dict)
    ippools: Mapping[str, IPPool] = attrs.field(factory=dict)
    affinities: Mapping[str, Affinity] = attrs.field(factory=dict)
    blocks: Mapping[str, Block] = attrs.field(factory=dict)
    problems: Mapping[str, str] = attrs.field(factory=dict)

    @classmethod
    def from_items(
        cls, prefix: str, items: Mapping[str, bytes] | Sequence[tuple[str, bytes | str]]
    ) -> ClusterState:
        """The state of a snapshot: ``items`` are (key, value) pairs under ``prefix``."""
        tables: dict[str, dict[str, Any]] = {kind: {} for kind in (*_KINDS, "problems")}
        pairs = items.items() if isinstance(items, Mapping) else items
        for key, value in pairs:
            slot = parse_key(prefix, key, value)
            if slot is None:
                continue
            kind, name = slot
            try:
                tables[kind][name] = read_resource(kind, name, value)
            except ResourceProblem as exc:
                tables["problems"][key] = str(exc)
        return cls(**tables)

    def with_value(self, prefix: str, key: str, value: bytes | str | None) -> ClusterState:
        """The state after ``key`` was set to ``value`` (None = deleted)."""
        slot = parse_key(prefix, key, value)
        if slot is None:
            return self
        kind, name = slot
        table = dict(getattr(self, kind))
        problems = dict(self.problems)
        problems.pop(key, None)
        table.pop(name, None)
        if value is not None:
            try:
                table[name] = read_resource(kind, name, value)
            except ResourceProblem as exc:
                problems[key] = str(exc)
        return attrs.evolve(self, **{kind: table, "problems": problems})

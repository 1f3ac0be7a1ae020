"""Topologies of network namespaces for end-to-end tests.

A ``Topology`` owns everything it creates, all named with one unique prefix
(``pbt-<6 hex>-``): a namespace per node, per pod and one "switch" namespace that holds the
bridges, so the host's root namespace networking is never touched (veth pairs are created from
inside a namespace straight into the peer namespace). Processes started in a node are tracked
by pid. ``teardown()`` (idempotent; also run by the context manager, the pytest fixture and,
as a last resort, ``atexit``) kills every tracked process and anything else still running in
our namespaces, deletes every namespace and checks none is left.

The namespace, veth, bridge, pod and process mechanics are ``pybgp.demo.lab`` (the lab that
``pybgp demo --netns`` runs in): a ``Topology`` is a :class:`~pybgp.demo.lab.Lab` plus the names
and observations tests want (nodes, pods, interfaces, addresses, routes, ping, failure dumps).

Only private addresses are meant to be used inside (10.99.0.0/16, fd00:99::/64, pods in
10.244.0.0/16): the harness never adds anything outside the namespaces it created.
"""

from __future__ import annotations

import atexit
import contextlib
import ipaddress
import json
import os
import secrets
import shlex
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from pybgp.demo.lab import Lab, NetnsError, Process, list_namespaces, netns_unavailable

from .pybgp_proc import ManagedProcess

__all__ = ["CommandError", "Node", "Topology", "list_namespaces", "netns_supported"]

IFNAMSIZ = 15

CommandError = NetnsError
"""A command failed (``pybgp.demo.lab.NetnsError``: argv, returncode, stdout, stderr)."""


def netns_supported() -> str | None:
    """None when this process can create namespaces, else the exact reason it cannot."""
    return netns_unavailable()


def _split(cmd: str | Sequence[str]) -> list[str]:
    return shlex.split(cmd) if isinstance(cmd, str) else [str(part) for part in cmd]


class Node:
    """One network namespace: a host (node), a pod, or the switch holding the bridges."""

    def __init__(self, topology: Topology, name: str, namespace: str) -> None:
        self.topology = topology
        self.name = name
        self.namespace = namespace
        self.interfaces: list[str] = []
        self.addresses: list[ipaddress.IPv4Interface | ipaddress.IPv6Interface] = []

    # -- commands ------------------------------------------------------------------------
    def run(
        self,
        cmd: str | Sequence[str],
        check: bool = True,
        timeout: float = 30.0,
        env: Mapping[str, str] | None = None,
        input: str | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """Run ``cmd`` (a list, or a string split shell-like) in this namespace and wait."""
        return Lab.exec(
            self.namespace, _split(cmd), check=check, timeout=timeout, env=env, input=input
        )

    def ip(self, *args: str, check: bool = True) -> str:
        """``ip -n NS ARGS`` and its stdout."""
        return Lab.ip(self.namespace, *args, check=check)

    def sysctl(self, key: str, value: str | int) -> None:
        """Set a per-namespace sysctl (``ip netns exec NS sysctl -w key=value``)."""
        self.topology.lab.sysctl(self.namespace, key, value)

    def enable_forwarding(self) -> None:
        """IPv4 and IPv6 forwarding on in this namespace."""
        self.topology.lab.forwarding(self.namespace)

    def spawn(
        self,
        argv: Sequence[str],
        log_path: str | os.PathLike[str],
        env: Mapping[str, str] | None = None,
        name: str | None = None,
        cwd: str | os.PathLike[str] | None = None,
    ) -> ManagedProcess:
        """Start a long-running process in this namespace, tracked for teardown."""
        process = ManagedProcess(argv, log_path, netns=self.namespace, env=env, cwd=cwd, name=name)
        self.topology.track(process)
        return process.start()

    # -- observations --------------------------------------------------------------------
    def ping(self, address: str, count: int = 1, timeout: float = 1.0) -> bool:
        """True when ``count`` echo requests to ``address`` got at least one reply."""
        wait = max(1, round(timeout))
        argv = ["ping", "-n", "-q", "-c", str(count), "-W", str(wait)]
        if count > 1:
            argv += ["-i", "0.2"]
        if ipaddress.ip_address(address.split("%")[0]).version == 6:
            argv.insert(1, "-6")
        result = self.run([*argv, address], check=False, timeout=timeout * count + 10)
        return result.returncode == 0

    def routes(
        self, proto: str | int | None = None, family: int = 4, table: str | int | None = None
    ) -> list[dict[str, Any]]:
        """``ip -j -<family> route show [table T] [proto P]`` parsed."""
        args = ["-j", f"-{family}", "route", "show"]
        if table is not None:
            args += ["table", str(table)]
        if proto is not None:
            args += ["proto", str(proto)]
        text = self.ip(*args).strip()
        return list(json.loads(text)) if text else []

    def route_dsts(self, proto: str | int | None = None, family: int = 4) -> set[str]:
        """Destinations of ``routes()`` as a set of strings (``"10.244.1.0/26"``)."""
        return {str(route["dst"]) for route in self.routes(proto=proto, family=family)}

    @property
    def address(self) -> str:
        """The first IPv4 address given to this node (without the prefix length)."""
        for interface in self.addresses:
            if interface.version == 4:
                return str(interface.ip)
        raise LookupError(f"node {self.name} has no IPv4 address")

    @property
    def address6(self) -> str:
        """The first IPv6 address given to this node (without the prefix length)."""
        for interface in self.addresses:
            if interface.version == 6:
                return str(interface.ip)
        raise LookupError(f"node {self.name} has no IPv6 address")

    def debug_dump(self) -> str:
        """Addresses and routes, for failure reports."""
        parts = [f"===== node {self.name} (netns {self.namespace}) ====="]
        for args in (["-br", "addr"], ["-4", "route"], ["-6", "route"]):
            parts.append(f"--- ip {' '.join(args)}")
            parts.append(self.ip(*args, check=False).rstrip())
        return "\n".join(parts)

    # -- helpers -------------------------------------------------------------------------
    def _ifname(self, base: str) -> str:
        base = "".join(ch if ch.isalnum() or ch in "-_" else "-" for ch in base)[:IFNAMSIZ]
        candidate, index = base, 1
        while candidate in self.interfaces:
            suffix = f"-{index}"
            candidate = base[: IFNAMSIZ - len(suffix)] + suffix
            index += 1
        return candidate

    def _add_address(self, ifname: str, address: str) -> None:
        interface = ipaddress.ip_interface(address)
        extra = ["nodad"] if interface.version == 6 else []
        self.ip("addr", "add", str(interface), "dev", ifname, *extra)
        self.addresses.append(interface)

    def __repr__(self) -> str:
        return f"<Node {self.name} netns={self.namespace}>"


# Strong references: a topology that was never torn down must still be found at exit.
_LIVE: set[Topology] = set()


@atexit.register
def _teardown_all() -> None:  # pragma: no cover - last resort
    for topology in list(_LIVE):
        with contextlib.suppress(Exception):
            topology.teardown()


class Topology:
    """Namespaces, bridges, veths and processes of one test; torn down together.

    >>> with Topology() as topo:
    ...     a, b = topo.add_node("a"), topo.add_node("b")
    ...     topo.add_bridge("lan")
    ...     topo.connect(a, "lan", "10.99.0.1/24")
    ...     topo.connect(b, "lan", "10.99.0.2/24")
    ...     assert a.ping("10.99.0.2")
    """

    def __init__(
        self,
        workdir: str | os.PathLike[str] | None = None,
        prefix: str | None = None,
        keep_rundir: bool = False,
    ):
        """``workdir`` holds configs and logs (default: the private rundir, deleted at
        teardown unless ``keep_rundir``); ``prefix`` defaults to ``pbt-<6 hex>-``."""
        self.prefix = prefix or f"pbt-{secrets.token_hex(3)}-"
        # A short private directory for unix sockets (sun_path is 108 bytes) and, when no
        # workdir is given, for configs and logs too.
        self.rundir = Path(tempfile.mkdtemp(prefix=self.prefix))
        self.workdir = Path(workdir) if workdir is not None else self.rundir
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.lab = Lab(self.prefix)
        self.nodes: dict[str, Node] = {}
        self.pods: dict[str, Node] = {}
        self.bridges: list[str] = []
        self.debug_hooks: list[Callable[[], str]] = []
        self._switch: Node | None = None
        self._keep_rundir = keep_rundir
        self._torn_down = False
        _LIVE.add(self)

    @property
    def namespaces(self) -> list[str]:
        """Every namespace created (full names)."""
        return self.lab.namespaces

    @property
    def processes(self) -> list[Process]:
        """Every process started through this topology."""
        return self.lab.processes

    # -- building --------------------------------------------------------------------------
    def _namespace(self, name: str) -> str:
        return self.lab.namespace(name)

    def add_node(self, name: str, forwarding: bool = True) -> Node:
        """A new namespace ``<prefix><name>`` with lo up (and forwarding on by default)."""
        if name in self.nodes or name in self.pods:
            raise ValueError(f"node {name!r} already exists")
        node = Node(self, name, self._namespace(name))
        if forwarding:
            node.enable_forwarding()
        self.nodes[name] = node
        return node

    @property
    def switch(self) -> Node:
        """The namespace that holds every bridge (created on first use)."""
        if self._switch is None:
            self._switch = Node(self, "switch", self._namespace("switch"))
        return self._switch

    def add_bridge(self, name: str) -> str:
        """A bridge (STP and multicast snooping off) in the switch namespace."""
        if len(name) > IFNAMSIZ or name in self.bridges:
            raise ValueError(f"bad or duplicate bridge name {name!r}")
        self.lab.bridge(self.switch.namespace, name)
        self.switch.interfaces.append(name)
        self.bridges.append(name)
        return name

    def connect(
        self,
        node: Node,
        bridge: str,
        address: str | None = None,
        address6: str | None = None,
        ifname: str | None = None,
    ) -> str:
        """Plug ``node`` into ``bridge`` with a veth; returns the node-side interface name."""
        if bridge not in self.bridges:
            raise ValueError(f"no bridge {bridge!r}; call add_bridge first")
        inside = node._ifname(ifname or f"eth{len(node.interfaces)}")
        outside = self.switch._ifname(f"{node.name[:9]}-{inside}"[:IFNAMSIZ])
        self.lab.plug(node.namespace, inside, self.switch.namespace, outside, bridge)
        node.interfaces.append(inside)
        self.switch.interfaces.append(outside)
        for value in (address, address6):
            if value:
                node._add_address(inside, value)
        return inside

    def link(
        self,
        node_a: Node,
        node_b: Node,
        addr_a: str | None = None,
        addr_b: str | None = None,
        addr6_a: str | None = None,
        addr6_b: str | None = None,
    ) -> tuple[str, str]:
        """A point-to-point veth between two nodes; returns (ifname in a, ifname in b)."""
        name_a = node_a._ifname(f"to-{node_b.name}")
        name_b = node_b._ifname(f"to-{node_a.name}")
        self.lab.veth(node_a.namespace, name_a, node_b.namespace, name_b)
        node_a.interfaces.append(name_a)
        node_b.interfaces.append(name_b)
        for node, name, addresses in (
            (node_a, name_a, (addr_a, addr6_a)),
            (node_b, name_b, (addr_b, addr6_b)),
        ):
            for value in addresses:
                if value:
                    node._add_address(name, value)
        return name_a, name_b

    def add_route(
        self,
        node: Node,
        destination: str,
        via: str | None = None,
        dev: str | None = None,
        kind: str | None = None,
        table: str | int | None = None,
        proto: str | int | None = None,
        metric: int | None = None,
        onlink: bool = False,
    ) -> None:
        """``ip route add [kind] DEST [via V] [dev D] [table T] [proto P] [metric M] [onlink]``."""
        family = ipaddress.ip_network(destination, strict=False).version
        if destination == "default":
            family = 6 if via and ":" in via else 4
        args = [f"-{family}", "route", "add"]
        if kind:
            args.append(kind)
        args.append(destination)
        for key, value in (
            ("via", via),
            ("dev", dev),
            ("table", table),
            ("proto", proto),
            ("metric", metric),
        ):
            if value is not None:
                args += [key, str(value)]
        if onlink:
            args.append("onlink")
        node.ip(*args)

    def add_pod(self, node: Node, name: str, address: str, address6: str | None = None) -> Node:
        """A Calico-style pod namespace behind ``node``.

        The pod's ``eth0`` holds ``address`` as a /32 (and ``address6`` as a /128); its
        default route goes via 169.254.1.1 (fe80::1 for IPv6), which the node side of the
        veth (``cali<hex>``) owns; the node gets a host route to the pod over that veth and
        forwarding on.
        """
        pod = Node(self, name, self._namespace(name))
        self.pods[name] = pod
        node.enable_forwarding()
        host_side = node._ifname(f"cali{secrets.token_hex(5)}")
        v4 = str(ipaddress.ip_interface(address).ip)
        v6 = str(ipaddress.ip_interface(address6).ip) if address6 else None
        self.lab.pod(node.namespace, pod.namespace, host_side, v4, v6)
        pod.interfaces.append("eth0")
        node.interfaces.append(host_side)
        pod.addresses.append(ipaddress.ip_interface(f"{v4}/32"))
        if v6 is not None:
            pod.addresses.append(ipaddress.ip_interface(f"{v6}/128"))
        return pod

    # -- processes -------------------------------------------------------------------------
    def track(self, process: ManagedProcess) -> None:
        """Remember ``process`` so teardown stops it."""
        self.lab.track(process)

    def tracked_pids(self) -> list[int]:
        """Pids of every process started through this topology."""
        return self.lab.pids()

    # -- failure reports -------------------------------------------------------------------
    def debug_dump(self) -> str:
        """Every node's addresses and routes, then every registered daemon's state and logs."""
        parts: list[str] = [f"######## topology {self.prefix} (workdir {self.workdir})"]
        for node in [*self.nodes.values(), *self.pods.values()]:
            with contextlib.suppress(Exception):
                parts.append(node.debug_dump())
        for hook in self.debug_hooks:
            try:
                parts.append(hook())
            except Exception as error:
                parts.append(f"(debug hook failed: {error!r})")
        return "\n".join(parts)

    # -- teardown --------------------------------------------------------------------------
    def leftover_namespaces(self) -> list[str]:
        """Namespaces with our prefix that still exist."""
        return self.lab.leftover_namespaces()

    def teardown(self) -> None:
        """Stop every process, delete every namespace, verify none is left. Idempotent."""
        if self._torn_down:
            return
        errors = self.lab.cleanup(stop_timeout=3.0)
        self._torn_down = True
        _LIVE.discard(self)
        if not self._keep_rundir:
            shutil.rmtree(self.rundir, ignore_errors=True)
        if errors:
            raise RuntimeError("topology teardown incomplete: " + "; ".join(errors))

    def __enter__(self) -> Topology:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.teardown()

    def __iter__(self) -> Iterator[Node]:
        return iter(self.nodes.values())

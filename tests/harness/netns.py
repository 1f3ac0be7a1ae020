"""Topologies of network namespaces for end-to-end tests.

A ``Topology`` owns everything it creates, all named with one unique prefix
(``pbt-<6 hex>-``): a namespace per node, per pod and one "switch" namespace that holds the
bridges, so the host's root namespace networking is never touched (veth pairs are created from
inside a namespace straight into the peer namespace). Processes started in a node are tracked
by pid. ``teardown()`` (idempotent; also run by the context manager, the pytest fixture and,
as a last resort, ``atexit``) kills every tracked process and anything else still running in
our namespaces, deletes every namespace and checks none is left.

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
import signal
import subprocess
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from .pybgp_proc import ManagedProcess, pid_alive

__all__ = ["CommandError", "Node", "Topology", "list_namespaces", "netns_supported"]

IFNAMSIZ = 15


class CommandError(subprocess.CalledProcessError):
    """A command failed; ``str()`` includes its stderr and stdout."""

    def __str__(self) -> str:
        command = self.cmd if isinstance(self.cmd, str) else shlex.join(self.cmd)
        return (
            f"command {command!r} exited with {self.returncode}\n"
            f"stderr: {(self.stderr or '').strip()}\nstdout: {(self.output or '').strip()[:2000]}"
        )


def _run(
    argv: Sequence[str],
    *,
    check: bool = True,
    timeout: float = 30.0,
    env: Mapping[str, str] | None = None,
    input: str | None = None,
) -> subprocess.CompletedProcess[str]:
    environment = None
    if env is not None:
        environment = dict(os.environ)
        environment.update(env)
    result = subprocess.run(
        list(argv),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env=environment,
        input=input,
    )
    if check and result.returncode != 0:
        raise CommandError(result.returncode, list(argv), result.stdout, result.stderr)
    return result


def list_namespaces() -> list[str]:
    """Names of every named network namespace (``ip netns list``)."""
    result = _run(["ip", "netns", "list"], check=False)
    return [line.split()[0] for line in result.stdout.splitlines() if line.strip()]


def netns_supported() -> str | None:
    """None when this process can create namespaces, else the exact reason it cannot."""
    if os.geteuid() != 0:
        return f"network namespace tests need root (running as uid {os.geteuid()})"
    if shutil.which("ip") is None:
        return "the `ip` command (iproute2) is not installed"
    probe = f"pbt-probe-{secrets.token_hex(3)}"
    result = _run(["ip", "netns", "add", probe], check=False)
    if result.returncode != 0:
        return f"`ip netns add` failed: {result.stderr.strip() or result.returncode}"
    _run(["ip", "netns", "del", probe], check=False)
    return None


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
        argv = ["ip", "netns", "exec", self.namespace, *_split(cmd)]
        return _run(argv, check=check, timeout=timeout, env=env, input=input)

    def ip(self, *args: str, check: bool = True) -> str:
        """``ip -n NS ARGS`` and its stdout."""
        return _run(["ip", "-n", self.namespace, *args], check=check).stdout

    def sysctl(self, key: str, value: str | int) -> None:
        """Set a per-namespace sysctl (``ip netns exec NS sysctl -w key=value``)."""
        self.run(["sysctl", "-q", "-w", f"{key}={value}"])

    def enable_forwarding(self) -> None:
        """IPv4 and IPv6 forwarding on in this namespace."""
        self.sysctl("net.ipv4.ip_forward", 1)
        self.sysctl("net.ipv6.conf.all.forwarding", 1)

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
        self.nodes: dict[str, Node] = {}
        self.pods: dict[str, Node] = {}
        self.bridges: list[str] = []
        self.namespaces: list[str] = []
        self.processes: list[ManagedProcess] = []
        self.debug_hooks: list[Callable[[], str]] = []
        self._switch: Node | None = None
        self._keep_rundir = keep_rundir
        self._torn_down = False
        _LIVE.add(self)

    # -- building --------------------------------------------------------------------------
    def _namespace(self, name: str) -> str:
        if not name or not all(ch.isalnum() or ch in "-_" for ch in name):
            raise ValueError(f"bad name {name!r}: use letters, digits, '-' and '_'")
        namespace = f"{self.prefix}{name}"
        if namespace in self.namespaces:
            raise ValueError(f"{name!r} already exists in this topology")
        _run(["ip", "netns", "add", namespace])
        self.namespaces.append(namespace)
        ns = ["ip", "netns", "exec", namespace]
        _run([*ns, "ip", "link", "set", "lo", "up"])
        # No duplicate address detection: IPv6 addresses are usable at once.
        for key in ("net.ipv6.conf.all.accept_dad", "net.ipv6.conf.default.accept_dad"):
            _run([*ns, "sysctl", "-q", "-w", f"{key}=0"], check=False)
        return namespace

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
        self.switch.ip(
            "link", "add", name, "type", "bridge", "stp_state", "0", "mcast_snooping", "0"
        )
        self.switch.ip("link", "set", name, "up")
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
        node.ip(
            "link",
            "add",
            inside,
            "type",
            "veth",
            "peer",
            "name",
            outside,
            "netns",
            self.switch.namespace,
        )
        node.interfaces.append(inside)
        self.switch.interfaces.append(outside)
        self.switch.ip("link", "set", outside, "master", bridge, "up")
        for value in (address, address6):
            if value:
                node._add_address(inside, value)
        node.ip("link", "set", inside, "up")
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
        node_a.ip(
            "link", "add", name_a, "type", "veth", "peer", "name", name_b, "netns", node_b.namespace
        )
        node_a.interfaces.append(name_a)
        node_b.interfaces.append(name_b)
        for node, name, addresses in (
            (node_a, name_a, (addr_a, addr6_a)),
            (node_b, name_b, (addr_b, addr6_b)),
        ):
            for value in addresses:
                if value:
                    node._add_address(name, value)
            node.ip("link", "set", name, "up")
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
        pod.ip(
            "link",
            "add",
            "eth0",
            "type",
            "veth",
            "peer",
            "name",
            host_side,
            "netns",
            node.namespace,
        )
        pod.interfaces.append("eth0")
        node.interfaces.append(host_side)
        node.ip("link", "set", host_side, "up")
        node.ip("addr", "add", "169.254.1.1/32", "dev", host_side, "scope", "link")
        pod.ip("link", "set", "eth0", "up")
        v4 = ipaddress.ip_interface(address).ip
        pod._add_address("eth0", f"{v4}/32")
        pod.ip("route", "add", "169.254.1.1", "dev", "eth0", "scope", "link")
        pod.ip("route", "add", "default", "via", "169.254.1.1", "dev", "eth0")
        node.ip("route", "add", f"{v4}/32", "dev", host_side, "scope", "link")
        if address6:
            v6 = ipaddress.ip_interface(address6).ip
            node.ip("-6", "addr", "add", "fe80::1/64", "dev", host_side, "nodad")
            pod._add_address("eth0", f"{v6}/128")
            pod.ip("-6", "route", "add", "default", "via", "fe80::1", "dev", "eth0")
            node.ip("-6", "route", "add", f"{v6}/128", "dev", host_side)
        return pod

    # -- processes -------------------------------------------------------------------------
    def track(self, process: ManagedProcess) -> None:
        """Remember ``process`` so teardown stops it."""
        self.processes.append(process)

    def tracked_pids(self) -> list[int]:
        """Pids of every process started through this topology."""
        return [process.pid for process in self.processes if process.started]

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
        return [name for name in list_namespaces() if name.startswith(self.prefix)]

    def teardown(self) -> None:
        """Stop every process, delete every namespace, verify none is left. Idempotent."""
        if self._torn_down:
            return
        errors: list[str] = []
        for process in reversed(self.processes):
            try:
                process.stop(timeout=3.0)
            except Exception as error:
                errors.append(f"stopping {process!r}: {error!r}")
        # Anything else still running inside our namespaces (a hung ping, a child that
        # escaped its process group) was started by this test: kill it by pid.
        for namespace in self.namespaces:
            result = _run(["ip", "netns", "pids", namespace], check=False)
            for pid in (int(word) for word in result.stdout.split() if word.isdigit()):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        for namespace in reversed(self.namespaces):
            result = _run(["ip", "netns", "del", namespace], check=False)
            if result.returncode != 0 and namespace in list_namespaces():
                errors.append(f"ip netns del {namespace}: {result.stderr.strip()}")
        left = self.leftover_namespaces()
        if left:
            errors.append(f"namespaces left behind: {left}")
        alive = [
            process.pid for process in self.processes if process.started and pid_alive(process.pid)
        ]
        if alive:
            errors.append(f"processes still alive: {alive}")
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

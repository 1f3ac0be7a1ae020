"""``pybgp demo --netns``: the demo cluster for real, in Linux network namespaces.

Every node is a network namespace plugged into a shared bridge (the bridge lives in a namespace
of its own, so the host's networking is never touched) and runs ``python -m pybgp run -c FILE``
as a separate process: a full iBGP mesh, each node announcing its /26 pod block (with a
blackhole route for the block, as Calico does) and installing the other nodes' blocks in its
own kernel routing table. Behind every node sits a "pod": a namespace with a veth whose node
end answers for 169.254.1.1, Calico style. When every node has a route to every other block,
the demo shows each node's sessions and kernel routes and pings from a pod on one node to a
pod on another. Everything it created is removed at exit, also on Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Any, TextIO

import attrs

from pybgp.control import ControlError, request
from pybgp.demo.lab import Lab, NetnsError, netns_unavailable

ASN = 64512
NODES = 3
LAN = "10.99.0."
PROTO = 186


@attrs.frozen
class _Node:
    index: int
    namespace: str
    pod_namespace: str
    workdir: Path

    @property
    def name(self) -> str:
        return f"node-{self.index}"

    @property
    def address(self) -> str:
        return f"{LAN}{self.index}"

    @property
    def block(self) -> str:
        return f"10.244.{self.index}.0/26"

    @property
    def pod_address(self) -> str:
        return f"10.244.{self.index}.2"

    @property
    def socket(self) -> str:
        return str(self.workdir / f"{self.name}.sock")


def _toml_string(value: str) -> str:
    return json.dumps(value)  # a JSON string is a valid TOML basic string


def node_config(node: _Node, others: list[_Node]) -> str:
    """The TOML config a node runs with: what an operator would write for a Calico node."""
    lines = [
        "[speaker]",
        f"asn = {ASN}",
        f'router_id = "{node.address}"',
        f'listen_address = "{node.address}"',
        f"control_socket = {_toml_string(node.socket)}",
        "hold_time = 9",
        "connect_delay = 0",
        "connect_retry_time = 1",
        "error_wait_min = 0.5",
        "error_wait_max = 2",
    ]
    for other in others:
        lines += [
            "",
            "[[peers]]",
            f'address = "{other.address}"',
            f"asn = {ASN}",
            f'local_address = "{node.address}"',
            f'description = "{other.name}"',
        ]
    lines += [
        "",
        "[originate]",
        f'prefixes = ["{node.block}"]',
        "blackhole = true",
        "",
        "[kernel]",
        'adapter = "netlink"',
        'encapsulation = "none"',
        f"protocol = {PROTO}",
    ]
    return "\n".join(lines) + "\n"


@contextmanager
def _signals_interrupt() -> Iterator[None]:
    """SIGTERM and SIGHUP raise KeyboardInterrupt (as Ctrl-C does) so cleanup always runs."""

    def handler(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def _say(out: TextIO, text: str = "") -> None:
    print(text, file=out, flush=True)


def _kernel_routes(lab: Lab, node: _Node) -> list[dict[str, Any]]:
    text = lab.ip(node.namespace, "-j", "-4", "route", "show", "proto", str(PROTO))
    routes: list[dict[str, Any]] = json.loads(text or "[]")
    return routes


def _learned(lab: Lab, node: _Node) -> dict[str, str]:
    """block -> gateway of the routes pybgp installed in a node's kernel (blackholes left out)."""
    return {
        str(route["dst"]): str(route["gateway"])
        for route in _kernel_routes(lab, node)
        if "gateway" in route
    }


def _build(lab: Lab, nodes: list[_Node], out: TextIO) -> None:
    switch = lab.namespace("switch")
    lab.bridge(switch, "br0")
    _say(out, f"  switch     {switch}: bridge br0, the network the nodes share")
    for node in nodes:
        lab.namespace(node.namespace.removeprefix(lab.prefix), forwarding=True)
        lab.plug(node.namespace, "eth0", switch, f"n{node.index}", "br0")
        lab.ip(node.namespace, "addr", "add", f"{node.address}/24", "dev", "eth0")
        # The pod: its own namespace, a veth whose node end owns 169.254.1.1 (Calico style),
        # the pod address as a /32 and a default route through 169.254.1.1.
        lab.namespace(node.pod_namespace.removeprefix(lab.prefix))
        host_side = f"cali{node.index}"
        lab.pod(node.namespace, node.pod_namespace, host_side, node.pod_address)
        _say(
            out,
            f"  {node.name:<10} {node.namespace}: eth0 {node.address}/24, pod block {node.block}, "
            f"pod {node.pod_address} behind {host_side}",
        )


def _start(lab: Lab, nodes: list[_Node], out: TextIO) -> None:
    # The child must import this very pybgp, also when it runs from a checkout.
    package_root = str(Path(__file__).resolve().parents[1])
    pythonpath = os.pathsep.join(p for p in (package_root, os.environ.get("PYTHONPATH")) if p)
    for node in nodes:
        others = [other for other in nodes if other is not node]
        config = node.workdir / f"{node.name}.toml"
        config.write_text(node_config(node, others))
        process = lab.spawn(
            node.namespace,
            node.name,
            [sys.executable, "-m", "pybgp", "run", "-c", str(config)],
            node.workdir / f"{node.name}.log",
            env={"PYTHONPATH": pythonpath, "PYTHONUNBUFFERED": "1"},
        )
        _say(out, f"  {node.name}: pybgp run -c {config}  (pid {process.pid})")


def _wait_converged(
    lab: Lab, nodes: list[_Node], timeout: float, out: TextIO
) -> tuple[bool, float]:
    want = {
        node.name: {other.block: other.address for other in nodes if other is not node}
        for node in nodes
    }
    total = sum(len(blocks) for blocks in want.values())
    tty = out.isatty()
    started = time.monotonic()
    last = ""
    while True:
        for process in lab.processes:
            if not process.running:
                raise NetnsError(f"{process.name} exited:\n{process.logs()[-3000:]}")
        good = 0
        for node in nodes:
            learned = _learned(lab, node)
            good += sum(1 for block, hop in want[node.name].items() if learned.get(block) == hop)
        elapsed = time.monotonic() - started
        line = f"kernel routes to other nodes' pod blocks: {good}/{total}"
        if line != last or tty:
            last = line
            if tty:
                out.write(f"\r  {line}  ({elapsed:.1f} s)\x1b[K")
                out.flush()
            else:
                _say(out, f"  {line}  ({elapsed:.1f} s)")
        if good == total:
            if tty:
                out.write("\n")
            return True, elapsed
        if elapsed > timeout:
            if tty:
                out.write("\n")
            return False, elapsed
        time.sleep(0.2)  # polling the kernel tables: the condition is checked each round


def _show_node(lab: Lab, node: _Node, names: dict[str, str], out: TextIO) -> None:
    _say(out, f"\n{node.name} ({node.address}), namespace {node.namespace}")
    try:
        status = request(node.socket, "status", timeout=5.0)
        for peer in status["peers"]:
            who = names.get(peer["address"], peer["address"])
            _say(
                out,
                f"  session with {who:<7} {peer['address']:<11} {peer['state']:<12} "
                f"received {peer['received']}, advertised {peer['advertised']}",
            )
    except ControlError as error:
        _say(out, f"  (no answer on the control socket: {error})")
    _say(out, f"  $ ip route show proto {PROTO}")
    for line in lab.ip(node.namespace, "route", "show", "proto", str(PROTO)).splitlines():
        gateway = line.split(" via ")[1].split()[0] if " via " in line else None
        note = "its own block: traffic for pods it does not have is dropped"
        if gateway is not None:
            note = f"{names.get(gateway, '?')}'s pod block, via {names.get(gateway, '?')}"
        _say(out, f"    {line.strip():<48} # {note}")


def _ping(lab: Lab, source: _Node, target: _Node, out: TextIO) -> bool:
    _say(
        out,
        f"\nping from the pod on {source.name} ({source.pod_address}) to the pod on "
        f"{target.name} ({target.pod_address}):",
    )
    result = lab.exec(
        source.pod_namespace,
        ["ping", "-n", "-c", "3", "-i", "0.2", "-W", "2", target.pod_address],
        check=False,
        timeout=20,
    )
    summary = [
        line for line in result.stdout.splitlines() if "transmitted" in line or "rtt" in line
    ]
    for line in summary:
        _say(out, f"  {line}")
    if result.returncode == 0:
        _say(
            out,
            f"  ping succeeded: {source.pod_address} -> {source.name} -> {target.name} -> "
            f"{target.pod_address}, routed by the kernel along the routes pybgp installed",
        )
        return True
    _say(out, f"  ping FAILED (exit {result.returncode}) {result.stderr.strip()}")
    return False


def run_netns_demo(timeout: float = 30.0, out: TextIO | None = None) -> int:
    """Entry point of ``pybgp demo --netns``; returns the exit code (0 = converged and pinged)."""
    stream = out if out is not None else sys.stdout
    reason = netns_unavailable()
    if reason is not None:
        print(f"pybgp demo --netns: {reason}", file=sys.stderr)
        print("  (`pybgp demo` without --netns runs the same cluster on loopback)", file=sys.stderr)
        return 1
    prefix = f"pybgp-demo-{os.getpid()}-"
    workdir = Path(tempfile.mkdtemp(prefix="pybgp-demo-"))
    lab = Lab(prefix)
    nodes = [_Node(i, f"{prefix}node{i}", f"{prefix}pod{i}", workdir) for i in range(1, NODES + 1)]
    names = {node.address: node.name for node in nodes}
    ok = False
    try:
        with _signals_interrupt():
            _say(
                stream,
                f"pybgp demo --netns: a Calico-style cluster of {NODES} nodes, each a network "
                f"namespace running its own pybgp process (AS {ASN}, full iBGP mesh)",
            )
            _say(stream, "\nbuilding the network (names start with " + prefix + "):")
            _build(lab, nodes, stream)
            _say(stream, f"\nstarting one speaker per node (configs and logs in {workdir}):")
            _start(lab, nodes, stream)
            _say(stream, "\nwaiting until every node's kernel has a route to every other block:")
            converged, elapsed = _wait_converged(lab, nodes, timeout, stream)
            for node in nodes:
                _show_node(lab, node, names, stream)
            if not converged:
                _say(stream, f"\nthe cluster did not converge within {timeout:g} s")
                for process in lab.processes:
                    _say(stream, f"--- {process.name} log (tail)\n{process.logs()[-2000:]}")
                return 1
            _say(
                stream,
                f"\nconverged in {elapsed:.1f} s: every node routes every other node's pod "
                "block to that node.",
            )
            ok = _ping(lab, nodes[0], nodes[1], stream)
            ok = _ping(lab, nodes[2], nodes[0], stream) and ok
            return 0 if ok else 1
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130
    except (NetnsError, OSError) as error:
        print(f"\npybgp demo --netns failed: {error}", file=sys.stderr)
        return 1
    finally:
        # Runs on success, failure, Ctrl-C and SIGTERM alike; a second Ctrl-C during the
        # cleanup is ignored so that it always completes.
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
        try:
            _say(stream, "\ncleaning up: stopping the speakers and deleting the namespaces ...")
            problems = lab.cleanup()
            shutil.rmtree(workdir, ignore_errors=True)
            if problems:
                print("cleanup incomplete: " + "; ".join(problems), file=sys.stderr)
            else:
                _say(stream, "done: nothing of the demo is left on this host.")
        finally:
            signal.signal(signal.SIGINT, previous)

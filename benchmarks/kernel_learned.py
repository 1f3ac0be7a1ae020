"""Learned routes into the kernel: ``pybgp run`` beside BIRD 2, each fed by one BGP sender.

Used by ``benchmarks/kernel.py --learned``. For each daemon, two namespaces joined by a veth
pair: the daemon's (10.0.0.1/24) and its sender's (10.0.0.2/24). The sender (this file run as a
script, inside the sender namespace) pre-encodes N /32 routes with NEXT_HOP 10.0.0.2 and their
withdrawals, listens on port 179, completes the iBGP handshake (AS 65000) with the daemon, then
writes every UPDATE at once when told "in" (or every withdrawal on "out") on its stdin. The
daemon installs what it learns: BIRD with ``protocol kernel`` (export all), pybgp with
``[kernel] adapter = "netlink"``. Each round is timed from the command to the sender until a
netlink socket in the daemon's namespace has seen N RTM_NEWROUTE (RTM_DELROUTE) of the daemon's
protocol, as ``benchmarks/kernel.py`` does for the plain kernel figures.
"""

from __future__ import annotations

import os
import select
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from functools import partial
from ipaddress import IPv4Address
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout

from pybgp.kernel import rtnl
from pybgp.wire import (
    IPV4_UNICAST,
    KEEPALIVE_MESSAGE,
    AsPath,
    LocalPref,
    MessageReader,
    MessageType,
    MultiprotocolCapability,
    NextHop,
    Open,
    Origin,
    PathAttributes,
    encode_open,
)
from pybgp.wire.negotiated import Negotiated
from pybgp.wire.update import pack_update_messages

ASN = 65000
HOLD = 240
RTPROT_BIRD = 12
RTPROT_BGP = 186


def sh(*args: str) -> None:
    subprocess.run(args, check=True, capture_output=True)


def make_pair(daemon: str, sender: str) -> None:
    """Two namespaces joined by a veth: the daemon at 10.0.0.1, its sender at 10.0.0.2."""
    for name in (daemon, sender):
        sh("ip", "netns", "add", name)
        sh("ip", "-n", name, "link", "set", "lo", "up")
    sh(
        "ip",
        "-n",
        daemon,
        "link",
        "add",
        "va",
        "type",
        "veth",
        "peer",
        "name",
        "vb",
        "netns",
        sender,
    )
    sh("ip", "-n", daemon, "addr", "add", "10.0.0.1/24", "dev", "va")
    sh("ip", "-n", sender, "addr", "add", "10.0.0.2/24", "dev", "vb")
    sh("ip", "-n", daemon, "link", "set", "va", "up")
    sh("ip", "-n", sender, "link", "set", "vb", "up")


# -- the sender (a separate process, in the sender's namespace) -----------------------------


def sender_main(count: int) -> None:
    negotiated = Negotiated(local_as=ASN, peer_as=ASN)
    attributes = PathAttributes(
        (Origin(0), AsPath(()), NextHop(IPv4Address("10.0.0.2")), LocalPref(100))
    )
    keys = [b"\x20" + (0x64000000 + i).to_bytes(4, "big") for i in range(count)]
    announce = b"".join(pack_update_messages(IPV4_UNICAST, attributes, keys, (), negotiated))
    withdraw = b"".join(pack_update_messages(IPV4_UNICAST, attributes, (), keys, negotiated))
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("10.0.0.2", 179))
    server.listen(1)
    server.settimeout(120)
    print("LISTENING", flush=True)
    conn, _ = server.accept()
    server.close()
    conn.settimeout(60)
    conn.sendall(
        encode_open(
            Open.create(ASN, HOLD, IPv4Address("10.0.0.2"), (MultiprotocolCapability(1, 1),))
        )
    )
    reader = MessageReader()
    got_open = got_keepalive = False
    while not (got_open and got_keepalive):
        data = conn.recv(65536)
        if not data:
            sys.exit("sender: connection closed during the handshake")
        for raw in reader.feed(data):
            if raw.type == MessageType.OPEN:
                got_open = True
                conn.sendall(KEEPALIVE_MESSAGE)
            elif raw.type == MessageType.KEEPALIVE:
                got_keepalive = got_open
            elif raw.type == MessageType.NOTIFICATION:
                sys.exit("sender: NOTIFICATION during the handshake")
    conn.settimeout(None)
    lock = threading.Lock()

    def drain() -> None:
        try:
            while conn.recv(65536):
                pass
        except OSError:
            pass

    threading.Thread(target=drain, daemon=True).start()
    print("UP", flush=True)
    while True:  # commands, with a KEEPALIVE every HOLD/3 seconds of silence
        ready, _, _ = select.select([sys.stdin], [], [], HOLD / 3)
        if not ready:
            with lock:
                conn.sendall(KEEPALIVE_MESSAGE)
            continue
        command = sys.stdin.readline().strip()
        if command not in ("in", "out"):
            break
        with lock:
            conn.sendall(announce if command == "in" else withdraw)
    conn.close()


# -- the runner (in benchmarks/kernel.py's process) -----------------------------------------


def bird_config(log: str) -> str:
    return (
        f'log "{log}" all;\n'
        "router id 10.0.0.1;\n"
        "protocol device { scan time 10; }\n"
        "protocol kernel k4 { ipv4 { import none; export all; }; }\n"
        f"protocol bgp sender {{ local 10.0.0.1 as {ASN}; neighbor 10.0.0.2 as {ASN}; direct;\n"
        f"  hold time {HOLD}; connect retry time 1;\n"
        "  ipv4 { import all; export none; gateway direct; }; }\n"
    )


def pybgp_config(control: str) -> str:
    return (
        "[speaker]\n"
        f'asn = {ASN}\nrouter_id = "10.0.0.1"\nlisten_address = ""\n'
        f'control_socket = "{control}"\nhold_time = {HOLD}\nconnect_delay = 0\n'
        "[[peers]]\n"
        f'address = "10.0.0.2"\nasn = {ASN}\nlocal_address = "10.0.0.1"\n'
        "[kernel]\n"
        'adapter = "netlink"\n'
    )


class Sender:
    def __init__(self, netns: str, count: int) -> None:
        self.process = subprocess.Popen(
            ["ip", "netns", "exec", netns, sys.executable, __file__, str(count)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.expect("LISTENING")

    def expect(self, word: str) -> None:
        assert self.process.stdout is not None
        line = self.process.stdout.readline().strip()
        if line != word:
            raise RuntimeError(f"sender said {line!r}, not {word!r} (exit {self.process.poll()})")

    def send(self, command: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(command + "\n")
        self.process.stdin.flush()

    def stop(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def stop(process: subprocess.Popen[Any]) -> None:
    process.terminate()
    try:
        process.wait(15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def learned(
    base: str,
    count: int,
    runs: int,
    cycles: int,
    bird: bool,
    watcher_class: Any,
    cpu_seconds: Any,
) -> dict[str, list[float]]:
    """Rounds of N learned routes in and out, for BIRD (when ``bird``) and ``pybgp run``
    (``cycles`` rounds for pybgp's memory, the first ``runs`` timed)."""
    figures: dict[str, list[float]] = {}
    workdir = tempfile.mkdtemp(prefix="pybgp-bench-")
    daemons = (["bird"] if bird else []) + ["pybgp"]
    try:
        for daemon in daemons:
            netns, sender_ns = f"{base}-learn-{daemon}", f"{base}-learn-{daemon}-tx"
            watcher = sender = process = None
            try:
                make_pair(netns, sender_ns)
                watcher = watcher_class(netns)
                sender = Sender(sender_ns, count)
                if daemon == "bird":
                    config = os.path.join(workdir, "bird.conf")
                    Path(config).write_text(bird_config(os.path.join(workdir, "bird.log")))
                    command = ["bird", "-f", "-c", config, "-s", os.path.join(workdir, "b.ctl")]
                    protocol = RTPROT_BIRD
                else:
                    config = os.path.join(workdir, "pybgp.toml")
                    Path(config).write_text(pybgp_config(os.path.join(workdir, "p.ctl")))
                    command = [sys.executable, "-m", "pybgp", "run", "-c", config]
                    protocol = RTPROT_BGP
                process = subprocess.Popen(
                    ["ip", "netns", "exec", netns, *command],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                    cwd=str(Path(__file__).resolve().parent.parent),
                )
                sender.expect("UP")
                time.sleep(0.5)  # the daemon's own KEEPALIVE and End-of-RIB go by first
                figures[f"rss {daemon}"] = [rss_mib(process.pid)]
                rounds = max(runs, cycles) if daemon == "pybgp" else runs
                for number in range(rounds):
                    for way, kind in (("in", rtnl.RTM_NEWROUTE), ("out", rtnl.RTM_DELROUTE)):
                        before = cpu_seconds(process.pid)
                        seconds = watcher.timed(partial(sender.send, way), kind, protocol, count)
                        cpu = cpu_seconds(process.pid) - before
                        if number < runs:
                            figures.setdefault(f"{daemon} {way}", []).append(seconds)
                            figures.setdefault(f"cpu {daemon} {way}", []).append(cpu)
                    figures[f"rss {daemon}"].append(rss_mib(process.pid))
            finally:
                if sender is not None:
                    sender.stop()
                if process is not None:
                    stop(process)
                if watcher is not None:
                    watcher.close()
                for name in (netns, sender_ns):
                    subprocess.run(["ip", "netns", "del", name], check=False, capture_output=True)
    finally:
        subprocess.run(["rm", "-rf", workdir], check=False)
    return figures


def ratio(ours: float, reference: float) -> str:
    """``ours / reference`` as ``1.23x``; ``n/a`` when the reference measured zero (a CPU
    time below the clock tick on a small run)."""
    return f"{ours / reference:.2f}x" if reference > 0 else "n/a"


def report(figures: dict[str, list[float]], count: int) -> None:
    print(f"{count:,} routes learned over iBGP into the kernel, then all withdrawn (medians)")
    print(f"{'':<28}{'in':>10}{'out':>10}{'CPU in':>10}{'CPU out':>10}")
    medians = {
        key: statistics.median(values)
        for key, values in figures.items()
        if not key.startswith("rss")
    }
    for label, key in (("BIRD 2 (bgp + kernel)", "bird"), ("pybgp run", "pybgp")):
        if f"{key} in" in medians:
            print(
                f"{label:<28}{medians[key + ' in']:>9.3f}s{medians[key + ' out']:>9.3f}s"
                f"{medians['cpu ' + key + ' in']:>9.2f}s{medians['cpu ' + key + ' out']:>9.2f}s"
            )
    if "bird in" in medians:
        ratios = [ratio(medians[f"pybgp {w}"], medians[f"bird {w}"]) for w in ("in", "out")]
        cpu = [ratio(medians[f"cpu pybgp {w}"], medians[f"cpu bird {w}"]) for w in ("in", "out")]
        print(f"{'pybgp / BIRD':<28}{ratios[0]:>10}{ratios[1]:>10}{cpu[0]:>10}{cpu[1]:>10}")
    for label, key in (("BIRD 2", "rss bird"), ("pybgp run", "rss pybgp")):
        if key in figures:
            rss = figures[key]
            print(
                f"{label} RSS: {rss[0]:.1f} MiB with the session up, after each withdrawal "
                f"{' '.join(f'{value:.0f}' for value in rss[1:])} MiB"
            )


if __name__ == "__main__":
    sender_main(int(sys.argv[1]))

"""A full table into `pybgp run` and into BIRD 2, side by side, same sender, same clock.

pybgp is measured as users run it (``pybgp run -c FILE``), beside BIRD 2 in the same run.
Two network namespaces joined by a veth: ``snd`` (10.77.0.1) holds the sender of
``benchmarks/ingest.py`` (unicast prefixes only, as BIRD refuses martians; the table
pre-encoded before the session starts, written with one ``sendall``); ``spk`` (10.77.0.2)
holds the speaker under test: ``pybgp run`` (kernel adapter "none": this is BGP ingest, not
kernel sync) and BIRD 2 (``export none``, no kernel protocol), one after the other,
alternating which goes first from run to run. Both are iBGP in AS 65000.

How each figure is taken, the same way for both:

* time: from the moment the sender is told "go" until the speaker reports the whole table in
  its RIB: pybgp's ``status`` over the control socket (``rib.ipv4``), BIRD's
  ``birdc show route count``, each polled every 20 ms. The poll is part of the measurement on
  both sides (a real operator asks too); its round trips on the pybgp side are the
  "status during ingest" figure of issue 13's fairness target;
* memory: the speaker process's peak RSS (VmHWM, reset through /proc/PID/clear_refs just
  before "go") minus its RSS before "go", per prefix;
* CPU: user + system time of the speaker process over the same interval.

    python benchmarks/ingest_run.py [--prefixes N] [--runs N]

Needs root (namespaces) and BIRD 2 (``apt-get install bird2``). Everything it starts is
stopped by pid and both namespaces are deleted, also on failure or Ctrl-C.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # run from a checkout

from procstat import cpu_seconds, finish_lab, proc_bytes, ratio, reap  # noqa: E402

from pybgp.demo.lab import Lab, netns_unavailable  # noqa: E402

SENDER_ADDRESS, SPEAKER_ADDRESS = "10.77.0.1", "10.77.0.2"
POLL = 0.02
TIMEOUT = float(os.environ.get('PYBGP_BENCH_TIMEOUT', 300))






class Sender:
    """benchmarks/ingest.py --sender, in the sender namespace."""

    def __init__(self, namespace: str, prefixes: int) -> None:
        argv = ["ip", "netns", "exec", namespace, sys.executable, str(HERE / "ingest.py"),
                "--sender", "--unicast", "--address", SENDER_ADDRESS, "--prefixes", str(prefixes)]
        self.process = subprocess.Popen(
            argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline().split()
        if not line or line[0] != "READY":
            self.stop()
            raise RuntimeError(f"sender did not start: {line}")
        self.port = int(line[1])

    def go(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write("go\n")
        self.process.stdin.flush()

    def stop(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()  # the sender's signal to finish
        reap(self.process, 10, terminate=False)


class Pybgp:
    name = "pybgp run"

    def __init__(self, namespace: str, workdir: Path, port: int) -> None:
        self.socket = workdir / "pybgp.sock"
        config = workdir / "pybgp.toml"
        config.write_text(
            f'[speaker]\nasn = 65000\nrouter_id = "{SPEAKER_ADDRESS}"\nlisten_address = ""\n'
            f'control_socket = "{self.socket}"\nhold_time = 240\n'
            f'[kernel]\nadapter = "none"\n'
            f'[[peers]]\naddress = "{SENDER_ADDRESS}"\nport = {port}\nasn = 65000\n'
            f'local_address = "{SPEAKER_ADDRESS}"\n'
        )
        self.log = (workdir / "pybgp.log").open("w")
        self.process = subprocess.Popen(
            ["ip", "netns", "exec", namespace, sys.executable, "-m", "pybgp", "run", "-c",
             str(config)],
            stdout=self.log, stderr=subprocess.STDOUT, cwd=HERE.parent,
        )
        self.latencies: list[float] = []

    def _status(self) -> dict[str, Any]:
        started = time.perf_counter()
        with socket.socket(socket.AF_UNIX) as sock:
            sock.settimeout(30)
            sock.connect(str(self.socket))
            sock.sendall(b'{"command": "status"}\n')
            data = b""
            while not data.endswith(b"\n"):
                chunk = sock.recv(65536)
                if not chunk:
                    break
                data += chunk
        self.latencies.append(time.perf_counter() - started)
        result: dict[str, Any] = json.loads(data)["result"]
        return result

    def established(self) -> bool:
        try:
            return any(p["state"] == "Established" for p in self._status()["peers"])
        except OSError:
            return False

    def count(self) -> int:
        return int(self._status()["rib"]["ipv4"])

    def stop(self) -> None:
        reap(self.process)
        self.log.close()


class Bird:
    name = "BIRD 2"

    def __init__(self, namespace: str, workdir: Path, port: int) -> None:
        self.socket = workdir / "bird.ctl"
        config = workdir / "bird.conf"
        config.write_text(
            f"router id {SPEAKER_ADDRESS};\n"
            "protocol device {}\n"
            # every next hop resolves through this default route (recursive gateways)
            f"protocol static {{ ipv4; route 0.0.0.0/0 via {SENDER_ADDRESS}; }}\n"
            "protocol bgp feed {\n"
            f"  local {SPEAKER_ADDRESS} as 65000;\n"
            f"  neighbor {SENDER_ADDRESS} port {port} as 65000;\n"
            "  hold time 240;\n"
            "  ipv4 { import all; export none; };\n"
            "}\n"
        )
        self.log = (workdir / "bird.log").open("w")
        self.process = subprocess.Popen(
            ["ip", "netns", "exec", namespace, "bird", "-f", "-c", str(config), "-s",
             str(self.socket)],
            stdout=self.log, stderr=subprocess.STDOUT,
        )

    def _birdc(self, *command: str) -> str:
        result = subprocess.run(["birdc", "-s", str(self.socket), *command],
                                capture_output=True, text=True, timeout=30, check=False)
        return result.stdout

    def established(self) -> bool:
        return "Established" in self._birdc("show", "protocols", "feed")

    def count(self) -> int:
        # the protocol's import counter ("Routes: N imported, ..."): O(1) like pybgp's status,
        # where "show route count" would walk the whole table on every poll
        for line in self._birdc("show", "protocols", "all", "feed").splitlines():
            words = line.replace(",", " ").split()
            if len(words) > 2 and words[0] == "Routes:" and words[2] == "imported":
                return int(words[1])
        return 0

    def stop(self) -> None:
        reap(self.process)
        self.log.close()


def _wait(condition: Any, what: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(what)
        time.sleep(POLL)


def one(kind: type[Pybgp] | type[Bird], lab_ns: tuple[str, str], prefixes: int,
        workdir: Path) -> dict[str, float]:
    sender_ns, speaker_ns = lab_ns
    sender = Sender(sender_ns, prefixes)
    speaker = kind(speaker_ns, workdir, sender.port)
    try:
        _wait(speaker.established, f"{kind.name} never reached Established", 60)
        pid = speaker.process.pid
        before = proc_bytes(pid, "VmRSS")
        Path(f"/proc/{pid}/clear_refs").write_text("5")
        cpu = cpu_seconds(pid)
        if isinstance(speaker, Pybgp):
            speaker.latencies.clear()
        started = time.perf_counter()
        sender.go()
        try:
            _wait(lambda: speaker.count() >= prefixes, f"{kind.name}: table incomplete", TIMEOUT)
        except TimeoutError:
            print(f"{kind.name} holds {speaker.count()} of {prefixes} prefixes", file=sys.stderr)
            raise
        elapsed = time.perf_counter() - started
        figures = {
            "seconds": elapsed,
            "bytes_per_prefix": (proc_bytes(pid, "VmHWM") - before) / prefixes,
            "cpu": cpu_seconds(pid) - cpu,
        }
        if isinstance(speaker, Pybgp) and speaker.latencies:
            figures["status_median_ms"] = statistics.median(speaker.latencies) * 1000
            figures["status_max_ms"] = max(speaker.latencies) * 1000
        return figures
    finally:
        speaker.stop()
        sender.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--prefixes", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    problem = netns_unavailable()
    if problem or shutil.which("bird") is None:
        print(f"skipped: {problem or 'BIRD 2 is not installed'}")
        return 0
    lab = Lab(f"pbi{os.getpid() % 100000}-")
    workdir = Path(tempfile.mkdtemp(prefix="pybgp-ingest-run-"))
    results: dict[str, list[dict[str, float]]] = {"pybgp run": [], "BIRD 2": []}
    try:
        sender_ns = lab.namespace("snd")
        speaker_ns = lab.namespace("spk")
        lab.veth(sender_ns, "eth0", speaker_ns, "eth0")
        lab.ip(sender_ns, "addr", "add", f"{SENDER_ADDRESS}/24", "dev", "eth0")
        lab.ip(speaker_ns, "addr", "add", f"{SPEAKER_ADDRESS}/24", "dev", "eth0")
        load = os.getloadavg()
        print(f"{args.prefixes:,} IPv4 prefixes, iBGP, over a veth between namespaces; "
              f"{os.cpu_count()} CPUs, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
        for run in range(args.runs):
            order: list[type[Pybgp] | type[Bird]] = [Pybgp, Bird] if run % 2 == 0 else [Bird, Pybgp]
            for kind in order:
                figures = one(kind, (sender_ns, speaker_ns), args.prefixes, workdir)
                results[kind.name].append(figures)
                extra = ""
                if "status_median_ms" in figures:
                    extra = (f"  status during ingest median {figures['status_median_ms']:.0f} ms"
                             f" max {figures['status_max_ms']:.0f} ms")
                print(f"  run {run + 1} {kind.name:9}: {figures['seconds']:6.2f} s  "
                      f"CPU {figures['cpu']:5.2f} s  {figures['bytes_per_prefix']:5.0f} B/prefix"
                      + extra, flush=True)
    finally:
        finish_lab(lab, workdir)
    print(f"medians of {args.runs}:")
    medians = {name: {key: statistics.median(r[key] for r in runs) for key in runs[0]}
               for name, runs in results.items()}
    for key, label in (("seconds", "time"), ("cpu", "CPU"), ("bytes_per_prefix", "B/prefix")):
        ours, bird = medians["pybgp run"][key], medians["BIRD 2"][key]
        print(f"  {label:9} pybgp run {ours:8.2f}   BIRD 2 {bird:8.2f}   "
              f"ratio {ratio(ours, bird)}")
    print(f"  status round trip during pybgp's ingest: median "
          f"{medians['pybgp run']['status_median_ms']:.0f} ms, max "
          f"{medians['pybgp run']['status_max_ms']:.0f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())

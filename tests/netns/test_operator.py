"""The operator surface against a running speaker with BIRD 2 peers (issue "Operators can see
and steer every route"): every client command of CONTRACT.md through ``python -m pybgp``, the
JSON shapes pinned, MRT files read back by ``bgpdump``, ``monitor`` lines checked against the
changes made, metrics scraped before and after peers leave and flap, and the start-up race
(a second ``pybgp run`` touches no route, proved with ``ip monitor route``).

Nodes on bridge ``lan``: n1 = pybgp (AS 64512, netlink kernel adapter), n2 = BIRD (AS 64513,
eBGP, originates 10.244.2.0/26 and 10.244.3.0/26), n3 = BIRD (AS 64512) joining through
pybgp's ``dynamic_peers`` range.
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.harness import BirdDaemon, BirdPeer, Topology, bird_config, to_toml, wait_until
from tests.harness.pybgp_proc import REPO_ROOT
from tests.netns.bird_pybgp import Speaker, lan, peer

pytestmark = [pytest.mark.netns, pytest.mark.bird]

FILTERS = [
    {
        "name": "from-bird",
        "rules": [
            {"cidr": "10.244.2.0/26", "match_operator": "Equal", "action": "Accept",
             "set": {"local_pref": 150}},
            {"cidr": "10.244.3.0/26", "match_operator": "Equal", "action": "Reject"},
        ],
    }
]

PEER_DETAIL_KEYS = {
    "address", "asn", "type", "description", "state", "since", "info", "last_error",
    "local_address", "router_id", "hold_time", "keepalive_time", "configured_hold_time",
    "send_hold_time", "capabilities", "families", "disabled_families", "graceful_restart",
    "counters", "import_filters", "export_filters", "hostname",
}
PATH_KEYS = {
    "prefix", "family", "next_hop", "as_path", "origin", "local_pref", "med", "communities",
    "large_communities",
}


def _cli(speaker: Speaker, *args: str, timeout: float = 20.0) -> subprocess.CompletedProcess[str]:
    return speaker.process.cli(*args, "-s", speaker.socket, timeout=timeout)


def _json(speaker: Speaker, *args: str) -> Any:
    result = _cli(speaker, *args, "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def _metrics(speaker: Speaker) -> dict[str, float]:
    script = (
        "import urllib.request;"
        "print(urllib.request.urlopen('http://127.0.0.1:9179/metrics', timeout=5).read()"
        ".decode())"
    )
    text = speaker.node.run([sys.executable, "-c", script]).stdout
    values = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            values[name] = float(value)
    return values


def _bgpdump(path: Path) -> list[list[str]]:
    result = subprocess.run(
        ["bgpdump", "-m", str(path)], capture_output=True, text=True, timeout=30, check=True
    )
    return [line.split("|") for line in result.stdout.splitlines() if line]


def _node(
    topology: Topology, tmp: Path, with_client: bool = True
) -> tuple[Speaker, BirdDaemon, BirdDaemon | None]:
    n1, n2, n3 = lan(topology, 3)
    node = Speaker(
        n1,
        "10.99.0.1",
        64512,
        [peer("10.99.0.2", 64513, local_address="10.99.0.1", import_filters=["from-bird"])],
        originate=["10.244.1.0/26"],
        sections={
            "filters": FILTERS,
            "dynamic_peers": [{"range": "10.99.0.0/24", "asn": 64512}],
            "kernel": {"adapter": "netlink"},
            "metrics": {"listen": "127.0.0.1:9179"},
            "mrt": {"updates_file": str(tmp / "updates.%Y%m%d.mrt"), "rotate_seconds": 86400},
        },
    )
    wait_until(node.status, describe="the control socket answers")
    bird = BirdDaemon(
        n2,
        bird_config(
            "10.99.0.2", 64513, [BirdPeer("node", "10.99.0.1", 64512)],
            originate=["10.244.2.0/26", "10.244.3.0/26"],
        ),
    )
    if not with_client:
        return node, bird, None
    client = BirdDaemon(
        n3,
        bird_config(
            "10.99.0.3", 64512, [BirdPeer("node", "10.99.0.1", 64512)],
            originate=["10.244.5.0/26"],
        ),
    )
    return node, bird, client


def test_operator_commands_with_bird(bird: None, topology: Topology, tmp_path: Path) -> None:
    if shutil.which("bgpdump") is None:
        pytest.skip("bgpdump is not installed (apt-get install bgpdump)")
    n1, n2 = lan(topology, 2)
    node = Speaker(
        n1,
        "10.99.0.1",
        64512,
        [peer("10.99.0.2", 64513, local_address="10.99.0.1", import_filters=["from-bird"])],
        originate=["10.244.1.0/26"],
        sections={
            "filters": FILTERS,
            "kernel": {"adapter": "netlink"},
            "mrt": {"updates_file": str(tmp_path / "updates.%Y%m%d.mrt"),
                    "rotate_seconds": 86400},
        },
    )
    wait_until(node.status, describe="the control socket answers")  # follow from the start
    monitor = n1.spawn(
        [sys.executable, "-m", "pybgp", "monitor", "--json", "-s", node.socket],
        log_path=tmp_path / "monitor.log",
        env={"PYTHONPATH": str(REPO_ROOT), "PYTHONUNBUFFERED": "1"},
        name="monitor",
    )
    wait_until(lambda: (tmp_path / "monitor.log").read_text(), describe="the monitor snapshot")

    bird_n2 = BirdDaemon(
        n2,
        bird_config(
            "10.99.0.2", 64513, [BirdPeer("node", "10.99.0.1", 64512)],
            originate=["10.244.2.0/26", "10.244.3.0/26"],
        ),
    )
    bird_n2.wait_established("node")
    node.wait_state("10.99.0.2")
    node.wait_route("10.244.2.0/26", lambda r: r["installed"])

    # -- status PEER: one peer in detail ----------------------------------------------------
    detail = _json(node, "status", "10.99.0.2")
    assert set(detail) == PEER_DETAIL_KEYS
    assert detail["state"] == "Established" and detail["type"] == "global"
    assert detail["families"] == {"ipv4": "enabled"} and detail["disabled_families"] == []
    assert detail["router_id"] == "10.99.0.2"
    assert detail["hold_time"] == 90 and detail["keepalive_time"] == 30
    assert {"four-octet-as", "route-refresh"} <= set(detail["capabilities"])
    assert detail["counters"]["received"] == 2 and detail["counters"]["accepted"] == 1
    assert detail["import_filters"] == ["from-bird"]
    assert {"negotiated", "phase"} <= set(detail["graceful_restart"])
    text = _cli(node, "status", "10.99.0.2")
    assert text.returncode == 0 and "Established since" in text.stdout
    missing = _cli(node, "status", "10.99.0.9")
    assert missing.returncode == 1 and "no peer 10.99.0.9" in missing.stderr

    # -- status --check: the readiness probe ------------------------------------------------
    ready = _cli(node, "status", "--check")
    assert ready.returncode == 0, ready.stdout + ready.stderr
    assert ready.stdout.startswith("ready")

    # -- routes PREFIX: exact and longest match; sorted -------------------------------------
    exact = _json(node, "routes", "10.244.2.0/26")["routes"]
    assert [r["prefix"] for r in exact] == ["10.244.2.0/26"]
    assert exact[0]["peer"] == "10.99.0.2" and exact[0]["installed"] is True
    longest = _json(node, "routes", "10.244.2.17")["routes"]
    assert [r["prefix"] for r in longest] == ["10.244.2.0/26"]
    assert _json(node, "routes", "10.244.3.1")["routes"] == []  # filtered: not in the Loc-RIB
    table = _json(node, "routes")["routes"]
    assert [r["prefix"] for r in table] == ["10.244.1.0/26", "10.244.2.0/26"]

    # -- routes --received: before policy, the verdict of each path -------------------------
    received = _json(node, "routes", "--peer", "10.99.0.2", "--received")["routes"]
    assert [r["prefix"] for r in received] == ["10.244.2.0/26", "10.244.3.0/26"]
    for route in received:
        assert set(route) == PATH_KEYS | {"peer", "accepted", "reason"}
        assert route["as_path"] == [64513] and route["next_hop"] == "10.99.0.2"
    accepted, rejected = received
    assert accepted["accepted"] is True
    assert accepted["reason"] == "accepted by filter 'from-bird' rule 0 (Accept)"
    assert accepted["local_pref"] is None  # before policy: the filter's 150 is not there yet
    assert rejected["accepted"] is False
    assert rejected["reason"] == "rejected by filter 'from-bird' rule 1 (Reject)"
    why = _cli(node, "routes", "10.244.3.0/26", "--peer", "10.99.0.2", "--received")
    assert why.returncode == 0 and "filter 'from-bird' rule 1 (Reject)" in why.stdout

    # -- routes --advertised: the Adj-RIB-Out ------------------------------------------------
    advertised = _json(node, "routes", "--peer", "10.99.0.2", "--advertised")["routes"]
    assert [r["prefix"] for r in advertised] == ["10.244.1.0/26"]
    assert set(advertised[0]) == PATH_KEYS | {"to"}
    assert advertised[0]["next_hop"] == "10.99.0.1" and advertised[0]["as_path"] == [64512]
    needs_peer = _cli(node, "routes", "--advertised")
    assert needs_peer.returncode == 1 and "--advertised needs --peer" in needs_peer.stderr

    # -- announce / withdraw at run time ------------------------------------------------------
    done = _cli(node, "announce", "10.244.7.0/24", "--community", "64512:7")
    assert done.returncode == 0, done.stderr
    seen = bird_n2.wait_route("10.244.7.0/24", protocol="node")
    assert seen["communities"] == ["64512:7"] and seen["next_hop"] == ["10.99.0.1"]
    third = _cli(node, "announce", "10.244.8.0/24", "--next-hop", "10.99.0.3")
    assert third.returncode == 0, third.stderr
    assert bird_n2.wait_route("10.244.8.0/24", protocol="node")["next_hop"] == ["10.99.0.3"]
    assert _cli(node, "withdraw", "10.244.7.0/24").returncode == 0
    wait_until(
        lambda: not [r for r in bird_n2.routes() if r["prefix"] == "10.244.7.0/24"],
        describe="10.244.7.0/24 withdrawn from BIRD",
    )
    refused = _cli(node, "withdraw", "10.244.99.0/24")
    assert refused.returncode == 1 and "not originated here" in refused.stderr
    bad = _cli(node, "announce", "10.244.9.0/24", "--next-hop", "fd00::1")
    assert bad.returncode == 1 and "not of the family" in bad.stderr

    # -- reload: what changed, and a refused file ---------------------------------------------
    config = dict(node.config)
    config["originate"] = {"prefixes": ["10.244.1.0/26", "10.244.6.0/26"]}
    node.process.config_path.write_text(to_toml(config))
    reloaded = _cli(node, "reload")
    assert reloaded.returncode == 0, reloaded.stderr
    assert "10.244.6.0/26" in reloaded.stdout
    bird_n2.wait_route("10.244.6.0/26", protocol="node")
    node.process.config_path.write_text(to_toml(config).replace("asn = 64513", "asn = 0"))
    refused_reload = _cli(node, "reload")
    assert refused_reload.returncode == 1
    assert "peers[0].asn" in refused_reload.stderr
    node.process.config_path.write_text(to_toml(config))

    # -- mrt dump: TABLE_DUMP_V2 read back by bgpdump ----------------------------------------
    dump_file = tmp_path / "table.mrt"
    dumped = _cli(node, "mrt", "dump", str(dump_file))
    assert dumped.returncode == 0, dumped.stderr
    rows = {row[5]: row for row in _bgpdump(dump_file) if row[0] == "TABLE_DUMP2"}
    assert set(rows) == {"10.244.1.0/26", "10.244.2.0/26", "10.244.6.0/26", "10.244.8.0/24"}
    learned = rows["10.244.2.0/26"]
    assert learned[3] == "10.99.0.2" and learned[4] == "64513"  # peer address and AS
    assert learned[6] == "64513" and learned[7] == "IGP" and learned[8] == "10.99.0.2"
    assert learned[9] == "150"  # LOCAL_PREF as set by the import filter
    assert rows["10.244.8.0/24"][8] == "10.99.0.3"

    # -- the [mrt] update log: BGP4MP read back by bgpdump ------------------------------------
    logs = sorted(tmp_path.glob("updates.*.mrt"))
    assert len(logs) == 1
    records = _bgpdump(logs[0])
    announced = {row[5] for row in records if row[0] == "BGP4MP" and row[2] == "A"}
    assert {"10.244.2.0/26", "10.244.3.0/26"} <= announced  # before policy: both
    assert any(row[2] == "STATE" and row[3] == "10.99.0.2" for row in records)

    # -- monitor: the changes made above, in order, after the snapshot ------------------------
    bird_n2.stop()
    node.wait_state("10.99.0.2", "Active", timeout=20)
    not_ready = _cli(node, "status", "--check")
    assert not_ready.returncode == 1 and "10.99.0.2" in not_ready.stdout
    wait_until(
        lambda: any(
            d["type"] == "kernel" and d["prefix"] == "10.244.2.0/26"
            and d["state"].startswith("not installed")
            for d in _documents(tmp_path / "monitor.log")
        ),
        describe="the kernel removal in the monitor",
    )
    monitor.send_signal(signal.SIGINT)
    assert monitor.wait(10) == 0
    documents = _documents(tmp_path / "monitor.log")
    assert documents[0]["type"] == "snapshot"
    assert [p["address"] for p in documents[0]["peers"]] == ["10.99.0.2"]
    states = [d["new"] for d in documents if d["type"] == "peer"]
    assert "Established" in states and states[-1] in ("Idle", "Active", "Connect")
    best = [(d["prefix"], d["action"]) for d in documents if d["type"] == "best"]
    assert best.index(("10.244.2.0/26", "add")) < best.index(("10.244.7.0/24", "add"))
    assert best.index(("10.244.7.0/24", "add")) < best.index(("10.244.7.0/24", "withdraw"))
    assert ("10.244.6.0/26", "add") in best and ("10.244.2.0/26", "withdraw") in best
    assert ("10.244.3.0/26", "add") not in best  # filtered on import
    kernel = [(d["prefix"], d["state"]) for d in documents if d["type"] == "kernel"]
    assert kernel[0] == ("10.244.2.0/26", "installed")
    assert set(documents[1]) >= {"type", "time"}


def _documents(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.startswith("{")]


def test_metrics_before_and_after_peers_leave_and_flap(
    bird: None, topology: Topology, tmp_path: Path
) -> None:
    node, bird_n2, client = _node(topology, tmp_path)
    assert client is not None
    bird_n2.wait_established("node")
    client.wait_established("node")
    node.wait_state("10.99.0.2")
    node.wait_state("10.99.0.3")
    node.wait_route("10.244.5.0/26")
    before = wait_until(
        lambda: _metrics(node),
        describe="UPDATEs counted from both peers",
        predicate=lambda m: m['pybgp_updates_received_total{peer="10.99.0.3"}'] >= 2
        and m['pybgp_updates_received_total{peer="10.99.0.2"}'] >= 2
        and m['pybgp_kernel_routes{state="installed"}'] == 2,
    )
    assert before['pybgp_peer_state{peer="10.99.0.2"}'] == 6
    assert before['pybgp_peer_state{peer="10.99.0.3"}'] == 6
    since = before['pybgp_peer_established_since_seconds{peer="10.99.0.2"}']
    assert since > 1.7e9
    assert before['pybgp_kernel_routes{state="installed"}'] == 2  # 10.244.2.0/26, 10.244.5.0/26
    assert before['pybgp_kernel_routes{state="failed"}'] == 0
    assert before['pybgp_kernel_routes{state="not_installed"}'] == 0

    # The dynamic peer leaves: pybgp forgets it, its series stay and do not go down.
    client.stop()
    wait_until(
        lambda: [p["address"] for p in node.status()["peers"]],
        describe="the dynamic peer forgotten",
        predicate=lambda peers: "10.99.0.3" not in peers,
    )
    after_leave = _metrics(node)
    for name in ("pybgp_updates_received_total", "pybgp_updates_sent_total"):
        key = f'{name}{{peer="10.99.0.3"}}'
        assert after_leave[key] >= before[key], key
    assert after_leave['pybgp_peer_state{peer="10.99.0.3"}'] == 1

    # The configured peer flaps: back to Established, a later since, counters not lower.
    bird_n2.birdc("disable node")
    node.wait_state("10.99.0.2", "Active", timeout=20)
    down = _metrics(node)
    assert down['pybgp_peer_state{peer="10.99.0.2"}'] in (1, 2, 3)
    assert down['pybgp_peer_established_since_seconds{peer="10.99.0.2"}'] == 0
    bird_n2.birdc("enable node")
    node.wait_state("10.99.0.2", timeout=30)
    node.wait_route("10.244.2.0/26")
    after = _metrics(node)
    assert after['pybgp_peer_state{peer="10.99.0.2"}'] == 6
    assert after['pybgp_peer_established_since_seconds{peer="10.99.0.2"}'] >= since
    key = 'pybgp_updates_received_total{peer="10.99.0.2"}'
    assert after[key] >= before[key]


def test_a_second_run_touches_nothing(bird: None, topology: Topology, tmp_path: Path) -> None:
    node, bird_n2, _ = _node(topology, tmp_path, with_client=False)
    bird_n2.wait_established("node")
    node.wait_route("10.244.2.0/26", lambda r: r["installed"])
    assert "10.244.2.0/26" in node.node.route_dsts(proto=186)
    watcher = node.node.spawn(
        ["ip", "monitor", "route"], log_path=tmp_path / "ip-monitor.log", name="ip-monitor"
    )
    # Let `ip monitor` subscribe before the second speakers start: a route we add and remove
    # ourselves must show in its output.
    log = tmp_path / "ip-monitor.log"
    attempts = iter(range(1, 200))
    wait_until(lambda: _marker(node, log, next(attempts)), describe="ip monitor route works")
    # Once subscribed, one last marker; when its removal shows, every earlier event has.
    _marker(node, log, 250)
    wait_until(lambda: "Deleted blackhole 192.0.2.250 " in log.read_text(),
               describe="the last marker seen")
    marked = log.read_text()

    config = dict(node.config)
    speaker = config["speaker"]
    # Each case takes one thing the first speaker holds and leaves the others free, so that
    # without the start-up order a second speaker would get as far as the kernel.
    cases = {
        "control socket": (
            {**config, "speaker": {**speaker, "listen_port": 1790},
             "metrics": {"listen": "127.0.0.1:9181"}},
            f"control socket {node.socket} in use",
        ),
        "metrics port": (
            {**config, "speaker": {**speaker, "listen_port": 1791,
                                   "control_socket": node.socket + "2"}},
            "metrics address 127.0.0.1:9179 in use",
        ),
        "BGP port": (
            {**config, "speaker": {**speaker, "control_socket": node.socket + "3"},
             "metrics": {"listen": "127.0.0.1:9180"}},
            "cannot listen on [::]:179",
        ),
    }
    for what, (second_config, words) in cases.items():
        path = tmp_path / f"second-{what.replace(' ', '-')}.toml"
        path.write_text(to_toml(second_config))
        result = node.node.run(
            [sys.executable, "-m", "pybgp", "run", "-c", str(path)],
            check=False,
            timeout=30,
            env={"PYTHONPATH": str(REPO_ROOT)},
        )
        assert result.returncode == 1, f"{what}: {result.stdout}{result.stderr}"
        assert words in result.stderr, f"{what}: {result.stderr}"
        assert "Traceback" not in result.stderr
    # Nothing touched: no route event since the marker, the first speaker's route in place.
    assert (tmp_path / "ip-monitor.log").read_text() == marked
    assert "10.244.2.0/26" in node.node.route_dsts(proto=186)
    assert node.peer("10.99.0.2")["state"] == "Established"
    watcher.stop()


def _marker(node: Speaker, log: Path, number: int) -> bool:
    """Add and remove a blackhole route; True once ``ip monitor`` printed any marker."""
    address = f"192.0.2.{number}"
    node.node.ip("route", "replace", "blackhole", f"{address}/32")
    node.node.ip("route", "del", "blackhole", f"{address}/32")
    return "blackhole 192.0.2." in log.read_text()

"""The datastore agent against a real etcd on loopback (Debian's etcd-server).

* snapshot then watch: a write that lands between the snapshot and the watch is not lost;
* a compacted watch revision: the agent resyncs from a new snapshot and the speaker gets
  only the difference;
* TLS with a client certificate, and etcd user/password authentication; a wrong password is
  an error that says so;
* ``pybgp check`` accepts a file whose identity comes from the datastore.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from pybgp.config import SpeakerConfig, parse_config
from pybgp.datastore.agent import DatastoreAgent
from pybgp.datastore.etcd import EtcdError, EtcdLink
from tests.harness import wait_until

pytest.importorskip("aetcd")
ETCD = shutil.which("etcd")
ETCDCTL = shutil.which("etcdctl")
pytestmark = pytest.mark.skipif(ETCD is None or ETCDCTL is None,
                                reason="etcd-server is not installed")
RES = "/calico/resources/v3/projectcalico.org"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Server:
    def __init__(self, tmp: Path, tls: dict[str, str] | None = None) -> None:
        self.tmp = tmp
        self.tls = tls or {}
        scheme = "https" if tls else "http"
        self.url = f"{scheme}://127.0.0.1:{free_port()}"
        peer = f"http://127.0.0.1:{free_port()}"
        argv = [ETCD or "etcd", "--name", "t", "--data-dir", str(tmp / "data"),
                "--listen-client-urls", self.url, "--advertise-client-urls", self.url,
                "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
                "--initial-cluster", f"t={peer}"]
        if tls:
            argv += ["--cert-file", tls["cert"], "--key-file", tls["key"],
                     "--trusted-ca-file", tls["ca"], "--client-cert-auth"]
        self.log = (tmp / "etcd.log").open("w")
        self.process = subprocess.Popen(argv, stdout=self.log, stderr=subprocess.STDOUT)
        wait_until(lambda: self.ctl("endpoint", "health", check=False).returncode == 0,
                   timeout=20, describe="etcd healthy")

    def ctl(self, *args: str, check: bool = True, user: str | None = None) -> Any:
        argv = [ETCDCTL or "etcdctl", "--endpoints", self.url]
        if self.tls:
            argv += ["--cacert", self.tls["ca"], "--cert", self.tls["client_cert"],
                     "--key", self.tls["client_key"]]
        if user:
            argv += ["--user", user]
        return subprocess.run([*argv, *args], check=check, capture_output=True, text=True,
                              env={**os.environ, "ETCDCTL_API": "3"}, timeout=20)

    def put(self, key: str, value: dict[str, Any], user: str | None = None) -> None:
        self.ctl("put", key, json.dumps(value), user=user)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)
        self.log.close()


@pytest.fixture
def etcd(tmp_path: Path) -> Iterator[Server]:
    server = Server(tmp_path)
    try:
        yield server
    finally:
        server.stop()


def load_cluster(server: Server, user: str | None = None) -> None:
    server.put(f"{RES}/bgpconfigurations/default",
               {"kind": "BGPConfiguration", "spec": {"asNumber": 64512}}, user)
    for i in (1, 2, 3):
        server.put(f"{RES}/nodes/n{i}", {"kind": "Node", "metadata": {"name": f"n{i}"},
                                         "spec": {"bgp": {"ipv4Address": f"10.0.0.{i}/24"}}},
                   user)
    allocate(server, 1, "10.48.1.0/26", user)


def allocate(server: Server, node: int, cidr: str, user: str | None = None) -> None:
    server.put(f"/calico/ipam/v2/host/n{node}/ipv4/block/{cidr.replace('/', '-')}",
               {"state": "confirmed", "deleted": False}, user)


def agent_for(url: str, **more: Any) -> DatastoreAgent:
    config = parse_config({"datastore": {"endpoints": [url], "node": "n1", "timeout": 1,
                                         "reconnect_min": 0.1, "reconnect_max": 0.5, **more}})
    assert config.datastore is not None
    return DatastoreAgent(config.datastore, config)


@contextlib.asynccontextmanager
async def following(agent: DatastoreAgent, applied: list[SpeakerConfig]) -> AsyncIterator[None]:
    async def apply(config: SpeakerConfig) -> str:
        applied.append(config)
        return "applied"

    task = asyncio.create_task(agent.follow(apply))
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def prefixes(config: SpeakerConfig) -> set[str]:
    return {str(p) for p in config.originate.prefixes}


async def wait_for(predicate: Any, what: str, timeout: float = 15.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


async def test_snapshot_then_watch_loses_no_write(etcd: Server) -> None:
    load_cluster(etcd)
    agent = agent_for(etcd.url)
    first = await agent.start()
    assert first.speaker.asn == 64512 and str(first.speaker.router_id) == "10.0.0.1"
    assert prefixes(first) == {"10.48.1.0/26"} and len(first.peers) == 2
    allocate(etcd, 1, "10.48.9.0/26")  # after the snapshot, before the watch starts
    applied: list[SpeakerConfig] = []
    async with following(agent, applied):
        await wait_for(lambda: applied, "the write made between snapshot and watch")
        assert prefixes(applied[-1]) == {"10.48.1.0/26", "10.48.9.0/26"}
        assert agent.status()["state"] == "in-sync" and agent.resyncs == 0


async def test_compaction_resyncs_and_applies_only_the_difference(etcd: Server) -> None:
    load_cluster(etcd)
    agent = agent_for(etcd.url)
    await agent.start()
    allocate(etcd, 1, "10.48.7.0/26")
    etcd.put(f"{RES}/nodes/n4", {"kind": "Node", "metadata": {"name": "n4"},
                                 "spec": {"bgp": {"ipv4Address": "10.0.0.4/24"}}})
    revision = json.loads(etcd.ctl("get", "x", "-w", "json").stdout)["header"]["revision"]
    etcd.ctl("compaction", str(revision))
    applied: list[SpeakerConfig] = []
    async with following(agent, applied):
        await wait_for(lambda: applied, "the resync after compaction")
        assert agent.resyncs == 1 and agent.revision >= revision
        assert prefixes(applied[-1]) == {"10.48.1.0/26", "10.48.7.0/26"}
        assert {str(p.address) for p in applied[-1].peers} == {"10.0.0.2", "10.0.0.3",
                                                               "10.0.0.4"}
        assert "peers added: 10.0.0.4" in agent.last_change
        assert "prefixes added: 10.48.7.0/26" in agent.last_change
        assert len(applied) == 1  # one difference, applied once


def make_certificates(tmp: Path) -> dict[str, str]:
    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True, cwd=tmp, timeout=60)

    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=test-ca",
            "-keyout", "ca.key", "-out", "ca.pem")
    (tmp / "san.cnf").write_text("subjectAltName=IP:127.0.0.1\n")
    for name, cn in (("server", "etcd"), ("client", "root")):
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={cn}",
                "-keyout", f"{name}.key", "-out", f"{name}.csr")
        openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                "-CAcreateserial", "-days", "2", "-extfile", "san.cnf", "-out", f"{name}.pem")
    return {"ca": str(tmp / "ca.pem"), "cert": str(tmp / "server.pem"),
            "key": str(tmp / "server.key"), "client_cert": str(tmp / "client.pem"),
            "client_key": str(tmp / "client.key")}


async def test_tls_client_certificate_and_password(tmp_path: Path) -> None:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    tls = make_certificates(tmp_path)
    server = Server(tmp_path, tls)
    try:
        server.ctl("user", "add", "root:s3cret")
        server.ctl("auth", "enable")
        load_cluster(server, user="root:s3cret")
        agent = agent_for(server.url, ca_file=tls["ca"], cert_file=tls["client_cert"],
                          key_file=tls["client_key"], username="root", password="s3cret")
        config = await asyncio.wait_for(agent.start(), 30)
        assert prefixes(config) == {"10.48.1.0/26"}
        assert agent.status()["endpoint"].startswith("https://")
        wrong = agent_for(server.url, ca_file=tls["ca"], cert_file=tls["client_cert"],
                          key_file=tls["client_key"], username="root", password="nope")
        with pytest.raises(EtcdError, match="no etcd endpoint answers"):
            await wrong.link.connect()
        plain = EtcdLink(agent_for(server.url).config)  # no CA: the TLS handshake fails
        with pytest.raises(EtcdError):
            await plain.connect()
    finally:
        server.stop()


def test_check_accepts_a_datastore_node_file(tmp_path: Path) -> None:
    path = tmp_path / "node.toml"
    path.write_text('[datastore]\nendpoints = ["http://127.0.0.1:2379"]\nnode = "n1"\n')
    result = subprocess.run([sys.executable, "-m", "pybgp", "check", "-c", str(path)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    path.write_text('[datastore]\nnode = "n1"\nendpoints = ["ftp://x"]\n')
    result = subprocess.run([sys.executable, "-m", "pybgp", "check", "-c", str(path)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "datastore.endpoints[0]" in result.stderr
    example = Path(__file__).resolve().parents[2] / "examples" / "calico-etcd" / "node.toml"
    result = subprocess.run([sys.executable, "-m", "pybgp", "check", "-c", str(example)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr


def test_pybgp_run_follows_etcd_and_shows_it_in_status(etcd: Server, tmp_path: Path) -> None:
    from pybgp.control import ControlError, request

    for i in (1, 2):
        etcd.put(f"{RES}/nodes/n{i}", {"kind": "Node", "metadata": {"name": f"n{i}"},
                                       "spec": {"bgp": {"ipv4Address": f"127.0.20.{i}/8"}}})
    allocate(etcd, 1, "10.48.1.0/26")
    sock = tmp_path / "n1.sock"
    config = tmp_path / "n1.toml"
    config.write_text(
        f'[speaker]\nlisten_address = "127.0.20.1"\nlisten_port = {free_port()}\n'
        f'control_socket = "{sock}"\nconnect_delay = 0\n'
        f'[datastore]\nendpoints = ["{etcd.url}"]\nnode = "n1"\ntimeout = 1\n'
    )
    log = (tmp_path / "pybgp.log").open("w")
    process = subprocess.Popen([sys.executable, "-m", "pybgp", "run", "-c", str(config)],
                               stdout=log, stderr=subprocess.STDOUT)

    def status() -> dict[str, Any]:
        if process.poll() is not None:
            raise AssertionError((tmp_path / "pybgp.log").read_text())
        try:
            return dict(request(str(sock), "status", timeout=3.0))
        except (ControlError, OSError):
            return {}

    try:
        first = wait_until(status, timeout=20, describe="pybgp answers",
                           predicate=lambda s: bool(s))
        assert first["asn"] == 64512 and first["router_id"] == "127.0.20.1"
        datastore = first["datastore"]
        assert datastore["state"] == "in-sync" and datastore["node"] == "n1"
        assert datastore["revision"] > 0 and datastore["endpoint"] == etcd.url
        assert [(p["address"], p["type"]) for p in first["peers"]] == [("127.0.20.2", "mesh")]
        etcd.put(f"{RES}/bgppeers/tor", {"kind": "BGPPeer",
                                         "spec": {"peerIP": "127.0.20.9", "asNumber": 65009}})
        later = wait_until(status, timeout=20, describe="the BGPPeer applied",
                           predicate=lambda s: len(s.get("peers", ())) == 2)
        assert {p["address"]: p["type"] for p in later["peers"]}["127.0.20.9"] == "global"
        assert later["datastore"]["revision"] > datastore["revision"]
        assert "peers added: 127.0.20.9" in later["datastore"]["last_change"]
        text = subprocess.run([sys.executable, "-m", "pybgp", "status", "-s", str(sock)],
                              capture_output=True, text=True, timeout=30)
        assert f"datastore: etcd {etcd.url} node n1: in-sync" in text.stdout
        answer = request(str(sock), "reload", timeout=10.0)  # as SIGHUP
        assert answer["message"] == "no changes", answer
        assert len(status()["peers"]) == 2  # the file reloaded, the datastore's peers kept
    finally:
        process.terminate()
        try:
            assert process.wait(15) == 0
        finally:
            if process.poll() is None:
                process.kill()
                process.wait(10)
            log.close()

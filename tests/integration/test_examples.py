"""The examples of ``examples/`` run as subprocesses against each other over loopback.

A route reflector (``route_reflector.py``) on 127.0.2.100 accepts two node agents
(``node_agent.py --kernel memory``) on 127.0.2.1 and 127.0.2.2; their printed lines prove that
each learned and installed the other's block with the right next hop, that blocks added and
removed at run time arrive and leave, and that clients coming and going are reported.
``embed_events.py`` peers with a speaker run in the test process and prints its changes.

Every wait reads the subprocess output line by line against a deadline; every process is
stopped by its pid in ``finally``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import socket
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from ipaddress import IPv4Address, ip_address
from pathlib import Path

import pytest
import yaml

from pybgp import PeerConfig, Speaker, SpeakerConfig, SpeakerSection, parse_config

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"
TIMEOUT = 20.0


def free_port(address: str = "127.0.2.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((address, 0))
        return int(probe.getsockname()[1])


class Example:
    """One example running as a subprocess; its output is read line by line."""

    def __init__(self, name: str, process: asyncio.subprocess.Process) -> None:
        self.name = name
        self.process = process
        self.lines: list[str] = []

    async def _read_line(self, timeout: float) -> str | None:
        assert self.process.stdout is not None
        raw = await asyncio.wait_for(self.process.stdout.readline(), timeout)
        if not raw:
            return None
        line = raw.decode(errors="replace").rstrip("\n")
        self.lines.append(line)
        return line

    async def expect(self, pattern: str, timeout: float = TIMEOUT, *, since: int = 0) -> str:
        """The first line (from index ``since`` of the output) matching ``pattern``."""
        regex = re.compile(pattern)
        for seen in self.lines[since:]:
            if regex.search(seen):
                return seen
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            remaining = deadline - loop.time()
            line: str | None
            try:
                if remaining <= 0:
                    raise TimeoutError
                line = await self._read_line(remaining)
            except TimeoutError:
                raise AssertionError(
                    f"{self.name}: no line matching {pattern!r} within {timeout:g} s; "
                    f"output:\n" + "\n".join(self.lines)
                ) from None
            if line is None:
                raise AssertionError(
                    f"{self.name} ended (status {await self.process.wait()}) without a line "
                    f"matching {pattern!r}; output:\n" + "\n".join(self.lines)
                )
            if regex.search(line):
                return line

    async def finish(self, timeout: float = 10.0) -> int:
        """Read the rest of the output until the process exits; its exit status."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while await self._read_line(max(0.01, deadline - loop.time())) is not None:
            pass
        return await asyncio.wait_for(self.process.wait(), max(0.01, deadline - loop.time()))

    async def stop(self) -> int:
        """SIGTERM by pid; SIGKILL if it does not end; its exit status."""
        if self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.process.pid, signal.SIGTERM)
            try:
                return await self.finish()
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(self.process.pid, signal.SIGKILL)
        return await self.process.wait()


Starter = Callable[..., Awaitable[Example]]


@pytest.fixture
async def run_example() -> AsyncIterator[Starter]:
    """Start examples; every one started is stopped by pid at the end of the test."""
    started: list[Example] = []

    async def start(script: str, *args: str) -> Example:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            part for part in (str(REPO), env.get("PYTHONPATH", "")) if part
        )
        env["PYTHONUNBUFFERED"] = "1"
        process = await asyncio.create_subprocess_exec(
            sys.executable, str(EXAMPLES / script), *args,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            env=env,
            cwd=str(REPO),
            start_new_session=True,
        )
        example = Example(f"{script}[{process.pid}]", process)
        started.append(example)
        return example

    try:
        yield start
    finally:
        for example in started:
            await example.stop()


def write_blocks(path: Path, blocks: list[str]) -> None:
    """Replace the blocks file in one step (write aside, then rename over it)."""
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"blocks": blocks}))
    tmp.replace(path)


async def test_help_of_every_example(run_example: Starter) -> None:
    for script, flags in (
        ("node_agent.py", ("--blocks-file", "--kernel", "--peer", "--block")),
        ("route_reflector.py", ("--asn", "--router-id", "--cluster-id", "--clients", "--config")),
        ("embed_events.py", ("--peer", "--peer-asn", "--peer-port", "--count")),
    ):
        example = await run_example(script, "--help")
        assert await example.finish() == 0
        text = "\n".join(example.lines)
        for flag in flags:
            assert flag in text, (script, flag, text)


async def test_route_reflector_refuses_a_bad_config(run_example: Starter, tmp_path: Path) -> None:
    bad = tmp_path / "rr.toml"
    bad.write_text('[speaker]\nasn = 64512\nrouter_id = "127.0.2.100"\nhold_time = 2\n')
    example = await run_example("route_reflector.py", "-c", str(bad))
    assert await example.finish() == 2
    assert any("speaker.hold_time" in line for line in example.lines), example.lines


async def test_node_agents_through_the_route_reflector(
    run_example: Starter, tmp_path: Path
) -> None:
    start = run_example
    port = str(free_port("127.0.2.1"))
    reflector: Example = await start(
        "route_reflector.py", "--asn", "64512", "--router-id", "127.0.2.100",
        "--listen", "127.0.2.100", "--port", port, "--clients", "127.0.2.0/24",
    )
    await reflector.expect(rf"listening on 127\.0\.2\.100:{port}; clients from 127\.0\.2\.0/24")

    # node 1: blocks file checked only on SIGUSR1 (the timer is an hour);
    # node 2: blocks file checked on a short timer.
    blocks1 = tmp_path / "blocks1.json"
    blocks2 = tmp_path / "blocks2.json"
    write_blocks(blocks1, [])
    write_blocks(blocks2, [])
    common = ("--port", port, "--peer", "127.0.2.100", "--kernel", "memory",
              "--connect-retry", "1")
    node1: Example = await start(
        "node_agent.py", "--address", "127.0.2.1", "--block", "10.244.1.0/26",
        "--blocks-file", str(blocks1), "--watch-interval", "3600", *common,
    )
    node2: Example = await start(
        "node_agent.py", "--address", "127.0.2.2", "--block", "10.244.2.0/26",
        "--blocks-file", str(blocks2), "--watch-interval", "0.2", *common,
    )

    # each node installs the other's block, via the other node (the reflector keeps the
    # next hop, RFC 4456), through the tunnel: loopback is never a connected subnet
    await node1.expect(r"^best 10\.244\.2\.0/26 via 127\.0\.2\.2 from 127\.0\.2\.100 ")
    await node1.expect(
        r"^kernel add 10\.244\.2\.0/26 via 127\.0\.2\.2 dev tunl0 onlink proto 186 "
    )
    await node2.expect(
        r"^kernel add 10\.244\.1\.0/26 via 127\.0\.2\.1 dev tunl0 onlink proto 186 "
    )
    # each node's own block is a blackhole route in its kernel
    await node1.expect(r"^kernel add blackhole 10\.244\.1\.0/26 proto 186 ")
    await reflector.expect(r"^client 127\.0\.2\.1 up")
    await reflector.expect(r"^client 127\.0\.2\.2 up")
    await reflector.expect(r"^reflecting 2 prefixes")

    # a block added at run time on node 2 (timer) arrives at node 1
    write_blocks(blocks2, ["10.244.2.64/26"])
    await node2.expect(r"^blocks announce 10\.244\.2\.64/26$")
    await node1.expect(
        r"^kernel add 10\.244\.2\.64/26 via 127\.0\.2\.2 dev tunl0 onlink proto 186 "
    )

    # a block added on node 1 (SIGUSR1) arrives at node 2, then leaves when removed
    write_blocks(blocks1, ["10.244.1.64/26"])
    os.kill(node1.process.pid, signal.SIGUSR1)
    await node1.expect(r"^blocks announce 10\.244\.1\.64/26$")
    await node2.expect(r"^best 10\.244\.1\.64/26 via 127\.0\.2\.1 from 127\.0\.2\.100 ")
    await node2.expect(r"^kernel add 10\.244\.1\.64/26 via 127\.0\.2\.1 dev tunl0 onlink ")
    mark = len(node2.lines)
    write_blocks(blocks1, [])
    os.kill(node1.process.pid, signal.SIGUSR1)
    await node1.expect(r"^blocks withdraw 10\.244\.1\.64/26$")
    await node2.expect(r"^best 10\.244\.1\.64/26 withdrawn$", since=mark)
    await node2.expect(r"^kernel remove 10\.244\.1\.64/26 via 127\.0\.2\.1 ", since=mark)
    # the static block is kept when the file no longer lists anything
    assert not any("withdraw 10.244.1.0/26" in line for line in node1.lines), node1.lines

    # node 2 stops cleanly: the reflector reports it gone, node 1 removes its routes
    assert await node2.stop() == 0
    assert node2.lines[-1] == "stopped"
    assert any(line.startswith("kernel remove blackhole 10.244.2.0/26") for line in node2.lines)
    await reflector.expect(r"^client 127\.0\.2\.2 down: .*administrative shutdown")
    await node1.expect(r"^best 10\.244\.2\.0/26 withdrawn$")
    await node1.expect(r"^kernel remove 10\.244\.2\.64/26 via 127\.0\.2\.2 ")

    assert await node1.stop() == 0
    assert await reflector.stop() == 0
    assert reflector.lines[-1] == "stopped"


async def test_embed_events_prints_best_path_changes(run_example: Starter) -> None:
    section = SpeakerSection(
        asn=65001,
        router_id=IPv4Address("127.0.3.1"),
        listen_address="127.0.3.1",
        listen_port=0,
        control_socket="",
        connect_delay=0.0,
    )
    peer = PeerConfig(address=ip_address("127.0.3.2"), asn=65002, passive=True)
    async with Speaker(SpeakerConfig(speaker=section, peers=(peer,))) as router:
        port = router.listen_addresses[0][1]
        tool: Example = await run_example(
            "embed_events.py", "--peer", "127.0.3.1", "--peer-port", str(port),
            "--peer-asn", "65001", "--asn", "65002", "--local-address", "127.0.3.2",
            "--connect-retry", "1", "--count", "2",
        )
        await tool.expect(r"^# session 127\.0\.3\.1 OpenConfirm -> Established")
        await router.wait_state("127.0.3.2", timeout=TIMEOUT)
        router.originate("10.244.9.0/26")
        line = await tool.expect(r"^10\.244\.9\.0/26 ")
        # eBGP: the next hop is the router's address, the AS path its AS
        assert line == (
            "10.244.9.0/26 via 127.0.3.1 as-path 65001 origin igp from 127.0.3.1 (only path)"
        )
        router.withdraw("10.244.9.0/26")
        await tool.expect(r"^10\.244\.9\.0/26 withdrawn$")
        # --count 2: the tool leaves on its own after the second change, cleanly
        assert await tool.finish() == 0


def test_daemonset_config_template_renders_to_a_valid_config() -> None:
    documents = list(yaml.safe_load_all((EXAMPLES / "deploy" / "daemonset.yaml").read_text()))
    kinds = [d["kind"] for d in documents]
    assert kinds == ["ConfigMap", "DaemonSet"]
    config_map, daemonset = documents
    spec = daemonset["spec"]["template"]["spec"]
    assert spec["hostNetwork"] is True
    container = spec["containers"][0]
    assert container["command"] == ["pybgp", "run", "-c", "/etc/pybgp/pybgp.toml"]
    assert "NET_ADMIN" in container["securityContext"]["capabilities"]["add"]
    init_env = {e["name"]: e["valueFrom"]["fieldRef"]["fieldPath"]
                for e in spec["initContainers"][0]["env"]}
    assert init_env == {"NODE_NAME": "spec.nodeName", "NODE_IP": "status.hostIP"}
    blocks = dict(
        line.split() for line in config_map["data"]["node-blocks"].splitlines()
        if line.strip() and not line.startswith("#")
    )
    template = config_map["data"]["pybgp.toml.tmpl"]
    import tomllib

    rendered = (
        template.replace("@NODE_NAME@", "node-2")
        .replace("@NODE_IP@", "10.0.0.2")
        .replace("@NODE_BLOCK@", blocks["node-2"])
    )
    config = parse_config(tomllib.loads(rendered))
    assert str(config.speaker.router_id) == "10.0.0.2"
    assert [str(p) for p in config.originate.prefixes] == ["10.244.2.0/26"]
    assert config.kernel.adapter == "netlink"
    assert config.kernel.encapsulation == "crosssubnet"


def test_systemd_unit() -> None:
    text = (EXAMPLES / "deploy" / "pybgp.service").read_text()
    values: dict[str, list[str]] = {}
    for line in text.splitlines():
        if "=" in line and not line.startswith("#"):
            key, _, value = line.partition("=")
            values.setdefault(key.strip(), []).append(value.strip())
    assert values["ExecStart"][0].endswith("pybgp run -c /etc/pybgp/pybgp.toml")
    assert values["ExecReload"] == ["/bin/kill -HUP $MAINPID"]
    assert values["Restart"] == ["on-failure"]
    assert set(values["AmbientCapabilities"][0].split()) == {
        "CAP_NET_ADMIN", "CAP_NET_BIND_SERVICE"
    }
    assert values["RestartPreventExitStatus"] == ["2"]  # `pybgp run` exits 2 on a bad config

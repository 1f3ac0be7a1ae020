"""BIRD 2 daemons inside topology nodes: config generation, control, and output parsers.

``BirdDaemon`` runs ``bird -f -c CONF -s SOCK -P PIDFILE`` in the foreground inside a node
(so the pid we hold is BIRD's), waits until ``birdc show status`` answers, and offers the
control commands tests need. ``bird_config`` writes BIRD 2 syntax for the Calico-style setups
the tests build, with short timers so sessions converge in a second or two.

BIRD will not peer over 127.0.0.0/8: give every daemon its own namespace and a veth.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .pybgp_proc import ManagedProcess
from .wait import AbortWait, wait_until

if TYPE_CHECKING:
    from .netns import Node

__all__ = [
    "BirdDaemon",
    "BirdPeer",
    "ProtocolRow",
    "bird_available",
    "bird_config",
    "parse_show_protocols",
    "parse_show_route_all",
]


def bird_available() -> str | None:
    """None when ``bird`` and ``birdc`` are installed, else the exact reason they are not."""
    missing = [tool for tool in ("bird", "birdc") if shutil.which(tool) is None]
    if missing:
        return f"BIRD 2 is not installed ({', '.join(missing)} not on PATH; apt-get install bird2)"
    return None


# -- configuration ---------------------------------------------------------------------------
@dataclass(frozen=True)
class BirdPeer:
    """One ``protocol bgp`` block.

    ``import_``/``export`` are BIRD filter expressions: ``"all"``, ``"none"``,
    ``"filter NAME"`` or ``"where ..."``. An iBGP peer without ``multihop`` gets the
    protocol option ``direct;`` (BIRD treats iBGP as multihop by default and then resolves
    next hops recursively through an IGP route these flat topologies do not have; ``direct``
    implies ``gateway direct``). ``gateway`` sets the channel option explicitly.
    """

    name: str
    address: str
    asn: int
    passive: bool = False
    password: str | None = None
    rr_client: bool = False
    rr_cluster_id: str | None = None
    next_hop_self: bool = False
    ipv4: bool = True
    ipv6: bool = False
    import_: str = "all"
    export: str = "all"
    hold_time: int | None = None
    keepalive_time: int | None = None
    local_address: str | None = None
    local_as: int | None = None
    port: int | None = None
    multihop: int | None = None
    gateway: str | None = None
    add_paths: str | None = None
    extra: str = ""


def _channel(family: str, peer: BirdPeer, ibgp: bool) -> str:
    lines = [f"import {peer.import_};", f"export {peer.export};"]
    if peer.next_hop_self:
        lines.append("next hop self;")
    if peer.gateway:
        lines.append(f"gateway {peer.gateway};")
    if peer.add_paths:
        lines.append(f"add paths {peer.add_paths};")
    body = " ".join(lines)
    return f"  {family} {{ {body} }};"


def bird_config(
    router_id: str,
    asn: int,
    peers: Sequence[BirdPeer] = (),
    originate: Sequence[str] = (),
    kernel_export: bool = False,
    kernel_learn: bool = False,
    direct: bool = False,
    originate_kind: str = "blackhole",
    log_file: str | None = None,
    extra: str = "",
) -> str:
    """A complete BIRD 2 configuration.

    ``originate`` prefixes become ``route P blackhole;`` (or ``unreachable``) in a static
    protocol per family; ``kernel_export`` adds ``protocol kernel`` exporting everything to
    the kernel (``kernel_learn`` also imports alien kernel routes); ``direct`` adds
    ``protocol direct`` (its connected routes are then exported to peers with ``export all``:
    pass a filter if that is unwanted). ``log_file`` is normally filled in by BirdDaemon.
    """
    lines: list[str] = []
    if log_file:
        lines.append(f'log "{log_file}" all;')
    lines += [
        f"router id {router_id};",
        "timeformat protocol iso long;",
        "timeformat route iso long;",
        "debug protocols { states, events };",
        "",
        "protocol device { scan time 5; }",
    ]
    if direct:
        lines.append('protocol direct { ipv4; ipv6; interface "*"; }')
    families = {"ipv4"} | {"ipv6" for peer in peers if peer.ipv6}
    families |= {"ipv6" for prefix in originate if ":" in prefix}
    if kernel_export:
        for family in sorted(families):
            suffix = family[-1]
            learn = " learn;" if kernel_learn else ""
            imports = "all" if kernel_learn else "none"
            lines.append(
                f"protocol kernel kernel{suffix} {{ {family} {{ import {imports}; export all; }};"
                f"{learn} scan time 5; }}"
            )
    for family in ("ipv4", "ipv6"):
        prefixes = [p for p in originate if (":" in p) == (family == "ipv6")]
        if prefixes:
            lines.append(f"protocol static static{family[-1]} {{")
            lines.append(f"  {family};")
            lines += [f"  route {prefix} {originate_kind};" for prefix in prefixes]
            lines.append("}")
    for peer in peers:
        local_as = peer.local_as or asn
        ibgp = local_as == peer.asn
        local = (
            f"local {peer.local_address} as {local_as};"
            if peer.local_address
            else (f"local as {local_as};")
        )
        port = f" port {peer.port}" if peer.port else ""
        block = [
            f"protocol bgp {peer.name} {{",
            f"  {local}",
            f"  neighbor {peer.address}{port} as {peer.asn};",
            "  connect delay time 1;",
            "  connect retry time 1;",
            "  error wait time 1, 2;",
        ]
        if peer.passive:
            block.append("  passive on;")
        if peer.password is not None:
            block.append(f'  password "{peer.password}";')
        if peer.rr_client:
            block.append("  rr client;")
        if peer.rr_cluster_id:
            block.append(f"  rr cluster id {peer.rr_cluster_id};")
        if peer.hold_time is not None:
            block.append(f"  hold time {peer.hold_time};")
        if peer.keepalive_time is not None:
            block.append(f"  keepalive time {peer.keepalive_time};")
        if peer.multihop is not None:
            block.append(f"  multihop {peer.multihop};")
        elif ibgp:
            block.append("  direct;")
        if peer.ipv4:
            block.append(_channel("ipv4", peer, ibgp))
        if peer.ipv6:
            block.append(_channel("ipv6", peer, ibgp))
        if peer.extra:
            block.append(f"  {peer.extra}")
        block.append("}")
        lines += block
    if extra:
        lines.append(extra)
    return "\n".join(lines) + "\n"


# -- output parsers --------------------------------------------------------------------------
@dataclass(frozen=True)
class ProtocolRow:
    """One line of ``show protocols``."""

    name: str
    proto: str
    table: str
    state: str
    since: str
    info: str

    @property
    def bgp_state(self) -> str:
        """For BGP protocols the first word of Info: Established, Active, Connect, Idle..."""
        return self.info.split()[0] if self.info else ""


_PROTOCOL_LINE = re.compile(
    r"^(?P<name>\S+)\s+(?P<proto>\S+)\s+(?P<table>\S+)\s+(?P<state>\S+)\s+"
    r"(?P<since>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)?|\S+)\s*(?P<info>.*)$"
)


def _strip_banner(text: str) -> list[str]:
    return [line for line in text.splitlines() if not re.match(r"^BIRD [\d.]+\S* ready\.$", line)]


def parse_show_protocols(text: str) -> dict[str, ProtocolRow]:
    """``show protocols`` output -> {name: ProtocolRow}."""
    rows: dict[str, ProtocolRow] = {}
    for line in _strip_banner(text):
        if not line.strip() or line.startswith("Name ") or line[0].isspace():
            continue
        match = _PROTOCOL_LINE.match(line.rstrip())
        if match:
            fields = match.groupdict()
            rows[fields["name"]] = ProtocolRow(**{k: v.strip() for k, v in fields.items()})
    return rows


_ROUTE_HEAD = re.compile(
    r"^(?P<prefix>\S+)?\s+(?P<kind>unicast|blackhole|unreachable|prohibited)\s+"
    r"\[(?P<protocol>\S+)\s+(?P<since>[^\]]*?)(?:\s+from\s+(?P<from>\S+))?\]"
    r"(?P<primary>\s+\*)?\s+\((?P<preference>\d+)(?:/(?P<metric>[^)]*))?\)"
    r"(?:\s+\[(?P<summary>[^\]]*)\])?"
)


def _int_list(value: str) -> list[int]:
    return [
        int(word) for word in value.replace("{", " ").replace("}", " ").split() if word.isdigit()
    ]


def parse_show_route_all(text: str) -> list[dict[str, Any]]:
    """``show route all`` output -> one dict per route.

    Keys: prefix, kind (unicast/blackhole/unreachable), protocol, from (or None), since,
    primary (the ``*`` best route), preference, summary (e.g. ``AS64513i``), via (list of
    gateway addresses), interfaces, type, attributes (raw ``{"BGP.as_path": "64513", ...}``)
    and parsed shortcuts: as_path (list[int]), next_hop (list[str]), origin, local_pref,
    med, originator_id, cluster_list (list[str]), communities (list of "a:b"),
    large_communities (list of "a:b:c").
    """
    routes: list[dict[str, Any]] = []
    table = None
    prefix = None
    current: dict[str, Any] | None = None
    for line in _strip_banner(text):
        if not line.strip():
            continue
        if line.startswith("Table "):
            table = line[len("Table ") :].rstrip(":").strip()
            continue
        head = _ROUTE_HEAD.match(line)
        if head and not line.startswith("\t"):
            fields = head.groupdict()
            prefix = fields["prefix"] or prefix
            current = {
                "table": table,
                "prefix": prefix,
                "kind": fields["kind"],
                "protocol": fields["protocol"],
                "from": fields["from"],
                "since": fields["since"],
                "primary": bool(fields["primary"]),
                "preference": int(fields["preference"]),
                "summary": fields["summary"],
                "via": [],
                "interfaces": [],
                "type": None,
                "attributes": {},
            }
            routes.append(current)
            continue
        if current is None:
            continue
        stripped = line.strip()
        via = re.match(r"^via\s+(\S+)(?:\s+on\s+(\S+))?", stripped)
        dev = re.match(r"^dev\s+(\S+)", stripped)
        if via:
            current["via"].append(via.group(1))
            if via.group(2):
                current["interfaces"].append(via.group(2))
        elif dev:
            current["interfaces"].append(dev.group(1))
        elif stripped.startswith("Type:"):
            current["type"] = stripped[len("Type:") :].strip()
        elif ":" in stripped:
            key, _, value = stripped.partition(":")
            current["attributes"][key.strip()] = value.strip()
    for route in routes:
        attributes = route["attributes"]
        route["as_path"] = _int_list(attributes.get("BGP.as_path", ""))
        route["next_hop"] = attributes.get("BGP.next_hop", "").split()
        route["origin"] = attributes.get("BGP.origin")
        route["local_pref"] = (
            int(attributes["BGP.local_pref"]) if "BGP.local_pref" in attributes else None
        )
        route["med"] = int(attributes["BGP.med"]) if "BGP.med" in attributes else None
        route["originator_id"] = attributes.get("BGP.originator_id")
        route["cluster_list"] = attributes.get("BGP.cluster_list", "").split()
        route["communities"] = [
            f"{a}:{b}"
            for a, b in re.findall(r"\((\d+),\s*(\d+)\)", attributes.get("BGP.community", ""))
        ]
        route["large_communities"] = [
            f"{a}:{b}:{c}"
            for a, b, c in re.findall(
                r"\((\d+),\s*(\d+),\s*(\d+)\)", attributes.get("BGP.large_community", "")
            )
        ]
    return routes


# -- the daemon ------------------------------------------------------------------------------
class BirdDaemon:
    """A BIRD 2 daemon in ``node``'s namespace, owned by pid.

    ``config_text`` is a whole bird.conf; if it has no ``log`` statement one is prepended so
    ``logs()`` returns BIRD's log. The control socket lives in the topology's short rundir.
    """

    def __init__(
        self,
        node: Node,
        config_text: str,
        workdir: str | os.PathLike[str] | None = None,
        *,
        name: str | None = None,
        start: bool = True,
        ready_timeout: float = 10.0,
    ) -> None:
        self.node = node
        self.name = name or f"bird-{node.name}"
        self.workdir = Path(workdir) if workdir is not None else (node.topology.workdir / self.name)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.config_path = self.workdir / "bird.conf"
        self.log_path = self.workdir / "bird.log"
        self.stdout_path = self.workdir / "bird.stdout.log"
        self.socket_path = node.topology.rundir / f"{self.name}.ctl"
        self.pid_path = node.topology.rundir / f"{self.name}.pid"
        self.ready_timeout = ready_timeout
        self.process: ManagedProcess | None = None
        self.write_config(config_text)
        node.topology.debug_hooks.append(self.debug_dump)
        if start:
            self.start()

    # -- lifecycle -----------------------------------------------------------------------
    def write_config(self, config_text: str) -> None:
        """Write bird.conf (adding the log statement when the text has none)."""
        if not re.search(r"^\s*log\s", config_text, re.MULTILINE):
            config_text = f'log "{self.log_path}" all;\n{config_text}'
        self.config_text = config_text
        self.config_path.write_text(config_text)

    def start(self) -> None:
        """Start BIRD and wait until its control socket answers."""
        if self.process is not None and self.process.running:
            raise RuntimeError(f"{self.name} already running")
        check = subprocess.run(
            ["bird", "-p", "-c", str(self.config_path)], capture_output=True, text=True, check=False
        )
        if check.returncode != 0:
            raise AssertionError(
                f"{self.name}: bird.conf does not parse: {check.stderr.strip()}\n"
                + _numbered(self.config_text)
            )
        self.socket_path.unlink(missing_ok=True)
        self.process = self.node.spawn(
            [
                "bird",
                "-f",
                "-c",
                str(self.config_path),
                "-s",
                str(self.socket_path),
                "-P",
                str(self.pid_path),
            ],
            log_path=self.stdout_path,
            name=f"{self.name}",
        )
        wait_until(
            self._status_probe,
            timeout=self.ready_timeout,
            interval=0.05,
            describe=f"{self.name} to answer `birdc show status`",
        )

    def _status_probe(self) -> bool:
        assert self.process is not None
        if not self.process.running:
            raise AbortWait(
                f"{self.name} exited with {self.process.returncode}:\n{self.logs()[-4000:]}"
            )
        if not self.socket_path.exists():
            return False
        return "Daemon is up and running" in self.birdc("show status", check=False)

    @property
    def pid(self) -> int:
        """BIRD's pid."""
        if self.process is None:
            raise RuntimeError(f"{self.name} not started")
        return self.process.pid

    @property
    def running(self) -> bool:
        """True while the BIRD process lives."""
        return self.process is not None and self.process.running

    def stop(self, timeout: float = 5.0) -> int | None:
        """SIGTERM BIRD by pid (SIGKILL after ``timeout``); returns its exit status."""
        if self.process is None:
            return None
        return self.process.stop(timeout)

    def kill(self) -> int | None:
        """SIGKILL BIRD: its peers see the TCP session die without a NOTIFICATION."""
        if self.process is None:
            return None
        return self.process.kill()

    def restart(self, config_text: str | None = None) -> None:
        """Stop and start again (optionally with a new config)."""
        self.stop()
        if config_text is not None:
            self.write_config(config_text)
        self.start()

    def reconfigure(self, config_text: str) -> str:
        """Write a new config and ``birdc configure`` it without restarting."""
        self.write_config(config_text)
        output = self.birdc("configure")
        if "Reconfigured" not in output and "Reconfiguration in progress" not in output:
            raise AssertionError(f"{self.name}: configure failed: {output}")
        return output

    def freeze(self) -> None:
        """SIGSTOP BIRD (it stops sending keepalives; sessions stay open)."""
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        """SIGCONT BIRD."""
        assert self.process is not None
        self.process.send_signal(signal.SIGCONT)

    # -- control ---------------------------------------------------------------------------
    def birdc(self, command: str, check: bool = True, timeout: float = 10.0) -> str:
        """Run a birdc command (over the unix socket; no namespace needed) and return its text."""
        try:
            result = subprocess.run(
                ["birdc", "-s", str(self.socket_path), *command.split()],
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise AssertionError(
                f"birdc {command!r} on {self.name} timed out after {timeout:g}s "
                "(BIRD frozen or hung?)"
            ) from None
        output = "\n".join(_strip_banner(result.stdout))
        if check and (
            result.returncode != 0
            or re.search(r"^(syntax error|Unable to connect)", output, re.MULTILINE)
        ):
            raise AssertionError(
                f"birdc {command!r} on {self.name} failed ({result.returncode}): "
                f"{result.stdout}{result.stderr}"
            )
        return output

    def protocol_rows(self) -> dict[str, ProtocolRow]:
        """``show protocols`` as {name: ProtocolRow}."""
        return parse_show_protocols(self.birdc("show protocols"))

    def protocols(self) -> dict[str, str]:
        """{name: state}; for BGP protocols the state is the BGP state (Established, ...)."""
        return {
            name: (row.bgp_state if row.proto == "BGP" else row.state)
            for name, row in self.protocol_rows().items()
        }

    def wait_established(self, proto_name: str, timeout: float = 15.0) -> None:
        """Wait until BGP protocol ``proto_name`` is Established."""

        def probe() -> str:
            if not self.running:
                raise AbortWait(f"{self.name} died:\n{self.logs()[-4000:]}")
            return self.protocols().get(proto_name, "<no such protocol>")

        wait_until(
            probe,
            timeout=timeout,
            interval=0.1,
            describe=f"{self.name} protocol {proto_name} Established",
            predicate=lambda state: state == "Established",
        )

    def routes_all(self, table: str = "master4", prefix: str | None = None) -> str:
        """``show route all table T [for P]`` (use ``parse_show_route_all`` on it)."""
        command = f"show route all table {table}"
        if prefix:
            command = f"show route {prefix} all table {table}"
        return self.birdc(command)

    def routes(self, table: str = "master4", prefix: str | None = None) -> list[dict[str, Any]]:
        """``routes_all`` parsed."""
        return parse_show_route_all(self.routes_all(table, prefix))

    def wait_route(
        self,
        prefix: str,
        table: str | None = None,
        protocol: str | None = None,
        timeout: float = 10.0,
    ) -> dict[str, Any]:
        """Wait until ``prefix`` is in BIRD's table (from ``protocol`` if given); return it."""
        table = table or ("master6" if ":" in prefix else "master4")

        def probe() -> list[dict[str, Any]]:
            if not self.running:
                raise AbortWait(f"{self.name} died:\n{self.logs()[-4000:]}")
            return [
                route
                for route in self.routes(table)
                if route["prefix"] == prefix and protocol in (None, route["protocol"])
            ]

        found = wait_until(
            probe, timeout=timeout, describe=f"{prefix} in {self.name} {table} from {protocol}"
        )
        return found[0]

    # -- diagnostics -----------------------------------------------------------------------
    def logs(self) -> str:
        """BIRD's log file followed by its captured stdout/stderr."""
        parts = []
        for path in (self.log_path, self.stdout_path):
            with contextlib.suppress(FileNotFoundError):
                parts.append(path.read_text(errors="replace"))
        return "".join(parts)

    def debug_dump(self) -> str:
        """Config, ``show protocols all``, ``show route all`` and the log, for failure reports."""
        parts = [f"===== {self.name} (pid {self.process.pid if self.process else '-'}) ====="]
        parts.append("--- bird.conf\n" + _numbered(self.config_text))
        if self.running:
            for command in ("show protocols all", "show route all table master4"):
                try:
                    parts.append(
                        f"--- birdc {command}\n" + self.birdc(command, check=False, timeout=3.0)
                    )
                except Exception as error:
                    parts.append(f"--- birdc {command}: {error!r}")
        parts.append("--- log\n" + self.logs()[-20000:])
        return "\n".join(parts)


def _numbered(text: str) -> str:
    return "\n".join(f"{number:3d}  {line}" for number, line in enumerate(text.splitlines(), 1))

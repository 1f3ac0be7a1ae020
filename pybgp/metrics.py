"""Prometheus text-format metrics on an optional HTTP listener (off by default).

The figures come from the same status snapshot that ``pybgp status --json`` prints, so the two
never disagree. With ``per_peer = false`` the per-peer series are folded into totals, which keeps
the series count flat in large meshes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

log = logging.getLogger("pybgp.metrics")

STATES = ("Idle", "Connect", "Active", "OpenSent", "OpenConfirm", "Established")


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


STATE_NUMBERS = {name: index for index, name in enumerate(STATES, start=1)}
"""RFC 4271 §8.2.2 numbering of the session states (Idle = 1 ... Established = 6)."""

_COUNTER_KEYS = ("updates_in", "updates_out")


class PeerMemory:
    """What the metrics remember between scrapes so that counters only go up.

    A peer that leaves (a reflector client that disconnects, a peer removed by reload) keeps
    its series with its last values until the speaker restarts; a session reset, which starts
    the session's own message counters again from 0, is folded into a running total.
    """

    def __init__(self) -> None:
        self._last: dict[tuple[str, str], int] = {}
        self._base: dict[tuple[str, str], int] = {}
        self._peers: dict[str, dict[str, Any]] = {}

    def observe(self, peers: list[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """The peers to render: the current ones (their counters made monotonic) followed by
        departed ones (state Idle, counters as last seen)."""
        current: dict[str, dict[str, Any]] = {}
        for peer in peers:
            address = str(peer.get("address", ""))
            entry = dict(peer)
            for key in _COUNTER_KEYS:
                value = int(peer.get(key, 0) or 0)
                slot = (address, key)
                last = self._last.get(slot, 0)
                if value < last:  # a new session counts from 0 again
                    self._base[slot] = self._base.get(slot, 0) + last
                self._last[slot] = value
                entry[key] = self._base.get(slot, 0) + value
            current[address] = entry
        for address, entry in self._peers.items():
            if address not in current:
                departed = dict(entry, state="Idle", since=None, departed=True)
                current[address] = departed
        self._peers = current
        return list(current.values())


def _epoch(text: object) -> float:
    if not isinstance(text, str) or not text:
        return 0.0
    try:
        moment = datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    except ValueError:
        return 0.0
    return moment.timestamp()


def render_metrics(
    status: Mapping[str, Any], per_peer: bool = True, memory: PeerMemory | None = None
) -> str:
    """Render a status snapshot (the ``pybgp status --json`` shape) as Prometheus text.

    With ``memory``, counters never go down (see :class:`PeerMemory`)."""
    out: list[str] = []

    def family(name: str, kind: str, help_text: str) -> None:
        out.append(f"# HELP {name} {help_text}")
        out.append(f"# TYPE {name} {kind}")

    live = list(status.get("peers", ()))
    peers = memory.observe(live) if memory is not None else [dict(p) for p in live]
    family("pybgp_sessions", "gauge", "BGP sessions by RFC 4271 state.")
    by_state = Counter(str(p.get("state", "Idle")) for p in live)
    for state in STATES:
        out.append(f'pybgp_sessions{{state="{state}"}} {by_state.get(state, 0)}')

    if per_peer:
        family("pybgp_peer_state", "gauge",
               "Session state by RFC 4271 number: Idle=1 Connect=2 Active=3 OpenSent=4 "
               "OpenConfirm=5 Established=6.")
        for peer in peers:
            label = _escape(str(peer.get("address", "")))
            number = STATE_NUMBERS.get(str(peer.get("state", "Idle")), 1)
            out.append(f'pybgp_peer_state{{peer="{label}"}} {number}')
        family("pybgp_peer_established_since_seconds", "gauge",
               "Unix time the session became Established; 0 when it is not.")
        for peer in peers:
            label = _escape(str(peer.get("address", "")))
            since = _epoch(peer.get("since")) if peer.get("state") == "Established" else 0.0
            out.append(f'pybgp_peer_established_since_seconds{{peer="{label}"}} {since:.0f}')

    counters = (
        ("received", "pybgp_prefixes_received", "gauge", "Prefixes held from the peer."),
        ("accepted", "pybgp_prefixes_accepted", "gauge", "Prefixes accepted by import policy."),
        ("advertised", "pybgp_prefixes_advertised", "gauge", "Prefixes sent to the peer."),
        ("updates_in", "pybgp_updates_received_total", "counter", "UPDATE messages received."),
        ("updates_out", "pybgp_updates_sent_total", "counter", "UPDATE messages sent."),
    )
    for key, name, kind, help_text in counters:
        family(name, kind, help_text)
        gauge = kind == "gauge"
        if per_peer:
            for peer in peers:
                label = _escape(str(peer.get("address", "")))
                value = 0 if gauge and peer.get("departed") else int(peer.get(key, 0) or 0)
                out.append(f'{name}{{peer="{label}"}} {value}')
        else:
            total = sum(
                0 if gauge and p.get("departed") else int(p.get(key, 0) or 0) for p in peers
            )
            out.append(f"{name} {total}")

    _render_bfd(peers, per_peer, family, out)

    family("pybgp_rib_prefixes", "gauge", "Loc-RIB prefixes per address family.")
    rib = dict(status.get("rib", {}))
    for name, count in sorted(rib.items()):
        out.append(f'pybgp_rib_prefixes{{family="{_escape(name)}"}} {int(count)}')

    kernel = dict(status.get("kernel", {}))
    not_installed = kernel.get("not_installed")
    if not_installed is None:  # no adapter: no best path reaches the kernel
        not_installed = sum(int(c) for c in rib.values())
    family("pybgp_kernel_routes", "gauge",
           "Best paths by kernel state: installed, failed (the kernel refused), not_installed "
           "(no usable next hop, or no kernel adapter).")
    out.append(f'pybgp_kernel_routes{{state="installed"}} {int(kernel.get("installed", 0))}')
    out.append(f'pybgp_kernel_routes{{state="failed"}} {int(kernel.get("failed", 0))}')
    out.append(f'pybgp_kernel_routes{{state="not_installed"}} {int(not_installed)}')
    family("pybgp_kernel_routes_installed", "gauge", "Routes the kernel adapter holds installed.")
    out.append(f"pybgp_kernel_routes_installed {int(kernel.get('installed', 0))}")
    family("pybgp_kernel_routes_failed", "gauge", "Routes the kernel adapter failed to install.")
    out.append(f"pybgp_kernel_routes_failed {int(kernel.get('failed', 0))}")

    family("pybgp_event_loop_lag_seconds", "gauge", "Most recent asyncio event-loop lag.")
    out.append(f"pybgp_event_loop_lag_seconds {float(status.get('event_loop_lag', 0.0)):.6f}")
    return "\n".join(out) + "\n"


BFD_STATES = ("AdminDown", "Down", "Init", "Up")
"""RFC 5880 §4.1 state values, in order (AdminDown=0 .. Up=3)."""


def _render_bfd(
    peers: list[Any],
    per_peer: bool,
    family: Callable[[str, str, str], None],
    out: list[str],
) -> None:
    """BFD series, from the ``"bfd"`` object of the peers that run BFD."""
    sessions = [(p, p["bfd"]) for p in peers if isinstance(p.get("bfd"), Mapping)]
    if not sessions:
        return
    family("pybgp_bfd_sessions", "gauge", "BFD sessions by RFC 5880 state.")
    by_state = Counter(str(bfd.get("state", "Down")) for _, bfd in sessions)
    for state in BFD_STATES:
        out.append(f'pybgp_bfd_sessions{{state="{state}"}} {by_state.get(state, 0)}')
    if not per_peer:
        return
    family(
        "pybgp_bfd_state", "gauge", "BFD session state (RFC 5880: AdminDown=0 Down=1 Init=2 Up=3)."
    )
    for peer, bfd in sessions:
        label = _escape(str(peer.get("address", "")))
        state = str(bfd.get("state", "Down"))
        value = BFD_STATES.index(state) if state in BFD_STATES else 1
        out.append(f'pybgp_bfd_state{{peer="{label}"}} {value}')
    family(
        "pybgp_bfd_detection_time_seconds",
        "gauge",
        "How long without a BFD packet before the peer is declared down.",
    )
    for peer, bfd in sessions:
        label = _escape(str(peer.get("address", "")))
        seconds = float(bfd.get("detection_time_ms", 0) or 0) / 1000
        out.append(f'pybgp_bfd_detection_time_seconds{{peer="{label}"}} {seconds:.3f}')


class MetricsServer:
    """A minimal HTTP/1.0 server answering ``GET /metrics``; everything else is 404."""

    def __init__(self, host: str, port: int, render: Callable[[], str]) -> None:
        self.host = host
        self.port = port
        self._render = render
        self._server: asyncio.Server | None = None

    @property
    def bound_port(self) -> int:
        """The port actually bound (useful when configured as 0)."""
        assert self._server is not None and self._server.sockets
        return int(self._server.sockets[0].getsockname()[1])

    async def start(self) -> None:
        """Start listening (OSError naming the address when it is taken)."""
        try:
            self._server = await asyncio.start_server(self._serve, self.host, self.port)
        except OSError as exc:
            raise OSError(
                exc.errno, f"metrics address {self.host}:{self.port} in use or refused: "
                f"{exc.strerror or exc}"
            ) from None
        log.info("metrics on http://%s:%d/metrics", self.host, self.bound_port)

    async def close(self) -> None:
        """Stop listening."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request_line = await asyncio.wait_for(reader.readline(), 5.0)
            while (await asyncio.wait_for(reader.readline(), 5.0)) not in (b"\r\n", b"\n", b""):
                pass
            parts = request_line.decode("latin-1").split()
            if len(parts) >= 2 and parts[0] == "GET" and parts[1].split("?")[0] == "/metrics":
                body = self._render().encode()
                head = "HTTP/1.0 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\n"
            else:
                body = b"not found\n"
                head = "HTTP/1.0 404 Not Found\r\nContent-Type: text/plain\r\n"
            writer.write(f"{head}Content-Length: {len(body)}\r\n\r\n".encode() + body)
            await writer.drain()
        except (TimeoutError, ConnectionError, UnicodeDecodeError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

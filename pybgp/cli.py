"""The ``pybgp`` command: run, check, demo, and the client commands of a running speaker
(status, routes, monitor, reload, announce, withdraw, mrt dump).

Exit codes are part of the contract (see docs/operations.md): ``run`` 0 on a clean stop, 1 when
something it needs is taken, 2 on a bad config; client commands 0, or 1 when no speaker answers
or it refuses; ``check`` 2 on an invalid config; ``demo`` 0 when the cluster converged.

Client commands must start fast: this module imports only the standard library and
:mod:`pybgp.client` at the top; the protocol stack is imported by the commands that need it.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from typing import Any

from pybgp import __version__
from pybgp.client import DEFAULT_SOCKET, ControlError, request, socket_from_config, stream

EXIT_OK = 0
EXIT_NO_SPEAKER = 1
EXIT_REFUSED = 1
EXIT_BAD_CONFIG = 2

CLIENT_COMMANDS = ("status", "routes", "monitor", "reload", "announce", "withdraw", "mrt")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pybgp",
        description=(
            "A pure-Python BGP speaker with route-table sync: announce pod CIDR blocks, learn "
            "the other nodes' blocks and install them in the kernel, or reflect routes for a "
            "cluster."
        ),
        epilog="Run 'pybgp COMMAND --help' for the options of one command.",
    )
    parser.add_argument("--version", action="version", version=f"pybgp {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    run = commands.add_parser(
        "run",
        help="run a speaker from a TOML config until SIGTERM/SIGINT (SIGHUP reloads)",
        description=(
            "Run one speaker in the foreground. SIGTERM or SIGINT stop it cleanly (Cease to "
            "every peer); SIGHUP re-reads the config file and applies the difference without "
            "resetting unchanged sessions. Exits 0 on a clean stop, 1 when its control socket, "
            "metrics port or BGP port is taken (naming it; nothing touched), 2 on a bad config."
        ),
    )
    run.add_argument("-c", "--config", required=True, metavar="FILE", help="TOML config file")
    run.add_argument(
        "--log-format", choices=("text", "json"), default=None,
        help="log line format (default: [logging] format of the config, else text)",
    )
    run.add_argument(
        "--log-level", choices=("debug", "info", "warning", "error"), default=None,
        help="log level (default: [logging] level of the config, else info); debug explains "
             "every UPDATE and policy verdict",
    )

    def client(name: str, help_text: str, description: str, json_flag: bool = True
               ) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text, description=description)
        sub.add_argument(
            "-s", "--socket", metavar="SOCKET", default=None,
            help=f"control socket (default: control_socket of -c FILE, else {DEFAULT_SOCKET})",
        )
        sub.add_argument(
            "-c", "--config", metavar="FILE", default=None,
            help="read the control socket path from this config",
        )
        if json_flag:
            sub.add_argument("--json", action="store_true", help="print JSON (see docs)")
        return sub

    status = client(
        "status", "the peers of a running speaker, or one peer in detail",
        "Show the sessions of a running speaker; with PEER, that peer in detail (negotiated "
        "capabilities and families, timers, counters, last error); with --check, a readiness "
        "probe. Exits 1 when no speaker answers, no such peer, or (--check) not ready.",
    )
    status.add_argument("peer", nargs="?", metavar="PEER", help="one peer's address")
    status.add_argument(
        "--check", action="store_true",
        help="readiness probe: exit 0 only when every configured peer is Established and no "
             "kernel route failed (else 1, one line why)",
    )

    routes = client(
        "routes", "the routes of a running speaker",
        "Show the Loc-RIB of a running speaker (every path, best marked), sorted. PREFIX: the "
        "paths of that prefix (exact), or of the longest match for an address. --peer with "
        "--received: the peer's Adj-RIB-In before policy, each path accepted or not with the "
        "rule that decided; with --advertised: what pybgp sends that peer (Adj-RIB-Out).",
    )
    routes.add_argument("prefix", nargs="?", metavar="PREFIX", help="a prefix or an address")
    routes.add_argument("--peer", metavar="ADDR", default=None, help="only this peer's paths")
    view = routes.add_mutually_exclusive_group()
    view.add_argument("--received", action="store_true", help="Adj-RIB-In before policy")
    view.add_argument("--advertised", action="store_true", help="Adj-RIB-Out to the peer")
    routes.add_argument("--family", choices=("ipv4", "ipv6"), default=None)

    client(
        "monitor", "follow a running speaker's changes live",
        "Print a snapshot of the peers, then one line (one JSON object with --json) per peer "
        "state change, best-path change and kernel change as they happen, until Ctrl-C.",
    )
    client(
        "reload", "make a running speaker re-read its config file",
        "Ask the running speaker to re-read its config file (as SIGHUP does) and print what "
        "changed. Exits 1 when the new file is refused (the running config is kept).",
        json_flag=False,
    )
    announce = client(
        "announce", "originate a prefix in a running speaker",
        "Originate PREFIX now, until withdrawn or the speaker stops. Exits 1 when refused.",
        json_flag=False,
    )
    announce.add_argument("prefix", metavar="PREFIX")
    announce.add_argument(
        "--community", action="append", default=[], metavar="C",
        help="a community to attach (ASN:VALUE or a well-known name); repeatable",
    )
    announce.add_argument(
        "--next-hop", default=None, metavar="A",
        help="the next hop peers get (default: the session's own address)",
    )
    withdraw = client(
        "withdraw", "stop originating a prefix announced at run time or in the config",
        "Withdraw PREFIX from every peer. Exits 1 when pybgp does not originate it.",
        json_flag=False,
    )
    withdraw.add_argument("prefix", metavar="PREFIX")

    mrt = commands.add_parser(
        "mrt", help="MRT files (RFC 6396) of a running speaker",
        description="MRT files of a running speaker, readable by bgpdump.",
    )
    mrt_commands = mrt.add_subparsers(dest="mrt_command", metavar="SUBCOMMAND", required=True)
    dump = mrt_commands.add_parser(
        "dump", help="write the tables as a TABLE_DUMP_V2 file",
        description="Write every path of the Loc-RIB as an MRT TABLE_DUMP_V2 file "
                    "(RFC 6396 §4.3). Exits 1 on failure.",
    )
    dump.add_argument("file", metavar="FILE")
    dump.add_argument("--family", choices=("ipv4", "ipv6"), default=None)
    dump.add_argument(
        "-s", "--socket", metavar="SOCKET", default=None,
        help=f"control socket (default: control_socket of -c FILE, else {DEFAULT_SOCKET})",
    )
    dump.add_argument("-c", "--config", metavar="FILE", default=None,
                      help="read the control socket path from this config")

    check = commands.add_parser(
        "check",
        help="validate a config without running it",
        description="Validate a config. Exits 0 when valid (warnings on stderr), 2 naming the "
                    "key and why when not.",
    )
    check.add_argument("-c", "--config", required=True, metavar="FILE")

    demo = commands.add_parser(
        "demo",
        help="a small Calico-style cluster with no set-up",
        description=(
            "Start a small Calico-style cluster of real pybgp speakers (four nodes in a full "
            "mesh, a route reflector serving two more), let it converge, and show each node's "
            "sessions and the routes it installed. With --netns (root, Linux), every node is a "
            "network namespace, routes go into real kernel tables and a pod pings another."
        ),
    )
    demo.add_argument("--netns", action="store_true", help="real namespaces and kernel routes")
    demo.add_argument("--timeout", type=float, default=30.0, help="seconds to wait (default 30)")
    return parser


def _socket_path(args: argparse.Namespace) -> str:
    if args.socket:
        return str(args.socket)
    if args.config:
        return socket_from_config(args.config)
    return DEFAULT_SOCKET


# --------------------------------------------------------------------------------------------
# text output


def _print_json(document: Any) -> None:
    json.dump(document, sys.stdout, indent=None, separators=(", ", ": "))
    print()


def _print_status(status: dict[str, Any]) -> None:
    rib = ", ".join(f"{k} {v}" for k, v in status.get("rib", {}).items()) or "empty"
    kernel = status.get("kernel", {})
    print(
        f"pybgp speaker AS {status.get('asn')} router id {status.get('router_id')}\n"
        f"Loc-RIB: {rib}; kernel: {kernel.get('installed', 0)} installed, "
        f"{kernel.get('failed', 0)} failed"
    )
    datastore = status.get("datastore")
    if datastore:
        error = f" ({datastore.get('last_error')})" if datastore.get("state") != "in-sync" else ""
        print(
            f"datastore: {datastore.get('type')} {datastore.get('endpoint') or '-'} node "
            f"{datastore.get('node')}: {datastore.get('state')} since {datastore.get('since')}, "
            f"revision {datastore.get('revision')}{error}"
        )
    header = ("PEER ADDRESS", "AS", "PEER TYPE", "STATE", "SINCE", "RCVD/ACPT/ADV", "INFO")
    rows = [
        (
            str(p.get("address", "")), str(p.get("asn", "")), str(p.get("type", "")),
            str(p.get("state", "")), str(p.get("since") or "-"),
            f"{p.get('received', 0)}/{p.get('accepted', 0)}/{p.get('advertised', 0)}",
            str(p.get("info", "")),
        )
        for p in status.get("peers", [])
    ]
    _print_table(header, rows)


def _print_peer(peer: dict[str, Any]) -> None:
    counters = peer.get("counters", {})
    families = ", ".join(f"{k} {v}" for k, v in peer.get("families", {}).items()) or "-"
    gr = peer.get("graceful_restart", {})
    lines = [
        ("Peer", f"{peer['address']} AS {peer['asn']} ({peer['type']})"
                 + (f" {peer['description']}" if peer.get("description") else "")),
        ("State", f"{peer['state']} since {peer['since']}"),
        ("Router id", str(peer.get("router_id") or "-")),
        ("Hold/keepalive", f"{peer.get('hold_time')}/{peer.get('keepalive_time')} s "
                           f"(configured hold {peer.get('configured_hold_time')} s, send hold "
                           f"{peer.get('send_hold_time') or 'default'})"),
        ("Capabilities", ", ".join(peer.get("capabilities", [])) or "-"),
        ("Families", families),
        ("Graceful restart", f"{'negotiated' if gr.get('negotiated') else 'not negotiated'}"
                             f", phase {gr.get('phase', 'none')}"),
        ("Prefixes", f"received {counters.get('received', 0)}, accepted "
                     f"{counters.get('accepted', 0)}, advertised "
                     f"{counters.get('advertised', 0)}"),
        ("UPDATEs", f"in {counters.get('updates_in', 0)}, out {counters.get('updates_out', 0)}"),
        ("Filters", f"import {peer.get('import_filters') or '-'}, export "
                    f"{peer.get('export_filters') or '-'}"),
        ("Last error", str(peer.get("last_error") or "-")),
    ]
    width = max(len(k) for k, _ in lines)
    for key, value in lines:
        print(f"{key.ljust(width)}  {value}")


def _print_routes(result: dict[str, Any]) -> None:
    routes = result.get("routes", [])
    rows: list[tuple[str, ...]]
    if routes and "accepted" in routes[0]:
        header: tuple[str, ...] = ("PREFIX", "NEXT HOP", "AS PATH", "ACCEPTED", "REASON")
        rows = [
            (str(r.get("prefix")), str(r.get("next_hop") or "-"),
             " ".join(str(a) for a in r.get("as_path", [])) or "-",
             "yes" if r.get("accepted") else "no", str(r.get("reason") or ""))
            for r in routes
        ]
    elif routes and "to" in routes[0]:
        header = ("PREFIX", "NEXT HOP", "AS PATH", "LOCAL PREF", "COMMUNITIES")
        rows = [
            (str(r.get("prefix")), str(r.get("next_hop") or "-"),
             " ".join(str(a) for a in r.get("as_path", [])) or "-",
             "-" if r.get("local_pref") is None else str(r.get("local_pref")),
             " ".join(r.get("communities", [])) or "-")
            for r in routes
        ]
    else:
        header = ("", "PREFIX", "NEXT HOP", "PEER", "AS PATH", "REASON", "KERNEL")
        rows = [
            (
                "*" if r.get("best") else "",
                str(r.get("prefix")),
                str(r.get("next_hop")),
                str(r.get("peer") or "local"),
                " ".join(str(a) for a in r.get("as_path", [])) or "-",
                str(r.get("reason") or ""),
                "yes" if r.get("installed") else str(r.get("kernel") or "no"),
            )
            for r in routes
        ]
    _print_table(header, rows)


def _print_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h)
              for i, h in enumerate(header)]
    print("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)).rstrip())
    for row in rows:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
    if not rows:
        print("(none)")


def _config_error_text(path: str, exc: Exception) -> str:
    """``FILE: key.path: what is wrong``; whole-file errors already start with the file."""
    if getattr(exc, "key_path", ""):
        return f"{path}: {exc}"
    return str(exc)


# --------------------------------------------------------------------------------------------
# commands


def _check(path: str) -> int:
    from pybgp.config import ConfigError, load_config
    from pybgp.config.advice import config_warnings

    try:
        config = load_config(path)
    except ConfigError as exc:
        print(_config_error_text(path, exc), file=sys.stderr)
        return EXIT_BAD_CONFIG
    for warning in config_warnings(config):
        print(f"{path}: warning: {warning}", file=sys.stderr)
    print(
        f"{path}: valid (AS {config.speaker.asn}, {len(config.peers)} peers, "
        f"{len(config.dynamic_peers)} dynamic ranges)"
    )
    return EXIT_OK


def _monitor(path: str, as_json: bool) -> int:
    from pybgp.monitor_text import text_line

    try:
        for document in stream(path, "monitor"):
            if as_json:
                print(json.dumps(document, separators=(", ", ": ")), flush=True)
            else:
                print(text_line(document), flush=True)
    except KeyboardInterrupt:
        return EXIT_OK
    print("pybgp monitor: the speaker closed the stream", file=sys.stderr)
    return EXIT_NO_SPEAKER


def _client(args: argparse.Namespace) -> int:
    name = "mrt dump" if args.command == "mrt" else args.command
    try:
        path = _socket_path(args)
    except ControlError as exc:
        print(f"pybgp {name}: {exc}", file=sys.stderr)
        return EXIT_BAD_CONFIG
    as_json = bool(getattr(args, "json", False))
    try:
        if args.command == "monitor":
            return _monitor(path, as_json)
        if args.command == "status":
            if args.check:
                result = request(path, "check")
                print(result["reason"])
                return EXIT_OK if result["ready"] else EXIT_REFUSED
            if args.peer:
                result = request(path, "peer", peer=args.peer)
                if as_json:
                    _print_json(result)
                else:
                    _print_peer(result)
                return EXIT_OK
            result = request(path, "status")
            if as_json:
                _print_json(result)
            else:
                _print_status(result)
            return EXIT_OK
        if args.command == "routes":
            view = "received" if args.received else "advertised" if args.advertised else None
            arguments = {
                k: v
                for k, v in (("prefix", args.prefix), ("peer", args.peer), ("view", view),
                             ("family", args.family))
                if v is not None
            }
            result = request(path, "routes", timeout=120.0, **arguments)
            if as_json:
                _print_json(result)
            else:
                _print_routes(result)
            return EXIT_OK
        if args.command == "reload":
            print(request(path, "reload", timeout=60.0)["message"])
            return EXIT_OK
        if args.command == "announce":
            request(path, "announce", prefix=args.prefix, communities=args.community,
                    next_hop=args.next_hop)
            print(f"announced {args.prefix}")
            return EXIT_OK
        if args.command == "withdraw":
            request(path, "withdraw", prefix=args.prefix)
            print(f"withdrawn {args.prefix}")
            return EXIT_OK
        # mrt dump: the speaker writes the file, so it gets an absolute path.
        result = request(path, "mrt_dump", timeout=300.0, file=os.path.abspath(args.file),
                         family=args.family)
        print(f"wrote {result['file']}: {result['prefixes']} prefixes, {result['bytes']} bytes")
        return EXIT_OK
    except ControlError as exc:
        print(f"pybgp {name}: {exc}", file=sys.stderr)
        return EXIT_NO_SPEAKER


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``pybgp`` console script; returns the exit code."""
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command is None:  # bare `pybgp`
        parser.print_help()
        return EXIT_OK
    if args.command in CLIENT_COMMANDS:
        return _client(args)
    if args.command == "check":
        return _check(args.config)
    if args.command == "run":
        from pybgp.daemon import run_from_file

        return run_from_file(args.config, log_format=args.log_format, log_level=args.log_level)
    if args.command == "demo":
        from pybgp.demo import run_demo

        return run_demo(netns=args.netns, timeout=args.timeout)
    raise AssertionError(args.command)  # argparse only allows the commands above


if __name__ == "__main__":
    sys.exit(main())

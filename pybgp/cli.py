"""The ``pybgp`` command: run, status, routes, check, demo.

Exit codes are part of the contract (see docs/operations.md): ``run`` 0 on a clean stop and 2 on a
bad config; ``status``/``routes`` 1 when no speaker answers; ``check`` 2 on an invalid config;
``demo`` 0 when the cluster converged.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any

from pybgp import __version__
from pybgp.control import DEFAULT_SOCKET, ControlError, request

EXIT_OK = 0
EXIT_NO_SPEAKER = 1
EXIT_BAD_CONFIG = 2


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
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    run = commands.add_parser(
        "run",
        help="run a speaker from a TOML config until SIGTERM/SIGINT (SIGHUP reloads)",
        description=(
            "Run one speaker in the foreground. SIGTERM or SIGINT stop it cleanly (Cease to "
            "every peer); SIGHUP re-reads the config file and applies the difference without "
            "resetting unchanged sessions. Exits 0 on a clean stop, 2 on a bad config."
        ),
    )
    run.add_argument("-c", "--config", required=True, metavar="FILE", help="TOML config file")
    run.add_argument(
        "--log-format", choices=("text", "json"), default=None,
        help="log line format (default: [logging] format of the config, else text)",
    )
    run.add_argument(
        "--log-level", choices=("debug", "info", "warning", "error"), default=None,
        help="log level (default: [logging] level of the config, else info)",
    )

    def add_socket(sub: argparse.ArgumentParser) -> None:
        sub.add_argument(
            "-s", "--socket", metavar="SOCKET", default=None,
            help=f"control socket (default: control_socket of -c FILE, else {DEFAULT_SOCKET})",
        )
        sub.add_argument(
            "-c", "--config", metavar="FILE", default=None,
            help="read the control socket path from this config",
        )
        sub.add_argument("--json", action="store_true", help="print JSON (see docs)")

    status = commands.add_parser(
        "status",
        help="the peers of a running speaker",
        description="Show the sessions of a running speaker. Exits 1 when no speaker answers.",
    )
    add_socket(status)

    routes = commands.add_parser(
        "routes",
        help="the Loc-RIB of a running speaker",
        description="Show every path in the Loc-RIB of a running speaker, best marked.",
    )
    add_socket(routes)
    routes.add_argument("--family", choices=("ipv4", "ipv6"), default=None)

    check = commands.add_parser(
        "check",
        help="validate a config without running it",
        description="Validate a config. Exits 0 when valid, 2 naming the key and why when not.",
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
        from pybgp.config import load_config

        return str(load_config(args.config).speaker.control_socket)
    return DEFAULT_SOCKET


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


def _print_routes(result: dict[str, Any]) -> None:
    header = ("", "PREFIX", "NEXT HOP", "PEER", "AS PATH", "REASON", "KERNEL")
    rows = []
    for r in result.get("routes", []):
        rows.append(
            (
                "*" if r.get("best") else "",
                str(r.get("prefix")),
                str(r.get("next_hop")),
                str(r.get("peer") or "local"),
                " ".join(str(a) for a in r.get("as_path", [])) or "-",
                str(r.get("reason") or ""),
                "yes" if r.get("installed") else str(r.get("kernel") or "no"),
            )
        )
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


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``pybgp`` console script; returns the exit code."""
    args = _parser().parse_args(argv)
    if args.command == "check":
        from pybgp.config import ConfigError, load_config

        try:
            config = load_config(args.config)
        except ConfigError as exc:
            print(_config_error_text(args.config, exc), file=sys.stderr)
            return EXIT_BAD_CONFIG
        print(
            f"{args.config}: valid (AS {config.speaker.asn}, {len(config.peers)} peers, "
            f"{len(config.dynamic_peers)} dynamic ranges)"
        )
        return EXIT_OK
    if args.command == "run":
        from pybgp.daemon import run_from_file

        return run_from_file(args.config, log_format=args.log_format, log_level=args.log_level)
    if args.command in ("status", "routes"):
        try:
            path = _socket_path(args)
        except Exception as exc:  # a bad -c file: say so, as status would
            print(f"pybgp {args.command}: {exc}", file=sys.stderr)
            return EXIT_BAD_CONFIG
        try:
            if args.command == "status":
                result = request(path, "status")
            else:
                result = request(path, "routes", family=args.family, timeout=120.0)
        except ControlError as exc:
            print(f"pybgp {args.command}: {exc}", file=sys.stderr)
            return EXIT_NO_SPEAKER
        if args.json:
            json.dump(result, sys.stdout, indent=None, separators=(", ", ": "))
            print()
        elif args.command == "status":
            _print_status(result)
        else:
            _print_routes(result)
        return EXIT_OK
    if args.command == "demo":
        from pybgp.demo import run_demo

        return run_demo(netns=args.netns, timeout=args.timeout)
    raise AssertionError(args.command)  # argparse only allows the commands above


if __name__ == "__main__":
    sys.exit(main())

"""One human line per ``pybgp monitor`` document (the client side: standard library only, so
that the command starts fast). The documents are built by :mod:`pybgp.monitor`."""

from __future__ import annotations

from typing import Any


def text_line(document: dict[str, Any]) -> str:
    """One human line per monitor document (``pybgp monitor`` without ``--json``)."""
    kind = document.get("type")
    time = str(document.get("time", ""))[:23]
    if kind == "snapshot":
        peers = ", ".join(f"{p['address']} {p['state']}" for p in document.get("peers", []))
        counts = ", ".join(f"{k} {v}" for k, v in document.get("prefixes", {}).items())
        return f"{time} snapshot: peers: {peers or 'none'}; Loc-RIB: {counts}"
    if kind == "peer":
        return (
            f"{time} peer {document['peer']}: {document['old']} -> {document['new']}"
            + (f" ({document['reason']})" if document.get("reason") else "")
        )
    if kind == "best":
        if document["action"] == "withdraw":
            return f"{time} best {document['prefix']}: withdrawn"
        path = " ".join(str(a) for a in document.get("as_path", [])) or "-"
        return (
            f"{time} best {document['prefix']}: {document['action']} via "
            f"{document['next_hop']} from {document['peer'] or 'local'} as-path {path} "
            f"({document['reason']})"
        )
    if kind == "kernel":
        return f"{time} kernel {document['prefix']}: {document['state']}"
    return f"{time} {document}"

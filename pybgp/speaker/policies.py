"""Per-peer policies set by a library user (``Speaker.set_policies``), kept apart from the shell.

A policy left out (:data:`KEEP`) stays as it is; policies given before ``start()`` wait in a
``pending`` map for the peer ``start()`` adds from the config. No I/O.
"""

from __future__ import annotations

from typing import Any, Final

from pybgp.rib import Policy

__all__ = ["KEEP", "remember", "with_pending"]

KEEP: Final = object()
"""``Speaker.set_policies`` default: leave that policy as it is."""

Pending = dict[str, tuple[object, object]]


def remember(pending: Pending, peer_id: str, import_policy: object, export_policy: object) -> None:
    """Keep policies set before the peer exists (later calls win, KEEP keeps earlier ones)."""
    old_import, old_export = pending.get(peer_id, (KEEP, KEEP))
    pending[peer_id] = (
        old_import if import_policy is KEEP else import_policy,
        old_export if export_policy is KEEP else export_policy,
    )


def with_pending(
    pending: Pending, peer_id: str, import_policy: Policy | None, export_policy: Policy | None
) -> tuple[Policy | None, Policy | None]:
    """The policies a peer starts with: its config's, unless set before ``start()``."""
    kept = pending.pop(peer_id, None)
    if kept is None:
        return import_policy, export_policy
    chosen: list[Any] = [import_policy, export_policy]
    for index, value in enumerate(kept):
        if value is not KEEP:
            chosen[index] = value
    return chosen[0], chosen[1]


def changes(import_policy: object, export_policy: object) -> tuple[dict[str, Any], dict[str, Any]]:
    """(PeerInfo fields, Rib.set_policies keywords) for the policies given (not KEEP)."""
    info: dict[str, Any] = {}
    rib: dict[str, Any] = {}
    if import_policy is not KEEP:
        info["import_policy"] = rib["import_"] = import_policy
    if export_policy is not KEEP:
        info["export_policy"] = rib["export"] = export_policy
    return info, rib

"""Update groups: peers that are sent the same UPDATEs share the work of making them.

A route reflector with 1,000 clients sends every change 1,000 times. Most of that work is the
same for every client: the export rules, the export policy, and above all the encoding of the
UPDATE messages. As GoBGP and FRR do, peers are gathered into *update groups*, keyed by
everything the export and the encoding depend on (:func:`group_key`): the peer's settings
other than its identity (AS, our address on the session, route-reflector client or not,
next-hop-self, role, families...), its export policy, and the negotiated session parameters
that change the encoding (4-octet AS, ADD-PATH, extended messages, extended next hop,
families). Per flush of best-path changes, a group:

1. runs the export rules (``export.export_attributes``) and its export policy once per
   (family, best path), for all its members (:func:`_group_runs`);
2. applies the result to each member's own Adj-RIB-Out (one dictionary update per prefix: what
   each peer was sent stays exact, per peer, so route refresh, counters and withdrawals keep
   working as before) and notes which prefixes changed for that member (:func:`_member_diff`);
3. encodes the UPDATEs once per distinct difference: members with the same difference (all of
   them, usually) get the very same message objects, which the speaker writes as they are.

Split horizon survives the sharing: a path is never sent back to the peer it came from (RFC
4271 §9.2; RFC 4456 §8 for a client's own route), so in step 2 the source of a best path
treats it as "not exported" (a withdrawal if it had been sent something else for the prefix).
Its difference then differs from the others', so it gets its own encoding.

Peers whose export policy may depend on the receiving peer are not shared: a policy shares
only when it says so with an ``update_group_key`` attribute (the config's filter policies do:
their verdict depends on the route alone). No I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Iterator, Sequence

import attrs

from pybgp.rib.export import export_attributes, pack
from pybgp.rib.paths import Path
from pybgp.rib.peer import PeerState
from pybgp.rib.policy import apply_route, make_route
from pybgp.rib.types import ChangeGroup, PeerInfo
from pybgp.wire.attributes import PathAttributes
from pybgp.wire.constants import Family

IsClient = Callable[[str], bool]

_ANONYMOUS = attrs.fields(PeerInfo)
_IDENTITY = ("peer_id", "address", "router_id")
"""PeerInfo fields that name the peer rather than shape what it is sent."""
_IMPORT_ONLY = ("import_policy", "allow_own_as", "max_prefixes", "soft_reconfiguration_inbound")
"""PeerInfo fields that concern only what the peer sends us."""

Run = tuple[Family, Sequence[bytes], PathAttributes | None, str | None]
"""(family, prefixes, attributes exported for them or None = not exported, peer id of the
best path's source or None)."""


def group_key(peer: PeerState) -> Hashable:
    """What the UPDATEs sent to ``peer`` depend on, apart from its Adj-RIB-Out.

    Every PeerInfo field is part of the key except the peer's identity and its import-side
    settings: a field added later shapes the key by default (less sharing, never a wrong
    UPDATE). Cached on the peer until its settings or its session change.
    """
    info, negotiated = peer.info, peer.negotiated
    cached = peer.group_key
    if cached is not None and cached[0] is info and cached[1] is negotiated:
        return cached[2]
    shape = tuple(
        getattr(info, field.name)
        for field in _ANONYMOUS
        if field.name not in _IDENTITY
        and field.name not in _IMPORT_ONLY
        and field.name != "export_policy"  # its own part of the key, below
    )
    policy = info.export_policy
    policy_key: Hashable = None
    if policy is not None:
        # A policy that does not declare itself shareable may look at ``to_peer``.
        policy_key = getattr(policy, "update_group_key", None) or ("peer", info.peer_id)
    key = _intern(_Key((shape, policy_key, peer.send_families() - peer.add_path_send, negotiated)))
    peer.group_key = (info, negotiated, key)
    return key


class _Key:
    """A group key with its hash computed once (it is looked up once per peer per flush)."""

    __slots__ = ("hash", "parts")

    def __init__(self, parts: tuple[object, ...]) -> None:
        self.parts = parts
        self.hash = hash(parts)

    def __hash__(self) -> int:
        return self.hash

    def __eq__(self, other: object) -> bool:
        return self is other or (
            isinstance(other, _Key) and self.hash == other.hash and self.parts == other.parts
        )


_KEYS: dict[_Key, _Key] = {}


def _intern(key: _Key) -> _Key:
    """One object per distinct key, so that grouping compares identities (a cache: emptied
    when it grows large, which costs only that comparison)."""
    if len(_KEYS) > 4096:
        _KEYS.clear()
    return _KEYS.setdefault(key, key)


def export_groups(
    peers: Iterable[PeerState], changes: Sequence[ChangeGroup], is_client: IsClient
) -> dict[str, tuple[bytes, ...]]:
    """Apply best-path ``changes`` to the Adj-RIB-Out of every established ``peers``, group
    by group; the UPDATEs carrying each peer's difference (shared between the members of a
    group that have the same difference)."""
    groups: dict[Hashable, list[PeerState]] = {}
    for peer in peers:
        key = group_key(peer)
        same = groups.get(key)
        if same is None:
            groups[key] = [peer]
        else:
            same.append(peer)
    sent: dict[str, tuple[bytes, ...]] = {}
    for members in groups.values():
        runs = _group_runs(members, changes, is_client)
        if not runs:
            continue
        encoded: dict[tuple[object, ...], tuple[bytes, ...]] = {}
        for peer in members:
            diff, announce, withdraw = _member_diff(peer, runs)
            if not diff:
                continue
            messages = encoded.get(diff)
            if messages is None:
                messages = encoded[diff] = _encode(peer, announce, withdraw)
            sent[peer.info.peer_id] = messages
    return sent


def _group_runs(
    members: Sequence[PeerState], changes: Sequence[ChangeGroup], is_client: IsClient
) -> list[Run]:
    """The export of ``changes`` for any member of a group (split horizon left to each)."""
    first = members[0]
    families = first.send_families() - first.add_path_send
    exported: dict[tuple[Family, Path], PathAttributes | None] = {}
    runs: list[Run] = []
    for family, keys, best in final_states(changes, families):
        if best is None:
            runs.append((family, keys, None, None))
            continue
        if (family, best) in exported:
            attributes = exported[family, best]
        else:
            client = best.peer_id is not None and is_client(best.peer_id)
            target = first.export_target()
            attributes = export_attributes(target, family, best, client, split_horizon=False)
            if attributes is not None:
                attributes = first.interned.setdefault(attributes, attributes)
            exported[family, best] = attributes
        for result, run in _policy_runs(members, family, best, keys, attributes):
            runs.append((family, run, result, best.peer_id))
    return runs


def _policy_runs(
    members: Sequence[PeerState],
    family: Family,
    best: Path,
    keys: Sequence[bytes],
    attributes: PathAttributes | None,
) -> Iterator[tuple[PathAttributes | None, Sequence[bytes]]]:
    """(attributes or None, prefixes) after the group's export policy, if any."""
    first = members[0]
    policy = first.info.export_policy
    if attributes is None or policy is None:
        yield attributes, keys
        return
    # Shared policies do not depend on the receiving peer; debug lines name the group.
    to_peer = first.info.peer_id
    if len(members) > 1:
        to_peer += f" (update group of {len(members)})"
    results: dict[PathAttributes | None, list[bytes]] = {}
    for key in keys:
        route = make_route(family, key, attributes, best.next_hop, best.peer_id, to_peer)
        after = policy(route)
        result: PathAttributes | None = None
        if after is not None:
            result, _ = apply_route(route, after, attributes)
            result = first.interned.setdefault(result, result)
        results.setdefault(result, []).append(key)
    yield from results.items()


def _member_diff(
    peer: PeerState, runs: Sequence[Run]
) -> tuple[
    tuple[object, ...], dict[Family, dict[PathAttributes, list[bytes]]], dict[Family, list[bytes]]
]:
    """Apply the group's ``runs`` to one member's Adj-RIB-Out.

    Returns (a hashable description of what changed for this member, to share the encoding
    with members that have the same; the announcements per family and attribute set; the
    withdrawals per family). A run whose prefixes all changed is described by its index
    alone, so the description of the usual case costs nothing to build or compare.
    """
    me = peer.info.peer_id
    diff: list[object] = []
    announce: dict[Family, dict[PathAttributes, list[bytes]]] = {}
    withdraw: dict[Family, list[bytes]] = {}
    adj_out = peer.adj_out
    for index, (family, keys, attributes, source) in enumerate(runs):
        out = adj_out.get(family)
        if out is None:
            out = adj_out[family] = {}
        if source == me:
            attributes = None  # never back to the peer it came from (RFC 4271 §9.2)
        if attributes is None:
            if not out or out.keys().isdisjoint(keys):
                continue  # never sent: nothing to withdraw
            pop = out.pop
            gone = [key for key in keys if pop(key, None) is not None]
            withdraw.setdefault(family, []).extend(gone)
            diff.append((index, False, None if len(gone) == len(keys) else tuple(gone)))
            continue
        changed: Sequence[bytes]
        if not out or out.keys().isdisjoint(keys):
            out.update(dict.fromkeys(keys, attributes))
            changed = keys
        else:
            get = out.get
            changed = []
            for key in keys:
                old = get(key)
                if old is not attributes and old != attributes:
                    out[key] = attributes
                    changed.append(key)
            if not changed:
                continue
        per = announce.setdefault(family, {})
        lst = per.get(attributes)
        if lst is None:
            per[attributes] = list(changed)
        else:
            lst.extend(changed)
        diff.append((index, True, None if len(changed) == len(keys) else tuple(changed)))
    return tuple(diff), announce, withdraw


def _encode(
    peer: PeerState,
    announce: dict[Family, dict[PathAttributes, list[bytes]]],
    withdraw: dict[Family, list[bytes]],
) -> tuple[bytes, ...]:
    messages: list[bytes] = []
    for family in sorted(set(announce) | set(withdraw)):
        messages += pack(
            family, announce.get(family, {}), withdraw.get(family, []), peer.negotiated
        )
    return tuple(messages)


def final_states(
    groups: Sequence[ChangeGroup], families: frozenset[Family]
) -> list[tuple[Family, Sequence[bytes], Path | None]]:
    """(family, prefixes, best path or None) runs, one state per prefix: its last one.

    One group (the usual UPDATE) passes through as is; several are merged per best path, so
    each export runs once per (family, path) and a prefix changed twice is sent once.
    """
    if len(groups) == 1:
        family, keys, _old, new, _reason = groups[0]
        return [(family, keys, new[0] if new else None)] if family in families else []
    final: dict[Family, dict[bytes, Path | None]] = {}
    for family, keys, _old, new, _reason in groups:
        if family in families:
            per = final.get(family)
            if per is None:
                per = final[family] = {}
            per.update(dict.fromkeys(keys, new[0] if new else None))
    runs: list[tuple[Family, Sequence[bytes], Path | None]] = []
    for family, per in final.items():
        buckets: dict[Path | None, list[bytes]] = {}
        for key, best in per.items():
            same = buckets.get(best)
            if same is None:
                buckets[best] = [key]
            else:
                same.append(key)
        runs += [(family, keys, best) for best, keys in buckets.items()]
    return runs

"""``[originate]``: the prefixes this speaker announces, read in linear time.

A node agent may originate a million prefixes from its config. Three things keep that cheap:

* **Keys, not objects.** Each prefix becomes its NLRI key (``pybgp.config.prefixes``), made from
  the text with ``inet_pton`` (strict dotted quads, as ``ipaddress`` accepts) and a table per
  prefix length; anything else (IPv6, spaces, host bits, a typo) takes the ``ipaddress`` path,
  which gives the error message naming the element (``originate.prefixes[12]: ...``).
* **Duplicates by set.** One set per family; the index of the second occurrence is looked for
  only when there is one.
* **The TOML array read by a regular expression.** ``tomllib`` takes about 3.4 s for an array of a
  million strings. :func:`split_prefix_array` finds a large ``prefixes = [ "...", ... ]`` array of
  plain prefix strings (no escapes, no comments), hands ``tomllib`` the rest of the file with a
  unique placeholder in its place, and :func:`put_back` puts the array text where the
  placeholder is found, but only there: if the placeholder is not exactly
  ``originate.prefixes``, or tomllib finds an error (whose line must be that of the file), the
  caller parses the original text.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator, Sequence
from functools import partial
from ipaddress import IPv4Network, IPv6Network
from operator import itemgetter
from socket import AF_INET, inet_pton
from typing import Any, Final

from pybgp.config.prefixes import Prefixes
from pybgp.config.reader import (
    MISSING,
    Table,
    check_list,
    check_network,
    config_keys,
    read_communities,
    read_large_communities,
)
from pybgp.config.values import ConfigError, OriginateConfig
from pybgp.wire.nlri import network_from_prefix, prefix_from_network

__all__ = [
    "PrefixArray",
    "parse_originate",
    "prefix_key",
    "put_back",
    "read_prefixes",
    "split_prefix_array",
]

_V4: Final = 1
_V6: Final = 2

_V4_SHAPES: Final = {
    str(length): (bytes((length,)), (length + 7) >> 3, (1 << (32 - length)) - 1)
    for length in range(33)
}
"""Prefix length text -> (key head, significant octets, host-bit mask)."""

_PTON_V4: Final = partial(inet_pton, AF_INET)


def _octet_tables(length: int) -> tuple[bytes, int, tuple[bytes | None, ...]]:
    """(key head, significant octets, per address octet: a ``translate`` table keeping its
    host bits, or None when it has none)."""
    tables: list[bytes | None] = []
    for octet in range(4):
        host = 0xFF >> max(0, length - 8 * octet) if length < 8 * (octet + 1) else 0
        tables.append(bytes(b & host for b in range(256)) if host else None)
    return bytes((length,)), (length + 7) >> 3, tuple(tables)


_V4_OCTETS: Final = {str(length): _octet_tables(length) for length in range(33)}

FAST_MIN_CHARS: Final = 4096
"""Arrays shorter than this go through tomllib like the rest of the file."""

_CHUNK: Final = 1 << 16
"""Characters of array text read at a time (a few thousand prefixes)."""
_LIST_CHUNK: Final = 4096
"""Items of a list read at a time: the whole-list steps' temporaries stay small."""
_ELEMENT = r"(?:\"[0-9A-Fa-f.:/]*\"|'[0-9A-Fa-f.:/]*')"
_SPACE = r"(?:[ \t\n]|\r\n)*+"
_ARRAY = re.compile(
    rf"^([ \t]*prefixes[ \t]*=[ \t]*)\[({_SPACE}(?:{_ELEMENT}{_SPACE},{_SPACE})*+"
    rf"(?:{_ELEMENT}{_SPACE})?+)\]",
    re.MULTILINE,
)
_STRING = re.compile(r"[\"']([^\"']*)[\"']")


class PrefixArray:
    """The text of a ``prefixes`` array read outside tomllib: ``text[start:end]``."""

    __slots__ = ("end", "start", "text")

    def __init__(self, text: str, start: int, end: int) -> None:
        self.text = text
        self.start = start
        self.end = end

    def chunks(self) -> Iterator[list[str]]:
        """The strings of the array, in order, a few thousand at a time (elements hold no
        comma, so a chunk ends at one). Between double quotes only (the common case), every
        other piece of ``split('"')`` is an element."""
        pos, end, text = self.start, self.end, self.text
        single = text.find("'", pos, end) >= 0
        while pos < end:
            stop = text.find(",", pos + _CHUNK, end)
            stop = end if stop < 0 else stop
            yield _STRING.findall(text, pos, stop) if single else text[pos:stop].split('"')[1::2]
            pos = stop


def split_prefix_array(text: str) -> tuple[str, PrefixArray | None, str]:
    """``(text for tomllib, array, placeholder)``: the largest plain ``prefixes = [...]`` array
    of at least :data:`FAST_MIN_CHARS` replaced by a placeholder; ``(text, None, "")`` when
    there is none."""
    best: re.Match[str] | None = None
    for found in _ARRAY.finditer(text):
        if found.end(2) - found.start(2) >= FAST_MIN_CHARS and (
            best is None or found.end(2) - found.start(2) > best.end(2) - best.start(2)
        ):
            best = found
    if best is None:
        return text, None, ""
    placeholder = f"pybgp-prefix-array-{secrets.token_hex(8)}"
    replaced = f'{best.group(1)}["{placeholder}"]'
    array = PrefixArray(text, best.start(2), best.end(2))
    return text[: best.start()] + replaced + text[best.end() :], array, placeholder


def put_back(data: dict[str, Any], array: PrefixArray, placeholder: str) -> bool:
    """Put ``array`` in ``data`` where ``placeholder`` is; False when it is anywhere but
    ``originate.prefixes`` (then the file must be parsed without the fast path)."""
    table = data.get("originate")
    if not isinstance(table, dict) or table.get("prefixes") != [placeholder]:
        return False
    table["prefixes"] = array
    return True


def parse_originate(value: object) -> OriginateConfig:
    """``[originate]``."""
    table = Table(value, "originate", config_keys(OriginateConfig))
    raw = table.raw("prefixes")
    return OriginateConfig(
        prefixes=Prefixes() if raw is MISSING else read_prefixes(raw, table.key("prefixes")),
        communities=read_communities(table, "communities"),
        large_communities=read_large_communities(table, "large_communities"),
        blackhole=table.boolean("blackhole", False),
    )


def read_prefixes(raw: object, path: str) -> Prefixes:
    """An array of prefix strings (or a :class:`PrefixArray`) as :class:`Prefixes`; the first
    bad element or the second occurrence of a prefix is a ConfigError naming its index."""
    if isinstance(raw, PrefixArray):
        chunks: Iterator[Sequence[object]] = raw.chunks()
    else:
        items = check_list(raw, path)
        chunks = (items[i : i + _LIST_CHUNK] for i in range(0, len(items), _LIST_CHUNK))
    keys: list[bytes] = []
    v6: list[int] = []
    for chunk in chunks:
        _read_chunk(chunk, path, keys, v6)
    afis = bytearray(b"\x01") * len(keys)
    for index in v6:
        afis[index] = _V6
    _check_duplicates(keys, bytes(afis), v6, path)
    return Prefixes.from_keys(tuple(keys), bytes(afis))


def _read_chunk(
    items: Sequence[object], path: str, keys: list[bytes], v6: list[int], single: bool = False
) -> None:
    """Append the keys of ``items`` to ``keys`` (indexes of IPv6 ones to ``v6``); ``single``:
    one item named ``path`` itself (not ``path[index]``)."""
    same_length = None if single else _same_length_v4(items)
    if same_length is not None:
        keys += same_length
        return
    append, shapes, pton, from_bytes = keys.append, _V4_SHAPES, inet_pton, int.from_bytes
    for item in items:
        try:
            address, _, length = item.partition("/")  # type: ignore[attr-defined]
            head, size, host_bits = shapes[length]
            packed = pton(AF_INET, address)
            if from_bytes(packed) & host_bits:
                raise ValueError
            append(head + packed[:size])
        except (AttributeError, KeyError, OSError, ValueError):
            # Not a plain IPv4 prefix: the ipaddress path names what is wrong.
            network = check_network(item, path if single else f"{path}[{len(keys)}]")
            if isinstance(network, IPv6Network):
                v6.append(len(keys))
            append(prefix_from_network(network))


def prefix_key(text: str, path: str = "prefix") -> tuple[int, bytes]:
    """(AFI, NLRI key) of one prefix text (``Speaker.originate``): a plain IPv4 prefix without
    ``ipaddress``; ConfigError (a ValueError) at ``path`` when it is not a prefix."""
    keys: list[bytes] = []
    v6: list[int] = []
    _read_chunk((text,), path, keys, v6, single=True)
    return (_V6 if v6 else _V4), keys[0]


def _same_length_v4(items: Sequence[object]) -> list[bytes] | None:
    """The keys of ``items`` when all are plain IPv4 prefixes of one length (a node's blocks:
    the usual case), else None (then each item is read on its own).

    Whole-list steps, each one C-level call: split address from length, one ``inet_pton`` per
    address through ``map``, the host bits checked per octet position over the joined
    addresses (``translate`` keeps the host bits of that octet; all must be zero), the keys
    made by ``map`` too."""
    try:
        joined = "\n".join(items)  # type: ignore[arg-type]
    except TypeError:
        return None  # not all strings
    count = len(items)
    if not count or joined.count("/") != count or joined.count("\n") != count - 1:
        return None
    parts = joined.replace("/", "\n").split("\n")
    lengths = parts[1::2]
    shape = _V4_OCTETS.get(lengths[0])
    if shape is None or lengths.count(lengths[0]) != count:
        return None
    head, size, host_bits = shape
    try:
        packed = list(map(_PTON_V4, parts[0::2]))
    except (OSError, ValueError):
        return None
    addresses = b"".join(packed)
    for octet, table in enumerate(host_bits):
        if table is not None and addresses[octet::4].translate(table).strip(b"\0"):
            return None  # host bits set somewhere: the item path names it
    return list(map(head.__add__, map(itemgetter(slice(0, size)), packed)))


def _check_duplicates(keys: list[bytes], afis: bytes, v6: list[int], path: str) -> None:
    """ConfigError at the second occurrence of a prefix (keys compared per family)."""
    if not v6:
        if len(set(keys)) == len(keys):
            return
    elif len(set(zip(afis, keys, strict=True))) == len(keys):
        return
    seen: set[tuple[int, bytes]] = set()
    for index, pair in enumerate(zip(afis, keys, strict=True)):
        if pair in seen:
            network: IPv4Network | IPv6Network = network_from_prefix(pair[1], pair[0])
            raise ConfigError(f"{path}[{index}]", f"{network} is listed twice")
        seen.add(pair)

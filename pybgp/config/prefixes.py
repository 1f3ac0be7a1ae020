"""The prefixes of ``[originate]``, held as the RIB holds them.

A million originated prefixes as ``ipaddress`` networks cost about 180 bytes each and five
microseconds each to make. :class:`Prefixes` keeps them as their RFC 4271 §4.3 NLRI keys (the
RIB's own prefix keys, ``pybgp.wire.nlri``: length octet, then the significant octets) with one
AFI octet per prefix, and behaves as a read-only sequence of networks, made on access. The RIB
takes the keys as they are (``Prefixes.keys``), so the config and the tables share one bytes
object per prefix.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from ipaddress import IPv4Network, IPv6Network
from itertools import compress
from typing import overload

from pybgp.wire.nlri import network_from_prefix, prefix_from_network

__all__ = ["Prefixes", "to_prefixes"]

IPNetwork = IPv4Network | IPv6Network

_V4 = 1
_V6 = 2
_ONLY = {afi: bytes(int(b == afi) for b in range(256)) for afi in (_V4, _V6)}
"""``translate`` tables: the AFI octets as 1 for ``afi``, 0 otherwise (for ``compress``)."""


class Prefixes(Sequence[IPNetwork]):
    """An immutable sequence of IP networks (IPv4 and IPv6 mixed), in the order given.

    Compares equal to another :class:`Prefixes`, tuple or list holding the same networks in the
    same order; hashable. ``keys(afi)`` gives the NLRI keys of one family without making a
    network object.
    """

    __slots__ = ("_afis", "_keys")

    def __init__(self, networks: Iterable[IPNetwork] = ()) -> None:
        keys: list[bytes] = []
        afis = bytearray()
        for network in networks:
            keys.append(prefix_from_network(network))
            afis.append(_V4 if network.version == 4 else _V6)
        self._keys: tuple[bytes, ...] = tuple(keys)
        self._afis = bytes(afis)

    @classmethod
    def from_keys(cls, keys: Sequence[bytes], afis: bytes) -> Prefixes:
        """From NLRI keys and one AFI octet per key (1 = IPv4, 2 = IPv6); not re-validated."""
        if len(keys) != len(afis):
            raise ValueError("one AFI octet per key")
        made = cls.__new__(cls)
        made._keys = keys if isinstance(keys, tuple) else tuple(keys)
        made._afis = afis
        return made

    def keys(self, afi: int) -> Sequence[bytes]:
        """The NLRI keys of family ``afi`` (1 = IPv4, 2 = IPv6), in order."""
        if bytes((afi,)) not in self._afis:
            return ()
        if bytes((_V6 if afi == _V4 else _V4,)) not in self._afis:
            return self._keys
        return list(compress(self._keys, self._afis.translate(_ONLY[afi])))

    def key_set(self) -> set[tuple[int, bytes]]:
        """Every prefix as ``(afi, key)``: what a reload compares (linear time)."""
        return set(zip(self._afis, self._keys, strict=True))

    def difference(self, other: Prefixes) -> Prefixes:
        """The prefixes here that ``other`` lacks, in order (a set of keys per family)."""
        keys: list[bytes] = []
        afis = bytearray()
        for afi in (_V4, _V6):
            mine = self.keys(afi)
            if mine:
                theirs = set(other.keys(afi))
                extra = [key for key in mine if key not in theirs]
                keys += extra
                afis += bytes((afi,)) * len(extra)
        return Prefixes.from_keys(tuple(keys), bytes(afis))

    def union(self, more: Iterable[IPNetwork]) -> Prefixes:
        """These prefixes, then those of ``more`` not already here (order kept)."""
        extra = Prefixes(more)
        known = self.key_set()
        keys = list(self._keys)
        afis = bytearray(self._afis)
        for afi, key in zip(extra._afis, extra._keys, strict=True):
            if (afi, key) not in known:
                known.add((afi, key))
                keys.append(key)
                afis.append(afi)
        return Prefixes.from_keys(tuple(keys), bytes(afis))

    def __len__(self) -> int:
        return len(self._keys)

    @overload
    def __getitem__(self, index: int) -> IPNetwork: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[IPNetwork]: ...
    def __getitem__(self, index: int | slice) -> IPNetwork | Sequence[IPNetwork]:
        if isinstance(index, slice):
            return tuple(map(network_from_prefix, self._keys[index], self._afis[index]))
        return network_from_prefix(self._keys[index], self._afis[index])

    def __iter__(self) -> Iterator[IPNetwork]:
        return map(network_from_prefix, self._keys, self._afis)

    def __contains__(self, value: object) -> bool:
        if not isinstance(value, IPv4Network | IPv6Network):
            return False
        key = prefix_from_network(value)
        afi = _V4 if value.version == 4 else _V6
        return any(k == key and a == afi for k, a in zip(self._keys, self._afis, strict=True))

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Prefixes):
            return self._keys == other._keys and self._afis == other._afis
        if isinstance(other, tuple | list):
            return len(other) == len(self) and all(map(_same, self, other))
        return NotImplemented

    def __hash__(self) -> int:
        return hash((self._keys, self._afis))

    def __repr__(self) -> str:
        if len(self) > 4:
            return f"Prefixes({list(self[:3])!r} ... {len(self)} prefixes)"
        return f"Prefixes({list(self)!r})"


def _same(a: IPNetwork, b: object) -> bool:
    return a == b


def to_prefixes(value: Iterable[IPNetwork]) -> Prefixes:
    """Converter of ``OriginateConfig.prefixes``: a :class:`Prefixes` as is, else made from
    the networks (a tuple of ``ip_network`` values, as before)."""
    return value if isinstance(value, Prefixes) else Prefixes(value)

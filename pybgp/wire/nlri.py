"""Prefixes in their compact wire form (RFC 4271 §4.3, RFC 4760 §5, RFC 7911 §3).

Theory of operation
-------------------
Inside pybgp a prefix is a *key*: ``bytes`` whose octet 0 is the prefix length in bits followed by
``ceil(length / 8)`` address octets, host bits beyond the length zero. That is exactly the NLRI
encoding of RFC 4271 §4.3, so decoding is slicing and encoding is ``b"".join``. The address
family comes from context (one table per family), never from the key.

``decode_prefixes`` is the hot path of the whole codec (a full table is a million of these), so it
is one tight loop: a table lookup gives the octets a prefix of that length takes (a huge step
for lengths too long for the family, RFC 7606 §5.3, so one check after the loop catches both
that and a prefix running past the end), the slice becomes the key, and host bits are checked
only when the length is not a multiple of 8. RFC 4271 §4.3 says trailing bits "are irrelevant", so a
key with host bits set is masked rather than refused: keys stay canonical and equal prefixes are
equal keys.

``ipaddress`` objects appear only at the edges (``network_from_prefix``, ``prefix_from_network``,
``prefix_to_str``, ``prefix_from_str``).
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from ipaddress import IPv4Network, IPv6Network, ip_network
from typing import Final

from pybgp.wire.constants import AFI, ErrorCode, UpdateMessageSubcode
from pybgp.wire.errors import LocalProtocolError, RemoteProtocolError

__all__ = [
    "NlriError",
    "decode_prefixes",
    "encode_prefixes",
    "max_prefix_length",
    "network_from_prefix",
    "prefix_from_network",
    "prefix_from_str",
    "prefix_to_str",
]


class NlriError(RemoteProtocolError):
    """A syntactically incorrect NLRI (or withdrawn routes) field: RFC 7606 §5.3.

    Raised as UPDATE 3/10 (Invalid Network Field); the UPDATE decoder turns it into the action
    the context requires (RFC 7606 §3 (j): session reset for the classic fields, AFI/SAFI
    disable inside MP_REACH_NLRI/MP_UNREACH_NLRI).
    """

    def __init__(self, reason: str) -> None:
        super().__init__(
            ErrorCode.UPDATE_MESSAGE, UpdateMessageSubcode.INVALID_NETWORK_FIELD, b"", reason
        )


_TOO_LONG: Final = 1 << 20  # a step no field can hold: ends the loop, caught after it


def _steps_table(max_bits: int) -> tuple[int, ...]:
    """Octets taken by a prefix of each length (1 + address octets), or _TOO_LONG."""
    return tuple(1 + ((bits + 7) >> 3) if bits <= max_bits else _TOO_LONG for bits in range(256))


_STEPS: Final[dict[int, tuple[int, ...]]] = {
    AFI.IPV4: _steps_table(32),
    AFI.IPV6: _steps_table(128),
}
# Mask of the host bits in the last octet, by (prefix length % 8).
_HOST_MASK: Final = (0x00, 0x7F, 0x3F, 0x1F, 0x0F, 0x07, 0x03, 0x01)
_PATH_ID = struct.Struct("!I")


def max_prefix_length(afi: int) -> int:
    """32 for IPv4, 128 for IPv6; other AFIs are not decoded by pybgp."""
    return 32 if afi == AFI.IPV4 else 128


def _canonical(key: bytes) -> bytes:
    """Mask the host bits of the last octet (RFC 4271 §4.3: trailing bits are irrelevant)."""
    return key[:-1] + bytes((key[-1] & ~_HOST_MASK[key[0] & 7] & 0xFF,))


def decode_prefixes(
    data: bytes, afi: int, add_path: bool = False
) -> tuple[tuple[bytes, ...], tuple[int, ...] | None]:
    """Split an NLRI (or withdrawn routes) field into prefix keys.

    With ``add_path`` (RFC 7911 §3) every prefix is preceded by a 4-octet path identifier and the
    second element of the result is the parallel tuple of identifiers; otherwise it is ``None``.
    Raises :class:`NlriError` (UPDATE 3/10) when a prefix length is too long for the family or a
    prefix runs past the end of the field (RFC 7606 §5.3).
    """
    steps = _STEPS.get(afi)
    if steps is None:
        raise NlriError(f"AFI {afi} prefixes are not supported")
    mask = _HOST_MASK
    n = len(data)
    keys: list[bytes] = []
    append = keys.append
    i = 0
    plen = 0
    if not add_path:
        # The hot loop. A prefix too long for the family (huge step) or one running past the
        # end leaves ``i`` beyond ``n``; that single check after the loop catches both.
        while i < n:
            plen = data[i]
            end = i + steps[plen]
            key = data[i:end]
            # Host bits are checked only when the length is not a multiple of 8.
            if plen & 7 and end <= n and data[end - 1] & mask[plen & 7]:
                key = _canonical(key)
            append(key)
            i = end
        if i != n:
            raise _syntax_error(plen, steps)
        return tuple(keys), None
    ids: list[int] = []
    unpack = _PATH_ID.unpack_from
    while i < n:
        if i + 5 > n:
            raise NlriError("path identifier runs past the end of the field (RFC 7911 §3)")
        ids.append(unpack(data, i)[0])
        i += 4
        plen = data[i]
        end = i + steps[plen]
        key = data[i:end]
        if plen & 7 and end <= n and data[end - 1] & mask[plen & 7]:
            key = _canonical(key)
        keys.append(key)
        i = end
    if i != n:
        raise _syntax_error(plen, steps)
    return tuple(keys), tuple(ids)


def _syntax_error(plen: int, steps: tuple[int, ...]) -> NlriError:
    if steps[plen] == _TOO_LONG:
        return NlriError(f"prefix length {plen} is too long for the family (RFC 7606 §5.3)")
    return NlriError("a prefix runs past the end of the field (RFC 7606 §5.3)")


def encode_prefixes(keys: Sequence[bytes], path_ids: Sequence[int] | None = None) -> bytes:
    """Join prefix keys into an NLRI field; with ``path_ids`` each gets its RFC 7911 identifier."""
    if path_ids is None:
        return b"".join(keys)
    if len(path_ids) != len(keys):
        raise LocalProtocolError("path_ids must be parallel to the prefixes")
    pack = _PATH_ID.pack
    try:
        return b"".join([pack(pid) + key for pid, key in zip(path_ids, keys, strict=True)])
    except struct.error as exc:
        raise LocalProtocolError(f"path identifier out of range: {exc}") from None


def prefix_from_network(net: IPv4Network | IPv6Network) -> bytes:
    """The key of an ``ipaddress`` network.

    ``10.244.1.0/26`` -> ``b"\\x1a\\x0a\\xf4\\x01\\x00"``.
    """
    plen = net.prefixlen
    return bytes((plen,)) + net.network_address.packed[: (plen + 7) >> 3]


def network_from_prefix(key: bytes, afi: int) -> IPv4Network | IPv6Network:
    """The ``ipaddress`` network of a key in family ``afi`` (edges only: logs, CLI, kernel)."""
    plen = key[0]
    if afi == AFI.IPV4:
        return IPv4Network((key[1:].ljust(4, b"\x00"), plen))
    if afi == AFI.IPV6:
        return IPv6Network((key[1:].ljust(16, b"\x00"), plen))
    raise LocalProtocolError(f"AFI {afi} has no ipaddress form")


def prefix_to_str(key: bytes, afi: int) -> str:
    """``"10.244.1.0/26"``: the text form of a key."""
    return str(network_from_prefix(key, afi))


def prefix_from_str(text: str) -> tuple[int, bytes]:
    """Parse ``"10.0.0.0/8"`` or ``"2001:db8::/32"`` into ``(afi, key)``; host bits must be zero."""
    try:
        net = ip_network(text.strip(), strict=True)
    except ValueError as exc:
        raise LocalProtocolError(f"not a prefix: {text!r} ({exc})") from None
    afi = AFI.IPV4 if net.version == 4 else AFI.IPV6
    return int(afi), prefix_from_network(net)

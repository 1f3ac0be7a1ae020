"""Reading one TOML table of the config: key paths, unknown keys, typed values.

A :class:`Table` knows the table's key path (for error messages) and rejects unknown keys
before any value is read, so that a misspelt key is reported as such rather than as a missing
one. The keys allowed in a table are the attrs field names of the class it becomes: the field
names *are* the TOML keys. The ``check_*`` functions validate one value at a key path.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Iterable, Mapping
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address, ip_network
from typing import Any, Final

import attrs

from pybgp.config.filters import parse_community, parse_large_community
from pybgp.config.values import ConfigError

__all__ = [
    "AS_TRANS",
    "MISSING",
    "U32_MAX",
    "Missing",
    "Table",
    "check_address",
    "check_asn",
    "check_choice",
    "check_int",
    "check_list",
    "check_network",
    "check_str",
    "config_keys",
    "describe",
    "read_communities",
    "read_large_communities",
]

IPAddress = IPv4Address | IPv6Address
IPNetwork = IPv4Network | IPv6Network

U32_MAX: Final = 0xFFFFFFFF
AS_TRANS: Final = 23456


class Missing:
    """Marker for an absent key."""


MISSING: Final = Missing()


def describe(value: object) -> str:
    """Words for the TOML type of a value, for type errors."""
    if isinstance(value, bool):
        return f"a boolean ({str(value).lower()})"
    if isinstance(value, int):
        return f"an integer ({value})"
    if isinstance(value, float):
        return f"a float ({value})"
    if isinstance(value, str):
        return f"a string ({value!r})"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, Mapping):
        return "a table"
    return f"a {type(value).__name__}"


def config_keys(cls: type) -> tuple[str, ...]:
    """The TOML keys of a config class: its attrs fields, minus those that are not keys."""
    return tuple(f.name for f in attrs.fields(cls) if f.name not in ("from_range", "pools"))


class Table:
    """One TOML table being read, with its key path; unknown keys are refused on creation."""

    def __init__(self, value: object, path: str, allowed: Iterable[str]) -> None:
        if not isinstance(value, Mapping):
            raise ConfigError(path, f"expected a table, got {describe(value)}")
        self.data: Mapping[str, object] = value
        self.path = path
        allowed_set = set(allowed)
        for key in value:
            if key not in allowed_set:
                close = difflib.get_close_matches(str(key), sorted(allowed_set), n=1)
                hint = f"did you mean {close[0]!r}? " if close else ""
                expected = ", ".join(sorted(allowed_set))
                raise ConfigError(
                    self.key(key), f"unknown key ({hint}expected one of: {expected})"
                )

    def key(self, name: str) -> str:
        """The key path of ``name`` in this table."""
        return f"{self.path}.{name}" if self.path else name

    def has(self, name: str) -> bool:
        """True when ``name`` is present."""
        return name in self.data

    def raw(self, name: str, required: bool = False) -> object:
        """The value of ``name``, or MISSING (ConfigError if required)."""
        if name in self.data:
            return self.data[name]
        if required:
            raise ConfigError(self.key(name), "missing required key")
        return MISSING

    # typed getters: each returns the default when the key is absent

    def integer(self, name: str, default: Any = MISSING, *, low: int, high: int,
                words: str = "") -> Any:
        """An integer in low..high (a boolean is not an integer here)."""
        value = self.raw(name, required=default is MISSING)
        if value is MISSING:
            return default
        return check_int(value, self.key(name), low, high, words)

    def number(self, name: str, default: float, *, low: float, high: float = 86400.0) -> float:
        """An integer or float (seconds) in low..high."""
        value = self.raw(name)
        if value is MISSING:
            return default
        path = self.key(name)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(path, f"expected a number of seconds, got {describe(value)}")
        if not math.isfinite(value) or not low <= value <= high:
            raise ConfigError(path, f"{value} is out of range ({low:g}..{high:g} seconds)")
        return float(value)

    def boolean(self, name: str, default: bool) -> bool:
        """true / false."""
        value = self.raw(name)
        if value is MISSING:
            return default
        if not isinstance(value, bool):
            raise ConfigError(self.key(name), f"expected true or false, got {describe(value)}")
        return value

    def string(self, name: str, default: Any = MISSING) -> Any:
        """A string."""
        value = self.raw(name, required=default is MISSING)
        if value is MISSING:
            return default
        return check_str(value, self.key(name))

    def choice(self, name: str, default: str, choices: Iterable[str]) -> str:
        """One of ``choices`` (compared without regard to case; returned as spelt there)."""
        value = self.raw(name)
        if value is MISSING:
            return default
        return check_choice(value, self.key(name), choices)

    def strings(self, name: str, default: Any = ()) -> Any:
        """An array of strings, as a tuple."""
        value = self.raw(name)
        if value is MISSING:
            return default
        path = self.key(name)
        items = check_list(value, path)
        return tuple(check_str(item, f"{path}[{i}]") for i, item in enumerate(items))

    def address(self, name: str, default: Any = MISSING, version: int | None = None) -> Any:
        """An IP address (IPv4 only when version is 4)."""
        value = self.raw(name, required=default is MISSING)
        if value is MISSING:
            return default
        return check_address(value, self.key(name), version)

    def network(self, name: str, default: Any = MISSING) -> Any:
        """An IP prefix without host bits."""
        value = self.raw(name, required=default is MISSING)
        if value is MISSING:
            return default
        return check_network(value, self.key(name))

    def table(self, name: str, cls: type) -> Table | None:
        """A sub-table whose keys are the fields of ``cls``; None when absent."""
        value = self.raw(name)
        if value is MISSING:
            return None
        return Table(value, self.key(name), config_keys(cls))

    def tables(self, name: str) -> list[tuple[str, object]]:
        """An array of tables: (key path, value) per element."""
        value = self.raw(name)
        if value is MISSING:
            return []
        path = self.key(name)
        if not isinstance(value, list):
            raise ConfigError(
                path, f"expected an array of tables ([[{name}]]), got {describe(value)}"
            )
        return [(f"{path}[{i}]", item) for i, item in enumerate(value)]


def check_int(value: object, path: str, low: int, high: int, words: str = "") -> int:
    # bool is a subclass of int in Python: refuse it explicitly.
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(path, f"expected an integer, got {describe(value)}")
    if not low <= value <= high:
        raise ConfigError(path, words.format(value=value) if words else
                          f"{value} is out of range ({low}..{high})")
    return value


def check_str(value: object, path: str) -> str:
    if not isinstance(value, str):
        raise ConfigError(path, f"expected a string, got {describe(value)}")
    return value


def check_list(value: object, path: str) -> list[object]:
    if not isinstance(value, list):
        raise ConfigError(path, f"expected an array, got {describe(value)}")
    return value


def check_choice(value: object, path: str, choices: Iterable[str]) -> str:
    options = tuple(choices)
    text = check_str(value, path)
    for option in options:
        if text.lower() == option.lower():
            return option
    raise ConfigError(
        path, f"{text!r} is not one of {', '.join(repr(option) for option in options)}"
    )


def check_address(value: object, path: str, version: int | None = None) -> IPAddress:
    text = check_str(value, path)
    kind = "an IPv4 address" if version == 4 else "an IP address"
    try:
        address = ip_address(text.strip())
    except ValueError:
        raise ConfigError(path, f"{text!r} is not {kind}") from None
    if version is not None and address.version != version:
        raise ConfigError(path, f"{text!r} is not {kind}")
    return address


def check_network(value: object, path: str) -> IPNetwork:
    text = check_str(value, path)
    try:
        return ip_network(text.strip())
    except ValueError:
        pass
    try:
        loose = ip_network(text.strip(), strict=False)
    except ValueError:
        raise ConfigError(
            path, f"{text!r} is not a prefix (expected address/length, e.g. \"10.0.0.0/24\")"
        ) from None
    raise ConfigError(path, f"{text} has host bits set (did you mean {loose}?)")


def check_asn(value: object, path: str) -> int:
    asn = check_int(value, path, 0, 1 << 64, "{value} is not a valid AS number")
    # RFC 6793: 4-octet AS numbers, 1..4294967295 (0 is reserved, RFC 7607).
    if not 1 <= asn <= U32_MAX:
        raise ConfigError(path, f"{asn} is not a valid AS number")
    # RFC 6793 §9: AS_TRANS only stands in for a 4-octet AS towards old speakers.
    if asn == AS_TRANS:
        raise ConfigError(path, f"{asn} is AS_TRANS (RFC 6793), not a valid AS number")
    return asn


def read_communities(table: Table, name: str) -> tuple[int, ...]:
    result: list[int] = []
    for i, text in enumerate(table.strings(name)):
        try:
            result.append(parse_community(text))
        except ValueError as exc:
            raise ConfigError(f"{table.key(name)}[{i}]", str(exc)) from None
    return tuple(result)


def read_large_communities(table: Table, name: str) -> tuple[tuple[int, int, int], ...]:
    result: list[tuple[int, int, int]] = []
    for i, text in enumerate(table.strings(name)):
        try:
            result.append(parse_large_community(text))
        except ValueError as exc:
            raise ConfigError(f"{table.key(name)}[{i}]", str(exc)) from None
    return tuple(result)

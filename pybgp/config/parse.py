"""Validation of a parsed TOML mapping into :mod:`pybgp.config` values.

Each ``_parse_*`` function reads one table through a :class:`_Table`, which knows the table's
key path (for error messages) and rejects unknown keys before any value is read, so that a
misspelt key is reported as such rather than as a missing one. The keys allowed in a table
are the attrs field names of the class it becomes: the field names *are* the TOML keys.
"""

from __future__ import annotations

import difflib
import math
import re
import tomllib
from collections.abc import Iterable, Mapping
from ipaddress import (
    IPv4Address,
    IPv4Network,
    IPv6Address,
    IPv6Network,
    ip_address,
    ip_network,
)
from pathlib import Path
from typing import Any, Final

import attrs

from pybgp.config.datastore import parse_datastore
from pybgp.config.filters import (
    FilterAction,
    FilterConfig,
    FilterRule,
    FilterSetActions,
    MatchOperator,
    PrefixLengthRange,
    parse_community,
    parse_large_community,
)
from pybgp.config.values import (
    FAMILY_NAMES,
    PEER_TYPES,
    ROLE_NAMES,
    ConfigError,
    DynamicPeerConfig,
    GracefulRestartConfig,
    KernelConfig,
    LoggingConfig,
    MetricsConfig,
    OriginateConfig,
    PeerConfig,
    SpeakerConfig,
    SpeakerSection,
    derive_peer_type,
)

IPAddress = IPv4Address | IPv6Address
IPNetwork = IPv4Network | IPv6Network

U32_MAX: Final = 0xFFFFFFFF
AS_TRANS: Final = 23456
TCP_MD5SIG_MAXKEYLEN: Final = 80
"""linux/tcp.h: the longest TCP MD5 key the kernel accepts."""
SUN_PATH_MAX: Final = 107
"""sockaddr_un.sun_path is 108 bytes including the terminating NUL."""
IFNAMSIZ_MAX: Final = 15
"""Interface names are at most 15 bytes (IFNAMSIZ 16 with the NUL)."""
RT_TABLE_LOCAL: Final = 255
LOG_LEVELS: Final = ("debug", "info", "warning", "error", "critical")


class _Missing:
    """Marker for an absent key."""


_MISSING: Final = _Missing()


def _describe(value: object) -> str:
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


def _fields(cls: type) -> tuple[str, ...]:
    """The TOML keys of a config class: its attrs fields, minus those that are not keys."""
    return tuple(f.name for f in attrs.fields(cls) if f.name not in ("from_range", "pools"))


class _Table:
    """One TOML table being read, with its key path; unknown keys are refused on creation."""

    def __init__(self, value: object, path: str, allowed: Iterable[str]) -> None:
        if not isinstance(value, Mapping):
            raise ConfigError(path, f"expected a table, got {_describe(value)}")
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
        """The value of ``name``, or _MISSING (ConfigError if required)."""
        if name in self.data:
            return self.data[name]
        if required:
            raise ConfigError(self.key(name), "missing required key")
        return _MISSING

    # typed getters: each returns the default when the key is absent

    def integer(self, name: str, default: Any = _MISSING, *, low: int, high: int,
                words: str = "") -> Any:
        """An integer in low..high (a boolean is not an integer here)."""
        value = self.raw(name, required=default is _MISSING)
        if value is _MISSING:
            return default
        return _check_int(value, self.key(name), low, high, words)

    def number(self, name: str, default: float, *, low: float, high: float = 86400.0) -> float:
        """An integer or float (seconds) in low..high."""
        value = self.raw(name)
        if value is _MISSING:
            return default
        path = self.key(name)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(path, f"expected a number of seconds, got {_describe(value)}")
        if not math.isfinite(value) or not low <= value <= high:
            raise ConfigError(path, f"{value} is out of range ({low:g}..{high:g} seconds)")
        return float(value)

    def boolean(self, name: str, default: bool) -> bool:
        """true / false."""
        value = self.raw(name)
        if value is _MISSING:
            return default
        if not isinstance(value, bool):
            raise ConfigError(self.key(name), f"expected true or false, got {_describe(value)}")
        return value

    def string(self, name: str, default: Any = _MISSING) -> Any:
        """A string."""
        value = self.raw(name, required=default is _MISSING)
        if value is _MISSING:
            return default
        return _check_str(value, self.key(name))

    def choice(self, name: str, default: str, choices: Iterable[str]) -> str:
        """One of ``choices`` (compared without regard to case; returned as spelt there)."""
        value = self.raw(name)
        if value is _MISSING:
            return default
        return _check_choice(value, self.key(name), choices)

    def strings(self, name: str, default: Any = ()) -> Any:
        """An array of strings, as a tuple."""
        value = self.raw(name)
        if value is _MISSING:
            return default
        path = self.key(name)
        items = _check_list(value, path)
        return tuple(_check_str(item, f"{path}[{i}]") for i, item in enumerate(items))

    def address(self, name: str, default: Any = _MISSING, version: int | None = None) -> Any:
        """An IP address (IPv4 only when version is 4)."""
        value = self.raw(name, required=default is _MISSING)
        if value is _MISSING:
            return default
        return _check_address(value, self.key(name), version)

    def network(self, name: str, default: Any = _MISSING) -> Any:
        """An IP prefix without host bits."""
        value = self.raw(name, required=default is _MISSING)
        if value is _MISSING:
            return default
        return _check_network(value, self.key(name))

    def table(self, name: str, cls: type) -> _Table | None:
        """A sub-table whose keys are the fields of ``cls``; None when absent."""
        value = self.raw(name)
        if value is _MISSING:
            return None
        return _Table(value, self.key(name), _fields(cls))

    def tables(self, name: str) -> list[tuple[str, object]]:
        """An array of tables: (key path, value) per element."""
        value = self.raw(name)
        if value is _MISSING:
            return []
        path = self.key(name)
        if not isinstance(value, list):
            raise ConfigError(
                path, f"expected an array of tables ([[{name}]]), got {_describe(value)}"
            )
        return [(f"{path}[{i}]", item) for i, item in enumerate(value)]


def _check_int(value: object, path: str, low: int, high: int, words: str = "") -> int:
    # bool is a subclass of int in Python: refuse it explicitly.
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(path, f"expected an integer, got {_describe(value)}")
    if not low <= value <= high:
        raise ConfigError(path, words.format(value=value) if words else
                          f"{value} is out of range ({low}..{high})")
    return value


def _check_str(value: object, path: str) -> str:
    if not isinstance(value, str):
        raise ConfigError(path, f"expected a string, got {_describe(value)}")
    return value


def _check_list(value: object, path: str) -> list[object]:
    if not isinstance(value, list):
        raise ConfigError(path, f"expected an array, got {_describe(value)}")
    return value


def _check_choice(value: object, path: str, choices: Iterable[str]) -> str:
    options = tuple(choices)
    text = _check_str(value, path)
    for option in options:
        if text.lower() == option.lower():
            return option
    raise ConfigError(
        path, f"{text!r} is not one of {', '.join(repr(option) for option in options)}"
    )


def _check_address(value: object, path: str, version: int | None = None) -> IPAddress:
    text = _check_str(value, path)
    kind = "an IPv4 address" if version == 4 else "an IP address"
    try:
        address = ip_address(text.strip())
    except ValueError:
        raise ConfigError(path, f"{text!r} is not {kind}") from None
    if version is not None and address.version != version:
        raise ConfigError(path, f"{text!r} is not {kind}")
    return address


def _check_network(value: object, path: str) -> IPNetwork:
    text = _check_str(value, path)
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


def _check_asn(value: object, path: str) -> int:
    asn = _check_int(value, path, 0, 1 << 64, "{value} is not a valid AS number")
    # RFC 6793: 4-octet AS numbers, 1..4294967295 (0 is reserved, RFC 7607).
    if not 1 <= asn <= U32_MAX:
        raise ConfigError(path, f"{asn} is not a valid AS number")
    # RFC 6793 §9: AS_TRANS only stands in for a 4-octet AS towards old speakers.
    if asn == AS_TRANS:
        raise ConfigError(path, f"{asn} is AS_TRANS (RFC 6793), not a valid AS number")
    return asn


def _asn(table: _Table, name: str) -> int:
    return _check_asn(table.raw(name, required=True), table.key(name))


def _hold_time(table: _Table, name: str, default: Any) -> Any:
    value = table.raw(name)
    if value is _MISSING:
        return default
    path = table.key(name)
    hold = _check_int(value, path, 0, 65535)
    # RFC 4271 §4.2: the Hold Time MUST be either zero or at least three seconds.
    if hold in (1, 2):
        raise ConfigError(path, f"{hold} is not a valid hold time (0, or 3..65535 seconds; "
                                "RFC 4271 §4.2)")
    return hold


def _keepalive(table: _Table, hold_time: int) -> int | None:
    value = table.raw("keepalive_time")
    if value is _MISSING:
        return None
    path = table.key("keepalive_time")
    keepalive = _check_int(value, path, 1, 65535)
    # RFC 4271 §10: a hold time of 0 means no KEEPALIVE is sent; otherwise it must be shorter.
    if hold_time == 0:
        raise ConfigError(path, "hold_time 0 disables keepalives: remove keepalive_time")
    if keepalive >= hold_time:
        raise ConfigError(path, f"{keepalive} must be less than the hold time ({hold_time})")
    return keepalive


def _communities(table: _Table, name: str) -> tuple[int, ...]:
    result: list[int] = []
    for i, text in enumerate(table.strings(name)):
        try:
            result.append(parse_community(text))
        except ValueError as exc:
            raise ConfigError(f"{table.key(name)}[{i}]", str(exc)) from None
    return tuple(result)


def _large_communities(table: _Table, name: str) -> tuple[tuple[int, int, int], ...]:
    result: list[tuple[int, int, int]] = []
    for i, text in enumerate(table.strings(name)):
        try:
            result.append(parse_large_community(text))
        except ValueError as exc:
            raise ConfigError(f"{table.key(name)}[{i}]", str(exc)) from None
    return tuple(result)


# --------------------------------------------------------------------------------------------
# sections


def _parse_speaker(value: object, identity_optional: bool = False) -> SpeakerSection:
    table = _Table(value, "speaker", _fields(SpeakerSection))
    # With [datastore], asn 0 and router id 0.0.0.0 stand for "from the datastore".
    asn = 0 if identity_optional and not table.has("asn") else _asn(table, "asn")
    router_id = (
        IPv4Address(0)
        if identity_optional and not table.has("router_id")
        else table.address("router_id", version=4)
    )
    # RFC 6286 §2.1: the BGP Identifier is a non-zero 32-bit value.
    if int(router_id) == 0 and not identity_optional:
        raise ConfigError(table.key("router_id"), "0.0.0.0 is not a valid router id (RFC 6286)")
    listen = table.string("listen_address", "0.0.0.0").strip()
    if listen:
        listen = str(_check_address(listen, table.key("listen_address")))
    control = table.string("control_socket", "/run/pybgp/pybgp.sock")
    if len(control.encode()) > SUN_PATH_MAX:
        raise ConfigError(table.key("control_socket"),
                          f"path longer than {SUN_PATH_MAX} bytes (a Unix socket path limit)")
    cluster_id = table.address("cluster_id", None, version=4)
    if cluster_id is not None and int(cluster_id) == 0:
        raise ConfigError(table.key("cluster_id"), "0.0.0.0 is not a valid cluster id")
    hold_time = _hold_time(table, "hold_time", 90)
    error_wait_min = table.number("error_wait_min", 5.0, low=0.0)
    error_wait_max = table.number("error_wait_max", max(60.0, error_wait_min), low=0.0)
    if error_wait_max < error_wait_min:
        raise ConfigError(table.key("error_wait_max"),
                          f"{error_wait_max:g} is less than error_wait_min ({error_wait_min:g})")
    connect_retry = table.number("connect_retry_time", 3.0, low=0.001)
    return SpeakerSection(
        asn=asn,
        router_id=router_id,
        listen_address=listen,
        listen_port=table.integer("listen_port", 179, low=0, high=65535),
        control_socket=control,
        control_socket_mode=table.integer("control_socket_mode", 0o600, low=0, high=0o777),
        hold_time=hold_time,
        keepalive_time=_keepalive(table, hold_time),
        connect_retry_time=connect_retry,
        connect_delay=table.number("connect_delay", 1.0, low=0.0),
        error_wait_min=error_wait_min,
        error_wait_max=error_wait_max,
        cluster_id=cluster_id,
        multipath=table.integer("multipath", 1, low=1, high=256),
        always_compare_med=table.boolean("always_compare_med", False),
        default_local_pref=table.integer("default_local_pref", 100, low=0, high=U32_MAX),
        allow_own_as=table.integer("allow_own_as", 0, low=0, high=255),
    )


def _parse_session(table: _Table, speaker: SpeakerSection, filter_names: set[str],
                   default_families: tuple[str, ...]) -> dict[str, Any]:
    """The SessionOptions keys of a [[peers]] or [[dynamic_peers]] entry, as kwargs."""
    asn = _asn(table, "asn")
    password = table.string("password", None)
    if password is not None:
        if not password:
            raise ConfigError(table.key("password"),
                              "empty password (leave the key out for no TCP MD5 signature)")
        # RFC 2385 keys go to the kernel's TCP_MD5SIG option: at most 80 bytes.
        if len(password.encode()) > TCP_MD5SIG_MAXKEYLEN:
            raise ConfigError(table.key("password"),
                              f"longer than {TCP_MD5SIG_MAXKEYLEN} bytes (TCP_MD5SIG_MAXKEYLEN)")
    rr_client = table.boolean("route_reflector_client", False)
    if rr_client:
        path = table.key("route_reflector_client")
        if speaker.cluster_id is None:
            raise ConfigError(path, "needs speaker.cluster_id: only a route reflector has "
                                    "clients (RFC 4456)")
        # RFC 4456 §2: reflection happens between internal peers only.
        if asn != speaker.asn:
            raise ConfigError(path, f"a route reflector client must be an iBGP peer "
                                    f"(asn {asn} differs from speaker.asn {speaker.asn})")
    next_hop_self = table.boolean("next_hop_self", False)
    keep_next_hop = table.boolean("keep_original_next_hop", False)
    if next_hop_self and keep_next_hop:
        raise ConfigError(table.key("keep_original_next_hop"),
                          "contradicts next_hop_self = true (set one of them)")
    families = table.strings("families", default_families)
    if table.has("families"):
        if not families:
            raise ConfigError(table.key("families"), "at least one family is needed")
        for i, name in enumerate(families):
            if name not in FAMILY_NAMES:
                raise ConfigError(f"{table.key('families')}[{i}]",
                                  f"{name!r} is not one of 'ipv4', 'ipv6'")
            if name in families[:i]:
                raise ConfigError(f"{table.key('families')}[{i}]", f"{name!r} is listed twice")
    hold_time = _hold_time(table, "hold_time", None)
    role = table.choice("role", "", ("", *ROLE_NAMES))
    # RFC 9234 §4: roles describe eBGP relationships; BIRD refuses them on iBGP sessions too.
    if role and asn == speaker.asn:
        raise ConfigError(table.key("role"), f"RFC 9234 roles are for eBGP peers only (asn "
                                             f"{asn} is speaker.asn: an iBGP peer)")
    filters: dict[str, tuple[str, ...]] = {}
    for direction in ("import_filters", "export_filters"):
        names = table.strings(direction)
        for i, name in enumerate(names):
            if name not in filter_names:
                defined = ", ".join(sorted(filter_names)) or "none"
                raise ConfigError(f"{table.key(direction)}[{i}]",
                                  f"no filter named {name!r} (defined: {defined})")
        filters[direction] = names
    return {
        "asn": asn,
        "password": password,
        "route_reflector_client": rr_client,
        "next_hop_self": next_hop_self,
        "keep_original_next_hop": keep_next_hop,
        "families": families,
        "max_prefixes": table.integer("max_prefixes", 0, low=0, high=U32_MAX),
        "max_prefixes_action": table.choice("max_prefixes_action", "stop", ("stop", "warn")),
        "hold_time": hold_time,
        "keepalive_time": _keepalive(
            table, speaker.hold_time if hold_time is None else hold_time
        ),
        "ttl_security": table.boolean("ttl_security", False),
        "multihop": table.integer("multihop", None, low=1, high=255),
        "allow_own_as": table.integer("allow_own_as", None, low=0, high=255),
        "description": table.string("description", ""),
        "graceful_restart": table.boolean("graceful_restart", True),
        "role": role,
        **filters,
    }


def _version_name(version: int) -> tuple[str, ...]:
    return ("ipv4",) if version == 4 else ("ipv6",)


def _parse_peer(path: str, value: object, speaker: SpeakerSection,
                filter_names: set[str]) -> PeerConfig:
    table = _Table(value, path, _fields(PeerConfig))
    address = table.address("address")
    session = _parse_session(table, speaker, filter_names, _version_name(address.version))
    local = table.address("local_address", None)
    if local is not None:
        if local.version != address.version:
            raise ConfigError(table.key("local_address"),
                              f"{local} is not of the same family as address {address}")
        if local == address:
            raise ConfigError(table.key("local_address"), f"{local} is the peer's own address")
    local6 = table.address("local_address6", None)
    if local6 is not None:
        if address.version != 4:
            raise ConfigError(table.key("local_address6"),
                              "only for an IPv4 peer (an IPv6 session uses local_address)")
        if not isinstance(local6, IPv6Address) or local6.is_link_local or local6.is_unspecified:
            raise ConfigError(table.key("local_address6"),
                              f"{local6} is not a global or unique-local IPv6 address")
    peer_type = table.choice("type", "", PEER_TYPES) or derive_peer_type(
        session["asn"], speaker.asn, session["route_reflector_client"]
    )
    return PeerConfig(
        address=address,
        port=table.integer("port", 179, low=1, high=65535),
        passive=table.boolean("passive", False),
        local_address=local,
        local_address6=local6,
        type=peer_type,
        enabled=table.boolean("enabled", True),
        **session,
    )


def _parse_dynamic(path: str, value: object, speaker: SpeakerSection,
                   filter_names: set[str]) -> DynamicPeerConfig:
    table = _Table(value, path, _fields(DynamicPeerConfig))
    network = table.network("range")
    session = _parse_session(table, speaker, filter_names, _version_name(network.version))
    return DynamicPeerConfig(range=network, **session)


def _parse_originate(value: object) -> OriginateConfig:
    table = _Table(value, "originate", _fields(OriginateConfig))
    prefixes: list[IPNetwork] = []
    raw = table.raw("prefixes")
    if raw is not _MISSING:
        for i, item in enumerate(_check_list(raw, "originate.prefixes")):
            item_path = f"originate.prefixes[{i}]"
            network = _check_network(item, item_path)
            if network in prefixes:
                raise ConfigError(item_path, f"{network} is listed twice")
            prefixes.append(network)
    return OriginateConfig(
        prefixes=tuple(prefixes),
        communities=_communities(table, "communities"),
        large_communities=_large_communities(table, "large_communities"),
        blackhole=table.boolean("blackhole", False),
    )


_INTERFACE_NAME = re.compile(r"[^\s/:]{1,15}")


def _parse_kernel(value: object) -> KernelConfig:
    table = _Table(value, "kernel", _fields(KernelConfig))
    routing_table = table.integer("table", 254, low=1, high=U32_MAX,
                                  words="{value} is not a routing table id (1..4294967295)")
    if routing_table == RT_TABLE_LOCAL:
        raise ConfigError(table.key("table"), "255 is the kernel's local table")
    protocol = table.integer("protocol", 186, low=0, high=255,
                             words="{value} is not a route protocol number (5..255)")
    if protocol <= 4:
        # linux/rtnetlink.h: RTPROT_UNSPEC, REDIRECT, KERNEL, BOOT, STATIC.
        raise ConfigError(table.key("protocol"),
                          f"{protocol} is reserved by the kernel (use 5..255; 186 = RTPROT_BGP)")
    device = table.string("tunnel_device", "tunl0")
    if not _INTERFACE_NAME.fullmatch(device) or len(device.encode()) > IFNAMSIZ_MAX:
        raise ConfigError(table.key("tunnel_device"),
                          f"{device!r} is not an interface name (1..15 bytes, no '/', ':' "
                          "or spaces)")
    return KernelConfig(
        adapter=table.choice("adapter", "none", ("netlink", "memory", "none")),
        table=routing_table,
        protocol=protocol,
        metric=table.integer("metric", 0, low=0, high=U32_MAX),
        encapsulation=table.choice("encapsulation", "none", ("none", "ipip", "crosssubnet")),
        tunnel_device=device,
        keep_on_stop=table.boolean("keep_on_stop", False),
        source_address=table.address("source_address", None),
        overwrite_foreign=table.boolean("overwrite_foreign", False),
        sweep_timeout=table.integer("sweep_timeout", 120, low=0, high=86400),
    )


def _parse_graceful_restart(value: object) -> GracefulRestartConfig:
    table = _Table(value, "graceful_restart", _fields(GracefulRestartConfig))
    return GracefulRestartConfig(
        enabled=table.boolean("enabled", False),
        # RFC 4724 §3: a 12-bit field.
        restart_time=table.integer("restart_time", 120, low=0, high=4095,
                                   words="{value} does not fit the 12-bit restart time "
                                         "(0..4095 s, RFC 4724 §3)"),
        stale_routes_time=table.integer("stale_routes_time", 360, low=1, high=86400),
        notification=table.boolean("notification", True),
    )


def _parse_set(table: _Table | None) -> FilterSetActions:
    if table is None:
        return FilterSetActions()
    communities = _communities(table, "communities") if table.has("communities") else None
    prepend = table.raw("as_path_prepend")
    asns: tuple[int, ...] = ()
    if prepend is not _MISSING:
        path = table.key("as_path_prepend")
        asns = tuple(_check_asn(item, f"{path}[{i}]")
                     for i, item in enumerate(_check_list(prepend, path)))
    return FilterSetActions(
        communities=communities,
        add_communities=_communities(table, "add_communities"),
        local_pref=table.integer("local_pref", None, low=0, high=U32_MAX),
        med=table.integer("med", None, low=0, high=U32_MAX),
        as_path_prepend=asns,
    )


def _parse_rule(path: str, value: object) -> FilterRule:
    table = _Table(value, path, _fields(FilterRule))
    table.raw("action", required=True)
    action = FilterAction(table.choice("action", "", [a.value for a in FilterAction]))
    cidr = table.network("cidr", None)
    operator_text = table.choice("match_operator", "", [m.value for m in MatchOperator])
    operator = MatchOperator(operator_text) if operator_text else None
    # Calico BGPFilter: cidr and matchOperator go together.
    if cidr is not None and operator is None:
        raise ConfigError(table.key("match_operator"),
                          "missing: a rule with cidr needs match_operator "
                          "(Equal, NotEqual, In or NotIn)")
    if operator is not None and cidr is None:
        raise ConfigError(table.key("cidr"), "missing: a rule with match_operator needs cidr")
    length: PrefixLengthRange | None = None
    length_table = table.table("prefix_length", PrefixLengthRange)
    if length_table is not None:
        longest = 32 if cidr is not None and cidr.version == 4 else 128
        low = length_table.integer("min", None, low=0, high=longest)
        high = length_table.integer("max", None, low=0, high=longest)
        if low is not None and high is not None and low > high:
            raise ConfigError(length_table.key("max"), f"{high} is less than min ({low})")
        length = PrefixLengthRange(min=low, max=high)
    actions = _parse_set(table.table("set", FilterSetActions))
    if action is FilterAction.REJECT and not actions.empty:
        raise ConfigError(table.key("set"), "a Reject rule cannot change the route")
    return FilterRule(
        action=action,
        cidr=cidr,
        match_operator=operator,
        prefix_length=length,
        communities=_communities(table, "communities"),
        large_communities=_large_communities(table, "large_communities"),
        set=actions,
    )


def _parse_filter(path: str, value: object) -> FilterConfig:
    table = _Table(value, path, _fields(FilterConfig))
    name = table.string("name")
    if not name.strip():
        raise ConfigError(table.key("name"), "a filter name cannot be empty")
    return FilterConfig(
        name=name,
        rules=tuple(_parse_rule(p, v) for p, v in table.tables("rules")),
        description=table.string("description", ""),
    )


def _parse_logging(value: object) -> LoggingConfig:
    table = _Table(value, "logging", _fields(LoggingConfig))
    return LoggingConfig(
        level=table.choice("level", "info", LOG_LEVELS),
        format=table.choice("format", "text", ("text", "json")),
    )


def _parse_metrics(value: object) -> MetricsConfig:
    table = _Table(value, "metrics", _fields(MetricsConfig))
    listen = table.string("listen", "").strip()
    if listen:
        path = table.key("listen")
        host, sep, port = listen.rpartition(":")
        bare = host[1:-1] if host.startswith("[") and host.endswith("]") else host
        try:
            address = ip_address(bare)
        except ValueError:
            address = None
        if not sep or address is None or not port.isdigit() or int(port) > 65535 or (
            address.version == 6 and bare == host
        ):
            raise ConfigError(path, f"{listen!r} is not \"address:port\" (e.g. "
                                    "\"127.0.0.1:9179\" or \"[::1]:9179\")")
    return MetricsConfig(listen=listen, per_peer=table.boolean("per_peer", True))


# --------------------------------------------------------------------------------------------
# the whole file


def parse(data: Mapping[str, Any]) -> SpeakerConfig:
    """Validate a parsed TOML document (see :func:`pybgp.config.parse_config`)."""
    top = _Table(data, "", _fields(SpeakerConfig))
    datastore = None
    if top.has("datastore"):
        datastore = parse_datastore(top.raw("datastore"))
    if not top.has("speaker") and datastore is None:
        raise ConfigError("speaker", "missing required table [speaker] (asn, router_id)")
    speaker = _parse_speaker(
        top.raw("speaker") if top.has("speaker") else {}, identity_optional=datastore is not None
    )

    filters: list[FilterConfig] = []
    for path, value in top.tables("filters"):
        config = _parse_filter(path, value)
        for i, earlier in enumerate(filters):
            if earlier.name == config.name:
                raise ConfigError(f"{path}.name",
                                  f"{config.name!r} is already the name of filters[{i}]")
        filters.append(config)
    filter_names = {f.name for f in filters}

    peers: list[PeerConfig] = []
    for path, value in top.tables("peers"):
        peer = _parse_peer(path, value, speaker, filter_names)
        for i, other in enumerate(peers):
            if other.address == peer.address:
                raise ConfigError(f"{path}.address",
                                  f"{peer.address} is already configured as peers[{i}]")
        peers.append(peer)

    if not speaker.listen_address:
        # Without a listener nobody can connect to us: passive sessions would never come up.
        for i, peer in enumerate(peers):
            if peer.passive and peer.enabled:
                raise ConfigError(f"peers[{i}].passive",
                                  'a passive peer needs a listener (speaker.listen_address is "")')
        if top.tables("dynamic_peers"):
            raise ConfigError("dynamic_peers",
                              'dynamic peers need a listener (speaker.listen_address is "")')

    dynamic: list[DynamicPeerConfig] = []
    for path, value in top.tables("dynamic_peers"):
        entry = _parse_dynamic(path, value, speaker, filter_names)
        for i, previous in enumerate(dynamic):
            if previous.range == entry.range:
                raise ConfigError(f"{path}.range",
                                  f"{entry.range} is already configured as dynamic_peers[{i}]")
        dynamic.append(entry)

    originate = top.raw("originate")
    kernel = top.raw("kernel")
    graceful = top.raw("graceful_restart")
    logging_ = top.raw("logging")
    metrics = top.raw("metrics")
    return SpeakerConfig(
        speaker=speaker,
        peers=tuple(peers),
        dynamic_peers=tuple(dynamic),
        originate=OriginateConfig() if originate is _MISSING else _parse_originate(originate),
        kernel=KernelConfig() if kernel is _MISSING else _parse_kernel(kernel),
        graceful_restart=(
            GracefulRestartConfig() if graceful is _MISSING else _parse_graceful_restart(graceful)
        ),
        filters=tuple(filters),
        logging=LoggingConfig() if logging_ is _MISSING else _parse_logging(logging_),
        metrics=MetricsConfig() if metrics is _MISSING else _parse_metrics(metrics),
        datastore=datastore,
    )


_LINE = re.compile(r"line (\d+)")


def load_file(path: Path) -> SpeakerConfig:
    """Read, parse and validate one TOML file (see :func:`pybgp.config.load_config`)."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(
            "", f"{path}: cannot read the file: {exc.strerror or exc}", file=str(path)
        ) from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ConfigError(
            "", f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})", file=str(path)
        ) from None
    except tomllib.TOMLDecodeError as exc:
        found = _LINE.search(str(exc))
        line = int(found.group(1)) if found else None
        raise ConfigError(
            "", f"{path}: TOML syntax error: {exc}", line=line, file=str(path)
        ) from None
    try:
        return parse(data)
    except ConfigError as exc:
        exc.file = str(path)
        raise


__all__ = ["load_config", "load_file", "parse", "parse_config"]


def load_config(path: str | Path) -> SpeakerConfig:
    """Read and validate a TOML config file. Raises ConfigError (unreadable file, TOML syntax
    error with its line, or the first invalid key)."""
    return load_file(Path(path))


def parse_config(data: Mapping[str, Any]) -> SpeakerConfig:
    """Validate an already-parsed TOML mapping. Raises ConfigError naming the key path."""
    return parse(data)

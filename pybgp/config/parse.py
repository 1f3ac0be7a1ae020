"""Validation of a parsed TOML mapping into :mod:`pybgp.config` values.

Each ``_parse_*`` function reads one table through a :class:`~pybgp.config.reader.Table`, which
knows the table's key path (for error messages) and rejects unknown keys before any value is
read, so that a misspelt key is reported as such rather than as a missing one. The keys allowed
in a table are the attrs field names of the class it becomes: the field names *are* the TOML
keys. ``[originate]`` is read by :mod:`pybgp.config.originate` (a million prefixes have their
own fast path).
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from ipaddress import IPv4Address, IPv6Address, ip_address
from pathlib import Path
from typing import Any, Final

from pybgp.config.bfd import BfdConfig, parse_bfd
from pybgp.config.datastore import parse_datastore
from pybgp.config.filters import (
    FilterAction,
    FilterConfig,
    FilterRule,
    FilterSetActions,
    MatchOperator,
    PrefixLengthRange,
)
from pybgp.config.mrt import parse_mrt
from pybgp.config.originate import parse_originate, put_back, split_prefix_array
from pybgp.config.reader import (
    MISSING,
    U32_MAX,
    Table,
    check_address,
    check_asn,
    check_choice,
    check_int,
    check_list,
    config_keys,
    describe,
    read_communities,
    read_large_communities,
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
    MrtConfig,
    OriginateConfig,
    PeerConfig,
    SpeakerConfig,
    SpeakerSection,
    derive_peer_type,
)

TCP_MD5SIG_MAXKEYLEN: Final = 80
"""linux/tcp.h: the longest TCP MD5 key the kernel accepts."""
SUN_PATH_MAX: Final = 107
"""sockaddr_un.sun_path is 108 bytes including the terminating NUL."""
IFNAMSIZ_MAX: Final = 15
"""Interface names are at most 15 bytes (IFNAMSIZ 16 with the NUL)."""
RT_TABLE_LOCAL: Final = 255
LOG_LEVELS: Final = ("debug", "info", "warning", "error", "critical")


def _asn(table: Table, name: str) -> int:
    return check_asn(table.raw(name, required=True), table.key(name))


def _hold_time(table: Table, name: str, default: Any) -> Any:
    value = table.raw(name)
    if value is MISSING:
        return default
    path = table.key(name)
    hold = check_int(value, path, 0, 65535)
    # RFC 4271 §4.2: the Hold Time MUST be either zero or at least three seconds.
    if hold in (1, 2):
        raise ConfigError(path, f"{hold} is not a valid hold time (0, or 3..65535 seconds; "
                                "RFC 4271 §4.2)")
    return hold


_INLINE_RULES = ("expected the name of a filter, got a table: write the rules as "
                 "[[filters.rules]] of a [[filters]] entry with a name, and list that name here")


def _send_hold_time(table: Table) -> float | None:
    """RFC 9687 §3: the send hold time; 0 = off. Below the hold time it would cut sessions
    that are merely slow, so at least 3 s (the smallest hold time, RFC 4271 §4.2)."""
    value = table.number("send_hold_time", None, low=0.0)  # type: ignore[arg-type]
    if value is not None and 0 < value < 3:
        raise ConfigError(table.key("send_hold_time"),
                          f"{value:g} is too short (0 = off, else at least 3 seconds)")
    return value


def _keepalive(table: Table, hold_time: int) -> int | None:
    value = table.raw("keepalive_time")
    if value is MISSING:
        return None
    path = table.key("keepalive_time")
    keepalive = check_int(value, path, 1, 65535)
    # RFC 4271 §10: a hold time of 0 means no KEEPALIVE is sent; otherwise it must be shorter.
    if hold_time == 0:
        raise ConfigError(path, "hold_time 0 disables keepalives: remove keepalive_time")
    if keepalive >= hold_time:
        raise ConfigError(path, f"{keepalive} must be less than the hold time ({hold_time})")
    return keepalive


# --------------------------------------------------------------------------------------------
# sections


def _parse_speaker(value: object, identity_optional: bool = False) -> SpeakerSection:
    table = Table(value, "speaker", config_keys(SpeakerSection))
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
        listen = str(check_address(listen, table.key("listen_address")))
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
    send_hold = _send_hold_time(table)
    return SpeakerSection(
        asn=asn,
        router_id=router_id,
        listen_address=listen,
        listen_port=table.integer("listen_port", 179, low=0, high=65535),
        control_socket=control,
        control_socket_mode=table.integer("control_socket_mode", 0o600, low=0, high=0o777),
        hold_time=hold_time,
        keepalive_time=_keepalive(table, hold_time),
        send_hold_time=send_hold,
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


def _parse_session(table: Table, speaker: SpeakerSection, filter_names: set[str],
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
        raw = table.raw(direction)
        for i, item in enumerate(raw if isinstance(raw, list) else ()):
            if isinstance(item, Mapping):  # rules written inline belong in [[filters]]
                raise ConfigError(f"{table.key(direction)}[{i}]", _INLINE_RULES)
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
        "send_hold_time": _send_hold_time(table),
        "ttl_security": table.boolean("ttl_security", False),
        "multihop": table.integer("multihop", None, low=1, high=255),
        "allow_own_as": table.integer("allow_own_as", None, low=0, high=255),
        "description": table.string("description", ""),
        "add_paths_send": _add_paths_send(table),
        "add_paths_receive": table.boolean("add_paths_receive", False),
        "graceful_restart": table.boolean("graceful_restart", True),
        "role": role,
        **filters,
    }


def _add_paths_send(table: Table) -> str | int:
    """RFC 7911 ADD-PATH send: "best", "all" or a number of paths (2..65535)."""
    value = table.raw("add_paths_send")
    if value is MISSING:
        return "best"
    path = table.key("add_paths_send")
    if isinstance(value, str):
        return check_choice(value, path, ("best", "all"))
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(path, f'expected "best", "all" or a number of paths, got '
                                f"{describe(value)}")
    words = '{value} path is "best"' if value == 1 else "{value} is out of range (2..65535)"
    return check_int(value, path, 2, 65535, words)


def _version_name(version: int) -> tuple[str, ...]:
    return ("ipv4",) if version == 4 else ("ipv6",)


def _parse_peer(path: str, value: object, speaker: SpeakerSection,
                filter_names: set[str]) -> PeerConfig:
    table = Table(value, path, config_keys(PeerConfig))
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
        bfd=table.boolean("bfd", False),
        **session,
    )


def _parse_dynamic(path: str, value: object, speaker: SpeakerSection,
                   filter_names: set[str]) -> DynamicPeerConfig:
    table = Table(value, path, config_keys(DynamicPeerConfig))
    network = table.network("range")
    session = _parse_session(table, speaker, filter_names, _version_name(network.version))
    return DynamicPeerConfig(range=network, **session)


_INTERFACE_NAME = re.compile(r"[^\s/:]{1,15}")


def _parse_kernel(value: object) -> KernelConfig:
    table = Table(value, "kernel", config_keys(KernelConfig))
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
    table = Table(value, "graceful_restart", config_keys(GracefulRestartConfig))
    return GracefulRestartConfig(
        enabled=table.boolean("enabled", False),
        # RFC 4724 §3: a 12-bit field.
        restart_time=table.integer("restart_time", 120, low=0, high=4095,
                                   words="{value} does not fit the 12-bit restart time "
                                         "(0..4095 s, RFC 4724 §3)"),
        stale_routes_time=table.integer("stale_routes_time", 360, low=1, high=86400),
        notification=table.boolean("notification", True),
    )


def _parse_set(table: Table | None) -> FilterSetActions:
    if table is None:
        return FilterSetActions()
    communities = read_communities(table, "communities") if table.has("communities") else None
    prepend = table.raw("as_path_prepend")
    asns: tuple[int, ...] = ()
    if prepend is not MISSING:
        path = table.key("as_path_prepend")
        asns = tuple(check_asn(item, f"{path}[{i}]")
                     for i, item in enumerate(check_list(prepend, path)))
    return FilterSetActions(
        communities=communities,
        add_communities=read_communities(table, "add_communities"),
        local_pref=table.integer("local_pref", None, low=0, high=U32_MAX),
        med=table.integer("med", None, low=0, high=U32_MAX),
        as_path_prepend=asns,
    )


def _parse_rule(path: str, value: object) -> FilterRule:
    table = Table(value, path, config_keys(FilterRule))
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
        communities=read_communities(table, "communities"),
        large_communities=read_large_communities(table, "large_communities"),
        set=actions,
    )


def _parse_filter(path: str, value: object) -> FilterConfig:
    table = Table(value, path, config_keys(FilterConfig))
    name = table.string("name")
    if not name.strip():
        raise ConfigError(table.key("name"), "a filter name cannot be empty")
    return FilterConfig(
        name=name,
        rules=tuple(_parse_rule(p, v) for p, v in table.tables("rules")),
        description=table.string("description", ""),
    )


def _parse_logging(value: object) -> LoggingConfig:
    table = Table(value, "logging", config_keys(LoggingConfig))
    return LoggingConfig(
        level=table.choice("level", "info", LOG_LEVELS),
        format=table.choice("format", "text", ("text", "json")),
    )


def _parse_metrics(value: object) -> MetricsConfig:
    table = Table(value, "metrics", config_keys(MetricsConfig))
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
    top = Table(data, "", config_keys(SpeakerConfig))
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
    mrt = top.raw("mrt")
    bfd = top.table("bfd", BfdConfig)
    return SpeakerConfig(
        speaker=speaker,
        peers=tuple(peers),
        dynamic_peers=tuple(dynamic),
        originate=OriginateConfig() if originate is MISSING else parse_originate(originate),
        kernel=KernelConfig() if kernel is MISSING else _parse_kernel(kernel),
        graceful_restart=(
            GracefulRestartConfig() if graceful is MISSING else _parse_graceful_restart(graceful)
        ),
        filters=tuple(filters),
        logging=LoggingConfig() if logging_ is MISSING else _parse_logging(logging_),
        metrics=MetricsConfig() if metrics is MISSING else _parse_metrics(metrics),
        mrt=MrtConfig() if mrt is MISSING else parse_mrt(mrt),
        bfd=BfdConfig() if bfd is None else parse_bfd(bfd),
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
        text = raw.decode("utf-8")
        del raw
        # A large [originate] prefixes array is read outside tomllib (pybgp.config.originate).
        rest, array, placeholder = split_prefix_array(text)
        try:
            data = tomllib.loads(rest)
        except tomllib.TOMLDecodeError:
            if array is None:
                raise
            array = None  # the error again, with the file's own line numbers
            data = tomllib.loads(text)
        del rest
        if array is not None and not put_back(data, array, placeholder):
            data = tomllib.loads(text)
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

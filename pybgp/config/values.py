"""Speaker configuration: frozen values whose field names are the TOML keys.

``load_config(path)`` reads a TOML file (stdlib ``tomllib``), ``parse_config(mapping)`` validates
an already-parsed mapping; both return a :class:`SpeakerConfig` or raise :class:`ConfigError`,
whose text names the key path and what is wrong::

    peers[2].asn: 4294967296 is not a valid AS number

Every table rejects unknown keys. The classes themselves do not validate when built by hand
(embedding code and tests may construct them directly); ``parse_config`` does all the checks.
The reference of every key is ``docs/configuration.md``. The validation code lives in
``pybgp.config.parse``; the filter values in ``pybgp.config.filters``.
"""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address
from typing import Literal

import attrs

from pybgp.config.bfd import BfdConfig
from pybgp.config.filters import (
    ACCEPT_UNMATCHED,
    Filter,
    FilterAction,
    FilterConfig,
    FilterRule,
    FilterSetActions,
    FilterVerdict,
    MatchOperator,
    PrefixLengthRange,
    evaluate_filters,
    format_community,
    format_large_community,
    parse_community,
    parse_large_community,
)
from pybgp.config.prefixes import Prefixes, to_prefixes
from pybgp.wire.constants import IPV4_UNICAST, IPV6_UNICAST, Family, Role

__all__ = [
    "ACCEPT_UNMATCHED",
    "FAMILY_NAMES",
    "PEER_TYPES",
    "ROLE_NAMES",
    "BfdConfig",
    "ConfigError",
    "DatastoreConfig",
    "DynamicPeerConfig",
    "Filter",
    "FilterAction",
    "FilterConfig",
    "FilterRule",
    "FilterSetActions",
    "FilterVerdict",
    "GracefulRestartConfig",
    "KernelConfig",
    "LoggingConfig",
    "MatchOperator",
    "MetricsConfig",
    "OriginateConfig",
    "PeerConfig",
    "PrefixLengthRange",
    "SessionOptions",
    "SpeakerConfig",
    "SpeakerSection",
    "evaluate_filters",
    "format_community",
    "format_large_community",
    "parse_community",
    "parse_large_community",
]

IPAddress = IPv4Address | IPv6Address
IPNetwork = IPv4Network | IPv6Network

FAMILY_NAMES: dict[str, Family] = {"ipv4": IPV4_UNICAST, "ipv6": IPV6_UNICAST}
"""The values allowed in ``families``."""

PEER_TYPES = ("mesh", "global", "node-specific", "route-reflector", "rr-client")
ROLE_NAMES: dict[str, Role] = {
    "provider": Role.PROVIDER,
    "customer": Role.CUSTOMER,
    "peer": Role.PEER,
    "rs": Role.ROUTE_SERVER,
    "rs-client": Role.ROUTE_SERVER_CLIENT,
}
"""The ``role`` key's values and their RFC 9234 §4.1 codes."""
"""The values allowed in a peer's ``type`` (a label for ``pybgp status``)."""


class ConfigError(ValueError):
    """A config that cannot be used. ``str()`` is ``"<key path>: <what is wrong>"``.

    ``key_path`` is like ``peers[2].asn`` or ``filters[0].rules[1].set.med``; it is empty for
    errors about the file as a whole (unreadable, not UTF-8, TOML syntax), whose message then
    starts with the file name. ``file`` is the file that :func:`load_config` read (None for
    :func:`parse_config`); ``line`` is the line of a TOML syntax error, when known.
    """

    def __init__(
        self, key_path: str, message: str, *, line: int | None = None, file: str | None = None
    ) -> None:
        super().__init__(f"{key_path}: {message}" if key_path else message)
        self.key_path = key_path
        self.message = message
        self.line = line
        self.file = file


# --------------------------------------------------------------------------------------------
# [speaker]


@attrs.frozen(kw_only=True)
class SpeakerSection:
    """``[speaker]``: this speaker's identity, listener and session defaults."""

    asn: int
    """Our AS number, 1..4294967295 (4-octet ASNs, RFC 6793; 23456 = AS_TRANS is refused)."""

    router_id: IPv4Address
    """BGP Identifier (RFC 4271 §4.2, RFC 6286): an IPv4 address, not 0.0.0.0."""

    listen_address: str = "0.0.0.0"
    """Address to accept BGP connections on; ``""`` = do not listen (outgoing sessions only).
    ``"::"`` accepts IPv4 and IPv6 on a dual-stack host. Kept as normalised text."""

    listen_port: int = 179
    """TCP port of the listener (0 = an ephemeral port, for tests)."""

    control_socket: str = "/run/pybgp/pybgp.sock"
    """Unix socket path answering ``pybgp status`` / ``pybgp routes``; ``""`` = none."""

    control_socket_mode: int = 0o600
    """File mode of the control socket (write it as ``0o600`` in TOML)."""

    hold_time: int = 90
    """Hold time proposed in our OPEN: 0 (no keepalives) or 3..65535 s (RFC 4271 §4.2)."""

    keepalive_time: int | None = None
    """Seconds between KEEPALIVEs; None = negotiated hold time / 3 (RFC 4271 §10)."""

    send_hold_time: float | None = None
    """RFC 9687 send hold timer in seconds: a session whose peer reads nothing for this long
    is closed (NOTIFICATION 8 tried first). None = max(480, 2 x negotiated hold time);
    0 = off."""

    connect_retry_time: float = 3.0
    """ConnectRetryTimer in seconds (RFC 4271 §10 suggests 120; Calico/BIRD-style 3 here)."""

    connect_delay: float = 1.0
    """Seconds to wait before the first connection attempt after a peer starts."""

    error_wait_min: float = 5.0
    """First back-off (IdleHoldTimer) after a session error, in seconds."""

    error_wait_max: float = 60.0
    """Largest back-off; the back-off doubles from ``error_wait_min`` up to this."""

    cluster_id: IPv4Address | None = None
    """Present = we are a route reflector (RFC 4456) for peers marked
    ``route_reflector_client``; the CLUSTER_ID we add to reflected routes."""

    multipath: int = 1
    """Maximum equal-cost paths installed per prefix (1 = no ECMP), 1..256."""

    always_compare_med: bool = False
    """Compare MED between paths from different neighbour ASes (RFC 4271 §9.1.2.2 c)."""

    default_local_pref: int = 100
    """LOCAL_PREF given to paths that carry none (eBGP-learned; RFC 4271 §5.1.5)."""

    allow_own_as: int = 0
    """Accept paths whose AS_PATH holds our AS up to this many times (0..255; Calico's
    numAllowedLocalASNumbers). 0 = the RFC 4271 §9.1.2 loop check."""


# --------------------------------------------------------------------------------------------
# [[peers]] and [[dynamic_peers]]


@attrs.frozen(kw_only=True)
class SessionOptions:
    """Session knobs shared by ``[[peers]]`` and ``[[dynamic_peers]]``."""

    asn: int
    """The peer's AS number (1..4294967295). Equal to ``speaker.asn`` = iBGP."""

    password: str | None = None
    """TCP MD5 signature key (RFC 2385), at most 80 bytes; None = no signature."""

    route_reflector_client: bool = False
    """Reflect iBGP routes to this peer (RFC 4456); needs ``speaker.cluster_id``; iBGP only."""

    next_hop_self: bool = False
    """Set NEXT_HOP to our address on every route sent to this peer (reflected ones too)."""

    keep_original_next_hop: bool = False
    """eBGP: send routes with the NEXT_HOP as learned instead of our own address."""

    families: tuple[str, ...] = ("ipv4",)
    """Address families offered: ``"ipv4"`` and/or ``"ipv6"`` (unicast, RFC 4760). When the
    key is absent from the file, ``parse_config`` uses the family of the peer's address (for
    a dynamic range: of the range); the class default, built by hand, is ``("ipv4",)``."""

    max_prefixes: int = 0
    """Close the session (Cease, RFC 4486 subcode 1) above this many prefixes; 0 = no limit.
    Checked before an UPDATE reaches the RIB: routes beyond the limit are never used."""

    max_prefixes_action: Literal["stop", "warn"] = "stop"
    """Above ``max_prefixes``: ``"stop"`` refuses the UPDATE and closes the session,
    ``"warn"`` keeps the routes and logs a warning each time the limit is crossed."""

    hold_time: int | None = None
    """Overrides ``speaker.hold_time`` for this peer (0 or 3..65535)."""

    keepalive_time: int | None = None
    """Overrides ``speaker.keepalive_time`` for this peer."""

    send_hold_time: float | None = None
    """Overrides ``speaker.send_hold_time`` for this peer (RFC 9687)."""

    ttl_security: bool = False
    """GTSM (RFC 5082): send with TTL 255 and drop packets with TTL < 256 - ``multihop``."""

    multihop: int | None = None
    """IP TTL of the session's packets (1..255, eBGP multihop); None = the system default
    TTL, and with ``ttl_security`` 1 (a directly connected peer)."""

    allow_own_as: int | None = None
    """Overrides ``speaker.allow_own_as`` for this peer."""

    import_filters: tuple[str, ...] = ()
    """Names of ``[[filters]]`` applied to routes received from this peer, in order."""

    export_filters: tuple[str, ...] = ()
    """Names of ``[[filters]]`` applied to routes sent to this peer, in order."""

    add_paths_send: str | int = "best"
    """ADD-PATH send (RFC 7911): ``"best"`` (one path per prefix, no ADD-PATH send), ``"all"``
    (every path the export rules let through) or a number of paths, 2..65535 (the first N in
    decision order). Used per family only where the peer advertised receive (RFC 7911 §4)."""

    add_paths_receive: bool = False
    """ADD-PATH receive (RFC 7911): accept several paths per prefix from this peer; used per
    family only where the peer advertised send (RFC 7911 §4)."""

    description: str = ""
    """Free text shown by ``pybgp status``."""

    graceful_restart: bool = True
    """False = no graceful restart with this peer even when ``[graceful_restart]`` is enabled
    (the capability is not sent, so neither side keeps the other's routes over a restart)."""

    role: str = ""
    """Our RFC 9234 BGP role towards this eBGP peer: ``"provider"``, ``"customer"``,
    ``"peer"``, ``"rs"`` or ``"rs-client"``; "" = none. Sent as the Role capability (a peer
    whose role does not match is refused, NOTIFICATION 2/11) and drives the OTC attribute
    (RFC 9234 §5: routes from providers and peers never reach other providers and peers)."""

    @property
    def add_paths_send_count(self) -> int:
        """``add_paths_send`` as the RIB takes it: 1 = best only, 0 = all, else N."""
        if self.add_paths_send == "best":
            return 1
        if self.add_paths_send == "all":
            return 0
        return int(self.add_paths_send)

    @property
    def family_set(self) -> frozenset[Family]:
        """``families`` as (AFI, SAFI) pairs."""
        return frozenset(FAMILY_NAMES[name] for name in self.families)

    @property
    def role_code(self) -> int | None:
        """``role`` as its RFC 9234 code, None when no role is set."""
        return ROLE_NAMES[self.role] if self.role else None


@attrs.frozen(kw_only=True)
class PeerConfig(SessionOptions):
    """``[[peers]]``: one configured neighbour."""

    address: IPAddress
    """The peer's IPv4 or IPv6 address (unique among ``peers``)."""

    port: int = 179
    """TCP port to connect to."""

    passive: bool = False
    """True = never connect, only accept the peer's connection."""

    local_address: IPAddress | None = None
    """Our address on the session (bound before connecting; NEXT_HOP of our routes).
    None = chosen by the kernel. Same family as ``address``."""

    local_address6: IPv6Address | None = None
    """IPv4 peers carrying ``"ipv6"``: our IPv6 address, the NEXT_HOP of the IPv6 routes we
    send over the IPv4 session (MP-BGP, RFC 4760). None = a global IPv6 address of the
    interface holding the session's local IPv4 address (as BIRD does), if there is one."""

    type: str = ""
    """Label for ``pybgp status``: ``mesh``, ``global``, ``node-specific``,
    ``route-reflector`` or ``rr-client``. ``parse_config`` fills it when absent:
    ``rr-client`` for a route reflector client, else ``mesh`` for iBGP, ``global`` for eBGP."""

    enabled: bool = True
    """False = keep the peer configured but without a session (connections refused)."""

    bfd: bool = False
    """Run single-hop BFD (RFC 5880/5881) to this peer, timers from ``[bfd]``: when BFD says
    the peer is down, the BGP session goes down (Cease/BFD Down, RFC 9384)."""

    from_range: IPNetwork | None = None
    """Not a TOML key: the ``dynamic_peers`` range this config was built from by
    :meth:`SpeakerConfig.peer_for`, None for a ``[[peers]]`` entry."""

    @property
    def peer_id(self) -> str:
        """The address as text: the peer's key in the RIB and in ``pybgp status``."""
        return str(self.address)

    def effective_type(self, local_as: int) -> str:
        """``type``, or the derived label when it is empty."""
        return self.type or derive_peer_type(self.asn, local_as, self.route_reflector_client)


@attrs.frozen(kw_only=True)
class DynamicPeerConfig(SessionOptions):
    """``[[dynamic_peers]]``: accept sessions from any address of ``range`` (never connect)."""

    range: IPNetwork
    """The addresses accepted, e.g. ``10.0.0.0/24`` (no host bits set)."""

    def peer(self, address: IPAddress, local_as: int) -> PeerConfig:
        """The PeerConfig of one peer that connected from ``address`` inside ``range``."""
        options = {
            field.name: getattr(self, field.name) for field in attrs.fields(SessionOptions)
        }
        return PeerConfig(
            address=address,
            passive=True,
            type=derive_peer_type(self.asn, local_as, self.route_reflector_client),
            from_range=self.range,
            **options,
        )


def derive_peer_type(asn: int, local_as: int, route_reflector_client: bool) -> str:
    """The default ``type`` label: rr-client, mesh (iBGP) or global (eBGP)."""
    if route_reflector_client:
        return "rr-client"
    return "mesh" if asn == local_as else "global"


# --------------------------------------------------------------------------------------------
# [originate], [kernel], [logging], [metrics]


@attrs.frozen(kw_only=True)
class OriginateConfig:
    """``[originate]``: routes this speaker announces itself."""

    prefixes: Prefixes = attrs.field(factory=Prefixes, converter=to_prefixes)
    """Prefixes announced to every peer (no host bits set; IPv4 and IPv6 mixed). A read-only
    sequence of networks held as NLRI keys (:class:`~pybgp.config.prefixes.Prefixes`); a tuple
    of networks is converted."""

    communities: tuple[int, ...] = ()
    """Communities attached to them (``"64512:100"`` or well-known names in TOML)."""

    large_communities: tuple[tuple[int, int, int], ...] = ()
    """Large communities attached to them (``"64512:1:2"`` in TOML, RFC 8092)."""

    blackhole: bool = False
    """Also install a blackhole route for each originated prefix in the kernel, so that
    traffic to unallocated addresses of the block is dropped here (Calico does this for its
    IPAM blocks; needs ``[kernel] adapter`` other than ``none`` to have an effect)."""


@attrs.frozen(kw_only=True)
class KernelConfig:
    """``[kernel]``: how best paths are installed in the host's routing table."""

    adapter: str = "none"
    """``"netlink"`` (the Linux kernel via rtnetlink), ``"memory"`` (kept in memory: tests,
    embedding) or ``"none"`` (nothing installed: route reflectors). Default ``none``."""

    table: int = 254
    """Routing table id, 1..4294967295 except 255 (local); 254 = main."""

    protocol: int = 186
    """Route protocol number marking pybgp's routes (186 = RTPROT_BGP), 5..255: 0..4 are
    reserved by the kernel (unspec, redirect, kernel, boot, static)."""

    metric: int = 0
    """Route priority (metric) of installed routes, 0..4294967295."""

    encapsulation: str = "none"
    """``"none"`` (plain routes via the next hop), ``"ipip"`` (every route via
    ``tunnel_device``, onlink) or ``"crosssubnet"`` (IPIP only for next hops outside our
    directly connected subnets), as Calico's ipipMode Never / Always / CrossSubnet."""

    tunnel_device: str = "tunl0"
    """The IPIP device for ``ipip`` / ``crosssubnet`` (an interface name, at most 15 bytes)."""

    keep_on_stop: bool = False
    """True = a clean stop leaves pybgp's routes in this node's kernel; False = they are
    removed. Peers still withdraw our routes while we are down: restarts without traffic loss
    need ``[graceful_restart]``."""

    source_address: IPAddress | None = None
    """Preferred source address (``src``) set on installed routes; None = none."""

    overwrite_foreign: bool = False
    """True = replace a route of another protocol for the same prefix; False = leave it and
    report the prefix as not installed."""

    sweep_timeout: int = 120
    """Seconds after start before routes of our protocol left from a previous run and not
    learned again are removed (0 = at once)."""

    pools: tuple[tuple[IPNetwork, str], ...] = ()
    """Not a TOML key: (pool CIDR, encapsulation) pairs from the datastore (Calico IPPools'
    ipipMode); a route inside a pool uses the pool's encapsulation (the most specific pool
    wins), every other route ``encapsulation``."""


@attrs.frozen(kw_only=True)
class GracefulRestartConfig:
    """``[graceful_restart]``: RFC 4724 in both roles, with the RFC 8538 N-bit."""

    enabled: bool = False
    """Advertise graceful restart to every peer (unless its ``graceful_restart = false``):
    keep a restarting peer's routes (RIB and kernel) as stale, and make SIGTERM a planned
    restart (kernel routes stay, peers keep ours as stale)."""

    restart_time: int = 120
    """Seconds (0..4095, RFC 4724 §3) advertised: how long peers keep our routes while we
    restart; also how long we defer selection after a restart waiting for End-of-RIB."""

    stale_routes_time: int = 360
    """The longest (seconds) we keep a restarting peer's routes as stale."""

    notification: bool = True
    """Advertise the RFC 8538 N-bit: with a peer that sets it too, a NOTIFICATION other than
    Cease/Hard Reset keeps the routes as a restart would."""


@attrs.frozen(kw_only=True)
class LoggingConfig:
    """``[logging]``."""

    level: str = "info"
    """``"debug"``, ``"info"``, ``"warning"``, ``"error"`` or ``"critical"``."""

    format: str = "text"
    """``"text"`` (one line per record) or ``"json"`` (one JSON object per line)."""


@attrs.frozen(kw_only=True)
class MetricsConfig:
    """``[metrics]``: the Prometheus text endpoint."""

    listen: str = ""
    """``"host:port"`` to serve ``/metrics`` on (``"[::1]:9179"`` for IPv6); ``""`` = off."""

    per_peer: bool = True
    """True = series per peer (label ``peer``); False = only speaker-wide aggregates."""

    @property
    def address(self) -> tuple[str, int] | None:
        """``listen`` split into (host, port), None when metrics are off."""
        if not self.listen:
            return None
        host, _, port = self.listen.rpartition(":")
        return host.strip("[]"), int(port)


@attrs.frozen(kw_only=True)
class MrtConfig:
    """``[mrt]``: the BGP4MP update log (RFC 6396 §4.4), off unless ``updates_file`` is set."""

    updates_file: str = ""
    """File name pattern, strftime in UTC (``/var/log/pybgp/updates.%Y%m%d%H%M.mrt``);
    ``""`` = no update log."""

    rotate_seconds: int = 300
    """A new file every this many seconds (periods aligned on multiples of it)."""


@attrs.frozen(kw_only=True)
class DatastoreConfig:
    """``[datastore]``: peers, blocks and identity from a Calico v3 datastore in etcd."""

    type: str = "etcd"
    """The datastore kind; only ``"etcd"`` (needs ``pip install pybgp[etcd]``)."""

    endpoints: tuple[str, ...] = ("http://127.0.0.1:2379",)
    """etcd client URLs (``http://`` or ``https://`` host:port); tried in order."""

    node: str = ""
    """This node's name in the datastore (``Node`` resource, IPAM affinities)."""

    prefix: str = "/calico"
    """Key prefix of Calico's data in etcd."""

    ca_file: str = ""
    """PEM CA bundle to verify etcd's certificate (TLS); ``""`` = the system's."""

    cert_file: str = ""
    """PEM client certificate for etcd (TLS client auth); needs ``key_file``."""

    key_file: str = ""
    """PEM private key of ``cert_file``."""

    username: str = ""
    """etcd user (with ``password``); ``""`` = no authentication."""

    password: str = ""
    """etcd password of ``username``."""

    timeout: float = 5.0
    """Seconds an etcd request may take before the link counts as down."""

    reconnect_min: float = 1.0
    """First reconnect back-off in seconds; it doubles up to ``reconnect_max``."""

    reconnect_max: float = 30.0
    """Largest reconnect back-off in seconds."""


# --------------------------------------------------------------------------------------------
# the whole file


@attrs.frozen(kw_only=True)
class SpeakerConfig:
    """A whole config file."""

    speaker: SpeakerSection
    """``[speaker]`` (required: ``asn`` and ``router_id`` have no default)."""

    peers: tuple[PeerConfig, ...] = ()
    """``[[peers]]`` in file order."""

    dynamic_peers: tuple[DynamicPeerConfig, ...] = ()
    """``[[dynamic_peers]]`` in file order."""

    originate: OriginateConfig = OriginateConfig()
    """``[originate]``."""

    kernel: KernelConfig = KernelConfig()
    """``[kernel]``."""

    graceful_restart: GracefulRestartConfig = GracefulRestartConfig()
    """``[graceful_restart]``."""

    filters: tuple[FilterConfig, ...] = ()
    """``[[filters]]`` in file order (names unique)."""

    logging: LoggingConfig = LoggingConfig()
    """``[logging]``."""

    metrics: MetricsConfig = MetricsConfig()
    """``[metrics]``."""

    mrt: MrtConfig = MrtConfig()
    """``[mrt]``."""
    bfd: BfdConfig = attrs.field(factory=BfdConfig)
    """``[bfd]``: timers of the peers with ``bfd = true``."""

    datastore: DatastoreConfig | None = None
    """``[datastore]``: cluster state from etcd (None = none; the file is the whole config)."""

    def peer_for(self, address: IPAddress | str) -> PeerConfig | None:
        """The config of the peer at ``address``: a ``[[peers]]`` entry (even a disabled one:
        check ``enabled``), else one built from the most specific ``[[dynamic_peers]]`` range
        holding it (the first such range in file order on a tie), else None."""
        if isinstance(address, str):
            address = ip_address(address)
        for peer in self.peers:
            if peer.address == address:
                return peer
        best: DynamicPeerConfig | None = None
        for dynamic in self.dynamic_peers:
            if address in dynamic.range and (
                best is None or dynamic.range.prefixlen > best.range.prefixlen
            ):
                best = dynamic
        return None if best is None else best.peer(address, self.speaker.asn)

    def filter(self, name: str) -> FilterConfig:
        """The filter called ``name`` (KeyError when there is none)."""
        for config in self.filters:
            if config.name == name:
                return config
        raise KeyError(name)

    def peer_filters(self, peer: SessionOptions, direction: str) -> tuple[FilterConfig, ...]:
        """The filters of ``peer`` for ``direction`` ``"import"`` or ``"export"``, in order."""
        names = peer.import_filters if direction == "import" else peer.export_filters
        return tuple(self.filter(name) for name in names)

"""The speaker's configuration: frozen values with a docstring per field (:mod:`.values`), the
declarative filters (:mod:`.filters`), TOML parsing with errors that name the key
(:mod:`.parse`) and the difference between two configs for hitless reloads (:mod:`.diff`).

Imports run one way only: filters, bfd <- values <- diff, parse.
"""

from pybgp.config.bfd import BfdConfig
from pybgp.config.diff import ConfigDiff, config_diff
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
from pybgp.config.parse import load_config, parse_config
from pybgp.config.prefixes import Prefixes
from pybgp.config.values import (
    FAMILY_NAMES,
    PEER_TYPES,
    ROLE_NAMES,
    ConfigError,
    DatastoreConfig,
    DynamicPeerConfig,
    GracefulRestartConfig,
    KernelConfig,
    LoggingConfig,
    MetricsConfig,
    MrtConfig,
    OriginateConfig,
    PeerConfig,
    SessionOptions,
    SpeakerConfig,
    SpeakerSection,
    derive_peer_type,
)

__all__ = [
    "ACCEPT_UNMATCHED",
    "FAMILY_NAMES",
    "PEER_TYPES",
    "ROLE_NAMES",
    "BfdConfig",
    "ConfigDiff",
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
    "MrtConfig",
    "OriginateConfig",
    "PeerConfig",
    "PrefixLengthRange",
    "Prefixes",
    "SessionOptions",
    "SpeakerConfig",
    "SpeakerSection",
    "config_diff",
    "derive_peer_type",
    "evaluate_filters",
    "format_community",
    "format_large_community",
    "load_config",
    "parse_community",
    "parse_config",
    "parse_large_community",
]

"""pybgp: a pure-Python BGP speaker library with route-table sync.

The names here are the public surface for embedders::

    from pybgp import Speaker, load_config

    async with Speaker(load_config("node.toml")) as speaker:
        async for event in speaker.events():
            ...

Lower layers stay importable on their own: ``pybgp.wire`` (the codec), ``pybgp.rib`` (RIBs and
the decision process), ``pybgp.kernel`` (route installers), ``pybgp.fsm``/``pybgp.session``
(the sans-I/O session), ``pybgp.neighbor`` (one peer's decisions, sans-I/O).
"""

from pybgp.config import (
    ConfigError,
    DynamicPeerConfig,
    KernelConfig,
    OriginateConfig,
    PeerConfig,
    SpeakerConfig,
    SpeakerSection,
    load_config,
    parse_config,
)
from pybgp.errors import NotRunningError, PybgpError, UnknownPeerError
from pybgp.kernel import KernelRoute, KernelSync, MemoryInstaller, RouteInstaller
from pybgp.rib import BestPathChange, BestPathReason, Path, Route
from pybgp.speaker import Speaker
from pybgp.speaker.events import (
    BestPathChanged,
    PeerStateChanged,
    PeerStatus,
    Snapshot,
    SpeakerEvent,
    UpdateReceived,
)

__version__ = "0.1.0"

__all__ = [
    "BestPathChange",
    "BestPathChanged",
    "BestPathReason",
    "ConfigError",
    "DynamicPeerConfig",
    "KernelConfig",
    "KernelRoute",
    "KernelSync",
    "MemoryInstaller",
    "NotRunningError",
    "OriginateConfig",
    "Path",
    "PeerConfig",
    "PeerStateChanged",
    "PeerStatus",
    "PybgpError",
    "Route",
    "RouteInstaller",
    "Snapshot",
    "Speaker",
    "SpeakerConfig",
    "SpeakerEvent",
    "SpeakerSection",
    "UnknownPeerError",
    "UpdateReceived",
    "load_config",
    "parse_config",
]

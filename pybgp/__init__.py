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

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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


# The public names are imported on first use (PEP 562), so that ``pybgp --version`` and the
# control-socket client commands (``pybgp status``...) start without loading the whole stack.
_LAZY = {
    "ConfigError": "pybgp.config",
    "DynamicPeerConfig": "pybgp.config",
    "KernelConfig": "pybgp.config",
    "OriginateConfig": "pybgp.config",
    "PeerConfig": "pybgp.config",
    "SpeakerConfig": "pybgp.config",
    "SpeakerSection": "pybgp.config",
    "load_config": "pybgp.config",
    "parse_config": "pybgp.config",
    "NotRunningError": "pybgp.errors",
    "PybgpError": "pybgp.errors",
    "UnknownPeerError": "pybgp.errors",
    "KernelRoute": "pybgp.kernel",
    "KernelSync": "pybgp.kernel",
    "MemoryInstaller": "pybgp.kernel",
    "RouteInstaller": "pybgp.kernel",
    "BestPathChange": "pybgp.rib",
    "BestPathReason": "pybgp.rib",
    "Path": "pybgp.rib",
    "Route": "pybgp.rib",
    "Speaker": "pybgp.speaker",
    "BestPathChanged": "pybgp.speaker.events",
    "PeerStateChanged": "pybgp.speaker.events",
    "PeerStatus": "pybgp.speaker.events",
    "Snapshot": "pybgp.speaker.events",
    "SpeakerEvent": "pybgp.speaker.events",
    "UpdateReceived": "pybgp.speaker.events",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'pybgp' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])

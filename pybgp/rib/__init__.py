"""pybgp.rib: Adj-RIB-In, the RFC 4271 §9.1 decision (with its reason), Loc-RIB, route
reflection (RFC 4456), export rules and policies, Adj-RIB-Out and UPDATE packing.

No I/O, no clock: the speaker feeds decoded UPDATEs and session events in, and sends the
messages of each :class:`RibOutput` out. Modules: ``paths`` (interned Path), ``decision``
(tie-breakers, BestPathReason), ``table`` (storage layout), ``selection`` (Loc-RIB updates and
the change queue: the hot loops), ``export`` (rules of the road, packing), ``peer`` (per-peer
state, Adj-RIB-Out), ``policy`` (Route view), ``types`` (public values), ``addpath`` (RFC 7911),
and the engine in layers: ``state`` (tables, flush), ``importing`` (Adj-RIB-In import),
``stale`` (graceful restart, enhanced route refresh), ``rib`` (entry points, queries).
"""

from pybgp.rib.decision import BestPathReason, decide
from pybgp.rib.paths import Path
from pybgp.rib.policy import Policy, Route, make_route
from pybgp.rib.rib import Rib
from pybgp.rib.types import (
    BestPathChange,
    ChangeList,
    PeerCounters,
    PeerInfo,
    RibOptions,
    RibOutput,
    RouteEntry,
)

__all__ = [
    "BestPathChange",
    "BestPathReason",
    "ChangeList",
    "Path",
    "PeerCounters",
    "PeerInfo",
    "Policy",
    "Rib",
    "RibOptions",
    "RibOutput",
    "Route",
    "RouteEntry",
    "decide",
    "make_route",
]

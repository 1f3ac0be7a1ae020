"""The asyncio shell: sockets (:mod:`.tcp`), connections (:mod:`.connections`), per-peer
drivers (:mod:`.peer`), the :class:`Speaker` itself (:mod:`.speaker`), its event stream
(:mod:`.events`), the kernel feed (:mod:`.kernel_feed`) and reloads (:mod:`.reload`).

The shell carries bytes and time; protocol decisions live in the sans-I/O core.
"""

from pybgp.speaker.events import (
    BestPathChanged,
    EventStream,
    PeerStateChanged,
    PeerStatus,
    Snapshot,
    SpeakerEvent,
    UpdateReceived,
)
from pybgp.speaker.speaker import Speaker

__all__ = [
    "BestPathChanged",
    "EventStream",
    "PeerStateChanged",
    "PeerStatus",
    "Snapshot",
    "Speaker",
    "SpeakerEvent",
    "UpdateReceived",
]

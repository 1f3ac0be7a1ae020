"""MRT files of a running speaker: the table dump of ``pybgp mrt dump`` and the rotated BGP4MP
update log of the ``[mrt]`` section. The encoding is :mod:`pybgp.mrt` (pure); this module
reads the speaker and writes files.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Iterator
from ipaddress import IPv4Address, IPv6Address, ip_address
from typing import IO, TYPE_CHECKING, Any

from pybgp import mrt
from pybgp.fsm import State
from pybgp.speaker.events import PeerStateChanged, UpdateReceived
from pybgp.status import FAMILIES
from pybgp.wire.constants import Family
from pybgp.wire.update import encode_update

if TYPE_CHECKING:
    from pybgp.config import MrtConfig
    from pybgp.speaker import Speaker

log = logging.getLogger("pybgp.mrt")

STATE_NUMBERS = {
    State.IDLE: 1,
    State.CONNECT: 2,
    State.ACTIVE: 3,
    State.OPEN_SENT: 4,
    State.OPEN_CONFIRM: 5,
    State.ESTABLISHED: 6,
}
"""RFC 4271 §8.2.2 numbering, as BGP4MP_STATE_CHANGE (RFC 6396 §4.4.1) and the metrics use."""


def _table_records(speaker: Speaker, families: list[Family], now: int) -> Iterator[bytes]:
    section = speaker.config.speaker
    peers = [mrt.MrtPeer(section.router_id, IPv4Address(0), section.asn)]  # 0: originated here
    index: dict[str | None, int] = {None: 0}
    since: dict[str | None, int] = {None: now}
    for status in speaker.peers():
        negotiated = status.negotiated
        router_id = negotiated.peer_router_id if negotiated is not None else IPv4Address(0)
        index[status.address] = len(peers)
        since[status.address] = int(status.since)
        peers.append(mrt.MrtPeer(router_id, ip_address(status.address), status.asn))

    def routes() -> Iterator[tuple[Family, bytes, list[mrt.RibEntry]]]:
        for family in families:
            for entry in speaker.rib.routes(family):
                entries = [
                    mrt.RibEntry(
                        index.get(path.peer_id, 0),
                        since.get(path.peer_id, now),
                        mrt.table_attributes(path.attributes, family, path.next_hop),
                    )
                    for path in entry.paths
                ]
                yield family, entry.prefix, entries

    yield from mrt.table_dump(now, section.router_id, "pybgp", peers, routes())


YIELD_EVERY = 10_000
"""Records written between two yields to the event loop (a million-route dump must not hold
keepalives back)."""


async def dump_table(speaker: Speaker, path: str, family: str | None = None) -> dict[str, Any]:
    """Write the Loc-RIB (every path) as a TABLE_DUMP_V2 file at ``path`` (atomically: a
    temporary file renamed into place). Returns what was written."""
    families = [FAMILIES[family]] if family else list(FAMILIES.values())
    now = int(time.time())
    temporary = f"{path}.tmp{os.getpid()}"
    records = 0
    size = 0
    try:
        with open(temporary, "wb") as handle:
            for data in _table_records(speaker, families, now):
                handle.write(data)
                records += 1
                size += len(data)
                if records % YIELD_EVERY == 0:
                    await asyncio.sleep(0)  # the table iterator works on a copy per family
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
    return {"file": path, "prefixes": records - 1, "bytes": size}


class UpdateLog:
    """The ``[mrt]`` BGP4MP log: every UPDATE received and every session state change, in
    files named by ``updates_file`` (a strftime pattern, UTC) for each ``rotate_seconds``
    period. Built on the speaker's event stream; the UPDATE is re-encoded from its decoded
    form with the session's negotiated parameters."""

    def __init__(self, speaker: Speaker, config: MrtConfig) -> None:
        self.speaker = speaker
        self.config = config
        self._file: IO[bytes] | None = None
        self._period: int | None = None
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Subscribe and start writing (in the running loop)."""
        _snapshot, stream = self.speaker.subscribe(routes=False)
        self._task = asyncio.get_running_loop().create_task(self._run(stream))

    async def close(self) -> None:
        """Stop writing and close the current file."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self._close_file()

    def _close_file(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def file_for(self, now: float) -> tuple[int, str]:
        """The rotation period starting at or before ``now`` and its file name."""
        rotate = max(1, int(self.config.rotate_seconds))
        period = int(now) // rotate * rotate
        return period, time.strftime(self.config.updates_file, time.gmtime(period))

    def _write(self, data: bytes, now: float) -> None:
        period, name = self.file_for(now)
        if period != self._period or self._file is None:
            self._close_file()
            directory = os.path.dirname(name)
            if directory:
                os.makedirs(directory, exist_ok=True)
            self._file = open(name, "ab")  # noqa: SIM115 - kept open for the period
            self._period = period
            log.info("MRT update log: writing %s", name)
        self._file.write(data)
        self._file.flush()

    def _addresses(self, peer: str) -> tuple[int, IPv4Address | IPv6Address,
                                             IPv4Address | IPv6Address]:
        config = self.speaker.peer_config(peer)
        address = ip_address(peer)
        local: IPv4Address | IPv6Address = (
            IPv4Address(0) if address.version == 4 else IPv6Address(0)
        )
        asn = 0
        if config is not None:
            asn = config.asn
            if config.local_address is not None:
                local = config.local_address
        return asn, address, local

    def record_for(self, event: object, now: float) -> bytes | None:
        """The BGP4MP record of one speaker event (None for other events)."""
        local_as = self.speaker.config.speaker.asn
        if isinstance(event, UpdateReceived):
            session = self.speaker.session(event.peer)
            if session is None or session.negotiated is None:
                return None
            message = encode_update(event.update.update, session.negotiated.negotiated)
            asn, peer, local = self._addresses(event.peer)
            return mrt.bgp4mp_message(int(now), asn, local_as, peer, local, message)
        if isinstance(event, PeerStateChanged):
            asn, peer, local = self._addresses(event.peer)
            return mrt.bgp4mp_state_change(
                int(now), asn, local_as, peer, local,
                STATE_NUMBERS[event.old], STATE_NUMBERS[event.new],
            )
        return None

    async def _run(self, stream: Any) -> None:
        with stream:
            async for event in stream:
                now = time.time()
                try:
                    data = self.record_for(event, now)
                    if data is not None:
                        self._write(data, now)
                except OSError as exc:
                    log.error("MRT update log: %s", exc)

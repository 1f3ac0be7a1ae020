"""``pybgp run``: one speaker in the foreground, with its control socket, signals and metrics.

SIGTERM/SIGINT stop it cleanly (Cease/Administrative Shutdown to every peer, kernel routes removed
unless ``keep_on_stop``). With ``[graceful_restart] enabled``, SIGTERM is a planned restart instead
(every kernel route stays; peers that negotiated graceful restart keep ours as stale: see
``Speaker.stop(restart=True)``) and SIGINT remains the full stop that withdraws.

SIGHUP re-reads the config file: an invalid file keeps the running config and says why; a valid
one is applied as a difference (see ``Speaker.apply_config``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
from pathlib import Path
from typing import Any

from pybgp import queries
from pybgp.config import ConfigError, SpeakerConfig, config_diff, load_config
from pybgp.control import ControlError, ControlServer, Handler, Send
from pybgp.logs import setup_logging
from pybgp.metrics import MetricsServer, PeerMemory, render_metrics
from pybgp.monitor import event_documents, prefix_counts, snapshot_document
from pybgp.mrt_files import UpdateLog, dump_table
from pybgp.speaker import Speaker
from pybgp.status import routes_snapshot, status_snapshot

log = logging.getLogger("pybgp.daemon")

LAG_INTERVAL = 1.0
"""How often the event-loop lag probe runs (seconds)."""


def run_from_file(path: str, log_format: str | None = None, log_level: str | None = None) -> int:
    """Load ``path`` and run a speaker until a stop signal. Returns the process exit code."""
    try:
        config = load_config(path)
    except ConfigError as exc:
        print(f"{path}: {exc}" if exc.key_path else str(exc), file=sys.stderr)
        return 2
    setup_logging(log_level or config.logging.level, log_format or config.logging.format)
    if config.datastore is not None:
        from pybgp.datastore.etcd import EtcdError, import_client

        try:
            import_client()
        except EtcdError as exc:
            log.error("cannot start: %s", exc)
            return 1
    try:
        asyncio.run(Daemon(config, Path(path)).run())
    except ControlError as exc:
        log.error("cannot start: %s", exc)
        return 1
    except OSError as exc:
        log.error("cannot start: %s", exc)
        return 1
    return 0


class Daemon:
    """A speaker plus what an operator needs around it."""

    def __init__(self, config: SpeakerConfig, path: Path | None = None) -> None:
        self.config = config
        self.path = path
        self.speaker = Speaker(config)
        self.event_loop_lag = 0.0
        self._stop = asyncio.Event()
        self._started = asyncio.Event()
        """Set once the speaker runs: the control socket is up before it (claimed first), so
        commands wait for this rather than see a speaker that is not started yet."""
        self._restart = False
        self._reloading: asyncio.Task[str] | None = None
        self.datastore: Any = None
        """The :class:`~pybgp.datastore.agent.DatastoreAgent` with ``[datastore]``, else None."""

    def status(self) -> dict[str, Any]:
        """The ``pybgp status --json`` document."""
        document = status_snapshot(self.speaker)
        document["event_loop_lag"] = round(self.event_loop_lag, 6)
        if self.datastore is not None:
            document["datastore"] = self.datastore.status()
        return document

    async def run(self) -> None:
        """Run until SIGTERM/SIGINT (or :meth:`stop`).

        Start-up order: everything that can be taken by another process (the control socket,
        the metrics port, then the BGP listener) is claimed before the kernel is touched, so a
        second ``pybgp run`` with the same config exits naming what is in use and leaves the
        first one's routes alone.
        """
        loop = asyncio.get_running_loop()
        control: ControlServer | None = None
        metrics: MetricsServer | None = None
        try:
            if self.config.speaker.control_socket:  # "" = no control socket
                control = ControlServer(
                    self.config.speaker.control_socket,
                    self._handlers(),
                    mode=self.config.speaker.control_socket_mode,
                    streams={"monitor": self._monitor},
                )
                await control.start()
            address = self.config.metrics.address
            if address is not None:
                per_peer = self.config.metrics.per_peer
                memory = PeerMemory()
                metrics = MetricsServer(
                    address[0], address[1],
                    lambda: render_metrics(self.status(), per_peer=per_peer, memory=memory),
                )
                await metrics.start()
            if self.config.datastore is not None:
                from pybgp.datastore.agent import DatastoreAgent

                self.datastore = DatastoreAgent(self.config.datastore, self.config)
                start = asyncio.create_task(self.datastore.start())
                for sig in (signal.SIGTERM, signal.SIGINT):
                    loop.add_signal_handler(sig, start.cancel)
                try:
                    self.config = await start
                except asyncio.CancelledError:
                    log.info("stopped before the datastore answered")
                    return
                finally:
                    for sig in (signal.SIGTERM, signal.SIGINT):
                        loop.remove_signal_handler(sig)
                self.speaker = Speaker(self.config)
            await self._serve(loop)
        finally:
            if metrics is not None:
                await metrics.close()
            if control is not None:
                await control.close()
        log.info("stopped")

    async def _serve(self, loop: asyncio.AbstractEventLoop) -> None:
        follow: asyncio.Task[None] | None = None
        async with self.speaker:
            self._started.set()
            if self.datastore is not None:
                follow = asyncio.create_task(
                    self.datastore.follow(self._apply_datastore), name="pybgp-datastore"
                )
            updates: UpdateLog | None = None
            if self.config.mrt.updates_file:
                updates = UpdateLog(self.speaker, self.config.mrt)
                updates.start()
            lag = asyncio.create_task(self._measure_lag(), name="pybgp-lag")
            loop.add_signal_handler(signal.SIGTERM, self.stop, True)
            loop.add_signal_handler(signal.SIGINT, self.stop, False)
            loop.add_signal_handler(signal.SIGHUP, self._on_sighup)
            log.info(
                "speaker AS %d router id %s running with %d peers",
                self.config.speaker.asn, self.config.speaker.router_id, len(self.config.peers),
            )
            try:
                await self._stop.wait()
                # The speaker's own [graceful_restart] (from its start) decides, not a reload.
                restart = self._restart and self.speaker.graceful.options.enabled
                log.info("%s", "graceful restart requested" if restart else "stop requested")
                if restart:
                    await self.speaker.stop(restart=True)
            finally:
                for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
                    loop.remove_signal_handler(sig)
                lag.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await lag
                if follow is not None:
                    follow.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await follow
                if self._reloading is not None:
                    with contextlib.suppress(Exception):
                        await self._reloading
                if updates is not None:
                    await updates.close()

    def _handlers(self) -> dict[str, Handler]:
        handlers: dict[str, Handler] = {
            "status": self._status,
            "routes": self._routes,
            "reload": self._reload_cmd,
            "peer": self._peer,
            "check": self._check,
            "announce": self._announce,
            "withdraw": self._withdraw,
            "mrt_dump": self._mrt_dump,
        }
        return {name: self._after_start(handler) for name, handler in handlers.items()}

    def _after_start(self, handler: Handler) -> Handler:
        async def wrapped(request: Any) -> Any:
            await self._started.wait()
            return await handler(request)

        return wrapped

    def stop(self, restart: bool = False) -> None:
        """Ask :meth:`run` to return: ``restart`` = a planned graceful restart (SIGTERM, with
        ``[graceful_restart] enabled``), else the full stop (SIGINT)."""
        self._restart = restart
        self._stop.set()

    def _on_sighup(self) -> None:
        if self._reloading is not None and not self._reloading.done():
            log.warning("SIGHUP ignored: a reload is still running")
            return
        self._reloading = asyncio.create_task(self.reload(), name="pybgp-reload")

    async def reload(self) -> str:
        """Re-read the config file and apply it; returns what happened, in words."""
        return (await self.try_reload())[1]

    async def try_reload(self) -> tuple[bool, str]:
        """Re-read the config file and apply it: (applied, what happened in words)."""
        if self.path is None:
            return False, "nothing to reload: the speaker was not started from a file"
        try:
            new = load_config(self.path)
        except ConfigError as exc:
            where = f"{self.path}: " if exc.key_path else ""
            message = f"reload refused, keeping the running config: {where}{exc}"
            log.error("%s", message)
            return False, message
        if self.datastore is not None:
            summary = await self._apply_datastore(self.datastore.rebase(new))
            log.info("config reloaded: %s", summary)
            return True, summary
        diff = config_diff(self.config, new)
        if diff.restart_required:
            message = (
                f"reload refused, keeping the running config: [speaker] "
                f"{', '.join(diff.speaker_changed)} changed; restart pybgp to apply"
            )
            log.error("%s", message)
            return False, message
        summary = await self.speaker.apply_config(new)
        self.config = new
        log.info("config reloaded: %s", summary)
        return True, summary

    async def _apply_datastore(self, config: SpeakerConfig) -> str:
        """Apply the file merged with the datastore (a datastore change or a reload)."""
        from pybgp.datastore.apply import apply_datastore_config

        summary = await apply_datastore_config(self.speaker, config)
        self.config = self.speaker.config
        return summary

    async def _status(self, request: Any) -> dict[str, Any]:
        return self.status()

    async def _routes(self, request: Any) -> dict[str, Any]:
        family = request.get("family")
        if family not in (None, "ipv4", "ipv6"):
            raise ControlError(f"family must be ipv4 or ipv6, not {family!r}")
        prefix, peer, view = request.get("prefix"), request.get("peer"), request.get("view")
        if prefix is None and peer is None and view in (None, "loc"):
            return routes_snapshot(self.speaker, family)  # the whole table, fast path
        return queries.routes_query(
            self.speaker,
            None if prefix is None else str(prefix),
            None if peer is None else str(peer),
            str(view or "loc"),
            family,
        )

    async def _reload_cmd(self, request: Any) -> dict[str, Any]:
        if self._reloading is not None and not self._reloading.done():
            raise ControlError("reload refused: another reload is still running")
        applied, message = await self.try_reload()
        if not applied:
            raise ControlError(message)
        return {"message": message}

    async def _peer(self, request: Any) -> dict[str, Any]:
        return queries.peer_detail(self.speaker, str(request.get("peer", "")))

    async def _check(self, request: Any) -> dict[str, Any]:
        return queries.readiness(self.speaker)

    async def _announce(self, request: Any) -> dict[str, Any]:
        communities = request.get("communities") or []
        if not isinstance(communities, list):
            raise ControlError("communities must be a list")
        next_hop = request.get("next_hop")
        return queries.announce(
            self.speaker, str(request.get("prefix", "")), [str(c) for c in communities],
            None if next_hop is None else str(next_hop),
        )

    async def _withdraw(self, request: Any) -> dict[str, Any]:
        return queries.withdraw(self.speaker, str(request.get("prefix", "")))

    async def _mrt_dump(self, request: Any) -> dict[str, Any]:
        path = request.get("file")
        if not isinstance(path, str) or not path:
            raise ControlError("mrt dump needs a file")
        family = request.get("family")
        if family not in (None, "ipv4", "ipv6"):
            raise ControlError(f"family must be ipv4 or ipv6, not {family!r}")
        try:
            return await dump_table(self.speaker, path, family)
        except OSError as exc:
            raise ControlError(f"cannot write {path}: {exc.strerror or exc}") from None

    async def _monitor(self, request: Any, send: Send) -> None:
        """Snapshot first, then every change: subscribe() registers the stream in the same
        step that takes the snapshot, so nothing falls between them."""
        await self._started.wait()
        snapshot, stream = self.speaker.subscribe(routes=False)
        with stream:
            await send(snapshot_document(snapshot, prefix_counts(self.speaker.rib)))
            async for event in stream:
                for document in event_documents(event):
                    await send(document)

    async def _measure_lag(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            expected = loop.time() + LAG_INTERVAL
            await asyncio.sleep(LAG_INTERVAL)
            self.event_loop_lag = max(0.0, loop.time() - expected)

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

from pybgp.config import ConfigError, SpeakerConfig, load_config
from pybgp.control import ControlError, ControlServer
from pybgp.logs import setup_logging
from pybgp.metrics import MetricsServer, render_metrics
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
        """Run until SIGTERM/SIGINT (or :meth:`stop`)."""
        loop = asyncio.get_running_loop()
        follow: asyncio.Task[None] | None = None
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
            self.speaker = Speaker(self.config)
        async with self.speaker:
            if self.datastore is not None:
                follow = asyncio.create_task(
                    self.datastore.follow(self._apply_datastore), name="pybgp-datastore"
                )
            control = ControlServer(
                self.config.speaker.control_socket,
                {"status": self._status, "routes": self._routes, "reload": self._reload_cmd},
                mode=self.config.speaker.control_socket_mode,
            )
            await control.start()
            metrics: MetricsServer | None = None
            address = self.config.metrics.address
            if address is not None:
                per_peer = self.config.metrics.per_peer
                metrics = MetricsServer(
                    address[0], address[1],
                    lambda: render_metrics(self.status(), per_peer=per_peer),
                )
                await metrics.start()
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
                if metrics is not None:
                    await metrics.close()
                await control.close()
        log.info("stopped")

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
        if self.path is None:
            return "nothing to reload: the speaker was not started from a file"
        try:
            new = load_config(self.path)
        except ConfigError as exc:
            where = f"{self.path}: " if exc.key_path else ""
            message = f"reload refused, keeping the running config: {where}{exc}"
            log.error("%s", message)
            return message
        if self.datastore is not None:
            summary = await self._apply_datastore(self.datastore.rebase(new))
        else:
            summary = await self.speaker.apply_config(new)
            self.config = new
        log.info("config reloaded: %s", summary)
        return summary

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
        return routes_snapshot(self.speaker, family)

    async def _reload_cmd(self, request: Any) -> dict[str, Any]:
        return {"message": await self.reload()}

    async def _measure_lag(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            expected = loop.time() + LAG_INTERVAL
            await asyncio.sleep(LAG_INTERVAL)
            self.event_loop_lag = max(0.0, loop.time() - expected)

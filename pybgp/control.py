"""The control socket: a small JSON request/response protocol over a Unix domain socket.

Every client command of ``pybgp`` (status, routes, monitor, reload, announce, withdraw, mrt) uses
it, and so can any other tool. The client half lives in :mod:`pybgp.client` (standard library
only, so the commands start fast); this module is the asyncio server.

Protocol (one request per line, one response per line, UTF-8 JSON; the connection may carry
several requests in turn)::

    -> {"command": "status"}
    <- {"ok": true, "result": {...}}

    -> {"command": "routes", "family": "ipv4"}
    <- {"ok": true, "result": {"routes": [...]}}

    -> {"command": "nonsense"}
    <- {"ok": false, "error": "unknown command 'nonsense'; known: routes, status"}

    -> {"command": "monitor"}          (a streaming command)
    <- {"ok": true, "result": {...}}   one line per item, until either side closes

Commands are registered by the daemon (see :mod:`pybgp.daemon`). The socket file is created with
mode 0600 by default (configurable) so that only its owner may ask; a stale socket file left by a
crashed speaker is replaced, a live one is not (the second speaker refuses to start).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
import stat
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from pybgp.client import DEFAULT_SOCKET, ControlError, request

__all__ = ["DEFAULT_SOCKET", "ControlError", "ControlServer", "request"]

log = logging.getLogger("pybgp.control")

MAX_REQUEST = 64 * 1024
"""Requests are small; a longer line is refused rather than buffered without bound."""

Handler = Callable[[Mapping[str, Any]], Awaitable[Any]]
Send = Callable[[Any], Awaitable[None]]
StreamHandler = Callable[[Mapping[str, Any], Send], Awaitable[None]]
"""A streaming command: calls ``send(item)`` for every item until it returns (or the client
goes away, which cancels it)."""


class ControlServer:
    """Serves registered commands on a Unix socket until closed."""

    def __init__(
        self,
        path: str,
        handlers: Mapping[str, Handler],
        mode: int = 0o600,
        streams: Mapping[str, StreamHandler] | None = None,
    ) -> None:
        self.path = path
        self.mode = mode
        self._handlers = dict(handlers)
        self._streams = dict(streams or {})
        self._bound = False
        self._server: asyncio.AbstractServer | None = None
        self._clients: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        """Bind the socket (replacing a stale file, refusing a live one) and start serving."""
        directory = os.path.dirname(self.path)
        if directory:
            os.makedirs(directory, exist_ok=True)
        if os.path.exists(self.path):
            if not stat.S_ISSOCK(os.stat(self.path).st_mode):
                raise ControlError(f"{self.path} exists and is not a socket")
            if _socket_answers(self.path):
                raise ControlError(f"control socket {self.path} in use: another speaker answers")
            os.unlink(self.path)
        self._server = await asyncio.start_unix_server(
            self._serve_client, path=self.path, limit=MAX_REQUEST
        )
        self._bound = True
        os.chmod(self.path, self.mode)
        log.info("control socket listening on %s", self.path)

    async def close(self) -> None:
        """Stop serving, finish client tasks and remove the socket file."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for task in list(self._clients):
            task.cancel()
        for task in list(self._clients):
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._bound:  # never remove the socket of another speaker we refused to replace
            self._bound = False
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.path)

    async def _serve_client(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._clients.add(task)
        try:
            while True:
                try:
                    line = await reader.readline()
                except (ValueError, asyncio.LimitOverrunError):
                    await _send(writer, {"ok": False, "error": "request too long"})
                    break
                if not line:
                    break
                streamed = self._stream_handler(line)
                if streamed is not None:
                    await self._serve_stream(reader, writer, *streamed)
                    break
                response = await self._dispatch(line)
                await _send(writer, response)
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()
            if task is not None:
                self._clients.discard(task)

    def _stream_handler(
        self, line: bytes
    ) -> tuple[StreamHandler, Mapping[str, Any]] | None:
        try:
            request = json.loads(line)
        except (UnicodeDecodeError, json.JSONDecodeError):
            return None
        if not isinstance(request, dict):
            return None
        handler = self._streams.get(request.get("command"))  # type: ignore[arg-type]
        return None if handler is None else (handler, request)

    async def _serve_stream(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        handler: StreamHandler,
        request: Mapping[str, Any],
    ) -> None:
        """Run a streaming command until it ends or the client closes its side."""

        async def send(item: Any) -> None:
            await _send(writer, {"ok": True, "result": item})

        work = asyncio.ensure_future(handler(request, send))
        hangup = asyncio.ensure_future(reader.read())  # EOF (or junk) = the client is done
        try:
            await asyncio.wait((work, hangup), return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (work, hangup):
                task.cancel()
            for task in (work, hangup):
                with contextlib.suppress(asyncio.CancelledError, ConnectionError):
                    await task
        if work.done() and not work.cancelled() and work.exception() is not None:
            error = work.exception()
            if isinstance(error, ControlError):
                with contextlib.suppress(ConnectionError):
                    await _send(writer, {"ok": False, "error": str(error)})
            elif not isinstance(error, ConnectionError):
                log.error("control stream %r failed: %r", request.get("command"), error)

    async def _dispatch(self, line: bytes) -> dict[str, Any]:
        try:
            request = json.loads(line)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            return {"ok": False, "error": f"request is not JSON: {exc}"}
        if not isinstance(request, dict) or not isinstance(request.get("command"), str):
            return {"ok": False, "error": 'a request is an object with a "command" string'}
        command = request["command"]
        handler = self._handlers.get(command)
        if handler is None:
            known = ", ".join(sorted([*self._handlers, *self._streams]))
            return {"ok": False, "error": f"unknown command {command!r}; known: {known}"}
        try:
            result = await handler(request)
        except ControlError as exc:
            return {"ok": False, "error": str(exc)}
        except Exception as exc:  # a bug in a handler must not take the speaker down
            log.exception("control command %r failed", command)
            return {"ok": False, "error": f"{command} failed: {exc}"}
        return {"ok": True, "result": result}


async def _send(writer: asyncio.StreamWriter, response: Mapping[str, Any]) -> None:
    writer.write(json.dumps(response, separators=(",", ":")).encode() + b"\n")
    await writer.drain()


def _socket_answers(path: str) -> bool:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        probe.settimeout(0.5)
        try:
            probe.connect(path)
        except OSError:
            return False
        return True

"""The control socket: a small JSON request/response protocol over a Unix domain socket.

``pybgp status`` and ``pybgp routes`` use it, and so can any other tool.

Protocol (one request per line, one response per line, UTF-8 JSON; the connection may carry
several requests in turn)::

    -> {"command": "status"}
    <- {"ok": true, "result": {...}}

    -> {"command": "routes", "family": "ipv4"}
    <- {"ok": true, "result": {"routes": [...]}}

    -> {"command": "nonsense"}
    <- {"ok": false, "error": "unknown command 'nonsense'; known: routes, status"}

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
from pathlib import Path
from typing import Any

log = logging.getLogger("pybgp.control")

DEFAULT_SOCKET = "/run/pybgp/pybgp.sock"
MAX_REQUEST = 64 * 1024
"""Requests are small; a longer line is refused rather than buffered without bound."""

Handler = Callable[[Mapping[str, Any]], Awaitable[Any]]


class ControlError(Exception):
    """Raised by the client when no speaker answers or the speaker reports an error."""


class ControlServer:
    """Serves registered commands on a Unix socket until closed."""

    def __init__(self, path: str, handlers: Mapping[str, Handler], mode: int = 0o600) -> None:
        self.path = path
        self.mode = mode
        self._handlers = dict(handlers)
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
                raise ControlError(f"another speaker is answering on {self.path}")
            os.unlink(self.path)
        self._server = await asyncio.start_unix_server(
            self._serve_client, path=self.path, limit=MAX_REQUEST
        )
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
            known = ", ".join(sorted(self._handlers))
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


def request(path: str | Path, command: str, timeout: float = 10.0, **arguments: Any) -> Any:
    """Send one command to a running speaker and return its result (blocking client).

    Raises :class:`ControlError` when nothing answers on ``path`` or the speaker reports an
    error.
    """
    message = json.dumps({"command": command, **arguments}).encode() + b"\n"
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
            client.settimeout(timeout)
            client.connect(str(path))
            client.sendall(message)
            chunks = []
            while True:
                chunk = client.recv(1 << 16)
                if not chunk:
                    break
                chunks.append(chunk)
                if chunk.endswith(b"\n"):
                    break
    except (FileNotFoundError, ConnectionRefusedError) as exc:
        raise ControlError(f"no speaker answers on {path}: {exc.strerror or exc}") from exc
    except OSError as exc:
        raise ControlError(f"no speaker answers on {path}: {exc}") from exc
    try:
        response = json.loads(b"".join(chunks))
    except json.JSONDecodeError as exc:
        raise ControlError(f"the speaker on {path} sent a reply that is not JSON") from exc
    if not response.get("ok"):
        raise ControlError(str(response.get("error", "the speaker reported an error")))
    return response.get("result")

"""The control-socket client: what ``pybgp status``, ``routes``, ``monitor``... use.

Kept apart from :mod:`pybgp.control` (the asyncio server) and free of the protocol stack so that
the client commands start fast: this module imports only the standard library (``json`` and
``socket``; ``tomllib`` when a config file names the socket).

Protocol (one request per line, UTF-8 JSON): a plain command gets one response line
``{"ok": true, "result": ...}`` or ``{"ok": false, "error": "..."}``. A *streaming* command
(``monitor``) gets one such line per item until either side closes the connection.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

DEFAULT_SOCKET = "/run/pybgp/pybgp.sock"
"""Where ``pybgp run`` listens when the config does not say otherwise."""


class ControlError(Exception):
    """Raised by the client when no speaker answers or the speaker reports an error."""


def socket_from_config(path: str | Path) -> str:
    """The ``[speaker] control_socket`` of a config file (the default when it has none).

    Only reads the TOML: the file is not validated (``pybgp check`` does that), so that a
    client command stays quick. Raises :class:`ControlError` when the file cannot be read.
    """
    import tomllib

    try:
        with open(path, "rb") as handle:
            data = tomllib.load(handle)
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ControlError(f"{path}: cannot read the control_socket: {exc}") from None
    speaker = data.get("speaker")
    value = speaker.get("control_socket", DEFAULT_SOCKET) if isinstance(speaker, dict) else None
    if not isinstance(value, str):
        return DEFAULT_SOCKET
    if not value:
        raise ControlError(f'{path}: speaker.control_socket is "" (the speaker has no socket)')
    return value


def _connect(path: str | Path, message: bytes, timeout: float | None) -> socket.socket:
    client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        client.settimeout(timeout)
        client.connect(str(path))
        client.sendall(message)
    except (FileNotFoundError, ConnectionRefusedError) as exc:
        client.close()
        raise ControlError(f"no speaker answers on {path}: {exc.strerror or exc}") from exc
    except OSError as exc:
        client.close()
        raise ControlError(f"no speaker answers on {path}: {exc}") from exc
    return client


def _decode(path: str | Path, line: bytes) -> Any:
    try:
        response = json.loads(line)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ControlError(f"the speaker on {path} sent a reply that is not JSON") from exc
    if not isinstance(response, dict) or not response.get("ok"):
        error = response.get("error") if isinstance(response, dict) else None
        raise ControlError(str(error or "the speaker reported an error"))
    return response.get("result")


def request(path: str | Path, command: str, timeout: float = 10.0, **arguments: Any) -> Any:
    """Send one command to a running speaker and return its result (blocking client).

    Raises :class:`ControlError` when nothing answers on ``path`` or the speaker reports an
    error.
    """
    message = json.dumps({"command": command, **arguments}).encode() + b"\n"
    client = _connect(path, message, timeout)
    chunks = []
    try:
        with client:
            while True:
                chunk = client.recv(1 << 16)
                if not chunk:
                    break
                chunks.append(chunk)
                if chunk.endswith(b"\n"):
                    break
    except OSError as exc:
        raise ControlError(f"no answer from the speaker on {path}: {exc}") from exc
    return _decode(path, b"".join(chunks))


def stream(path: str | Path, command: str, **arguments: Any) -> Iterator[Any]:
    """Send a streaming command and yield each item as it arrives, until the speaker closes
    the connection (the generator's ``close()`` closes the socket)."""
    message = json.dumps({"command": command, **arguments}).encode() + b"\n"
    client = _connect(path, message, 10.0)
    client.settimeout(None)
    with client, client.makefile("rb") as reader:
        for line in reader:
            yield _decode(path, line)

"""Logging set-up: readable lines by default, one JSON object per line for collectors.

Every line about a peer names the peer: code that logs about a peer uses :func:`peer_logger`,
which puts ``peer`` into the record; both formats show it.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import MutableMapping
from typing import Any, TextIO

_RESERVED = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message"}


class PeerAdapter(logging.LoggerAdapter[logging.Logger]):
    """A logger that adds ``peer=<address>`` to every record."""

    def process(self, msg: Any, kwargs: MutableMapping[str, Any]) -> tuple[Any, Any]:
        extra = dict(self.extra or {})
        extra.update(kwargs.get("extra") or {})
        kwargs["extra"] = extra
        return msg, kwargs


def peer_logger(name: str, peer: str) -> PeerAdapter:
    """The logger ``name`` with every record naming ``peer``."""
    return PeerAdapter(logging.getLogger(name), {"peer": peer})


class TextFormatter(logging.Formatter):
    """``2026-11-27T10:00:00.123Z INFO  pybgp.speaker [10.0.0.2] session Established``."""

    def format(self, record: logging.LogRecord) -> str:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
        peer = getattr(record, "peer", None)
        where = f" [{peer}]" if peer else ""
        line = (
            f"{stamp}.{int(record.msecs):03d}Z {record.levelname:<5} {record.name}{where} "
            f"{record.getMessage()}"
        )
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, peer and any extra fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _RESERVED and not key.startswith("_"):
                entry[key] = value if isinstance(value, str | int | float | bool) else str(value)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, separators=(",", ":"))


def setup_logging(level: str = "info", fmt: str = "text", stream: TextIO | None = None) -> None:
    """Configure the ``pybgp`` logger tree for a command-line run."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger("pybgp")
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    root.propagate = False

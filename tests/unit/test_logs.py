"""Log lines name their peer, in text and in JSON."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from pybgp.logs import peer_logger, setup_logging


@pytest.fixture(autouse=True)
def _restore_pybgp_logger() -> Iterator[None]:
    """setup_logging configures the process-wide ``pybgp`` logger: put it back afterwards."""
    logger = logging.getLogger("pybgp")
    saved = (list(logger.handlers), logger.level, logger.propagate)
    yield
    logger.handlers[:] = saved[0]
    logger.setLevel(saved[1])
    logger.propagate = saved[2]


def test_text_lines_name_the_peer() -> None:
    stream = io.StringIO()
    setup_logging("info", "text", stream)
    peer_logger("pybgp.speaker", "10.0.0.2").info("Idle -> Connect: %s", "start")
    line = stream.getvalue().strip()
    assert line.endswith("INFO  pybgp.speaker [10.0.0.2] Idle -> Connect: start")


def test_json_lines_are_objects_with_the_peer() -> None:
    stream = io.StringIO()
    setup_logging("debug", "json", stream)
    peer_logger("pybgp.speaker", "fd00::2").warning("hold timer expired")
    logging.getLogger("pybgp.daemon").info("stopped")
    first, second = (json.loads(line) for line in stream.getvalue().splitlines())
    assert first["peer"] == "fd00::2" and first["level"] == "warning"
    assert first["message"] == "hold timer expired" and first["logger"] == "pybgp.speaker"
    assert first["time"].endswith("Z")
    assert second == second | {"logger": "pybgp.daemon", "message": "stopped"}
    assert "peer" not in second

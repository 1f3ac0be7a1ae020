"""Fixtures for namespace tests: a ``topology`` torn down whatever happens.

``topology`` skips (with the exact reason) when the machine cannot create network
namespaces; ``bird`` and ``exabgp`` skip when those daemons are missing. When a test fails,
the finalizer prints every node's addresses and routes and every daemon's state and logs
(pytest shows it in the captured-output section of the failure).
"""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Generator, Iterator
from pathlib import Path
from types import FrameType

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
if str(REPO_ROOT) not in sys.path:  # `pytest` (not `python -m pytest`) from elsewhere
    sys.path.insert(0, str(REPO_ROOT))

from tests.harness import (  # noqa: E402
    Topology,
    bird_available,
    exabgp_available,
    netns_supported,
)

_NETNS_REASON: list[str | None] = []


def _netns_reason() -> str | None:
    if not _NETNS_REASON:
        _NETNS_REASON.append(netns_supported())
    return _NETNS_REASON[0]


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Keep each phase's report on the item (``item.rep_setup`` / ``rep_call``)."""
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


def _failed(request: pytest.FixtureRequest) -> bool:
    setup = getattr(request.node, "rep_setup", None)
    call = getattr(request.node, "rep_call", None)
    if setup is None or setup.failed or (call is not None and call.failed):
        return True
    # Set up fine but no call report: the test was interrupted (KeyboardInterrupt).
    return bool(setup.passed and call is None)


def _interrupt_on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


@pytest.fixture
def topology(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Topology]:
    """A fresh Topology (unique ``pbt-<hex>-`` prefix, logs under tmp_path), always torn down."""
    reason = _netns_reason()
    if reason is not None:
        pytest.skip(reason)
    topo = Topology(workdir=tmp_path)
    # A CI timeout's SIGTERM becomes a KeyboardInterrupt, so pytest still runs this
    # finalizer (atexit alone would not run on SIGTERM).
    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, _interrupt_on_sigterm)
    try:
        yield topo
    finally:
        try:
            if _failed(request):
                print("\n" + topo.debug_dump(), file=sys.stderr)
        finally:
            try:
                topo.teardown()
            finally:
                if previous is not None:
                    signal.signal(signal.SIGTERM, previous)


@pytest.fixture
def bird() -> None:
    """Skip unless BIRD 2 (bird, birdc) is installed."""
    reason = bird_available()
    if reason is not None:
        pytest.skip(reason)


@pytest.fixture
def exabgp() -> None:
    """Skip unless ExaBGP is installed."""
    reason = exabgp_available()
    if reason is not None:
        pytest.skip(reason)

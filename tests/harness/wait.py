"""Polling with a deadline: the one way harness code and tests wait for something to happen.

``wait_until`` calls a probe until its result satisfies a predicate (by default: is truthy)
or the deadline passes, then raises an ``AssertionError`` that names what was awaited and
shows the last value the probe returned (or the last exception it raised). Tests never sleep
in place of a condition; they wait for the condition itself.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")

__all__ = ["AbortWait", "wait_until"]


class AbortWait(AssertionError):
    """Raised by a probe to stop waiting at once (e.g. the daemon being waited on has died)."""


def _truthy(value: Any) -> bool:
    return bool(value)


def wait_until(
    condition: Callable[[], T],
    timeout: float = 10.0,
    interval: float = 0.1,
    describe: str | None = None,
    predicate: Callable[[T], bool] = _truthy,
) -> T:
    """Call ``condition`` every ``interval`` seconds until ``predicate(result)`` holds.

    Returns the first satisfying result. Exceptions raised by ``condition`` count as "not
    yet" and are remembered as the last observation, except ``AbortWait`` which propagates
    immediately. After ``timeout`` seconds raises ``AssertionError`` naming ``describe`` and
    the last observed value.
    """
    what = describe or getattr(condition, "__name__", repr(condition))
    deadline = time.monotonic() + timeout
    last: object = "<never evaluated>"
    attempts = 0
    while True:
        attempts += 1
        try:
            value = condition()
        except AbortWait:
            raise
        except Exception as error:
            last = f"{type(error).__name__}: {error}"
        else:
            if predicate(value):
                return value
            last = value
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AssertionError(
                f"timed out after {timeout:g}s ({attempts} attempts) waiting for {what}; "
                f"last observed: {last!r}"
            )
        time.sleep(min(interval, remaining))

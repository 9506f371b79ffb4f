"""The one poll loop: wait until a condition holds, with a message that says what was awaited."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


class WaitTimeout(AssertionError):
    """Raised when a condition did not hold in time; an AssertionError so tests fail, not error."""


def wait_for(
    condition: Callable[[], T],
    timeout: float = 60,
    interval: float = 0.25,
    what: str = "condition",
    ignore: tuple[type[BaseException], ...] = (Exception,),
) -> T:
    """Poll until ``condition()`` returns something truthy and return it.

    Exceptions of the ``ignore`` types count as "not yet" (the object may not exist yet); after
    ``timeout`` seconds a ``WaitTimeout`` names ``what`` and the last value or error seen.
    """
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        try:
            last = condition()
        except ignore as error:
            last = error
        else:
            if last:
                return last
        if time.monotonic() >= deadline:
            raise WaitTimeout(f"timed out after {timeout:g}s waiting for {what}; last: {last!r}")
        time.sleep(interval)


def seconds_until(
    condition: Callable[[], Any], timeout: float, interval: float = 0.5, what: str = "condition"
) -> float:
    """How long ``condition()`` took to hold (for benchmarks); raises ``WaitTimeout`` after ``timeout``."""
    began = time.monotonic()
    wait_for(condition, timeout, interval, what)
    return time.monotonic() - began

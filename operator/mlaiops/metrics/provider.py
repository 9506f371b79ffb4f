"""The one small interface every metric backend implements (as Flagger's providers do).

Analysis and detection take a ``MetricsProvider``; they never know which backend answers.
"The backend failed" (``ProviderError``) is a separate outcome from "no data" (an empty
result) and from "the value is bad" — no caller may fold an error into pass or fail.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

import numpy as np


class ProviderError(Exception):
    """The backend could not answer: unreachable, timed out, or rejected the query."""


@dataclass(frozen=True)
class Sample:
    """One series' value at one instant."""

    labels: dict[str, str]
    value: float
    timestamp: float = 0.0


@dataclass(frozen=True)
class Series:
    """One series over a range; timestamps in seconds since the epoch, ascending."""

    labels: dict[str, str]
    timestamps: np.ndarray = field(repr=False)
    values: np.ndarray = field(repr=False)


class MetricsProvider(Protocol):
    """Instant and range queries, and whether the backend is reachable at all."""

    async def instant(self, query: str, at: datetime | None = None) -> list[Sample]:
        """Evaluate ``query`` at one instant (now by default); an empty list means no data."""
        ...

    async def range(self, query: str, start: datetime, end: datetime, step_seconds: float) -> list[Series]:
        """Evaluate ``query`` over ``[start, end]`` every ``step_seconds``."""
        ...

    async def is_online(self) -> bool:
        """Whether the backend answers at all (used to tell outages from bad queries)."""
        ...

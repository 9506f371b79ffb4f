"""What a report is made of: metric series with their band, the actions taken, and timeline rows.

Plain dataclasses with no I/O, filled by ``report.sources`` (Prometheus, the cluster) or by a
caller that has its own data (the demo's story), and drawn by ``report.chart`` / ``report.html``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np

Tone = str
"""How an action is coloured: ``good`` (promoted, resolved, verified), ``bad`` (firing, rolled back,
failed) or ``info`` (anything else)."""

GOOD_REASONS = frozenset(
    {
        "AnomalyResolved",
        "Promoted",
        "AnalysisPassed",
        "Deployed",
        "Succeeded",
        "RunStarted",
        "Verified",
        "ExecutionSucceeded",
        "StepSucceeded",
        "Resolved",
    }
)
BAD_REASONS = frozenset(
    {
        "AnomalyFiring",
        "AnalysisFailed",
        "RolledBack",
        "RollbackRequested",
        "RunFailed",
        "CandidateRejected",
        "Failed",
        "Refused",
        "Degraded",
        "ExecutionFailed",
        "StepFailed",
        "RollbackImpossible",
    }
)


def tone_of(reason: str) -> Tone:
    """The colour class of an event reason or step result."""
    if reason in GOOD_REASONS:
        return "good"
    if reason in BAD_REASONS:
        return "bad"
    return "info"


@dataclass
class MetricSeries:
    """One series over time, with the detector's view of it when known (arrays of equal length)."""

    label: str
    timestamps: np.ndarray
    values: np.ndarray
    expected: np.ndarray | None = None
    lower: np.ndarray | None = None
    upper: np.ndarray | None = None
    score: np.ndarray | None = None
    band_source: str = ""
    """Where the band comes from: ``operator`` (its exported series), ``replay`` (the rule's detector
    re-run here over the window), or empty when there is none."""

    def anomalous(self) -> np.ndarray:
        """Boolean mask of the points scored above 1."""
        if self.score is None:
            return np.zeros(len(self.timestamps), dtype=bool)
        with np.errstate(invalid="ignore"):
            return np.nan_to_num(np.asarray(self.score, dtype=float), nan=0.0) > 1.0


@dataclass(frozen=True)
class TimelineEntry:
    """Something that happened: an Event, a remediation step, a rollout, a step of the demo story."""

    time: datetime
    source: str
    """Who it concerns, ``kind/name`` or ``story``."""
    reason: str
    """CamelCase reason or a short title."""
    message: str = ""
    tone: Tone = ""
    about: tuple[str, ...] = ()
    """Other objects (``kind/name``) it concerns: the rule that started a playbook execution, its target."""

    @property
    def colour(self) -> Tone:
        return self.tone or tone_of(self.reason)


@dataclass
class Panel:
    """One chart: a title, its series and the actions drawn over them."""

    title: str
    series: list[MetricSeries] = field(default_factory=list)
    actions: list[TimelineEntry] = field(default_factory=list)
    note: str = ""
    """Shown under the chart, e.g. why there is no band."""


@dataclass
class Histogram:
    """Two distributions over the same bins, side by side: a feature's reference and its live window."""

    title: str
    reference: tuple[float, ...]
    live: tuple[float, ...]
    reference_label: str = "reference"
    live_label: str = "live"


def parse_time(text: str | None) -> datetime | None:
    """A Kubernetes timestamp (``2026-01-02T03:04:05Z``, with or without fractions) as an aware datetime."""
    if not text:
        return None
    stamp = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return stamp if stamp.tzinfo is not None else stamp.replace(tzinfo=UTC)

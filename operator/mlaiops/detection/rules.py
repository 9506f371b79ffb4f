"""An AnomalyRule's evaluation, pure: spec -> detector and hysteresis configs, one engine per series.

The controller feeds it what Prometheus returned (samples of each evaluation, or history for a
warm start) and writes out what it returns; nothing here does I/O. Series come and go (pods are
replaced), so each keeps its own engine, keyed by a stable fingerprint of rule and labels.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np

from mlaiops.api.anomalyrule import AnomalyRuleSpec, SeriesStatus
from mlaiops.api.common import seconds
from mlaiops.detection.config import HysteresisConfig, parse_detector_config
from mlaiops.detection.engine import Engine
from mlaiops.detection.hysteresis import AlertState

STATE_NAMES = {AlertState.NORMAL: "Normal", AlertState.PENDING: "Pending", AlertState.FIRING: "Firing"}
SEVERITY_OF_STATE = {"Firing": 4, "Pending": 3, "Error": 2, "NoData": 1, "Normal": 0}
_BANDED = ("zscore", "mad", "ewma", "seasonal")  # their threshold and floor are scaled by sensitivity


def fingerprint(namespace: str, rule: str, labels: dict[str, str]) -> str:
    """Stable identity of rule + series, the same on every replica and after restarts."""
    text = "\n".join([namespace, rule, *(f"{key}={labels[key]}" for key in sorted(labels))])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def evaluations(duration: str, interval: str) -> int:
    """How many evaluations at ``interval`` a duration spans (rounded up)."""
    return math.ceil(seconds(duration) / seconds(interval) - 1e-9)


def detector_config(spec: AnomalyRuleSpec) -> dict[str, Any]:
    """The detection engine's config for a rule's detector (windows turned into evaluation counts)."""
    if spec.drift is not None:
        return {"type": "drift", "threshold": spec.drift.drift_threshold}
    detector = spec.detector
    config: dict[str, Any] = {
        "type": detector.type,
        "direction": detector.direction,
        "minDeviation": {"absolute": detector.min_deviation.absolute, "relative": detector.min_deviation.relative},
    }
    if detector.data_range is not None:
        low = detector.data_range.min if detector.data_range.min is not None else -math.inf
        high = detector.data_range.max if detector.data_range.max is not None else math.inf
        config["dataRange"] = [low, high]
    sensitivity = 1.0 if detector.sensitivity is None else detector.sensitivity
    if detector.type in _BANDED:
        shipped = parse_detector_config({"type": detector.type})
        config["threshold"] = shipped.threshold / sensitivity  # type: ignore[union-attr]
        # The noise floor is part of the band: sensitivity divides it too, or it would undo a higher one.
        floor = shipped.noise_floor
        config["noiseFloor"] = {**floor.model_dump(by_alias=True), "margin": floor.margin / sensitivity}
    if detector.type == "auto":
        config["sensitivity"] = sensitivity
    if detector.window is not None and detector.type in ("zscore", "mad", "ewma"):
        points = max(3, evaluations(detector.window, spec.interval))
        if detector.type == "ewma":
            config["alpha"] = min(1.0, 2 / (points + 1))
        else:
            config["window"] = points
    if detector.season is not None:
        config["period"] = seconds(detector.season)
    if spec.queries is not None:
        config["multivariate"] = True  # the queries are the features of one entity, scored together
    for name in ("upper", "lower", "contamination"):
        if getattr(detector, name) is not None:
            config[name] = getattr(detector, name)
    if detector.horizon is not None:
        config["horizon"] = seconds(detector.horizon)
    return config


def hysteresis_config(spec: AnomalyRuleSpec) -> HysteresisConfig:
    """Prometheus semantics: `for: 0s` fires on the first anomalous evaluation, `for: 1m` at 30 s after two more."""
    return HysteresisConfig(
        for_=1 + evaluations(spec.for_, spec.interval), keep_firing_for=evaluations(spec.keep_firing_for, spec.interval)
    )


@dataclass
class SeriesResult:
    """One series after one evaluation."""

    fingerprint: str
    labels: dict[str, str]
    state: str
    previous: str
    value: float
    score: float
    expected: float
    lower: float
    upper: float
    since: datetime

    @property
    def fired(self) -> bool:
        return self.state == "Firing" and self.previous != "Firing"

    @property
    def resolved(self) -> bool:
        return self.previous == "Firing" and self.state != "Firing"


@dataclass
class _Tracked:
    engine: Engine
    labels: dict[str, str]
    state: str = "Normal"
    since: datetime | None = None


@dataclass
class RuleEvaluator:
    """Every series' engine for one rule, with the rule's detector and hysteresis."""

    namespace: str
    name: str
    spec: AnomalyRuleSpec
    series: dict[str, _Tracked] = field(default_factory=dict)

    @property
    def features(self) -> int:
        """Values per entity: 1 for a single query, one per query for a multivariate rule."""
        return len(self.spec.queries) if self.spec.queries else 1

    def _engine(self) -> Engine:
        return Engine(parse_detector_config(detector_config(self.spec)), hysteresis_config(self.spec), self.features)

    def _track(self, labels: dict[str, str]) -> tuple[str, _Tracked]:
        key = fingerprint(self.namespace, self.name, labels)
        if key not in self.series:
            self.series[key] = _Tracked(self._engine(), dict(labels))
        return key, self.series[key]

    def warm_start(self, history: list[tuple[dict[str, str], np.ndarray, np.ndarray]]) -> int:
        """Fit every series on (labels, timestamps, values) history; returns the points learned.

        ``values`` has one row per feature (shape ``(features, points)``, or ``(points,)`` for one).
        """
        learned = 0
        for labels, timestamps, values in history:
            if len(timestamps) == 0:
                continue
            _, tracked = self._track(labels)
            tracked.engine.fit(np.asarray(values, dtype=float).reshape(self.features, -1), timestamps)
            learned += len(timestamps)
        return learned

    def restore(self, previous: list[SeriesStatus]) -> None:
        """Carry alert states over a restart, so a series that was firing does not fire again."""
        for item in previous:
            _, tracked = self._track(item.labels)
            tracked.state, tracked.since = item.state, item.since
            if item.state == "Firing":
                tracked.engine.hysteresis.state[:] = AlertState.FIRING

    def evaluate(
        self, at: datetime, samples: list[tuple[dict[str, str], Any]], excluded: bool = False
    ) -> list[SeriesResult]:
        """Score one evaluation's samples (a value, or one value per query); missing series are not advanced."""
        results = []
        timestamp = at.timestamp()
        for labels, sample in samples:
            key, tracked = self._track(labels)
            vector = np.asarray(sample, dtype=float).reshape(self.features, 1)
            value = float(vector[0, 0])
            result = tracked.engine.evaluate([timestamp], vector, excluded=[excluded])
            state = STATE_NAMES[AlertState(int(result.state[0, -1]))]
            previous = tracked.state
            if state != previous or tracked.since is None:
                tracked.since = at
            tracked.state = state
            results.append(
                SeriesResult(
                    key,
                    tracked.labels,
                    state,
                    previous,
                    float(value),
                    float(result.score[0, -1]),
                    float(result.expected[0, -1]),
                    float(result.lower[0, -1]),
                    float(result.upper[0, -1]),
                    tracked.since,
                )
            )
        return results

    def forget_missing(self, present: set[str]) -> list[_Tracked]:
        """Drop series that disappeared (their pods are gone); returns the ones that were firing."""
        gone = [key for key in self.series if key not in present]
        firing = [self.series[key] for key in gone if self.series[key].state == "Firing"]
        for key in gone:
            del self.series[key]
        return firing


def worst_state(states: list[str]) -> str:
    """The rule's state: Firing > Pending > Error > NoData > Normal."""
    return max(states, key=SEVERITY_OF_STATE.__getitem__, default="Normal")


def finite(value: float) -> float | None:
    """JSON has no NaN or infinity: those become null."""
    return value if math.isfinite(value) else None

"""AnomalyRule: PromQL series scored by a detector, with Prometheus-style hysteresis.

Vocabulary from vmanomaly (``detector.type``, ``direction``, ``minDeviation``, ``dataRange``,
``fitEvery``, ``fitWindow``; an anomaly score above 1 is anomalous) and from Prometheus
alerting rules (``for``, ``keepFiringFor``, ``labels``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import ConfigDict, Field, ValidationInfo, field_validator, model_validator

from mlaiops.api.common import (
    ApiModel,
    Conditions,
    Duration,
    Severity,
    WorkloadReference,
    nested,
    rule,
    seconds,
    validations,
)

DetectorType = Literal["auto", "threshold", "zscore", "mad", "ewma", "seasonal", "isolationForest", "forecast"]


DETECTOR_PARAMS: dict[str, set[str]] = {
    "auto": {"season"},
    "threshold": {"upper", "lower"},
    "zscore": {"window"},
    "mad": {"window"},
    "ewma": {"window"},
    "seasonal": {"season"},
    "isolationForest": {"contamination"},
    "forecast": {"upper", "lower", "horizon", "window"},
}
"""The type-specific detector parameters each detector type accepts (the rest are rejected)."""

SENSITIVE_TYPES: tuple[str, ...] = ("auto", "zscore", "mad", "ewma", "seasonal")
"""Detector types with a band that ``sensitivity`` scales. threshold and forecast fire at the bounds the
rule states (a touchier bound is a lower bound), isolationForest at ``contamination``: they refuse it."""


class MinDeviation(ApiModel):
    """Deviations smaller than these are never anomalous, however unusual (vmanomaly's min_dev_from_expected)."""

    absolute: float = Field(default=0.0, ge=0)
    """In the series' own unit."""
    relative: float = Field(default=0.0, ge=0)
    """As a fraction of the expected value (0.1 = 10%)."""


class DataRange(ApiModel):
    """Values outside this range are invalid data, reported as anomalous (e.g. [0, 1] for a ratio)."""

    model_config = ConfigDict(
        json_schema_extra=validations(
            rule(
                "!has(self.min) || !has(self.max) || self.min < self.max",
                "min must be less than max",
                message_expression="'min (' + string(self.min) + ') must be less than max (' + string(self.max) + ')'",
            )
        )
    )

    min: float | None = None
    """Lowest valid value."""
    max: float | None = None
    """Highest valid value."""

    @model_validator(mode="after")
    def _ordered(self) -> DataRange:
        if self.min is not None and self.max is not None and self.min >= self.max:
            raise ValueError(f"min ({self.min}) must be less than max ({self.max})")
        return self


def _detector_rules() -> dict[str, Any]:
    """The cross-field rules of DetectorSpec as CEL (the same table the model and the webhook use)."""
    rules = [
        rule(
            f"!has(self.{name}) || self.type in {sorted(kind for kind, params in DETECTOR_PARAMS.items() if name in params)}",
            f"{name} applies only to detector types {', '.join(sorted(k for k, p in DETECTOR_PARAMS.items() if name in p))}",
            message_expression="'does not apply to detector type ' + self.type",
            field_path=f".{name}",
        )
        for name in ("upper", "lower", "window", "season", "horizon", "contamination")
    ]
    rules += [
        rule(
            f"!has(self.sensitivity) || self.type in {list(SENSITIVE_TYPES)}",
            f"sensitivity applies only to detector types {', '.join(SENSITIVE_TYPES)}",
            message_expression="'not used by detector type ' + self.type",
            field_path=".sensitivity",
        ),
        rule(
            "!(self.type in ['threshold', 'forecast']) || has(self.upper) || has(self.lower)",
            "detector types threshold and forecast need upper, lower or both",
            message_expression="'detector type ' + self.type + ' needs upper, lower or both'",
        ),
        rule(
            "!has(self.lower) || !has(self.upper) || self.lower < self.upper",
            "lower must be less than upper",
            message_expression="'lower (' + string(self.lower) + ') must be less than upper (' + string(self.upper) + ')'",
        ),
    ]
    return validations(*rules)


class DetectorSpec(ApiModel):
    """The detector and its parameters; parameters that do not apply to the type are rejected."""

    model_config = ConfigDict(json_schema_extra=_detector_rules())

    type: DetectorType = "auto"
    """auto combines the others; threshold, zscore, mad, ewma, seasonal, isolationForest, forecast."""
    direction: Literal["up", "down", "both"] = "both"
    """Which deviations count: above expected, below, or both."""
    min_deviation: MinDeviation = nested(MinDeviation)
    """Floor under deviations, every type: banded ones widen the band to it; threshold needs the value this far past the bound; forecast this much predicted change over horizon; isolationForest this far from the window mean."""
    data_range: DataRange | None = None
    """Valid range of the data."""
    sensitivity: float | None = Field(default=None, gt=0, le=100)
    """auto, zscore, mad, ewma, seasonal (default 1): divides the band's half-width, so 2 halves it and fires more. threshold, forecast, isolationForest refuse it (move upper/lower, horizon, contamination)."""
    upper: float | None = None
    """threshold, forecast: the upper bound."""
    lower: float | None = None
    """threshold, forecast: the lower bound."""
    window: Duration | None = None
    """zscore, mad, ewma: the baseline window."""
    season: Duration | None = None
    """seasonal, auto: the period of the daily or weekly profile (1d or 1w)."""
    horizon: Duration | None = None
    """forecast: how far ahead a crossing of upper/lower fires."""
    contamination: float | None = Field(default=None, gt=0, le=0.5)
    """isolationForest (default 0.2): the share of its fit window the forest calls rare. Per series, a rare point
    pages only if its value is also further from the window's mean than the series' normal has been."""

    @field_validator("sensitivity")
    @classmethod
    def _sensitivity_has_a_band(cls, value: float | None, info: ValidationInfo) -> float | None:
        kind = info.data.get("type")
        if value is not None and kind is not None and kind not in SENSITIVE_TYPES:
            raise ValueError(f"not used by detector type {kind}")
        return value

    @model_validator(mode="after")
    def _params_match_type(self) -> DetectorSpec:
        allowed = DETECTOR_PARAMS[self.type]
        for field in ("upper", "lower", "window", "season", "horizon", "contamination"):
            if getattr(self, field) is not None and field not in allowed:
                raise ValueError(f"{field} does not apply to detector type {self.type}")
        if self.type in ("threshold", "forecast") and self.upper is None and self.lower is None:
            raise ValueError(f"detector type {self.type} needs upper, lower or both")
        if self.upper is not None and self.lower is not None and self.lower >= self.upper:
            raise ValueError(f"lower ({self.lower}) must be less than upper ({self.upper})")
        return self


class NamedQuery(ApiModel):
    """One input of a multivariate rule."""

    name: str = Field(pattern=r"^[a-zA-Z_][a-zA-Z0-9_]*$", max_length=63)
    """Feature name."""
    query: str = Field(min_length=1, max_length=8192)
    """PromQL expression."""


DriftMethod = Literal["psi", "ks", "jensenShannon", "wasserstein"]

DRIFT_THRESHOLDS: dict[str, float] = {"psi": 0.25, "ks": 0.1, "jensenShannon": 0.1, "wasserstein": 0.1}
"""Default drift threshold per method (``mlaiops.detection.drift.DEFAULT_THRESHOLDS``' drift level)."""

PREDICTION_FEATURE = "__prediction__"
"""The name the model server gives the prediction among the features it counts."""

_MATCHER = r'[a-zA-Z_][a-zA-Z0-9_]*\s*(=|!=|=~|!~)\s*"([^"\\]|\\.)*"'
SELECTOR_PATTERN = rf"^\s*{_MATCHER}\s*(,\s*{_MATCHER}\s*)*,?\s*$"
"""PromQL label matchers separated by commas, e.g. ``namespace="fraud", pod=~"fraud-.*"``."""


def _label_value(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


class DriftBaseline(ApiModel):
    """Compare with the same model's own traffic earlier instead of the training reference."""

    offset: Duration
    """How far back the baseline window ends, e.g. ``1d`` or ``1w``: the live window is compared with
    the window of the same length ending ``offset`` ago (PromQL ``offset``). At least the window, so
    the two never overlap."""


class DriftSpec(ApiModel):
    """Score the live distribution of a model's named features against its training reference.

    The model server counts rows over the bins of the reference profile written beside the model
    (``mlaiops_model_feature_bin_total``) and exports the reference's own counts beside them
    (``mlaiops_model_feature_reference_bin``): the rule compares the increase over ``window`` with
    the reference, per track, version and feature. Each feature is a series whose value is the drift
    score and whose anomaly score is value / threshold.
    """

    model: str = Field(min_length=1, max_length=253)
    """The served model's name (the ``model`` label: the ModelDeployment's model name)."""
    track: Literal["stable", "canary"] | None = None
    """Only this track (default: each track scored on its own)."""
    selector: str | None = Field(default=None, max_length=1024, pattern=SELECTOR_PATTERN)
    """More PromQL label matchers, e.g. ``namespace="fraud-detection"``."""
    method: DriftMethod = "psi"
    """psi, ks (binned CDFs), jensenShannon (distance, base 2) or wasserstein (in the reference's quantile scale)."""
    threshold: float | None = Field(default=None, gt=0)
    """Score at which a feature has drifted (default: psi 0.25, ks 0.1, jensenShannon 0.1, wasserstein 0.1)."""
    features: list[str] | None = Field(default=None, min_length=1, max_length=64)
    """Features to score (default: every feature of the profile and the prediction, ``__prediction__``)."""
    window: Duration = "1h"
    """The live window compared with the reference."""
    min_samples: int = Field(default=500, ge=1)
    """Rows a feature needs in the window to be scored; fewer is NoData, never a firing."""
    baseline: DriftBaseline | None = None
    """Score against the live traffic of an earlier window (``offset`` ago) instead of the training
    reference: drift from last week rather than from training. Only versions served in both windows
    are compared (each version counts over its own profile's bins); the baseline needs ``minSamples``
    rows too. The served profile still gives the bins, so a model without one is ``Error/NoProfile``."""

    @model_validator(mode="after")
    def _baseline_after_window(self) -> DriftSpec:
        if self.baseline is not None and seconds(self.baseline.offset) < seconds(self.window):
            raise ValueError(
                f"baseline.offset ({self.baseline.offset}) must be at least the window ({self.window}): "
                "the baseline window would overlap the live one"
            )
        return self

    @property
    def drift_threshold(self) -> float:
        return self.threshold if self.threshold is not None else DRIFT_THRESHOLDS[self.method]

    def matchers(self) -> str:
        parts = [f'model="{_label_value(self.model)}"']
        if self.track is not None:
            parts.append(f'track="{self.track}"')
        if self.selector:
            parts.append(self.selector.strip().rstrip(","))
        return ", ".join(parts)

    def live_query(self) -> str:
        """Rows per bin over the window, per track, version and feature."""
        return (
            "sum by (track, version, feature, bin) "
            f"(increase(mlaiops_model_feature_bin_total{{{self.matchers()}}}[{self.window}]))"
        )

    def baseline_query(self) -> str:
        """Rows per bin over the same-length window ``baseline.offset`` ago (only with a baseline)."""
        assert self.baseline is not None
        return (
            "sum by (track, version, feature, bin) "
            f"(increase(mlaiops_model_feature_bin_total{{{self.matchers()}}}[{self.window}] offset {self.baseline.offset}))"
        )

    def reference_query(self) -> str:
        """The reference profile's counts per bin (the same on every replica of a version)."""
        return f"max by (track, version, feature, kind, bin) (mlaiops_model_feature_reference_bin{{{self.matchers()}}})"

    def served_query(self) -> str:
        """Which tracks and versions are served at all (to tell "no profile" from "no server")."""
        return f"count by (track, version) (mlaiops_model_info{{{self.matchers()}}})"


class AnomalyRuleSpec(ApiModel):
    """Desired state of an AnomalyRule."""

    model_config = ConfigDict(
        json_schema_extra=validations(
            rule(
                "(has(self.query) ? 1 : 0) + (has(self.queries) ? 1 : 0) + (has(self.drift) ? 1 : 0) == 1",
                "set exactly one of query, queries and drift",
            ),
            rule(
                "!has(self.queries) || (has(self.detector) && self.detector.type == 'isolationForest')",
                "queries (multivariate) needs detector.type isolationForest",
            ),
        )
    )

    query: str | None = Field(default=None, min_length=1, max_length=8192)
    """PromQL; every series of the result is scored on its own, labels kept."""
    queries: list[NamedQuery] | None = Field(
        default=None,
        min_length=2,
        max_length=16,
        json_schema_extra=validations(
            rule("self.all(q, self.exists_one(r, r.name == q.name))", "query names must be unique")
        ),
    )
    """Several PromQL inputs scored together (isolationForest); series are joined on their labels."""
    drift: DriftSpec | None = None
    """Distribution drift of a model's named features against its training reference (instead of a query)."""
    interval: Duration = "30s"
    """How often the rule is evaluated."""
    fit_every: Duration = "1h"
    """How often the detector is refitted on fitWindow."""
    fit_window: Duration = "1d"
    """History used to fit the detector and to warm-start after a restart."""
    detector: DetectorSpec = nested(DetectorSpec)
    """How points are scored (not with drift: drift.method and drift.threshold decide)."""
    for_: Duration = Field(default="0s", alias="for")
    """How long a series must stay anomalous before the rule fires (Pending until then)."""
    keep_firing_for: Duration = "0s"
    """How long a series keeps firing after it stops being anomalous."""
    on_no_data: Literal["NoData", "Normal", "KeepState"] = "NoData"
    """State when the query returns nothing."""
    severity: Severity = "warning"
    """Severity of the anomalies this rule fires; playbooks match on it."""
    labels: dict[str, str] | None = None
    """Extra labels attached to every anomaly."""
    target: WorkloadReference | None = None
    """The workload the anomalies concern; remediation acts on it."""
    suspend: bool = False
    """Stop evaluating (state is kept)."""

    @model_validator(mode="after")
    def _one_input(self) -> AnomalyRuleSpec:
        if sum(x is not None for x in (self.query, self.queries, self.drift)) != 1:
            raise ValueError("set exactly one of query, queries and drift")
        if self.drift is not None and self.detector.type != "auto":
            raise ValueError("detector does not apply to a drift rule: set drift.method and drift.threshold")
        if self.queries is not None and self.detector.type != "isolationForest":
            raise ValueError("queries (multivariate) needs detector.type isolationForest")
        return self


# --- status ------------------------------------------------------------------------------------

AnomalyState = Literal["Normal", "Pending", "Firing", "NoData", "Error"]
RuleState = Literal["Normal", "Pending", "Firing", "NoData", "Error", "Invalid"]


class SeriesStatus(ApiModel):
    """The latest evaluation of one series."""

    labels: dict[str, str] = Field(default_factory=dict)
    """The series' labels."""
    fingerprint: str = ""
    """Stable identity of rule + series."""
    state: AnomalyState = "Normal"
    """State of this series."""
    value: float | None = None
    """Last value."""
    expected: float | None = None
    """What the detector expected."""
    lower: float | None = None
    """Lower edge of the normal band."""
    upper: float | None = None
    """Upper edge of the normal band."""
    score: float | None = None
    """Anomaly score; above 1 is anomalous."""
    since: datetime | None = None
    """When the series entered its state."""


class AnomalyRuleStatus(ApiModel):
    """Observed state of an AnomalyRule."""

    state: RuleState | None = None
    """Worst state over the series (Firing > Pending > Error > NoData > Normal), or Invalid."""
    observed_generation: int | None = None
    """The spec generation this status describes."""
    last_evaluation: datetime | None = None
    """When the rule last ran."""
    last_fit: datetime | None = None
    """When the detector was last fitted."""
    firing_series: int | None = None
    """Series currently firing."""
    series: list[SeriesStatus] | None = Field(default=None, max_length=50)
    """The most anomalous series (bounded)."""
    evaluations: int | None = None
    """Evaluations since creation."""
    firings: int | None = None
    """Times a series started firing."""
    message: str | None = None
    """Why the rule is in Error or NoData."""
    conditions: Conditions | None = None
    """Ready, Firing, and WarmStart: True (Loaded) when the detector learned from fitWindow's history, False
    with the reason (QueryFailed, NoHistory) when it started without it."""

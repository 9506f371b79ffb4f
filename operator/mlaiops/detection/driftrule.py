"""An AnomalyRule's ``drift`` section, pure: Prometheus' bin counts in, one drift score per feature out.

The model server exports, per track and version, live rows per reference bin
(``mlaiops_model_feature_bin_total``) and the reference profile's own counts
(``mlaiops_model_feature_reference_bin``). The controller runs the three queries of
:class:`~mlaiops.api.anomalyrule.DriftSpec` and hands the samples here; each (track, version,
feature) with at least ``minSamples`` rows in the window becomes a series whose value is its drift
score, scored by :class:`DriftDetector` (anomaly score = drift score / threshold) under the rule's
usual hysteresis. Grouping by version keeps two versions' different bins apart during a rollout.

Why the reference comes from the server rather than from storage: the operator then needs no
access to model storage (no credentials for s3://, no claim mounted for pvc://), the reference is
by construction the one the serving version counts against, and it works the same in the sandbox
and on a real cluster.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from mlaiops.api.anomalyrule import DriftSpec
from mlaiops.detection import drift
from mlaiops.detection.base import BoolArray, Detector, Deviation, FloatArray
from mlaiops.detection.config import DriftConfig

Sample = tuple[dict[str, str], float]
Key = tuple[str, str, str]  # track, version, feature


class DriftDetector(Detector):
    """The value is already a drift score: anomalous at ``threshold`` and above, nothing to learn."""

    type = "drift"
    config_model = DriftConfig
    config: DriftConfig
    exclude_anomalies = False

    def _init_state(self, n: int) -> None:
        pass

    def _deviation(self, t: float, x: FloatArray) -> Deviation:
        n = x.shape[0]
        threshold = self.config.threshold
        # score > 1 is anomalous; a score exactly at the threshold is drift, so it gets a hair above 1.
        score = np.where(x >= threshold, np.maximum(x / threshold, np.nextafter(1.0, 2.0)), x / threshold)
        return Deviation(
            up=score,
            down=np.zeros(n),
            expected=np.zeros(n),
            lower=np.zeros(n),
            upper=np.full(n, threshold),
            ready=np.ones(n, dtype=bool),
        )

    def _learn(self, t: float, x: FloatArray, mask: BoolArray) -> None:
        pass


class NoProfile(Exception):
    """Models are served but none exports a reference profile: the rule cannot judge drift."""


class DriftSpecError(Exception):
    """The rule asks for something the profile does not have (a feature, by name)."""


@dataclass
class DriftOutcome:
    """One evaluation: series to score, and what was left out for too few rows."""

    samples: list[Sample] = field(default_factory=list)
    too_few: dict[Key, float] = field(default_factory=dict)
    too_few_baseline: dict[Key, float] = field(default_factory=dict)

    def message(self, spec: DriftSpec) -> str:
        """Why features were not scored (empty when every one was)."""
        reasons = []
        if self.too_few:
            reasons.append(
                f"fewer than minSamples {spec.min_samples} rows in the last {spec.window}: " + _rows(self.too_few)
            )
        if self.too_few_baseline and spec.baseline is not None:
            reasons.append(
                f"fewer than minSamples {spec.min_samples} rows in the baseline window ({spec.window} ending "
                f"{spec.baseline.offset} ago): " + _rows(self.too_few_baseline)
            )
        return "; ".join(reasons)


def _rows(keys: dict[Key, float]) -> str:
    parts = [f"{feature} ({track}/{version}): {rows:.0f} rows" for (track, version, feature), rows in keys.items()]
    return ", ".join(sorted(parts)[:10])


def _key(labels: dict[str, str]) -> Key:
    return labels.get("track", ""), labels.get("version", ""), labels.get("feature", "")


def _bins(samples: Iterable[Sample]) -> tuple[dict[Key, dict[int, float]], dict[Key, str]]:
    counts: dict[Key, dict[int, float]] = defaultdict(dict)
    kinds: dict[Key, str] = {}
    for labels, value in samples:
        try:
            index = int(labels.get("bin", ""))
        except ValueError:
            continue
        key = _key(labels)
        counts[key][index] = float(value) if np.isfinite(value) and value > 0 else 0.0
        kinds[key] = labels.get("kind", "numeric")
    return counts, kinds


def _per_version(samples: Iterable[Sample]) -> dict[tuple[str, str], dict[int, float]]:
    """Baseline rows per (version, feature) and bin, the tracks summed: a version's bins are its
    profile's whichever track served it then (last week's canary may be today's stable)."""
    counts, _ = _bins(samples)
    merged: dict[tuple[str, str], dict[int, float]] = defaultdict(lambda: defaultdict(float))
    for (_, version, feature), bins in counts.items():
        for index, rows in bins.items():
            merged[version, feature][index] += rows
    return merged


def _compared(
    spec: DriftSpec,
    key: Key,
    references: dict[Key, dict[int, float]],
    earlier: dict[tuple[str, str], dict[int, float]],
    live: dict[Key, dict[int, float]],
) -> tuple[FloatArray, FloatArray]:
    """The two histograms the rule compares for ``key`` over its profile's bins: the reference's
    counts (or, with a baseline, the same version's earlier rows) and the live window's."""
    size = max(references[key]) + 1
    ref = earlier.get((key[1], key[2]), {}) if spec.baseline is not None else references[key]
    current = live.get(key, {})
    return np.asarray([ref.get(i, 0.0) for i in range(size)]), np.asarray([current.get(i, 0.0) for i in range(size)])


def evaluate(
    spec: DriftSpec,
    live: Iterable[Sample],
    reference: Iterable[Sample],
    served: Iterable[Sample],
    baseline: Iterable[Sample] = (),
) -> DriftOutcome:
    """Score every (track, version, feature) that has a reference and enough live rows.

    With ``spec.baseline`` the live rows are compared with ``baseline`` (the same version's rows in
    the earlier window) instead of the profile's counts; the profile still gives the bins and kinds.
    Raises NoProfile when servers answer but none exports a reference, DriftSpecError when a
    feature in ``features`` is in no version's profile.
    """
    references, kinds = _bins(reference)
    if not references:
        versions = sorted({f"{labels.get('track', '?')}/{labels.get('version', '?')}" for labels, _ in served})
        if versions:
            raise NoProfile(
                f"model {spec.model!r} ({', '.join(versions)}) serves no reference profile, so drift cannot be "
                "measured: train it with mlaiops train (it writes profile.json beside the model) or give the "
                "server one (--profile-uri)"
            )
        return DriftOutcome()
    available = {feature for (_, _, feature) in references}
    wanted = set(spec.features) if spec.features else available
    missing = sorted(wanted - available)
    if missing:
        raise DriftSpecError(
            f"drift.features: {missing[0]!r} is not in the model's reference profile (it has {', '.join(sorted(available))})"
        )
    counts, _ = _bins(live)
    earlier = _per_version(baseline) if spec.baseline is not None else {}
    outcome = DriftOutcome()
    for key in sorted(references):
        if key[2] not in wanted:
            continue
        reference_counts, current_counts = _compared(spec, key, references, earlier, counts)
        rows = float(current_counts.sum())
        if rows < spec.min_samples or (spec.baseline is None and reference_counts.sum() <= 0):
            outcome.too_few[key] = rows
            continue
        if spec.baseline is not None and reference_counts.sum() < spec.min_samples:
            outcome.too_few_baseline[key] = float(reference_counts.sum())
            continue
        value = drift.score(spec.method, reference_counts, current_counts, kinds.get(key) == "categorical")
        outcome.samples.append(({"track": key[0], "version": key[1], "feature": key[2]}, value))
    return outcome


@dataclass(frozen=True)
class FeatureHistogram:
    """One (track, version)'s view of a feature: the reference's and the live window's share per bin."""

    track: str
    version: str
    feature: str
    kind: str
    reference: tuple[float, ...]
    live: tuple[float, ...]
    rows: float
    score: float | None
    """The rule's drift score, or None when the live window (or the baseline) has fewer than minSamples rows."""


def _shares(counts: FloatArray) -> tuple[float, ...]:
    total = float(counts.sum())
    return tuple(float(c) / total for c in counts) if total > 0 else tuple(0.0 for _ in counts)


def histograms(
    spec: DriftSpec, feature: str, live: Iterable[Sample], reference: Iterable[Sample], baseline: Iterable[Sample] = ()
) -> list[FeatureHistogram]:
    """What ``kubectl mlaiops plot`` draws for one feature: each (track, version)'s reference (or
    baseline) and live shares over the profile's bins, with the score the rule gives them.

    Raises DriftSpecError naming the profiled features when ``feature`` is not one of them."""
    references, kinds = _bins(reference)
    available = sorted({name for (_, _, name) in references})
    if feature not in available:
        raise DriftSpecError(
            f"feature {feature!r} is not in the served reference profile (it has {', '.join(available) or 'none'})"
        )
    counts, _ = _bins(live)
    earlier = _per_version(baseline) if spec.baseline is not None else {}
    scored = {
        (labels["track"], labels["version"]): value
        for labels, value in evaluate(
            spec.model_copy(update={"features": [feature]}), live, reference, [], baseline
        ).samples
    }
    out = []
    for key in sorted(k for k in references if k[2] == feature):
        reference_counts, live_counts = _compared(spec, key, references, earlier, counts)
        out.append(
            FeatureHistogram(
                track=key[0],
                version=key[1],
                feature=feature,
                kind=kinds.get(key, "numeric"),
                reference=_shares(reference_counts),
                live=_shares(live_counts),
                rows=float(live_counts.sum()),
                score=scored.get((key[0], key[1])),
            )
        )
    return out

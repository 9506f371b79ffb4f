"""An AnomalyRule's drift section: Prometheus bin counts in, per-feature drift series out, fired through hysteresis."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from pydantic import ValidationError

from mlaiops.api.anomalyrule import DRIFT_THRESHOLDS, AnomalyRuleSpec, DriftSpec
from mlaiops.detection import drift
from mlaiops.detection.driftrule import DriftDetector, DriftSpecError, NoProfile, evaluate
from mlaiops.detection.rules import RuleEvaluator, detector_config

T0 = datetime(2026, 12, 6, 12, tzinfo=UTC)
REFERENCE = [100.0] * 10


def spec(**fields: object) -> DriftSpec:
    return DriftSpec.model_validate({"model": "fraud", "minSamples": 200, **fields})


def bins(feature: str, counts: list[float], version: str = "v1", track: str = "stable", kind: str | None = None):
    out = []
    for index, value in enumerate(counts):
        labels = {"track": track, "version": version, "feature": feature, "bin": str(index)}
        if kind:
            labels["kind"] = kind
        out.append((labels, value))
    return out


def test_each_version_and_feature_is_scored_against_its_own_reference() -> None:
    spread = [90.0, 40, 20, 10, 5, 5, 10, 20, 40, 90]  # mass moved to the tails, the mean unchanged
    live = bins("merchant_risk", spread) + bins("amount", [31.0] * 10) + bins("amount", [10.0, 10], version="v2")
    reference = (
        bins("merchant_risk", REFERENCE, kind="numeric")
        + bins("amount", REFERENCE, kind="numeric")
        + bins("amount", [500.0, 500.0], version="v2", kind="numeric")
    )
    outcome = evaluate(spec(), live, reference, [])
    scores = {(labels["version"], labels["feature"]): value for labels, value in outcome.samples}
    assert scores[("v1", "merchant_risk")] == pytest.approx(drift.psi(REFERENCE, spread))
    assert scores[("v1", "merchant_risk")] > 0.25
    assert scores[("v1", "amount")] == pytest.approx(0.0)
    assert ("v2", "amount") not in scores  # 20 rows: too few, never scored
    assert outcome.too_few == {("stable", "v2", "amount"): 20.0}
    assert "fewer than minSamples 200 rows in the last 1h: amount (stable/v2): 20 rows" in outcome.message(spec())


def test_categorical_bins_use_total_variation_for_ks() -> None:
    reference = bins("channel", [50.0, 30, 20], kind="categorical")
    live = bins("channel", [100.0, 300, 100])
    outcome = evaluate(spec(method="ks"), live, reference, [])
    assert outcome.samples[0][1] == pytest.approx(drift.total_variation([50, 30, 20], [100, 300, 100]))


def test_features_choose_what_is_scored_and_an_unknown_one_is_named() -> None:
    reference = bins("merchant_risk", REFERENCE, kind="numeric") + bins("__prediction__", REFERENCE, kind="numeric")
    live = bins("merchant_risk", [30.0] * 10) + bins("__prediction__", [30.0] * 10)
    outcome = evaluate(spec(features=["__prediction__"]), live, reference, [])
    assert [labels["feature"] for labels, _ in outcome.samples] == ["__prediction__"]
    with pytest.raises(DriftSpecError, match="'merchant_score' is not in the model's reference profile"):
        evaluate(spec(features=["merchant_score"]), live, reference, [])


def test_a_served_model_without_a_profile_is_an_error_and_no_server_is_no_data() -> None:
    with pytest.raises(NoProfile, match="model 'fraud' \\(stable/v1\\) serves no reference profile"):
        evaluate(spec(), [], [], [({"track": "stable", "version": "v1"}, 1.0)])
    assert evaluate(spec(), [], [], []).samples == []


def test_the_detector_fires_at_the_threshold_and_scores_relative_to_it() -> None:
    detector = DriftDetector({"type": "drift", "threshold": 0.25}, 3)
    step = detector.update(0.0, [0.1, 0.25, 0.5])
    assert step.score.tolist()[0] == pytest.approx(0.4)
    assert step.anomalous.tolist() == [False, True, True]
    assert step.score[2] == pytest.approx(2.0) and step.upper.tolist() == [0.25] * 3


def test_a_drift_rule_fires_after_for_and_resolves() -> None:
    rule = AnomalyRuleSpec.model_validate({"drift": {"model": "fraud", "method": "ks"}, "interval": "1m", "for": "2m"})
    assert detector_config(rule) == {"type": "drift", "threshold": DRIFT_THRESHOLDS["ks"]}
    evaluator = RuleEvaluator("ns", "fraud-drift", rule)
    labels = {"track": "stable", "version": "v1", "feature": "merchant_risk"}
    states = []
    for minute, value in enumerate([0.02, 0.3, 0.3, 0.3, 0.01]):
        (result,) = evaluator.evaluate(T0 + timedelta(minutes=minute), [(labels, value)])
        states.append(result.state)
    assert states == ["Normal", "Pending", "Pending", "Firing", "Normal"]


def test_the_api_default_thresholds_are_the_scores_drift_levels() -> None:
    assert DRIFT_THRESHOLDS == {method: t.drift for method, t in drift.DEFAULT_THRESHOLDS.items()}


def test_queries_carry_the_model_track_and_selector() -> None:
    s = spec(track="canary", selector='namespace="fraud-detection"', window="30m")
    assert s.live_query() == (
        "sum by (track, version, feature, bin) (increase(mlaiops_model_feature_bin_total"
        '{model="fraud", track="canary", namespace="fraud-detection"}[30m]))'
    )
    assert 'mlaiops_model_feature_reference_bin{model="fraud", track="canary"' in s.reference_query()
    assert spec(model='a"b').matchers() == 'model="a\\"b"'


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"drift": {"model": "fraud"}, "query": "up"}, "set exactly one of query, queries and drift"),
        ({"drift": {"model": "fraud"}, "detector": {"type": "mad"}}, "detector does not apply to a drift rule"),
        ({"drift": {"model": "fraud", "selector": "namespace=fraud"}}, "drift.selector"),
        ({"drift": {"model": "fraud", "method": "chi2"}}, "drift.method"),
        ({"drift": {"model": "fraud", "minSamples": 0}}, "drift.minSamples"),
        ({"drift": {"model": "fraud", "threshold": 0}}, "drift.threshold"),
        ({"drift": {}}, "drift.model"),
    ],
)
def test_bad_drift_specs_name_the_field(fields: dict, message: str) -> None:
    with pytest.raises(ValidationError) as error:
        AnomalyRuleSpec.model_validate(fields)
    text = str(error.value)
    assert message in text.replace("\n", " ") or message.split(".")[-1] in text


def test_counts_are_read_as_bin_indices_whatever_their_order() -> None:
    reference = list(reversed(bins("x", [10.0, 20, 30, 40], kind="numeric")))
    live = [*bins("x", [40.0, 30, 20, 10]), ({"track": "stable", "version": "v1", "feature": "x", "bin": "junk"}, 5.0)]
    (sample,) = evaluate(spec(minSamples=10), live, reference, []).samples
    assert sample[1] == pytest.approx(drift.psi(np.array([10, 20, 30, 40]), np.array([40, 30, 20, 10])))


# --- a baseline window instead of the training reference ---------------------------------------------


def test_a_baseline_compares_with_the_same_versions_earlier_traffic_not_the_reference() -> None:
    reference = bins("merchant_risk", REFERENCE, kind="numeric")
    spread = [90.0, 40, 20, 10, 5, 5, 10, 20, 40, 90]
    # Last week the version was the canary; today it is stable: its bins are its profile's either way.
    baseline = bins("merchant_risk", spread[:5] + [0.0] * 5, track="canary") + bins(
        "merchant_risk", [0.0] * 5 + spread[5:], track="stable"
    )
    outcome = evaluate(spec(baseline={"offset": "1w"}), bins("merchant_risk", spread), reference, [], baseline)
    ((labels, score),) = outcome.samples
    assert labels == {"track": "stable", "version": "v1", "feature": "merchant_risk"}
    assert score == pytest.approx(0.0)  # the same traffic as last week: no drift, though far from training
    assert evaluate(spec(), bins("merchant_risk", spread), reference, []).samples[0][1] > 0.25
    shifted = evaluate(spec(baseline={"offset": "1w"}), bins("merchant_risk", REFERENCE), reference, [], baseline)
    assert shifted.samples[0][1] == pytest.approx(drift.psi(np.array(spread), np.array(REFERENCE)))


def test_a_version_without_enough_baseline_rows_is_not_scored_and_says_so() -> None:
    reference = bins("amount", REFERENCE, kind="numeric") + bins("amount", REFERENCE, version="v2", kind="numeric")
    live = bins("amount", REFERENCE) + bins("amount", REFERENCE, version="v2")
    baseline = bins("amount", [10.0] * 10)  # v1: 100 rows, v2: none (it was not served a week ago)
    s = spec(baseline={"offset": "1d"}, window="2h", minSamples=50)
    outcome = evaluate(s, live, reference, [], baseline)
    assert [labels["version"] for labels, _ in outcome.samples] == ["v1"]
    assert outcome.too_few == {} and outcome.too_few_baseline == {("stable", "v2", "amount"): 0.0}
    assert outcome.message(s) == (
        "fewer than minSamples 50 rows in the baseline window (2h ending 1d ago): amount (stable/v2): 0 rows"
    )
    starved = evaluate(spec(baseline={"offset": "1d"}, minSamples=101), live, reference, [], baseline)
    assert starved.samples == [] and ("stable", "v1", "amount") in starved.too_few_baseline


def test_too_few_live_rows_is_reported_before_the_baseline() -> None:
    reference = bins("amount", REFERENCE, kind="numeric")
    outcome = evaluate(spec(baseline={"offset": "1d"}), bins("amount", [1.0] * 10), reference, [], [])
    assert outcome.too_few == {("stable", "v1", "amount"): 10.0} and outcome.too_few_baseline == {}


def test_the_baseline_query_is_the_live_query_offset() -> None:
    s = spec(window="30m", baseline={"offset": "1w"})
    assert s.baseline_query() == s.live_query().removesuffix("))") + " offset 1w))"
    assert s.baseline_query().endswith("[30m] offset 1w))")


def test_a_baseline_that_overlaps_the_window_is_refused_naming_the_fields() -> None:
    with pytest.raises(ValidationError) as error:
        spec(window="2h", baseline={"offset": "1h"})
    assert "baseline.offset (1h) must be at least the window (2h)" in str(error.value)
    spec(window="2h", baseline={"offset": "2h"})  # adjacent windows are fine


# --- what kubectl mlaiops plot --feature draws ------------------------------------------------------


def test_histograms_are_the_shares_the_rule_compares_with_its_score() -> None:
    from mlaiops.detection.driftrule import histograms

    spread = [90.0, 40, 20, 10, 5, 5, 10, 20, 40, 90]
    reference = bins("merchant_risk", REFERENCE, kind="numeric") + bins("amount", REFERENCE, kind="numeric")
    reference += bins("merchant_risk", [10.0, 30], version="v2", track="canary", kind="numeric")
    live = bins("merchant_risk", spread) + bins("merchant_risk", [5.0, 5], version="v2", track="canary")
    canary, stable = histograms(spec(), "merchant_risk", live, reference)  # sorted by track, version
    assert (canary.track, canary.version, stable.track, stable.version) == ("canary", "v2", "stable", "v1")
    assert stable.reference == pytest.approx([0.1] * 10) and stable.live == pytest.approx([s / 330 for s in spread])
    assert stable.rows == 330 and stable.score == pytest.approx(drift.psi(REFERENCE, spread))
    assert canary.reference == pytest.approx([0.25, 0.75]) and canary.live == pytest.approx([0.5, 0.5])
    assert canary.rows == 10 and canary.score is None  # below minSamples: drawn, not scored
    with pytest.raises(
        DriftSpecError, match=r"'nope' is not in the served reference profile \(it has amount, merchant_risk\)"
    ):
        histograms(spec(), "nope", live, reference)


def test_histograms_with_a_baseline_show_the_baseline_not_the_reference() -> None:
    from mlaiops.detection.driftrule import histograms

    reference = bins("x", [100.0, 100], kind="numeric")
    (shown,) = histograms(
        spec(baseline={"offset": "1d"}), "x", bins("x", [300.0, 100]), reference, bins("x", [100.0, 300])
    )
    assert shown.reference == pytest.approx([0.25, 0.75]) and shown.live == pytest.approx([0.75, 0.25])
    assert shown.score == pytest.approx(drift.psi(np.array([100, 300]), np.array([300, 100])))
    (empty,) = histograms(spec(baseline={"offset": "1d"}), "x", bins("x", [300.0, 100]), reference, [])
    assert empty.reference == (0.0, 0.0) and empty.score is None

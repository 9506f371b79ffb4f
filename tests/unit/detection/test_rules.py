"""An AnomalyRule's evaluation: spec mapping, per-series engines, hysteresis in evaluations, restore."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from mlaiops.api.anomalyrule import AnomalyRuleSpec, SeriesStatus
from mlaiops.detection.rules import RuleEvaluator, detector_config, fingerprint, hysteresis_config, worst_state

T0 = datetime(2026, 11, 27, 12, tzinfo=UTC)


def spec(**fields: object) -> AnomalyRuleSpec:
    return AnomalyRuleSpec.model_validate({"query": "x", "interval": "10s", **fields})


def test_fingerprint_is_stable_and_label_order_free() -> None:
    assert fingerprint("ns", "r", {"a": "1", "b": "2"}) == fingerprint("ns", "r", {"b": "2", "a": "1"})
    assert fingerprint("ns", "r", {"a": "1"}) != fingerprint("ns", "other", {"a": "1"})
    assert len(fingerprint("ns", "r", {})) == 16


def test_for_and_keep_firing_for_become_evaluation_counts() -> None:
    config = hysteresis_config(spec(**{"for": "30s", "keepFiringFor": "20s"}))
    assert (config.for_, config.keep_firing_for) == (4, 2)
    assert hysteresis_config(spec()).for_ == 1  # for: 0s fires on the first anomalous evaluation


@pytest.mark.parametrize(
    ("detector", "expected"),
    [
        ({"type": "zscore", "window": "5m"}, {"type": "zscore", "window": 30, "threshold": 2.0}),
        ({"type": "mad", "window": "1m", "sensitivity": 2}, {"type": "mad", "window": 6, "threshold": 1.0}),
        ({"type": "seasonal", "season": "1w"}, {"type": "seasonal", "period": 604800.0}),
        ({"type": "forecast", "upper": 90, "horizon": "30m"}, {"type": "forecast", "upper": 90, "horizon": 1800.0}),
        (
            {"type": "auto", "dataRange": {"min": 0}},
            {"type": "auto", "sensitivity": 1.0, "dataRange": [0, float("inf")]},
        ),
    ],
)
def test_detector_config_mapping(detector: dict, expected: dict) -> None:
    config = detector_config(spec(detector=detector))
    assert expected.items() <= config.items()


@pytest.mark.parametrize(("kind", "repeat"), [("zscore", 2.0), ("mad", 2.0), ("ewma", 2.0), ("seasonal", 0.0)])
def test_a_rule_gets_the_shipped_floor_with_its_margin_divided_by_sensitivity(kind: str, repeat: float) -> None:
    """The AnomalyRule API has no noiseFloor: a rule runs the detector's shipped floor, repeat included."""
    floor = detector_config(spec(detector={"type": kind, "sensitivity": 2}))["noiseFloor"]
    assert floor == {"margin": pytest.approx(0.55), "memory": 2000, "learn": 0.5, "repeat": repeat}


def test_series_fire_independently_and_states_follow_hysteresis() -> None:
    evaluator = RuleEvaluator("ns", "r", spec(detector={"type": "threshold", "upper": 50}, **{"for": "10s"}))
    a, b = {"pod": "a"}, {"pod": "b"}
    states = []
    for step, (va, vb) in enumerate([(10, 10), (60, 10), (60, 10), (10, 10)]):
        results = {
            r.labels["pod"]: r for r in evaluator.evaluate(T0 + timedelta(seconds=10 * step), [(a, va), (b, vb)])
        }
        states.append((results["a"].state, results["b"].state))
        if step == 2:
            assert results["a"].fired and not results["b"].fired
        if step == 3:
            assert results["a"].resolved
    assert states == [("Normal", "Normal"), ("Pending", "Normal"), ("Firing", "Normal"), ("Normal", "Normal")]


def test_restore_keeps_a_firing_series_firing_without_a_new_fire() -> None:
    rule = spec(detector={"type": "threshold", "upper": 50})
    evaluator = RuleEvaluator("ns", "r", rule)
    key = fingerprint("ns", "r", {"pod": "a"})
    evaluator.restore([SeriesStatus(labels={"pod": "a"}, fingerprint=key, state="Firing", since=T0)])
    (result,) = evaluator.evaluate(T0 + timedelta(seconds=10), [({"pod": "a"}, 70)])
    assert result.state == "Firing" and not result.fired and result.since == T0


def test_warm_start_learns_the_baseline() -> None:
    rule = spec(detector={"type": "zscore", "window": "10m"})
    times = np.arange(60) * 10.0 + T0.timestamp() - 600
    values = 100 + np.sin(np.arange(60))
    cold, warm = RuleEvaluator("ns", "r", rule), RuleEvaluator("ns", "r", rule)
    assert warm.warm_start([({"pod": "a"}, times, values)]) == 60
    (cold_result,) = cold.evaluate(T0, [({"pod": "a"}, 150.0)])
    (warm_result,) = warm.evaluate(T0, [({"pod": "a"}, 150.0)])
    assert warm_result.score > 1 and warm_result.expected == pytest.approx(100, abs=1)
    assert cold_result.score <= 1  # a cold detector knows nothing yet


def test_missing_series_are_forgotten() -> None:
    evaluator = RuleEvaluator("ns", "r", spec(detector={"type": "threshold", "upper": 50}))
    evaluator.evaluate(T0, [({"pod": "a"}, 60), ({"pod": "b"}, 10)])
    gone = evaluator.forget_missing({fingerprint("ns", "r", {"pod": "b"})})
    assert [g.labels for g in gone] == [{"pod": "a"}] and len(evaluator.series) == 1


def test_worst_state() -> None:
    assert worst_state(["Normal", "Pending", "Firing"]) == "Firing"
    assert worst_state(["Normal", "NoData"]) == "NoData"
    assert worst_state([]) == "Normal"


def test_multivariate_rule_scores_entities_on_joined_features() -> None:
    rule = AnomalyRuleSpec.model_validate(
        {
            "queries": [{"name": "latency", "query": "a"}, {"name": "errors", "query": "b"}],
            "interval": "10s",
            "detector": {"type": "isolationForest", "contamination": 0.01},
        }
    )
    assert detector_config(rule)["multivariate"] is True
    evaluator = RuleEvaluator("ns", "r", rule)
    rng = np.random.default_rng(0)
    latency = rng.normal(100, 5, 400)
    errors = latency / 100 + rng.normal(0, 0.02, 400)  # errors follow latency
    times = T0.timestamp() - 10 * np.arange(400)[::-1]
    assert evaluator.warm_start([({"pod": "a"}, times, np.vstack([latency, errors]))]) == 400
    (usual,) = evaluator.evaluate(T0, [({"pod": "a"}, [100.0, 1.0])])
    (broken,) = evaluator.evaluate(T0 + timedelta(seconds=10), [({"pod": "a"}, [130.0, 1.6])])
    assert usual.score <= 1 < broken.score and broken.state == "Firing"
    assert broken.value == 130.0  # the first query's value is the one shown


def test_multivariate_needs_isolation_forest() -> None:
    with pytest.raises(ValueError, match=r"needs detector\.type isolationForest"):
        AnomalyRuleSpec.model_validate({"queries": [{"name": "a", "query": "a"}, {"name": "b", "query": "b"}]})


@pytest.mark.parametrize("contamination", [0.001, 0.5])
def test_every_contamination_the_api_accepts_builds_an_engine(contamination: float) -> None:
    """The API accepts contamination in (0, 0.5]; the engine must take all of it (it once refused 0.5)."""
    rule = spec(detector={"type": "isolationForest", "contamination": contamination})
    evaluator = RuleEvaluator("ns", "r", rule)
    (result,) = evaluator.evaluate(T0, [({"pod": "a"}, 1.0)])
    assert result.state == "Normal"

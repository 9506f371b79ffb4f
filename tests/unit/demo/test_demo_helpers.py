"""The demo's pure parts: its data drifts one feature only, its objects are valid, its summary is honest."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import pairwise
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pytest
from mlaiops_demo import checks, objects
from mlaiops_demo.data import DISTINCT_TREES, DRIFTING, FEATURES, fraud_table, slow_model, transactions
from mlaiops_demo.summary import summary_table
from mlaiops_demo.traffic import infer_body, next_due
from pydantic import BaseModel

from mlaiops.api.anomalyrule import AnomalyRuleSpec
from mlaiops.api.modeldeployment import ModelDeploymentSpec
from mlaiops.api.remediationplaybook import RemediationPlaybookSpec
from mlaiops.api.retrainpolicy import RetrainPolicySpec
from mlaiops.report.build import _concerns
from mlaiops.report.model import TimelineEntry
from mlaiops.report.timeline import execution_entries, execution_subjects


def test_drift_moves_the_drifting_feature_only_and_keeps_the_labels() -> None:
    calm_x, calm_y = transactions(np.random.default_rng(3), 4000)
    moved_x, moved_y = transactions(np.random.default_rng(3), 4000, drift=4.0)
    column = FEATURES.index(DRIFTING)
    assert np.array_equal(calm_y, moved_y)  # the same fraud, read on a new scale
    assert np.allclose(moved_x[:, column] - calm_x[:, column], 4.0)
    others = [i for i in range(len(FEATURES)) if i != column]
    assert np.array_equal(calm_x[:, others], moved_x[:, others])
    assert 0.2 < calm_y.mean() < 0.4


def test_the_fraud_table_has_features_region_and_label() -> None:
    lines = fraud_table(rows=50, seed=1, drift=4.0).splitlines()
    assert lines[0].split(",") == [*FEATURES, "region", "is_fraud"]
    rows = [line.split(",") for line in lines[1:]]
    assert len(rows) == 50 and {r[-2] for r in rows} <= {"north", "south"} and {r[-1] for r in rows} <= {"0", "1"}
    assert np.mean([float(r[FEATURES.index(DRIFTING)]) for r in rows]) > 3


def test_traffic_rows_drift_the_asked_column() -> None:
    import json

    body = json.loads(infer_body(np.random.default_rng(0), 6, drift=100.0, column=2))
    row = body["inputs"][0]["data"]
    assert (
        body["inputs"][0]["shape"] == [1, 6] and row[2] > 90 and all(abs(v) < 10 for i, v in enumerate(row) if i != 2)
    )


@pytest.mark.parametrize(
    ("make", "model"),
    [
        (objects.retrain_policy, RetrainPolicySpec),
        (objects.model_deployment, ModelDeploymentSpec),
        (objects.drift_rule, AnomalyRuleSpec),
        (objects.load_rule, AnomalyRuleSpec),
        (objects.drift_playbook, RemediationPlaybookSpec),
        (objects.load_playbook, RemediationPlaybookSpec),
    ],
)
def test_the_demo_objects_are_valid_specs(make: Callable[[], dict[str, Any]], model: type[BaseModel]) -> None:
    manifest = make()
    assert manifest["metadata"]["namespace"] == objects.NAMESPACE
    model.model_validate(manifest["spec"])


def test_the_drift_rule_scores_the_drifting_feature_by_psi_against_the_reference() -> None:
    """The trainer profiles the dataset's named columns; the rule compares live bins with that reference."""
    spec = AnomalyRuleSpec.model_validate(objects.drift_rule()["spec"])
    assert spec.drift is not None and spec.query is None
    assert (spec.drift.method, spec.drift.features, spec.drift.drift_threshold) == ("psi", [DRIFTING], 0.25)
    assert spec.drift.model == objects.MODEL and spec.drift.track == "stable"
    assert f'namespace="{objects.NAMESPACE}"' in spec.drift.live_query()


def test_the_load_rule_fires_above_what_a_replica_is_sized_for() -> None:
    assert objects.load_rule()["spec"]["detector"]["upper"] == objects.PER_REPLICA_LIMIT


@dataclass
class Step:
    name: str
    started: float
    finished: float | None
    outcome: str = ""
    detection: float | None = None
    remediation: float | None = None


def test_the_summary_shows_durations_and_names_the_failed_step() -> None:
    table = summary_table(
        [Step("3. Drift", 20.0, 80.5, "promoted | stable", 12.04, 41.0), Step("4. Surge", 80.5, None, "", 9.0)]
    ).splitlines()
    assert table[1].startswith("| step | started | took | detected after | remediated after |")
    assert table[3] == "| 3. Drift | +20.0s | 60.5s | 12.0s | 41.0s | promoted / stable |"
    assert table[4] == "| 4. Surge | +80.5s | — | 9.0s | — | FAILED |"


def test_an_execution_is_about_its_rule_and_its_target() -> None:
    execution = {
        "id": "e1",
        "trigger": "rule:fraud-detection/fraud-load",
        "target": "ModelDeployment/fraud-detector",
        "state": "Succeeded",
        "startedAt": "2026-11-27T08:00:00Z",
        "finishedAt": "2026-11-27T08:00:30Z",
        "reason": "Verified",
    }
    assert execution_subjects(execution) == ("AnomalyRule/fraud-load", "ModelDeployment/fraud-detector")
    entries = execution_entries(
        {"kind": "RemediationPlaybook", "metadata": {"name": "p"}, "status": {"executions": [execution]}}
    )
    assert [e.message for e in entries] == [
        "e1: rule:fraud-detection/fraud-load on ModelDeployment/fraud-detector",
        "e1: Succeeded (Verified)",
    ]
    assert all(_concerns(e, "AnomalyRule/fraud-load") for e in entries)
    assert not _concerns(entries[0], "AnomalyRule/other")
    story = TimelineEntry(datetime(2026, 11, 27, tzinfo=UTC), "story", "3. Drift")
    assert _concerns(story, "AnomalyRule/other")


# --- what the steps wait for -----------------------------------------------------------------------


def rule(state: str, evaluations: int = 5, since: str = "2026-11-27T08:00:10Z") -> dict[str, Any]:
    series = [{"state": state, "since": since, "value": 4.0}]
    return {"metadata": {"name": "r"}, "status": {"state": state, "evaluations": evaluations, "series": series}}


def test_a_rule_is_ready_when_normal_after_a_few_evaluations_and_fails_if_it_fires_early() -> None:
    assert checks.rule_ready(rule("Normal", evaluations=1)) is None
    assert checks.rule_ready(rule("Normal"))["state"] == "Normal"
    with pytest.raises(checks.StepFailed, match=r"Pending before anything happened \(value 4.0 against None\)"):
        checks.rule_ready(rule("Pending"))
    assert checks.firing_since(rule("Normal")) is None
    assert checks.firing_since(rule("Firing")) == datetime(2026, 11, 27, 8, 0, 10, tzinfo=UTC)


def test_a_playbook_step_or_execution_that_failed_fails_the_story_step() -> None:
    def playbook(state: str, result: str) -> dict[str, Any]:
        steps = [{"action": "scale-out", "result": result, "message": "m"}]
        executions = [{"id": "old", "state": "Refused"}, {"id": "e", "state": state, "steps": steps}]
        return {"status": {"executions": executions}}

    assert checks.latest_execution(playbook("Running", "Running"))["id"] == "e"
    assert checks.step_done(playbook("Running", "Running"), "scale-out") is None
    assert checks.step_done(playbook("Verifying", "Succeeded"), "scale-out")["result"] == "Succeeded"
    with pytest.raises(checks.StepFailed, match="scale-out: Refused"):
        checks.step_done(playbook("Running", "Refused"), "scale-out")
    assert checks.verified(playbook("Verifying", "Succeeded")) is None
    assert checks.verified(playbook("Succeeded", "Succeeded"))["id"] == "e"
    with pytest.raises(checks.StepFailed, match="execution e Failed"):
        checks.verified(playbook("Failed", "Succeeded"))


def test_the_retrained_model_must_be_promoted_then_win_its_canary() -> None:
    runs = [{"id": "r2", "trigger": "playbook", "phase": "Rejected", "decision": "no better"}]
    with pytest.raises(checks.StepFailed, match="r2 Rejected: no better"):
        checks.playbook_run({"status": {"runs": runs}})
    assert checks.playbook_run({"status": {"runs": [{"id": "r1", "trigger": "manual", "phase": "Promoted"}]}}) is None

    def md(stable: str, last: str, outcome: str, phase: str = "Ready") -> dict[str, Any]:
        history = [{"version": last, "outcome": outcome, "message": "m"}]
        return {"status": {"phase": phase, "stableModel": {"version": stable}, "history": history}}

    assert checks.promoted(md("r1", "forest", "RolledBack"), "r2") is None  # the canary has not ended yet
    assert checks.promoted(md("r2", "r2", "Promoted"), "r2") is not None
    with pytest.raises(checks.StepFailed, match="canary of r2 ended RolledBack"):
        checks.promoted(md("r1", "r2", "RolledBack"), "r2")


# --- the drift rule's window fits the demo's traffic ---------------------------------------------


def test_the_drift_window_stays_quiet_on_training_like_traffic_and_fires_soon_after_the_shift() -> None:
    """minSamples rows of stationary traffic score far under the threshold; the story's shift crosses it
    once about a quarter of the window has moved (about 10 s of the 40 s window)."""
    from mlaiops.detection import drift
    from mlaiops.detection.profile import numeric_feature

    train, _ = transactions(np.random.default_rng(1), 2400)
    reference = numeric_feature(DRIFTING, train[:, FEATURES.index(DRIFTING)])
    rng = np.random.default_rng(5)
    rows = objects.DRIFT_MIN_SAMPLES
    quiet = [drift.psi(reference.counts, reference.count(rng.normal(size=rows))) for _ in range(2000)]
    assert np.median(quiet) < 0.05 and max(quiet) < 0.2, (np.median(quiet), max(quiet))  # 2,000 windows
    moved = np.concatenate([rng.normal(size=rows - rows // 4), rng.normal(size=rows // 4) + 4.0])  # story.DRIFT
    assert drift.psi(reference.counts, reference.count(moved)) > 0.25


def sent_in(seconds: float, interval: float, latency: Callable[[int], float], in_flight: int = 1) -> list[float]:
    """When the demo's traffic sends its requests over ``seconds`` of a fake clock, the i-th answer taking
    ``latency(i)`` (the loop of ``Traffic._run``: wait until fewer than ``in_flight`` requests are open,
    schedule the next, wait until it is due, send)."""
    now, due, sent, open_until = 0.0, 0.0, [], []  # open_until: when each open request is answered
    while True:
        open_until = sorted(t for t in open_until if t > now)
        if len(open_until) >= in_flight:
            now = open_until.pop(0)  # a slot frees when the earliest open request is answered
        due = next_due(due, now, interval)
        now = max(now, due)
        if now >= seconds:
            return sent
        sent.append(now)
        open_until.append(now + latency(len(sent)))


@pytest.mark.parametrize("latency", [0.0, 0.06, 0.099])
def test_the_demo_traffic_keeps_its_rate_while_answers_take_less_than_an_interval(latency: float) -> None:
    # A pause after each answer would send 10 / (1 + latency / 0.1) a second: 6.25 at 60 ms.
    assert len(sent_in(10.05, 0.1, lambda _: latency)) == 100


def test_the_demo_traffic_after_a_stall_starts_again_from_now_instead_of_a_burst() -> None:
    sent = sent_in(10.05, 0.1, lambda i: 3.0 if i == 5 else 0.01)  # the 5th request (at 0.5 s) takes 3 s
    after = sent[5:]
    assert after[0] == pytest.approx(3.5)  # sent the moment the stalled answer came back
    assert [b - a for a, b in pairwise(after)] == pytest.approx([0.1] * (len(after) - 1))
    assert len(sent) == 5 + 66  # 0.1 to 0.5, then 3.5 to 10.0: the 29 it missed are never sent


def test_the_demo_traffic_catches_up_a_short_delay() -> None:
    sent = sent_in(10.05, 0.1, lambda i: 0.5 if i == 5 else 0.01)  # the 5th request takes 0.5 s: within the lag
    assert sent[5:11] == pytest.approx([1.0, 1.01, 1.02, 1.03, 1.04, 1.1])  # the four it missed, back to back
    assert len(sent) == 100


def test_with_four_requests_open_the_demo_traffic_keeps_its_rate_while_answers_take_three_intervals() -> None:
    assert len(sent_in(10.05, 0.1, lambda _: 0.3, in_flight=4)) == 100
    assert len(sent_in(10.05, 0.1, lambda _: 0.3, in_flight=1)) == 34  # one at a time: 1 / 0.3 a second
    assert len(sent_in(10.05, 0.1, lambda _: 0.5, in_flight=4)) == 80  # answers of five intervals: 8 a second


def test_with_every_slot_stalled_the_demo_traffic_starts_again_from_now_instead_of_a_burst() -> None:
    sent = sent_in(10.05, 0.1, lambda i: 3.0 if 5 <= i <= 8 else 0.01, in_flight=4)  # four answers take 3 s
    assert sent[8] == pytest.approx(3.5)  # the first of them came back at 3.5 s
    assert [b - a for a, b in pairwise(sent[8:])] == pytest.approx([0.1] * (len(sent) - 9))


def test_the_slow_forest_walks_every_tree_it_claims_but_learns_only_the_distinct_ones(tmp_path: Path) -> None:
    """Its latency is that of ``trees`` trees (each is walked per prediction); its answers are those of the
    ``DISTINCT_TREES`` it learnt, each repeated equally often, and the file holds each tree once."""
    slow_model(tmp_path / "m.joblib", features=6, trees=3 * DISTINCT_TREES)
    forest = joblib.load(tmp_path / "m.joblib")
    assert len(forest.estimators_) == forest.n_estimators == 3 * DISTINCT_TREES
    assert len({id(tree) for tree in forest.estimators_}) == DISTINCT_TREES
    rows = np.random.default_rng(0).normal(size=(20, 6))
    learnt = np.mean([tree.predict_proba(rows) for tree in forest.estimators_[:DISTINCT_TREES]], axis=0)
    np.testing.assert_allclose(forest.predict_proba(rows), learnt)
    few = tmp_path / "few.joblib"
    slow_model(few, features=6, trees=DISTINCT_TREES // 2)
    assert len({id(tree) for tree in joblib.load(few).estimators_}) == DISTINCT_TREES // 2

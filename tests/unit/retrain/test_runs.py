"""Run bookkeeping: triggers are counted once, one run at a time, minInterval, promotion."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from mlaiops.api.retrainpolicy import RetrainPolicySpec, RetrainPolicyStatus
from mlaiops.retrain import runs
from tests.unit.api.helpers import example

NOW = datetime(2026, 11, 27, 12, 0, 30, tzinfo=UTC)
CREATED = datetime(2026, 11, 20, tzinfo=UTC)


def spec(**triggers: object) -> RetrainPolicySpec:
    body = example("RetrainPolicy")["spec"]
    body["triggers"] = {"minInterval": "30m", **triggers}
    return RetrainPolicySpec.model_validate(body)


def test_annotation_request_triggers_once() -> None:
    status = RetrainPolicyStatus()
    first = runs.collect_triggers(spec(), status, NOW, CREATED, "drift suspected", {})
    assert first == [runs.Trigger("manual", "drift suspected")]
    assert runs.collect_triggers(spec(), status, NOW, CREATED, "drift suspected", {}) == []
    assert runs.collect_triggers(spec(), status, NOW, CREATED, "playbook:fraud-drift exec-1", {}) == [
        runs.Trigger("playbook", "fraud-drift exec-1")
    ]


def test_schedule_fires_once_per_time_and_tracks_the_next() -> None:
    policy = spec(schedule={"cron": "0 12 * * *"})
    status = RetrainPolicyStatus()
    (trigger,) = runs.collect_triggers(policy, status, NOW, CREATED, None, {})
    assert trigger.kind == "schedule" and status.last_schedule_time == NOW.replace(second=0)
    assert status.next_schedule_time == NOW.replace(second=0) + timedelta(days=1)
    assert runs.collect_triggers(policy, status, NOW + timedelta(seconds=5), CREATED, None, {}) == []


def test_anomaly_firings_need_consecutive_count() -> None:
    policy = spec(onAnomaly={"rules": [{"name": "drift"}], "consecutiveFirings": 2})
    status = RetrainPolicyStatus()
    assert runs.collect_triggers(policy, status, NOW, CREATED, None, {"drift": 5}) == []  # first sight: baseline
    assert runs.collect_triggers(policy, status, NOW, CREATED, None, {"drift": 6}) == []
    (trigger,) = runs.collect_triggers(policy, status, NOW, CREATED, None, {"drift": 7})
    assert trigger.kind == "anomaly" and "fired 2 time(s)" in trigger.reason
    assert runs.collect_triggers(policy, status, NOW, CREATED, None, {"drift": 8}) == []


def test_one_run_at_a_time_and_min_interval() -> None:
    policy = spec()
    status = RetrainPolicyStatus()
    manual = runs.Trigger("manual", "x")
    assert runs.may_start(policy, status, NOW, manual) == (True, "")
    runs.start_run(status, policy, manual, NOW, "job-r1", "r1")
    allowed, why = runs.may_start(policy, status, NOW + timedelta(hours=2), manual)
    assert not allowed and why == "run r1 is still Pending"
    status.runs[0].phase = "Rejected"
    allowed, why = runs.may_start(policy, status, NOW + timedelta(minutes=10), manual)
    assert not allowed and "minInterval 30m" in why
    assert runs.may_start(policy, status, NOW + timedelta(minutes=31), manual)[0]


def test_replace_policy_lets_a_schedule_replace_a_running_run() -> None:
    policy = spec(schedule={"cron": "0 * * * *", "concurrencyPolicy": "Replace"})
    status = RetrainPolicyStatus()
    runs.start_run(status, policy, runs.Trigger("manual", "x"), NOW, "job-r1", "r1")
    later = NOW + timedelta(hours=1)
    assert runs.may_start(policy, status, later, runs.Trigger("schedule", "cron"))[0]
    assert not runs.may_start(policy, status, later, runs.Trigger("manual", "y"))[0]


def test_result_lineage_and_promotion() -> None:
    policy = spec()
    status = RetrainPolicyStatus()
    run = runs.start_run(status, policy, runs.Trigger("manual", "x"), NOW, "job-r1", "r1")
    summary = {
        "modelUri": "pvc://fraud-models/fraud-detector/r1/model.joblib",
        "sha256": "d" * 64,
        "datasetSha256": "e" * 64,
        "profileSha256": "f" * 64,
        "metrics": {"roc_auc": 0.93},
        "championMetrics": {"roc_auc": 0.90},
        "fairness": {"demographic_parity_difference": 0.02},
        "topFeatures": ["amount", "hour"],
    }
    decision = runs.judge_result(policy, run, summary)
    assert decision.passed and run.top_features == ["amount", "hour"] and run.dataset_sha256 == "e" * 64
    assert run.profile_sha256 == "f" * 64  # the reference drift rules score against, versioned with the model
    promoted = runs.promote(status, run, NOW)
    assert status.promoted == promoted and promoted.version == "r1" and promoted.uri == summary["modelUri"]
    assert run.phase == "Promoted" and status.last_run == "r1"


def test_history_is_bounded() -> None:
    policy = spec().model_copy(update={"history_limit": 3})
    status = RetrainPolicyStatus()
    for index in range(5):
        runs.start_run(
            status, policy, runs.Trigger("manual", str(index)), NOW + timedelta(hours=index), f"j{index}", f"r{index}"
        )
    assert [run.id for run in status.runs] == ["r4", "r3", "r2"]

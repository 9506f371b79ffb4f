"""The retraining planner, pass by pass, against a cluster that does what the plan says and a fake clock.

The cluster stores the status the plan writes, creates and deletes the Jobs it asks for, and lets
a test finish a Job as the trainer would (a termination message) or make it fail.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from mlaiops.api.retrainpolicy import RetrainPolicySpec, RetrainPolicyStatus
from mlaiops.retrain.planner import (
    Context,
    CreateJob,
    DeleteJob,
    Observed,
    Plan,
    RecordStatus,
    SyncMlflow,
    plan_pass,
)
from tests.unit.api.helpers import example

T0 = datetime(2026, 11, 27, 12, 0, 30, tzinfo=UTC)
CREATED = datetime(2026, 11, 20, tzinfo=UTC)
SHA = "d" * 64


def make_spec(**changes: Any) -> RetrainPolicySpec:
    body = example("RetrainPolicy")["spec"]
    body["triggers"] = {"minInterval": "10m"}
    body["validation"] = {"metric": "roc_auc", "minimum": 0.85, "minImprovement": {"absolute": 0.01}}
    body.update(changes)
    return RetrainPolicySpec.model_validate(body)


def summary(run_id: str, roc_auc: float, champion: float | None = None) -> dict[str, Any]:
    return {
        "modelUri": f"pvc://fraud-models/fraud-detector/{run_id}/model.joblib",
        "sha256": SHA,
        "metrics": {"roc_auc": roc_auc},
        "championMetrics": {"roc_auc": champion} if champion is not None else None,
    }


class Cluster:
    """Plays the API server, the Job controller and the clock around ``plan_pass``."""

    def __init__(self, spec: RetrainPolicySpec) -> None:
        self.spec = spec
        self.status: RetrainPolicyStatus | None = None
        self.now = T0
        self.jobs: dict[str, dict[str, Any]] = {}
        self.pods: dict[str, list[dict[str, Any]]] = {}
        self.deleted: list[str] = []
        self.firings: dict[str, int] = {}
        self.request: str | None = None
        self.approval: str | None = None
        self.deployed: tuple[str, str | None] | None = None
        self.history: list[tuple[str | None, str | None]] = []
        self.plans: list[Plan] = []

    def observed(self) -> Observed:
        active = next(
            (r for r in (self.status.runs if self.status else None) or [] if r.phase in ("Pending", "Running")), None
        )
        job = self.jobs.get(active.job or "") if active else None
        return Observed(
            job=job,
            pods=self.pods.get(active.id, []) if active else [],
            rule_firings=dict(self.firings),
            request=self.request,
            approval=self.approval,
            deployed=self.deployed,
            rollout_history=list(self.history),
        )

    def plan(self) -> Plan:
        ctx = Context("fraud-retrain", "fraud", "mlaiops:test", CREATED, 3)
        return plan_pass(self.spec, self.status, self.observed(), self.now, ctx)

    def tick(self, seconds: float = 30, crash_after_record: bool = False) -> Plan:
        """One pass; ``crash_after_record`` kills the operator right after it wrote the new run to status."""
        plan = self.plan()
        self.plans.append(plan)
        for action in plan.actions:
            if isinstance(action, DeleteJob):
                self.jobs.pop(action.name, None)
                self.deleted.append(action.name)
            elif isinstance(action, RecordStatus):
                self.status = plan.status.model_copy(deep=True)
                if crash_after_record:
                    break
            elif isinstance(action, CreateJob):
                self.jobs.setdefault(action.job["metadata"]["name"], action.job)
        else:
            self.status = plan.status
        self.now += timedelta(seconds=seconds)
        return plan

    def finish(self, result: dict[str, Any] | None = None, failure: str | None = None) -> None:
        """The active run's Job ends: the trainer wrote ``result``, or the pod failed with ``failure``."""
        assert self.status is not None and self.status.runs
        run = self.status.runs[0]
        job = self.jobs[run.job or ""]
        kind = "Complete" if result is not None else "Failed"
        job["status"] = {"conditions": [{"type": kind, "status": "True", "reason": "BackoffLimitExceeded"}]}
        message = json.dumps(result) if result is not None else json.dumps({"error": failure})
        terminated = {"exitCode": 0 if result is not None else 1, "message": message}
        self.pods[run.id] = [
            {
                "metadata": {"creationTimestamp": "1"},
                "status": {"containerStatuses": [{"state": {"terminated": terminated}}]},
            }
        ]

    def runs(self) -> list[tuple[str, str]]:
        assert self.status is not None
        return [(run.trigger, run.phase) for run in self.status.runs or []]

    def events(self) -> list[str]:
        return [event.reason for plan in self.plans for event in plan.events]

    def created_jobs(self) -> list[str]:
        return [a.job["metadata"]["name"] for p in self.plans for a in p.actions if isinstance(a, CreateJob)]


def env(job: dict[str, Any]) -> dict[str, str]:
    return {item["name"]: item["value"] for item in job["spec"]["template"]["spec"]["containers"][0]["env"]}


def test_nothing_fired_nothing_happens() -> None:
    cluster = Cluster(make_spec())
    plan = cluster.tick()
    assert plan.actions == [] and plan.events == [] and plan.status.phase == "Idle"
    assert plan.status.observed_generation == 3 and plan.status.runs is None


def test_a_request_starts_one_run_recorded_before_its_job() -> None:
    cluster = Cluster(make_spec())
    cluster.request = "drift suspected@20261127T120000Z"
    plan = cluster.tick()
    assert [type(a) for a in plan.actions] == [RecordStatus, CreateJob]
    (run,) = plan.status.runs or []
    assert (run.trigger, run.phase, run.job) == ("manual", "Pending", "fraud-retrain-r20261127-120030")
    assert plan.status.last_request == cluster.request and plan.status.phase == "Training"
    assert cluster.events() == ["RunStarted"]
    plan = cluster.tick()  # the same annotation again: no second run; the run is seen Running
    assert plan.actions == [] and cluster.runs() == [("manual", "Running")]


def test_a_playbook_request_is_its_own_trigger() -> None:
    cluster = Cluster(make_spec())
    cluster.request = "playbook:fraud-drift exec-1@20261127T120000Z"
    cluster.tick()
    assert cluster.runs() == [("playbook", "Pending")]


def test_the_schedule_starts_a_run_at_its_time_only() -> None:
    cluster = Cluster(make_spec(triggers={"schedule": {"cron": "5 12 * * *"}, "minInterval": "1m"}))
    for _ in range(8):  # 12:00:30 .. 12:04:00: not yet
        assert cluster.tick().actions == []
    assert cluster.status is not None and cluster.status.next_schedule_time == T0.replace(minute=5, second=0)
    plan = cluster.tick()  # 12:04:30
    plan = cluster.tick()  # 12:05:00
    assert [type(a) for a in plan.actions] == [RecordStatus, CreateJob]
    assert cluster.runs() == [("schedule", "Pending")] and plan.status.last_schedule_time == T0.replace(
        minute=5, second=0
    )
    for _ in range(4):
        cluster.tick()
    assert len(cluster.runs()) == 1 and plan.status.next_schedule_time == T0.replace(minute=5, second=0) + timedelta(
        days=1
    )


def test_drift_anomaly_firings_start_a_run_after_consecutive_firings() -> None:
    triggers = {"onAnomaly": {"rules": [{"name": "fraud-drift"}], "consecutiveFirings": 2}, "minInterval": "1m"}
    cluster = Cluster(make_spec(triggers=triggers))
    cluster.firings = {"fraud-drift": 4, "unrelated": 9}
    cluster.tick()  # first sight is the baseline
    cluster.firings["fraud-drift"] = 5
    assert cluster.tick().actions == []
    cluster.firings["fraud-drift"] = 6
    plan = cluster.tick()
    assert cluster.runs() == [("anomaly", "Pending")] and "fraud-drift fired 2 time(s)" in plan.status.runs[0].reason
    assert plan.status.firings_seen == {"fraud-drift": 6, "unrelated": 9}


def test_one_run_at_a_time_later_triggers_are_skipped_with_an_event() -> None:
    cluster = Cluster(make_spec(triggers={"minInterval": "1s"}))
    cluster.request = "first@1"
    cluster.tick()
    cluster.request = "second@2"
    plan = cluster.tick()
    assert [type(a) for a in plan.actions] == [] and len(cluster.runs()) == 1
    assert plan.events[0].reason == "RunSkipped" and "is still Running" in plan.events[0].message
    assert plan.status.last_request == "second@2"  # a skipped request is not replayed later


def test_min_interval_between_runs() -> None:
    cluster = Cluster(make_spec())
    cluster.request = "first@1"
    cluster.tick()
    cluster.finish(failure="boom")
    cluster.tick()
    cluster.request = "second@2"
    plan = cluster.tick()
    assert "minInterval 10m" in plan.events[0].message and len(cluster.runs()) == 1


def test_a_failed_job_fails_the_run_with_the_trainers_error() -> None:
    cluster = Cluster(make_spec())
    cluster.request = "go@1"
    cluster.tick()
    cluster.tick()
    cluster.finish(failure="dataset pvc://fraud-data/transactions.csv not found")
    plan = cluster.tick()
    (run,) = plan.status.runs or []
    assert run.phase == "Failed" and run.finished_at is not None
    assert run.decision == "Failed: BackoffLimitExceeded: dataset pvc://fraud-data/transactions.csv not found"
    assert plan.events[-1].type == "Warning" and plan.events[-1].reason == "RunFailed"
    assert plan.status.phase == "Failed" and plan.status.promoted is None  # not Idle: the newest run failed
    condition = next(c for c in plan.status.conditions or [] if c.type == "LastRunFailed")
    assert (condition.status, condition.reason) == ("True", "RunFailed")
    assert (
        condition.message
        == f"run {run.id} failed: BackoffLimitExceeded: dataset pvc://fraud-data/transactions.csv not found"
    )


def test_the_gate_rejects_a_candidate_that_does_not_beat_the_champion() -> None:
    cluster = Cluster(make_spec())
    cluster.request = "go@1"
    cluster.tick()
    run_id = cluster.status.runs[0].id
    cluster.finish(summary(run_id, 0.905, champion=0.90))
    plan = cluster.tick()
    run = plan.status.runs[0]
    assert run.phase == "Rejected" and "improvement" in (run.decision or "") and plan.status.promoted is None
    assert run.candidate_metrics == {"roc_auc": 0.905} and run.model_sha256 == SHA
    assert [e.reason for e in plan.events] == ["CandidateRejected"] and plan.events[0].type == "Warning"


def test_the_gate_accepts_and_the_candidate_is_promoted() -> None:
    cluster = Cluster(make_spec())
    cluster.request = "go@1"
    cluster.tick()
    run_id = cluster.status.runs[0].id
    cluster.finish(summary(run_id, 0.93, champion=0.90))
    plan = cluster.tick()
    assert plan.status.runs[0].phase == "Promoted" and plan.status.runs[0].decision.startswith("Promoted: roc_auc 0.93")
    promoted = plan.status.promoted
    assert promoted is not None and (promoted.uri, promoted.sha256, promoted.run_id) == (
        f"pvc://fraud-models/fraud-detector/{run_id}/model.joblib",
        SHA,
        run_id,
    )
    assert promoted.promoted_at == plan.status.runs[0].finished_at
    assert cluster.events() == ["RunStarted", "Promoted"] and plan.status.phase == "Idle"


def test_the_next_run_is_scored_against_the_promoted_model_then_the_deployed_one() -> None:
    cluster = Cluster(make_spec(triggers={"minInterval": "1s"}))
    cluster.request = "one@1"
    cluster.tick()
    assert "MLAIOPS_CHAMPION_URI" not in env(cluster.jobs[cluster.status.runs[0].job])
    cluster.finish(summary(cluster.status.runs[0].id, 0.93))
    cluster.tick()
    cluster.request = "two@2"
    cluster.tick()
    second = env(cluster.jobs[cluster.status.runs[0].job])
    assert second["MLAIOPS_CHAMPION_URI"] == cluster.status.promoted.uri and second["MLAIOPS_CHAMPION_SHA256"] == SHA
    cluster.finish(failure="x")
    cluster.tick()
    cluster.deployed = ("pvc://models/served/model.joblib", "e" * 64)
    cluster.request = "three@3"
    cluster.tick()
    assert env(cluster.jobs[cluster.status.runs[0].job])["MLAIOPS_CHAMPION_URI"] == "pvc://models/served/model.joblib"


def test_manual_promotion_waits_for_approval() -> None:
    cluster = Cluster(make_spec(promotion={"mode": "manual", "approvalTimeout": "1h"}))
    cluster.request = "go@1"
    cluster.tick()
    run_id = cluster.status.runs[0].id
    cluster.finish(summary(run_id, 0.93))
    plan = cluster.tick()
    assert plan.status.runs[0].phase == "AwaitingApproval" and plan.status.phase == "AwaitingApproval"
    assert f"mlaiops.dev/approve={run_id}" in plan.events[-1].message and plan.status.promoted is None
    cluster.approval = "some-other-run"
    assert cluster.tick().status.promoted is None
    cluster.approval = run_id
    plan = cluster.tick()
    assert plan.status.promoted is not None and plan.status.runs[0].phase == "Promoted"
    assert plan.events[-1].message == f"run {run_id} promoted after approval"


def test_an_unapproved_candidate_expires() -> None:
    cluster = Cluster(make_spec(promotion={"mode": "manual", "approvalTimeout": "1h"}))
    cluster.request = "go@1"
    cluster.tick()
    cluster.finish(summary(cluster.status.runs[0].id, 0.93))
    cluster.tick(seconds=3600)
    plan = cluster.tick()
    assert plan.status.runs[0].phase == "Expired" and [e.reason for e in plan.events] == ["ApprovalExpired"]


def test_restart_after_recording_a_run_creates_its_job_once_and_no_second_run() -> None:
    cluster = Cluster(make_spec())
    cluster.request = "go@1"
    first = cluster.tick(crash_after_record=True)  # the operator died before creating the Job
    assert cluster.jobs == {} and cluster.status is not None and cluster.status.runs[0].phase == "Pending"
    job_name = cluster.status.runs[0].job
    plan = cluster.tick()  # the restarted operator reads the recorded run
    (create,) = plan.actions
    assert isinstance(create, CreateJob) and create.missing and create.job["metadata"]["name"] == job_name
    assert create.job == next(a.job for a in first.actions if isinstance(a, CreateJob))
    assert len(cluster.runs()) == 1 and cluster.runs() == [("manual", "Running")]
    assert cluster.tick().actions == []  # the Job exists now: nothing more


def test_replaying_a_pass_on_its_own_result_changes_nothing() -> None:
    cluster = Cluster(make_spec(triggers={"schedule": {"cron": "* * * * *"}, "minInterval": "1s"}))
    cluster.request = "go@1"
    cluster.firings = {}
    cluster.tick(seconds=0)
    before = cluster.status.model_copy(deep=True)
    plan = cluster.tick(seconds=0)  # the same pass again (a timer firing twice in the same second)
    assert plan.actions == [] and len(cluster.runs()) == 1
    assert (
        plan.status.last_request == before.last_request and plan.status.last_schedule_time == before.last_schedule_time
    )


def test_replace_deletes_the_running_job_before_recording_the_new_run() -> None:
    triggers = {"schedule": {"cron": "*/5 * * * *", "concurrencyPolicy": "Replace"}, "minInterval": "1s"}
    cluster = Cluster(make_spec(triggers=triggers))
    cluster.request = "go@1"
    cluster.tick()
    old = cluster.status.runs[0]
    for _ in range(10):
        plan = cluster.tick()
        if plan.actions:
            break
    assert [type(a) for a in plan.actions] == [DeleteJob, RecordStatus, CreateJob]
    assert cluster.deleted == [old.job] and cluster.runs() == [("schedule", "Pending"), ("manual", "Failed")]
    assert plan.status.runs[1].decision == "Failed: replaced by a newer scheduled run"


def test_forbid_skips_the_schedule_while_a_run_is_going() -> None:
    cluster = Cluster(make_spec(triggers={"schedule": {"cron": "*/5 * * * *"}, "minInterval": "1s"}))
    cluster.request = "go@1"
    cluster.tick()
    for _ in range(10):
        cluster.tick()
    assert cluster.deleted == [] and cluster.runs() == [("manual", "Running")] and "RunSkipped" in cluster.events()


def test_suspended_policy_starts_nothing() -> None:
    cluster = Cluster(make_spec(suspend=True))
    cluster.request = "go@1"
    plan = cluster.tick()
    assert plan.actions == [] and plan.status.phase == "Suspended" and "suspended" in plan.events[0].message


def test_the_rollout_outcome_of_a_promoted_model_is_recorded() -> None:
    cluster = Cluster(make_spec())
    cluster.request = "go@1"
    cluster.tick()
    run_id = cluster.status.runs[0].id
    cluster.finish(summary(run_id, 0.93))
    cluster.tick()
    cluster.history = [(run_id, "RolledBack"), (run_id, "Promoted"), ("older", "Promoted")]
    plan = cluster.tick()
    assert plan.status.runs[0].rollout_outcome == "RolledBack"  # the newest record wins


def test_mlflow_sync_is_an_action_only_when_configured() -> None:
    plain = Cluster(make_spec())
    assert not any(isinstance(a, SyncMlflow) for a in plain.tick().actions)
    tracked = Cluster(make_spec(mlflow={"trackingUri": "http://mlflow:5000"}))
    tracked.request = "go@1"
    assert isinstance(tracked.tick().actions[-1], SyncMlflow)
    assert env(next(iter(tracked.jobs.values())))["MLFLOW_TRACKING_URI"] == "http://mlflow:5000"


def test_the_trainers_mlflow_lineage_is_kept_on_the_run() -> None:
    cluster = Cluster(make_spec(mlflow={"trackingUri": "http://mlflow:5000"}))
    cluster.request = "go@1"
    cluster.tick()
    result = {**summary(cluster.status.runs[0].id, 0.93), "mlflowRunId": "abc", "mlflowModelUri": "models:/m-1"}
    cluster.finish(result)
    plan = cluster.tick()
    assert plan.status.runs[0].mlflow is not None and plan.status.runs[0].mlflow.model_uri == "models:/m-1"


def test_at_most_one_run_starts_per_pass_even_when_a_schedule_may_replace() -> None:
    triggers = {"schedule": {"cron": "* * * * *", "concurrencyPolicy": "Replace"}, "minInterval": "0s"}
    cluster = Cluster(make_spec(triggers=triggers))
    cluster.now = T0.replace(second=10)
    cluster.request = "go@1"  # a request and the schedule in the same pass
    plan = cluster.tick()
    assert [type(a) for a in plan.actions] == [RecordStatus, CreateJob] and len(cluster.runs()) == 1
    assert cluster.deleted == [] and [e.reason for e in plan.events] == ["RunStarted"]


def last_run_failed(plan: Plan) -> tuple[str, str, str] | None:
    found = next((c for c in plan.status.conditions or [] if c.type == "LastRunFailed"), None)
    return (found.status, found.reason, found.last_transition_time.isoformat()) if found else None


def test_last_run_failed_follows_the_newest_finished_run_and_a_later_success_clears_it() -> None:
    cluster = Cluster(make_spec(triggers={"minInterval": "1m"}))
    cluster.request = "go@1"
    plan = cluster.tick()
    assert last_run_failed(plan) is None  # no run has ended yet
    cluster.finish(failure="out of memory")
    failed_at = cluster.now
    plan = cluster.tick(seconds=90)
    assert last_run_failed(plan) == ("True", "RunFailed", failed_at.isoformat())
    cluster.request = "again@2"
    plan = cluster.tick()
    assert plan.status.phase == "Training"  # a run in progress: the failure before it still shows
    assert last_run_failed(plan) == ("True", "RunFailed", failed_at.isoformat())
    result = summary(plan.status.runs[0].id, 0.95) | {
        "topFeatures": ["amount", "hour"],
        "fairness": {"demographic_parity_difference": 0.04, "equal_opportunity_difference": 0.02},
        "championFairness": {"demographic_parity_difference": 0.07, "equal_opportunity_difference": 0.05},
    }
    cluster.finish(result)
    plan = cluster.tick()
    status, reason, _ = last_run_failed(plan) or ("", "", "")
    assert (status, reason, plan.status.phase) == ("False", "RunSucceeded", "Idle")
    run = plan.status.runs[0]
    assert run.fairness == {"demographic_parity_difference": 0.04, "equal_opportunity_difference": 0.02}
    assert run.champion_fairness == {"demographic_parity_difference": 0.07, "equal_opportunity_difference": 0.05}
    promoted = plan.status.promoted
    assert promoted is not None and promoted.top_features == ["amount", "hour"]
    assert promoted.fairness == run.fairness


def test_a_rejected_candidate_is_not_a_failed_run() -> None:
    cluster = Cluster(make_spec())
    cluster.request = "go@1"
    cluster.tick()
    cluster.finish(summary(cluster.status.runs[0].id, 0.5) | {"fairness": {"gap": "not a number"}})
    plan = cluster.tick()
    assert plan.status.runs[0].phase == "Rejected" and plan.status.runs[0].fairness is None
    assert (last_run_failed(plan) or ("",))[0] == "False" and plan.status.phase == "Idle"

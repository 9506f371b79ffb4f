"""Whole retraining passes spelled out: every event, action and status field, for each way a run ends.

Mutation testing (benchmarks/mutation.py) showed the behaviour tests in test_planner.py check reasons
and phases but not event types and messages, the Jobs' namespace and image, the run ids on actions or
the promotion times. The expected values were recorded from the planner as it stands and read over
(a deliberate change updates them: the LastRunFailed condition and the Failed phase after a failed run).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from mlaiops.retrain.planner import CreateJob
from tests.unit.retrain.test_planner import Cluster, make_spec, summary


def trace(cluster: Cluster) -> dict[str, Any]:
    """Events and actions of every pass, and the final status."""
    actions = []
    for plan in cluster.plans:
        for action in plan.actions:
            if isinstance(action, CreateJob):
                meta, container = action.job["metadata"], action.job["spec"]["template"]["spec"]["containers"][0]
                actions.append(("CreateJob", action.run_id, action.missing, meta["namespace"], container["image"]))
            else:
                actions.append((type(action).__name__,))
    assert cluster.status is not None
    return {
        "events": [(e.type, e.reason, e.message) for plan in cluster.plans for e in plan.events],
        "actions": actions,
        "status": cluster.status.model_dump(mode="json", by_alias=True, exclude_none=True),
    }


def scenario_promoted() -> dict[str, Any]:
    cluster = Cluster(make_spec())
    cluster.request = "go@1"
    cluster.tick()
    cluster.finish(summary(cluster.status.runs[0].id, 0.93, champion=0.90))  # type: ignore[union-attr,index]
    cluster.tick()
    return trace(cluster)


def scenario_rejected_then_failed() -> dict[str, Any]:
    cluster = Cluster(make_spec(triggers={"minInterval": "1s"}))
    cluster.request = "go@1"
    cluster.tick()
    cluster.finish(summary(cluster.status.runs[0].id, 0.905, champion=0.90))  # type: ignore[union-attr,index]
    cluster.tick()
    cluster.request = "again@2"
    cluster.tick()
    cluster.request = "skipped@3"
    cluster.tick()
    cluster.finish(failure="dataset not found")
    cluster.tick()
    return trace(cluster)


def scenario_approved() -> dict[str, Any]:
    cluster = Cluster(make_spec(promotion={"mode": "manual", "approvalTimeout": "1h"}))
    cluster.request = "go@1"
    cluster.tick()
    run_id = cluster.status.runs[0].id  # type: ignore[union-attr,index]
    cluster.finish(summary(run_id, 0.93))
    cluster.tick()
    cluster.approval = run_id
    cluster.tick()
    return trace(cluster)


def scenario_approval_expired() -> dict[str, Any]:
    cluster = Cluster(make_spec(promotion={"mode": "manual", "approvalTimeout": "1h"}))
    cluster.request = "go@1"
    cluster.tick()
    cluster.finish(summary(cluster.status.runs[0].id, 0.93))  # type: ignore[union-attr,index]
    cluster.tick(seconds=3600)
    cluster.tick()
    return trace(cluster)


def scenario_approval_at_exactly_the_timeout() -> dict[str, Any]:
    cluster = Cluster(make_spec(promotion={"mode": "manual", "approvalTimeout": "1h"}))
    cluster.request = "go@1"
    cluster.tick(seconds=0)
    cluster.finish(summary(cluster.status.runs[0].id, 0.93))  # type: ignore[union-attr,index]
    cluster.tick(seconds=0)
    started = cluster.status.runs[0].started_at  # type: ignore[union-attr,index]
    assert started is not None
    cluster.now = started + timedelta(hours=1)  # exactly the approval timeout: not expired yet
    cluster.tick()
    return trace(cluster)


APPROVAL_AT_EXACTLY_THE_TIMEOUT = {
    "events": [
        ("Normal", "RunStarted", "run r20261127-120030 started by manual: go@1"),
        (
            "Normal",
            "AwaitingApproval",
            "run r20261127-120030 passed; approve with annotation mlaiops.dev/approve=r20261127-120030",
        ),
    ],
    "actions": [("RecordStatus",), ("CreateJob", "r20261127-120030", False, "fraud", "mlaiops:test")],
    "status": {
        "phase": "AwaitingApproval",
        "conditions": [
            {
                "type": "LastRunFailed",
                "status": "False",
                "reason": "RunSucceeded",
                "message": "run r20261127-120030: AwaitingApproval",
                "lastTransitionTime": "2026-11-27T12:00:30Z",
                "observedGeneration": 3,
            }
        ],
        "observedGeneration": 3,
        "lastRun": "r20261127-120030",
        "lastRequest": "go@1",
        "runs": [
            {
                "id": "r20261127-120030",
                "trigger": "manual",
                "reason": "go@1",
                "job": "fraud-retrain-r20261127-120030",
                "phase": "AwaitingApproval",
                "startedAt": "2026-11-27T12:00:30Z",
                "datasetUri": "pvc://fraud-data/transactions.csv",
                "params": {"max_iter": 200, "learning_rate": 0.1},
                "candidateMetrics": {"roc_auc": 0.93},
                "topFeatures": [],
                "modelUri": "pvc://fraud-models/fraud-detector/r20261127-120030/model.joblib",
                "modelSha256": "dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd",
                "decision": "Passed: roc_auc 0.93 (no champion): passed; awaiting approval",
            }
        ],
    },
}


def test_approval_at_exactly_the_timeout() -> None:
    """Approval at exactly the timeout: every event, action and status field as below."""
    assert scenario_approval_at_exactly_the_timeout() == APPROVAL_AT_EXACTLY_THE_TIMEOUT


APPROVAL_EXPIRED = {
    "events": [
        ("Normal", "RunStarted", "run r20261127-120030 started by manual: go@1"),
        (
            "Normal",
            "AwaitingApproval",
            "run r20261127-120030 passed; approve with annotation mlaiops.dev/approve=r20261127-120030",
        ),
        ("Warning", "ApprovalExpired", "run r20261127-120030 was not approved within 1h"),
    ],
    "actions": [("RecordStatus",), ("CreateJob", "r20261127-120030", False, "fraud", "mlaiops:test")],
    "status": {
        "phase": "Idle",
        "conditions": [
            {
                "type": "LastRunFailed",
                "status": "False",
                "reason": "RunSucceeded",
                "message": "run r20261127-120030: Expired",
                "lastTransitionTime": "2026-11-27T12:01:00Z",
                "observedGeneration": 3,
            }
        ],
        "observedGeneration": 3,
        "lastRun": "r20261127-120030",
        "lastRequest": "go@1",
        "runs": [
            {
                "id": "r20261127-120030",
                "trigger": "manual",
                "reason": "go@1",
                "job": "fraud-retrain-r20261127-120030",
                "phase": "Expired",
                "startedAt": "2026-11-27T12:00:30Z",
                "finishedAt": "2026-11-27T13:01:00Z",
                "datasetUri": "pvc://fraud-data/transactions.csv",
                "params": {"max_iter": 200, "learning_rate": 0.1},
                "candidateMetrics": {"roc_auc": 0.93},
                "topFeatures": [],
                "modelUri": "pvc://fraud-models/fraud-detector/r20261127-120030/model.joblib",
                "modelSha256": "dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd",
                "decision": "Passed: roc_auc 0.93 (no champion): passed; awaiting approval",
            }
        ],
    },
}


def test_approval_expired() -> None:
    """Approval expired: every event, action and status field as below."""
    assert scenario_approval_expired() == APPROVAL_EXPIRED


APPROVED = {
    "events": [
        ("Normal", "RunStarted", "run r20261127-120030 started by manual: go@1"),
        (
            "Normal",
            "AwaitingApproval",
            "run r20261127-120030 passed; approve with annotation mlaiops.dev/approve=r20261127-120030",
        ),
        ("Normal", "Promoted", "run r20261127-120030 promoted after approval"),
    ],
    "actions": [("RecordStatus",), ("CreateJob", "r20261127-120030", False, "fraud", "mlaiops:test")],
    "status": {
        "phase": "Idle",
        "conditions": [
            {
                "type": "LastRunFailed",
                "status": "False",
                "reason": "RunSucceeded",
                "message": "run r20261127-120030: Promoted",
                "lastTransitionTime": "2026-11-27T12:01:00Z",
                "observedGeneration": 3,
            }
        ],
        "observedGeneration": 3,
        "promoted": {
            "uri": "pvc://fraud-models/fraud-detector/r20261127-120030/model.joblib",
            "sha256": "dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd",
            "version": "r20261127-120030",
            "runId": "r20261127-120030",
            "metrics": {"roc_auc": 0.93},
            "promotedAt": "2026-11-27T12:01:30Z",
        },
        "lastRun": "r20261127-120030",
        "lastRequest": "go@1",
        "runs": [
            {
                "id": "r20261127-120030",
                "trigger": "manual",
                "reason": "go@1",
                "job": "fraud-retrain-r20261127-120030",
                "phase": "Promoted",
                "startedAt": "2026-11-27T12:00:30Z",
                "finishedAt": "2026-11-27T12:01:30Z",
                "datasetUri": "pvc://fraud-data/transactions.csv",
                "params": {"max_iter": 200, "learning_rate": 0.1},
                "candidateMetrics": {"roc_auc": 0.93},
                "topFeatures": [],
                "modelUri": "pvc://fraud-models/fraud-detector/r20261127-120030/model.joblib",
                "modelSha256": "dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd",
                "decision": "Passed: roc_auc 0.93 (no champion): passed; awaiting approval",
            }
        ],
    },
}


def test_approved() -> None:
    """Approved: every event, action and status field as below."""
    assert scenario_approved() == APPROVED


PROMOTED = {
    "events": [
        ("Normal", "RunStarted", "run r20261127-120030 started by manual: go@1"),
        ("Normal", "Promoted", "run r20261127-120030 promoted: roc_auc 0.93 vs champion 0.9: passed"),
    ],
    "actions": [("RecordStatus",), ("CreateJob", "r20261127-120030", False, "fraud", "mlaiops:test")],
    "status": {
        "phase": "Idle",
        "conditions": [
            {
                "type": "LastRunFailed",
                "status": "False",
                "reason": "RunSucceeded",
                "message": "run r20261127-120030: Promoted",
                "lastTransitionTime": "2026-11-27T12:01:00Z",
                "observedGeneration": 3,
            }
        ],
        "observedGeneration": 3,
        "promoted": {
            "uri": "pvc://fraud-models/fraud-detector/r20261127-120030/model.joblib",
            "sha256": "dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd",
            "version": "r20261127-120030",
            "runId": "r20261127-120030",
            "metrics": {"roc_auc": 0.93},
            "promotedAt": "2026-11-27T12:01:00Z",
        },
        "lastRun": "r20261127-120030",
        "lastRequest": "go@1",
        "runs": [
            {
                "id": "r20261127-120030",
                "trigger": "manual",
                "reason": "go@1",
                "job": "fraud-retrain-r20261127-120030",
                "phase": "Promoted",
                "startedAt": "2026-11-27T12:00:30Z",
                "finishedAt": "2026-11-27T12:01:00Z",
                "datasetUri": "pvc://fraud-data/transactions.csv",
                "params": {"max_iter": 200, "learning_rate": 0.1},
                "candidateMetrics": {"roc_auc": 0.93},
                "championMetrics": {"roc_auc": 0.9},
                "topFeatures": [],
                "modelUri": "pvc://fraud-models/fraud-detector/r20261127-120030/model.joblib",
                "modelSha256": "dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd",
                "decision": "Promoted: roc_auc 0.93 vs champion 0.9: passed",
            }
        ],
    },
}


def test_promoted() -> None:
    """Promoted: every event, action and status field as below."""
    assert scenario_promoted() == PROMOTED


REJECTED_THEN_FAILED = {
    "events": [
        ("Normal", "RunStarted", "run r20261127-120030 started by manual: go@1"),
        (
            "Warning",
            "CandidateRejected",
            "run r20261127-120030: roc_auc 0.905 vs champion 0.9: improvement 0.005 is less than the "
            "required 0.01 (higher is better)",
        ),
        ("Normal", "RunStarted", "run r20261127-120130 started by manual: again@2"),
        ("Normal", "RunSkipped", "manual trigger (skipped@3) skipped: run r20261127-120130 is still Running"),
        ("Warning", "RunFailed", "run r20261127-120130 failed: BackoffLimitExceeded: dataset not found"),
    ],
    "actions": [
        ("RecordStatus",),
        ("CreateJob", "r20261127-120030", False, "fraud", "mlaiops:test"),
        ("RecordStatus",),
        ("CreateJob", "r20261127-120130", False, "fraud", "mlaiops:test"),
    ],
    "status": {
        "phase": "Failed",
        "conditions": [
            {
                "type": "LastRunFailed",
                "status": "True",
                "reason": "RunFailed",
                "message": "run r20261127-120130 failed: BackoffLimitExceeded: dataset not found",
                "lastTransitionTime": "2026-11-27T12:02:30Z",
                "observedGeneration": 3,
            }
        ],
        "observedGeneration": 3,
        "lastRun": "r20261127-120130",
        "lastRequest": "skipped@3",
        "runs": [
            {
                "id": "r20261127-120130",
                "trigger": "manual",
                "reason": "again@2",
                "job": "fraud-retrain-r20261127-120130",
                "phase": "Failed",
                "startedAt": "2026-11-27T12:01:30Z",
                "finishedAt": "2026-11-27T12:02:30Z",
                "datasetUri": "pvc://fraud-data/transactions.csv",
                "params": {"max_iter": 200, "learning_rate": 0.1},
                "decision": "Failed: BackoffLimitExceeded: dataset not found",
            },
            {
                "id": "r20261127-120030",
                "trigger": "manual",
                "reason": "go@1",
                "job": "fraud-retrain-r20261127-120030",
                "phase": "Rejected",
                "startedAt": "2026-11-27T12:00:30Z",
                "finishedAt": "2026-11-27T12:01:00Z",
                "datasetUri": "pvc://fraud-data/transactions.csv",
                "params": {"max_iter": 200, "learning_rate": 0.1},
                "candidateMetrics": {"roc_auc": 0.905},
                "championMetrics": {"roc_auc": 0.9},
                "topFeatures": [],
                "modelUri": "pvc://fraud-models/fraud-detector/r20261127-120030/model.joblib",
                "modelSha256": "dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd",
                "decision": "Rejected: roc_auc 0.905 vs champion 0.9: improvement 0.005 is less than "
                "the required 0.01 (higher is better)",
            },
        ],
    },
}


def test_rejected_then_failed() -> None:
    """Rejected then failed: every event, action and status field as below."""
    assert scenario_rejected_then_failed() == REJECTED_THEN_FAILED


def test_the_status_read_is_never_changed_by_a_pass() -> None:
    """plan_pass works on a deep copy: judging a finished run leaves the status it was given as it was."""
    cluster = Cluster(make_spec())
    cluster.request = "go@1"
    cluster.tick()
    cluster.finish(summary(cluster.status.runs[0].id, 0.93, champion=0.90))  # type: ignore[union-attr,index]
    read = cluster.status
    assert read is not None
    before = read.model_dump()
    assert cluster.plan().status.runs[0].phase == "Promoted"  # type: ignore[index]
    assert read.model_dump() == before


def test_a_job_recreated_after_a_restart_carries_its_run_id() -> None:
    cluster = Cluster(make_spec())
    cluster.request = "go@1"
    cluster.tick(crash_after_record=True)  # the operator died before creating the Job
    run_id = cluster.status.runs[0].id  # type: ignore[union-attr,index]
    (create,) = cluster.tick().actions
    assert isinstance(create, CreateJob) and (create.run_id, create.missing) == (run_id, True)


def test_a_trigger_that_may_not_start_does_not_stop_the_next_one() -> None:
    """A manual request waits for the running run; the schedule, with concurrencyPolicy Replace, replaces it."""
    cluster = Cluster(
        make_spec(triggers={"schedule": {"cron": "0 * * * *", "concurrencyPolicy": "Replace"}, "minInterval": "1s"})
    )
    cluster.request = "go@1"
    cluster.tick(seconds=3600)  # 12:00:30, the manual run starts; the next pass is past 13:00
    first = cluster.status.runs[0].id  # type: ignore[union-attr,index]
    cluster.request = "again@2"
    plan = cluster.tick()
    assert [(e.reason, e.message.split(":")[0]) for e in plan.events] == [
        ("RunSkipped", "manual trigger (again@2) skipped"),
        ("RunStarted", f"run {plan.status.runs[0].id} started by schedule"),  # type: ignore[index]
    ]
    assert plan.events[0].message.endswith(f"skipped: run {first} is still Running")
    assert [r.phase for r in plan.status.runs or []] == ["Pending", "Failed"]

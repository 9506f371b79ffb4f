"""Whole-tick outcomes of the rollout planner, spelled out: every event, track and status field.

Mutation testing (benchmarks/mutation.py) showed that the behaviour tests in test_canary.py check
the phase and the reasons but not the messages, timestamps, model digests or the analysis records
that status, Events and ``kubectl mlaiops`` show. These tests state them for each way a rollout ends;
the expected values were recorded from the planner as it stands and read over (a deliberate change
updates them).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from mlaiops.api.modeldeployment import ModelDeploymentSpec, ModelRef
from mlaiops.resources.modelserver import ResolvedModel
from mlaiops.rollout.analysis import MetricOutcome
from mlaiops.rollout.canary import Observed, Plan, _resolved, plan_rollout
from tests.unit.rollout.test_canary import Cluster, make_spec

V1 = ResolvedModel("file:///m/v1.joblib", "v1", "a" * 64)
V2 = ResolvedModel("file:///m/v2.joblib", "v2", "b" * 64)
V3 = ResolvedModel("file:///m/v3.joblib", "v3", "c" * 64)


def snapshot(plan: Plan) -> dict[str, Any]:
    """What a tick hands the controller: events, both tracks, and the status as stored."""
    return {
        "events": [(e.type, e.reason, e.message) for e in plan.events],
        "tracks": (plan.stable, plan.stable_replicas, plan.canary, plan.canary_replicas),
        "status": plan.status.model_dump(mode="json", by_alias=True, exclude_none=True),
    }


def deployed(spec: ModelDeploymentSpec | None = None) -> Cluster:
    cluster = Cluster(spec or make_spec())
    cluster.tick(V1)
    cluster.tick(V1)
    return cluster


def scenario_first_deployment() -> list[dict[str, Any]]:
    cluster = Cluster(make_spec())
    return [snapshot(cluster.tick(V1)), snapshot(cluster.tick(V1))]


def scenario_promotion() -> list[dict[str, Any]]:
    cluster = deployed()
    plans = [cluster.tick(V2), cluster.tick(V2), cluster.tick(V2, "Successful"), cluster.tick(V2, "Successful")]
    plans += [cluster.tick(V2, "Successful") for _ in range(4)]
    return [snapshot(p) for p in plans if p.events] + [snapshot(plans[-1])]


def scenario_failed_analysis() -> list[dict[str, Any]]:
    cluster = deployed()
    cluster.tick(V2)
    cluster.tick(V2)
    cluster.tick(V2, "Failed")
    return [snapshot(cluster.tick(V2, "Failed")), snapshot(cluster.tick(V2))]


def scenario_rollback_of_a_canary_on_request() -> list[dict[str, Any]]:
    cluster = deployed()
    cluster.tick(V2)
    return [snapshot(cluster.tick(V2, rollback="incident-7"))]


def scenario_rollback_of_stable_on_request() -> list[dict[str, Any]]:
    cluster = deployed(make_spec(rollout={"strategy": "RollingUpdate"}))
    first = snapshot(cluster.tick(V2))
    cluster.tick(V2)
    return [first, snapshot(cluster.tick(V2, rollback="incident-8")), snapshot(cluster.tick(V2, rollback="incident-8"))]


def scenario_rollback_impossible() -> list[dict[str, Any]]:
    cluster = deployed()
    return [snapshot(cluster.tick(V1, rollback="incident-9"))]


def scenario_spec_changed_during_canary() -> list[dict[str, Any]]:
    cluster = deployed()
    cluster.tick(V2)
    return [snapshot(cluster.tick(V1))]


def scenario_inconclusive_hold() -> list[dict[str, Any]]:
    cluster = deployed()
    cluster.tick(V2)
    cluster.tick(V2)
    cluster.tick(V2, "Inconclusive")
    return [snapshot(cluster.tick(V2, "Inconclusive"))]


def scenario_provider_errors() -> list[dict[str, Any]]:
    cluster = deployed()
    cluster.tick(V2)
    cluster.tick(V2)
    for _ in range(2):
        cluster.tick(V2, "Error")
    return [snapshot(cluster.tick(V2, "Error"))]


def scenario_paused() -> list[dict[str, Any]]:
    cluster = deployed(make_spec(paused=True))
    cluster.tick(V2)
    return [snapshot(cluster.tick(V2))]


FAILED_ANALYSIS = [
    {
        "events": [("Warning", "AnalysisFailed", "canary v2 failed analysis (request-success-rate: )")],
        "tracks": (
            ResolvedModel(
                storage_uri="file:///m/v1.joblib",
                version="v1",
                sha256="aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
            ),
            4,
            None,
            0,
        ),
        "status": {
            "phase": "Progressing",
            "observedGeneration": 1,
            "replicas": 4,
            "readyReplicas": 4,
            "ready": "4/4",
            "stableModel": {
                "version": "v1",
                "storageUri": "file:///m/v1.joblib",
                "sha256": "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
            },
            "failedModel": {
                "version": "v2",
                "storageUri": "file:///m/v2.joblib",
                "sha256": "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb",
            },
            "trafficRouting": "ReplicaRatio",
            "analysis": [
                {
                    "name": "request-success-rate",
                    "value": 0.5,
                    "phase": "Failed",
                    "successes": 0,
                    "failures": 2,
                    "consecutiveErrors": 0,
                    "stepSuccesses": 0,
                    "dryRun": False,
                    "message": "",
                }
            ],
            "lastAction": "RolledBack v2",
            "history": [
                {
                    "version": "v2",
                    "storageUri": "file:///m/v2.joblib",
                    "outcome": "RolledBack",
                    "reason": "AnalysisFailed",
                    "message": "canary v2 failed analysis (request-success-rate: )",
                    "startedAt": "2026-11-27T12:01:00Z",
                    "finishedAt": "2026-11-27T12:02:30Z",
                },
                {
                    "version": "v1",
                    "storageUri": "file:///m/v1.joblib",
                    "outcome": "Promoted",
                    "reason": "InitialDeployment",
                    "message": "",
                    "startedAt": "2026-11-27T12:00:00Z",
                    "finishedAt": "2026-11-27T12:00:30Z",
                },
            ],
            "conditions": [
                {
                    "type": "Ready",
                    "status": "False",
                    "reason": "ReplicasNotReady",
                    "message": "3/4 replicas ready",
                    "lastTransitionTime": "2026-11-27T12:02:30Z",
                    "observedGeneration": 1,
                },
                {
                    "type": "Progressing",
                    "status": "True",
                    "reason": "ReplicasUpdating",
                    "message": "3/4 replicas ready",
                    "lastTransitionTime": "2026-11-27T12:01:00Z",
                    "observedGeneration": 1,
                },
                {
                    "type": "Degraded",
                    "status": "False",
                    "reason": "Healthy",
                    "message": "",
                    "lastTransitionTime": "2026-11-27T12:00:00Z",
                    "observedGeneration": 1,
                },
                {
                    "type": "RolledBack",
                    "status": "False",
                    "reason": "NotRolledBack",
                    "message": "",
                    "lastTransitionTime": "2026-11-27T12:00:00Z",
                    "observedGeneration": 1,
                },
            ],
        },
    },
    {
        "events": [],
        "tracks": (
            ResolvedModel(
                storage_uri="file:///m/v1.joblib",
                version="v1",
                sha256="aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
            ),
            4,
            None,
            0,
        ),
        "status": {
            "phase": "RolledBack",
            "observedGeneration": 1,
            "replicas": 4,
            "readyReplicas": 4,
            "ready": "4/4",
            "stableModel": {
                "version": "v1",
                "storageUri": "file:///m/v1.joblib",
                "sha256": "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
            },
            "failedModel": {
                "version": "v2",
                "storageUri": "file:///m/v2.joblib",
                "sha256": "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb",
            },
            "trafficRouting": "ReplicaRatio",
            "analysis": [
                {
                    "name": "request-success-rate",
                    "value": 0.5,
                    "phase": "Failed",
                    "successes": 0,
                    "failures": 2,
                    "consecutiveErrors": 0,
                    "stepSuccesses": 0,
                    "dryRun": False,
                    "message": "",
                }
            ],
            "lastAction": "RolledBack v2",
            "history": [
                {
                    "version": "v2",
                    "storageUri": "file:///m/v2.joblib",
                    "outcome": "RolledBack",
                    "reason": "AnalysisFailed",
                    "message": "canary v2 failed analysis (request-success-rate: )",
                    "startedAt": "2026-11-27T12:01:00Z",
                    "finishedAt": "2026-11-27T12:02:30Z",
                },
                {
                    "version": "v1",
                    "storageUri": "file:///m/v1.joblib",
                    "outcome": "Promoted",
                    "reason": "InitialDeployment",
                    "message": "",
                    "startedAt": "2026-11-27T12:00:00Z",
                    "finishedAt": "2026-11-27T12:00:30Z",
                },
            ],
            "conditions": [
                {
                    "type": "Ready",
                    "status": "True",
                    "reason": "RolledBack",
                    "message": "4/4 replicas ready",
                    "lastTransitionTime": "2026-11-27T12:03:00Z",
                    "observedGeneration": 1,
                },
                {
                    "type": "Progressing",
                    "status": "False",
                    "reason": "RolloutComplete",
                    "message": "v1 is stable",
                    "lastTransitionTime": "2026-11-27T12:03:00Z",
                    "observedGeneration": 1,
                },
                {
                    "type": "Degraded",
                    "status": "False",
                    "reason": "Healthy",
                    "message": "",
                    "lastTransitionTime": "2026-11-27T12:00:00Z",
                    "observedGeneration": 1,
                },
                {
                    "type": "RolledBack",
                    "status": "True",
                    "reason": "RolledBack",
                    "message": "v2 was rolled back; set a new model in the spec to roll out again",
                    "lastTransitionTime": "2026-11-27T12:03:00Z",
                    "observedGeneration": 1,
                },
            ],
        },
    },
]


def test_failed_analysis() -> None:
    """Failed analysis: every event, track and status field as spelled out below."""
    assert scenario_failed_analysis() == FAILED_ANALYSIS


FIRST_DEPLOYMENT = [
    {
        "events": [("Normal", "Deployed", "deploying v1")],
        "tracks": (
            ResolvedModel(
                storage_uri="file:///m/v1.joblib",
                version="v1",
                sha256="aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
            ),
            4,
            None,
            0,
        ),
        "status": {
            "phase": "Progressing",
            "observedGeneration": 1,
            "replicas": 0,
            "readyReplicas": 0,
            "ready": "0/4",
            "stableModel": {
                "version": "v1",
                "storageUri": "file:///m/v1.joblib",
                "sha256": "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
            },
            "trafficRouting": "ReplicaRatio",
            "rolloutStartedAt": "2026-11-27T12:00:00Z",
            "lastAction": "Deploying v1",
            "conditions": [
                {
                    "type": "Ready",
                    "status": "False",
                    "reason": "ReplicasNotReady",
                    "message": "0/4 replicas ready",
                    "lastTransitionTime": "2026-11-27T12:00:00Z",
                    "observedGeneration": 1,
                },
                {
                    "type": "Progressing",
                    "status": "True",
                    "reason": "ReplicasUpdating",
                    "message": "0/4 replicas ready",
                    "lastTransitionTime": "2026-11-27T12:00:00Z",
                    "observedGeneration": 1,
                },
                {
                    "type": "Degraded",
                    "status": "False",
                    "reason": "Healthy",
                    "message": "",
                    "lastTransitionTime": "2026-11-27T12:00:00Z",
                    "observedGeneration": 1,
                },
                {
                    "type": "RolledBack",
                    "status": "False",
                    "reason": "NotRolledBack",
                    "message": "",
                    "lastTransitionTime": "2026-11-27T12:00:00Z",
                    "observedGeneration": 1,
                },
            ],
        },
    },
    {
        "events": [],
        "tracks": (
            ResolvedModel(
                storage_uri="file:///m/v1.joblib",
                version="v1",
                sha256="aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
            ),
            4,
            None,
            0,
        ),
        "status": {
            "phase": "Ready",
            "observedGeneration": 1,
            "replicas": 4,
            "readyReplicas": 4,
            "ready": "4/4",
            "stableModel": {
                "version": "v1",
                "storageUri": "file:///m/v1.joblib",
                "sha256": "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
            },
            "trafficRouting": "ReplicaRatio",
            "lastAction": "Deployed v1",
            "history": [
                {
                    "version": "v1",
                    "storageUri": "file:///m/v1.joblib",
                    "outcome": "Promoted",
                    "reason": "InitialDeployment",
                    "message": "",
                    "startedAt": "2026-11-27T12:00:00Z",
                    "finishedAt": "2026-11-27T12:00:30Z",
                }
            ],
            "conditions": [
                {
                    "type": "Ready",
                    "status": "True",
                    "reason": "Available",
                    "message": "4/4 replicas ready",
                    "lastTransitionTime": "2026-11-27T12:00:30Z",
                    "observedGeneration": 1,
                },
                {
                    "type": "Progressing",
                    "status": "False",
                    "reason": "RolloutComplete",
                    "message": "v1 is stable",
                    "lastTransitionTime": "2026-11-27T12:00:30Z",
                    "observedGeneration": 1,
                },
                {
                    "type": "Degraded",
                    "status": "False",
                    "reason": "Healthy",
                    "message": "",
                    "lastTransitionTime": "2026-11-27T12:00:00Z",
                    "observedGeneration": 1,
                },
                {
                    "type": "RolledBack",
                    "status": "False",
                    "reason": "NotRolledBack",
                    "message": "",
                    "lastTransitionTime": "2026-11-27T12:00:00Z",
                    "observedGeneration": 1,
                },
            ],
        },
    },
]


def test_first_deployment() -> None:
    """First deployment: every event, track and status field as spelled out below."""
    assert scenario_first_deployment() == FIRST_DEPLOYMENT


INCONCLUSIVE_HOLD = [
    {
        "events": [],
        "tracks": (
            ResolvedModel(
                storage_uri="file:///m/v1.joblib",
                version="v1",
                sha256="aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
            ),
            3,
            ResolvedModel(
                storage_uri="file:///m/v2.joblib",
                version="v2",
                sha256="bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb",
            ),
            1,
        ),
        "status": {
            "phase": "Progressing",
            "observedGeneration": 1,
            "replicas": 4,
            "readyReplicas": 4,
            "ready": "4/4",
            "stableModel": {
                "version": "v1",
                "storageUri": "file:///m/v1.joblib",
                "sha256": "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
            },
            "canaryModel": {
                "version": "v2",
                "storageUri": "file:///m/v2.joblib",
                "sha256": "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb",
            },
            "currentStep": 0,
            "canaryWeight": 25,
            "trafficRouting": "ReplicaRatio",
            "rolloutStartedAt": "2026-11-27T12:01:00Z",
            "stepStartedAt": "2026-11-27T12:01:30Z",
            "lastProgressAt": "2026-11-27T12:01:30Z",
            "lastAnalysisAt": "2026-11-27T12:02:30Z",
            "analysis": [
                {
                    "name": "request-success-rate",
                    "value": 0.5,
                    "phase": "Inconclusive",
                    "successes": 0,
                    "failures": 0,
                    "consecutiveErrors": 0,
                    "stepSuccesses": 0,
                    "dryRun": False,
                    "message": "",
                }
            ],
            "lastAction": "Deployed v1",
            "history": [
                {
                    "version": "v1",
                    "storageUri": "file:///m/v1.joblib",
                    "outcome": "Promoted",
                    "reason": "InitialDeployment",
                    "message": "",
                    "startedAt": "2026-11-27T12:00:00Z",
                    "finishedAt": "2026-11-27T12:00:30Z",
                }
            ],
            "conditions": [
                {
                    "type": "Ready",
                    "status": "True",
                    "reason": "CanaryInProgress",
                    "message": "stable v1 serving; canary in analysis",
                    "lastTransitionTime": "2026-11-27T12:01:30Z",
                    "observedGeneration": 1,
                },
                {
                    "type": "Progressing",
                    "status": "True",
                    "reason": "AnalysisInconclusive",
                    "message": "step held: inconclusive request-success-rate (no data or too few samples: see status.analysis)",
                    "lastTransitionTime": "2026-11-27T12:01:00Z",
                    "observedGeneration": 1,
                },
                {
                    "type": "Degraded",
                    "status": "False",
                    "reason": "AnalysisHealthy",
                    "message": "",
                    "lastTransitionTime": "2026-11-27T12:00:00Z",
                    "observedGeneration": 1,
                },
                {
                    "type": "RolledBack",
                    "status": "False",
                    "reason": "NotRolledBack",
                    "message": "",
                    "lastTransitionTime": "2026-11-27T12:00:00Z",
                    "observedGeneration": 1,
                },
            ],
        },
    }
]


def test_inconclusive_hold() -> None:
    """Inconclusive hold: every event, track and status field as spelled out below."""
    assert scenario_inconclusive_hold() == INCONCLUSIVE_HOLD


PAUSED = [
    {
        "events": [],
        "tracks": (
            ResolvedModel(
                storage_uri="file:///m/v1.joblib",
                version="v1",
                sha256="aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
            ),
            3,
            ResolvedModel(
                storage_uri="file:///m/v2.joblib",
                version="v2",
                sha256="bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb",
            ),
            1,
        ),
        "status": {
            "phase": "Progressing",
            "observedGeneration": 1,
            "replicas": 4,
            "readyReplicas": 4,
            "ready": "4/4",
            "stableModel": {
                "version": "v1",
                "storageUri": "file:///m/v1.joblib",
                "sha256": "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
            },
            "canaryModel": {
                "version": "v2",
                "storageUri": "file:///m/v2.joblib",
                "sha256": "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb",
            },
            "currentStep": 0,
            "canaryWeight": 25,
            "trafficRouting": "ReplicaRatio",
            "rolloutStartedAt": "2026-11-27T12:01:00Z",
            "stepStartedAt": "2026-11-27T12:01:30Z",
            "lastProgressAt": "2026-11-27T12:01:30Z",
            "analysis": [],
            "lastAction": "Deployed v1",
            "history": [
                {
                    "version": "v1",
                    "storageUri": "file:///m/v1.joblib",
                    "outcome": "Promoted",
                    "reason": "InitialDeployment",
                    "message": "",
                    "startedAt": "2026-11-27T12:00:00Z",
                    "finishedAt": "2026-11-27T12:00:30Z",
                }
            ],
            "conditions": [
                {
                    "type": "Ready",
                    "status": "True",
                    "reason": "CanaryInProgress",
                    "message": "stable v1 serving; canary in analysis",
                    "lastTransitionTime": "2026-11-27T12:01:30Z",
                    "observedGeneration": 1,
                },
                {
                    "type": "Progressing",
                    "status": "True",
                    "reason": "Paused",
                    "message": "paused at step 0 (25% on canary)",
                    "lastTransitionTime": "2026-11-27T12:01:00Z",
                    "observedGeneration": 1,
                },
                {
                    "type": "Degraded",
                    "status": "False",
                    "reason": "AnalysisHealthy",
                    "message": "",
                    "lastTransitionTime": "2026-11-27T12:00:00Z",
                    "observedGeneration": 1,
                },
                {
                    "type": "RolledBack",
                    "status": "False",
                    "reason": "NotRolledBack",
                    "message": "",
                    "lastTransitionTime": "2026-11-27T12:00:00Z",
                    "observedGeneration": 1,
                },
            ],
        },
    }
]


def test_paused() -> None:
    """Paused: every event, track and status field as spelled out below."""
    assert scenario_paused() == PAUSED


PROMOTION = [
    {
        "events": [("Normal", "CanaryStarted", "canary v2 next to v1")],
        "tracks": (
            ResolvedModel(
                storage_uri="file:///m/v1.joblib",
                version="v1",
                sha256="aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
            ),
            3,
            ResolvedModel(
                storage_uri="file:///m/v2.joblib",
                version="v2",
                sha256="bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb",
            ),
            1,
        ),
        "status": {
            "phase": "Progressing",
            "observedGeneration": 1,
            "replicas": 4,
            "readyReplicas": 4,
            "ready": "4/4",
            "stableModel": {
                "version": "v1",
                "storageUri": "file:///m/v1.joblib",
                "sha256": "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
            },
            "canaryModel": {
                "version": "v2",
                "storageUri": "file:///m/v2.joblib",
                "sha256": "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb",
            },
            "currentStep": 0,
            "canaryWeight": 25,
            "trafficRouting": "ReplicaRatio",
            "rolloutStartedAt": "2026-11-27T12:01:00Z",
            "lastProgressAt": "2026-11-27T12:01:00Z",
            "analysis": [],
            "lastAction": "Deployed v1",
            "history": [
                {
                    "version": "v1",
                    "storageUri": "file:///m/v1.joblib",
                    "outcome": "Promoted",
                    "reason": "InitialDeployment",
                    "message": "",
                    "startedAt": "2026-11-27T12:00:00Z",
                    "finishedAt": "2026-11-27T12:00:30Z",
                }
            ],
            "conditions": [
                {
                    "type": "Ready",
                    "status": "False",
                    "reason": "CanaryInProgress",
                    "message": "stable v1 serving; canary in analysis",
                    "lastTransitionTime": "2026-11-27T12:01:00Z",
                    "observedGeneration": 1,
                },
                {
                    "type": "Progressing",
                    "status": "True",
                    "reason": "CanaryProgressing",
                    "message": "step 0 of 2: 25% on v2",
                    "lastTransitionTime": "2026-11-27T12:01:00Z",
                    "observedGeneration": 1,
                },
                {
                    "type": "Degraded",
                    "status": "False",
                    "reason": "AnalysisHealthy",
                    "message": "",
                    "lastTransitionTime": "2026-11-27T12:00:00Z",
                    "observedGeneration": 1,
                },
                {
                    "type": "RolledBack",
                    "status": "False",
                    "reason": "NotRolledBack",
                    "message": "",
                    "lastTransitionTime": "2026-11-27T12:00:00Z",
                    "observedGeneration": 1,
                },
            ],
        },
    },
    {
        "events": [("Normal", "StepAdvanced", "step 1: 50% to v2")],
        "tracks": (
            ResolvedModel(
                storage_uri="file:///m/v1.joblib",
                version="v1",
                sha256="aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
            ),
            2,
            ResolvedModel(
                storage_uri="file:///m/v2.joblib",
                version="v2",
                sha256="bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb",
            ),
            2,
        ),
        "status": {
            "phase": "Progressing",
            "observedGeneration": 1,
            "replicas": 4,
            "readyReplicas": 4,
            "ready": "4/4",
            "stableModel": {
                "version": "v1",
                "storageUri": "file:///m/v1.joblib",
                "sha256": "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
            },
            "canaryModel": {
                "version": "v2",
                "storageUri": "file:///m/v2.joblib",
                "sha256": "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb",
            },
            "currentStep": 1,
            "canaryWeight": 50,
            "trafficRouting": "ReplicaRatio",
            "rolloutStartedAt": "2026-11-27T12:01:00Z",
            "lastProgressAt": "2026-11-27T12:02:30Z",
            "lastAnalysisAt": "2026-11-27T12:02:30Z",
            "analysis": [
                {
                    "name": "request-success-rate",
                    "value": 0.5,
                    "phase": "Successful",
                    "successes": 2,
                    "failures": 0,
                    "consecutiveErrors": 0,
                    "stepSuccesses": 0,
                    "dryRun": False,
                    "message": "",
                }
            ],
            "lastAction": "Deployed v1",
            "history": [
                {
                    "version": "v1",
                    "storageUri": "file:///m/v1.joblib",
                    "outcome": "Promoted",
                    "reason": "InitialDeployment",
                    "message": "",
                    "startedAt": "2026-11-27T12:00:00Z",
                    "finishedAt": "2026-11-27T12:00:30Z",
                }
            ],
            "conditions": [
                {
                    "type": "Ready",
                    "status": "False",
                    "reason": "CanaryInProgress",
                    "message": "stable v1 serving; canary in analysis",
                    "lastTransitionTime": "2026-11-27T12:02:30Z",
                    "observedGeneration": 1,
                },
                {
                    "type": "Progressing",
                    "status": "True",
                    "reason": "CanaryProgressing",
                    "message": "step 1 of 2: 50% on v2",
                    "lastTransitionTime": "2026-11-27T12:01:00Z",
                    "observedGeneration": 1,
                },
                {
                    "type": "Degraded",
                    "status": "False",
                    "reason": "AnalysisHealthy",
                    "message": "",
                    "lastTransitionTime": "2026-11-27T12:00:00Z",
                    "observedGeneration": 1,
                },
                {
                    "type": "RolledBack",
                    "status": "False",
                    "reason": "NotRolledBack",
                    "message": "",
                    "lastTransitionTime": "2026-11-27T12:00:00Z",
                    "observedGeneration": 1,
                },
            ],
        },
    },
    {
        "events": [("Normal", "Promoted", "v2 promoted to stable")],
        "tracks": (
            ResolvedModel(
                storage_uri="file:///m/v2.joblib",
                version="v2",
                sha256="bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb",
            ),
            4,
            None,
            0,
        ),
        "status": {
            "phase": "Progressing",
            "observedGeneration": 1,
            "replicas": 4,
            "readyReplicas": 4,
            "ready": "4/4",
            "stableModel": {
                "version": "v2",
                "storageUri": "file:///m/v2.joblib",
                "sha256": "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb",
            },
            "trafficRouting": "ReplicaRatio",
            "analysis": [
                {
                    "name": "request-success-rate",
                    "value": 0.5,
                    "phase": "Successful",
                    "successes": 5,
                    "failures": 0,
                    "consecutiveErrors": 0,
                    "stepSuccesses": 0,
                    "dryRun": False,
                    "message": "",
                }
            ],
            "lastAction": "Promoted v2",
            "history": [
                {
                    "version": "v2",
                    "storageUri": "file:///m/v2.joblib",
                    "outcome": "Promoted",
                    "reason": "AnalysisPassed",
                    "message": "v2 passed every step",
                    "startedAt": "2026-11-27T12:01:00Z",
                    "finishedAt": "2026-11-27T12:04:00Z",
                },
                {
                    "version": "v1",
                    "storageUri": "file:///m/v1.joblib",
                    "outcome": "Promoted",
                    "reason": "InitialDeployment",
                    "message": "",
                    "startedAt": "2026-11-27T12:00:00Z",
                    "finishedAt": "2026-11-27T12:00:30Z",
                },
            ],
            "conditions": [
                {
                    "type": "Ready",
                    "status": "False",
                    "reason": "ReplicasNotReady",
                    "message": "0/4 replicas ready",
                    "lastTransitionTime": "2026-11-27T12:04:00Z",
                    "observedGeneration": 1,
                },
                {
                    "type": "Progressing",
                    "status": "True",
                    "reason": "ReplicasUpdating",
                    "message": "0/4 replicas ready",
                    "lastTransitionTime": "2026-11-27T12:01:00Z",
                    "observedGeneration": 1,
                },
                {
                    "type": "Degraded",
                    "status": "False",
                    "reason": "Healthy",
                    "message": "",
                    "lastTransitionTime": "2026-11-27T12:00:00Z",
                    "observedGeneration": 1,
                },
                {
                    "type": "RolledBack",
                    "status": "False",
                    "reason": "NotRolledBack",
                    "message": "",
                    "lastTransitionTime": "2026-11-27T12:00:00Z",
                    "observedGeneration": 1,
                },
            ],
        },
    },
    {
        "events": [],
        "tracks": (
            ResolvedModel(
                storage_uri="file:///m/v2.joblib",
                version="v2",
                sha256="bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb",
            ),
            4,
            None,
            0,
        ),
        "status": {
            "phase": "Ready",
            "observedGeneration": 1,
            "replicas": 4,
            "readyReplicas": 4,
            "ready": "4/4",
            "stableModel": {
                "version": "v2",
                "storageUri": "file:///m/v2.joblib",
                "sha256": "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb",
            },
            "trafficRouting": "ReplicaRatio",
            "analysis": [
                {
                    "name": "request-success-rate",
                    "value": 0.5,
                    "phase": "Successful",
                    "successes": 5,
                    "failures": 0,
                    "consecutiveErrors": 0,
                    "stepSuccesses": 0,
                    "dryRun": False,
                    "message": "",
                }
            ],
            "lastAction": "Promoted v2",
            "history": [
                {
                    "version": "v2",
                    "storageUri": "file:///m/v2.joblib",
                    "outcome": "Promoted",
                    "reason": "AnalysisPassed",
                    "message": "v2 passed every step",
                    "startedAt": "2026-11-27T12:01:00Z",
                    "finishedAt": "2026-11-27T12:04:00Z",
                },
                {
                    "version": "v1",
                    "storageUri": "file:///m/v1.joblib",
                    "outcome": "Promoted",
                    "reason": "InitialDeployment",
                    "message": "",
                    "startedAt": "2026-11-27T12:00:00Z",
                    "finishedAt": "2026-11-27T12:00:30Z",
                },
            ],
            "conditions": [
                {
                    "type": "Ready",
                    "status": "True",
                    "reason": "Available",
                    "message": "4/4 replicas ready",
                    "lastTransitionTime": "2026-11-27T12:04:30Z",
                    "observedGeneration": 1,
                },
                {
                    "type": "Progressing",
                    "status": "False",
                    "reason": "RolloutComplete",
                    "message": "v2 is stable",
                    "lastTransitionTime": "2026-11-27T12:04:30Z",
                    "observedGeneration": 1,
                },
                {
                    "type": "Degraded",
                    "status": "False",
                    "reason": "Healthy",
                    "message": "",
                    "lastTransitionTime": "2026-11-27T12:00:00Z",
                    "observedGeneration": 1,
                },
                {
                    "type": "RolledBack",
                    "status": "False",
                    "reason": "NotRolledBack",
                    "message": "",
                    "lastTransitionTime": "2026-11-27T12:00:00Z",
                    "observedGeneration": 1,
                },
            ],
        },
    },
]


def test_promotion() -> None:
    """Promotion: every event, track and status field as spelled out below."""
    assert scenario_promotion() == PROMOTION


PROVIDER_ERRORS = [
    {
        "events": [],
        "tracks": (
            ResolvedModel(
                storage_uri="file:///m/v1.joblib",
                version="v1",
                sha256="aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
            ),
            3,
            ResolvedModel(
                storage_uri="file:///m/v2.joblib",
                version="v2",
                sha256="bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb",
            ),
            1,
        ),
        "status": {
            "phase": "Degraded",
            "observedGeneration": 1,
            "replicas": 4,
            "readyReplicas": 4,
            "ready": "4/4",
            "stableModel": {
                "version": "v1",
                "storageUri": "file:///m/v1.joblib",
                "sha256": "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
            },
            "canaryModel": {
                "version": "v2",
                "storageUri": "file:///m/v2.joblib",
                "sha256": "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb",
            },
            "currentStep": 0,
            "canaryWeight": 25,
            "trafficRouting": "ReplicaRatio",
            "rolloutStartedAt": "2026-11-27T12:01:00Z",
            "stepStartedAt": "2026-11-27T12:01:30Z",
            "lastProgressAt": "2026-11-27T12:01:30Z",
            "lastAnalysisAt": "2026-11-27T12:03:00Z",
            "analysis": [
                {
                    "name": "request-success-rate",
                    "value": 0.5,
                    "phase": "Error",
                    "successes": 0,
                    "failures": 0,
                    "consecutiveErrors": 3,
                    "stepSuccesses": 0,
                    "dryRun": False,
                    "message": "",
                }
            ],
            "lastAction": "Deployed v1",
            "history": [
                {
                    "version": "v1",
                    "storageUri": "file:///m/v1.joblib",
                    "outcome": "Promoted",
                    "reason": "InitialDeployment",
                    "message": "",
                    "startedAt": "2026-11-27T12:00:00Z",
                    "finishedAt": "2026-11-27T12:00:30Z",
                }
            ],
            "conditions": [
                {
                    "type": "Ready",
                    "status": "True",
                    "reason": "CanaryInProgress",
                    "message": "stable v1 serving; canary in analysis",
                    "lastTransitionTime": "2026-11-27T12:01:30Z",
                    "observedGeneration": 1,
                },
                {
                    "type": "Progressing",
                    "status": "True",
                    "reason": "CanaryProgressing",
                    "message": "step 0 of 2: 25% on v2",
                    "lastTransitionTime": "2026-11-27T12:01:00Z",
                    "observedGeneration": 1,
                },
                {
                    "type": "Degraded",
                    "status": "True",
                    "reason": "AnalysisError",
                    "message": "metrics provider failing, rollout held: request-success-rate: ",
                    "lastTransitionTime": "2026-11-27T12:03:00Z",
                    "observedGeneration": 1,
                },
                {
                    "type": "RolledBack",
                    "status": "False",
                    "reason": "NotRolledBack",
                    "message": "",
                    "lastTransitionTime": "2026-11-27T12:00:00Z",
                    "observedGeneration": 1,
                },
            ],
        },
    }
]


def test_provider_errors() -> None:
    """Provider errors: every event, track and status field as spelled out below."""
    assert scenario_provider_errors() == PROVIDER_ERRORS


ROLLBACK_IMPOSSIBLE = [
    {
        "events": [("Warning", "RollbackImpossible", "no earlier stable model to roll back to")],
        "tracks": (
            ResolvedModel(
                storage_uri="file:///m/v1.joblib",
                version="v1",
                sha256="aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
            ),
            4,
            None,
            0,
        ),
        "status": {
            "phase": "Ready",
            "observedGeneration": 1,
            "replicas": 4,
            "readyReplicas": 4,
            "ready": "4/4",
            "stableModel": {
                "version": "v1",
                "storageUri": "file:///m/v1.joblib",
                "sha256": "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
            },
            "trafficRouting": "ReplicaRatio",
            "rollbackRequest": "incident-9",
            "lastAction": "Deployed v1",
            "history": [
                {
                    "version": "v1",
                    "storageUri": "file:///m/v1.joblib",
                    "outcome": "Promoted",
                    "reason": "InitialDeployment",
                    "message": "",
                    "startedAt": "2026-11-27T12:00:00Z",
                    "finishedAt": "2026-11-27T12:00:30Z",
                }
            ],
            "conditions": [
                {
                    "type": "Ready",
                    "status": "True",
                    "reason": "Available",
                    "message": "4/4 replicas ready",
                    "lastTransitionTime": "2026-11-27T12:00:30Z",
                    "observedGeneration": 1,
                },
                {
                    "type": "Progressing",
                    "status": "False",
                    "reason": "RolloutComplete",
                    "message": "v1 is stable",
                    "lastTransitionTime": "2026-11-27T12:00:30Z",
                    "observedGeneration": 1,
                },
                {
                    "type": "Degraded",
                    "status": "False",
                    "reason": "Healthy",
                    "message": "",
                    "lastTransitionTime": "2026-11-27T12:00:00Z",
                    "observedGeneration": 1,
                },
                {
                    "type": "RolledBack",
                    "status": "False",
                    "reason": "NotRolledBack",
                    "message": "",
                    "lastTransitionTime": "2026-11-27T12:00:00Z",
                    "observedGeneration": 1,
                },
            ],
        },
    }
]


def test_rollback_impossible() -> None:
    """Rollback impossible: every event, track and status field as spelled out below."""
    assert scenario_rollback_impossible() == ROLLBACK_IMPOSSIBLE


ROLLBACK_OF_A_CANARY_ON_REQUEST = [
    {
        "events": [("Warning", "RollbackRequested", "canary v2 aborted on request: incident-7")],
        "tracks": (
            ResolvedModel(
                storage_uri="file:///m/v1.joblib",
                version="v1",
                sha256="aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
            ),
            4,
            None,
            0,
        ),
        "status": {
            "phase": "Progressing",
            "observedGeneration": 1,
            "replicas": 4,
            "readyReplicas": 4,
            "ready": "4/4",
            "stableModel": {
                "version": "v1",
                "storageUri": "file:///m/v1.joblib",
                "sha256": "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
            },
            "failedModel": {
                "version": "v2",
                "storageUri": "file:///m/v2.joblib",
                "sha256": "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb",
            },
            "trafficRouting": "ReplicaRatio",
            "rollbackRequest": "incident-7",
            "analysis": [],
            "lastAction": "RolledBack v2",
            "history": [
                {
                    "version": "v2",
                    "storageUri": "file:///m/v2.joblib",
                    "outcome": "RolledBack",
                    "reason": "RollbackRequested",
                    "message": "canary v2 aborted on request: incident-7",
                    "startedAt": "2026-11-27T12:01:00Z",
                    "finishedAt": "2026-11-27T12:01:30Z",
                },
                {
                    "version": "v1",
                    "storageUri": "file:///m/v1.joblib",
                    "outcome": "Promoted",
                    "reason": "InitialDeployment",
                    "message": "",
                    "startedAt": "2026-11-27T12:00:00Z",
                    "finishedAt": "2026-11-27T12:00:30Z",
                },
            ],
            "conditions": [
                {
                    "type": "Ready",
                    "status": "False",
                    "reason": "ReplicasNotReady",
                    "message": "3/4 replicas ready",
                    "lastTransitionTime": "2026-11-27T12:01:00Z",
                    "observedGeneration": 1,
                },
                {
                    "type": "Progressing",
                    "status": "True",
                    "reason": "ReplicasUpdating",
                    "message": "3/4 replicas ready",
                    "lastTransitionTime": "2026-11-27T12:01:00Z",
                    "observedGeneration": 1,
                },
                {
                    "type": "Degraded",
                    "status": "False",
                    "reason": "Healthy",
                    "message": "",
                    "lastTransitionTime": "2026-11-27T12:00:00Z",
                    "observedGeneration": 1,
                },
                {
                    "type": "RolledBack",
                    "status": "True",
                    "reason": "RolledBack",
                    "message": "v2 was rolled back; set a new model in the spec to roll out again",
                    "lastTransitionTime": "2026-11-27T12:01:30Z",
                    "observedGeneration": 1,
                },
            ],
        },
    }
]


def test_rollback_of_a_canary_on_request() -> None:
    """Rollback of a canary on request: every event, track and status field as spelled out below."""
    assert scenario_rollback_of_a_canary_on_request() == ROLLBACK_OF_A_CANARY_ON_REQUEST


ROLLBACK_OF_STABLE_ON_REQUEST = [
    {
        "events": [("Normal", "RollingUpdate", "rolling update to v2")],
        "tracks": (
            ResolvedModel(
                storage_uri="file:///m/v2.joblib",
                version="v2",
                sha256="bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb",
            ),
            4,
            None,
            0,
        ),
        "status": {
            "phase": "Progressing",
            "observedGeneration": 1,
            "replicas": 4,
            "readyReplicas": 4,
            "ready": "4/4",
            "stableModel": {
                "version": "v2",
                "storageUri": "file:///m/v2.joblib",
                "sha256": "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb",
            },
            "trafficRouting": "ReplicaRatio",
            "rolloutStartedAt": "2026-11-27T12:01:00Z",
            "lastAction": "RollingUpdate to v2",
            "history": [
                {
                    "version": "v1",
                    "storageUri": "file:///m/v1.joblib",
                    "outcome": "Promoted",
                    "reason": "InitialDeployment",
                    "message": "",
                    "startedAt": "2026-11-27T12:00:00Z",
                    "finishedAt": "2026-11-27T12:00:30Z",
                }
            ],
            "conditions": [
                {
                    "type": "Ready",
                    "status": "False",
                    "reason": "ReplicasNotReady",
                    "message": "0/4 replicas ready",
                    "lastTransitionTime": "2026-11-27T12:01:00Z",
                    "observedGeneration": 1,
                },
                {
                    "type": "Progressing",
                    "status": "True",
                    "reason": "ReplicasUpdating",
                    "message": "0/4 replicas ready",
                    "lastTransitionTime": "2026-11-27T12:01:00Z",
                    "observedGeneration": 1,
                },
                {
                    "type": "Degraded",
                    "status": "False",
                    "reason": "Healthy",
                    "message": "",
                    "lastTransitionTime": "2026-11-27T12:00:00Z",
                    "observedGeneration": 1,
                },
                {
                    "type": "RolledBack",
                    "status": "False",
                    "reason": "NotRolledBack",
                    "message": "",
                    "lastTransitionTime": "2026-11-27T12:00:00Z",
                    "observedGeneration": 1,
                },
            ],
        },
    },
    {
        "events": [("Warning", "RollbackRequested", "rolled back to v1")],
        "tracks": (ResolvedModel(storage_uri="file:///m/v1.joblib", version="v1", sha256=None), 4, None, 0),
        "status": {
            "phase": "Progressing",
            "observedGeneration": 1,
            "replicas": 4,
            "readyReplicas": 4,
            "ready": "4/4",
            "stableModel": {"version": "v1", "storageUri": "file:///m/v1.joblib"},
            "failedModel": {
                "version": "v2",
                "storageUri": "file:///m/v2.joblib",
                "sha256": "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb",
            },
            "trafficRouting": "ReplicaRatio",
            "rollbackRequest": "incident-8",
            "lastAction": "RolledBack to v1",
            "history": [
                {
                    "version": "v2",
                    "storageUri": "file:///m/v2.joblib",
                    "outcome": "RolledBack",
                    "reason": "RollbackRequested",
                    "message": "stable v2 replaced by v1 on request",
                    "startedAt": "2026-11-27T12:02:00Z",
                    "finishedAt": "2026-11-27T12:02:00Z",
                },
                {
                    "version": "v2",
                    "storageUri": "file:///m/v2.joblib",
                    "outcome": "Promoted",
                    "reason": "RollingUpdate",
                    "message": "v2 rolled out without analysis",
                    "startedAt": "2026-11-27T12:01:00Z",
                    "finishedAt": "2026-11-27T12:01:30Z",
                },
                {
                    "version": "v1",
                    "storageUri": "file:///m/v1.joblib",
                    "outcome": "Promoted",
                    "reason": "InitialDeployment",
                    "message": "",
                    "startedAt": "2026-11-27T12:00:00Z",
                    "finishedAt": "2026-11-27T12:00:30Z",
                },
            ],
            "conditions": [
                {
                    "type": "Ready",
                    "status": "False",
                    "reason": "ReplicasNotReady",
                    "message": "0/4 replicas ready",
                    "lastTransitionTime": "2026-11-27T12:02:00Z",
                    "observedGeneration": 1,
                },
                {
                    "type": "Progressing",
                    "status": "True",
                    "reason": "ReplicasUpdating",
                    "message": "0/4 replicas ready",
                    "lastTransitionTime": "2026-11-27T12:02:00Z",
                    "observedGeneration": 1,
                },
                {
                    "type": "Degraded",
                    "status": "False",
                    "reason": "Healthy",
                    "message": "",
                    "lastTransitionTime": "2026-11-27T12:00:00Z",
                    "observedGeneration": 1,
                },
                {
                    "type": "RolledBack",
                    "status": "True",
                    "reason": "RolledBack",
                    "message": "v2 was rolled back; set a new model in the spec to roll out again",
                    "lastTransitionTime": "2026-11-27T12:02:00Z",
                    "observedGeneration": 1,
                },
            ],
        },
    },
    {
        "events": [],
        "tracks": (ResolvedModel(storage_uri="file:///m/v1.joblib", version="v1", sha256=None), 4, None, 0),
        "status": {
            "phase": "RolledBack",
            "observedGeneration": 1,
            "replicas": 4,
            "readyReplicas": 4,
            "ready": "4/4",
            "stableModel": {"version": "v1", "storageUri": "file:///m/v1.joblib"},
            "failedModel": {
                "version": "v2",
                "storageUri": "file:///m/v2.joblib",
                "sha256": "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb",
            },
            "trafficRouting": "ReplicaRatio",
            "rollbackRequest": "incident-8",
            "lastAction": "RolledBack to v1",
            "history": [
                {
                    "version": "v2",
                    "storageUri": "file:///m/v2.joblib",
                    "outcome": "RolledBack",
                    "reason": "RollbackRequested",
                    "message": "stable v2 replaced by v1 on request",
                    "startedAt": "2026-11-27T12:02:00Z",
                    "finishedAt": "2026-11-27T12:02:00Z",
                },
                {
                    "version": "v2",
                    "storageUri": "file:///m/v2.joblib",
                    "outcome": "Promoted",
                    "reason": "RollingUpdate",
                    "message": "v2 rolled out without analysis",
                    "startedAt": "2026-11-27T12:01:00Z",
                    "finishedAt": "2026-11-27T12:01:30Z",
                },
                {
                    "version": "v1",
                    "storageUri": "file:///m/v1.joblib",
                    "outcome": "Promoted",
                    "reason": "InitialDeployment",
                    "message": "",
                    "startedAt": "2026-11-27T12:00:00Z",
                    "finishedAt": "2026-11-27T12:00:30Z",
                },
            ],
            "conditions": [
                {
                    "type": "Ready",
                    "status": "True",
                    "reason": "RolledBack",
                    "message": "4/4 replicas ready",
                    "lastTransitionTime": "2026-11-27T12:02:30Z",
                    "observedGeneration": 1,
                },
                {
                    "type": "Progressing",
                    "status": "False",
                    "reason": "RolloutComplete",
                    "message": "v1 is stable",
                    "lastTransitionTime": "2026-11-27T12:02:30Z",
                    "observedGeneration": 1,
                },
                {
                    "type": "Degraded",
                    "status": "False",
                    "reason": "Healthy",
                    "message": "",
                    "lastTransitionTime": "2026-11-27T12:00:00Z",
                    "observedGeneration": 1,
                },
                {
                    "type": "RolledBack",
                    "status": "True",
                    "reason": "RolledBack",
                    "message": "v2 was rolled back; set a new model in the spec to roll out again",
                    "lastTransitionTime": "2026-11-27T12:02:00Z",
                    "observedGeneration": 1,
                },
            ],
        },
    },
]


def test_rollback_of_stable_on_request() -> None:
    """Rollback of stable on request: every event, track and status field as spelled out below."""
    assert scenario_rollback_of_stable_on_request() == ROLLBACK_OF_STABLE_ON_REQUEST


SPEC_CHANGED_DURING_CANARY = [
    {
        "events": [("Normal", "CanaryAborted", "the spec changed during the rollout")],
        "tracks": (
            ResolvedModel(
                storage_uri="file:///m/v1.joblib",
                version="v1",
                sha256="aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
            ),
            4,
            None,
            0,
        ),
        "status": {
            "phase": "Progressing",
            "observedGeneration": 1,
            "replicas": 4,
            "readyReplicas": 4,
            "ready": "4/4",
            "stableModel": {
                "version": "v1",
                "storageUri": "file:///m/v1.joblib",
                "sha256": "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
            },
            "trafficRouting": "ReplicaRatio",
            "analysis": [],
            "lastAction": "Deployed v1",
            "history": [
                {
                    "version": "v2",
                    "storageUri": "file:///m/v2.joblib",
                    "outcome": "Aborted",
                    "reason": "SpecChanged",
                    "message": "the spec no longer names the canary's model",
                    "startedAt": "2026-11-27T12:01:00Z",
                    "finishedAt": "2026-11-27T12:01:30Z",
                },
                {
                    "version": "v1",
                    "storageUri": "file:///m/v1.joblib",
                    "outcome": "Promoted",
                    "reason": "InitialDeployment",
                    "message": "",
                    "startedAt": "2026-11-27T12:00:00Z",
                    "finishedAt": "2026-11-27T12:00:30Z",
                },
            ],
            "conditions": [
                {
                    "type": "Ready",
                    "status": "False",
                    "reason": "ReplicasNotReady",
                    "message": "3/4 replicas ready",
                    "lastTransitionTime": "2026-11-27T12:01:00Z",
                    "observedGeneration": 1,
                },
                {
                    "type": "Progressing",
                    "status": "True",
                    "reason": "ReplicasUpdating",
                    "message": "3/4 replicas ready",
                    "lastTransitionTime": "2026-11-27T12:01:00Z",
                    "observedGeneration": 1,
                },
                {
                    "type": "Degraded",
                    "status": "False",
                    "reason": "Healthy",
                    "message": "",
                    "lastTransitionTime": "2026-11-27T12:00:00Z",
                    "observedGeneration": 1,
                },
                {
                    "type": "RolledBack",
                    "status": "False",
                    "reason": "NotRolledBack",
                    "message": "",
                    "lastTransitionTime": "2026-11-27T12:00:00Z",
                    "observedGeneration": 1,
                },
            ],
        },
    }
]


def test_spec_changed_during_canary() -> None:
    """Spec changed during canary: every event, track and status field as spelled out below."""
    assert scenario_spec_changed_during_canary() == SPEC_CHANGED_DURING_CANARY


def test_the_previous_status_is_never_changed() -> None:
    """plan_rollout works on a deep copy: the status it was given (kopf's stored copy) stays as it was."""
    cluster = deployed()
    cluster.tick(V2)
    previous = cluster.status
    assert previous is not None
    before = previous.model_dump()
    cluster.tick(V2)
    cluster.tick(V2, "Successful")
    assert previous.model_dump() == before


TWO_METRICS = {
    "interval": "30s",
    "failureLimit": 0,
    "consecutiveErrorLimit": 0,
    "metrics": [
        {"name": "request-success-rate", "thresholdRange": {"min": 0.99}},
        {"name": "request-duration", "thresholdRange": {"max": 0.5}},
    ],
}
THREE_STEPS = {
    "canary": {"steps": [{"weight": 25, "pause": "1m"}, {"weight": 50, "pause": "5m"}, {"weight": 75, "pause": "1m"}]}
}


def drive(cluster: Cluster, outcomes: list[MetricOutcome] | None, desired: ResolvedModel = V2) -> Plan:
    """One tick with explicit metric outcomes (Cluster.tick knows only one metric)."""
    plan = plan_rollout(cluster.spec, cluster.status, desired, cluster.observed, cluster.now, 1, outcomes)
    cluster.status = plan.status
    cluster.plans.append(plan)
    cluster.observed = Observed(plan.stable_replicas, plan.canary_replicas, plan.stable_replicas, plan.canary_replicas)
    cluster.now += timedelta(seconds=30)
    return plan


def both(outcome: str, message: str = "") -> list[MetricOutcome]:
    return [
        MetricOutcome("request-success-rate", outcome, 0.5, message),
        MetricOutcome("request-duration", outcome, 0.7, message),
    ]


def scenario_waiting_for_model() -> list[dict[str, Any]]:
    return [snapshot(Cluster(make_spec()).tick(None))]


def test_a_metric_record_takes_the_latest_phase_value_and_message() -> None:
    """A metric that passed and then failed shows Failed, the new value and the new message."""
    cluster = deployed(make_spec(analysis={**TWO_METRICS, "failureLimit": 3}))
    drive(cluster, None)
    drive(cluster, None)
    drive(cluster, both("Successful", "fine"))
    plan = drive(cluster, [MetricOutcome("request-success-rate", "Failed", 0.42, "0.42 below 0.99")])
    record = next(r for r in plan.status.analysis or [] if r.name == "request-success-rate")
    assert (record.phase, record.value, record.message) == ("Failed", 0.42, "0.42 below 0.99")
    assert (record.successes, record.failures) == (1, 1)


def test_passes_within_a_step_are_counted_one_by_one() -> None:
    """Three passes in a step's 5m pause count three step successes."""
    long_pause = {"canary": {"steps": [{"weight": 25, "pause": "5m"}, {"weight": 50, "pause": "1m"}]}}
    cluster = deployed(make_spec(rollout=long_pause, analysis=TWO_METRICS))
    drive(cluster, None)
    drive(cluster, None)
    for _ in range(3):
        plan = drive(cluster, both("Successful"))
    assert [r.step_successes for r in plan.status.analysis or []] == [3, 3]


def test_each_step_waits_for_its_own_pause_and_counts_up() -> None:
    """Three steps: step 1's 5m pause holds the canary although step 0 needed only 1m; then step 2 follows."""
    cluster = deployed(make_spec(rollout=THREE_STEPS, analysis=TWO_METRICS))
    drive(cluster, None)
    drive(cluster, None)
    steps = []
    for _ in range(20):
        plan = drive(cluster, both("Successful"))
        steps.append(plan.status.current_step)
    # 30 s ticks: step 0 (1m) advances a minute after its start, step 1 (5m) holds eleven ticks (its
    # pause starts once its pods are ready), step 2 (1m) three, then promotion.
    assert steps == [0] + [1] * 11 + [2] * 3 + [None] * 5
    assert plan.status.stable_model is not None and plan.status.stable_model.version == "v2"


def test_a_spec_with_fewer_steps_mid_rollout_still_plans() -> None:
    """Removing steps during a canary does not crash: the canary uses the last remaining step."""
    cluster = deployed(make_spec(rollout=THREE_STEPS))
    cluster.tick(V2)
    cluster.tick(V2)
    assert cluster.status is not None
    cluster.status = cluster.status.model_copy(update={"current_step": 2})
    cluster.spec = make_spec()  # two steps: 25% and 50%
    plan = cluster.tick(V2)
    assert plan.status.canary_weight == 50 and plan.canary_replicas == 2


def test_a_new_model_during_a_canary_replaces_the_canary() -> None:
    """v3 named while v2 is in its canary: v2 is aborted and v3's canary starts at once."""
    cluster = deployed()
    cluster.tick(V2)
    plan = cluster.tick(V3)
    assert [(e.reason, e.message) for e in plan.events] == [
        ("CanaryAborted", "the spec changed during the rollout"),
        ("CanaryStarted", "canary v3 next to v1"),
    ]
    assert plan.status.canary_model is not None and plan.status.canary_model.version == "v3"


def test_held_without_inconclusive_metrics_is_still_progressing() -> None:
    """After the pause with no pass yet and no Inconclusive metric, the step is simply progressing."""
    cluster = deployed()
    cluster.tick(V2)
    for _ in range(4):
        cluster.tick(V2)
    assert cluster.condition("Progressing") == ("True", "CanaryProgressing")


def test_several_metrics_are_listed_in_holds_failures_and_errors() -> None:
    """Inconclusive, failing and erroring metrics are each listed by name, separated as written."""
    cluster = deployed(make_spec(analysis={**TWO_METRICS, "failureLimit": 5}))
    drive(cluster, None)
    drive(cluster, None)
    drive(cluster, both("Inconclusive"))
    drive(cluster, both("Inconclusive"))
    drive(cluster, both("Inconclusive"))
    assert cluster.condition("Progressing") == ("True", "AnalysisInconclusive")
    held = next(c for c in cluster.status.conditions or [] if c.type == "Progressing")  # type: ignore[union-attr]
    assert (
        held.message
        == "step held: inconclusive request-success-rate, request-duration (no data or too few samples: see status.analysis)"
    )

    cluster = deployed(make_spec(analysis=TWO_METRICS))
    drive(cluster, None)
    drive(cluster, None)
    plan = drive(cluster, both("Error", "timeout"))
    degraded = next(c for c in plan.status.conditions or [] if c.type == "Degraded")
    assert (
        degraded.message
        == "metrics provider failing, rollout held: request-success-rate: timeout; request-duration: timeout"
    )

    cluster = deployed(make_spec(analysis=TWO_METRICS))
    drive(cluster, None)
    drive(cluster, None)
    plan = drive(cluster, both("Failed", "bad"))
    assert [e.message for e in plan.events] == [
        "canary v2 failed analysis (request-success-rate: bad; request-duration: bad)"
    ]


def test_a_reference_without_a_version_resolves_to_nothing() -> None:
    """A status reference missing its version (or URI) names no model that could be served."""
    assert _resolved(ModelRef(storage_uri="file:///m/v1.joblib", version=None)) is None
    assert _resolved(ModelRef(storage_uri=None, version="v1")) is None


def test_the_previous_status_is_untouched_across_a_step_advance() -> None:
    """Advancing a step resets per-step counters on a copy, never on the status passed in."""
    cluster = deployed()
    cluster.tick(V2)
    cluster.tick(V2)
    cluster.tick(V2, "Successful")
    previous = cluster.status
    assert previous is not None
    before = previous.model_dump()
    plan = cluster.tick(V2)  # no analysis this tick: the step advances on the earlier pass alone
    assert plan.status.current_step == 1
    assert previous.model_dump() == before


WAITING_FOR_MODEL = [
    {
        "events": [],
        "tracks": (None, 0, None, 0),
        "status": {
            "phase": "Pending",
            "observedGeneration": 1,
            "trafficRouting": "ReplicaRatio",
            "conditions": [
                {
                    "type": "Ready",
                    "status": "False",
                    "reason": "WaitingForModel",
                    "message": "no model yet: the RetrainPolicy has not promoted one",
                    "lastTransitionTime": "2026-11-27T12:00:00Z",
                    "observedGeneration": 1,
                },
                {
                    "type": "Progressing",
                    "status": "False",
                    "reason": "WaitingForModel",
                    "message": "nothing to roll out",
                    "lastTransitionTime": "2026-11-27T12:00:00Z",
                    "observedGeneration": 1,
                },
            ],
        },
    }
]


def test_waiting_for_model() -> None:
    """Waiting for model: both conditions False with their reasons, times and generation, no tracks."""
    assert scenario_waiting_for_model() == WAITING_FOR_MODEL

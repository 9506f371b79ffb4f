"""Objects as the API server returns them, with the status the operator writes."""

from __future__ import annotations

from typing import Any

NS = "shop"


def meta(name: str, namespace: str = NS, **extra: Any) -> dict[str, Any]:
    return {"name": name, "namespace": namespace, **extra}


def model_deployment(name: str = "fraud", **status: Any) -> dict[str, Any]:
    return {
        "apiVersion": "mlaiops.dev/v1alpha1",
        "kind": "ModelDeployment",
        "metadata": meta(name),
        "spec": {
            "model": {"source": {"retrainPolicyRef": {"name": "fraud-retrain"}}},
            "rollout": {"strategy": "Canary", "canary": {"steps": [{"weight": 25}, {"weight": 50}]}},
        },
        "status": {
            "phase": "Progressing",
            "ready": "3/3",
            "stableModel": {"version": "v1"},
            "canaryModel": {"version": "v2"},
            "canaryWeight": 25,
            "currentStep": 0,
            "lastAction": "CanaryStarted v2",
            "analysis": [
                {"name": "request-duration", "phase": "Failed", "value": 0.2, "successes": 1, "failures": 1},
                {"name": "request-success-rate", "phase": "Successful", "value": 1.0, "successes": 2},
            ],
            "history": [
                {
                    "version": "v1",
                    "outcome": "Promoted",
                    "reason": "AnalysisPassed",
                    "message": "all steps passed",
                    "finishedAt": "2026-11-27T08:00:00Z",
                }
            ],
            "conditions": [{"type": "Ready", "status": "True", "reason": "Serving", "message": ""}],
            **status,
        },
    }


def anomaly_rule(name: str, target: str | None = "fraud", state: str = "Firing", **labels: str) -> dict[str, Any]:
    return {
        "apiVersion": "mlaiops.dev/v1alpha1",
        "kind": "AnomalyRule",
        "metadata": meta(name, labels=labels),
        "spec": {"query": "latency", **({"target": {"name": target}} if target else {})},
        "status": {
            "state": state,
            "firingSeries": 1 if state == "Firing" else 0,
            "evaluations": 40,
            "firings": 2,
            "lastEvaluation": "2026-11-27T08:09:50Z",
            "series": [
                {
                    "labels": {"pod": "fraud-stable-1"},
                    "state": state,
                    "value": 0.9,
                    "expected": 0.1,
                    "score": 3.5,
                    "since": "2026-11-27T08:09:00Z",
                }
            ],
        },
    }


def playbook(name: str, triggers: list[dict[str, Any]], executions: list[dict[str, Any]] | None = None) -> dict:
    return {
        "apiVersion": "mlaiops.dev/v1alpha1",
        "kind": "RemediationPlaybook",
        "metadata": meta(name),
        "spec": {"triggers": triggers, "actions": [{"type": "restart"}]},
        "status": {
            "state": "AwaitingApproval" if executions else "Idle",
            "totalExecutions": len(executions or []),
            "verifiedExecutions": 0,
            "executions": executions or [],
        },
    }


def execution(ident: str, state: str = "Succeeded", incident: str | None = None) -> dict[str, Any]:
    return {
        "id": ident,
        "trigger": "AnomalyRule/latency-high",
        "target": "ModelDeployment/fraud",
        "state": state,
        **({"incident": incident} if incident else {}),
        "startedAt": "2026-11-27T08:09:10Z",
        "finishedAt": "2026-11-27T08:10:00Z",
        "steps": [
            {
                "action": "restart-0",
                "target": "ModelDeployment/fraud",
                "startedAt": "2026-11-27T08:09:11Z",
                "finishedAt": "2026-11-27T08:09:20Z",
                "result": "Succeeded",
                "verified": True,
            }
        ],
    }


def retrain_policy(name: str = "fraud-retrain", runs: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {
        "apiVersion": "mlaiops.dev/v1alpha1",
        "kind": "RetrainPolicy",
        "metadata": meta(name),
        "spec": {},
        "status": {
            "phase": "Idle",
            "promoted": {"version": "r20261127-080000"},
            "runs": runs
            if runs is not None
            else [
                {
                    "id": "r20261127-080000",
                    "trigger": "manual",
                    "phase": "Promoted",
                    "decision": "Promoted: roc_auc 0.93",
                    "startedAt": "2026-11-27T08:00:00Z",
                }
            ],
        },
    }

"""`kubectl mlaiops status`: a ModelDeployment's topology neighbours (the graph incidents join on) and the loop's
numbers (rollouts by outcome, change failure rate, incidents), from the objects the user can list."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from mlaiops.plugin.tree import overview, render
from tests.unit.plugin.fixtures import anomaly_rule, model_deployment, retrain_policy

NOW = datetime(2026, 11, 27, 8, 10, tzinfo=UTC)
NS = "shop"


def child(kind: str, name: str, **extra: Any) -> dict[str, Any]:
    meta = {"name": name, "namespace": NS, "ownerReferences": [{"kind": "ModelDeployment", "name": "fraud"}]}
    return {"kind": kind, "metadata": {**meta, **extra.pop("meta", {})}, **extra}


def workloads() -> list[dict[str, Any]]:
    stable = {"mlaiops.dev/model-deployment": "fraud", "mlaiops.dev/track": "stable"}
    return [
        child("Deployment", "fraud-stable", spec={"selector": {"matchLabels": stable}}),
        child("Service", "fraud", spec={"selector": {"mlaiops.dev/model-deployment": "fraud"}}),
        {"kind": "Pod", "metadata": {"name": "fraud-stable-x", "namespace": NS, "labels": stable}},
        {"kind": "Deployment", "metadata": {"name": "unrelated", "namespace": NS}, "spec": {}},
    ]


def test_status_lists_the_neighbours_within_two_hops_with_their_paths() -> None:
    md = model_deployment()
    md["metadata"]["namespace"] = NS
    rule = anomaly_rule("latency-high")
    rule["metadata"]["namespace"] = NS
    policy = retrain_policy()
    policy["metadata"]["namespace"] = NS
    view = overview([md], [rule], [], [policy], [], workloads())
    found = {n["object"]: (n["hops"], n["path"]) for n in view.deployments[0]["topology"]}
    assert found["Deployment/fraud-stable"] == (1, "-owns-> Deployment/fraud-stable")
    assert found["Pod/fraud-stable-x"] == (2, "-owns-> Deployment/fraud-stable -selects-> Pod/fraud-stable-x")
    assert found["AnomalyRule/latency-high"][0] == 1 and found["RetrainPolicy/fraud-retrain"][0] == 1
    assert "Deployment/unrelated" not in found
    text = render(view, now=NOW)
    assert "├── Topology" in text and "Pod/fraud-stable-x  (2 hops: -owns-> Deployment/fraud-stable" in text


def test_without_workloads_no_topology_is_shown() -> None:
    view = overview([model_deployment()], [], [], [])
    assert view.deployments[0]["topology"] == [] and "Topology" not in render(view, now=NOW)


def test_loop_numbers_count_rollouts_the_change_failure_rate_and_incidents() -> None:
    history = [
        {"version": "v3", "outcome": "RolledBack"},
        {"version": "v2", "outcome": "Promoted"},
        {"version": "v1", "outcome": "Promoted"},
        {"version": "v0", "outcome": "Aborted"},
    ]
    md = model_deployment(history=history)
    ns = md["metadata"]["namespace"]
    incidents = [
        {
            "metadata": {"name": "a", "namespace": ns},
            "spec": {"target": "ModelDeployment/fraud"},
            "status": {"phase": "Open"},
        },
        {
            "metadata": {"name": "b", "namespace": ns},
            "spec": {"target": "Deployment/fraud-canary"},
            "status": {"phase": "Resolved", "objects": ["Deployment/fraud-canary", "ModelDeployment/fraud"]},
        },
        {"metadata": {"name": "c", "namespace": ns}, "spec": {"target": "ModelDeployment/other"}, "status": {}},
    ]
    view = overview([md], [], [], [], incidents)
    assert view.deployments[0]["loop"] == {
        "rollouts": 4,
        "promoted": 2,
        "rolledBack": 1,
        "changeFailureRate": 0.25,
        "incidentsOpen": 1,
        "incidents": 2,
    }
    assert (
        "Loop:      4 rollouts (2 promoted, 1 rolled back; change failure rate 25%), 1 open of 2 incidents"
        in render(view, now=NOW)
    )


def test_incidents_describe_shows_how_members_joined_and_the_notifications() -> None:
    from mlaiops.plugin.incidents import describe, from_objects

    incident = {
        "metadata": {"name": "fraud-1", "namespace": NS},
        "spec": {"target": "ModelDeployment/fraud", "playbook": "fix"},
        "status": {
            "phase": "Open",
            "objects": ["Deployment/fraud-stable", "ModelDeployment/fraud"],
            "anomalies": [
                {"rule": "shop/latency", "fingerprint": "a", "since": "2026-11-27T08:00:00Z"},
                {
                    "rule": "ModelSlow",
                    "fingerprint": "b",
                    "since": "2026-11-27T08:01:00Z",
                    "path": ["ModelDeployment/fraud", "-owns-> Deployment/fraud-stable"],
                    "flaps": 2,
                },
            ],
            "notifications": [{"event": "Opened", "result": "Succeeded", "at": "2026-11-27T08:00:05Z"}],
        },
    }
    [row] = from_objects([incident])
    text = describe(row, [])
    assert "Objects:    Deployment/fraud-stable, ModelDeployment/fraud" in text
    assert "  ModelSlow: ModelDeployment/fraud -owns-> Deployment/fraud-stable  (fired again 2x)" in text
    assert "shop/latency:" not in text  # it opened the incident: nothing joined it
    assert "Notified:   Opened Succeeded at 2026-11-27T08:00:05Z" in text

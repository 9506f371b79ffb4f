"""Probable causes across the objects an incident joined: time proximity, topology distance, the first symptom."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from mlaiops.api.incident import Change, IncidentAnomaly
from mlaiops.api.remediationplaybook import ExecutionRecord, StepRecord
from mlaiops.remediation.causes import observed_changes, rank, relevant
from mlaiops.remediation.topology import build
from tests.unit.remediation.topology_world import NS, world

T0 = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def anomaly(rule: str, minutes: float) -> IncidentAnomaly:
    return IncidentAnomaly(rule=rule, fingerprint=rule, since=T0 + timedelta(minutes=minutes), labels={"pod": "a"})


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def test_recent_changes_before_the_first_anomaly_rank_first() -> None:
    anomalies = [anomaly("ns/errors", 2), anomaly("ns/latency", 0)]
    changes = [
        Change(kind="Retrain", what="run r1", at=at(-30)),
        Change(kind="Rollout", what="rollout of v8", at=at(-3)),
        Change(kind="Rollout", what="rollout of v7", at=at(-180)),  # too old
        Change(kind="Remediation", what="scale-out", at=at(1)),  # after: an effect
    ]
    causes = rank(anomalies, changes)
    assert [c.cause for c in causes] == [
        "Rollout: rollout of v8",
        "Anomaly: ns/latency (pod=a)",
        "Retrain: run r1",
        "Anomaly: ns/errors (pod=a)",
    ]
    assert [c.rank for c in causes] == [1, 2, 3, 4]
    assert [c.score for c in causes] == [round(1 / 1.3, 4), 0.4, 0.2, round(0.4 / 3, 4)]
    assert causes[1].why.startswith("the earliest anomaly")
    assert "3m before the first anomaly" in causes[0].why and "after the first anomaly" in causes[3].why


def test_the_first_anomaly_outranks_a_change_long_before_it() -> None:
    causes = rank([anomaly("ns/latency", 0)], [Change(kind="Rollout", what="v1", at=at(-30))])
    assert [c.cause for c in causes] == ["Anomaly: ns/latency (pod=a)", "Rollout: v1"]


def test_distance_in_the_topology_lowers_a_change() -> None:
    near = Change(kind="Config", what="near", at=at(-1), object="Deployment/a", distance=0)
    far = Change(kind="Config", what="far", at=at(-1), object="Deployment/b", distance=3)
    causes = [c for c in rank([anomaly("ns/x", 0)], [far, near]) if c.cause.startswith("Config")]
    assert [c.cause for c in causes] == ["Config: near", "Config: far"]
    assert abs(causes[0].score - 2.5 * causes[1].score) < 1e-3  # 1 / (1 + hops / 2)
    assert "on Deployment/b" in causes[1].why and "3 hop(s)" in causes[1].why


def test_a_change_just_before_outranks_the_symptom() -> None:
    causes = rank([anomaly("ns/latency", 0)], [Change(kind="Rollout", what="v9", at=T0 - timedelta(seconds=20))])
    assert causes[0].cause == "Rollout: v9" and causes[0].score > causes[1].score
    assert rank([], []) == []


def md_with_history() -> dict:
    md = next(o for o in world() if o["kind"] == "ModelDeployment")
    md["status"] = {
        "history": [
            {"version": "v2", "outcome": "Promoted", "reason": "AnalysisPassed", "startedAt": "2026-11-27T11:57:00Z"}
        ],
        "canaryModel": {"version": "v3"},
        "rolloutStartedAt": "2026-11-27T11:59:30Z",
    }
    return md


def test_changes_are_read_from_rollouts_retrains_deployments_and_scale_events() -> None:
    policy = {
        "kind": "RetrainPolicy",
        "metadata": {"name": "nightly", "namespace": NS},
        "status": {
            "runs": [{"id": "r1", "phase": "Promoted", "startedAt": "2026-11-27T11:30:00Z"}],
            "promoted": {"version": "r1", "promotedAt": "2026-11-27T11:45:00Z"},
        },
    }
    step = StepRecord(action="scale-out", result="Succeeded", started_at=at(1), message="replicas 2")
    execution = ExecutionRecord(id="e", target="ModelDeployment/fraud", state="Running", steps=[step])
    objects = [md_with_history(), policy, *[o for o in world() if o["kind"] != "ModelDeployment"]]
    found = {
        (node[1], node[2], change.kind, change.what) for node, change in observed_changes(objects, [execution], NS)
    }
    assert found == {
        ("ModelDeployment", "fraud", "Rollout", "rollout of v2 on ModelDeployment/fraud (Promoted: AnalysisPassed)"),
        ("ModelDeployment", "fraud", "Rollout", "rollout of v3 on ModelDeployment/fraud (in progress)"),
        ("RetrainPolicy", "nightly", "Retrain", "RetrainPolicy nightly run r1 (Promoted)"),
        ("RetrainPolicy", "nightly", "Retrain", "RetrainPolicy nightly promoted r1"),
        ("Deployment", "billing", "Config", "Deployment/billing template changed (revision 4; image billing:2)"),
        ("HorizontalPodAutoscaler", "fraud", "Scale", "HorizontalPodAutoscaler/fraud scaled to 3 replicas"),
        ("ModelDeployment", "fraud", "Remediation", "scale-out: replicas 2"),
    }  # our own Deployments (managed by mlaiops) are the rollouts, not listed twice


def test_a_bad_rollout_outranks_an_unrelated_deployment_change_at_the_same_time() -> None:
    graph = build(world())
    objects = [md_with_history(), *[o for o in world() if o["kind"] != "ModelDeployment"]]
    symptoms = {(NS, "ModelDeployment", "fraud"), (NS, "Pod", "fraud-canary-a")}
    changes = relevant(observed_changes(objects, [], NS), graph, symptoms, T0, 3, NS)
    assert "Deployment/billing" not in {c.object for c in changes}  # not related: not a candidate at all
    assert {c.object: c.distance for c in changes} == {
        "ModelDeployment/fraud": 0,
        "HorizontalPodAutoscaler/fraud": 1,  # its owner label links it to the ModelDeployment
    }
    causes = rank([anomaly("ns/latency", 0)], changes)
    assert causes[0].cause == "Rollout: rollout of v3 on ModelDeployment/fraud (in progress)"
    near_billing = relevant(
        observed_changes(objects, [], NS), graph, symptoms | {(NS, "Deployment", "billing")}, T0, 3, NS
    )
    assert "Deployment/billing" in {c.object for c in near_billing}


def test_a_rolling_update_in_progress_is_a_change_once_not_twice() -> None:
    md = md_with_history()
    md["status"] = {"stableModel": {"version": "v4"}, "rolloutStartedAt": "2026-11-27T11:59:00Z"}
    [(_, change)] = observed_changes([md], [], NS)
    assert change.what == "rollout of v4 on ModelDeployment/fraud (in progress)"
    md["status"]["history"] = [{"version": "v4", "outcome": "Promoted", "startedAt": "2026-11-27T11:59:00Z"}]
    [(_, change)] = observed_changes([md], [], NS)  # finished: the history record alone
    assert change.what == "rollout of v4 on ModelDeployment/fraud (Promoted: )"


def test_changes_too_old_are_left_out_and_bad_times_ignored() -> None:
    md = md_with_history()
    md["status"]["history"].append({"version": "v0", "outcome": "Promoted", "startedAt": "not a time"})
    graph = build(world())
    changes = relevant(observed_changes([md], [], NS), graph, {(NS, "ModelDeployment", "fraud")}, at(90), 3, NS)
    assert changes == []


def test_a_model_deployment_s_first_deployment_is_its_creation_not_a_change() -> None:
    md = md_with_history()
    md["status"] = {
        "history": [
            {"version": "v2", "outcome": "Promoted", "reason": "RollingUpdate", "startedAt": "2026-11-27T11:59:00Z"},
            {
                "version": "v1",
                "outcome": "Promoted",
                "reason": "InitialDeployment",
                "startedAt": "2026-11-27T11:58:00Z",
            },
        ]
    }
    assert [c.what for _, c in observed_changes([md], [], NS)] == [
        "rollout of v2 on ModelDeployment/fraud (Promoted: RollingUpdate)"
    ]
    # a load surge a minute after the model was created: the first symptom leads, not the creation
    md["status"]["history"] = md["status"]["history"][1:]
    graph = build(world())
    changes = relevant(observed_changes([md], [], NS), graph, {(NS, "ModelDeployment", "fraud")}, at(0), 3, NS)
    causes = rank([anomaly("ns/requests", 0), anomaly("ns/latency", 0.05)], changes)
    assert [c.cause for c in causes] == ["Anomaly: ns/requests (pod=a)", "Anomaly: ns/latency (pod=a)"]


def retrained_world(promoted: str, rolled_out: str, policy_target: str = "fraud") -> list[dict]:
    md = md_with_history()
    md["status"] = {
        "history": [
            {
                "version": rolled_out,
                "outcome": "Promoted",
                "reason": "RollingUpdate",
                "startedAt": "2026-11-27T11:59:40Z",
            }
        ]
    }
    policy = {
        "kind": "RetrainPolicy",
        "metadata": {"name": "nightly", "namespace": NS},
        "spec": {"modelDeploymentRef": {"name": policy_target}},
        "status": {
            "runs": [{"id": promoted, "phase": "Promoted", "startedAt": "2026-11-27T11:59:00Z"}],
            "promoted": {"version": promoted, "promotedAt": "2026-11-27T11:59:30Z"},
        },
    }
    return [md, policy]


def test_a_rollout_of_a_retrained_model_is_ranked_as_that_retrain() -> None:
    objects = retrained_world("r7", "r7")
    changes = relevant(observed_changes(objects, [], NS), build(world()), {(NS, "ModelDeployment", "fraud")}, T0, 3, NS)
    causes = rank([anomaly("ns/latency", 0)], changes)
    assert causes[0].cause == (
        "Retrain: RetrainPolicy nightly's model r7 rolled out on ModelDeployment/fraud (Promoted: RollingUpdate)"
    )
    assert all(c.cause.startswith(("Retrain:", "Anomaly:")) for c in causes)  # no separate rollout to outrank it
    assert [c.cause for c in causes[:3]] == [
        causes[0].cause,
        "Retrain: RetrainPolicy nightly promoted r7",
        "Retrain: RetrainPolicy nightly run r7 (Promoted)",
    ]


def test_a_rollout_of_a_version_no_policy_of_this_model_produced_stays_a_rollout() -> None:
    other_version = observed_changes(retrained_world("r7", "v9"), [], NS)
    assert "rollout of v9 on ModelDeployment/fraud (Promoted: RollingUpdate)" in {c.what for _, c in other_version}
    other_model = observed_changes(retrained_world("r7", "r7", policy_target="billing"), [], NS)
    assert "rollout of r7 on ModelDeployment/fraud (Promoted: RollingUpdate)" in {c.what for _, c in other_model}
    follows = retrained_world("r7", "r7", policy_target="billing")
    follows[0]["spec"] = {"model": {"source": {"retrainPolicyRef": {"name": "nightly"}}}}  # the model follows it
    assert any(c.kind == "Retrain" and "rolled out" in c.what for _, c in observed_changes(follows, [], NS))


def test_a_version_is_a_retrain_s_whether_a_run_made_it_or_the_policy_promoted_it() -> None:
    def kinds(status: dict) -> set[str]:
        objects = retrained_world("r7", "r7")
        objects[1]["status"] = status
        return {c.kind for _, c in observed_changes(objects, [], NS) if "r7 rolled out" in c.what or "of r7" in c.what}

    # a run's id is its model's version: the rollout of r7 is that run reaching production, promoted or not yet
    assert kinds({"runs": [{"id": "r7", "phase": "Succeeded"}]}) == {"Retrain"}
    # a policy that only says what it promoted (its run history trimmed)
    assert kinds({"promoted": {"version": "r7", "promotedAt": "2026-11-27T11:59:30Z"}}) == {"Retrain"}
    assert kinds({"runs": [{"id": "r6"}], "promoted": {"version": "r6"}}) == {"Rollout"}

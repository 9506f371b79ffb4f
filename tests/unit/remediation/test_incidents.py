"""Incident correlation, once-per-incident coverage and cause ranking."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from mlaiops.api.incident import Change, IncidentAnomaly, IncidentStatus
from mlaiops.api.remediationplaybook import ExecutionRecord
from mlaiops.remediation import incidents
from mlaiops.remediation.incidents import Signal, correlated, covering_execution, incident_name, rank_causes

T0 = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def signal(rule: str, minutes: float, target: str = "web") -> Signal:
    return Signal(
        "AnomalyRule",
        f"ns/{rule}",
        f"fp-{rule}",
        T0 + timedelta(minutes=minutes),
        namespace="ns",
        target_kind="Deployment",
        target_name=target,
    )


def test_correlation_groups_by_target_and_window() -> None:
    signals = [signal("latency", 0), signal("errors", 4), signal("cpu", -3), signal("late", 11), signal("x", 1, "db")]
    members = correlated(T0, timedelta(minutes=10), signals, "Deployment/web")
    assert [s.rule for s in members] == ["ns/cpu", "ns/latency", "ns/errors"]  # earliest first; db and late left out


def test_an_execution_covers_anomalies_that_began_before_it_ended() -> None:
    done = ExecutionRecord(
        id="e1", target="Deployment/web", state="Failed", started_at=T0, finished_at=T0 + timedelta(minutes=5)
    )
    running = ExecutionRecord(id="e2", target="Deployment/db", state="Running", started_at=T0)
    refused = ExecutionRecord(id="e3", target="Deployment/api", state="Refused", finished_at=T0)
    history = [done, running, refused]
    assert covering_execution("Deployment/web", T0 + timedelta(minutes=4), history) is done
    assert covering_execution("Deployment/web", T0 + timedelta(minutes=6), history) is None  # a new incident
    assert covering_execution("Deployment/db", T0 + timedelta(hours=2), history) is running
    assert covering_execution("Deployment/api", T0, history) is None  # refusals handle nothing


def test_incident_names_are_stable_dns_labels() -> None:
    name = incident_name("fix", "web", T0)
    assert name == incident_name("fix", "web", T0) and name.startswith("web-20261127-120000-")
    assert name != incident_name("other", "web", T0) and len(incident_name("p", "w" * 80, T0)) <= 63


def anomaly(rule: str, minutes: float) -> IncidentAnomaly:
    return IncidentAnomaly(rule=rule, fingerprint=rule, since=T0 + timedelta(minutes=minutes), labels={"pod": "a"})


def test_recent_changes_before_the_first_anomaly_rank_first() -> None:
    anomalies = [anomaly("ns/errors", 2), anomaly("ns/latency", 0)]
    changes = [
        Change(kind="Retrain", what="run r1", at=T0 - timedelta(minutes=30)),
        Change(kind="Rollout", what="rollout of v8", at=T0 - timedelta(minutes=3)),
        Change(kind="Rollout", what="rollout of v7", at=T0 - timedelta(hours=3)),  # too old
        Change(kind="Remediation", what="scale-out", at=T0 + timedelta(minutes=1)),  # after: an effect
    ]
    causes = rank_causes(anomalies, changes)
    assert [c.cause for c in causes] == [
        "Anomaly: ns/latency (pod=a)",
        "Rollout: rollout of v8",
        "Anomaly: ns/errors (pod=a)",
        "Retrain: run r1",
    ]
    assert [c.rank for c in causes] == [1, 2, 3, 4]
    assert causes[0].why.startswith("the earliest anomaly")
    assert "3m before the first anomaly" in causes[1].why and "after the first anomaly" in causes[2].why


def test_a_change_just_before_outranks_the_symptom() -> None:
    causes = rank_causes([anomaly("ns/latency", 0)], [Change(kind="Rollout", what="v9", at=T0 - timedelta(seconds=20))])
    assert causes[0].cause == "Rollout: v9" and causes[0].score > causes[1].score
    assert rank_causes([], []) == []


# --- the Incident's content (what controllers/incident.py writes) -------------------------------------


def running_execution(**changes: object) -> ExecutionRecord:
    fields: dict[str, object] = {
        "id": "fix-1",
        "trigger": "rule:ns/latency",
        "fingerprint": "fp-latency",
        "since": T0,
        "incident": "web-20261127-120000-abcdef",
        "target": "Deployment/web",
        "state": "Running",
        "started_at": T0,
    }
    fields.update(changes)
    return ExecutionRecord.model_validate(fields)


def test_incidents_are_followed_while_running_and_for_an_hour_after() -> None:
    now = T0 + timedelta(hours=2)
    executions = [
        running_execution(id="a"),
        running_execution(id="b", state="Succeeded", finished_at=now - timedelta(minutes=59)),
        running_execution(id="c", state="Succeeded", finished_at=now - timedelta(minutes=61)),
        running_execution(id="d", state="Refused"),
        running_execution(id="e", incident=None),
    ]
    assert [e.id for e in incidents.to_refresh(executions, now)] == ["a", "b"]
    many = [running_execution(id=f"x{i}") for i in range(incidents.MAX_OPEN + 2)]
    assert len(incidents.to_refresh(many, now)) == incidents.MAX_OPEN


def test_an_incident_gathers_correlated_anomalies_and_resolves_when_all_have() -> None:
    execution = running_execution()
    window = timedelta(minutes=10)
    firing = [signal("latency", 0), signal("errors", 2), signal("far", 30)]
    anomalies = incidents.anomalies_of(execution, IncidentStatus(), firing, window, T0)
    assert [(a.rule, a.resolved_at) for a in anomalies] == [("ns/latency", None), ("ns/errors", None)]
    recent = [Change(kind="Rollout", what="rollout of v2", at=T0 - timedelta(seconds=30))]
    status = incidents.build(execution, anomalies, recent)
    assert status.phase == "Open" and status.resolution == "execution fix-1 is Running"
    assert status.probable_causes and status.probable_causes[0].cause == "Rollout: rollout of v2"
    later = T0 + timedelta(minutes=5)
    gone = incidents.anomalies_of(execution, status, [], window, later)
    done = running_execution(state="Succeeded", reason="Verified", message="scale resolved it", finished_at=later)
    status = incidents.build(done, gone, recent)
    assert (status.phase, status.resolved_at) == ("Resolved", later)
    assert status.resolution == "Succeeded (Verified): scale resolved it"
    assert incidents.is_over(status, done) and not incidents.is_over(status, execution)


def test_changes_come_from_rollouts_retraining_runs_and_remediation_steps() -> None:
    deployment = {
        "status": {"history": [{"version": "v2", "outcome": "Promoted", "startedAt": "2026-11-27T11:50:00Z"}]}
    }
    policies = [
        {
            "metadata": {"name": "nightly"},
            "spec": {"modelDeploymentRef": {"name": "fraud"}},
            "status": {"runs": [{"id": "r1", "phase": "Running", "startedAt": "2026-11-27T11:55:00Z"}]},
        },
        {
            "metadata": {"name": "other"},
            "spec": {"modelDeploymentRef": {"name": "x"}},
            "status": {"runs": [{"id": "r2", "startedAt": "2026-11-27T11:56:00Z"}]},
        },
    ]
    found = incidents.changes("ModelDeployment", "fraud", deployment, policies, [], T0 - timedelta(hours=1))
    assert [(c.kind, c.what) for c in found] == [
        ("Rollout", "rollout of v2 (Promoted: )"),
        ("Retrain", "RetrainPolicy nightly run r1 (Running)"),
    ]

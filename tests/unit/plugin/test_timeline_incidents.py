"""Timelines from Events and playbook executions, and incidents rebuilt from executions."""

from __future__ import annotations

from datetime import UTC, datetime

from mlaiops.plugin.incidents import describe, from_objects, from_playbooks, table
from mlaiops.report.timeline import event_entries, execution_entries, incident_entries, rollout_entries, run_entries
from tests.unit.plugin.fixtures import execution, model_deployment, playbook, retrain_policy

NOW = datetime(2026, 11, 27, 8, 20, tzinfo=UTC)


def event(kind: str, name: str, reason: str, at: str, type_: str = "Normal", **times: str) -> dict:
    return {
        "involvedObject": {"kind": kind, "name": name},
        "reason": reason,
        "message": f"{reason} message",
        "type": type_,
        "lastTimestamp": at,
        **times,
    }


def test_event_entries_keep_only_the_objects_asked_for_and_their_times() -> None:
    events = [
        event("AnomalyRule", "latency-high", "AnomalyFiring", "2026-11-27T08:09:00Z", "Warning"),
        event("ModelDeployment", "fraud", "Promoted", "2026-11-27T08:05:00Z"),
        event("ModelDeployment", "other", "Promoted", "2026-11-27T08:06:00Z"),
        {"involvedObject": {"kind": "AnomalyRule", "name": "latency-high"}, "reason": "NoTime"},
        {
            "involvedObject": {"kind": "AnomalyRule", "name": "latency-high"},
            "reason": "EventTime",
            "eventTime": "2026-11-27T08:10:00.5Z",
        },
    ]
    entries = event_entries(events, {("AnomalyRule", "latency-high"), ("ModelDeployment", "fraud")})
    assert [(e.source, e.reason, e.colour) for e in entries] == [
        ("AnomalyRule/latency-high", "AnomalyFiring", "bad"),
        ("ModelDeployment/fraud", "Promoted", "good"),
        ("AnomalyRule/latency-high", "EventTime", "info"),
    ]
    assert entries[2].time == datetime(2026, 11, 27, 8, 10, 0, 500000, tzinfo=UTC)


def test_an_execution_becomes_start_steps_and_end() -> None:
    entries = execution_entries(playbook("fix", [{"rules": [{"name": "r"}]}], [execution("e1")]))
    assert [(e.time.strftime("%H:%M:%S"), e.reason) for e in entries] == [
        ("08:09:10", "ExecutionStarted"),
        ("08:09:11", "step restart-0"),
        ("08:09:20", "step restart-0 Succeeded"),
        ("08:10:00", "ExecutionSucceeded"),
    ]
    assert entries[2].message == "e1: restart-0 on ModelDeployment/fraud: Succeeded, verified"
    assert entries[2].colour == "good" and {e.source for e in entries} == {"RemediationPlaybook/fix"}


def test_rollouts_and_runs_become_entries() -> None:
    rollouts = rollout_entries(model_deployment())
    assert [(e.reason, e.message) for e in rollouts] == [("Promoted", "v1: AnalysisPassed all steps passed")]
    runs = run_entries(retrain_policy())
    assert [e.reason for e in runs] == ["RunStarted"]  # no finishedAt yet


def test_incidents_group_executions_by_incident_and_report_the_worst_state() -> None:
    playbooks = [
        playbook("a", [{"rules": [{"name": "r"}]}], [execution("e1", incident="inc-1"), execution("e2")]),
        playbook("b", [{"rules": [{"name": "r"}]}], [execution("e3", "Running", incident="inc-1")]),
    ]
    rows = {row["name"]: row for row in from_playbooks(playbooks)}
    assert set(rows) == {"inc-1", "e2"}
    assert rows["inc-1"]["state"] == "Open" and len(rows["inc-1"]["executions"]) == 2
    assert rows["e2"]["state"] == "Resolved"
    text = table(list(rows.values()), now=NOW)
    assert text.splitlines()[0].split() == ["NAME", "STATE", "TARGET", "TRIGGER", "STEPS", "AGE"]
    assert text.splitlines()[1].split() == [
        "inc-1",
        "Open",
        "ModelDeployment/fraud",
        "AnomalyRule/latency-high",
        "2",
        "10m",
    ]


def test_describe_shows_the_incident_timeline_with_events_of_rule_and_target() -> None:
    row = from_playbooks([playbook("a", [{"rules": [{"name": "r"}]}], [execution("e1")])])[0]
    events = [
        event("AnomalyRule", "latency-high", "AnomalyFiring", "2026-11-27T08:09:30Z", "Warning"),
        event("ModelDeployment", "fraud", "Promoted", "2026-11-27T07:00:00Z"),  # before the incident
    ]
    text = describe(row, events)
    lines = text.splitlines()
    assert lines[0] == "Name:       e1"
    timeline = [line.split()[3] for line in lines[lines.index("Timeline:") + 1 :]]
    assert timeline == ["ExecutionStarted", "step", "step", "AnomalyFiring", "ExecutionSucceeded"]


def test_incident_objects_list_and_describe_with_causes_and_timeline() -> None:
    rows = from_objects([incident()])
    assert rows[0]["target"] == "ModelDeployment/fraud" and rows[0]["state"] == "Resolved"
    assert table(rows, now=NOW, all_namespaces=True).splitlines()[1].split() == [
        "shop",
        "inc-7",
        "Resolved",
        "ModelDeployment/fraud",
        "shop/latency-high",
        "1",
        "11m",
    ]
    events = [event("ModelDeployment", "fraud", "StepSucceeded", "2026-11-27T08:09:21Z")]
    text = describe(rows[0], events)
    assert "Playbook:   fix" in text and "Resolution: scale-out fixed it" in text
    assert "  1. rollout of v2 (Promoted: AnalysisPassed)  (score 0.80: changed 2m before)" in text
    timeline = [line.split(None, 2)[2] for line in text.splitlines()[text.splitlines().index("Timeline:") + 1 :]]
    assert [entry.split()[0:2] for entry in timeline] == [
        ["Incident/inc-7", "Rollout"],
        ["Incident/inc-7", "AnomalyFiring"],
        ["Incident/inc-7", "step"],
        ["Incident/inc-7", "step"],
        ["ModelDeployment/fraud", "StepSucceeded"],
        ["Incident/inc-7", "AnomalyResolved"],
        ["Incident/inc-7", "Resolved"],
    ]


def incident() -> dict:
    return {
        "kind": "Incident",
        "metadata": {"name": "inc-7", "namespace": "shop", "creationTimestamp": "2026-11-27T08:09:05Z"},
        "spec": {"target": "ModelDeployment/fraud", "playbook": "fix"},
        "status": {
            "phase": "Resolved",
            "startedAt": "2026-11-27T08:09:00Z",
            "resolvedAt": "2026-11-27T08:09:40Z",
            "resolution": "scale-out fixed it",
            "anomalies": [
                {
                    "rule": "shop/latency-high",
                    "fingerprint": "abc",
                    "labels": {"pod": "p"},
                    "since": "2026-11-27T08:09:00Z",
                    "resolvedAt": "2026-11-27T08:09:30Z",
                }
            ],
            "changes": [{"kind": "Rollout", "what": "rollout of v2", "at": "2026-11-27T08:07:00Z"}],
            "steps": [
                {
                    "execution": "e1",
                    "action": "scale-out",
                    "result": "Succeeded",
                    "verified": True,
                    "startedAt": "2026-11-27T08:09:10Z",
                    "finishedAt": "2026-11-27T08:09:20Z",
                }
            ],
            "probableCauses": [
                {"rank": 2, "cause": "anomaly", "score": 0.2, "why": "first anomaly"},
                {
                    "rank": 1,
                    "cause": "rollout of v2 (Promoted: AnalysisPassed)",
                    "score": 0.8,
                    "why": "changed 2m before",
                },
            ],
        },
    }


def test_incident_entries_are_in_time_order_and_coloured() -> None:
    entries = incident_entries(incident())
    assert [(e.reason, e.colour) for e in entries] == [
        ("Rollout", "info"),
        ("AnomalyFiring", "bad"),
        ("step scale-out", "info"),
        ("step scale-out Succeeded", "good"),
        ("AnomalyResolved", "good"),
        ("Resolved", "good"),
    ]
    assert entries[1].message == "shop/latency-high {pod=p}"


def test_the_same_happening_recorded_twice_is_shown_once() -> None:
    from mlaiops.report.model import TimelineEntry
    from mlaiops.report.timeline import merged

    at = datetime(2026, 11, 27, 8, 9, 10, 200000, tzinfo=UTC)
    entries = [
        TimelineEntry(at.replace(microsecond=900000), "RemediationPlaybook/fix", "ExecutionStarted", "from status"),
        TimelineEntry(at, "RemediationPlaybook/fix", "ExecutionStarted", "from the Event"),
        TimelineEntry(at, "AnomalyRule/r", "ExecutionStarted", "on the rule"),
    ]
    assert [(e.source, e.message) for e in merged(entries)] == [
        ("RemediationPlaybook/fix", "from the Event"),
        ("AnomalyRule/r", "on the rule"),
    ]

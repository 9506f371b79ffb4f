"""The playbook planner and incidents: one execution per incident however many related signals joined it, and
no execution while a silence is active (Refused, reason Silenced)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from mlaiops.api.remediationplaybook import RemediationPlaybookSpec, RemediationPlaybookStatus
from mlaiops.remediation.incidents import Signal
from mlaiops.remediation.planner import Facts, Outcome, Planner

T0 = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
NS = "shop"
SPEC = RemediationPlaybookSpec.model_validate(
    {
        "triggers": [{"selector": {}}],
        "actions": [{"name": "bounce", "type": "restart", "verify": {"within": "1m"}}],
        "guardrails": {"cooldown": "1s", "maxExecutions": 10, "window": "1h", "suppressDuringRollout": False},
    }
)


def signal(rule: str, kind: str, name: str, minutes: float = 0) -> Signal:
    return Signal(
        "AnomalyRule",
        f"{NS}/{rule}",
        f"fp-{rule}",
        T0 + timedelta(minutes=minutes),
        namespace=NS,
        target_kind=kind,
        target_name=name,
    )


def run(status: RemediationPlaybookStatus, facts: Facts, now: datetime = T0) -> RemediationPlaybookStatus:
    planner = Planner(NS, "fix", 1, SPEC, status, facts, now)
    steps = planner.run()
    try:
        step = next(steps)
        while True:
            step = steps.send(Outcome("Succeeded", params={"x": "1"} if step.kind == "prepare" else {}))
    except StopIteration:
        pass
    return planner.status


def rules(*names: str) -> dict[str, Any]:
    """The rules' objects, each firing the series its signal below says (so nothing resolves by itself)."""
    since = {"latency": T0, "canary-errors": T0 + timedelta(minutes=1)}
    return {
        f"{NS}/{n}": {
            "metadata": {"namespace": NS, "name": n},
            "status": {
                "state": "Firing",
                "series": [{"fingerprint": f"fp-{n}", "state": "Firing", "since": since[n].isoformat()}],
            },
        }
        for n in names
    }


LATENCY = signal("latency", "ModelDeployment", "fraud")
CANARY = signal("canary-errors", "Deployment", "fraud-canary", 1)


def test_related_signals_on_different_targets_start_one_execution_for_their_incident() -> None:
    joined = {("shop/latency", "fp-latency"): "fraud-inc", ("shop/canary-errors", "fp-canary-errors"): "fraud-inc"}
    status = run(
        RemediationPlaybookStatus(), Facts([LATENCY, CANARY], rules("latency", "canary-errors"), incidents=joined)
    )
    executions = [e for e in status.executions or [] if e.state != "Refused"]
    assert [(e.target, e.incident) for e in executions] == [("ModelDeployment/fraud", "fraud-inc")]
    again = run(
        status, Facts([LATENCY, CANARY], rules("latency", "canary-errors"), incidents=joined), T0 + timedelta(minutes=2)
    )
    assert len([e for e in again.executions or [] if e.state != "Refused"]) == 1  # the next pass adds none either


def test_a_flap_after_the_execution_ended_starts_a_new_execution_in_the_same_incident() -> None:
    joined = {("shop/latency", "fp-latency"): "fraud-inc"}
    status = run(RemediationPlaybookStatus(), Facts([LATENCY], rules("latency"), incidents=joined))
    [first] = status.executions or []
    first.state, first.finished_at = "Succeeded", T0 + timedelta(minutes=2)  # verified: it resolved
    again = signal("latency", "ModelDeployment", "fraud", 3)  # fires again a minute later: the same incident
    firing = rules("latency")
    firing["shop/latency"]["status"]["series"][0]["since"] = again.since.isoformat()
    status = run(status, Facts([again], firing, incidents=joined), T0 + timedelta(minutes=3))
    assert [(e.incident, e.state) for e in status.executions or []] == [
        ("fraud-inc", "Verifying"),
        ("fraud-inc", "Succeeded"),
    ]


def test_without_correlation_each_target_has_its_own_execution() -> None:
    status = run(RemediationPlaybookStatus(), Facts([LATENCY, CANARY], rules("latency", "canary-errors")))
    assert sorted(e.target or "" for e in status.executions or []) == [
        "Deployment/fraud-canary",
        "ModelDeployment/fraud",
    ]
    assert len({e.incident for e in status.executions or []}) == 2


def test_separate_incidents_get_separate_executions() -> None:
    apart = {("shop/latency", "fp-latency"): "a", ("shop/canary-errors", "fp-canary-errors"): "b"}
    status = run(
        RemediationPlaybookStatus(), Facts([LATENCY, CANARY], rules("latency", "canary-errors"), incidents=apart)
    )
    assert sorted(e.incident or "" for e in status.executions or []) == ["a", "b"]


def test_an_active_silence_refuses_new_executions_and_says_why() -> None:
    facts = Facts([LATENCY], rules("latency"), silenced="silence upgrade (until 2026-11-27T13:00:00+00:00): db move")
    status = run(RemediationPlaybookStatus(), facts)
    [refused] = status.executions or []
    assert (refused.state, refused.reason) == ("Refused", "Silenced")
    assert refused.message == "no action during silence upgrade (until 2026-11-27T13:00:00+00:00): db move"
    status = run(status, Facts([LATENCY], rules("latency")), T0 + timedelta(minutes=61))  # the silence ended
    [started] = status.executions or []
    assert started.state != "Refused" and [s.action for s in started.steps or []] == ["bounce"]


def test_a_signal_handled_by_its_incident_does_not_stop_the_signals_after_it() -> None:
    disk = signal("disk", "Deployment", "db", 1)
    firing = rules("latency", "canary-errors")
    firing["shop/disk"] = {
        "metadata": {"namespace": NS, "name": "disk"},
        "status": {
            "state": "Firing",
            "series": [{"fingerprint": "fp-disk", "state": "Firing", "since": disk.since.isoformat()}],
        },
    }
    joined = {("shop/latency", "fp-latency"): "fraud-inc", ("shop/canary-errors", "fp-canary-errors"): "fraud-inc"}
    status = run(RemediationPlaybookStatus(), Facts([LATENCY, CANARY, disk], firing, incidents=joined))
    started = {e.target: e.incident for e in status.executions or [] if e.state != "Refused"}
    assert (
        sorted(started) == ["Deployment/db", "ModelDeployment/fraud"]
        and started["ModelDeployment/fraud"] == "fraud-inc"
    )


def test_a_refused_record_never_handles_an_incident() -> None:
    """Only an execution that ran (or runs) covers an incident's signals: a refusal held nothing back."""
    from mlaiops.api.remediationplaybook import ExecutionRecord
    from mlaiops.remediation.planner import handled

    def record(state: str) -> ExecutionRecord:
        return ExecutionRecord.model_validate(
            {"id": "x", "state": state, "incident": "fraud-inc", "since": T0, "startedAt": T0, "finishedAt": T0}
        )

    assert handled("fraud-inc", T0, [record("Succeeded")])
    assert not handled("fraud-inc", T0, [record("Refused")])
    assert not handled("other-inc", T0, [record("Succeeded")])


def test_an_execution_that_ended_the_instant_a_related_signal_began_still_covers_it() -> None:
    joined = {("shop/latency", "fp-latency"): "fraud-inc", ("shop/canary-errors", "fp-canary-errors"): "fraud-inc"}
    status = run(RemediationPlaybookStatus(), Facts([LATENCY], rules("latency"), incidents=joined))
    [first] = status.executions or []
    first.state, first.finished_at = "Succeeded", CANARY.since  # ended exactly as the canary's errors began
    status = run(status, Facts([CANARY], rules("canary-errors"), incidents=joined), T0 + timedelta(minutes=2))
    assert [(e.incident, e.state) for e in status.executions or []] == [("fraud-inc", "Succeeded")]

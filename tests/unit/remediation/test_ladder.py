"""The escalation ladder: verify windows, escalation, exhaustion, resume, dry run, approval expiry."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from mlaiops.api.remediationplaybook import ExecutionRecord, RemediationPlaybookSpec
from mlaiops.remediation import ladder

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
SPEC = RemediationPlaybookSpec.model_validate(
    {
        "triggers": [{"rules": [{"name": "latency"}]}],
        "actions": [
            {"name": "scale-out", "type": "scale", "scale": {"delta": 1}, "verify": {"within": "30s"}},
            {"type": "restart", "verify": {"within": "1m"}},
        ],
    }
)


def execution(state: str = "Running") -> ExecutionRecord:
    return ExecutionRecord(id="e1", target="Deployment/web", state=state, started_at=NOW)  # type: ignore[arg-type]


def acted(record: ExecutionRecord, index: int, at: datetime, result: str = "Succeeded") -> None:
    step = ladder.begin_step(SPEC, record, index, "Deployment/web", at, {"replicas": "2"})
    ladder.end_step(step, result, "done", at)


def test_first_step_then_wait_within_the_verify_window() -> None:
    record = execution()
    assert ladder.progress(SPEC, record, False, NOW) == ladder.Move("act", 0)
    acted(record, 0, NOW)
    assert ladder.progress(SPEC, record, False, NOW + timedelta(seconds=29)) == ladder.Move("wait")
    assert record.state == "Verifying" and record.steps[0].verified is None  # type: ignore[index]


def test_resolution_within_the_window_verifies_the_step() -> None:
    record = execution()
    acted(record, 0, NOW)
    assert ladder.progress(SPEC, record, True, NOW + timedelta(seconds=10)) == ladder.Move("done")
    assert (record.state, record.reason) == ("Succeeded", "Verified") and record.steps[0].verified is True  # type: ignore[index]
    assert ladder.progress(SPEC, record, False, NOW + timedelta(hours=1)) == ladder.Move("done")  # final stays final


def test_no_resolution_escalates_then_exhausts() -> None:
    record = execution()
    acted(record, 0, NOW)
    assert ladder.progress(SPEC, record, False, NOW + timedelta(seconds=30)) == ladder.Move("act", 1)
    assert record.steps[0].verified is False  # type: ignore[index]
    acted(record, 1, NOW + timedelta(seconds=31))
    assert ladder.progress(SPEC, record, False, NOW + timedelta(seconds=60)) == ladder.Move("wait")
    assert ladder.progress(SPEC, record, False, NOW + timedelta(seconds=91)) == ladder.Move("done")
    assert (record.state, record.reason) == ("Failed", "Exhausted") and ladder.counts_as_unverified(record)
    assert ladder.step_name(SPEC.actions[1], 1) == "restart-1"


def test_a_failed_or_refused_step_escalates_at_once() -> None:
    record = execution()
    acted(record, 0, NOW, "Failed")
    assert ladder.progress(SPEC, record, False, NOW) == ladder.Move("act", 1)
    acted(record, 1, NOW, "Refused")
    assert ladder.progress(SPEC, record, False, NOW) == ladder.Move("done") and record.state == "Failed"


def test_a_step_left_running_is_resumed_not_restarted() -> None:
    record = execution()
    ladder.begin_step(SPEC, record, 0, "Deployment/web", NOW, {"replicas": "2"})  # killed while acting
    assert ladder.progress(SPEC, record, False, NOW + timedelta(minutes=5)) == ladder.Move("resume", 0)
    assert len(record.steps or []) == 1


def test_resolved_before_any_step() -> None:
    record = execution()
    assert ladder.progress(SPEC, record, True, NOW) == ladder.Move("done")
    assert record.reason == "ResolvedBeforeAction" and not ladder.counts_as_unverified(record)


def test_dry_run_records_the_whole_ladder_without_waiting() -> None:
    record = execution()
    acted(record, 0, NOW, "DryRun")
    assert ladder.progress(SPEC, record, False, NOW) == ladder.Move("act", 1)
    acted(record, 1, NOW, "DryRun")
    assert ladder.progress(SPEC, record, False, NOW) == ladder.Move("done")
    assert record.state == "DryRun" and not ladder.counts_as_unverified(record)


def test_approval_waits_and_expires() -> None:
    record = execution("AwaitingApproval")
    assert ladder.progress(SPEC, record, False, NOW) == ladder.Move("wait")
    assert not ladder.approval_expired(record, "1m", NOW + timedelta(seconds=59))
    assert ladder.approval_expired(record, "1m", NOW + timedelta(seconds=60))

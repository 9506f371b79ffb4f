"""How each execution ends, spelled out: state, reason, sentence and time; plus the states that only wait.

Mutation testing (benchmarks/mutation.py) showed the behaviour tests checked states and reasons but
not the sentences and finish times, the default step names, Pending executions, or that a step
already judged unverified is never judged again.
"""

from __future__ import annotations

from datetime import timedelta

from mlaiops.api.remediationplaybook import ExecutionRecord
from mlaiops.remediation import ladder
from tests.unit.remediation.test_ladder import NOW, SPEC, acted, execution


def ending(record: ExecutionRecord) -> tuple[object, ...]:
    return (record.state, record.reason, record.message, record.finished_at)


def test_a_verified_step_ends_the_execution_with_its_name_and_time() -> None:
    """Resolved within the window: Succeeded, Verified, '<step> resolved the anomaly', finished now."""
    record = execution()
    acted(record, 0, NOW)
    at = NOW + timedelta(seconds=10)
    ladder.progress(SPEC, record, True, at)
    assert ending(record) == ("Succeeded", "Verified", "scale-out resolved the anomaly", at)


def test_resolved_before_any_step_says_so() -> None:
    """Resolved before the first step: Succeeded, ResolvedBeforeAction, with its sentence and time."""
    record = execution()
    assert ladder.progress(SPEC, record, True, NOW) == ladder.Move("done")
    assert ending(record) == ("Succeeded", "ResolvedBeforeAction", "the anomaly resolved before any step ran", NOW)


def test_exhaustion_counts_the_steps() -> None:
    """Every step acted and none verified: Failed, Exhausted, 'none of the 2 steps resolved the anomaly'."""
    record = execution()
    acted(record, 0, NOW)
    ladder.progress(SPEC, record, False, NOW + timedelta(seconds=30))
    acted(record, 1, NOW + timedelta(seconds=30))
    at = NOW + timedelta(minutes=5)
    ladder.progress(SPEC, record, False, at)
    assert ending(record) == ("Failed", "Exhausted", "none of the 2 steps resolved the anomaly", at)
    assert ladder.counts_as_unverified(record)


def test_a_dry_run_ends_dry_run_and_verifies_nothing() -> None:
    """Dry-run steps are never judged (verified stays unset) and the execution ends DryRun with its sentence."""
    record = execution()
    acted(record, 0, NOW, "DryRun")
    assert ladder.progress(SPEC, record, False, NOW) == ladder.Move("act", 1)
    acted(record, 1, NOW, "DryRun")
    ladder.progress(SPEC, record, False, NOW)
    assert ending(record) == ("DryRun", "DryRun", "dry run: every step recorded, nothing changed", NOW)
    assert [step.verified for step in record.steps or []] == [None, None]


def test_a_step_judged_unverified_is_not_verified_later() -> None:
    """Once step 0 missed its window, a resolution before step 1 runs does not credit step 0: step 1 acts."""
    record = execution()
    acted(record, 0, NOW)
    assert ladder.progress(SPEC, record, False, NOW + timedelta(seconds=30)) == ladder.Move("act", 1)
    assert ladder.progress(SPEC, record, True, NOW + timedelta(seconds=31)) == ladder.Move("act", 1)
    assert record.steps is not None and record.steps[0].verified is False and record.state == "Running"


def test_pending_executions_wait() -> None:
    """A Pending execution (not yet started by the controller) waits, like one awaiting approval."""
    assert ladder.progress(SPEC, execution("Pending"), True, NOW) == ladder.Move("wait")


def test_an_unnamed_step_is_named_after_its_type_and_position() -> None:
    """The second action has no name: its step is recorded as 'restart-1'."""
    record = execution()
    step = ladder.begin_step(SPEC, record, 1, "Deployment/web", NOW)
    assert step.action == "restart-1" and step.params is None


def test_only_an_exhausted_failure_counts_against_the_circuit_breaker() -> None:
    """Failed for another reason, or Exhausted without failing, does not count as unverified."""
    record = execution()
    ladder.finish(record, "Failed", "ActionError", "x", NOW)
    assert not ladder.counts_as_unverified(record)
    ladder.finish(record, "Succeeded", "Exhausted", "x", NOW)
    assert not ladder.counts_as_unverified(record)


def test_an_expired_verification_records_when_it_was_judged() -> None:
    """Resolved, effect holding, but first seen after verify.within: Expired, finished at the tick that saw it."""
    record = execution()
    acted(record, 0, NOW)
    at = NOW + timedelta(minutes=10)
    assert ladder.progress(SPEC, record, True, at) == ladder.Move("done")
    assert (record.state, record.reason, record.finished_at) == ("Expired", "VerificationExpired", at)
    assert record.message is not None and record.message.endswith("had run out; not credited")

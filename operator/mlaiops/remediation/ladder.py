"""The escalation ladder, pure: given an execution and whether its anomaly is resolved, what next?

An execution runs its steps in order. After a step acted, the triggering anomaly must resolve
within the step's ``verify.within``, counted from the step's recorded ``finishedAt`` (when the
action returned: its effect cannot begin earlier), *and* the step's effect must hold (the replicas
it asked for Ready, its rollout complete: ``mlaiops.remediation.effects``). Then the step is
verified and the execution Succeeded. A resolution is judged only when it was observed after the
step finished and before the window ran out; nothing seen later is credited:

- still firing when the window runs out: the step is unverified and the next step runs; after
  the last step the execution is Failed (``Exhausted``);
- resolved, but the step's effect does not hold when the window runs out: Failed (``Unverified``),
  the ladder stops (there is nothing left to fix, and this step did not fix it);
- resolved with the effect holding, but first seen after the window (an operator that was down,
  or restarted, while it ran out): ``Expired`` (``VerificationExpired``), never credited.

A step that failed or was refused escalates at once. Dry-run steps change nothing, so there is
nothing to verify: the whole ladder is recorded and the execution ends DryRun.

Everything here mutates the execution record in place and performs no I/O; the controller
writes the record to status before and after every action, which is what makes it resumable.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from mlaiops.api.common import seconds
from mlaiops.api.remediationplaybook import Action, ExecutionRecord, RemediationPlaybookSpec, StepRecord
from mlaiops.remediation.effects import HOLDS, Effect

FINAL_STATES = frozenset({"Succeeded", "Failed", "Expired", "Refused", "Rejected", "DryRun"})


@dataclass(frozen=True)
class Move:
    """What the controller does next for an execution."""

    kind: Literal["act", "resume", "wait", "done"]
    step: int | None = None


def step_name(action: Action, index: int) -> str:
    """The step's name in status and Events: its own, else ``<type>-<index>``."""
    return action.name or f"{action.type}-{index}"


def progress(
    spec: RemediationPlaybookSpec,
    execution: ExecutionRecord,
    resolved: bool,
    now: datetime,
    effect: Effect = HOLDS,
) -> Move:
    """Advance ``execution`` as far as facts allow and say what to do next.

    ``resolved`` and ``effect`` are what was observed at ``now`` (``effect``: whether the last
    step's effect holds; ``HOLDS`` for steps with nothing to re-check).
    """
    if execution.state in FINAL_STATES:
        return Move("done")
    if execution.state in ("AwaitingApproval", "Pending"):
        return Move("wait")
    steps = execution.steps or []
    if steps:
        last = steps[-1]
        if last.result == "Running":  # the operator stopped while acting: finish that step
            return Move("resume", len(steps) - 1)
        # A step whose action an edit of the playbook removed has no window left to judge it by.
        if last.verified is None and last.result != "DryRun" and len(steps) <= len(spec.actions):
            action = spec.actions[len(steps) - 1]
            if last.result == "Succeeded":
                if verify_window_open(action, last, now):
                    if resolved and effect.holds and last.finished_at is not None and now > last.finished_at:
                        last.verified = True
                        finish(execution, "Succeeded", "Verified", f"{last.action} resolved the anomaly", now)
                        return Move("done")
                    execution.state = "Verifying"
                    waiting_for_effect(execution, last, resolved, effect)
                    return Move("wait")
                if resolved:  # seen resolved only now, after the window: never credited
                    last.verified = False
                    unverified(execution, last, action, effect, now)
                    return Move("done")
            last.verified = False
    elif resolved:
        finish(execution, "Succeeded", "ResolvedBeforeAction", "the anomaly resolved before any step ran", now)
        return Move("done")
    if len(steps) >= len(spec.actions):
        if steps and all(step.result == "DryRun" for step in steps):
            finish(execution, "DryRun", "DryRun", "dry run: every step recorded, nothing changed", now)
        else:
            finish(execution, "Failed", "Exhausted", f"none of the {len(steps)} steps resolved the anomaly", now)
        return Move("done")
    execution.state = "Running"
    return Move("act", len(steps))


def verify_deadline(action: Action, step: StepRecord) -> datetime | None:
    """When the step's verification window ends: ``verify.within`` after the step's recorded finish."""
    if step.finished_at is None:
        return None
    return step.finished_at + timedelta(seconds=seconds(action.verify.within))


def verify_window_open(action: Action, step: StepRecord, now: datetime) -> bool:
    """Whether ``now`` is still inside the step's verification window (a step without a finish time: no)."""
    deadline = verify_deadline(action, step)
    return deadline is not None and now < deadline


def waiting_for_effect(execution: ExecutionRecord, step: StepRecord, resolved: bool, effect: Effect) -> None:
    """Say in status why a resolved anomaly is not credited yet (and stop saying it once it fires again)."""
    if resolved and not effect.holds:
        execution.reason = "AwaitingEffect"
        execution.message = f"{step.action}: the anomaly resolved; its effect does not hold yet ({effect.message})"
    elif execution.reason == "AwaitingEffect":
        execution.reason, execution.message = "Verifying", f"{step.action}: the anomaly fires again"


def unverified(execution: ExecutionRecord, step: StepRecord, action: Action, effect: Effect, now: datetime) -> None:
    """End an execution whose anomaly is gone but whose last step cannot be credited for it."""
    within = action.verify.within
    if not effect.holds:
        message = f"{step.action}: the anomaly resolved, but its effect did not hold within {within} ({effect.message})"
        finish(execution, "Failed", "Unverified", message, now)
        return
    message = (
        f"{step.action}: the anomaly was first seen resolved after verify.within ({within}) had run out; not credited"
    )
    finish(execution, "Expired", "VerificationExpired", message, now)


def begin_step(
    spec: RemediationPlaybookSpec,
    execution: ExecutionRecord,
    index: int,
    target: str,
    now: datetime,
    params: dict[str, str] | None = None,
) -> StepRecord:
    """Record step ``index`` as Running (written to status before the action)."""
    record = StepRecord(
        action=step_name(spec.actions[index], index),
        target=target,
        started_at=now,
        result="Running",
        params=params or None,
    )
    execution.steps = [*(execution.steps or []), record]
    return record


def end_step(record: StepRecord, result: str, message: str, now: datetime) -> None:
    """Record how a step ended (written to status right after the action)."""
    record.result = result  # type: ignore[assignment]
    record.message = message
    record.finished_at = now


def finish(execution: ExecutionRecord, state: str, reason: str, message: str, now: datetime) -> None:
    execution.state = state  # type: ignore[assignment]
    execution.reason = reason
    execution.message = message
    execution.finished_at = now


def counts_as_unverified(execution: ExecutionRecord) -> bool:
    """An execution that acted and did not fix the problem (circuit breaker input).

    ``VerificationExpired`` does not count: nobody watched the window, so nothing is known either way.
    """
    return execution.state == "Failed" and execution.reason in ("Exhausted", "Unverified")


def approval_expired(execution: ExecutionRecord, timeout: str, now: datetime) -> bool:
    started = execution.started_at or now
    return execution.state == "AwaitingApproval" and now - started >= timedelta(seconds=seconds(timeout))

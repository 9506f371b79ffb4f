"""The escalation ladder, pure: given an execution and whether its anomaly is resolved, what next?

An execution runs its steps in order. After a step acted, the triggering anomaly must resolve
within the step's ``verify.within``; if it does the step is verified and the execution Succeeded,
if not the next step runs; after the last step the execution Failed (exhausted, unverified).
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

FINAL_STATES = frozenset({"Succeeded", "Failed", "Expired", "Refused", "DryRun"})


@dataclass(frozen=True)
class Move:
    """What the controller does next for an execution."""

    kind: Literal["act", "resume", "wait", "done"]
    step: int | None = None


def step_name(action: Action, index: int) -> str:
    """The step's name in status and Events: its own, else ``<type>-<index>``."""
    return action.name or f"{action.type}-{index}"


def progress(spec: RemediationPlaybookSpec, execution: ExecutionRecord, resolved: bool, now: datetime) -> Move:
    """Advance ``execution`` as far as facts allow and say what to do next."""
    if execution.state in FINAL_STATES:
        return Move("done")
    if execution.state in ("AwaitingApproval", "Pending"):
        return Move("wait")
    steps = execution.steps or []
    if steps:
        last = steps[-1]
        if last.result == "Running":  # the operator stopped while acting: finish that step
            return Move("resume", len(steps) - 1)
        if last.verified is None and last.result != "DryRun":
            action = spec.actions[len(steps) - 1]
            if last.result == "Succeeded":
                if resolved:
                    last.verified = True
                    finish(execution, "Succeeded", "Verified", f"{last.action} resolved the anomaly", now)
                    return Move("done")
                if now - (last.finished_at or now) < timedelta(seconds=seconds(action.verify.within)):
                    execution.state = "Verifying"
                    return Move("wait")
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
    """An execution that acted and did not fix the problem (circuit breaker input)."""
    return execution.state == "Failed" and execution.reason == "Exhausted"


def approval_expired(execution: ExecutionRecord, timeout: str, now: datetime) -> bool:
    started = execution.started_at or now
    return execution.state == "AwaitingApproval" and now - started >= timedelta(seconds=seconds(timeout))

"""What a run's Job says about the run, pure: still running, or finished with the trainer's summary or an error;
and what the newest finished run says about the policy (the LastRunFailed condition).

The trainer reports through its container's termination message (its last line is the JSON
summary), so the Job and its pods are all it takes: no log reading, no side channel.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from mlaiops.api.common import Condition
from mlaiops.api.retrainpolicy import RetrainPolicyStatus, RunRecord

JSON = dict[str, Any]


@dataclass(frozen=True)
class JobOutcome:
    """A finished Job: ``Succeeded`` with the trainer's summary, or ``Failed`` with why."""

    phase: Literal["Succeeded", "Failed"]
    summary: JSON | None = None
    message: str = ""


def _true_conditions(job: JSON) -> dict[str, JSON]:
    return {c["type"]: c for c in (job.get("status") or {}).get("conditions", []) if c.get("status") == "True"}


def finished(job: JSON | None) -> bool:
    """Whether the Job completed or failed (only then are its pods worth reading)."""
    conditions = _true_conditions(job or {})
    return "Complete" in conditions or "Failed" in conditions


def _messages(pods: Sequence[JSON]) -> list[tuple[int, str]]:
    """(exit code, termination message) of every terminated container, oldest pod first."""
    messages = []
    for pod in sorted(pods, key=lambda p: p["metadata"].get("creationTimestamp", "")):
        for container in (pod.get("status") or {}).get("containerStatuses", []):
            terminated = (container.get("state") or {}).get("terminated") or {}
            if terminated.get("message"):
                messages.append((terminated.get("exitCode", 1), terminated["message"].strip()))
    return messages


def job_outcome(job: JSON | None, pods: Sequence[JSON]) -> JobOutcome | None:
    """The outcome of a finished Job from its conditions and its pods' termination messages; None while it runs."""
    if job is None or not finished(job):
        return None
    conditions = _true_conditions(job)
    messages = _messages(pods)
    if "Complete" in conditions:
        for code, message in reversed(messages):
            if code == 0:
                with contextlib.suppress(json.JSONDecodeError, IndexError):
                    summary = json.loads(message.splitlines()[-1])
                    if isinstance(summary, dict):
                        return JobOutcome("Succeeded", summary=summary)
                return JobOutcome(
                    "Failed", message=f"the trainer's termination message is not a JSON object: {message[:200]}"
                )
        return JobOutcome("Failed", message="the Job completed but its pod left no termination message")
    failed = conditions["Failed"]
    detail = messages[-1][1] if messages else ""
    with contextlib.suppress(json.JSONDecodeError, AttributeError):
        detail = json.loads(detail).get("error", detail)
    return JobOutcome(
        "Failed", message=f"{failed.get('reason', 'Failed')}: {detail or failed.get('message', '')}".strip(": ")
    )


LAST_RUN_FAILED = "LastRunFailed"
FINISHED = frozenset({"Succeeded", "Rejected", "Promoted", "AwaitingApproval", "Expired", "Failed"})


def newest_finished(status: RetrainPolicyStatus) -> RunRecord | None:
    """The newest run that ended (runs are newest first); a run in progress does not hide the one before."""
    return next((run for run in status.runs or [] if run.phase in FINISHED), None)


def last_run_condition(status: RetrainPolicyStatus, now: datetime, generation: int) -> None:
    """LastRunFailed from the newest finished run: True with its error when it failed, False when it trained
    (promoted, rejected by the gate, awaiting approval or expired); absent before any run ends.
    ``lastTransitionTime`` moves only when the status does."""
    run = newest_finished(status)
    if run is None:
        return
    failed = run.phase == "Failed"
    decision = (run.decision or "").removeprefix("Failed: ")
    condition = Condition(
        type=LAST_RUN_FAILED,
        status="True" if failed else "False",
        reason="RunFailed" if failed else "RunSucceeded",
        message=f"run {run.id} failed: {decision or 'no reason given'}" if failed else f"run {run.id}: {run.phase}",
        last_transition_time=now,
        observed_generation=generation,
    )
    previous = next((c for c in status.conditions or [] if c.type == LAST_RUN_FAILED), None)
    if previous is not None and previous.status == condition.status:
        condition.last_transition_time = previous.last_transition_time
    status.conditions = [*(c for c in status.conditions or [] if c.type != LAST_RUN_FAILED), condition]

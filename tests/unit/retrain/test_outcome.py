"""Reading a run's result from its Job and pods: the trainer's summary, or why it failed."""

from __future__ import annotations

import json
from typing import Any

from mlaiops.retrain.outcome import JobOutcome, finished, job_outcome


def job(condition: str | None, **fields: str) -> dict[str, Any]:
    conditions = [{"type": condition, "status": "True", **fields}] if condition else []
    return {"metadata": {"name": "j"}, "status": {"conditions": conditions}}


def pod(created: str, code: int, message: str) -> dict[str, Any]:
    terminated = {"exitCode": code, "message": message}
    return {
        "metadata": {"creationTimestamp": created},
        "status": {"containerStatuses": [{"state": {"terminated": terminated}}]},
    }


def test_a_running_or_missing_job_has_no_outcome() -> None:
    assert job_outcome(None, []) is None and not finished(None)
    assert job_outcome(job(None), []) is None
    assert (
        job_outcome(
            job("Complete", status="False") | {"status": {"conditions": [{"type": "Complete", "status": "False"}]}}, []
        )
        is None
    )


def test_the_last_successful_pods_summary_is_the_result() -> None:
    pods = [pod("2", 0, "log line\n" + json.dumps({"metrics": {"accuracy": 0.9}})), pod("1", 1, "oom")]
    assert finished(job("Complete"))
    assert job_outcome(job("Complete"), pods) == JobOutcome("Succeeded", summary={"metrics": {"accuracy": 0.9}})


def test_a_completed_job_without_a_readable_summary_fails_the_run() -> None:
    assert job_outcome(job("Complete"), []) == JobOutcome(
        "Failed", message="the Job completed but its pod left no termination message"
    )
    outcome = job_outcome(job("Complete"), [pod("1", 0, "not json")])
    assert outcome is not None and outcome.phase == "Failed" and "not a JSON object: not json" in outcome.message
    outcome = job_outcome(job("Complete"), [pod("1", 0, "[1, 2]")])  # JSON, but not the summary object
    assert outcome is not None and outcome.phase == "Failed"


def test_a_failed_job_says_why_from_the_trainers_error() -> None:
    failed = job("Failed", reason="BackoffLimitExceeded", message="Job has reached the specified backoff limit")
    assert job_outcome(failed, [pod("1", 1, json.dumps({"error": "no column is_fraud"}))]) == JobOutcome(
        "Failed", message="BackoffLimitExceeded: no column is_fraud"
    )
    assert job_outcome(failed, [pod("1", 137, "killed")]).message == "BackoffLimitExceeded: killed"  # type: ignore[union-attr]
    assert job_outcome(failed, []).message == (  # type: ignore[union-attr]
        "BackoffLimitExceeded: Job has reached the specified backoff limit"
    )

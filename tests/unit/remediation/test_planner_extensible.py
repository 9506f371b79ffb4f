"""The planner with the extensible actions: a job step that takes several passes, a webhook step found
Running after a restart (never carried out again), and the incident's context handed to each step."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from mlaiops.remediation.planner import Outcome, Step
from tests.unit.remediation.test_planner import Cluster, make_spec

JOB = {"template": {"spec": {"containers": [{"name": "fix", "image": "fixer:1"}]}}}
HOOK = {"url": "https://hooks.example.com/x", "signingSecretRef": {"name": "mlaiops-notify", "key": "hmac"}}


def ladder(first: dict[str, Any], timeout: str = "1m") -> list[dict[str, Any]]:
    return [
        {"name": "first", "timeout": timeout, "verify": {"within": "30s"}, **first},
        {"name": "scale-out", "type": "scale", "scale": {"delta": 1}, "verify": {"within": "30s"}},
    ]


def job_cluster(timeout: str = "1m") -> Cluster:
    cluster = Cluster(make_spec(ladder({"type": "job", "job": JOB}, timeout)))
    cluster.handlers["prepare:first"] = lambda step: Outcome("Succeeded", params={"job": "fix-s0-abc"})
    return cluster


def test_a_running_job_keeps_its_step_running_and_each_pass_looks_again_with_the_same_values() -> None:
    cluster = job_cluster()
    answers = iter(["Pending", "Pending", "Succeeded"])
    cluster.handlers["first"] = lambda step: Outcome(next(answers), "Job fix-s0-abc running", at=cluster.now)
    cluster.fire()
    cluster.tick()
    assert cluster.results() == [("first", "Running", None)]
    assert cluster.execution().steps[0].message == "Job fix-s0-abc running"
    assert cluster.execution().state == "Running"
    cluster.tick()
    assert cluster.results() == [("first", "Running", None)]
    cluster.tick()
    assert cluster.results() == [("first", "Succeeded", None)]
    acts = [(s.kind, s.params) for s in cluster.steps]
    assert acts == [("prepare", {})] + [("act", {"job": "fix-s0-abc"})] * 3  # prepared once, resumed twice
    assert cluster.execution().state == "Verifying"  # a completed Job is verified like any step
    cluster.resolve()
    cluster.tick()
    assert cluster.execution().reason == "Verified"


def test_a_job_still_running_at_its_timeout_fails_the_step_and_the_ladder_moves_on() -> None:
    cluster = job_cluster(timeout="25s")
    cluster.handlers["first"] = lambda step: Outcome("Pending", "Job fix-s0-abc running", at=cluster.now)
    cluster.fire()
    cluster.tick()  # t=0: created, running
    cluster.tick()  # t=10: running
    cluster.tick()  # t=20: running
    assert cluster.results() == [("first", "Running", None)]
    cluster.tick()  # t=30: past 25 s
    assert cluster.results()[0][:2] == ("first", "Failed")
    assert "timed out" in cluster.execution().steps[0].message
    assert cluster.results()[1][:2] == ("scale-out", "Succeeded")  # escalated in the same pass


def test_a_pending_answer_that_arrives_after_the_timeout_fails_the_step() -> None:
    cluster = job_cluster(timeout="5s")
    cluster.handlers["first"] = lambda step: Outcome("Pending", "Job j running", at=cluster.now + timedelta(seconds=6))
    cluster.fire()
    started = cluster.now
    cluster.tick()
    first = cluster.execution().steps[0]
    assert (first.result, first.message) == ("Failed", "timed out: not finished within timeout 5s (Job j running)")
    assert first.finished_at == started + timedelta(seconds=6)  # when the answer came


def test_a_failed_job_escalates_at_once() -> None:
    cluster = job_cluster()
    cluster.handlers["first"] = lambda step: Outcome("Failed", "Job fix-s0-abc failed (BackoffLimitExceeded)")
    cluster.fire()
    cluster.tick()
    assert [r[:2] for r in cluster.results()] == [("first", "Failed"), ("scale-out", "Succeeded")]
    assert cluster.execution().steps[0].message == "Job fix-s0-abc failed (BackoffLimitExceeded)"


def test_a_job_step_found_running_after_a_restart_is_carried_out_again() -> None:
    cluster = job_cluster()
    cluster.handlers["first"] = lambda step: Outcome("Retry", "API error 503", at=cluster.now)
    cluster.fire()
    cluster.tick()
    assert cluster.results() == [("first", "Running", None)]
    cluster.handlers["first"] = lambda step: Outcome("Succeeded", "Job fix-s0-abc completed", at=cluster.now)
    cluster.tick()
    assert [s.kind for s in cluster.steps] == ["prepare", "act", "act"]
    assert cluster.results()[0][:2] == ("first", "Succeeded")


def test_a_webhook_step_found_running_is_never_posted_again() -> None:
    cluster = Cluster(make_spec(ladder({"type": "webhook", "webhook": HOOK})))
    cluster.handlers["prepare:first"] = lambda step: Outcome("Succeeded", params={"idempotencyKey": "k"})
    cluster.handlers["first"] = lambda step: Outcome("Retry", "API error 503", at=cluster.now)  # as if killed
    cluster.fire()
    cluster.tick()
    assert cluster.results() == [("first", "Running", None)]
    restarted = cluster.now
    cluster.tick()
    assert [s.kind for s in cluster.steps if s.index == 0] == ["prepare", "act"]  # no second act
    first = cluster.execution().steps[0]
    assert first.finished_at == restarted
    assert (first.result, first.message) == (
        "Failed",
        "interrupted: the operator stopped while the webhook step ran; not repeated",
    )
    assert cluster.results()[1][:2] == ("scale-out", "Succeeded")  # the ladder moves on


def test_a_webhook_step_past_its_timeout_when_found_running_is_timed_out() -> None:
    cluster = Cluster(make_spec(ladder({"type": "webhook", "webhook": HOOK}, timeout="5s")))
    cluster.handlers["prepare:first"] = lambda step: Outcome("Succeeded", params={"idempotencyKey": "k"})
    cluster.handlers["first"] = lambda step: Outcome("Retry", "API error 503", at=cluster.now)
    cluster.fire()
    cluster.tick()
    cluster.tick()
    assert "timed out" in cluster.execution().steps[0].message


def test_every_step_carries_the_incidents_context() -> None:
    cluster = job_cluster()
    seen: list[Step] = []
    cluster.handlers["first"] = lambda step: seen.append(step) or Outcome("Succeeded", "done", at=cluster.now)
    cluster.fire()
    cluster.tick()
    execution = cluster.execution()
    (step,) = seen
    assert (step.trigger, step.fingerprint, step.incident) == ("rule:shop/latency", "fp1", execution.incident)
    assert step.execution == execution.id and step.index == 0 and step.target == ("shop", "Deployment", "web")


def test_a_dry_run_job_or_webhook_is_recorded_with_its_values_not_run() -> None:
    cluster = job_cluster()
    cluster.dry_run = True
    cluster.fire()
    cluster.tick()
    assert [s.kind for s in cluster.steps if s.index == 0] == ["prepare"]
    first = cluster.execution().steps[0]
    assert (first.result, first.message) == ("DryRun", "would job Deployment/web job=fix-s0-abc")

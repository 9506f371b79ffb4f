"""The keys of the Events that refusals, approvals, refused preparations and the circuit breaker emit.

A key names the Event across passes and restarts (the controller derives the Event's name from it), so each
one is spelled out here. Mutation testing (benchmarks/mutation.py) showed only the execution and step keys
were checked.
"""

from __future__ import annotations

from mlaiops.remediation.planner import Outcome
from tests.unit.remediation.test_planner import Cluster, fail_one, finish_one, make_spec


def keyed(cluster: Cluster, reason: str) -> list[str]:
    return [e.key for e in cluster.events if e.reason == reason]


def test_a_refused_preparation_is_keyed_by_execution_step_and_result() -> None:
    cluster = Cluster(make_spec())
    cluster.handlers["prepare:scale-out"] = lambda step: Outcome("Refused", "2 pods ready; minHealthy 2")
    cluster.fire()
    cluster.tick()
    assert keyed(cluster, "StepRefused") == [f"{cluster.execution().id}/0/StepRefused"]


def test_an_approval_is_keyed_by_its_execution() -> None:
    cluster = Cluster(make_spec(approval={"required": True, "timeout": "5m"}))
    cluster.fire()
    cluster.tick()
    cluster.approve = cluster.execution().id
    cluster.tick()
    assert keyed(cluster, "Approved") == [f"{cluster.execution().id}/Approved"]


def test_a_refusal_is_keyed_by_its_record_and_reason() -> None:
    cluster = Cluster(make_spec(guardrails={"cooldown": "0s", "maxExecutions": 1, "window": "1h"}))
    finish_one(cluster)
    cluster.fire()
    cluster.tick()
    refused = cluster.status.executions[0]  # type: ignore[index]
    assert refused.state == "Refused" and keyed(cluster, "RateLimited") == [f"{refused.id}/RateLimited"]


def test_the_circuit_opening_is_keyed_by_when_it_opened() -> None:
    spec = make_spec(guardrails={"cooldown": "0s", "maxExecutions": 10, "circuitBreaker": {"maxUnverified": 1}})
    cluster = Cluster(spec)
    fail_one(cluster)
    opened = cluster.status.circuit_opened_at
    assert opened is not None
    assert f"circuit/{opened.isoformat()}/CircuitOpen" in keyed(cluster, "CircuitOpen")

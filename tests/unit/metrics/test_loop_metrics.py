"""The loop's own numbers: each transition a controller writes is counted once, never on a repeated pass
or after a restart (the status read back from the server already holds it).

The real pure planners drive the statuses (rollout, remediation), each write goes through the JSON the
API server stores, and the counters are read from the operator's registry.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import pytest
from pydantic import BaseModel

from mlaiops.api.incident import IncidentStatus
from mlaiops.api.modeldeployment import ModelDeploymentStatus
from mlaiops.api.remediationplaybook import RemediationPlaybookStatus
from mlaiops.api.retrainpolicy import RetrainPolicyStatus, RunRecord
from mlaiops.controllers.common import parse_status, status_changed, status_patch
from mlaiops.metrics import operator as metrics
from mlaiops.metrics.operator import REGISTRY
from mlaiops.remediation.planner import Outcome, Planner
from mlaiops.resources.modelserver import ResolvedModel
from tests.unit.remediation.test_planner import NS as PLAYBOOK_NS
from tests.unit.remediation.test_planner import Cluster as PlaybookCluster
from tests.unit.remediation.test_planner import make_spec as playbook_spec
from tests.unit.rollout.test_canary import V1, V2, make_spec
from tests.unit.rollout.test_canary import Cluster as RolloutCluster

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
V3 = ResolvedModel("file:///m/v3.joblib", "v3")
M = TypeVar("M", bound=BaseModel)
_namespaces = itertools.count()


def fresh_namespace() -> str:
    """A namespace no other test counted in: the registry is the process's own."""
    return f"metrics-test-{next(_namespaces)}"


def value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def stored(model: M) -> M:
    """The status as the API server keeps it and the next pass (or a restarted operator) reads it back."""
    return parse_status(type(model), status_patch(model))  # type: ignore[arg-type]


# --- rollouts ---------------------------------------------------------------------------------------


class CountingRollouts(RolloutCluster):
    """The rollout planner's cluster, with the controller's write and count after each pass."""

    def __init__(self, namespace: str, **spec: Any) -> None:
        super().__init__(make_spec(**spec))
        self.namespace = namespace
        self.server = ModelDeploymentStatus()

    def tick(self, desired: ResolvedModel | None, *args: Any, **kwargs: Any) -> Any:
        self.status = self.server  # every pass plans from the server's copy
        plan = super().tick(desired, *args, **kwargs)
        if status_changed(status_patch(plan.status), status_patch(self.server)):
            metrics.record_rollouts(self.namespace, "fraud", self.server, plan.status)
            self.server = stored(plan.status)
        return plan

    def started(self) -> float:
        return value("mlaiops_rollouts_started_total", namespace=self.namespace, modeldeployment="fraud")

    def finished(self, outcome: str, reason: str) -> float:
        labels = {"namespace": self.namespace, "modeldeployment": "fraud", "outcome": outcome, "reason": reason}
        return value("mlaiops_rollouts_finished_total", **labels)


def test_rollouts_started_promoted_and_rolled_back_are_counted_once_each() -> None:
    cluster = CountingRollouts(fresh_namespace())
    cluster.tick(V1)
    cluster.tick(V1)  # v1's pods Ready: the first deployment is recorded Promoted
    assert cluster.started() == 1 and cluster.finished("Promoted", "InitialDeployment") == 1
    cluster.tick(V2)
    cluster.tick(V2)
    for _ in range(6):
        cluster.tick(V2, "Successful")
    assert cluster.server.stable_model is not None and cluster.server.stable_model.version == "v2"
    assert cluster.started() == 2 and cluster.finished("Promoted", "AnalysisPassed") == 1
    cluster.tick(V3)
    cluster.tick(V3)
    cluster.tick(V3, "Failed")
    cluster.tick(V3, "Failed")  # failureLimit 1: the second failure rolls v3 back
    for _ in range(5):  # the spec still names v3: passes go on, nothing new is counted
        cluster.tick(V3)
    assert cluster.started() == 3
    assert cluster.finished("RolledBack", "AnalysisFailed") == 1
    assert (
        cluster.finished("Promoted", "AnalysisPassed") == 1 and cluster.finished("Promoted", "InitialDeployment") == 1
    )
    assert cluster.finished("RolledBack", "AnalysisFailed") / cluster.started() == pytest.approx(1 / 3)


def test_a_restarted_operator_counts_nothing_already_written() -> None:
    namespace = fresh_namespace()
    cluster = CountingRollouts(namespace)
    cluster.tick(V1)
    cluster.tick(V1)
    cluster.tick(V2)
    before = (cluster.started(), cluster.finished("Promoted", "InitialDeployment"))
    assert before == (2, 1)
    restarted = CountingRollouts(namespace)  # a new process reads the status the old one wrote
    restarted.server, restarted.observed, restarted.now = cluster.server, cluster.observed, cluster.now
    restarted.tick(V2)
    restarted.tick(V2)
    assert (restarted.started(), restarted.finished("Promoted", "InitialDeployment")) == before


def test_a_rollback_of_the_stable_model_on_request_is_rolled_back_without_a_new_start() -> None:
    cluster = CountingRollouts(fresh_namespace(), rollout={"strategy": "RollingUpdate"})
    cluster.tick(V1)
    cluster.tick(V1)
    cluster.tick(V2)
    cluster.tick(V2)
    assert cluster.finished("Promoted", "RollingUpdate") == 1 and cluster.started() == 2
    cluster.tick(V2, rollback="latency")
    cluster.tick(V2, rollback="latency")  # the same request again acts once
    assert cluster.finished("RolledBack", "RollbackRequested") == 1 and cluster.started() == 2


# --- retraining runs --------------------------------------------------------------------------------


def run(run_id: str, phase: str, trigger: str = "anomaly") -> RunRecord:
    return RunRecord(id=run_id, trigger=trigger, phase=phase, started_at=T0)  # type: ignore[arg-type]


def policy_status(*runs: RunRecord) -> RetrainPolicyStatus:
    return RetrainPolicyStatus(runs=list(runs) or None)


def test_retrain_runs_are_counted_when_they_start_and_when_they_end_by_trigger_and_outcome() -> None:
    namespace = fresh_namespace()

    def runs(outcome: str, trigger: str = "anomaly") -> float:
        labels = {"namespace": namespace, "policy": "p", "trigger": trigger, "outcome": outcome}
        return value("mlaiops_retrain_runs_total", **labels)

    def started(trigger: str) -> float:
        return value("mlaiops_retrain_runs_started_total", namespace=namespace, policy="p", trigger=trigger)

    writes = [
        policy_status(),
        policy_status(run("r1", "Pending")),
        policy_status(run("r1", "Running")),
        policy_status(run("r1", "AwaitingApproval")),  # passed the gate: not an outcome yet
        policy_status(run("r1", "Promoted")),
        policy_status(run("r2", "Pending", "schedule"), run("r1", "Promoted")),
        policy_status(run("r2", "Rejected", "schedule"), run("r1", "Promoted")),
        policy_status(run("r3", "Failed", "manual"), run("r2", "Rejected", "schedule"), run("r1", "Promoted")),
    ]
    for before, after in itertools.pairwise(writes):
        metrics.record_retrain_runs(namespace, "p", stored(before), after)
    for same in writes:  # a pass that finds the same status counts nothing
        metrics.record_retrain_runs(namespace, "p", stored(same), same)
    assert (started("anomaly"), started("schedule"), started("manual")) == (1, 1, 1)
    assert runs("Promoted") == 1 and runs("AwaitingApproval") == 0
    assert runs("Rejected", "schedule") == 1 and runs("Failed", "manual") == 1  # r3 started and failed in one write


# --- remediation: executions, steps and notifications from the real planner --------------------------

NOTIFY = {
    "name": "page",
    "type": "notify",
    "notify": {"urlSecretRef": {"name": "hook", "key": "url"}, "format": "slack"},
    "verify": {"within": "30s"},
}
SCALE = {"name": "scale-out", "type": "scale", "scale": {"delta": 1}, "verify": {"within": "30s"}}


class CountingPlaybook(PlaybookCluster):
    """The playbook planner's cluster, with the controller's write-before-act and count after each write."""

    namespace = PLAYBOOK_NS

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.server = RemediationPlaybookStatus()

    def tick(self, seconds: float = 10) -> list[Any]:
        self.status = self.server
        planner = Planner(self.namespace, "fix", self.generation, self.spec, self.status, self.facts(), self.now)

        def write() -> None:
            if status_changed(status_patch(planner.status), status_patch(self.server)):
                metrics.record_playbook(self.namespace, "fix", self.spec, self.server, planner.status)
                self.server = stored(planner.status)

        steps = planner.run()
        try:
            step = next(steps)
            while True:
                write()
                step = steps.send(self.carry_out(step))
        except StopIteration:
            pass
        write()
        self.now += timedelta(seconds=seconds)
        return []


@pytest.fixture
def playbook_namespace(monkeypatch: pytest.MonkeyPatch) -> str:
    namespace = fresh_namespace()
    monkeypatch.setattr(CountingPlaybook, "namespace", namespace)
    return namespace


def test_executions_steps_and_notifications_are_counted_by_action_and_outcome(playbook_namespace: str) -> None:
    ns = playbook_namespace
    cluster = CountingPlaybook(playbook_spec([SCALE, NOTIFY], guardrails={"cooldown": "0s", "maxExecutions": 10}))
    cluster.fire()
    cluster.tick(31)
    cluster.tick(31)  # scale-out did not help within 30s: the notify step runs
    cluster.tick()
    for _ in range(3):
        cluster.tick()
    cluster.resolve()
    cluster.tick()
    cluster.fire()
    cluster.tick()  # a second execution is written beside the finished one, which is not counted again
    assert len(cluster.server.executions or []) == 2
    labels = {"namespace": ns, "playbook": "fix"}
    assert value("mlaiops_remediation_steps_total", **labels, action="scale", outcome="Succeeded") == 2
    assert value("mlaiops_remediation_steps_total", **labels, action="notify", outcome="Succeeded") == 1
    assert value("mlaiops_notifications_total", **labels, channel="slack", kind="step", outcome="Succeeded") == 1
    assert value("mlaiops_remediation_executions_total", **labels, outcome="Failed") == 1
    assert value("mlaiops_remediation_executions_total", **labels, outcome="Succeeded") == 0


def test_a_failing_step_and_a_verified_execution(playbook_namespace: str) -> None:
    ns = playbook_namespace
    cluster = CountingPlaybook(playbook_spec([NOTIFY, SCALE]))
    cluster.handlers["page"] = lambda step: Outcome("Failed", "HTTP 500", at=cluster.now)
    cluster.fire()
    cluster.tick()  # page fails, scale-out runs in the same pass
    cluster.resolve()
    for _ in range(3):
        cluster.tick()
    labels = {"namespace": ns, "playbook": "fix"}
    assert value("mlaiops_notifications_total", **labels, channel="slack", kind="step", outcome="Failed") == 1
    assert value("mlaiops_remediation_steps_total", **labels, action="notify", outcome="Failed") == 1
    assert value("mlaiops_remediation_steps_total", **labels, action="scale", outcome="Succeeded") == 1
    assert value("mlaiops_remediation_executions_total", **labels, outcome="Succeeded") == 1


def test_circuit_breaker_and_approval_notifications_are_counted_by_kind() -> None:
    namespace = fresh_namespace()
    spec = playbook_spec([SCALE, NOTIFY])
    opened = RemediationPlaybookStatus.model_validate(
        {"notifications": [{"action": "page", "startedAt": T0.isoformat(), "result": "Running"}]}
    )
    sent = RemediationPlaybookStatus.model_validate(
        {"notifications": [{"action": "page", "startedAt": T0.isoformat(), "result": "Succeeded"}]}
    )
    execution = {"id": "e1", "state": "AwaitingApproval", "startedAt": T0.isoformat()}
    asking = RemediationPlaybookStatus.model_validate(
        {"executions": [{**execution, "approval": {"requests": [{"action": "page", "result": "Running"}]}}]}
    )
    asked = RemediationPlaybookStatus.model_validate(
        {"executions": [{**execution, "approval": {"requests": [{"action": "page", "result": "Succeeded"}]}}]}
    )
    for before, after in ((RemediationPlaybookStatus(), opened), (opened, sent), (sent, sent)):
        metrics.record_playbook(namespace, "fix", spec, before, after)
    for before, after in ((RemediationPlaybookStatus(), asking), (asking, asked), (asked, asked)):
        metrics.record_playbook(namespace, "fix", spec, before, after)
    labels = {"namespace": namespace, "playbook": "fix", "channel": "slack", "outcome": "Succeeded"}
    assert value("mlaiops_notifications_total", **labels, kind="circuitOpen") == 1
    assert value("mlaiops_notifications_total", **labels, kind="approval") == 1
    assert value("mlaiops_remediation_executions_total", namespace=namespace, playbook="fix", outcome="Failed") == 0


# --- incidents --------------------------------------------------------------------------------------


def incident(phase: str | None, resolved_after: float | None = None) -> IncidentStatus:
    resolved = T0 + timedelta(seconds=resolved_after) if resolved_after is not None else None
    return IncidentStatus(phase=phase, started_at=T0, resolved_at=resolved)  # type: ignore[arg-type]


def test_incidents_opened_and_resolved_with_their_time_to_resolve() -> None:
    namespace = fresh_namespace()
    labels = {"namespace": namespace, "playbook": "fix"}
    writes = [incident(None), incident("Open"), incident("Open"), incident("Resolved", 90), incident("Resolved", 90)]
    for before, after in itertools.pairwise(writes):
        metrics.record_incident(namespace, "fix", stored(before), after)
    metrics.record_incident(namespace, "fix", IncidentStatus(), incident("Resolved", 4000))  # written resolved
    assert value("mlaiops_incidents_opened_total", **labels) == 2
    assert value("mlaiops_incident_time_to_resolve_seconds_count", **labels) == 2
    assert value("mlaiops_incident_time_to_resolve_seconds_sum", **labels) == 4090
    assert value("mlaiops_incident_time_to_resolve_seconds_bucket", **labels, le="120.0") == 1
    assert value("mlaiops_incident_time_to_resolve_seconds_bucket", **labels, le="3600.0") == 1
    assert value("mlaiops_incident_time_to_resolve_seconds_bucket", **labels, le="7200.0") == 2


def test_an_incident_open_again_after_it_resolved_is_opened_again() -> None:
    namespace = fresh_namespace()
    writes = [incident(None), incident("Open"), incident("Resolved", 30), incident("Open"), incident("Resolved", 60)]
    for before, after in itertools.pairwise(writes):
        metrics.record_incident(namespace, "fix", stored(before), after)
    labels = {"namespace": namespace, "playbook": "fix"}
    assert value("mlaiops_incidents_opened_total", **labels) == 2
    assert value("mlaiops_incident_time_to_resolve_seconds_count", **labels) == 2

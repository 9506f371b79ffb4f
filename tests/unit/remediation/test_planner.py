"""The playbook planner, driven pass by pass against a fake cluster and a fake clock.

The fake cluster plays the rule (firing or not), the workload (replicas) and the executor: it
answers each step the planner yields as the controller would, and records the status the
controller would have written before each step, so write-before-act is checked too.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from mlaiops.api.remediationplaybook import RemediationPlaybookSpec, RemediationPlaybookStatus
from mlaiops.remediation.effects import RESTARTED_AT, Observed, Workload
from mlaiops.remediation.incidents import Signal
from mlaiops.remediation.planner import (
    MAX_EXECUTIONS_KEPT,
    Event,
    Facts,
    Outcome,
    Planner,
    Step,
    is_resolved,
    needs_busy_check,
    needs_effect_check,
)

T0 = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
NS = "shop"
RULE = f"{NS}/latency"


def make_spec(actions: list[dict[str, Any]] | None = None, **changes: Any) -> RemediationPlaybookSpec:
    spec: dict[str, Any] = {
        "triggers": [{"rules": [{"name": "latency"}]}],
        "target": {"kind": "Deployment", "name": "web"},
        "actions": actions
        or [
            {"name": "scale-out", "type": "scale", "scale": {"delta": 1}, "verify": {"within": "30s"}},
            {"name": "bounce", "type": "restart", "verify": {"within": "30s"}},
        ],
        "guardrails": {"cooldown": "1m", "maxExecutions": 5, "window": "1h"},
    }
    spec.update(changes)
    return RemediationPlaybookSpec.model_validate(spec)


Handler = Callable[[Step], Outcome]


class Cluster:
    """Plays the rule, the workload, the executor and the clock for one playbook."""

    def __init__(self, spec: RemediationPlaybookSpec) -> None:
        self.spec = spec
        self.status = RemediationPlaybookStatus()
        self.now = T0
        self.generation = 1
        self.replicas = 2
        self.ready: int | None = None
        """Ready replicas of the workload; None: all of them (a step's effect holds at once)."""
        self.firing_since: datetime | None = None
        self.rule_deleted = False
        self.approve: str | None = None
        self.busy: dict[tuple[str, str, str], str] = {}
        self.dry_run = False
        self.steps: list[Step] = []
        self.written: list[RemediationPlaybookStatus] = []
        self.events: list[Event] = []
        self.handlers: dict[str, Handler] = {}
        """Per action name: answer the act (or prepare, key ``prepare:<name>``) step instead of the default."""
        self.took = timedelta(0)
        """How long each act takes on the fake clock."""

    # the world ---------------------------------------------------------------------------------

    def fire(self) -> None:
        self.firing_since = self.now

    def resolve(self) -> None:
        self.firing_since = None

    def rule(self) -> dict[str, Any]:
        series = []
        if self.firing_since is not None:
            series = [{"fingerprint": "fp1", "state": "Firing", "since": self.firing_since.isoformat()}]
        return {"metadata": {"namespace": NS, "name": "latency"}, "status": {"state": "Normal", "series": series}}

    def facts(self) -> Facts:
        signals = []
        if self.firing_since is not None:
            signals = [
                Signal(source="AnomalyRule", rule=RULE, fingerprint="fp1", since=self.firing_since, namespace=NS)
            ]
        rules = {} if self.rule_deleted else {RULE: self.rule()}
        return Facts(signals=signals, rules=rules, busy=self.busy, approve=self.approve, effects=self.observe())

    def observe(self) -> dict[tuple[str, int], Observed]:
        """What the controller would read for the steps awaiting verification: the workload as the step left it."""
        seen = {}
        executions = {e.id: e for e in self.status.executions or []}
        for key in needs_effect_check(self.spec, self.status):
            params = (executions[key[0]].steps or [])[key[1]].params or {}
            workload = Workload(
                desired=self.replicas,
                replicas=self.replicas,
                ready=self.replicas if self.ready is None else self.ready,
                updated=self.replicas,
                generation=1,
                observed_generation=1,
                annotations={RESTARTED_AT: params.get("restartedAt", "")},
                limits=params,
            )
            seen[key] = Observed(workload=workload)
        return seen

    # the executor ------------------------------------------------------------------------------

    def carry_out(self, step: Step) -> Outcome:
        self.steps.append(step)
        name = self.spec.actions[step.index].name or ""
        if step.kind == "prepare":
            handler = self.handlers.get(f"prepare:{name}")
            if handler:
                return handler(step)
            if step.action.type == "scale":
                return Outcome("Succeeded", params={"replicas": str(self.replicas + 1), "from": str(self.replicas)})
            return Outcome("Succeeded", params={"restartedAt": self.now.isoformat()})
        handler = self.handlers.get(name if step.kind == "act" else "notify")
        if handler:
            return handler(step)
        if step.kind == "act" and step.action.type == "scale":
            self.replicas = int(step.params["replicas"])
        return Outcome("Succeeded", f"did {name}", at=self.now + self.took)

    # a pass ------------------------------------------------------------------------------------

    def tick(self, seconds: float = 10) -> list[Event]:
        planner = Planner(NS, "fix", self.generation, self.spec, self.status, self.facts(), self.now, self.dry_run)
        steps = planner.run()
        try:
            step = next(steps)
            while True:
                self.written.append(planner.status.model_copy(deep=True))  # the controller writes before acting
                step = steps.send(self.carry_out(step))
        except StopIteration as done:
            events: list[Event] = done.value
        self.status = planner.status
        self.events += events
        self.now += timedelta(seconds=seconds)
        return events

    # reading -----------------------------------------------------------------------------------

    def live(self) -> list[Any]:
        return [e for e in self.status.executions or [] if e.state != "Refused"]

    def execution(self) -> Any:
        return self.live()[0]

    def results(self) -> list[tuple[str, str, bool | None]]:
        return [(s.action, s.result, s.verified) for s in self.execution().steps or []]

    def reasons(self) -> list[str]:
        return [e.reason for e in self.events]

    def acts(self) -> list[str]:
        return [f"{s.kind}:{self.spec.actions[s.index].name or s.action.type}" for s in self.steps]


# --- a verified action end to end -------------------------------------------------------------------


def test_a_firing_rule_starts_an_execution_that_scales_and_is_verified() -> None:
    cluster = Cluster(make_spec())
    cluster.fire()
    cluster.tick()
    assert cluster.acts() == ["prepare:scale-out", "act:scale-out"]
    assert cluster.replicas == 3
    execution = cluster.execution()
    assert execution.state == "Verifying" and execution.target == "Deployment/web" and execution.incident
    assert cluster.results() == [("scale-out", "Succeeded", None)]
    assert cluster.status.state == "Running" and cluster.status.total_executions == 1
    cluster.tick()
    assert cluster.acts() == ["prepare:scale-out", "act:scale-out"]  # waiting within verify.within: nothing new
    cluster.resolve()
    cluster.tick()
    assert (cluster.execution().state, cluster.execution().reason) == ("Succeeded", "Verified")
    assert cluster.results() == [("scale-out", "Succeeded", True)]
    assert cluster.status.verified_executions == 1 and cluster.status.consecutive_unverified == 0
    assert cluster.status.state == "CoolingDown"
    assert cluster.reasons() == ["ExecutionStarted", "StepSucceeded", "ExecutionSucceeded"]
    started, step, ended = cluster.events
    assert started.about == (f"rule:{RULE}",) and step.about == (f"target:{NS}/Deployment/web",)
    assert ended.about == (f"rule:{RULE}",)


def test_the_execution_and_the_running_step_are_in_status_before_the_step_acts() -> None:
    cluster = Cluster(make_spec())
    cluster.fire()
    cluster.tick()
    before_prepare, before_act = cluster.written
    assert before_prepare.executions[0].state == "Running" and not before_prepare.executions[0].steps  # type: ignore[index]
    running = before_act.executions[0].steps[-1]  # type: ignore[index]
    assert running.result == "Running" and running.params == {"replicas": "3", "from": "2"}


def test_an_unverified_step_escalates_and_the_ladder_ends_exhausted() -> None:
    cluster = Cluster(make_spec())
    cluster.fire()
    cluster.tick(31)
    cluster.tick(31)  # scale-out did not help within 30s: bounce runs
    assert cluster.results() == [("scale-out", "Succeeded", False), ("bounce", "Succeeded", None)]
    cluster.tick()
    assert (cluster.execution().state, cluster.execution().reason) == ("Failed", "Exhausted")
    assert cluster.status.consecutive_unverified == 1
    assert "ExecutionFailed" in cluster.reasons()


def test_a_failed_step_escalates_within_the_same_pass() -> None:
    cluster = Cluster(make_spec())
    cluster.handlers["scale-out"] = lambda step: Outcome("Failed", "API error 422: Unprocessable", at=cluster.now)
    cluster.fire()
    cluster.tick()
    assert cluster.results() == [("scale-out", "Failed", False), ("bounce", "Succeeded", None)]
    assert "StepFailed" in cluster.reasons()


def test_a_refused_preparation_is_recorded_and_escalates() -> None:
    cluster = Cluster(make_spec())
    cluster.handlers["prepare:scale-out"] = lambda step: Outcome("Refused", "2 pods ready; minHealthy 2")
    cluster.fire()
    cluster.tick()
    assert cluster.results() == [("scale-out", "Refused", False), ("bounce", "Succeeded", None)]
    assert cluster.execution().steps[0].message == "2 pods ready; minHealthy 2"
    assert cluster.events[1].reason == "StepRefused" and cluster.events[1].about == ()


def test_a_transient_error_while_preparing_records_nothing_and_retries_next_pass() -> None:
    cluster = Cluster(make_spec())
    cluster.handlers["prepare:scale-out"] = lambda step: Outcome("Retry", "API error 503")
    cluster.fire()
    cluster.tick()
    assert cluster.execution().state == "Running" and not cluster.execution().steps
    del cluster.handlers["prepare:scale-out"]
    cluster.tick()
    assert cluster.results() == [("scale-out", "Succeeded", None)]


def test_a_transient_error_while_acting_leaves_the_step_running_and_resumes_it_with_the_same_values() -> None:
    cluster = Cluster(make_spec())
    cluster.handlers["scale-out"] = lambda step: Outcome("Retry", "API error 503: Unavailable", at=cluster.now)
    cluster.fire()
    cluster.tick()
    assert cluster.results() == [("scale-out", "Running", None)]
    del cluster.handlers["scale-out"]
    cluster.tick()
    assert cluster.acts() == ["prepare:scale-out", "act:scale-out", "act:scale-out"]  # resumed: not prepared again
    assert cluster.steps[-1].params == {"replicas": "3", "from": "2"}
    assert cluster.results() == [("scale-out", "Succeeded", None)]


def test_transient_errors_past_the_retry_window_fail_the_step() -> None:
    actions = [{"name": "scale-out", "type": "scale", "scale": {"delta": 1}, "timeout": "10m"}, {"type": "restart"}]
    cluster = Cluster(make_spec(actions))
    cluster.handlers["scale-out"] = lambda step: Outcome("Retry", "API error 503: Unavailable", at=cluster.now)
    cluster.fire()
    cluster.tick(61)
    cluster.tick()
    step = cluster.execution().steps[0]
    assert (step.result, step.message) == ("Failed", "API error 503: Unavailable")


# --- timeouts ----------------------------------------------------------------------------------------


def test_an_action_that_returns_after_its_timeout_is_timed_out_and_escalates() -> None:
    actions = [
        {"name": "scale-out", "type": "scale", "scale": {"delta": 1}, "timeout": "30s"},
        {"name": "bounce", "type": "restart"},
    ]
    cluster = Cluster(make_spec(actions))
    cluster.took = timedelta(seconds=45)
    cluster.fire()
    cluster.tick()
    first = cluster.execution().steps[0]
    assert first.result == "Failed" and first.message.startswith("timed out: not finished within timeout 30s")
    assert cluster.results()[1][0] == "bounce"  # handled like a failure: the ladder went on at once


@pytest.mark.parametrize("action_type", ["scale", "restart", "notify", "rollback", "retrain"])
def test_a_step_still_running_past_its_timeout_is_timed_out_not_resumed(action_type: str) -> None:
    settings: dict[str, Any] = {
        "scale": {"scale": {"delta": 1}},
        "notify": {"notify": {"urlSecretRef": {"name": "hook", "key": "url"}}},
        "retrain": {"retrain": {"policyRef": {"name": "p"}}},
    }.get(action_type, {})
    actions = [{"name": "first", "type": action_type, "timeout": "1m", **settings}, {"name": "last", "type": "restart"}]
    cluster = Cluster(make_spec(actions))
    cluster.handlers["first"] = lambda step: Outcome("Retry", "API error 503", at=cluster.now)
    cluster.fire()
    cluster.tick(50)
    cluster.tick(50)  # still retrying within 60s of the start: Running
    assert cluster.results() == [("first", "Running", None)]
    del cluster.handlers["first"]
    cluster.tick()  # 100s after the start, past the 1m timeout: not acted again
    assert cluster.acts().count("act:first") == 2
    first = cluster.execution().steps[0]
    assert first.result == "Failed" and "timed out" in first.message and first.verified is False
    assert cluster.results()[1] == ("last", "Succeeded", None)


# --- approval ----------------------------------------------------------------------------------------


def test_approval_holds_the_execution_until_the_annotation_names_it() -> None:
    cluster = Cluster(make_spec(approval={"required": True, "timeout": "5m"}))
    cluster.fire()
    cluster.tick()
    execution = cluster.execution()
    assert execution.state == "AwaitingApproval" and cluster.steps == [] and cluster.status.state == "AwaitingApproval"
    assert f"mlaiops.dev/approve={execution.id}" in execution.message
    cluster.approve = "someone-else"
    cluster.tick()
    assert cluster.execution().state == "AwaitingApproval" and cluster.steps == []
    cluster.approve = execution.id
    cluster.tick()
    assert (cluster.execution().state, cluster.execution().reason) == ("Verifying", "Approved")
    assert cluster.replicas == 3 and "Approved" in cluster.reasons()


def test_an_unapproved_execution_expires_after_the_approval_timeout() -> None:
    cluster = Cluster(make_spec(approval={"required": True, "timeout": "1m"}))
    cluster.fire()
    cluster.tick(59)
    cluster.tick(2)
    assert cluster.execution().state == "AwaitingApproval"
    cluster.tick()
    execution = cluster.execution()
    assert (execution.state, execution.reason) == ("Expired", "ApprovalExpired") and cluster.steps == []
    assert "ApprovalExpired" in cluster.reasons()
    assert cluster.status.consecutive_unverified in (None, 0)  # nothing acted: not a circuit breaker input


# --- guardrails --------------------------------------------------------------------------------------


def finish_one(cluster: Cluster) -> None:
    """Fire, act, resolve: one verified execution."""
    cluster.fire()
    cluster.tick()
    cluster.resolve()
    cluster.tick()
    assert cluster.execution().state == "Succeeded"


def test_cooldown_refuses_a_new_episode_then_lets_it_start_after_the_cooldown() -> None:
    cluster = Cluster(make_spec())
    finish_one(cluster)
    cluster.fire()  # a new episode 10s after the first one ended
    cluster.tick(20)
    refused = cluster.status.executions[0]  # type: ignore[index]
    assert (refused.state, refused.reason) == (
        "Refused",
        "CoolingDown",
    ) and "cooldown on Deployment/web" in refused.message
    cluster.tick(40)  # still refused: one record, updated, not one per pass
    assert [e.state for e in cluster.status.executions or []] == ["Refused", "Succeeded"]
    assert cluster.reasons().count("CoolingDown") == 1
    cluster.tick()  # the cooldown (1m from the end) is over: the episode starts, the Refused record goes
    assert [e.state for e in cluster.status.executions or []] == ["Verifying", "Succeeded"]


def test_the_rate_limit_counts_executions_in_the_window() -> None:
    cluster = Cluster(make_spec(guardrails={"cooldown": "0s", "maxExecutions": 2, "window": "1h"}))
    finish_one(cluster)
    finish_one(cluster)
    cluster.fire()
    cluster.tick()
    refused = cluster.status.executions[0]  # type: ignore[index]
    assert (refused.state, refused.reason) == ("Refused", "RateLimited")
    assert refused.message == "2 executions in the last 1h (maxExecutions 2)"


def test_a_busy_target_is_not_touched() -> None:
    spec = make_spec(target={"kind": "ModelDeployment", "name": "fraud"})
    cluster = Cluster(spec)
    cluster.fire()
    assert needs_busy_check(spec, cluster.status, cluster.facts().signals, NS, cluster.now) == {
        (NS, "ModelDeployment", "fraud")
    }
    cluster.busy = {(NS, "ModelDeployment", "fraud"): "rolling out v2"}
    cluster.tick()
    refused = cluster.status.executions[0]  # type: ignore[index]
    assert (refused.reason, refused.message) == (
        "TargetBusy",
        "ModelDeployment/fraud is rolling out v2; acting now would fight it",
    )
    assert cluster.steps == []


def test_a_target_in_another_namespace_is_refused_as_out_of_scope() -> None:
    cluster = Cluster(make_spec(target=None))
    cluster.fire()
    facts = cluster.facts()
    elsewhere = Signal(
        "AnomalyRule", "prod/latency", "fp9", cluster.now, namespace="prod", target_kind="Deployment", target_name="web"
    )
    planner = Planner(
        NS, "fix", 1, cluster.spec, cluster.status, Facts(signals=[elsewhere], rules=facts.rules), cluster.now
    )
    steps = planner.run()
    with pytest.raises(StopIteration) as done:
        next(steps)
    assert [e.reason for e in done.value.value] == ["OutOfScope"]
    assert planner.status.executions[0].target == "prod/Deployment/web"  # type: ignore[index]


def test_suspend_starts_nothing() -> None:
    cluster = Cluster(make_spec(suspend=True))
    cluster.fire()
    cluster.tick()
    assert cluster.status.executions[0].reason == "Suspended" and cluster.steps == []  # type: ignore[index]
    assert cluster.status.state == "Suspended"


# --- circuit breaker ---------------------------------------------------------------------------------


def fail_one(cluster: Cluster) -> None:
    """Fire and let every step go unverified: one Exhausted execution."""
    cluster.fire()
    for _ in range(4):
        cluster.tick(31)
    assert cluster.execution().reason == "Exhausted"
    cluster.resolve()
    cluster.tick(60)


def test_the_circuit_opens_after_max_unverified_notifies_and_resets_on_a_spec_change() -> None:
    actions = [
        {"name": "scale-out", "type": "scale", "scale": {"delta": 1}, "verify": {"within": "30s"}},
        {
            "name": "page",
            "type": "notify",
            "notify": {"urlSecretRef": {"name": "hook", "key": "url"}},
            "verify": {"within": "30s"},
        },
    ]
    spec = make_spec(
        actions, guardrails={"cooldown": "0s", "maxExecutions": 10, "circuitBreaker": {"maxUnverified": 2}}
    )
    cluster = Cluster(spec)
    sent: list[str] = []
    cluster.handlers["notify"] = lambda step: (sent.append(step.text), Outcome("Succeeded", "notified"))[1]
    fail_one(cluster)
    assert cluster.status.circuit_opened_at is None and cluster.status.consecutive_unverified == 1
    fail_one(cluster)
    assert cluster.status.circuit_opened_at is not None and cluster.status.state == "Suspended"
    assert "CircuitOpen" in cluster.reasons()
    assert sent == [
        f"RemediationPlaybook {NS}/fix suspended: 2 executions in a row did not resolve the anomaly on Deployment/web"
    ]
    assert [(n.action, n.result) for n in cluster.status.notifications or []] == [("page", "Succeeded")]
    cluster.fire()
    cluster.tick()
    assert cluster.status.executions[0].reason == "CircuitOpen"  # type: ignore[index]
    cluster.tick()
    assert len(sent) == 1  # notified once
    cluster.generation = 2  # the playbook was edited: the breaker resets
    cluster.tick()
    assert cluster.status.circuit_opened_at is None and cluster.status.consecutive_unverified == 0
    cluster.tick()
    assert cluster.execution().state in ("Running", "Verifying")


def test_circuit_notifications_in_dry_run_are_recorded_not_sent() -> None:
    actions = [
        {"name": "scale-out", "type": "scale", "scale": {"delta": 1}},
        {"name": "page", "type": "notify", "notify": {"urlSecretRef": {"name": "hook", "key": "url"}}},
    ]
    status = RemediationPlaybookStatus(consecutive_unverified=3)
    planner = Planner(NS, "fix", 1, make_spec(actions), status, Facts(signals=[]), T0, dry_run=True)
    with pytest.raises(StopIteration):
        next(planner.run())
    assert [(n.action, n.result) for n in planner.status.notifications or []] == [("page", "DryRun")]


# --- dry run -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("where", ["spec", "operator"])
def test_dry_run_records_every_step_with_its_values_and_acts_on_nothing(where: str) -> None:
    cluster = Cluster(make_spec(dryRun=where == "spec"))
    cluster.dry_run = where == "operator"
    cluster.fire()
    cluster.tick()
    assert cluster.acts() == ["prepare:scale-out", "prepare:bounce"]  # values decided, nothing applied
    assert cluster.replicas == 2
    execution = cluster.execution()
    assert (execution.state, execution.reason) == ("DryRun", "DryRun")
    assert [(s.result, s.message) for s in execution.steps or []] == [
        ("DryRun", "would scale Deployment/web replicas=3"),
        ("DryRun", f"would restart Deployment/web restartedAt={T0.isoformat()}"),
    ]
    condition = next(c for c in cluster.status.conditions or [] if c.type == "Ready")
    assert condition.reason == "DryRun"


# --- suspendRule, resolution, bookkeeping ------------------------------------------------------------


def test_suspend_rule_mutes_the_rule_in_status_until_it_expires() -> None:
    cluster = Cluster(
        make_spec(
            [{"name": "mute", "type": "suspendRule", "suspendRule": {"duration": "2m"}, "verify": {"within": "30s"}}]
        )
    )
    cluster.fire()
    cluster.tick()
    assert cluster.status.suspended_rules and cluster.status.suspended_rules[0].rule == RULE
    assert "ignored until" in cluster.execution().steps[0].message
    for _ in range(2):
        cluster.tick(31)
    assert cluster.execution().reason == "Exhausted"
    cluster.fire()  # a new episode while muted: nothing starts
    cluster.tick()
    assert len(cluster.live()) == 1
    cluster.tick(60)
    cluster.tick()
    assert len(cluster.live()) == 2  # the suspension expired: the episode started (and mutes the rule anew)
    assert cluster.status.suspended_rules[0].until == cluster.now - timedelta(seconds=10) + timedelta(minutes=2)


def test_a_deleted_rule_counts_as_resolved() -> None:
    cluster = Cluster(make_spec())
    cluster.fire()
    cluster.tick()
    cluster.rule_deleted = True
    cluster.tick()
    assert (cluster.execution().state, cluster.execution().reason) == ("Succeeded", "Verified")


def test_a_rule_that_cannot_tell_never_counts_as_resolved() -> None:
    cluster = Cluster(make_spec())
    cluster.fire()
    cluster.tick()
    execution = cluster.execution()
    rule = cluster.rule()
    for state in ("Error", "NoData"):
        rule["status"] = {"state": state, "series": []}
        assert not is_resolved(execution, Facts(signals=[], rules={RULE: rule}))
    rule["status"] = {
        "state": "Normal",
        "series": [{"fingerprint": "fp1", "state": "Firing", "since": "2026-11-27T13:00:00Z"}],
    }
    assert is_resolved(execution, Facts(signals=[], rules={RULE: rule}))  # fired again later: a new episode


def test_alert_executions_resolve_from_the_alert_store() -> None:
    cluster = Cluster(make_spec())
    cluster.fire()
    cluster.tick()
    execution = cluster.execution().model_copy(update={"trigger": "alert:HighLatency"})
    alert = Signal("Alertmanager", "HighLatency", "fp1", T0)
    assert not is_resolved(execution, Facts(signals=[], alerts={"fp1": alert}))
    gone = Signal("Alertmanager", "HighLatency", "fp1", T0, firing=False)
    assert is_resolved(execution, Facts(signals=[], alerts={"fp1": gone}))


def test_status_keeps_every_unfinished_execution_and_the_newest_finished_ones() -> None:
    cluster = Cluster(make_spec())
    cluster.fire()
    cluster.tick()
    old = cluster.execution()
    finished = [
        old.model_copy(update={"id": f"old-{i}", "state": "Succeeded", "finished_at": T0 - timedelta(hours=2)})
        for i in range(MAX_EXECUTIONS_KEPT + 5)
    ]
    cluster.status.executions = [old, *finished]
    cluster.tick()
    kept = cluster.status.executions or []
    assert len(kept) == MAX_EXECUTIONS_KEPT and kept[0].id == old.id and kept[-1].id == f"old-{MAX_EXECUTIONS_KEPT - 2}"

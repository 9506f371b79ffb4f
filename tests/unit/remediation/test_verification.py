"""Verification that cannot credit the wrong thing, on a fake clock: the window (from the step's finish),
the step's effect (read from the target, judged purely), and what a resumed verification records when
the window is already over."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from mlaiops.api.remediationplaybook import ExecutionRecord, RemediationPlaybookSpec, RemediationPlaybookStatus
from mlaiops.remediation import actions, effects, ladder
from mlaiops.remediation.effects import RESTARTED_AT, Effect, Observed, Workload
from mlaiops.remediation.planner import Facts, Outcome, Planner, needs_effect_check
from tests.unit.remediation.test_actions import FakeKube, deployment, pod
from tests.unit.remediation.test_planner import Cluster, make_spec

T0 = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
SPEC = RemediationPlaybookSpec.model_validate(
    {
        "triggers": [{"rules": [{"name": "latency"}]}],
        "actions": [
            {"name": "add-four", "type": "scale", "scale": {"delta": 4}, "verify": {"within": "30s"}},
            {"name": "bounce", "type": "restart", "verify": {"within": "30s"}},
        ],
    }
)
NOT_READY = Effect(False, "2 of 6 replicas ready")


def running() -> ExecutionRecord:
    return ExecutionRecord(id="e1", target="ModelDeployment/churn", state="Running", started_at=T0)


def acted(record: ExecutionRecord, index: int, started: datetime, finished: datetime | None = None) -> None:
    step = ladder.begin_step(SPEC, record, index, "ModelDeployment/churn", started, {"replicas": "6", "from": "2"})
    ladder.end_step(step, "Succeeded", "scaled", finished or started)


def ending(record: ExecutionRecord) -> tuple[Any, ...]:
    return record.state, record.reason, record.message


# --- the ladder: window, effect, resume -------------------------------------------------------------------


def test_resolved_with_the_effect_holding_inside_the_window_is_verified() -> None:
    record = running()
    acted(record, 0, T0)
    assert ladder.progress(SPEC, record, True, T0 + timedelta(seconds=29), effects.HOLDS) == ladder.Move("done")
    assert (record.state, record.reason) == ("Succeeded", "Verified") and record.steps[0].verified is True  # type: ignore[index]


def test_resolved_while_the_effect_does_not_hold_waits_and_is_verified_once_it_holds() -> None:
    record = running()
    acted(record, 0, T0)
    assert ladder.progress(SPEC, record, True, T0 + timedelta(seconds=5), NOT_READY) == ladder.Move("wait")
    assert record.state == "Verifying" and record.steps[0].verified is None  # type: ignore[index]
    assert ending(record) == (
        "Verifying",
        "AwaitingEffect",
        "add-four: the anomaly resolved; its effect does not hold yet (2 of 6 replicas ready)",
    )
    ladder.progress(SPEC, record, False, T0 + timedelta(seconds=10), NOT_READY)  # fires again: no longer says so
    assert ending(record) == ("Verifying", "Verifying", "add-four: the anomaly fires again")
    assert ladder.progress(SPEC, record, True, T0 + timedelta(seconds=20), effects.HOLDS) == ladder.Move("done")
    assert record.reason == "Verified"


def test_an_effect_that_never_holds_within_the_window_is_unverified_and_the_ladder_stops() -> None:
    record = running()
    acted(record, 0, T0)
    ladder.progress(SPEC, record, True, T0 + timedelta(seconds=29), NOT_READY)
    assert ladder.progress(SPEC, record, True, T0 + timedelta(seconds=30), NOT_READY) == ladder.Move("done")
    assert ending(record) == (
        "Failed",
        "Unverified",
        "add-four: the anomaly resolved, but its effect did not hold within 30s (2 of 6 replicas ready)",
    )
    assert record.steps[0].verified is False and len(record.steps or []) == 1  # type: ignore[index]
    assert record.finished_at == T0 + timedelta(seconds=30) and ladder.counts_as_unverified(record)


def test_a_resumed_verification_after_the_window_records_expired_and_credits_nothing() -> None:
    """The operator was down while the window ran out; when it is back the anomaly is gone and the effect
    holds, but nobody saw it resolve inside the window: Expired, never Verified, not a breaker input."""
    record = running()
    acted(record, 0, T0)
    assert ladder.progress(SPEC, record, True, T0 + timedelta(minutes=5), effects.HOLDS) == ladder.Move("done")
    assert ending(record) == (
        "Expired",
        "VerificationExpired",
        "add-four: the anomaly was first seen resolved after verify.within (30s) had run out; not credited",
    )
    assert record.steps[0].verified is False and not ladder.counts_as_unverified(record)  # type: ignore[index]


def test_a_resumed_verification_after_the_window_with_the_effect_missing_is_unverified() -> None:
    """The issue's case: resumed after the window, the surge over on its own, 2 of 6 pods Ready."""
    record = running()
    acted(record, 0, T0)
    ladder.progress(SPEC, record, True, T0 + timedelta(minutes=5), NOT_READY)
    assert (record.state, record.reason) == ("Failed", "Unverified") and record.steps[0].verified is False  # type: ignore[index]


def test_a_resumed_verification_after_the_window_still_firing_escalates() -> None:
    record = running()
    acted(record, 0, T0)
    assert ladder.progress(SPEC, record, False, T0 + timedelta(minutes=5), effects.HOLDS) == ladder.Move("act", 1)
    assert record.steps[0].verified is False and record.state == "Running"  # type: ignore[index]


def test_the_window_counts_from_the_step_finish_not_its_start() -> None:
    record = running()
    acted(record, 0, T0, finished=T0 + timedelta(seconds=50))  # a slow action
    at = T0 + timedelta(seconds=70)  # 70s after the start, 20s after the finish: inside
    assert ladder.verify_deadline(SPEC.actions[0], record.steps[0]) == T0 + timedelta(seconds=80)  # type: ignore[index]
    assert ladder.progress(SPEC, record, True, at, effects.HOLDS) == ladder.Move("done")
    assert record.reason == "Verified"


def test_a_resolution_observed_before_the_step_finished_is_not_credited() -> None:
    """Facts read at the start of a pass cannot credit a step that finished later in the same pass."""
    record = running()
    acted(record, 0, T0, finished=T0 + timedelta(seconds=1))
    assert ladder.progress(SPEC, record, True, T0, effects.HOLDS) == ladder.Move("wait")
    assert ladder.progress(SPEC, record, True, T0 + timedelta(seconds=1), effects.HOLDS) == ladder.Move("wait")
    assert record.state == "Verifying" and record.steps[0].verified is None  # type: ignore[index]


# --- the planner: observations by step, the issue's story on a fake cluster ---------------------------------


def scale_spec(within: str = "30s") -> RemediationPlaybookSpec:
    return make_spec(
        [
            {"name": "add-four", "type": "scale", "scale": {"delta": 4}, "verify": {"within": within}},
            {"name": "bounce", "type": "restart", "verify": {"within": within}},
        ]
    )


def add_four(within: str = "30s") -> Cluster:
    """A fake cluster whose scale step takes the ModelDeployment from 2 to 6 replicas."""
    cluster = Cluster(scale_spec(within))
    cluster.handlers["prepare:add-four"] = lambda step: Outcome("Succeeded", params={"replicas": "6", "from": "2"})
    return cluster


def test_pods_that_are_not_ready_keep_the_step_verifying_until_they_are() -> None:
    cluster = add_four()
    cluster.fire()
    cluster.tick()
    cluster.ready = 2  # the ModelDeployment says 6, the pods lag
    cluster.resolve()
    cluster.tick()
    assert cluster.execution().state == "Verifying" and cluster.results() == [("add-four", "Succeeded", None)]
    cluster.ready = None  # all 6 ready, 20s after the step
    cluster.tick()
    assert (cluster.execution().state, cluster.execution().reason) == ("Succeeded", "Verified")


def test_the_issue_story_a_kill_while_verifying_resumed_after_the_window_credits_nothing() -> None:
    cluster = add_four()
    cluster.fire()
    cluster.tick()  # scaled 2 -> 6; the operator is killed now
    cluster.ready = 2
    cluster.resolve()  # the surge ends on its own while the operator is down
    cluster.now += timedelta(minutes=2)  # back after verify.within ran out
    cluster.tick()
    execution = cluster.execution()
    assert (execution.state, execution.reason) == ("Failed", "Unverified") and "2 of 6 replicas ready" in (
        execution.message
    )
    assert cluster.results() == [("add-four", "Succeeded", False)] and cluster.status.verified_executions is None
    assert cluster.status.consecutive_unverified == 1 and cluster.acts().count("act:bounce") == 0
    assert cluster.reasons()[-1] == "ExecutionFailed"


def test_resumed_after_the_window_with_every_pod_ready_the_execution_expires() -> None:
    cluster = add_four()
    cluster.fire()
    cluster.tick()
    cluster.resolve()
    cluster.now += timedelta(minutes=2)
    cluster.tick()
    assert (cluster.execution().state, cluster.execution().reason) == ("Expired", "VerificationExpired")
    assert cluster.status.consecutive_unverified in (None, 0) and cluster.status.verified_executions is None
    assert cluster.reasons()[-1] == "ExecutionExpired"


def test_a_step_without_an_observation_is_not_credited() -> None:
    cluster = add_four()
    cluster.fire()
    cluster.tick()
    cluster.resolve()
    facts = cluster.facts()
    blind = Facts(signals=facts.signals, rules=facts.rules)  # the controller could not read the target
    planner = Planner("shop", "fix", 1, cluster.spec, cluster.status, blind, cluster.now)
    with pytest.raises(StopIteration):
        next(planner.run())
    assert planner.status.executions[0].state == "Verifying"  # type: ignore[index]


def test_only_finished_unjudged_steps_with_an_effect_are_observed() -> None:
    spec = make_spec(
        [
            {"name": "add-four", "type": "scale", "scale": {"delta": 4}},
            {"name": "page", "type": "notify", "notify": {"urlSecretRef": {"name": "hook", "key": "url"}}},
        ]
    )
    record = running()
    status = RemediationPlaybookStatus(executions=[record])
    assert needs_effect_check(spec, status) == []  # nothing acted yet
    ladder.begin_step(spec, record, 0, "ModelDeployment/churn", T0, {"replicas": "6", "from": "2"})
    assert needs_effect_check(spec, status) == []  # still Running
    ladder.end_step(record.steps[0], "Succeeded", "scaled", T0)  # type: ignore[index]
    assert needs_effect_check(spec, status) == [("e1", 0)]
    record.steps[0].verified = False  # type: ignore[index]
    ladder.begin_step(spec, record, 1, "ModelDeployment/churn", T0)
    ladder.end_step(record.steps[1], "Succeeded", "notified", T0)  # type: ignore[index]
    assert needs_effect_check(spec, status) == []  # notify: nothing on the cluster to re-check
    record.state = "Failed"
    assert needs_effect_check(spec, status) == []


# --- effects.judge, per action type --------------------------------------------------------------------------


def action(kind: str, **settings: Any) -> Any:
    return RemediationPlaybookSpec.model_validate(
        {"triggers": [{"rules": [{"name": "r"}]}], "actions": [{"type": kind, **settings}]}
    ).actions[0]


SCALE = action("scale", scale={"delta": 4})


def settled(**changes: Any) -> Workload:
    values: dict[str, Any] = {
        "desired": 6,
        "replicas": 6,
        "ready": 6,
        "updated": 6,
        "generation": 3,
        "observed_generation": 3,
    }
    values.update(changes)
    return Workload(**values)


@pytest.mark.parametrize(
    ("params", "workload", "holds", "message"),
    [
        ({"replicas": "6", "from": "2"}, settled(), True, "6 of 6 replicas ready"),
        ({"replicas": "6", "from": "2"}, settled(ready=2), False, "2 of 6 replicas ready"),
        ({"replicas": "6", "from": "2"}, settled(desired=8, replicas=8, ready=8), True, "8 of 6 replicas ready"),
        ({"replicas": "2", "from": "6"}, settled(desired=2, replicas=4, ready=4), False, "4 replicas still running"),
        ({"replicas": "2", "from": "6"}, settled(desired=2, replicas=2, ready=2), True, "2 of 2 replicas ready"),
    ],
)
def test_scale_holds_when_the_replicas_it_asked_for_are_ready(
    params: dict[str, str], workload: Workload, holds: bool, message: str
) -> None:
    verdict = effects.judge(SCALE, params, "r", T0, Observed(workload=workload))
    assert verdict.holds is holds and message in verdict.message


def test_scale_through_an_hpa_holds_when_its_bounds_stay_raised_and_the_pods_came() -> None:
    params = {"hpa": "web", "minReplicas": "3", "maxReplicas": "3", "from": "1-2"}
    assert effects.judge(SCALE, params, "r", T0, Observed(workload=settled(ready=3), hpa_min=3)).holds
    lowered = effects.judge(SCALE, params, "r", T0, Observed(workload=settled(ready=3), hpa_min=1))
    assert lowered == Effect(False, "HPA web minReplicas is 1, not 3")
    assert not effects.judge(SCALE, params, "r", T0, Observed(workload=settled(ready=1), hpa_min=3)).holds


def test_restart_holds_once_its_rollout_completed_with_its_annotation() -> None:
    restart = action("restart")
    params = {"restartedAt": "2026-11-27T12:00:00Z"}
    mine = {RESTARTED_AT: params["restartedAt"]}
    assert effects.judge(restart, params, "r", T0, Observed(workload=settled(annotations=mine))).holds
    for workload, message in [
        (settled(annotations={}), "the pod template no longer carries this restart"),
        (settled(annotations=mine, observed_generation=2), "the workload controller has not observed the change yet"),
        (settled(annotations=mine, updated=3), "3 of 6 replicas updated"),
        (settled(annotations=mine, ready=5), "5 of 6 replicas ready"),
        (settled(annotations=mine, replicas=8), "2 old replicas still terminating"),
        (
            settled(annotations=mine, observed_generation=None),
            "the workload controller has not observed the change yet",
        ),
    ]:
        verdict = effects.judge(restart, params, "r", T0, Observed(workload=workload))
        assert not verdict.holds and verdict.message == message


def test_adjust_resources_holds_once_the_raised_limits_rolled_out() -> None:
    adjust = action("adjustResources", adjustResources={"factor": 2})
    params = {"web.memory": "512Mi"}
    assert effects.judge(adjust, params, "r", T0, Observed(workload=settled(limits=params))).holds
    reverted = effects.judge(adjust, params, "r", T0, Observed(workload=settled(limits={"web.memory": "256Mi"})))
    assert reverted == Effect(False, "the pod template no longer sets web.memory")
    assert not effects.judge(adjust, params, "r", T0, Observed(workload=settled(limits=params, ready=0))).holds


def test_delete_pod_holds_when_the_pod_is_gone_or_recreated_and_the_workload_is_whole() -> None:
    delete = action("deletePod", deletePod={})
    params = {"pod": "web-0"}
    assert effects.judge(delete, params, "r", T0, Observed(workload=settled())).holds
    recreated = Observed(workload=settled(), pod_created=T0 + timedelta(seconds=3))  # a StatefulSet's same name
    assert effects.judge(delete, params, "r", T0, recreated).holds
    still = effects.judge(delete, params, "r", T0, Observed(workload=settled(), pod_created=T0 - timedelta(hours=1)))
    assert still == Effect(False, "pod web-0 is still there")
    assert not effects.judge(delete, params, "r", T0, Observed(workload=settled(ready=5))).holds


def test_rollback_and_retrain_hold_once_their_request_was_taken() -> None:
    rollback = action("rollback")
    taken = Observed(workload=settled(updated=None), request="playbook-fix-1@2026-11-27T12:00:00Z")
    assert effects.judge(rollback, {}, "playbook-fix-1", T0, taken).holds
    other = Observed(workload=settled(updated=None), request="someone@2026-11-27T12:00:00Z")
    assert not effects.judge(rollback, {}, "playbook-fix-1", T0, other).holds
    retrain = action("retrain", retrain={"policyRef": {"name": "p"}})
    assert effects.judge(retrain, {}, "playbook-fix-1", T0, Observed(request="playbook:playbook-fix-1@x")).holds
    assert not effects.judge(retrain, {}, "playbook-fix-1", T0, Observed(request=None)).holds


def test_what_cannot_be_observed_never_holds_and_what_has_no_effect_always_does() -> None:
    assert effects.judge(SCALE, {"replicas": "6"}, "r", T0, Observed()) == Effect(False, "the target is gone")
    failed = effects.judge(SCALE, {"replicas": "6"}, "r", T0, Observed(error="API error 503: Unavailable"))
    assert failed == Effect(False, "could not observe its effect: API error 503: Unavailable")
    notify = action("notify", notify={"urlSecretRef": {"name": "hook", "key": "url"}})
    assert effects.judge(notify, {}, "r", T0, Observed()) is effects.HOLDS


# --- actions.observe: what the controller reads --------------------------------------------------------------


def context(kube: Any, kind: str, name: str, act: Any) -> actions.Context:
    spec = RemediationPlaybookSpec.model_validate(
        {
            "triggers": [{"rules": [{"name": "r"}]}],
            "actions": [{"type": "notify", "notify": {"urlSecretRef": {"name": "h", "key": "u"}}}],
        }
    )
    return actions.Context(kube, "shop", kind, name, spec, act, "e1", "playbook-fix-1", now=T0)  # type: ignore[arg-type]


def test_observe_reads_a_model_deployment_s_ready_replicas_for_a_scale() -> None:
    md = {
        "apiVersion": "mlaiops.dev/v1alpha1",
        "kind": "ModelDeployment",
        "metadata": {"name": "churn", "namespace": "shop", "generation": 4},
        "spec": {"replicas": 6},
        "status": {"replicas": 6, "readyReplicas": 2, "observedGeneration": 4},
    }
    seen = actions.observe(context(FakeKube(md), "ModelDeployment", "churn", SCALE), {"replicas": "6", "from": "2"})
    assert seen.workload == Workload(desired=6, replicas=6, ready=2, updated=None, generation=4, observed_generation=4)
    assert effects.judge(SCALE, {"replicas": "6", "from": "2"}, "r", T0, seen) == Effect(False, "2 of 6 replicas ready")


def test_observe_reads_the_pods_deployment_of_a_restart_and_the_deleted_pod() -> None:
    stable = deployment()
    stable["metadata"].update(name="churn-stable", generation=2)
    stable["spec"]["template"]["metadata"] = {"annotations": {RESTARTED_AT: "t1"}}
    stable["spec"]["template"]["spec"]["containers"][0]["resources"] = {"limits": {"memory": "1Gi"}}
    stable["status"] = {"observedGeneration": 2, "replicas": 2, "readyReplicas": 2, "updatedReplicas": 2}
    old = pod("web-a", True)
    old["metadata"]["creationTimestamp"] = "2026-11-27T11:00:00Z"
    kube = FakeKube(stable, old)
    seen = actions.observe(context(kube, "ModelDeployment", "churn", action("restart")), {"restartedAt": "t1"})
    assert seen.workload is not None and seen.workload.annotations == {RESTARTED_AT: "t1"}
    assert seen.workload.limits == {"web.memory": "1Gi"} and seen.workload.updated == 2
    delete = action("deletePod", deletePod={})
    gone = actions.observe(context(kube, "ModelDeployment", "churn", delete), {"pod": "web-z"})
    assert gone.pod_created is None
    there = actions.observe(context(kube, "ModelDeployment", "churn", delete), {"pod": "web-a"})
    assert there.pod_created == datetime(2026, 11, 27, 11, 0, tzinfo=UTC)


def test_observe_reads_the_request_a_rollback_or_retrain_was_taken_with() -> None:
    md = {"kind": "ModelDeployment", "metadata": {"name": "churn"}, "spec": {}, "status": {"rollbackRequest": "x@1"}}
    policy = {"kind": "RetrainPolicy", "metadata": {"name": "p"}, "status": {"lastRequest": "playbook:y@2"}}
    kube = FakeKube(md, policy)
    assert actions.observe(context(kube, "ModelDeployment", "churn", action("rollback")), {}).request == "x@1"
    retrain = action("retrain", retrain={"policyRef": {"name": "p"}})
    assert actions.observe(context(kube, "ModelDeployment", "churn", retrain), {}).request == "playbook:y@2"


def test_observe_a_missing_target_and_an_hpa() -> None:
    assert actions.observe(context(FakeKube(), "Deployment", "web", SCALE), {"replicas": "3"}).workload is None
    hpa = {"kind": "HorizontalPodAutoscaler", "metadata": {"name": "web"}, "spec": {"minReplicas": 3, "maxReplicas": 3}}
    seen = actions.observe(
        context(FakeKube(deployment(), hpa), "Deployment", "web", SCALE), {"hpa": "web", "minReplicas": "3"}
    )
    assert seen.hpa_min == 3 and seen.workload is not None and seen.workload.desired == 2

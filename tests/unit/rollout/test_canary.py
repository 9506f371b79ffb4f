"""The rollout state machine, driven tick by tick against a cluster that does what the plan says."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from mlaiops.api.modeldeployment import ModelDeploymentSpec, ModelDeploymentStatus
from mlaiops.resources.modelserver import ResolvedModel
from mlaiops.rollout.analysis import MetricOutcome
from mlaiops.rollout.canary import Observed, Plan, analysis_due, plan_rollout
from mlaiops.rollout.servers import ServerFailure

T0 = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
V1 = ResolvedModel("file:///m/v1.joblib", "v1")
V2 = ResolvedModel("file:///m/v2.joblib", "v2")


def make_spec(**changes: Any) -> ModelDeploymentSpec:
    spec: dict[str, Any] = {
        "model": {"storageUri": "file:///m/v1.joblib"},
        "replicas": 4,
        "rollout": {"canary": {"steps": [{"weight": 25, "pause": "1m"}, {"weight": 50, "pause": "1m"}]}},
        "analysis": {
            "interval": "30s",
            "failureLimit": 1,
            "consecutiveErrorLimit": 2,
            "metrics": [{"name": "request-success-rate", "thresholdRange": {"min": 0.99}}],
        },
    }
    spec.update(changes)
    return ModelDeploymentSpec.model_validate(spec)


class Cluster:
    """Plays the cluster and the clock: after each plan, the planned replicas exist and are ready."""

    def __init__(self, spec: ModelDeploymentSpec) -> None:
        self.spec = spec
        self.status: ModelDeploymentStatus | None = None
        self.now = T0
        self.observed = Observed()
        self.plans: list[Plan] = []

    def tick(
        self,
        desired: ResolvedModel | None,
        outcome: str | None = None,
        seconds: float = 30,
        rollback: str | None = None,
        ready: bool = True,
        outcomes: list[MetricOutcome] | None = None,
    ) -> Plan:
        if outcomes is None and outcome:
            outcomes = [MetricOutcome("request-success-rate", outcome, 0.5)]
        plan = plan_rollout(self.spec, self.status, desired, self.observation(), self.now, 1, outcomes, rollback)
        self.status = plan.status
        self.plans.append(plan)
        self.observed = self.observe(plan, ready)
        self.now += timedelta(seconds=seconds)
        return plan

    def observation(self) -> Observed:
        """What the planner is shown this tick (a subclass may add what else it fakes)."""
        return self.observed

    def observe(self, plan: Plan, ready: bool) -> Observed:
        """The cluster after ``plan``: the planned replicas exist, and are Ready unless ``ready`` is False."""
        return Observed(
            stable_ready=plan.stable_replicas if ready else 0,
            canary_ready=plan.canary_replicas if ready else 0,
            stable_replicas=plan.stable_replicas,
            canary_replicas=plan.canary_replicas,
            stable_version=plan.stable.version if plan.stable else None,
        )

    def condition(self, kind: str) -> tuple[str, str]:
        assert self.status is not None
        found = next(c for c in self.status.conditions or [] if c.type == kind)
        return found.status, found.reason

    def events(self) -> list[str]:
        return [event.reason for plan in self.plans for event in plan.events]


def deployed(spec: ModelDeploymentSpec | None = None) -> Cluster:
    cluster = Cluster(spec or make_spec())
    cluster.tick(V1)
    cluster.tick(V1)
    assert cluster.status is not None and cluster.status.phase == "Ready"
    return cluster


def test_waiting_for_a_model() -> None:
    cluster = Cluster(make_spec())
    plan = cluster.tick(None)
    assert plan.status.phase == "Pending" and plan.stable is None
    assert cluster.condition("Ready") == ("False", "WaitingForModel")


def test_first_deployment_skips_analysis_and_becomes_ready() -> None:
    cluster = Cluster(make_spec())
    plan = cluster.tick(V1)
    assert (plan.stable, plan.stable_replicas, plan.canary) == (V1, 4, None)
    assert plan.status.phase == "Progressing" and cluster.condition("Ready") == ("False", "ReplicasNotReady")
    plan = cluster.tick(V1)
    assert plan.status.phase == "Ready" and plan.status.ready == "4/4"
    assert cluster.condition("Ready") == ("True", "Available")
    assert [r.reason for r in plan.status.history or []] == ["InitialDeployment"]


def test_canary_passes_every_step_and_is_promoted() -> None:
    cluster = deployed()
    plan = cluster.tick(V2)  # canary created; pods not ready yet in the cluster
    assert (plan.stable, plan.stable_replicas, plan.canary, plan.canary_replicas) == (V1, 3, V2, 1)
    assert plan.status.canary_weight == 25 and plan.status.step_started_at is None
    plan = cluster.tick(V2)  # canary pods ready: step 0's pause starts now
    assert plan.status.step_started_at is not None
    assert analysis_due(cluster.spec, plan.status, cluster.now)
    cluster.tick(V2, "Successful")
    plan = cluster.tick(V2, "Successful")  # 60 s after the step started: advance
    assert plan.status.current_step == 1 and (plan.stable_replicas, plan.canary_replicas) == (2, 2)
    assert plan.status.canary_weight == 50
    for _ in range(4):
        plan = cluster.tick(V2, "Successful")
    assert plan.status.canary_model is None and plan.status.stable_model.version == "v2"
    assert (plan.stable, plan.stable_replicas, plan.canary_replicas) == (V2, 4, 0)
    assert plan.status.history[0].outcome == "Promoted" and plan.status.history[0].reason == "AnalysisPassed"
    assert plan.status.last_action == "Promoted v2"
    assert cluster.events() == ["Deployed", "CanaryStarted", "StepAdvanced", "Promoted"]
    plan = cluster.tick(V2)
    assert plan.status.phase == "Ready" and cluster.condition("Progressing") == ("False", "RolloutComplete")


def test_a_step_does_not_advance_without_a_passing_analysis() -> None:
    cluster = deployed()
    cluster.tick(V2)
    for _ in range(6):  # three minutes of ticks, pause long over, but no analysis has passed
        plan = cluster.tick(V2)
    assert plan.status.current_step == 0 and plan.status.canary_model is not None


def test_failed_analysis_rolls_back_and_is_not_retried() -> None:
    cluster = deployed()
    cluster.tick(V2)
    cluster.tick(V2)
    plan = cluster.tick(V2, "Failed")
    assert plan.status.canary_model is not None  # failureLimit 1: one failure is tolerated
    plan = cluster.tick(V2, "Failed")
    assert plan.status.canary_model is None and plan.canary_replicas == 0
    assert (plan.stable, plan.stable_replicas) == (V1, 4)
    assert plan.status.failed_model.version == "v2" and plan.status.stable_model.version == "v1"
    assert plan.status.history[0].outcome == "RolledBack" and plan.status.history[0].reason == "AnalysisFailed"
    assert "failed analysis (request-success-rate" in plan.status.history[0].message
    for _ in range(3):  # the spec still names v2: nothing is rolled out again
        plan = cluster.tick(V2)
    assert plan.status.canary_model is None and plan.status.phase == "RolledBack"
    assert cluster.condition("RolledBack")[0] == "True" and cluster.condition("Ready") == ("True", "RolledBack")
    assert cluster.events().count("CanaryStarted") == 1
    plan = cluster.tick(ResolvedModel("file:///m/v3.joblib", "v3"))  # a new model starts a new canary
    assert plan.status.canary_model.version == "v3" and cluster.condition("RolledBack")[0] == "False"


def test_a_relative_metric_rolls_back_at_its_first_failure_whatever_failure_limit_says() -> None:
    # Its test is sequential: alpha already bounds its false failures over every evaluation, so the first crossing
    # is the decision. A threshold metric beside it still has failureLimit's tolerance.
    metrics = [
        {"name": "request-success-rate", "thresholdRange": {"min": 0.99}},
        {"name": "latency-vs-stable"},
    ]
    analysis = {"interval": "30s", "failureLimit": 3, "metrics": metrics}
    cluster = deployed(make_spec(analysis=analysis))
    cluster.tick(V2)
    cluster.tick(V2)
    fine = MetricOutcome("latency-vs-stable", "Successful", 0.5)
    for _ in range(3):  # three failures of the threshold metric: tolerated
        plan = cluster.tick(V2, outcomes=[MetricOutcome("request-success-rate", "Failed", 0.9), fine])
        assert plan.status.canary_model is not None
    slower = MetricOutcome("latency-vs-stable", "Failed", 0.001, "canary slower than stable")
    plan = cluster.tick(V2, outcomes=[MetricOutcome("request-success-rate", "Successful", 1.0), slower])
    assert plan.status.canary_model is None and plan.status.history[0].reason == "AnalysisFailed"
    assert plan.status.history[0].message == (
        "canary v2 failed analysis (latency-vs-stable: canary slower than stable)"
    )
    dry = [{**metrics[1], "dryRun": True}]  # a dry run never decides, not even at once
    cluster = deployed(make_spec(analysis={**analysis, "metrics": [metrics[0], *dry]}))
    cluster.tick(V2)
    cluster.tick(V2)
    plan = cluster.tick(V2, outcomes=[MetricOutcome("request-success-rate", "Successful", 1.0), slower])
    assert plan.status.canary_model is not None


def test_provider_errors_hold_the_rollout_as_degraded_never_pass_or_fail() -> None:
    cluster = deployed()
    cluster.tick(V2)
    cluster.tick(V2)
    for _ in range(3):
        plan = cluster.tick(V2, "Error", seconds=60)
    assert plan.status.phase == "Degraded" and cluster.condition("Degraded") == ("True", "AnalysisError")
    for _ in range(5):
        plan = cluster.tick(V2, "Error", seconds=60)
    assert plan.status.canary_model.version == "v2" and plan.status.current_step == 0  # no promotion
    assert plan.status.failed_model is None  # no rollback by mistake
    plan = cluster.tick(V2, "Successful", seconds=60)  # Prometheus is back
    assert cluster.condition("Degraded")[0] == "False" and plan.status.phase == "Progressing"
    plan = cluster.tick(V2, "Successful")
    assert plan.status.current_step == 1


def test_no_data_holds_the_step_and_says_why() -> None:
    cluster = deployed()
    cluster.tick(V2)
    cluster.tick(V2)
    for _ in range(4):
        plan = cluster.tick(V2, "Inconclusive")
    assert plan.status.current_step == 0
    assert cluster.condition("Progressing") == ("True", "AnalysisInconclusive")


def test_paused_rollout_holds() -> None:
    cluster = deployed(make_spec(paused=True))
    cluster.tick(V2)
    for _ in range(4):
        plan = cluster.tick(V2, "Successful")
    assert plan.status.current_step == 0 and cluster.condition("Progressing") == ("True", "Paused")
    assert not analysis_due(cluster.spec, plan.status, cluster.now)


def test_rollback_request_aborts_a_canary_once() -> None:
    cluster = deployed()
    cluster.tick(V2)
    plan = cluster.tick(V2, rollback="incident-42")
    assert plan.status.canary_model is None and plan.status.failed_model.version == "v2"
    assert plan.status.history[0].reason == "RollbackRequested"
    history = len(plan.status.history)
    plan = cluster.tick(V2, rollback="incident-42")  # the same request again: nothing more happens
    assert len(plan.status.history) == history


def test_rollback_request_after_promotion_restores_the_previous_stable() -> None:
    cluster = deployed(make_spec(rollout={"strategy": "RollingUpdate"}))
    plan = cluster.tick(V2)
    assert (plan.stable, plan.canary) == (V2, None) and plan.status.history[0].version == "v1"  # not Ready yet
    plan = cluster.tick(V2)
    assert plan.status.history[0].reason == "RollingUpdate" and plan.status.last_action == "Promoted v2"
    plan = cluster.tick(V2, rollback="latency")
    assert plan.stable == V1 and plan.status.failed_model.version == "v2"
    assert plan.status.last_action == "RolledBack to v1"
    plan = cluster.tick(V2)
    assert plan.stable == V1 and plan.status.phase == "RolledBack"


def test_rollback_without_history_is_refused_with_an_event() -> None:
    cluster = deployed()
    plan = cluster.tick(V1, rollback="now")
    assert plan.stable == V1 and [e.reason for e in plan.events] == ["RollbackImpossible"]


def test_spec_reverted_during_canary_aborts_it() -> None:
    cluster = deployed()
    cluster.tick(V2)
    plan = cluster.tick(V1)
    assert plan.status.canary_model is None and plan.status.history[0].outcome == "Aborted"
    assert plan.status.failed_model is None and plan.canary_replicas == 0


def test_conditions_keep_their_transition_time_while_unchanged() -> None:
    cluster = deployed()
    first = next(c for c in cluster.status.conditions if c.type == "Ready").last_transition_time
    cluster.tick(V1)
    cluster.tick(V1)
    assert next(c for c in cluster.status.conditions if c.type == "Ready").last_transition_time == first


# --- a model whose server cannot load it -------------------------------------------------------------

NOT_FOUND = "NotFound: model file /models/v1.joblib does not exist"


def crash(track: str, version: str, message: str = NOT_FOUND) -> ServerFailure:
    return ServerFailure(track, version, f"m-{track}-1", "Error", message, exit_code=3, restarts=2)


def failing_cluster(cluster: Cluster, *failures: ServerFailure) -> None:
    """Pods exist but never become Ready: their servers exit with a reason."""
    cluster.observed = replace(cluster.observed, stable_ready=0, canary_ready=0, failures=failures)


def test_a_first_model_that_cannot_load_is_failed_with_the_servers_reason_and_never_recorded_as_deployed() -> None:
    cluster = Cluster(make_spec())
    cluster.tick(V1)
    failing_cluster(cluster, crash("stable", "v1"))
    plan = cluster.tick(V1)
    status = plan.status
    assert status.phase == "Failed" and not status.history and status.last_action == "Deploying v1"
    for kind in ("Ready", "Progressing"):
        assert cluster.condition(kind) == ("False", "ModelLoadFailed")
    assert cluster.condition("Stalled") == ("True", "ModelLoadFailed")
    assert cluster.condition("Degraded") == ("True", "ModelLoadFailed")
    ready = next(c for c in status.conditions or [] if c.type == "Ready")
    assert NOT_FOUND in ready.message and "exit code 3" in ready.message and "0/4 replicas ready" in ready.message
    assert [(e.type, e.reason) for e in plan.events] == [("Warning", "ModelLoadFailed")]
    failing_cluster(cluster, crash("stable", "v1"))
    assert cluster.tick(V1).events == []  # said once, while it lasts
    # Fixed by the spec: the new model replaces the one never ready, without a canary.
    failing_cluster(cluster, crash("stable", "v1"))
    plan = cluster.tick(V2)
    assert (plan.stable, plan.canary) == (V2, None) and plan.status.canary_model is None
    record = plan.status.history[0]
    assert (record.version, record.outcome, record.reason) == ("v1", "Failed", "ModelLoadFailed")
    assert NOT_FOUND in record.message
    assert plan.status.phase == "Progressing" and cluster.condition("Ready") == ("False", "ReplicasNotReady")
    plan = cluster.tick(V2)  # the new model's pods are Ready; the old pod's failure no longer counts
    assert plan.status.phase == "Ready" and cluster.condition("Ready") == ("True", "Available")
    assert [(r.version, r.outcome) for r in plan.status.history] == [("v2", "Promoted"), ("v1", "Failed")]
    assert plan.status.last_action == "Deployed v2"
    assert all(c.type != "Stalled" for c in plan.status.conditions or [])
    assert cluster.condition("Degraded") == ("False", "Healthy")


def test_a_failure_of_an_older_version_or_the_other_track_does_not_count() -> None:
    cluster = deployed()
    failing_cluster(cluster, crash("stable", "v0"), crash("canary", "v1"))
    plan = cluster.tick(V1)
    assert plan.status.phase == "Progressing" and cluster.condition("Ready") == ("False", "ReplicasNotReady")


def test_a_canary_that_cannot_load_is_rolled_back_at_once_with_the_servers_reason() -> None:
    cluster = deployed()
    cluster.tick(V2)
    cluster.observed = replace(cluster.observed, canary_ready=0, failures=(crash("canary", "v2"),))
    plan = cluster.tick(V2)
    assert plan.status.canary_model is None and plan.status.failed_model.version == "v2"
    assert (plan.stable, plan.stable_replicas, plan.canary) == (V1, 4, None)
    record = plan.status.history[0]
    assert (record.outcome, record.reason) == ("RolledBack", "ModelLoadFailed") and NOT_FOUND in record.message
    assert ("Warning", "ModelLoadFailed") in [(e.type, e.reason) for e in plan.events]
    plan = cluster.tick(V2)
    assert plan.status.phase == "RolledBack" and cluster.condition("Ready") == ("True", "RolledBack")
    rolled_back = next(c for c in plan.status.conditions or [] if c.type == "RolledBack")
    assert NOT_FOUND in rolled_back.message


def test_a_rolling_update_is_promoted_only_once_the_new_pods_are_ready() -> None:
    cluster = deployed(make_spec(rollout={"strategy": "RollingUpdate"}))
    plan = cluster.tick(V2)
    assert plan.status.last_action == "RollingUpdate to v2" and plan.status.history[0].version == "v1"
    failing_cluster(cluster, crash("stable", "v2"))
    # v1's pods still serve (maxUnavailable 0): min(ready, updated), as the controller reads the Deployment
    cluster.observed = replace(cluster.observed, stable_ready=1)
    plan = cluster.tick(V2)
    assert plan.status.history[0].version == "v1" and cluster.condition("Ready") == ("False", "ModelLoadFailed")
    assert plan.status.phase == "Degraded"  # v1's replicas still answer


# --- progressDeadline: a canary that is stuck is rolled back, never left sitting ---------------------


def deadline_spec(deadline: str = "2m", **changes: Any) -> ModelDeploymentSpec:
    spec = make_spec(**changes)
    return spec.model_copy(
        update={"rollout": spec.rollout.model_copy(update={"progress_deadline": deadline})}, deep=True
    )


def canary_never_ready(cluster: Cluster, ticks: int, seconds: float = 30) -> list[Plan]:
    """Ticks in which the canary's pods exist but never become Ready (stable serves throughout)."""
    plans = []
    for _ in range(ticks):
        cluster.observed = replace(cluster.observed, canary_ready=0)
        plans.append(cluster.tick(V2, seconds=seconds))
    return plans


def test_progress_deadline_defaults_to_ten_minutes() -> None:
    assert make_spec().rollout.progress_deadline == "10m"


def test_a_canary_never_ready_is_rolled_back_at_its_progress_deadline_and_stable_keeps_everything() -> None:
    cluster = deployed(deadline_spec("2m"))
    plans = canary_never_ready(cluster, 5)  # t = 0, 30, 60, 90, 120 s after the canary started: within 2 m
    assert all(p.status.canary_model is not None for p in plans) and "ProgressDeadlineExceeded" not in cluster.events()
    plan = canary_never_ready(cluster, 1)[0]  # 150 s
    assert plan.status.canary_model is None and plan.status.failed_model.version == "v2"
    assert (plan.stable, plan.stable_replicas, plan.canary, plan.canary_replicas) == (V1, 4, None, 0)
    record = plan.status.history[0]
    assert (record.version, record.outcome, record.reason) == ("v2", "RolledBack", "ProgressDeadlineExceeded")
    assert record.message == (
        "canary v2 not Ready 2m30s after step 0 began (0/1 canary replicas ready; progressDeadline 2m); rolled back"
    )
    assert [(e.type, e.reason, e.message) for e in plan.events] == [
        ("Warning", "ProgressDeadlineExceeded", record.message)
    ]
    assert plan.status.last_progress_at is None  # cleared with the other canary fields
    plan = cluster.tick(V2)  # the spec still names v2: it is not tried again
    assert plan.status.canary_model is None and plan.status.phase == "RolledBack"
    status, reason = cluster.condition("Progressing")
    progressing = next(c for c in plan.status.conditions or [] if c.type == "Progressing")
    assert (status, reason, progressing.message) == ("False", "ProgressDeadlineExceeded", record.message)
    rolled_back = next(c for c in plan.status.conditions or [] if c.type == "RolledBack")
    assert rolled_back.status == "True" and f"(ProgressDeadlineExceeded: {record.message})" in rolled_back.message
    assert cluster.condition("Ready") == ("True", "RolledBack")


def test_the_deadline_counts_from_the_step_not_from_the_rollout() -> None:
    # A slow rollout that keeps making progress is never aborted: entering a step restarts the clock.
    cluster = deployed(
        deadline_spec(
            "2m", rollout={"canary": {"steps": [{"weight": 25, "pause": "3m"}, {"weight": 50, "pause": "1m"}]}}
        )
    )
    cluster.tick(V2)
    for _ in range(7):  # 3m30s at step 0, pods ready, passing: longer than the deadline, not stuck
        plan = cluster.tick(V2, "Successful")
    assert plan.status.current_step == 1 and [e.reason for e in plan.events] == ["StepAdvanced"]
    assert plan.status.last_progress_at == cluster.now - timedelta(seconds=30)
    plans = canary_never_ready(cluster, 4)  # step 1's new pods are slow, but within 2 m of entering it
    assert all(p.status.canary_model is not None for p in plans)
    plan = canary_never_ready(cluster, 1)[0]
    assert plan.status.history[0].reason == "ProgressDeadlineExceeded"
    assert "not Ready 2m30s after step 1 began (0/2 canary replicas ready" in plan.status.history[0].message


def test_a_step_inconclusive_past_its_pause_for_the_deadline_is_rolled_back_naming_the_metric() -> None:
    cluster = deployed(deadline_spec("2m"))
    cluster.tick(V2)
    started = cluster.tick(V2).status.step_started_at  # pods ready: step 0 starts, its pause is 1 m
    assert started is not None
    plans = []
    while cluster.now <= started + timedelta(minutes=3):  # pause (1 m) + deadline (2 m): held, not aborted
        plans.append(cluster.tick(V2, "Inconclusive"))
    assert all(p.status.canary_model is not None for p in plans)
    assert cluster.condition("Progressing") == ("True", "AnalysisInconclusive")
    plan = cluster.tick(V2, "Inconclusive")
    record = plan.status.history[0]
    assert (record.outcome, record.reason) == ("RolledBack", "ProgressDeadlineExceeded")
    assert record.message == (
        "canary v2 step 0 (25%) stalled 2m30s after its pause (progressDeadline 2m): "
        "no pass of request-success-rate: Inconclusive; rolled back"
    )
    assert (plan.stable, plan.stable_replicas, plan.canary) == (V1, 4, None)
    assert ("Warning", "ProgressDeadlineExceeded") in [(e.type, e.reason) for e in plan.events]


def test_a_step_whose_metric_was_never_evaluated_says_so_when_it_stalls() -> None:
    cluster = deployed(deadline_spec("1m"))
    cluster.tick(V2)
    cluster.tick(V2)
    for _ in range(5):
        plan = cluster.tick(V2)
    assert plan.status.canary_model is None
    assert "no pass of request-success-rate: never evaluated" in plan.status.history[0].message


def test_provider_errors_hold_as_degraded_and_never_hit_the_deadline() -> None:
    cluster = deployed(deadline_spec("1m"))
    cluster.tick(V2)
    cluster.tick(V2)
    for _ in range(20):  # ten minutes of Prometheus errors
        plan = cluster.tick(V2, "Error")
    assert plan.status.canary_model is not None and plan.status.failed_model is None
    assert cluster.condition("Degraded") == ("True", "AnalysisError")


def test_a_paused_rollout_is_never_past_its_deadline_and_the_clock_restarts_on_resume() -> None:
    cluster = deployed(deadline_spec("2m", paused=True))
    cluster.tick(V2)
    for _ in range(20):  # ten minutes paused, canary never Ready
        cluster.observed = replace(cluster.observed, canary_ready=0)
        plan = cluster.tick(V2)
    assert plan.status.canary_model is not None
    assert plan.status.last_progress_at == cluster.now - timedelta(seconds=30)
    cluster.spec = deadline_spec("2m")  # resumed
    plans = canary_never_ready(cluster, 4)
    assert all(p.status.canary_model is not None for p in plans)
    assert canary_never_ready(cluster, 1)[0].status.history[0].reason == "ProgressDeadlineExceeded"


def test_a_status_from_before_progress_deadline_counts_from_the_step_start() -> None:
    cluster = deployed(deadline_spec("2m"))
    cluster.tick(V2)
    cluster.tick(V2)
    assert cluster.status is not None
    cluster.status = cluster.status.model_copy(update={"last_progress_at": None})
    started = cluster.status.step_started_at
    while cluster.now <= started + timedelta(minutes=3):
        plan = cluster.tick(V2, "Inconclusive")
        assert plan.status.canary_model is not None
    assert cluster.tick(V2, "Inconclusive").status.canary_model is None


# --- analysis.metrics[].dryRun: evaluated and recorded, never deciding -------------------------------

DRY = {"name": "p99-latency", "query": "x", "thresholdRange": {"max": 0.1}, "dryRun": True}


def dry_run_spec(**changes: Any) -> ModelDeploymentSpec:
    return make_spec(
        analysis={
            "interval": "30s",
            "failureLimit": 1,
            "consecutiveErrorLimit": 2,
            "metrics": [{"name": "request-success-rate", "thresholdRange": {"min": 0.99}}, DRY],
        },
        **changes,
    )


def both(success: str | None, dry: str) -> list[MetricOutcome]:
    outcomes = [MetricOutcome("p99-latency", dry, 0.3, f"dry {dry}")]
    return outcomes + ([MetricOutcome("request-success-rate", success, 0.999)] if success else [])


def test_a_failing_dry_run_metric_is_recorded_but_the_canary_is_promoted() -> None:
    cluster = deployed(dry_run_spec())
    cluster.tick(V2)
    plan = cluster.tick(V2)
    for _ in range(8):
        if plan.status.canary_model is None:
            break
        plan = cluster.tick(V2, outcomes=both("Successful", "Failed"))
        recorded = {r.name: r for r in plan.status.analysis or []}
        if recorded:
            assert recorded["p99-latency"].dry_run and not recorded["request-success-rate"].dry_run
            assert recorded["p99-latency"].phase == "Failed" and recorded["p99-latency"].message == "dry Failed"
    assert plan.status.stable_model.version == "v2" and plan.status.history[0].reason == "AnalysisPassed"
    assert "AnalysisFailed" not in cluster.events()


def test_a_dry_run_metric_neither_gates_nor_holds_nor_degrades_a_step() -> None:
    for dry in ("Inconclusive", "Error"):
        cluster = deployed(dry_run_spec())
        cluster.tick(V2)
        cluster.tick(V2)
        cluster.tick(V2, outcomes=both("Successful", dry))
        for _ in range(3):
            plan = cluster.tick(V2, outcomes=both(None, dry))
        assert plan.status.current_step == 1, dry  # advanced on the deciding metric's pass alone
        assert cluster.condition("Degraded")[0] == "False"
        assert cluster.condition("Progressing") == ("True", "CanaryProgressing")


def test_a_dry_run_metric_waiting_does_not_count_toward_the_progress_deadline() -> None:
    spec = dry_run_spec()
    spec = spec.model_copy(update={"rollout": spec.rollout.model_copy(update={"progress_deadline": "1m"})})
    cluster = deployed(spec)
    cluster.tick(V2)
    cluster.tick(V2)
    for _ in range(8):  # the deciding metric never passes: stalled, and only it is named
        plan = cluster.tick(V2, outcomes=both("Inconclusive", "Inconclusive"))
    assert plan.status.canary_model is None
    message = plan.status.history[0].message
    assert "no pass of request-success-rate: Inconclusive" in message and "p99-latency" not in message


def test_a_deciding_metric_still_decides_beside_a_dry_run_one() -> None:
    cluster = deployed(dry_run_spec())
    cluster.tick(V2)
    cluster.tick(V2)
    cluster.tick(V2, outcomes=both("Failed", "Successful"))
    plan = cluster.tick(V2, outcomes=both("Failed", "Successful"))
    assert plan.status.canary_model is None and plan.status.history[0].reason == "AnalysisFailed"
    assert "p99-latency" not in plan.status.history[0].message


def test_status_says_which_traffic_routing_is_in_use() -> None:
    cluster = deployed()
    assert cluster.status is not None and cluster.status.traffic_routing == "ReplicaRatio"
    assert cluster.tick(V2).status.traffic_routing == "ReplicaRatio"


def test_a_short_deadline_says_seconds_and_the_record_ends_at_the_rollback() -> None:
    cluster = deployed(deadline_spec("30s"))
    plans = canary_never_ready(cluster, 3, seconds=20)  # 0, 20, 40 s after the canary started
    plan = plans[-1]
    record = plan.status.history[0]
    assert [p.status.canary_model is None for p in plans] == [False, False, True]
    assert "not Ready 40s after step 0 began" in record.message
    assert record.finished_at == cluster.now - timedelta(seconds=20) and record.started_at == T0 + timedelta(minutes=1)


def two_metrics(deadline: str = "1m") -> ModelDeploymentSpec:
    spec = make_spec(
        analysis={
            "interval": "30s",
            "metrics": [
                {"name": "request-success-rate", "thresholdRange": {"min": 0.99}},
                {"name": "p99", "query": "x", "thresholdRange": {"max": 0.1}},
            ],
        }
    )
    return spec.model_copy(update={"rollout": spec.rollout.model_copy(update={"progress_deadline": deadline})})


def test_only_the_metrics_without_data_are_named_in_a_hold_and_every_pending_one_in_a_stall() -> None:
    cluster = deployed(two_metrics())
    cluster.tick(V2)
    cluster.tick(V2)
    mixed = [MetricOutcome("request-success-rate", "Successful", 1.0), MetricOutcome("p99", "Inconclusive")]
    for _ in range(3):
        plan = cluster.tick(V2, outcomes=mixed)
    held = next(c for c in plan.status.conditions or [] if c.type == "Progressing")
    assert (held.reason, held.message) == (
        "AnalysisInconclusive",
        "step held: inconclusive p99 (no data or too few samples: see status.analysis)",
    )
    cluster = deployed(two_metrics())
    cluster.tick(V2)
    cluster.tick(V2)
    none = [
        MetricOutcome("request-success-rate", "Inconclusive", None, "no data"),
        MetricOutcome("p99", "Inconclusive"),
    ]
    while (plan := cluster.tick(V2, outcomes=none)).status.canary_model is not None:
        pass
    assert plan.status.history[0].message.endswith(
        "no pass of request-success-rate: Inconclusive no data; p99: Inconclusive; rolled back"
    )


def test_a_stall_at_a_later_step_names_that_step_and_counts_from_its_own_pause() -> None:
    steps = {"canary": {"steps": [{"weight": 25, "pause": "30s"}, {"weight": 50, "pause": "3m"}]}}
    cluster = deployed(deadline_spec("1m", rollout=steps))
    cluster.tick(V2)
    cluster.tick(V2)
    plan = cluster.tick(V2, "Successful")  # step 0's 30 s pause is over: step 1
    assert plan.status.current_step == 1
    started = cluster.tick(V2).status.step_started_at
    assert started is not None
    while cluster.now <= started + timedelta(minutes=4):  # 3 m pause + 1 m deadline
        assert cluster.tick(V2).status.canary_model is not None
    plan = cluster.tick(V2)
    assert "step 1 (50%) stalled 1m30s after its pause" in plan.status.history[0].message


def test_a_step_resumed_after_a_long_pause_gets_a_whole_deadline_again() -> None:
    cluster = deployed(deadline_spec("2m", paused=True))
    cluster.tick(V2)
    for _ in range(20):  # ten minutes paused with the canary's pods Ready
        plan = cluster.tick(V2)
    assert plan.status.step_started_at is not None and plan.status.canary_model is not None
    cluster.spec = deadline_spec("2m")
    resumed = cluster.now  # the last paused tick was 30 s ago: the deadline counts from there
    while cluster.now <= resumed + timedelta(seconds=90):
        assert cluster.tick(V2, "Inconclusive").status.canary_model is not None
    plan = cluster.tick(V2, "Inconclusive")
    assert plan.status.canary_model is None and "stalled 2m30s after its pause" in plan.status.history[0].message


def test_a_status_from_before_progress_deadline_with_pods_never_ready_counts_from_the_rollout() -> None:
    cluster = deployed(deadline_spec("2m"))
    canary_never_ready(cluster, 1)
    assert cluster.status is not None
    cluster.status = cluster.status.model_copy(update={"last_progress_at": None})
    plans = canary_never_ready(cluster, 5)
    assert [p.status.canary_model is None for p in plans] == [False, False, False, False, True]

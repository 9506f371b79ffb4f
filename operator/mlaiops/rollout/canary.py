"""The rollout state machine of a ModelDeployment, pure: from spec, status and observations to a plan.

One call per reconcile: ``plan_rollout`` reads the previous status, what the cluster shows
(ready replicas of each track) and this tick's analysis outcomes, and returns the next status,
the replicas each track should run and the events to emit. It never sleeps and never talks
to the API, so every transition is unit-tested; the controller applies the plan.

GitOps-safe: the spec is never rewritten. A rolled-back model is remembered in
``status.failedModel`` and is not tried again until the spec names another model.

A model is recorded as deployed (``Promoted`` in history) only once its pods are Ready. Until then
the stable rollout is pending (``rolloutStartedAt`` set, no canary). A model whose server cannot load
it (``Observed.failures``, read from the pods' termination messages) makes the ModelDeployment
``Ready=False``/``Stalled=True`` with reason ``ModelLoadFailed`` and the server's own words; a failing
canary is rolled back at once; a pending stable model is replaced directly when the spec names another.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

from mlaiops.api.common import Condition, seconds
from mlaiops.api.modeldeployment import (
    RELATIVE_METRICS,
    CanaryStep,
    MetricResult,
    ModelDeploymentSpec,
    ModelDeploymentStatus,
    ModelRef,
    RolloutRecord,
    RouteStatus,
    step_weight,
)
from mlaiops.resources.modelserver import ResolvedModel, actual_weight, split_replicas
from mlaiops.rollout.analysis import MetricOutcome
from mlaiops.rollout.routing import RouteObservation, RouteState, desired_route, gateway_replicas
from mlaiops.rollout.servers import ServerFailure, failing

HISTORY_LIMIT = 20


@dataclass(frozen=True)
class Observed:
    """What the cluster shows this tick."""

    stable_ready: int = 0
    canary_ready: int = 0
    stable_replicas: int = 0
    canary_replicas: int = 0
    stable_version: str | None = None
    """The model version the stable Deployment's pod template runs (None: not known, taken as the planned one)."""
    failures: tuple[ServerFailure, ...] = ()
    """Model server pods that failed, with the server's reason (read only while a track is not ready)."""
    route: RouteObservation | None = None
    """With Gateway API routing: what the HTTPRoute says now (or why it cannot be driven)."""


@dataclass(frozen=True)
class Event:
    """A Kubernetes Event to emit on the ModelDeployment."""

    type: str
    reason: str
    message: str


@dataclass
class Plan:
    """What the controller should make true."""

    status: ModelDeploymentStatus
    stable: ResolvedModel | None = None
    stable_replicas: int = 0
    canary: ResolvedModel | None = None
    canary_replicas: int = 0
    events: list[Event] = field(default_factory=list)
    route: RouteState | None = None
    """With Gateway API routing: what the HTTPRoute should carry after this tick."""


def _ref(model: ResolvedModel) -> ModelRef:
    return ModelRef(version=model.version, storage_uri=model.storage_uri, sha256=model.sha256)


def _resolved(ref: ModelRef | None) -> ResolvedModel | None:
    if ref is None or ref.storage_uri is None or ref.version is None:
        return None
    return ResolvedModel(ref.storage_uri, ref.version, ref.sha256)


def same(model: ResolvedModel | None, ref: ModelRef | None) -> bool:
    """Whether a status reference names this model (version and artifact)."""
    return (
        model is not None and ref is not None and ref.version == model.version and ref.storage_uri == model.storage_uri
    )


def set_condition(
    status: ModelDeploymentStatus, kind: str, value: bool, reason: str, message: str, now: datetime, generation: int
) -> None:
    """Set a condition, keeping lastTransitionTime when the status does not change."""
    text: Literal["True", "False"] = "True" if value else "False"
    conditions = [c for c in status.conditions or [] if c.type != kind]
    previous = next((c for c in status.conditions or [] if c.type == kind), None)
    since = previous.last_transition_time if previous and previous.status == text else now
    conditions.append(
        Condition(
            type=kind,
            status=text,
            reason=reason,
            message=message,
            last_transition_time=since,
            observed_generation=generation,
        )
    )
    order = {"Ready": 0, "Progressing": 1, "Degraded": 2, "Stalled": 3, "RolledBack": 4, "TrafficRouted": 5}
    status.conditions = sorted(conditions, key=lambda c: order.get(c.type, 9))


def drop_condition(status: ModelDeploymentStatus, kind: str) -> None:
    """Remove an abnormal-true condition that no longer holds (kstatus: Stalled is absent when not True)."""
    if status.conditions:
        status.conditions = [c for c in status.conditions if c.type != kind]


def _record(status: ModelDeploymentStatus, record: RolloutRecord) -> None:
    status.history = [record, *(status.history or [])][:HISTORY_LIMIT]


def desired_replicas(spec: ModelDeploymentSpec, observed: Observed) -> int:
    """Replicas the stable track should have outside a canary (the HPA's minimum when autoscaling)."""
    if spec.autoscaling is not None:
        return max(observed.stable_replicas, spec.autoscaling.min_replicas)
    return spec.replicas


def analysis_due(spec: ModelDeploymentSpec, status: ModelDeploymentStatus, now: datetime) -> bool:
    """Whether this tick should run the canary's queries: a step is live and an interval has passed."""
    if status.canary_model is None or status.step_started_at is None or spec.paused:
        return False
    if status.last_analysis_at is None:
        return True
    return now - status.last_analysis_at >= timedelta(seconds=seconds(spec.analysis.interval))


def dry_run_metrics(spec: ModelDeploymentSpec) -> set[str]:
    """Names of the metrics that are evaluated and recorded but never decide."""
    return {metric.name for metric in spec.analysis.metrics if metric.dry_run}


def _apply_outcomes(status: ModelDeploymentStatus, outcomes: list[MetricOutcome], dry: set[str]) -> None:
    results = {result.name: result for result in status.analysis or []}
    for outcome in outcomes:
        result = results.get(outcome.name) or MetricResult(name=outcome.name, phase=outcome.outcome)
        result = result.model_copy(
            update={
                "phase": outcome.outcome,
                "value": outcome.value,
                "message": outcome.message,
                "dry_run": outcome.name in dry,
            }
        )
        if outcome.outcome == "Error":
            result.consecutive_errors += 1
        else:
            result.consecutive_errors = 0
        if outcome.outcome == "Successful":
            result.successes += 1
            result.step_successes += 1
        elif outcome.outcome == "Failed":
            result.failures += 1
        results[outcome.name] = result
    status.analysis = list(results.values())


@dataclass(frozen=True)
class StepOutcome:
    """How this tick left a live canary step: held as Degraded (provider errors), held for a reason, or neither."""

    degraded: bool = False
    hold: tuple[str, str] | None = None
    """(reason, message) of the Progressing condition while the step does not advance."""


def _finish(
    status: ModelDeploymentStatus,
    now: datetime,
    outcome: Literal["Promoted", "RolledBack", "Aborted", "Failed"],
    reason: str,
    message: str,
    model: ModelRef | None,
) -> None:
    """Close the rollout in progress: record it in history and clear every canary field."""
    _record(
        status,
        RolloutRecord(
            version=model.version if model else None,
            storage_uri=model.storage_uri if model else None,
            outcome=outcome,
            reason=reason,
            message=message,
            started_at=status.rollout_started_at,
            finished_at=now,
        ),
    )
    status.canary_model = None
    status.current_step = None
    status.canary_weight = None
    status.step_started_at = None
    status.rollout_started_at = None
    status.last_analysis_at = None
    status.last_progress_at = None


def _roll_back_canary(plan: Plan, now: datetime, reason: str, message: str) -> None:
    """Abort the canary and remember its model as failed, so the same spec does not try it again."""
    status = plan.status
    failed = status.canary_model
    status.failed_model = failed
    _finish(status, now, "RolledBack", reason, message, failed)
    status.last_action = f"RolledBack {failed.version if failed else ''}".strip()
    plan.events.append(Event("Warning", reason, message))


def _previous_stable(status: ModelDeploymentStatus) -> RolloutRecord | None:
    """The newest promoted model in history that is not the current stable one."""
    if status.stable_model is None:
        return None
    stable_version = status.stable_model.version
    return next(
        (r for r in status.history or [] if r.outcome == "Promoted" and r.version != stable_version),
        None,
    )


def roll_back_on_request(plan: Plan, request: str, now: datetime) -> None:
    """An on-demand rollback (annotation or remediation): abort the canary, else restore the previous stable."""
    status = plan.status
    status.rollback_request = request
    if status.canary_model is not None:
        message = f"canary {status.canary_model.version} aborted on request: {request}"
        _roll_back_canary(plan, now, "RollbackRequested", message)
        return
    previous_stable = _previous_stable(status)
    if previous_stable is None or status.stable_model is None:
        plan.events.append(Event("Warning", "RollbackImpossible", "no earlier stable model to roll back to"))
        return
    status.failed_model = status.stable_model
    status.rollout_started_at = now
    message = f"stable {status.stable_model.version} replaced by {previous_stable.version} on request"
    _finish(status, now, "RolledBack", "RollbackRequested", message, status.stable_model)
    status.stable_model = ModelRef(version=previous_stable.version, storage_uri=previous_stable.storage_uri)
    status.last_action = f"RolledBack to {previous_stable.version}"
    plan.events.append(Event("Warning", "RollbackRequested", f"rolled back to {previous_stable.version}"))


def wait_for_model(status: ModelDeploymentStatus, now: datetime, generation: int) -> None:
    """Nothing to serve yet (the RetrainPolicy has promoted nothing)."""
    status.phase = "Pending"
    message = "no model yet: the RetrainPolicy has not promoted one"
    set_condition(status, "Ready", False, "WaitingForModel", message, now, generation)
    set_condition(status, "Progressing", False, "WaitingForModel", "nothing to roll out", now, generation)


def deploy_first(plan: Plan, desired: ResolvedModel, now: datetime) -> None:
    """First deployment: no analysis, there is nothing to compare with. Recorded once its pods are Ready."""
    status = plan.status
    status.stable_model = _ref(desired)
    status.rollout_started_at = now
    status.last_action = f"Deploying {desired.version}"
    plan.events.append(Event("Normal", "Deployed", f"deploying {desired.version}"))


def stable_pending(status: ModelDeploymentStatus) -> bool:
    """Whether the stable model was rolled out without a canary and its pods have not been Ready yet."""
    return status.canary_model is None and status.rollout_started_at is not None and status.stable_model is not None


def replace_pending(plan: Plan, desired: ResolvedModel, failure: ServerFailure | None, now: datetime) -> None:
    """The spec names another model while the stable one never became Ready: deploy it in its place.

    No canary: nothing serves to compare with or to protect. The replaced model is recorded as
    ``Failed`` with the server's reason when it was failing, else ``Aborted``.
    """
    status = plan.status
    if failure is not None:
        _finish(status, now, "Failed", failure.condition_reason, failure.describe(), status.stable_model)
    else:
        message = "the spec named another model before this one was ready"
        _finish(status, now, "Aborted", "SpecChanged", message, status.stable_model)
    status.stable_model = _ref(desired)
    status.rollout_started_at = now
    status.last_action = f"Deploying {desired.version}"
    plan.events.append(Event("Normal", "Deployed", f"deploying {desired.version} in place of a model never ready"))


def complete_pending(status: ModelDeploymentStatus, observed: Observed, replicas: int, now: datetime) -> None:
    """A pending stable model whose own pods are all Ready is now deployed: record it (before any new model)."""
    model = status.stable_model
    if not stable_pending(status) or model is None:
        return
    if observed.stable_version not in (None, model.version):
        return  # the Deployment still shows the previous template: its readiness says nothing yet
    if observed.stable_ready < replicas or observed.stable_replicas != replicas:
        return
    if any(r.outcome == "Promoted" for r in status.history or []):
        _finish(status, now, "Promoted", "RollingUpdate", f"{model.version} rolled out without analysis", model)
        status.last_action = f"Promoted {model.version}"
    else:
        _finish(status, now, "Promoted", "InitialDeployment", "", model)
        status.last_action = f"Deployed {model.version}"


def abort_canary(plan: Plan, now: datetime) -> None:
    """A canary that the spec no longer asks for is dropped (not a failure: nothing is remembered)."""
    _finish(
        plan.status,
        now,
        "Aborted",
        "SpecChanged",
        "the spec no longer names the canary's model",
        plan.status.canary_model,
    )
    plan.events.append(Event("Normal", "CanaryAborted", "the spec changed during the rollout"))


def start_rollout(spec: ModelDeploymentSpec, plan: Plan, desired: ResolvedModel, now: datetime) -> None:
    """A new model: replace stable at once (RollingUpdate) or start a canary at step 0."""
    status = plan.status
    if spec.rollout.strategy == "RollingUpdate":  # recorded as Promoted once its pods are Ready
        status.rollout_started_at = now
        status.stable_model = _ref(desired)
        status.last_action = f"RollingUpdate to {desired.version}"
        plan.events.append(Event("Normal", "RollingUpdate", f"rolling update to {desired.version}"))
        return
    stable = _resolved(status.stable_model)
    status.canary_model = _ref(desired)
    status.current_step = 0
    status.rollout_started_at = now
    status.last_progress_at = now
    status.step_started_at = None
    status.last_analysis_at = None
    status.analysis = []
    message = f"canary {desired.version} next to {stable.version if stable else 'nothing'}"
    plan.events.append(Event("Normal", "CanaryStarted", message))


def gateway_routing(spec: ModelDeploymentSpec) -> bool:
    """Whether an HTTPRoute, not the replica ratio, splits the canary's traffic."""
    return spec.rollout.traffic_routing is not None


def _place_tracks(spec: ModelDeploymentSpec, plan: Plan, canary: ResolvedModel, replicas: int, weight: int) -> None:
    """Split the replicas between stable and canary for a step's weight.

    With Gateway API routing both tracks keep enough pods for their share and the weight in status is the
    route's (set by the controller once written); otherwise the replica ratio is the weight.
    """
    if gateway_routing(spec):
        stable_count, canary_count = gateway_replicas(replicas, weight)
    else:
        stable_count, canary_count = split_replicas(replicas, weight)
        plan.status.canary_weight = actual_weight(stable_count, canary_count)
    plan.stable, plan.stable_replicas = _resolved(plan.status.stable_model), stable_count
    plan.canary, plan.canary_replicas = canary, canary_count


def _promote_canary(plan: Plan, canary: ResolvedModel, replicas: int, now: datetime) -> None:
    """The last step passed: the canary becomes stable and takes every replica."""
    status = plan.status
    promoted = status.canary_model
    _finish(status, now, "Promoted", "AnalysisPassed", f"{canary.version} passed every step", promoted)
    status.stable_model = promoted
    status.last_action = f"Promoted {canary.version}"
    plan.events.append(Event("Normal", "Promoted", f"{canary.version} promoted to stable"))
    plan.stable, plan.stable_replicas = canary, replicas
    plan.canary, plan.canary_replicas = None, 0


def advance_step(
    spec: ModelDeploymentSpec,
    plan: Plan,
    canary: ResolvedModel,
    results: dict[str, MetricResult],
    replicas: int,
    now: datetime,
) -> tuple[ResolvedModel | None, StepOutcome]:
    """After the step's pause, with every metric passed at least once in this step: next step, or promotion."""
    status = plan.status
    assert status.current_step is not None and status.step_started_at is not None
    steps = spec.rollout.canary.steps
    step = steps[min(status.current_step, len(steps) - 1)]
    elapsed = (now - status.step_started_at).total_seconds()
    dry = dry_run_metrics(spec)
    waiting = [
        m.name
        for m in spec.analysis.metrics
        if m.name not in dry and (results.get(m.name) is None or results[m.name].step_successes == 0)
    ]
    inconclusive = [r.name for r in results.values() if r.phase == "Inconclusive" and r.name not in dry]
    if elapsed < seconds(step.pause) or waiting:
        if inconclusive and elapsed >= seconds(step.pause):
            return canary, StepOutcome(
                hold=(
                    "AnalysisInconclusive",
                    f"step held: inconclusive {', '.join(inconclusive)} (no data or too few samples: see status.analysis)",
                )
            )
        return canary, StepOutcome()
    for result in results.values():
        result.step_successes = 0  # each step needs its own passes
    if status.current_step + 1 >= len(steps):
        _promote_canary(plan, canary, replicas, now)
        return None, StepOutcome()
    status.current_step += 1
    status.step_started_at = None
    status.last_progress_at = now
    next_weight = step_weight(steps, status.current_step)
    _place_tracks(spec, plan, canary, replicas, next_weight)
    message = f"step {status.current_step}: {_describe(steps, status.current_step)} to {canary.version}"
    plan.events.append(Event("Normal", "StepAdvanced", message))
    return canary, StepOutcome()


def failure_limit(spec: ModelDeploymentSpec, metric: str) -> int:
    """Failed evaluations a metric may have before the rollout aborts: analysis.failureLimit, but none for the
    relative metrics. Their tests are sequential: one crossing is already the decision whose false-failure rate alpha
    bounds over every evaluation (rollout/judge.py), so waiting for a second one only delays a rollback."""
    return 0 if metric in RELATIVE_METRICS else spec.analysis.failure_limit


def run_canary_step(
    spec: ModelDeploymentSpec,
    plan: Plan,
    canary: ResolvedModel,
    observed: Observed,
    replicas: int,
    outcomes: list[MetricOutcome] | None,
    now: datetime,
    generation: int,
) -> tuple[ResolvedModel | None, StepOutcome]:
    """One tick of a live canary step: place the tracks, take in analysis, then roll back, hold or advance.

    Returns the canary still live (None once rolled back or promoted) and how the step was left.
    """
    status = plan.status
    assert status.current_step is not None
    steps = spec.rollout.canary.steps
    index = min(status.current_step, len(steps) - 1)
    _place_tracks(spec, plan, canary, replicas, step_weight(steps, index))
    canary_ready = observed.canary_ready >= plan.canary_replicas and observed.canary_replicas == plan.canary_replicas
    routed = True
    if gateway_routing(spec):
        routed = observed.route is not None and observed.route.shows(desired_route(spec, status, True))
    if status.step_started_at is None and canary_ready and routed:
        status.step_started_at = now  # the step's pause and analysis start once its pods serve
        status.last_progress_at = now
    dry = dry_run_metrics(spec)
    if outcomes:
        status.last_analysis_at = now
        _apply_outcomes(status, outcomes, dry)
    results = {result.name: result for result in status.analysis or []}
    deciding = [r for r in results.values() if r.name not in dry]
    failing = [r for r in deciding if r.failures > failure_limit(spec, r.name)]
    erroring = [r for r in deciding if r.consecutive_errors > spec.analysis.consecutive_error_limit]
    if failing:
        details = "; ".join(f"{r.name}: {r.message}" for r in failing)
        _roll_back_canary(plan, now, "AnalysisFailed", f"canary {canary.version} failed analysis ({details})")
        plan.canary, plan.canary_replicas = None, 0
        plan.stable_replicas = replicas
        return None, StepOutcome()
    if erroring:
        details = "; ".join(f"{r.name}: {r.message}" for r in erroring)
        message = f"metrics provider failing, rollout held: {details}"
        set_condition(status, "Degraded", True, "AnalysisError", message, now, generation)
        return canary, StepOutcome(degraded=True)
    problem = observed.route.problem if observed.route is not None and gateway_routing(spec) else None
    if problem is not None:
        status.last_progress_at = now  # a rollback cannot mend a route either: held, as paused, until it is fixed
        return canary, StepOutcome(hold=(problem.reason, f"rollout held, stable keeps its traffic: {problem.message}"))
    if spec.paused:
        status.last_progress_at = now  # held on request: the deadline starts again on resume
        return canary, StepOutcome(
            hold=("Paused", f"paused at step {status.current_step} ({status.canary_weight}% on canary)")
        )
    step_index, started = status.current_step, status.step_started_at
    if started is None:
        stalled = not_ready_too_long(spec, plan, observed, now)
    else:
        live, outcome = advance_step(spec, plan, canary, results, replicas, now)
        if live is None or status.current_step != step_index:
            return live, outcome
        stalled = step_stalled(spec, status, step_index, started, results, now)
        if stalled is None:
            return live, outcome
    if stalled is None:
        return canary, StepOutcome()
    _roll_back_canary(plan, now, "ProgressDeadlineExceeded", f"canary {canary.version} {stalled}; rolled back")
    return None, StepOutcome()  # plan_rollout gives stable every replica once the canary is gone


def _describe(steps: list[CanaryStep], index: int) -> str:
    """``25%``, ``header route beta`` or ``mirror route shadow (10%)``: what a step does, for messages."""
    step = steps[index]
    if step.set_header_route is not None:
        return f"header route {step.set_header_route.name}"
    if step.set_mirror_route is not None:
        return f"mirror route {step.set_mirror_route.name} ({step.set_mirror_route.percentage}%)"
    return f"{step.weight}%"


def _duration(total: float) -> str:
    """``90`` -> ``1m30s``: how long a rollout has been stuck, for messages."""
    minutes, rest = divmod(int(total), 60)
    return f"{minutes}m{rest}s" if minutes else f"{rest}s"


def not_ready_too_long(spec: ModelDeploymentSpec, plan: Plan, observed: Observed, now: datetime) -> str | None:
    """Why the canary is stuck when its step's pods have not been Ready within progressDeadline, else None."""
    status = plan.status
    since = status.last_progress_at or status.rollout_started_at  # a status written before lastProgressAt existed
    assert since is not None  # a live canary always has rollout_started_at
    waited = (now - since).total_seconds()
    if waited <= seconds(spec.rollout.progress_deadline):
        return None
    return (
        f"not Ready {_duration(waited)} after step {status.current_step} began "
        f"({observed.canary_ready}/{plan.canary_replicas} canary replicas ready; "
        f"progressDeadline {spec.rollout.progress_deadline})"
    )


def step_stalled(
    spec: ModelDeploymentSpec,
    status: ModelDeploymentStatus,
    step_index: int,
    started: datetime,
    results: dict[str, MetricResult],
    now: datetime,
) -> str | None:
    """Why the live step is stuck when it has not advanced within progressDeadline after its pause, else None."""
    steps = spec.rollout.canary.steps
    step = steps[min(step_index, len(steps) - 1)]
    pause_over = started + timedelta(seconds=seconds(step.pause))
    held = (now - max(status.last_progress_at or started, pause_over)).total_seconds()  # later: resumed
    if held <= seconds(spec.rollout.progress_deadline):
        return None
    pending = [
        f"{m.name}: {results[m.name].phase} {results[m.name].message}".strip()
        if m.name in results
        else f"{m.name}: never evaluated"
        for m in spec.analysis.metrics
        if not m.dry_run and (m.name not in results or results[m.name].step_successes == 0)
    ]
    return (
        f"step {step_index} ({_describe(steps, step_index)}) stalled {_duration(held)} after its pause "
        f"(progressDeadline {spec.rollout.progress_deadline}): no pass of {'; '.join(pending)}"
    )


def set_status_conditions(
    spec: ModelDeploymentSpec,
    plan: Plan,
    observed: Observed,
    desired: ResolvedModel | None,
    rejected: bool,
    step: StepOutcome,
    now: datetime,
    generation: int,
    failure: ServerFailure | None = None,
) -> None:
    """Ready, Progressing, Degraded, Stalled, RolledBack, the phase and the replica counts, from the plan and the
    cluster; ``failure`` is the stable model's server failing, which outranks "replicas updating"."""
    status = plan.status

    def condition(kind: str, value: bool, reason: str, message: str) -> None:
        set_condition(status, kind, value, reason, message, now, generation)

    stable_ready = stable_track_ready(plan, observed)
    if stable_ready:
        failure = None  # every replica serves: an older pod's failure is history
    if failure is not None:
        condition("Degraded", True, failure.condition_reason, failure.describe())
    elif not step.degraded:
        condition("Degraded", False, "AnalysisHealthy" if status.canary_model else "Healthy", "")
    rolled_back = rejected and status.canary_model is None
    last = status.history[0] if status.history else None
    said = last is not None and last.reason in ("ModelLoadFailed", "ProgressDeadlineExceeded")
    condition(
        "RolledBack",
        rolled_back,
        "RolledBack" if rolled_back else "NotRolledBack",
        f"{desired.version if desired else ''} was rolled back"
        + (f" ({last.reason}: {last.message})" if last is not None and said else "")
        + "; set a new model in the spec to roll out again"
        if rolled_back
        else "",
    )
    outdated = plan.stable is not None and observed.stable_version not in (None, plan.stable.version)
    counts = f"{0 if outdated else observed.stable_ready}/{plan.stable_replicas} replicas ready"
    drop_condition(status, "Stalled")
    if status.canary_model is not None:
        status.phase = "Degraded" if step.degraded or failure is not None else "Progressing"
        reason, message = step.hold or (
            "CanaryProgressing",
            f"step {status.current_step} of {len(spec.rollout.canary.steps)}: "
            f"{status.canary_weight}% on {status.canary_model.version}",
        )
        condition("Progressing", True, reason, message)
        stable_version = status.stable_model.version if status.stable_model else ""
        if failure is not None:
            condition("Ready", False, failure.condition_reason, failure.describe())
        else:
            condition("Ready", stable_ready, "CanaryInProgress", f"stable {stable_version} serving; canary in analysis")
    elif stable_ready:
        status.phase = "RolledBack" if rolled_back else "Ready"
        stable_version = status.stable_model.version if status.stable_model else None
        if rolled_back and last is not None and last.reason == "ProgressDeadlineExceeded":
            condition("Progressing", False, last.reason, last.message)  # as a Deployment's own deadline says
        else:
            condition("Progressing", False, "RolloutComplete", f"{stable_version} is stable")
        condition("Ready", True, "RolledBack" if rolled_back else "Available", counts)
    elif failure is not None:
        status.phase = "Degraded" if observed.stable_ready > 0 else "Failed"
        message = f"{failure.describe()}; {counts}"
        condition("Progressing", False, failure.condition_reason, message)
        condition("Ready", False, failure.condition_reason, message)
        condition("Stalled", True, failure.condition_reason, message)
    else:
        status.phase = "Progressing"
        condition("Progressing", True, "ReplicasUpdating", counts)
        condition("Ready", False, "ReplicasNotReady", counts)
    ready = observed.stable_ready + observed.canary_ready
    status.ready_replicas = ready
    status.replicas = observed.stable_replicas + observed.canary_replicas
    status.ready = f"{ready}/{plan.stable_replicas + plan.canary_replicas}"


def route_status(
    spec: ModelDeploymentSpec,
    status: ModelDeploymentStatus,
    route: RouteObservation | None,
    now: datetime,
    generation: int,
    target: RouteState | None = None,
) -> None:
    """Gateway API routing: status.route and canaryWeight from what the HTTPRoute carries (read, or just written),
    and TrafficRouted (False with the reason, naming the route, while it cannot be driven or written)."""
    if route is None:
        return
    if route.problem is not None:
        set_condition(status, "TrafficRouted", False, route.problem.reason, route.problem.message, now, generation)
        if status.canary_model is not None:
            message = f"rollout held, stable keeps its traffic: {route.problem.message}"
            set_condition(status, "Progressing", True, route.problem.reason, message, now, generation)
        return
    assert spec.rollout.traffic_routing is not None  # called with Gateway API routing only
    name = spec.rollout.traffic_routing.gateway_api.http_route
    previous = next((c for c in status.conditions or [] if c.type == "TrafficRouted"), None)
    if (
        target is not None
        and not route.shows(target)
        and previous is not None
        and previous.reason == "RouteWriteFailed"
    ):
        return  # read fine, but the write this tick is still to come: the failure stands until it succeeds
    status.route = RouteStatus(
        http_route=name,
        rule=route.rule,
        stable_weight=route.stable_weight,
        canary_weight=route.canary_weight,
        managed_rules=list(route.rules) or None,
    )
    status.canary_weight = route.weight() if status.canary_model is not None else None
    message = f"HTTPRoute {name} rule {route.rule}: stable {route.stable_weight}, canary {route.canary_weight}"
    set_condition(status, "TrafficRouted", True, "RouteDriven", message, now, generation)


def stable_track_ready(plan: Plan, observed: Observed) -> bool:
    """Whether the stable Deployment runs the planned model with every planned replica Ready."""
    model = plan.stable
    if model is not None and observed.stable_version not in (None, model.version):
        return False  # the Deployment still shows the previous template (it is patched after this plan)
    return observed.stable_ready >= plan.stable_replicas and observed.stable_replicas == plan.stable_replicas


def _ready_reason(status: ModelDeploymentStatus) -> str | None:
    return next((c.reason for c in status.conditions or [] if c.type == "Ready"), None)


def plan_rollout(
    spec: ModelDeploymentSpec,
    previous: ModelDeploymentStatus | None,
    desired: ResolvedModel | None,
    observed: Observed,
    now: datetime,
    generation: int,
    outcomes: list[MetricOutcome] | None = None,
    rollback_request: str | None = None,
) -> Plan:
    """The next status, the replicas of each track and the events, for one reconcile tick."""
    status = (previous or ModelDeploymentStatus()).model_copy(deep=True)
    status.observed_generation = generation
    status.traffic_routing = "GatewayAPI" if gateway_routing(spec) else "ReplicaRatio"
    plan = Plan(status=status)
    replicas = desired_replicas(spec, observed)
    if rollback_request and rollback_request != status.rollback_request:  # each distinct request acts once
        roll_back_on_request(plan, rollback_request, now)
    if desired is None and status.stable_model is None:
        wait_for_model(status, now, generation)
        return plan
    complete_pending(status, observed, replicas, now)
    if status.stable_model is None and desired is not None:
        deploy_first(plan, desired, now)
    wanted_new = desired is not None and not same(desired, status.stable_model)
    rejected = desired is not None and same(desired, status.failed_model)
    if status.canary_model is not None and not (wanted_new and same(desired, status.canary_model)):
        abort_canary(plan, now)
    if wanted_new and not rejected and status.canary_model is None and desired is not None:
        if stable_pending(status):
            replace_pending(plan, desired, failing(observed.failures, "stable", status.stable_model), now)
        else:
            start_rollout(spec, plan, desired, now)
    canary = _resolved(status.canary_model)
    step = StepOutcome()
    canary_failure = failing(observed.failures, "canary", status.canary_model) if canary is not None else None
    if canary is not None and canary_failure is not None:
        _roll_back_canary(plan, now, canary_failure.condition_reason, f"canary {canary_failure.describe()}")
        canary = None
    elif canary is not None and status.current_step is not None:
        canary, step = run_canary_step(spec, plan, canary, observed, replicas, outcomes, now, generation)
    if canary is None:
        plan.stable, plan.stable_replicas = _resolved(status.stable_model), replicas
        plan.canary, plan.canary_replicas = None, 0
    if gateway_routing(spec):
        ready = observed.canary_ready >= plan.canary_replicas and observed.canary_replicas == plan.canary_replicas
        plan.route = desired_route(spec, status, ready)  # no live canary: stable 100%, managed rules removed
        route_status(spec, status, observed.route, now, generation, plan.route)
    else:
        status.route = None
        drop_condition(status, "TrafficRouted")
    failure = failing(observed.failures, "stable", status.stable_model)
    before = _ready_reason(status)
    set_status_conditions(spec, plan, observed, desired, rejected, step, now, generation, failure)
    after = next((c for c in status.conditions or [] if c.type == "Ready"), None)
    if after is not None and after.reason in ("ModelLoadFailed", "ServerStartFailed") and before != after.reason:
        plan.events.append(Event("Warning", after.reason, after.message))
    return plan

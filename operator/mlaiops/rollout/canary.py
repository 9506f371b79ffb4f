"""The rollout state machine of a ModelDeployment, pure: from spec, status and observations to a plan.

One call per reconcile: ``plan_rollout`` reads the previous status, what the cluster shows
(ready replicas of each track) and this tick's analysis outcomes, and returns the next status,
the replicas each track should run and the events to emit. It never sleeps and never talks
to the API, so every transition is unit-tested; the controller applies the plan.

GitOps-safe: the spec is never rewritten. A rolled-back model is remembered in
``status.failedModel`` and is not tried again until the spec names another model.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from mlaiops.api.common import Condition, seconds
from mlaiops.api.modeldeployment import (
    MetricResult,
    ModelDeploymentSpec,
    ModelDeploymentStatus,
    ModelRef,
    RolloutRecord,
)
from mlaiops.resources.modelserver import ResolvedModel, actual_weight, split_replicas
from mlaiops.rollout.analysis import MetricOutcome

HISTORY_LIMIT = 20


@dataclass(frozen=True)
class Observed:
    """What the cluster shows this tick."""

    stable_ready: int = 0
    canary_ready: int = 0
    stable_replicas: int = 0
    canary_replicas: int = 0


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
    text = "True" if value else "False"
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
    order = {"Ready": 0, "Progressing": 1, "Degraded": 2, "RolledBack": 3}
    status.conditions = sorted(conditions, key=lambda c: order.get(c.type, 9))


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


def _apply_outcomes(status: ModelDeploymentStatus, outcomes: list[MetricOutcome]) -> None:
    results = {result.name: result for result in status.analysis or []}
    for outcome in outcomes:
        result = results.get(outcome.name) or MetricResult(name=outcome.name, phase=outcome.outcome)
        result = result.model_copy(
            update={"phase": outcome.outcome, "value": outcome.value, "message": outcome.message}
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
    plan = Plan(status=status)
    replicas = desired_replicas(spec, observed)

    def condition(kind: str, value: bool, reason: str, message: str) -> None:
        set_condition(status, kind, value, reason, message, now, generation)

    def finish(outcome: str, reason: str, message: str, model: ModelRef | None) -> None:
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

    def roll_back(reason: str, message: str) -> None:
        failed = status.canary_model
        status.failed_model = failed
        finish("RolledBack", reason, message, failed)
        status.last_action = f"RolledBack {failed.version if failed else ''}".strip()
        plan.events.append(Event("Warning", reason, message))

    # 1. An on-demand rollback (annotation or remediation) runs once per distinct request.
    if rollback_request and rollback_request != status.rollback_request:
        status.rollback_request = rollback_request
        if status.canary_model is not None:
            roll_back(
                "RollbackRequested", f"canary {status.canary_model.version} aborted on request: {rollback_request}"
            )
        else:
            previous_stable = next(
                (
                    record
                    for record in status.history or []
                    if record.outcome == "Promoted"
                    and status.stable_model is not None
                    and record.version != status.stable_model.version
                ),
                None,
            )
            if previous_stable is not None and status.stable_model is not None:
                status.failed_model = status.stable_model
                status.rollout_started_at = now
                finish(
                    "RolledBack",
                    "RollbackRequested",
                    f"stable {status.stable_model.version} replaced by {previous_stable.version} on request",
                    status.stable_model,
                )
                status.stable_model = ModelRef(version=previous_stable.version, storage_uri=previous_stable.storage_uri)
                status.last_action = f"RolledBack to {previous_stable.version}"
                plan.events.append(Event("Warning", "RollbackRequested", f"rolled back to {previous_stable.version}"))
            else:
                plan.events.append(Event("Warning", "RollbackImpossible", "no earlier stable model to roll back to"))

    # 2. Nothing to serve yet (the RetrainPolicy has promoted nothing).
    if desired is None and status.stable_model is None:
        status.phase = "Pending"
        condition("Ready", False, "WaitingForModel", "no model yet: the RetrainPolicy has not promoted one")
        condition("Progressing", False, "WaitingForModel", "nothing to roll out")
        return plan

    # 3. First deployment: no analysis, there is nothing to compare with.
    if status.stable_model is None and desired is not None:
        status.stable_model = _ref(desired)
        status.last_action = f"Deployed {desired.version}"
        _record(
            status,
            RolloutRecord(
                version=desired.version,
                storage_uri=desired.storage_uri,
                outcome="Promoted",
                reason="InitialDeployment",
                started_at=now,
                finished_at=now,
            ),
        )
        plan.events.append(Event("Normal", "Deployed", f"deploying {desired.version}"))

    stable = _resolved(status.stable_model)
    wanted_new = desired is not None and not same(desired, status.stable_model)
    rejected = desired is not None and same(desired, status.failed_model)

    # 4. A canary that the spec no longer asks for is dropped.
    if status.canary_model is not None and not (wanted_new and same(desired, status.canary_model)):
        finish("Aborted", "SpecChanged", "the spec no longer names the canary's model", status.canary_model)
        plan.events.append(Event("Normal", "CanaryAborted", "the spec changed during the rollout"))

    # 5. Start a rollout when the spec names a model that is neither stable nor rejected.
    if wanted_new and not rejected and status.canary_model is None and desired is not None:
        if spec.rollout.strategy == "RollingUpdate":
            status.rollout_started_at = now
            finish("Promoted", "RollingUpdate", f"{desired.version} rolled out without analysis", _ref(desired))
            status.stable_model = _ref(desired)
            stable = desired
            status.last_action = f"Promoted {desired.version}"
            plan.events.append(Event("Normal", "RollingUpdate", f"rolling update to {desired.version}"))
        else:
            status.canary_model = _ref(desired)
            status.current_step = 0
            status.rollout_started_at = now
            status.step_started_at = None
            status.last_analysis_at = None
            status.analysis = []
            plan.events.append(
                Event(
                    "Normal",
                    "CanaryStarted",
                    f"canary {desired.version} next to {stable.version if stable else 'nothing'}",
                )
            )

    canary = _resolved(status.canary_model)
    degraded = False
    hold: tuple[str, str] | None = None  # why a live canary is not advancing
    if canary is not None and status.current_step is not None:
        steps = spec.rollout.canary.steps
        step = steps[min(status.current_step, len(steps) - 1)]
        stable_count, canary_count = split_replicas(replicas, step.weight)
        plan.stable, plan.stable_replicas = stable, stable_count
        plan.canary, plan.canary_replicas = canary, canary_count
        status.canary_weight = actual_weight(stable_count, canary_count)
        canary_ready = observed.canary_ready >= canary_count and observed.canary_replicas == canary_count
        if status.step_started_at is None and canary_ready:
            status.step_started_at = now
        if outcomes:
            status.last_analysis_at = now
            _apply_outcomes(status, outcomes)
        results = {result.name: result for result in status.analysis or []}
        failing = [r for r in results.values() if r.failures > spec.analysis.failure_limit]
        erroring = [r for r in results.values() if r.consecutive_errors > spec.analysis.consecutive_error_limit]
        if failing:
            details = "; ".join(f"{r.name}: {r.message}" for r in failing)
            roll_back("AnalysisFailed", f"canary {canary.version} failed analysis ({details})")
            plan.canary, plan.canary_replicas = None, 0
            plan.stable_replicas = replicas
            canary = None
        elif erroring:
            degraded = True
            details = "; ".join(f"{r.name}: {r.message}" for r in erroring)
            condition("Degraded", True, "AnalysisError", f"metrics provider failing, rollout held: {details}")
        elif spec.paused:
            hold = ("Paused", f"paused at step {status.current_step} ({status.canary_weight}% on canary)")
        elif status.step_started_at is not None:
            elapsed = (now - status.step_started_at).total_seconds()
            waiting = [
                m.name
                for m in spec.analysis.metrics
                if results.get(m.name) is None or results[m.name].step_successes == 0
            ]
            inconclusive = [r.name for r in results.values() if r.phase == "Inconclusive"]
            if elapsed >= seconds(step.pause) and not waiting:
                for result in results.values():
                    result.step_successes = 0
                if status.current_step + 1 < len(steps):
                    status.current_step += 1
                    status.step_started_at = None
                    next_weight = steps[status.current_step].weight
                    stable_count, canary_count = split_replicas(replicas, next_weight)
                    plan.stable_replicas, plan.canary_replicas = stable_count, canary_count
                    status.canary_weight = actual_weight(stable_count, canary_count)
                    plan.events.append(
                        Event(
                            "Normal", "StepAdvanced", f"step {status.current_step}: {next_weight}% to {canary.version}"
                        )
                    )
                else:
                    promoted = status.canary_model
                    finish("Promoted", "AnalysisPassed", f"{canary.version} passed every step", promoted)
                    status.stable_model = promoted
                    status.last_action = f"Promoted {canary.version}"
                    plan.events.append(Event("Normal", "Promoted", f"{canary.version} promoted to stable"))
                    plan.stable, plan.stable_replicas = canary, replicas
                    plan.canary, plan.canary_replicas = None, 0
                    canary = None
            elif inconclusive and elapsed >= seconds(step.pause):
                hold = ("AnalysisInconclusive", f"step held: no data for {', '.join(inconclusive)}")

    if canary is None:
        plan.stable, plan.stable_replicas = _resolved(status.stable_model), replicas
        plan.canary, plan.canary_replicas = None, 0

    # Conditions and phase.
    stable_ready = observed.stable_ready >= plan.stable_replicas and observed.stable_replicas == plan.stable_replicas
    if not degraded:
        condition("Degraded", False, "AnalysisHealthy" if status.canary_model else "Healthy", "")
    rolled_back = rejected and status.canary_model is None
    condition(
        "RolledBack",
        rolled_back,
        "RolledBack" if rolled_back else "NotRolledBack",
        f"{desired.version if desired else ''} was rolled back; set a new model in the spec to roll out again"
        if rolled_back
        else "",
    )
    if status.canary_model is not None:
        status.phase = "Degraded" if degraded else "Progressing"
        reason, message = hold or (
            "CanaryProgressing",
            f"step {status.current_step} of {len(spec.rollout.canary.steps)}: "
            f"{status.canary_weight}% on {status.canary_model.version}",
        )
        condition("Progressing", True, reason, message)
        condition(
            "Ready",
            stable_ready,
            "CanaryInProgress",
            f"stable {status.stable_model.version if status.stable_model else ''} serving; canary in analysis",
        )
    else:
        if stable_ready:
            status.phase = "RolledBack" if rolled_back else "Ready"
            condition("Progressing", False, "RolloutComplete", f"{status.stable_model.version} is stable")
            condition(
                "Ready",
                True,
                "RolledBack" if rolled_back else "Available",
                f"{observed.stable_ready}/{plan.stable_replicas} replicas ready",
            )
        else:
            status.phase = "Progressing"
            condition(
                "Progressing",
                True,
                "ReplicasUpdating",
                f"{observed.stable_ready}/{plan.stable_replicas} replicas ready",
            )
            condition(
                "Ready", False, "ReplicasNotReady", f"{observed.stable_ready}/{plan.stable_replicas} replicas ready"
            )
    ready = observed.stable_ready + observed.canary_ready
    status.ready_replicas = ready
    status.replicas = observed.stable_replicas + observed.canary_replicas
    status.ready = f"{ready}/{plan.stable_replicas + plan.canary_replicas}"
    return plan

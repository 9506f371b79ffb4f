"""RetrainPolicy controller: read what the planner needs, plan the pass, carry the plan out, write status.

The decisions live in ``mlaiops.retrain.planner`` (pure); this module only does the I/O around
it. A new run is written to status before its Job is created, so a restarted operator picks a
running Job up instead of starting another.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import kopf
from kubernetes.client.exceptions import ApiException

from mlaiops import API_VERSION, GROUP, VERSION
from mlaiops.api.annotations import APPROVE_ANNOTATION, RETRAIN_ANNOTATION
from mlaiops.api.modeldeployment import SHA256_REQUIRED
from mlaiops.api.retrainpolicy import RetrainPolicySpec, RetrainPolicyStatus
from mlaiops.controllers import references, settings
from mlaiops.controllers.common import InvalidSpec, invalid_spec_status, parse_status, status_changed, status_patch
from mlaiops.controllers.problems import checked_spec
from mlaiops.kube import JSON, Kube
from mlaiops.metrics import operator as operator_metrics
from mlaiops.remediation.matching import selector_matches
from mlaiops.resources.trainjob import RUN_LABEL
from mlaiops.retrain import mlflow_registry, runs
from mlaiops.retrain.outcome import finished
from mlaiops.retrain.planner import (
    Context,
    CreateJob,
    DeleteJob,
    Event,
    Observed,
    Plan,
    RecordStatus,
    SyncMlflow,
    plan_pass,
)
from mlaiops.retrain.schedule import ScheduleError, validate


def parse(body: Mapping[str, Any]) -> RetrainPolicySpec:
    """The spec, with its schedule checked (a cron or time zone the schema cannot judge)."""
    parsed = checked_spec(RetrainPolicySpec, body)
    if parsed.triggers.schedule is not None:
        try:
            validate(parsed.triggers.schedule.cron, parsed.triggers.schedule.time_zone)
        except ScheduleError as error:
            raise InvalidSpec(f"spec.triggers.schedule: {error}") from None
    return parsed


def rule_firings(client: Kube, spec: RetrainPolicySpec, namespace: str) -> dict[str, int]:
    """Firing counters of the AnomalyRules that trigger this policy (from their status: restart-safe)."""
    trigger = spec.triggers.on_anomaly
    if trigger is None:
        return {}
    names = {ref.name for ref in trigger.rules or []}
    counts = {}
    for rule in client.list(API_VERSION, "AnomalyRule", namespace):
        name = rule["metadata"]["name"]
        if name in names or selector_matches(trigger.selector, rule["metadata"].get("labels") or {}):
            counts[name] = int((rule.get("status") or {}).get("firings") or 0)
    return counts


def observe(
    client: Kube, spec: RetrainPolicySpec, status: RetrainPolicyStatus, namespace: str, annotations: dict[str, str]
) -> Observed:
    """Everything the planner reads: the active run's Job (and its pods once it ended), triggers, the champion."""
    run = runs.active_run(status)
    job = client.get("batch/v1", "Job", namespace, run.job) if run is not None and run.job else None
    pods = client.list("v1", "Pod", namespace, f"{RUN_LABEL}={run.id}") if run is not None and finished(job) else []
    deployed, history = None, []
    if spec.model_deployment_ref is not None:
        md = client.get(API_VERSION, "ModelDeployment", namespace, spec.model_deployment_ref.name) or {}
        md_status = md.get("status") or {}
        stable = md_status.get("stableModel") or {}
        if stable.get("storageUri"):
            deployed = (stable["storageUri"], stable.get("sha256"))
        history = [(record.get("version"), record.get("outcome")) for record in md_status.get("history") or []]
    return Observed(
        job=job,
        pods=pods,
        rule_firings=rule_firings(client, spec, namespace),
        request=annotations.get(RETRAIN_ANNOTATION),
        approval=annotations.get(APPROVE_ANNOTATION),
        deployed=deployed,
        rollout_history=history,
    )


def unpinned_champion(spec: RetrainPolicySpec, observed: Observed) -> str | None:
    """Why the champion the trainer would load may not be used (no sha256 under MLAIOPS_REQUIRE_SHA256)."""
    if spec.model_deployment_ref is None or observed.deployed is None or observed.deployed[1]:
        return None
    return (
        f"spec.modelDeploymentRef: ModelDeployment {spec.model_deployment_ref.name!r} serves {observed.deployed[0]} "
        f"without a sha256, so it cannot be the champion: {SHA256_REQUIRED}; set its spec.model.sha256"
    )


def act(
    client: Kube, plan: Plan, spec: RetrainPolicySpec, body: JSON, ctx: Context, now: datetime, logger: Any
) -> list[Event]:
    """Carry the plan's actions out in order; MLflow's answers go into the plan's status, its events are returned."""
    events: list[Event] = []
    for action in plan.actions:
        if isinstance(action, DeleteJob):
            client.delete("batch/v1", "Job", ctx.namespace, action.name)
        elif isinstance(action, RecordStatus):  # a failed write raises: nothing was created
            patch = {"status": status_patch(plan.status)}
            client.patch(API_VERSION, "RetrainPolicy", ctx.namespace, ctx.policy, patch, sub="status")
        elif isinstance(action, CreateJob):
            try:  # a Job that fails to be created now is created by the next pass (CreateJob missing=True)
                client.apply(action.job, owner=body)
            except ApiException as error:
                logger.warning("creating Job %s failed: %s", action.job["metadata"]["name"], error.reason)
                continue
            if action.missing:
                logger.info("created the missing Job %s of run %s", action.job["metadata"]["name"], action.run_id)
        elif isinstance(action, SyncMlflow) and spec.mlflow is not None:
            found = mlflow_registry.sync(spec.mlflow, plan.status, ctx.namespace, ctx.policy, now, ctx.generation)
            events += [Event(*event) for event in found]
    return events


@kopf.timer(GROUP, VERSION, "retrainpolicies", interval=settings().reconcile_interval, initial_delay=0.1, backoff=5)
def reconcile(
    body: kopf.Body,
    spec: kopf.Spec,
    status: kopf.Status,
    meta: kopf.Meta,
    namespace: str | None,
    name: str,
    patch: kopf.Patch,
    logger: kopf.Logger,
    memo: kopf.Memo,
    **_: Any,
) -> None:
    """One level-triggered pass over a RetrainPolicy: read, plan, act, write status, emit events."""
    assert namespace is not None  # a namespaced kind
    client: Kube = memo.kube
    now = datetime.now(UTC)
    generation = int(meta.get("generation", 0))
    try:
        parsed = parse(body)
    except InvalidSpec as error:
        patch.status.update(invalid_spec_status(error, generation, now.isoformat(), current=status))
        return
    # The server's copy, read now: kopf's cached body may lag behind the status the previous pass wrote
    # (a dropped watch, a conflict on kopf's own patch), and a pass planned on it could stall or repeat.
    live = client.get(API_VERSION, "RetrainPolicy", namespace, name)
    if live is None:
        return  # deleted meanwhile
    server_status = live.get("status") or {}
    previous = parse_status(RetrainPolicyStatus, server_status)
    created = datetime.fromisoformat(meta["creationTimestamp"].replace("Z", "+00:00"))
    ctx = Context(name, namespace, settings().image, created, generation)
    annotations = dict((live.get("metadata") or {}).get("annotations") or {})
    observed = observe(client, parsed, previous, namespace, annotations)
    if settings().require_sha256 and (unpinned := unpinned_champion(parsed, observed)) is not None:
        patch.status.update(invalid_spec_status(unpinned, generation, now.isoformat(), current=server_status))
        return
    plan = plan_pass(parsed, previous, observed, now, ctx)
    references.mark(plan.status, references.check(client, parsed, namespace), live, now)
    events = plan.events + act(client, plan, parsed, dict(body), ctx, now, logger)
    new_status = status_patch(plan.status)
    if status_changed(new_status, server_status):
        client.patch(API_VERSION, "RetrainPolicy", namespace, name, {"status": new_status}, sub="status")
    operator_metrics.record_retrain_runs(namespace, name, previous, plan.status)  # act() may have written it
    for event in events:
        kopf.event(body, type=event.type, reason=event.reason, message=event.message)
        logger.info("%s: %s", event.reason, event.message)

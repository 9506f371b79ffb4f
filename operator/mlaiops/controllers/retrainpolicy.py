"""RetrainPolicy controller: collect triggers, start at most one Job, read its result, gate, promote.

Each run is written to status before its Job is created, and every decision right after it
is taken, so a restarted operator picks a running Job up instead of starting another.
"""

from __future__ import annotations

import contextlib
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import kopf
from kubernetes.client.exceptions import ApiException

from mlaiops import API_VERSION, GROUP, VERSION
from mlaiops.api.annotations import APPROVE_ANNOTATION, RETRAIN_ANNOTATION, request_value
from mlaiops.api.common import seconds
from mlaiops.api.modeldeployment import SHA256_REQUIRED
from mlaiops.api.retrainpolicy import RetrainPolicySpec, RetrainPolicyStatus, RunRecord
from mlaiops.controllers import settings
from mlaiops.controllers.common import (
    InvalidSpec,
    invalid_spec_status,
    kube,
    parse_spec,
    parse_status,
    status_changed,
    status_patch,
)
from mlaiops.remediation.matching import selector_matches
from mlaiops.resources.trainjob import RUN_LABEL, job_name, training_job
from mlaiops.retrain import mlflow_lineage, mlflow_registry, runs
from mlaiops.retrain.schedule import ScheduleError, validate


def rule_firings(spec: RetrainPolicySpec, namespace: str) -> dict[str, int]:
    """Firing counters of the AnomalyRules that trigger this policy (from their status: restart-safe)."""
    trigger = spec.triggers.on_anomaly
    if trigger is None:
        return {}
    names = {ref.name for ref in trigger.rules or []}
    counts = {}
    for rule in kube().list(API_VERSION, "AnomalyRule", namespace):
        name = rule["metadata"]["name"]
        if name in names or selector_matches(trigger.selector, rule["metadata"].get("labels") or {}):
            counts[name] = int((rule.get("status") or {}).get("firings") or 0)
    return counts


def champion(spec: RetrainPolicySpec, status: RetrainPolicyStatus, namespace: str) -> tuple[str | None, str | None]:
    """The model a candidate must beat: what the ModelDeployment serves, else what this policy promoted."""
    if spec.model_deployment_ref is not None:
        md = kube().get(API_VERSION, "ModelDeployment", namespace, spec.model_deployment_ref.name)
        stable = ((md or {}).get("status") or {}).get("stableModel") or {}
        if stable.get("storageUri"):
            return stable["storageUri"], stable.get("sha256")
    if status.promoted is not None:
        return status.promoted.uri, status.promoted.sha256
    return None, None


def require_pinned_champion(spec: RetrainPolicySpec, status: RetrainPolicyStatus, namespace: str) -> None:
    """InvalidSpec when the champion the trainer would load has no sha256 (MLAIOPS_REQUIRE_SHA256)."""
    uri, sha256 = champion(spec, status, namespace)
    if uri and not sha256 and spec.model_deployment_ref is not None:
        raise InvalidSpec(
            f"spec.modelDeploymentRef: ModelDeployment {spec.model_deployment_ref.name!r} serves {uri} without a "
            f"sha256, so it cannot be the champion: {SHA256_REQUIRED}; set its spec.model.sha256"
        )


def job_result(namespace: str, run: RunRecord) -> tuple[str, dict[str, Any] | str] | None:
    """('Succeeded', summary) or ('Failed', message) once the run's Job finished; None while it runs."""
    job = kube().get("batch/v1", "Job", namespace, run.job or "")
    if job is None:
        return None
    conditions = {c["type"]: c for c in (job.get("status") or {}).get("conditions", []) if c.get("status") == "True"}
    if "Complete" not in conditions and "Failed" not in conditions:
        return None
    pods = kube().list("v1", "Pod", namespace, f"{RUN_LABEL}={run.id}")
    messages = []
    for pod in sorted(pods, key=lambda p: p["metadata"].get("creationTimestamp", "")):
        for container in (pod.get("status") or {}).get("containerStatuses", []):
            terminated = (container.get("state") or {}).get("terminated") or {}
            if terminated.get("message"):
                messages.append((terminated.get("exitCode", 1), terminated["message"].strip()))
    if "Complete" in conditions:
        for code, message in reversed(messages):
            if code == 0:
                try:
                    return "Succeeded", json.loads(message.splitlines()[-1])
                except (json.JSONDecodeError, IndexError):
                    return "Failed", f"the trainer's termination message is not JSON: {message[:200]}"
        return "Failed", "the Job completed but its pod left no termination message"
    failed = conditions["Failed"]
    detail = messages[-1][1] if messages else ""
    with contextlib.suppress(json.JSONDecodeError, AttributeError):
        detail = json.loads(detail).get("error", detail)
    return "Failed", f"{failed.get('reason', 'Failed')}: {detail or failed.get('message', '')}".strip(": ")


def ensure_job(
    body: kopf.Body,
    spec: RetrainPolicySpec,
    state: RetrainPolicyStatus,
    run: RunRecord,
    namespace: str,
    name: str,
    logger: Any,
) -> None:
    """Create the Job of a recorded run that has none (its creation failed, or the operator died
    between recording the run and creating it). The Job is named after the run: never a second one."""
    if run.job is None or kube().get("batch/v1", "Job", namespace, run.job) is not None:
        return
    champion_uri, champion_sha = champion(spec, state, namespace)
    job = training_job(name, namespace, spec, run.id, settings().image, champion_uri, champion_sha)
    kube().apply(job, owner=dict(body))
    logger.info("created the missing Job %s of run %s", run.job, run.id)


def current_in_cache(namespace: str, name: str, meta: kopf.Meta, logger: Any) -> bool:
    """Whether the object kopf handed us is the server's latest version (a run recorded by the previous
    pass may not have reached the watch cache yet, after a dropped or slow watch)."""
    live = kube().get(API_VERSION, "RetrainPolicy", namespace, name)
    if live is None:
        return False
    cached, server = meta.get("resourceVersion"), live["metadata"].get("resourceVersion")
    if cached != server:
        logger.info("waiting for the watch to catch up before starting a run (cache %s, server %s)", cached, server)
    return cached == server


def follow_rollout(spec: RetrainPolicySpec, status: RetrainPolicyStatus, namespace: str) -> None:
    """Record what the ModelDeployment did with promoted models (Promoted or RolledBack)."""
    if spec.model_deployment_ref is None:
        return
    md = kube().get(API_VERSION, "ModelDeployment", namespace, spec.model_deployment_ref.name)
    history = ((md or {}).get("status") or {}).get("history") or []
    outcomes = {record.get("version"): record.get("outcome") for record in reversed(history)}
    for run in status.runs or []:
        if run.phase == "Promoted" and run.id in outcomes and run.rollout_outcome != outcomes[run.id]:
            run.rollout_outcome = outcomes[run.id]


@kopf.timer(GROUP, VERSION, "retrainpolicies", interval=settings().reconcile_interval, initial_delay=0.1, backoff=5)
def reconcile(
    body: kopf.Body,
    spec: kopf.Spec,
    status: kopf.Status,
    meta: kopf.Meta,
    namespace: str,
    name: str,
    patch: kopf.Patch,
    logger: kopf.Logger,
    **_: Any,
) -> None:
    """One level-triggered pass over a RetrainPolicy."""
    now = datetime.now(UTC)
    generation = int(meta.get("generation", 0))
    try:
        parsed = parse_spec(RetrainPolicySpec, spec)
        if parsed.triggers.schedule is not None:
            try:
                validate(parsed.triggers.schedule.cron, parsed.triggers.schedule.time_zone)
            except ScheduleError as error:
                raise InvalidSpec(f"spec.triggers.schedule: {error}") from None
        if settings().require_sha256:
            require_pinned_champion(parsed, parse_status(RetrainPolicyStatus, status), namespace)
    except InvalidSpec as error:
        patch.status.update(invalid_spec_status(str(error), generation, now.isoformat()))
        patch.status["phase"] = "Failed"
        return
    current = parse_status(RetrainPolicyStatus, status)
    state = current.model_copy(deep=True)
    state.observed_generation = generation
    events: list[tuple[str, str, str]] = []
    annotations = meta.get("annotations") or {}
    created = datetime.fromisoformat(meta["creationTimestamp"].replace("Z", "+00:00"))

    # 1. Follow the run in progress.
    run = runs.active_run(state)
    if run is not None:
        if run.phase == "Pending":
            run.phase = "Running"
        outcome = job_result(namespace, run)
        if outcome is None:
            ensure_job(body, parsed, state, run, namespace, name, logger)
        if outcome is not None:
            verdict, payload = outcome
            if verdict == "Failed":
                run.phase, run.finished_at, run.decision = "Failed", now, f"Failed: {payload}"
                events.append(("Warning", "RunFailed", f"run {run.id} failed: {payload}"))
            else:
                decision = runs.judge_result(parsed, run, payload)  # type: ignore[arg-type]
                mlflow_lineage.record_trainer_result(run, payload)  # type: ignore[arg-type]
                if not decision.passed:
                    run.phase, run.finished_at, run.decision = "Rejected", now, f"Rejected: {decision.summary}"
                    events.append(("Warning", "CandidateRejected", f"run {run.id}: {decision.summary}"))
                elif parsed.promotion.mode == "manual":
                    run.phase, run.decision = "AwaitingApproval", f"Passed: {decision.summary}; awaiting approval"
                    events.append(
                        (
                            "Normal",
                            "AwaitingApproval",
                            f"run {run.id} passed; approve with annotation {APPROVE_ANNOTATION}={run.id}",
                        )
                    )
                else:
                    runs.promote(state, run, now)
                    run.decision = f"Promoted: {decision.summary}"
                    events.append(("Normal", "Promoted", f"run {run.id} promoted: {decision.summary}"))

    # 2. Manual promotion of a candidate that passed.
    for waiting in [r for r in state.runs or [] if r.phase == "AwaitingApproval"]:
        if annotations.get(APPROVE_ANNOTATION) == waiting.id:
            runs.promote(state, waiting, now)
            events.append(("Normal", "Promoted", f"run {waiting.id} promoted after approval"))
        elif waiting.started_at and now - waiting.started_at > timedelta(
            seconds=seconds(parsed.promotion.approval_timeout)
        ):
            waiting.phase, waiting.finished_at = "Expired", now
            events.append(
                (
                    "Warning",
                    "ApprovalExpired",
                    f"run {waiting.id} was not approved within {parsed.promotion.approval_timeout}",
                )
            )

    # 3. New triggers.
    probe = state.model_copy(deep=True)  # collect_triggers marks what it saw as handled
    triggers = runs.collect_triggers(
        parsed, probe, now, created, annotations.get(RETRAIN_ANNOTATION), rule_firings(parsed, namespace)
    )
    if triggers and not current_in_cache(namespace, name, meta, logger):
        triggers = []  # a run may start: decide at the next pass, on a copy as new as the server's
    else:
        state = probe
    for trigger in triggers:
        allowed, why = runs.may_start(parsed, state, now, trigger)
        if not allowed:
            events.append(("Normal", "RunSkipped", f"{trigger.kind} trigger ({trigger.reason}) skipped: {why}"))
            continue
        replaced = runs.active_run(state)
        if replaced is not None:  # concurrencyPolicy Replace
            kube().delete("batch/v1", "Job", namespace, replaced.job or "")
            replaced.phase, replaced.finished_at, replaced.decision = (
                "Failed",
                now,
                "Failed: replaced by a newer scheduled run",
            )
        rid = runs.run_id(now)
        champion_uri, champion_sha = champion(parsed, state, namespace)
        job = training_job(name, namespace, parsed, rid, settings().image, champion_uri, champion_sha)
        runs.start_run(state, parsed, trigger, now, job_name(name, rid), rid)
        # The run is recorded before its Job exists (a failed write raises: nothing was created);
        # a Job that fails to be created now is created by the next pass (ensure_job).
        kube().patch(API_VERSION, "RetrainPolicy", namespace, name, {"status": status_patch(state)}, sub="status")
        patch.status.update(status_patch(state))
        try:
            kube().apply(job, owner=dict(body))
        except ApiException as error:
            logger.warning("creating Job %s failed: %s", job["metadata"]["name"], error.reason)
        events.append(("Normal", "RunStarted", f"run {rid} started by {trigger.kind}: {trigger.reason}"))
        break  # at most one run per pass

    follow_rollout(parsed, state, namespace)
    if parsed.mlflow is not None:
        events += mlflow_registry.sync(parsed.mlflow, state, namespace, name, now, generation)
    else:
        mlflow_lineage.forget(state)
    state.phase = (
        "Suspended"
        if parsed.suspend
        else "Training"
        if runs.active_run(state)
        else "AwaitingApproval"
        if any(r.phase == "AwaitingApproval" for r in state.runs or [])
        else "Idle"
    )
    new_status = status_patch(state)
    if status_changed(new_status, status):
        patch.status.update(new_status)
    for kind, reason, message in events:
        kopf.event(body, type=kind, reason=reason, message=message)
        logger.info("%s: %s", reason, message)


def request_retrain(namespace: str, name: str, reason: str, source: str = "manual") -> None:
    """Ask a RetrainPolicy for a run (the remediation `retrain` action calls this with source='playbook')."""
    prefix = runs.PLAYBOOK_PREFIX if source == "playbook" else ""
    value = f"{prefix}{request_value(reason)}"
    kube().patch(
        API_VERSION, "RetrainPolicy", namespace, name, {"metadata": {"annotations": {RETRAIN_ANNOTATION: value}}}
    )

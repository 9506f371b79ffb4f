"""Run bookkeeping of a RetrainPolicy, pure: which trigger starts a run, whether it may, what a result means.

All state lives in the policy's status (runs, last schedule time, the last request handled,
firings already counted), so an operator restart neither loses nor repeats a run.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from mlaiops.api.common import seconds
from mlaiops.api.retrainpolicy import PromotedModel, RetrainPolicySpec, RetrainPolicyStatus, RunRecord
from mlaiops.retrain import schedule
from mlaiops.retrain.gate import GateDecision, evaluate_gate

ACTIVE = frozenset({"Pending", "Running"})
PLAYBOOK_PREFIX = "playbook:"

TriggerKind = Literal["schedule", "anomaly", "manual", "playbook"]


@dataclass(frozen=True)
class Trigger:
    """Why a run should start."""

    kind: TriggerKind
    reason: str


def run_id(now: datetime) -> str:
    """Sortable, unique per second, valid in a Job name."""
    return "r" + now.strftime("%Y%m%d-%H%M%S")


def active_run(status: RetrainPolicyStatus) -> RunRecord | None:
    return next((run for run in status.runs or [] if run.phase in ACTIVE), None)


def collect_triggers(
    spec: RetrainPolicySpec,
    status: RetrainPolicyStatus,
    now: datetime,
    created: datetime,
    request: str | None,
    rule_firings: dict[str, int],
) -> list[Trigger]:
    """Triggers that fired since the last reconcile; marks each as handled in ``status``."""
    triggers: list[Trigger] = []
    if request and request != status.last_request:
        status.last_request = request
        if request.startswith(PLAYBOOK_PREFIX):
            triggers.append(Trigger("playbook", request[len(PLAYBOOK_PREFIX) :]))
        else:
            triggers.append(Trigger("manual", request))
    cron = spec.triggers.schedule
    if cron is not None:
        fire, at = schedule.due(cron.cron, cron.time_zone, status.last_schedule_time, created, now, cron.catch_up)
        if at is not None:
            status.last_schedule_time = at
        if fire:
            triggers.append(Trigger("schedule", f"schedule {cron.cron} ({cron.time_zone}) at {at:%Y-%m-%dT%H:%M:%S%z}"))
        status.next_schedule_time = schedule.next_fire(cron.cron, cron.time_zone, now)
    on_anomaly = spec.triggers.on_anomaly
    if on_anomaly is not None:
        seen = dict(status.firings_seen or {})
        for rule, firings in sorted(rule_firings.items()):
            counted = seen.get(rule)
            if counted is None or firings < counted:  # new rule, or its status was reset
                seen[rule] = firings
                continue
            if firings - counted >= on_anomaly.consecutive_firings:
                seen[rule] = firings
                triggers.append(Trigger("anomaly", f"AnomalyRule {rule} fired {firings - counted} time(s)"))
        status.firings_seen = seen
    return triggers


def may_start(
    spec: RetrainPolicySpec, status: RetrainPolicyStatus, now: datetime, trigger: Trigger
) -> tuple[bool, str]:
    """(allowed, why not): suspension, one run at a time, minInterval between runs."""
    if spec.suspend:
        return False, "the policy is suspended"
    running = active_run(status)
    schedule_spec = spec.triggers.schedule
    replace = trigger.kind == "schedule" and schedule_spec is not None and schedule_spec.concurrency_policy == "Replace"
    if running is not None and not replace:
        return False, f"run {running.id} is still {running.phase}"
    last = max((run.started_at for run in status.runs or [] if run.started_at), default=None)
    gap = timedelta(seconds=seconds(spec.triggers.min_interval))
    if last is not None and now - last < gap:
        return (
            False,
            f"the last run started {int((now - last).total_seconds())}s ago (minInterval {spec.triggers.min_interval})",
        )
    return True, ""


def start_run(
    status: RetrainPolicyStatus, spec: RetrainPolicySpec, trigger: Trigger, now: datetime, job: str, rid: str
) -> RunRecord:
    """Record a run before its Job exists, so a restart finds it and does not start another."""
    run = RunRecord(
        id=rid,
        trigger=trigger.kind,
        reason=trigger.reason,
        job=job,
        phase="Pending",
        started_at=now,
        dataset_uri=spec.dataset.uri,
        params=spec.trainer.params,
    )
    status.runs = [run, *(status.runs or [])][: spec.history_limit]
    status.last_run = rid
    return run


def judge_result(spec: RetrainPolicySpec, run: RunRecord, summary: dict[str, Any]) -> GateDecision:
    """Fill the run's lineage from the trainer's summary and apply the validation gate."""
    run.model_uri = summary.get("modelUri")
    run.model_sha256 = summary.get("sha256")
    run.dataset_sha256 = summary.get("datasetSha256")
    run.profile_sha256 = summary.get("profileSha256")
    run.candidate_metrics = summary.get("metrics") or {}
    run.champion_metrics = summary.get("championMetrics")
    run.top_features = (summary.get("topFeatures") or [])[:10]
    return evaluate_gate(spec.validation, run.candidate_metrics, run.champion_metrics, summary.get("fairness"))


def promote(status: RetrainPolicyStatus, run: RunRecord, now: datetime) -> PromotedModel:
    """Make the run's model the policy's champion; ModelDeployments with source.retrainPolicyRef roll it out."""
    promoted = PromotedModel(
        uri=run.model_uri or "",
        sha256=run.model_sha256 or "",
        version=run.id,
        run_id=run.id,
        metrics=run.candidate_metrics,
        promoted_at=now,
    )
    status.promoted = promoted
    run.phase = "Promoted"
    run.finished_at = now
    return promoted

"""Incidents, written by the RemediationPlaybook controller: one per execution's incident.

An Incident is operator-owned and read-only (owned by its playbook, garbage collected with it). It
lists the anomalies on the target that correlate with the one that started the execution, the
recent changes to the target (ModelDeployment rollouts, RetrainPolicy runs, remediation steps),
every step and its outcome, the resolution, and probable causes ranked by
``mlaiops.remediation.incidents.rank_causes``. It is updated while it is open and its execution
runs, and left alone once both are over.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from kubernetes.client.exceptions import ApiException

from mlaiops import API_VERSION
from mlaiops.api.common import seconds
from mlaiops.api.incident import Change, IncidentAnomaly, IncidentStatus, IncidentStep
from mlaiops.controllers.common import kube, parse_status, status_changed, status_patch
from mlaiops.kube import JSON
from mlaiops.remediation import ladder
from mlaiops.remediation.incidents import LOOKBACK, Signal, correlated, rank_causes

if TYPE_CHECKING:
    from mlaiops.api.remediationplaybook import ExecutionRecord
    from mlaiops.controllers.remediationplaybook import Pass

MAX_OPEN = 5
FOLLOW = timedelta(hours=1)
"""How long after its execution ended an incident is still updated (its anomalies may resolve later)."""


def _time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None


def changes(namespace: str, kind: str, name: str, executions: list[ExecutionRecord], since: datetime) -> list[Change]:
    """What changed on the target from ``since`` on: rollouts, retraining runs, remediation steps."""
    found: list[Change] = []
    if kind == "ModelDeployment":
        md = kube().get(API_VERSION, "ModelDeployment", namespace, name) or {}
        for record in (md.get("status") or {}).get("history") or []:
            at = _time(record.get("startedAt")) or _time(record.get("finishedAt"))
            if at:
                what = (
                    f"rollout of {record.get('version') or '?'} ({record.get('outcome')}: {record.get('reason', '')})"
                )
                found.append(Change(kind="Rollout", what=what, at=at))
        for policy in kube().list(API_VERSION, "RetrainPolicy", namespace):
            if ((policy.get("spec") or {}).get("modelDeploymentRef") or {}).get("name") != name:
                continue
            for run in (policy.get("status") or {}).get("runs") or []:
                at = _time(run.get("startedAt"))
                if at:
                    what = f"RetrainPolicy {policy['metadata']['name']} run {run.get('id')} ({run.get('phase')})"
                    found.append(Change(kind="Retrain", what=what, at=at))
    for execution in executions:
        if execution.target != f"{kind}/{name}":
            continue
        for step in execution.steps or []:
            if step.started_at and step.result in ("Succeeded", "Running"):
                found.append(Change(kind="Remediation", what=f"{step.action}: {step.message}", at=step.started_at))
    return sorted((c for c in found if c.at >= since), key=lambda c: c.at)[-50:]


def build(
    execution: ExecutionRecord, existing: IncidentStatus, signals: list[Signal], run: Pass, now: datetime
) -> IncidentStatus:
    window = timedelta(seconds=seconds(run.spec.incident.correlation_window))
    assert execution.since is not None and execution.target is not None
    firing = {(s.fingerprint, s.since): s for s in correlated(execution.since, window, signals, execution.target)}
    anomalies = {(a.fingerprint, a.since): a for a in existing.anomalies or []}
    for key, signal in firing.items():
        if key not in anomalies:
            anomalies[key] = IncidentAnomaly(
                source=signal.source,  # type: ignore[arg-type]
                rule=signal.rule,
                fingerprint=signal.fingerprint,
                labels=signal.labels or None,
                since=signal.since,
            )
    trigger_key = (execution.fingerprint or "", execution.since)
    if trigger_key not in anomalies:
        anomalies[trigger_key] = IncidentAnomaly(
            source="Alertmanager" if execution.trigger.startswith("alert:") else "AnomalyRule",
            rule=execution.trigger.split(":", 1)[-1],
            fingerprint=execution.fingerprint or "",
            since=execution.since,
        )
    for key, anomaly in anomalies.items():
        if key not in firing and anomaly.resolved_at is None:
            anomaly.resolved_at = now
    ordered = sorted(anomalies.values(), key=lambda a: (a.since, a.rule))[:50]
    start = ordered[0].since
    kind, _, name = execution.target.partition("/")
    recent = changes(run.namespace, kind, name, run.state.executions or [], start - LOOKBACK)
    resolved = all(a.resolved_at for a in ordered)
    status = IncidentStatus(
        phase="Resolved" if resolved else "Open",
        started_at=start,
        resolved_at=max(a.resolved_at for a in ordered if a.resolved_at) if resolved else None,  # type: ignore[type-var]
        anomalies=ordered,
        changes=recent or None,
        steps=[
            IncidentStep(
                execution=execution.id,
                action=step.action,
                result=step.result,
                verified=step.verified,
                started_at=step.started_at,
                finished_at=step.finished_at,
                message=step.message,
            )
            for step in execution.steps or []
        ]
        or None,
        probable_causes=rank_causes(ordered, recent) or None,
    )
    if execution.state in ladder.FINAL_STATES:
        status.resolution = f"{execution.state} ({execution.reason}): {execution.message or ''}".strip()
    else:
        status.resolution = f"execution {execution.id} is {execution.state}"
    return status


def update(run: Pass, signals: list[Signal]) -> None:
    """Create or refresh the Incidents of the playbook's recent executions."""
    recent = [
        e
        for e in run.state.executions or []
        if e.incident
        and e.since
        and e.state != "Refused"
        and (e.finished_at is None or run.now - e.finished_at < FOLLOW)
    ][:MAX_OPEN]
    for execution in recent:
        current_obj = kube().get(API_VERSION, "Incident", run.namespace, execution.incident or "")
        existing = parse_status(IncidentStatus, (current_obj or {}).get("status"))
        if (
            existing.phase == "Resolved"
            and execution.state in ladder.FINAL_STATES
            and existing.resolution
            and (existing.resolution.startswith(execution.state))
        ):
            continue  # over: leave it alone
        try:
            write(run, execution, build(execution, existing, signals, run, run.now), current_obj)
        except ApiException as error:
            if error.status not in (404, 409):
                raise


def write(run: Pass, execution: ExecutionRecord, status: IncidentStatus, current: JSON | None) -> None:
    name = execution.incident or ""
    if current is None:
        obj = {
            "apiVersion": API_VERSION,
            "kind": "Incident",
            "metadata": {
                "name": name,
                "namespace": run.namespace,
                "labels": {
                    "app.kubernetes.io/managed-by": "mlaiops",
                    "mlaiops.dev/owner": f"RemediationPlaybook.{run.name}",
                },
            },
            "spec": {"target": execution.target, "playbook": run.name},
        }
        current, _ = kube().apply(obj, owner=run.body, current=None)  # read just before: missing
    new = status_patch(status)
    if status_changed(new, current.get("status")):
        kube().patch(API_VERSION, "Incident", run.namespace, name, {"status": new}, sub="status")

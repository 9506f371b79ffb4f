"""Incidents, pure: which anomalies belong together, which one starts an execution, and what probably caused it.

Correlation: anomalies (AnomalyRule series or Alertmanager alerts) that concern the same target
belong to one incident when they begin within ``correlationWindow`` of its first anomaly (either
side: a slower rule may notice the same trouble later, a faster one earlier). A playbook runs once
per incident: an anomaly that began before an execution on its target ended is part of what that
execution handled and starts nothing new; one that begins after it ended opens a new incident.

Cause ranking: changes to the target shortly before the first anomaly rank highest (the closer,
the higher; rollouts over retraining runs over remediation steps); changes after the first anomaly
cannot have caused it and are left out; among the anomalies, the one that began first is the
earliest symptom and ranks above later ones.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from mlaiops.api.incident import Change, IncidentAnomaly, IncidentStatus, IncidentStep, ProbableCause
from mlaiops.api.remediationplaybook import ExecutionRecord
from mlaiops.remediation.ladder import FINAL_STATES

LOOKBACK = timedelta(hours=1)
"""Changes older than this before the first anomaly are not considered causes."""
CHANGE_WEIGHT = {"Rollout": 1.0, "Retrain": 0.8, "Remediation": 0.5}
MAX_OPEN = 5
"""At most this many incidents are refreshed per pass (the newest)."""
FOLLOW = timedelta(hours=1)
"""How long after its execution ended an incident is still updated (its anomalies may resolve later)."""
JSON = dict[str, Any]


@dataclass(frozen=True)
class Signal:
    """A firing (or resolved) anomaly or alert, wherever it came from."""

    source: str
    rule: str
    """namespace/name of the AnomalyRule, or the alertname."""
    fingerprint: str
    since: datetime
    firing: bool = True
    labels: dict[str, str] = field(default_factory=dict)
    severity: str | None = None
    namespace: str = ""
    """Namespace of the target."""
    target_kind: str | None = None
    target_name: str | None = None

    @property
    def target(self) -> str | None:
        return f"{self.target_kind}/{self.target_name}" if self.target_kind and self.target_name else None


def covering_execution(target: str, since: datetime, executions: list[ExecutionRecord]) -> ExecutionRecord | None:
    """The execution on ``target`` whose incident an anomaly that began at ``since`` belongs to, if any."""
    for record in executions:
        if record.target != target or record.state == "Refused" or record.started_at is None:
            continue
        if record.finished_at is None or since <= record.finished_at:
            return record
    return None


def incident_name(playbook: str, target_name: str, started: datetime) -> str:
    """A stable DNS-1123 name for the incident that began at ``started`` (the same after a restart)."""
    digest = hashlib.sha256(f"{playbook}/{target_name}/{started.isoformat()}".encode()).hexdigest()[:6]
    return f"{target_name[:40]}-{started.strftime('%Y%m%d-%H%M%S')}-{digest}"


def correlated(start: datetime, window: timedelta, signals: list[Signal], target: str) -> list[Signal]:
    """The signals on ``target`` that began within ``window`` of ``start``, earliest first."""
    members = [s for s in signals if s.target == target and abs(s.since - start) <= window]
    return sorted(members, key=lambda s: (s.since, s.rule, s.fingerprint))


def rank_causes(anomalies: list[IncidentAnomaly], changes: list[Change], limit: int = 10) -> list[ProbableCause]:
    """Probable causes, most probable first, each saying why it is ranked there."""
    if not anomalies:
        return []
    first = min(a.since for a in anomalies)
    scored: list[tuple[float, str, str]] = []
    for change in changes:
        before = first - change.at
        if before < timedelta(0) or before > LOOKBACK:
            continue
        minutes = before.total_seconds() / 60
        weight = CHANGE_WEIGHT[change.kind]
        score = weight / (1 + minutes)
        why = (
            f"{change.kind.lower()} change {_ago(before)} before the first anomaly"
            f" (weight {weight:g} for a {change.kind.lower()}, decaying with time)"
        )
        scored.append((score, f"{change.kind}: {change.what}", why))
    for anomaly in anomalies:
        after = anomaly.since - first
        score = 0.4 / (1 + after.total_seconds() / 60)
        why = (
            "the earliest anomaly: the first symptom seen"
            if after == timedelta(0)
            else f"began {_ago(after)} after the first anomaly: more likely a consequence"
        )
        scored.append((score, f"Anomaly: {anomaly.rule} ({_labels(anomaly.labels)})", why))
    scored.sort(key=lambda item: (-item[0], item[1]))
    return [
        ProbableCause(rank=i + 1, cause=cause, score=round(score, 4), why=why)
        for i, (score, cause, why) in enumerate(scored[:limit])
    ]


def _ago(delta: timedelta) -> str:
    total = int(delta.total_seconds())
    if total < 120:
        return f"{total}s"
    if total < 7200:
        return f"{total // 60}m"
    return f"{total // 3600}h"


def _labels(labels: dict[str, str] | None) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted((labels or {}).items())[:4]) or "no labels"


def to_refresh(executions: list[ExecutionRecord], now: datetime) -> list[ExecutionRecord]:
    """The executions whose incidents are still followed: running, or ended less than FOLLOW ago."""
    return [
        e
        for e in executions
        if e.incident and e.since and e.state != "Refused" and (e.finished_at is None or now - e.finished_at < FOLLOW)
    ][:MAX_OPEN]


def is_over(existing: IncidentStatus, execution: ExecutionRecord) -> bool:
    """An incident resolved after its execution ended is left alone."""
    return bool(
        existing.phase == "Resolved"
        and execution.state in FINAL_STATES
        and existing.resolution
        and existing.resolution.startswith(execution.state)
    )


def _time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None


def changes(
    kind: str,
    name: str,
    deployment: JSON | None,
    policies: list[JSON],
    executions: list[ExecutionRecord],
    since: datetime,
) -> list[Change]:
    """What changed on the target from ``since`` on: rollouts (from ``deployment``'s history), retraining runs
    (of the ``policies`` that name it) and remediation steps."""
    found: list[Change] = []
    if kind == "ModelDeployment":
        for record in ((deployment or {}).get("status") or {}).get("history") or []:
            at = _time(record.get("startedAt")) or _time(record.get("finishedAt"))
            if at:
                what = (
                    f"rollout of {record.get('version') or '?'} ({record.get('outcome')}: {record.get('reason', '')})"
                )
                found.append(Change(kind="Rollout", what=what, at=at))
        for policy in policies:
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


def anomalies_of(
    execution: ExecutionRecord, existing: IncidentStatus, signals: list[Signal], window: timedelta, now: datetime
) -> list[IncidentAnomaly]:
    """The incident's anomalies: those it had, those now correlated and its trigger; gone ones resolved at ``now``."""
    assert execution.since is not None and execution.target is not None
    firing = {(s.fingerprint, s.since): s for s in correlated(execution.since, window, signals, execution.target)}
    anomalies = {(a.fingerprint, a.since): a.model_copy() for a in existing.anomalies or []}
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
    return sorted(anomalies.values(), key=lambda a: (a.since, a.rule))[:50]


def build(execution: ExecutionRecord, anomalies: list[IncidentAnomaly], recent: list[Change]) -> IncidentStatus:
    """The Incident's status from its anomalies (``anomalies_of``) and the target's recent ``changes``."""
    resolved = all(a.resolved_at for a in anomalies)
    status = IncidentStatus(
        phase="Resolved" if resolved else "Open",
        started_at=anomalies[0].since,
        resolved_at=max(a.resolved_at for a in anomalies if a.resolved_at) if resolved else None,
        anomalies=anomalies,
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
        probable_causes=rank_causes(anomalies, recent) or None,
    )
    if execution.state in FINAL_STATES:
        status.resolution = f"{execution.state} ({execution.reason}): {execution.message or ''}".strip()
    else:
        status.resolution = f"execution {execution.id} is {execution.state}"
    return status

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

from mlaiops.api.incident import Change, IncidentAnomaly, ProbableCause
from mlaiops.api.remediationplaybook import ExecutionRecord

LOOKBACK = timedelta(hours=1)
"""Changes older than this before the first anomaly are not considered causes."""
CHANGE_WEIGHT = {"Rollout": 1.0, "Retrain": 0.8, "Remediation": 0.5}


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

"""Signals and incident identity, pure: what a firing anomaly or alert is, and which execution covers it.

A playbook runs once per incident: an anomaly that began before an execution on its target ended is
part of what that execution handled and starts nothing new. Which signals form one incident across
related objects, Alertmanager groups and flaps is ``remediation/correlation.py``'s; what probably
caused it is ``remediation/causes.py``'s.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from mlaiops.api.remediationplaybook import ExecutionRecord

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
    group: str = ""
    """The Alertmanager group (groupKey) an alert arrived in; empty for AnomalyRule series."""

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

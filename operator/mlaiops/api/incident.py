"""Incident: the anomalies that concern one target within a correlation window, what changed before
them, what the playbook did about them and how it ended.

Operator-owned and read-only: a RemediationPlaybook creates one per incident and owns it (it is
garbage collected with the playbook). Users read it with ``kubectl get incidents``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from mlaiops.api.common import ApiModel, Conditions


class IncidentSpec(ApiModel):
    """What the incident is about; written once by the operator."""

    target: str = ""
    """kind/name of the workload the anomalies concern."""
    playbook: str = ""
    """The RemediationPlaybook that handles it."""


class IncidentAnomaly(ApiModel):
    """One anomaly or alert of the incident."""

    source: Literal["AnomalyRule", "Alertmanager"] = "AnomalyRule"
    """Where it came from."""
    rule: str
    """namespace/name of the AnomalyRule, or the alert name."""
    fingerprint: str
    """Identity of the series or alert."""
    labels: dict[str, str] | None = None
    """Its labels."""
    since: datetime
    """When it began firing."""
    resolved_at: datetime | None = None
    """When it stopped firing."""


class Change(ApiModel):
    """A change to the target (rollout, retraining run, remediation step)."""

    kind: Literal["Rollout", "Retrain", "Remediation"]
    """What made the change."""
    what: str
    """The change, for people."""
    at: datetime
    """When it happened."""


class ProbableCause(ApiModel):
    """A ranked explanation."""

    rank: int
    """1 is the most probable."""
    cause: str
    """The change or anomaly."""
    score: float
    """Relative weight (higher is more probable)."""
    why: str
    """Why it is ranked here."""


class IncidentStep(ApiModel):
    """One remediation step and its outcome."""

    execution: str
    """Execution id."""
    action: str
    """Step name."""
    result: str
    """How it ended."""
    verified: bool | None = None
    """Whether the anomaly resolved within verify.within."""
    started_at: datetime | None = None
    """When it started."""
    finished_at: datetime | None = None
    """When it finished."""
    message: str = ""
    """Details."""


class IncidentStatus(ApiModel):
    """Observed state of an Incident."""

    phase: Literal["Open", "Resolved"] | None = None
    """Open while any of its anomalies fires."""
    observed_generation: int | None = None
    """The spec generation this status describes."""
    started_at: datetime | None = None
    """When the first anomaly began."""
    resolved_at: datetime | None = None
    """When the last anomaly resolved."""
    resolution: str | None = None
    """How it ended: which step fixed it, or that it resolved without a verified fix."""
    anomalies: list[IncidentAnomaly] | None = Field(default=None, max_length=50)
    """Its anomalies, earliest first."""
    changes: list[Change] | None = Field(default=None, max_length=50)
    """Recent changes to the target, earliest first."""
    steps: list[IncidentStep] | None = Field(default=None, max_length=50)
    """Every remediation step and its outcome."""
    probable_causes: list[ProbableCause] | None = Field(default=None, max_length=20)
    """Causes ranked by how probable they are."""
    conditions: Conditions | None = None
    """Kubernetes-style conditions (none written yet; phase says Open or Resolved)."""

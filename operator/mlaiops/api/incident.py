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
    path: list[str] | None = Field(default=None, max_length=10)
    """How it joined the incident: the topology path from an earlier member's object to its own (Kind/name, then -reason-> Kind/name per edge), or the Alertmanager group it shares."""
    group: str | None = None
    """The Alertmanager group (groupKey) it arrived in; a group is never split across incidents."""
    flaps: int | None = None
    """Times it fired again within the correlation window after resolving (folded into this incident)."""


class Change(ApiModel):
    """A change to the target (rollout, retraining run, remediation step)."""

    kind: Literal["Rollout", "Retrain", "Remediation", "Config", "Scale"]
    """What made the change: a rollout, a retraining run, a remediation step, a Deployment's template (config or image) change, a scale event."""
    what: str
    """The change, for people."""
    at: datetime
    """When it happened."""
    object: str | None = None
    """Kind/name of the object that changed."""
    distance: int | None = None
    """Topology hops from the changed object to the nearest anomaly's object (0: the same object)."""


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


class IncidentNotification(ApiModel):
    """One incident notification: sent once when the incident opens and once when it resolves."""

    event: Literal["Opened", "Resolved"]
    """What it announces."""
    result: Literal["Sending", "Succeeded", "Failed", "Suppressed"]
    """Sending is written before the POST; one found after a restart is not repeated (at most once)."""
    at: datetime
    """When it was decided."""
    message: str = ""
    """The receiver's answer, the error, or the silence that suppressed it."""


class RelatedIncident(ApiModel):
    """Another playbook's incident about the same cause: each playbook keeps its own Incident (its executions,
    its owner), and only the first to open announces it."""

    name: str
    """The other Incident, in the same namespace."""
    playbook: str
    """The RemediationPlaybook that owns it."""
    path: list[str] | None = Field(default=None, max_length=10)
    """How they relate: the topology path from its anomalies' objects to this incident's, or the Alertmanager
    group they share."""


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
    objects: list[str] | None = Field(default=None, max_length=50)
    """Kind/name of every object its anomalies concern (joined through the topology)."""
    notifications: list[IncidentNotification] | None = Field(default=None, max_length=10)
    """Its notifications (spec.incident.notify of the playbook): one when it opened, one when it resolved;
    suppressed when a related incident of another playbook announced the cause first."""
    related: RelatedIncident | None = None
    """An incident of another playbook about the same cause (found, as members are, through the topology within
    maxHops and correlationWindow), set before this one is announced."""
    conditions: Conditions | None = None
    """Kubernetes-style conditions (none written yet; phase says Open or Resolved)."""

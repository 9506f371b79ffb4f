"""Incidents, written by the RemediationPlaybook controller: one per execution's incident.

An Incident is operator-owned and read-only (owned by its playbook, garbage collected with it). It
lists the anomalies on the target that correlate with the one that started the execution, the
recent changes to the target (ModelDeployment rollouts, RetrainPolicy runs, remediation steps),
every step and its outcome, the resolution, and probable causes ranked by
``mlaiops.remediation.incidents.rank_causes``. It is updated while it is open and its execution
runs, and left alone once both are over. What goes in it is decided in ``mlaiops.remediation.incidents``;
this module reads the target's history and writes the Incident.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from kubernetes.client.exceptions import ApiException

from mlaiops import API_VERSION
from mlaiops.api.common import seconds
from mlaiops.api.incident import IncidentStatus
from mlaiops.api.remediationplaybook import ExecutionRecord, RemediationPlaybookSpec, RemediationPlaybookStatus
from mlaiops.controllers.common import parse_status, status_changed, status_patch
from mlaiops.kube import JSON, Kube
from mlaiops.metrics import operator as operator_metrics
from mlaiops.remediation import incidents
from mlaiops.remediation.incidents import LOOKBACK, Signal


def update(
    kube: Kube,
    playbook: JSON,
    spec: RemediationPlaybookSpec,
    status: RemediationPlaybookStatus,
    signals: list[Signal],
    now: datetime,
) -> None:
    """Create or refresh the Incidents of the playbook's recent executions."""
    namespace = playbook["metadata"]["namespace"]
    window = timedelta(seconds=seconds(spec.incident.correlation_window))
    for execution in incidents.to_refresh(status.executions or [], now):
        current = kube.get(API_VERSION, "Incident", namespace, execution.incident or "")
        existing = parse_status(IncidentStatus, (current or {}).get("status"))
        if incidents.is_over(existing, execution):
            continue
        try:
            anomalies = incidents.anomalies_of(execution, existing, signals, window, now)
            kind, _, name = (execution.target or "/").partition("/")
            deployment = (
                kube.get(API_VERSION, "ModelDeployment", namespace, name) if kind == "ModelDeployment" else None
            )
            policies = kube.list(API_VERSION, "RetrainPolicy", namespace) if kind == "ModelDeployment" else []
            since = anomalies[0].since - LOOKBACK
            recent = incidents.changes(kind, name, deployment, policies, status.executions or [], since)
            write(kube, playbook, execution, incidents.build(execution, anomalies, recent), current)
        except ApiException as error:
            if error.status not in (404, 409):
                raise


def write(kube: Kube, playbook: JSON, execution: ExecutionRecord, status: IncidentStatus, current: JSON | None) -> None:
    """Create the Incident when missing (owned by the playbook), then write its status if it changed."""
    name = execution.incident or ""
    namespace, owner = playbook["metadata"]["namespace"], playbook["metadata"]["name"]
    if current is None:
        obj = {
            "apiVersion": API_VERSION,
            "kind": "Incident",
            "metadata": {
                "name": name,
                "namespace": namespace,
                "labels": {
                    "app.kubernetes.io/managed-by": "mlaiops",
                    "mlaiops.dev/owner": f"RemediationPlaybook.{owner}",
                },
            },
            "spec": {"target": execution.target, "playbook": owner},
        }
        current, _ = kube.apply(obj, owner=playbook, current=None)  # read just before: missing
    new = status_patch(status)
    if status_changed(new, current.get("status")):
        kube.patch(API_VERSION, "Incident", namespace, name, {"status": new}, sub="status")
        before = parse_status(IncidentStatus, current.get("status"))
        operator_metrics.record_incident(namespace, owner, before, status)

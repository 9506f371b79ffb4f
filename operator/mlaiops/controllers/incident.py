"""Incidents, written by the RemediationPlaybook controller: one per cause, however many related anomalies.

An Incident is operator-owned and read-only (owned by its playbook, garbage collected with it). Each
pass, before the playbook's planner runs, ``correlate`` reads the namespace's Incidents and, when anything
fires or is still followed, the objects of the namespace the topology is built from (ModelDeployments,
RetrainPolicies, AnomalyRules, Deployments, Pods, Services, HPAs); ``mlaiops.remediation.correlation``
decides which of the playbook's own incidents every firing signal joins (the planner then starts one
execution per incident), and links a new one to another playbook's incident about the same cause, so
the cause is announced once. After the planner, ``update`` writes each incident's status: its
members with the path that joined them, the objects they concern, the recent changes around them,
every step of its executions, probable causes ranked by ``mlaiops.remediation.causes``, and its
notifications, each recorded Sending before it is POSTed to ``spec.incident.notify`` and with its
result after.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from kubernetes.client.exceptions import ApiException

from mlaiops import API_VERSION
from mlaiops.api.common import seconds
from mlaiops.api.incident import Change, IncidentStatus, IncidentStep
from mlaiops.api.remediationplaybook import Action, ExecutionRecord, RemediationPlaybookSpec, RemediationPlaybookStatus
from mlaiops.controllers import settings
from mlaiops.controllers.common import parse_status, status_changed, status_patch
from mlaiops.kube import JSON, Kube, owner_reference
from mlaiops.metrics import operator as operator_metrics
from mlaiops.remediation import actions, causes, correlation, outbound, silences, topology
from mlaiops.remediation.correlation import Incident, Plan
from mlaiops.remediation.incidents import Signal
from mlaiops.remediation.ladder import FINAL_STATES

TOPOLOGY_KINDS = (
    (API_VERSION, "ModelDeployment"),
    (API_VERSION, "RetrainPolicy"),
    (API_VERSION, "AnomalyRule"),
    ("apps/v1", "Deployment"),
    ("v1", "Pod"),
    ("v1", "Service"),
    ("autoscaling/v2", "HorizontalPodAutoscaler"),
)
"""What the topology is built from (each listed in the playbook's namespace; HTTPRoutes are known by name
from the ModelDeployment that routes through one)."""


@dataclass
class Correlated:
    """What ``correlate`` read and decided, for ``update``."""

    plan: Plan
    objects: list[JSON] = field(default_factory=list)
    graph: topology.Graph = field(default_factory=topology.Graph)
    current: dict[str, JSON] = field(default_factory=dict)
    """The Incident objects read, by name."""


def settings_of(spec: RemediationPlaybookSpec, namespace: str, name: str, now: datetime) -> correlation.Settings:
    return correlation.Settings(
        playbook=name,
        namespace=namespace,
        window=timedelta(seconds=seconds(spec.incident.correlation_window)),
        max_hops=spec.incident.max_hops,
        notify=spec.incident.notify is not None,
        silenced=silences.active(spec.incident.silences, now)
        or ("dry run: recorded, not sent" if spec.dry_run or settings().dry_run else None),
    )


def observe(kube: Kube, namespace: str) -> list[JSON]:
    """The namespace's objects the topology is built from (a kind that cannot be listed is left out)."""
    objects: list[JSON] = []
    for api_version, kind in TOPOLOGY_KINDS:
        try:
            items = kube.list(api_version, kind, namespace)
        except ApiException as error:
            if error.status not in (403, 404):
                raise
            continue
        objects += [{**item, "apiVersion": api_version, "kind": kind} for item in items]
    return objects


def correlate(
    kube: Kube,
    playbook: JSON,
    spec: RemediationPlaybookSpec,
    signals: list[Signal],
    executions: list[ExecutionRecord],
    now: datetime,
) -> Correlated:
    """Read the playbook's incidents (and the topology when needed) and join the firing signals to them; an
    incident an execution names but the API lacks (its create failed) is rebuilt and followed, and one the API
    holds without members (its first status write was lost) gets them back from the executions."""
    namespace, name = playbook["metadata"]["namespace"], playbook["metadata"]["name"]
    listed = kube.list(API_VERSION, "Incident", namespace)  # every playbook's: another's may be about the same cause
    current = {i["metadata"]["name"]: i for i in listed if owner_of(i) == name}
    known = correlation.restore_members([as_incident(obj) for obj in current.values()], executions, now)
    followed = correlation.followed(known + correlation.recovered(set(current), executions, now), now)
    settings = settings_of(spec, namespace, name, now)
    if not signals and not followed:
        return Correlated(correlation.plan([], [], topology.Graph(), settings, now), current=current)
    objects = observe(kube, namespace)
    graph = topology.build(objects)
    others = correlation.followed([as_incident(i) for i in listed if owner_of(i) not in (None, name)], now)
    return Correlated(correlation.plan(followed, signals, graph, settings, now, others), objects, graph, current)


def owner_of(incident: JSON) -> str | None:
    """The RemediationPlaybook that owns an Incident (by the operator's owner label), if any."""
    owner = str(((incident.get("metadata") or {}).get("labels") or {}).get(topology.OWNER_LABEL) or "")
    kind, _, name = owner.partition(".")
    return name if kind == "RemediationPlaybook" and name else None


def as_incident(obj: JSON) -> Incident:
    """An Incident object as the correlation planner sees it."""
    return Incident(
        obj["metadata"]["name"],
        str((obj.get("spec") or {}).get("target") or ""),
        parse_status(IncidentStatus, obj.get("status")),
        playbook=owner_of(obj) or "",
    )


def update(
    kube: Kube,
    playbook: JSON,
    spec: RemediationPlaybookSpec,
    status: RemediationPlaybookStatus,
    correlated: Correlated,
    now: datetime,
) -> None:
    """Write every planned incident's status, then send the notifications the plan recorded Sending."""
    namespace, owner = playbook["metadata"]["namespace"], playbook["metadata"]["name"]
    executions = status.executions or []
    changes = causes.observed_changes(correlated.objects, executions, namespace)
    due = {name: [e for n, e in correlated.plan.send if n == name] for name, _ in correlated.plan.send}
    for incident in correlated.plan.incidents:
        built = build(incident, executions, changes, correlated.graph, spec, namespace)
        try:
            if not write(kube, playbook, incident, built, correlated.current.get(incident.name)):
                continue
            for event in due.get(incident.name, []):
                record = next(r for r in built.notifications or [] if r.event == event and r.result == "Sending")
                result, message = send(kube, playbook, spec, incident, built, event, now)
                record.result, record.message = result, message  # type: ignore[assignment]
                kube.patch(
                    API_VERSION, "Incident", namespace, incident.name, {"status": status_patch(built)}, sub="status"
                )
                channel = spec.incident.notify.format if spec.incident.notify else "unknown"
                operator_metrics.record_incident_notification(namespace, owner, channel, result)
        except ApiException as error:
            if error.status not in (404, 409):
                raise


def build(
    incident: Incident,
    executions: list[ExecutionRecord],
    changes: list[tuple[topology.Node, Change]],
    graph: topology.Graph,
    spec: RemediationPlaybookSpec,
    namespace: str,
) -> IncidentStatus:
    """The Incident's full status: the plan's members and notifications, its objects, changes, steps and causes."""
    status = incident.status.model_copy(deep=True)
    members = status.anomalies or []
    symptoms: set[topology.Node] = set()
    for member in members:
        symptoms |= correlation.anchors_of(graph, member.source, member.rule, member.labels, namespace)
    target = correlation.target_node(incident.target, namespace)
    if target is not None:
        symptoms.add(target)
    status.objects = sorted({topology.node_text(n, namespace) for n in symptoms if n[1] != "AnomalyRule"})[:50] or None
    first = min((m.since for m in members), default=None)
    if first is not None:
        recent = causes.relevant(changes, graph, symptoms, first, spec.incident.max_hops, namespace)
        status.changes = recent or None
        status.probable_causes = causes.rank(members, recent) or None
    own = [e for e in executions if e.incident == incident.name]
    status.steps = [
        IncidentStep(
            execution=e.id,
            action=step.action,
            result=step.result,
            verified=step.verified,
            started_at=step.started_at,
            finished_at=step.finished_at,
            message=step.message,
        )
        for e in reversed(own)
        for step in e.steps or []
    ][:50] or None
    fingerprints = {m.fingerprint for m in members}
    refused = [e for e in executions if e.state == "Refused" and e.fingerprint in fingerprints]
    status.resolution = resolution(status, own, refused)
    return status


def resolution(status: IncidentStatus, executions: list[ExecutionRecord], refused: list[ExecutionRecord]) -> str:
    """How it ended or where it stands, for people (and why nothing acted, when a guardrail or silence refused)."""
    latest = executions[0] if executions else None
    if latest is not None and latest.state in FINAL_STATES:
        return f"{latest.state} ({latest.reason}): {latest.message or ''}".strip()
    if latest is not None:
        return f"execution {latest.id} is {latest.state}"
    why = f": refused ({refused[0].reason}: {refused[0].message})" if refused else ""
    return ("resolved without an execution" if status.phase == "Resolved" else "no execution started") + why


def write(kube: Kube, playbook: JSON, incident: Incident, status: IncidentStatus, current: JSON | None) -> bool:
    """Create the Incident when missing (owned by the playbook), then write its status if it changed; False when
    it was created meanwhile (nothing written: the next pass reads it)."""
    namespace, owner = playbook["metadata"]["namespace"], playbook["metadata"]["name"]
    if current is None:
        obj: JSON = {
            "apiVersion": API_VERSION,
            "kind": "Incident",
            "metadata": {
                "name": incident.name,
                "namespace": namespace,
                "labels": {
                    "app.kubernetes.io/managed-by": "mlaiops",
                    topology.OWNER_LABEL: f"RemediationPlaybook.{owner}",
                },
                "ownerReferences": [owner_reference(playbook)],
            },
            "spec": {"target": incident.target, "playbook": owner},
        }
        try:
            current = kube.create(obj)  # listed just before: missing
        except ApiException as error:
            if error.status != 409:
                raise
            return False  # created meanwhile: the next pass lists it and writes its status
    new = status_patch(status)
    if status_changed(new, current.get("status")):
        kube.patch(API_VERSION, "Incident", namespace, incident.name, {"status": new}, sub="status")
        before = parse_status(IncidentStatus, current.get("status"))
        operator_metrics.record_incident(namespace, owner, before, status)
    return True


def message(incident: Incident, status: IncidentStatus, event: str, namespace: str) -> str:
    """The notification's text: what opened or resolved, what it concerns, and the most probable cause."""
    members = status.anomalies or []
    rules = sorted({m.rule for m in members})
    cause = (status.probable_causes or [])[0] if status.probable_causes else None
    head = f"Incident {namespace}/{incident.name} {event.lower()}"
    body = f"{len(members)} anomal{'y' if len(members) == 1 else 'ies'} ({', '.join(rules[:5])})"
    where = f" on {', '.join((status.objects or [])[:5])}" if status.objects else ""
    likely = f"; probable cause: {cause.cause}" if cause is not None and event == "Opened" else ""
    return f"{head}: {body}{where}{likely}"


def send(
    kube: Kube,
    playbook: JSON,
    spec: RemediationPlaybookSpec,
    incident: Incident,
    status: IncidentStatus,
    event: str,
    now: datetime,
) -> tuple[str, str]:
    """POST one incident notification through spec.incident.notify; (result, message), never an exception."""
    namespace = playbook["metadata"]["namespace"]
    assert spec.incident.notify is not None
    action = Action(type="notify", notify=spec.incident.notify, timeout="10s")
    kind, _, name = incident.target.partition("/")
    ctx = actions.Context(
        kube,
        namespace,
        kind,
        name,
        spec,
        action,
        incident.name,
        playbook["metadata"]["name"],
        now=now,
        outbound_policy=outbound.Policy.from_settings(settings()),
        playbook=playbook,
        incident=incident.name,
    )
    details = {
        "event": f"Incident{event}",
        "incident": incident.name,
        "anomalies": len(status.anomalies or []),
        "objects": status.objects or [],
        "probableCause": status.probable_causes[0].cause if status.probable_causes else None,
    }
    try:
        return "Succeeded", actions.notify(ctx, message(incident, status, event, namespace), details)
    except actions.ActionError as error:
        return "Failed", str(error)
    except ApiException as error:
        return "Failed", f"API error {error.status}: {error.reason}"

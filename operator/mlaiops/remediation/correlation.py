"""One incident per cause, pure: which firing signals join which Incident, when it resolves, when to notify.

Why: a bad rollout fires a latency rule on the ModelDeployment, an error alert on a canary pod and a
drift rule on the canary Deployment; paging three times (or once per rule, per target, per flap) is
the noise people turn alerting off for. Here a signal joins an Incident when:
- it is a member already (same rule and fingerprint) - also when it fires again within
  ``correlationWindow`` after resolving: flapping is folded (``flaps`` counts it), never a new incident;
- it arrived in the same Alertmanager group (groupKey) as a member: a group is never split;
- its objects are within ``maxHops`` of a member's in the topology (``remediation/topology.py``) and it
  began no earlier than ``correlationWindow`` before the incident, while the incident is open or within
  ``correlationWindow`` of its resolution. The path that joined it is recorded on the member.
Otherwise it opens a new incident, named as before (``incidents.incident_name``).

Notifications are decided from the Incident's own status, never from memory, so a restart neither
repeats nor loses one: ``Opened`` once when the incident appears, ``Resolved`` once after it has stayed
resolved for ``correlationWindow`` (a flap within that time re-opens it silently). Each is recorded
``Sending`` before the controller POSTs; a ``Sending`` record found later was interrupted and is marked
Failed, not repeated (at most once). Silences suppress them, recorded as ``Suppressed`` with the reason.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from mlaiops.api.incident import IncidentAnomaly, IncidentNotification, IncidentStatus, RelatedIncident
from mlaiops.api.remediationplaybook import ExecutionRecord
from mlaiops.remediation import topology
from mlaiops.remediation.incidents import Signal, incident_name
from mlaiops.remediation.topology import Graph, Node

MAX_INCIDENTS = 20
"""At most this many incidents are followed per playbook pass (the newest)."""
FOLLOW = timedelta(hours=1)
"""How long after it resolved (and was announced) an incident is still looked at."""

Key = tuple[str, str]
"""(rule, fingerprint) of a signal or member."""


@dataclass(frozen=True)
class Settings:
    """The playbook's incident settings, as the planner needs them."""

    playbook: str
    namespace: str
    window: timedelta
    max_hops: int = 3
    notify: bool = False
    """Whether spec.incident.notify is set."""
    silenced: str | None = None
    """Why notifications are suppressed now (an active silence), if they are."""


@dataclass
class Incident:
    """One incident as the planner sees it: its name, what it is about and its status."""

    name: str
    target: str
    status: IncidentStatus
    new: bool = False
    playbook: str = ""
    """The playbook that owns it (read for another playbook's incidents)."""


@dataclass
class Plan:
    """The incidents after this pass and what to send."""

    incidents: list[Incident] = field(default_factory=list)
    membership: dict[Key, str] = field(default_factory=dict)
    """Which incident each firing signal belongs to (the remediation planner starts one execution per incident)."""
    send: list[tuple[str, str]] = field(default_factory=list)
    """(incident name, event) recorded Sending in this pass: the controller POSTs them, then records the result."""


def key_of(signal: Signal) -> Key:
    return signal.rule, signal.fingerprint


def member_key(member: IncidentAnomaly) -> Key:
    return member.rule, member.fingerprint


def anchors_of(
    graph: Graph, source: str, rule: str, labels: dict[str, str] | None, namespace: str, target: Node | None = None
) -> set[Node]:
    """The nodes a signal or member concerns: its AnomalyRule and the rule's target, the signal's target, and
    the objects its labels name (so two rules on one target are 0 hops apart)."""
    found = topology.anchors(graph, labels or {}, namespace)
    if source == "AnomalyRule" and "/" in rule:
        rule_namespace, _, rule_name = rule.partition("/")
        node = (rule_namespace, "AnomalyRule", rule_name)
        found.add(node)
        found |= {n for n, why in graph.neighbours(node).items() if why == "watches"}  # its target: 0 hops away
    if target is not None:
        found.add(target)
    return found


def target_node(target: str, namespace: str) -> Node | None:
    """The object an incident is about (its ``spec.target``: kind/name, or namespace/kind/name for another
    namespace's), None for an alert's or a rule's own and for anything else."""
    parts = target.split("/")
    if len(parts) == 2:
        parts.insert(0, namespace)
    if len(parts) != 3 or not all(parts) or parts[1] in ("Alert", "AnomalyRule"):
        return None
    return parts[0], parts[1], parts[2]


def signal_anchors(graph: Graph, signal: Signal, namespace: str) -> set[Node]:
    target = (
        (signal.namespace or namespace, signal.target_kind, signal.target_name)
        if signal.target_kind and signal.target_name
        else None
    )
    return anchors_of(graph, signal.source, signal.rule, signal.labels, signal.namespace or namespace, target)


def _latest_resolution(status: IncidentStatus) -> datetime | None:
    return status.resolved_at if status.phase == "Resolved" else None


def joinable(incident: Incident, since: datetime, window: timedelta) -> bool:
    """Whether a signal that began at ``since`` may join ``incident`` (time only)."""
    status = incident.status
    if status.started_at is not None and since < status.started_at - window:
        return False
    resolved = _latest_resolution(status)
    return resolved is None or since - resolved <= window


def _join_path(
    graph: Graph,
    incident: Incident,
    groups: set[str],
    anchors: set[Node],
    settings: Settings,
    also_from: Node | None = None,
) -> list[str] | None:
    """Why a signal (or incident) of Alertmanager ``groups`` on ``anchors`` belongs with ``incident`` (a group it
    shares or a topology path from a member's objects, or from ``also_from``), or None when it does not."""
    members = incident.status.anomalies or []
    shared = sorted(groups & {m.group for m in members if m.group})
    if shared:
        return [f"Alertmanager group {shared[0]}"]
    best: list[Node] | None = None
    starts = [anchors_of(graph, m.source, m.rule, m.labels, settings.namespace) for m in members]
    if also_from is not None:
        starts.append({also_from})
    for start in starts:
        route = topology.path(graph, start, anchors, settings.max_hops)
        if route is not None and (best is None or len(route) < len(best)):
            best = route
    return topology.describe(graph, best, settings.namespace) if best is not None else None


def _new_member(signal: Signal, path: list[str] | None) -> IncidentAnomaly:
    return IncidentAnomaly(
        source=signal.source,  # type: ignore[arg-type]
        rule=signal.rule,
        fingerprint=signal.fingerprint,
        labels=signal.labels or None,
        since=signal.since,
        path=path or None,
        group=signal.group or None,
    )


def plan(
    existing: list[Incident],
    signals: list[Signal],
    graph: Graph,
    settings: Settings,
    now: datetime,
    others: Sequence[Incident] = (),
) -> Plan:
    """Join every firing signal to an incident (or open one), resolve what stopped, link each unannounced incident
    to a related one of another playbook (``others``), decide notifications."""
    incidents = [Incident(i.name, i.target, i.status.model_copy(deep=True)) for i in existing]
    incidents.sort(key=lambda i: (i.status.started_at or now, i.name))
    result = Plan(incidents=incidents)
    firing: set[tuple[str, Key]] = set()
    for signal in sorted((s for s in signals if s.firing), key=lambda s: (s.since, s.rule, s.fingerprint)):
        key = key_of(signal)
        home = _fold(incidents, signal, settings.window)
        if home is None:
            anchors = signal_anchors(graph, signal, settings.namespace)
            candidates = []
            for incident in incidents:
                if not joinable(incident, signal.since, settings.window):
                    continue
                path = _join_path(graph, incident, {signal.group} if signal.group else set(), anchors, settings)
                if path is not None:
                    candidates.append((0 if path[0].startswith("Alertmanager group") else len(path), incident, path))
            if candidates:
                _, home, path = min(candidates, key=lambda c: (c[0], c[1].status.started_at or now, c[1].name))
                home.status.anomalies = [*(home.status.anomalies or []), _new_member(signal, path)]
            else:
                name_part = signal.target_name or signal.rule.rpartition("/")[2]
                source = "Alert" if signal.source == "Alertmanager" else "AnomalyRule"
                target = signal.target or f"{source}/{signal.rule.rpartition('/')[2]}"
                home = Incident(
                    incident_name(settings.playbook, _dns(name_part), signal.since),
                    target,
                    IncidentStatus(anomalies=[_new_member(signal, None)]),
                    new=True,
                )
                incidents.append(home)
        result.membership[key] = home.name
        firing.add((home.name, key))
    for incident in incidents:
        _settle(incident, firing, now)
        announced = _link(incident, others, graph, settings)
        result.send += [(incident.name, event) for event in _notifications(incident, settings, now, announced)]
    result.incidents = incidents
    return result


def _dns(text: str) -> str:
    cleaned = "".join(c if c.isalnum() or c == "-" else "-" for c in text.lower()).strip("-")
    return cleaned or "incident"


def _fold(incidents: list[Incident], signal: Signal, window: timedelta) -> Incident | None:
    """The incident ``signal`` is a member of already: the same episode, or a flap within ``window``."""
    key = key_of(signal)
    for incident in reversed(incidents):
        for member in incident.status.anomalies or []:
            if member_key(member) != key:
                continue
            if member.since == signal.since:
                member.resolved_at = None  # seen firing (again, after a read that missed it)
                return incident
            flapped = member.resolved_at is not None and signal.since > member.since
            if flapped and member.resolved_at is not None and signal.since - member.resolved_at <= window:
                member.resolved_at = None
                member.flaps = (member.flaps or 0) + 1
                return incident
    return None


def _settle(incident: Incident, firing: set[tuple[str, Key]], now: datetime) -> None:
    """Resolve the members that stopped firing, then the incident's phase and times."""
    status = incident.status
    members = status.anomalies or []
    for member in members:
        if (incident.name, member_key(member)) not in firing and member.resolved_at is None:
            member.resolved_at = now
    members.sort(key=lambda m: (m.since, m.rule, m.fingerprint))
    status.anomalies = members[-50:] or None
    status.started_at = min((m.since for m in members), default=status.started_at)
    if members and all(m.resolved_at for m in members):
        status.phase = "Resolved"
        status.resolved_at = max(m.resolved_at for m in members if m.resolved_at)
    else:
        status.phase, status.resolved_at = "Open", None


def _announced(incident: Incident) -> bool:
    return any(r.event == "Opened" for r in incident.status.notifications or [])


def _link(incident: Incident, others: Sequence[Incident], graph: Graph, settings: Settings) -> str | None:
    """Relate an incident not yet announced to another playbook's incident about the same cause (the nearest in
    the topology, within maxHops and the correlation window), recorded in ``status.related``; the other's name
    when it has announced the cause already (this one is then not announced again)."""
    status = incident.status
    members = status.anomalies or []
    if status.related is not None or _announced(incident) or not members or status.started_at is None:
        return None
    anchors: set[Node] = set()
    for member in members:
        anchors |= anchors_of(graph, member.source, member.rule, member.labels, settings.namespace)
    target = target_node(incident.target, settings.namespace)
    if target is not None:
        anchors.add(target)
    groups = {m.group for m in members if m.group}
    candidates = []
    for other in others:
        if other.playbook == settings.playbook or not joinable(other, status.started_at, settings.window):
            continue
        path = _join_path(graph, other, groups, anchors, settings, target_node(other.target, settings.namespace))
        if path is not None:
            hops = 0 if path[0].startswith("Alertmanager group") else len(path)
            candidates.append((hops, other.status.started_at or status.started_at, other.name, other, path))
    if not candidates:
        return None
    *_, other, path = min(candidates, key=lambda c: c[:3])
    status.related = RelatedIncident(name=other.name, playbook=other.playbook, path=path)
    return other.name if _announced(other) else None


def _notifications(incident: Incident, settings: Settings, now: datetime, announced: str | None = None) -> list[str]:
    """Interrupted sends marked Failed; the Opened and Resolved notifications due now recorded, once each
    (suppressed when ``announced``: a related incident of another playbook announced the cause)."""
    status = incident.status
    records = list(status.notifications or [])
    for record in records:
        if record.result == "Sending":
            record.result = "Failed"
            record.message = "interrupted: the operator stopped while sending; not repeated"
    if not settings.notify:
        status.notifications = records or None
        return []
    events = {r.event for r in records}
    due = []
    if "Opened" not in events:
        due.append("Opened")
    resolved = status.resolved_at if status.phase == "Resolved" else None
    if "Opened" in events and "Resolved" not in events and resolved is not None and now - resolved >= settings.window:
        due.append("Resolved")
    send = []
    opened_silently = next((r for r in records if r.event == "Opened" and r.result == "Suppressed"), None)
    for event in due:
        if event == "Resolved" and opened_silently is not None:
            why = f"its opening was suppressed ({opened_silently.message})"
            records.append(IncidentNotification(event="Resolved", result="Suppressed", at=now, message=why))
        elif announced is not None and status.related is not None:
            records.append(
                IncidentNotification(
                    event=event,  # type: ignore[arg-type]
                    result="Suppressed",
                    at=now,
                    message=f"announced by incident {announced} of playbook {status.related.playbook}",
                )
            )
        elif settings.silenced:
            records.append(
                IncidentNotification(event=event, result="Suppressed", at=now, message=settings.silenced)  # type: ignore[arg-type]
            )
        else:
            records.append(IncidentNotification(event=event, result="Sending", at=now))  # type: ignore[arg-type]
            send.append(event)
    status.notifications = records[-10:] or None
    return send


def followed(incidents: list[Incident], now: datetime) -> list[Incident]:
    """The incidents still worth a pass: open, or resolved less than FOLLOW ago (newest first, bounded)."""
    live = [
        i
        for i in incidents
        if i.status.phase != "Resolved" or i.status.resolved_at is None or now - i.status.resolved_at < FOLLOW
    ]
    live.sort(key=lambda i: i.status.started_at or now, reverse=True)
    return live[:MAX_INCIDENTS]


def recovered(listed: set[str], executions: list[ExecutionRecord], now: datetime) -> list[Incident]:
    """The incidents that recent executions name but the API does not hold, rebuilt from those executions.

    Why: an execution is recorded, naming its incident, before the Incident is created. When that create
    fails (an API error) and the anomaly stops firing before a pass gets through, no signal would ever open
    it again and the incident would be lost. Rebuilt, it is created on the next pass and then resolves
    like any other. Only executions started less than FOLLOW ago count: an older Incident may have been
    deleted on purpose.
    """
    rebuilt: dict[str, Incident] = {}
    for execution in executions:
        name, started = execution.incident, execution.started_at
        if not name or name in listed or started is None or now - started >= FOLLOW:
            continue
        if execution.since is None or not execution.fingerprint:
            continue
        kind, _, rule = execution.trigger.partition(":")
        member = IncidentAnomaly(
            source="Alertmanager" if kind == "alert" else "AnomalyRule",
            rule=rule,
            fingerprint=execution.fingerprint,
            since=execution.since,
        )
        incident = rebuilt.setdefault(name, Incident(name, execution.target or "", IncidentStatus(), new=True))
        members = incident.status.anomalies or []
        if all(member_key(m) != member_key(member) for m in members):
            incident.status.anomalies = [*members, member]
    return list(rebuilt.values())


def restore_members(incidents: list[Incident], executions: list[ExecutionRecord], now: datetime) -> list[Incident]:
    """``incidents`` with the members of the memberless ones rebuilt from the recent executions naming them.

    Why: a create never carries status (the status subresource drops it), so an Incident is created, then its
    members are written. An operator stopped between the two leaves an Incident without members; were the
    anomaly to stop firing before the next pass, nothing would ever join or resolve it: Open for good.
    """
    rebuilt = {i.name: i.status.anomalies for i in recovered(set(), executions, now)}
    return [
        replace(i, status=i.status.model_copy(update={"anomalies": rebuilt[i.name]}))
        if not i.status.anomalies and rebuilt.get(i.name)
        else i
        for i in incidents
    ]

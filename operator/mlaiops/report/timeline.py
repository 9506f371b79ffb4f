"""Timelines from what the cluster recorded, pure: Events, playbook executions, rollouts, retraining runs.

Every function takes objects as the API server returns them (camelCase dicts) and returns
``TimelineEntry`` items; sorting and merging is the caller's choice.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from mlaiops.report.model import TimelineEntry, parse_time

JSON = dict[str, Any]


NOISY_LABELS = frozenset({"__name__", "instance", "job", "namespace", "container", "endpoint", "service"})


def short_labels(labels: dict[str, str] | None) -> str:
    """``k=v`` pairs without what every scraped series carries (job, instance, app.kubernetes.io/*, ...)."""
    kept = {k: v for k, v in (labels or {}).items() if k not in NOISY_LABELS and not k.startswith("app_kubernetes_io_")}
    return ", ".join(f"{k}={v}" for k, v in sorted(kept.items()))


def ref(obj: JSON) -> str:
    """``Kind/name`` of an object."""
    return f"{obj.get('kind', '?')}/{obj.get('metadata', {}).get('name', '?')}"


def merged(entries: Iterable[TimelineEntry]) -> list[TimelineEntry]:
    """Entries in time order, without the same thing twice (an Event and the status record of it)."""
    seen: set[tuple[str, str, int]] = set()
    out = []
    for entry in sorted(entries, key=lambda e: e.time):
        key = (entry.source, entry.reason, int(entry.time.timestamp()))
        if key not in seen:
            seen.add(key)
            out.append(entry)
    return out


def event_time(event: JSON) -> datetime | None:
    """When an Event last happened (events.k8s.io and core Events spell it differently)."""
    for key in ("eventTime", "lastTimestamp", "firstTimestamp"):
        stamp = parse_time(event.get(key))
        if stamp is not None:
            return stamp
    return parse_time((event.get("metadata") or {}).get("creationTimestamp"))


def event_entries(events: Iterable[JSON], objects: set[tuple[str, str]] | None = None) -> list[TimelineEntry]:
    """Core Events as entries; only those about ``(kind, name)`` in ``objects`` when given."""
    entries = []
    for event in events:
        involved = event.get("involvedObject") or event.get("regarding") or {}
        key = (involved.get("kind", ""), involved.get("name", ""))
        if objects is not None and key not in objects:
            continue
        when = event_time(event)
        if when is None:
            continue
        tone = "bad" if event.get("type") == "Warning" else ""
        entries.append(
            TimelineEntry(when, f"{key[0]}/{key[1]}", event.get("reason") or "", event.get("message") or "", tone)
        )
    return entries


def execution_entries(playbook: JSON) -> list[TimelineEntry]:
    """Each execution of a RemediationPlaybook: started, every step started and finished, the end."""
    source = ref(playbook)
    entries = []
    for execution in (playbook.get("status") or {}).get("executions") or []:
        ident = execution.get("id", "?")
        about = execution_subjects(execution)
        started = parse_time(execution.get("startedAt"))
        if started is not None:
            trigger = execution.get("trigger") or "?"
            target = execution.get("target") or "?"
            entries.append(
                TimelineEntry(started, source, "ExecutionStarted", f"{ident}: {trigger} on {target}", "info", about)
            )
        for step in execution.get("steps") or []:
            action = step.get("action", "?")
            began = parse_time(step.get("startedAt"))
            ended = parse_time(step.get("finishedAt"))
            result = step.get("result", "?")
            detail = f"{ident}: {action} on {step.get('target') or '?'}"
            if began is not None and (ended is None or ended != began):
                entries.append(TimelineEntry(began, source, f"step {action}", f"{detail} started", "info", about))
            if ended is not None:
                verified = step.get("verified")
                suffix = "" if verified is None else (", verified" if verified else ", not verified")
                message = f"{detail}: {result}{suffix}" + (f" ({step['message']})" if step.get("message") else "")
                tone = (
                    "good" if verified or result in ("Succeeded",) else "bad" if result in ("Failed", "Refused") else ""
                )
                entries.append(TimelineEntry(ended, source, f"step {action} {result}", message, tone, about))
        finished = parse_time(execution.get("finishedAt"))
        if finished is not None:
            state = execution.get("state", "?")
            reason = f" ({execution['reason']})" if execution.get("reason") else ""
            entries.append(TimelineEntry(finished, source, f"Execution{state}", f"{ident}: {state}{reason}", "", about))
    return entries


def execution_subjects(execution: JSON) -> tuple[str, ...]:
    """``AnomalyRule/<name>`` of the rule that started an execution (``rule:<ns>/<name>``) and its target."""
    subjects = []
    trigger = execution.get("trigger") or ""
    if trigger.startswith("rule:"):
        subjects.append("AnomalyRule/" + trigger.removeprefix("rule:").rpartition("/")[2])
    if execution.get("target"):
        subjects.append(str(execution["target"]))
    return tuple(subjects)


def rollout_entries(model_deployment: JSON) -> list[TimelineEntry]:
    """Finished rollouts of a ModelDeployment (status.history)."""
    source = ref(model_deployment)
    entries = []
    for record in (model_deployment.get("status") or {}).get("history") or []:
        finished = parse_time(record.get("finishedAt"))
        if finished is None:
            continue
        message = f"{record.get('version') or '?'}: {record.get('reason') or ''} {record.get('message') or ''}".strip()
        entries.append(TimelineEntry(finished, source, record.get("outcome") or "?", message))
    return entries


def run_entries(policy: JSON) -> list[TimelineEntry]:
    """Retraining runs of a RetrainPolicy: started, and the decision when taken."""
    source = ref(policy)
    entries = []
    for run in (policy.get("status") or {}).get("runs") or []:
        started = parse_time(run.get("startedAt"))
        ident = run.get("id", "?")
        if started is not None:
            why = f" ({run['reason']})" if run.get("reason") else ""
            entries.append(TimelineEntry(started, source, "RunStarted", f"{ident} by {run.get('trigger', '?')}{why}"))
        finished = parse_time(run.get("finishedAt"))
        if finished is not None:
            entries.append(
                TimelineEntry(finished, source, run.get("phase") or "?", f"{ident}: {run.get('decision') or ''}")
            )
    return entries


def incident_entries(incident: JSON) -> list[TimelineEntry]:
    """An Incident's own record: anomalies firing and resolving, changes before them, steps, the resolution."""
    source = ref({"kind": "Incident", **incident})
    status = incident.get("status") or {}
    entries = []
    for anomaly in status.get("anomalies") or []:
        labels = short_labels(anomaly.get("labels"))
        what = f"{anomaly.get('rule', '?')}" + (f" {{{labels}}}" if labels else "")
        began = parse_time(anomaly.get("since"))
        if began is not None:
            entries.append(TimelineEntry(began, source, "AnomalyFiring", what, "bad"))
        ended = parse_time(anomaly.get("resolvedAt"))
        if ended is not None:
            entries.append(TimelineEntry(ended, source, "AnomalyResolved", what, "good"))
    for change in status.get("changes") or []:
        when = parse_time(change.get("at"))
        if when is not None:
            entries.append(
                TimelineEntry(when, source, f"{change.get('kind', 'Change')}", change.get("what", ""), "info")
            )
    for step in status.get("steps") or []:
        action, result = step.get("action", "?"), step.get("result", "?")
        began, ended = parse_time(step.get("startedAt")), parse_time(step.get("finishedAt"))
        detail = f"{step.get('execution', '?')}: {action}"
        if began is not None and began != ended:
            entries.append(TimelineEntry(began, source, f"step {action}", f"{detail} started", "info"))
        if ended is not None:
            verified = {True: ", verified", False: ", not verified"}.get(step.get("verified"), "")
            message = f"{detail}: {result}{verified}" + (f" ({step['message']})" if step.get("message") else "")
            tone = "good" if step.get("verified") else "bad" if result in ("Failed", "Refused") else ""
            entries.append(TimelineEntry(ended, source, f"step {action} {result}", message, tone))
    resolved = parse_time(status.get("resolvedAt"))
    if resolved is not None:
        entries.append(TimelineEntry(resolved, source, "Resolved", status.get("resolution") or "", "good"))
    return sorted(entries, key=lambda e: e.time)

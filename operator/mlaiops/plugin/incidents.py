"""``kubectl mlaiops incidents``, pure: incidents as rows and one incident's timeline.

When the cluster serves the Incident kind (``incidents.mlaiops.dev``) its objects are listed as they
are. Otherwise incidents are rebuilt from what RemediationPlaybooks recorded: executions sharing an
``incident`` id form one incident, an execution without one is an incident of its own.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from mlaiops.plugin.tree import age
from mlaiops.report.model import TimelineEntry, parse_time
from mlaiops.report.timeline import event_entries, execution_entries, incident_entries, merged

JSON = dict[str, Any]
NOT_INSTALLED = (
    "the Incident kind (incidents.mlaiops.dev) is not installed in this cluster; "
    "showing incidents rebuilt from RemediationPlaybook executions"
)
OPEN_STATES = frozenset({"Pending", "AwaitingApproval", "Running", "Verifying"})


def from_playbooks(playbooks: list[JSON]) -> list[JSON]:
    """Incidents from playbook executions, newest first."""
    grouped: dict[tuple[str, str], JSON] = {}
    for playbook in playbooks:
        namespace = playbook["metadata"].get("namespace", "")
        for execution in (playbook.get("status") or {}).get("executions") or []:
            name = execution.get("incident") or execution.get("id", "?")
            row = grouped.setdefault(
                (namespace, name),
                {
                    "name": name,
                    "namespace": namespace,
                    "state": "Resolved",
                    "trigger": execution.get("trigger") or "",
                    "target": execution.get("target") or "",
                    "startedAt": execution.get("startedAt"),
                    "executions": [],
                },
            )
            row["executions"].append({"playbook": playbook["metadata"]["name"], **execution})
            row["actions"] = row.get("actions", 0) + len(execution.get("steps") or [])
            if execution.get("state") in OPEN_STATES:
                row["state"] = "Open"
            elif execution.get("state") != "Succeeded" and row["state"] != "Open":
                row["state"] = "Unresolved"
            if (execution.get("startedAt") or "") < (row["startedAt"] or "~"):
                row["startedAt"] = execution.get("startedAt")
    return sorted(grouped.values(), key=lambda r: r["startedAt"] or "", reverse=True)


def from_objects(incidents: list[JSON]) -> list[JSON]:
    """Incident objects as rows, newest first."""
    rows = []
    for obj in incidents:
        status, spec = obj.get("status") or {}, obj.get("spec") or {}
        rules = sorted({a.get("rule", "?") for a in status.get("anomalies") or []})
        rows.append(
            {
                "name": obj["metadata"]["name"],
                "namespace": obj["metadata"].get("namespace", ""),
                "state": status.get("phase") or "",
                "trigger": ", ".join(rules),
                "target": spec.get("target") or "",
                "playbook": spec.get("playbook") or "",
                "startedAt": status.get("startedAt") or obj["metadata"].get("creationTimestamp"),
                "actions": len(status.get("steps") or []),
                "resolution": status.get("resolution"),
                "probableCauses": status.get("probableCauses") or [],
                "object": obj,
            }
        )
    return sorted(rows, key=lambda r: r["startedAt"] or "", reverse=True)


def table(rows: list[JSON], now: datetime | None = None, all_namespaces: bool = False) -> str:
    """``kubectl get``-style columns."""
    now = now or datetime.now(UTC)
    header = (["NAMESPACE"] if all_namespaces else []) + ["NAME", "STATE", "TARGET", "TRIGGER", "STEPS", "AGE"]
    lines = [header]
    for row in rows:
        cells = [
            row["name"],
            row["state"] or "-",
            row["target"] or "-",
            row["trigger"] or "-",
            str(row.get("actions", 0)),
        ]
        lines.append(([row["namespace"]] if all_namespaces else []) + [*cells, age(row["startedAt"], now)])
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    return (
        "\n".join("   ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip() for line in lines)
        + "\n"
    )


def timeline(row: JSON, events: list[JSON]) -> list[TimelineEntry]:
    """What happened in one incident: its executions' steps, and the Events of what they concern."""
    entries: list[TimelineEntry] = []
    objects: set[tuple[str, str]] = set()
    if "object" in row:
        entries.extend(incident_entries(row["object"]))
        objects.add(("Incident", row["name"]))
        if "/" in row["target"]:
            kind, name = row["target"].split("/", 1)
            objects.add((kind, name))
    for execution in row.get("executions", []):
        playbook = {
            "kind": "RemediationPlaybook",
            "metadata": {"name": execution["playbook"]},
            "status": {"executions": [execution]},
        }
        entries.extend(execution_entries(playbook))
        target = execution.get("target") or ""
        if "/" in target:
            kind, name = target.split("/", 1)
            objects.add((kind, name))
        trigger = execution.get("trigger") or ""
        objects.add(("AnomalyRule", trigger.split("/")[-1]))
    start = parse_time(row.get("startedAt"))
    for entry in event_entries(events, objects):
        if start is None or entry.time >= start:
            entries.append(entry)
    return merged(entries)


def describe(row: JSON, events: list[JSON]) -> str:
    """One incident: its summary and timeline."""
    lines = [
        f"Name:       {row['name']}",
        f"Namespace:  {row['namespace']}",
        f"State:      {row['state'] or '-'}",
        f"Trigger:    {row['trigger'] or '-'}",
        f"Target:     {row['target'] or '-'}",
        f"Started:    {row['startedAt'] or '-'}",
    ]
    if row.get("playbook"):
        lines.insert(5, f"Playbook:   {row['playbook']}")
    if row.get("resolution"):
        lines.append(f"Resolution: {row['resolution']}")
    status = (row.get("object") or {}).get("status") or {}
    if status.get("objects"):
        lines.append(f"Objects:    {', '.join(status['objects'])}")
    members = [a for a in status.get("anomalies") or [] if a.get("path") or a.get("flaps")]
    if members:
        lines.append("Joined:")
        for member in members:
            how = " ".join(member.get("path") or []) or "-"
            flaps = f"  (fired again {member['flaps']}x)" if member.get("flaps") else ""
            lines.append(f"  {member.get('rule')}: {how}{flaps}")
    for note in status.get("notifications") or []:
        detail = f": {note['message']}" if note.get("message") else ""
        lines.append(f"Notified:   {note.get('event')} {note.get('result')} at {note.get('at')}{detail}")
    if row.get("probableCauses"):
        lines.append("Probable causes:")
        for cause in sorted(row["probableCauses"], key=lambda c: c.get("rank", 0)):
            lines.append(
                f"  {cause.get('rank')}. {cause.get('cause')}  (score {cause.get('score', 0):.2f}: {cause.get('why', '')})"
            )
    lines.append("Timeline:")
    entries = timeline(row, events)
    if not entries:
        lines.append("  (nothing recorded)")
    width = max((len(entry.source) for entry in entries), default=0)
    for entry in entries:
        stamp = entry.time.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")
        lines.append(f"  {stamp}  {entry.source:<{width}}  {entry.reason:<24} {entry.message}".rstrip())
    return "\n".join(lines) + "\n"

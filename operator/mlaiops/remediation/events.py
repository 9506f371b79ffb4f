"""The playbook's Events, exactly once across restarts, pure: pending records in status and Event objects.

Each event a pass decides carries a key stable across passes and restarts (execution id, step,
reason). The controller writes it to ``status.pendingEvents`` in the same status write as the
transition it describes, posts it afterwards, and removes it from status once posted:

- killed after the write, before the post: the next pass finds it pending and posts it;
- killed after the post, before the removal: the next pass posts it again under the same name,
  derived from the playbook's uid, the key and the object the Event is on; the API server answers
  409 AlreadyExists, which counts as posted. A user sees one Event either way.

Writing first is what makes a lost Event impossible; the deterministic name is what makes a repeat
harmless. Events are never posted for a transition that is not in status yet.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

from mlaiops.api.remediationplaybook import PendingEvent
from mlaiops.remediation.planner import Event

JSON = dict[str, Any]
MAX_MESSAGE = 1024
"""What a core Event's message may hold (as kopf cuts it)."""
MAX_PENDING = 200
"""The status field's bound: beyond it the oldest pending events are dropped (a stuck API, not a normal state)."""
COMPONENT = "mlaiops"


def key_of(event: Event) -> str:
    """The event's stable key (an event without one is keyed by its content)."""
    if event.key:
        return event.key
    return f"{event.reason}/{hashlib.sha256(event.message.encode()).hexdigest()[:16]}"


def shorten(message: str) -> str:
    if len(message) <= MAX_MESSAGE:
        return message
    half = (MAX_MESSAGE - 5) // 2
    return f"{message[:half]} ... {message[-half:]}"


def pending(already: list[PendingEvent] | None, events: list[Event], now: datetime) -> list[PendingEvent] | None:
    """``already`` plus this pass's ``events`` not among them, oldest first, bounded; None when empty."""
    records = list(already or [])
    keys = {record.key for record in records}
    for event in events:
        key = key_of(event)
        if key in keys:
            continue
        keys.add(key)
        records.append(
            PendingEvent(
                key=key,
                type="Warning" if event.type == "Warning" else "Normal",
                reason=event.reason,
                message=shorten(event.message),
                about=list(event.about) or None,
                time=now,
            )
        )
    return records[-MAX_PENDING:] or None


def event_name(owner_uid: str, key: str, obj: JSON) -> str:
    """``<object name>.<hash>``, as Kubernetes names Events; the same for the same transition and object."""
    meta = obj.get("metadata") or {}
    identity = f"{owner_uid}|{key}|{obj.get('kind')}|{meta.get('namespace')}|{meta.get('name')}"
    return f"{str(meta.get('name'))[:200]}.{hashlib.sha256(identity.encode()).hexdigest()[:20]}"


def event_object(record: PendingEvent, owner_uid: str, obj: JSON) -> JSON:
    """The core/v1 Event for ``record`` on ``obj`` (the playbook, its rule or the target)."""
    meta = obj.get("metadata") or {}
    stamp = record.time.isoformat().replace("+00:00", "Z")
    involved = {
        "apiVersion": obj.get("apiVersion"),
        "kind": obj.get("kind"),
        "name": meta.get("name"),
        "namespace": meta.get("namespace"),
        "uid": meta.get("uid"),
    }
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": event_name(owner_uid, record.key, obj), "namespace": meta.get("namespace")},
        "involvedObject": {k: v for k, v in involved.items() if v},
        "type": record.type,
        "reason": record.reason,
        "message": record.message,
        "source": {"component": COMPONENT},
        "reportingComponent": COMPONENT,
        "reportingInstance": COMPONENT,
        "firstTimestamp": stamp,
        "lastTimestamp": stamp,
        "count": 1,
    }

"""meta.k8s.io/v1 Table responses, which `kubectl get` asks for to print columns."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from . import jsonpath
from .resources import Column, ResourceInfo

TABLE_MEDIA = "as=Table"


def wants_table(accept: str) -> bool:
    return TABLE_MEDIA in accept.replace(" ", "")


def human_duration(seconds: float) -> str:
    """k8s.io/apimachinery/pkg/util/duration.HumanDuration, which kubectl's AGE column shows."""
    s = int(seconds)
    if s < 0:
        return "0s"
    if s < 120:
        return f"{s}s"
    minutes = s // 60
    if minutes < 10:
        return f"{minutes}m{s % 60}s" if s % 60 else f"{minutes}m"
    if minutes < 180:
        return f"{minutes}m"
    hours = minutes // 60
    if hours < 8:
        return f"{hours}h{minutes % 60}m" if minutes % 60 else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    days = hours // 24
    if days < 8:
        return f"{days}d{hours % 24}h" if hours % 24 else f"{days}d"
    if days < 365 * 2:
        return f"{days}d"
    return f"{days // 365}y"


def _age(timestamp: Any) -> str:
    if not isinstance(timestamp, str):
        return "<unknown>"
    try:
        when = datetime.fromisoformat(timestamp.replace("Z", "+00:00"))
    except ValueError:
        return "<invalid>"
    return human_duration((datetime.now(UTC) - when).total_seconds())


def _columns(info: ResourceInfo) -> list[Column]:
    """Name first; CRDs show their printer columns (Age by default), built-ins a few useful ones."""
    name = Column("Name", ".metadata.name", "string", "Name must be unique within a namespace.")
    cols = [name, *info.columns]
    if not any(c.json_path == ".metadata.creationTimestamp" for c in info.columns):
        cols.append(Column("Age", ".metadata.creationTimestamp", "date", "CreationTimestamp"))
    return cols


def _ready(obj: dict[str, Any]) -> str:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    return f"{status.get('readyReplicas') or 0}/{spec.get('replicas', 1)}"


def _pod_ready(obj: dict[str, Any]) -> str:
    statuses = (obj.get("status") or {}).get("containerStatuses") or []
    total = len((obj.get("spec") or {}).get("containers") or [])
    return f"{sum(1 for c in statuses if c.get('ready'))}/{total}"


def _node_ready(obj: dict[str, Any]) -> str:
    conditions = (obj.get("status") or {}).get("conditions") or []
    ready = next((c for c in conditions if c.get("type") == "Ready"), None)
    return "Ready" if ready is not None and ready.get("status") == "True" else "NotReady"


# Cells the real server computes rather than reading one field (x/y readiness, node status).
COMPUTED = {"@ready": _ready, "@podready": _pod_ready, "@nodeready": _node_ready}


def _cell(obj: dict[str, Any], column: Column) -> Any:
    if column.json_path in COMPUTED:
        return COMPUTED[column.json_path](obj)
    try:
        values = jsonpath.find(obj, column.json_path)
    except ValueError:
        return "<error>"
    if not values:
        return 0 if column.type == "integer" and column.format == "zero" else None
    value = values[0] if len(values) == 1 else ",".join(str(v) for v in values)
    if column.type == "date":
        return _age(value)
    if isinstance(value, (dict, list)):
        return str(value)
    return value


def _row_object(obj: dict[str, Any], include: str) -> dict[str, Any] | None:
    if include == "None":
        return None
    if include == "Object":
        return obj
    return {
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": obj.get("metadata", {}),
    }


def to_table(
    info: ResourceInfo,
    objects: list[dict[str, Any]],
    list_meta: dict[str, Any] | None = None,
    include_object: str = "Metadata",
) -> dict[str, Any]:
    cols = _columns(info)
    rows = []
    for obj in objects:
        row: dict[str, Any] = {"cells": [_cell(obj, c) for c in cols]}
        if (partial := _row_object(obj, include_object)) is not None:
            row["object"] = partial
        rows.append(row)
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": list_meta or {},
        "columnDefinitions": [
            {
                "name": c.name,
                "type": "date" if c.type == "date" else c.type,
                "format": "name" if c.name == "Name" else ("" if c.format == "zero" else c.format),
                "description": c.description,
                "priority": c.priority,
            }
            for c in cols
        ],
        "rows": rows,
    }

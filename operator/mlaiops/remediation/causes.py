"""Probable causes of an incident, pure: recent changes across the objects its anomalies joined, ranked.

Why: "the last rollout of this target" is wrong as soon as the anomalies sit on a pod, a canary
Deployment and an alert while the change was a rollout of the ModelDeployment that owns them, and
wrong again when an unrelated Deployment changed at the same moment. A change scores

    weight(kind) / (1 + minutes before the first anomaly / 10) / (1 + hops from the nearest anomaly's object / 2)

so a change close in time and in the topology ranks first: a rollout of the ModelDeployment two minutes
before its first anomaly (0.83) outranks that anomaly itself (0.4), one half an hour before does not (0.25). Changes after the first anomaly cannot
have caused it and are left out, as are changes older than ``LOOKBACK`` or farther than
``max_hops + 1`` hops. Among the anomalies, the one that began first is the earliest symptom and
ranks above later ones (a consequence of whatever caused the first).

Changes are read from what the objects record: ModelDeployment rollouts (status.history, and the
rollout in progress), RetrainPolicy runs and promotions, Deployment template changes (their
Progressing condition, for Deployments mlaiops does not manage: ours are the rollouts), HPA scale
events (status.lastScaleTime), and the playbook's own remediation steps. A ModelDeployment's first
deployment is its creation, not a change (as a Deployment's revision 1 is not one): else every incident
in the first quarter hour of a model's life would blame its creation over the first symptom. A rollout of
a version that a RetrainPolicy of that ModelDeployment produced is the retrain reaching production, so it
is ranked (and named) as that retrain, not as a rollout that would outrank the retrain it came from.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from mlaiops.api.incident import Change, IncidentAnomaly, ProbableCause
from mlaiops.api.remediationplaybook import ExecutionRecord
from mlaiops.remediation import topology
from mlaiops.remediation.topology import Graph, Node

JSON = dict[str, Any]
LOOKBACK = timedelta(hours=1)
"""Changes older than this before the first anomaly are not considered causes."""
WEIGHT = {"Rollout": 1.0, "Retrain": 0.8, "Config": 0.8, "Scale": 0.4, "Remediation": 0.5}
ANOMALY_WEIGHT = 0.4
TIME_SCALE = 10.0
"""Minutes before the first anomaly at which a change's score has halved."""
DISTANCE_SCALE = 2.0
"""Topology hops at which a change's score has halved."""
MAX_CHANGES = 50


def _time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None  # a time without a zone cannot be compared: bad too


def _node(obj: JSON) -> Node:
    meta = obj.get("metadata") or {}
    return str(meta.get("namespace") or ""), str(obj.get("kind") or ""), str(meta.get("name") or "")


def _retrained(objects: list[JSON]) -> dict[tuple[str, str], dict[str, str]]:
    """(namespace, RetrainPolicy) -> {version: the policy's ModelDeployment} for every model its runs produced
    (a run's id is its model's version) and the one it promoted."""
    found: dict[tuple[str, str], dict[str, str]] = {}
    for obj in objects:
        ns, kind, name = _node(obj)
        if kind == "RetrainPolicy":
            status, spec = obj.get("status") or {}, obj.get("spec") or {}
            target = str((spec.get("modelDeploymentRef") or {}).get("name") or "")
            versions = [run.get("id") for run in status.get("runs") or []]
            versions.append((status.get("promoted") or {}).get("version"))
            found[(ns, name)] = {str(v): target for v in versions if v}
    return found


def _rollout(
    obj: JSON, version: str, state: str, at: datetime, retrained: dict[tuple[str, str], dict[str, str]]
) -> Change:
    """A rollout of ``version``; when a RetrainPolicy of this ModelDeployment produced that version, the retrain
    reaching production: the rollout is that retrain's consequence, so it is ranked (and named) as the retrain."""
    ns, _, name = _node(obj)
    source = ((((obj.get("spec") or {}).get("model") or {}).get("source") or {}).get("retrainPolicyRef") or {}).get(
        "name"
    )
    for (policy_ns, policy), versions in sorted(retrained.items()):
        target = versions.get(version)
        if policy_ns == ns and target is not None and (target == name or policy == source):
            what = f"RetrainPolicy {policy}'s model {version} rolled out on ModelDeployment/{name} ({state})"
            return Change(kind="Retrain", what=what, at=at)
    return Change(kind="Rollout", what=f"rollout of {version} on ModelDeployment/{name} ({state})", at=at)


def observed_changes(
    objects: Iterable[JSON], executions: list[ExecutionRecord], namespace: str
) -> list[tuple[Node, Change]]:
    """Every change the objects and the playbook's executions record, with the object that changed."""
    found: list[tuple[Node, Change]] = []
    objects = list(objects)
    retrained = _retrained(objects)
    for obj in objects:
        node = _node(obj)
        kind, name = node[1], node[2]
        status, spec = obj.get("status") or {}, obj.get("spec") or {}
        labels = (obj.get("metadata") or {}).get("labels") or {}
        if kind == "ModelDeployment":
            for record in status.get("history") or []:
                at = _time(record.get("startedAt")) or _time(record.get("finishedAt"))
                # Its first deployment created it: not a change of something that worked (a Deployment's
                # revision 1 is not one either); its anomalies have no "before" to regress from.
                if at and record.get("reason") != INITIAL:
                    state = f"{record.get('outcome')}: {record.get('reason', '')}"
                    found.append((node, _rollout(obj, str(record.get("version") or "?"), state, at, retrained)))
            started = _time(status.get("rolloutStartedAt"))
            recorded = {_time(r.get("startedAt")) for r in status.get("history") or []}
            if started and started not in recorded:  # a canary, or a RollingUpdate whose pods are not Ready yet
                model = status.get("canaryModel") or status.get("stableModel") or {}
                version = str(model.get("version") or "?")
                found.append((node, _rollout(obj, version, "in progress", started, retrained)))
        elif kind == "RetrainPolicy":
            for run in status.get("runs") or []:
                at = _time(run.get("startedAt"))
                if at:
                    what = f"RetrainPolicy {name} run {run.get('id')} ({run.get('phase')})"
                    found.append((node, Change(kind="Retrain", what=what, at=at)))
            promoted = status.get("promoted") or {}
            at = _time(promoted.get("promotedAt"))
            if at:
                what = f"RetrainPolicy {name} promoted {promoted.get('version') or 'a retrained model'}"
                found.append((node, Change(kind="Retrain", what=what, at=at)))
        elif kind in ("Deployment", "StatefulSet") and labels.get("app.kubernetes.io/managed-by") != "mlaiops":
            revision = str(((obj.get("metadata") or {}).get("annotations") or {}).get(REVISION, "1"))
            progressing: JSON = next((c for c in status.get("conditions") or [] if c.get("type") == "Progressing"), {})
            at = _time(progressing.get("lastUpdateTime")) or _time(progressing.get("lastTransitionTime"))
            if at and revision not in ("", "1"):
                images = ", ".join(
                    str(c.get("image"))
                    for c in ((spec.get("template") or {}).get("spec") or {}).get("containers") or []
                )
                what = f"{kind}/{name} template changed (revision {revision}; image {images or '?'})"
                found.append((node, Change(kind="Config", what=what, at=at)))
        elif kind == "HorizontalPodAutoscaler":
            at = _time(status.get("lastScaleTime"))
            if at:
                what = f"HorizontalPodAutoscaler/{name} scaled to {status.get('desiredReplicas', '?')} replicas"
                found.append((node, Change(kind="Scale", what=what, at=at)))
    for execution in executions:
        target_kind, _, target_name = (execution.target or "/").partition("/")
        for step in execution.steps or []:
            if step.started_at and step.result in ("Succeeded", "Running"):
                change = Change(kind="Remediation", what=f"{step.action}: {step.message}", at=step.started_at)
                found.append(((namespace, target_kind, target_name), change))
    return found


REVISION = "deployment.kubernetes.io/revision"
INITIAL = "InitialDeployment"
"""The reason of a ModelDeployment's first rollout (its creation)."""


def relevant(
    changes: list[tuple[Node, Change]],
    graph: Graph,
    symptoms: set[Node],
    first: datetime,
    max_hops: int,
    namespace: str,
) -> list[Change]:
    """The changes within ``max_hops + 1`` hops of the symptoms' objects and LOOKBACK before ``first`` (or
    after it: they are listed, not ranked), each with its object and distance, earliest first."""
    kept = []
    for node, change in changes:
        if change.at < first - LOOKBACK:
            continue
        hops = topology.distance(graph, {node}, symptoms, max_hops + 1)
        if hops is None:
            continue
        kept.append(change.model_copy(update={"object": topology.node_text(node, namespace), "distance": hops}))
    kept.sort(key=lambda c: (c.at, c.what))
    return kept[-MAX_CHANGES:]


def rank(anomalies: list[IncidentAnomaly], changes: list[Change], limit: int = 10) -> list[ProbableCause]:
    """Probable causes, most probable first, each saying why it is ranked there."""
    if not anomalies:
        return []
    first = min(a.since for a in anomalies)
    scored: list[tuple[float, str, str]] = []
    for change in changes:
        before = first - change.at
        if before < timedelta(0) or before > LOOKBACK:
            continue
        weight = WEIGHT[change.kind]
        hops = change.distance or 0
        score = weight / (1 + before.total_seconds() / 60 / TIME_SCALE) / (1 + hops / DISTANCE_SCALE)
        where = f"on {change.object}, " if change.object else ""
        why = (
            f"{change.kind.lower()} change {where}{_ago(before)} before the first anomaly and {hops} hop(s) from"
            f" an anomaly's object (weight {weight:g}, decaying with time and distance)"
        )
        scored.append((score, f"{change.kind}: {change.what}", why))
    for anomaly in anomalies:
        after = anomaly.since - first
        score = ANOMALY_WEIGHT / (1 + after.total_seconds() / 60)
        why = (
            "the earliest anomaly: the first symptom seen"
            if after == timedelta(0)
            else f"began {_ago(after)} after the first anomaly: more likely a consequence"
        )
        scored.append((score, f"Anomaly: {anomaly.rule} ({_labels(anomaly.labels)})", why))
    scored.sort(key=lambda item: (-item[0], item[1]))
    return [
        ProbableCause(rank=i + 1, cause=cause, score=round(score, 4), why=why)
        for i, (score, cause, why) in enumerate(scored[:limit])
    ]


def _ago(delta: timedelta) -> str:
    total = int(delta.total_seconds())
    if total < 120:
        return f"{total}s"
    if total < 7200:
        return f"{total // 60}m"
    return f"{total // 3600}h"


def _labels(labels: dict[str, str] | None) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted((labels or {}).items())[:4]) or "no labels"

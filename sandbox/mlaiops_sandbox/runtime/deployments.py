"""Deployment controller: ReplicaSet per pod template, rolling and Recreate updates, kstatus-ready status.

The arithmetic follows kube-controller-manager's ``rolling.go``/``recreate.go``: the new ReplicaSet grows
while ``sum(replicas) <= replicas + maxSurge``; old ones shrink while ``available >= replicas -
maxUnavailable``. A ReplicaSet counts as ``max(spec.replicas, status.replicas)`` pods and as
``min(status.availableReplicas, spec.replicas)`` available ones, so stale caches err on the safe side.
"""

from __future__ import annotations

import copy
import json
import math
from typing import Any

from mlaiops_sandbox.runtime.client import DEPLOYMENTS, REPLICASETS, ApiClient
from mlaiops_sandbox.runtime.informer import Informer, key_of
from mlaiops_sandbox.runtime.util import (
    JSON,
    controller_ref,
    fnv32a,
    meta,
    now,
    owner_ref,
    parse_time,
    safe_encode,
    timestamp,
)
from mlaiops_sandbox.runtime.workqueue import Controller

HASH_LABEL = "pod-template-hash"
REVISION = "deployment.kubernetes.io/revision"
DESIRED = "deployment.kubernetes.io/desired-replicas"
MAX_REPLICAS = "deployment.kubernetes.io/max-replicas"


def normalize(value: Any) -> Any:
    """Drop nulls, empty maps/lists/strings and ``creationTimestamp``: what Go's omitempty serialization
    does, so that a template round-tripped by kubectl (``rollout undo``) compares and hashes equal."""
    if isinstance(value, dict):
        out = {k: normalize(v) for k, v in value.items() if k != "creationTimestamp"}
        return {k: v for k, v in out.items() if v not in (None, {}, [], "")}
    if isinstance(value, list):
        return [normalize(v) for v in value]
    return value


def without_hash(template: JSON) -> Any:
    copied = copy.deepcopy(template)
    ((copied.get("metadata") or {}).get("labels") or {}).pop(HASH_LABEL, None)
    return normalize(copied)


def template_hash(template: JSON, collision_count: int | None = None) -> str:
    """Stable short hash of the pod template (fnv32a + safe encoding, as Kubernetes does)."""
    data = json.dumps(normalize(template), sort_keys=True, separators=(",", ":"))
    if collision_count:
        data += str(collision_count)
    return safe_encode(str(fnv32a(data.encode())))


def resolve_int_or_percent(value: Any, total: int, round_up: bool, default: str) -> int:
    value = default if value is None else value
    if isinstance(value, str) and value.endswith("%"):
        scaled = int(value[:-1]) * total / 100
        return math.ceil(scaled) if round_up else math.floor(scaled)
    return int(value)


def surge_and_unavailable(deployment: JSON, replicas: int) -> tuple[int, int]:
    rolling = ((deployment.get("spec") or {}).get("strategy") or {}).get("rollingUpdate") or {}
    surge = resolve_int_or_percent(rolling.get("maxSurge"), replicas, True, "25%")
    unavailable = resolve_int_or_percent(rolling.get("maxUnavailable"), replicas, False, "25%")
    if surge == 0 and unavailable == 0:
        unavailable = 1
    return surge, min(unavailable, replicas)


def rs_replicas(rs: JSON) -> int:
    return int((rs.get("spec") or {}).get("replicas", 0))


def rs_count(rs: JSON) -> int:
    return max(rs_replicas(rs), int((rs.get("status") or {}).get("replicas", 0)))


def rs_available(rs: JSON) -> int:
    return min(int((rs.get("status") or {}).get("availableReplicas", 0)), rs_replicas(rs))


def revision(rs: JSON) -> int:
    try:
        return int((meta(rs).get("annotations") or {}).get(REVISION, 0))
    except ValueError:
        return 0


class DeploymentController(Controller):
    name = "deployment-controller"

    def __init__(self, client: ApiClient, deployments: Informer, replicasets: Informer, pods: Informer) -> None:
        super().__init__()
        self.client, self.deployments, self.replicasets, self.pods = client, deployments, replicasets, pods
        deployments.add_handler(lambda _k, obj, _o: self.enqueue(key_of(obj)))
        replicasets.add_handler(self._on_replicaset)
        pods.add_handler(self._on_pod)

    def _on_replicaset(self, _kind: str, rs: JSON, _old: JSON | None) -> None:
        ref = controller_ref(rs)
        if ref and ref.get("kind") == "Deployment":
            self.enqueue(f"{meta(rs).get('namespace')}/{ref['name']}")

    def _on_pod(self, _kind: str, pod: JSON, _old: JSON | None) -> None:
        ref = controller_ref(pod)
        if ref and ref.get("kind") == "ReplicaSet":
            rs = self.replicasets.get(meta(pod).get("namespace"), ref["name"])
            if rs is not None:
                self._on_replicaset("", rs, None)

    def _owned(self, deployment: JSON) -> list[JSON]:
        uid, namespace = meta(deployment)["uid"], meta(deployment).get("namespace")
        return [rs for rs in self.replicasets.owned_by(uid) if meta(rs).get("namespace") == namespace]

    @staticmethod
    def _find_new(template: JSON, pod_hash: str, all_rs: list[JSON]) -> JSON | None:
        """The ReplicaSet running ``template``: by hash label, else by template equality (a rollback)."""
        for rs in all_rs:
            if (meta(rs).get("labels") or {}).get(HASH_LABEL) == pod_hash:
                return rs
        wanted = without_hash(template)
        for rs in sorted(all_rs, key=revision, reverse=True):
            if without_hash((rs.get("spec") or {}).get("template") or {}) == wanted:
                return rs
        return None

    async def _scale(self, rs: JSON, replicas: int, deployment: JSON, max_replicas: int) -> JSON:
        patch = {
            "metadata": {
                "annotations": {
                    DESIRED: str((deployment.get("spec") or {}).get("replicas", 1)),
                    MAX_REPLICAS: str(max_replicas),
                }
            },
            "spec": {"replicas": replicas},
        }
        written = await self.client.patch(REPLICASETS, meta(rs)["namespace"], meta(rs)["name"], patch)
        if replicas != rs_replicas(rs):
            direction = "up" if replicas > rs_replicas(rs) else "down"
            message = f"Scaled {direction} replica set {meta(rs)['name']} from {rs_replicas(rs)} to {replicas}"
            self.events.record(deployment, "Deployment", "ScalingReplicaSet", message, self.name)
        await self.replicasets.wait_for_write(written)
        return written

    async def _new_replicaset(self, deployment: JSON, pod_hash: str, all_rs: list[JSON]) -> JSON:
        spec = deployment.get("spec") or {}
        template = copy.deepcopy(spec.get("template") or {})
        template.setdefault("metadata", {}).setdefault("labels", {})[HASH_LABEL] = pod_hash
        selector = copy.deepcopy(spec.get("selector") or {})
        selector.setdefault("matchLabels", {})[HASH_LABEL] = pod_hash
        body = {
            "apiVersion": "apps/v1",
            "kind": "ReplicaSet",
            "metadata": {
                "name": f"{meta(deployment)['name']}-{pod_hash}",
                "namespace": meta(deployment)["namespace"],
                "labels": dict(template["metadata"]["labels"]),
                "annotations": {
                    REVISION: str(max((revision(rs) for rs in all_rs), default=0) + 1),
                    DESIRED: str(spec.get("replicas", 1)),
                },
                "ownerReferences": [owner_ref(deployment, "Deployment", "apps/v1")],
            },
            "spec": {
                "replicas": 0,
                "minReadySeconds": int(spec.get("minReadySeconds") or 0),
                "selector": selector,
                "template": template,
            },
        }
        written = await self.client.create(REPLICASETS, meta(deployment)["namespace"], body)
        await self.replicasets.wait_for_write(written)
        return written

    async def reconcile(self, key: str) -> None:
        deployment = self.deployments.store.get(key)
        if deployment is None or meta(deployment).get("deletionTimestamp"):
            return
        spec = deployment.get("spec") or {}
        replicas = int(spec.get("replicas", 1))
        pod_hash = template_hash(spec.get("template") or {}, (deployment.get("status") or {}).get("collisionCount"))
        all_rs = self._owned(deployment)
        new_rs = self._find_new(spec.get("template") or {}, pod_hash, all_rs)
        created = False
        if new_rs is None:
            new_rs = await self._new_replicaset(deployment, pod_hash, all_rs)
            all_rs.append(new_rs)
            created = True
        else:
            top = max((revision(rs) for rs in all_rs), default=0)
            if revision(new_rs) < top or (revision(new_rs) == top and sum(1 for r in all_rs if revision(r) == top) > 1):
                patch = {"metadata": {"annotations": {REVISION: str(top + 1)}}}
                new_rs = await self.client.patch(REPLICASETS, meta(new_rs)["namespace"], meta(new_rs)["name"], patch)
                await self.replicasets.wait_for_write(new_rs)
        old = sorted(
            (rs for rs in all_rs if meta(rs)["uid"] != meta(new_rs)["uid"]),
            key=lambda rs: (revision(rs), meta(rs).get("creationTimestamp") or ""),
        )
        new_rs = self.replicasets.get(meta(new_rs)["namespace"], meta(new_rs)["name"]) or new_rs
        old = [self.replicasets.get(meta(rs)["namespace"], meta(rs)["name"]) or rs for rs in old]
        if not spec.get("paused"):
            strategy = (spec.get("strategy") or {}).get("type") or "RollingUpdate"
            if strategy == "Recreate":
                await self._recreate(deployment, new_rs, old, replicas)
            else:
                await self._rolling(deployment, new_rs, old, replicas)
        await self._cleanup(deployment, old)
        await self._sync_status(deployment, pod_hash, created)

    async def _recreate(self, deployment: JSON, new_rs: JSON, old: list[JSON], replicas: int) -> None:
        for rs in old:
            if rs_replicas(rs) > 0:
                await self._scale(rs, 0, deployment, replicas)
        old_uids = {meta(rs)["uid"] for rs in old}
        if any(self.pods.owned_by(uid) for uid in old_uids):
            return  # wait until every old pod (terminating ones included) is gone
        if rs_replicas(new_rs) != replicas:
            await self._scale(new_rs, replicas, deployment, replicas)

    async def _rolling(self, deployment: JSON, new_rs: JSON, old: list[JSON], replicas: int) -> None:
        surge, max_unavailable = surge_and_unavailable(deployment, replicas)
        max_total = replicas + surge
        if rs_replicas(new_rs) > replicas or (not old and rs_replicas(new_rs) != replicas):
            new_rs = await self._scale(new_rs, replicas, deployment, max_total)
        elif rs_replicas(new_rs) < replicas:
            total = rs_count(new_rs) + sum(rs_count(rs) for rs in old)
            up = min(max_total - total, replicas - rs_replicas(new_rs))
            if up > 0:
                new_rs = await self._scale(new_rs, rs_replicas(new_rs) + up, deployment, max_total)
        if not any(rs_replicas(rs) for rs in old):
            return
        min_available = replicas - max_unavailable
        new_unavailable = rs_replicas(new_rs) - rs_available(new_rs)
        all_count = rs_count(new_rs) + sum(rs_count(rs) for rs in old)
        budget = all_count - min_available - new_unavailable
        if budget <= 0:
            return
        # 1. Old pods that are not available anyway go first (cleanupUnhealthyReplicas).
        shrunk: dict[str, int] = {}
        cleaned = 0
        for rs in old:
            unhealthy = rs_replicas(rs) - rs_available(rs)
            if cleaned >= budget or unhealthy <= 0:
                continue
            step = min(budget - cleaned, unhealthy)
            shrunk[meta(rs)["uid"]] = rs_replicas(rs) - step
            cleaned += step
        # 2. Then available old pods, as far as availability allows.
        available = rs_available(new_rs) + sum(rs_available(rs) for rs in old)
        allowed = min(available - min_available, budget - cleaned)
        for rs in old:
            current = shrunk.get(meta(rs)["uid"], rs_replicas(rs))
            if allowed <= 0 or current == 0:
                continue
            step = min(current, allowed)
            shrunk[meta(rs)["uid"]] = current - step
            allowed -= step
        for rs in old:
            target = shrunk.get(meta(rs)["uid"])
            if target is not None and target != rs_replicas(rs):
                await self._scale(rs, target, deployment, max_total)

    async def _cleanup(self, deployment: JSON, old: list[JSON]) -> None:
        limit = int((deployment.get("spec") or {}).get("revisionHistoryLimit", 10))
        idle = [rs for rs in old if rs_replicas(rs) == 0 and not (rs.get("status") or {}).get("replicas")]
        for rs in idle[: max(len(idle) - limit, 0)]:
            await self.client.delete(REPLICASETS, meta(rs)["namespace"], meta(rs)["name"], uid=meta(rs)["uid"])

    async def _sync_status(self, deployment: JSON, pod_hash: str, created: bool) -> None:
        spec = deployment.get("spec") or {}
        replicas = int(spec.get("replicas", 1))
        all_rs = self._owned(deployment)
        new_rs = self._find_new(spec.get("template") or {}, pod_hash, all_rs)
        st = [rs.get("status") or {} for rs in all_rs]
        total = sum(int(s.get("replicas", 0)) for s in st)
        updated = int((new_rs or {}).get("status", {}).get("replicas", 0)) if new_rs else 0
        ready = sum(int(s.get("readyReplicas", 0)) for s in st)
        available = sum(int(s.get("availableReplicas", 0)) for s in st)
        _, max_unavailable = surge_and_unavailable(deployment, replicas)
        previous = deployment.get("status") or {}
        old_conditions = {c.get("type"): c for c in previous.get("conditions") or []}
        counts = {
            "replicas": total,
            "updatedReplicas": updated,
            "readyReplicas": ready,
            "availableReplicas": available,
            "unavailableReplicas": max(replicas - available, 0),
        }
        stamp = timestamp()
        rs_name = meta(new_rs)["name"] if new_rs else ""

        def cond(kind: str, ok: bool, reason: str, message: str, progress: bool = False) -> JSON:
            old = old_conditions.get(kind) or {}
            value = "True" if ok else "False"
            same = old.get("status") == value
            unchanged = same and old.get("reason") == reason and not progress
            return {
                "type": kind,
                "status": value,
                "reason": reason,
                "message": message,
                "lastUpdateTime": old.get("lastUpdateTime", stamp) if unchanged else stamp,
                "lastTransitionTime": old.get("lastTransitionTime", stamp) if same else stamp,
            }

        minimum = available >= replicas - max_unavailable
        available_cond = cond(
            "Available",
            minimum,
            "MinimumReplicasAvailable" if minimum else "MinimumReplicasUnavailable",
            "Deployment has minimum availability." if minimum else "Deployment does not have minimum availability.",
        )
        complete = updated == replicas and total == replicas and available >= replicas
        progressed = any(previous.get(k, 0) != v for k, v in counts.items())
        deadline = spec.get("progressDeadlineSeconds", 600)
        old_progress = old_conditions.get("Progressing") or {}
        if complete:
            progressing = cond(
                "Progressing", True, "NewReplicaSetAvailable", f'ReplicaSet "{rs_name}" has successfully progressed.'
            )
        elif created:
            progressing = cond(
                "Progressing", True, "NewReplicaSetCreated", f'Created new replica set "{rs_name}"', progress=True
            )
        elif progressed or old_progress.get("reason") != "ReplicaSetUpdated":
            progressing = cond(
                "Progressing", True, "ReplicaSetUpdated", f'ReplicaSet "{rs_name}" is progressing.', progress=True
            )
        else:
            progressing = cond("Progressing", True, "ReplicaSetUpdated", f'ReplicaSet "{rs_name}" is progressing.')
            since = parse_time(progressing["lastUpdateTime"])
            if deadline is not None and since and (now() - since).total_seconds() > int(deadline):
                progressing = cond(
                    "Progressing",
                    False,
                    "ProgressDeadlineExceeded",
                    f'ReplicaSet "{rs_name}" has timed out progressing.',
                )
        if not complete and deadline is not None:
            self.enqueue_after(key_of(deployment), int(deadline) + 1)
        status = {
            **counts,
            "observedGeneration": meta(deployment).get("generation", 1),
            "conditions": [available_cond, progressing],
        }
        if not status["unavailableReplicas"]:
            status["unavailableReplicas"] = None  # merge patch: drop it, as the real status omits zero
        namespace, name = meta(deployment)["namespace"], meta(deployment)["name"]
        if new_rs is not None and (meta(deployment).get("annotations") or {}).get(REVISION) != str(revision(new_rs)):
            patch = {"metadata": {"annotations": {REVISION: str(revision(new_rs))}}}
            deployment = await self.client.patch(DEPLOYMENTS, namespace, name, patch)
        current = deployment.get("status") or {}
        if all(current.get(k) == v for k, v in status.items()):
            return
        written = await self.client.patch_status(DEPLOYMENTS, namespace, name, status)
        await self.deployments.wait_for_write(written)

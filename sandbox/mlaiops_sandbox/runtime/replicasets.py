"""ReplicaSet controller: keep ``spec.replicas`` active pods, report replicas/ready/available.

Like kube-controller-manager it owns pods through a controller ownerReference and, when scaling down,
deletes the least useful pods first: not ready before ready, recently ready before long ready, newer
before older.
"""

from __future__ import annotations

import logging

from mlaiops_sandbox.runtime.client import PODS, REPLICASETS, ApiClient
from mlaiops_sandbox.runtime.informer import Informer, key_of
from mlaiops_sandbox.runtime.util import (
    JSON,
    controller_ref,
    meta,
    now,
    parse_time,
    pod_active,
    pod_available,
    pod_condition,
    pod_ready,
    random_suffix,
)
from mlaiops_sandbox.runtime.workqueue import Controller

log = logging.getLogger(__name__)


def owned_pods(pods: Informer, owner: JSON) -> list[JSON]:
    uid = meta(owner).get("uid")
    namespace = meta(owner).get("namespace")
    return [p for p in pods.owned_by(uid) if meta(p).get("namespace") == namespace]


def new_pod(owner: JSON, template: JSON, owner_kind: str, owner_api: str, extra_labels: JSON) -> JSON:
    """A pod from ``template`` owned by ``owner`` (name: ``<owner>-<5 random chars>``)."""
    tmeta = template.get("metadata") or {}
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": f"{meta(owner)['name']}-{random_suffix()}",
            "namespace": meta(owner).get("namespace"),
            "labels": {**(tmeta.get("labels") or {}), **extra_labels},
            "annotations": dict(tmeta.get("annotations") or {}),
            "ownerReferences": [
                {
                    "apiVersion": owner_api,
                    "kind": owner_kind,
                    "name": meta(owner)["name"],
                    "uid": meta(owner)["uid"],
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "spec": dict(template.get("spec") or {}),
    }


def deletion_rank(pod: JSON) -> tuple[int, int, float, int, float]:
    """Sort key: pods that should go first sort first (``controller.ActivePods`` ordering)."""
    phase = (pod.get("status") or {}).get("phase")
    ready_since = parse_time((pod_condition(pod, "Ready") or {}).get("lastTransitionTime"))
    created = parse_time(meta(pod).get("creationTimestamp"))
    restarts = sum(c.get("restartCount", 0) for c in (pod.get("status") or {}).get("containerStatuses") or [])
    return (
        0 if phase == "Pending" else 1,
        0 if not pod_ready(pod) else 1,
        -(ready_since.timestamp() if ready_since else 0.0),
        -restarts,
        -(created.timestamp() if created else 0.0),
    )


class ReplicaSetController(Controller):
    name = "replicaset-controller"

    def __init__(self, client: ApiClient, replicasets: Informer, pods: Informer) -> None:
        super().__init__()
        self.client, self.replicasets, self.pods = client, replicasets, pods
        replicasets.add_handler(lambda _k, obj, _o: self.enqueue(key_of(obj)))
        pods.add_handler(self._on_pod)

    def _on_pod(self, _kind: str, pod: JSON, _old: JSON | None) -> None:
        ref = controller_ref(pod)
        if ref and ref.get("kind") == "ReplicaSet":
            self.enqueue(f"{meta(pod).get('namespace')}/{ref['name']}")

    async def reconcile(self, key: str) -> None:
        rs = self.replicasets.store.get(key)
        if rs is None or meta(rs).get("deletionTimestamp"):
            return
        namespace = meta(rs)["namespace"]
        spec = rs.get("spec") or {}
        want = int(spec.get("replicas", 1))
        pods = owned_pods(self.pods, rs)
        active = [p for p in pods if pod_active(p)]
        if len(active) < want:
            labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
            for _ in range(want - len(active)):
                body = new_pod(rs, spec.get("template") or {}, "ReplicaSet", "apps/v1", labels)
                created = await self.client.create(PODS, namespace, body)
                message = f"Created pod: {meta(created)['name']}"
                self.events.record(rs, "ReplicaSet", "SuccessfulCreate", message, self.name)
                await self.pods.wait_for_write(created)
        elif len(active) > want:
            for pod in sorted(active, key=deletion_rank)[: len(active) - want]:
                await self.client.delete(PODS, namespace, meta(pod)["name"], uid=meta(pod)["uid"])
                message = f"Deleted pod: {meta(pod)['name']}"
                self.events.record(rs, "ReplicaSet", "SuccessfulDelete", message, self.name)
                await self.pods.wait_for_gone(namespace, meta(pod)["name"])
        await self._update_status(rs)

    async def _update_status(self, rs: JSON) -> None:
        spec = rs.get("spec") or {}
        min_ready = int(spec.get("minReadySeconds") or 0)
        active = [p for p in owned_pods(self.pods, rs) if pod_active(p)]
        labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
        at = now()
        status = {
            "replicas": len(active),
            "fullyLabeledReplicas": sum(
                1 for p in active if all((meta(p).get("labels") or {}).get(k) == v for k, v in labels.items())
            ),
            "readyReplicas": sum(1 for p in active if pod_ready(p)),
            "availableReplicas": sum(1 for p in active if pod_available(p, min_ready, at)),
            "observedGeneration": meta(rs).get("generation", 1),
        }
        if min_ready and status["readyReplicas"] > status["availableReplicas"]:
            self.enqueue_after(key_of(rs), 1.0)  # becomes available once minReadySeconds pass
        current = rs.get("status") or {}
        if all(current.get(k, 0) == v for k, v in status.items()):
            return
        written = await self.client.patch_status(REPLICASETS, meta(rs)["namespace"], meta(rs)["name"], status)
        await self.replicasets.wait_for_write(written)

"""Rolling updates respect maxSurge/maxUnavailable; kubectl rollout restart/status work; Recreate."""

from __future__ import annotations

import contextlib
import http.client
import json
import socket
import threading
import urllib.parse
from collections.abc import Callable
from typing import Any

import pytest

from tests.integration.runtime.helpers import (
    Kube,
    deployment_available,
    ready,
    server_configmap,
    server_deployment,
    wait_for,
)

pytestmark = pytest.mark.integration
NS = "rt-rollout"


@pytest.fixture(scope="module")
def ns(kube: Kube) -> str:
    kube.namespace(NS)
    kube.create(f"/api/v1/namespaces/{NS}/configmaps", server_configmap(NS))
    return NS


class PodRecorder:
    """Follows a pod watch and records, after every event, how many pods exist and how many are ready."""

    def __init__(self, kube: Kube, namespace: str, selector: str) -> None:
        listing = kube.get(f"/api/v1/namespaces/{namespace}/pods", labelSelector=selector)
        self.pods: dict[str, dict[str, Any]] = {p["metadata"]["name"]: p for p in listing["items"]}
        params = urllib.parse.urlencode(
            {"watch": "true", "labelSelector": selector, "resourceVersion": listing["metadata"]["resourceVersion"]}
        )
        host, port = urllib.parse.urlsplit(kube.url).netloc.split(":")
        self._conn = http.client.HTTPConnection(host, int(port), timeout=120)
        self._conn.request("GET", f"/api/v1/namespaces/{namespace}/pods?{params}")
        self._resp = self._conn.getresponse()
        self.samples: list[tuple[int, int]] = [self._sample()]
        self.hashes_seen: set[str] = set()
        self._thread = threading.Thread(target=self._follow, daemon=True)
        self._thread.start()

    def _sample(self) -> tuple[int, int]:
        live = [
            p
            for p in self.pods.values()
            if not p["metadata"].get("deletionTimestamp")
            and (p.get("status") or {}).get("phase") not in ("Succeeded", "Failed")
        ]
        return len(live), sum(1 for p in live if ready(p))

    def _follow(self) -> None:
        try:
            for line in self._resp:
                event = json.loads(line)
                obj = event["object"]
                if event["type"] == "BOOKMARK":
                    continue
                name = obj["metadata"]["name"]
                self.hashes_seen.add(obj["metadata"]["labels"].get("pod-template-hash", ""))
                if event["type"] == "DELETED":
                    self.pods.pop(name, None)
                else:
                    self.pods[name] = obj
                self.samples.append(self._sample())
        except (OSError, ValueError):
            pass

    def close(self) -> None:
        # shut the socket down first: closing the response would wait for the reading thread
        with contextlib.suppress(OSError):
            self._conn.sock.shutdown(socket.SHUT_RDWR)
        self._thread.join(5)
        self._conn.close()


def rollout(kube: Kube, ns: str, name: str, replicas: int, change: Callable[[], None]) -> PodRecorder:
    recorder = PodRecorder(kube, ns, f"deploy={name}")
    try:
        change()
        wait_for(lambda: deployment_available(kube, ns, name, replicas), 60, what=f"{name} rolled out")
        wait_for(lambda: len(kube.pods(ns, f"deploy={name}")) == replicas, 20, what="old pods gone")
    finally:
        recorder.close()
    return recorder


def test_rolling_update_honours_max_surge_and_max_unavailable(kube: Kube, ns: str) -> None:
    strategy = {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}
    body = server_deployment(ns, "roll", 3, {"app": "roll"}, "v1", strategy=strategy)
    kube.create(f"/apis/apps/v1/namespaces/{ns}/deployments", body)
    wait_for(lambda: deployment_available(kube, ns, "roll", 3), 30, what="roll available")
    old_pods = {p["metadata"]["name"] for p in kube.pods(ns, "deploy=roll")}
    path = f"/apis/apps/v1/namespaces/{ns}/deployments/roll"

    def change() -> None:
        kube.patch(path, {"spec": {"template": {"metadata": {"annotations": {"version": "v2"}}}}})

    recorder = rollout(kube, ns, "roll", 3, change)
    peak_pods = max(n for n, _ in recorder.samples)
    least_ready = min(r for _, r in recorder.samples)
    assert peak_pods <= 3 + 1, recorder.samples
    assert least_ready >= 3 - 0, recorder.samples
    assert peak_pods == 4  # the surge was used: the test would notice a one-by-one Recreate

    new_pods = kube.pods(ns, "deploy=roll")
    assert not old_pods & {p["metadata"]["name"] for p in new_pods}
    assert all(p["metadata"]["annotations"].get("version") == "v2" for p in new_pods)
    replicasets = kube.get(f"/apis/apps/v1/namespaces/{ns}/replicasets", labelSelector="deploy=roll")["items"]
    by_revision = {r["metadata"]["annotations"]["deployment.kubernetes.io/revision"]: r for r in replicasets}
    assert sorted(by_revision) == ["1", "2"]
    assert by_revision["1"]["spec"]["replicas"] == 0 and by_revision["2"]["spec"]["replicas"] == 3
    d = kube.get(path)
    assert d["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "2"


def test_max_unavailable_allows_going_below_replicas(kube: Kube, ns: str) -> None:
    strategy = {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 0, "maxUnavailable": 1}}
    body = server_deployment(ns, "dip", 2, {"app": "dip"}, "v1", strategy=strategy)
    kube.create(f"/apis/apps/v1/namespaces/{ns}/deployments", body)
    wait_for(lambda: deployment_available(kube, ns, "dip", 2), 30, what="dip available")
    path = f"/apis/apps/v1/namespaces/{ns}/deployments/dip"

    def change() -> None:
        kube.patch(path, {"spec": {"template": {"metadata": {"annotations": {"version": "v2"}}}}})

    recorder = rollout(kube, ns, "dip", 2, change)
    assert max(n for n, _ in recorder.samples) <= 2, recorder.samples
    assert min(r for _, r in recorder.samples) == 1, recorder.samples


def test_kubectl_rollout_restart_and_status(kube: Kube, ns: str, kubectl: Callable[..., Any]) -> None:
    before = {p["metadata"]["name"] for p in kube.pods(ns, "deploy=roll")}
    assert len(before) == 3
    kubectl("-n", ns, "rollout", "restart", "deployment/roll")
    status = kubectl("-n", ns, "rollout", "status", "deployment/roll", "--timeout=60s", check=False)
    assert status.returncode == 0, status.stderr
    assert "successfully rolled out" in status.stdout
    wait_for(lambda: len(kube.pods(ns, "deploy=roll")) == 3, 20, what="old pods gone")
    after = kube.pods(ns, "deploy=roll")
    assert not before & {p["metadata"]["name"] for p in after}
    assert all("kubectl.kubernetes.io/restartedAt" in p["metadata"]["annotations"] for p in after)
    history = kubectl("-n", ns, "rollout", "history", "deployment/roll").stdout
    assert "3" in history.split()


def test_recreate_stops_all_old_pods_before_starting_new_ones(kube: Kube, ns: str) -> None:
    body = server_deployment(ns, "rec", 2, {"app": "rec"}, "v1", strategy={"type": "Recreate"})
    kube.create(f"/apis/apps/v1/namespaces/{ns}/deployments", body)
    wait_for(lambda: deployment_available(kube, ns, "rec", 2), 30, what="rec available")
    path = f"/apis/apps/v1/namespaces/{ns}/deployments/rec"
    old_hash = kube.pods(ns, "deploy=rec")[0]["metadata"]["labels"]["pod-template-hash"]

    def change() -> None:
        kube.patch(path, {"spec": {"template": {"metadata": {"annotations": {"version": "v2"}}}}})

    recorder = PodRecorder(kube, ns, "deploy=rec")
    try:
        change()
        wait_for(lambda: deployment_available(kube, ns, "rec", 2), 60, what="rec rolled out")
    finally:
        recorder.close()
    assert min(n for n, _ in recorder.samples[1:]) == 0, recorder.samples  # a moment with no pods at all
    assert max(n for n, _ in recorder.samples) <= 2, recorder.samples
    assert old_hash not in {p["metadata"]["labels"]["pod-template-hash"] for p in kube.pods(ns, "deploy=rec")}


def test_kubectl_rollout_undo_reuses_the_previous_replicaset(kube: Kube, ns: str, kubectl: Callable[..., Any]) -> None:
    replicasets = kube.get(f"/apis/apps/v1/namespaces/{ns}/replicasets", labelSelector="deploy=roll")["items"]
    by_revision = {int(r["metadata"]["annotations"]["deployment.kubernetes.io/revision"]): r for r in replicasets}
    current = max(by_revision)
    previous = by_revision[current - 1]
    kubectl("-n", ns, "rollout", "undo", "deployment/roll")
    status = kubectl("-n", ns, "rollout", "status", "deployment/roll", "--timeout=60s", check=False)
    assert status.returncode == 0, status.stderr
    wait_for(lambda: len(kube.pods(ns, "deploy=roll")) == 3, 20, what="old pods gone")
    previous_hash = previous["metadata"]["labels"]["pod-template-hash"]
    assert {p["metadata"]["labels"]["pod-template-hash"] for p in kube.pods(ns, "deploy=roll")} == {previous_hash}
    reused = kube.get(f"/apis/apps/v1/namespaces/{ns}/replicasets/{previous['metadata']['name']}")
    assert reused["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == str(current + 1)
    assert len(kube.get(f"/apis/apps/v1/namespaces/{ns}/replicasets", labelSelector="deploy=roll")["items"]) == 3

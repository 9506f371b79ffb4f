"""Deployments of the project's image run as local processes behind a round-robin Service proxy."""

from __future__ import annotations

import collections
import json
from pathlib import Path

import pytest

from tests.integration.runtime.helpers import (
    Kube,
    alive,
    deployment_available,
    http_get,
    pids_of,
    ready,
    server_configmap,
    server_deployment,
    wait_for,
)

pytestmark = pytest.mark.integration
NS = "rt-deploy"


@pytest.fixture(scope="module")
def ns(kube: Kube) -> str:
    kube.namespace(NS)
    kube.create(f"/api/v1/namespaces/{NS}/configmaps", server_configmap(NS))
    return NS


def service(name: str, selector: dict[str, str]) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": NS},
        "spec": {"selector": selector, "ports": [{"name": "http", "port": 80, "targetPort": "http"}]},
    }


def endpoint(kube: Kube, name: str) -> str:
    def annotated() -> str | None:
        svc = kube.get(f"/api/v1/namespaces/{NS}/services/{name}")
        return (svc["metadata"].get("annotations") or {}).get("sandbox.mlaiops.dev/endpoint")

    return wait_for(annotated, 10, what=f"endpoint annotation on service {name}")


def test_deployment_becomes_ready_and_answers_through_the_service(kube: Kube, ns: str) -> None:
    kube.create(f"/apis/apps/v1/namespaces/{ns}/deployments", server_deployment(ns, "web", 2, {"app": "web"}, "hi"))
    kube.create(f"/api/v1/namespaces/{ns}/services", service("web", {"app": "web"}))

    d = wait_for(lambda: deployment_available(kube, ns, "web", 2), 30, what="deployment web available")
    conditions = {c["type"]: c for c in d["status"]["conditions"]}
    assert conditions["Progressing"]["reason"] == "NewReplicaSetAvailable"
    assert d["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "1"

    pods = kube.pods(ns, "app=web")
    assert len(pods) == 2 and all(ready(p) for p in pods)
    hashes = {p["metadata"]["labels"]["pod-template-hash"] for p in pods}
    assert len(hashes) == 1
    for pod in pods:
        assert pod["status"]["phase"] == "Running"
        assert pod["status"]["podIP"] == "127.0.0.1"
        assert [alive(pid) for pid in pids_of(pod)] == [True]
        assert pod["metadata"]["ownerReferences"][0]["kind"] == "ReplicaSet"
        ports = json.loads(pod["metadata"]["annotations"]["sandbox.mlaiops.dev/ports"])
        assert set(ports) == {"8080"} and ports["8080"] != 8080

    url = endpoint(kube, "web")
    replies = {wait_for(lambda: http_get(url), 10, what="a reply through the proxy") for _ in range(4)}
    # each pod answers "<$(REPLY)> <metadata.name> <metadata.namespace>": both pods were reached
    assert replies == {f"hi {p['metadata']['name']} {ns}" for p in pods}

    eps = kube.get(f"/api/v1/namespaces/{ns}/endpoints/web")
    names = {a["targetRef"]["name"] for s in eps["subsets"] for a in s.get("addresses") or []}
    assert names == {p["metadata"]["name"] for p in pods}

    def reasons() -> set[tuple[str, str]]:
        events = kube.get(f"/api/v1/namespaces/{ns}/events")["items"]
        return {(e["involvedObject"]["kind"], e["reason"]) for e in events}

    expected = {("Deployment", "ScalingReplicaSet"), ("ReplicaSet", "SuccessfulCreate"), ("Pod", "Started")}
    wait_for(lambda: expected <= reasons(), 10, what="events for the deployment, its replicaset and pods")


def test_traffic_splits_by_ready_replica_ratio(kube: Kube, ns: str) -> None:
    kube.create(
        f"/apis/apps/v1/namespaces/{ns}/deployments",
        server_deployment(ns, "split-a", 3, {"app": "split"}, "a"),
    )
    kube.create(
        f"/apis/apps/v1/namespaces/{ns}/deployments",
        server_deployment(ns, "split-b", 1, {"app": "split"}, "b"),
    )
    kube.create(f"/api/v1/namespaces/{ns}/services", service("split", {"app": "split"}))
    wait_for(lambda: deployment_available(kube, ns, "split-a", 3), 30, what="split-a available")
    wait_for(lambda: deployment_available(kube, ns, "split-b", 1), 30, what="split-b available")
    url = endpoint(kube, "split")

    def four_ready_endpoints() -> bool:
        eps = kube.get_or_none(f"/api/v1/namespaces/{ns}/endpoints/split") or {}
        return sum(len(s.get("addresses") or []) for s in eps.get("subsets") or []) == 4

    wait_for(four_ready_endpoints, 10, what="4 ready endpoints")
    counts = collections.Counter(http_get(url).split()[0] for _ in range(80))
    # round-robin over 4 ready endpoints: exactly 60:20; allow a little slack, never 1:1 or all-to-one
    assert abs(counts["a"] - 60) <= 2 and abs(counts["b"] - 20) <= 2, counts


def test_scale_subresource_changes_the_number_of_processes(kube: Kube, ns: str) -> None:
    path = f"/apis/apps/v1/namespaces/{ns}/deployments/web"
    kube.patch(path + "/scale", {"spec": {"replicas": 3}})

    def live_pids() -> list[int]:
        return [pid for p in kube.pods(ns, "app=web") for pid in pids_of(p) if alive(pid)]

    wait_for(lambda: deployment_available(kube, ns, "web", 3), 30, what="web scaled to 3")
    before = live_pids()
    assert len(before) == 3
    # every process learns its mapped port; pods started after the Service see its env vars
    svc_port = endpoint(kube, "web").rsplit(":", 1)[1]
    pods_by_pid = {pids_of(p)[0]: p for p in kube.pods(ns, "app=web")}
    service_ports = set()
    for pid in before:
        raw = Path(f"/proc/{pid}/environ").read_text().split("\0")
        env = dict(item.split("=", 1) for item in raw if "=" in item)
        mapped = json.loads(pods_by_pid[pid]["metadata"]["annotations"]["sandbox.mlaiops.dev/ports"])["8080"]
        assert env["MLAIOPS_SANDBOX_PORT_HTTP"] == env["MLAIOPS_SANDBOX_PORT_8080"] == str(mapped)
        service_ports.add(env.get("WEB_SERVICE_PORT"))
    assert svc_port in service_ports

    kube.patch(path + "/scale", {"spec": {"replicas": 1}})
    wait_for(lambda: deployment_available(kube, ns, "web", 1), 30, what="web scaled to 1")
    wait_for(lambda: sum(alive(pid) for pid in before) == 1, 15, what="two of three processes stopped")
    assert len(live_pids()) == 1


def test_deleting_the_deployment_garbage_collects_and_kills_processes(kube: Kube, ns: str) -> None:
    pods = kube.pods(ns, "app=split")
    pids = [pid for p in pods for pid in pids_of(p)]
    assert len(pids) == 4 and all(alive(pid) for pid in pids)
    kube.delete(f"/apis/apps/v1/namespaces/{ns}/deployments/split-a")

    def a_is_gone() -> bool:
        rs = kube.get(f"/apis/apps/v1/namespaces/{ns}/replicasets")["items"]
        return not [r for r in rs if r["metadata"]["name"].startswith("split-a-")] and not kube.pods(
            ns, "deploy=split-a"
        )

    wait_for(a_is_gone, 20, what="split-a's ReplicaSet and pods garbage-collected")
    a_pids = [pid for p in pods if p["metadata"]["labels"]["deploy"] == "split-a" for pid in pids_of(p)]
    b_pids = [pid for p in pods if p["metadata"]["labels"]["deploy"] == "split-b" for pid in pids_of(p)]
    wait_for(lambda: not any(alive(pid) for pid in a_pids), 15, what="split-a processes gone")
    assert all(alive(pid) for pid in b_pids)

    # the Service now only reaches split-b
    url = endpoint(kube, "split")
    wait_for(lambda: {http_get(url).split()[0] for _ in range(4)} == {"b"}, 10, what="only b answers")

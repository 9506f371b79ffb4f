"""What the kubelet writes besides the pods' processes: its Node, and container statuses in the exact
shape clients parse (the official client's models require ``imageID`` on every container status)."""

from __future__ import annotations

from typing import Any

import kubernetes
import pytest
from mlaiops_sandbox.cluster import Sandbox

from tests.integration.runtime.helpers import OWN_IMAGE, Kube, wait_for

pytestmark = pytest.mark.integration
NS = "rt-kubelet-status"


@pytest.fixture(scope="module")
def ns(kube: Kube) -> str:
    return kube.namespace(NS)


def _pod(name: str, image: str, **spec: Any) -> dict[str, Any]:
    container = {"name": "main", "image": image, "command": ["python", "-c", "import time; time.sleep(600)"]}
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": NS},
        "spec": {"terminationGracePeriodSeconds": 1, "containers": [container], **spec},
    }


def _container(kube: Kube, name: str) -> dict[str, Any]:
    pod = kube.get(f"/api/v1/namespaces/{NS}/pods/{name}")
    return ((pod.get("status") or {}).get("containerStatuses") or [{}])[0]


def test_the_kubelet_registers_its_node(sandbox: Sandbox, kube: Kube) -> None:
    """A kubelet creates its Node at start (well-known labels) and reports status: ``Ready`` True with the
    pressure conditions False, capacity and allocatable (cpu, memory, pods), ``InternalIP`` and ``Hostname``
    addresses and ``nodeInfo`` (kubelet version, OS, architecture, container runtime)."""
    nodes = kube.get("/api/v1/nodes")["items"]
    assert [n["metadata"]["name"] for n in nodes] == ["sandbox"]
    node = nodes[0]
    assert node["metadata"]["labels"]["kubernetes.io/hostname"] == "sandbox"
    assert node["metadata"]["labels"]["kubernetes.io/os"] == "linux"
    status = node["status"]
    conditions = {c["type"]: c["status"] for c in status["conditions"]}
    assert conditions == {"Ready": "True", "MemoryPressure": "False", "DiskPressure": "False", "PIDPressure": "False"}
    for resources in (status["capacity"], status["allocatable"]):
        assert int(resources["cpu"]) >= 1 and resources["memory"].endswith("Ki") and resources["pods"] == "110"
    assert {"type": "InternalIP", "address": "127.0.0.1"} in status["addresses"]
    assert {"type": "Hostname", "address": "sandbox"} in status["addresses"]
    info = status["nodeInfo"]
    assert info["kubeletVersion"].startswith("v1.32") and info["operatingSystem"] == "linux"
    assert info["architecture"] and info["containerRuntimeVersion"] and info["kernelVersion"]

    client = kubernetes.client.ApiClient(kubernetes.client.Configuration(host=sandbox.api_url))
    typed = kubernetes.client.CoreV1Api(client).read_node("sandbox")  # the client's model accepts it
    assert typed.status.node_info.kubelet_version == info["kubeletVersion"]


def test_waiting_container_status_has_empty_image_id_and_last_state(kube: Kube, ns: str) -> None:
    """Before a container was ever created (ContainerCreating, e.g. a missing ConfigMap volume) the
    kubelet writes ``imageID: ""``, ``lastState: {}`` and no ``containerID``."""
    volume = {"name": "cfg", "configMap": {"name": "does-not-exist"}}
    body = _pod("waiting", OWN_IMAGE, volumes=[volume])
    body["spec"]["containers"][0]["volumeMounts"] = [{"name": "cfg", "mountPath": "/cfg"}]
    kube.create(f"/api/v1/namespaces/{ns}/pods", body)
    status = wait_for(lambda: _container(kube, "waiting") or None, 20, what="a container status")
    assert status["state"]["waiting"]["reason"] in ("ContainerCreating", "CreateContainerConfigError")
    assert status["imageID"] == "" and status["lastState"] == {} and "containerID" not in status


def test_started_container_status_has_image_and_container_ids(kube: Kube, ns: str) -> None:
    """Once a container started the kubelet reports the runtime's ``containerID`` and the image's
    digest reference in ``imageID``; while it waits to restart after a crash (CrashLoopBackOff) both
    stay those of the last container, and ``lastState.terminated`` carries its exit."""
    kube.create(f"/api/v1/namespaces/{ns}/pods", _pod("crasher", "example.com/crash:1"))

    def backing_off() -> dict[str, Any] | None:
        status = _container(kube, "crasher")
        return status if status.get("lastState", {}).get("terminated") else None

    status = wait_for(backing_off, 30, what="a restarted crash")
    assert status["imageID"].startswith("example.com/crash@sha256:")
    assert status["containerID"].startswith("simulated://")
    assert status["lastState"]["terminated"]["containerID"]


def test_the_client_reads_pods_at_every_stage(sandbox: Sandbox, kube: Kube, ns: str) -> None:
    """The official client (pydantic models) refuses a container status without ``imageID``; listing
    pods while one starts must work, as it does against a real kubelet."""
    client = kubernetes.client.ApiClient(kubernetes.client.Configuration(host=sandbox.api_url))
    core = kubernetes.client.CoreV1Api(client)
    kube.create(f"/api/v1/namespaces/{ns}/pods", _pod("starting", OWN_IMAGE))
    seen: set[str] = set()

    def running() -> bool:
        for pod in core.list_namespaced_pod(ns).items:  # raises if a status does not fit the model
            for status in pod.status.container_statuses or []:
                seen.add(next(k for k in ("waiting", "running", "terminated") if getattr(status.state, k)))
        return "running" in seen

    wait_for(running, 30, interval=0.02, what="a listed pod running")

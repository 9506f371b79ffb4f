"""adjustResources end to end on a real OOM kill: a model server, run as a podman container of the
project's image, whose model needs more memory than its limit crash-loops with ``OOMKilled``; an
AnomalyRule on the kube-state-metrics series the sandbox exports fires; the playbook raises the memory
limit, within its cap, and its execution is verified once the new pods stay up.

The numbers (measured on the image, ``VmRSS`` of ``mlaiops serve`` once Ready): about 150 MiB with a tiny
model, about 350 MiB with this one (a brute-force nearest-neighbours model keeps its 200k x 128 training
matrix, 200 MB). So 256Mi holds the server but not the model; 448Mi holds both.

The target is a Deployment of the model server, not a ModelDeployment: the ModelDeployment controller
rewrites its Deployments from ``spec.runtime.resources``, so adjustResources refuses a ModelDeployment
target (``remediation/actions.py``) rather than make a change that would be undone.

Its own group (``e2e-containers``) and its own cluster: the session's sandbox runs pods as processes,
this one as containers.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pytest
from mlaiops_sandbox.cluster import Sandbox
from mlaiops_sandbox.testing.kubectl import Kubectl
from mlaiops_sandbox.testing.operator import OPERATOR_NAMESPACE, install_operator_identity
from mlaiops_sandbox.testing.plugin import operator_kubeconfig
from sklearn.neighbors import KNeighborsClassifier

from tests.e2e.conftest import COMPONENTS, ROOT, Cluster, OperatorProcess, audit_file, operator_for, publish, wait_for

pytestmark = pytest.mark.integration

IMAGE = "mlaiops:dev"  # what `make image` builds; any tag of the project's image runs as it
GROUP = "e2e-containers"
NAME = "recommender"
CONTAINER = "server"
LIMIT, CAP = "256Mi", "448Mi"  # the playbook's factor 2 would give 512Mi: the cap decides
JSON = dict[str, Any]


def _skip_reason() -> str | None:
    if shutil.which("podman") is None or shutil.which("runc") is None:
        return "podman and runc are not installed (make setup installs them)"
    if subprocess.run(["podman", "image", "exists", IMAGE], capture_output=True).returncode != 0:
        return f"the image {IMAGE} is not built (make image)"
    return None


# --- this module's cluster: the plugin's fixtures, with pods as containers ---------------------------


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    """A sandbox running the project's pods as containers, set up as the plugin's ``sandbox``."""
    reason = _skip_reason()
    if reason:
        # A whole-suite least-privilege audit waits for every isolated group's records: this one drove none.
        publish(audit_file(tmp_path_factory, GROUP), [])
        pytest.skip(reason)
    with Sandbox(tmp_path_factory.mktemp("containers"), containers=IMAGE) as running:
        admin = Kubectl(running.kubeconfig_path)
        admin.apply_path(ROOT / "crds")
        assert running.server is not None
        install_operator_identity(
            admin,
            running.server.secure_url,
            running.server.certificate.ca_pem,
            ROOT / "manifests",
            operator_kubeconfig(running),
            COMPONENTS,
        )
        admin.ensure_namespace(OPERATOR_NAMESPACE)
        yield running


@pytest.fixture(scope="module")
def operator_process(sandbox: Sandbox, tmp_path_factory: pytest.TempPathFactory) -> Iterator[OperatorProcess]:
    operator = operator_for(sandbox, tmp_path_factory.mktemp("operator") / "operator.log").start()
    try:
        yield operator
    finally:
        operator.stop()


@pytest.fixture(scope="module")
def cluster(sandbox: Sandbox, operator_process: OperatorProcess) -> Cluster:
    return Cluster(sandbox, operator_process)


# --- the workload, the rule, the playbook ------------------------------------------------------------


def write_model(folder: Path) -> None:
    """A nearest-neighbours model: it keeps its training matrix, so it needs memory in proportion to it."""
    rng = np.random.default_rng(0)
    features = rng.standard_normal((200_000, 128))
    model = KNeighborsClassifier(n_neighbors=5, algorithm="brute").fit(features, (features[:, 0] > 0).astype(int))
    folder.mkdir(parents=True, exist_ok=True)
    joblib.dump(model, folder / "model.joblib")


def server_deployment() -> JSON:
    """The model server as a team deploys it with plain manifests (read-only root, non-root, a limit)."""
    labels = {"app.kubernetes.io/name": NAME}
    container = {
        "name": CONTAINER,
        "image": "mlaiops:0.1.0",
        "command": ["mlaiops"],
        "args": ["serve", "--port", "8080"],
        "env": [
            {"name": "MLAIOPS_MODEL_URI", "value": "pvc://models/model.joblib"},
            {"name": "MLAIOPS_MODEL_NAME", "value": NAME},
            {"name": "MLAIOPS_PVC_MOUNT_MODELS", "value": "/mnt/pvc/models"},
        ],
        "ports": [{"name": "http", "containerPort": 8080}],
        "readinessProbe": {"httpGet": {"path": "/v2/health/ready", "port": "http"}, "periodSeconds": 1},
        "resources": {"limits": {"memory": LIMIT}, "requests": {"memory": LIMIT}},
        "securityContext": {"readOnlyRootFilesystem": True, "runAsNonRoot": True, "allowPrivilegeEscalation": False},
        "volumeMounts": [
            {"name": "models", "mountPath": "/mnt/pvc/models", "readOnly": True},
            {"name": "tmp", "mountPath": "/tmp"},
        ],
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": NAME, "labels": labels},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "terminationGracePeriodSeconds": 2,
                    "containers": [container],
                    "volumes": [
                        {"name": "models", "persistentVolumeClaim": {"claimName": "models", "readOnly": True}},
                        {"name": "tmp", "emptyDir": {}},
                    ],
                },
            },
        },
    }


def server_service() -> JSON:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": NAME},
        "spec": {
            "selector": {"app.kubernetes.io/name": NAME},
            "ports": [{"name": "http", "port": 80, "targetPort": "http"}],
        },
    }


def models_claim() -> JSON:
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": "models"},
        "spec": {"accessModes": ["ReadOnlyMany"], "resources": {"requests": {"storage": "1Gi"}}},
    }


def oom_query(namespace: str) -> str:
    """Restarts in the last minute of the server's containers whose last termination was an OOM kill:
    a container that restarted for another reason, or that stopped restarting, is not in the result."""
    containers = f'namespace="{namespace}",pod=~"{NAME}-.+",container="{CONTAINER}"'
    return (
        f"sum by (namespace, pod, container) (increase(kube_pod_container_status_restarts_total{{{containers}}}[1m]))"
        f" and on (namespace, pod, container)"
        f' (kube_pod_container_status_last_terminated_reason{{{containers},reason="OOMKilled"}} == 1)'
    )


def oom_rule(namespace: str) -> JSON:
    return {
        "apiVersion": "mlaiops.dev/v1alpha1",
        "kind": "AnomalyRule",
        "metadata": {"name": "oom-killed"},
        "spec": {
            "query": oom_query(namespace),
            "interval": "2s",
            "fitWindow": "1m",
            "detector": {"type": "threshold", "upper": 0.5, "direction": "up"},
            # No OOM-killed container restarting is the normal state, not missing data.
            "onNoData": "Normal",
            "severity": "critical",
            "target": {"kind": "Deployment", "name": NAME},
        },
    }


def more_memory_playbook() -> JSON:
    return {
        "apiVersion": "mlaiops.dev/v1alpha1",
        "kind": "RemediationPlaybook",
        "metadata": {"name": "more-memory"},
        "spec": {
            "triggers": [{"rules": [{"name": "oom-killed"}], "severity": "critical"}],
            "actions": [
                {
                    "name": "raise-memory",
                    "type": "adjustResources",
                    "adjustResources": {"resources": ["memory"], "factor": 2, "max": {"memory": CAP}},
                    "timeout": "3m",
                    "verify": {"within": "3m"},
                }
            ],
            "guardrails": {"cooldown": "10m", "maxExecutions": 1, "window": "1h"},
        },
    }


# --- reading the world -------------------------------------------------------------------------------


def pods(cluster: Cluster, namespace: str) -> list[Any]:
    items = cluster.core.list_namespaced_pod(namespace, label_selector=f"app.kubernetes.io/name={NAME}").items
    return [p for p in items if p.metadata.deletion_timestamp is None]


def server_status(pod: Any) -> Any:
    return next((s for s in pod.status.container_statuses or [] if s.name == CONTAINER), None)


def prometheus(cluster: Cluster, promql: str) -> list[JSON]:
    url = f"{cluster.prometheus_url}/api/v1/query?" + urllib.parse.urlencode({"query": promql})
    with urllib.request.urlopen(url, timeout=10) as reply:
        result: list[JSON] = json.loads(reply.read())["data"]["result"]
    return result


def executions(cluster: Cluster, namespace: str) -> list[JSON]:
    status = cluster.get("remediationplaybooks", namespace, "more-memory").get("status") or {}
    return [e for e in status.get("executions") or [] if e["state"] != "Refused"]


def infer(endpoint: str) -> JSON:
    body = {"inputs": [{"name": "input-0", "shape": [1, 128], "datatype": "FP64", "data": [[0.5] * 128]}]}
    request = urllib.request.Request(
        f"{endpoint}/v2/models/{NAME}/infer", json.dumps(body).encode(), {"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=30) as reply:
        answer: JSON = json.loads(reply.read())
    return answer


# --- the story ---------------------------------------------------------------------------------------


def test_an_oom_killed_model_server_gets_more_memory_within_the_cap_and_stays_up(cluster: Cluster) -> None:
    namespace = cluster.namespace("oom")
    write_model(cluster.sandbox.dir / "volumes" / namespace / "models")
    cluster.apply([models_claim(), server_service(), oom_rule(namespace), more_memory_playbook()], namespace)
    cluster.apply(server_deployment(), namespace)
    started = time.monotonic()

    # 1. The server loads its model, goes over 256Mi and is killed by the kernel: OOMKilled, exit 137.
    def oom_killed() -> Any:
        for pod in pods(cluster, namespace):
            status = server_status(pod)
            last = status.last_state.terminated if status and status.last_state else None
            if last is not None and last.reason == "OOMKilled":
                return pod, last
        return None

    first, last = wait_for(oom_killed, timeout=120, interval=0.5, what="the model server OOMKilled")
    assert last.exit_code == 137
    assert first.spec.containers[0].resources.limits["memory"] == LIMIT
    assert not server_status(first).ready

    # 2. The rule fires on the kube-state-metrics series; the playbook raises the limit to its cap and
    #    is verified once the new pods are Ready and the rule is Normal again.
    done = wait_for(
        lambda: (e := executions(cluster, namespace)) and e[0]["state"] in ("Succeeded", "Failed") and e[0],
        timeout=300,
        interval=1,
        what="the adjustResources execution to finish",
    )
    step = done["steps"][0]
    assert (done["state"], done["reason"], done["target"]) == ("Succeeded", "Verified", f"Deployment/{NAME}"), done
    assert done["trigger"] == f"rule:{namespace}/oom-killed"
    assert (step["action"], step["result"], step["verified"]) == ("raise-memory", "Succeeded", True), step
    assert step["params"] == {f"{CONTAINER}.memory": CAP}  # 2 x 256Mi would be 512Mi: the cap held
    template = cluster.apps.read_namespaced_deployment(NAME, namespace).spec.template.spec.containers[0]
    assert template.resources.limits["memory"] == CAP and template.resources.requests["memory"] == CAP
    rule = cluster.get("anomalyrules", namespace, "oom-killed").get("status") or {}
    assert rule.get("state") == "Normal", rule
    print(f"OOMKilled -> verified in {time.monotonic() - started:.0f}s")

    # 3. The new pod runs with the raised limit, stays up without a restart, and serves the model.
    (server,) = pods(cluster, namespace)
    assert server.metadata.name != first.metadata.name
    assert server.spec.containers[0].resources.limits["memory"] == CAP
    endpoint = cluster.core.read_namespaced_service(NAME, namespace).metadata.annotations[
        "sandbox.mlaiops.dev/endpoint"
    ]
    assert infer(endpoint)["outputs"][0]["data"] in ([0], [1])
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        (now,) = pods(cluster, namespace)
        status = server_status(now)
        assert now.metadata.name == server.metadata.name and status.ready and status.restart_count == 0, status
        time.sleep(2)
    selector = f'namespace="{namespace}",pod="{server.metadata.name}",container="{CONTAINER}"'
    limits = prometheus(cluster, f'kube_pod_container_resource_limits{{{selector},resource="memory"}}')
    assert [float(r["value"][1]) for r in limits] == [448 * 2**20]
    assert prometheus(cluster, oom_query(namespace)) == []
    assert len(executions(cluster, namespace)) == 1  # one execution; nothing else was needed

"""The sandbox running the project's pods as real podman containers of the image `make image` builds:
memory limits and OOM kills with back-off, securityContext, read-only root, mounted volumes, a model
server answering through its Service, and kube-state-metrics series in Prometheus.

Each container start costs about a second: few tests, each checking several things on one pod.
"""

from __future__ import annotations

import json
import re
import shutil
import ssl
import subprocess
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import joblib
import pytest
from mlaiops_sandbox.cli import build_parser
from mlaiops_sandbox.cluster import Sandbox
from mlaiops_sandbox.runtime.config import RuntimeConfig
from mlaiops_sandbox.runtime.podman import LABEL, ContainerEngine, ContainerSpec, Mount, run_argv
from mlaiops_sandbox.runtime.security import non_root_violation, resource_flags, security_flags, user_flag
from mlaiops_sandbox.runtime.state_metrics import render
from sklearn.linear_model import LogisticRegression

from mlaiops.api.modeldeployment import ModelDeploymentSpec
from mlaiops.controllers.common import parse_spec
from mlaiops.resources.modelserver import ResolvedModel, model_server_deployment, service
from tests.integration.runtime.helpers import Kube, wait_for

pytestmark = pytest.mark.integration

IMAGE = "mlaiops:dev"  # what `make image` builds
POD_IMAGE = "ghcr.io/example/mlaiops:0.1.0"  # any tag of the project's image runs as IMAGE
JSON = dict[str, Any]
POD_DIR = "sandbox.mlaiops.dev/pod-dir"
ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"
KUBE_API_ACCESS = {  # what ServiceAccount admission adds to every pod of a real cluster
    "name": "kube-api-access",
    "projected": {
        "sources": [
            {"serviceAccountToken": {"path": "token", "expirationSeconds": 3607}},
            {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
            {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {"fieldPath": "metadata.namespace"}}]}},
        ]
    },
}


def _skip_reason() -> str | None:
    if shutil.which("podman") is None or shutil.which("runc") is None:
        return "podman and runc are not installed (apt-get install podman runc; make setup does)"
    if subprocess.run(["podman", "image", "exists", IMAGE], capture_output=True).returncode != 0:
        return f"the image {IMAGE} is not built (make image)"
    if shutil.which("prometheus") is None:
        return "the prometheus binary is not installed"
    return None


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    reason = _skip_reason()
    if reason:
        pytest.skip(reason)
    with Sandbox(tmp_path_factory.mktemp("containers"), containers=IMAGE) as sb:
        yield sb
    names = subprocess.run(
        ["podman", "ps", "--all", "--format", "{{.Names}}"], capture_output=True, text=True, check=True
    ).stdout.split()
    prefix = sb.runtime.kubelet.engine.prefix  # type: ignore[union-attr]
    assert [name for name in names if name.startswith(prefix)] == [], "containers left behind"


@pytest.fixture(scope="module")
def kube(sandbox: Sandbox) -> Kube:
    return Kube(sandbox.api_url)


def pod(name: str, container: JSON, restart: str = "Never", **spec: Any) -> JSON:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {"restartPolicy": restart, "containers": [{"name": "main", "image": POD_IMAGE, **container}], **spec},
    }


def status_of(kube: Kube, namespace: str, name: str) -> JSON:
    """The first container's status, with an empty ``state`` until the kubelet wrote one."""
    statuses = (kube.get(f"/api/v1/namespaces/{namespace}/pods/{name}").get("status") or {}).get("containerStatuses")
    return {"state": {}, **(statuses or [{}])[0]}


def query(sandbox: Sandbox, promql: str) -> list[JSON]:
    url = f"{sandbox.prometheus_url}/api/v1/query?" + urllib.parse.urlencode({"query": promql})
    with urllib.request.urlopen(url, timeout=5) as resp:
        return json.loads(resp.read())["data"]["result"]


def test_over_its_memory_limit_a_container_is_oom_killed_restarted_with_back_off_and_counted(
    sandbox: Sandbox, kube: Kube
) -> None:
    ns = kube.namespace("oom")
    allocate = {
        "command": ["python", "-c", "b = bytearray(300 * 2**20); print('survived', flush=True)"],
        "resources": {"limits": {"memory": "64Mi", "cpu": "500m"}},
    }
    kube.create(f"/api/v1/namespaces/{ns}/pods", pod("hog", allocate, restart="Always"))

    def looped() -> JSON | None:
        status = status_of(kube, ns, "hog")
        return status if status.get("restartCount", 0) >= 2 and status.get("lastState") else None

    status = wait_for(looped, timeout=60, what="two restarts")
    last = status["lastState"]["terminated"]
    assert (last["reason"], last["exitCode"]) == ("OOMKilled", 137)
    assert re.fullmatch(r"podman://[0-9a-f]{64}", last["containerID"])
    log = Path(kube.get(f"/api/v1/namespaces/{ns}/pods/hog")["metadata"]["annotations"][POD_DIR])
    assert "survived" not in (log / "logs" / "main.log").read_text()
    waiting = wait_for(lambda: status_of(kube, ns, "hog")["state"].get("waiting"), timeout=30, what="CrashLoopBackOff")
    assert waiting["reason"] == "CrashLoopBackOff"

    # kube-state-metrics' series for it, scraped by the sandbox's Prometheus
    selector = f'namespace="{ns}",pod="hog",container="main"'
    reason = wait_for(
        lambda: query(sandbox, f'kube_pod_container_status_last_terminated_reason{{{selector},reason="OOMKilled"}}'),
        timeout=30,
        what="last terminated reason OOMKilled in Prometheus",
    )
    assert reason[0]["value"][1] == "1"
    restarts = query(sandbox, f"kube_pod_container_status_restarts_total{{{selector}}}")
    assert float(restarts[0]["value"][1]) >= 2
    limits = query(sandbox, f"kube_pod_container_resource_limits{{{selector}}}")
    by_resource = {r["metric"]["resource"]: (r["metric"]["unit"], float(r["value"][1])) for r in limits}
    assert by_resource == {"memory": ("byte", 64 * 2**20), "cpu": ("core", 0.5)}
    kube.delete(f"/api/v1/namespaces/{ns}/pods/hog")


def test_security_context_read_only_root_and_volumes_are_enforced(sandbox: Sandbox, kube: Kube) -> None:
    ns = kube.namespace("secure")
    kube.create(
        f"/api/v1/namespaces/{ns}/configmaps",
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings"}, "data": {"greeting": "hello"}},
    )
    script = (
        "id -u > /scratch/uid; id -g >> /scratch/uid;"
        " if touch /root-file 2>/dev/null; then echo root-writable; else echo root-read-only; fi > /scratch/root;"
        " if touch /settings/x 2>/dev/null; then echo cm-writable; else echo cm-read-only; fi > /scratch/cm;"
        " touch /scratch/new; stat -c %g /scratch/new > /scratch/fsgroup;"
        " if test -s $SA/token && test -s $SA/ca.crt; then echo token-and-ca; fi > /scratch/sa;"
        " for f in /scratch/init /scratch/uid /scratch/fsgroup /scratch/root /scratch/cm /settings/greeting /scratch/sa $SA/namespace;"
        " do cat $f; echo; done > /dev/termination-log"
    )
    container = {
        "command": ["sh", "-c", script],
        "securityContext": {"readOnlyRootFilesystem": True, "runAsUser": 12345, "runAsGroup": 2345},
        "env": [{"name": "SA", "value": ACCOUNT_DIR}],
        "volumeMounts": [
            {"name": "scratch", "mountPath": "/scratch"},
            {"name": "settings", "mountPath": "/settings"},
            {"name": "kube-api-access", "mountPath": ACCOUNT_DIR, "readOnly": True},
        ],
    }
    volumes = [
        {"name": "scratch", "emptyDir": {}},
        {"name": "settings", "configMap": {"name": "settings"}},
        KUBE_API_ACCESS,
    ]
    security = {"fsGroup": 4000}  # new files in the volumes get this group (setgid folders)
    init = {"name": "init", "image": POD_IMAGE, "command": ["sh", "-c", "echo from-init > /scratch/init"]}
    init["volumeMounts"] = [{"name": "scratch", "mountPath": "/scratch"}]
    checker = pod("check", container, volumes=volumes, securityContext=security, initContainers=[init])
    kube.create(f"/api/v1/namespaces/{ns}/pods", checker)
    done = wait_for(
        lambda: status_of(kube, ns, "check")["state"].get("terminated"), timeout=60, what="the check pod to finish"
    )
    assert done["exitCode"] == 0, done
    assert done["message"].split() == [
        "from-init",
        "12345",
        "2345",
        "4000",
        "root-read-only",
        "cm-read-only",
        "hello",
        "token-and-ca",
        ns,
    ]

    # the mounted token is the default ServiceAccount's, and the API server takes it
    pod_dir = Path(kube.get(f"/api/v1/namespaces/{ns}/pods/check")["metadata"]["annotations"][POD_DIR])
    token = (pod_dir / "volumes" / "kube-api-access" / "token").read_text()
    context = ssl.create_default_context(cafile=str(sandbox.ca_path))
    request = urllib.request.Request(
        f"{sandbox.secure_url}/apis/authentication.k8s.io/v1/selfsubjectreviews",
        json.dumps({"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"}).encode(),
        {"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10, context=context) as resp:
        user = json.loads(resp.read())["status"]["userInfo"]["username"]
    assert user == f"system:serviceaccount:{ns}:default"

    # runAsNonRoot with uid 0 is refused before any container is made, with the kubelet's message
    refused = {"command": ["true"], "securityContext": {"runAsNonRoot": True, "runAsUser": 0}}
    created = kube.create(f"/api/v1/namespaces/{ns}/pods", pod("rooted", refused))
    waiting = wait_for(
        lambda: status_of(kube, ns, "rooted")["state"].get("waiting", {}).get("message"),
        timeout=30,
        what="CreateContainerConfigError",
    )
    uid = created["metadata"]["uid"]
    assert waiting == f'container\'s runAsUser breaks non-root policy (pod: "rooted_{ns}({uid})", container: main)'
    assert status_of(kube, ns, "rooted")["state"]["waiting"]["reason"] == "CreateContainerConfigError"
    assert kube.get(f"/api/v1/namespaces/{ns}/pods/rooted")["status"]["phase"] == "Pending"


def test_exec_probes_run_inside_the_container(kube: Kube) -> None:
    ns = kube.namespace("probes")
    # true only inside the image (its user is 10001; the sandbox runs as another user or root)
    probe = {"exec": {"command": ["sh", "-c", 'test "$(id -u)" = 10001']}, "periodSeconds": 1}
    container = {"command": ["sleep", "60"], "readinessProbe": probe}
    kube.create(f"/api/v1/namespaces/{ns}/pods", pod("probed", container, "Always", terminationGracePeriodSeconds=1))
    wait_for(lambda: status_of(kube, ns, "probed").get("ready"), timeout=30, what="Ready through an exec probe")
    kube.delete(f"/api/v1/namespaces/{ns}/pods/probed")


def test_a_model_server_pod_as_the_controller_builds_it_serves_through_its_service(
    sandbox: Sandbox, kube: Kube
) -> None:
    ns = kube.namespace("serving")
    store = sandbox.dir / "volumes" / ns / "models"
    store.mkdir(parents=True)
    estimator = LogisticRegression().fit([[0.0, 0.0], [1.0, 1.0], [0.1, 0.0], [0.9, 1.0]], [0, 1, 0, 1])
    joblib.dump(estimator, store / "model.joblib")
    spec = parse_spec(
        ModelDeploymentSpec,
        {
            "model": {"format": "sklearn", "storageUri": "pvc://models/model.joblib", "version": "v1"},
            "runtime": {"resources": {"limits": {"memory": "512Mi", "cpu": "1"}}},
        },
    )
    model = ResolvedModel.from_spec(spec)
    assert model is not None
    deployment = model_server_deployment("iris", ns, spec, model, "stable", 1, POD_IMAGE)
    kube.create(f"/apis/apps/v1/namespaces/{ns}/deployments", deployment)
    kube.create(f"/api/v1/namespaces/{ns}/services", service("iris", ns, spec.runtime.port))

    def ready() -> JSON | None:
        pods = kube.pods(ns)
        conditions = {c["type"]: c["status"] for p in pods for c in (p.get("status") or {}).get("conditions") or []}
        return pods[0] if pods and conditions.get("Ready") == "True" else None

    server = wait_for(ready, timeout=90, interval=0.5, what="the model server to be Ready")
    assert re.fullmatch(r"podman://[0-9a-f]{64}", server["status"]["containerStatuses"][0]["containerID"])
    endpoint = kube.get(f"/api/v1/namespaces/{ns}/services/iris")["metadata"]["annotations"][
        "sandbox.mlaiops.dev/endpoint"
    ]
    body = {"inputs": [{"name": "input-0", "shape": [1, 2], "datatype": "FP64", "data": [[1.0, 1.0]]}]}
    request = urllib.request.Request(
        f"{endpoint}/v2/models/iris/infer", json.dumps(body).encode(), {"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=10) as resp:
        answer = json.loads(resp.read())
    assert answer["outputs"][0]["data"] == [1]


def test_a_sandbox_removes_the_containers_a_crashed_one_left_in_its_folder(tmp_path: Path) -> None:
    reason = _skip_reason()
    if reason:
        pytest.skip(reason)
    engine = ContainerEngine(tmp_path, IMAGE)
    other = ContainerEngine(tmp_path / "other", IMAGE)
    for name, owner in ((engine.name("uid-1", "main"), engine), (other.name("uid-2", "main"), other)):
        labels = ["--label", f"{LABEL}={owner.prefix}"]
        subprocess.run(["podman", "create", "--name", name, *labels, IMAGE], capture_output=True, check=True)
    try:
        with Sandbox(tmp_path, prometheus=False, containers=IMAGE):
            left = subprocess.run(["podman", "ps", "-a", "--format", "{{.Names}}"], capture_output=True, text=True)
            assert engine.name("uid-1", "main") not in left.stdout.split()
            assert other.name("uid-2", "main") in left.stdout.split()  # another sandbox's: untouched
    finally:
        subprocess.run(["podman", "rm", "-f", other.name("uid-2", "main")], capture_output=True)


# --- the pure pieces (no podman needed) ------------------------------------------------------------


def _pod(pod_context: JSON | None = None, **container: Any) -> JSON:
    return {
        "metadata": {"name": "p", "namespace": "ns", "uid": "u-1"},
        "spec": {"securityContext": pod_context or {}, "containers": [{"name": "c", **container}]},
    }


@pytest.mark.parametrize(
    ("pod_context", "container_context", "image_user", "expected"),
    [
        ({"runAsNonRoot": True}, {}, "", "container has runAsNonRoot and image will run as root"),
        ({"runAsNonRoot": True}, {}, "0:0", "container has runAsNonRoot and image will run as root"),
        ({}, {"runAsNonRoot": True}, "app", "container has runAsNonRoot and image has non-numeric user (app)"),
        ({"runAsNonRoot": True, "runAsUser": 0}, {}, "10001", "container's runAsUser breaks non-root policy"),
        ({"runAsNonRoot": True}, {"runAsUser": 5}, "", None),
        ({"runAsNonRoot": True}, {}, "10001:10001", None),
        ({"runAsNonRoot": True}, {"runAsNonRoot": False}, "", None),
        ({}, {}, "", None),
    ],
)
def test_run_as_non_root_is_refused_as_the_kubelet_refuses_it(
    pod_context: JSON, container_context: JSON, image_user: str, expected: str | None
) -> None:
    pod = _pod(pod_context, securityContext=container_context)
    refusal = non_root_violation(pod, pod["spec"]["containers"][0], image_user)
    if expected is None:
        assert refusal is None
    else:
        assert refusal is not None and refusal.startswith(expected)
        assert refusal.endswith('(pod: "p_ns(u-1)", container: c)')


def test_limits_and_security_context_become_podman_flags() -> None:
    pod = _pod(
        {"runAsUser": 1000, "fsGroup": 2000, "supplementalGroups": [3000]},
        securityContext={
            "runAsGroup": 1500,
            "readOnlyRootFilesystem": True,
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"], "add": ["NET_BIND_SERVICE"]},
        },
        resources={"limits": {"memory": "64Mi", "cpu": "250m"}, "requests": {"cpu": "100m"}},
    )
    container = pod["spec"]["containers"][0]
    assert resource_flags(container) == [
        "--memory", "67108864", "--memory-swap", "67108864", "--cpus", "0.25", "--cpu-shares", "102",
    ]  # fmt: skip
    assert security_flags(pod, container, "10001:10001") == [
        "--user", "1000:1500", "--group-add", "2000", "--group-add", "3000",
        "--read-only", "--read-only-tmpfs=false", "--security-opt", "no-new-privileges",
        "--cap-drop", "ALL", "--cap-add", "NET_BIND_SERVICE",
    ]  # fmt: skip
    assert (
        user_flag(
            _pod(securityContext={"runAsGroup": 7}), {"name": "c", "securityContext": {"runAsGroup": 7}}, "10001:10001"
        )
        == "10001:7"
    )
    with pytest.raises(ValueError, match=r"containers\[c\].resources.limits.memory"):
        resource_flags({"name": "c", "resources": {"limits": {"memory": "lots"}}})


def test_the_podman_command_mounts_volumes_and_keeps_kubernetes_command_semantics() -> None:
    spec = ContainerSpec(
        name="n",
        image="mlaiops:dev",
        entrypoint=["python", "-c"],
        args=["print(1)"],
        env={"A": "1"},
        mounts=[Mount(Path("/local/cm"), "/config", read_only=True), Mount(Path("/local/tmp"), "/tmp")],
        flags=["--memory", "1"],
    )
    argv = run_argv("podman", spec)
    assert argv[:2] == ["podman", "run"]
    assert argv[argv.index("--entrypoint") + 1] == '["python", "-c"]'
    assert argv[-2:] == ["mlaiops:dev", "print(1)"]
    assert "type=bind,source=/local/cm,destination=/config,readonly=true" in argv
    assert "type=bind,source=/local/tmp,destination=/tmp" in argv
    assert argv[argv.index("--network") + 1] == "host" and argv[argv.index("--runtime") + 1] == "runc"
    assert "--entrypoint" not in run_argv("podman", ContainerSpec("n", "i", None, ["serve"], {}))


def test_kube_state_metrics_text_for_an_oom_killed_container() -> None:
    pod = {
        "metadata": {"name": "p", "namespace": "ns", "uid": "u", "labels": {"mlaiops.dev/model": "iris"}},
        "spec": {"containers": [{"name": "c", "resources": {"limits": {"memory": "64Mi", "cpu": "500m"}}}]},
        "status": {
            "phase": "Running",
            "containerStatuses": [
                {
                    "name": "c",
                    "restartCount": 3,
                    "ready": False,
                    "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                    "lastState": {"terminated": {"reason": "OOMKilled", "exitCode": 137}},
                }
            ],
        },
    }
    lines = render([pod]).splitlines()
    labels = 'namespace="ns",pod="p",uid="u",container="c"'
    assert f"kube_pod_container_status_restarts_total{{{labels}}} 3" in lines
    assert f'kube_pod_container_status_last_terminated_reason{{{labels},reason="OOMKilled"}} 1' in lines
    assert f"kube_pod_container_status_last_terminated_exitcode{{{labels}}} 137" in lines
    assert f'kube_pod_container_status_waiting_reason{{{labels},reason="CrashLoopBackOff"}} 1' in lines
    assert f'kube_pod_container_resource_limits{{{labels},node="",resource="memory",unit="byte"}} 67108864' in lines
    assert f'kube_pod_container_resource_limits{{{labels},node="",resource="cpu",unit="core"}} 0.5' in lines
    assert 'kube_pod_labels{namespace="ns",pod="p",uid="u",label_mlaiops_dev_model="iris"} 1' in lines
    assert "# TYPE kube_pod_container_status_restarts_total counter" in lines


def test_the_runtime_option_is_read_from_the_config_file(tmp_path: Path) -> None:
    assert RuntimeConfig.from_mapping({}, tmp_path).container_image is None
    assert RuntimeConfig.from_mapping({"runtime": "containers"}, tmp_path).container_image == "mlaiops:dev"
    chosen = RuntimeConfig.from_mapping({"runtime": "containers", "containerImage": "mlaiops:x"}, tmp_path)
    assert chosen.container_image == "mlaiops:x"
    with pytest.raises(ValueError, match="runtime: 'vm'"):
        RuntimeConfig.from_mapping({"runtime": "vm"}, tmp_path)
    with pytest.raises(ValueError, match="containerImage"):
        RuntimeConfig.from_mapping({"containerImage": "mlaiops:x"}, tmp_path)


def test_up_takes_containers_with_the_image_make_image_builds_by_default() -> None:
    parser = build_parser()
    assert parser.parse_args(["up"]).containers is None
    assert parser.parse_args(["up", "--containers"]).containers == "mlaiops:dev"
    assert parser.parse_args(["up", "--containers", "mlaiops:x"]).containers == "mlaiops:x"

"""The kubelet's restart policy, back-off, simulated images, env sources and volumes."""

from __future__ import annotations

from typing import Any

import pytest
from mlaiops_sandbox.cluster import Sandbox

from tests.integration.runtime.helpers import OWN_IMAGE, Kube, alive, pids_of, wait_for

pytestmark = pytest.mark.integration
NS = "rt-pods"


@pytest.fixture(scope="module")
def ns(kube: Kube) -> str:
    return kube.namespace(NS)


def pod(name: str, command: list[str], restart: str, image: str = OWN_IMAGE, **container: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": NS},
        "spec": {
            "restartPolicy": restart,
            "terminationGracePeriodSeconds": 1,
            "containers": [{"name": "main", "image": image, "command": command, **container}],
        },
    }


def status(kube: Kube, name: str) -> dict[str, Any]:
    return kube.get(f"/api/v1/namespaces/{NS}/pods/{name}").get("status") or {}


def container(kube: Kube, name: str) -> dict[str, Any]:
    return (status(kube, name).get("containerStatuses") or [{}])[0]


def test_exiting_process_is_restarted_with_growing_restart_count(kube: Kube, ns: str) -> None:
    kube.create(f"/api/v1/namespaces/{ns}/pods", pod("crashy", ["python", "-c", "raise SystemExit(3)"], "Always"))
    wait_for(lambda: container(kube, "crashy").get("restartCount", 0) >= 2, 20, what="two restarts")
    c = container(kube, "crashy")
    assert c["lastState"]["terminated"]["exitCode"] == 3
    assert c["lastState"]["terminated"]["reason"] == "Error"
    wait_for(
        lambda: container(kube, "crashy").get("state", {}).get("waiting", {}).get("reason") == "CrashLoopBackOff",
        20,
        what="CrashLoopBackOff",
    )
    assert status(kube, "crashy")["phase"] == "Running"
    kube.delete(f"/api/v1/namespaces/{ns}/pods/crashy")


def test_on_failure_and_never_end_the_pod(kube: Kube, ns: str) -> None:
    kube.create(f"/api/v1/namespaces/{ns}/pods", pod("once", ["python", "-c", "pass"], "OnFailure"))
    kube.create(f"/api/v1/namespaces/{ns}/pods", pod("fails", ["python", "-c", "raise SystemExit(1)"], "Never"))
    wait_for(lambda: status(kube, "once").get("phase") == "Succeeded", 20, what="once Succeeded")
    wait_for(lambda: status(kube, "fails").get("phase") == "Failed", 20, what="fails Failed")
    assert container(kube, "once")["restartCount"] == 0
    assert container(kube, "fails")["restartCount"] == 0
    assert container(kube, "fails")["state"]["terminated"]["exitCode"] == 1
    ready = {c["type"]: c["status"] for c in status(kube, "once")["conditions"]}
    assert ready["Ready"] == "False" and ready["PodScheduled"] == "True"


def test_env_from_secret_configmap_and_volumes(kube: Kube, ns: str, sandbox: Sandbox) -> None:
    kube.create(
        f"/api/v1/namespaces/{ns}/secrets",
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "creds"}, "data": {"token": "czNjcjN0"}},
    )
    kube.create(
        f"/api/v1/namespaces/{ns}/configmaps",
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg"}, "data": {"mode": "fast"}},
    )
    script = (
        "import os, pathlib; "
        "pathlib.Path('/data/out.txt').write_text("
        "os.environ['TOKEN'] + ' ' + os.environ['MODE'] + ' ' + os.environ['POD_IP'] + ' ' "
        "+ pathlib.Path('/etc/cfg/mode').read_text())"
    )
    body = pod(
        "envs",
        ["python", "-c", script],
        "Never",
        env=[
            {"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "token"}}},
            {"name": "MODE", "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "mode"}}},
            {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
        ],
        volumeMounts=[{"name": "cfg", "mountPath": "/etc/cfg"}, {"name": "data", "mountPath": "/data"}],
    )
    body["spec"]["volumes"] = [
        {"name": "cfg", "configMap": {"name": "cfg"}},
        {"name": "data", "persistentVolumeClaim": {"claimName": "results"}},
    ]
    kube.create(f"/api/v1/namespaces/{ns}/pods", body)
    wait_for(lambda: status(kube, "envs").get("phase") in ("Succeeded", "Failed"), 20, what="envs finished")
    assert status(kube, "envs")["phase"] == "Succeeded"
    kube.delete(f"/api/v1/namespaces/{ns}/pods/envs")
    wait_for(lambda: kube.get_or_none(f"/api/v1/namespaces/{ns}/pods/envs") is None, 10, what="envs deleted")
    # the claim's folder is per namespace/claim under the sandbox dir, so the data outlives the pod
    out = sandbox.dir / "volumes" / ns / "results" / "out.txt"
    assert out.read_text() == "s3cr3t fast 127.0.0.1 fast"


def test_simulated_images(kube: Kube, ns: str) -> None:
    kube.create(f"/api/v1/namespaces/{ns}/pods", pod("nginx", [], "Always", image="nginx:1.27"))
    kube.create(f"/api/v1/namespaces/{ns}/pods", pod("crash", [], "Always", image="example.com/crash:1"))
    wait_for(lambda: container(kube, "nginx").get("ready") is True, 10, what="simulated nginx ready")
    assert status(kube, "nginx")["phase"] == "Running"
    wait_for(lambda: container(kube, "crash").get("restartCount", 0) >= 1, 10, what="simulated crash restarts")
    assert container(kube, "crash")["lastState"]["terminated"]["exitCode"] == 1


GRACEFUL = """\
import pathlib, signal, time
def on_term(*_):
    pathlib.Path("/data/term.txt").write_text("TERM")  # then ignore it: SIGKILL must follow
signal.signal(signal.SIGTERM, on_term)
pathlib.Path("/data/started.txt").write_text("up")
while True:
    time.sleep(0.1)
"""


def test_deletion_sends_sigterm_then_sigkill_after_the_grace_period(kube: Kube, ns: str, sandbox: Sandbox) -> None:
    body = pod("stubborn", ["python", "-c", GRACEFUL], "Always", volumeMounts=[{"name": "d", "mountPath": "/data"}])
    body["spec"]["volumes"] = [{"name": "d", "persistentVolumeClaim": {"claimName": "stubborn"}}]
    kube.create(f"/api/v1/namespaces/{ns}/pods", body)
    folder = sandbox.dir / "volumes" / ns / "stubborn"
    wait_for(lambda: (folder / "started.txt").exists(), 15, what="the process started")
    # the kubelet reports the running container a moment after the process wrote its file
    pids = wait_for(lambda: pids_of(kube.get(f"/api/v1/namespaces/{ns}/pods/stubborn")), 10, what="its pid")
    assert len(pids) == 1 and alive(pids[0])
    kube.delete(f"/api/v1/namespaces/{ns}/pods/stubborn")
    wait_for(lambda: not alive(pids[0]), 10, what="the process killed after its 1 s grace period")
    assert (folder / "term.txt").read_text() == "TERM"


def test_failing_liveness_probe_restarts_the_container(kube: Kube, ns: str) -> None:
    body = pod(
        "unhealthy",
        ["python", "-m", "http.server", "8000", "--bind", "127.0.0.1"],
        "Always",
        ports=[{"containerPort": 8000}],
        livenessProbe={
            "httpGet": {"path": "/no-such-file", "port": 8000},
            "initialDelaySeconds": 2,
            "periodSeconds": 1,
            "failureThreshold": 2,
        },
        readinessProbe={"tcpSocket": {"port": 8000}, "periodSeconds": 1},
    )
    kube.create(f"/api/v1/namespaces/{ns}/pods", body)
    wait_for(lambda: container(kube, "unhealthy").get("ready") is True, 15, what="ready via the tcp probe")
    wait_for(lambda: container(kube, "unhealthy").get("restartCount", 0) >= 1, 20, what="a liveness restart")
    # http.server dies of the SIGTERM the kubelet sends: 128 + 15
    assert container(kube, "unhealthy")["lastState"]["terminated"]["exitCode"] == 143
    kube.delete(f"/api/v1/namespaces/{ns}/pods/unhealthy")


def test_claims_are_bound(kube: Kube, ns: str) -> None:
    claim = {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": "models"},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "2Gi"}}},
    }
    kube.create(f"/api/v1/namespaces/{ns}/persistentvolumeclaims", claim)

    def bound() -> dict[str, Any] | None:
        st = kube.get(f"/api/v1/namespaces/{ns}/persistentvolumeclaims/models").get("status") or {}
        return st if st.get("phase") == "Bound" else None

    assert wait_for(bound, 10, what="claim bound")["capacity"] == {"storage": "2Gi"}


def test_kubectl_logs_reads_the_container_output(kube: Kube, ns: str, kubectl: Any) -> None:
    code = "import time\nfor i in range(5): print('line', i, flush=True)\ntime.sleep(1)\nprint('last', flush=True)"
    kube.create(f"/api/v1/namespaces/{ns}/pods", pod("talker", ["python", "-c", code], "Never"))
    wait_for(lambda: "line 4" in kubectl("-n", ns, "logs", "talker", check=False).stdout, 15, what="logs")
    assert kubectl("-n", ns, "logs", "talker", "--tail=2").stdout.splitlines()[-1] in ("line 4", "last")
    followed = kubectl("-n", ns, "logs", "-f", "talker", timeout=30).stdout.splitlines()
    assert followed == [f"line {i}" for i in range(5)] + ["last"]  # -f ends when the container exits
    wrong = kubectl("-n", ns, "logs", "talker", "-c", "nope", check=False)
    assert wrong.returncode != 0 and "not valid" in wrong.stderr

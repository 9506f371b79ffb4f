"""The real kubectl 1.32 against the sandbox, as a user runs it (its own kubeconfig and cache)."""

from __future__ import annotations

import queue
import re
import subprocess
import threading
import time
from pathlib import Path

import pytest
import yaml
from apiserver_support import DATA, Http, poll


@pytest.fixture(scope="module")
def gadgets(kubectl) -> str:
    """`kubectl apply -f` the test CRD and wait until it is Established."""
    out = kubectl("apply", "-f", str(DATA / "gadgets-crd.yaml")).stdout
    assert "gadgets.kubectl.sandbox.dev" in out
    kubectl("wait", "--for=condition=Established", "crd/gadgets.kubectl.sandbox.dev", "--timeout=20s")
    return "gadgets.kubectl.sandbox.dev"


def _gadget_path(ns: str, name: str = "g1") -> str:
    return f"/apis/kubectl.sandbox.dev/v1/namespaces/{ns}/gadgets/{name}"


class _Lines:
    """Read a subprocess's stdout lines in a thread so the test can wait with a deadline."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.proc, self.q = proc, queue.Queue[str]()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.q.put(line)

    def wait_for(self, pattern: str, timeout: float = 15) -> str:
        deadline, seen = time.monotonic() + timeout, []
        while time.monotonic() < deadline:
            try:
                line = self.q.get(timeout=0.1)
            except queue.Empty:
                continue
            seen.append(line)
            if re.search(pattern, line):
                return line
        raise AssertionError(f"no line matching {pattern!r}; got {seen}")


def test_apply_crd_get_and_printer_columns(kubectl, gadgets: str, namespace: str) -> None:
    """kubectl apply (client-side, without --validate=false) creates, a second apply is
    `unchanged`, `get <short>` prints the CRD's printer columns, `get <category>` finds it."""
    out = kubectl("apply", "-n", namespace, "-f", str(DATA / "gadget.yaml"))
    assert "gadget.kubectl.sandbox.dev/g1 created" in out.stdout
    again = kubectl("apply", "-n", namespace, "-f", str(DATA / "gadget.yaml"))
    assert "unchanged" in again.stdout and "warning" not in again.stderr.lower()
    table = kubectl("get", "gd", "-n", namespace).stdout.splitlines()
    assert table[0].split() == ["NAME", "REPLICAS", "SIZE", "READY", "AGE"]
    assert table[1].split()[:3] == ["g1", "2", "medium"]
    assert kubectl("get", "gadgetry", "-n", namespace).stdout.count("g1") == 1
    doc = yaml.safe_load(kubectl("get", "gadgets", "-n", namespace, "-o", "yaml").stdout)
    assert doc["kind"] == "List"
    item = doc["items"][0]
    assert item["spec"] == {"image": "registry.local/gadget:1", "replicas": 2, "size": "medium"}
    assert "kubectl.kubernetes.io/last-applied-configuration" in item["metadata"]["annotations"]


def test_apply_after_edit_three_way_merge(kubectl, gadgets: str, namespace: str, http: Http, tmp_path: Path) -> None:
    """Re-applying an edited file patches (merge patch for CRs) from last-applied-configuration:
    changed fields change, fields removed from the file are removed (then re-defaulted)."""
    kubectl("apply", "-n", namespace, "-f", str(DATA / "gadget.yaml"))
    doc = yaml.safe_load((DATA / "gadget.yaml").read_text())
    doc["spec"]["replicas"] = 4
    del doc["spec"]["size"]
    edited = tmp_path / "edited.yaml"
    edited.write_text(yaml.safe_dump(doc))
    out = kubectl("apply", "-n", namespace, "-f", str(edited))
    assert "configured" in out.stdout
    spec = http.get(_gadget_path(namespace)).json()["spec"]
    assert spec["replicas"] == 4 and spec["size"] == "small"


def test_invalid_object_is_refused_with_field_error(kubectl, gadgets: str, namespace: str) -> None:
    """The server's 422 reaches the user with the field path; unknown fields fail Strict (400)."""
    bad = kubectl("apply", "-n", namespace, "-f", str(DATA / "gadget-invalid.yaml"), check=False)
    assert bad.returncode != 0
    assert 'The Gadget "bad" is invalid: spec.replicas: Invalid value: -1' in bad.stderr
    typo = kubectl("apply", "-n", namespace, "-f", str(DATA / "gadget-unknown-field.yaml"), check=False)
    assert typo.returncode != 0
    assert 'strict decoding error: unknown field "spec.replicsa"' in typo.stderr


def test_get_watch_sees_change(kubectl, gadgets: str, namespace: str, http: Http) -> None:
    """`kubectl get gd -w` prints the current rows, then a row for a change."""
    kubectl("apply", "-n", namespace, "-f", str(DATA / "gadget.yaml"))
    cmd = ["kubectl", "--kubeconfig", kubectl.env["KUBECONFIG"], "--cache-dir", str(kubectl.cache_dir)]
    proc = subprocess.Popen(
        [*cmd, "get", "gd", "-n", namespace, "-w", "--request-timeout=30s"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        lines = _Lines(proc)
        lines.wait_for(r"^g1\s+2\s+medium")
        http.patch(_gadget_path(namespace), {"spec": {"replicas": 7}})
        lines.wait_for(r"^g1\s+7\s+medium")
    finally:
        proc.kill()
        proc.wait()


def test_wait_for_condition(kubectl, gadgets: str, namespace: str, http: Http) -> None:
    """`kubectl wait --for=condition=Ready` returns once a status patch sets the condition."""
    kubectl("apply", "-n", namespace, "-f", str(DATA / "gadget.yaml"))
    cmd = ["kubectl", "--kubeconfig", kubectl.env["KUBECONFIG"], "--cache-dir", str(kubectl.cache_dir)]
    proc = subprocess.Popen(
        [*cmd, "wait", "-n", namespace, "--for=condition=Ready", "gd/g1", "--timeout=20s"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        status = {"status": {"conditions": [{"type": "Ready", "status": "True", "reason": "Done"}]}}
        poll(lambda: http.patch(_gadget_path(namespace) + "/status", status).status_code == 200)
        out, err = proc.communicate(timeout=25)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    assert "condition met" in out


def test_scale(kubectl, gadgets: str, namespace: str, http: Http) -> None:
    """`kubectl scale gd/g1 --replicas=3` goes through the CRD's scale subresource."""
    kubectl("apply", "-n", namespace, "-f", str(DATA / "gadget.yaml"))
    assert "scaled" in kubectl("scale", "-n", namespace, "gd/g1", "--replicas=3").stdout
    assert http.get(_gadget_path(namespace)).json()["spec"]["replicas"] == 3


def test_deployment_apply_and_rollout_restart(kubectl, namespace: str, http: Http) -> None:
    """Built-ins: apply twice (strategic merge from compiled-in types), scale, rollout restart
    (patches the pod template annotation, which bumps generation)."""
    assert "created" in kubectl("apply", "-n", namespace, "-f", str(DATA / "deployment.yaml")).stdout
    again = kubectl("apply", "-n", namespace, "-f", str(DATA / "deployment.yaml"))
    assert "unchanged" in again.stdout and again.stderr == ""
    kubectl("scale", "-n", namespace, "deployment/web", "--replicas=2")
    assert "restarted" in kubectl("rollout", "restart", "-n", namespace, "deployment/web").stdout
    dep = http.get(f"/apis/apps/v1/namespaces/{namespace}/deployments/web").json()
    assert "kubectl.kubernetes.io/restartedAt" in dep["spec"]["template"]["metadata"]["annotations"]
    assert dep["spec"]["replicas"] == 2 and dep["metadata"]["generation"] == 3
    assert dep["spec"]["template"]["spec"]["containers"][0]["env"] == [{"name": "A", "value": "1"}]
    table = kubectl("get", "deploy", "-n", namespace).stdout.splitlines()
    assert table[0].split()[:2] == ["NAME", "READY"] and table[1].split()[:2] == ["web", "0/2"]


def test_server_side_apply(kubectl, gadgets: str, namespace: str, http: Http) -> None:
    """`kubectl apply --server-side` creates and then updates through apply patches."""
    out = kubectl("apply", "--server-side", "-n", namespace, "-f", str(DATA / "gadget.yaml"))
    assert "serverside-applied" in out.stdout
    obj = http.get(_gadget_path(namespace)).json()
    assert obj["metadata"]["managedFields"][0]["manager"] == "kubectl"


def test_events_and_delete(kubectl, gadgets: str, namespace: str, http: Http) -> None:
    """`kubectl get events` lists Events; `kubectl delete -f` deletes and waits until gone."""
    http.post(
        f"/api/v1/namespaces/{namespace}/events",
        {
            "metadata": {"generateName": "g1-"},
            "involvedObject": {"kind": "Gadget", "name": "g1", "namespace": namespace},
            "reason": "Tested",
            "message": "made by a test",
            "type": "Normal",
        },
    )
    assert "made by a test" in kubectl("get", "events", "-n", namespace).stdout
    kubectl("apply", "-n", namespace, "-f", str(DATA / "gadget.yaml"))
    out = kubectl("delete", "-n", namespace, "-f", str(DATA / "gadget.yaml"))
    assert 'gadget.kubectl.sandbox.dev "g1" deleted' in out.stdout
    assert http.get(_gadget_path(namespace)).status_code == 404


def test_imperative_create_with_protobuf_bodies(kubectl, http: Http) -> None:
    """`kubectl create namespace|configmap|secret|serviceaccount` send protobuf bodies (no JSON
    fallback in client-go); the server decodes those kinds. Other protobuf bodies are a 415."""
    ns = "kubectl-imperative"
    assert "namespace/kubectl-imperative created" in kubectl("create", "namespace", ns).stdout
    kubectl("create", "configmap", "cfg", "-n", ns, "--from-literal=a=b", "--from-literal=c=d")
    kubectl("create", "secret", "generic", "sec", "-n", ns, "--from-literal=pw=hunter2")
    kubectl("create", "serviceaccount", "bot", "-n", ns)
    ns_obj = http.get(f"/api/v1/namespaces/{ns}").json()
    assert ns_obj["status"]["phase"] == "Active" and "generateName" not in ns_obj["metadata"]
    assert http.get(f"/api/v1/namespaces/{ns}/configmaps/cfg").json()["data"] == {"a": "b", "c": "d"}
    secret = http.get(f"/api/v1/namespaces/{ns}/secrets/sec").json()
    assert secret["data"] == {"pw": "aHVudGVyMg=="} and secret["type"] == "Opaque"
    assert http.get(f"/api/v1/namespaces/{ns}/serviceaccounts/bot").status_code == 200
    refused = kubectl("create", "deployment", "d", "-n", ns, "--image=x", check=False)
    assert refused.returncode != 0 and "unknown format" in refused.stderr
    kubectl("delete", "namespace", ns, timeout=60)
    assert http.get(f"/api/v1/namespaces/{ns}").status_code == 404


def test_builtin_typo_is_refused(kubectl, namespace: str, tmp_path: Path) -> None:
    """kubectl apply sends fieldValidation=Strict; a typo in a built-in kind fails like on a cluster."""
    pytest.importorskip("kubernetes_validate")
    doc = yaml.safe_load((DATA / "deployment.yaml").read_text())
    doc["spec"]["replica"] = doc["spec"].pop("replicas")
    bad = tmp_path / "typo.yaml"
    bad.write_text(yaml.safe_dump(doc))
    result = kubectl("apply", "-n", namespace, "-f", str(bad), check=False)
    assert result.returncode != 0
    assert 'strict decoding error: unknown field "spec.replica"' in result.stderr

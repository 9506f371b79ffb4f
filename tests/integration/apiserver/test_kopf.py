"""A real kopf operator (subprocess, `kopf run --standalone`) against the sandbox."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import kubernetes
import pytest
from apiserver_support import DATA, Http, load, poll

G, V, P = "kopf.dev", "v1", "kopfexamples"


@pytest.fixture(scope="module")
def kopf_crd(api_client: kubernetes.client.ApiClient, http: Http) -> None:
    ext = kubernetes.client.ApiextensionsV1Api(api_client)
    try:
        ext.create_custom_resource_definition(load("kopfexamples-crd.yaml"))
    except kubernetes.client.ApiException as exc:
        if exc.status != 409:
            raise
    poll(lambda: http.get("/apis/kopf.dev/v1").status_code == 200)


def _records(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


@pytest.fixture(params=["all-namespaces", "namespace"])
def operator(
    request, kopf_crd: None, kubeconfig_path: Path, namespace: str, tmp_path: Path
) -> Iterator[tuple[Path, Path]]:
    """Run the operator cluster-wide or restricted to the test namespace; yield (records, log)."""
    records, log = tmp_path / "records.jsonl", tmp_path / "kopf.log"
    scope = ["--all-namespaces"] if request.param == "all-namespaces" else ["--namespace", namespace]
    env = {**os.environ, "KUBECONFIG": str(kubeconfig_path), "SANDBOX_KOPF_RECORDS": str(records)}
    with log.open("w") as log_fh:
        proc = subprocess.Popen(
            [sys.executable, "-m", "kopf", "run", "--standalone", "--verbose", *scope, str(DATA / "kopf_operator.py")],
            env=env,
            stdout=log_fh,
            stderr=subprocess.STDOUT,
        )
        try:
            yield records, log
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def test_kopf_handlers_fire_exactly_once(
    operator: tuple[Path, Path], api_client: kubernetes.client.ApiClient, namespace: str
) -> None:
    """create/update/delete handlers fire once per change; kopf's finalizer is added and honoured;
    the handler's return value lands in status (via /status); patch.status works; the timer
    ticks; kopf.info posts an Event; after delete the object is gone."""
    records, log = operator
    custom = kubernetes.client.CustomObjectsApi(api_client)
    core = kubernetes.client.CoreV1Api(api_client)
    body = {"apiVersion": "kopf.dev/v1", "kind": "KopfExample", "metadata": {"name": "kex1"}, "spec": {"field": "a"}}
    custom.create_namespaced_custom_object(G, V, namespace, P, body)

    def get() -> dict:
        return custom.get_namespaced_custom_object(G, V, namespace, P, "kex1")

    def count(what: str) -> int:
        return sum(1 for r in _records(records) if r["what"] == what and r["name"] == "kex1")

    try:
        poll(lambda: count("create") == 1, timeout=30, what="create handler")
        poll(lambda: (get().get("status") or {}).get("created") == {"message": "created"}, timeout=15)
        assert any("kopf" in f for f in get()["metadata"].get("finalizers", []))
        poll(
            lambda: any(e.reason == "Created" for e in core.list_namespaced_event(namespace).items),
            what="kopf.info event",
        )
        custom.patch_namespaced_custom_object(G, V, namespace, P, "kex1", {"spec": {"field": "b"}})
        poll(lambda: count("update") == 1, timeout=15, what="update handler")
        poll(lambda: (get().get("status") or {}).get("phase") == "updated-b", timeout=15)
        poll(lambda: count("timer") >= 2, timeout=15, what="timer ticks")
        custom.delete_namespaced_custom_object(G, V, namespace, P, "kex1")
        poll(lambda: count("delete") == 1, timeout=15, what="delete handler")

        def gone() -> bool:
            try:
                get()
            except kubernetes.client.ApiException as exc:
                return exc.status == 404
            return False

        poll(gone, timeout=15, what="object removed after the finalizer")
    except AssertionError:
        print(log.read_text()[-6000:])
        raise
    assert (count("create"), count("update"), count("delete")) == (1, 1, 1)
    text = log.read_text()
    assert "Traceback" not in text, text[-4000:]
    assert "Patching failed" not in text


def test_kopf_survives_dropped_watches_and_compaction(
    operator: tuple[Path, Path], api_client: kubernetes.client.ApiClient, http: Http, namespace: str
) -> None:
    """When every watch is cut (and history compacted), kopf restarts its streams (it relists,
    then watches from the list's version) and keeps going: a new object is handled once, the
    already-handled object is not handled again, timers keep ticking."""
    records, log = operator
    custom = kubernetes.client.CustomObjectsApi(api_client)

    def count(what: str, name: str) -> int:
        return sum(1 for r in _records(records) if r["what"] == what and r["name"] == name)

    def make(name: str) -> None:
        body = {"apiVersion": "kopf.dev/v1", "kind": "KopfExample", "metadata": {"name": name}, "spec": {}}
        custom.create_namespaced_custom_object(G, V, namespace, P, body)

    try:
        make("before")
        poll(lambda: count("create", "before") == 1, timeout=30, what="first object handled")
        http.post(f"/api/v1/namespaces/{namespace}/configmaps", {"metadata": {"name": "bump"}})
        http.post("/sandbox/compact", {})
        ticks = count("timer", "before")
        assert http.post("/sandbox/watches/drop", {}).json()["dropped"] >= 1
        make("after")
        poll(lambda: count("create", "after") == 1, timeout=30, what="object created after the outage")
        poll(lambda: count("timer", "before") >= ticks + 2, timeout=15, what="timers still running")
    except AssertionError:
        print(log.read_text()[-6000:])
        raise
    assert count("create", "before") == 1 and count("create", "after") == 1
    assert "Traceback" not in log.read_text()

"""RetrainPolicy with MLflow on real parts: a real `mlflow server` (SQLite store, artifacts served over HTTP),
the Job's `mlaiops train` logs the run and the model, the operator registers versions and moves the
`champion` alias only on promotion; an unreachable MLflow never stops retraining."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import pytest

from tests.e2e.conftest import Cluster, free_port, wait_for
from tests.e2e.test_retrain import dataset, policy, request, runs

PORT_ATTEMPTS = 3

pytestmark = pytest.mark.integration

MODEL = "fraud-detector"


def healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


@pytest.fixture(scope="module")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`mlflow server` on a free loopback port; clients upload artifacts to it over HTTP, as pods would."""
    folder = tmp_path_factory.mktemp("mlflow")
    log = (folder / "server.log").open("wb")
    # The server takes seconds to start on a loaded machine: another process may take the free port before
    # it binds (it then exits, "address already in use"), so it gets a new port, as the harness's operator does.
    for attempt in range(PORT_ATTEMPTS):
        url, process = start_mlflow(folder, log)
        try:
            wait_for(
                lambda p=process, u=url: p.poll() is not None or healthy(u), timeout=90, what="mlflow server /health"
            )
        except BaseException:
            stop(process)
            log.close()
            raise
        if process.poll() is None:
            break
        if attempt == PORT_ATTEMPTS - 1 or b"address already in use" not in (folder / "server.log").read_bytes():
            log.close()
            raise RuntimeError(f"mlflow server exited with {process.returncode}; its log: {folder / 'server.log'}")
    try:
        yield url
    finally:
        stop(process)
        log.close()


def start_mlflow(folder: Path, log: IO[bytes]) -> tuple[str, subprocess.Popen[bytes]]:
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mlflow",
            "server",
            "--host=127.0.0.1",
            f"--port={port}",
            "--workers=1",
            f"--backend-store-uri=sqlite:///{folder / 'mlflow.db'}",
            f"--artifacts-destination={folder / 'artifacts'}",
        ],
        # No GenAI job runner: it would start eight more processes on a two-core machine.
        env={**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"},
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its workers share the group, so one signal stops them all
    )
    return f"http://127.0.0.1:{port}", process


def stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the server's process group, SIGKILL after 20 s; nothing if it has already exited."""
    try:
        os.killpg(process.pid, signal.SIGTERM)
    except ProcessLookupError:
        process.wait()
        return
    try:
        process.wait(20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def prepare(cluster: Cluster, name: str) -> str:
    ns = cluster.namespace(name)
    data = cluster.sandbox.dir / "volumes" / ns / "fraud-data"
    data.mkdir(parents=True, exist_ok=True)
    (data / "transactions.csv").write_text(dataset(600, seed=4, noise=0.02))
    return ns


def decided(cluster: Cluster, ns: str, after: str | None = None) -> dict | None:
    newest = (runs(cluster, ns) or [None])[0]
    if newest and newest["id"] != after and newest["phase"] in ("Promoted", "Rejected", "Failed"):
        return newest
    return None


def mlflow_status(cluster: Cluster, ns: str) -> dict:
    return cluster.get("retrainpolicies", ns, "fraud-retrain").get("status", {})


def synced(cluster: Cluster, ns: str) -> dict | None:
    return cluster.condition(cluster.get("retrainpolicies", ns, "fraud-retrain"), "MLflowSynced")


def test_runs_are_logged_registered_and_only_promotions_move_champion(
    cluster: Cluster, mlflow_server: str, tmp_path: Path
) -> None:
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=mlflow_server, registry_uri=mlflow_server)
    ns = prepare(cluster, "retrain-mlflow")
    body = policy(minimum=0.7)
    body["spec"].pop("modelDeploymentRef")
    body["spec"]["mlflow"] = {"trackingUri": mlflow_server, "registeredModel": MODEL}
    cluster.apply(body, ns)

    request(cluster, ns, "first")
    first = wait_for(lambda: decided(cluster, ns), timeout=120, what="first run decided")
    assert first["phase"] == "Promoted", first.get("decision")
    status = wait_for(
        lambda: (s := mlflow_status(cluster, ns)).get("mlflow", {}).get("championVersion") and s,
        timeout=30,
        what="champion alias recorded",
    )
    first = status["runs"][0]
    assert status["promoted"]["mlflowModelVersion"] == first["mlflow"]["modelVersion"] == "1"
    assert (synced(cluster, ns) or {}).get("status") == "True"

    # The run in MLflow: params, candidate metrics, lineage tags, the model as an sklearn flavour.
    logged = client.get_run(first["mlflow"]["runId"])
    assert logged.info.status == "FINISHED" and logged.info.run_name == first["id"]
    assert logged.data.params["estimator"] == "LogisticRegression" and logged.data.params["seed"] == "3"
    assert logged.data.metrics["accuracy"] == pytest.approx(first["candidateMetrics"]["accuracy"])
    assert "demographic_parity_difference" in logged.data.metrics
    assert logged.data.tags["mlaiops.dev/run"] == first["id"]
    assert logged.data.tags["mlaiops.dev/policy"] == f"{ns}/fraud-retrain"
    assert logged.data.tags["mlaiops.dev/dataset-sha256"] == first["datasetSha256"]
    assert logged.data.tags["mlaiops.dev/sha256"] == first["modelSha256"]
    experiment = client.get_experiment(logged.info.experiment_id)
    assert experiment.name == f"mlaiops/{ns}/fraud-retrain"

    version = client.get_model_version_by_alias(MODEL, "champion")
    assert version.version == "1" and version.run_id == first["mlflow"]["runId"]
    assert version.tags["mlaiops.dev/model-uri"] == first["modelUri"]
    assert version.tags["mlaiops.dev/sha256"] == first["modelSha256"]
    assert version.description.startswith("Promoted")

    # What MLflow serves as the champion is the model the trainer fitted: same predictions as its joblib file.
    import joblib
    import mlflow
    import numpy as np
    import pandas as pd

    mlflow.set_tracking_uri(mlflow_server)
    champion = mlflow.pyfunc.load_model(f"models:/{MODEL}@champion")
    local = joblib.load(cluster.sandbox.dir / "volumes" / ns / "fraud-models" / "fraud" / first["id"] / "model.joblib")
    # Rows named as the trainer's columns were (scikit-learn warns of unnamed rows for a model fitted on named ones).
    rows = pd.DataFrame(np.random.default_rng(0).normal(size=(20, 6)), columns=local.feature_names_in_)
    assert (champion.predict(rows) == local.predict(rows)).all()

    # Same data and seed: no improvement, rejected. It is registered (alias challenger), champion stays.
    patch = '{"spec":{"validation":{"minImprovement":{"absolute":0.05}}}}'
    cluster.kubectl("patch", "-n", ns, "rtp/fraud-retrain", "--type=merge", "-p", patch)
    request(cluster, ns, "second")
    second = wait_for(lambda: decided(cluster, ns, after=first["id"]), timeout=120, what="second run decided")
    assert second["phase"] == "Rejected"
    status = wait_for(
        lambda: (s := mlflow_status(cluster, ns)).get("mlflow", {}).get("challengerVersion") == "2" and s,
        timeout=30,
        what="challenger alias recorded",
    )
    assert status["runs"][0]["mlflow"]["modelVersion"] == "2"
    assert client.get_model_version_by_alias(MODEL, "challenger").version == "2"
    assert client.get_model_version_by_alias(MODEL, "champion").version == "1"
    assert status["mlflow"]["championVersion"] == "1" and status["promoted"]["version"] == first["id"]
    rejected = client.get_run(status["runs"][0]["mlflow"]["runId"])
    assert rejected.data.metrics["champion_accuracy"] == pytest.approx(second["championMetrics"]["accuracy"])
    events = {
        e.reason
        for e in cluster.core.list_namespaced_event(ns, field_selector="involvedObject.name=fraud-retrain").items
    }
    assert {"MLflowRegistered", "MLflowChampion"} <= events


def test_unreachable_mlflow_is_reported_and_the_model_is_still_promoted(cluster: Cluster) -> None:
    ns = prepare(cluster, "retrain-mlflow-down")
    body = policy(minimum=0.7)
    body["spec"].pop("modelDeploymentRef")
    body["spec"]["mlflow"] = {"trackingUri": f"http://127.0.0.1:{free_port()}"}  # nothing listens there
    cluster.apply(body, ns)
    request(cluster, ns, "first")
    run = wait_for(lambda: decided(cluster, ns), timeout=120, what="run decided")
    assert run["phase"] == "Promoted", run.get("decision")
    assert "logging to MLflow at http://127.0.0.1:" in run["mlflow"]["error"] and "runId" not in run["mlflow"]
    condition = wait_for(lambda: synced(cluster, ns), timeout=30, what="MLflowSynced condition")
    status = mlflow_status(cluster, ns)
    assert condition["status"] == "False" and condition["reason"] == "LoggingFailed"
    assert status["promoted"]["version"] == run["id"] and "mlflowModelVersion" not in status["promoted"]
    # The Event is posted after the status write that carries the condition: wait for it, do not read it once.
    warnings = wait_for(
        lambda: [
            e
            for e in cluster.core.list_namespaced_event(ns, field_selector="involvedObject.name=fraud-retrain").items
            if e.reason == "MLflowFailed"
        ],
        timeout=30,
        what="MLflowFailed Event",
    )
    assert "MLflow" in warnings[0].message

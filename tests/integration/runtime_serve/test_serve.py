"""`mlaiops serve` as a real process: every endpoint over real HTTP, the 400s, /metrics, and load failures."""

from __future__ import annotations

import re
import shutil
import threading
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
from serve_support import N_FEATURES, ModelFile, ServeProcess, Servers, free_port, wait_for

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def pair(
    tmp_path_factory: pytest.TempPathFactory, model_file: ModelFile
) -> Iterator[tuple[ServeProcess, ServeProcess]]:
    """A stable and a canary server of the same model, started together."""
    group = Servers(tmp_path_factory)
    common = ("--model-uri", model_file.uri, "--model-name", "fraud", "--sha256", model_file.sha256)
    stable = group.start(*common, "--model-version", "v1", "--track", "stable")
    canary = group.start(*common, "--model-version", "v2", "--track", "canary", "--max-feature-metrics", "3")
    try:
        stable.wait_ready()
        canary.wait_ready()
        yield stable, canary
    finally:
        group.stop_all()


def infer_body(rows: np.ndarray, **extra: object) -> dict:
    return {
        "inputs": [{"name": "input-0", "shape": list(rows.shape), "datatype": "FP64", "data": rows.ravel().tolist()}],
        **extra,
    }


def test_health_and_metadata(pair: tuple[ServeProcess, ServeProcess]) -> None:
    stable, _ = pair
    assert stable.get("/v2/health/live").status == 200
    assert stable.get("/v2/health/ready").json() == {"ready": True}
    server = stable.get("/v2").json()
    assert server["name"] == "mlaiops"
    assert "binary_tensor_data" in server["extensions"]
    metadata = stable.get("/v2/models/fraud").json()
    assert metadata["name"] == "fraud"
    assert metadata["versions"] == ["v1"]
    assert metadata["platform"] == "sklearn"
    assert metadata["inputs"] == [{"name": "input-0", "datatype": "FP64", "shape": [-1, N_FEATURES]}]
    assert [o["name"] for o in metadata["outputs"]] == ["predict", "predict_proba"]
    assert metadata["outputs"][1]["shape"] == [-1, 2]
    assert stable.get("/v2/models/fraud/versions/v1").json() == metadata
    assert stable.get("/v2/models/fraud/ready").status == 200
    assert stable.get("/v2/models/fraud/versions/v1/ready").status == 200
    assert stable.get("/v1/models/fraud").json() == {"name": "fraud", "ready": True}


def test_v2_infer_matches_the_model(pair: tuple[ServeProcess, ServeProcess], model_file: ModelFile) -> None:
    stable, _ = pair
    rows = model_file.rows[:5]
    response = stable.post("/v2/models/fraud/infer", infer_body(rows, id="r-1"))
    assert response.status == 200, response.body
    document = response.json()
    assert document["model_name"] == "fraud"
    assert document["model_version"] == "v1"
    assert document["id"] == "r-1"
    outputs = {o["name"]: o for o in document["outputs"]}
    assert outputs["predict"]["shape"] == [5]
    assert outputs["predict"]["data"] == model_file.estimator.predict(rows).tolist()
    assert outputs["predict_proba"]["shape"] == [5, 2]
    np.testing.assert_allclose(
        np.reshape(outputs["predict_proba"]["data"], (5, 2)), model_file.estimator.predict_proba(rows)
    )


def test_v2_requested_outputs_and_versioned_path(
    pair: tuple[ServeProcess, ServeProcess], model_file: ModelFile
) -> None:
    stable, _ = pair
    body = infer_body(model_file.rows[:2], outputs=[{"name": "predict_proba"}])
    document = stable.post("/v2/models/fraud/versions/v1/infer", body).json()
    assert [o["name"] for o in document["outputs"]] == ["predict_proba"]


def test_v1_predict(pair: tuple[ServeProcess, ServeProcess], model_file: ModelFile) -> None:
    stable, _ = pair
    rows = model_file.rows[:3]
    response = stable.post("/v1/models/fraud:predict", {"instances": rows.tolist()})
    assert response.status == 200, response.body
    prediction_id = response.headers["Prediction-Id"]  # for late labels (docs/feedback.md)
    assert response.json() == {"predictions": model_file.estimator.predict(rows).tolist(), "id": prediction_id}


@pytest.mark.parametrize(
    ("path", "body", "status", "message"),
    [
        (
            "/v2/models/fraud/infer",
            {"inputs": [{"name": "x", "shape": [1, 3], "datatype": "FP64", "data": [1, 2, 3]}]},
            400,
            f"has 3 features per row (shape [1, 3]); the model expects {N_FEATURES}",
        ),
        (
            "/v2/models/fraud/infer",
            {"inputs": [{"name": "x", "shape": [1, 8], "datatype": "FP128", "data": [1] * 8}]},
            400,
            "datatype 'FP128' is unknown",
        ),
        (
            "/v2/models/fraud/infer",
            {"inputs": [{"name": "x", "shape": [2, 8], "datatype": "FP64", "data": [1] * 8}]},
            400,
            "shape [2, 8] needs 16 values, data has 8",
        ),
        (
            "/v2/models/fraud/infer",
            {"inputs": [{"name": "x", "shape": [1, 8], "datatype": "FP64", "data": ["a"] * 8}]},
            400,
            "must be numbers for datatype FP64, found 'a'",
        ),
        (
            "/v2/models/fraud/infer",
            {
                "inputs": [{"name": "x", "shape": [1, 8], "datatype": "FP64", "data": [1] * 8}],
                "outputs": [{"name": "y"}],
            },
            400,
            "unknown output 'y'; this model has predict, predict_proba",
        ),
        ("/v2/models/fraud/infer", "not-an-object", 400, "must be a JSON object"),
        ("/v2/models/nope/infer", {"inputs": []}, 404, "model 'nope' not found; this server serves 'fraud'"),
        ("/v2/models/fraud/versions/v9/infer", {"inputs": []}, 404, "has no version 'v9'"),
        ("/v1/models/fraud:predict", {"instances": [[1, 2]]}, 400, f"the model expects {N_FEATURES}"),
        ("/v1/models/other:predict", {"instances": [[1]]}, 404, "model 'other' not found"),
    ],
)
def test_bad_requests(
    pair: tuple[ServeProcess, ServeProcess], path: str, body: object, status: int, message: str
) -> None:
    stable, _ = pair
    response = stable.post(path, body)
    assert response.status == status
    assert response.headers["Content-Type"].startswith("application/json")
    assert message in response.json()["error"]


def test_invalid_json_is_400(pair: tuple[ServeProcess, ServeProcess]) -> None:
    stable, _ = pair
    response = stable.post("/v2/models/fraud/infer", raw=b"{oops")
    assert response.status == 400
    assert "not valid JSON" in response.json()["error"]


def metric(text: str, name: str, **labels: str) -> float | None:
    """The value of the sample ``name`` whose labels include ``labels`` (None when there is none)."""
    for line in text.splitlines():
        match = re.fullmatch(r"([a-zA-Z_:][\w:]*)\{(.*)\} (\S+)", line)
        if not match or match[1] != name:
            continue
        found = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', match[2]))
        if all(found.get(k) == v for k, v in labels.items()):
            return float(match[3])
    return None


def test_metrics_separate_tracks(pair: tuple[ServeProcess, ServeProcess], model_file: ModelFile) -> None:
    stable, canary = pair
    before = metric(stable.get("/metrics").body.decode(), "mlaiops_model_requests_total", code="200") or 0.0
    for _ in range(3):
        assert stable.post("/v2/models/fraud/infer", infer_body(model_file.rows[:4])).status == 200
    assert stable.post("/v2/models/fraud/infer", {"inputs": [{"name": "x"}]}).status == 400
    assert canary.post("/v1/models/fraud:predict", {"instances": model_file.rows[:2].tolist()}).status == 200

    text = stable.get("/metrics").body.decode()
    ids = {"model": "fraud", "version": "v1", "track": "stable"}
    assert metric(text, "mlaiops_model_requests_total", code="200", **ids) == before + 3
    assert (metric(text, "mlaiops_model_requests_total", code="400", **ids) or 0) >= 1
    assert metric(text, "mlaiops_model_request_duration_seconds_bucket", le="+Inf", **ids)
    assert metric(text, "mlaiops_model_prediction_count", **ids) >= 12
    assert metric(text, "mlaiops_model_info", format="sklearn", sha256=model_file.sha256, **ids) == 1
    assert metric(text, "mlaiops_model_ready", **ids) == 1
    assert metric(text, "mlaiops_model_load_duration_seconds", **ids) > 0
    assert metric(text, "mlaiops_model_input_feature_count", feature=str(N_FEATURES - 1), **ids) >= 12
    assert 'track="canary"' not in text

    canary_text = canary.get("/metrics").body.decode()
    canary_ids = {"model": "fraud", "version": "v2", "track": "canary"}
    assert metric(canary_text, "mlaiops_model_requests_total", code="200", **canary_ids) == 1
    assert metric(canary_text, "mlaiops_model_prediction_count", **canary_ids) == 2
    assert metric(canary_text, "mlaiops_model_input_feature_sum", feature="2", **canary_ids) is not None
    assert metric(canary_text, "mlaiops_model_input_feature_sum", feature="3", **canary_ids) is None
    assert 'track="stable"' not in canary_text
    # Health checks and scrapes are not inference requests.
    assert metric(canary_text, "mlaiops_model_requests_total", code="503", **canary_ids) is None


def failed_load(server: ServeProcess, words: str) -> str:
    """Wait for the log line that says why the model cannot load; check the server is live, not ready."""
    wait_for(lambda: "cannot be loaded" in server.log(), 30, f"the load failure in the log: {server.log()}")
    log = server.log()
    assert words in log, log
    assert server.get("/v2/health/live").status == 200
    ready = server.get("/v2/health/ready")
    assert ready.status == 503
    assert words in ready.json()["reason"]
    assert server.get("/v2/models/fraud/ready").status == 503
    assert server.process.poll() is None
    return log


def test_load_failures_stay_live_and_never_ready(servers: Servers, model_file: ModelFile, tmp_path: Path) -> None:
    wrong = "0" * 64
    garbage = tmp_path / "garbage.joblib"
    garbage.write_bytes(b"not a model")
    mismatch = servers.start("--model-uri", model_file.uri, "--model-name", "fraud", "--sha256", wrong)
    missing = servers.start("--model-uri", (tmp_path / "absent.joblib").as_uri(), "--model-name", "fraud")
    unloadable = servers.start("--model-uri", garbage.as_uri(), "--model-name", "fraud")

    log = failed_load(mismatch, "ChecksumMismatch")
    assert f"expected {wrong}, got {model_file.sha256}" in log
    response = mismatch.post("/v2/models/fraud/infer", {"inputs": []})
    assert response.status == 503
    assert "not ready" in response.json()["error"]
    text = mismatch.get("/metrics").body.decode()
    assert metric(text, "mlaiops_model_load_errors_total", reason="ChecksumMismatch") == 1
    assert metric(text, "mlaiops_model_ready") == 0
    assert metric(text, "mlaiops_model_requests_total", code="503") == 1

    assert "absent.joblib does not exist" in failed_load(missing, "NotFound")
    assert "cannot load" in failed_load(unloadable, "Unloadable")


def test_exit_on_load_failure(servers: Servers, tmp_path: Path) -> None:
    """The reason goes to the termination message file, where the kubelet reads it for the pod's status."""
    termination = tmp_path / "termination-log"
    server = servers.start(
        "--model-uri",
        (tmp_path / "absent.joblib").as_uri(),
        "--exit-on-load-failure",
        env={"MLAIOPS_TERMINATION_LOG": str(termination)},
    )
    assert server.process.wait(30) == 3
    assert "cannot be loaded" in server.log()
    message = termination.read_text()
    assert message.startswith("NotFound: ") and "absent.joblib does not exist" in message


def test_pvc_uri_and_environment_configuration(servers: Servers, model_file: ModelFile, tmp_path: Path) -> None:
    claim = tmp_path / "claims" / "models" / "fraud" / "v7"
    claim.mkdir(parents=True)
    shutil.copy(model_file.path, claim / "model.joblib")
    metrics_port = free_port()
    server = servers.start(
        env={
            "MLAIOPS_MODEL_URI": "pvc://models/fraud/v7",
            "MLAIOPS_PVC_ROOT": str(tmp_path / "claims"),
            "MLAIOPS_MODEL_NAME": "fraud",
            "MLAIOPS_TRACK": "canary",
            "MLAIOPS_METRICS_PORT": str(metrics_port),
        },
        port_flag=False,
    )
    server.wait_ready()
    assert server.post("/v1/models/fraud:predict", {"instances": model_file.rows[:1].tolist()}).status == 200
    text = server.get("/metrics").body.decode()
    with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10) as response:
        assert metric(response.read().decode(), "mlaiops_model_requests_total", code="200", track="canary") == 1
    version = server.get("/v2/models/fraud").json()["versions"][0]
    assert re.fullmatch(r"[0-9a-f]{12}", version)
    assert metric(text, "mlaiops_model_requests_total", code="200", track="canary", version=version) == 1
    assert server.stop() == 0
    assert "shutting down" in server.log()


def test_ready_only_after_an_http_download(servers: Servers, model_file: ModelFile) -> None:
    """The server is live while the artifact downloads and turns ready only once the model is loaded."""
    release = threading.Event()
    payload = model_file.path.read_bytes()

    class Slow(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            release.wait(30)
            self.send_response(200)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *_: object) -> None:
            pass

    http = ThreadingHTTPServer(("127.0.0.1", 0), Slow)
    thread = threading.Thread(target=http.serve_forever, daemon=True)
    thread.start()
    try:
        uri = f"http://127.0.0.1:{http.server_address[1]}/models/fraud.joblib"
        server = servers.start("--model-uri", uri, "--model-name", "fraud", "--sha256", model_file.sha256)
        server.wait_live()
        assert server.get("/v2/health/ready").json() == {"ready": False, "reason": "model is loading"}
        assert server.get("/v2/models/fraud/ready").status == 503
        release.set()
        server.wait_ready()
        response = server.post("/v1/models/fraud:predict", {"instances": model_file.rows[:2].tolist()})
        assert response.json()["predictions"] == model_file.estimator.predict(model_file.rows[:2]).tolist()
    finally:
        release.set()
        http.shutdown()
        http.server_close()

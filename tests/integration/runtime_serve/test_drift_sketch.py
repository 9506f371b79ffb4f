"""`mlaiops serve` with a reference profile beside the model: live bin counters, and a wrong profile is never ready."""

from __future__ import annotations

import json
from pathlib import Path

import joblib
import numpy as np
import pytest
from prometheus_client.parser import text_string_to_metric_families
from serve_support import Servers, wait_for

from mlaiops.detection.profile import PREDICTION, Profile
from mlaiops.runtime.training import Table, train

pytestmark = pytest.mark.integration

FEATURES = ["amount", "merchant_risk", "age"]


def trained(folder: Path) -> tuple[Path, Profile]:
    """A model trained the way `mlaiops train` trains it, with its profile.json beside it."""
    rng = np.random.default_rng(2)
    columns = {name: rng.normal(size=600) for name in FEATURES}
    columns["label"] = (columns["merchant_risk"] + 0.3 * rng.normal(size=600) > 0).astype(float)
    result = train(Table(columns), target="label", estimator="LogisticRegression", features=FEATURES)
    assert result.profile is not None
    folder.mkdir(parents=True, exist_ok=True)
    joblib.dump(result.model, folder / "model.joblib")
    (folder / "profile.json").write_text(result.profile.to_json())
    return folder / "model.joblib", result.profile


def bins(text: str, name: str, feature: str) -> list[float]:
    values: dict[int, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and sample.labels.get("feature") == feature:
                values[int(sample.labels["bin"])] = sample.value
    return [values[i] for i in sorted(values)]


def test_the_server_counts_live_rows_over_the_profile_bins(servers: Servers, tmp_path: Path) -> None:
    model, profile = trained(tmp_path / "run")
    server = servers.start("--model-uri", model.as_uri(), "--model-name", "fraud", "--track", "canary")
    server.wait_ready()
    rng = np.random.default_rng(9)
    sent = []
    for _ in range(5):  # named columns, in another order than the model's: matched by name
        rows = rng.normal(0, 2, size=(40, 3))
        sent.append(rows)
        body = {
            "inputs": [
                {"name": name, "shape": [40, 1], "datatype": "FP64", "data": rows[:, FEATURES.index(name)].tolist()}
                for name in reversed(FEATURES)
            ]
        }
        response = server.post("/v2/models/fraud/infer", body)
        assert response.status == 200, response.body
    matrix = np.vstack(sent)
    text = server.get("/metrics").body.decode()
    for index, name in enumerate(FEATURES):
        expected = profile.get(name).count(matrix[:, index]).tolist()
        assert bins(text, "mlaiops_model_feature_bin_total", name) == expected
        assert bins(text, "mlaiops_model_feature_reference_bin", name) == list(profile.get(name).counts)
    predicted = bins(text, "mlaiops_model_feature_bin_total", PREDICTION)
    assert sum(predicted) == 200 and len(predicted) == profile.get(PREDICTION).bins
    sha = __import__("hashlib").sha256((tmp_path / "run" / "profile.json").read_bytes()).hexdigest()
    assert f'sha256="{sha}"' in text and "mlaiops_model_profile_info" in text


def test_a_profile_of_other_features_keeps_the_server_unready_naming_the_feature(
    servers: Servers, tmp_path: Path
) -> None:
    model, profile = trained(tmp_path / "run")
    payload = json.loads(profile.to_json())
    payload["features"][1]["name"] = "merchant_score"
    (tmp_path / "run" / "profile.json").write_text(json.dumps(payload))
    server = servers.start("--model-uri", model.as_uri(), "--model-name", "fraud")
    server.wait_live()

    def refused() -> dict | None:
        response = server.get("/v2/health/ready")
        return response.json() if response.status == 503 and "InvalidProfile" in response.body.decode() else None

    reason = wait_for(refused, what="the server to refuse the profile")["reason"]
    assert "'merchant_score'" in reason and "InvalidProfile" in reason
    assert 'mlaiops_model_load_errors_total{model="fraud"' in server.get("/metrics").body.decode()


def test_profile_none_turns_the_sketch_off_and_a_broken_profile_is_refused(servers: Servers, tmp_path: Path) -> None:
    model, _ = trained(tmp_path / "run")
    (tmp_path / "run" / "profile.json").write_text("{not json")
    off = servers.start("--model-uri", model.as_uri(), "--profile-uri", "none")
    broken = servers.start("--model-uri", model.as_uri(), "--exit-on-load-failure")
    off.wait_ready()
    assert "mlaiops_model_feature_bin" not in off.get("/metrics").body.decode()
    assert broken.process.wait(60) == 3
    assert "InvalidProfile" in broken.log() and "not JSON" in broken.log()


def test_a_profile_beside_an_http_model_is_fetched_and_a_missing_one_is_not_an_error(
    servers: Servers, tmp_path: Path
) -> None:
    import functools
    import threading
    from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

    trained(tmp_path / "with")
    trained(tmp_path / "without")
    (tmp_path / "without" / "profile.json").unlink()
    handler = functools.partial(SimpleHTTPRequestHandler, directory=str(tmp_path))
    http = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=http.serve_forever, daemon=True).start()
    try:
        base = f"http://127.0.0.1:{http.server_address[1]}"
        with_profile = servers.start("--model-uri", f"{base}/with/model.joblib")
        without = servers.start("--model-uri", f"{base}/without/model.joblib")
        with_profile.wait_ready()
        without.wait_ready()
        assert "mlaiops_model_profile_info" in with_profile.get("/metrics").body.decode()
        assert "mlaiops_model_feature_bin" not in without.get("/metrics").body.decode()
        assert "no reference profile beside the model" in without.log()
    finally:
        http.shutdown()

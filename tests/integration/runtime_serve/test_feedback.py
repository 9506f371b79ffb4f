"""`mlaiops serve` with delayed labels: prediction ids on every answer, POST .../feedback joined to what the
server predicted, the metrics scraped from /metrics, and the store bounded under a flood (docs/feedback.md)."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest
from prometheus_client.parser import text_string_to_metric_families
from serve_support import N_FEATURES, ModelFile, ServeProcess, Servers, wait_for

pytestmark = pytest.mark.integration

INFER = "/v2/models/m/infer"
FEEDBACK = "/v2/models/m/feedback"


def start(servers: Servers, model_file: ModelFile, *flags: str) -> ServeProcess:
    server = servers.start("--model-uri", model_file.uri, "--model-name", "m", "--track", "canary", *flags)
    server.wait_ready()
    return server


def infer(server: ServeProcess, rows: np.ndarray, request_id: str | None = None) -> tuple[str, list[int], dict]:
    body: dict = {
        "inputs": [{"name": "x", "shape": list(rows.shape), "datatype": "FP64", "data": rows.ravel().tolist()}]
    }
    if request_id is not None:
        body["id"] = request_id
    response = server.post(INFER, body)
    assert response.status == 200, response.body
    document = response.json()
    predicted = next(out["data"] for out in document["outputs"] if out["name"] == "predict")
    return document["id"], predicted, response.headers


def scrape(server: ServeProcess) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = server.get("/metrics").body.decode()
    values = {}
    for family in text_string_to_metric_families(text):
        if family.name.startswith(
            ("mlaiops_model_feedback", "mlaiops_model_prediction_store", "mlaiops_model_requests")
        ):
            for sample in family.samples:
                labels = tuple(
                    sorted((k, v) for k, v in sample.labels.items() if k not in ("model", "version", "track"))
                )
                values[(sample.name, labels)] = sample.value
    return values


def test_predict_then_feedback_counts_accuracy_in_metrics(servers: Servers, model_file: ModelFile) -> None:
    server = start(servers, model_file)
    rows = model_file.rows
    one_id, one, headers = infer(server, rows[:1], request_id="order-17")
    assert one_id == "order-17" and headers["Prediction-Id"] == "order-17"  # the client's V2 id, echoed
    batch_id, batch, headers = infer(server, rows[1:9])
    assert headers["Prediction-Id"] == batch_id and batch_id.count("-") == 2  # made by the server
    v1 = server.post("/v1/models/m:predict", {"instances": rows[9:10].tolist()})
    assert v1.status == 200 and v1.json()["id"] == v1.headers["Prediction-Id"]
    # Labels: the truth for the single row, the opposite of the prediction for batch rows 0..2, the truth for 3..7.
    ids = ["order-17", *[f"{batch_id}:{row}" for row in range(8)], v1.json()["id"]]
    labels = [one[0], *[1 - p for p in batch[:3]], *batch[3:], v1.json()["predictions"][0]]
    answer = server.post(FEEDBACK, {"ids": ids, "labels": labels})
    assert answer.status == 200, answer.body
    assert answer.json() == {
        "model_name": "m",
        "model_version": answer.json()["model_version"],
        "joined": 10,
        "unmatched": {},
        "unmatched_ids": {},
    }
    seen = scrape(server)
    assert seen[("mlaiops_model_feedback_labels_total", ())] == 10
    assert seen[("mlaiops_model_feedback_correct_total", ())] == 7
    assert sum(v for (name, _), v in seen.items() if name == "mlaiops_model_feedback_confusion_total") == 10
    assert (
        seen[("mlaiops_model_feedback_score_count", (("actual", "0"), ("positive", "false")))]
        + seen[("mlaiops_model_feedback_score_count", (("actual", "1"), ("positive", "true")))]
        == 10
    )
    assert seen[("mlaiops_model_prediction_store_ids", ())] == 10  # labelled ones stay until they leave
    # The same labels again (a client retrying after a lost answer): a 200 of duplicates, nothing joined twice.
    again = server.post(FEEDBACK, {"ids": ids[:2], "labels": labels[:2]})
    assert again.status == 200 and again.json()["unmatched"] == {"duplicate": 2}
    assert scrape(server)[("mlaiops_model_feedback_labels_total", ())] == 10
    # The versioned path answers the same way; an id never seen here, alone, is a 404 naming it.
    version = answer.json()["model_version"]
    unknown = server.post(f"/v2/models/m/versions/{version}/feedback", {"ids": ["never-seen"], "labels": [0]})
    assert unknown.status == 404, unknown.body
    assert unknown.json()["error"] == (
        "no prediction of the id is held by this server, so no label was joined: ids[0] 'never-seen' unknown (never "
        "predicted or kept by this server)"
    )
    assert unknown.json()["unmatched_ids"] == {"unknown": ["never-seen"]} and unknown.json()["joined"] == 0
    assert scrape(server)[("mlaiops_model_feedback_unmatched_total", (("reason", "unknown"),))] == 1
    wrong_version = server.post("/v2/models/m/versions/v0/feedback", {"ids": ["order-17"], "labels": [0]})
    assert wrong_version.status == 404 and "has no version 'v0'" in wrong_version.json()["error"]


def test_bad_feedback_is_a_400_naming_the_field_and_changes_nothing(servers: Servers, model_file: ModelFile) -> None:
    server = start(servers, model_file, "--max-rows", "5", "--max-request-bytes", "2048")
    prediction_id, predicted, _ = infer(server, model_file.rows[:1])
    cases = [
        ({"ids": [prediction_id], "labels": ["fraud"]}, "labels[0] 'fraud' is not one of the model's classes [0, 1]"),
        ({"ids": [prediction_id], "labels": [True]}, "labels[0] True is not one of the model's classes [0, 1]"),
        (  # a good first label does not join when a later one is wrong: the whole body is checked first
            {"ids": [prediction_id, "b"], "labels": [predicted[0], {"class": 1}]},
            "labels[1] must be one of the model's classes [0, 1]",
        ),
        ({"ids": [prediction_id], "labels": [None]}, "labels[0] must be one of the model's classes"),
        ({"ids": [prediction_id, 3], "labels": [0, 1]}, "ids[1] must be a non-empty string"),
        ({"ids": [prediction_id]}, "'labels' is required"),
        ({"ids": [prediction_id], "labels": [0, 1]}, "'labels' has 2 entries and 'ids' 1"),
        ({"ids": ["a"] * 6, "labels": [0] * 6}, "'ids' has 6 entries; this server takes at most 5"),
    ]
    for body, message in cases:
        response = server.post(FEEDBACK, body)
        assert response.status == 400, (body, response.body)
        assert message in response.json()["error"], response.json()
    assert server.post(FEEDBACK, raw=b"{not json").status == 400
    big = server.post(FEEDBACK, {"ids": ["x" * 200] * 5, "labels": [0] * 5, "pad": "y" * 3000})
    assert big.status == 413 and "--max-request-bytes" in big.json()["error"]
    wrong_model = server.post("/v2/models/other/feedback", {"ids": [prediction_id], "labels": [0]})
    assert wrong_model.status == 404 and "'other' not found" in wrong_model.json()["error"]
    assert server.post(INFER, {"id": "x" * 257, "inputs": []}).status == 400
    long_id = {
        "id": "x" * 257,
        "inputs": [{"name": "x", "shape": [1, N_FEATURES], "datatype": "FP64", "data": [0.0] * 8}],
    }
    refused = server.post(INFER, long_id)
    assert refused.status == 400 and "'id' has 257 characters; at most 256" in refused.json()["error"]
    seen = scrape(server)
    assert seen[("mlaiops_model_feedback_labels_total", ())] == 0  # none of the bad bodies joined anything
    assert all(v == 0 for (name, _), v in seen.items() if name == "mlaiops_model_feedback_unmatched_total")
    assert not [k for k, v in seen.items() if k[0] == "mlaiops_model_requests_total" and dict(k[1])["code"] >= "500"]
    good = server.post(FEEDBACK, {"ids": [prediction_id], "labels": predicted})
    assert good.json()["joined"] == 1  # the refused bodies did not use up the prediction


def test_late_labels_expire_and_ids_of_another_server_are_told_apart(servers: Servers, model_file: ModelFile) -> None:
    server = start(servers, model_file, "--feedback-ttl", "1")
    other = start(servers, model_file)
    late, _, _ = infer(server, model_file.rows[:1])
    elsewhere, _, _ = infer(other, model_file.rows[:1])
    time.sleep(1.3)
    answer = server.post(FEEDBACK, {"ids": [late, elsewhere], "labels": [0, 0]})
    assert answer.status == 404, answer.body  # neither is held here: nothing to join
    assert answer.json()["unmatched"] == {"expired": 1, "other-server": 1}
    assert f"ids[1] '{elsewhere}' other-server (made by another server process" in answer.json()["error"]
    seen = scrape(server)
    assert seen[("mlaiops_model_feedback_unmatched_total", (("reason", "expired"),))] == 1
    assert seen[("mlaiops_model_feedback_unmatched_total", (("reason", "other-server"),))] == 1
    assert seen[("mlaiops_model_prediction_store_removed_total", (("reason", "expired"),))] == 1
    assert seen[("mlaiops_model_prediction_store_ids", ())] == 0


def test_the_store_stays_bounded_under_a_flood(servers: Servers, model_file: ModelFile) -> None:
    capacity, rows, requests = 500, 100, 60
    server = start(servers, model_file, "--feedback-capacity", str(capacity))
    rng = np.random.default_rng(4)
    first, _, _ = infer(server, rng.normal(size=(rows, N_FEATURES)))
    sizes = []
    for _ in range(requests - 1):
        last, _, _ = infer(server, rng.normal(size=(rows, N_FEATURES)))
        sizes.append(scrape(server)[("mlaiops_model_prediction_store_bytes", ())])
    seen = scrape(server)
    assert seen[("mlaiops_model_prediction_store_ids", ())] == capacity
    assert (
        seen[("mlaiops_model_prediction_store_removed_total", (("reason", "evicted"),))] == rows * requests - capacity
    )
    assert max(sizes[10:]) <= sizes[9] * 1.05, sizes  # full after 5 requests: no growth after that
    assert max(sizes) < capacity * 400, max(sizes)
    answer = server.post(FEEDBACK, {"ids": [f"{first}:0", f"{last}:99"], "labels": [0, 0]})
    assert answer.json() == {**answer.json(), "joined": 1, "unmatched": {"evicted": 1}}
    assert json.loads(server.get("/v2/health/ready").body) == {"ready": True}


def test_the_demo_traffic_sends_delayed_labels_that_join(
    servers: Servers, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """The demo's load generator with label_share: its labels reach the server and join their predictions."""
    import joblib
    from mlaiops_demo.data import FEATURES, transactions
    from mlaiops_demo.traffic import Traffic
    from sklearn.linear_model import LogisticRegression

    features, labels = transactions(np.random.default_rng(1), 3000)
    path = tmp_path_factory.mktemp("demo") / "model.joblib"
    joblib.dump(LogisticRegression(max_iter=500).fit(features, labels), path)
    server = servers.start("--model-uri", path.as_uri(), "--model-name", "fraud-detector")
    server.wait_ready()
    url = f"{server.base}/v2/models/fraud-detector/infer"
    traffic = Traffic(url, len(FEATURES), rate=40, label_share=0.5, label_delay=0.3).start()
    try:
        wait_for(lambda: traffic.labels["joined"] >= 20, 30, "20 labels joined")
    finally:
        traffic.stop()
    assert set(traffic.labels) == {"joined"}, traffic.labels  # nothing unmatched, nothing failed
    assert traffic.codes[200] > traffic.labels["joined"]  # only a share of the requests is labelled
    seen = scrape(server)
    assert seen[("mlaiops_model_feedback_labels_total", ())] == traffic.labels["joined"]
    accuracy = seen[("mlaiops_model_feedback_correct_total", ())] / traffic.labels["joined"]
    assert accuracy > 0.6, accuracy  # the demo's labels are the truth the model learnt

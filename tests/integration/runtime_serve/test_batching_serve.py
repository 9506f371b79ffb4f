"""Adaptive batching in a real `mlaiops serve`: concurrent single-row requests share model calls, each client
gets its own answer and prediction id, and a bad request among them fails alone."""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from serve_support import N_FEATURES, ModelFile, Servers

pytestmark = pytest.mark.integration
REQUESTS = 48


def body(row: np.ndarray) -> dict:
    return {"inputs": [{"name": "x", "shape": [1, N_FEATURES], "datatype": "FP64", "data": row.tolist()}]}


def scraped(text: str, name: str) -> float:
    return sum(float(value) for value in re.findall(rf"^{name}{{[^}}]*}} (\S+)$", text, re.MULTILINE))


def test_concurrent_requests_share_model_calls_and_each_gets_its_own_answer(
    servers: Servers, model_file: ModelFile
) -> None:
    server = servers.start(
        "--model-uri", model_file.path.as_uri(), "--max-batch-size", "16", "--max-batch-latency", "0.05"
    )  # fmt: skip
    server.wait_ready()
    rows = np.resize(model_file.rows, (REQUESTS, N_FEATURES)) + np.arange(REQUESTS)[:, None] * 0.01
    bad = {"inputs": [{"name": "x", "shape": [1, N_FEATURES], "datatype": "FP64", "data": [float("nan")] * N_FEATURES}]}

    def ask(index: int) -> tuple[int, dict]:
        answer = server.post("/v2/models/model/infer", bad if index == 7 else body(rows[index]))
        return answer.status, answer.json()

    with ThreadPoolExecutor(max_workers=REQUESTS) as pool:
        answers = list(pool.map(ask, range(REQUESTS)))

    assert answers[7][0] == 400 and "rejected the input" in answers[7][1]["error"], answers[7]
    ids = set()
    for index, (status, answer) in enumerate(answers):
        if index == 7:
            continue
        assert status == 200, answer
        outputs = {out["name"]: out["data"] for out in answer["outputs"]}
        expected = model_file.estimator.predict_proba(rows[index : index + 1]).ravel()
        assert np.allclose(outputs["predict_proba"], expected, rtol=1e-12, atol=1e-15), index
        assert outputs["predict"] == model_file.estimator.predict(rows[index : index + 1]).tolist()
        ids.add(answer["id"])
    assert len(ids) == REQUESTS - 1  # one prediction id per request, batched or not
    metrics = server.get("/metrics").body.decode()
    calls = scraped(metrics, "mlaiops_model_call_rows_count")
    assert scraped(metrics, "mlaiops_model_call_requests_total") == REQUESTS - 1
    assert scraped(metrics, "mlaiops_model_call_rows_sum") == REQUESTS - 1
    assert calls < REQUESTS - 1, metrics  # some calls answered several requests

"""latency-vs-stable through a real Prometheus: stable's histogram before the rollout (the bounds' weights) is read
as of the rollout's start, so stable's requests after it are not in it; no stable traffic before it means equal
weights. Two `mlaiops serve` tracks scraped every second, judged by the controller's own query code."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime

import pytest
from mlaiops_sandbox.runtime.prometheus import Prometheus
from serve_support import ModelFile, ServeProcess, Servers, wait_for

from mlaiops.api.modeldeployment import AnalysisMetric
from mlaiops.controllers.modeldeployment import run_relative
from mlaiops.metrics.prometheus import PrometheusProvider
from mlaiops.rollout.analysis import QueryContext, before_rollout_query

pytestmark = pytest.mark.integration

BEFORE, DURING = 80, 60
"""Stable's requests before the rollout began, and each track's after."""


def predict(server: ServeProcess, model_file: ModelFile, requests: int) -> None:
    for index in range(requests):
        row = model_file.rows[index % len(model_file.rows)]
        body = {"inputs": [{"name": "x", "shape": [1, len(row)], "datatype": "FP64", "data": row.tolist()}]}
        assert server.post("/v2/models/fraud/infer", body).json()["outputs"]


def test_stables_histogram_before_the_rollout_weighs_the_bounds(
    servers: Servers, prometheus: Prometheus, model_file: ModelFile
) -> None:
    def start(version: str, track: str) -> ServeProcess:
        process = servers.start(
            "--model-uri", model_file.uri, "--model-name", "fraud", "--model-version", version, "--track", track
        )  # fmt: skip
        process.wait_ready()
        return process

    stable, canary = start("v1", "stable"), start("v2", "canary")
    targets = [{"targets": [f"127.0.0.1:{s.port}" for s in (stable, canary)], "labels": {"namespace": "prod"}}]
    prometheus.targets_file.write_text(json.dumps(targets))
    source = PrometheusProvider(prometheus.url)
    count = 'sum(mlaiops_model_request_duration_seconds_count{namespace="prod", track="%s"})'

    def served(track: str, requests: int) -> bool:
        answer = source.instant_sync(count % track)
        return bool(answer) and answer[0].value >= requests

    wait_for(lambda: served("stable", 0) and served("canary", 0), 30, "both servers scraped")
    time.sleep(2)  # a few scrapes of zeros: a rollout that began here had no stable traffic before it
    idle = datetime.now(UTC)
    predict(stable, model_file, BEFORE)
    wait_for(lambda: served("stable", BEFORE), 30, "stable's requests before the rollout scraped")
    time.sleep(2)
    started = datetime.now(UTC)
    time.sleep(2)  # scrapes inside the comparison window from before its requests, as a rollout's has
    predict(stable, model_file, DURING)
    predict(canary, model_file, DURING)
    wait_for(lambda: served("stable", BEFORE + DURING) and served("canary", DURING), 30, "the rollout's requests")
    time.sleep(2)
    metric = AnalysisMetric(name="latency-vs-stable", min_sample_size=DURING // 2)
    canary_context = QueryContext("fraud", "prod", "fraud", "v2", "canary", "30s")
    stable_context = QueryContext("fraud", "prod", "fraud", "v1", "stable", "10m")
    # The window before the rollout, as of its start: stable's requests then (increase() extrapolates a little),
    # none of those it served after.
    query = before_rollout_query(metric, stable_context)
    at_start = {s.labels["le"]: s.value for s in source.instant_sync(query, at=started)}
    assert BEFORE <= at_start["+Inf"] <= BEFORE * 1.3, at_start
    window = f"{int((datetime.now(UTC) - started).total_seconds()) + 1}s"
    weighted = run_relative(source, metric, canary_context, "v1", window, started)
    assert weighted.outcome in ("Successful", "Failed"), weighted
    assert "% of the weight on stable's tail before the rollout: " in weighted.message, weighted
    # A rollout that began before stable served anything: no histogram to weigh by, equal weights (said so).
    assert all(s.value == 0 for s in source.instant_sync(query, at=idle)), source.instant_sync(query, at=idle)
    window = f"{int((datetime.now(UTC) - idle).total_seconds()) + 1}s"
    equal = run_relative(source, metric, canary_context, "v1", window, idle)
    assert equal.outcome in ("Successful", "Failed") and "bounds weighted equally" in equal.message, equal

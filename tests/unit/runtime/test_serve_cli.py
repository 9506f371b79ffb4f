"""`mlaiops serve` configuration: flags over MLAIOPS_* variables over defaults, and clear refusals."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from mlaiops.runtime import serve
from mlaiops.runtime.server import ServeConfig, default_version


def config(argv: list[str], environ: dict[str, str] | None = None) -> ServeConfig:
    parser = argparse.ArgumentParser()
    serve.register(parser.add_subparsers(), environ=environ or {})
    return serve.config_from_args(parser.parse_args(["serve", *argv]))


def test_defaults() -> None:
    got = config(["--model-uri", "file:///m.joblib"])
    assert got.model_name == "model"
    assert got.model_format == "sklearn"
    assert got.track == "stable"
    assert got.port == 8080
    assert got.host == "0.0.0.0"
    assert got.pvc_root == Path("/mnt/pvc")
    assert got.max_feature_metrics == 20
    assert got.metrics_port is None
    assert got.version == default_version("file:///m.joblib")
    assert len(got.version) == 12


def test_environment_then_flags() -> None:
    environ = {
        "MLAIOPS_MODEL_URI": "pvc://models/fraud/v3",
        "MLAIOPS_MODEL_NAME": "fraud",
        "MLAIOPS_MODEL_VERSION": "v3",
        "MLAIOPS_MODEL_SHA256": "A" * 64,
        "MLAIOPS_TRACK": "canary",
        "MLAIOPS_PVC_ROOT": "/sandbox/volumes/ns",
        "MLAIOPS_MAX_FEATURE_METRICS": "5",
        "MLAIOPS_METRICS_PORT": "9091",
        "PORT": "9000",
    }
    got = config([], environ)
    assert (got.model_uri, got.model_name, got.version, got.track) == ("pvc://models/fraud/v3", "fraud", "v3", "canary")
    assert got.sha256 == "a" * 64
    assert got.pvc_root == Path("/sandbox/volumes/ns")
    assert got.port == 9000
    assert got.metrics_port == 9091
    assert got.max_feature_metrics == 5
    assert config([], {**environ, "MLAIOPS_PORT": "9100"}).port == 9100
    flagged = config(["--track", "stable", "--port", "7000", "--model-version", "v4"], environ)
    assert (flagged.track, flagged.port, flagged.version) == ("stable", 7000, "v4")


def test_prediction_buckets_flag() -> None:
    assert config(["--model-uri", "file:///m", "--prediction-buckets", "10,1,100"]).prediction_buckets == (1, 10, 100)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ([], "--model-uri (or MLAIOPS_MODEL_URI) is required"),
        (["--model-uri", "file:///m", "--sha256", "abc"], "--sha256 must be 64 hex digits"),
        (["--model-uri", "file:///m", "--prediction-buckets", "a,b"], "--prediction-buckets must be numbers"),
        (["--model-uri", "file:///m", "--metrics-path", "metrics"], "--metrics-path must start with /"),
        (["--model-uri", "file:///m", "--max-request-bytes", "10"], "--max-request-bytes must be at least 1024"),
        (["--model-uri", "file:///m", "--max-rows", "0"], "--max-rows must be at least 1"),
        (
            ["--model-uri", "file:///m", "--max-concurrent-requests", "0"],
            "--max-concurrent-requests must be at least 1",
        ),
        (["--model-uri", "file:///m", "--body-timeout", "0"], "--body-timeout must be a positive number"),
        (["--model-uri", "file:///m", "--max-batch-size", "0"], "--max-batch-size must be 1..--max-rows (10000)"),
        (
            ["--model-uri", "file:///m", "--max-rows", "8", "--max-batch-size", "9"],
            "--max-batch-size must be 1..--max-rows (8), got 9",
        ),
        (["--model-uri", "file:///m", "--max-batch-latency", "-0.1"], "--max-batch-latency must be 0..1 seconds"),
        (["--model-uri", "file:///m", "--max-batch-latency", "1.5"], "--max-batch-latency must be 0..1 seconds"),
        (["--model-uri", "file:///m", "--header-timeout", "-1"], "--header-timeout must be a positive number"),
    ],
)
def test_invalid_configuration(argv: list[str], message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        config(argv)


def test_serve_is_a_subcommand() -> None:
    from mlaiops.cli import build_parser

    args = build_parser().parse_args(["serve", "--model-uri", "file:///m.joblib", "--track", "canary"])
    assert args.func is serve._serve
    assert args.track == "canary"


def test_limits_have_small_defaults_and_come_from_the_environment() -> None:
    got = config(["--model-uri", "file:///m"])
    assert (got.max_request_bytes, got.max_rows, got.max_concurrent_requests) == (8 * 1024 * 1024, 10_000, 4)
    assert (got.header_timeout, got.body_timeout, got.file_root) == (15.0, 30.0, Path("/models"))
    environ = {"MLAIOPS_MAX_ROWS": "50", "MLAIOPS_MAX_REQUEST_BYTES": "2048", "MLAIOPS_FILE_ROOT": "/srv"}
    got = config(["--model-uri", "file:///m"], environ)
    assert (got.max_rows, got.max_request_bytes, got.file_root) == (50, 2048, Path("/srv"))
    assert config(["--model-uri", "file:///m", "--max-rows", "7"], environ).max_rows == 7


def test_batching_is_off_by_default_and_set_by_flag_or_environment() -> None:
    got = config(["--model-uri", "file:///m"])
    assert (got.max_batch_size, got.max_batch_latency) == (1, 0.005)
    environ = {"MLAIOPS_MAX_BATCH_SIZE": "32", "MLAIOPS_MAX_BATCH_LATENCY": "0.01"}
    got = config(["--model-uri", "file:///m"], environ)
    assert (got.max_batch_size, got.max_batch_latency) == (32, 0.01)
    assert config(["--model-uri", "file:///m", "--max-batch-size", "8"], environ).max_batch_size == 8

"""The trainer's side of MLflow: log one run with its params, metrics, lineage tags and the model.

Runs inside the training Job, the only place that holds the model. Logging is best effort: a
missing package or an unreachable server becomes ``mlflowError`` in the summary and the run's
model is still written and judged.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from mlaiops.retrain.mlflow_lineage import CLIENT_ENV, RUN_TAG

MODEL_NAME = "model"


def params_of(args: Any, params: dict[str, Any] | None, features: list[str] | None) -> dict[str, Any]:
    """Everything that decides the model: estimator, its parameters, the split and the data columns."""
    logged: dict[str, Any] = {
        "estimator": args.estimator,
        "test_size": args.test_size,
        "seed": args.seed,
        "target": args.target,
        "dataset_format": args.dataset_format,
    }
    if features:
        logged["features"] = ",".join(features)
    if args.sensitive_attribute:
        logged["sensitive_attribute"] = args.sensitive_attribute
    for key, value in (params or {}).items():
        logged[key] = json.dumps(value) if isinstance(value, (dict, list)) else value
    return logged


def metrics_of(summary: dict[str, Any]) -> dict[str, float]:
    """Candidate metrics and fairness gaps as they are; the champion's, on the same split, prefixed."""
    logged: dict[str, float] = {"rows": float(summary.get("rows") or 0)}
    for key, prefix in (
        ("metrics", ""),
        ("fairness", ""),
        ("championMetrics", "champion_"),
        ("championFairness", "champion_"),
    ):
        for name, value in (summary.get(key) or {}).items():
            logged[f"{prefix}{name}"] = float(value)
    return logged


def tags_of(summary: dict[str, Any], environment: str | None) -> dict[str, str]:
    """The operator's lineage tags (from the Job) plus the data and the artifact the ModelDeployment serves."""
    try:
        tags: dict[str, str] = {str(k): str(v) for k, v in json.loads(environment or "{}").items()}
    except (json.JSONDecodeError, AttributeError):
        tags = {}
    tags |= {
        "mlaiops.dev/dataset-uri": str(summary.get("datasetUri") or ""),
        "mlaiops.dev/dataset-sha256": str(summary.get("datasetSha256") or ""),
        "mlaiops.dev/model-uri": str(summary.get("modelUri") or ""),
        "mlaiops.dev/sha256": str(summary.get("sha256") or ""),
        "mlaiops.dev/profile-sha256": str(summary.get("profileSha256") or ""),
    }
    return {key: value for key, value in tags.items() if value}


def log_run(
    tracking_uri: str,
    experiment: str | None,
    model: Any,
    params: dict[str, Any],
    summary: dict[str, Any],
    tags: dict[str, str],
    output: Path,
) -> dict[str, str]:
    """Log the run; returns ``mlflowRunId`` and ``mlflowModelUri``, or ``mlflowError`` (and the run id, if any)."""
    for name, value in CLIENT_ENV.items():
        os.environ.setdefault(name, value)
    try:
        import mlflow
        import mlflow.sklearn
    except ImportError:
        return {"mlflowError": "the mlflow package is not installed in the trainer's image; install mlaiops[mlflow]"}
    result: dict[str, str] = {}
    try:
        mlflow.set_tracking_uri(tracking_uri)
        mlflow.set_experiment(experiment or "mlaiops")
        run_name = tags.get(RUN_TAG) or summary.get("runId") or None
        with mlflow.start_run(run_name=run_name, tags=tags) as active:
            result["mlflowRunId"] = active.info.run_id
            mlflow.log_params(params)
            mlflow.log_metrics(metrics_of(summary))
            if (output / "metrics.json").exists():
                mlflow.log_artifact(str(output / "metrics.json"))
            if (output / "profile.json").exists():
                mlflow.log_artifact(str(output / "profile.json"))
            info = mlflow.sklearn.log_model(model, name=MODEL_NAME, **_serialization())
            result["mlflowModelUri"] = info.model_uri
    except Exception as error:  # MLflow raises its own errors, requests' and OSError: all mean "not logged"
        result["mlflowError"] = f"logging to MLflow at {tracking_uri} failed: {type(error).__name__}: {error}"[:400]
    return result


def _serialization() -> dict[str, Any]:
    """skops (no pickle) when it is installed; requirements given, so MLflow does not spend seconds inferring them."""
    import mlflow.sklearn

    try:
        import skops  # noqa: F401
    except ImportError:
        skops_format = False
    else:
        skops_format = True
    return {
        "serialization_format": mlflow.sklearn.SERIALIZATION_FORMAT_SKOPS
        if skops_format
        else mlflow.sklearn.SERIALIZATION_FORMAT_CLOUDPICKLE,
        "pip_requirements": mlflow.sklearn.get_default_pip_requirements(
            include_cloudpickle=not skops_format, include_skops=skops_format
        ),
    }

"""`mlaiops train`: the built-in trainer run by RetrainPolicy Jobs.

The contract (custom trainers follow it too): inputs come from ``MLAIOPS_*`` environment
variables (flags override them); the trainer writes ``model.joblib``, ``model.sha256``,
``metrics.json`` and the reference profile ``profile.json`` (the training data's distribution per
named feature and of the prediction, which the model server counts live traffic against; its sha256
is ``profileSha256`` in the summary) into ``MLAIOPS_OUTPUT_URI`` and one line of JSON to the termination message
file (``/dev/termination-log``), which the controller reads from the pod's status.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import sys
from pathlib import Path
from typing import Any

TERMINATION_LIMIT = 4096  # bytes Kubernetes keeps of a termination message
PROFILE_FILENAME = "profile.json"  # detection.profile.FILENAME, without importing numpy for --help


def _env(name: str, default: str | None = None) -> str | None:
    return os.environ.get(f"MLAIOPS_{name}", default)


def _load_table(path: Path, fmt: str) -> Any:
    from mlaiops.runtime.training import TrainingError, read_csv

    if fmt == "parquet" or (fmt == "auto" and path.suffix == ".parquet"):
        try:
            import pyarrow.parquet as parquet
        except ImportError:
            raise TrainingError("reading Parquet needs the pyarrow package; install mlaiops[parquet]") from None
        import numpy as np

        from mlaiops.runtime.training import Table

        table = parquet.read_table(path)
        return Table({name: np.asarray(table.column(name).to_pylist()) for name in table.column_names})
    return read_csv(path.read_text())


def _bins(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--profile-bins must be an integer, got {text!r}") from None
    if not 2 <= value <= 50:
        raise argparse.ArgumentTypeError(f"--profile-bins must be between 2 and 50, got {value}")
    return value


def write_termination_message(path: Path, summary: dict[str, Any]) -> None:
    """One JSON line, trimmed to what Kubernetes keeps (importances go first)."""
    text = json.dumps(summary, separators=(",", ":"), sort_keys=True)
    if len(text.encode()) > TERMINATION_LIMIT:
        summary = {key: value for key, value in summary.items() if key != "topFeatures"}
        text = json.dumps(summary, separators=(",", ":"), sort_keys=True)[:TERMINATION_LIMIT]
    try:
        path.write_text(text + "\n")
    except OSError as error:  # outside a pod there may be no /dev/termination-log
        print(f"could not write the termination message to {path}: {error}", file=sys.stderr)


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Train once and write every output; returns the summary."""
    import joblib

    from mlaiops.runtime import loaders, storage
    from mlaiops.runtime.training import TrainingError, train

    pvc_root, file_root = Path(args.pvc_root), Path(args.file_root)
    if not args.dataset_uri or not args.target or not args.output_uri:
        raise TrainingError(
            "set the dataset URI, the target column and the output URI (MLAIOPS_DATASET_URI, MLAIOPS_DATASET_TARGET, MLAIOPS_OUTPUT_URI)"
        )
    dataset = asyncio.run(storage.fetch(args.dataset_uri, pvc_root=pvc_root, file_root=file_root))
    table = _load_table(dataset.path, args.dataset_format)
    champion = None
    if args.champion_uri:
        artifact = asyncio.run(
            storage.fetch(
                args.champion_uri,
                pvc_root=pvc_root,
                file_root=file_root,
                filenames=("model.skops", "model.joblib"),
                sha256=args.champion_sha256 or None,
            )
        )
        # A joblib champion is a pickle: the operator passes its sha256 (and, with MLAIOPS_REQUIRE_SHA256,
        # starts no run without one), so only the promoted artifact itself is ever unpickled.
        champion = loaders.load_estimator(artifact.path)
    params = json.loads(args.params) if args.params else None
    features = [name.strip() for name in args.features.split(",") if name.strip()] if args.features else None
    result = train(
        table,
        target=args.target,
        estimator=args.estimator,
        params=params,
        features=features,
        sensitive=args.sensitive_attribute,
        test_size=args.test_size,
        seed=args.seed,
        champion=champion,
        profile_bins=args.profile_bins,
    )
    output = storage.local_path(args.output_uri, pvc_root, file_root)
    if output is None:
        raise TrainingError(f"output {args.output_uri}: the built-in trainer writes to file:// or pvc:// only")
    output.mkdir(parents=True, exist_ok=True)
    model_path = output / "model.joblib"
    joblib.dump(result.model, model_path)
    digest = storage.sha256_file(model_path)
    (output / "model.sha256").write_text(digest + "\n")
    profile_text = result.profile.to_json() if result.profile is not None else None
    if profile_text is not None:
        (output / PROFILE_FILENAME).write_text(profile_text)
    summary = {
        "runId": args.run_id,
        "modelUri": args.output_uri.rstrip("/") + "/model.joblib",
        "sha256": digest,
        "datasetUri": args.dataset_uri,
        "datasetSha256": dataset.sha256,
        "rows": result.rows,
        "estimator": args.estimator,
        "metrics": result.metrics,
        "championMetrics": result.champion_metrics,
        "fairness": result.fairness,
        "championFairness": result.champion_fairness,
        "topFeatures": [name for name, _ in result.importances],
    }
    if profile_text is not None:
        summary["profileUri"] = args.output_uri.rstrip("/") + "/" + PROFILE_FILENAME
        summary["profileSha256"] = hashlib.sha256(profile_text.encode()).hexdigest()
    (output / "metrics.json").write_text(
        json.dumps({**summary, "importances": dict(result.importances)}, indent=2, sort_keys=True) + "\n"
    )
    if args.mlflow_tracking_uri:
        from mlaiops.runtime import mlflow_logging

        summary |= mlflow_logging.log_run(
            args.mlflow_tracking_uri,
            args.mlflow_experiment,
            result.model,
            mlflow_logging.params_of(args, params, features),
            summary,
            mlflow_logging.tags_of(summary, args.mlflow_tags),
            output,
        )
    write_termination_message(Path(args.termination_log), summary)
    return summary


def _run(args: argparse.Namespace) -> int:
    from mlaiops.runtime.loaders import LoadError
    from mlaiops.runtime.storage import StorageError
    from mlaiops.runtime.training import TrainingError

    try:
        summary = run(args)
    except (TrainingError, StorageError, LoadError, ValueError) as error:
        message = f"training failed: {error}"
        print(message, file=sys.stderr)
        write_termination_message(Path(args.termination_log), {"runId": args.run_id, "error": str(error)})
        return 1
    print(json.dumps(summary, sort_keys=True))
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "train",
        help="train a model (the RetrainPolicy Job)",
        description="Train an allowlisted scikit-learn estimator; every flag defaults to its MLAIOPS_* variable.",
    )
    parser.add_argument(
        "--dataset-uri", default=_env("DATASET_URI"), help="CSV or Parquet: file://, pvc://, http(s)://"
    )
    parser.add_argument("--target", default=_env("DATASET_TARGET"), help="column to predict")
    parser.add_argument("--features", default=_env("DATASET_FEATURES"), help="comma-separated feature columns")
    parser.add_argument("--dataset-format", default=_env("DATASET_FORMAT", "auto"), choices=["auto", "csv", "parquet"])
    parser.add_argument("--estimator", default=_env("ESTIMATOR", "RandomForestClassifier"))
    parser.add_argument("--params", default=_env("PARAMS"), help="estimator parameters as JSON")
    parser.add_argument("--test-size", type=float, default=float(_env("TEST_SIZE", "0.25") or 0.25))
    parser.add_argument(
        "--profile-bins",
        type=_bins,
        default=_bins(_env("PROFILE_BINS", "10") or "10"),
        help="quantile bins per numeric feature in the reference profile (2..50, default 10)",
    )
    parser.add_argument("--seed", type=int, default=int(_env("SEED", "42") or 42))
    parser.add_argument("--sensitive-attribute", default=_env("SENSITIVE_ATTRIBUTE"))
    parser.add_argument(
        "--champion-uri", default=_env("CHAMPION_URI"), help="the current model, scored on the same split"
    )
    parser.add_argument("--champion-sha256", default=_env("CHAMPION_SHA256"))
    parser.add_argument("--output-uri", default=_env("OUTPUT_URI"), help="folder for model.joblib and metrics.json")
    parser.add_argument(
        "--mlflow-tracking-uri",
        default=os.environ.get("MLFLOW_TRACKING_URI"),
        help="log the run, its metrics and the model to this MLflow server (best effort)",
    )
    parser.add_argument("--mlflow-experiment", default=os.environ.get("MLFLOW_EXPERIMENT_NAME"))
    parser.add_argument("--mlflow-tags", default=_env("MLFLOW_TAGS"), help="run tags as a JSON object")
    parser.add_argument("--run-id", default=_env("RUN_ID", "local"))
    parser.add_argument("--pvc-root", default=_env("PVC_ROOT", "/mnt/pvc"))
    parser.add_argument(
        "--file-root",
        default=_env("FILE_ROOT", "/models"),
        help="folder file:// URIs must point under (default: /models)",
    )
    parser.add_argument("--termination-log", default=_env("TERMINATION_LOG", "/dev/termination-log"))
    parser.set_defaults(func=_run)

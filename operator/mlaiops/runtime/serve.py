"""`mlaiops serve`: the built-in model server (Open Inference V2 + KServe V1 + Prometheus /metrics).

Every flag has an environment variable: ``MLAIOPS_`` + the flag name in upper snake case
(``--model-uri`` -> ``MLAIOPS_MODEL_URI``); the port also honours ``PORT``. Flags win over
the environment, the environment over defaults.

Limits keep one client from knocking the server over: bodies over ``--max-request-bytes``
(8 MiB) get 413, requests over ``--max-rows`` (10,000) or malformed ones 400, bodies slower than
``--body-timeout`` (30 s) 408; at most ``--max-concurrent-requests`` (4) are read and processed at
once. None of these is counted as a 5xx, so a client cannot make a good canary look bad.
Ground-truth labels (``POST /v2/models/NAME/feedback``) are joined to the last ``--feedback-capacity``
predictions younger than ``--feedback-ttl`` (docs/feedback.md).
``file://`` URIs must point under ``--file-root`` (/models).
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

TRACKS = ("stable", "canary")
_SHA256 = re.compile(r"^[a-fA-F0-9]{64}$")


def _env(environ: Mapping[str, str], flag: str) -> str | None:
    return environ.get("MLAIOPS_" + flag.upper().replace("-", "_")) or None


def _bool(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes", "on")


def register(subparsers: Any, environ: Mapping[str, str] | None = None) -> None:
    """Add ``serve``; defaults come from ``environ`` as strings, so argparse reports bad values."""
    env = os.environ if environ is None else environ
    parser = subparsers.add_parser(
        "serve",
        help="serve a model over the Open Inference (V2) and KServe V1 protocols, with Prometheus metrics",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add = parser.add_argument
    add("--model-uri", default=_env(env, "model-uri"), help="file://, pvc://<claim>/<path>, http(s):// or s3:// URI")
    add("--model-name", default=_env(env, "model-name") or "model", help="name in the protocol (default: model)")
    add("--model-version", default=_env(env, "model-version") or "", help="version label (default: hash of the URI)")
    add("--model-format", default=_env(env, "model-format") or "sklearn", help="model format (default: sklearn)")
    add(
        "--sha256",
        default=_env(env, "sha256") or _env(env, "model-sha256"),
        help="expected sha256 of the artifact; a mismatch never gets ready (env MLAIOPS_SHA256 or MLAIOPS_MODEL_SHA256)",
    )
    add(
        "--profile-uri",
        default=_env(env, "profile-uri"),
        help="reference profile (profile.json) for the drift sketches (default: profile.json beside a "
        "file:// or pvc:// model, if there is one; 'none' turns them off)",
    )
    add("--track", default=_env(env, "track") or "stable", choices=TRACKS, help="metrics label (default: stable)")
    add("--host", default=_env(env, "host") or "0.0.0.0", help="address to listen on (default: 0.0.0.0)")
    add(
        "--port",
        type=int,
        default=_env(env, "port") or env.get("PORT") or "8080",
        help="port to listen on (default: 8080; env MLAIOPS_PORT or PORT)",
    )
    add(
        "--metrics-port",
        type=int,
        default=_env(env, "metrics-port"),
        help="also serve the metrics on this port (default: only on --port)",
    )
    add("--metrics-path", default=_env(env, "metrics-path") or "/metrics", help="metrics path (default: /metrics)")
    add(
        "--pvc-root",
        default=_env(env, "pvc-root") or "/mnt/pvc",
        help="folder where claims are mounted: pvc://<claim>/<path> -> <pvc-root>/<claim>/<path> (default: /mnt/pvc)",
    )
    add(
        "--file-root",
        default=_env(env, "file-root") or "/models",
        help="folder file:// URIs must point under (default: /models; / allows any path)",
    )
    add("--download-dir", default=_env(env, "download-dir"), help="where http(s)/s3 downloads go (default: temp dir)")
    add(
        "--max-feature-metrics",
        type=int,
        default=_env(env, "max-feature-metrics") or "20",
        help="input features with their own mean series in /metrics (default: 20; 0 = none)",
    )
    add(
        "--prediction-buckets",
        default=_env(env, "prediction-buckets"),
        help="comma-separated upper bounds of the prediction histogram (default: 0.05 steps up to 1.0)",
    )
    add(
        "--max-request-bytes",
        type=int,
        default=_env(env, "max-request-bytes") or str(8 * 1024 * 1024),
        help="largest inference body accepted, in bytes; larger ones get 413 (default: 8388608 = 8 MiB)",
    )
    add(
        "--max-rows",
        type=int,
        default=_env(env, "max-rows") or "10000",
        help="most rows in one inference request; more get 400 (default: 10000)",
    )
    add(
        "--max-concurrent-requests",
        type=int,
        default=_env(env, "max-concurrent-requests") or "4",
        help="inference requests read and processed at once; the others wait unread (default: 4)",
    )
    add(
        "--max-batch-size",
        type=int,
        default=_env(env, "max-batch-size") or "1",
        help="adaptive batching: most rows in one model call shared by concurrent requests; also lets that many "
        "requests in at once (default: 1 = no batching)",
    )
    add(
        "--max-batch-latency",
        type=float,
        default=_env(env, "max-batch-latency") or "0.005",
        help="adaptive batching: most seconds a request waits for others to share its model call (default: 0.005)",
    )
    add(
        "--header-timeout",
        type=float,
        default=_env(env, "header-timeout") or "15",
        help="seconds a connection may take to send a request's headers, or stay idle (default: 15)",
    )
    add(
        "--body-timeout",
        type=float,
        default=_env(env, "body-timeout") or "30",
        help="seconds a client may take to send an inference body; slower ones get 408 (default: 30)",
    )
    add(
        "--feedback-capacity",
        type=int,
        default=_env(env, "feedback-capacity") or "100000",
        help="predictions (rows) kept for joining ground-truth labels sent later to /v2/models/NAME/feedback; "
        "the oldest go first (default: 100000, about 20 MB; 0 = keep none)",
    )
    add(
        "--feedback-ttl",
        type=float,
        default=_env(env, "feedback-ttl") or "3600",
        help="seconds a prediction waits for its label before it expires (default: 3600)",
    )
    add("--access-log", action="store_true", default=_bool(_env(env, "access-log")), help="log every request")
    add(
        "--exit-on-load-failure",
        action="store_true",
        default=_bool(_env(env, "exit-on-load-failure")),
        help="exit with code 3 when the model can never load, instead of staying live and not ready, after writing "
        "the reason to --termination-log",
    )
    add(
        "--termination-log",
        default=_env(env, "termination-log") or "/dev/termination-log",
        help="the container's termination message file (default: /dev/termination-log; env MLAIOPS_TERMINATION_LOG)",
    )
    add("--log-level", default=_env(env, "log-level") or "INFO", help="DEBUG, INFO, WARNING or ERROR (default: INFO)")
    parser.set_defaults(func=_serve)


def config_from_args(args: argparse.Namespace) -> Any:
    """Validate the flags into a :class:`~mlaiops.runtime.server.ServeConfig`; ValueError says which is wrong."""
    from mlaiops.runtime.metrics import PREDICTION_BUCKETS
    from mlaiops.runtime.server import ServeConfig

    if not args.model_uri:
        raise ValueError("--model-uri (or MLAIOPS_MODEL_URI) is required")
    if args.sha256 is not None and not _SHA256.match(args.sha256):
        raise ValueError(f"--sha256 must be 64 hex digits, got {args.sha256!r}")
    if not 0 <= args.port <= 65535:
        raise ValueError(f"--port must be 0..65535, got {args.port}")
    if args.metrics_port is not None and not 1 <= args.metrics_port <= 65535:
        raise ValueError(f"--metrics-port must be 1..65535, got {args.metrics_port}")
    if not args.metrics_path.startswith("/"):
        raise ValueError(f"--metrics-path must start with /, got {args.metrics_path!r}")
    if args.max_feature_metrics < 0:
        raise ValueError("--max-feature-metrics must be >= 0")
    if args.max_request_bytes < 1024:
        raise ValueError(f"--max-request-bytes must be at least 1024, got {args.max_request_bytes}")
    if args.max_rows < 1:
        raise ValueError(f"--max-rows must be at least 1, got {args.max_rows}")
    if args.max_concurrent_requests < 1:
        raise ValueError(f"--max-concurrent-requests must be at least 1, got {args.max_concurrent_requests}")
    if not 1 <= args.max_batch_size <= args.max_rows:
        raise ValueError(f"--max-batch-size must be 1..--max-rows ({args.max_rows}), got {args.max_batch_size}")
    if not 0 <= args.max_batch_latency <= 1:
        raise ValueError(f"--max-batch-latency must be 0..1 seconds, got {args.max_batch_latency}")
    for flag, value in (("--header-timeout", args.header_timeout), ("--body-timeout", args.body_timeout)):
        if not value > 0:
            raise ValueError(f"{flag} must be a positive number of seconds, got {value}")
    if not 0 <= args.feedback_capacity <= 100_000_000:
        raise ValueError(f"--feedback-capacity must be 0..100000000, got {args.feedback_capacity}")
    if not args.feedback_ttl > 0:
        raise ValueError(f"--feedback-ttl must be a positive number of seconds, got {args.feedback_ttl}")
    buckets = PREDICTION_BUCKETS
    if args.prediction_buckets:
        try:
            buckets = tuple(sorted(float(part) for part in args.prediction_buckets.split(",") if part.strip()))
        except ValueError:
            raise ValueError(
                f"--prediction-buckets must be numbers separated by commas, got {args.prediction_buckets!r}"
            ) from None
        if not buckets:
            raise ValueError("--prediction-buckets needs at least one bound")
    return ServeConfig(
        model_uri=args.model_uri,
        model_name=args.model_name,
        model_version=args.model_version,
        model_format=args.model_format,
        sha256=args.sha256.lower() if args.sha256 else None,
        profile_uri=args.profile_uri or None,
        track=args.track,
        host=args.host,
        port=args.port,
        metrics_port=args.metrics_port,
        metrics_path=args.metrics_path,
        pvc_root=Path(args.pvc_root),
        file_root=Path(args.file_root),
        download_dir=Path(args.download_dir) if args.download_dir else None,
        max_feature_metrics=args.max_feature_metrics,
        prediction_buckets=buckets,
        max_request_bytes=args.max_request_bytes,
        max_rows=args.max_rows,
        max_concurrent_requests=args.max_concurrent_requests,
        max_batch_size=args.max_batch_size,
        max_batch_latency=args.max_batch_latency,
        header_timeout=args.header_timeout,
        body_timeout=args.body_timeout,
        access_log=args.access_log,
        feedback_capacity=args.feedback_capacity,
        feedback_ttl=args.feedback_ttl,
        exit_on_load_failure=args.exit_on_load_failure,
        termination_log=Path(args.termination_log) if args.termination_log else None,
    )


def _serve(args: argparse.Namespace) -> int:
    import asyncio
    import logging

    try:
        config = config_from_args(args)
    except ValueError as error:
        print(f"mlaiops serve: {error}", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=args.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    from threadpoolctl import threadpool_limits

    from mlaiops.runtime.server import serve

    # One request is a few rows: native thread pools (OpenMP, BLAS) only add spin-up and contention
    # with the other pods on the node. A server process scales out by replicas instead.
    threadpool_limits(1)
    return asyncio.run(serve(config))

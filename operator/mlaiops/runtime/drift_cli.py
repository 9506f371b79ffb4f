"""`mlaiops drift`: score a current CSV against a reference CSV or a model's reference profile.

The reference CSV is profiled exactly as ``mlaiops train`` profiles its training split, and each
feature is scored with the same functions the AnomalyRule ``drift`` detector uses, so a number seen
here is the number a rule would fire on. Prints one JSON object, per feature
``{"score": float, "drifted": bool}``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

METHODS = ("psi", "ks", "jensenShannon", "wasserstein")


def score_table(
    reference: Any, current: Any, method: str, drift_threshold: float | None, features: list[str] | None
) -> dict[str, dict[str, Any]]:
    """Per feature score and verdict of ``current`` (a Table) against ``reference`` (a Profile)."""
    import numpy as np

    from mlaiops.detection import drift
    from mlaiops.detection.profile import PREDICTION, ProfileError

    threshold = drift.DEFAULT_THRESHOLDS[method].drift if drift_threshold is None else drift_threshold
    names = features or [name for name in reference.all_names() if name != PREDICTION or name in current.columns]
    result: dict[str, dict[str, Any]] = {}
    for name in names:
        feature = reference.get(name)
        if name not in current.columns:
            raise ProfileError(f"feature {name!r} is not a column of the current data")
        counts = feature.count(current.columns[name])
        if counts.sum() == 0:
            raise ProfileError(f"feature {name!r} has no countable value in the current data")
        value = drift.score(method, np.asarray(feature.counts), counts, feature.categorical)
        result[name] = {"score": round(value, 6), "drifted": bool(value >= threshold)}
    return result


def _read_table(path: str) -> Any:
    from mlaiops.runtime.training import read_csv

    return read_csv(Path(path).read_text())


def run(args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    from mlaiops.detection.profile import Profile, build

    features = [f.strip() for f in args.features.split(",") if f.strip()] if args.features else None
    if args.profile:
        if len(args.data) != 1:
            raise ValueError("with --profile, give one CSV: the current data")
        reference = Profile.from_json(Path(args.profile).read_text())
        current = _read_table(args.data[0])
    else:
        if len(args.data) != 2:
            raise ValueError("give REFERENCE and CURRENT CSVs, or --profile FILE and CURRENT")
        table = _read_table(args.data[0])
        current = _read_table(args.data[1])
        chosen = features or [name for name in table.columns if name in current.columns]
        missing = [name for name in chosen if name not in table.columns]
        if missing:
            raise ValueError(f"feature {missing[0]!r} is not a column of the reference data")
        reference = build({name: table.columns[name] for name in chosen}, bins=args.bins)
    return score_table(reference, current, args.method, args.threshold, features)


def _run(args: argparse.Namespace) -> int:
    from mlaiops.runtime.training import TrainingError

    try:
        result = run(args)
    except (OSError, ValueError, TrainingError) as error:  # ProfileError is a ValueError
        print(f"mlaiops drift: {error}", file=sys.stderr)
        return 2
    print(json.dumps(result, indent=2))
    return 0


def _bins(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--bins must be an integer, got {text!r}") from None
    if not 2 <= value <= 50:
        raise argparse.ArgumentTypeError(f"--bins must be between 2 and 50, got {value}")
    return value


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "drift",
        help="score drift of a CSV against a reference CSV or profile",
        description="Score each feature of CURRENT against REFERENCE (a CSV, profiled with quantile bins) or "
        "against --profile (a model's profile.json). Prints {feature: {score, drifted}} as JSON.",
    )
    parser.add_argument("data", nargs="+", metavar="CSV", help="REFERENCE CURRENT, or only CURRENT with --profile")
    parser.add_argument("--method", choices=METHODS, default="psi", help="drift score (default: psi)")
    parser.add_argument("--profile", help="reference profile (profile.json written by mlaiops train)")
    parser.add_argument("--features", help="comma-separated features to score (default: all shared)")
    parser.add_argument("--bins", type=_bins, default=10, help="quantile bins of a reference CSV (default: 10)")
    parser.add_argument(
        "--threshold",
        type=float,
        help="score at or above which a feature is drifted (default per method: psi 0.25, ks 0.1, "
        "jensenShannon 0.1, wasserstein 0.1)",
    )
    parser.set_defaults(func=_run)

"""`mlaiops detect`: run the operator's detection engine over a ``timestamp,value`` CSV.

Writes ``timestamp,value,anomaly_score,is_anomaly`` with one row per input row in file order;
``is_anomaly`` is the decision after hysteresis (Firing = 1). Used by benchmarks/nab.py and handy
for trying a detector's settings on exported data before putting them in an AnomalyRule.
"""

from __future__ import annotations

import argparse
from typing import Any

_TYPES = ("auto", "threshold", "zscore", "mad", "ewma", "seasonal", "isolationForest", "forecast")


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "detect",
        help="score a timestamp,value CSV with a detector (the engine the operator runs)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("input", help="CSV with a header and columns timestamp,value")
    parser.add_argument("-o", "--output", required=True, help="where to write the scored CSV")
    parser.add_argument("--detector", default="auto", choices=_TYPES, help="detector type (default auto)")
    parser.add_argument(
        "--set",
        dest="settings",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="detector parameter (camelCase or snake_case; VALUE parsed as JSON when it can be; "
        "dotted keys for nested fields, e.g. minDeviation.absolute=2); repeatable",
    )
    parser.add_argument("--for", dest="for_", type=int, default=1, help="consecutive anomalous points to fire")
    parser.add_argument("--keep-firing-for", type=int, default=0, help="normal points a firing alert needs to resolve")
    parser.add_argument(
        "--explain",
        action="store_true",
        help="print, for each firing, the channel with the highest score, that score and the likelihood of the recent scores",
    )
    parser.set_defaults(func=_detect)


def parse_settings(pairs: list[str]) -> dict[str, Any]:
    """``["a=1", "b.c=x"]`` -> ``{"a": 1, "b": {"c": "x"}}`` (values JSON-decoded when possible)."""
    import json

    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key:
            raise ValueError(f"--set expects KEY=VALUE, got {pair!r}")
        try:
            value: Any = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        *parents, leaf = key.split(".")
        node = out
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return out


def with_shipped_defaults(detector: str, settings: dict[str, Any]) -> dict[str, Any]:
    """The detector's config with ``settings`` over it, a nested field merged into the detector's own default
    of it: ``noiseFloor.memory=1000`` keeps the ``margin`` the detector ships with, where replacing the whole
    object would take the class's margin 0 and turn the floor off. The defaults are those of the detector as
    the flat settings make it (forecast needs its ``upper``; a multivariate forest has no floor)."""
    from pydantic.alias_generators import to_camel

    from mlaiops.detection.config import parse_detector_config

    flat = {key: value for key, value in settings.items() if not isinstance(value, dict)}
    shipped = parse_detector_config({"type": detector, **flat}).model_dump(by_alias=True)
    merged: dict[str, Any] = {"type": detector}
    for key, value in settings.items():
        default = shipped.get(to_camel(key))
        merged[key] = {**default, **value} if isinstance(value, dict) and isinstance(default, dict) else value
    return merged


def _parse_time(text: str) -> float:
    from datetime import UTC, datetime

    try:
        return float(text)
    except ValueError:
        stamp = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
        if stamp.tzinfo is None:
            stamp = stamp.replace(tzinfo=UTC)
        return stamp.timestamp()


def _parse_value(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return float("nan")


def _detect(args: argparse.Namespace) -> int:
    import csv
    import sys

    import numpy as np
    from pydantic import ValidationError

    from mlaiops.detection.config import HysteresisConfig, parse_detector_config
    from mlaiops.detection.engine import Engine

    try:
        config = parse_detector_config(with_shipped_defaults(args.detector, parse_settings(args.settings)))
        hysteresis = HysteresisConfig(for_=args.for_, keep_firing_for=args.keep_firing_for)
    except (ValueError, ValidationError) as exc:
        print(f"mlaiops detect: invalid settings: {exc}", file=sys.stderr)
        return 2
    with open(args.input, newline="") as handle:
        reader = csv.DictReader(handle)
        if not reader.fieldnames or not {"timestamp", "value"} <= set(reader.fieldnames):
            print("mlaiops detect: input needs the columns timestamp,value", file=sys.stderr)
            return 2
        rows = [(row["timestamp"], row["value"]) for row in reader]
    timestamps = np.array([_parse_time(t) for t, _ in rows])
    values = np.array([_parse_value(v) for _, v in rows])
    engine = Engine(config, hysteresis)
    if args.explain:
        result, channels = _evaluate_explained(engine, timestamps, values)
    else:
        result = engine.evaluate(timestamps, values)
    with open(args.output, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["timestamp", "value", "anomaly_score", "is_anomaly"])
        for (stamp, raw), score, firing in zip(rows, result.score[0], result.firing[0], strict=True):
            writer.writerow([stamp, raw, f"{score:.6g}", int(firing)])
    if args.explain:
        from mlaiops.detection.likelihood import likelihoods, tail_probability

        ratio = channels.pop("likelihood", None)  # the detector's own, when it keeps one
        likelihood = likelihoods(result.score)[0] if ratio is None else 1.0 - tail_probability(ratio)
        stamps = [t for t, _ in rows]
        for line in explain_firings(stamps, values, result.score[0], result.firing[0], channels, likelihood):
            print(line)
    return 0


def _evaluate_explained(engine: Any, timestamps: Any, values: Any) -> tuple[Any, dict[str, Any]]:
    """The same engine fed one point at a time, keeping every channel's score after each point."""
    import numpy as np

    from mlaiops.detection.engine import EngineResult

    parts = []
    channels: dict[str, list[float]] = {}
    for i in range(timestamps.size):
        parts.append(engine.evaluate(timestamps[i : i + 1], values[i : i + 1]))
        explain = getattr(engine.detector, "channel_scores", None)
        scores = explain() if explain else {engine.detector.type: parts[-1].score[:, 0]}
        if hasattr(engine.detector, "likelihood"):
            scores = {**scores, "likelihood": engine.detector.likelihood}
        for name, score in scores.items():
            channels.setdefault(name, [0.0] * i).append(float(score[0]))
        for column in channels.values():
            column.extend([0.0] * (i + 1 - len(column)))
    result = EngineResult(
        *(np.concatenate([getattr(p, f) for p in parts], axis=1) for f in EngineResult.__annotations__)
    )
    return result, {name: np.asarray(v) for name, v in channels.items()}


def explain_firings(
    stamps: list[str],
    values: Any,
    score: Any,
    firing: Any,
    channels: dict[str, Any],
    likelihood: Any,
) -> list[str]:
    """One line per firing (a Normal/Pending -> Firing step): when, the value, the channel with the
    highest score there and that score, the final score, and the likelihood of the recent scores."""
    lines = []
    for i in range(len(stamps)):
        if not firing[i] or (i > 0 and firing[i - 1]):
            continue
        name = max(channels, key=lambda c: channels[c][i])
        lines.append(
            f"{stamps[i]} value={values[i]:.6g} channel={name} channel_score={channels[name][i]:.3f} "
            f"score={score[i]:.3f} likelihood={likelihood[i]:.6f}"
        )
    return lines

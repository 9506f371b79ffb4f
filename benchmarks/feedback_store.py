"""Microbenchmark: what the prediction store (delayed labels) costs the model server per request and per id.

    python benchmarks/feedback_store.py                    # capacity 100000, the server's default
    python benchmarks/feedback_store.py --capacity 20000 --repeat 5

In-process, no HTTP: times the work ``ModelServer._remember`` adds to an inference request once the store is
full (every insert evicts the oldest prediction, the steady state): a new id, the per-row ids, the predicted
class indices and the insert, for batches of 1, 100 and 10,000 rows; and the work of joining one label
(``feedback.apply``, without the JSON parsing). Memory: ``PredictionStore.bytes`` when full, per id. The
median of ``--repeat`` runs; on a shared machine the absolute numbers move, their order of magnitude does not.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import numpy as np

from mlaiops.runtime.feedback import FeedbackStats, LabelKind, apply, parse_feedback
from mlaiops.runtime.metrics import PREDICTION_BUCKETS
from mlaiops.runtime.predictions import PredictionStore, row_ids


def remember_seconds(capacity: int, rows: int, requests: int) -> float:
    """Seconds per request of keeping a ``rows``-row batch in a full store."""
    store = PredictionStore(capacity, 1e9)
    kind = LabelKind([0, 1])
    predicted = np.random.default_rng(0).integers(0, 2, rows)
    scores = np.random.default_rng(1).random(rows)
    for _ in range(capacity // rows + 1):  # fill it: from now on every insert evicts
        store.add(row_ids(store.new_id(), rows), kind.predicted_indices(predicted), scores)
    started = time.perf_counter()
    for _ in range(requests):
        store.add(row_ids(store.new_id(), rows), kind.predicted_indices(predicted), scores)
    return (time.perf_counter() - started) / requests


def join_seconds(capacity: int, labels: int) -> float:
    """Seconds per label of joining a batch of ``labels`` labels (parsed) to a full store."""
    store = PredictionStore(capacity, 1e9)
    kind = LabelKind([0, 1])
    stats = FeedbackStats(("m", "v", "stable"), store, kind, PREDICTION_BUCKETS)
    ids = [store.new_id() for _ in range(capacity)]
    for start in range(0, capacity, 1000):
        chunk = ids[start : start + 1000]
        store.add(chunk, np.ones(len(chunk), dtype=np.int32), np.full(len(chunk), 0.7))
    feedback = parse_feedback(json.dumps({"ids": ids[-labels:], "labels": [1] * labels}).encode(), kind, labels)
    started = time.perf_counter()
    apply(feedback, store, stats)
    return (time.perf_counter() - started) / labels


def bytes_per_id(capacity: int) -> float:
    store = PredictionStore(capacity, 1e9)
    for _ in range(capacity):
        store.add([store.new_id()], np.ones(1, dtype=np.int32), np.ones(1))
    return store.bytes / capacity


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--capacity", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print(f"prediction store, capacity {args.capacity} (microbenchmark, in-process, median of {args.repeat})")
    for rows, requests in ((1, 20_000), (100, 2_000), (10_000, 20)):
        median = statistics.median(remember_seconds(args.capacity, rows, requests) for _ in range(args.repeat))
        print(
            f"  keep a {rows:>6}-row request: {median * 1e6:10.1f} us per request, {median / rows * 1e6:6.2f} us per row"
        )
    joined = statistics.median(join_seconds(args.capacity, 10_000) for _ in range(args.repeat))
    print(f"  join a label (batch of 10000): {joined * 1e6:6.2f} us per label")
    print(f"  memory when full: {bytes_per_id(args.capacity):.0f} bytes per id (server-made ids)")


if __name__ == "__main__":
    main()

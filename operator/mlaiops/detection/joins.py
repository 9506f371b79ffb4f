"""How a rule's queries become the detector's input: series keyed by their labels, and the
queries of a multivariate rule joined per entity (pure: no Prometheus, no clock)."""

from __future__ import annotations

from typing import Any

import numpy as np

from mlaiops.api.anomalyrule import AnomalyRuleSpec

Key = tuple[tuple[str, str], ...]
# One query's range result: per series key, its labels and {timestamp: value}.
RangeResult = dict[Key, tuple[dict[str, str], dict[float, float]]]


def entity(labels: dict[str, str]) -> dict[str, str]:
    """Series of different queries describe the same entity when their labels (without __name__) agree."""
    return {key: value for key, value in labels.items() if key != "__name__"}


def key_of(labels: dict[str, str]) -> Key:
    return tuple(sorted(labels.items()))


def queries_of(spec: AnomalyRuleSpec) -> list[str]:
    return [query.query for query in spec.queries] if spec.queries else [spec.query or ""]


def join_history(per_query: list[RangeResult]) -> list[tuple[dict[str, str], np.ndarray, np.ndarray]]:
    """(labels, timestamps, values[query, time]) for every entity present in every query, on the
    timestamps all its queries share."""
    history = []
    for key, (labels, first) in per_query[0].items():
        if not all(key in found for found in per_query):
            continue
        times = sorted(set(first).intersection(*(found[key][1].keys() for found in per_query[1:])))
        values = np.array([[found[key][1][t] for t in times] for found in per_query])
        history.append((labels, np.array(times), values))
    return history


def join_samples(results: list[list[Any]]) -> list[tuple[dict[str, str], list[float]]]:
    """One vector per entity present in every query's instant result (samples with ``labels``, ``value``)."""
    joined: dict[Key, tuple[dict[str, str], list[float]]] = {}
    for index, samples in enumerate(results):
        for sample in samples:
            labels = entity(sample.labels)
            entry = joined.setdefault(key_of(labels), (labels, [np.nan] * len(results)))
            entry[1][index] = sample.value
    return [(labels, vector) for labels, vector in joined.values() if not np.isnan(vector).any()]

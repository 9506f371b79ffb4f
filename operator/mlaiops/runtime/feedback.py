"""Ground truth sent after the fact: the feedback body, joining labels to predictions, and their metrics.

``POST /v2/models/{name}/feedback`` takes ``{"ids": [...], "labels": [...]}`` (same length, at most
``--max-rows``). The whole body is checked before anything is joined: a bad one is a 400 naming the
field and changes nothing. Each label is then joined to the stored prediction of its id
(:mod:`mlaiops.runtime.predictions`) and counted by model, version and track: labelled, correct
(classifiers), a confusion matrix (up to :data:`MAX_CONFUSION_CLASSES` classes), the score's
distribution per true class (binary classifiers: ROC AUC from binned scores) and the absolute error
(regressors: |prediction - label|; binary classifiers: |P(positive) - label|). A label whose id cannot
be joined is counted by reason and listed in the answer: late labels are normal, so a body of which some
labels join is a 200; one of which none could join (no id is held here) is a 404 that joins nothing.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from mlaiops.runtime.predictions import MAX_ID_LENGTH, NO_CLASS, REASONS, Joined, PredictionStore, Reason
from mlaiops.runtime.protocol import ProtocolError

MAX_CONFUSION_CLASSES = 10
"""Classes up to which the confusion matrix is exported (series grow with the square of the classes)."""
LABELS = ("model", "version", "track")
SMALL_BATCH = 16
"""Up to this many rows, predicted classes are mapped to indices in Python (faster than numpy's fixed cost)."""


@dataclass(frozen=True)
class Feedback:
    """A checked feedback body: ids and, per id, the true class index (classifiers) or value (regressors)."""

    ids: list[str]
    actual: np.ndarray


class LabelKind:
    """How labels of one model are read: as one of its classes, or as numbers (regressors)."""

    def __init__(self, classes: Sequence[Any] | None) -> None:
        self.classes = None if classes is None else [_plain(c) for c in classes]
        self._index: dict[Any, int] = {} if self.classes is None else {c: i for i, c in enumerate(self.classes)}
        self._sorted: np.ndarray | None = None
        if self.classes is not None:
            array = np.asarray(classes)
            if array.dtype.kind in "biufUS" and np.all(array[:-1] < array[1:]):
                self._sorted = array  # scikit-learn's classes_ are sorted: map predictions with one searchsorted

    def label(self, value: Any, where: str) -> float:
        """The class index (as a float) or the number that ``value`` stands for; ProtocolError naming ``where``."""
        if self.classes is None:
            if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
                raise ProtocolError(f"{where} must be a finite number (the model is a regressor), got {value!r:.80}")
            return float(value)
        if isinstance(value, list | dict) or value is None:
            raise ProtocolError(f"{where} must be one of the model's classes {self.classes!r:.200}, got {value!r:.80}")
        index = self._index.get(value)
        if index is None or (type(value) is bool and not isinstance(self.classes[index], bool)):
            raise ProtocolError(f"{where} {value!r:.80} is not one of the model's classes {self.classes!r:.200}")
        return float(index)

    def predicted_indices(self, predicted: np.ndarray | None) -> np.ndarray | None:
        """Class index per row of ``predict``'s answer (NO_CLASS for a value that is not a class)."""
        if self.classes is None or predicted is None:
            return None
        flat = predicted.reshape(-1)
        if flat.size <= SMALL_BATCH:  # a few dict lookups beat five numpy calls
            lookup = self._index
            return np.array([lookup.get(v, NO_CLASS) for v in flat.tolist()], dtype=np.int32)
        if self._sorted is not None and flat.dtype.kind in "biufUS":
            index = np.searchsorted(self._sorted, flat).clip(0, len(self._sorted) - 1)
            return np.where(self._sorted[index] == flat, index, NO_CLASS).astype(np.int32)
        return np.fromiter((self._index.get(_plain(v), NO_CLASS) for v in flat), dtype=np.int32, count=flat.size)


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def parse_feedback(body: bytes, kind: LabelKind, max_rows: int) -> Feedback:
    """``{"ids": [...], "labels": [...]}`` -> Feedback; every problem is a ProtocolError naming the field."""
    try:
        document = json.loads(body)
    except RecursionError:
        raise ProtocolError("request body is nested too deeply") from None
    except ValueError as error:
        raise ProtocolError(f"request body is not valid JSON: {error}") from None
    if not isinstance(document, dict):
        raise ProtocolError('request body must be a JSON object like {"ids": ["..."], "labels": [1]}')
    ids, labels = document.get("ids"), document.get("labels")
    if not isinstance(ids, list) or not ids:
        raise ProtocolError("'ids' is required: a non-empty list of prediction ids")
    if not isinstance(labels, list):
        raise ProtocolError("'labels' is required: a list with one ground-truth label per id")
    if len(ids) > max_rows:
        raise ProtocolError(
            f"'ids' has {len(ids)} entries; this server takes at most {max_rows} per request (--max-rows): split it"
        )
    if len(labels) != len(ids):
        raise ProtocolError(f"'labels' has {len(labels)} entries and 'ids' {len(ids)}: give one label per id")
    for index, value in enumerate(ids):
        if not isinstance(value, str) or not value or len(value) > MAX_ID_LENGTH:
            raise ProtocolError(f"ids[{index}] must be a non-empty string of at most {MAX_ID_LENGTH} characters")
    actual = np.fromiter(
        (kind.label(value, f"labels[{index}]") for index, value in enumerate(labels)), dtype=np.float64, count=len(ids)
    )
    return Feedback(ids, actual)


class FeedbackStats(Collector):
    """Counts of joined labels (and of those that could not be joined) for one model/version/track."""

    def __init__(
        self, labels: tuple[str, str, str], store: PredictionStore, kind: LabelKind, buckets: Sequence[float]
    ) -> None:
        self._labels = list(labels)
        self._store = store
        self._bounds = np.asarray(sorted(buckets), dtype=np.float64)
        self._unmatched = dict.fromkeys(REASONS, 0)
        self.set_kind(kind)

    def set_kind(self, kind: LabelKind) -> None:
        """Start counting for a model whose labels are read by ``kind`` (at load)."""
        self.kind = kind
        classes = 0 if kind.classes is None else len(kind.classes)
        self.labelled = 0
        self.correct = 0
        self._confusion = np.zeros((classes, classes), dtype=np.int64) if classes <= MAX_CONFUSION_CLASSES else None
        self._binary = classes == 2
        width = len(self._bounds) + 1
        self._score_counts = np.zeros((2, width), dtype=np.int64)
        self._score_sums = np.zeros(2)
        self._error_counts = np.zeros(width, dtype=np.int64)
        self._error_sum = 0.0

    def unmatched(self, reason: Reason) -> None:
        self._unmatched[reason] += 1

    def joined(self, prediction: Joined, actual: float) -> None:
        """One label joined to its prediction."""
        self.labelled += 1
        if self.kind.classes is None:
            if not math.isnan(prediction.score):
                self._error(abs(prediction.score - actual))
            return
        truth = int(actual)
        if prediction.predicted == truth:
            self.correct += 1
        if self._confusion is not None and prediction.predicted != NO_CLASS:
            self._confusion[prediction.predicted, truth] += 1
        if self._binary and not math.isnan(prediction.score):
            bucket = int(np.searchsorted(self._bounds, prediction.score, side="left"))
            self._score_counts[truth, bucket] += 1
            self._score_sums[truth] += prediction.score
            self._error(abs(prediction.score - truth))

    def _error(self, error: float) -> None:
        self._error_counts[int(np.searchsorted(self._bounds, error, side="left"))] += 1
        self._error_sum += error

    def _histogram(self, counts: np.ndarray) -> list[tuple[str, float]]:
        cumulative = np.cumsum(counts)
        buckets = [(repr(float(b)), float(c)) for b, c in zip(self._bounds, cumulative[:-1], strict=True)]
        return [*buckets, ("+Inf", float(cumulative[-1]))]

    def collect(self) -> Iterable[Metric]:
        classifier = self.kind.classes is not None
        labelled = CounterMetricFamily(
            "mlaiops_model_feedback_labels",
            "Ground-truth labels (POST .../feedback) joined to the prediction of their id.",
            labels=LABELS,
        )
        labelled.add_metric(self._labels, float(self.labelled))
        yield labelled
        if classifier:
            correct = CounterMetricFamily(
                "mlaiops_model_feedback_correct",
                "Joined labels equal to the predicted class (classifiers): accuracy = correct / labels.",
                labels=LABELS,
            )
            correct.add_metric(self._labels, float(self.correct))
            yield correct
        if self._confusion is not None:
            confusion = CounterMetricFamily(
                "mlaiops_model_feedback_confusion",
                f"Joined labels by predicted and true class (classifiers of at most {MAX_CONFUSION_CLASSES} "
                "classes): precision and recall per class.",
                labels=[*LABELS, "predicted", "actual"],
            )
            names = [str(c) for c in self.kind.classes or []]
            for p, predicted in enumerate(names):
                for a, actual in enumerate(names):
                    confusion.add_metric([*self._labels, predicted, actual], float(self._confusion[p, a]))
            yield confusion
        if self._binary:
            score = HistogramMetricFamily(
                "mlaiops_model_feedback_score",
                "Positive-class probability of joined predictions by true class (binary classifiers): ROC AUC "
                'from the two binned distributions. positive="true" marks the true class that the score is the '
                "probability of (the model's second class).",
                labels=[*LABELS, "actual", "positive"],
            )
            for truth, name in enumerate(str(c) for c in self.kind.classes or []):
                score.add_metric(
                    [*self._labels, name, "true" if truth == 1 else "false"],
                    self._histogram(self._score_counts[truth]),
                    float(self._score_sums[truth]),
                )
            yield score
        if self._binary or not classifier:
            error = HistogramMetricFamily(
                "mlaiops_model_feedback_absolute_error",
                "|prediction - label| of joined predictions: regressors, and binary classifiers' |P(positive) - "
                "label| (label 0 or 1).",
                labels=LABELS,
            )
            error.add_metric(self._labels, self._histogram(self._error_counts), self._error_sum)
            yield error
        unmatched = CounterMetricFamily(
            "mlaiops_model_feedback_unmatched",
            "Labels that could not be joined, by reason: unknown id, expired (older than --feedback-ttl), evicted "
            "(store full, --feedback-capacity), other-server (an id another replica, track or process made), "
            "duplicate (already labelled).",
            labels=[*LABELS, "reason"],
        )
        for reason, count in self._unmatched.items():
            unmatched.add_metric([*self._labels, reason], float(count))
        yield unmatched
        yield from self._store_families()

    def _store_families(self) -> Iterable[Metric]:
        store = self._store
        held = GaugeMetricFamily(
            "mlaiops_model_prediction_store_ids",
            "Predictions held for joining labels (at most --feedback-capacity), labelled ones included.",
            labels=LABELS,
        )
        held.add_metric(self._labels, float(len(store)))
        size = GaugeMetricFamily(
            "mlaiops_model_prediction_store_bytes",
            "Memory the prediction store holds: its preallocated arrays, the id index and the id strings.",
            labels=LABELS,
        )
        size.add_metric(self._labels, float(store.bytes))
        removed = CounterMetricFamily(
            "mlaiops_model_prediction_store_removed",
            "Predictions that left the store unlabelled: evicted (the store was full) or expired (older than "
            "--feedback-ttl).",
            labels=[*LABELS, "reason"],
        )
        removed.add_metric([*self._labels, "evicted"], float(store.evicted))
        removed.add_metric([*self._labels, "expired"], float(store.expired))
        yield held
        yield size
        yield removed


SHOWN_IDS = 100
"""Ids of labels that did not join listed in an answer, at most (the counts are always complete)."""
SHOWN_IN_MESSAGE = 5
HINTS: dict[Reason, str] = {
    "unknown": "never predicted or kept by this server",
    "expired": "older than --feedback-ttl",
    "evicted": "pushed out of the full store (--feedback-capacity)",
    "other-server": "made by another server process: send the label to the one that answered",
    "duplicate": "already labelled",
}


class NothingHeld(Exception):
    """No id of a checked feedback body is held by this server: nothing was joined (the server answers 404)."""

    def __init__(self, message: str, outcome: dict[str, Any]) -> None:
        super().__init__(message)
        self.outcome = outcome


def _outcome(joined: int, misses: list[tuple[str, Reason]]) -> dict[str, Any]:
    """The answer's counts, and the ids of the labels that missed (the first SHOWN_IDS) by reason."""
    unmatched: dict[str, int] = {}
    ids: dict[str, list[str]] = {}
    for index, (prediction_id, reason) in enumerate(misses):
        unmatched[reason] = unmatched.get(reason, 0) + 1
        if index < SHOWN_IDS:
            ids.setdefault(reason, []).append(prediction_id)
    return {"joined": joined, "unmatched": unmatched, "unmatched_ids": ids}


def apply(feedback: Feedback, store: PredictionStore, stats: FeedbackStats) -> dict[str, Any]:
    """Join every label of a checked body and count it; the answer says how many joined and why others did not.

    When no id of the body is held here (not one would join or is already labelled), nothing is joined and
    NothingHeld says why for each id: a label for a prediction this server never made, or no longer has, is
    a 404, while a body of which some labels join is a 200 that lists the ones that did not. The misses are
    counted by reason either way (``mlaiops_model_feedback_unmatched_total``: labels going astray stay visible).
    """
    misses: list[tuple[str, Reason]] = []
    for prediction_id in feedback.ids:  # stops at the first id held here: the usual body costs one look
        reason = store.why_not(prediction_id)
        if reason is None or reason == "duplicate":
            break
        misses.append((prediction_id, reason))
    else:
        for _, reason in misses:
            stats.unmatched(reason)
        shown = ", ".join(
            f"ids[{index}] {prediction_id!r:.80} {reason} ({HINTS[reason]})"
            for index, (prediction_id, reason) in enumerate(misses[:SHOWN_IN_MESSAGE])
        )
        more = f" and {len(misses) - SHOWN_IN_MESSAGE} more" if len(misses) > SHOWN_IN_MESSAGE else ""
        raise NothingHeld(
            f"no prediction of {'the id' if len(misses) == 1 else f'the {len(misses)} ids'} is held by this server, "
            f"so no label was joined: {shown}{more}",
            _outcome(0, misses),
        )
    joined = 0
    misses = []
    for prediction_id, actual in zip(feedback.ids, feedback.actual.tolist(), strict=True):
        outcome = store.join(prediction_id)
        if isinstance(outcome, Joined):
            stats.joined(outcome, actual)
            joined += 1
        else:
            stats.unmatched(outcome)
            misses.append((prediction_id, outcome))
    return _outcome(joined, misses)

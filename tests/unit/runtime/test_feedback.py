"""Feedback bodies, label kinds, joining labels to stored predictions and the metrics that come out."""

from __future__ import annotations

import json

import numpy as np
import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from mlaiops.runtime.feedback import (
    MAX_CONFUSION_CLASSES,
    SHOWN_IDS,
    SMALL_BATCH,
    FeedbackStats,
    LabelKind,
    NothingHeld,
    apply,
    parse_feedback,
)
from mlaiops.runtime.predictions import NO_CLASS, PredictionStore
from mlaiops.runtime.protocol import ProtocolError

pytestmark = pytest.mark.unit

BUCKETS = (0.1, 0.5, 0.9, 1.0)


def body(**document: object) -> bytes:
    return json.dumps(document).encode()


class Clock:
    now = 100.0

    def __call__(self) -> float:
        return self.now


def setup(classes: list | None) -> tuple[PredictionStore, FeedbackStats, LabelKind, CollectorRegistry]:
    store = PredictionStore(100, 60.0, Clock(), instance="0badcafe")
    kind = LabelKind(classes)
    stats = FeedbackStats(("m", "v1", "canary"), store, kind, BUCKETS)
    registry = CollectorRegistry()
    registry.register(stats)
    return store, stats, kind, registry


def samples(registry: CollectorRegistry) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = generate_latest(registry).decode()
    out = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = tuple(sorted((k, v) for k, v in sample.labels.items() if k not in ("model", "version", "track")))
            out[(sample.name, labels)] = sample.value
    return out


# --- the body ---------------------------------------------------------------------------------


def test_a_good_body_parses_to_ids_and_class_indices() -> None:
    parsed = parse_feedback(body(ids=["a", "b", "c"], labels=["no", "yes", "no"]), LabelKind(["no", "yes"]), 10)
    assert parsed.ids == ["a", "b", "c"]
    assert parsed.actual.tolist() == [0.0, 1.0, 0.0]


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"{nope", "request body is not valid JSON"),
        (b"[1]", "request body must be a JSON object"),
        (body(labels=[1]), "'ids' is required"),
        (body(ids=[], labels=[]), "'ids' is required"),
        (body(ids="a", labels=[1]), "'ids' is required"),
        (body(ids=["a"]), "'labels' is required"),
        (body(ids=["a"], labels=1), "'labels' is required"),
        (body(ids=["a", "b"], labels=[1]), "'labels' has 1 entries and 'ids' 2"),
        (body(ids=["a", 7], labels=[1, 0]), r"ids\[1\] must be a non-empty string of at most 256 characters"),
        (body(ids=["a", ""], labels=[1, 0]), r"ids\[1\] must be a non-empty string"),
        (body(ids=["x" * 257], labels=[1]), r"ids\[0\] must be a non-empty string of at most 256"),
        (body(ids=["a", "b"], labels=[1, 2]), r"labels\[1\] 2 is not one of the model's classes \[0, 1\]"),
        (body(ids=["a"], labels=["1"]), r"labels\[0\] '1' is not one of the model's classes"),
        (body(ids=["a"], labels=[True]), r"labels\[0\] True is not one of the model's classes"),
        (body(ids=["a"], labels=[None]), r"labels\[0\] must be one of the model's classes"),
        (body(ids=["a"], labels=[[1]]), r"labels\[0\] must be one of the model's classes"),
        (body(ids=[str(i) for i in range(11)], labels=[0] * 11), "'ids' has 11 entries; .* at most 10 per request"),
    ],
)
def test_a_bad_body_is_refused_naming_the_field(raw: bytes, message: str) -> None:
    with pytest.raises(ProtocolError, match=message):
        parse_feedback(raw, LabelKind([0, 1]), 10)


def test_a_regressor_takes_finite_numbers_only() -> None:
    kind = LabelKind(None)
    assert parse_feedback(body(ids=["a", "b"], labels=[1.5, -2]), kind, 10).actual.tolist() == [1.5, -2.0]
    for bad in ("1.5", True, None):
        with pytest.raises(ProtocolError, match=r"labels\[0\] must be a finite number \(the model is a regressor\)"):
            parse_feedback(body(ids=["a"], labels=[bad]), kind, 10)
    with pytest.raises(ProtocolError, match=r"labels\[0\] must be a finite number"):
        parse_feedback(b'{"ids": ["a"], "labels": [NaN]}', kind, 10)


def test_labels_of_a_bool_classifier_and_equal_numbers() -> None:
    assert LabelKind([False, True]).label(True, "x") == 1.0
    assert LabelKind([0, 1]).label(1.0, "x") == 1.0  # 1.0 is the class 1 (JSON does not tell them apart)


# --- predicted classes ------------------------------------------------------------------------


@pytest.mark.parametrize("repeat", [1, SMALL_BATCH])  # small batches in Python, larger ones with numpy
def test_predictions_map_to_class_indices(repeat: int) -> None:
    def indices(classes: object, predicted: np.ndarray) -> list[int]:
        kind = LabelKind(classes)  # type: ignore[arg-type]
        return kind.predicted_indices(np.tile(predicted, repeat)).tolist()[: len(predicted)]  # type: ignore[union-attr]

    assert indices([0, 1, 2], np.array([2, 0, 1])) == [2, 0, 1]
    assert indices(["cat", "dog"], np.array(["dog", "cat"])) == [1, 0]
    objects = np.array(["dog", "cat"], dtype=object)
    assert indices(np.array(["cat", "dog"], dtype=object), objects) == [1, 0]
    assert indices([0, 1], np.array([7, 1])) == [NO_CLASS, 1]
    assert indices([0, 1], np.array([-3, 0])) == [NO_CLASS, 0]
    assert indices([5, 1], np.array([1, 5])) == [1, 0]  # unsorted classes
    assert indices([0.5, 1.5], np.array([1.5, 0.5, 2.5])) == [1, 0, NO_CLASS]
    assert LabelKind(None).predicted_indices(np.array([1.5])) is None
    assert LabelKind([0, 1]).predicted_indices(None) is None


# --- joining and counting ---------------------------------------------------------------------


def test_binary_labels_count_accuracy_confusion_scores_and_errors() -> None:
    store, stats, kind, registry = setup([0, 1])
    store.add(["a", "b", "c"], kind.predicted_indices(np.array([1, 0, 1])), np.array([0.95, 0.3, 0.6]))
    answer = apply(parse_feedback(body(ids=["a", "b", "c", "zz", "a"], labels=[1, 1, 0, 0, 1]), kind, 10), store, stats)
    assert answer == {
        "joined": 3,
        "unmatched": {"unknown": 1, "duplicate": 1},
        "unmatched_ids": {"unknown": ["zz"], "duplicate": ["a"]},
    }
    seen = samples(registry)
    assert seen[("mlaiops_model_feedback_labels_total", ())] == 3
    assert seen[("mlaiops_model_feedback_correct_total", ())] == 1
    confusion = {
        (dict(k[1])["predicted"], dict(k[1])["actual"]): v
        for k, v in seen.items()
        if k[0] == "mlaiops_model_feedback_confusion_total"
    }
    assert confusion == {("0", "0"): 0, ("0", "1"): 1, ("1", "0"): 1, ("1", "1"): 1}
    # scores by true class: actual 1 got 0.95 and 0.3, actual 0 got 0.6
    assert seen[("mlaiops_model_feedback_score_bucket", (("actual", "1"), ("le", "0.5"), ("positive", "true")))] == 1
    assert seen[("mlaiops_model_feedback_score_bucket", (("actual", "1"), ("le", "1.0"), ("positive", "true")))] == 2
    assert seen[("mlaiops_model_feedback_score_bucket", (("actual", "0"), ("le", "0.5"), ("positive", "false")))] == 0
    assert seen[("mlaiops_model_feedback_score_bucket", (("actual", "0"), ("le", "0.9"), ("positive", "false")))] == 1
    assert seen[("mlaiops_model_feedback_score_sum", (("actual", "1"), ("positive", "true")))] == pytest.approx(1.25)
    # |score - label|: 0.05, 0.7, 0.6
    assert seen[("mlaiops_model_feedback_absolute_error_bucket", (("le", "0.1"),))] == 1
    assert seen[("mlaiops_model_feedback_absolute_error_bucket", (("le", "0.5"),))] == 1
    assert seen[("mlaiops_model_feedback_absolute_error_bucket", (("le", "0.9"),))] == 3
    assert seen[("mlaiops_model_feedback_absolute_error_sum", ())] == pytest.approx(1.35)
    assert seen[("mlaiops_model_feedback_unmatched_total", (("reason", "unknown"),))] == 1
    assert seen[("mlaiops_model_feedback_unmatched_total", (("reason", "duplicate"),))] == 1
    assert seen[("mlaiops_model_feedback_unmatched_total", (("reason", "expired"),))] == 0
    assert seen[("mlaiops_model_prediction_store_ids", ())] == 3
    assert seen[("mlaiops_model_prediction_store_bytes", ())] == store.bytes


def test_a_regressor_counts_absolute_errors_and_no_accuracy() -> None:
    store, stats, kind, registry = setup(None)
    store.add(["a", "b"], None, np.array([10.0, 2.0]))
    assert apply(parse_feedback(body(ids=["a", "b"], labels=[10.05, 2.7]), kind, 10), store, stats)["joined"] == 2
    seen = samples(registry)
    names = {name for name, _ in seen}
    assert "mlaiops_model_feedback_correct_total" not in names
    assert "mlaiops_model_feedback_confusion_total" not in names
    assert "mlaiops_model_feedback_score_bucket" not in names
    assert seen[("mlaiops_model_feedback_labels_total", ())] == 2
    assert seen[("mlaiops_model_feedback_absolute_error_bucket", (("le", "0.1"),))] == 1
    assert seen[("mlaiops_model_feedback_absolute_error_bucket", (("le", "0.9"),))] == 2
    assert seen[("mlaiops_model_feedback_absolute_error_sum", ())] == pytest.approx(0.75)


def test_a_multiclass_model_counts_accuracy_and_caps_the_confusion_matrix() -> None:
    store, stats, kind, registry = setup([0, 1, 2])
    store.add(["a", "b"], np.array([2, 1], dtype=np.int32), np.array([0.7, 0.5]))
    apply(parse_feedback(body(ids=["a", "b"], labels=[2, 0]), kind, 10), store, stats)
    seen = samples(registry)
    assert seen[("mlaiops_model_feedback_correct_total", ())] == 1
    assert seen[("mlaiops_model_feedback_confusion_total", (("actual", "0"), ("predicted", "1")))] == 1
    assert "mlaiops_model_feedback_absolute_error_count" not in {name for name, _ in seen}  # top-class score: no error
    many = list(range(MAX_CONFUSION_CLASSES + 1))
    _, _, _, wide = setup(many)
    assert "mlaiops_model_feedback_confusion_total" not in {name for name, _ in samples(wide)}


def test_set_kind_starts_counting_afresh_for_the_loaded_model() -> None:
    store, stats, kind, registry = setup(None)
    store.add(["a"], None, np.array([1.0]))
    apply(parse_feedback(body(ids=["a"], labels=[1.0]), kind, 10), store, stats)
    stats.set_kind(LabelKind([0, 1]))
    seen = samples(registry)
    assert seen[("mlaiops_model_feedback_labels_total", ())] == 0
    assert seen[("mlaiops_model_feedback_correct_total", ())] == 0


# --- labels for ids this server does not hold ---------------------------------------------------


def test_a_body_of_which_no_id_is_held_here_joins_nothing_and_says_why_for_each() -> None:
    store, stats, kind, registry = setup([0, 1])
    other = PredictionStore(10, 60.0, Clock(), instance="12345678")
    store.add(["held"], kind.predicted_indices(np.array([1])), np.array([0.9]))
    astray = [other.new_id(), "typo", *[f"x{i}" for i in range(6)]]
    with pytest.raises(NothingHeld) as refused:
        apply(parse_feedback(body(ids=astray, labels=[1] * 8), kind, 10), store, stats)
    message = str(refused.value)
    assert message.startswith("no prediction of the 8 ids is held by this server, so no label was joined: ")
    assert f"ids[0] {astray[0]!r} other-server (made by another server process: send the label to the one" in message
    assert "ids[1] 'typo' unknown (never predicted or kept by this server)" in message
    assert "ids[4] 'x2' unknown" in message and "'x3'" not in message and message.endswith(" and 3 more")
    assert refused.value.outcome == {
        "joined": 0,
        "unmatched": {"other-server": 1, "unknown": 7},
        "unmatched_ids": {"other-server": [astray[0]], "unknown": astray[1:]},
    }
    seen = samples(registry)
    assert seen[("mlaiops_model_feedback_labels_total", ())] == 0  # nothing joined
    assert seen[("mlaiops_model_feedback_unmatched_total", (("reason", "unknown"),))] == 7  # astray labels stay visible
    assert seen[("mlaiops_model_feedback_unmatched_total", (("reason", "other-server"),))] == 1
    assert store.why_not("held") is None  # the prediction of another body is untouched
    # One id held here is enough for a 200: the others are listed by reason.
    answer = apply(parse_feedback(body(ids=["typo", "held"], labels=[0, 1]), kind, 10), store, stats)
    assert answer == {"joined": 1, "unmatched": {"unknown": 1}, "unmatched_ids": {"unknown": ["typo"]}}


def test_a_label_sent_again_is_a_duplicate_not_a_404() -> None:
    """A client that retries after a lost answer must not be told its prediction does not exist."""
    store, stats, kind, _ = setup([0, 1])
    store.add(["a"], kind.predicted_indices(np.array([1])), np.array([0.9]))
    feedback = parse_feedback(body(ids=["a"], labels=[1]), kind, 10)
    assert apply(feedback, store, stats)["joined"] == 1
    assert apply(feedback, store, stats) == {
        "joined": 0,
        "unmatched": {"duplicate": 1},
        "unmatched_ids": {"duplicate": ["a"]},
    }


def test_expired_and_evicted_ids_alone_are_not_held() -> None:
    clock = Clock()
    store = PredictionStore(1, 10.0, clock, instance="0badcafe")
    kind = LabelKind([0, 1])
    stats = FeedbackStats(("m", "v1", "canary"), store, kind, BUCKETS)
    old = store.new_id()
    store.add([old], None, None)
    clock.now += 5
    evicted = store.new_id()
    store.add([evicted], None, None)
    store.add(["newest"], None, None)  # capacity 1: pushes the previous one out
    clock.now += 6  # old is 11 s old, past the ttl; evicted 6 s, within it
    with pytest.raises(NothingHeld) as refused:
        apply(parse_feedback(body(ids=[old, evicted], labels=[0, 0]), kind, 10), store, stats)
    assert refused.value.outcome["unmatched"] == {"expired": 1, "evicted": 1}
    assert "older than --feedback-ttl" in str(refused.value) and "--feedback-capacity" in str(refused.value)


def test_an_answer_lists_at_most_shown_ids_but_counts_them_all() -> None:
    store, stats, kind, _ = setup([0, 1])
    store.add(["held"], kind.predicted_indices(np.array([1])), np.array([0.9]))
    ids = ["held", *[f"u{i}" for i in range(SHOWN_IDS + 5)]]
    answer = apply(parse_feedback(body(ids=ids, labels=[1] * len(ids)), kind, 1000), store, stats)
    assert answer["unmatched"] == {"unknown": SHOWN_IDS + 5}
    assert answer["unmatched_ids"]["unknown"] == ids[1 : SHOWN_IDS + 1]

"""The prediction store: bounded by capacity and ttl (a fake clock), reasons for labels it cannot join."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

from mlaiops.runtime.predictions import NO_CLASS, Joined, PredictionStore, row_ids

pytestmark = pytest.mark.unit


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def predicted(outcome: Joined | str) -> int:
    assert isinstance(outcome, Joined), outcome
    return outcome.predicted


def store(capacity: int = 4, ttl: float = 60.0) -> tuple[PredictionStore, Clock]:
    clock = Clock()
    return PredictionStore(capacity, ttl, clock, instance="0badcafe"), clock


def test_a_label_joins_its_prediction_once() -> None:
    predictions, _ = store()
    predictions.add(["a", "b"], np.array([1, 0]), np.array([0.9, 0.2]))
    assert predictions.join("b") == Joined(0, 0.2)
    assert predictions.join("a") == Joined(1, 0.9)
    assert predictions.join("a") == "duplicate"
    assert predictions.join("zzz") == "unknown"
    assert len(predictions) == 2  # joined ones stay (as tombstones) until their slot is reused


def test_without_classes_or_scores_the_join_says_so() -> None:
    predictions, _ = store()
    predictions.add(["r"], None, None)
    joined = predictions.join("r")
    assert isinstance(joined, Joined)
    assert joined.predicted == NO_CLASS
    assert np.isnan(joined.score)


def test_capacity_evicts_the_oldest_and_counts_it() -> None:
    predictions, clock = store(capacity=3)
    ids = [predictions.new_id() for _ in range(5)]
    for index, prediction_id in enumerate(ids):
        clock.now += 1
        predictions.add([prediction_id], np.array([index]), None)
    assert len(predictions) == 3
    assert predictions.evicted == 2
    assert predictions.expired == 0
    assert predictions.join(ids[0]) == "evicted"  # made here, within the ttl, gone: the store was full
    assert predictions.join(ids[1]) == "evicted"
    assert [predicted(predictions.join(i)) for i in ids[2:]] == [2, 3, 4]


def test_a_joined_prediction_leaving_is_not_an_eviction() -> None:
    predictions, _ = store(capacity=2)
    predictions.add(["a", "b"], None, None)
    predictions.join("a")
    predictions.add(["c"], None, None)  # pushes out "a", already labelled
    assert predictions.evicted == 0
    predictions.add(["d"], None, None)  # pushes out "b", never labelled
    assert predictions.evicted == 1


def test_ttl_expires_predictions_and_tells_expired_from_evicted() -> None:
    predictions, clock = store(capacity=10, ttl=60.0)
    old = predictions.new_id()
    predictions.add([old], np.array([1]), None)
    clock.now += 30
    young = predictions.new_id()
    predictions.add([young], np.array([0]), None)
    clock.now += 31  # old is 61 s old, young 31 s
    assert predictions.join(old) == "expired"
    assert predictions.expired == 1
    assert len(predictions) == 1
    assert predicted(predictions.join(young)) == 0
    clock.now += 1000
    assert predictions.join(young) == "expired"  # labelled, then expired: the id is made here and too old
    assert len(predictions) == 0
    assert predictions.expired == 1  # a labelled prediction expiring is not counted


def test_a_prediction_exactly_ttl_old_still_joins() -> None:
    predictions, clock = store(ttl=60.0)
    predictions.add(["a"], np.array([1]), None)
    clock.now += 60
    assert isinstance(predictions.join("a"), Joined)


def test_ids_of_other_processes_and_forged_ones() -> None:
    predictions, clock = store()
    other = PredictionStore(4, 60.0, clock, instance="12345678")
    assert predictions.join(other.new_id()) == "other-server"
    assert predictions.join("0badcafe-zz-1") == "unknown"  # our prefix, but not a time: not ours
    future = f"0badcafe-{int((clock.now + 3600) * 1000):x}-1"
    assert predictions.join(future) == "unknown"


def test_generated_ids_are_unique_and_carry_the_instance() -> None:
    predictions, _ = store()
    ids = {predictions.new_id() for _ in range(1000)}
    assert len(ids) == 1000
    assert all(i.startswith("0badcafe-") for i in ids)


def test_rows_of_a_batch_get_their_own_ids() -> None:
    assert row_ids("req", 1) == ["req"]
    assert row_ids("req", 3) == ["req:0", "req:1", "req:2"]
    predictions, clock = store(capacity=10)
    made = predictions.new_id()
    predictions.add(row_ids(made, 3), np.array([0, 1, 0]), np.array([0.1, 0.8, 0.3]))
    assert predictions.join(f"{made}:1") == Joined(1, 0.8)
    clock.now += 61
    assert predictions.join(f"{made}:2") == "expired"  # the row suffix does not hide when it was made


def test_a_batch_larger_than_the_store_keeps_its_last_rows() -> None:
    predictions, _ = store(capacity=3)
    predictions.add(row_ids("big", 5), np.arange(5), None)
    assert len(predictions) == 3
    assert predictions.evicted == 2
    assert predictions.join("big:0") == "unknown"
    assert [predicted(predictions.join(f"big:{row}")) for row in (2, 3, 4)] == [2, 3, 4]


def test_the_same_id_again_keeps_the_newer_prediction() -> None:
    predictions, _ = store(capacity=3)
    predictions.add(["a"], np.array([0]), None)
    predictions.add(["a"], np.array([1]), None)
    assert len(predictions) == 1
    assert predicted(predictions.join("a")) == 1
    predictions.add(["b", "c", "d"], None, None)  # the hole the first "a" left is skipped, not double-counted
    assert len(predictions) == 3
    assert predictions.evicted == 0


def test_capacity_zero_keeps_nothing() -> None:
    predictions, _ = store(capacity=0)
    predictions.add(["a"], None, None)
    assert len(predictions) == 0
    assert predictions.join("a") == "unknown"


@pytest.mark.parametrize(("capacity", "ttl"), [(-1, 60.0), (1, 0.0), (1, float("nan"))])
def test_bad_limits_are_refused(capacity: int, ttl: float) -> None:
    with pytest.raises(ValueError, match=r"capacity|ttl"):
        PredictionStore(capacity, ttl)


def test_memory_stays_bounded_under_a_flood_and_bytes_measures_it() -> None:
    """Once the store is full (and its id index has reached its steady size), a flood of 10x more
    predictions allocates nothing that stays; ``bytes`` agrees with what tracemalloc sees it hold."""
    capacity = 5_000
    predictions, clock = store(capacity=capacity, ttl=1e9)
    classes, scores = np.array([1]), np.array([0.5])

    def flood(count: int) -> None:
        for _ in range(count):
            clock.now += 0.001
            predictions.add([predictions.new_id()], classes, scores)

    tracemalloc.start()  # before filling: the ids the flood frees must have been traced when made
    try:
        flood(capacity)
        flood(5 * capacity)  # the id index churns into its steady table size
        before = tracemalloc.take_snapshot()
        flood(10 * capacity)
        after = tracemalloc.take_snapshot()
    finally:
        tracemalloc.stop()
    # Only what the store's own code allocated: the xdist worker's other threads allocate meanwhile too.
    mine = [tracemalloc.Filter(True, "*predictions.py")]
    grown = sum(stat.size_diff for stat in after.filter_traces(mine).compare_to(before.filter_traces(mine), "filename"))
    held = sum(
        stat.size for stat in after.statistics("filename") if stat.traceback[0].filename.endswith("predictions.py")
    )
    assert len(predictions) == capacity
    assert predictions.evicted == 15 * capacity
    assert grown < 64 * 1024, f"the store grew by {grown} bytes under a flood"
    arrays = capacity * (8 + 4 + 8 + 1) + capacity * 8  # the numpy arrays and the key list, allocated before
    assert abs(held + arrays - predictions.bytes) < 0.1 * predictions.bytes, (held, arrays, predictions.bytes)
    per_id = predictions.bytes / capacity
    assert 120 < per_id < 250, per_id  # docs/feedback.md: about 180 bytes per stored (generated) id


def test_why_not_tells_the_reason_and_marks_nothing() -> None:
    predictions, _ = store()
    predictions.add(["a"], np.array([1]), np.array([0.9]))
    assert predictions.why_not("a") is None
    assert predictions.why_not("a") is None  # looking twice changes nothing
    assert predictions.why_not("zzz") == "unknown"
    assert predicted(predictions.join("a")) == 1
    assert predictions.why_not("a") == "duplicate"

"""Adaptive batching: concurrent requests share model calls, and each gets exactly what it would get alone.

The model is a real scikit-learn model called on a thread, as the server does; what is counted is each
call's rows, so the tests say how requests were grouped, never how long anything took.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import numpy as np
import pytest
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression

from mlaiops.runtime.batching import Batcher, Outputs, split

X, Y = make_classification(n_samples=400, n_features=5, random_state=3)
MODEL = LogisticRegression().fit(X, Y)


class Calls:
    """Runs the model on a thread, recording the rows of each call; ``gate`` holds calls until it is set."""

    def __init__(self) -> None:
        self.rows: list[int] = []
        self.observed: list[tuple[int, int]] = []
        self.gate = threading.Event()
        self.gate.set()

    async def run(self, model: Any, features: np.ndarray) -> Outputs:
        self.rows.append(len(features))

        def call() -> Outputs:
            self.gate.wait(5)
            return {"predict": model.predict(features), "predict_proba": model.predict_proba(features)}

        return await asyncio.to_thread(call)

    def observe(self, rows: int, requests: int) -> None:
        self.observed.append((rows, requests))


def alone(features: np.ndarray) -> Outputs:
    return {"predict": MODEL.predict(features), "predict_proba": MODEL.predict_proba(features)}


def same(got: Outputs, expected: Outputs) -> bool:
    """Classes exactly; probabilities to the last bits (a stacked matrix product may round them differently)."""
    return (
        got.keys() == expected.keys()
        and np.array_equal(got["predict"], expected["predict"])
        and np.allclose(got["predict_proba"], expected["predict_proba"], rtol=1e-12, atol=1e-15)
    )


def gather(batcher: Batcher, requests: list[np.ndarray], model: Any = MODEL) -> list[Any]:
    async def main() -> list[Any]:
        return await asyncio.gather(*(batcher.predict(model, rows) for rows in requests), return_exceptions=True)

    return asyncio.run(main())


def test_concurrent_single_rows_share_calls_and_each_gets_its_own_answer() -> None:
    calls = Calls()
    batcher = Batcher(calls.run, max_rows=8, max_latency=0.1, observe=calls.observe)
    requests = [X[i : i + 1] for i in range(20)]
    answers = gather(batcher, requests)
    assert all(same(answer, alone(rows)) for answer, rows in zip(answers, requests, strict=True))
    assert calls.rows == [8, 8, 4]  # full batches go at once; the last waits out its latency
    assert calls.observed == [(8, 8), (8, 8), (4, 4)]


def test_a_batch_never_exceeds_max_rows_and_multi_row_requests_stay_whole() -> None:
    calls = Calls()
    batcher = Batcher(calls.run, max_rows=10, max_latency=0.1)
    sizes = [3, 4, 5, 2, 6, 1, 9]
    starts = np.cumsum([0, *sizes[:-1]])
    requests = [X[start : start + size] for start, size in zip(starts, sizes, strict=True)]
    answers = gather(batcher, requests)
    assert all(same(answer, alone(rows)) for answer, rows in zip(answers, requests, strict=True))
    # The oldest request opens each batch; later ones join while they fit (first fit, in arrival order).
    assert calls.rows == [3 + 4 + 2 + 1, 5, 6, 9]


def test_a_request_larger_than_a_batch_is_one_call_of_its_own() -> None:
    calls = Calls()
    batcher = Batcher(calls.run, max_rows=4, max_latency=0.1)
    answers = gather(batcher, [X[:10], X[10:11]])
    assert same(answers[0], alone(X[:10])) and same(answers[1], alone(X[10:11]))
    assert calls.rows == [10, 1]


def test_one_clients_bad_rows_fail_only_that_request() -> None:
    calls = Calls()
    batcher = Batcher(calls.run, max_rows=16, max_latency=0.1, observe=calls.observe)
    bad = X[5:6].copy()
    bad[0, 2] = np.nan  # scikit-learn refuses NaN: the stacked call fails as a whole
    requests = [X[0:1], X[1:3], bad, X[3:4]]
    answers = gather(batcher, requests)
    assert isinstance(answers[2], ValueError)
    for index in (0, 1, 3):
        assert same(answers[index], alone(requests[index]))
    assert calls.rows == [5, 1, 2, 1, 1]  # the batch, then each request on its own
    assert calls.observed == [(1, 1), (2, 1), (1, 1)]  # only calls that answered are counted


def test_rows_of_another_shape_or_model_are_not_stacked() -> None:
    calls = Calls()
    batcher = Batcher(calls.run, max_rows=16, max_latency=0.2)
    other = LogisticRegression().fit(X[:, :3], Y)
    requests: list[tuple[Any, np.ndarray]] = [
        (MODEL, X[0:1]),
        (other, X[1:2, :3]),
        (MODEL, X[2:3]),
        (other, X[3:4, :3]),
    ]

    async def main() -> list[Outputs]:
        return await asyncio.gather(*(batcher.predict(model, rows) for model, rows in requests))

    answers = asyncio.run(main())
    assert same(answers[0], alone(X[0:1])) and same(answers[2], alone(X[2:3]))
    assert np.array_equal(answers[1]["predict"], other.predict(X[1:2, :3]))
    assert np.allclose(answers[3]["predict_proba"], other.predict_proba(X[3:4, :3]), rtol=1e-12, atol=1e-15)
    assert sorted(calls.rows) == [2, 2]


def test_requests_that_arrive_during_a_call_go_together_in_the_next() -> None:
    calls = Calls()
    batcher = Batcher(calls.run, max_rows=32, max_latency=0.0)

    async def main() -> list[Outputs]:
        calls.gate.clear()  # the first call holds the prediction thread
        first = asyncio.ensure_future(batcher.predict(MODEL, X[0:1]))
        while not calls.rows:
            await asyncio.sleep(0.001)
        later = [asyncio.ensure_future(batcher.predict(MODEL, X[i : i + 1])) for i in range(1, 6)]
        await asyncio.sleep(0.01)
        calls.gate.set()
        return await asyncio.gather(first, *later)

    answers = asyncio.run(main())
    assert calls.rows == [1, 5]
    assert all(same(answer, alone(X[i : i + 1])) for i, answer in enumerate(answers))


def test_a_client_that_went_away_is_not_predicted() -> None:
    calls = Calls()
    batcher = Batcher(calls.run, max_rows=32, max_latency=0.05)

    async def main() -> Outputs:
        gone = asyncio.ensure_future(batcher.predict(MODEL, X[0:3]))
        kept = asyncio.ensure_future(batcher.predict(MODEL, X[3:4]))
        await asyncio.sleep(0)
        gone.cancel()
        return await kept

    assert same(asyncio.run(main()), alone(X[3:4]))
    assert calls.rows == [1]


def test_outputs_that_are_not_per_row_are_answered_request_by_request() -> None:
    async def run(model: Any, features: np.ndarray) -> Outputs:
        return {"predict": model.predict(features), "summary": np.array([len(features)])}

    batcher = Batcher(run, max_rows=8, max_latency=0.1)
    answers = gather(batcher, [X[0:2], X[2:5]])
    assert [int(answer["summary"][0]) for answer in answers] == [2, 3]


def test_split_gives_each_request_its_rows() -> None:
    outputs = {"predict": np.arange(6), "predict_proba": np.arange(12).reshape(6, 2)}
    parts = split(outputs, [1, 3, 2])
    assert [part["predict"].tolist() for part in parts] == [[0], [1, 2, 3], [4, 5]]
    assert parts[2]["predict_proba"].tolist() == [[8, 9], [10, 11]]
    with pytest.raises(ValueError, match=r"^output 'predict' has \(5,\) entries for 6 rows: not per row$"):
        split({"predict": np.arange(5)}, [1, 3, 2])
    with pytest.raises(ValueError, match="not per row"):
        split({"predict": np.float64(1.0)}, [1])


def test_a_request_arriving_within_max_latency_of_the_first_shares_its_call() -> None:
    calls = Calls()
    # Under a second, so a mutant that only waits while more than 1 s is left goes alone: the second request
    # fills the batch a few loop turns later, not after a timed sleep.
    batcher = Batcher(calls.run, max_rows=2, max_latency=0.9)

    async def main() -> list[Outputs]:
        first = asyncio.ensure_future(batcher.predict(MODEL, X[0:1]))
        while batcher._worker is None:  # the first request is in and waiting for company
            await asyncio.sleep(0)
        await asyncio.sleep(0)
        return await asyncio.gather(first, batcher.predict(MODEL, X[1:2]))

    answers = asyncio.run(main())
    assert calls.rows == [2]
    assert same(answers[0], alone(X[0:1])) and same(answers[1], alone(X[1:2]))


def test_a_full_batch_goes_at_once_without_waiting_out_its_latency() -> None:
    calls = Calls()
    batcher = Batcher(calls.run, max_rows=2, max_latency=60.0)

    async def main() -> list[Outputs]:
        # A full batch must not wait out its minute: 10 s is a bound no healthy run comes near, not a timing.
        return await asyncio.wait_for(
            asyncio.gather(batcher.predict(MODEL, X[0:1]), batcher.predict(MODEL, X[1:2])), timeout=10
        )

    asyncio.run(main())
    assert calls.rows == [2]


def test_two_models_with_the_same_features_are_not_stacked() -> None:
    calls = Calls()
    batcher = Batcher(calls.run, max_rows=8, max_latency=0.1)
    twin = LogisticRegression(C=0.01).fit(X, Y)

    async def main() -> list[Outputs]:
        return await asyncio.gather(batcher.predict(MODEL, X[0:1]), batcher.predict(twin, X[1:2]))

    answers = asyncio.run(main())
    assert calls.rows == [1, 1]
    assert np.allclose(answers[1]["predict_proba"], twin.predict_proba(X[1:2]), rtol=1e-12, atol=1e-15)


def test_a_batch_of_one_row_is_allowed_and_answers_each_request_alone() -> None:
    calls = Calls()
    batcher = Batcher(calls.run, max_rows=1, max_latency=0.1)
    gather(batcher, [X[0:1], X[1:2], X[2:3]])
    assert calls.rows == [1, 1, 1]


@pytest.mark.parametrize(("rows", "latency", "message"), [(0, 0.01, "max_rows"), (4, -1.0, "max_latency")])
def test_bad_settings_are_refused(rows: int, latency: float, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Batcher(Calls().run, rows, latency)

"""Streaming contract for every detector: causality, serialisation mid-stream, vectorisation."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlaiops.detection.engine import Engine
from mlaiops.detection.registry import build_detector, detector_from_dict
from mlaiops.detection.rolling import MadDetector

CONFIGS = {
    "threshold": {"type": "threshold", "upper": 12.0, "lower": 8.0},
    "zscore": {"type": "zscore", "window": 30},
    "mad": {"type": "mad", "window": 30},
    "ewma": {"type": "ewma", "beta": 0.1},
    "seasonal": {"type": "seasonal", "period": 3600, "buckets": 12},
    "forecast": {"type": "forecast", "upper": 14.0, "horizon": 600},
    "isolationForest": {"type": "isolationForest", "window": 40, "refitEvery": 20, "minPoints": 20, "nEstimators": 10},
    "auto": {"type": "auto", "period": 3600, "minPoints": 20},
}
STEP = 60.0


def series(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    values = 10 + rng.standard_normal(n)
    values[n // 2] += 8
    values[n // 3 : n // 3 + 5] -= 6
    return 1_700_000_000.0 + STEP * np.arange(n), values


def same(a: np.ndarray, b: np.ndarray) -> bool:
    return bool(np.array_equal(a, b, equal_nan=True))


@pytest.mark.parametrize("kind", sorted(CONFIGS))
@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    cut=st.integers(min_value=1, max_value=119),
    future=st.lists(st.one_of(st.floats(-1e6, 1e6, allow_nan=False), st.just(float("nan"))), min_size=1, max_size=120),
)
def test_changing_the_future_never_changes_the_past(kind: str, cut: int, future: list[float]) -> None:
    t, values = series(120)
    altered = values.copy()
    tail = np.resize(np.asarray(future), 120 - cut)
    altered[cut:] = tail
    a = build_detector(CONFIGS[kind]).run(values, t)
    b = build_detector(CONFIGS[kind]).run(altered, t)
    for field in ("score", "expected", "lower", "upper"):
        assert same(getattr(a, field)[:, :cut], getattr(b, field)[:, :cut]), field


@pytest.mark.parametrize("kind", sorted(CONFIGS))
def test_serialise_mid_stream_restore_and_continue_identically(kind: str) -> None:
    t, values = series(160, seed=1)
    whole = build_detector(CONFIGS[kind]).run(values, t)
    first = build_detector(CONFIGS[kind])
    head = first.run(values[:75], t[:75])
    payload = json.loads(json.dumps(first.to_dict(), allow_nan=False))
    restored = detector_from_dict(payload)
    tail = restored.run(values[75:], t[75:])
    for field in ("score", "expected", "lower", "upper"):
        joined = np.concatenate([getattr(head, field), getattr(tail, field)], axis=1)
        assert same(joined, getattr(whole, field)), field


def test_restoring_a_payload_as_another_detector_class_is_refused() -> None:
    payload = build_detector({"type": "zscore"}).to_dict()
    with pytest.raises(ValueError, match="detector_from_dict"):
        MadDetector.from_dict(payload)


@pytest.mark.parametrize("kind", sorted(k for k in CONFIGS if k != "isolationForest"))
def test_many_series_at_once_equal_one_at_a_time(kind: str) -> None:
    rows = [series(100, seed=s) for s in range(4)]
    t = rows[0][0]
    block = np.stack([v for _, v in rows])
    block[2, 40:45] = np.nan  # a gap in one series only
    together = build_detector(CONFIGS[kind], n_series=4).run(block, t)
    for i in range(4):
        alone = build_detector(CONFIGS[kind]).run(block[i], t)
        assert same(together.score[i], alone.score[0])
        assert same(together.expected[i], alone.expected[0])


def test_update_and_run_agree() -> None:
    t, values = series(80)
    for kind, config in CONFIGS.items():
        batch = build_detector(config).run(values, t).score[0]
        streamed = build_detector(config)
        one_by_one = [streamed.update(t[i], [values[i]]).score[0] for i in range(80)]
        assert same(batch, np.asarray(one_by_one)), kind


def test_fit_warm_starts_like_streaming_the_history() -> None:
    t, values = series(150)
    streamed = build_detector(CONFIGS["mad"]).run(values, t).score[0, 100:]
    warmed = build_detector(CONFIGS["mad"]).fit(values[:100], t[:100]).run(values[100:], t[100:]).score[0]
    assert same(streamed, warmed)


def test_engine_marks_exclusions_per_series_and_round_trips() -> None:
    t, values = series(120)
    block = np.stack([values, values])
    engine = Engine({"type": "mad", "window": 30}, n_series=2)
    engine.mark_excluded(t[50], t[70], series=[1])
    assert engine.excluded(t)[1, 50:71].all() and not engine.excluded(t)[0].any()
    head = engine.evaluate(t[:60], block[:, :60])
    restored = Engine.from_dict(json.loads(json.dumps(engine.to_dict())))
    tail = restored.evaluate(t[60:], block[:, 60:])
    reference = Engine({"type": "mad", "window": 30}, n_series=2)
    reference.mark_excluded(t[50], t[70], series=[1])
    whole = reference.evaluate(t, block)
    assert same(np.concatenate([head.score, tail.score], axis=1), whole.score)
    assert np.array_equal(np.concatenate([head.state, tail.state], axis=1), whole.state)
    engine.forget_marks_before(t[100])
    assert engine.marks == []


def test_state_arrays_encode_to_strict_json() -> None:
    from mlaiops.detection.base import decode_array, encode_array

    for array in (np.array([1.0, np.nan, np.inf, -np.inf]), np.full((2, 3), np.nan), np.array(2.5), np.arange(3)):
        text = json.dumps(encode_array(array), allow_nan=False)
        assert same(decode_array(json.loads(text)), array)

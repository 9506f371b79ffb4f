"""The shift channel of the banded detectors (``shiftWindow``): the median of the last ``shiftWindow``
residuals against its own noise floor, so a sustained shift that no single point shows still pages
(the NAB table in the README says what it bought)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlaiops.detection.base import SHIFT_WARMUP, Detector
from mlaiops.detection.config import EwmaConfig, parse_detector_config
from mlaiops.detection.registry import build_detector, detector_from_dict

pytestmark = pytest.mark.unit

STEP = 60.0
SHIFT_AT = 1200


def shifted(seed: int = 1, size: float = 1.5, n: int = 1350) -> np.ndarray:
    """Gaussian noise around 10, then a level ``size`` sigma higher from ``SHIFT_AT`` on: each shifted
    point stays inside the noise floor (1.1 x the largest residual of 1,200 points, about 3.5 sigma)."""
    values = 10 + np.random.default_rng(seed).standard_normal(n)
    values[SHIFT_AT:] += size
    return values


ON = {"zscore": 30, "mad": 60, "ewma": 30}
"""The channel's window where it is on: each detector's default."""


def on(kind: str, **config: object) -> dict:
    return {"type": kind, "shiftWindow": ON[kind], **config}


def pages(config: dict, values: np.ndarray) -> np.ndarray:
    return build_detector(config).run(values, STEP * np.arange(values.size)).score[0] > 1.0


@pytest.mark.parametrize("kind", ("zscore", "mad"))
def test_a_shift_no_single_point_shows_pages_only_with_the_shift_window(kind: str) -> None:
    values = shifted()
    without = pages({"type": kind, "shiftWindow": 0}, values)
    with_shift = pages(on(kind), values)
    assert not without[SHIFT_AT:].any(), "the point floor alone never sees this shift"
    assert with_shift[SHIFT_AT : SHIFT_AT + 30].any(), "half a window of shifted points moves the median"
    assert with_shift[:SHIFT_AT].sum() <= without[:SHIFT_AT].sum() + 1


@pytest.mark.parametrize("kind", ("zscore", "mad", "ewma"))
def test_the_shift_window_is_on_by_default_and_zero_turns_it_off(kind: str) -> None:
    assert parse_detector_config({"type": kind}).shift_window == ON[kind]
    detector = build_detector({"type": kind, "shiftWindow": 0})
    assert "shift_buf" not in detector.to_dict()["state"]
    with pytest.raises(ValueError, match="shiftWindow"):
        parse_detector_config({"type": kind, "shiftWindow": -1})


def test_ewma_ships_alpha_0_07_and_its_shift_channel_measured_from_the_slow_level() -> None:
    """The point ewma's --cv grid chose on all files (README)."""
    config = EwmaConfig()
    assert (config.alpha, config.shift_window, config.shift_alpha) == (0.07, 30, 0.02)
    assert config.shift_learn_all is True, "the slow level learns the flagged points too"


def test_nothing_pages_from_the_shift_channel_before_its_warm_up() -> None:
    values = 10 + np.random.default_rng(3).standard_normal(SHIFT_WARMUP)
    values[150:] += 1.5  # a shift the median sees at once, but the channel is not warm yet
    assert (pages(on("mad"), values) == pages({"type": "mad", "shiftWindow": 0}, values)).all()


def test_direction_up_ignores_a_downward_shift() -> None:
    down = shifted(size=-1.5)
    assert pages({"type": "zscore"}, down)[SHIFT_AT : SHIFT_AT + 30].any()
    assert not pages({"type": "zscore", "direction": "up"}, down)[SHIFT_AT:].any()


@pytest.mark.parametrize("kind", ("zscore", "mad", "ewma"))
@settings(max_examples=5, deadline=None)
@given(cut=st.integers(min_value=SHIFT_WARMUP, max_value=SHIFT_WARMUP + 200), level=st.floats(-50, 50))
def test_changing_the_future_never_changes_the_past(kind: str, cut: int, level: float) -> None:
    values = shifted(seed=2, n=SHIFT_WARMUP + 250)
    altered = values.copy()
    altered[cut:] = level
    t = STEP * np.arange(values.size)
    a = build_detector(on(kind)).run(values, t)
    b = build_detector(on(kind)).run(altered, t)
    assert np.array_equal(a.score[:, :cut], b.score[:, :cut])


@pytest.mark.parametrize("kind", ("zscore", "mad", "ewma"))
def test_serialise_after_the_warm_up_restore_and_continue_identically(kind: str) -> None:
    values = shifted(seed=4)
    t = STEP * np.arange(values.size)
    whole = build_detector(on(kind)).run(values, t)
    first = build_detector(on(kind))
    head = first.run(values[:SHIFT_AT], t[:SHIFT_AT])
    restored = detector_from_dict(json.loads(json.dumps(first.to_dict(), allow_nan=False)))
    tail = restored.run(values[SHIFT_AT:], t[SHIFT_AT:])
    assert np.array_equal(np.concatenate([head.score, tail.score], axis=1), whole.score)


@pytest.mark.parametrize("kind", ("zscore", "mad", "ewma"))
def test_many_series_at_once_equal_one_at_a_time(kind: str) -> None:
    block = np.stack([shifted(seed=s, size=1.5 * (s - 1)) for s in range(3)])
    block[1, 700:720] = np.nan  # a gap in one series only
    t = STEP * np.arange(block.shape[1])
    together = build_detector(on(kind), n_series=3).run(block, t)
    for i in range(3):
        assert np.array_equal(together.score[i], build_detector(on(kind)).run(block[i], t).score[0])


SLOW_EWMA = {"type": "ewma", "alpha": 0.07, "shiftWindow": 30, "shiftAlpha": 0.02}
"""ewma's shift channel measured from a slow level (``shiftAlpha``)."""


@pytest.mark.parametrize("seed", (1, 3, 4, 6))
def test_ewma_measures_its_shift_channel_from_a_slow_level_its_own_level_absorbs_the_shift(seed: int) -> None:
    """A shift of one sigma: ewma's level (alpha 0.07) takes it in before half a window of residuals from it
    is shifted, so the channel measured from the level never pages; from the slow level (``shiftAlpha``
    0.02) it does within 40 points, at no more false alarms before it."""
    values = shifted(seed=seed, size=1.0, n=SHIFT_AT + 200)
    slow = pages(SLOW_EWMA, values)
    from_level = pages({**SLOW_EWMA, "shiftAlpha": 0}, values)
    assert not from_level[SHIFT_AT:].any()
    assert slow[SHIFT_AT : SHIFT_AT + 40].any()
    assert slow[:SHIFT_AT].sum() <= from_level[:SHIFT_AT].sum() + 1


def test_ewma_slow_level_is_a_plain_average_at_first_then_smooths_at_shift_alpha() -> None:
    """As the level: the rate is max(``shiftAlpha``, 1/n), so the first points give their mean (a band of
    1000 sigma: no point is flagged, so every one is learned)."""
    values = 10 + np.random.default_rng(5).standard_normal(200)
    detector = build_detector({**SLOW_EWMA, "shiftAlpha": 0.05, "threshold": 1000})
    expected = np.nan
    for i, v in enumerate(values):
        detector.update(STEP * i, [v])
        expected = v if i == 0 else expected + max(0.05, 1.0 / (i + 1)) * (v - expected)
        if i == 9:
            assert float(detector.slow[0]) == pytest.approx(values[:10].mean())
    assert float(detector.slow[0]) == pytest.approx(expected)
    for i in range(20):  # excluded points (a rollout, say) stay out of it, as out of the level
        detector.update(STEP * (200 + i), [100.0], excluded=True)
    assert float(detector.slow[0]) == pytest.approx(expected)
    off = build_detector({**SLOW_EWMA, "shiftWindow": 0})
    off.run(values, STEP * np.arange(values.size))
    assert np.isnan(off.slow).all(), "no channel, no slow level to keep"


def test_an_ewma_snapshot_from_before_the_slow_level_starts_one_at_its_next_point() -> None:
    values = shifted(seed=4)
    t = STEP * np.arange(values.size)
    first = build_detector(SLOW_EWMA)
    first.run(values[:SHIFT_AT], t[:SHIFT_AT])
    payload = first.to_dict()
    del payload["state"]["slow"]
    restored = detector_from_dict(payload)
    restored.update(t[SHIFT_AT], [values[SHIFT_AT]])
    assert float(restored.slow[0]) == values[SHIFT_AT]
    assert pages_after(restored, values[SHIFT_AT + 1 :], t[SHIFT_AT + 1 :]).any(), "the shift still pages"


def pages_after(detector: Detector, values: np.ndarray, t: np.ndarray) -> np.ndarray:
    return detector.run(values, t).score[0] > 1.0


def test_ewma_shift_learn_all_lets_the_slow_level_learn_a_flagged_point_the_level_keeps_out() -> None:
    """``shiftLearnAll``: the slow level learns every usable point, a flagged one too (it moves by
    ``shiftAlpha`` of the residual); the level still keeps it out, and excluded points stay out of both."""
    values = shifted(seed=2, n=SHIFT_AT)
    t = STEP * np.arange(values.size)
    for learn_all in (False, True):
        detector = build_detector({**SLOW_EWMA, "shiftLearnAll": learn_all})
        detector.run(values, t)
        level, slow = float(detector.level[0]), float(detector.slow[0])
        step = detector.update(STEP * SHIFT_AT, [100.0])
        assert step.score[0] > 1.0
        assert float(detector.level[0]) == level
        moved = slow + 0.02 * (100.0 - slow) if learn_all else slow
        assert float(detector.slow[0]) == pytest.approx(moved)
        detector.update(STEP * (SHIFT_AT + 1), [100.0], excluded=True)
        assert float(detector.slow[0]) == pytest.approx(moved)


def test_ewma_shift_learn_all_changes_nothing_without_the_slow_level() -> None:
    values = shifted(seed=3)
    t = STEP * np.arange(values.size)
    for config in ({**SLOW_EWMA, "shiftAlpha": 0}, {**SLOW_EWMA, "shiftWindow": 0}):
        plain = build_detector({**config, "shiftLearnAll": False}).run(values, t).score
        assert np.array_equal(build_detector({**config, "shiftLearnAll": True}).run(values, t).score, plain)

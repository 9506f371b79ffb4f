"""The alert state machine: for / keepFiringFor, vectorised over series, serialisable."""

from __future__ import annotations

import json

import numpy as np

from mlaiops.detection.config import HysteresisConfig
from mlaiops.detection.hysteresis import AlertState, Hysteresis

N, P, F = AlertState.NORMAL, AlertState.PENDING, AlertState.FIRING


def states(config: HysteresisConfig, flags: list[int]) -> list[int]:
    return Hysteresis(config).run(np.array([flags], dtype=bool))[0].tolist()


def test_default_fires_on_first_anomaly_and_resolves_on_first_normal() -> None:
    assert states(HysteresisConfig(), [0, 1, 1, 0, 1]) == [N, F, F, N, F]


def test_for_needs_consecutive_anomalies() -> None:
    cfg = HysteresisConfig(for_=3)
    assert states(cfg, [1, 1, 0, 1, 1, 1, 1]) == [P, P, N, P, P, F, F]


def test_keep_firing_for_holds_through_short_gaps() -> None:
    cfg = HysteresisConfig(for_=1, keep_firing_for=2)
    assert states(cfg, [1, 0, 0, 1, 0, 0, 0, 0]) == [F, F, F, F, F, F, N, N]


def test_series_are_independent() -> None:
    hyst = Hysteresis(HysteresisConfig(for_=2), n_series=2)
    out = hyst.run(np.array([[1, 1, 1], [0, 1, 0]], dtype=bool))
    assert out.tolist() == [[P, F, F], [N, P, N]]


def test_round_trip_continues_identically() -> None:
    cfg = HysteresisConfig(for_=2, keep_firing_for=1)
    flags = np.array([[1, 1, 0, 1, 0, 0, 1, 1, 1, 0]], dtype=bool)
    whole = Hysteresis(cfg).run(flags)
    first = Hysteresis(cfg)
    head = first.run(flags[:, :4])
    restored = Hysteresis.from_dict(json.loads(json.dumps(first.to_dict())))
    tail = restored.run(flags[:, 4:])
    assert np.array_equal(np.concatenate([head, tail], axis=1), whole)

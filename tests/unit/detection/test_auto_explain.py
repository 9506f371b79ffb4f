"""`mlaiops detect --explain` and the anomaly likelihood it reports."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from mlaiops.detection.auto import MARGINAL, UNUSUAL, AutoDetector
from mlaiops.detection.config import AutoConfig
from mlaiops.detection.likelihood import WARMUP, LikelihoodState, likelihood_step, likelihoods

pytestmark = pytest.mark.unit


def write_series(path: Path, values: np.ndarray) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["timestamp", "value"])
        for i, value in enumerate(values):
            writer.writerow([1_700_000_000 + 60 * i, f"{value:.4f}"])


def detect(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mlaiops", "detect", *args], capture_output=True, text=True, check=False
    )


def test_explain_names_the_channel_of_each_firing_and_keeps_the_scores(tmp_path: Path) -> None:
    values = 10 + np.random.default_rng(0).standard_normal(560)  # past the likelihood's warm-up
    values[400] += 8.0  # a spike: the level channel
    values[480:] += 2.5  # a plateau no single point shows: the shift channel
    src, plain, explained = tmp_path / "in.csv", tmp_path / "plain.csv", tmp_path / "explained.csv"
    write_series(src, values)
    assert detect(str(src), "-o", str(plain)).returncode == 0
    result = detect(str(src), "-o", str(explained), "--explain")
    assert result.returncode == 0, result.stderr
    assert explained.read_text() == plain.read_text(), "--explain must not change the engine's output"
    with plain.open() as handle:
        rows = list(csv.DictReader(handle))
    firing = [row["is_anomaly"] == "1" for row in rows]
    firing_starts = [rows[i]["timestamp"] for i in range(len(rows)) if firing[i] and (i == 0 or not firing[i - 1])]
    lines = result.stdout.splitlines()
    assert [line.split()[0] for line in lines] == firing_starts
    by_time = {line.split()[0]: dict(f.split("=") for f in line.split()[1:]) for line in lines}
    spike = by_time[str(1_700_000_000 + 60 * 400)]
    assert spike["channel"] == "level" and float(spike["channel_score"]) > 1.0
    assert float(spike["score"]) == pytest.approx(float(spike["channel_score"]), rel=1e-3)
    after_plateau = [f for t, f in by_time.items() if int(t) >= 1_700_000_000 + 60 * 480]
    assert after_plateau, "the plateau never fired"
    assert after_plateau[0]["channel"] == "shift"
    assert all(0.0 <= float(f["likelihood"]) <= 1.0 for f in by_time.values())


def ratio_after(history: np.ndarray, score: float) -> float:
    state = LikelihoodState.empty(1)
    for value in history:
        likelihood_step(state, np.array([value]), np.array([True]))
    return float(likelihood_step(state, np.array([score]), np.array([True]))[0])


def test_a_marginal_score_is_unusual_on_a_quiet_series_and_usual_on_a_noisy_one() -> None:
    rng = np.random.default_rng(0)
    quiet = np.abs(0.2 + 0.05 * rng.standard_normal(WARMUP + 200))
    noisy = rng.uniform(0.3, 1.3, WARMUP + 200)  # a series that sits near its bar all day
    assert ratio_after(quiet, 1.2) >= UNUSUAL
    assert ratio_after(noisy, 1.2) < UNUSUAL
    assert ratio_after(quiet[: WARMUP - 1], 50.0) == 0.0, "no verdict before the long window has warmed up"


def test_auto_gates_only_marginal_scores_and_only_when_the_recent_scores_are_usual() -> None:
    rng = np.random.default_rng(3)
    x = 10 + rng.standard_normal(1500) * np.where(np.arange(1500) % 400 < 200, 1.0, 3.0)
    x[[700, 1100, 1300]] += 12.0
    detector = AutoDetector(AutoConfig(), 1)
    gated = 0
    for i, value in enumerate(x):
        score = float(detector.update(300.0 * i, [value]).score[0])
        if i < AutoConfig().min_points:
            continue
        raw = max(float(s[0]) for s in detector.channel_scores().values())
        if 1.0 < raw < MARGINAL and detector.likelihood[0] < UNUSUAL:
            assert score == 1.0
            gated += 1
        else:
            assert score == pytest.approx(raw)
    assert gated > 0, "the series should show the gate at work"


def test_likelihood_of_a_prefix_is_the_prefix_of_the_likelihood() -> None:
    scores = np.abs(np.random.default_rng(1).standard_normal((1, WARMUP + 300)))
    full = likelihoods(scores)
    np.testing.assert_array_equal(likelihoods(scores[:, : WARMUP + 120]), full[:, : WARMUP + 120])

"""`mlaiops detect --explain` and the anomaly likelihood it reports."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from mlaiops.detection.likelihood import EPSILON, WARMUP, likelihoods

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
    values = 10 + np.random.default_rng(0).standard_normal(280)
    values[200] += 8.0  # a spike: the level channel
    values[240:] += 2.5  # a plateau no single point shows: the shift channel
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
    spike = by_time[str(1_700_000_000 + 60 * 200)]
    assert spike["channel"] == "level" and float(spike["channel_score"]) > 1.0
    assert float(spike["score"]) == pytest.approx(float(spike["channel_score"]), rel=1e-3)
    after_plateau = [f for t, f in by_time.items() if int(t) >= 1_700_000_000 + 60 * 240]
    assert after_plateau, "the plateau never fired"
    assert after_plateau[0]["channel"] == "shift"
    assert all(0.0 <= float(f["likelihood"]) <= 1.0 for f in by_time.values())


def test_likelihood_is_high_for_a_run_of_raised_scores_not_for_one_large_score() -> None:
    rng = np.random.default_rng(0)
    scores = np.abs(0.2 + 0.05 * rng.standard_normal((2, WARMUP + 200)))
    at = WARMUP + 100
    scores[0, at] = 50.0  # one huge score
    scores[1, at : at + 20] = 0.8  # twenty moderately raised ones
    lik = likelihoods(scores)
    assert lik[0, at] < 1.0 - EPSILON
    assert lik[1, at + 19] > 1.0 - EPSILON
    assert np.all(lik[:, :WARMUP] == 0.5), "no verdict before the long window has warmed up"


def test_likelihood_of_a_prefix_is_the_prefix_of_the_likelihood() -> None:
    scores = np.abs(np.random.default_rng(1).standard_normal((1, WARMUP + 300)))
    full = likelihoods(scores)
    np.testing.assert_array_equal(likelihoods(scores[:, : WARMUP + 120]), full[:, : WARMUP + 120])

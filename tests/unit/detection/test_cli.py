"""`mlaiops detect` end to end through the installed entry point (python -m mlaiops)."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from mlaiops.detection.cli import parse_settings, with_shipped_defaults
from mlaiops.detection.config import parse_detector_config


def write_series(path: Path, values: np.ndarray) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["timestamp", "value"])
        for i, value in enumerate(values):
            minute = i % 60
            hour = i // 60
            writer.writerow([f"2024-01-01 {hour:02d}:{minute:02d}:00", f"{value:.4f}"])


def detect(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mlaiops", "detect", *args], capture_output=True, text=True, check=False
    )


def test_detect_writes_one_row_per_input_row(tmp_path: Path) -> None:
    values = 10 + np.random.default_rng(0).standard_normal(300)
    values[200] += 20
    src, dst = tmp_path / "in.csv", tmp_path / "out.csv"
    write_series(src, values)
    result = detect("--detector", "mad", "--set", "window=60", str(src), "-o", str(dst))
    assert result.returncode == 0, result.stderr
    with dst.open() as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == ["timestamp", "value", "anomaly_score", "is_anomaly"]
    assert len(rows) == 300
    assert rows[200]["is_anomaly"] == "1" and float(rows[200]["anomaly_score"]) > 1
    assert sum(int(r["is_anomaly"]) for r in rows) <= 5
    assert rows[5]["timestamp"] == "2024-01-01 00:05:00"


def test_detect_hysteresis_flags(tmp_path: Path) -> None:
    values = np.full(100, 5.0)
    values[50:53] = 50.0  # three points above the bound
    src, dst = tmp_path / "in.csv", tmp_path / "out.csv"
    write_series(src, values)
    args = ["--detector", "threshold", "--set", "upper=10", "--for", "2", "--keep-firing-for", "1"]
    assert detect(*args, str(src), "-o", str(dst)).returncode == 0
    with dst.open() as handle:
        firing = [int(r["is_anomaly"]) for r in csv.DictReader(handle)]
    assert firing[49:55] == [0, 0, 1, 1, 1, 0]


def test_detect_rejects_bad_settings(tmp_path: Path) -> None:
    src = tmp_path / "in.csv"
    write_series(src, np.ones(10))
    result = detect("--detector", "zscore", "--set", "window=-3", str(src), "-o", str(tmp_path / "o.csv"))
    assert result.returncode == 2
    assert "invalid settings" in result.stderr


def test_parse_settings_nested_and_json() -> None:
    assert parse_settings(["minDeviation.absolute=2", "dataRange=[0,100]", "direction=up"]) == {
        "minDeviation": {"absolute": 2},
        "dataRange": [0, 100],
        "direction": "up",
    }


def test_a_nested_setting_keeps_the_rest_of_the_detectors_own_default() -> None:
    """``--set noiseFloor.memory=1000`` changes the memory of zscore's shipped floor; it does not replace the
    floor by the class's default, whose margin 0 turns it off (a --cv grid over memory alone measured that)."""
    shipped = parse_detector_config({"type": "zscore"}).noise_floor
    for key in ("noiseFloor", "noise_floor"):
        merged = parse_detector_config(with_shipped_defaults("zscore", {key: {"memory": 1000}})).noise_floor
        assert merged == shipped.model_copy(update={"memory": 1000})
    assert with_shipped_defaults("zscore", {"window": 60}) == {"type": "zscore", "window": 60}
    # The defaults of the detector the flat settings make: a multivariate forest has no floor, so one asked
    # for is refused, not merged into an off floor where it would do nothing ...
    multivariate = with_shipped_defaults("isolationForest", {"multivariate": True, "noiseFloor": {"memory": 9}})
    with pytest.raises(ValueError, match="noiseFloor: applies per series"):
        parse_detector_config(multivariate)
    # ... and a forecast, which needs a bound, takes the one given beside the nested setting.
    forecast = with_shipped_defaults("forecast", {"upper": 5, "minDeviation": {"absolute": 1}})
    assert parse_detector_config(forecast).min_deviation.absolute == 1


def test_a_detector_that_needs_a_bound_runs_with_one(tmp_path: Path) -> None:
    src, dst = tmp_path / "in.csv", tmp_path / "out.csv"
    write_series(src, np.arange(30.0))
    result = detect("--detector", "forecast", "--set", "upper=25", str(src), "-o", str(dst))
    assert result.returncode == 0, result.stderr

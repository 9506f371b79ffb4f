"""`mlaiops drift` on generated CSVs, against a CSV or a profile: the console script's own ``main``
in process (an interpreter per call cost about a second of CPU each), and once as a user runs it, in a
subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from mlaiops.detection.profile import build
from tests.cli_runner import mlaiops


def write_csv(path: Path, columns: dict[str, np.ndarray]) -> Path:
    names = list(columns)
    rows = zip(*(columns[name] for name in names), strict=True)
    lines = [",".join(names), *(",".join(str(v) for v in row) for row in rows)]
    path.write_text("\n".join(lines) + "\n")
    return path


def drift(*args: str) -> subprocess.CompletedProcess[str]:
    return mlaiops("drift", *args)


def test_the_console_command_runs_as_a_user_runs_it(csvs: dict[str, Path]) -> None:
    """One real interpreter: ``python -m mlaiops drift`` prints the same JSON as ``main`` and exits 0."""
    args = (str(csvs["reference"]), str(csvs["spread"]), "--method", "ks")
    result = subprocess.run(
        [sys.executable, "-m", "mlaiops", "drift", *args],
        env={**os.environ, "PYTHONPATH": os.environ.get("PYTHONPATH", "")},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == json.loads(drift(*args).stdout)
    assert json.loads(result.stdout)["merchant_risk"]["drifted"] is True


@pytest.fixture(scope="module")
def csvs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("drift")
    rng = np.random.default_rng(11)

    def sample(spread: float, n: int = 3000) -> dict[str, np.ndarray]:
        return {
            "merchant_risk": np.round(rng.normal(0.0, spread, n), 5),
            "amount": np.round(rng.lognormal(3, 0.5, n), 3),
            "channel": rng.choice(np.asarray(["web", "app", "pos"]), n, p=[0.5, 0.3, 0.2]),
        }

    return {
        "reference": write_csv(folder / "reference.csv", sample(1.0)),
        "same": write_csv(folder / "same.csv", sample(1.0)),
        "spread": write_csv(folder / "spread.csv", sample(2.0)),  # same mean, twice the spread
    }


@pytest.mark.parametrize("method", ["psi", "ks"])
def test_a_change_of_spread_that_keeps_the_mean_is_drift(csvs: dict[str, Path], method: str) -> None:
    result = drift(str(csvs["reference"]), str(csvs["spread"]), "--method", method)
    assert result.returncode == 0, result.stderr
    scores = json.loads(result.stdout)
    assert set(scores) == {"merchant_risk", "amount", "channel"}
    assert scores["merchant_risk"]["drifted"] is True
    assert scores["amount"]["drifted"] is False and scores["channel"]["drifted"] is False
    assert set(scores["merchant_risk"]) == {"score", "drifted"} and isinstance(scores["amount"]["score"], float)


@pytest.mark.parametrize("method", ["psi", "ks", "jensenShannon", "wasserstein"])
def test_a_sample_of_the_same_distribution_is_not_drift(csvs: dict[str, Path], method: str) -> None:
    result = drift(str(csvs["reference"]), str(csvs["same"]), "--method", method)
    assert result.returncode == 0, result.stderr
    assert not any(item["drifted"] for item in json.loads(result.stdout).values())


def test_a_profile_gives_the_same_scores_as_its_csv(csvs: dict[str, Path], tmp_path: Path) -> None:
    from mlaiops.runtime.training import read_csv

    table = read_csv(csvs["reference"].read_text())
    profile = tmp_path / "profile.json"
    profile.write_text(build(table.columns).to_json())
    from_profile = drift("--profile", str(profile), str(csvs["spread"]), "--features", "merchant_risk,channel")
    from_csv = drift(str(csvs["reference"]), str(csvs["spread"]), "--features", "merchant_risk,channel")
    assert from_profile.returncode == 0, from_profile.stderr
    assert json.loads(from_profile.stdout) == json.loads(from_csv.stdout)
    assert set(json.loads(from_csv.stdout)) == {"merchant_risk", "channel"}


def test_threshold_flag_moves_the_verdict(csvs: dict[str, Path]) -> None:
    result = drift(str(csvs["reference"]), str(csvs["same"]), "--threshold", "0")
    assert all(item["drifted"] for item in json.loads(result.stdout).values())


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["reference"], "give REFERENCE and CURRENT"),
        (["reference", "same", "--features", "nope"], "feature 'nope' is not a column of the reference data"),
        (["--profile", "reference", "same"], "the profile is not JSON"),
        (["--profile", "reference", "reference", "same"], "with --profile, give one CSV"),
        (["reference", "same", "--method", "chi2"], "invalid choice: 'chi2'"),
        (["reference", "missing.csv"], "missing.csv"),
    ],
)
def test_bad_input_is_refused_with_the_reason(csvs: dict[str, Path], args: list[str], message: str) -> None:
    paths = [str(csvs[a]) if a in csvs else a for a in args]
    result = drift(*paths)
    assert result.returncode == 2
    assert message in result.stderr

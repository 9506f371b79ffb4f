"""``benchmarks/rca.py``'s arguments, checked before any sandbox starts (tests do not import benchmarks; the
benchmark itself needs a sandbox, a real Prometheus and about 7 minutes, so it is not run here)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "operator"), str(ROOT / "sandbox")])}
    return subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "rca.py"), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def test_an_unknown_fault_type_is_refused_naming_the_flag_and_the_known_types() -> None:
    done = run("--types", "bad-rollout,meteor-strike")
    assert done.returncode == 2
    assert "--types: unknown ['meteor-strike']" in done.stderr
    assert "bad-rollout, bad-retrain, load-surge, dependency-down, crash-loop, unrelated-change" in done.stderr


def test_counts_below_one_are_refused() -> None:
    done = run("--runs-per-type", "0")
    assert done.returncode == 2 and "--runs-per-type must be at least 1, not 0" in done.stderr
    done = run("--parallel", "-1")
    assert done.returncode == 2 and "--parallel must be at least 1, not -1" in done.stderr

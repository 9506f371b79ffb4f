"""``benchmarks/canary_judge.py`` run small, as a user runs it (tests do not import benchmarks), so it never rots."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def run(*args: str) -> str:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "operator"), str(ROOT / "sandbox")])}
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "canary_judge.py"), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=True,
    )
    return done.stdout


def test_a_tiny_run_prints_the_settings_and_every_row_and_is_reproducible() -> None:
    out = run("--runs", "6", "--bad-runs", "4", "--seed", "5")
    assert "steps 25% 2m, 50% 2m, 75% 2m" in out and "minSampleSize 50, alpha 0.001" in out
    rows = [line for line in out.splitlines() if line.startswith("| ") and "---" not in line][1:]
    assert [row.split(" | ")[0] for row in rows] == [
        "| identical models (1% errors both)",
        "| errors 1% -> 2%",
        "| errors 2% -> 4%",
        "| errors 5% -> 10%",
        "| latency +50 ms (p99 96 -> 146 ms)",
        "| slowest 3% +50 ms (p99 96 -> 146 ms)",
    ]
    assert rows[-2].split(" | ")[3].startswith("100.0%")  # a canary 50 ms slower is always caught
    assert rows[0].split(" | ")[2] == "6" and rows[1].split(" | ")[2] == "4"
    again = run("--runs", "6", "--bad-runs", "4", "--seed", "5")
    assert [line for line in again.splitlines() if line.startswith("| ")] == [
        line for line in out.splitlines() if line.startswith("| ")
    ]

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


def table(out: str, first: str) -> list[str]:
    """The body rows of the table whose header starts with ``first``."""
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(first))
    rows = []
    for line in lines[start + 2 :]:
        if not line.startswith("| "):
            break
        rows.append(line)
    return rows


def test_a_tiny_run_prints_the_settings_and_every_row_and_is_reproducible() -> None:
    out = run("--runs", "6", "--bad-runs", "4", "--seed", "5")
    assert "4 replicas, steps 25% 2m, 50% 2m, 75% 2m" in out
    assert "(the relative metrics roll back at their first failure)" in out
    assert "minSampleSize 50, error-rate-vs-stable alpha 0.01 (sequential: over the whole rollout)" in out
    assert "latency-vs-stable alpha 0.01 (sequential too)" in out
    rows = table(out, "| scenario |")
    assert [row.split(" | ")[0] for row in rows] == [
        "| identical models (1% errors both)",
        "| identical models (5% errors both)",
        "| errors 1% -> 2%",
        "| errors 2% -> 4%",
        "| errors 5% -> 10%",
        "| latency +50 ms (p99 96 -> 146 ms)",
        "| latency +5 ms (median 30 -> 35 ms)",
        "| slowest 3% +50 ms (p99 96 -> 146 ms)",
    ]
    assert rows[-3].split(" | ")[3].startswith("100.0%")  # a canary 50 ms slower is always caught
    assert "latency-vs-stable's bounds weighted by stable's 10m before the rollout" in out
    assert all(len(row.split(" | ")) == 7 for row in rows)  # no equal-weights columns unless asked
    assert rows[0].split(" | ")[2] == "6" and rows[1].split(" | ")[2] == "6" and rows[2].split(" | ")[2] == "4"
    # What one look at every request served by 5 minutes could do: deterministic, from the planner's weights.
    assert "one look at all 1275 canary and 1725 stable requests served by then" in out
    assert table(out, "| change |") == [
        "| errors 1% -> 2% | 26 / 17 | 48.4% | 22.1% |",
        "| errors 2% -> 4% | 51 / 34 | 81.2% | 56.2% |",
        "| errors 5% -> 10% | 128 / 86 | 99.8% | 98.1% |",
        "| slowest 3% +50 ms: requests slower than 100 ms | 38 / 14 | 98.0% | 91.1% |",
    ]
    again = run("--runs", "6", "--bad-runs", "4", "--seed", "5")
    assert [line for line in again.splitlines() if line.startswith("| ")] == [
        line for line in out.splitlines() if line.startswith("| ")
    ]


def test_the_rollout_shape_and_alphas_are_stated_and_used() -> None:
    out = run(
        "--runs", "2", "--bad-runs", "2", "--replicas", "20", "--steps", "5,25,50,75", "--alpha", "0.02",
        "--error-alpha", "0.005", "--compare-equal",
    )  # fmt: skip
    assert "20 replicas, steps 5% 2m, 25% 2m, 50% 2m, 75% 2m" in out
    assert "error-rate-vs-stable alpha 0.005" in out and "latency-vs-stable alpha 0.02" in out
    assert "one look at all 590 canary and 2410 stable requests served by then" in out  # a 5% first step
    # --compare-equal: every row also judged with equal weights, on the same traffic (the same per-run seeds).
    rows = table(out, "| scenario |")
    assert "| equal weights: rolled back | within 5 min |" in out and all(len(row.split(" | ")) == 9 for row in rows)
    assert rows[5].split(" | ")[-2].startswith("100.0% (2)")  # +50 ms on every request: caught either way

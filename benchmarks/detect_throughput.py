"""Detector throughput: series x points per second, and the operator's typical batch.

    python benchmarks/detect_throughput.py                 # every detector
    python benchmarks/detect_throughput.py --detector mad --series 10000

The batch the operator evaluates is 10,000 series of one hour at 15 s resolution (240 points).
Seasonal periods are set to 1 h here so that the warm-up hour makes the seasonal paths active.
Each detector is first warmed with one hour of history (so the timed hour is scored, not skipped),
then the hour is timed as one ``Detector.run`` call on a single core. isolationForest fits one
forest per series, so it is measured on fewer series and extrapolated (marked ``~``).
"""

from __future__ import annotations

import argparse
import os
import sys
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np

from mlaiops.detection.registry import build_detector

STEP = 15.0
CONFIGS = {
    "threshold": {"type": "threshold", "upper": 100.0},
    "zscore": {"type": "zscore", "window": 120},
    "mad": {"type": "mad", "window": 120},
    "ewma": {"type": "ewma", "beta": 0.1},
    "seasonal": {"type": "seasonal", "period": "1h", "buckets": 60},
    "forecast": {"type": "forecast", "upper": 100.0, "horizon": "30m"},
    "auto": {"type": "auto", "period": "1h"},  # 1 h so the timed hour runs the seasonal path too
    "isolationForest": {"type": "isolationForest", "window": 240, "refitEvery": 240, "minPoints": 64},
}
SLOW = {"isolationForest": 20}


def measure(name: str, n_series: int, n_points: int) -> tuple[int, float]:
    """Seconds to score ``n_points`` for ``n_series`` series after a warm start of the same length."""
    n_series = min(n_series, SLOW.get(name, n_series))
    rng = np.random.default_rng(0)
    t = 1_700_000_000.0 + STEP * np.arange(2 * n_points)
    values = 50 + 5 * rng.standard_normal((n_series, 2 * n_points))
    detector = build_detector(CONFIGS[name], n_series=n_series)
    detector.fit(values[:, :n_points], t[:n_points])
    start = time.perf_counter()
    detector.run(values[:, n_points:], t[n_points:])
    return n_series, time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--detector", action="append", choices=sorted(CONFIGS), help="default: all")
    parser.add_argument("--series", type=int, default=10_000)
    parser.add_argument("--points", type=int, default=240, help="points per series (240 = 1 h at 15 s)")
    args = parser.parse_args(argv)
    print(f"{args.series} series x {args.points} points, one core")
    print(f"{'detector':<16} {'series*points/s':>16} {'time for the batch':>20}")
    for name in args.detector or list(CONFIGS):
        measured, seconds = measure(name, args.series, args.points)
        rate = measured * args.points / seconds
        batch = seconds * args.series / measured
        mark = "~" if measured < args.series else " "
        print(f"{name:<16} {rate:16,.0f} {mark}{batch:18.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())

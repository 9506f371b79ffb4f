"""NAB benchmark: run `mlaiops detect` (default settings, no per-file tuning) over every NAB file.

    python benchmarks/nab.py                       # auto detector, NAB data in ../shared/nab
    python benchmarks/nab.py --detector mad --nab DIR --results OUT -j 2
    python benchmarks/nab.py --set sensitivity=1.2   # same --set as mlaiops detect, for every file

Writes NAB-format results (``OUT/<category>/<file>.csv`` with ``timestamp,value,anomaly_score,
is_anomaly``) and scores the ``is_anomaly`` column (the decision after hysteresis, no threshold
search) with NAB's scorer ``nab_score.py`` found in the NAB folder. Prints the standard,
reward_low_FP_rate and reward_low_FN_rate scores. Paths default to ``../shared/nab`` relative to the
project root.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROFILES = ("standard", "reward_low_FP_rate", "reward_low_FN_rate")


def detect_command(detector: str, settings: list[str], src: Path, dst: Path) -> list[str]:
    command = [sys.executable, "-m", "mlaiops", "detect", "--detector", detector, str(src), "-o", str(dst)]
    for setting in settings:
        command += ["--set", setting]
    return command


def run_detector(nab: Path, results: Path, detector: str, settings: list[str], jobs: int) -> float:
    """Score every data file with `mlaiops detect`; returns the wall time in seconds."""
    files = sorted((nab / "data").glob("*/*.csv"))
    if not files:
        raise SystemExit(f"no NAB data files under {nab / 'data'}")

    def one(src: Path) -> None:
        dst = results / src.parent.name / src.name
        dst.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(detect_command(detector, settings, src, dst), check=True)

    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        list(pool.map(one, files))
    return time.perf_counter() - start


def score(nab: Path, results: Path, verbose: bool, optimize: bool = False) -> dict:
    """Run NAB's scorer on ``is_anomaly`` (or, with ``optimize``, on ``anomaly_score`` with NAB's
    per-profile threshold search, as NAB scored its published detectors); returns its JSON report."""
    with tempfile.TemporaryDirectory() as tmp:
        report_path = Path(tmp) / "report.json"
        command = [
            sys.executable,
            str(nab / "nab_score.py"),
            "--labels",
            str(nab / "combined_windows.json"),
            "--data-dir",
            str(nab / "data"),
            "--results-dir",
            str(results),
            "--json",
            str(report_path),
        ]
        command += ["--column", "anomaly_score", "--optimize-threshold"] if optimize else ["--column", "is_anomaly"]
        if verbose:
            command.append("--verbose")
        subprocess.run(command, check=True, stdout=None if verbose else subprocess.DEVNULL)
        return json.loads(report_path.read_text())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--nab", type=Path, default=ROOT.parent / "shared" / "nab", help="NAB folder")
    parser.add_argument("--detector", default="auto")
    parser.add_argument("--set", dest="settings", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--results", type=Path, default=None, help="results folder (default: a temp dir)")
    parser.add_argument("-j", "--jobs", type=int, default=1, help="files scored in parallel")
    parser.add_argument("--verbose", action="store_true", help="per-file windows caught/missed/FP")
    parser.add_argument(
        "--also-optimized",
        action="store_true",
        help="also score anomaly_score with NAB's threshold search (chosen after seeing the labels: "
        "for comparison with NAB's published table only, not an operational number)",
    )
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        results = args.results or Path(tmp)
        seconds = run_detector(args.nab, results, args.detector, args.settings, args.jobs)
        report = score(args.nab, results, args.verbose)
        optimized = score(args.nab, results, False, optimize=True) if args.also_optimized else None
    print(
        f"NAB ({report['files']} files, {report['windows']} windows), detector={args.detector}, "
        f"settings={args.settings or 'defaults'}, is_anomaly column, {seconds:.1f} s"
    )
    for profile in PROFILES:
        rep = report["profiles"][profile]
        print(
            f"  {profile:<20} {rep['score']:7.2f}   TP windows {rep['tp_windows']:3d}  "
            f"FN windows {rep['fn_windows']:3d}  FP rows {rep['fp_rows']:4d}"
        )
    if optimized:
        print("anomaly_score with NAB's per-profile threshold search (labels seen; comparison only):")
        for profile in PROFILES:
            rep = optimized["profiles"][profile]
            print(f"  {profile:<20} {rep['score']:7.2f}   threshold {float(rep['threshold']):.4g}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

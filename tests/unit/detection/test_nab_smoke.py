"""NAB scoring end to end on three small files (skipped when the NAB folder is not there)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

NAB = Path(__file__).resolve().parents[3].parent / "shared" / "nab"
FILES = [
    "realAdExchange/exchange-3_cpc_results.csv",
    "realAdExchange/exchange-4_cpc_results.csv",
    "realAWSCloudwatch/iio_us-east-1_i-a2eb1cd9_NetworkIn.csv",
]

pytestmark = pytest.mark.skipif(not (NAB / "nab_score.py").exists(), reason="NAB data not available")


def test_auto_on_three_nab_files_is_scored(tmp_path: Path) -> None:
    windows = json.loads((NAB / "combined_windows.json").read_text())
    labels = tmp_path / "windows.json"
    labels.write_text(json.dumps({name: windows[name] for name in FILES}))
    results = tmp_path / "results"
    for name in FILES:
        out = results / name
        out.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [sys.executable, "-m", "mlaiops", "detect", str(NAB / "data" / name), "-o", str(out)], check=True
        )
        n_in = len((NAB / "data" / name).read_text().splitlines())
        assert len(out.read_text().splitlines()) == n_in
    report_path = tmp_path / "report.json"
    subprocess.run(
        [
            sys.executable,
            str(NAB / "nab_score.py"),
            "--labels",
            str(labels),
            "--data-dir",
            str(NAB / "data"),
            "--results-dir",
            str(results),
            "--column",
            "is_anomaly",
            "--json",
            str(report_path),
        ],
        check=True,
        capture_output=True,
    )
    report = json.loads(report_path.read_text())
    assert report["files"] == 3
    assert report["windows"] == sum(len(windows[name]) for name in FILES)
    standard = report["profiles"]["standard"]
    # better than never firing: at least one window caught, score above the null detector's 0
    assert standard["tp_windows"] >= 1
    assert standard["score"] > 0

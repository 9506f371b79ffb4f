"""``benchmarks/nab.py --cv`` (leave-one-category-out on NAB), driven as a user runs it: tests do not
import benchmarks. A fake ``nab_score.py`` in a NAB-like folder scores each (settings, category) from a
table, so the tests can check what the tuning may see; the last test uses NAB's real scorer."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
NAB = ROOT.parent / "shared" / "nab"
GRID = ["sensitivity=1.0,1.5,2"]

# Scores the results of one settings folder (named by its settings; the pooled folder links each
# category to one of them) per category from table.json: {category: [raw at sensitivity 1.0, 1.5, 2]},
# null -10, perfect 10 per category, so a category alone scores 5 x (raw + 10).
FAKE_SCORER = """
import argparse, json, os
from pathlib import Path
p = argparse.ArgumentParser()
for flag in ("--labels", "--data-dir", "--results-dir", "--json", "--column"):
    p.add_argument(flag)
p.add_argument("--category", action="append")
p.add_argument("--verbose", action="store_true")
a = p.parse_args()
table = json.loads((Path(__file__).parent / "table.json").read_text())
raw = null = perfect = 0.0
for category in a.category or sorted(table):
    folder = Path(os.path.realpath(Path(a.results_dir) / category)).parent.name
    setting = ["sensitivity=1.0", "sensitivity=1.5", "sensitivity=2"].index(folder)
    raw, null, perfect = raw + table[category][setting], null - 10, perfect + 10
score = 100 * (raw - null) / (perfect - null)
rep = dict(raw=raw, null=null, perfect=perfect, score=score, tp_windows=1, fn_windows=0, fp_rows=0)
report = dict(files=len(a.category or table), windows=1, profiles={k: rep for k in
              ("standard", "reward_low_FP_rate", "reward_low_FN_rate")})
Path(a.json).write_text(json.dumps(report))
"""


def _series(n: int, spike_at: int | None) -> list[str]:
    rows = ["timestamp,value"]
    for i in range(n):
        hour, minute = divmod(i * 5, 60)
        day, hour = divmod(hour, 24)
        value = 10.0 + (i % 7) * 0.1 + (50.0 if spike_at is not None and spike_at <= i < spike_at + 3 else 0.0)
        rows.append(f"2014-04-{1 + day:02d} {hour:02d}:{minute:02d}:00,{value}")
    return rows


def _folder(tmp_path: Path, categories: list[str], scorer: str | None = None) -> Path:
    """A NAB-like folder: one 600-row file with a 3-point spike per category, its window, a scorer."""
    nab = tmp_path / "nab"
    (nab / "data").mkdir(parents=True)
    if scorer is None:
        shutil.copy(NAB / "nab_score.py", nab / "nab_score.py")
    else:
        (nab / "nab_score.py").write_text(scorer)
    windows = {}
    for index, category in enumerate(categories):
        spike = 400 + 25 * index
        rows = _series(600, spike)
        (nab / "data" / category).mkdir()
        (nab / "data" / category / "f.csv").write_text("\n".join(rows) + "\n")
        start, end = rows[1 + spike - 10].split(",")[0], rows[1 + spike + 10].split(",")[0]
        windows[f"{category}/f.csv"] = [[start + ".000000", end + ".000000"]]
    (nab / "combined_windows.json").write_text(json.dumps(windows))
    return nab


def _cv(nab: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "nab.py"), "--nab", str(nab), "--cv", *extra],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT / "operator")},
        cwd=nab.parent,
        check=False,
    )


def _folds(stdout: str) -> dict[str, tuple[str, str, str]]:
    """held-out category -> (chosen settings, train score, held-out score) from the per-fold table."""
    rows = [line.split() for line in stdout.splitlines() if line.startswith("cat")]
    return {row[0]: (row[1], row[2], row[3]) for row in rows}


def test_a_fold_chooses_the_same_settings_whatever_its_held_out_category_scores(tmp_path: Path) -> None:
    """The property: changing only catA's scores leaves the fold that holds catA out exactly as it was
    (same choice, same train score; only its held-out score moves), while the folds that train on catA
    follow catA's new preference, so the table is read where it should be."""
    table = {"catA": [0, 0, 0], "catB": [5, 0, 0], "catC": [5, 0, 0]}
    nab = _folder(tmp_path, sorted(table), FAKE_SCORER)
    (nab / "table.json").write_text(json.dumps(table))
    before = _cv(nab, "--grid", *GRID)
    assert before.returncode == 0, before.stderr
    table["catA"] = [-9, 10, 10]  # catA now prefers sensitivity=1.5 strongly
    (nab / "table.json").write_text(json.dumps(table))
    after = _cv(nab, "--grid", *GRID)
    assert after.returncode == 0, after.stderr

    old, new = _folds(before.stdout), _folds(after.stdout)
    assert old["catA"] == ("sensitivity=1.0", "75.00", "50.00")
    assert new["catA"] == ("sensitivity=1.0", "75.00", "5.00")
    assert old["catB"][0] == old["catC"][0] == "sensitivity=1.0"
    assert new["catB"][0] == new["catC"][0] == "sensitivity=1.5"  # ties go to the earlier grid point
    # pooled: catA at 1.0 (raw -9), catB and catC at 1.5 (raw 0): 100 (-9 + 30) / 60
    assert re.search(r"^  standard +35\.00 ", after.stdout, re.MULTILINE)
    # in-sample: 1.5 (raw 10) beats the shipped default 1.0 (raw 1) on all three categories
    assert re.search(r"best grid point +66\.67 +sensitivity=1\.5$", after.stdout, re.MULTILINE)
    assert re.search(r"shipped defaults +standard 51\.67 ", after.stdout)


@pytest.mark.parametrize(
    ("args", "message"),
    [(["--grid", "sensitivity"], "--grid expects KEY=V1,V2"), (["--set", "sensitivity=2"], "use --grid, not --set")],
)
def test_bad_cv_arguments_are_refused_naming_the_option(tmp_path: Path, args: list[str], message: str) -> None:
    nab = _folder(tmp_path, ["catA", "catB"], FAKE_SCORER)
    result = _cv(nab, *args)
    assert result.returncode != 0
    assert message in result.stderr


def test_one_category_is_not_enough_to_hold_one_out(tmp_path: Path) -> None:
    nab = _folder(tmp_path, ["catA"], FAKE_SCORER)
    (nab / "table.json").write_text(json.dumps({"catA": [0, 0, 0]}))
    result = _cv(nab, "--grid", *GRID)
    assert result.returncode != 0
    assert "categories: leave-one-out needs at least two" in result.stderr


@pytest.mark.skipif(not (NAB / "nab_score.py").exists(), reason="NAB scorer not available")
def test_cv_with_the_real_detector_and_nab_scorer(tmp_path: Path) -> None:
    nab = _folder(tmp_path, ["catA", "catB"])
    result = _cv(nab, "--grid", "sensitivity=1.0,2")
    assert result.returncode == 0, result.stderr
    assert "2 settings x 2 files" in result.stdout
    assert sorted(_folds(result.stdout)) == ["catA", "catB"]
    assert "cross-validated (held-out files pooled, 2 files, 2 windows)" in result.stdout
    assert "(sensitivity=1.0)" in result.stdout  # the shipped default found in the grid

"""Mutation testing of the pure cores, one module at a time, each against only its own unit tests.

    python benchmarks/mutation.py                              # every module in [tool.mlaiops-mutation]
    python benchmarks/mutation.py rollout/canary.py retrain/gate.py
    python benchmarks/mutation.py --show rollout/canary.py     # also print each survivor's diff

Prints a Markdown table: module, mutants, killed, survived, equivalent, score, seconds. The score is
killed / (mutants - equivalent); a timeout counts as killed (the mutant hung a test), a mutant no
test reaches counts as survived. Equivalent mutants come from ``benchmarks/mutation_equivalents.toml``
(mutant name -> one-line reason) and must still survive: one that is killed is flagged as stale.

Why a scratch copy: mutmut names mutants after the file's path below ``src/`` (``mlaiops.rollout...``)
and copies the tree into ``mutants/``; our package lives in ``operator/``. So each module gets its own
scratch directory with ``src/mlaiops`` (a copy of ``operator/mlaiops``), ``tests/``, ``examples/``, ``manifests/`` and
``crds/``, and a ``pyproject.toml`` whose ``[tool.mutmut]`` names that one file and its test folder.
mutmut then runs each mutant only against the tests that reached the mutated function (it records
which in one clean run), in forked workers: a whole run stays in minutes, not hours. Too slow for
every CI run: run it on demand (``make mutation``). Needs mutmut (the ``test`` extra).
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EQUIVALENTS = Path(__file__).resolve().parent / "mutation_equivalents.toml"
KILLED = {1, 3, 36, 24, -24, 152, 255}  # mutmut's exit codes for "a test failed" and "timed out"
# The diffs of many survivors in one process (``mutmut show`` takes one name per start).
SHOW = """
import sys
from mutmut.__main__ import find_mutant, get_diff_for_mutant
for name in sys.argv[1:]:
    print(f"# {name}")
    print(get_diff_for_mutant(name, path=find_mutant(name).path))
"""


@dataclass
class Score:
    """One module's counts after a run."""

    module: str
    mutants: int = 0
    killed: int = 0
    survived: int = 0
    equivalent: int = 0
    seconds: float = 0.0
    error: str = ""

    @property
    def score(self) -> float:
        """Killed over the mutants that can be killed (all but the listed equivalents)."""
        killable = self.mutants - self.equivalent
        return self.killed / killable if killable else 1.0

    def row(self) -> str:
        if self.error:
            return f"| `{self.module}` | {self.error} | | | | | |"
        return (
            f"| `{self.module}` | {self.mutants} | {self.killed} | {self.survived} | {self.equivalent} "
            f"| {self.score:.1%} | {self.seconds:.0f} |"
        )


def modules_config() -> dict[str, list[str]]:
    """Module (path below mlaiops/) -> the test paths that mutate it, from pyproject.toml."""
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return dict(data["tool"]["mlaiops-mutation"]["modules"])


def equivalents() -> dict[str, str]:
    """Mutant name -> why it cannot be told apart from the original."""
    if not EQUIVALENTS.exists():
        return {}
    return dict(tomllib.loads(EQUIVALENTS.read_text()))


def scratch_tree(workdir: Path, module: str, tests: list[str], workers: int) -> None:
    """Lay out a tree mutmut understands: src/mlaiops, tests, examples, crds and its config."""
    shutil.copytree(ROOT / "operator" / "mlaiops", workdir / "src" / "mlaiops", ignore=_ignore)
    for name in ("tests", "examples", "crds", "manifests"):
        shutil.copytree(ROOT / name, workdir / name, ignore=_ignore)
    pytest_options = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]
    config = {
        "source_paths": ["src"],
        "only_mutate": [f"src/mlaiops/{module}"],
        "also_copy": ["examples", "crds", "manifests"],
        "pytest_add_cli_args_test_selection": tests,
        "pytest_add_cli_args": ["-p", "no:cacheprovider", "-q"],
        "use_git_change_detection": False,
    }
    lines = ["[tool.mutmut]"]
    lines += [f"{key} = {json.dumps(value)}" for key, value in config.items()]
    lines += ["", "[tool.pytest.ini_options]"]
    lines += [f"{key} = {json.dumps(value)}" for key, value in pytest_options.items() if key != "testpaths"]
    (workdir / "pyproject.toml").write_text("\n".join(lines) + "\n")


def _ignore(_directory: str, names: list[str]) -> set[str]:
    return {n for n in names if n in {"__pycache__", ".hypothesis", ".pytest_cache", "mutants"}}


def run_module(module: str, tests: list[str], workers: int, known: dict[str, str], show: bool) -> Score:
    """Run mutmut over one module in a scratch tree and count its mutants."""
    score = Score(module)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="mutation-") as tmp:
        workdir = Path(tmp)
        scratch_tree(workdir, module, tests, workers)
        env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # never the unmutated operator/
        env.setdefault("HYPOTHESIS_PROFILE", "quick")
        mutmut = [sys.executable, "-m", "mutmut"]
        run = subprocess.run(
            [*mutmut, "run", "--max-children", str(workers)], cwd=workdir, env=env, capture_output=True, text=True
        )
        score.seconds = time.monotonic() - started
        meta = workdir / "mutants" / "src" / "mlaiops" / (module + ".meta")
        if run.returncode != 0 or not meta.exists():
            score.error = f"failed (exit {run.returncode})"
            sys.stderr.write(run.stdout[-4000:] + run.stderr[-4000:])
            return score
        codes: dict[str, int | None] = json.loads(meta.read_text())["exit_code_by_key"]
        survivors = []
        for name, code in sorted(codes.items()):
            score.mutants += 1
            if code in KILLED:
                score.killed += 1
                if name in known:
                    print(f"stale equivalent (it is killed): {name}", file=sys.stderr)
            elif name in known:
                score.equivalent += 1
            else:
                score.survived += 1
                survivors.append(name)
        for name in survivors:
            print(f"survived ({_status(codes[name])}): {name}", file=sys.stderr)
        if show and survivors:
            diffs = subprocess.run(
                [sys.executable, "-c", SHOW, *survivors], cwd=workdir, env=env, capture_output=True, text=True
            )
            print(diffs.stdout + diffs.stderr[-2000:], file=sys.stderr)
    return score


def _status(code: int | None) -> str:
    return {0: "tests passed", 5: "no tests", 33: "no tests", None: "not checked"}.get(code, f"exit {code}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("modules", nargs="*", help="paths below mlaiops/ (default: every configured module)")
    parser.add_argument("--workers", type=int, default=2, help="forked mutant workers (default 2)")
    parser.add_argument("--show", action="store_true", help="print the diff of every survivor")
    args = parser.parse_args()

    configured = modules_config()
    unknown = [m for m in args.modules if m not in configured]
    if unknown:
        parser.error(f"not in [tool.mlaiops-mutation.modules]: {', '.join(unknown)}")
    known = equivalents()
    version = importlib.metadata.version("mutmut")
    print(f"Mutation score, {datetime.now(UTC):%Y-%m-%d}, mutmut {version}, {args.workers} workers\n")
    print("| module | mutants | killed | survived | equivalent | score | seconds |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    total = time.monotonic()
    for module in args.modules or list(configured):
        print(run_module(module, configured[module], args.workers, known, args.show).row(), flush=True)
    print(f"\nTotal: {time.monotonic() - total:.0f} s")


if __name__ == "__main__":
    main()

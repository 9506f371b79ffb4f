"""``mlaiops ARGS`` in process: the console script's own ``main``, with its exit code and output.

A subprocess costs an interpreter and every import again (about a second of CPU each); the command line's
behaviour is the same code either way. Tests keep one real-interpreter run where the console entry itself
is the point (tests/unit/test_cli.py, tests/unit/runtime/test_drift_cli.py)."""

from __future__ import annotations

import contextlib
import io
import subprocess

from mlaiops.cli import main


def mlaiops(*args: str) -> subprocess.CompletedProcess[str]:
    """Run ``mlaiops ARGS`` through ``main``; argparse's refusals (``SystemExit``) become the exit code."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(list(args))
        except SystemExit as exit_:
            code = exit_.code if isinstance(exit_.code, int) else 1
    return subprocess.CompletedProcess(["mlaiops", *args], code, out.getvalue(), err.getvalue())

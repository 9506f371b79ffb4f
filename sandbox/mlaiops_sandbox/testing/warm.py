"""The tests' ``python -m mlaiops ...`` processes forked from one warm interpreter per test process.

Why: ``make test`` starts the operator about 50 times (every e2e group, every restart a test makes) and
``mlaiops serve`` about 30 times, and each process first spends 1.5 to 3 s of CPU importing kopf, the
kubernetes client, pydantic, aiohttp, numpy, SciPy, pandas and the operator's modules: on 2 cores, a
minute of the suite. The sandbox's zygote (``runtime/zygote.py``) already forks its pods from such an
interpreter; this is the same zygote with a synchronous client, for the harness's own processes.

A forked process is the command as ``python -m`` would run it: its own session, environment, working
directory and log, stdin from /dev/null, the exit status of the module. It dies with the zygote, which dies
with the test process that started it. Only commands whose interpreter would start as the zygote's did are
forked (this interpreter, ``-m mlaiops``, the same ``PYTHON*``, locale and thread-count variables); any
other, or every one when the zygote cannot start, is exec'd by :class:`subprocess.Popen` as before.

The zygote starts with the second eligible command (a zygote's imports cost what one exec's do, so a
process that runs one command execs it). One serves every kubeconfig: the kubernetes client reads
``KUBECONFIG``'s default path at import, and each fork sets that copy again from its own environment
(``runtime/zygote.py``: ``IMPORT_TIME_COPIES``).

Tests only: :func:`enable` is called by the pytest plugin. Benchmarks measure an operator's CPU and peak
RSS, which a fork would change (the imports are the zygote's, their pages shared), so they exec.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO

from mlaiops_sandbox.runtime.zygote import WARM_MODULE, ZYGOTE_MAIN, starts_like

PRELOAD = (
    "numpy",
    "scipy.stats",
    "pandas",
    "aiohttp.web",
    "kopf",
    "kubernetes",
    "pydantic",
    "prometheus_client",
    "mlaiops.runner",
    "mlaiops.controllers",
    "mlaiops.api",
    "mlaiops.runtime.server",
)
"""What the operator and the model server import before they do anything. The operator's modules read no
environment at import (settings are read when it runs). ``mlaiops.api``: the operator imports its models
when it reads its settings, and building them (pydantic reads every field's docstring from the source) was
0.32 s of CPU, about a third of a forked operator's start (py-spy on a restarted operator, 2026-12-08). Not
the controller modules: importing them registers kopf handlers, some with intervals read from the settings. Not scikit-learn: its OpenMP runtime is not
fork-safe (the zygote refuses to serve if a preload maps one, and every command is then exec'd)."""


class WarmPopen:
    """The part of :class:`subprocess.Popen` the harness uses, for a process the zygote forked."""

    def __init__(self, launcher: WarmLauncher, pid: int, args: Sequence[str]) -> None:
        self.launcher, self.pid, self.args = launcher, pid, list(args)
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None:
            self.returncode = self.launcher.exit_code(self.pid)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        if self.returncode is None:
            code = self.launcher.wait_exit(self.pid, timeout)
            if code is None:
                raise subprocess.TimeoutExpired(self.args, timeout or 0.0)
            self.returncode = code
        return self.returncode

    def send_signal(self, sig: int) -> None:
        if self.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, sig)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)


def _await_ready(stdout: IO[bytes]) -> bool:
    """Read up to the zygote's ready message, past anything a preloaded library printed while importing."""
    for line in stdout:
        with contextlib.suppress(ValueError, AttributeError):
            if json.loads(line).get("ready"):
                return True
    return False


class WarmLauncher:
    """One zygote process and the thread that reads its reports (spawned pids, exit statuses)."""

    def __init__(self, env: Mapping[str, str] | None = None, preload: Sequence[str] = PRELOAD) -> None:
        self.preload = tuple(preload)
        self.env = dict(os.environ if env is None else env)
        self._process: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._spawned: dict[int, int | str] = {}
        self._exits: dict[int, int] = {}
        self._next_id = 0
        self._gone = False

    def start(self) -> bool:
        """Start the zygote and wait until its imports are done; False when it could not (then exec)."""
        try:
            self._process = subprocess.Popen(
                [sys.executable, "-c", ZYGOTE_MAIN, *self.preload],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                env=self.env,
            )
        except OSError:
            self._gone = True
            return False
        assert self._process.stdout is not None
        if not _await_ready(self._process.stdout):
            self.close()
            return False
        threading.Thread(target=self._read, args=(self._process.stdout,), name="warm-launcher", daemon=True).start()
        return True

    def _read(self, stdout: IO[bytes]) -> None:
        try:
            for line in stdout:
                try:
                    message = json.loads(line)
                except ValueError:  # not the zygote's (a library's print): its processes are not gone
                    continue
                with self._changed:
                    if "id" in message:
                        self._spawned[message["id"]] = message.get("pid") or str(message.get("error"))
                    else:
                        self._exits[message["pid"]] = message["code"]
                    self._changed.notify_all()
        finally:
            with self._changed:
                self._gone = True  # its processes died with it (SIGKILL on their parent's death)
                self._changed.notify_all()

    @property
    def running(self) -> bool:
        return self._process is not None and not self._gone

    def spawn(self, argv: Sequence[str], env: Mapping[str, str], log: Path, cwd: Path | None = None) -> WarmPopen:
        """Fork ``argv`` with output appended to ``log``; OSError when the zygote cannot (the caller execs)."""
        log.touch()  # there at once, as with Popen: a caller may read it before the child has opened it
        with self._changed:
            if self._gone or self._process is None or self._process.stdin is None:
                raise OSError("the warm interpreter is not running")
            self._next_id += 1
            request_id = self._next_id
            request = {"id": request_id, "argv": list(argv), "env": dict(env), "cwd": str(cwd or Path.cwd())}
            try:
                self._process.stdin.write((json.dumps({**request, "log": str(log)}) + "\n").encode())
                self._process.stdin.flush()
            except (BrokenPipeError, ValueError) as error:
                raise OSError(f"the warm interpreter is gone: {error}") from None
            while request_id not in self._spawned and not self._gone:
                self._changed.wait()
            answer = self._spawned.pop(request_id, "the warm interpreter exited")
        if isinstance(answer, str):
            raise OSError(answer)
        return WarmPopen(self, answer, argv)

    def exit_code(self, pid: int) -> int | None:
        with self._lock:
            if pid in self._exits:  # as os.waitstatus_to_exitcode gives it: Popen's returncode
                return self._exits[pid]
            return -signal.SIGKILL if self._gone else None

    def wait_exit(self, pid: int, timeout: float | None) -> int | None:
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._changed:
            while pid not in self._exits and not self._gone:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return None
                self._changed.wait(remaining)
        return self.exit_code(pid)

    def close(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        with contextlib.suppress(OSError):
            if process.stdin is not None:
                process.stdin.close()
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


_launcher: WarmLauncher | None = None
_asked = False
_enabled = False


def enable() -> None:
    """Fork the eligible commands of this process from now on."""
    global _enabled
    _enabled = True


def forkable(argv: Sequence[str], env: Mapping[str, str]) -> bool:
    """``python -m mlaiops`` of this interpreter, started as this process was, so as its zygote is."""
    return starts_like(argv, env, os.environ, (WARM_MODULE,))


def _running_launcher() -> WarmLauncher | None:
    """The running zygote; started now if a command asked for one before. Only from the main thread: the
    kernel ties the zygote's life (and so its processes') to its creator's."""
    global _launcher, _asked
    if _launcher is None:
        if not _asked or threading.current_thread() is not threading.main_thread():
            _asked = True
            return None
        _launcher = WarmLauncher()
        _launcher.start()
    return _launcher if _launcher.running else None


def popen(argv: Sequence[str], env: Mapping[str, str], log: Path) -> subprocess.Popen[bytes] | WarmPopen:
    """``argv`` forked from a warm interpreter when enabled and eligible, else exec'd; output appended to ``log``."""
    if _enabled and forkable(argv, env):
        launcher = _running_launcher()
        if launcher is not None:
            with contextlib.suppress(OSError):
                return launcher.spawn(argv, env, log)
    with log.open("ab") as output:
        return subprocess.Popen(list(argv), env=dict(env), stdout=output, stderr=subprocess.STDOUT)


def close() -> None:
    """Stop the zygote (its processes die with it)."""
    global _launcher, _asked
    launcher, _launcher, _asked = _launcher, None, False
    if launcher is not None:
        launcher.close()

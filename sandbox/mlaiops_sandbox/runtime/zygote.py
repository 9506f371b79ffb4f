"""A warm parent for the sandbox's Python pods: ``python -m mlaiops ...`` started by fork, not exec.

Every model-server and trainer pod the sandbox runs as a local process is a fresh interpreter that imports
numpy, SciPy, scikit-learn and aiohttp before it does anything: 2 to 3 s of CPU per pod on 2 cores, most of
what the model servers of an e2e run cost. The zygote imports all but scikit-learn once (a model server then
takes 0.7 to 1.0 s of CPU to be ready instead of 2.5); each pod is a fork of it that takes the pod's
environment, working directory and log, and runs its module as ``python -m`` would. The pod is still its own
session (killed with its group, as a container is), and its exit status is the kernel's.

Only a pod whose interpreter would start exactly as the zygote's did is forked (:func:`warm_module`: this
interpreter, ``-m`` of the warm module, the same ``PYTHON*``, locale and thread-count variables); every other
pod is exec'd as before. One difference is visible from outside: ``/proc/<pid>/environ`` shows the
environment the zygote was started with (the kernel's copy from exec); the pod's own ``os.environ`` and
``getenv`` are the pod's. ``RuntimeConfig.warm_start = False`` turns it off.

Protocol (JSON lines on the zygote's stdin and stdout): ``{"ready": true}`` once the imports are done;
``{"id", "argv", "env", "cwd", "log"}`` → ``{"id", "pid"}`` or ``{"id", "error"}``; and ``{"pid", "code"}``
when a pod exits (``code`` as :func:`os.waitstatus_to_exitcode` gives it).
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import importlib
import json
import os
import runpy
import select
import signal
import sys
import tempfile
import traceback
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from mlaiops_sandbox.runtime.podspec import interpreter_env
from mlaiops_sandbox.runtime.process import LocalProcess, die_with_parent, exit_code

WARM_MODULE = "mlaiops"
PRELOAD = ("numpy", "scipy.stats", "pandas", "aiohttp.web")
"""What a model server or trainer imports first; a library that is missing only costs each pod its import.
Not scikit-learn: it loads the OpenMP runtime (libgomp), which is not fork-safe. A model server forked after
it used three times the CPU per request of an exec'd one on a HistGradientBoostingClassifier (0.14 against
0.045 CPU-seconds a second at 6 requests/s); each pod imports scikit-learn itself (about 0.5 s)."""
OPENMP_RUNTIMES = ("libgomp", "libomp", "libiomp")
STARTUP_VARIABLES = ("LANG", "LC_ALL", "LC_CTYPE", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
"""Read once when an interpreter or a library starts (with every ``PYTHON*`` variable): a pod that sets
them differently from the zygote is exec'd."""
IMPORT_TIME_COPIES = (
    ("kubernetes.config.kube_config", "KUBE_CONFIG_DEFAULT_LOCATION", "KUBECONFIG", "~/.kube/config"),
    ("kubernetes.config", "KUBE_CONFIG_DEFAULT_LOCATION", "KUBECONFIG", "~/.kube/config"),
)
"""(module, attribute, variable, default): a preloaded library's copy of a variable it read at import (the
kubernetes client's default kubeconfig path; ``kubernetes.config`` re-exports it). A fork sets each again
from its own environment, as its import would have, so one zygote serves every value."""
ZYGOTE_MAIN = "import sys; from mlaiops_sandbox.runtime.zygote import serve; serve(sys.argv[1:])"
"""Not ``-m``: this module is imported with its package before ``-m`` would run it."""


def startup_environment(env: Mapping[str, str]) -> dict[str, str]:
    return {key: value for key, value in env.items() if key.startswith("PYTHON") or key in STARTUP_VARIABLES}


def starts_like(argv: Sequence[str], env: Mapping[str, str], base: Mapping[str, str], modules: Sequence[str]) -> bool:
    """Would ``argv`` with ``env`` start an interpreter that a fork of one started with ``base`` reproduces?
    (This interpreter, ``-m`` of one of ``modules``, the same start-up variables.)"""
    return (
        len(argv) >= 3
        and list(argv[:2]) == [sys.executable, "-m"]
        and argv[2] in modules
        and startup_environment(env) == startup_environment(base)
    )


def warm_module(argv: Sequence[str], env: Mapping[str, str], zygote: Zygote) -> bool:
    """Would ``argv`` with ``env`` start an interpreter that a fork of ``zygote`` reproduces?"""
    return starts_like(argv, env, zygote.env, zygote.modules)


# --- the zygote process ---------------------------------------------------------------------------------


def _send(message: dict[str, Any]) -> None:
    data = (json.dumps(message) + "\n").encode()
    while data:
        data = data[os.write(1, data) :]


def _exit_code(code: object) -> int:
    """What the interpreter would exit with for ``SystemExit(code)``."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code & 0xFF
    print(code, file=sys.stderr)
    return 1


def _reread_import_time_copies() -> None:
    for module_name, attribute, variable, default in IMPORT_TIME_COPIES:
        module = sys.modules.get(module_name)
        if module is not None:
            setattr(module, attribute, os.environ.get(variable, default))


def _run_pod(request: dict[str, Any]) -> int:
    """In the forked child: become the pod's process, run its module, return its exit code."""
    os.setsid()
    die_with_parent()  # with the zygote, which dies with the runtime
    signal.set_wakeup_fd(-1)
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    os.chdir(request["cwd"])
    log = os.open(request["log"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.close(log)
    os.close(null)
    os.environ.clear()
    os.environ.update(request["env"])
    _reread_import_time_copies()
    tempfile.tempdir = None  # TMPDIR is the pod's
    sys.path[0] = os.getcwd()  # as `python -m` sets it
    sys.argv = ["-m", *request["argv"][3:]]
    try:
        runpy.run_module(request["argv"][2], run_name="__main__", alter_sys=True)
        return 0
    except SystemExit as stop:
        return _exit_code(stop.code)
    except KeyboardInterrupt:
        return 128 + signal.SIGINT
    except BaseException:
        traceback.print_exc()
        return 1


def _spawn(request: dict[str, Any], wake: tuple[int, int]) -> int:
    pid = os.fork()
    if pid:
        return pid
    code = 1
    try:
        for fd in wake:
            os.close(fd)
        code = _run_pod(request)
        with contextlib.suppress(Exception):
            atexit._run_exitfuncs()  # as an interpreter's exit would
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)


def _reap() -> None:
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        _send({"pid": pid, "code": os.waitstatus_to_exitcode(status)})


def serve(preload: Sequence[str]) -> None:
    """The zygote's loop: import ``preload``, then fork a pod for each request and report each exit."""
    die_with_parent()
    for name in preload:
        with contextlib.suppress(Exception):
            importlib.import_module(name)
    maps = Path("/proc/self/maps")
    if maps.exists() and any(runtime in maps.read_text() for runtime in OPENMP_RUNTIMES):
        sys.exit(f"the zygote's preload {list(preload)} loaded an OpenMP runtime, which forked pods cannot use")
    wake = os.pipe()
    for fd in wake:
        os.set_blocking(fd, False)
    signal.set_wakeup_fd(wake[1])
    signal.signal(signal.SIGCHLD, lambda *_: None)
    _send({"ready": True})
    pending = b""
    while True:
        readable, _, _ = select.select([0, wake[0]], [], [])
        if wake[0] in readable:
            with contextlib.suppress(BlockingIOError):
                os.read(wake[0], 4096)
        _reap()
        if 0 not in readable:
            continue
        chunk = os.read(0, 65536)
        if not chunk:
            return  # the runtime closed us: the pods die with this process
        pending += chunk
        while b"\n" in pending:
            line, pending = pending.split(b"\n", 1)
            request = json.loads(line)
            try:
                _send({"id": request["id"], "pid": _spawn(request, wake)})
            except OSError as error:
                _send({"id": request["id"], "error": f"{type(error).__name__}: {error}"})


# --- the runtime's side ---------------------------------------------------------------------------------


class ZygoteGone(RuntimeError):
    """The zygote is not running: the caller starts the pod by exec instead."""


class Zygote:
    """The runtime's handle on one zygote process, started at the first :meth:`spawn`."""

    def __init__(self, home: Path, preload: Sequence[str] = PRELOAD, modules: Sequence[str] = (WARM_MODULE,)) -> None:
        self.home, self.preload, self.modules = home, tuple(preload), tuple(modules)
        self.env = interpreter_env(home, home, os.environ)  # as a pod's starts
        self._process: asyncio.subprocess.Process | None = None
        self._started: asyncio.Future[None] | None = None
        self._reader: asyncio.Task[None] | None = None
        self._spawns: dict[int, asyncio.Future[int]] = {}
        self._exits: dict[int, asyncio.Future[int]] = {}
        self._next_id = 0
        self._gone = False

    async def _start(self) -> None:
        if self._started is None:
            self._started = asyncio.get_running_loop().create_future()
            self.home.mkdir(parents=True, exist_ok=True)
            try:
                self._process = await asyncio.create_subprocess_exec(
                    sys.executable,
                    "-c",
                    ZYGOTE_MAIN,
                    *self.preload,
                    stdin=asyncio.subprocess.PIPE,
                    stdout=asyncio.subprocess.PIPE,
                    env=self.env,
                    cwd=str(self.home),
                    limit=1 << 20,
                    preexec_fn=die_with_parent if sys.platform == "linux" else None,
                )
            except OSError as error:
                self._fail(f"could not start: {error}")
            else:
                self._reader = asyncio.get_running_loop().create_task(self._read())
        await asyncio.shield(self._started)

    def _fail(self, why: str) -> None:
        self._gone = True
        if self._started is not None and not self._started.done():
            self._started.set_exception(ZygoteGone(why))
        for future in self._spawns.values():
            if not future.done():
                future.set_exception(ZygoteGone(why))
        for future in self._exits.values():
            if not future.done():
                future.set_result(-signal.SIGKILL)  # its pods die with it
        self._spawns.clear()

    async def _read(self) -> None:
        assert self._process is not None and self._process.stdout is not None
        try:
            while line := await self._process.stdout.readline():
                message = json.loads(line)
                if message.get("ready") and self._started is not None and not self._started.done():
                    self._started.set_result(None)
                elif "id" in message:
                    future = self._spawns.pop(message["id"], None)
                    if future is not None and not future.done():
                        if "pid" in message:
                            future.set_result(message["pid"])
                        else:
                            future.set_exception(OSError(message["error"]))
                else:
                    exit_future = self._exit_future(message["pid"])
                    if not exit_future.done():
                        exit_future.set_result(message["code"])
        finally:
            self._fail("the zygote exited")

    def _exit_future(self, pid: int) -> asyncio.Future[int]:
        if pid not in self._exits:
            self._exits[pid] = asyncio.get_running_loop().create_future()
        return self._exits[pid]

    async def spawn(self, argv: Sequence[str], env: Mapping[str, str], cwd: Path, log: Path) -> int:
        """Fork a pod running ``argv`` (``python -m <one of modules> ...``); its pid. ZygoteGone: exec it."""
        if self._gone:
            raise ZygoteGone("the zygote exited")
        await self._start()
        assert self._process is not None and self._process.stdin is not None
        self._next_id += 1
        request = {"id": self._next_id, "argv": list(argv), "env": dict(env), "cwd": str(cwd), "log": str(log)}
        future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._spawns[self._next_id] = future
        try:
            self._process.stdin.write((json.dumps(request) + "\n").encode())
            await self._process.stdin.drain()
        except (BrokenPipeError, ConnectionResetError) as error:
            self._fail(f"the zygote exited ({error})")
        pid = await future
        self._exit_future(pid)
        return pid

    async def wait(self, pid: int) -> int:
        """The pod's exit status (negative: the signal that killed it), once it exits."""
        return await asyncio.shield(self._exit_future(pid))

    async def close(self) -> None:
        process, self._process = self._process, None
        self._gone = True
        if process is None:
            return
        if process.stdin is not None:
            process.stdin.close()
        try:
            await asyncio.wait_for(process.wait(), 5)
        except TimeoutError:
            process.kill()
            await process.wait()
        if self._reader is not None:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._reader


class WarmProcess:
    """A pod's process forked by the zygote, with :class:`LocalProcess`'s life cycle; exec'd as a
    :class:`LocalProcess` when the zygote is gone."""

    def __init__(self, zygote: Zygote, argv: list[str], env: dict[str, str], cwd: Path, log_path: Path) -> None:
        self.zygote, self.argv, self.env, self.cwd, self.log_path = zygote, argv, env, cwd, log_path
        self._pid: int | None = None
        self._exec: LocalProcess | None = None
        self._code: int | None = None

    @property
    def pid(self) -> int | None:
        return self._exec.pid if self._exec is not None else self._pid

    async def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self.log_path.touch()  # there at once, as a LocalProcess's
        try:
            self._pid = await self.zygote.spawn(self.argv, self.env, self.cwd, self.log_path)
        except ZygoteGone:
            self._exec = LocalProcess(self.argv, self.env, self.cwd, self.log_path)
            await self._exec.start()

    async def _wait_pid(self) -> int:
        assert self._pid is not None
        if self._code is None:
            self._code = await self.zygote.wait(self._pid)
        return self._code

    async def wait(self) -> int:
        if self._exec is not None:
            return await self._exec.wait()
        code = await self._wait_pid()
        self._killpg(signal.SIGKILL)  # the container's other processes die with its main process
        return exit_code(code)

    def _killpg(self, sig: int) -> None:
        if self._pid is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self._pid, sig)

    async def terminate(self, grace: float) -> None:
        """SIGTERM the group, SIGKILL it after ``grace`` seconds."""
        if self._exec is not None:
            await self._exec.terminate(grace)
            return
        if self._pid is None or self._code is not None:
            self._killpg(signal.SIGKILL)
            return
        self._killpg(signal.SIGTERM)
        try:
            await asyncio.wait_for(asyncio.shield(self._wait_pid()), grace)
        except TimeoutError:
            self._killpg(signal.SIGKILL)
            await self._wait_pid()
        self._killpg(signal.SIGKILL)

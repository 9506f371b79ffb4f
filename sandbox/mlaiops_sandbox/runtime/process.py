"""A container's process: either a real local process group or a simulated one.

Each local container runs in its own session (process group) so that termination reaches the whole
tree, the way stopping a container kills every process inside it.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import signal
import sys
from pathlib import Path

from mlaiops_sandbox.runtime.config import Outcome

PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """In the child: get SIGKILL if the runtime dies without cleaning up (Linux only, best effort)."""
    with contextlib.suppress(Exception):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def exit_code(returncode: int) -> int:
    """A signal death shows as 128 + signal number, as container runtimes report it."""
    return 128 - returncode if returncode < 0 else returncode


class LocalProcess:
    """The container's command as a child process group, output appended to ``log_path``."""

    def __init__(self, argv: list[str], env: dict[str, str], cwd: Path, log_path: Path) -> None:
        self.argv, self.env, self.cwd, self.log_path = argv, env, cwd, log_path
        self._proc: asyncio.subprocess.Process | None = None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    async def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self._proc = await asyncio.create_subprocess_exec(
                *self.argv,
                env=self.env,
                cwd=str(self.cwd),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log,
                stderr=asyncio.subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=die_with_parent if sys.platform == "linux" else None,
            )

    async def wait(self) -> int:
        assert self._proc is not None
        code = await self._proc.wait()
        self._killpg(signal.SIGKILL)  # the container's other processes die with its main process
        return exit_code(code)

    def _killpg(self, sig: int) -> None:
        if self._proc is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self._proc.pid, sig)

    async def terminate(self, grace: float) -> None:
        """SIGTERM the group, SIGKILL it after ``grace`` seconds."""
        if self._proc is None or self._proc.returncode is not None:
            self._killpg(signal.SIGKILL)
            return
        self._killpg(signal.SIGTERM)
        try:
            await asyncio.wait_for(asyncio.shield(self._proc.wait()), grace)
        except TimeoutError:
            self._killpg(signal.SIGKILL)
            await self._proc.wait()
        self._killpg(signal.SIGKILL)


class SimulatedProcess:
    """A container of a foreign image: runs until stopped, or exits as configured."""

    pid = None

    def __init__(self, outcome: Outcome) -> None:
        self.outcome = outcome
        self._stopped = asyncio.Event()
        self._code = 143

    async def start(self) -> None:
        return None

    async def wait(self) -> int:
        if self.outcome.kind == "run":
            await self._stopped.wait()
            return self._code
        try:
            await asyncio.wait_for(self._stopped.wait(), self.outcome.after)
            return self._code
        except TimeoutError:
            return self.outcome.exit_code

    async def terminate(self, grace: float) -> None:
        self._stopped.set()


Process = LocalProcess | SimulatedProcess

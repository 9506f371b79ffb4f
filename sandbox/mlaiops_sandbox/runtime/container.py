"""One container of a pod: start its process, probe it, restart it per restartPolicy, report its status.

Restart back-off follows the kubelet: the first restart is immediate, then ``base``, ``2*base``, ... up to
``max`` (reset after a run ten times longer than ``max``); while waiting the state is
``waiting: CrashLoopBackOff``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from mlaiops_sandbox.runtime.config import Outcome
from mlaiops_sandbox.runtime.podman import ContainerEngine, ContainerProcess, ContainerSpec
from mlaiops_sandbox.runtime.probes import run_probe
from mlaiops_sandbox.runtime.process import LocalProcess, Process, SimulatedProcess
from mlaiops_sandbox.runtime.util import timestamp
from mlaiops_sandbox.runtime.zygote import WarmProcess, Zygote


def image_id(image: str) -> str:
    """A digest reference like the one a container runtime reports (``repo@sha256:...``); the sandbox pulls
    nothing, so the digest is that of the image's name."""
    if "@sha256:" in image:
        return image
    last = image.rsplit("/", 1)[-1]
    repo = image[: len(image) - len(last)] + last.split(":", 1)[0]
    return f"{repo}@sha256:{hashlib.sha256(image.encode()).hexdigest()}"


JSON = dict[str, Any]
MAX_MESSAGE = 4096
Running = Process | WarmProcess | ContainerProcess


@dataclass
class LaunchSpec:
    """Everything needed to (re)start the container's process, resolved once at pod start."""

    argv: list[str]
    env: dict[str, str]
    cwd: Path
    log_path: Path
    termination_path: Path
    ports: dict[int, int]
    exec_probe_argv: Callable[[list[str]], list[str]] = field(default=lambda argv: argv)
    # set when the sandbox runs containers: the podman container instead of a local process
    container: ContainerSpec | None = None
    engine: ContainerEngine | None = None
    # set when the process is forked from the runtime's warm interpreter (runtime/zygote.py)
    zygote: Zygote | None = None


class ContainerRunner:
    def __init__(
        self,
        spec: JSON,
        outcome: Outcome,
        launch: LaunchSpec | None,
        restart_policy: str,
        grace: Callable[[], float],
        changed: Callable[[], None],
        session: aiohttp.ClientSession,
        backoff: tuple[float, float],
        init: bool = False,
        event: Callable[..., None] = lambda *a, **k: None,
    ) -> None:
        self.spec, self.outcome, self.launch = spec, outcome, launch
        self.restart_policy, self.grace, self.changed = restart_policy, grace, changed
        self.session, self.backoff, self.init = session, backoff, init
        self.event = event
        self.name: str = spec["name"]
        self.state: JSON = {"waiting": {"reason": "ContainerCreating"}}
        self.last_state: JSON = {}
        self.restart_count = 0
        self.ready = False
        self.started = False
        self.process: Running | None = None
        self.container_id = ""  # of the last container started, kept while waiting to restart (kubelet)
        self.finished = False  # terminated and will not restart
        self.exit_code: int | None = None
        self.stopping = False
        self._stop = asyncio.Event()

    # --- status -------------------------------------------------------------------------------------
    def status(self) -> JSON:
        """As the kubelet writes it: ``imageID`` is "" and ``lastState`` {} until a container was made;
        then ``imageID`` is the image's digest reference and ``containerID`` stays that of the last one."""
        result: JSON = {
            "name": self.name,
            "image": self.spec.get("image", ""),
            "imageID": image_id(self.spec.get("image", "")) if self.process is not None else "",
            "ready": self.ready,
            "started": self.started,
            "restartCount": self.restart_count,
            "state": self.state,
            "lastState": self.last_state,
        }
        if self.container_id:
            result["containerID"] = self.container_id
        return result

    def set_waiting(self, reason: str, message: str = "") -> None:
        self.state = {"waiting": {"reason": reason, **({"message": message} if message else {})}}
        self.changed()

    # --- lifecycle ----------------------------------------------------------------------------------
    def _new_process(self) -> Running:
        if self.outcome.kind == "process" and self.launch is not None:
            launch = self.launch
            if launch.container is not None and launch.engine is not None:
                return ContainerProcess(launch.engine, launch.container, launch.log_path, launch.cwd)
            if launch.zygote is not None:
                return WarmProcess(launch.zygote, launch.argv, launch.env, launch.cwd, launch.log_path)
            return LocalProcess(launch.argv, launch.env, launch.cwd, launch.log_path)
        return SimulatedProcess(self.outcome)

    def _should_restart(self, code: int) -> bool:
        if self.init:
            return code != 0 and self.restart_policy != "Never"
        return self.restart_policy == "Always" or (self.restart_policy == "OnFailure" and code != 0)

    async def run(self) -> int:
        """Supervise until the container finishes for good; returns the final exit code."""
        quick_failures = 0
        while True:
            if self.launch is not None:
                self.launch.termination_path.parent.mkdir(parents=True, exist_ok=True)
                self.launch.termination_path.write_bytes(b"")
            self.process = self._new_process()
            started_at = timestamp()
            began = time.monotonic()
            try:
                await self.process.start()
            except OSError as exc:
                code, reason, message = 128, "StartError", str(exc)
            else:
                pid = self.process.pid  # a local process's id; simulated containers get a random one
                self.container_id = f"sandbox://{pid}" if pid else f"simulated://{secrets.token_hex(32)}"
                if isinstance(self.process, ContainerProcess):
                    self.container_id = self.process.container_id or f"podman://{self.process.spec.name}"
                self.state = {"running": {"startedAt": started_at}}
                self.event("Started", f"Started container {self.name}")
                self.changed()
                probes = asyncio.create_task(self._probe(self.process))
                try:
                    code = await self.process.wait()
                finally:
                    probes.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await probes
                reason = "Completed" if code == 0 else "Error"
                message = self._termination_message(code)
                if isinstance(self.process, ContainerProcess):
                    self.container_id = self.process.container_id or self.container_id
                    reason = self.process.reason or reason
                    message = message or self.process.message
            self.ready = False
            self.started = False
            terminated = {
                "exitCode": code,
                "reason": reason,
                "startedAt": started_at,
                "finishedAt": timestamp(),
                **({"message": message} if message else {}),
                **({"containerID": self.container_id} if self.container_id else {}),
            }
            self.exit_code = code
            if self.stopping or not self._should_restart(code):
                self.state = {"terminated": terminated}
                self.finished = True
                self.changed()
                return code
            base, cap = self.backoff
            quick_failures = 1 if time.monotonic() - began > 10 * cap else quick_failures + 1
            delay = 0.0 if quick_failures == 1 else min(base * 2 ** (quick_failures - 2), cap)
            self.last_state = {"terminated": terminated}
            self.state = {
                "waiting": {
                    "reason": "CrashLoopBackOff",
                    "message": f"back-off {delay:g}s restarting failed container={self.name}",
                }
            }
            self.changed()
            if delay:
                self.event("BackOff", f"Back-off restarting failed container {self.name}", warning=True)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), delay)
            if self.stopping:
                self.state = {"terminated": terminated}
                self.finished = True
                self.changed()
                return code
            self.restart_count += 1

    def _termination_message(self, code: int) -> str:
        if self.launch is None:
            return ""
        with contextlib.suppress(OSError):
            message = self.launch.termination_path.read_bytes()[:MAX_MESSAGE].decode(errors="replace")
            if message:
                return message
        if code != 0 and self.spec.get("terminationMessagePolicy") == "FallbackToLogsOnError":
            with contextlib.suppress(OSError):
                lines = self.launch.log_path.read_bytes()[-2048:].decode(errors="replace").splitlines()
                return "\n".join(lines[-80:])
        return ""

    async def stop(self) -> None:
        """Graceful stop (SIGTERM, SIGKILL after the pod's grace period); no restart afterwards."""
        self.stopping = True
        self._stop.set()
        if self.process is not None and self.state.get("running"):
            self.event("Killing", f"Stopping container {self.name}")
        if self.process is not None:
            await self.process.terminate(self.grace())

    # --- probes -------------------------------------------------------------------------------------
    async def _probe_once(self, probe: JSON) -> bool:
        if isinstance(self.process, SimulatedProcess) or self.launch is None:
            return True
        launch = self.launch
        argv = None
        if "exec" in probe:
            argv = launch.exec_probe_argv(list(probe["exec"].get("command") or []))
        return await run_probe(probe, self.spec, launch.ports, self.session, argv, launch.env, launch.cwd)

    async def _probe(self, process: Running) -> None:
        startup = self.spec.get("startupProbe")
        if startup and not await self._probe_until(startup, want_success=True):
            await self._kill_for_probe(process)
            return
        self.started = True
        readiness = self.spec.get("readinessProbe")
        if not readiness or self.init:
            self.ready = not self.init
        self.changed()
        loops: list[Awaitable[None]] = []
        if readiness and not self.init:
            loops.append(self._readiness(readiness))
        if self.spec.get("livenessProbe") and not self.init:
            loops.append(self._liveness(self.spec["livenessProbe"], process))
        if loops:
            await asyncio.gather(*loops)

    async def _probe_until(self, probe: JSON, want_success: bool) -> bool:
        """Startup probe: succeed once, or give up after ``failureThreshold`` failures."""
        await asyncio.sleep(float(probe.get("initialDelaySeconds") or 0))
        failures = 0
        threshold = int(probe.get("failureThreshold") or 3)
        while True:
            if await self._probe_once(probe) == want_success:
                return True
            failures += 1
            if failures >= threshold:
                return False
            await asyncio.sleep(float(probe.get("periodSeconds") or 10))

    async def _readiness(self, probe: JSON) -> None:
        await asyncio.sleep(float(probe.get("initialDelaySeconds") or 0))
        successes = failures = 0
        while True:
            if await self._probe_once(probe):
                successes, failures = successes + 1, 0
                if successes >= int(probe.get("successThreshold") or 1) and not self.ready:
                    self.ready = True
                    self.changed()
            else:
                successes, failures = 0, failures + 1
                if failures >= int(probe.get("failureThreshold") or 3) and self.ready:
                    self.ready = False
                    self.event("Unhealthy", "Readiness probe failed", warning=True)
                    self.changed()
            await asyncio.sleep(float(probe.get("periodSeconds") or 10))

    async def _liveness(self, probe: JSON, process: Running) -> None:
        await asyncio.sleep(float(probe.get("initialDelaySeconds") or 0))
        failures = 0
        while True:
            if await self._probe_once(probe):
                failures = 0
            else:
                failures += 1
                if failures >= int(probe.get("failureThreshold") or 3):
                    self.event("Unhealthy", "Liveness probe failed", warning=True)
                    self.event("Killing", f"Container {self.name} failed liveness probe, will be restarted")
                    await self._kill_for_probe(process)
                    return
            await asyncio.sleep(float(probe.get("periodSeconds") or 10))

    async def _kill_for_probe(self, process: Running) -> None:
        # Runs inside the probe task, which the supervisor cancels once the process exits: shield it.
        await asyncio.shield(process.terminate(self.grace()))

"""Pods of the project's image as real containers: ``podman run`` with runc on the host network.

One container per container start, named ``<prefix>-<pod uid>-<container>``, where the prefix is unique
to the sandbox's folder: a sandbox removes its own leftovers at start (after a crash) and everything it
made at stop, and never touches another sandbox's containers. The container's output goes to the same
log file a local process writes. After it exits, the runtime reads its state (exit code, OOM kill)
and removes it, so a restart creates it again under the same name.

Flags every container gets: ``--runtime runc`` (crun refuses hybrid cgroup set-ups), ``--ulimit``
values at or below the current hard limits (raising them needs CAP_SYS_RESOURCE), ``--network host``
(pods share the host's loopback, as local processes do; never a bridge network) and ``--log-driver
none`` (the attached output is the log).

OOM kills: podman's ``State.OOMKilled``, or the ``oom`` file conmon writes into its working directory
when the kernel reports the container's OOM kill (conmon versions whose podman does not read it back
there, as Debian bookworm's, leave ``State.OOMKilled`` false). Each container's podman therefore runs in
a folder of its own, ``<pod>/containers/<name>/``, which also keeps that file out of anyone's way.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import math
import os
import resource
import shutil
import signal
import sys
from dataclasses import dataclass, field
from pathlib import Path

from mlaiops_sandbox.runtime.process import die_with_parent

log = logging.getLogger(__name__)

LABEL = "mlaiops.dev/sandbox"
SIGKILL_EXIT = 128 + signal.SIGKILL
START_ERRORS = (125, 126, 127)  # podman itself, the command cannot run, the command is missing


class ContainerEngineError(Exception):
    """podman is missing or the sandbox's image is not there: say what to do."""


@dataclass
class Mount:
    source: Path
    destination: str
    read_only: bool = False


@dataclass
class ContainerSpec:
    """One container as podman runs it; ``entrypoint`` None keeps the image's."""

    name: str
    image: str
    entrypoint: list[str] | None
    args: list[str]
    env: dict[str, str]
    mounts: list[Mount] = field(default_factory=list)
    flags: list[str] = field(default_factory=list)  # resources and security, from security.py
    workdir: str | None = None
    hostname: str = ""
    memory_limited: bool = False
    labels: dict[str, str] = field(default_factory=dict)


# Caps on the limits a container gets: the runtime's own hard limits may be lower (then those), and the
# engine's helpers may hold less than the sandbox does (nproc above a few thousand was refused here).
ULIMIT_CAPS = (("nofile", resource.RLIMIT_NOFILE, 65536), ("nproc", resource.RLIMIT_NPROC, 4096))


def ulimits() -> list[str]:
    """nofile and nproc at or below the current hard limits: never more than the machine grants."""
    flags = []
    for name, which, cap in ULIMIT_CAPS:
        hard = resource.getrlimit(which)[1]
        value = cap if hard == resource.RLIM_INFINITY else min(hard, cap)
        flags += ["--ulimit", f"{name}={value}:{value}"]
    return flags


def run_argv(podman: str, spec: ContainerSpec) -> list[str]:
    """The ``podman run`` command line (attached: the container's output is the command's)."""
    argv = [podman, "run", "--name", spec.name, "--runtime", "runc", *ulimits(), "--network", "host"]
    argv += ["--log-driver", "none", "--pull", "never", "--stop-signal", "SIGTERM"]
    if spec.hostname:
        argv += ["--hostname", spec.hostname]
    for key, value in spec.labels.items():
        argv += ["--label", f"{key}={value}"]
    for key, value in spec.env.items():
        argv += ["--env", f"{key}={value}"]
    for mount in spec.mounts:
        options = f"type=bind,source={mount.source},destination={mount.destination}"
        argv += ["--mount", options + (",readonly=true" if mount.read_only else "")]
    if spec.workdir:
        argv += ["--workdir", spec.workdir]
    argv += spec.flags
    if spec.entrypoint is not None:
        argv += ["--entrypoint", json.dumps(spec.entrypoint)]
    return [*argv, spec.image, *spec.args]


class ContainerEngine:
    """podman for one sandbox: names, image facts, clean-up of this sandbox's containers."""

    def __init__(self, sandbox_dir: Path, image: str, podman: str | None = None) -> None:
        self.image = image
        self.podman = podman or shutil.which("podman") or "podman"
        self.prefix = "mlaiops-sbx-" + hashlib.sha256(str(sandbox_dir.resolve()).encode()).hexdigest()[:10]
        self._users: dict[str, str] = {}

    def name(self, pod_uid: str, container: str) -> str:
        return f"{self.prefix}-{pod_uid}-{container}"

    async def _run(self, *args: str, timeout: float = 60) -> tuple[int, str]:
        proc = await asyncio.create_subprocess_exec(
            self.podman,
            *args,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        try:
            out, _ = await asyncio.wait_for(proc.communicate(), timeout)
        except TimeoutError:
            proc.kill()
            await proc.wait()
            return 1, f"podman {args[0]} timed out"
        return proc.returncode or 0, out.decode(errors="replace")

    async def check(self) -> None:
        """podman runs and the image exists, or a clear error."""
        if shutil.which(self.podman) is None:
            raise ContainerEngineError("containers need podman and runc (apt-get install podman runc)")
        code, out = await self._run("image", "exists", self.image)
        if code != 0:
            detail = f": {out.strip()}" if out.strip() else ""
            raise ContainerEngineError(f"image {self.image!r} not found by podman (build it: make image){detail}")

    async def image_user(self, image: str) -> str:
        """The image's ``USER`` (``""`` is root), cached."""
        if image not in self._users:
            code, out = await self._run("image", "inspect", "--format", "{{.Config.User}}", image)
            if code != 0:
                raise ContainerEngineError(f"image {image!r}: {out.strip()}")
            self._users[image] = out.strip()
        return self._users[image]

    async def inspect(self, name: str) -> dict[str, object] | None:
        code, out = await self._run("container", "inspect", "--format", "{{json .State}}|{{.Id}}", name)
        if code != 0:
            return None
        state, _, ident = out.strip().rpartition("|")
        with contextlib.suppress(ValueError):
            return {**json.loads(state), "Id": ident}
        return None

    async def remove(self, name: str) -> None:
        await self._run("rm", "--force", "--time", "0", name)

    async def stop(self, name: str, grace: float) -> bool:
        code, _ = await self._run("stop", "--time", str(max(0, math.ceil(grace))), name, timeout=grace + 30)
        return code == 0

    async def cleanup(self) -> list[str]:
        """Remove every container of this sandbox (left by a crash, or at stop); returns their names."""
        code, out = await self._run("ps", "--all", "--filter", f"label={LABEL}={self.prefix}", "--format", "{{.Names}}")
        names = out.split() if code == 0 else []
        if names:
            await self._run("rm", "--force", "--time", "0", *names)
        return names


class ContainerProcess:
    """The :class:`~mlaiops_sandbox.runtime.process.LocalProcess` interface over one podman container."""

    def __init__(self, engine: ContainerEngine, spec: ContainerSpec, log_path: Path, state_dir: Path) -> None:
        """``state_dir``: podman's working directory for this container (conmon's ``oom`` file lands there)."""
        self.engine, self.spec, self.log_path, self.state_dir = engine, spec, log_path, state_dir
        self._proc: asyncio.subprocess.Process | None = None
        self._killed_by_us = False
        self.reason: str | None = None  # OOMKilled / StartError, after wait()
        self.message = ""
        self.container_id = ""

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    async def start(self) -> None:
        """Returns once podman made the container (its id is known) or gave up."""
        await self.engine.remove(self.spec.name)  # a leftover of a crashed runtime
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self.state_dir.mkdir(parents=True, exist_ok=True)
        cidfile = self.state_dir / "cid"
        for stale in (cidfile, self.state_dir / "oom"):
            stale.unlink(missing_ok=True)
        argv = run_argv(self.engine.podman, self.spec)
        argv[2:2] = ["--cidfile", str(cidfile)]
        with self.log_path.open("ab") as log_file:
            self._proc = await asyncio.create_subprocess_exec(
                *argv,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log_file,
                stderr=asyncio.subprocess.STDOUT,
                cwd=str(self.state_dir),
                start_new_session=True,
                preexec_fn=die_with_parent if sys.platform == "linux" else None,
            )
        for _ in range(100):  # podman writes the id when it has created the container
            with contextlib.suppress(OSError):
                ident = cidfile.read_text().strip()
                if ident:
                    self.container_id = f"podman://{ident}"
                    break
            if self._proc.returncode is not None:
                break
            await asyncio.sleep(0.05)
        cidfile.unlink(missing_ok=True)

    async def wait(self) -> int:
        """The container's exit code, once it is gone; sets ``reason`` for OOM kills and failed starts."""
        assert self._proc is not None
        code = await self._proc.wait()
        state = await self.engine.inspect(self.spec.name)
        await self.engine.remove(self.spec.name)
        if state is not None:
            self.container_id = f"podman://{state.get('Id', '')}"
        started = state is not None and not str(state.get("StartedAt", "0001")).startswith("0001")
        if code in START_ERRORS and not started:
            self.reason, self.message = "StartError", self._log_tail()
            return 128
        if state is not None and started:
            code = int(state.get("ExitCode", code))  # type: ignore[call-overload]
        if (state and state.get("OOMKilled")) or await self._conmon_saw_oom(code):
            self.reason = "OOMKilled"
        return code

    async def _conmon_saw_oom(self, code: int) -> bool:
        """conmon's ``oom`` file; after a SIGKILL exit, give its event handler a moment to write it."""
        marker = self.state_dir / "oom"
        waits = 10 if code == SIGKILL_EXIT and self.spec.memory_limited and not self._killed_by_us else 0
        for _ in range(waits):
            if marker.exists():
                break
            await asyncio.sleep(0.05)
        seen = marker.exists()
        marker.unlink(missing_ok=True)
        return seen

    def _log_tail(self) -> str:
        with contextlib.suppress(OSError):
            lines = self.log_path.read_bytes()[-2048:].decode(errors="replace").strip().splitlines()
            return lines[-1] if lines else ""
        return ""

    async def terminate(self, grace: float) -> None:
        """``podman stop`` (SIGTERM, SIGKILL after ``grace``); the podman client goes with it."""
        self._killed_by_us = True
        proc = self._proc
        if proc is None or proc.returncode is not None:
            return
        deadline = asyncio.get_running_loop().time() + grace + 10
        while proc.returncode is None and asyncio.get_running_loop().time() < deadline:
            if await self.engine.stop(self.spec.name, grace):
                break
            # not created yet (podman is still preparing it): try again shortly
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(proc.wait()), 0.2)
        try:
            await asyncio.wait_for(asyncio.shield(proc.wait()), 10)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            await self.engine.remove(self.spec.name)

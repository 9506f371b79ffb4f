"""The kubelet: runs every pod it sees as local processes and keeps ``pod.status`` truthful.

Per pod: a folder ``<sandbox>/pods/<namespace>_<name>_<uid8>/`` (volumes, logs, termination messages,
HOME, TMPDIR; annotation ``sandbox.mlaiops.dev/pod-dir``), free local ports for the declared container ports (recorded in the pod annotation
``sandbox.mlaiops.dev/ports`` as ``{"<containerPort>": <localPort>}``), init containers in order, then all
containers under supervision. Deletion (a DELETED event or a deletionTimestamp) stops the processes
gracefully: SIGTERM, SIGKILL after the grace period; then, like the kubelet, the runtime finishes a
graceful deletion with a DELETE of grace period 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import aiohttp

from mlaiops_sandbox.runtime.client import PODS, ApiClient, ApiError
from mlaiops_sandbox.runtime.config import RuntimeConfig
from mlaiops_sandbox.runtime.container import ContainerRunner, LaunchSpec
from mlaiops_sandbox.runtime.env import ConfigError, EnvResolver
from mlaiops_sandbox.runtime.events import EventRecorder, NullRecorder
from mlaiops_sandbox.runtime.informer import Informer
from mlaiops_sandbox.runtime.podman import ContainerEngine, ContainerSpec, Mount
from mlaiops_sandbox.runtime.podspec import (
    MOUNTS_ENV,
    POD_DIR_ENV,
    TERMINATION_ENV,
    PathMap,
    expand,
    interpreter_env,
    port_env,
    resolve_argv,
    resolve_env_values,
    rewrite_port_token,
)
from mlaiops_sandbox.runtime.security import non_root_violation, resource_flags, security_flags
from mlaiops_sandbox.runtime.util import condition, free_port, is_terminating, meta, timestamp
from mlaiops_sandbox.runtime.volumes import VolumeError, container_bind_mounts, container_mounts, prepare_volumes
from mlaiops_sandbox.runtime.zygote import Zygote, warm_module

log = logging.getLogger(__name__)
JSON = dict[str, Any]

PORTS_ANNOTATION = "sandbox.mlaiops.dev/ports"
# the pod's local folder: logs/<container>.log, volumes/, containers/<name>/termination-log
POD_DIR_ANNOTATION = "sandbox.mlaiops.dev/pod-dir"
DEFAULT_TERMINATION_PATH = "/dev/termination-log"


CREATING = ("ContainerCreating", "CreateContainerConfigError")


def qos_class(pod: JSON) -> str:
    """Guaranteed (limits == requests for cpu and memory everywhere), BestEffort (nothing set), else Burstable."""
    containers = (pod.get("spec") or {}).get("containers") or []
    resources = [c.get("resources") or {} for c in containers]
    if not any(r.get("requests") or r.get("limits") for r in resources):
        return "BestEffort"
    for r in resources:
        limits, requests = r.get("limits") or {}, r.get("requests") or {}
        for name in ("cpu", "memory"):
            if name not in limits or requests.get(name, limits[name]) != limits[name]:
                return "Burstable"
    return "Guaranteed"


def local_ports(pod: JSON) -> dict[int, int]:
    """containerPort -> local port, from the annotation the kubelet writes."""
    raw = (meta(pod).get("annotations") or {}).get(PORTS_ANNOTATION)
    if not raw:
        return {}
    try:
        return {int(k): int(v) for k, v in json.loads(raw).items()}
    except (ValueError, AttributeError):
        return {}


class PodWorker:
    """Runs one pod from creation to termination."""

    def __init__(self, kubelet: Kubelet, pod: JSON) -> None:
        self.kubelet = kubelet
        self.pod = pod
        self.uid: str = meta(pod)["uid"]
        self.namespace: str = meta(pod).get("namespace") or "default"
        self.name: str = meta(pod)["name"]
        spec = pod.get("spec") or {}
        self.restart_policy: str = spec.get("restartPolicy") or "Always"
        self.dir = kubelet.config.sandbox_dir / "pods" / f"{self.namespace}_{self.name}_{self.uid[:8]}"
        self.ports: dict[int, int] = {}
        self.init_runners: list[ContainerRunner] = []
        self.runners: list[ContainerRunner] = []
        self.phase = "Pending"
        self.initialized = not spec.get("initContainers")
        self.start_time = timestamp()
        self.stopping = False
        self.deleted = False
        self._dirty = asyncio.Event()
        self._stop = asyncio.Event()
        self._last_status: JSON | None = None
        self.task: asyncio.Task[None] | None = None
        self.grace = float(spec.get("terminationGracePeriodSeconds", 30))

    def event(self, reason: str, message: str, warning: bool = False) -> None:
        self.kubelet.events.record(self.pod, "Pod", reason, message, "kubelet", warning)

    # --- status -------------------------------------------------------------------------------------
    def changed(self) -> None:
        self._dirty.set()

    def _compute_phase(self) -> str:
        if not self.initialized:
            if any(r.finished and r.exit_code != 0 for r in self.init_runners):
                return "Failed"
            return "Pending"
        if not self.runners or any(r.state.get("waiting", {}).get("reason") in CREATING for r in self.runners):
            return "Pending"
        if all(r.finished for r in self.runners):
            return "Succeeded" if all(r.exit_code == 0 for r in self.runners) else "Failed"
        return "Running"

    def status(self) -> JSON:
        self.phase = self._compute_phase()
        previous = (self.pod.get("status") or {}).get("conditions") or []
        ready = bool(self.runners) and all(r.ready for r in self.runners) and self.phase == "Running"
        reason = "" if ready else ("PodCompleted" if self.phase in ("Succeeded", "Failed") else "ContainersNotReady")
        not_ready = [r.name for r in self.runners if not r.ready]
        message = f"containers with unready status: [{' '.join(not_ready)}]" if not ready and not_ready else ""
        config = self.kubelet.config
        status: JSON = {
            "phase": self.phase,
            "hostIP": config.host_ip,
            "hostIPs": [{"ip": config.host_ip}],
            "podIP": config.pod_ip,
            "podIPs": [{"ip": config.pod_ip}],
            "startTime": self.start_time,
            "qosClass": qos_class(self.pod),
            "conditions": [
                condition("PodScheduled", True, "", "", previous),
                condition(
                    "Initialized",
                    self.initialized,
                    "" if self.initialized else "ContainersNotInitialized",
                    "",
                    previous,
                ),
                condition("ContainersReady", ready, reason, message, previous),
                condition("Ready", ready, reason, message, previous),
            ],
            "containerStatuses": [r.status() for r in self.runners]
            or [
                {
                    "name": c["name"],
                    "image": c.get("image", ""),
                    "imageID": "",
                    "ready": False,
                    "restartCount": 0,
                    "started": False,
                    "state": {"waiting": {"reason": "ContainerCreating"}},
                    "lastState": {},
                }
                for c in (self.pod.get("spec") or {}).get("containers") or []
            ],
        }
        if self.init_runners:
            status["initContainerStatuses"] = [r.status() for r in self.init_runners]
        for cond in status["conditions"]:  # the API drops empty strings; keep the patch stable
            for key in ("reason", "message"):
                if not cond[key]:
                    del cond[key]
        return status

    async def _status_writer(self) -> None:
        client = self.kubelet.client
        while True:
            await self._dirty.wait()
            self._dirty.clear()
            status = self.status()
            if status == self._last_status:
                continue
            current = self.kubelet.pods.get(self.namespace, self.name)
            if current is None or meta(current).get("uid") != self.uid:
                return  # our pod is gone (maybe replaced by a namesake): never write to another pod
            try:
                self.pod = await client.patch_status(PODS, self.namespace, self.name, status)
                self._last_status = status
            except ApiError as exc:
                if exc.status == 404:
                    self.request_stop(deleted=True)
                    return
                log.debug("pod %s/%s: status patch failed: %r", self.namespace, self.name, exc)
                await asyncio.sleep(0.2)
                self._dirty.set()
            except aiohttp.ClientError:
                await asyncio.sleep(0.5)
                self._dirty.set()

    # --- setup --------------------------------------------------------------------------------------
    async def _launch(self, container: JSON, volumes: dict[str, Path]) -> LaunchSpec:
        cdir = self.dir / "containers" / container["name"]
        termination = cdir / "termination-log"
        mounts = container_mounts(container, volumes)
        mounts[container.get("terminationMessagePath") or DEFAULT_TERMINATION_PATH] = str(termination)
        paths = PathMap(mounts)
        base: dict[str, str] = interpreter_env(self.dir / "home", self.dir / "tmp", os.environ) | {
            "HOSTNAME": (self.pod.get("spec") or {}).get("hostname") or self.name,
            POD_DIR_ENV: str(self.dir),
            MOUNTS_ENV: json.dumps(mounts),
            TERMINATION_ENV: str(termination),
            # the project's trainer reads its termination-log path from here (container env may override)
            "MLAIOPS_TERMINATION_LOG": str(termination),
        }
        base |= self.kubelet.service_env(self.namespace)
        base |= port_env(container.get("ports") or [], self.ports)
        env = resolve_env_values(
            await EnvResolver(self.kubelet.client, self.pod, self.kubelet.config).pairs(container),
            paths,
            self.ports,
            preset=base,
        )
        argv = resolve_argv(container.get("command"), container.get("args"), env, paths, self.ports)
        workdir = container.get("workingDir")
        cwd = Path(paths.rewrite(workdir)) if workdir and paths.rewrite(workdir) != workdir else cdir
        for folder in (cdir, cwd, self.dir / "home", self.dir / "tmp"):
            folder.mkdir(parents=True, exist_ok=True)

        def exec_argv(command: list[str]) -> list[str]:
            return resolve_argv(command, None, env, paths, self.ports)

        log_path = self.dir / "logs" / f"{container['name']}.log"
        zygote = self.kubelet.zygote
        warm = zygote if zygote is not None and warm_module(argv, env, zygote) else None
        return LaunchSpec(argv, env, cwd, log_path, termination, self.ports, exec_argv, zygote=warm)

    async def _container_launch(self, container: JSON, volumes: dict[str, Path], engine: ContainerEngine) -> LaunchSpec:
        """A real container: volumes mounted at their mountPath, no path rewriting; ports stay the host
        ports the runtime assigned (host network), with the same port rewriting as for processes."""
        name = container["name"]
        cdir = self.dir / "containers" / name
        termination = cdir / "termination-log"
        cdir.mkdir(parents=True, exist_ok=True)
        termination.touch()
        os.chmod(termination, 0o666)  # whatever user the container runs as writes its message here
        hostname = (self.pod.get("spec") or {}).get("hostname") or self.name
        base = {"HOSTNAME": hostname} | self.kubelet.service_env(self.namespace)
        base |= port_env(container.get("ports") or [], self.ports)
        pairs = await EnvResolver(self.kubelet.client, self.pod, self.kubelet.config).pairs(container)
        env = resolve_env_values(pairs, PathMap({}), self.ports, preset=base)

        def resolve(parts: list[str]) -> list[str]:
            return [rewrite_port_token(expand(part, env), self.ports) for part in parts]

        image_user = await engine.image_user(engine.image)
        refusal = non_root_violation(self.pod, container, image_user)
        if refusal:
            raise ConfigError(refusal)
        try:
            flags = resource_flags(container) + security_flags(self.pod, container, image_user)
        except ValueError as error:
            raise ConfigError(str(error)) from error
        mounts = [Mount(src, dst, ro) for src, dst, ro in container_bind_mounts(self.pod, container, volumes)]
        mounts.append(Mount(termination, container.get("terminationMessagePath") or DEFAULT_TERMINATION_PATH))
        spec = ContainerSpec(
            name=engine.name(self.uid, name),
            image=engine.image,
            entrypoint=resolve(container["command"]) if container.get("command") else None,
            args=resolve(container.get("args") or []),
            env=env,
            mounts=mounts,
            flags=flags,
            workdir=container.get("workingDir"),
            hostname=hostname,
            memory_limited="memory" in ((container.get("resources") or {}).get("limits") or {}),
            labels={"mlaiops.dev/sandbox": engine.prefix, "mlaiops.dev/pod": f"{self.namespace}/{self.name}"},
        )

        def exec_argv(command: list[str]) -> list[str]:
            return [engine.podman, "exec", spec.name, *resolve(command)]

        log_path = self.dir / "logs" / f"{name}.log"
        host_env = dict(os.environ)  # for podman itself (exec probes)
        return LaunchSpec([], host_env, cdir, log_path, termination, self.ports, exec_argv, spec, engine)

    def _runner(self, container: JSON, launch: LaunchSpec | None, init: bool) -> ContainerRunner:
        config = self.kubelet.config
        # an init container of a foreign image must finish: its default outcome is "succeed"
        outcome = config.outcome(container.get("image", ""), "Never" if init else self.restart_policy)
        return ContainerRunner(
            container,
            outcome,
            launch,
            self.restart_policy,
            lambda: self.grace,
            self.changed,
            self.kubelet.session,
            (config.crash_backoff_base, config.crash_backoff_max),
            init,
            self.event,
        )

    async def _setup(self) -> bool:
        """Volumes, env and ports; retries while a ConfigMap/Secret is missing. False if stopped."""
        spec = self.pod.get("spec") or {}
        containers = list(spec.get("containers") or [])
        inits = list(spec.get("initContainers") or [])
        for container in containers + inits:
            for port in container.get("ports") or []:
                self.ports.setdefault(int(port["containerPort"]), free_port())
        annotations = {POD_DIR_ANNOTATION: str(self.dir)}
        if self.ports:
            annotations[PORTS_ANNOTATION] = json.dumps({str(k): v for k, v in sorted(self.ports.items())})
        patch = {"metadata": {"annotations": annotations}}
        self.pod = await self.kubelet.client.patch(PODS, self.namespace, self.name, patch)
        while not self.stopping:
            try:
                volumes = await prepare_volumes(
                    self.kubelet.client, self.pod, self.dir, self.kubelet.config.sandbox_dir
                )
                launches: dict[str, LaunchSpec | None] = {}
                for c in containers + inits:
                    own = self.kubelet.config.outcome(c.get("image", ""), self.restart_policy).kind == "process"
                    engine = self.kubelet.engine
                    if not own:
                        launches[c["name"]] = None
                    elif engine is not None:
                        launches[c["name"]] = await self._container_launch(c, volumes, engine)
                    else:
                        launches[c["name"]] = await self._launch(c, volumes)
            except (VolumeError, ConfigError) as exc:
                reason = "CreateContainerConfigError" if isinstance(exc, ConfigError) else "ContainerCreating"
                self.runners = [self._runner(c, None, False) for c in containers]
                for r in self.runners:
                    r.set_waiting(reason, str(exc))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), 2.0)
                continue
            self.init_runners = [self._runner(c, launches[c["name"]], True) for c in inits]
            self.runners = [self._runner(c, launches[c["name"]], False) for c in containers]
            return True
        return False

    # --- lifecycle ----------------------------------------------------------------------------------
    async def run(self) -> None:
        writer = asyncio.create_task(self._status_writer())
        self.kubelet.events.record(
            self.pod,
            "Pod",
            "Scheduled",
            f"Successfully assigned {self.namespace}/{self.name} to {self.kubelet.config.node_name}",
            "default-scheduler",
        )
        self.changed()
        try:
            if not await self._setup():
                return
            for runner in self.init_runners:
                self.changed()
                code = await runner.run()
                if code != 0 or self.stopping:
                    self.changed()
                    return
            self.initialized = True
            self.changed()
            if self.stopping:
                return
            await asyncio.gather(*(r.run() for r in self.runners))
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("pod %s/%s failed in the runtime", self.namespace, self.name)
        finally:
            self.changed()
            await asyncio.sleep(0)
            await self._flush_status(writer)

    async def _flush_status(self, writer: asyncio.Task[None]) -> None:
        """Let the writer publish the final status before it stops (unless the pod is gone)."""
        if not self.deleted:
            for _ in range(50):
                if not self._dirty.is_set() and self._last_status == self.status():
                    break
                await asyncio.sleep(0.02)
        writer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await writer

    def request_stop(self, deleted: bool = False, grace: float | None = None) -> None:
        """Stop all containers (once); ``deleted`` means the pod object is already gone."""
        self.deleted = self.deleted or deleted
        if grace is not None:
            self.grace = min(self.grace, grace)
        if self.stopping:
            return
        self.stopping = True
        self._stop.set()
        self.kubelet.spawn(self._terminate())

    async def _terminate(self) -> None:
        await asyncio.gather(*(r.stop() for r in self.init_runners + self.runners), return_exceptions=True)
        if self.task is not None:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(asyncio.shield(self.task), 5)
        if not self.deleted:
            # Finish the graceful deletion, as the kubelet's status manager does.
            await self.kubelet.client.delete(PODS, self.namespace, self.name, grace_period=0, uid=self.uid)


class Kubelet:
    """Watches all pods and owns one :class:`PodWorker` per pod UID."""

    def __init__(
        self,
        client: ApiClient,
        pods: Informer,
        config: RuntimeConfig,
        service_env: Callable[[str], dict[str, str]] | None = None,
    ) -> None:
        self.client, self.pods, self.config = client, pods, config
        self.service_env = service_env or (lambda _ns: {})
        self.engine: ContainerEngine | None = None  # set when own-image pods run as real containers
        self.workers: dict[str, PodWorker] = {}
        self.events: EventRecorder = NullRecorder()
        self._background: set[asyncio.Task[Any]] = set()
        self._session: aiohttp.ClientSession | None = None
        # Own-image Python pods are forked from one warm interpreter (runtime/zygote.py) unless turned off.
        self.zygote = Zygote(config.sandbox_dir / "zygote") if config.warm_start else None
        pods.add_handler(self._on_event)

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession()
        return self._session

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        """Run ``coro`` in the background, keeping a reference so that it is not garbage-collected."""
        task = asyncio.get_running_loop().create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def _on_event(self, kind: str, pod: JSON, _old: JSON | None) -> None:
        uid = meta(pod).get("uid")
        if not uid:
            return
        worker = self.workers.get(uid)
        if kind == "DELETED":
            if worker is not None:
                worker.request_stop(deleted=True)
                self.workers.pop(uid, None)
            return
        if is_terminating(pod):
            grace = meta(pod).get("deletionGracePeriodSeconds")
            if worker is not None:
                worker.pod = pod
                worker.request_stop(grace=None if grace is None else float(grace))
            elif (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed", None, "Pending"):
                name, namespace = meta(pod)["name"], meta(pod).get("namespace")
                self.spawn(self.client.delete(PODS, namespace, name, grace_period=0, uid=uid))
            return
        if worker is None and (pod.get("status") or {}).get("phase") not in ("Succeeded", "Failed"):
            worker = PodWorker(self, pod)
            self.workers[uid] = worker
            worker.task = asyncio.get_running_loop().create_task(worker.run())
        elif worker is not None:
            worker.pod = pod

    def worker(self, namespace: str, name: str) -> PodWorker | None:
        for worker in self.workers.values():
            if worker.namespace == namespace and worker.name == name:
                return worker
        return None

    async def stop(self, grace_cap: float = 5.0) -> None:
        """Stop every container (shutdown of the sandbox): no API writes, short grace."""
        workers = list(self.workers.values())
        for worker in workers:
            worker.deleted = True
            worker.grace = min(worker.grace, grace_cap)
            worker.request_stop(deleted=True)
        tasks = [w.task for w in workers if w.task is not None]
        if tasks:
            await asyncio.wait(tasks, timeout=grace_cap + 5)
        for task in tasks:
            task.cancel()
        if self.zygote is not None:
            await self.zygote.close()
        if self._session is not None:
            await self._session.close()

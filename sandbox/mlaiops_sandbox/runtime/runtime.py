"""The local runtime: shared informers, the kubelet and the built-in controllers, as one API client;
plus kube-state-metrics' pod series on a local port (``state_metrics.address``)."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from mlaiops_sandbox.runtime.client import DEPLOYMENTS, JOBS, PODS, PVCS, REPLICASETS, SERVICES, ApiClient
from mlaiops_sandbox.runtime.config import RuntimeConfig
from mlaiops_sandbox.runtime.deployments import DeploymentController
from mlaiops_sandbox.runtime.events import EventRecorder
from mlaiops_sandbox.runtime.informer import Informer
from mlaiops_sandbox.runtime.jobs import JobController
from mlaiops_sandbox.runtime.node import register_node
from mlaiops_sandbox.runtime.podman import ContainerEngine
from mlaiops_sandbox.runtime.pods import Kubelet
from mlaiops_sandbox.runtime.replicasets import ReplicaSetController
from mlaiops_sandbox.runtime.services import ServiceController
from mlaiops_sandbox.runtime.state_metrics import StateMetricsServer
from mlaiops_sandbox.runtime.volumes import ClaimBinder
from mlaiops_sandbox.runtime.workqueue import Controller

log = logging.getLogger(__name__)


class Runtime:
    """kubelet + deployment/replicaset/job/endpoints controllers + kube-proxy for one API server URL."""

    def __init__(self, api_url: str, config: RuntimeConfig) -> None:
        self.config = config
        self.client = ApiClient(api_url)
        self.pods = Informer(self.client, PODS)
        self.replicasets = Informer(self.client, REPLICASETS)
        self.deployments = Informer(self.client, DEPLOYMENTS)
        self.jobs = Informer(self.client, JOBS)
        self.services = Informer(self.client, SERVICES)
        self.claims = Informer(self.client, PVCS)
        self.service_controller = ServiceController(self.client, self.services, self.pods)
        self.kubelet = Kubelet(self.client, self.pods, config, self.service_controller.service_env)
        if config.container_image:
            self.kubelet.engine = ContainerEngine(config.sandbox_dir, config.container_image)
        self.controllers: list[Controller] = [
            ReplicaSetController(self.client, self.replicasets, self.pods),
            DeploymentController(self.client, self.deployments, self.replicasets, self.pods),
            JobController(self.client, self.jobs, self.pods, config),
            self.service_controller,
            ClaimBinder(self.client, self.claims),
        ]
        self.state_metrics = StateMetricsServer(self.pods)
        self.events = EventRecorder(self.client, config.node_name)
        self.kubelet.events = self.events
        for controller in self.controllers:
            controller.events = self.events
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def informers(self) -> list[Informer]:
        return [self.services, self.pods, self.replicasets, self.deployments, self.jobs, self.claims]

    async def start(self, timeout: float = 10.0) -> None:
        self.config.sandbox_dir.mkdir(parents=True, exist_ok=True)
        engine = self.kubelet.engine
        if engine is not None:
            await engine.check()
            leftovers = await engine.cleanup()
            if leftovers:
                log.warning("removed %d containers a previous sandbox in this folder left", len(leftovers))
        loop = asyncio.get_running_loop()
        for informer in self.informers:
            self._tasks.append(loop.create_task(informer.run(), name=f"informer-{informer.resource.plural}"))
        for controller in self.controllers:
            self._tasks.append(loop.create_task(controller.run(), name=controller.name))
        await asyncio.wait_for(asyncio.gather(*(i.synced.wait() for i in self.informers)), timeout)
        await register_node(self.client, self.config)
        await self.state_metrics.start()

    async def stop(self) -> None:
        """Stop every pod's processes, then the controllers; leaves API objects as they are."""
        for task in self._tasks:
            if task.get_name().startswith("informer-"):
                task.cancel()
        await self.kubelet.stop()
        for controller in self.controllers:
            controller.stop_timers()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await self.service_controller.stop()
        await self.state_metrics.stop()
        if self.kubelet.engine is not None:
            await self.kubelet.engine.cleanup()  # whatever a cut-short stop left
        await self.client.close()

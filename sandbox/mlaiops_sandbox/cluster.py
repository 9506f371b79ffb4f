"""The whole sandbox cluster: API server + local runtime + Prometheus, and a kubeconfig for clients.

``Sandbox`` works both ways: ``await sandbox.start()`` inside an event loop, or ``with Sandbox(dir) as s:``
from synchronous code (pytest fixtures, the CLI), which runs everything on a loop in a daemon thread.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

import yaml

from mlaiops_sandbox import apiserver
from mlaiops_sandbox.apiserver import bootstrap
from mlaiops_sandbox.apiserver.tls import token_kubeconfig
from mlaiops_sandbox.gateway import GatewayPlane
from mlaiops_sandbox.runtime import Runtime, RuntimeConfig
from mlaiops_sandbox.runtime.logs import log_handler
from mlaiops_sandbox.runtime.prometheus import Prometheus, TargetWriter

T = TypeVar("T")
CONTEXT = "mlaiops-sandbox"
ADMIN_ACCOUNT = ("kube-system", "mlaiops-sandbox-admin")  # the HTTPS kubeconfig's identity
ADMIN_TOKEN_SECONDS = 365 * 24 * 3600


def kubeconfig(url: str, namespace: str = "default") -> dict[str, Any]:
    """Plain http, no credentials; context ``mlaiops-sandbox``."""
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": CONTEXT, "cluster": {"server": url}}],
        "users": [{"name": CONTEXT, "user": {}}],
        "contexts": [{"name": CONTEXT, "context": {"cluster": CONTEXT, "user": CONTEXT, "namespace": namespace}}],
        "current-context": CONTEXT,
    }


class Sandbox:
    def __init__(
        self,
        directory: Path | str,
        *,
        port: int = 0,
        prometheus: bool = True,
        prometheus_port: int = 0,
        config: RuntimeConfig | None = None,
        containers: str | None = None,
        gateway: bool = True,
    ) -> None:
        """``containers``: a local image (e.g. ``mlaiops:dev`` from ``make image``) that the project's
        pods run as, as real podman containers; None keeps them local processes (the fast default). ``gateway``: serve the Gateway API (its CRDs, GatewayClass ``sandbox``, nginx)."""
        self.dir = Path(directory).resolve()
        self.port = port
        self.config = config or RuntimeConfig()
        self.config.sandbox_dir = self.dir
        if containers:
            self.config.container_image = containers
        self.with_prometheus = prometheus
        self.prometheus: Prometheus | None = (
            Prometheus(self.dir / "prometheus", prometheus_port) if prometheus else None
        )
        self.kubeconfig_path = self.dir / "kubeconfig"
        self.secure_kubeconfig_path = self.dir / "kubeconfig-https"
        self.ca_path = self.dir / "ca.crt"
        self.server: apiserver.ApiServer | None = None
        self.runtime: Runtime | None = None
        self.with_gateway = gateway
        self.gateway: GatewayPlane | None = None
        self.startup_seconds = 0.0
        self.loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._prometheus_restart: asyncio.Task[None] | None = None

    @property
    def api_url(self) -> str:
        assert self.server is not None, "sandbox not started"
        return self.server.url

    @property
    def secure_url(self) -> str:
        assert self.server is not None, "sandbox not started"
        return self.server.secure_url

    @property
    def prometheus_url(self) -> str | None:
        return self.prometheus.url if self.prometheus else None

    # --- async API ----------------------------------------------------------------------------------
    async def start(self) -> None:
        began = time.monotonic()
        self.dir.mkdir(parents=True, exist_ok=True)
        self.server = await apiserver.start("127.0.0.1", self.port)
        self.runtime = Runtime(self.server.url, self.config)
        self.server.add_subresource("", "pods", "log", log_handler(self.runtime.kubelet))
        await self.runtime.start()
        if self.with_gateway:
            self.gateway = GatewayPlane(self.server.url, self.dir / "gateway")
            await self.gateway.start()
        if self.prometheus is not None:
            TargetWriter(self.runtime.pods, self.prometheus.targets_file, self.runtime.state_metrics.address)
            await self.prometheus.astart()
        self.kubeconfig_path.write_text(yaml.safe_dump(kubeconfig(self.server.url), sort_keys=False))
        self.secure_kubeconfig_path.write_text(yaml.safe_dump(self._admin_kubeconfig(), sort_keys=False))
        self.ca_path.write_bytes(self.server.certificate.ca_pem)
        self.startup_seconds = time.monotonic() - began

    def _admin_kubeconfig(self) -> dict[str, Any]:
        """HTTPS, the server's CA and the token of a ServiceAccount bound to ``cluster-admin``: what a real
        cluster hands out, for tools that insist on TLS (kubectl with tokens, webhook servers)."""
        assert self.server is not None
        cluster = self.server.cluster
        namespace, name = ADMIN_ACCOUNT
        cluster.ensure("", "serviceaccounts", namespace, {"metadata": {"name": name, "namespace": namespace}})
        binding = {
            "metadata": {"name": name},
            "roleRef": {"apiGroup": bootstrap.RBAC, "kind": "ClusterRole", "name": "cluster-admin"},
            "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": namespace}],
        }
        cluster.ensure(bootstrap.RBAC, "clusterrolebindings", None, binding)
        account = cluster.store.get(("", "serviceaccounts"), namespace, name)
        assert account is not None
        issued = self.server.access.tokens.request(account, {"spec": {"expirationSeconds": ADMIN_TOKEN_SECONDS}})
        ca_pem = self.server.certificate.ca_pem
        return token_kubeconfig(self.server.secure_url, ca_pem, issued["status"]["token"])

    async def stop(self) -> None:
        if self._prometheus_restart is not None:
            self._prometheus_restart.cancel()
        if self.gateway is not None:
            await self.gateway.stop()
        if self.runtime is not None:
            await self.runtime.stop()
        if self.prometheus is not None:
            await self.prometheus.astop()
        if self.server is not None:
            await self.server.stop()

    # --- faults: Prometheus outages ----------------------------------------------------------------
    async def astop_prometheus(self, seconds: float | None = None) -> None:
        """Stop Prometheus (queries are refused, nothing is scraped); with ``seconds``, start it again
        on the same port and data after that long, as a crashed and rescheduled Prometheus would."""
        assert self.prometheus is not None, "sandbox started without Prometheus"
        if self._prometheus_restart is not None:
            self._prometheus_restart.cancel()
            self._prometheus_restart = None
        await self.prometheus.astop()
        if seconds is not None:
            self._prometheus_restart = asyncio.get_running_loop().create_task(self._restart_after(seconds))

    async def astart_prometheus(self) -> None:
        assert self.prometheus is not None, "sandbox started without Prometheus"
        if self._prometheus_restart is not None:
            self._prometheus_restart.cancel()
            self._prometheus_restart = None
        await self.prometheus.astart()

    async def _restart_after(self, seconds: float) -> None:
        await asyncio.sleep(seconds)
        self._prometheus_restart = None
        assert self.prometheus is not None
        await self.prometheus.astart()

    def stop_prometheus(self, seconds: float | None = None) -> None:
        """Threaded form of :meth:`astop_prometheus` (returns once Prometheus is down)."""
        self.call(self.astop_prometheus(seconds))

    def start_prometheus(self) -> None:
        """Threaded form of :meth:`astart_prometheus` (returns once Prometheus is ready)."""
        self.call(self.astart_prometheus())

    @property
    def prometheus_running(self) -> bool:
        return self.prometheus is not None and self.prometheus.running

    # --- threaded (sync) API ------------------------------------------------------------------------
    def call(self, coro: Coroutine[Any, Any, T], timeout: float = 60) -> T:
        """Run a coroutine on the sandbox's loop from another thread."""
        assert self.loop is not None, "sandbox not started in a thread"
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def __enter__(self) -> Sandbox:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="mlaiops-sandbox", daemon=True)
        self._thread.start()
        try:
            self.call(self.start())
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        if self.loop is None:
            return
        try:
            self.call(self.stop(), timeout=60)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            if self._thread is not None:
                self._thread.join(timeout=10)
            self.loop = None

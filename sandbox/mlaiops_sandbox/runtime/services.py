"""kube-proxy and the endpoints controller: one local TCP proxy per Service port.

Each Service port gets a listener on ``127.0.0.1:<free port>``, recorded in the Service annotations
``sandbox.mlaiops.dev/endpoint`` (``http://127.0.0.1:PORT`` for the first port) and
``sandbox.mlaiops.dev/endpoints`` (JSON ``{"<port name or number>": "127.0.0.1:PORT"}``). Every accepted
connection goes to the next *ready* pod matching the selector, round-robin (like kube-proxy's IPVS ``rr``
mode: balancing is per connection, not per HTTP request). A core/v1 Endpoints object with the same name
lists the pods (address 127.0.0.1, the pod's mapped local port).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging

from mlaiops_sandbox.runtime.client import ENDPOINTS, SERVICES, ApiClient, ApiError
from mlaiops_sandbox.runtime.informer import Informer, key_of
from mlaiops_sandbox.runtime.pods import local_ports
from mlaiops_sandbox.runtime.probes import resolve_port
from mlaiops_sandbox.runtime.util import JSON, env_name, is_terminating, meta, pod_ready
from mlaiops_sandbox.runtime.workqueue import Controller

log = logging.getLogger(__name__)

ENDPOINT_ANNOTATION = "sandbox.mlaiops.dev/endpoint"
ENDPOINTS_ANNOTATION = "sandbox.mlaiops.dev/endpoints"


class PortProxy:
    """A TCP listener that pipes each connection to the next backend in round-robin order."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.host = host
        self.port = 0
        self.backends: list[tuple[str, int]] = []
        self._next = 0
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self, port: int = 0) -> None:
        self._server = await asyncio.start_server(self._handle, self.host, port)
        self.port = int(self._server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)
        for task in list(self._tasks):
            task.cancel()

    def pick(self) -> tuple[str, int] | None:
        if not self.backends:
            return None
        backend = self.backends[self._next % len(self.backends)]
        self._next += 1
        return backend

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        try:
            backend = self.pick()
            if backend is None:
                return  # no ready endpoint: the connection is closed at once
            try:
                up_reader, up_writer = await asyncio.wait_for(asyncio.open_connection(*backend), 5)
            except (OSError, TimeoutError):
                return
            await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))
        finally:
            with contextlib.suppress(Exception):
                writer.close()
            if task is not None:
                self._tasks.discard(task)

    @staticmethod
    async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
            if writer.can_write_eof():
                writer.write_eof()
        except (OSError, ConnectionError):
            pass
        except RuntimeError:
            pass


def selector_matches(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


class ServiceController(Controller):
    """Keeps proxies, Endpoints objects and the endpoint annotations in step with Services and pods."""

    name = "service-proxy"

    def __init__(self, client: ApiClient, services: Informer, pods: Informer) -> None:
        super().__init__()
        self.client, self.services, self.pods = client, services, pods
        self.proxies: dict[str, dict[str, PortProxy]] = {}  # service key -> port key -> proxy
        services.add_handler(self._on_service)
        pods.add_handler(self._on_pod)

    def _on_service(self, _kind: str, svc: JSON, _old: JSON | None) -> None:
        self.enqueue(key_of(svc))

    def _on_pod(self, _kind: str, pod: JSON, _old: JSON | None) -> None:
        namespace = meta(pod).get("namespace")
        labels = meta(pod).get("labels") or {}
        for svc in self.services.in_namespace(namespace):
            if selector_matches((svc.get("spec") or {}).get("selector") or {}, labels):
                self.enqueue(key_of(svc))

    def service_env(self, namespace: str) -> dict[str, str]:
        """``<NAME>_SERVICE_HOST``/``_PORT`` variables, as the kubelet injects them for a namespace."""
        env: dict[str, str] = {}
        for key, proxies in self.proxies.items():
            ns, name = key.split("/", 1)
            if ns != namespace or not proxies:
                continue
            prefix = env_name(name)
            first = next(iter(proxies.values()))
            env[f"{prefix}_SERVICE_HOST"] = "127.0.0.1"
            env[f"{prefix}_SERVICE_PORT"] = str(first.port)
            for port_key, proxy in proxies.items():
                if not port_key.isdigit():
                    env[f"{prefix}_SERVICE_PORT_{env_name(port_key)}"] = str(proxy.port)
        return env

    @staticmethod
    def _port_key(port: JSON) -> str:
        return str(port.get("name") or port.get("port"))

    async def reconcile(self, key: str) -> None:
        svc = self.services.store.get(key)
        if svc is None or is_terminating(svc):
            for proxy in self.proxies.pop(key, {}).values():
                await proxy.stop()
            namespace, name = key.split("/", 1)
            if svc is None:  # the endpoints controller removes the Endpoints of a deleted Service
                await self.client.delete(ENDPOINTS, namespace, name)
            return
        spec = svc.get("spec") or {}
        if spec.get("type") == "ExternalName" or not spec.get("selector"):
            return  # selector-less Services keep user-managed Endpoints; no proxy
        ports = [p for p in spec.get("ports") or [] if (p.get("protocol") or "TCP") == "TCP"]
        proxies = self.proxies.setdefault(key, {})
        wanted = {self._port_key(p) for p in ports}
        for port_key in list(proxies):
            if port_key not in wanted:
                await proxies.pop(port_key).stop()
        for port in ports:
            if self._port_key(port) not in proxies:
                proxy = PortProxy()
                await proxy.start()
                proxies[self._port_key(port)] = proxy
        namespace = meta(svc)["namespace"]
        selector = spec["selector"]
        pods = sorted(
            (
                p
                for p in self.pods.in_namespace(namespace)
                if selector_matches(selector, meta(p).get("labels") or {})
                and not is_terminating(p)
                and (p.get("status") or {}).get("phase") not in ("Succeeded", "Failed")
            ),
            key=lambda p: meta(p)["name"],
        )
        subsets: list[JSON] = []
        for port in ports:
            proxy = proxies[self._port_key(port)]
            backends = []
            for pod in pods:
                local = self._local_port(pod, port)
                if local is None:
                    continue
                address = {
                    "ip": "127.0.0.1",
                    "targetRef": {
                        "kind": "Pod",
                        "namespace": namespace,
                        "name": meta(pod)["name"],
                        "uid": meta(pod)["uid"],
                    },
                }
                ready = pod_ready(pod)
                if ready:
                    backends.append(("127.0.0.1", local))
                subsets.append(
                    {
                        "addresses" if ready else "notReadyAddresses": [address],
                        "ports": [{"name": port.get("name") or "", "port": local, "protocol": "TCP"}],
                    }
                )
            proxy.backends = backends
        await self._publish(svc, proxies, subsets)

    @staticmethod
    def _local_port(pod: JSON, port: JSON) -> int | None:
        mapped = local_ports(pod)
        target = port.get("targetPort", port.get("port"))
        for container in (pod.get("spec") or {}).get("containers") or []:
            number = resolve_port(target, container, {})
            if number is not None and number in mapped:
                return mapped[number]
        return None

    async def _publish(self, svc: JSON, proxies: dict[str, PortProxy], subsets: list[JSON]) -> None:
        namespace, name = meta(svc)["namespace"], meta(svc)["name"]
        endpoints = {k: f"127.0.0.1:{p.port}" for k, p in proxies.items()}
        annotations = {
            ENDPOINT_ANNOTATION: f"http://{next(iter(endpoints.values()))}" if endpoints else None,
            ENDPOINTS_ANNOTATION: json.dumps(endpoints, sort_keys=True),
        }
        current = meta(svc).get("annotations") or {}
        if any(current.get(k) != v for k, v in annotations.items()):
            written = await self.client.patch(SERVICES, namespace, name, {"metadata": {"annotations": annotations}})
            await self.services.wait_for_write(written)
        body = {
            "apiVersion": "v1",
            "kind": "Endpoints",
            "metadata": {"name": name, "namespace": namespace, "labels": dict(meta(svc).get("labels") or {})},
            "subsets": subsets,
        }
        try:
            existing = await self.client.get_or_none(ENDPOINTS, namespace, name)
            if existing is None:
                await self.client.create(ENDPOINTS, namespace, body)
            elif (existing.get("subsets") or []) != subsets:
                body["metadata"]["resourceVersion"] = meta(existing).get("resourceVersion")
                await self.client.replace(ENDPOINTS, namespace, name, body)
        except ApiError as exc:
            if exc.status != 409:
                raise
            self.enqueue_after(f"{namespace}/{name}", 0.2)

    async def stop(self) -> None:
        for proxies in self.proxies.values():
            for proxy in proxies.values():
                await proxy.stop()
        self.proxies.clear()

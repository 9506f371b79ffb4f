"""Fixtures for the Gateway data plane's integration tests: one sandbox (no Prometheus) with its nginx
Gateway API implementation, backends as real pods (``backend.py``), and helpers to send traffic."""

from __future__ import annotations

import http.client
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from mlaiops_sandbox.cluster import Sandbox
from mlaiops_sandbox.gateway.nginx import nginx_binary
from mlaiops_sandbox.testing import Kubectl
from mlaiops_sandbox.testing.gateway import gateway_url, install_gateway_api

from tests.integration.runtime.helpers import Kube, wait_for

BACKEND = str(Path(__file__).with_name("backend.py"))
# Upstream's unchanged CRDs, installed as a cluster operator would (the project keeps no copy).
GATEWAY_API_CRDS = Path(__file__).resolve().parents[4] / "shared" / "gateway-api"
GATEWAYS = "/apis/gateway.networking.k8s.io/v1"
JSON = dict[str, Any]


@pytest.fixture(scope="session")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    if nginx_binary() is None:
        pytest.skip("nginx is not installed (make setup)")
    with Sandbox(tmp_path_factory.mktemp("sandbox"), prometheus=False) as sb:
        install_gateway_api(Kubectl(sb.kubeconfig_path), GATEWAY_API_CRDS)
        yield sb


@pytest.fixture(scope="session")
def kube(sandbox: Sandbox) -> Kube:
    return Kube(sandbox.api_url)


def deploy_track(kube: Kube, namespace: str, name: str, replicas: int = 2) -> None:
    """A Deployment of ``backend.py`` pods answering ``<name> <pod>`` and a Service ``name`` on port 80."""
    labels = {"app": name}
    container = {
        "name": "backend",
        "image": "ghcr.io/example/mlaiops:test",
        "command": [sys.executable, BACKEND],
        "env": [{"name": "TRACK", "value": name}],
        "ports": [{"containerPort": 8080, "name": "http"}],
        "readinessProbe": {"httpGet": {"path": "/__count", "port": 8080}, "periodSeconds": 1},
    }
    kube.create(
        f"/apis/apps/v1/namespaces/{namespace}/deployments",
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": name},
            "spec": {
                "replicas": replicas,
                "selector": {"matchLabels": labels},
                "template": {"metadata": {"labels": labels}, "spec": {"containers": [container]}},
            },
        },
    )
    kube.create(
        f"/api/v1/namespaces/{namespace}/services",
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": name},
            "spec": {"selector": labels, "ports": [{"name": "http", "port": 80, "targetPort": "http"}]},
        },
    )

    def ready() -> bool:
        endpoints = kube.get_or_none(f"/api/v1/namespaces/{namespace}/endpoints/{name}") or {}
        return sum(len(s.get("addresses") or []) for s in endpoints.get("subsets") or []) == replicas

    wait_for(ready, 60, what=f"{replicas} ready pods behind {namespace}/{name}")


def gateway(kube: Kube, namespace: str, name: str = "gw", port: int = 80) -> str:
    """Create a Gateway of class ``sandbox`` with one HTTP listener; return its URL once Programmed."""
    kube.create(
        f"{GATEWAYS}/namespaces/{namespace}/gateways",
        {
            "apiVersion": "gateway.networking.k8s.io/v1",
            "kind": "Gateway",
            "metadata": {"name": name},
            "spec": {"gatewayClassName": "sandbox", "listeners": [{"name": "http", "protocol": "HTTP", "port": port}]},
        },
    )

    def url() -> str | None:
        return gateway_url(kube.get(f"{GATEWAYS}/namespaces/{namespace}/gateways/{name}"))

    found: str = wait_for(url, 30, what=f"Gateway {namespace}/{name} Programmed")
    return found


def condition(status: JSON | None, kind: str, field: str = "status") -> str | None:
    for item in (status or {}).get("conditions") or []:
        if item.get("type") == kind:
            return str(item.get(field))
    return None


def route(
    namespace: str, name: str, rules: list[JSON], gateway_name: str = "gw", gateway_ns: str | None = None
) -> JSON:
    parent: JSON = {"name": gateway_name}
    if gateway_ns:
        parent["namespace"] = gateway_ns
    return {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"parentRefs": [parent], "rules": rules},
    }


def backend(name: str, weight: int | None = None, namespace: str | None = None) -> JSON:
    ref: JSON = {"name": name, "port": 80}
    if weight is not None:
        ref["weight"] = weight
    if namespace:
        ref["namespace"] = namespace
    return ref


def parent_status(kube: Kube, namespace: str, name: str) -> JSON | None:
    obj = kube.get(f"{GATEWAYS}/namespaces/{namespace}/httproutes/{name}")
    for parent in (obj.get("status") or {}).get("parents") or []:
        if parent.get("controllerName") == "mlaiops.dev/sandbox-gateway":
            return parent
    return None


def observed(kube: Kube, namespace: str, name: str, accepted: bool = True) -> JSON:
    """The route's status once it reflects the route's current generation (and, unless ``accepted`` is
    False, once the route is Accepted)."""
    path = f"{GATEWAYS}/namespaces/{namespace}/httproutes/{name}"

    def fresh() -> JSON | None:
        generation = kube.get(path)["metadata"].get("generation")
        parent = parent_status(kube, namespace, name)
        if parent and all(c.get("observedGeneration") == generation for c in parent["conditions"]):
            return parent
        return None

    found: JSON = wait_for(fresh, 30, what=f"status of HTTPRoute {namespace}/{name}")
    if accepted:
        assert condition(found, "Accepted") == "True", found
    return found


class Client:
    """Sequential HTTP/1.1 requests on one keep-alive connection to the Gateway (as a load generator
    would): per-request routing, not per-connection."""

    def __init__(self, url: str) -> None:
        host, port = url.removeprefix("http://").split(":")
        self.conn = http.client.HTTPConnection(host, int(port), timeout=10)
        self.reconnects = 0

    def get(self, path: str = "/", headers: dict[str, str] | None = None) -> tuple[int, str]:
        """One request; an idle keep-alive connection that nginx closed (a reload closes the old workers'
        idle connections) is reopened and the request sent again, as HTTP clients do for idempotent
        requests. A connection that fails after the request was taken is an error."""
        for attempt in (1, 2):
            try:
                self.conn.request("GET", path, headers=headers or {})
                resp = self.conn.getresponse()
                return resp.status, resp.read().decode()
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self.conn.close()
                if attempt == 2:
                    raise
                self.reconnects += 1
        raise AssertionError("unreachable")

    def close(self) -> None:
        self.conn.close()


def tracks(url: str, count: int, path: str = "/", headers: dict[str, str] | None = None) -> dict[str, int]:
    """How many of ``count`` answers came from each track (the first word of the body; ``<status>`` else)."""
    client = Client(url)
    seen: dict[str, int] = {}
    try:
        for _ in range(count):
            status, body = client.get(path, headers)
            name = body.split(" ", 1)[0] if status == 200 else f"<{status}>"
            seen[name] = seen.get(name, 0) + 1
    finally:
        client.close()
    return seen


def received(kube: Kube, namespace: str, service: str) -> int:
    """Requests the Service's pods received (each pod's own count, asked directly, not through nginx)."""
    endpoints = kube.get(f"/api/v1/namespaces/{namespace}/endpoints/{service}")
    total = 0
    for subset in endpoints.get("subsets") or []:
        for address in subset.get("addresses") or []:
            conn = http.client.HTTPConnection(address["ip"], subset["ports"][0]["port"], timeout=5)
            conn.request("GET", "/__count")
            total += int(conn.getresponse().read())
            conn.close()
    return total


def settled(url: str, expected: set[str], path: str = "/", headers: dict[str, str] | None = None) -> None:
    """Wait until the Gateway answers from exactly the ``expected`` tracks (pods behind a new Service
    reach nginx with their Endpoints, a moment after the route's status)."""
    wait_for(lambda: set(tracks(url, 50, path, headers)) == expected, 30, what=f"answers from {expected}")

"""A small async Kubernetes REST client: the runtime talks to the API server only over HTTP.

Keeping the runtime a pure API client (like the kubelet and kube-controller-manager) means it works
against any server that speaks the Kubernetes REST API, and never reaches into the emulator's internals.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp

JSON = dict[str, Any]


class ApiError(Exception):
    """A non-2xx answer from the API server; ``status`` is the HTTP code, ``body`` the Status object."""

    def __init__(self, status: int, body: Any, method: str = "", path: str = "") -> None:
        self.status = status
        self.body = body
        message = body.get("message") if isinstance(body, dict) else body
        super().__init__(f"{method} {path}: {status} {message}")


class WatchExpired(Exception):
    """The watch's resourceVersion is too old (410 Gone): the caller must relist."""


@dataclass(frozen=True)
class Resource:
    """A REST resource: ``group_version`` such as ``v1`` or ``apps/v1`` and its plural name."""

    group_version: str
    plural: str
    namespaced: bool = True

    def path(self, namespace: str | None = None, name: str | None = None, sub: str | None = None) -> str:
        root = "/api/v1" if self.group_version == "v1" else f"/apis/{self.group_version}"
        parts = [root]
        if self.namespaced and namespace:
            parts.append(f"namespaces/{namespace}")
        parts.append(self.plural)
        if name:
            parts.append(name)
        if sub:
            parts.append(sub)
        return "/".join(parts)


PODS = Resource("v1", "pods")
SERVICES = Resource("v1", "services")
ENDPOINTS = Resource("v1", "endpoints")
CONFIGMAPS = Resource("v1", "configmaps")
SECRETS = Resource("v1", "secrets")
PVCS = Resource("v1", "persistentvolumeclaims")
EVENTS = Resource("v1", "events")
REPLICASETS = Resource("apps/v1", "replicasets")
DEPLOYMENTS = Resource("apps/v1", "deployments")
JOBS = Resource("batch/v1", "jobs")
NODES = Resource("v1", "nodes", namespaced=False)

MERGE_PATCH = "application/merge-patch+json"


class ApiClient:
    """JSON over HTTP to one API server; one aiohttp session, no auth (the sandbox has none)."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url.rstrip("/")
        self._session: aiohttp.ClientSession | None = None

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=None, sock_connect=5),
                connector=aiohttp.TCPConnector(limit=32),
            )
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, str] | None = None,
        body: Any = None,
        content_type: str = "application/json",
    ) -> JSON:
        data = None if body is None else json.dumps(body)
        headers = {"Accept": "application/json"}
        if data is not None:
            headers["Content-Type"] = content_type
        async with self.session.request(
            method,
            self.base_url + path,
            params=params,
            data=data,
            headers=headers,
            timeout=aiohttp.ClientTimeout(total=30),
        ) as resp:
            text = await resp.text()
            try:
                payload = json.loads(text) if text else {}
            except ValueError:
                payload = text
            if resp.status >= 300:
                raise ApiError(resp.status, payload, method, path)
            return payload if isinstance(payload, dict) else {}

    async def get(self, resource: Resource, namespace: str | None, name: str) -> JSON:
        return await self.request("GET", resource.path(namespace, name))

    async def get_or_none(self, resource: Resource, namespace: str | None, name: str) -> JSON | None:
        try:
            return await self.get(resource, namespace, name)
        except ApiError as exc:
            if exc.status == 404:
                return None
            raise

    async def list(self, resource: Resource, namespace: str | None = None, **params: str) -> JSON:
        return await self.request("GET", resource.path(namespace), params=params or None)

    async def create(self, resource: Resource, namespace: str | None, body: JSON) -> JSON:
        return await self.request("POST", resource.path(namespace), body=body)

    async def replace(self, resource: Resource, namespace: str | None, name: str, body: JSON) -> JSON:
        return await self.request("PUT", resource.path(namespace, name), body=body)

    async def patch(
        self, resource: Resource, namespace: str | None, name: str, patch: JSON, sub: str | None = None
    ) -> JSON:
        path = resource.path(namespace, name, sub)
        return await self.request("PATCH", path, body=patch, content_type=MERGE_PATCH)

    async def patch_status(self, resource: Resource, namespace: str | None, name: str, status: JSON) -> JSON:
        return await self.patch(resource, namespace, name, {"status": status}, sub="status")

    async def delete(
        self,
        resource: Resource,
        namespace: str | None,
        name: str,
        *,
        grace_period: int | None = None,
        propagation: str | None = None,
        uid: str | None = None,
    ) -> JSON | None:
        """DELETE, tolerating 404 (already gone) and 409 (a precondition on ``uid`` failed)."""
        options: JSON = {"kind": "DeleteOptions", "apiVersion": "v1"}
        if grace_period is not None:
            options["gracePeriodSeconds"] = grace_period
        if propagation:
            options["propagationPolicy"] = propagation
        if uid:
            options["preconditions"] = {"uid": uid}
        try:
            return await self.request("DELETE", resource.path(namespace, name), body=options)
        except ApiError as exc:
            if exc.status in (404, 409):
                return None
            raise

    async def watch(self, resource: Resource, resource_version: str, timeout_seconds: int = 60) -> AsyncIterator[JSON]:
        """Yield watch events from ``resource_version`` until the server closes the stream.

        Raises :class:`WatchExpired` on a 410 so that the caller relists, as kopf and client-go do.
        """
        params = {
            "watch": "true",
            "allowWatchBookmarks": "true",
            "resourceVersion": resource_version,
            "timeoutSeconds": str(timeout_seconds),
        }
        async with self.session.get(
            self.base_url + resource.path(),
            params=params,
            timeout=aiohttp.ClientTimeout(total=None, sock_read=timeout_seconds + 30),
        ) as resp:
            if resp.status == 410:
                raise WatchExpired(resource_version)
            if resp.status >= 300:
                raise ApiError(resp.status, await resp.text(), "WATCH", resource.path())
            buffer = b""
            async for chunk in resp.content.iter_any():
                buffer += chunk
                while b"\n" in buffer:
                    line, buffer = buffer.split(b"\n", 1)
                    if not line.strip():
                        continue
                    event = json.loads(line)
                    if event.get("type") == "ERROR":
                        status = event.get("object") or {}
                        if status.get("code") == 410:
                            raise WatchExpired(resource_version)
                        raise ApiError(int(status.get("code") or 500), status, "WATCH", resource.path())
                    yield event

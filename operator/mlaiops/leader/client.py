"""Lease I/O: get, create and update one coordination.k8s.io/v1 Lease (the only verbs election needs).

Requests run on a dedicated thread so that kopf's handlers, which share the default executor,
can never starve a leader's renewal.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from typing import Any, cast

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from mlaiops.leader.lease import LeaseRecord

JSON = dict[str, Any]
API_VERSION = "coordination.k8s.io/v1"


class LeaseConflict(Exception):
    """Another candidate wrote the lease first (409): this attempt lost the race."""


class LeaseClient:
    def __init__(self, api: client.ApiClient, namespace: str, name: str, timeout: float) -> None:
        self.api = api
        self.namespace = namespace
        self.name = name
        self.timeout = timeout
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="lease")

    @property
    def _collection(self) -> str:
        return f"/apis/{API_VERSION}/namespaces/{self.namespace}/leases"

    def _call(self, method: str, path: str, body: Any = None) -> JSON:
        request = self.api.param_serialize(
            method=method,
            resource_path=path,
            header_params={"Accept": "application/json", "Content-Type": "application/json"},
            body=body,
            auth_settings=["BearerToken"],
        )
        response = self.api.call_api(*request, _request_timeout=self.timeout)
        response.read()
        # Deserialised as "object": the parsed JSON body (the client's stubs say str).
        return cast(JSON, self.api.response_deserialize(response, {"2XX": "object"}).data)

    async def _run(self, method: str, path: str, body: Any = None) -> JSON:
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._executor, self._call, method, path, body)
        except ApiException as error:
            if error.status == 409:
                raise LeaseConflict(f"{self.namespace}/{self.name}: {error.reason}") from error
            raise

    async def get(self) -> JSON | None:
        try:
            return await self._run("GET", f"{self._collection}/{self.name}")
        except ApiException as error:
            if error.status == 404:
                return None
            raise

    async def create(self, record: LeaseRecord) -> JSON:
        body = {
            "apiVersion": API_VERSION,
            "kind": "Lease",
            "metadata": {"name": self.name, "namespace": self.namespace},
            "spec": record.to_spec(),
        }
        return await self._run("POST", self._collection, body)

    async def update(self, current: JSON, record: LeaseRecord) -> JSON:
        """Replace the spec only if the lease is still at ``current``'s resourceVersion (else LeaseConflict)."""
        body = {
            "apiVersion": API_VERSION,
            "kind": "Lease",
            "metadata": {**current["metadata"]},
            "spec": record.to_spec(),
        }
        return await self._run("PUT", f"{self._collection}/{self.name}", body)

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)

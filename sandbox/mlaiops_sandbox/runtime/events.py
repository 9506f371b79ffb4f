"""core/v1 Events from the runtime's components, so ``kubectl describe`` tells what happened.

Fire-and-forget like client-go's recorder: an Event that cannot be written is dropped, never retried,
and never slows a controller down.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from mlaiops_sandbox.runtime.client import EVENTS, ApiClient
from mlaiops_sandbox.runtime.util import JSON, meta, timestamp

log = logging.getLogger(__name__)
API_VERSIONS = {"Pod": "v1", "ReplicaSet": "apps/v1", "Deployment": "apps/v1", "Job": "batch/v1"}


class EventRecorder:
    def __init__(self, client: ApiClient, host: str = "sandbox") -> None:
        self.client, self.host = client, host
        self._tasks: set[asyncio.Task[Any]] = set()

    def record(self, obj: JSON, kind: str, reason: str, message: str, component: str, warning: bool = False) -> None:
        m = meta(obj)
        if not m.get("name"):
            return
        stamp = timestamp()
        body = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"generateName": f"{m['name']}.", "namespace": m.get("namespace") or "default"},
            "involvedObject": {
                "apiVersion": obj.get("apiVersion") or API_VERSIONS.get(kind, "v1"),
                "kind": kind,
                "name": m["name"],
                "namespace": m.get("namespace"),
                "uid": m.get("uid"),
            },
            "reason": reason,
            "message": message,
            "type": "Warning" if warning else "Normal",
            "source": {"component": component, "host": self.host},
            "reportingComponent": component,
            "reportingInstance": self.host,
            "firstTimestamp": stamp,
            "lastTimestamp": stamp,
            "count": 1,
        }
        try:
            task = asyncio.get_running_loop().create_task(self._post(body))
        except RuntimeError:
            return
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _post(self, body: JSON) -> None:
        try:
            await self.client.create(EVENTS, body["metadata"]["namespace"], body)
        except Exception as exc:
            log.debug("event dropped: %r", exc)


class NullRecorder(EventRecorder):
    """For components built without an API client (unit tests)."""

    def __init__(self) -> None:
        self._tasks = set()

    def record(self, *args: Any, **kwargs: Any) -> None:
        return None

"""``pods/log`` for ``kubectl logs``: served from the log files the kubelet writes per container.

The real API server proxies this to the kubelet; the sandbox's server lets the runtime plug the handler
in (``ApiServer.add_subresource``). Supported: ``container``, ``tailLines``, ``limitBytes``, ``follow``.
``previous`` returns the same file (each restart appends to it); ``timestamps`` is ignored.
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

from mlaiops_sandbox.apiserver.errors import ApiError
from mlaiops_sandbox.runtime.pods import Kubelet, PodWorker


def _container(worker: PodWorker, wanted: str | None) -> str:
    spec = worker.pod.get("spec") or {}
    names = [c["name"] for c in spec.get("containers") or []]
    every = names + [c["name"] for c in spec.get("initContainers") or []]
    if wanted:
        if wanted not in every:
            raise ApiError(400, f"container {wanted} is not valid for pod {worker.name}", "BadRequest")
        return wanted
    if len(names) != 1:
        choices = " ".join(names)
        raise ApiError(
            400, f"a container name must be specified for pod {worker.name}, choose one of: [{choices}]", "BadRequest"
        )
    return names[0]


def _tail(data: bytes, lines: int | None, limit: int | None) -> bytes:
    if lines is not None:
        kept = data.splitlines(keepends=True)
        data = b"".join(kept[-lines:]) if lines > 0 else b""
    if limit is not None:
        data = data[:limit]
    return data


def log_handler(kubelet: Kubelet) -> Any:
    async def handler(request: web.Request, _server: Any, target: Any) -> web.StreamResponse:
        worker = kubelet.worker(target.namespace, target.name)
        if worker is None:
            raise ApiError(400, f'container is not running on pod "{target.name}"', "BadRequest")
        container = _container(worker, request.query.get("container"))
        path = worker.dir / "logs" / f"{container}.log"
        data = path.read_bytes() if path.exists() else b""
        lines = int(request.query["tailLines"]) if request.query.get("tailLines") else None
        limit = int(request.query["limitBytes"]) if request.query.get("limitBytes") else None
        data = _tail(data, lines, limit)
        if request.query.get("follow") != "true":
            return web.Response(body=data, content_type="text/plain")
        response = web.StreamResponse(headers={"Content-Type": "text/plain"})
        await response.prepare(request)
        await response.write(data)
        offset = path.stat().st_size if path.exists() else 0
        runner = next((r for r in worker.runners + worker.init_runners if r.name == container), None)
        while True:
            done = worker.stopping or (runner is not None and runner.finished)
            if path.exists() and path.stat().st_size > offset:
                with path.open("rb") as log:
                    log.seek(offset)
                    chunk = log.read()
                offset += len(chunk)
                await response.write(chunk)
            if done or kubelet.worker(target.namespace, target.name) is not worker:
                break
            await asyncio.sleep(0.2)
        await response.write_eof()
        return response

    return handler

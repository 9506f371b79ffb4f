"""Watch streams: newline-delimited JSON events with replay, bookmarks, expiry and timeouts."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any

from aiohttp import web

from .errors import bad_request, status_body
from .faults import FAULT, Decision
from .objects import Cluster
from .resources import ResourceInfo
from .selectors import object_matcher
from .store import Watcher

INITIAL_EVENTS_END = "k8s.io/initial-events-end"


def _bookmark(info: ResourceInfo, rv: int, initial_end: bool = False) -> dict[str, Any]:
    """A BOOKMARK carries only kind, apiVersion and metadata.resourceVersion (plus the end marker)."""
    meta: dict[str, Any] = {"resourceVersion": str(rv)}
    if initial_end:
        meta["annotations"] = {INITIAL_EVENTS_END: "true"}
    return {"type": "BOOKMARK", "object": {"kind": info.kind, "apiVersion": info.api_version, "metadata": meta}}


async def serve_watch(
    request: web.Request,
    cluster: Cluster,
    info: ResourceInfo,
    namespace: str | None,
    render: Callable[[dict[str, Any]], dict[str, Any]],
    bookmark_interval: float,
) -> web.StreamResponse:
    q = request.query
    matcher = object_matcher(q.get("labelSelector"), q.get("fieldSelector"))
    rv_text = q.get("resourceVersion") or ""
    send_initial = q.get("sendInitialEvents") == "true"
    bookmarks = q.get("allowWatchBookmarks") in ("true", "1")
    try:
        timeout = float(q["timeoutSeconds"]) if q.get("timeoutSeconds") else None
    except ValueError as exc:
        raise bad_request("timeoutSeconds must be a number") from exc
    if rv_text and not rv_text.isdigit():
        raise bad_request(f"invalid resource version: {rv_text}")
    store = cluster.store
    fault = request.get(FAULT) or Decision()  # set by the server's fault injection
    drop_after = fault.drop_after
    watcher = Watcher(gr=info.gr, namespace=namespace, matcher=matcher)
    initial: list[tuple[str, dict[str, Any]]] = []
    expired = False
    # Everything up to registering the watcher happens without awaiting: no event can slip between.
    if fault.expire:
        expired = True
    elif send_initial or rv_text in ("", "0"):
        initial = [("ADDED", o) for o in store.list(info.gr, namespace) if matcher(o)]
    elif store.too_old(int(rv_text)):
        expired = True
    else:
        for event in store.events_since(int(rv_text)):
            item = watcher.translate(event)
            if item is not None:
                initial.append(item)
    start_rv = store.rv
    if not expired:
        store.watchers.add(watcher)

    response = web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
    response.enable_chunked_encoding()
    await response.prepare(request)

    async def send(event: dict[str, Any]) -> None:
        await response.write(json.dumps(event, separators=(",", ":")).encode() + b"\n")

    try:
        if expired:
            status = status_body(
                410, f"too old resource version: {rv_text or 0} ({max(store.compacted_rv, store.rv)})", "Expired"
            )
            await send({"type": "ERROR", "object": status})
            return response
        for type_, obj in initial:
            await send({"type": type_, "object": render(obj)})
        if send_initial:
            await send(_bookmark(info, start_rv, initial_end=True))
        ends = [time.monotonic() + t for t in (timeout, drop_after) if t]
        deadline = min(ends) if ends else None
        while True:
            wait = bookmark_interval if bookmarks else None
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                wait = min(wait, left) if wait else left
            try:
                item = await asyncio.wait_for(watcher.queue.get(), wait)
            except TimeoutError:
                if bookmarks and watcher.queue.empty():
                    await send(_bookmark(info, store.rv))
                continue
            if item is None:
                break
            type_, obj = item
            await send({"type": type_, "object": render(obj)})
    except ConnectionResetError:
        pass
    finally:
        store.watchers.discard(watcher)
    return response

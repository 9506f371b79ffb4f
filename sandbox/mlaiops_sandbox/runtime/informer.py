"""List + watch cache for one resource type, shared by every controller that reads it.

Same contract as client-go's informer: list, then watch from the list's resourceVersion, resume from the
last seen version when the stream closes, relist on 410 Gone, and tell handlers about every change.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterator

from mlaiops_sandbox.runtime.client import JSON, ApiClient, Resource, WatchExpired

log = logging.getLogger(__name__)

# handler(event_type, new_or_deleted_object, previous_object_or_None)
Handler = Callable[[str, JSON, JSON | None], None]


def key_of(obj: JSON) -> str:
    meta = obj.get("metadata") or {}
    return f"{meta.get('namespace') or ''}/{meta.get('name')}"


def _namespace(obj: JSON) -> str:
    return (obj.get("metadata") or {}).get("namespace") or ""


def _controller_uid(obj: JSON) -> str | None:
    for ref in (obj.get("metadata") or {}).get("ownerReferences") or []:
        if ref.get("controller"):
            return ref.get("uid")
    return None


def rv_of(obj: JSON) -> str:
    return str((obj.get("metadata") or {}).get("resourceVersion") or "")


def rv_at_least(current: str, wanted: str) -> bool:
    """resourceVersions are opaque, but the sandbox's (and etcd's) are integers: compare them as such."""
    if current == wanted:
        return True
    try:
        return int(current) >= int(wanted)
    except ValueError:
        return False


class Informer:
    """Keeps ``store`` (``namespace/name`` -> object) in step with the API server."""

    def __init__(self, client: ApiClient, resource: Resource) -> None:
        self.client = client
        self.resource = resource
        self.store: dict[str, JSON] = {}
        # Indexes, like client-go's namespace and owner indexers: controllers look up a namespace's
        # or an owner's objects without scanning the whole cache (quadratic with 1,000 Deployments).
        self._by_namespace: dict[str, dict[str, JSON]] = {}
        self._by_owner: dict[str, dict[str, JSON]] = {}
        self.synced = asyncio.Event()
        self._handlers: list[Handler] = []
        self._changed = asyncio.Condition()

    def add_handler(self, handler: Handler) -> None:
        self._handlers.append(handler)

    def items(self) -> Iterator[JSON]:
        return iter(list(self.store.values()))

    def get(self, namespace: str | None, name: str) -> JSON | None:
        return self.store.get(f"{namespace or ''}/{name}")

    def in_namespace(self, namespace: str | None) -> list[JSON]:
        return list(self._by_namespace.get(namespace or "", {}).values())

    def owned_by(self, uid: str | None) -> list[JSON]:
        """Objects whose controller ownerReference has this uid."""
        return list(self._by_owner.get(uid or "", {}).values()) if uid else []

    def _put(self, key: str, obj: JSON) -> None:
        self._drop(key)
        self.store[key] = obj
        self._by_namespace.setdefault(_namespace(obj), {})[key] = obj
        if (uid := _controller_uid(obj)) is not None:
            self._by_owner.setdefault(uid, {})[key] = obj

    def _drop(self, key: str) -> None:
        old = self.store.pop(key, None)
        if old is None:
            return
        self._by_namespace.get(_namespace(old), {}).pop(key, None)
        if (uid := _controller_uid(old)) is not None:
            owned = self._by_owner.get(uid, {})
            owned.pop(key, None)
            if not owned:
                self._by_owner.pop(uid, None)

    async def run(self) -> None:
        """Run forever; cancel the task to stop."""
        while True:
            try:
                rv = await self._relist()
                while True:
                    rv = await self._watch(rv)
            except WatchExpired:
                log.debug("%s: watch expired, relisting", self.resource.plural)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # connection lost, server restarting: back off and relist
                log.debug("%s: informer error %r", self.resource.plural, exc)
                await asyncio.sleep(0.5)

    async def _relist(self) -> str:
        listing = await self.client.list(self.resource)
        fresh = {key_of(item): item for item in listing.get("items") or []}
        for key, old in list(self.store.items()):
            if key not in fresh:
                self._drop(key)
                self._emit("DELETED", old, old)
        for key, obj in fresh.items():
            old = self.store.get(key)
            self._put(key, obj)
            if old is None:
                self._emit("ADDED", obj, None)
            elif rv_of(old) != rv_of(obj):
                self._emit("MODIFIED", obj, old)
        self.synced.set()
        await self._notify()
        return str((listing.get("metadata") or {}).get("resourceVersion") or "")

    async def _watch(self, rv: str) -> str:
        async for event in self.client.watch(self.resource, rv):
            kind, obj = event.get("type"), event.get("object") or {}
            rv = rv_of(obj) or rv
            if kind == "BOOKMARK":
                continue
            key = key_of(obj)
            old = self.store.get(key)
            if kind == "DELETED":
                self._drop(key)
            else:
                self._put(key, obj)
            self._emit(str(kind), obj, old)
            await self._notify()
        return rv

    def _emit(self, kind: str, obj: JSON, old: JSON | None) -> None:
        for handler in self._handlers:
            try:
                handler(kind, obj, old)
            except Exception:
                log.exception("%s: handler failed", self.resource.plural)

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def wait_for(self, predicate: Callable[[], bool], timeout: float = 5.0) -> bool:
        """Wait until the cache satisfies ``predicate`` (e.g. shows our own last write)."""

        async def _wait() -> None:
            async with self._changed:
                await self._changed.wait_for(predicate)

        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(_wait(), timeout)
        return predicate()

    async def wait_for_write(self, written: JSON, timeout: float = 5.0) -> bool:
        """Wait until the cache holds ``written`` (the API's answer to our write) or something newer."""
        key, rv = key_of(written), rv_of(written)
        return await self.wait_for(lambda: key in self.store and rv_at_least(rv_of(self.store[key]), rv), timeout)

    async def wait_for_gone(self, namespace: str, name: str, timeout: float = 5.0) -> bool:
        """Wait until the object is deleted or carries a deletionTimestamp in the cache."""
        key = f"{namespace}/{name}"

        def gone() -> bool:
            obj = self.store.get(key)
            return obj is None or bool((obj.get("metadata") or {}).get("deletionTimestamp"))

        return await self.wait_for(gone, timeout)

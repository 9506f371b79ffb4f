"""Objects, the cluster-wide resourceVersion counter, and the event history that watches replay.

All mutation happens on the server's event loop without awaiting in between, so every write is
atomic with respect to readers and watchers, like etcd transactions are for the real server."""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .selectors import Matcher

GR = tuple[str, str]  # (group, plural)
Key = tuple[str, str]  # (namespace or "", name)


@dataclass
class Event:
    rv: int
    gr: GR
    type: str  # ADDED | MODIFIED | DELETED
    obj: dict[str, Any]
    old: dict[str, Any] | None


def _ns(obj: dict[str, Any]) -> str:
    return obj.get("metadata", {}).get("namespace") or ""


@dataclass(eq=False)
class Watcher:
    """One open watch: filters events for its resource/namespace/selectors into a queue."""

    gr: GR
    namespace: str | None
    matcher: Matcher
    queue: asyncio.Queue[tuple[str, dict[str, Any]] | None] = field(default_factory=asyncio.Queue)

    def wants_namespace(self, obj: dict[str, Any]) -> bool:
        return self.namespace is None or _ns(obj) == self.namespace

    def translate(self, event: Event) -> tuple[str, dict[str, Any]] | None:
        """Map a store event to what this watcher sees. Like the real server's cacher, an object
        that stops matching the selector is DELETED for this watcher, one that starts matching ADDED."""
        if event.gr != self.gr or not self.wants_namespace(event.obj):
            return None
        now = self.matcher(event.obj)
        if event.type == "MODIFIED":
            before = event.old is not None and self.matcher(event.old)
            if now and before:
                return ("MODIFIED", event.obj)
            if now:
                return ("ADDED", event.obj)
            if before:
                return ("DELETED", event.obj)
            return None
        return (event.type, event.obj) if now else None

    def offer(self, event: Event) -> None:
        item = self.translate(event)
        if item is not None:
            self.queue.put_nowait(item)

    def close(self) -> None:
        self.queue.put_nowait(None)


class Store:
    """In-memory etcd: objects per group/plural, one resourceVersion counter, bounded history."""

    def __init__(self, history_size: int = 10000) -> None:
        self.rv = 0
        self.objects: dict[GR, dict[Key, dict[str, Any]]] = collections.defaultdict(dict)
        self.history: collections.deque[Event] = collections.deque(maxlen=history_size)
        self.compacted_rv = 0
        self.expire_next_watch = False
        self.watchers: set[Watcher] = set()
        self.uids: dict[str, tuple[GR, Key]] = {}
        self.listeners: list[Callable[[Event], None]] = []

    # --- reads ---------------------------------------------------------------------------------

    def get(self, gr: GR, namespace: str, name: str) -> dict[str, Any] | None:
        return self.objects[gr].get((namespace, name))

    def list(self, gr: GR, namespace: str | None = None) -> list[dict[str, Any]]:
        """Sorted by namespace/name, the order etcd keys give on a real cluster."""
        items = self.objects[gr]
        keys = sorted(k for k in items if namespace is None or k[0] == namespace)
        return [items[k] for k in keys]

    def by_uid(self, uid: str) -> tuple[GR, dict[str, Any]] | None:
        where = self.uids.get(uid)
        if where is None:
            return None
        obj = self.objects[where[0]].get(where[1])
        return (where[0], obj) if obj is not None else None

    def all_objects(self) -> list[tuple[GR, dict[str, Any]]]:
        return [(gr, obj) for gr, items in self.objects.items() for obj in list(items.values())]

    # --- writes --------------------------------------------------------------------------------

    def next_rv(self) -> int:
        self.rv += 1
        return self.rv

    def commit(self, gr: GR, obj: dict[str, Any], type_: str, old: dict[str, Any] | None = None) -> int:
        """Store (or remove, for DELETED) an object under a fresh resourceVersion and fan it out."""
        rv = self.next_rv()
        meta = obj["metadata"]
        meta["resourceVersion"] = str(rv)
        key = (meta.get("namespace") or "", meta["name"])
        if type_ == "DELETED":
            self.objects[gr].pop(key, None)
            self.uids.pop(meta.get("uid", ""), None)
        else:
            self.objects[gr][key] = obj
            if meta.get("uid"):
                self.uids[meta["uid"]] = (gr, key)
        event = Event(rv=rv, gr=gr, type=type_, obj=obj, old=old)
        if len(self.history) == self.history.maxlen:
            self.compacted_rv = self.history[0].rv
        self.history.append(event)
        for watcher in list(self.watchers):
            watcher.offer(event)
        for listener in self.listeners:
            listener(event)
        return rv

    def drop_resource(self, gr: GR) -> None:
        """Forget a CRD's objects wholesale and end its watches (the real server closes them)."""
        for obj in self.objects.pop(gr, {}).values():
            self.uids.pop(obj["metadata"].get("uid", ""), None)
        for watcher in [w for w in self.watchers if w.gr == gr]:
            watcher.close()

    # --- history -------------------------------------------------------------------------------

    def compact(self) -> int:
        """Drop all history up to now; watches from older versions then get 410 Gone."""
        self.history.clear()
        self.compacted_rv = self.rv
        return self.rv

    def too_old(self, rv: int) -> bool:
        if self.expire_next_watch and rv < self.rv:
            self.expire_next_watch = False
            return True
        return rv < self.compacted_rv

    def events_since(self, rv: int) -> list[Event]:
        return [e for e in self.history if e.rv > rv]

"""Garbage collector and deletion controllers, run as one async task reacting to every write.

Plays kube-controller-manager's garbage collector (ownerReferences, foreground deletion), the
namespace controller (Terminating namespaces are emptied, then removed) and the apiextensions
finalizer that deletes a CRD's objects before the CRD itself."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import logging
from typing import Any

from .crds import CLEANUP_FINALIZER
from .objects import CRDS, FOREGROUND, NAMESPACES, Cluster, WriteOptions
from .store import GR, Event, Key

log = logging.getLogger(__name__)


class GarbageCollector:
    def __init__(self, cluster: Cluster, namespace_delay: float = 1.0) -> None:
        self.cluster = cluster
        # The real namespace controller starts emptying a namespace a moment after it is marked
        # (informer lag plus discovery); `kubectl delete -f dir/` deleting the namespace first
        # relies on the other objects still being there for its own deletes.
        self.namespace_delay = namespace_delay
        self._terminating_since: dict[str, float] = {}
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        # Incremental, like the real collector's dependency graph: a sweep looks only at objects
        # whose owners may have changed, never at the whole store (which made a thousand
        # ModelDeployments quadratic). `_dependents` maps an owner's uid to the objects naming it.
        self._dependents: dict[str, set[tuple[GR, Key]]] = {}
        self._dirty: set[tuple[GR, Key]] = set()
        self._gone_owners: set[str] = set()
        self._deleting: set[tuple[GR, Key]] = set()
        self._full = True  # the first sweep looks at everything already stored
        cluster.store.listeners.append(self._on_event)

    def _on_event(self, event: Event) -> None:
        meta = event.obj["metadata"]
        key = (meta.get("namespace") or "", meta["name"])
        uid = meta.get("uid", "")
        for ref in meta.get("ownerReferences") or []:
            dependents = self._dependents.setdefault(ref.get("uid", ""), set())
            if event.type == "DELETED":
                dependents.discard((event.gr, key))
            else:
                dependents.add((event.gr, key))
        if event.type == "DELETED":
            self._gone_owners.add(uid)
            self._deleting.discard((event.gr, key))
            if event.gr == CRDS:
                self._full = True  # its objects went without events of their own
        else:
            if meta.get("ownerReferences"):
                self._dirty.add((event.gr, key))
            if meta.get("deletionTimestamp"):
                self._deleting.add((event.gr, key))
                self._gone_owners.add(uid)  # a foreground owner's dependents go now
        self._wake.set()

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())
        self._wake.set()

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            await asyncio.sleep(0.01)  # let a burst of writes settle, like the real informers lag
            try:
                self.sweep()
            except Exception:  # keep collecting; a bug here must not kill the server
                log.exception("garbage collection sweep failed")

    def sweep(self) -> None:
        """One pass over what changed; writes it makes wake the loop again until nothing changes."""
        store = self.cluster.store
        if self._full:
            self._full = False
            for gr, obj in store.all_objects():
                self._on_event(Event(0, gr, "MODIFIED", obj, None))
        dirty, self._dirty = self._dirty, set()
        gone, self._gone_owners = self._gone_owners, set()
        for uid in gone:
            dirty |= self._dependents.get(uid, set())
            if store.by_uid(uid) is None:
                self._dependents.pop(uid, None)
        for gr, (namespace, name) in dirty:
            obj = store.get(gr, namespace, name)
            if obj is not None:
                self._dependent(gr, obj)
        for gr, (namespace, name) in list(self._deleting):
            obj = store.get(gr, namespace, name)
            if obj is None or not obj["metadata"].get("deletionTimestamp"):
                self._deleting.discard((gr, (namespace, name)))
                continue
            meta = obj["metadata"]
            if gr == NAMESPACES:
                self._namespace(obj)
            elif gr == CRDS and CLEANUP_FINALIZER in (meta.get("finalizers") or []):
                self._crd(obj)
            if FOREGROUND in (meta.get("finalizers") or []):
                self._foreground(gr, obj)

    def _dependent(self, gr: GR, obj: dict[str, Any]) -> None:
        refs = obj["metadata"].get("ownerReferences") or []
        if not refs or obj["metadata"].get("deletionTimestamp"):
            return
        store = self.cluster.store
        live, foreground_owner = [], False
        for ref in refs:
            found = store.by_uid(ref.get("uid", ""))
            if found is None:
                continue
            live.append(ref)
            owner = found[1]["metadata"]
            if owner.get("deletionTimestamp") and FOREGROUND in (owner.get("finalizers") or []):
                foreground_owner = True
        if not live or (foreground_owner and len(live) == 1):
            self.cluster.delete_object(gr, obj, "Background")
        elif len(live) < len(refs):
            new = copy.deepcopy(obj)
            new["metadata"]["ownerReferences"] = live
            store.commit(gr, new, "MODIFIED", obj)

    def _remove_finalizer(self, gr: GR, obj: dict[str, Any], finalizer: str) -> None:
        infos = self.cluster.registry.by_group_plural(*gr)
        if not infos:
            return
        new = copy.deepcopy(obj)
        new["metadata"]["finalizers"] = [f for f in new["metadata"].get("finalizers") or [] if f != finalizer]
        self.cluster._update(infos[0], obj, new, WriteOptions(field_validation="Ignore"), None)

    def _foreground(self, gr: GR, owner: dict[str, Any]) -> None:
        uid = owner["metadata"]["uid"]
        store = self.cluster.store
        blocking = [
            dep
            for dep_gr, (namespace, name) in self._dependents.get(uid, set())
            if (dep := store.get(dep_gr, namespace, name)) is not None
            and any(
                r.get("uid") == uid and r.get("blockOwnerDeletion")
                for r in dep["metadata"].get("ownerReferences") or []
            )
        ]
        if not blocking:
            self._remove_finalizer(gr, owner, FOREGROUND)

    def _namespace(self, ns: dict[str, Any]) -> None:
        name = ns["metadata"]["name"]
        loop = asyncio.get_running_loop()
        since = self._terminating_since.setdefault(ns["metadata"]["uid"], loop.time())
        if (left := since + self.namespace_delay - loop.time()) > 0:
            loop.call_later(left, self._wake.set)
            return
        remaining = 0
        for gr, obj in self.cluster.store.all_objects():
            if obj["metadata"].get("namespace") == name:
                remaining += 1
                self.cluster.delete_object(gr, obj, "Background")
        if remaining == 0:
            self._terminating_since.pop(ns["metadata"]["uid"], None)
            self.cluster.store.commit(NAMESPACES, copy.deepcopy(ns), "DELETED")

    def _crd(self, crd: dict[str, Any]) -> None:
        gr = (crd["spec"]["group"], crd["spec"]["names"]["plural"])
        instances = self.cluster.store.list(gr)
        for obj in instances:
            self.cluster.delete_object(gr, obj, "Background")
        if not instances:
            self._remove_finalizer(CRDS, crd, CLEANUP_FINALIZER)

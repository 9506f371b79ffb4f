"""A level-triggered controller skeleton: deduplicating work queue, one worker, delayed requeue.

Handlers only enqueue keys; the worker reconciles the whole object from the informer caches, so a
missed or repeated event never matters, exactly like controllers built on client-go's workqueue.
"""

from __future__ import annotations

import asyncio
import logging
from abc import ABC, abstractmethod

from mlaiops_sandbox.runtime.events import EventRecorder, NullRecorder

log = logging.getLogger(__name__)


class Controller(ABC):
    """Subclasses implement :meth:`reconcile` for a ``namespace/name`` key."""

    name = "controller"

    def __init__(self) -> None:
        self._pending: set[str] = set()
        self._queue: asyncio.Queue[str] = asyncio.Queue()
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self.events: EventRecorder = NullRecorder()

    def enqueue(self, key: str) -> None:
        if key not in self._pending:
            self._pending.add(key)
            self._queue.put_nowait(key)

    def enqueue_after(self, key: str, delay: float) -> None:
        """Reconcile again after ``delay`` seconds (keeps the earliest pending timer)."""
        loop = asyncio.get_running_loop()
        timer = self._timers.get(key)
        when = loop.time() + max(delay, 0.0)
        if timer is not None and not timer.cancelled() and timer.when() <= when:
            return
        if timer is not None:
            timer.cancel()
        self._timers[key] = loop.call_at(when, self._fire, key)

    def _fire(self, key: str) -> None:
        self._timers.pop(key, None)
        self.enqueue(key)

    async def run(self) -> None:
        while True:
            key = await self._queue.get()
            self._pending.discard(key)
            try:
                await self.reconcile(key)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("%s: reconcile %s failed: %r; retrying", self.name, key, exc)
                self.enqueue_after(key, 0.5)

    def stop_timers(self) -> None:
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()

    @abstractmethod
    async def reconcile(self, key: str) -> None: ...

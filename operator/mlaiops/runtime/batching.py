"""Adaptive batching: concurrent inference requests share one model call (MLServer's ``max_batch_size`` and
``max_batch_time``; KServe's batcher's ``maxBatchSize`` and ``maxLatency``).

Why: a model call has a fixed cost (Python dispatch, scikit-learn's input checks, a forest's per-call set-up)
that dwarfs the cost of one more row, so under concurrent single-row traffic most of the prediction thread's
time goes to that fixed cost. Joining the requests that wait at the same moment into one call spends it once.

How: the first request to arrive opens a batch; requests that arrive within ``max_latency`` of it join, until
the batch holds ``max_rows`` rows, and then the batch is one call. While a call runs, new requests queue; when
it returns, the requests whose wait is over go at once. Each request gets its own rows of every output back:
the same classes, and the same probabilities to the last bits of a float (a matrix product over more rows may
round differently, as in any batching server).
Only requests for the same model with the same row shape and dtype share a call. A batch that fails (one
request's bad rows make scikit-learn refuse the whole array) is run again request by request, so one client's
bad input is that client's 400 and never another's.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

Outputs = dict[str, np.ndarray]
Run = Callable[[Any, np.ndarray], Awaitable[Outputs]]
"""One model call: (model, rows) -> every output, each with one entry per row."""


@dataclass
class _Waiting:
    model: Any
    features: np.ndarray
    future: asyncio.Future[Outputs]
    arrived: float = field(default_factory=time.monotonic)

    def joins(self, first: _Waiting) -> bool:
        """Whether these rows can be stacked under ``first``'s in one call."""
        return (
            self.model is first.model
            and self.features.shape[1:] == first.features.shape[1:]  # (a shape's length is its ndim)
            and self.features.dtype == first.features.dtype
        )


class Batcher:
    """Gathers concurrent :meth:`predict` calls into model calls of at most ``max_rows`` rows.

    ``observe`` (optional) is told the rows and the requests of every model call, for the metrics.
    """

    def __init__(
        self,
        run: Run,
        max_rows: int,
        max_latency: float,
        observe: Callable[[int, int], None] | None = None,
    ) -> None:
        if max_rows < 1:
            raise ValueError(f"max_rows must be at least 1, got {max_rows}")
        if max_latency < 0:
            raise ValueError(f"max_latency must be >= 0, got {max_latency}")
        self.max_rows, self.max_latency = max_rows, max_latency
        self._run, self._observe = run, observe
        self._waiting: list[_Waiting] = []
        self._arrived: asyncio.Event | None = None
        self._worker: asyncio.Task[None] | None = None

    async def predict(self, model: Any, features: np.ndarray) -> Outputs:
        """Every output for ``features``, computed in a model call it may share with other requests."""
        loop = asyncio.get_running_loop()
        waiting = _Waiting(model, features, loop.create_future())
        self._waiting.append(waiting)
        if self._arrived is None:
            self._arrived = asyncio.Event()
        self._arrived.set()
        if self._worker is None or self._worker.done():
            self._worker = loop.create_task(self._work())
        return await waiting.future

    def _rows_waiting(self, first: _Waiting) -> int:
        return sum(len(item.features) for item in self._waiting if item.joins(first))

    async def _work(self) -> None:
        """Run batches until nobody waits; each waits for company until its first request's deadline."""
        assert self._arrived is not None
        while self._waiting:
            first = self._waiting[0]
            deadline = first.arrived + self.max_latency
            while self._rows_waiting(first) < self.max_rows and (left := deadline - time.monotonic()) > 0:
                self._arrived.clear()
                try:
                    await asyncio.wait_for(self._arrived.wait(), left)
                except TimeoutError:
                    break
            await self._call(self._take(first))

    def _take(self, first: _Waiting) -> list[_Waiting]:
        """The oldest requests that stack under ``first``, up to ``max_rows`` rows (``first`` always)."""
        batch, rest, rows = [], [], 0
        for item in self._waiting:
            if item is first or (item.joins(first) and rows + len(item.features) <= self.max_rows):
                batch.append(item)
                rows += len(item.features)
            else:
                rest.append(item)
        self._waiting = rest
        return [item for item in batch if not item.future.done()]  # a client that went away is not predicted

    async def _call(self, batch: list[_Waiting]) -> None:
        if not batch:
            return
        if len(batch) == 1:
            await self._alone(batch[0])
            return
        stacked = np.concatenate([item.features for item in batch])
        try:
            outputs = await self._run(batch[0].model, stacked)
            parts = split(outputs, [len(item.features) for item in batch])
        except Exception:  # one request's rows, or outputs that are not per row: each request on its own
            for item in batch:
                await self._alone(item)
            return
        if self._observe:
            self._observe(len(stacked), len(batch))
        for item, part in zip(batch, parts, strict=True):
            if not item.future.done():
                item.future.set_result(part)

    async def _alone(self, item: _Waiting) -> None:
        try:
            outputs = await self._run(item.model, item.features)
        except Exception as error:
            if not item.future.done():
                item.future.set_exception(error)
            return
        if self._observe:
            self._observe(len(item.features), 1)
        if not item.future.done():
            item.future.set_result(outputs)


def split(outputs: Outputs, rows: list[int]) -> list[Outputs]:
    """Each request's rows of every output; ValueError when an output does not have one entry per row."""
    total = sum(rows)
    for name, values in outputs.items():
        if np.ndim(values) == 0 or len(values) != total:
            raise ValueError(f"output {name!r} has {np.shape(values)} entries for {total} rows: not per row")
    bounds = np.cumsum(rows)[:-1]
    pieces = {name: np.split(values, bounds) for name, values in outputs.items()}
    return [{name: pieces[name][index] for name in outputs} for index in range(len(rows))]

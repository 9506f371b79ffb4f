"""What the server predicted, by prediction id, until its ground truth arrives or it expires: pure, no I/O.

Labels arrive late (a fraud is confirmed days later), so the server keeps, per prediction id, the
predicted class and score and when it was made, and joins a label sent later to it. The store is a
ring of ``capacity`` slots in preallocated numpy arrays plus one dict from id to slot: inserting is
O(1), the oldest prediction is always the next to go (insertion order is time order), and memory is
bounded by ``capacity`` whatever the traffic (``bytes`` says how much). A prediction leaves the store
when its slot is reused (``capacity`` reached: evicted) or when it is older than ``ttl`` seconds
(expired); a joined one stays as a tombstone until then, so a second label for it is a ``duplicate``.

Ids the server makes are ``<instance>-<milliseconds, hex>-<sequence, hex>``: from its own id the
server can tell a label that came too late (``expired``) or after the store was full (``evicted``)
from an id another server process made (``other-server``: another replica or track, or before a
restart) and from an id it never saw (``unknown``). Client ids (the V2 request's ``id``) are kept as
given, up to :data:`MAX_ID_LENGTH` characters. Rows of a request with more than one row get
``<id>:<row>`` (row from 0).

Everything runs on the event loop's thread: no locks.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

MAX_ID_LENGTH = 256
"""Longest client-given prediction id kept (bounds the store's memory per id)."""
DEFAULT_CAPACITY = 100_000
DEFAULT_TTL = 3600.0

Reason = Literal["unknown", "expired", "evicted", "other-server", "duplicate"]
REASONS: tuple[Reason, ...] = ("unknown", "expired", "evicted", "other-server", "duplicate")
"""Why a label could not be joined to a prediction."""

NO_CLASS = -1
_INDEX_VALUE_BYTES = 32
"""The slot number each id maps to is an int object of its own (28 bytes, 32 as allocated)."""
_FREE, _LIVE, _JOINED = 0, 1, 2


def row_ids(request_id: str, rows: int) -> list[str]:
    """The prediction id of each row: the request's id for one row, ``<id>:<row>`` for several."""
    if rows == 1:
        return [request_id]
    return [f"{request_id}:{row}" for row in range(rows)]


@dataclass(frozen=True, slots=True)
class Joined:
    """A label matched to its prediction: the predicted class index (or NO_CLASS) and score (NaN: none)."""

    predicted: int
    score: float


class PredictionStore:
    """id -> (predicted class, score, time) for the last ``capacity`` predictions younger than ``ttl`` seconds."""

    def __init__(
        self,
        capacity: int = DEFAULT_CAPACITY,
        ttl: float = DEFAULT_TTL,
        clock: Callable[[], float] = time.monotonic,
        instance: str | None = None,
    ) -> None:
        if capacity < 0:
            raise ValueError(f"capacity must be >= 0, got {capacity}")
        if not ttl > 0:
            raise ValueError(f"ttl must be a positive number of seconds, got {ttl}")
        self.capacity = capacity
        self.ttl = ttl
        self._clock = clock
        self.instance = instance or os.urandom(4).hex()
        self._prefix = self.instance + "-"
        self._sequence = 0
        self._keys: list[str | None] = [None] * capacity
        self._times = np.zeros(capacity, dtype=np.float64)
        self._predicted = np.full(capacity, NO_CLASS, dtype=np.int32)
        self._scores = np.full(capacity, np.nan, dtype=np.float64)
        self._state = np.zeros(capacity, dtype=np.int8)
        self._slots: dict[str, int] = {}
        self._head = 0  # next slot to write
        self._tail = 0  # oldest slot of the ring segment in use: [tail, head) holds every prediction, in time order
        self._used = 0  # slots in that segment (holes included)
        self._key_bytes = 0
        self.evicted = 0
        self.expired = 0

    # --- ids ----------------------------------------------------------------------------------

    def new_id(self) -> str:
        """A fresh id that says which process made it and when (for the reasons of a failed join)."""
        self._sequence += 1
        return f"{self._prefix}{int(self._clock() * 1000):x}-{self._sequence:x}"

    def _made_at(self, prediction_id: str) -> float | None:
        """When this process made ``prediction_id`` (seconds on its clock); None if it did not make it."""
        if not prediction_id.startswith(self._prefix):
            return None
        base = prediction_id.split(":", 1)[0]
        parts = base[len(self._prefix) :].split("-")
        try:
            return int(parts[0], 16) / 1000.0 if len(parts) == 2 else None
        except ValueError:
            return None

    # --- writing ------------------------------------------------------------------------------

    def add(self, ids: Sequence[str], predicted: np.ndarray | None, scores: np.ndarray | None) -> None:
        """Remember one request's rows (``predicted``: class indices; ``scores``: one number per row)."""
        if self.capacity == 0 or not ids:
            return
        now = self._clock()
        self._expire(now)
        rows = len(ids)
        if rows > self.capacity:  # only the last rows fit: the first would be evicted at once
            ids, skipped = ids[rows - self.capacity :], rows - self.capacity
            predicted = None if predicted is None else predicted[skipped:]
            scores = None if scores is None else scores[skipped:]
            self.evicted += skipped
            rows = self.capacity
        for offset, key in enumerate(ids):
            if self._used == self.capacity:  # full: the oldest slot (at the tail, where the head is) goes
                self._release(self._tail, now)
                self._tail = (self._tail + 1) % self.capacity
                self._used -= 1
            old = self._slots.get(key)
            if old is not None:  # the same id again: the newer prediction wins
                self._forget(old)
            slot = self._head
            self._keys[slot] = key
            self._slots[key] = slot
            self._key_bytes += sys.getsizeof(key) + _INDEX_VALUE_BYTES
            self._state[slot] = _LIVE
            self._times[slot] = now
            self._predicted[slot] = NO_CLASS if predicted is None else predicted[offset]
            self._scores[slot] = np.nan if scores is None else scores[offset]
            self._head = (slot + 1) % self.capacity
            self._used += 1

    def _release(self, slot: int, now: float) -> None:
        """Free ``slot`` for a new prediction, counting what leaves (evicted if still within its ttl)."""
        if self._state[slot] == _LIVE:
            if now - self._times[slot] > self.ttl:
                self.expired += 1
            else:
                self.evicted += 1
        self._forget(slot)

    def _forget(self, slot: int) -> None:
        key = self._keys[slot]
        if key is not None:
            del self._slots[key]
            self._key_bytes -= sys.getsizeof(key) + _INDEX_VALUE_BYTES
        self._keys[slot] = None
        self._state[slot] = _FREE

    def _expire(self, now: float) -> None:
        """Drop every prediction older than the ttl: they sit at the tail, in time order (holes are skipped)."""
        while self._used:
            slot = self._tail
            if self._state[slot] != _FREE:
                if now - self._times[slot] <= self.ttl:
                    return
                if self._state[slot] == _LIVE:
                    self.expired += 1
                self._forget(slot)
            self._tail = (slot + 1) % self.capacity
            self._used -= 1

    # --- joining ------------------------------------------------------------------------------

    def join(self, prediction_id: str) -> Joined | Reason:
        """The prediction a label for ``prediction_id`` belongs to, or why there is none; marks it joined."""
        reason = self.why_not(prediction_id)
        if reason is not None:
            return reason
        slot = self._slots[prediction_id]
        self._state[slot] = _JOINED
        return Joined(int(self._predicted[slot]), float(self._scores[slot]))

    def why_not(self, prediction_id: str) -> Reason | None:
        """Why a label for ``prediction_id`` would not join now (None: it would); marks nothing, so a whole
        feedback body can be looked at before any of it is joined."""
        now = self._clock()
        self._expire(now)
        slot = self._slots.get(prediction_id)
        if slot is not None:
            return "duplicate" if self._state[slot] == _JOINED else None
        made = self._made_at(prediction_id)
        if made is None:
            return "other-server" if _looks_generated(prediction_id) else "unknown"
        if made > now + 1.0:
            return "unknown"  # from this process's future: forged or mangled
        return "expired" if now - made > self.ttl else "evicted"

    # --- measuring ----------------------------------------------------------------------------

    def __len__(self) -> int:
        """Predictions held (joined ones included, until they leave)."""
        return len(self._slots)

    @property
    def bytes(self) -> int:
        """Memory held by the store: its arrays, the id index and the id strings and slot numbers in it
        (what grows with traffic, up to ``capacity``)."""
        arrays = self._times.nbytes + self._predicted.nbytes + self._scores.nbytes + self._state.nbytes
        return arrays + sys.getsizeof(self._keys) + sys.getsizeof(self._slots) + self._key_bytes


def _looks_generated(prediction_id: str) -> bool:
    """Shaped like an id some ``mlaiops serve`` process made: 8 hex digits, hex time, hex sequence."""
    parts = prediction_id.split(":", 1)[0].split("-")
    if len(parts) != 3 or len(parts[0]) != 8:
        return False
    try:
        for part in parts:
            int(part, 16)
    except ValueError:
        return False
    return True

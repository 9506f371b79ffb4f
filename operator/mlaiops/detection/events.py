"""Anomaly events and the in-process bus the remediation and retrain controllers subscribe to.

The bus is for promptness only: every fact it carries is also in the AnomalyRule's status, which
is what a restarted operator reads. Subscribers must be quick and must not raise.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AnomalyEvent:
    """A series of a rule started or stopped firing."""

    namespace: str
    rule: str
    fingerprint: str
    labels: dict[str, str]
    kind: Literal["Firing", "Resolved"]
    severity: str
    at: datetime
    value: float | None = None
    expected: float | None = None
    score: float | None = None
    target: tuple[str, str] | None = None  # (kind, name) from the rule's spec.target
    rule_labels: dict[str, str] = field(default_factory=dict)


Subscriber = Callable[[AnomalyEvent], None]


class AnomalyBus:
    """Publish/subscribe within the operator process."""

    def __init__(self) -> None:
        self._subscribers: list[Subscriber] = []
        self._lock = threading.Lock()

    def subscribe(self, subscriber: Subscriber) -> Callable[[], None]:
        with self._lock:
            self._subscribers.append(subscriber)

        def unsubscribe() -> None:
            with self._lock:
                if subscriber in self._subscribers:
                    self._subscribers.remove(subscriber)

        return unsubscribe

    def publish(self, event: AnomalyEvent) -> None:
        with self._lock:
            subscribers = list(self._subscribers)
        for subscriber in subscribers:
            try:
                subscriber(event)
            except Exception:  # a faulty subscriber must not stop detection
                log.exception("anomaly subscriber %r failed", subscriber)


BUS = AnomalyBus()
"""The operator's bus."""

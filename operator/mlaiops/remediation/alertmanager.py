"""Alertmanager webhook payloads (version 4), parsed into signals, and the bounded store of alerts seen.

The store is in memory: after a restart the operator knows an alert again when Alertmanager
re-sends it (every ``group_interval`` while it changes, every ``repeat_interval`` while it fires).

It is bounded, because whoever reaches the receiver chooses how many distinct alerts exist: a
resolved alert leaves the firing set at once (only its fingerprint is remembered, so that an
execution it started can still be verified), a firing one expires at its ``endsAt`` or after a
TTL without news, and beyond ``max_alerts`` new alerts are dropped and counted in
``mlaiops_alertmanager_alerts_dropped_total``.

Namespaces: an alert speaks for the namespace its ``namespace`` label names. A playbook sees only
the alerts of its own namespace, unless the operator lists the playbook's namespace as cluster-wide
(``MLAIOPS_ALERTMANAGER_CLUSTERWIDE_NAMESPACES``).
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable, Collection
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from prometheus_client import Counter, Gauge

from mlaiops.metrics.operator import REGISTRY
from mlaiops.remediation.incidents import Signal

ZERO_TIME = "0001-01-01T00:00:00Z"
MAX_LABEL_BYTES = 4 * 1024
"""Largest sum of label names and values of one alert (real ones are a few hundred bytes); larger
alerts are dropped (reason too_large). With max_alerts this bounds the store's memory."""

DROPPED = Counter(
    "mlaiops_alertmanager_alerts_dropped_total",
    "Alerts received and not kept: store_full (max alerts reached) or too_large (labels over 4 KiB).",
    ["reason"],
    registry=REGISTRY,
)
STORED = Gauge("mlaiops_alertmanager_alerts", "Firing alerts the operator currently knows.", registry=REGISTRY)


class PayloadError(ValueError):
    """The body is not an Alertmanager webhook payload we understand."""


@dataclass(frozen=True)
class Received:
    """One alert of a payload: its signal and when Alertmanager says it ends (None: not said)."""

    signal: Signal
    ends_at: datetime | None
    size: int = 0


def _time(value: Any, default: datetime | None) -> datetime | None:
    if not value or value == ZERO_TIME or str(value).startswith("0001-"):
        return default
    if not isinstance(value, str):
        raise PayloadError(f"invalid time {value!r}")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as error:
        raise PayloadError(f"invalid time {value!r}") from error
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _labels(alert: dict[str, Any], index: int) -> dict[str, str]:
    labels = alert["labels"]
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in labels.items()):
        raise PayloadError(f"alerts[{index}].labels: every label name and value must be a string")
    return dict(labels)


def parse_received(payload: Any, now: datetime) -> list[Received]:
    """Every alert of a webhook body with its end time; raises PayloadError naming the field."""
    if not isinstance(payload, dict) or not isinstance(payload.get("alerts"), list):
        raise PayloadError("expected a JSON object with an 'alerts' list (Alertmanager webhook payload)")
    if str(payload.get("version", "4")) != "4":
        raise PayloadError(f"unsupported payload version {payload.get('version')!r}; expected 4")
    received = []
    for index, alert in enumerate(payload["alerts"]):
        if not isinstance(alert, dict) or not isinstance(alert.get("labels"), dict):
            raise PayloadError(f"alerts[{index}]: every alert needs a labels object")
        labels = _labels(alert, index)
        status = alert.get("status", payload.get("status", "firing"))
        if status not in ("firing", "resolved"):
            raise PayloadError(f"alerts[{index}].status: invalid alert status {status!r}")
        fingerprint = alert.get("fingerprint") or _fingerprint(labels)
        if not isinstance(fingerprint, str):
            raise PayloadError(f"alerts[{index}].fingerprint: must be a string")
        since = _time(alert.get("startsAt"), now)
        assert since is not None
        signal = Signal(
            source="Alertmanager",
            rule=labels.get("alertname", "alert"),
            fingerprint=fingerprint[:128],
            since=since,
            firing=status == "firing",
            labels=labels,
            severity=labels.get("severity"),
            namespace=labels.get("namespace", ""),
            group=group_of(payload),
        )
        size = sum(len(k) + len(v) for k, v in labels.items())
        received.append(Received(signal, _time(alert.get("endsAt"), None), size))
    return received


def group_of(payload: dict[str, Any]) -> str:
    """The Alertmanager group a payload's alerts arrived in: its groupKey, else its groupLabels (sorted); "" when
    neither is given. Incidents never split a group."""
    key = payload.get("groupKey")
    if isinstance(key, str) and key:
        return key[:256]
    labels = payload.get("groupLabels")
    if isinstance(labels, dict) and labels:
        return ("{" + ",".join(f"{k}={v!r}" for k, v in sorted(labels.items())) + "}")[:256]
    return ""


def parse(payload: Any, now: datetime) -> list[Signal]:
    """Signals from a webhook body: one per alert, firing or resolved."""
    return [r.signal for r in parse_received(payload, now)]


def _fingerprint(labels: dict[str, str]) -> str:
    text = "\xff".join(f"{k}\xff{v}" for k, v in sorted(labels.items()))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def visible(signal: Signal, playbook_namespace: str, clusterwide: Collection[str] = ()) -> bool:
    """Whether a playbook in ``playbook_namespace`` may act on ``signal``: the alert's namespace label
    names it, or the operator made that namespace cluster-wide."""
    return playbook_namespace in clusterwide or signal.namespace == playbook_namespace


class AlertStore:
    """The latest state of every alert received, by fingerprint (thread-safe, bounded)."""

    def __init__(
        self,
        max_alerts: int = 10000,
        ttl: timedelta = timedelta(hours=6),
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.max_alerts = max_alerts
        self.ttl = ttl
        self._clock = clock
        self._firing: dict[str, tuple[Signal, datetime]] = {}
        self._resolved: OrderedDict[str, tuple[Signal, datetime]] = OrderedDict()
        self._lock = threading.Lock()

    def configure(self, max_alerts: int, ttl: timedelta) -> None:
        """Set the bounds from the operator's settings (at the receiver's start)."""
        with self._lock:
            self.max_alerts, self.ttl = max_alerts, ttl

    def update(self, received: list[Received] | list[Signal]) -> dict[str, int]:
        """Keep the latest state of each alert; returns how many were dropped, by reason."""
        now = self._clock()
        dropped: dict[str, int] = {}
        with self._lock:
            self._expire(now)
            for item in received:
                alert = item if isinstance(item, Received) else Received(item, None)
                signal = alert.signal
                if alert.size > MAX_LABEL_BYTES:
                    dropped["too_large"] = dropped.get("too_large", 0) + 1
                    continue
                if not signal.firing:
                    self._firing.pop(signal.fingerprint, None)
                    tombstone = replace(signal, labels={})  # is_resolved needs the state, not the labels
                    self._resolved[signal.fingerprint] = (tombstone, now + self.ttl)
                    self._resolved.move_to_end(signal.fingerprint)
                    while len(self._resolved) > self.max_alerts:
                        self._resolved.popitem(last=False)  # the oldest resolution: its execution is long done
                    continue
                expires = now + self.ttl
                if alert.ends_at is not None:
                    expires = min(expires, alert.ends_at)
                if expires <= now:
                    continue  # already over: Alertmanager would call it resolved
                if signal.fingerprint not in self._firing and len(self._firing) >= self.max_alerts:
                    dropped["store_full"] = dropped.get("store_full", 0) + 1
                    continue
                self._resolved.pop(signal.fingerprint, None)
                self._firing[signal.fingerprint] = (signal, expires)
            STORED.set(len(self._firing))
        for reason, count in dropped.items():
            DROPPED.labels(reason).inc(count)
        return dropped

    def _expire(self, now: datetime) -> None:
        for fingerprint in [f for f, (_, until) in self._firing.items() if until <= now]:
            del self._firing[fingerprint]
        for fingerprint in [f for f, (_, until) in self._resolved.items() if until <= now]:
            del self._resolved[fingerprint]

    def all(self) -> list[Signal]:
        """The firing alerts (resolved and expired ones are gone)."""
        with self._lock:
            self._expire(self._clock())
            STORED.set(len(self._firing))
            return [signal for signal, _ in self._firing.values()]

    def for_playbook(self, namespace: str, clusterwide: Collection[str] = ()) -> list[Signal]:
        """The firing alerts a playbook in ``namespace`` may act on."""
        return [s for s in self.all() if visible(s, namespace, clusterwide)]

    def get(self, fingerprint: str) -> Signal | None:
        """The alert's last known state: firing, resolved (remembered for a TTL), or None."""
        with self._lock:
            self._expire(self._clock())
            entry = self._firing.get(fingerprint) or self._resolved.get(fingerprint)
            return entry[0] if entry else None

    def __len__(self) -> int:
        with self._lock:
            return len(self._firing) + len(self._resolved)


ALERTS = AlertStore()

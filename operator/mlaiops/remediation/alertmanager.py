"""Alertmanager webhook payloads (version 4), parsed into signals, and the store of alerts seen.

The store is in memory: after a restart the operator knows an alert again when Alertmanager
re-sends it (every ``group_interval`` while it changes, every ``repeat_interval`` while it fires).
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from typing import Any

from mlaiops.remediation.incidents import Signal

ZERO_TIME = "0001-01-01T00:00:00Z"


class PayloadError(ValueError):
    """The body is not an Alertmanager webhook payload we understand."""


def _time(value: Any, default: datetime) -> datetime:
    if not value or value == ZERO_TIME or str(value).startswith("0001-"):
        return default
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError as error:
        raise PayloadError(f"invalid time {value!r}") from error
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def parse(payload: Any, now: datetime) -> list[Signal]:
    """Signals from a webhook body: one per alert, firing or resolved."""
    if not isinstance(payload, dict) or not isinstance(payload.get("alerts"), list):
        raise PayloadError("expected a JSON object with an 'alerts' list (Alertmanager webhook payload)")
    if str(payload.get("version", "4")) != "4":
        raise PayloadError(f"unsupported payload version {payload.get('version')!r}; expected 4")
    signals = []
    for alert in payload["alerts"]:
        if not isinstance(alert, dict) or not isinstance(alert.get("labels"), dict):
            raise PayloadError("every alert needs a labels object")
        labels = {str(k): str(v) for k, v in alert["labels"].items()}
        status = alert.get("status", payload.get("status", "firing"))
        if status not in ("firing", "resolved"):
            raise PayloadError(f"invalid alert status {status!r}")
        fingerprint = alert.get("fingerprint") or _fingerprint(labels)
        signals.append(
            Signal(
                source="Alertmanager",
                rule=labels.get("alertname", "alert"),
                fingerprint=str(fingerprint),
                since=_time(alert.get("startsAt"), now),
                firing=status == "firing",
                labels=labels,
                severity=labels.get("severity"),
                namespace=labels.get("namespace", ""),
            )
        )
    return signals


def _fingerprint(labels: dict[str, str]) -> str:
    import hashlib

    text = "\xff".join(f"{k}\xff{v}" for k, v in sorted(labels.items()))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


class AlertStore:
    """The latest state of every alert received, by fingerprint (thread-safe)."""

    def __init__(self) -> None:
        self._alerts: dict[str, Signal] = {}
        self._lock = threading.Lock()

    def update(self, signals: list[Signal]) -> None:
        with self._lock:
            for signal in signals:
                self._alerts[signal.fingerprint] = signal

    def all(self) -> list[Signal]:
        with self._lock:
            return list(self._alerts.values())

    def get(self, fingerprint: str) -> Signal | None:
        with self._lock:
            return self._alerts.get(fingerprint)


ALERTS = AlertStore()

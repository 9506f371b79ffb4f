"""Alertmanager webhook payloads (version 4)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from mlaiops.remediation.alertmanager import AlertStore, PayloadError, parse

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
PAYLOAD = {
    "version": "4",
    "groupKey": '{}:{alertname="HighLatency"}',
    "status": "firing",
    "receiver": "mlaiops",
    "groupLabels": {"alertname": "HighLatency"},
    "commonLabels": {"alertname": "HighLatency"},
    "commonAnnotations": {},
    "externalURL": "http://alertmanager:9093",
    "truncatedAlerts": 0,
    "alerts": [
        {
            "status": "firing",
            "labels": {"alertname": "HighLatency", "namespace": "shop", "severity": "critical"},
            "annotations": {"summary": "slow"},
            "startsAt": "2026-11-27T11:58:00.123Z",
            "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "http://prometheus/graph",
            "fingerprint": "abc123",
        },
        {
            "status": "resolved",
            "labels": {"alertname": "DiskFull"},
            "startsAt": "0001-01-01T00:00:00Z",
            "endsAt": "2026-11-27T11:59:00Z",
        },
    ],
}


def test_parse_a_v4_payload() -> None:
    firing, resolved = parse(PAYLOAD, NOW)
    assert (firing.source, firing.rule, firing.fingerprint, firing.firing) == (
        "Alertmanager",
        "HighLatency",
        "abc123",
        True,
    )
    assert firing.since == datetime(2026, 11, 27, 11, 58, 0, 123000, tzinfo=UTC)
    assert (firing.severity, firing.namespace) == ("critical", "shop")
    assert (
        not resolved.firing and resolved.since == NOW and resolved.fingerprint
    )  # zero time: now; fingerprint from labels
    assert parse(PAYLOAD, NOW)[1].fingerprint == resolved.fingerprint


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ([], "alerts"),
        ({"alerts": "x"}, "alerts"),
        ({"version": "3", "alerts": []}, "version"),
        ({"alerts": [{"labels": "x"}]}, "labels"),
        ({"alerts": [{"labels": {}, "status": "pending"}]}, "status"),
        ({"alerts": [{"labels": {}, "startsAt": "yesterday"}]}, "time"),
    ],
)
def test_invalid_payloads_are_rejected(payload: object, message: str) -> None:
    with pytest.raises(PayloadError, match=message):
        parse(payload, NOW)


def test_the_store_keeps_the_latest_state_per_fingerprint() -> None:
    store = AlertStore()
    store.update(parse(PAYLOAD, NOW))
    resolved = {**PAYLOAD, "alerts": [{**PAYLOAD["alerts"][0], "status": "resolved"}]}  # type: ignore[index]
    store.update(parse(resolved, NOW))
    assert store.get("abc123") is not None and not store.get("abc123").firing  # type: ignore[union-attr]
    assert len(store.all()) == 2 and store.get("nope") is None

"""Alertmanager webhook payloads (version 4)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from mlaiops.metrics.operator import REGISTRY
from mlaiops.remediation.alertmanager import AlertStore, PayloadError, Received, parse, parse_received, visible

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
    assert [s.fingerprint for s in store.all()] == ["abc123"]  # the resolved DiskFull is not kept as firing
    resolved = {**PAYLOAD, "alerts": [{**PAYLOAD["alerts"][0], "status": "resolved"}]}  # type: ignore[index]
    store.update(parse(resolved, NOW))
    assert store.get("abc123") is not None and not store.get("abc123").firing  # type: ignore[union-attr]
    assert store.all() == [] and store.get("nope") is None


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({"alerts": [{"labels": {"a": ["nested"]}}]}, r"alerts\[0\].labels"),
        ({"alerts": [{"labels": {}, "fingerprint": 7}]}, r"alerts\[0\].fingerprint"),
        ({"alerts": [{"labels": {}, "endsAt": 12}]}, "time"),
        ({"alerts": [{"labels": {}}, "x"]}, r"alerts\[1\]"),
    ],
)
def test_invalid_alerts_are_named(payload: object, message: str) -> None:
    with pytest.raises(PayloadError, match=message):
        parse(payload, NOW)


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


def alert(name: str, status: str = "firing", ends: str | None = None, **labels: str) -> dict[str, object]:
    made: dict[str, object] = {"status": status, "labels": {"alertname": name, **labels}}
    if ends is not None:
        made["endsAt"] = ends
    return made


def received(*alerts: dict[str, object]) -> list[Received]:
    return parse_received({"alerts": list(alerts)}, NOW)


def test_resolved_alerts_leave_at_once_and_only_their_fingerprint_is_remembered() -> None:
    clock = Clock()
    store = AlertStore(max_alerts=10, ttl=timedelta(minutes=10), clock=clock)
    store.update(received(alert("A", namespace="shop")))
    fingerprint = store.all()[0].fingerprint
    store.update(received(alert("A", "resolved", namespace="shop")))
    assert store.all() == []
    assert store.get(fingerprint) is not None and not store.get(fingerprint).firing  # type: ignore[union-attr]
    clock.now += timedelta(minutes=11)  # the resolution is forgotten after the TTL too
    assert store.get(fingerprint) is None and len(store) == 0


def test_firing_alerts_expire_at_ends_at_or_after_the_ttl() -> None:
    clock = Clock()
    store = AlertStore(max_alerts=10, ttl=timedelta(minutes=10), clock=clock)
    ends = (NOW + timedelta(minutes=2)).isoformat().replace("+00:00", "Z")
    store.update(received(alert("Short", ends=ends), alert("Open"), alert("Over", ends="2026-11-27T11:00:00Z")))
    assert sorted(s.rule for s in store.all()) == ["Open", "Short"]  # already ended: not kept
    clock.now += timedelta(minutes=3)
    assert [s.rule for s in store.all()] == ["Open"]
    clock.now += timedelta(minutes=8)
    assert store.all() == [] and len(store) == 0


def test_a_full_store_drops_new_alerts_and_counts_them() -> None:
    store = AlertStore(max_alerts=3, ttl=timedelta(hours=1), clock=Clock())
    before = REGISTRY.get_sample_value("mlaiops_alertmanager_alerts_dropped_total", {"reason": "store_full"}) or 0
    dropped = store.update(received(*(alert(f"A{i}") for i in range(5))))
    assert dropped == {"store_full": 2} and len(store.all()) == 3
    after = REGISTRY.get_sample_value("mlaiops_alertmanager_alerts_dropped_total", {"reason": "store_full"})
    assert after == before + 2
    # An alert already known is still updated (resolved), which frees a place for a new one.
    store.update(received(alert("A0", "resolved")))
    assert store.update(received(alert("A9"))) == {}
    assert sorted(s.rule for s in store.all()) == ["A1", "A2", "A9"]


def test_many_distinct_alerts_stay_bounded() -> None:
    """The attack of the review: 200 posts of 3,000 distinct alerts kept 600,000 entries."""
    store = AlertStore(max_alerts=1000, ttl=timedelta(hours=1), clock=Clock())
    for post in range(20):
        store.update(received(*(alert("Flood", id=f"{post}-{i}") for i in range(300))))
    assert len(store) == 1000


def test_oversized_alerts_are_dropped() -> None:
    store = AlertStore(clock=Clock())
    assert store.update(received(alert("Big", blob="x" * 20000))) == {"too_large": 1}
    assert store.all() == []


def test_an_alert_acts_only_in_the_namespace_it_names() -> None:
    store = AlertStore(clock=Clock())
    store.update(received(alert("A", namespace="victim-ns"), alert("B", namespace="shop"), alert("Node")))
    assert [s.rule for s in store.for_playbook("shop")] == ["B"]
    assert [s.rule for s in store.for_playbook("victim-ns")] == ["A"]
    assert store.for_playbook("other") == []
    # Cluster-wide is the operator's explicit choice for a namespace (e.g. the platform team's).
    assert sorted(s.rule for s in store.for_playbook("platform", clusterwide=["platform"])) == ["A", "B", "Node"]
    assert not visible(store.for_playbook("shop")[0], "victim-ns", clusterwide=["platform"])

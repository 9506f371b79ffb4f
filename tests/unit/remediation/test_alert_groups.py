"""Which Alertmanager group a webhook payload's alerts arrived in (incidents never split a group)."""

from __future__ import annotations

from datetime import UTC, datetime

from mlaiops.remediation.alertmanager import parse

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def payload(**extra: object) -> dict:
    alerts = [{"labels": {"alertname": "A", "pod": "p1"}}, {"labels": {"alertname": "A", "pod": "p2"}}]
    return {"version": "4", "status": "firing", "alerts": alerts, **extra}


def test_every_alert_of_a_payload_carries_its_group_key() -> None:
    signals = parse(payload(groupKey='{}:{alertname="A"}', groupLabels={"alertname": "A"}), NOW)
    assert [s.group for s in signals] == ['{}:{alertname="A"}', '{}:{alertname="A"}']


def test_without_a_group_key_the_group_labels_name_the_group() -> None:
    signals = parse(payload(groupLabels={"namespace": "shop", "alertname": "A"}), NOW)
    assert {s.group for s in signals} == {"{alertname='A',namespace='shop'}"}


def test_without_either_there_is_no_group() -> None:
    assert {s.group for s in parse(payload(), NOW)} == {""}
    assert {s.group for s in parse(payload(groupKey=7, groupLabels="x"), NOW)} == {""}

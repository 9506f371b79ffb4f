"""Which firing series and alerts a trigger matches, and which rules it names or selects."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from mlaiops.api.remediationplaybook import Trigger
from mlaiops.remediation.incidents import Signal
from mlaiops.remediation.signals import alert_signals, chosen_rules, rule_signals, unique

T0 = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def rule(name: str, namespace: str = "shop", severity: str = "warning", **extra: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "namespace": namespace, "labels": {"team": "ml"}},
        "spec": {"severity": severity, "target": {"name": "fraud"}, "labels": {"team": "ml"}},
        "status": {
            "series": [
                {"fingerprint": "a", "state": "Firing", "since": "2026-11-27T12:00:00Z", "labels": {"route": "/p"}},
                {"fingerprint": "b", "state": "Normal", "since": "2026-11-27T11:00:00Z"},
                {"fingerprint": "c", "state": "Firing"},  # no since yet: not a signal
            ]
        },
        **extra,
    }


def test_only_firing_series_become_signals_with_the_rule_target_and_labels() -> None:
    trigger = Trigger.model_validate({"rules": [{"name": "latency"}]})
    (found,) = rule_signals(trigger, rule("latency"))
    assert (found.rule, found.fingerprint, found.since) == ("shop/latency", "a", T0)
    assert (found.target_kind, found.target_name, found.namespace) == ("ModelDeployment", "fraud", "shop")
    assert found.labels == {"route": "/p", "team": "ml"}


def test_severity_and_matchers_filter() -> None:
    critical = Trigger.model_validate({"rules": [{"name": "latency"}], "severity": "critical"})
    assert rule_signals(critical, rule("latency")) == []
    assert rule_signals(critical, rule("latency", severity="critical"))
    other_route = Trigger.model_validate({"rules": [{"name": "latency"}], "matchers": ['route="/q"']})
    assert rule_signals(other_route, rule("latency")) == []


def test_rules_by_name_come_from_the_playbook_namespace_and_by_selector_from_anywhere() -> None:
    trigger = Trigger.model_validate({"rules": [{"name": "latency"}], "selector": {"matchLabels": {"team": "ml"}}})
    local, elsewhere = rule("latency"), rule("errors", namespace="prod")
    chosen = chosen_rules(trigger, [local, rule("unnamed")], [local, elsewhere])
    assert [(r["metadata"]["namespace"], r["metadata"]["name"]) for r in chosen] == [
        ("shop", "latency"),
        ("prod", "errors"),
    ]


def test_alerts_and_duplicates() -> None:
    trigger = Trigger.model_validate({"source": "Alertmanager", "matchers": ["alertname=HighLatency"]})
    firing = Signal("Alertmanager", "HighLatency", "f1", T0, labels={"alertname": "HighLatency"}, severity="warning")
    resolved = Signal("Alertmanager", "HighLatency", "f2", T0, firing=False, labels={"alertname": "HighLatency"})
    other = Signal("Alertmanager", "Other", "f3", T0, labels={"alertname": "Other"})
    assert alert_signals(trigger, [firing, resolved, other]) == [firing]
    assert unique([firing, firing]) == [firing]

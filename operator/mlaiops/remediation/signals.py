"""Which firing anomalies and alerts a playbook's triggers match, pure: from rule objects and alerts to signals.

The controller lists the rules (by name in the playbook's namespace, by selector everywhere, so that
acting outside the namespace is refused visibly rather than silently ignored) and hands them here.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from mlaiops.api.remediationplaybook import Trigger
from mlaiops.remediation.incidents import Signal
from mlaiops.remediation.matching import matches_all, selector_matches, severity_at_least

JSON = dict[str, Any]


def parse_time(value: str) -> datetime:
    """An RFC 3339 time as Kubernetes writes it."""
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def rule_key(rule: JSON) -> str:
    """namespace/name of a rule object."""
    return f"{rule['metadata']['namespace']}/{rule['metadata']['name']}"


def chosen_rules(trigger: Trigger, local: list[JSON], everywhere: list[JSON]) -> list[JSON]:
    """The rules a trigger names (from ``local``, the playbook's namespace) or selects (from ``everywhere``)."""
    names = {ref.name for ref in trigger.rules or []}
    chosen = [r for r in local if r["metadata"]["name"] in names]
    chosen += [
        r
        for r in everywhere
        if selector_matches(trigger.selector, r["metadata"].get("labels") or {}) and r not in chosen
    ]
    return chosen


def rule_signals(trigger: Trigger, rule: JSON) -> list[Signal]:
    """The firing series of ``rule`` that pass the trigger's severity and matchers."""
    rspec = rule.get("spec") or {}
    rstatus = rule.get("status") or {}
    meta = rule["metadata"]
    target = rspec.get("target") or {}
    if not severity_at_least(rspec.get("severity", "warning"), trigger.severity):
        return []
    signals = []
    for series in rstatus.get("series") or []:
        if series.get("state") != "Firing" or not series.get("fingerprint") or not series.get("since"):
            continue
        labels = {**(series.get("labels") or {}), **(rspec.get("labels") or {})}
        if not matches_all(trigger.matchers, labels):
            continue
        signals.append(
            Signal(
                source="AnomalyRule",
                rule=rule_key(rule),
                fingerprint=series["fingerprint"],
                since=parse_time(series["since"]),
                labels=labels,
                severity=rspec.get("severity"),
                namespace=meta["namespace"],
                target_kind=target.get("kind", "ModelDeployment") if target.get("name") else None,
                target_name=target.get("name"),
            )
        )
    return signals


def alert_signals(trigger: Trigger, alerts: list[Signal]) -> list[Signal]:
    """The firing alerts that pass the trigger's severity and matchers."""
    return [
        alert
        for alert in alerts
        if alert.firing
        and severity_at_least(alert.severity, trigger.severity)
        and matches_all(trigger.matchers, alert.labels)
    ]


def unique(signals: list[Signal]) -> list[Signal]:
    """One signal per (source, rule, fingerprint), earliest first."""
    found = {(s.source, s.rule, s.fingerprint): s for s in signals}
    return sorted(found.values(), key=lambda s: s.since)

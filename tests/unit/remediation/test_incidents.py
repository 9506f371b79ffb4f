"""Once-per-incident coverage and incident names (correlation: test_correlation.py; causes: test_causes.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from mlaiops.api.remediationplaybook import ExecutionRecord
from mlaiops.remediation.incidents import covering_execution, incident_name

T0 = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def test_an_execution_covers_anomalies_that_began_before_it_ended() -> None:
    done = ExecutionRecord(
        id="e1", target="Deployment/web", state="Failed", started_at=T0, finished_at=T0 + timedelta(minutes=5)
    )
    running = ExecutionRecord(id="e2", target="Deployment/db", state="Running", started_at=T0)
    refused = ExecutionRecord(id="e3", target="Deployment/api", state="Refused", finished_at=T0)
    history = [done, running, refused]
    assert covering_execution("Deployment/web", T0 + timedelta(minutes=4), history) is done
    assert covering_execution("Deployment/web", T0 + timedelta(minutes=6), history) is None  # a new incident
    assert covering_execution("Deployment/db", T0 + timedelta(hours=2), history) is running
    assert covering_execution("Deployment/api", T0, history) is None  # refusals handle nothing


def test_incident_names_are_stable_dns_labels() -> None:
    name = incident_name("fix", "web", T0)
    assert name == incident_name("fix", "web", T0) and name.startswith("web-20261127-120000-")
    assert name != incident_name("other", "web", T0) and len(incident_name("p", "w" * 80, T0)) <= 63

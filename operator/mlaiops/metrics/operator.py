"""The operator's own /metrics: what it decided and did, by reason, for dashboards and alerts."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, start_http_server

REGISTRY = CollectorRegistry(auto_describe=True)

ROLLOUT_EVENTS = Counter(
    "mlaiops_rollout_events_total",
    "Rollout transitions of ModelDeployments (CanaryStarted, StepAdvanced, Promoted, AnalysisFailed, ...).",
    ["namespace", "modeldeployment", "reason"],
    registry=REGISTRY,
)


ANOMALY = {
    part: Gauge(
        f"mlaiops_anomaly_{part}",
        f"{text} of each AnomalyRule series at its last evaluation.",
        ["namespace", "rule", "series"],
        registry=REGISTRY,
    )
    for part, text in (
        ("score", "Anomaly score (above 1 is anomalous)"),
        ("expected", "Expected value"),
        ("lower", "Lower edge of the normal band"),
        ("upper", "Upper edge of the normal band"),
    )
}


def record_anomaly(
    namespace: str, rule: str, series: str, score: float, expected: float, lower: float, upper: float
) -> None:
    """Export a series' evaluation so users can graph it with its band and alert on it."""
    for part, value in (("score", score), ("expected", expected), ("lower", lower), ("upper", upper)):
        ANOMALY[part].labels(namespace, rule, series).set(value)


def record_rollout_event(namespace: str, name: str, reason: str) -> None:
    ROLLOUT_EVENTS.labels(namespace, name, reason).inc()


def serve(port: int, address: str = "0.0.0.0") -> None:
    """Expose the registry on ``port`` (a daemon thread); port 0 disables it."""
    if port:
        start_http_server(port, addr=address, registry=REGISTRY)

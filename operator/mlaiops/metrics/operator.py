"""The operator's own /metrics: what it decided and did, by reason, for dashboards and alerts."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, start_http_server

REGISTRY = CollectorRegistry(auto_describe=True)

ROLLOUT_EVENTS = Counter(
    "mlaiops_rollout_events_total",
    "Rollout transitions of ModelDeployments (CanaryStarted, StepAdvanced, Promoted, AnalysisFailed, ...).",
    ["namespace", "modeldeployment", "reason"],
    registry=REGISTRY,
)


def record_rollout_event(namespace: str, name: str, reason: str) -> None:
    ROLLOUT_EVENTS.labels(namespace, name, reason).inc()


def serve(port: int, address: str = "0.0.0.0") -> None:
    """Expose the registry on ``port`` (a daemon thread); port 0 disables it."""
    if port:
        start_http_server(port, addr=address, registry=REGISTRY)

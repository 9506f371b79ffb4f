"""The operator's own /metrics: what it decided and did, by reason, for dashboards and alerts."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

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


DRIFT = Gauge(
    "mlaiops_drift_score",
    "Latest drift score of each feature an AnomalyRule's drift section scores, per served track and version "
    "(method psi, ks, jensenShannon or wasserstein; feature __prediction__ is the model's prediction).",
    ["namespace", "rule", "track", "version", "feature", "method"],
    registry=REGISTRY,
)


def record_drift(namespace: str, rule: str, labels: dict[str, str], method: str, score: float) -> None:
    """Export one feature's drift score (labels: track, version, feature)."""
    DRIFT.labels(
        namespace, rule, labels.get("track", ""), labels.get("version", ""), labels.get("feature", ""), method
    ).set(score)


LEADER = Gauge(
    "mlaiops_leader",
    "1 while this replica holds the leader Lease and acts, 0 while it stands by.",
    ["lease", "identity"],
    registry=REGISTRY,
)


def record_leadership(lease: str, identity: str, leading: bool) -> None:
    LEADER.labels(lease, identity).set(1 if leading else 0)


RULE_LAG = Histogram(
    "mlaiops_rule_evaluation_delay_seconds",
    "How late each AnomalyRule evaluation started after it was due.",
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
    registry=REGISTRY,
)
RULE_DURATION = Histogram(
    "mlaiops_rule_evaluation_duration_seconds",
    "Wall time of one AnomalyRule evaluation (queries, detectors, status write).",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
    registry=REGISTRY,
)
RULE_MISSED = Counter(
    "mlaiops_rule_evaluations_missed_total",
    "Evaluations skipped because a rule fell more than one interval behind (like Prometheus's iterations missed).",
    registry=REGISTRY,
)


def record_rule_evaluation_start(delay: float) -> None:
    RULE_LAG.observe(delay)


def record_rule_evaluation_duration(seconds: float) -> None:
    RULE_DURATION.observe(seconds)


def record_rule_evaluations_missed(count: int) -> None:
    RULE_MISSED.inc(count)


def record_rollout_event(namespace: str, name: str, reason: str) -> None:
    ROLLOUT_EVENTS.labels(namespace, name, reason).inc()


_SERVED: set[tuple[str, int]] = set()


def serve(port: int, address: str = "127.0.0.1") -> None:
    """Expose the registry on ``port`` (a daemon thread) once per process; port 0 disables it.

    A standby replica serves it before it is elected; kopf's startup asks again once it leads.
    """
    if port and (address, port) not in _SERVED:
        start_http_server(port, addr=address, registry=REGISTRY)
        _SERVED.add((address, port))

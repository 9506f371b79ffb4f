"""The operator's own /metrics: what it decided and did, by reason, for dashboards and alerts."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

from mlaiops.api.incident import IncidentStatus
from mlaiops.api.modeldeployment import ModelDeploymentStatus
from mlaiops.api.remediationplaybook import RemediationPlaybookSpec, RemediationPlaybookStatus
from mlaiops.api.retrainpolicy import RetrainPolicyStatus
from mlaiops.metrics import transitions

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


# --- the loop's own numbers: counted from the status transitions the controllers write -----------

ROLLOUTS_STARTED = Counter(
    "mlaiops_rollouts_started_total",
    "Rollouts a ModelDeployment started (first deployment, canary or rolling update): the denominator of the "
    "change failure rate.",
    ["namespace", "modeldeployment"],
    registry=REGISTRY,
)
ROLLOUTS_FINISHED = Counter(
    "mlaiops_rollouts_finished_total",
    "Rollouts a ModelDeployment finished, by outcome (Promoted, RolledBack, Aborted, Failed) and reason "
    "(AnalysisPassed, AnalysisFailed, ProgressDeadlineExceeded, RollbackRequested, ...), as in status.history.",
    ["namespace", "modeldeployment", "outcome", "reason"],
    registry=REGISTRY,
)
RETRAIN_STARTED = Counter(
    "mlaiops_retrain_runs_started_total",
    "Retraining runs a RetrainPolicy started, by trigger (schedule, anomaly, manual, playbook).",
    ["namespace", "policy", "trigger"],
    registry=REGISTRY,
)
RETRAIN_RUNS = Counter(
    "mlaiops_retrain_runs_total",
    "Retraining runs that ended, by trigger and outcome (Promoted, Rejected by the gate, Failed, Expired "
    "awaiting approval).",
    ["namespace", "policy", "trigger", "outcome"],
    registry=REGISTRY,
)
REMEDIATION_EXECUTIONS = Counter(
    "mlaiops_remediation_executions_total",
    "RemediationPlaybook executions that ended, by outcome (Succeeded, Failed, Expired, Refused, Rejected, DryRun).",
    ["namespace", "playbook", "outcome"],
    registry=REGISTRY,
)
REMEDIATION_STEPS = Counter(
    "mlaiops_remediation_steps_total",
    "Remediation steps that ended, by action type (scale, deletePod, notify, job, webhook, ...) and outcome "
    "(Succeeded, Failed, Refused, Skipped, DryRun).",
    ["namespace", "playbook", "action", "outcome"],
    registry=REGISTRY,
)
NOTIFICATIONS = Counter(
    "mlaiops_notifications_total",
    "Notifications a RemediationPlaybook sent, by channel (slack or generic), kind (step: a notify step; approval: "
    "a request with Approve / Reject buttons; circuitOpen: the circuit breaker's message; incident: an Incident opened "
    "or resolved, once each) and outcome.",
    ["namespace", "playbook", "channel", "kind", "outcome"],
    registry=REGISTRY,
)
INCIDENTS_OPENED = Counter(
    "mlaiops_incidents_opened_total",
    "Incidents opened (or opened again after they resolved).",
    ["namespace", "playbook"],
    registry=REGISTRY,
)
INCIDENT_TIME_TO_RESOLVE = Histogram(
    "mlaiops_incident_time_to_resolve_seconds",
    "Time from an Incident's first anomaly to its resolution, observed once when it resolves (its count is the "
    "incidents resolved).",
    ["namespace", "playbook"],
    buckets=(10, 30, 60, 120, 300, 600, 1800, 3600, 7200, 21600, 86400),
    registry=REGISTRY,
)


def record_rollouts(namespace: str, name: str, before: ModelDeploymentStatus, after: ModelDeploymentStatus) -> None:
    """Count the rollouts a ModelDeployment status write started and finished (call once the write succeeded)."""
    found = transitions.rollouts(before, after)
    if found.started:
        ROLLOUTS_STARTED.labels(namespace, name).inc(found.started)
    for outcome, reason in found.finished:
        ROLLOUTS_FINISHED.labels(namespace, name, outcome, reason).inc()


def record_retrain_runs(namespace: str, policy: str, before: RetrainPolicyStatus, after: RetrainPolicyStatus) -> None:
    """Count the runs a RetrainPolicy status write started and ended (call once the write succeeded)."""
    found = transitions.retrain_runs(before, after)
    for trigger in found.started:
        RETRAIN_STARTED.labels(namespace, policy, trigger).inc()
    for trigger, outcome in found.finished:
        RETRAIN_RUNS.labels(namespace, policy, trigger, outcome).inc()


def record_playbook(
    namespace: str,
    playbook: str,
    spec: RemediationPlaybookSpec,
    before: RemediationPlaybookStatus,
    after: RemediationPlaybookStatus,
) -> None:
    """Count the executions, steps and notifications a playbook status write ended (once the write succeeded)."""
    found = transitions.playbook(spec, before, after)
    for outcome in found.executions:
        REMEDIATION_EXECUTIONS.labels(namespace, playbook, outcome).inc()
    for action, outcome in found.steps:
        REMEDIATION_STEPS.labels(namespace, playbook, action, outcome).inc()
    for channel, kind, outcome in found.notifications:
        NOTIFICATIONS.labels(namespace, playbook, channel, kind, outcome).inc()


def record_incident(namespace: str, playbook: str, before: IncidentStatus, after: IncidentStatus) -> None:
    """Count an Incident opened or resolved by a status write, with its time to resolve (once the write succeeded)."""
    found = transitions.incident(before, after)
    if found.opened:
        INCIDENTS_OPENED.labels(namespace, playbook).inc()
    if found.resolved_after is not None:
        INCIDENT_TIME_TO_RESOLVE.labels(namespace, playbook).observe(found.resolved_after)


def record_incident_notification(namespace: str, playbook: str, channel: str, outcome: str) -> None:
    """Count one incident notification once its result is written (Succeeded or Failed)."""
    NOTIFICATIONS.labels(namespace, playbook, channel, "incident", outcome).inc()


_SERVED: set[tuple[str, int]] = set()


def serve(port: int, address: str = "127.0.0.1") -> None:
    """Expose the registry on ``port`` (a daemon thread) once per process; port 0 disables it.

    A standby replica serves it before it is elected; kopf's startup asks again once it leads.
    """
    if port and (address, port) not in _SERVED:
        start_http_server(port, addr=address, registry=REGISTRY)
        _SERVED.add((address, port))

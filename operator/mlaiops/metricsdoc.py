"""Render ``docs/metrics.md``: every metric the model server and the operator export, from their registries.

The names, types, help texts and labels come from the code that registers them; only the example
queries are written here, and a metric without one fails the render, so a new metric cannot ship
undocumented. ``mlaiops metrics-doc --check`` fails when the committed file is stale.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from prometheus_client import CollectorRegistry

from mlaiops.generated import write_or_check

SERIES_LABELS = ("le", "quantile")
SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"), "summary": ("_sum", "_count")}

EXAMPLES: dict[str, str] = {
    # --- the model server (`mlaiops serve`) ---
    "mlaiops_model_requests": 'sum by (track) (rate(mlaiops_model_requests_total{code=~"5.."}[5m])) '
    "/ sum by (track) (rate(mlaiops_model_requests_total[5m]))",
    "mlaiops_model_request_duration_seconds": "histogram_quantile(0.99, sum by (track, le) "
    "(rate(mlaiops_model_request_duration_seconds_bucket[5m])))",
    "mlaiops_model_call_rows": "sum by (track) (rate(mlaiops_model_call_rows_sum[5m])) "
    "/ sum by (track) (rate(mlaiops_model_call_rows_count[5m]))",
    "mlaiops_model_call_requests": "sum by (track) (rate(mlaiops_model_call_requests_total[5m])) "
    "/ sum by (track) (rate(mlaiops_model_call_rows_count[5m]))",
    "mlaiops_model_load_duration_seconds": "max by (model, version) (mlaiops_model_load_duration_seconds)",
    "mlaiops_model_ready": "count by (model, version) (mlaiops_model_ready == 0)",
    "mlaiops_model_load_errors": "sum by (model, reason) (increase(mlaiops_model_load_errors_total[15m])) > 0",
    "mlaiops_model_info": "count by (model, version, sha256) (mlaiops_model_info)",
    "mlaiops_model_prediction": "sum by (track) (rate(mlaiops_model_prediction_sum[5m])) "
    "/ sum by (track) (rate(mlaiops_model_prediction_count[5m]))",
    "mlaiops_model_input_feature": "sum by (feature) (rate(mlaiops_model_input_feature_sum[5m])) "
    "/ sum by (feature) (rate(mlaiops_model_input_feature_count[5m]))",
    "mlaiops_model_input_feature_squares": "sum by (feature) (rate(mlaiops_model_input_feature_squares_total[5m])) "
    "/ sum by (feature) (rate(mlaiops_model_input_feature_count[5m])) - (sum by (feature) "
    "(rate(mlaiops_model_input_feature_sum[5m])) / sum by (feature) (rate(mlaiops_model_input_feature_count[5m])))^2",
    "mlaiops_model_feature_bin": 'sum by (feature, bin) (increase(mlaiops_model_feature_bin_total{model="fraud", '
    'track="stable"}[1h]))',
    "mlaiops_model_feature_reference_bin": 'max by (feature, bin) (mlaiops_model_feature_reference_bin{model="fraud"})',
    "mlaiops_model_profile_info": "count by (model, version) (mlaiops_model_info) unless on (model, version) "
    "count by (model, version) (mlaiops_model_profile_info)",
    "mlaiops_model_feedback_labels": 'sum by (track) (increase(mlaiops_model_feedback_correct_total{model="fraud"}[1h])) '
    '/ sum by (track) (increase(mlaiops_model_feedback_labels_total{model="fraud"}[1h]))',
    "mlaiops_model_feedback_correct": "1 - sum by (track) (increase(mlaiops_model_feedback_correct_total[1h])) "
    "/ sum by (track) (increase(mlaiops_model_feedback_labels_total[1h]))",
    "mlaiops_model_feedback_confusion": 'sum(increase(mlaiops_model_feedback_confusion_total{predicted="1", actual="1"}'
    '[1h])) / sum(increase(mlaiops_model_feedback_confusion_total{predicted="1"}[1h]))',
    "mlaiops_model_feedback_score": "sum by (positive, le) (increase(mlaiops_model_feedback_score_bucket[1h]))",
    "mlaiops_model_feedback_absolute_error": "sum by (track) (increase(mlaiops_model_feedback_absolute_error_sum[1h])) "
    "/ sum by (track) (increase(mlaiops_model_feedback_absolute_error_count[1h]))",
    "mlaiops_model_feedback_unmatched": "sum by (reason) (increase(mlaiops_model_feedback_unmatched_total[1h]))",
    "mlaiops_model_prediction_store_ids": "max by (pod) (mlaiops_model_prediction_store_ids)",
    "mlaiops_model_prediction_store_bytes": "max by (pod) (mlaiops_model_prediction_store_bytes) > 64e6",
    "mlaiops_model_prediction_store_removed": 'sum by (track) (rate(mlaiops_model_prediction_store_removed_total{reason="evicted"}'
    "[5m])) > 0",
    # --- the operator (`mlaiops run`) ---
    "mlaiops_rollout_events": "sum by (namespace, modeldeployment) "
    '(increase(mlaiops_rollout_events_total{reason="AnalysisFailed"}[1h]))',
    "mlaiops_anomaly_score": "max by (namespace, rule) (mlaiops_anomaly_score) > 1",
    "mlaiops_anomaly_expected": 'mlaiops_anomaly_expected{namespace="fraud-detection", rule="fraud-load"}',
    "mlaiops_anomaly_lower": 'mlaiops_anomaly_lower{namespace="fraud-detection", rule="fraud-load"}',
    "mlaiops_anomaly_upper": 'mlaiops_anomaly_upper{namespace="fraud-detection", rule="fraud-load"}',
    "mlaiops_drift_score": 'max by (rule, feature) (mlaiops_drift_score{method="psi"}) >= 0.25',
    "mlaiops_leader": "sum(mlaiops_leader) != 1",
    "mlaiops_rule_evaluation_delay_seconds": "histogram_quantile(0.99, sum by (le) "
    "(rate(mlaiops_rule_evaluation_delay_seconds_bucket[5m])))",
    "mlaiops_rule_evaluation_duration_seconds": "histogram_quantile(0.99, sum by (le) "
    "(rate(mlaiops_rule_evaluation_duration_seconds_bucket[5m])))",
    "mlaiops_rule_evaluations_missed": "rate(mlaiops_rule_evaluations_missed_total[5m]) > 0",
    "mlaiops_rollouts_started": "sum by (namespace, modeldeployment) "
    '(increase(mlaiops_rollouts_finished_total{outcome="RolledBack"}[30d])) / sum by (namespace, modeldeployment) '
    "(increase(mlaiops_rollouts_started_total[30d]))",
    "mlaiops_rollouts_finished": "sum by (outcome, reason) (increase(mlaiops_rollouts_finished_total[7d]))",
    "mlaiops_retrain_runs_started": "sum by (policy, trigger) (increase(mlaiops_retrain_runs_started_total[7d]))",
    "mlaiops_retrain_runs": "sum by (policy, trigger, outcome) (increase(mlaiops_retrain_runs_total[7d]))",
    "mlaiops_remediation_executions": 'sum by (playbook) (increase(mlaiops_remediation_executions_total{outcome="Succeeded"}'
    "[7d])) / sum by (playbook) (increase(mlaiops_remediation_executions_total[7d]))",
    "mlaiops_remediation_steps": "sum by (action, outcome) (increase(mlaiops_remediation_steps_total[1d]))",
    "mlaiops_notifications": 'sum by (channel) (increase(mlaiops_notifications_total{outcome="Failed"}[1h])) > 0',
    "mlaiops_incidents_opened": "sum by (namespace) (increase(mlaiops_incidents_opened_total[1d]))",
    "mlaiops_incident_time_to_resolve_seconds": "sum by (namespace) "
    "(increase(mlaiops_incident_time_to_resolve_seconds_sum[7d])) / sum by (namespace) "
    "(increase(mlaiops_incident_time_to_resolve_seconds_count[7d]))",
    "mlaiops_alertmanager_alerts_dropped": "sum by (reason) (increase(mlaiops_alertmanager_alerts_dropped_total[1h])) > 0",
    "mlaiops_alertmanager_alerts": "max(mlaiops_alertmanager_alerts)",
    "mlaiops_alertmanager_requests": 'sum by (outcome) (rate(mlaiops_alertmanager_requests_total{outcome!="accepted"}[5m]))',
}


@dataclass(frozen=True)
class MetricDoc:
    """One metric family as a reader needs it: what to query, what it means, how to slice it."""

    name: str
    type: str
    help: str
    labels: tuple[str, ...]
    series: tuple[str, ...]
    example: str


def _declared_labels(registry: CollectorRegistry) -> dict[str, tuple[str, ...]]:
    """Label names of the registry's metric objects (a labelled metric has no samples until first use)."""
    declared: dict[str, tuple[str, ...]] = {}
    for collector in list(getattr(registry, "_collector_to_names", {})):
        name, labels = getattr(collector, "_name", None), getattr(collector, "_labelnames", None)
        if name and labels is not None:
            declared[name] = tuple(labels)
    return declared


def describe(registry: CollectorRegistry) -> list[MetricDoc]:
    """Every family of ``registry``; raises KeyError naming a metric that has no example query."""
    declared = _declared_labels(registry)
    docs = []
    for family in registry.collect():
        if family.samples:
            labels = tuple(dict.fromkeys(k for s in family.samples for k in s.labels if k not in SERIES_LABELS))
            series = tuple(sorted({s.name for s in family.samples if not s.name.endswith("_created")}))
        else:
            labels = declared.get(family.name, ())
            series = tuple(sorted(family.name + suffix for suffix in SUFFIXES.get(family.type, ("",))))
        if family.name not in EXAMPLES:
            raise KeyError(f"metric {family.name} has no example query: add one to mlaiops.metricsdoc.EXAMPLES")
        docs.append(MetricDoc(family.name, family.type, family.documentation, labels, series, EXAMPLES[family.name]))
    return sorted(docs, key=lambda doc: doc.name)


def model_server_registry() -> CollectorRegistry:
    """A model server's registry with one sample of everything (labels show only on used series)."""
    import numpy as np

    from mlaiops.detection.profile import build
    from mlaiops.runtime.feedback import FeedbackStats, LabelKind, apply, parse_feedback
    from mlaiops.runtime.metrics import PREDICTION_BUCKETS, ServerMetrics
    from mlaiops.runtime.predictions import PredictionStore

    metrics = ServerMetrics("model", "version", "track", "format", process=False)
    metrics.loaded(0.1, "sha256", ["feature"])
    metrics.set_profile(build({"feature": [0.0, 1.0]}, [0.0, 1.0], "probability", bins=2), "sha256")
    metrics.observe_request(200, 0.01)
    metrics.load_failed("reason")
    metrics.observe_batch(np.array([[1.0]]), np.array([0.5]))
    store = PredictionStore(10)
    kind = LabelKind([0, 1])  # a binary classifier exports every feedback family but none a regressor lacks
    store.add(["id"], kind.predicted_indices(np.array([1])), np.array([0.5]))
    feedback = FeedbackStats(("model", "version", "track"), store, kind, PREDICTION_BUCKETS)
    apply(parse_feedback(b'{"ids": ["id", "other"], "labels": [1, 0]}', kind, 10), store, feedback)
    metrics.registry.register(feedback)
    return metrics.registry


def operator_registry() -> CollectorRegistry:
    """The operator's registry with the Alertmanager receiver's metrics registered in it."""
    from mlaiops.metrics import operator
    from mlaiops.remediation import alertmanager, receiver  # noqa: F401  (register their metrics)

    return operator.REGISTRY


HEADER = """# Metrics

Generated by `mlaiops metrics-doc` from the registries in `operator/mlaiops/runtime/metrics.py` and
`feedback.py`, `operator/mlaiops/metrics/operator.py` and `operator/mlaiops/remediation/`; do not edit.
`mlaiops metrics-doc --check` (part of `make lint`) fails when this file is stale.
"""

SECTIONS = (
    (
        "Model server (`mlaiops serve`)",
        "Served on the server's port (or `runtime.metricsPort`) at `/metrics`. Every series carries `model`, "
        "`version` and `track` (`stable` or `canary`); Prometheus adds `namespace` and `pod` from service "
        "discovery. The standard `process_*` metrics of prometheus_client are exported as well.",
        model_server_registry,
    ),
    (
        "Operator (`mlaiops run`)",
        "Served on `MLAIOPS_METRICS_PORT` (default 8383) at `/metrics`, by the leader and by standbys. The "
        "`mlaiops_alertmanager_*` metrics count the Alertmanager receiver's work (`docs/alertmanager-receiver.md`).",
        operator_registry,
    ),
)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _table(docs: list[MetricDoc]) -> Iterator[str]:
    yield "| Metric | Type | Labels | Meaning | Example |"
    yield "|---|---|---|---|---|"
    for doc in docs:
        series = "<br>".join(f"`{name}`" for name in doc.series)
        labels = ", ".join(f"`{label}`" for label in doc.labels) or "none"
        yield f"| {series} | {doc.type} | {labels} | {_cell(doc.help)} | `{_cell(doc.example)}` |"


def render() -> str:
    out = [HEADER]
    for title, text, registry in SECTIONS:
        out += [f"\n## {title}\n", text, "", *_table(describe(registry()))]
    return "\n".join(out) + "\n"


def _run(args: argparse.Namespace) -> int:
    return write_or_check(Path(args.output), render(), "mlaiops metrics-doc", args.check)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "metrics-doc", help="render the metrics reference (docs/metrics.md) from the metric registries"
    )
    parser.add_argument("-o", "--output", default="docs/metrics.md", help="file to write (default: docs/metrics.md)")
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 when the file is stale")
    parser.set_defaults(func=_run)

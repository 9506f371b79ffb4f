"""AnomalyRule controller: one daemon per rule evaluates its PromQL on its own interval.

Warm start from a range query over ``fitWindow`` (so a restart is not blind), online inference
on each evaluation, a refit every ``fitEvery``. Prometheus errors are ``Error`` (never a silent
Normal, never a firing); an empty result follows ``onNoData``. Firing and resolving series emit
Events, go on the in-process bus and are counted in status, which is what survives restarts.
"""

from __future__ import annotations

import asyncio
import contextvars
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import kopf
import numpy as np
from kubernetes.client.exceptions import ApiException

from mlaiops import API_VERSION, GROUP, VERSION
from mlaiops.api.anomalyrule import AnomalyRuleSpec, AnomalyRuleStatus, SeriesStatus
from mlaiops.api.common import Condition, seconds
from mlaiops.controllers.common import InvalidSpec, kube, parse_spec, parse_status, prometheus, status_patch
from mlaiops.detection.events import BUS, AnomalyEvent
from mlaiops.detection.rules import RuleEvaluator, SeriesResult, finite, worst_state
from mlaiops.metrics import operator as operator_metrics
from mlaiops.metrics.provider import ProviderError

MAX_STATUS_SERIES = 50
MAX_HISTORY_POINTS = 10_000  # Prometheus refuses range queries over 11,000 points per series
# Threads that evaluate rules (Prometheus queries, detector updates, status writes): mostly I/O
# wait, so a few threads serve a thousand rules; separate from kopf's executor so that rules and
# the other controllers' handlers never starve each other.
EVALUATORS = ThreadPoolExecutor(max_workers=8, thread_name_prefix="rule")
INVALID_SPEC_RETRY = 10.0  # seconds between two looks at a rule whose spec does not parse


def _condition(kind: str, value: bool, reason: str, message: str, now: datetime, generation: int) -> dict[str, Any]:
    status = "True" if value else "False"
    return Condition(
        type=kind,
        status=status,
        reason=reason,
        message=message,
        last_transition_time=now,
        observed_generation=generation,
    ).to_dict()


def _keep_transition_times(new: list[dict[str, Any]], old: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    previous = {c["type"]: c for c in old or []}
    for condition in new:
        before = previous.get(condition["type"])
        if before and before.get("status") == condition["status"]:
            condition["lastTransitionTime"] = before.get("lastTransitionTime", condition["lastTransitionTime"])
    return new


def target_busy(spec: AnomalyRuleSpec, namespace: str) -> bool:
    """Whether the rule's target is rolling out: such points are scored but kept out of the baseline."""
    if spec.target is None or spec.target.kind != "ModelDeployment":
        return False
    md = kube().get(API_VERSION, "ModelDeployment", namespace, spec.target.name)
    return bool(((md or {}).get("status") or {}).get("canaryModel"))


def _entity(labels: dict[str, str]) -> dict[str, str]:
    """Series of different queries describe the same entity when their labels (without __name__) agree."""
    return {key: value for key, value in labels.items() if key != "__name__"}


def _key(labels: dict[str, str]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(labels.items()))


def queries_of(spec: AnomalyRuleSpec) -> list[str]:
    return [query.query for query in spec.queries] if spec.queries else [spec.query or ""]


def warm_start(evaluator: RuleEvaluator, spec: AnomalyRuleSpec, now: datetime, logger: Any) -> None:
    """Learn from ``fitWindow`` of history before the first evaluation (queries joined per entity)."""
    window = seconds(spec.fit_window)
    step = max(seconds(spec.interval), window / MAX_HISTORY_POINTS)
    per_query: list[dict[tuple[tuple[str, str], ...], tuple[dict[str, str], dict[float, float]]]] = []
    try:
        for query in queries_of(spec):
            found = {}
            for series in prometheus().range_sync(query, now - timedelta(seconds=window), now, step):
                labels = _entity(series.labels) if spec.queries else series.labels
                found[_key(labels)] = (
                    labels,
                    dict(zip(series.timestamps.tolist(), series.values.tolist(), strict=True)),
                )
            per_query.append(found)
    except ProviderError as error:
        logger.warning("warm start skipped: %s", error)
        return
    history = []
    for key, (labels, first) in per_query[0].items():
        if not all(key in found for found in per_query):
            continue
        times = sorted(set(first).intersection(*(found[key][1].keys() for found in per_query[1:])))
        values = np.array([[found[key][1][t] for t in times] for found in per_query])
        history.append((labels, np.array(times), values))
    learned = evaluator.warm_start(history)
    logger.info("warm start: %d points of %d series over %s", learned, len(history), spec.fit_window)


def current_samples(spec: AnomalyRuleSpec, now: datetime) -> list[tuple[dict[str, str], Any]]:
    """This evaluation's values: one per series, or one vector per entity present in every query."""
    results = [prometheus().instant_sync(query, now) for query in queries_of(spec)]
    if spec.queries is None:
        return [(dict(sample.labels), sample.value) for sample in results[0]]
    joined: dict[tuple[tuple[str, str], ...], tuple[dict[str, str], list[float]]] = {}
    for index, samples in enumerate(results):
        for sample in samples:
            labels = _entity(sample.labels)
            entry = joined.setdefault(_key(labels), (labels, [np.nan] * len(results)))
            entry[1][index] = sample.value
    return [(labels, vector) for labels, vector in joined.values() if not np.isnan(vector).any()]


def publish(
    result: SeriesResult, spec: AnomalyRuleSpec, namespace: str, name: str, labels: dict[str, str], body: Any
) -> None:
    kind = "Firing" if result.fired else "Resolved"
    target = (spec.target.kind, spec.target.name) if spec.target else None
    BUS.publish(
        AnomalyEvent(
            namespace,
            name,
            result.fingerprint,
            {**result.labels, **(spec.labels or {})},
            kind,
            spec.severity,
            result.since,
            finite(result.value),
            finite(result.expected),
            finite(result.score),
            target,
            labels,
        )
    )
    series = ", ".join(f"{k}={v}" for k, v in sorted(result.labels.items())) or "the series"
    if kind == "Firing":
        message = f"{series}: value {result.value:.4g}, expected {result.expected:.4g} (score {result.score:.2f})"
        kopf.event(body, type="Warning", reason="AnomalyFiring", message=message)
    else:
        kopf.event(body, type="Normal", reason="AnomalyResolved", message=f"{series} is back to normal")


def evaluate_once(
    evaluator: RuleEvaluator,
    spec: AnomalyRuleSpec,
    status: AnomalyRuleStatus,
    namespace: str,
    name: str,
    body: Any,
    labels: dict[str, str],
    now: datetime,
) -> None:
    """One evaluation: query, score, update ``status`` in place, emit events."""
    status.evaluations = (status.evaluations or 0) + 1
    status.last_evaluation = now
    try:
        samples = current_samples(spec, now)
    except ProviderError as error:
        status.state, status.message = "Error", str(error)
        return
    if not samples:
        status.message = f"the query returned no data (onNoData: {spec.on_no_data})"
        if spec.on_no_data == "Normal":
            status.state, status.series, status.firing_series = "Normal", [], 0
        elif spec.on_no_data == "NoData":
            for gone in evaluator.forget_missing(set()):
                kopf.event(body, type="Normal", reason="AnomalyResolved", message=f"{gone.labels} returned no data")
            status.state, status.series, status.firing_series = "NoData", [], 0
        return
    busy = target_busy(spec, namespace)
    results = evaluator.evaluate(now, samples, excluded=busy)
    evaluator.forget_missing({result.fingerprint for result in results})
    for result in results:
        if result.fired:
            status.firings = (status.firings or 0) + 1
        if result.fired or result.resolved:
            publish(result, spec, namespace, name, labels, body)
        operator_metrics.record_anomaly(
            namespace, name, result.fingerprint, result.score, result.expected, result.lower, result.upper
        )
    ranked = sorted(
        results, key=lambda r: (r.state != "Firing", r.state != "Pending", -(r.score if np.isfinite(r.score) else 0))
    )
    status.series = [
        SeriesStatus(
            labels=r.labels,
            fingerprint=r.fingerprint,
            state=r.state,
            value=finite(r.value),
            expected=finite(r.expected),
            lower=finite(r.lower),
            upper=finite(r.upper),
            score=finite(r.score),
            since=r.since,
        )
        for r in ranked[:MAX_STATUS_SERIES]
    ]
    status.firing_series = sum(r.state == "Firing" for r in results)
    status.state = worst_state([r.state for r in results])
    status.message = "target is rolling out: points kept out of the baseline" if busy else None


@dataclass
class RuleLoop:
    """What one rule's daemon keeps between evaluations: the fitted evaluator and when it was built."""

    namespace: str
    name: str
    evaluator: RuleEvaluator | None = None
    built_for: int = -1
    last_fit: datetime = field(default_factory=lambda: datetime.now(UTC))

    def tick(self, body: kopf.Body, meta: kopf.Meta, logger: Any) -> float:
        """One evaluation (blocking: Prometheus and API calls); returns the rule's interval in seconds."""
        namespace, name = self.namespace, self.name
        now = datetime.now(UTC)
        generation = int(body.get("metadata", {}).get("generation", 0))
        current = parse_status(AnomalyRuleStatus, body.get("status"))
        status = current.model_copy(deep=True)
        status.observed_generation = generation
        try:
            spec = parse_spec(AnomalyRuleSpec, body.get("spec") or {})
        except InvalidSpec as error:
            status.conditions = [
                Condition(
                    type="Ready",
                    status="False",
                    reason="InvalidSpec",
                    message=str(error),
                    last_transition_time=now,
                    observed_generation=generation,
                )
            ]
            write_status(namespace, name, status, current, logger)
            return INVALID_SPEC_RETRY
        if self.evaluator is None or self.built_for != generation:
            self.evaluator = RuleEvaluator(namespace, name, spec)
            warm_start(self.evaluator, spec, now, logger)
            self.evaluator.restore([s for s in current.series or [] if s.state != "Normal"])
            self.built_for, self.last_fit = generation, now
            status.last_fit = now
        elif now - self.last_fit >= timedelta(seconds=seconds(spec.fit_every)):
            refit = RuleEvaluator(namespace, name, spec)
            warm_start(refit, spec, now, logger)
            refit.restore(status.series or [])
            self.evaluator, self.last_fit, status.last_fit = refit, now, now
        if spec.suspend:
            status.conditions = [
                Condition(
                    type="Ready",
                    status="True",
                    reason="Suspended",
                    message="evaluation suspended (spec.suspend)",
                    last_transition_time=now,
                    observed_generation=generation,
                )
            ]
        else:
            evaluate_once(self.evaluator, spec, status, namespace, name, body, dict(meta.get("labels") or {}), now)
            ready = status.state != "Error"
            conditions = [
                _condition(
                    "Ready",
                    ready,
                    "Evaluating" if ready else "QueryFailed",
                    "" if ready else status.message or "",
                    now,
                    generation,
                ),
                _condition(
                    "Firing",
                    status.state == "Firing",
                    "AnomalyFiring" if status.state == "Firing" else "NoAnomaly",
                    f"{status.firing_series or 0} series firing",
                    now,
                    generation,
                ),
            ]
            kept = _keep_transition_times(conditions, [c.to_dict() for c in current.conditions or []])
            status.conditions = [Condition.model_validate(c) for c in kept]
        write_status(namespace, name, status, current, logger)
        return seconds(spec.interval)


@kopf.daemon(GROUP, VERSION, "anomalyrules", cancellation_timeout=10, backoff=5)  # not kopf's 60 s
async def run_rule(
    stopped: kopf.DaemonStopped,
    body: kopf.Body,
    meta: kopf.Meta,
    namespace: str,
    name: str,
    logger: kopf.Logger,
    **_: Any,
) -> None:
    """Evaluate the rule until it is deleted or the operator stops; rebuild on every spec change.

    The daemon is async and borrows an executor thread only while it evaluates: a thousand rules
    must not hold a thousand threads (kopf runs sync daemons on its shared, bounded executor, so
    blocking daemons would starve every other handler). Evaluations keep a fixed rate: the next is
    due one interval after the previous was due, and how late each starts is exported.
    """
    loop = asyncio.get_running_loop()
    rule = RuleLoop(namespace, name)
    due = loop.time()
    while not stopped:
        started = loop.time()
        operator_metrics.record_rule_evaluation_start(max(0.0, started - due))
        # kopf.event() inside tick needs kopf's context variables: run it in a copy of ours.
        context = contextvars.copy_context()
        interval = await loop.run_in_executor(EVALUATORS, context.run, rule.tick, body, meta, logger)
        now = loop.time()
        operator_metrics.record_rule_evaluation_duration(now - started)
        due += interval
        if now - due > interval:  # more than a whole interval behind: skip the missed slots, count them
            missed = int((now - due) // interval)
            operator_metrics.record_rule_evaluations_missed(missed)
            due += missed * interval
        await stopped.wait(max(0.0, due - now))


def write_status(namespace: str, name: str, status: AnomalyRuleStatus, current: AnomalyRuleStatus, logger: Any) -> None:
    if status == current:
        return
    try:
        kube().patch(API_VERSION, "AnomalyRule", namespace, name, {"status": status_patch(status)}, sub="status")
    except ApiException as error:
        if error.status != 404:  # 404: the rule was deleted while we evaluated
            logger.warning("status update failed: %s %s", error.status, error.reason)

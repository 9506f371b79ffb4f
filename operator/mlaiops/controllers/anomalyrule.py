"""AnomalyRule controller: one daemon per rule evaluates its PromQL on its own interval.

Warm start from a range query over ``fitWindow`` (so a restart is not blind), online inference
on each evaluation, a refit every ``fitEvery``. Prometheus errors are ``Error`` (never a silent
Normal, never a firing); an empty result follows ``onNoData``. Firing and resolving series emit
Events, go on the in-process bus and are counted in status, which is what survives restarts.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import kopf
from kubernetes.client.exceptions import ApiException

from mlaiops import API_VERSION, GROUP, VERSION
from mlaiops.api.anomalyrule import AnomalyRuleSpec, AnomalyRuleStatus
from mlaiops.api.common import seconds
from mlaiops.api.remediationplaybook import PendingEvent
from mlaiops.controllers.common import InvalidSpec, parse_status, status_patch
from mlaiops.controllers.problems import checked_spec
from mlaiops.detection import driftrule
from mlaiops.detection.events import BUS, AnomalyEvent
from mlaiops.detection.joins import RangeResult, entity, join_history, join_samples, key_of, queries_of
from mlaiops.detection.rule_status import (
    WarmStart,
    apply_results,
    condition,
    evaluated_conditions,
    keep_transition_times,
    with_warm_start,
)
from mlaiops.detection.rules import RuleEvaluator, SeriesResult, finite
from mlaiops.kube import Kube
from mlaiops.metrics import operator as operator_metrics
from mlaiops.metrics.prometheus import PrometheusProvider
from mlaiops.metrics.provider import ProviderError
from mlaiops.remediation import events
from mlaiops.remediation.wake import WAKEUPS, Ping

log = logging.getLogger(__name__)

MAX_HISTORY_POINTS = 10_000  # Prometheus refuses range queries over 11,000 points per series
# Threads that evaluate rules (Prometheus queries, detector updates, status writes): mostly I/O
# wait, so a few threads serve a thousand rules; separate from kopf's executor so that rules and
# the other controllers' handlers never starve each other.
EVALUATORS = ThreadPoolExecutor(max_workers=8, thread_name_prefix="rule")
INVALID_SPEC_RETRY = 10.0  # seconds between two looks at a rule whose spec does not parse
WARM_START_RETRY = 60.0  # seconds before a warm start that failed is tried again (else: at the next refit)


def target_busy(kube: Kube, spec: AnomalyRuleSpec, namespace: str) -> bool:
    """Whether the rule's target is rolling out: such points are scored but kept out of the baseline."""
    if spec.target is None or spec.target.kind != "ModelDeployment":
        return False
    md = kube.get(API_VERSION, "ModelDeployment", namespace, spec.target.name)
    return bool(((md or {}).get("status") or {}).get("canaryModel"))


def warm_start_step(spec: AnomalyRuleSpec) -> float:
    """Seconds between two history points: the rule's interval, coarser when fitWindow would exceed the
    points Prometheus returns per series, and never below its 1 ms resolution."""
    return max(seconds(spec.interval), seconds(spec.fit_window) / MAX_HISTORY_POINTS, 0.001)


def warm_start(
    prometheus: PrometheusProvider, evaluator: RuleEvaluator, spec: AnomalyRuleSpec, now: datetime, logger: Any
) -> WarmStart:
    """Learn from ``fitWindow`` of history before the first evaluation (queries joined per entity).

    The outcome becomes the rule's WarmStart condition: a rule that starts blind must say so.
    """
    window = seconds(spec.fit_window)
    step = warm_start_step(spec)
    per_query: list[RangeResult] = []
    try:
        for query in queries_of(spec):
            found: RangeResult = {}
            for series in prometheus.range_sync(query, now - timedelta(seconds=window), now, step):
                labels = entity(series.labels) if spec.queries else series.labels
                found[key_of(labels)] = (
                    labels,
                    dict(zip(series.timestamps.tolist(), series.values.tolist(), strict=True)),
                )
            per_query.append(found)
    except ProviderError as error:
        logger.warning("warm start skipped: %s", error)
        return WarmStart("QueryFailed", f"no warm start from fitWindow {spec.fit_window}: {error}")
    history = join_history(per_query)
    learned = evaluator.warm_start(history)
    logger.info("warm start: %d points of %d series over %s", learned, len(history), spec.fit_window)
    if not learned:
        return WarmStart("NoHistory", f"no points in the last {spec.fit_window}: the detector learns as it goes")
    return WarmStart("Loaded", f"learned {learned} points of {len(history)} series over {spec.fit_window}")


def drift_outcome(prometheus: PrometheusProvider, spec: AnomalyRuleSpec, now: datetime) -> driftrule.DriftOutcome:
    """A drift rule's evaluation: live bin counts over the window against the served reference profile
    (or, with ``baseline``, against the same bins' counts in the earlier window)."""
    assert spec.drift is not None
    drift = spec.drift

    def query(text: str) -> list[tuple[dict[str, str], float]]:
        return [(dict(sample.labels), sample.value) for sample in prometheus.instant_sync(text, now)]

    reference = query(drift.reference_query())
    served = query(drift.served_query()) if not reference else []
    live = query(drift.live_query()) if reference else []
    baseline = query(drift.baseline_query()) if reference and drift.baseline is not None else []
    return driftrule.evaluate(drift, live, reference, served, baseline)


def current_samples(
    prometheus: PrometheusProvider, spec: AnomalyRuleSpec, now: datetime
) -> list[tuple[dict[str, str], Any]]:
    """This evaluation's values: one per series, or one vector per entity present in every query."""
    if spec.drift is not None:
        return drift_outcome(prometheus, spec, now).samples
    results = [prometheus.instant_sync(query, now) for query in queries_of(spec)]
    if spec.queries is None:
        return [(dict(sample.labels), sample.value) for sample in results[0]]
    return join_samples(results)


def post_event(kube: Kube, body: Any, type_: str, reason: str, message: str, key: str, now: datetime) -> None:
    """A rule's Event, posted now under a name derived from ``key`` (its transition): a pass that repeats
    the transition after a SIGKILL (its status write lost) gets 409 AlreadyExists, not a second Event.

    Posted before the status write that records the transition, and synchronously (kopf.event queues and
    can lose an Event when the process is killed), so a transition in status always has its Event.
    """
    record = PendingEvent(
        key=key, type="Warning" if type_ == "Warning" else "Normal", reason=reason, message=message, time=now
    )
    owner = str((body.get("metadata") or {}).get("uid") or "")
    try:
        kube.create(events.event_object(record, owner, dict(body)))
    except ApiException as error:
        if error.status != 409:
            log.warning("event %s on %s not posted: API error %s: %s", reason, key, error.status, error.reason)


def series_text(labels: dict[str, str]) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(labels.items())) or "the series"


def publish(
    result: SeriesResult,
    spec: AnomalyRuleSpec,
    namespace: str,
    name: str,
    labels: dict[str, str],
    body: Any,
    kube: Kube,
    firings: int,
    now: datetime,
) -> None:
    """The transition on the bus (remediation) and as an Event; ``firings`` numbers it for the Event's key."""
    kind: Literal["Firing", "Resolved"] = "Firing" if result.fired else "Resolved"
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
    series = series_text(result.labels)
    if kind == "Firing":
        message = f"{series}: value {result.value:.4g}, expected {result.expected:.4g} (score {result.score:.2f})"
        post_event(kube, body, "Warning", "AnomalyFiring", message, f"{result.fingerprint}/Firing/{firings}", now)
    else:
        message = f"{series} is back to normal"
        post_event(kube, body, "Normal", "AnomalyResolved", message, f"{result.fingerprint}/Resolved/{firings}", now)


def evaluate_once(
    clients: Clients,
    evaluator: RuleEvaluator,
    spec: AnomalyRuleSpec,
    status: AnomalyRuleStatus,
    namespace: str,
    name: str,
    body: Any,
    labels: dict[str, str],
    now: datetime,
) -> str | None:
    """One evaluation: query, score, update ``status`` in place, emit events.

    Returns the reason of an Error (the Ready condition's), None otherwise.
    """
    status.evaluations = (status.evaluations or 0) + 1
    status.last_evaluation = now
    too_few = ""
    try:
        if spec.drift is not None:
            outcome = drift_outcome(clients.prometheus, spec, now)
            samples: list[tuple[dict[str, str], Any]] = list(outcome.samples)
            too_few = outcome.message(spec.drift)
        else:
            samples = current_samples(clients.prometheus, spec, now)
    except ProviderError as error:
        status.state, status.message = "Error", str(error)
        return "QueryFailed"
    except driftrule.NoProfile as error:
        status.state, status.message, status.series, status.firing_series = "Error", str(error), [], 0
        return "NoProfile"
    except driftrule.DriftSpecError as error:
        status.state, status.message, status.series, status.firing_series = "Error", str(error), [], 0
        return "FeatureNotInProfile"
    if not samples:
        status.message = too_few or f"the query returned no data (onNoData: {spec.on_no_data})"
        if spec.on_no_data == "Normal":
            status.state, status.series, status.firing_series = "Normal", [], 0
        elif spec.on_no_data == "NoData":
            for gone in evaluator.forget_missing(set()):
                key = f"{series_text(gone.labels)}/NoData/{status.firings or 0}"
                message = f"{series_text(gone.labels)} returned no data"
                post_event(clients.kube, body, "Normal", "AnomalyResolved", message, key, now)
            status.state, status.series, status.firing_series = "NoData", [], 0
        return None
    busy = target_busy(clients.kube, spec, namespace)
    results = evaluator.evaluate(now, samples, excluded=busy)
    evaluator.forget_missing({result.fingerprint for result in results})
    for result in results:
        if result.fired:
            status.firings = (status.firings or 0) + 1
        if result.fired or result.resolved:
            publish(result, spec, namespace, name, labels, body, clients.kube, status.firings or 0, now)
        operator_metrics.record_anomaly(
            namespace, name, result.fingerprint, result.score, result.expected, result.lower, result.upper
        )
        if spec.drift is not None:
            operator_metrics.record_drift(namespace, name, result.labels, spec.drift.method, result.value)
    apply_results(status, results, busy)
    if too_few:
        status.message = too_few
    return None


@dataclass(frozen=True)
class Clients:
    """The API and Prometheus clients a rule's daemon uses (from kopf's memo; tests pass their own)."""

    kube: Kube
    prometheus: PrometheusProvider


@dataclass
class RuleLoop:
    """What one rule's daemon keeps between evaluations: the fitted evaluator and when it was built."""

    namespace: str
    name: str
    clients: Clients
    evaluator: RuleEvaluator | None = None
    warm: WarmStart | None = None
    built_for: int = -1
    last_fit: datetime = field(default_factory=lambda: datetime.now(UTC))

    def _refit_due(self, spec: AnomalyRuleSpec, now: datetime) -> bool:
        """Every ``fitEvery``; sooner after a warm start that failed (Prometheus may be back)."""
        since = now - self.last_fit
        if self.warm is not None and self.warm.reason == "QueryFailed":
            return since >= timedelta(seconds=min(WARM_START_RETRY, seconds(spec.fit_every)))
        return since >= timedelta(seconds=seconds(spec.fit_every))

    def tick(self, body: kopf.Body, meta: kopf.Meta, logger: Any) -> float:
        """One evaluation (blocking: Prometheus and API calls); returns the rule's interval in seconds."""
        namespace, name = self.namespace, self.name
        now = datetime.now(UTC)
        generation = int(body.get("metadata", {}).get("generation", 0))
        current = parse_status(AnomalyRuleStatus, body.get("status"))
        status = current.model_copy(deep=True)
        status.observed_generation = generation
        try:
            spec = checked_spec(AnomalyRuleSpec, body)
        except InvalidSpec as error:
            refused = [condition("Ready", False, "InvalidSpec", str(error), now, generation)]
            status.conditions = keep_transition_times(refused, current.conditions)
            status.state, status.message = "Invalid", str(error)
            write_status(self.clients.kube, namespace, name, status, current, logger)
            return INVALID_SPEC_RETRY
        if self.evaluator is None or self.built_for != generation:
            self.evaluator = RuleEvaluator(namespace, name, spec)
            # A drift rule compares with the reference profile: it has no history to learn.
            self.warm = None if spec.drift else warm_start(self.clients.prometheus, self.evaluator, spec, now, logger)
            self.evaluator.restore([s for s in current.series or [] if s.state != "Normal"])
            self.built_for, self.last_fit = generation, now
            status.last_fit = now
        elif self._refit_due(spec, now) and spec.drift is None:
            refit = RuleEvaluator(namespace, name, spec)
            self.warm = warm_start(self.clients.prometheus, refit, spec, now, logger)
            refit.restore(status.series or [])
            self.evaluator, self.last_fit, status.last_fit = refit, now, now
        if spec.suspend:
            status.conditions = [
                condition("Ready", True, "Suspended", "evaluation suspended (spec.suspend)", now, generation)
            ]
        else:
            reason = evaluate_once(
                self.clients, self.evaluator, spec, status, namespace, name, body, dict(meta.get("labels") or {}), now
            )
            status.conditions = evaluated_conditions(
                status, current.conditions, now, generation, error_reason=reason or "QueryFailed"
            )
        status.conditions = with_warm_start(status.conditions, self.warm, current.conditions, now, generation)
        write_status(self.clients.kube, namespace, name, status, current, logger)
        if (status.firings, status.firing_series) != (current.firings, current.firing_series):
            # after the write: the playbook pass this wakes reads the transition from the rule's status
            WAKEUPS.ping(Ping("AnomalyRule", namespace, name, dict(meta.get("labels") or {})))
        return seconds(spec.interval)


@kopf.daemon(GROUP, VERSION, "anomalyrules", cancellation_timeout=10, backoff=5)  # not kopf's 60 s
async def run_rule(
    stopped: kopf.DaemonStopped,
    body: kopf.Body,
    meta: kopf.Meta,
    namespace: str | None,
    name: str,
    logger: kopf.Logger,
    memo: kopf.Memo,
    **_: Any,
) -> None:
    """Evaluate the rule until it is deleted or the operator stops; rebuild on every spec change.

    The daemon is async and borrows an executor thread only while it evaluates: a thousand rules
    must not hold a thousand threads (kopf runs sync daemons on its shared, bounded executor, so
    blocking daemons would starve every other handler). Evaluations keep a fixed rate: the next is
    due one interval after the previous was due, and how late each starts is exported.
    """
    assert namespace is not None  # AnomalyRule is namespaced
    loop = asyncio.get_running_loop()
    rule = RuleLoop(namespace, name, Clients(memo.kube, memo.prometheus))
    due = loop.time()
    while not stopped:
        started = loop.time()
        operator_metrics.record_rule_evaluation_start(max(0.0, started - due))
        # tick logs through kopf's per-object logger, which needs kopf's context variables: run it in a copy of ours.
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


def write_status(
    kube: Kube, namespace: str, name: str, status: AnomalyRuleStatus, current: AnomalyRuleStatus, logger: Any
) -> None:
    if status == current:
        return
    try:
        kube.patch(API_VERSION, "AnomalyRule", namespace, name, {"status": status_patch(status)}, sub="status")
    except ApiException as error:
        if error.status != 404:  # 404: the rule was deleted while we evaluated
            logger.warning("status update failed: %s %s", error.status, error.reason)

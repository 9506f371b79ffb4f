"""ModelDeployment controller: observe children, run due analysis, plan the rollout, apply, write status.

The logic lives in ``mlaiops.rollout`` (pure) and ``mlaiops.resources`` (pure builders);
this module only does the I/O around them, once per timer tick, level-triggered.
"""

from __future__ import annotations

import logging
import math
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import kopf
from kubernetes.client.exceptions import ApiException

from mlaiops import API_VERSION, GROUP, VERSION
from mlaiops.api.annotations import ROLLBACK_ANNOTATION
from mlaiops.api.modeldeployment import (
    ACCURACY_METRIC,
    RELATIVE_METRICS,
    ROC_AUC_METRIC,
    AnalysisMetric,
    ModelDeploymentSpec,
    ModelDeploymentStatus,
    unpinned_model,
)
from mlaiops.controllers import references, settings
from mlaiops.controllers.children import Children
from mlaiops.controllers.common import (
    DanglingReference,
    InvalidSpec,
    invalid_spec_status,
    parse_status,
    status_changed,
    status_patch,
)
from mlaiops.controllers.httproute import read_route, write_route
from mlaiops.controllers.problems import checked_spec
from mlaiops.kube import JSON, Kube
from mlaiops.metrics import operator as operator_metrics
from mlaiops.metrics.prometheus import PrometheusProvider, single_value
from mlaiops.metrics.provider import ProviderError, Sample
from mlaiops.resources import modelserver as ms
from mlaiops.rollout.accuracy import QUERY as ACCURACY_QUERY
from mlaiops.rollout.accuracy import judge_accuracy
from mlaiops.rollout.analysis import (
    MetricOutcome,
    QueryContext,
    TrackCounts,
    before_rollout_query,
    comparison_window,
    judge,
    judge_relative,
    query_window,
    relative_queries,
    render_query,
)
from mlaiops.rollout.canary import Observed, Plan, analysis_due, gateway_routing, plan_rollout, route_status
from mlaiops.rollout.rocauc import QUERY as ROC_AUC_QUERY
from mlaiops.rollout.rocauc import judge_roc_auc
from mlaiops.rollout.servers import ServerFailure, failures_of


def _ready(deployment: JSON | None) -> tuple[int, int]:
    """(ready replicas of the current template, desired replicas) of a Deployment, as the rollout sees them."""
    if deployment is None:
        return 0, 0
    desired = int(deployment["spec"].get("replicas", 1))
    status = deployment.get("status") or {}
    if status.get("observedGeneration", 0) < deployment["metadata"].get("generation", 0):
        return 0, desired
    return min(int(status.get("readyReplicas", 0)), int(status.get("updatedReplicas", 0))), desired


def _template_version(deployment: JSON | None) -> str | None:
    """The model version the Deployment's pod template runs (its version label)."""
    if deployment is None:
        return None
    template = (deployment.get("spec") or {}).get("template") or {}
    return ((template.get("metadata") or {}).get("labels") or {}).get(ms.VERSION_LABEL)


def observe(client: Kube, namespace: str, name: str, children: Children) -> Observed:
    """Both tracks from the watch cache; the model server pods only while a track is not Ready (their
    termination messages say why a model cannot load), so a healthy rollout costs no request."""
    stable_deployment = children.get("Deployment", namespace, ms.deployment_name(name, "stable"))
    stable_ready, stable = _ready(stable_deployment)
    canary_ready, canary = _ready(children.get("Deployment", namespace, ms.deployment_name(name, "canary")))
    failures: tuple[ServerFailure, ...] = ()
    if stable_ready < stable or canary_ready < canary:
        selector = ",".join(f"{key}={value}" for key, value in ms.selector(name).items())
        try:
            failures = failures_of(client.list("v1", "Pod", namespace, selector))
        except ApiException as error:  # the rollout goes on without them; the next pass reads them again
            logging.getLogger(__name__).warning("listing the model server pods of %s failed: %s", name, error.reason)
    return Observed(
        stable_ready=stable_ready,
        canary_ready=canary_ready,
        stable_replicas=stable,
        canary_replicas=canary,
        stable_version=_template_version(stable_deployment),
        failures=failures,
    )


def promoted_model(client: Kube, spec: ModelDeploymentSpec, namespace: str) -> dict[str, Any] | None:
    """The RetrainPolicy's promoted model, for specs with model.source."""
    if spec.model.source is None:
        return None
    policy = client.get(API_VERSION, "RetrainPolicy", namespace, spec.model.source.retrain_policy_ref.name)
    if policy is None:
        raise DanglingReference(
            f"spec.model.source.retrainPolicyRef.name: RetrainPolicy {spec.model.source.retrain_policy_ref.name!r} not found"
        )
    return (policy.get("status") or {}).get("promoted")


def _buckets(samples: list[Sample]) -> tuple[tuple[float, float], ...]:
    """(le, count) of a ``sum by (le)`` answer; NaN (no rate yet) counts as nothing."""
    return tuple((float(s.labels["le"]), 0.0 if math.isnan(s.value) else s.value) for s in samples if "le" in s.labels)


def track_counts(source: PrometheusProvider, metric: AnalysisMetric, context: QueryContext) -> TrackCounts:
    """One track's counts for a relative metric (raises ProviderError as the queries do)."""
    queries = relative_queries(metric, context)
    if "buckets" in queries:
        return TrackCounts(buckets=_buckets(source.instant_sync(queries["buckets"])))
    requests = single_value(source.instant_sync(queries["requests"])) or 0.0
    errors = single_value(source.instant_sync(queries["errors"])) or 0.0
    return TrackCounts(requests=requests, errors=errors)


def run_relative(
    source: PrometheusProvider,
    metric: AnalysisMetric,
    context: QueryContext,
    stable_version: str,
    window: str,
    started: datetime | None = None,
) -> MetricOutcome:
    """Compare both tracks over the same window (the rollout so far); provider errors become Error.

    latency-vs-stable also reads stable's histogram before ``started`` (its bounds' weights). An error there is an
    Error too, not equal weights: weights that changed between looks would no longer be fixed in advance."""
    canary = replace(context, interval=window)
    stable = replace(context, track="stable", version=stable_version, interval=window)
    try:
        before = None
        if started is not None and (query := before_rollout_query(metric, stable)):
            before = TrackCounts(buckets=_buckets(source.instant_sync(query, at=started)))
        canary_counts, stable_counts = track_counts(source, metric, canary), track_counts(source, metric, stable)
        return judge_relative(metric, canary_counts, stable_counts, before)
    except ProviderError as error:
        return judge(metric, None, str(error))


def run_roc_auc(source: PrometheusProvider, metric: AnalysisMetric, context: QueryContext) -> MetricOutcome:
    """model-roc-auc: the canary's score buckets by true class over the metric's interval, judged here (PromQL
    cannot compute an AUC); provider errors become Error."""
    try:
        samples = source.instant_sync(render_query(metric, context, ROC_AUC_QUERY))
    except ProviderError as error:
        return judge(metric, None, str(error))

    def of_class(positive: str) -> tuple[tuple[float, float], ...]:
        return _buckets([s for s in samples if s.labels.get("positive") == positive])

    return judge_roc_auc(metric, of_class("false"), of_class("true"))


def run_accuracy(source: PrometheusProvider, metric: AnalysisMetric, context: QueryContext) -> MetricOutcome:
    """model-accuracy: the canary's labelled and correct predictions over the metric's interval, in one query,
    judged here (minSampleSize needs the count a PromQL ratio hides); provider errors become Error."""
    try:
        samples = source.instant_sync(render_query(metric, context, ACCURACY_QUERY))
    except ProviderError as error:
        return judge(metric, None, str(error))
    counts = {s.labels.get("counter"): s.value for s in samples if not math.isnan(s.value)}
    return judge_accuracy(metric, counts.get("correct"), counts.get("labels"))


def run_analysis(
    source: PrometheusProvider,
    spec: ModelDeploymentSpec,
    status: ModelDeploymentStatus,
    namespace: str,
    name: str,
    now: datetime | None = None,
) -> list[MetricOutcome]:
    """Evaluate every analysis metric on the canary track; provider errors become Error outcomes."""
    canary = status.canary_model
    stable_version = status.stable_model.version if status.stable_model and status.stable_model.version else ""
    window = comparison_window(status.rollout_started_at, now or datetime.now(UTC))
    outcomes = []
    for metric in spec.analysis.metrics:
        context = QueryContext(
            name=name,
            namespace=namespace,
            model=spec.model.name or name,
            version=canary.version if canary and canary.version else "",
            track="canary",
            interval=query_window(spec.analysis, metric),
        )
        if metric.name in RELATIVE_METRICS:
            outcomes.append(run_relative(source, metric, context, stable_version, window, status.rollout_started_at))
            continue
        if metric.name == ROC_AUC_METRIC:
            outcomes.append(run_roc_auc(source, metric, context))
            continue
        if metric.name == ACCURACY_METRIC:
            outcomes.append(run_accuracy(source, metric, context))
            continue
        try:
            value = single_value(source.instant_sync(render_query(metric, context)))
        except ProviderError as error:
            outcomes.append(judge(metric, None, str(error)))
            continue
        outcomes.append(judge(metric, value))
    return outcomes


def apply_children(
    client: Kube,
    body: JSON,
    spec: ModelDeploymentSpec,
    plan: Plan,
    namespace: str,
    name: str,
    children: Children,
    keep_canary: bool = False,
) -> None:
    """Make the children match the plan: stable and canary Deployments, Services, HPA.

    Reads come from the watch cache; the API is only called for what differs. ``keep_canary``: the route
    still sends the canary traffic (its write failed), so its pods stay until the route lets go of them.
    """
    image = settings().image

    def apply(child: JSON) -> None:
        client.apply(child, owner=body, current=children.get(child["kind"], namespace, child["metadata"]["name"]))

    def delete(api_version: str, kind: str, child: str) -> None:
        if children.get(kind, namespace, child) is not None:
            client.delete(api_version, kind, namespace, child)

    if plan.stable is not None:
        stable = ms.model_server_deployment(name, namespace, spec, plan.stable, "stable", plan.stable_replicas, image)
        if spec.autoscaling is not None and plan.canary is None:
            del stable["spec"]["replicas"]  # the HPA owns replicas outside a canary
        apply(stable)
    if plan.canary is not None:
        apply(ms.model_server_deployment(name, namespace, spec, plan.canary, "canary", plan.canary_replicas, image))
    elif not keep_canary:
        delete("apps/v1", "Deployment", ms.deployment_name(name, "canary"))
    port = spec.runtime.port
    for track in (None, "stable", "canary"):
        apply(ms.service(name, namespace, port, track))
    hpa = ms.horizontal_pod_autoscaler(name, namespace, spec)
    if hpa is not None:
        apply(hpa)
    else:
        delete("autoscaling/v2", "HorizontalPodAutoscaler", name)


@kopf.timer(GROUP, VERSION, "modeldeployments", interval=settings().reconcile_interval, initial_delay=0.1, backoff=5)
def reconcile(
    body: kopf.Body,
    spec: kopf.Spec,
    meta: kopf.Meta,
    namespace: str | None,
    name: str,
    patch: kopf.Patch,
    logger: kopf.Logger,
    memo: kopf.Memo,
    **kwargs: Any,
) -> None:
    """One level-triggered pass over a ModelDeployment (clients from kopf's memo, children from its indexes)."""
    assert namespace is not None  # a namespaced kind
    client: Kube = memo.kube
    children = Children.from_kwargs(kwargs)
    now = datetime.now(UTC)
    generation = int(meta.get("generation", 0))
    try:
        parsed = checked_spec(ModelDeploymentSpec, body)
        if settings().require_sha256 and (unpinned := unpinned_model(parsed)) is not None:
            raise InvalidSpec(unpinned)
        if dangling := references.check(client, parsed, namespace):
            raise DanglingReference(references.message(dangling))
        desired = ms.ResolvedModel.from_spec(parsed, promoted_model(client, parsed, namespace))
    except InvalidSpec as error:
        patch.status.update(invalid_spec_status(error, generation, now.isoformat(), current=body.get("status")))
        logger.warning("invalid spec: %s", error)
        return
    # The server's copy, read now: kopf's cached body may lag behind the status the previous pass wrote
    # (a dropped watch, a conflict on kopf's own patch), and a pass planned on it could stall or repeat.
    live = client.get(API_VERSION, "ModelDeployment", namespace, name)
    if live is None:
        return  # deleted meanwhile
    server_status = live.get("status") or {}
    previous = parse_status(ModelDeploymentStatus, server_status)
    due = analysis_due(parsed, previous, now)
    route_seen, route = read_route(client, parsed, namespace, name) if gateway_routing(parsed) else (None, None)
    outcomes = run_analysis(memo.prometheus, parsed, previous, namespace, name, now) if due else None
    plan = plan_rollout(
        parsed,
        previous,
        desired,
        replace(observe(client, namespace, name, children), route=route_seen),
        now,
        generation,
        outcomes,
        ((live.get("metadata") or {}).get("annotations") or {}).get(ROLLBACK_ANNOTATION),
    )
    keep_canary = False
    if plan.route is not None and route is not None and route_seen is not None:
        # Before the children: traffic leaves a canary before its pods go, and reaches only pods already Ready.
        written = write_route(client, route, name, namespace, plan.route, route_seen)
        route_status(parsed, plan.status, written, now, generation)
        keep_canary = written.problem is not None and (written.canary_weight > 0 or bool(written.rules))
    apply_children(client, dict(body), parsed, plan, namespace, name, children, keep_canary)
    plan.status.selector = ms.selector_string(name)
    plan.status.endpoint = ms.endpoint(name, namespace)
    references.mark(plan.status, [], live, now)
    new_status = status_patch(plan.status)
    if status_changed(new_status, server_status):
        client.patch(API_VERSION, "ModelDeployment", namespace, name, {"status": new_status}, sub="status")
        operator_metrics.record_rollouts(namespace, name, previous, plan.status)
    for event in plan.events:
        kopf.event(body, type=event.type, reason=event.reason, message=event.message)
        operator_metrics.record_rollout_event(namespace, name, event.reason)
        logger.info("%s: %s", event.reason, event.message)

"""ModelDeployment: a model server rolled out progressively, analysed on Prometheus, rolled back on its own.

Vocabulary from KServe (``model.format``, ``model.storageUri``, ``runtime``) and from
Flagger / Argo Rollouts (``rollout.canary.steps[].weight/pause``, ``analysis.interval``,
``metrics[].query``, ``thresholdRange``, ``failureLimit``, ``consecutiveErrorLimit``).
"""

from __future__ import annotations

import itertools
from datetime import datetime
from typing import Literal

from pydantic import ConfigDict, Field, model_validator
from pydantic.alias_generators import to_camel

from mlaiops.api.common import (
    ApiModel,
    Conditions,
    Duration,
    IntOrPercent,
    LocalObjectReference,
    Quantity,
    nested,
    rule,
    seconds,
    validations,
)

STORAGE_URI_PATTERN = r"^(file|https?|pvc|s3)://.+$"
MODEL_URI_PATTERN = r"^((file|https?|s3)://.+|pvc://[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?(/.*)?)$"
"""STORAGE_URI_PATTERN, with the claim of a pvc:// URI a valid PersistentVolumeClaim name (DNS-1123 label)."""
SHA256_PATTERN = r"^[a-f0-9]{64}$"
VERSION_PATTERN = r"^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$"

RELATIVE_METRICS = ("error-rate-vs-stable", "latency-vs-stable", "accuracy-vs-stable")
"""Built-in metrics that compare the canary with stable over the same window by a statistical test."""
RELATIVE_LISTED = ", ".join(RELATIVE_METRICS[:-1]) + " and " + RELATIVE_METRICS[-1]
"""The relative metrics as a sentence names them, for messages."""
ACCURACY_METRIC = "model-accuracy"
"""The canary's share of correct labelled predictions: a thresholdRange and a minSampleSize."""
ROC_AUC_METRIC = "model-roc-auc"
"""The canary's ROC AUC from the binned scores of its labelled predictions: a thresholdRange and a minSampleSize."""
LABEL_METRICS = (ACCURACY_METRIC, ROC_AUC_METRIC)
"""Absolute built-in metrics on the canary's labelled predictions: judged only from minSampleSize labels on."""
BUILTIN_METRICS = ("request-success-rate", "request-duration", *LABEL_METRICS, *RELATIVE_METRICS)
"""Analysis metrics that need no query: the built-in model server exports what they measure."""


ROUTING_GUIDE = """
### Traffic routing of a canary

| | Replica ratio (default) | Gateway API weights | Header and mirror routes |
|---|---|---|---|
| Set with | nothing (`status.trafficRouting: ReplicaRatio`) | `rollout.trafficRouting.gatewayAPI.httpRoute` (`GatewayAPI`) | `steps[].setHeaderRoute` / `steps[].setMirrorRoute`, with `gatewayAPI` |
| Who splits | the shared Service `<name>`, over both tracks' pods | your HTTPRoute: the operator writes the weights of its rule's backendRefs `<name>-stable` / `<name>-canary` | the same HTTPRoute: rules named `mlaiops-<name>`, prepended |
| Precision | one replica: 4 replicas give 25/50/75% | exact, 1% steps at any replica count (stable keeps every replica, the canary ceil(replicas * weight / 100), at least 1) | requests carrying the headers: 100% to the canary; mirror: a percentage copied to the canary, clients only see stable's answers |
| `status` | `canaryWeight`: the replica ratio reached | `canaryWeight` and `route`: the weights on the route, set only once written | `route.managedRules` |
| Ends | promotion moves every replica | promotion or rollback writes stable 100, canary 0 | promotion or rollback removes every managed rule |

A step starts (its pause and analysis) only once its pods are Ready and the route shows its weights; traffic
never reaches pods that are not serving. A route that is missing, names neither Service, refers to a Service
in another namespace without a ReferenceGrant, attaches to a missing Gateway, is driven by another
ModelDeployment (`mlaiops.dev/managed-by`) or refuses the write (409, 422, 403) holds the rollout with
`TrafficRouted=False` and `Progressing` naming the route and the reason; nothing is half-written (one patch,
guarded by resourceVersion) and stable keeps its traffic.
"""
"""How the three routing modes compare (rendered in docs/api.md)."""


class ModelSource(ApiModel):
    """Where the model comes from when it is not a fixed URI."""

    retrain_policy_ref: LocalObjectReference
    """Serve the model that this RetrainPolicy promoted (from its status)."""


class ModelSpec(ApiModel):
    """The model to serve."""

    model_config = ConfigDict(
        json_schema_extra=validations(
            rule("has(self.storageUri) != has(self.source)", "set exactly one of storageUri and source"),
            rule(
                "!has(self.source) || !has(self.sha256)",
                "sha256 comes from the RetrainPolicy when source is set; remove it",
                field_path=".sha256",
            ),
        )
    )

    format: Literal["sklearn", "skops", "xgboost", "lightgbm", "onnx", "custom"] = "sklearn"
    """Serialisation format; the built-in server loads sklearn (joblib or pickle) and skops. Like KServe's
    modelFormat. A joblib or pickle file runs arbitrary code when loaded: whoever can write the artifact
    (bucket, claim, URL) owns the server, so pin it with sha256. skops files are loaded without running
    code, and only with the types of scikit-learn's estimators."""
    storage_uri: str | None = Field(default=None, pattern=MODEL_URI_PATTERN, max_length=2048)
    """file://, http(s)://, pvc://<claim>/<path> or s3:// location of the model artifact. file:// paths must be
    under the server's file root (/models); http(s) redirects are followed on the same host only."""
    sha256: str | None = Field(default=None, pattern=SHA256_PATTERN)
    """Expected sha256 of the artifact; the server refuses to become ready on a mismatch. Required when the
    operator runs with MLAIOPS_REQUIRE_SHA256=true (strongly advised for joblib/pickle models)."""
    version: str | None = Field(default=None, pattern=VERSION_PATTERN)
    """Version label exported with every metric; defaults to a short hash of the URI."""
    name: str | None = Field(default=None, pattern=VERSION_PATTERN)
    """Model name in the inference protocol; defaults to the ModelDeployment's name."""
    source: ModelSource | None = None
    """Take the model from a RetrainPolicy instead of storageUri."""

    @model_validator(mode="after")
    def _one_source(self) -> ModelSpec:
        if (self.storage_uri is None) == (self.source is None):
            raise ValueError("set exactly one of storageUri and source")
        if self.source is not None and self.sha256 is not None:
            raise ValueError("sha256 comes from the RetrainPolicy when source is set; remove it")
        return self


class ResourceRequirements(ApiModel):
    """CPU and memory for each model server container."""

    requests: dict[str, Quantity] | None = None
    """Minimum resources, e.g. {cpu: 250m, memory: 256Mi}."""
    limits: dict[str, Quantity] | None = None
    """Maximum resources."""


class EnvVar(ApiModel):
    """An environment variable with a literal value."""

    name: str = Field(pattern=r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")
    """Variable name."""
    value: str = ""
    """Variable value."""


class BatcherSpec(ApiModel):
    """Adaptive batching in the built-in server: concurrent requests share one model call, which pays a
    model's fixed cost per call once for all of them (KServe's ``batcher``; MLServer's ``max_batch_size`` and
    ``max_batch_time``). Each request still gets its own answer and prediction id; a batch the model refuses
    is run again request by request, so one client's bad input never fails another's request."""

    max_batch_size: int = Field(default=32, ge=2, le=10000)
    """Most rows in one model call. The server also lets this many requests in at once (at least its
    MLAIOPS_MAX_CONCURRENT_REQUESTS), since a batch only holds requests that are in."""
    max_latency: Duration = "5ms"
    """Most time a request waits for others to share its call (at most 1s): the latency batching may add
    when traffic is light."""

    @model_validator(mode="after")
    def _latency_bounded(self) -> BatcherSpec:
        if seconds(self.max_latency) > 1:
            raise ValueError(f"maxLatency {self.max_latency} is longer than 1s: a request would wait that long alone")
        return self


class RuntimeSpec(ApiModel):
    """The container that serves the model: the built-in server unless ``image`` is set."""

    model_config = ConfigDict(
        json_schema_extra=validations(
            rule(
                "!has(self.batcher) || !has(self.image)",
                "batcher configures the built-in server: a custom image batches (or not) on its own terms",
            )
        )
    )

    image: str | None = Field(default=None, min_length=1)
    """A custom model server image (MLServer, Triton, TorchServe, ...). Empty: the built-in server."""
    args: list[str] | None = None
    """Arguments for a custom image."""
    env: list[EnvVar] | None = None
    """Extra environment variables; for the built-in server's request limits, MLAIOPS_MAX_REQUEST_BYTES (default
    8 MiB), MLAIOPS_MAX_ROWS (10000), MLAIOPS_MAX_CONCURRENT_REQUESTS (4) and MLAIOPS_BODY_TIMEOUT (30 s)."""
    port: int = Field(default=8080, ge=1, le=65535)
    """HTTP port the server listens on."""
    readiness_path: str = Field(default="/v2/health/ready", pattern=r"^/")
    """HTTP path that answers 200 when the model is loaded."""
    metrics_port: int | None = Field(default=None, ge=1, le=65535)
    """Port of the Prometheus metrics endpoint; defaults to ``port``."""
    metrics_path: str = Field(default="/metrics", pattern=r"^/")
    """Path of the Prometheus metrics endpoint."""
    resources: ResourceRequirements = nested(ResourceRequirements)
    """Resource requests and limits of the server container."""
    batcher: BatcherSpec | None = None
    """Adaptive batching of the built-in server (off when absent); refused with ``image``."""

    @model_validator(mode="after")
    def _batcher_is_built_in(self) -> RuntimeSpec:
        if self.batcher is not None and self.image is not None:
            raise ValueError("batcher configures the built-in server: a custom image batches (or not) on its own terms")
        return self


ROUTE_NAME_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
HEADER_NAME_PATTERN = r"^[A-Za-z0-9!#$%&'*+\-.^_`|~]+$"


class HeaderValue(ApiModel):
    """How a header's value must match: exactly one of exact, prefix and regex (as in Argo Rollouts)."""

    model_config = ConfigDict(
        json_schema_extra=validations(
            rule(
                "[has(self.exact), has(self.prefix), has(self.regex)].filter(x, x).size() == 1",
                "set exactly one of exact, prefix and regex",
            )
        )
    )

    exact: str | None = Field(default=None, min_length=1, max_length=4096)
    """The value must equal this."""
    prefix: str | None = Field(default=None, min_length=1, max_length=4000)
    """The value must start with this (written to the route as a RegularExpression match)."""
    regex: str | None = Field(default=None, min_length=1, max_length=4096)
    """The value must match this regular expression (the Gateway's dialect: RegularExpression support is
    implementation-specific)."""

    @model_validator(mode="after")
    def _one(self) -> HeaderValue:
        if sum(v is not None for v in (self.exact, self.prefix, self.regex)) != 1:
            raise ValueError("set exactly one of exact, prefix and regex")
        return self


class HeaderMatch(ApiModel):
    """One request header a routed request must carry."""

    header_name: str = Field(min_length=1, max_length=256, pattern=HEADER_NAME_PATTERN)
    """Header name (matched case-insensitively by the Gateway)."""
    header_value: HeaderValue
    """How its value must match."""


class SetHeaderRoute(ApiModel):
    """Send every request that carries the headers to the canary (an A/B test by tenant or test client)."""

    name: str = Field(min_length=1, max_length=40, pattern=ROUTE_NAME_PATTERN)
    """Name of the managed route rule (written as rule name ``mlaiops-<name>``); unique among the steps."""
    match: list[HeaderMatch] = Field(min_length=1, max_length=16)
    """Headers a request must all carry to go to the canary."""


class SetMirrorRoute(ApiModel):
    """Copy a percentage of requests to the canary; its answers are dropped, clients only see stable's."""

    name: str = Field(min_length=1, max_length=40, pattern=ROUTE_NAME_PATTERN)
    """Name of the managed route rule (written as rule name ``mlaiops-<name>``); unique among the steps."""
    percentage: int = Field(default=100, ge=1, le=100)
    """Percentage of the matching requests copied to the canary."""
    match: list[HeaderMatch] | None = Field(default=None, min_length=1, max_length=16)
    """Mirror only requests that carry these headers; all requests of the driven rule when left out."""


class CanaryStep(ApiModel):
    """One step of a canary: exactly one of ``weight``, ``setHeaderRoute`` and ``setMirrorRoute``, then ``pause``.

    A header or mirror step keeps the weight of the weight step before it (0 before the first) and needs
    ``rollout.trafficRouting.gatewayAPI``. Header and mirror rules stay on the route from their step until the
    rollout ends (promotion or rollback removes them).
    """

    model_config = ConfigDict(
        json_schema_extra=validations(
            rule(
                "[has(self.weight), has(self.setHeaderRoute), has(self.setMirrorRoute)].filter(x, x).size() == 1",
                "set exactly one of weight, setHeaderRoute and setMirrorRoute",
            )
        )
    )

    weight: int | None = Field(default=None, ge=1, le=100)
    """Percentage of traffic on the canary during this step: by replica ratio behind the shared Service, or
    exactly (1% granularity) on the HTTPRoute with trafficRouting.gatewayAPI."""
    set_header_route: SetHeaderRoute | None = None
    """Route requests with these headers to the canary, 100% (Gateway API routing only)."""
    set_mirror_route: SetMirrorRoute | None = None
    """Mirror a percentage of requests to the canary (Gateway API routing only)."""
    pause: Duration = "1m"
    """How long to hold this step while the analysis runs before moving on."""

    @model_validator(mode="after")
    def _one_action(self) -> CanaryStep:
        given = [v is not None for v in (self.weight, self.set_header_route, self.set_mirror_route)]
        if sum(given) != 1:
            raise ValueError("set exactly one of weight, setHeaderRoute and setMirrorRoute")
        return self


def step_weight(steps: list[CanaryStep], index: int) -> int:
    """The canary's traffic weight at step ``index``: the last weight step at or before it (0 before any)."""
    for step in reversed(steps[: index + 1]):
        if step.weight is not None:
            return step.weight
    return 0


def route_name(step: CanaryStep) -> str | None:
    """The managed rule name a header or mirror step sets, None for a weight step."""
    action = step.set_header_route or step.set_mirror_route
    return action.name if action is not None else None


def _default_steps() -> list[CanaryStep]:
    return [CanaryStep(weight=25, pause="1m"), CanaryStep(weight=50, pause="1m")]


class CanaryStrategy(ApiModel):
    """Progressive delivery: canary next to stable, gated by analysis."""

    steps: list[CanaryStep] = Field(
        default_factory=_default_steps,
        min_length=1,
        max_length=20,
        json_schema_extra={
            "default": [{"weight": 25, "pause": "1m"}, {"weight": 50, "pause": "1m"}],
            **validations(
                rule(
                    "self.filter(s, has(s.weight)).map(s, s.weight).isSorted() && "
                    "self.filter(s, has(s.weight)).all(s, self.exists_one(t, has(t.weight) && t.weight == s.weight))",
                    "weights must strictly increase from step to step",
                    message_expression="'weights must strictly increase from step to step, got ' + "
                    "self.filter(s, has(s.weight)).map(s, string(s.weight)).join(', ')",
                ),
                rule(
                    "self.filter(s, has(s.setHeaderRoute)).all(s, self.exists_one(t, has(t.setHeaderRoute) && "
                    "t.setHeaderRoute.name == s.setHeaderRoute.name) && !self.exists(t, has(t.setMirrorRoute) && "
                    "t.setMirrorRoute.name == s.setHeaderRoute.name)) && self.filter(s, has(s.setMirrorRoute)).all(s, "
                    "self.exists_one(t, has(t.setMirrorRoute) && t.setMirrorRoute.name == s.setMirrorRoute.name))",
                    "setHeaderRoute and setMirrorRoute names must be unique among the steps",
                ),
            ),
        },
    )
    """Traffic steps; weights must strictly increase. After the last step the canary is promoted."""

    @model_validator(mode="after")
    def _increasing(self) -> CanaryStrategy:
        weighted = [(index, step.weight) for index, step in enumerate(self.steps) if step.weight is not None]
        for (before, low), (index, high) in itertools.pairwise(weighted):
            if high <= low:
                raise ValueError(f"steps[{index}].weight ({high}) must be greater than steps[{before}].weight ({low})")
        names = [name for step in self.steps if (name := route_name(step)) is not None]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(
                f"setHeaderRoute and setMirrorRoute names must be unique among the steps: {', '.join(duplicates)}"
            )
        return self


class RollingUpdateStrategy(ApiModel):
    """The Deployment's own rolling update, without analysis."""

    max_surge: IntOrPercent = "25%"
    """Pods above the desired count during the update."""
    max_unavailable: IntOrPercent = 0
    """Pods that may be unavailable during the update."""


class GatewayAPIRouting(ApiModel):
    """Split traffic on a Gateway API HTTPRoute (like Argo Rollouts' Gateway API plugin and Flagger)."""

    http_route: str = Field(
        min_length=1, max_length=253, pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
    )
    """Name of an HTTPRoute in the ModelDeployment's namespace with a rule whose backendRefs are the Services
    ``<name>-stable`` and ``<name>-canary``. The operator writes only those two backendRefs' weights and its own
    rules (named ``mlaiops-*``); every other field stays as you or your GitOps tool wrote it. It records itself
    in the route's ``mlaiops.dev/managed-by`` annotation, and refuses a route another ModelDeployment drives (remove
    the annotation to hand the route over)."""


class TrafficRouting(ApiModel):
    """How canary traffic is split; without it, by replica ratio behind the shared Service."""

    gateway_api: GatewayAPIRouting = Field(alias="gatewayAPI")
    """Exact weights, header routes and mirroring on a Gateway API HTTPRoute."""


class RolloutSpec(ApiModel):
    """How a new model version reaches production."""

    model_config = ConfigDict(
        json_schema_extra=validations(
            rule(
                "has(self.trafficRouting) || !has(self.canary) || "
                "!self.canary.steps.exists(s, has(s.setHeaderRoute) || has(s.setMirrorRoute))",
                "setHeaderRoute and setMirrorRoute steps need trafficRouting.gatewayAPI",
                field_path=".trafficRouting",
            )
        )
    )

    strategy: Literal["Canary", "RollingUpdate"] = "Canary"
    """Canary (analysed, with automatic rollback) or RollingUpdate (the Deployment's own)."""
    canary: CanaryStrategy = nested(CanaryStrategy)
    """Canary settings, used when strategy is Canary."""
    rolling_update: RollingUpdateStrategy = nested(RollingUpdateStrategy)
    """Rolling update settings, used for RollingUpdate and for replica changes."""
    traffic_routing: TrafficRouting | None = None
    """How the canary gets its traffic: left out, by replica ratio behind the shared Service (coarse: 3 replicas
    give 33% steps); gatewayAPI: exact weights on an HTTPRoute, plus header and mirror steps."""
    progress_deadline: Duration = "10m"
    """How long a canary may make no progress before it is rolled back (reason ProgressDeadlineExceeded): its pods
    not Ready this long after a step began, or a step not advanced this long after its pause ended (e.g. a metric
    inconclusive for want of data). Provider errors hold the rollout as Degraded instead, and a paused rollout's
    deadline starts again when it resumes, as in Argo Rollouts' progressDeadlineSeconds."""

    @model_validator(mode="after")
    def _routing(self) -> RolloutSpec:
        if self.traffic_routing is None:
            for index, step in enumerate(self.canary.steps):
                if step.set_header_route is not None or step.set_mirror_route is not None:
                    field = "setHeaderRoute" if step.set_header_route is not None else "setMirrorRoute"
                    raise ValueError(f"canary.steps[{index}].{field} needs trafficRouting.gatewayAPI (an HTTPRoute)")
        return self


class ThresholdRange(ApiModel):
    """The range a metric must stay within; either bound may be left out."""

    model_config = ConfigDict(
        json_schema_extra=validations(
            rule("has(self.min) || has(self.max)", "set min, max or both"),
            rule(
                "!has(self.min) || !has(self.max) || self.min <= self.max",
                "min must not exceed max",
                message_expression="'min (' + string(self.min) + ') must not exceed max (' + string(self.max) + ')'",
            ),
        )
    )

    min: float | None = None
    """Lowest acceptable value."""
    max: float | None = None
    """Highest acceptable value."""

    @model_validator(mode="after")
    def _ordered(self) -> ThresholdRange:
        if self.min is None and self.max is None:
            raise ValueError("set min, max or both")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min ({self.min}) must not exceed max ({self.max})")
        return self


class AnalysisMetric(ApiModel):
    """One PromQL check of the canary, like a Flagger metric or an Argo AnalysisTemplate metric."""

    model_config = ConfigDict(
        json_schema_extra=validations(
            rule(
                f"has(self.query) || self.name in {list(BUILTIN_METRICS)}",
                f"query is required unless name is one of {', '.join(BUILTIN_METRICS)}",
            ),
            rule(
                f"self.name in {list(RELATIVE_METRICS)} ? !has(self.query) && !has(self.thresholdRange) "
                f": self.name in {list(LABEL_METRICS)} ? has(self.thresholdRange) && !has(self.query) "
                "&& !has(self.alpha) : has(self.thresholdRange) && !has(self.minSampleSize) && !has(self.alpha)",
                f"{RELATIVE_LISTED} take minSampleSize and alpha (no query or thresholdRange); {ACCURACY_METRIC} "
                f"and {ROC_AUC_METRIC} need thresholdRange and take minSampleSize (no query or alpha); every other "
                "metric needs thresholdRange and takes no minSampleSize or alpha",
            ),
        )
    )

    name: str = Field(min_length=1, max_length=63, pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
    """Metric name; request-success-rate and request-duration are built in and need no query. So are the relative
    error-rate-vs-stable (a one-sided sequential test on two proportions: is the canary's share of 5xx answers
    higher than stable's? Its p-value is always valid, so alpha bounds false failures over the whole rollout) and
    latency-vs-stable (the same sequential test on the share of requests slower than each latency histogram
    bucket bound, the bounds' likelihood ratios averaged: is the canary slower, in its median or in its tail?
    Three quarters of the weight go to the bounds of stable's own p95 and p99 over the 10 minutes before the
    rollout began, where a slower tail shows, the rest evenly to the other bounds; each bound's ratio is averaged only
    over the ratios of the canary's share to stable's it can show (none above 1 over stable's share of requests
    slower than it then; a bound that can show none gets no weight); equal weights and every ratio when stable
    served nothing then. Fixed before the canary's first request, the weights leave
    alpha bounding its false failures over the whole rollout too; an error reading that window is an Error): each compares the two tracks over the same window, from the rollout's start to now,
    fails when the test's p-value is below alpha, passes otherwise, and is Inconclusive (never a pass) while
    either track has served fewer than minSampleSize requests; inconclusive past the step's pause for
    rollout.progressDeadline rolls the canary back. On ground-truth labels sent later to the model server
    (docs/feedback.md): model-accuracy (the share of the canary's labels joined in the interval that match the
    predicted class; no label at all is no data, which onNoData decides; Inconclusive, never a pass, while
    fewer than minSampleSize predictions were labelled), model-roc-auc (the canary's ROC AUC over the interval, from the
    binned positive-class scores of its labelled predictions by true class; Inconclusive, never a pass, while
    fewer than minSampleSize predictions were labelled or all of them are of one class) and the relative
    accuracy-vs-stable (error-rate-vs-stable's sequential test on misclassified labels, with minSampleSize
    counting labelled predictions). model-accuracy and model-roc-auc take no query."""
    query: str | None = Field(default=None, min_length=1, max_length=8192)
    """PromQL returning one number; {{name}}, {{namespace}}, {{version}}, {{track}} and {{interval}}
    are replaced before it runs."""
    threshold_range: ThresholdRange | None = None
    """The value must lie within this range for the check to pass (required, except for the relative metrics)."""
    interval: Duration | None = None
    """Overrides analysis.interval for this metric."""
    on_no_data: Literal["fail", "pass", "inconclusive"] = "inconclusive"
    """What an empty result means: fail, pass, or inconclusive (pause and say why in a condition). For
    model-accuracy, empty is no label joined in the interval (or a model that counts no correct labels: not a
    classifier); from one label to below minSampleSize it is Inconclusive whatever this says. Not used by the
    relative metrics and model-roc-auc: below minSampleSize they are always inconclusive."""
    min_sample_size: int | None = Field(default=None, ge=1, le=10_000_000)
    """Relative metrics, model-accuracy and model-roc-auc only: requests each track must have served in the window
    before the test may pass or fail (for accuracy-vs-stable labelled predictions of each track; for
    model-accuracy and model-roc-auc labelled predictions of the canary in the interval), default 50; below it
    the result is Inconclusive, never a pass (for model-accuracy, no label at all is no data: see onNoData).
    increase() extrapolates label counts over the interval, so they may be fractional: 49.6 is below 50."""
    alpha: float | None = Field(default=None, gt=0, lt=0.5)
    """Relative metrics only: a bound on the probability that a canary as good as stable ever fails the metric,
    over every evaluation of the rollout together (default 0.01; the tests are sequential). Each metric has its
    own: two of them at 0.01 fail an identical canary at most 2% of the time. benchmarks/canary_judge.py
    measures what they cost and catch."""
    dry_run: bool = False
    """Evaluate the metric and record its result in status.analysis (with dryRun: true), but never let it decide:
    its failures, errors and missing data neither roll back, hold nor gate a step (as in Argo Rollouts). For
    trying a new check on live rollouts before trusting it."""

    @model_validator(mode="after")
    def _query_or_builtin(self) -> AnalysisMetric:
        if self.query is None and self.name not in BUILTIN_METRICS:
            raise ValueError(f"query is required unless name is one of {', '.join(BUILTIN_METRICS)}")
        if self.name in RELATIVE_METRICS:
            given = [k for k in ("query", "threshold_range") if getattr(self, k) is not None]
            if given:
                fields = ", ".join(to_camel(k) for k in given)
                raise ValueError(
                    f"{self.name} is computed from both tracks: remove {fields} (it takes minSampleSize and alpha)"
                )
            return self
        if self.threshold_range is None:
            raise ValueError(f"thresholdRange is required (only {RELATIVE_LISTED} go without)")
        if self.name in LABEL_METRICS:
            given = [k for k in ("query", "alpha") if getattr(self, k) is not None]
            if given:
                fields = ", ".join(to_camel(k) for k in given)
                source = "the score buckets" if self.name == ROC_AUC_METRIC else "the label counters"
                raise ValueError(
                    f"{self.name} is computed from {source}: remove {fields} (it takes thresholdRange and minSampleSize)"
                )
            return self
        given = [k for k in ("min_sample_size", "alpha") if getattr(self, k) is not None]
        if given:
            fields = ", ".join(to_camel(k) for k in given)
            also = f" ({ACCURACY_METRIC} and {ROC_AUC_METRIC} take minSampleSize too)" if self.min_sample_size else ""
            raise ValueError(f"only {RELATIVE_LISTED} take {fields}{also}; remove it")
        return self


class AnalysisSpec(ApiModel):
    """Metric analysis of the canary at every step."""

    interval: Duration = "30s"
    """How often every metric is evaluated."""
    failure_limit: int = Field(default=1, ge=0, le=100)
    """Failed checks tolerated per metric; one more aborts the rollout and rolls back. The relative metrics
    (error-rate-vs-stable, latency-vs-stable, accuracy-vs-stable) roll back at their first failure whatever this
    says: their tests are sequential, so alpha already bounds their false failures over every evaluation, and
    waiting for a second failure would only delay the rollback (lower alpha to make them more lenient)."""
    consecutive_error_limit: int = Field(default=4, ge=0, le=100)
    """Consecutive provider errors (Prometheus unreachable, bad query) tolerated before Degraded."""
    metrics: list[AnalysisMetric] = Field(
        default_factory=list,
        max_length=20,
        json_schema_extra={
            "default": [],
            **validations(
                rule(
                    "self.all(m, self.exists_one(n, n.name == m.name))",
                    "metric names must be unique",
                    message_expression="'metric names must be unique: ' + "
                    "self.filter(m, !self.exists_one(n, n.name == m.name)).map(m, m.name).join(', ')",
                )
            ),
        },
    )
    """The checks; with none, steps advance on their pause alone."""

    @model_validator(mode="after")
    def _unique_names(self) -> AnalysisSpec:
        names = [metric.name for metric in self.metrics]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"metric names must be unique: {', '.join(duplicates)}")
        return self


class AutoscalingSpec(ApiModel):
    """A HorizontalPodAutoscaler for the stable track."""

    model_config = ConfigDict(
        json_schema_extra=validations(
            rule(
                "!has(self.minReplicas) || self.minReplicas <= self.maxReplicas",
                "minReplicas must not exceed maxReplicas",
                message_expression="'minReplicas (' + string(self.minReplicas) + ') must not exceed maxReplicas ('"
                " + string(self.maxReplicas) + ')'",
            )
        )
    )

    min_replicas: int = Field(default=1, ge=1, le=1000)
    """Lower bound of replicas."""
    max_replicas: int = Field(ge=1, le=1000)
    """Upper bound of replicas."""
    target_cpu_utilization: int = Field(default=80, ge=1, le=100)
    """Average CPU utilisation (percent of requests) the HPA aims for."""

    @model_validator(mode="after")
    def _bounds(self) -> AutoscalingSpec:
        if self.min_replicas > self.max_replicas:
            raise ValueError(f"minReplicas ({self.min_replicas}) must not exceed maxReplicas ({self.max_replicas})")
        return self


class ModelDeploymentSpec(ApiModel):
    """Desired state of a ModelDeployment."""

    model: ModelSpec
    """The model to serve."""
    runtime: RuntimeSpec = nested(RuntimeSpec)
    """The serving container."""
    replicas: int = Field(default=1, ge=0, le=1000)
    """Replicas of the stable track (ignored while autoscaling is set)."""
    autoscaling: AutoscalingSpec | None = None
    """Scale the stable track with an HPA instead of a fixed replica count."""
    rollout: RolloutSpec = nested(RolloutSpec)
    """How new versions are rolled out."""
    analysis: AnalysisSpec = nested(AnalysisSpec)
    """How canaries are judged."""
    paused: bool = False
    """Hold the rollout at its current step."""


# --- status ------------------------------------------------------------------------------------


class ModelRef(ApiModel):
    """A concrete model version."""

    version: str | None = None
    """Version label."""
    storage_uri: str | None = None
    """Artifact location."""
    sha256: str | None = None
    """Artifact hash."""


class RolloutRecord(ApiModel):
    """One finished rollout, newest first in status.history."""

    version: str | None = None
    """Version that was rolled out."""
    storage_uri: str | None = None
    """Its artifact."""
    outcome: Literal["Promoted", "RolledBack", "Aborted", "Failed"]
    """How it ended: Promoted once its pods were Ready; RolledBack (analysis, request, or a canary that
    cannot load); Aborted when the spec changed; Failed when the spec replaced a model whose server
    never loaded it (the reason is the server's, from its termination message)."""
    reason: str = ""
    """CamelCase reason."""
    message: str = ""
    """What happened, for people."""
    started_at: datetime | None = None
    """When the rollout began."""
    finished_at: datetime | None = None
    """When it ended."""


class MetricResult(ApiModel):
    """The latest evaluation of one analysis metric."""

    name: str
    """Metric name."""
    value: float | None = None
    """Last value (for error-rate-vs-stable, accuracy-vs-stable and latency-vs-stable the always-valid p-value);
    absent when there was no data, too few samples or an error."""
    phase: Literal["Successful", "Failed", "Error", "Inconclusive"]
    """Outcome of the last evaluation."""
    successes: int = 0
    """Passing evaluations in this rollout."""
    failures: int = 0
    """Failing evaluations in this rollout."""
    consecutive_errors: int = 0
    """Provider errors in a row."""
    step_successes: int = 0
    """Passing evaluations in the current step; a step advances only after one."""
    dry_run: bool = False
    """The metric is in dry run: recorded here, never deciding."""
    message: str = ""
    """Details, e.g. the provider error."""


class RouteStatus(ApiModel):
    """What the operator last wrote to its HTTPRoute (set only after the write succeeded)."""

    http_route: str
    """The HTTPRoute's name."""
    rule: str = ""
    """The driven rule: its name, or its index when it has none."""
    stable_weight: int | None = None
    """Weight of the stable backendRef on the route."""
    canary_weight: int | None = None
    """Weight of the canary backendRef on the route."""
    managed_rules: list[str] | None = None
    """The operator's header and mirror rules on the route (``mlaiops-<name>``)."""


class ModelDeploymentStatus(ApiModel):
    """Observed state of a ModelDeployment."""

    phase: Literal["Pending", "Progressing", "Ready", "Degraded", "RolledBack", "Failed", "Invalid"] | None = None
    """Short summary for printer columns."""
    observed_generation: int | None = None
    """The spec generation this status describes."""
    replicas: int | None = None
    """Pods of all tracks."""
    ready_replicas: int | None = None
    """Ready pods of all tracks."""
    ready: str | None = None
    """ready/desired, for kubectl."""
    selector: str | None = None
    """Label selector of the pods, for the scale subresource (HPA, kubectl scale)."""
    endpoint: str | None = None
    """In-cluster URL of the stable Service."""
    stable_model: ModelRef | None = None
    """The model serving production traffic."""
    canary_model: ModelRef | None = None
    """The model under analysis, if any."""
    failed_model: ModelRef | None = None
    """The last model that was rolled back; it is not retried until the spec names a new model."""
    current_step: int | None = None
    """Index of the canary step in progress."""
    canary_weight: int | None = None
    """Percentage of traffic on the canary: the replica ratio actually reached, or the weight written on the
    HTTPRoute (only once the write succeeded)."""
    traffic_routing: Literal["ReplicaRatio", "GatewayAPI"] | None = None
    """How traffic is split between stable and canary: ReplicaRatio (both tracks' pods behind the one Service, so
    the weight is a ratio of replicas; see canaryWeight) or GatewayAPI (the HTTPRoute in status.route)."""
    route: RouteStatus | None = None
    """With Gateway API routing: the HTTPRoute and rule the operator drives and what it last wrote there."""
    rollout_started_at: datetime | None = None
    """When the rollout in progress began."""
    step_started_at: datetime | None = None
    """When the current step's canary pods became ready (its pause counts from here)."""
    last_progress_at: datetime | None = None
    """When the canary last made progress (started, entered a step, its pods became Ready, or held paused);
    rollout.progressDeadline counts from here."""
    last_analysis_at: datetime | None = None
    """When the analysis last ran."""
    rollback_request: str | None = None
    """The last mlaiops.dev/rollback annotation value acted on, so each request runs once."""
    analysis: list[MetricResult] | None = None
    """Latest analysis results."""
    last_action: str | None = None
    """The last automated action, e.g. Promoted v7 or RolledBack v8."""
    history: list[RolloutRecord] | None = Field(default=None, max_length=20)
    """Finished rollouts, newest first (bounded)."""
    conditions: Conditions | None = None
    """Ready, Progressing, Degraded, RolledBack, ResolvedRefs, TrafficRouted (Gateway API routing: False with the
    route's problem, e.g. RouteNotFound, NoMatchingRule, RefNotPermitted, GatewayNotFound, RouteManagedElsewhere,
    RouteWriteFailed, while the rollout holds), and Stalled while the model cannot load (kstatus: absent
    otherwise). A model whose server cannot load it (missing file, sha256 mismatch, unloadable artifact,
    crash) gives Ready=False, Progressing=False, Degraded=True and Stalled=True with reason ModelLoadFailed
    (ServerStartFailed when the container cannot start at all, e.g. ErrImagePull) and the server's own
    reason from its pod's termination message, e.g. "stable model v1 cannot load: NotFound: model file
    /models/m.joblib does not exist (Error, exit code 3, 2 restarts, pod m-stable-...)"; phase Failed
    (Degraded while some replicas still serve). A canary that cannot load is rolled back at once."""


SHA256_REQUIRED = (
    "required: the operator runs with MLAIOPS_REQUIRE_SHA256=true, so every model is pinned by the sha256 "
    "of its artifact (a pickled model runs whoever wrote it)"
)


def unpinned_model(spec: ModelDeploymentSpec) -> str | None:
    """``spec.model.sha256: ...`` when the spec names an artifact without its sha256, else None.

    A model from a RetrainPolicy (``source``) is always pinned: the promotion records its sha256.
    """
    if spec.model.storage_uri is not None and spec.model.sha256 is None:
        return f"spec.model.sha256: {SHA256_REQUIRED}"
    return None

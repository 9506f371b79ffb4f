"""What the validating admission webhook checks, as pure functions: object in, one message per problem out.

The CRD schema already enforces types, patterns, enums and bounds. This module adds what a
structural schema cannot say, and says all of it at once:

- the pydantic model's own verdict (``api/errors.field_errors``), plus every cross-field rule of the
  models re-checked on the raw object, so a spec with three problems gets three messages rather than
  the first one pydantic stopped at;
- PromQL that does not parse (analysis metrics with their ``{{placeholders}}`` filled with dummy
  values, AnomalyRule queries, deletePod queries): a local bracket/quote check always, and
  Prometheus's own parser when a checker is given. An unreachable Prometheus never blocks anyone:
  the object is admitted with a warning (the controller reports a bad query as an Error later);
- cron expressions and IANA time zones (``retrain.schedule.validate``);
- things the controllers cannot act on: multivariate AnomalyRules (``spec.queries``), a rollback
  step on a target that is not a ModelDeployment, a playbook target in another namespace, names
  too long for the children the operator creates;
- duplicate names in lists keyed by name.

Every message is ``<field path>: <what is wrong>`` with the path starting at ``spec`` or ``metadata``.
An UPDATE that leaves ``spec`` unchanged is always allowed: metadata-only writes (labels, finalizers,
kopf's annotations, deletion) must never be blocked by a spec that predates a rule.
"""

from __future__ import annotations

import contextlib
import itertools
import re
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from mlaiops.admission.promql import PromqlChecker, PromqlUnavailable, local_error
from mlaiops.api import KINDS_BY_NAME
from mlaiops.api.anomalyrule import DETECTOR_PARAMS, DriftSpec
from mlaiops.api.common import DURATION_PATTERN, parse_duration
from mlaiops.api.errors import field_errors
from mlaiops.api.modeldeployment import BUILTIN_METRICS, SHA256_REQUIRED, AnalysisMetric, ThresholdRange
from mlaiops.api.retrainpolicy import CRON_PATTERN
from mlaiops.retrain.schedule import ScheduleError
from mlaiops.retrain.schedule import validate as validate_schedule
from mlaiops.rollout.analysis import QueryContext, render_query

Problem = tuple[str, str]

# Dummy values for analysis placeholders: only the syntax of the rendered query matters here.
DUMMY_CONTEXT = QueryContext(
    name="admission-check", namespace="default", model="admission-check", version="v1", track="canary", interval="30s"
)
# Children carry the label mlaiops.dev/owner=<Kind>.<name> (label values: at most 63 characters) and
# ModelDeployments get Services named <name>-stable / <name>-canary (DNS-1035 labels).
_OWNER_LABEL_MAX = 63
_DURATION = re.compile(DURATION_PATTERN)
_DNS1035 = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
_ACTION_SETTINGS = {
    "scale": "scale",
    "deletePod": "deletePod",
    "adjustResources": "adjustResources",
    "notify": "notify",
    "retrain": "retrain",
    "suspendRule": "suspendRule",
}


@dataclass
class Review:
    """The verdict on one object: it is admitted when ``errors`` is empty; warnings go back to the client."""

    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def allowed(self) -> bool:
        return not self.errors


# --- helpers on raw JSON ---------------------------------------------------------------------------


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def _integer(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return value


def _string(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _duplicates(items: list[Any], key: str, path: str) -> list[Problem]:
    """The second and later items whose ``key`` repeats an earlier one."""
    seen: dict[str, int] = {}
    problems = []
    for index, item in enumerate(items):
        value = _string(_dict(item).get(key))
        if value is None:
            continue
        if value in seen:
            problems.append((f"{path}[{index}].{key}", f"duplicate name {value!r} (also {path}[{seen[value]}].{key})"))
        else:
            seen[value] = index
    return problems


def _selector(selector: Any, path: str) -> list[Problem]:
    """Label selector rules the API server enforces for built-in kinds but a CRD schema cannot."""
    problems = []
    for index, requirement in enumerate(_list(_dict(selector).get("matchExpressions"))):
        requirement = _dict(requirement)
        operator, values = requirement.get("operator"), requirement.get("values")
        where = f"{path}.matchExpressions[{index}].values"
        if operator in ("In", "NotIn") and not values:
            problems.append((where, f"must be specified when operator is {operator}"))
        if operator in ("Exists", "DoesNotExist") and values:
            problems.append((where, f"must be empty when operator is {operator}"))
    return problems


# --- per kind ----------------------------------------------------------------------------------------


class _Checks:
    """Cross-field checks on one raw spec; PromQL queries are collected and checked at the end."""

    def __init__(self, spec: dict[str, Any], namespace: str | None, require_sha256: bool = False) -> None:
        self.spec = spec
        self.namespace = namespace
        self.require_sha256 = require_sha256
        self.problems: list[Problem] = []
        self.queries: list[tuple[str, str]] = []  # (path, PromQL)

    def add(self, path: str, message: str) -> None:
        self.problems.append((path, message))

    # AnomalyRule -----------------------------------------------------------------------------------

    def anomaly_rule(self) -> None:
        spec = self.spec
        detector = _dict(spec.get("detector"))
        data_range = _dict(detector.get("dataRange"))
        low, high = _number(data_range.get("min")), _number(data_range.get("max"))
        if low is not None and high is not None and low >= high:
            self.add("spec.detector.dataRange", f"min ({low}) must be less than max ({high})")
        kind = detector.get("type", "auto")
        if isinstance(kind, str) and kind in DETECTOR_PARAMS:
            for name in ("upper", "lower", "window", "season", "horizon", "contamination"):
                if detector.get(name) is not None and name not in DETECTOR_PARAMS[kind]:
                    self.add("spec.detector", f"{name} does not apply to detector type {kind}")
            if kind in ("threshold", "forecast") and detector.get("upper") is None and detector.get("lower") is None:
                self.add("spec.detector", f"detector type {kind} needs upper, lower or both")
        upper, lower = _number(detector.get("upper")), _number(detector.get("lower"))
        if upper is not None and lower is not None and lower >= upper:
            self.add("spec.detector", f"lower ({lower}) must be less than upper ({upper})")

        query, queries = spec.get("query"), spec.get("queries")
        if sum(x is not None for x in (query, queries, spec.get("drift"))) != 1:
            self.add("spec", "set exactly one of query, queries and drift")
        if queries is not None:
            # Which detector types take several inputs is the model's rule (it reports it itself).
            self.problems += _duplicates(_list(queries), "name", "spec.queries")
            for index, item in enumerate(_list(queries)):
                if (text := _string(_dict(item).get("query"))) is not None:
                    self.queries.append((f"spec.queries[{index}].query", text))
        if (text := _string(query)) is not None:
            self.queries.append(("spec.query", text))
        drift = spec.get("drift")
        if isinstance(drift, dict):
            # The selector's matchers are PromQL only Prometheus judges fully (a regex, say); a drift
            # section the model refuses is reported by the model, naming its field.
            with contextlib.suppress(ValueError):
                self.queries.append(("spec.drift.selector", DriftSpec.model_validate(drift).live_query()))

    # ModelDeployment -------------------------------------------------------------------------------

    def model_deployment(self) -> None:
        spec = self.spec
        model = _dict(spec.get("model"))
        if "model" in spec and isinstance(spec.get("model"), dict):
            if (model.get("storageUri") is None) == (model.get("source") is None):
                self.add("spec.model", "set exactly one of storageUri and source")
            if model.get("source") is not None and model.get("sha256") is not None:
                self.add("spec.model", "sha256 comes from the RetrainPolicy when source is set; remove it")
            if self.require_sha256 and model.get("storageUri") is not None and model.get("sha256") is None:
                self.add("spec.model.sha256", SHA256_REQUIRED)
        rollout = _dict(spec.get("rollout"))
        steps = _list(_dict(rollout.get("canary")).get("steps"))
        weighted = [(i, w) for i, step in enumerate(steps) if (w := _integer(_dict(step).get("weight"))) is not None]
        for (before, lower), (index, higher) in itertools.pairwise(weighted):
            if higher <= lower:
                self.add(
                    "spec.rollout.canary",
                    f"steps[{index}].weight ({higher}) must be greater than steps[{before}].weight ({lower})",
                )
        if rollout.get("trafficRouting") is None:  # header and mirror routes exist only on an HTTPRoute
            for index, step in enumerate(steps):
                for field in ("setHeaderRoute", "setMirrorRoute"):
                    if _dict(step).get(field) is not None:
                        self.add(
                            "spec.rollout",
                            f"canary.steps[{index}].{field} needs trafficRouting.gatewayAPI (an HTTPRoute)",
                        )
        autoscaling = spec.get("autoscaling")
        if isinstance(autoscaling, dict):
            low, high = _integer(autoscaling.get("minReplicas", 1)), _integer(autoscaling.get("maxReplicas"))
            if low is not None and high is not None and low > high:
                self.add("spec.autoscaling", f"minReplicas ({low}) must not exceed maxReplicas ({high})")
        self.problems += _duplicates(_list(_dict(spec.get("runtime")).get("env")), "name", "spec.runtime.env")

        analysis = _dict(spec.get("analysis"))
        metrics = _list(analysis.get("metrics"))
        names = [name for metric in metrics if (name := _string(_dict(metric).get("name"))) is not None]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            self.add("spec.analysis", f"metric names must be unique: {', '.join(duplicates)}")
        for index, metric in enumerate(metrics):
            metric = _dict(metric)
            path = f"spec.analysis.metrics[{index}]"
            bounds = metric.get("thresholdRange")
            if isinstance(bounds, dict):
                lowest, highest = _number(bounds.get("min")), _number(bounds.get("max"))
                if bounds.get("min") is None and bounds.get("max") is None:
                    self.add(f"{path}.thresholdRange", "set min, max or both")
                if lowest is not None and highest is not None and lowest > highest:
                    self.add(f"{path}.thresholdRange", f"min ({lowest}) must not exceed max ({highest})")
            name, query = metric.get("name"), metric.get("query")
            if query is None and isinstance(name, str) and name not in BUILTIN_METRICS:
                self.add(path, f"query is required unless name is one of {', '.join(BUILTIN_METRICS)}")
            if isinstance(query, str):
                try:
                    rendered = render_query(
                        AnalysisMetric.model_construct(
                            name=str(name), query=query, threshold_range=ThresholdRange.model_construct()
                        ),
                        DUMMY_CONTEXT,
                    )
                except KeyError as error:
                    self.add(f"{path}.query", str(error.args[0]))
                else:
                    self.queries.append((f"{path}.query", rendered))

    # RemediationPlaybook ---------------------------------------------------------------------------

    def remediation_playbook(self) -> None:
        spec = self.spec
        for index, trigger in enumerate(_list(spec.get("triggers"))):
            trigger = _dict(trigger)
            path = f"spec.triggers[{index}]"
            source = trigger.get("source", "AnomalyRule")
            if source == "AnomalyRule" and not trigger.get("rules") and trigger.get("selector") is None:
                self.add(path, "an AnomalyRule trigger needs rules, selector or both")
            if source == "Alertmanager" and (trigger.get("rules") or trigger.get("selector") is not None):
                self.add(path, "rules and selector apply only to source AnomalyRule; use matchers")
            self.problems += _duplicates(_list(trigger.get("rules")), "name", f"{path}.rules")
            self.problems += _selector(trigger.get("selector"), f"{path}.selector")

        target = spec.get("target")
        target_kind = _dict(target).get("kind", "ModelDeployment") if isinstance(target, dict) else None
        if isinstance(target, dict) and "namespace" in target:
            other = target.get("namespace")
            if other == self.namespace:
                self.add("spec.target.namespace", "unknown field: the target is always in the playbook's namespace")
            else:
                self.add(
                    "spec.target.namespace",
                    f"a playbook acts only in its own namespace ({self.namespace}); "
                    f"create the playbook in namespace {other} instead",
                )

        actions = _list(spec.get("actions"))
        for index, action in enumerate(actions):
            action = _dict(action)
            path = f"spec.actions[{index}]"
            kind = action.get("type")
            for name in _ACTION_SETTINGS:
                if action.get(name) is not None and name != kind:
                    self.add(path, f"{name} is set but type is {kind}")
            if kind in ("scale", "notify", "retrain") and action.get(kind) is None:
                self.add(path, f"type {kind} needs its settings in {kind}")
            if kind == "rollback" and target_kind is not None and target_kind != "ModelDeployment":
                self.add(
                    f"{path}.type",
                    f"rollback acts only on a ModelDeployment (it restores the last promoted model); "
                    f"spec.target.kind is {target_kind}",
                )
            scale = action.get("scale")
            if isinstance(scale, dict):
                given = [name for name in ("replicas", "delta", "factor") if scale.get(name) is not None]
                if len(given) != 1:
                    self.add(f"{path}.scale", "set exactly one of replicas, delta and factor")
                low, high = _integer(scale.get("min", 1)), _integer(scale.get("max", 10))
                if low is not None and high is not None and low > high:
                    self.add(f"{path}.scale", f"min ({low}) must not exceed max ({high})")
            delete_pod = _dict(action.get("deletePod"))
            if (pod_query := _string(delete_pod.get("query"))) is not None:
                self.queries.append((f"{path}.deletePod.query", pod_query))
            self.problems += _selector(delete_pod.get("selector"), f"{path}.deletePod.selector")
        action_names = [n for action in actions if (n := _string(_dict(action).get("name")))]
        duplicates = sorted({n for n in action_names if action_names.count(n) > 1})
        if duplicates:
            self.add("spec", f"action names must be unique: {', '.join(duplicates)}")

    # RetrainPolicy ---------------------------------------------------------------------------------

    def retrain_policy(self) -> None:
        spec = self.spec
        triggers = _dict(spec.get("triggers"))
        on_anomaly = triggers.get("onAnomaly")
        if isinstance(on_anomaly, dict):
            if not on_anomaly.get("rules") and on_anomaly.get("selector") is None:
                self.add("spec.triggers.onAnomaly", "set rules, selector or both")
            self.problems += _duplicates(_list(on_anomaly.get("rules")), "name", "spec.triggers.onAnomaly.rules")
            self.problems += _selector(on_anomaly.get("selector"), "spec.triggers.onAnomaly.selector")
        schedule = triggers.get("schedule")
        if isinstance(schedule, dict):
            zone = schedule.get("timeZone", "UTC")
            if isinstance(zone, str):
                try:
                    validate_schedule("* * * * *", zone)
                except ScheduleError as error:
                    self.add("spec.triggers.schedule.timeZone", str(error))
            cron = schedule.get("cron")
            # A cron the CRD pattern already refuses gets that message only.
            if isinstance(cron, str) and re.match(CRON_PATTERN, cron):
                try:
                    validate_schedule(cron, "UTC")
                except ScheduleError as error:
                    self.add("spec.triggers.schedule.cron", str(error))
                except Exception as error:  # croniter raises more than it documents
                    self.add("spec.triggers.schedule.cron", f"invalid cron expression {cron!r}: {error}")

        raw_fairness = _dict(spec.get("validation")).get("fairness")
        fairness = _dict(raw_fairness)
        if (
            isinstance(raw_fairness, dict)
            and fairness.get("maxDemographicParityDifference") is None
            and fairness.get("maxEqualOpportunityDifference") is None
        ):
            self.add(
                "spec.validation.fairness", "set maxDemographicParityDifference, maxEqualOpportunityDifference or both"
            )
        dataset = _dict(spec.get("dataset"))
        target = _string(dataset.get("target"))
        attribute = _string(fairness.get("sensitiveAttribute"))
        if target is not None and attribute == target:
            self.add("spec.validation.fairness.sensitiveAttribute", f"must not be the target column {target!r}")
        features = _list(dataset.get("features"))
        seen: dict[str, int] = {}
        for index, feature in enumerate(features):
            if not isinstance(feature, str):
                continue
            if feature == target:
                self.add(f"spec.dataset.features[{index}]", f"{feature!r} is the target column (spec.dataset.target)")
            elif feature in seen:
                self.add(f"spec.dataset.features[{index}]", f"duplicate column {feature!r}")
            seen.setdefault(feature, index)


def _overflowing_durations(node: Any, path: str) -> list[Problem]:
    """Durations too long for Python's timedelta (the models raise OverflowError on them, not a field error)."""
    if isinstance(node, dict):
        return [problem for key, value in node.items() for problem in _overflowing_durations(value, f"{path}.{key}")]
    if isinstance(node, list):
        return [problem for i, value in enumerate(node) for problem in _overflowing_durations(value, f"{path}[{i}]")]
    if isinstance(node, str) and _DURATION.match(node):
        try:
            parse_duration(node)
        except (OverflowError, ValueError):  # parse_duration reports an overflow as a ValueError
            return [(path, f"duration {node!r} is too long")]
    return []


def _metadata(kind: str, obj: dict[str, Any]) -> list[Problem]:
    name = _string(_dict(obj.get("metadata")).get("name"))
    if not name:
        return []  # the API server requires a name (or generates one) before admission
    problems = []
    longest = _OWNER_LABEL_MAX - len(kind) - 1
    if len(name) > longest:
        problems.append(
            (
                "metadata.name",
                f"must be at most {longest} characters: children carry the label mlaiops.dev/owner={kind}.<name>",
            )
        )
    if kind == "ModelDeployment" and not _DNS1035.match(name):
        problems.append(
            (
                "metadata.name",
                "must start with a letter and contain only lowercase letters, digits and '-': "
                "the operator creates Services named after it",
            )
        )
    return problems


_CHECKS = {
    "AnomalyRule": _Checks.anomaly_rule,
    "ModelDeployment": _Checks.model_deployment,
    "RemediationPlaybook": _Checks.remediation_playbook,
    "RetrainPolicy": _Checks.retrain_policy,
}


def review(
    kind: str,
    obj: Any,
    old: Any = None,
    namespace: str | None = None,
    promql: PromqlChecker | None = None,
    require_sha256: bool = False,
) -> Review:
    """Errors and warnings for ``obj`` (a whole object of ``kind``) on CREATE (``old`` None) or UPDATE.

    ``require_sha256``: the operator's MLAIOPS_REQUIRE_SHA256; ModelDeployments must pin their artifact.
    """
    if kind not in KINDS_BY_NAME:
        raise ValueError(f"not an mlaiops kind: {kind}")
    if not isinstance(obj, dict):
        return Review([f"metadata: the object must be a JSON object, not {type(obj).__name__}"])
    spec = obj.get("spec")
    if isinstance(old, dict) and old.get("spec") == spec:
        return Review()  # ratcheting: writes that leave the spec alone are never refused
    namespace = namespace or _string(_dict(obj.get("metadata")).get("namespace"))
    if not isinstance(spec, dict):
        return Review(["spec: required field is missing" if spec is None else "spec: must be an object"])

    problems: list[Problem] = _metadata(kind, obj)
    try:
        KINDS_BY_NAME[kind].spec.model_validate(spec)
    except ValidationError as error:
        problems += field_errors(error)
    except (OverflowError, ValueError, TypeError) as error:  # a model bug must not crash admission
        problems += _overflowing_durations(spec, "spec") or [("spec", f"cannot be parsed: {error}")]
    checks = _Checks(spec, namespace, require_sha256)
    if kind in _CHECKS:
        _CHECKS[kind](checks)
    if any(path == "spec.target.namespace" for path, _ in checks.problems):
        problems = [(path, message) for path, message in problems if path != "spec.target.namespace"]
    problems += checks.problems

    warnings: list[str] = []
    unavailable: str | None = None
    for path, query in checks.queries:
        if (message := local_error(query)) is not None:
            problems.append((path, f"invalid PromQL: {message}"))
            continue
        if promql is None or unavailable is not None:
            continue
        try:
            message = promql.check(query)
        except PromqlUnavailable as error:
            unavailable = str(error)
            continue
        if message is not None:
            problems.append((path, f"invalid PromQL: {message}"))
    if unavailable is not None:
        warnings.append(f"spec: PromQL was only checked for balanced brackets and quotes: {unavailable}")

    errors: list[str] = []
    for path, message in problems:
        line = f"{path}: {message}"
        if line not in errors:
            errors.append(line)
    return Review(errors, warnings)


def validate(
    kind: str,
    obj: Any,
    old: Any = None,
    namespace: str | None = None,
    promql: PromqlChecker | None = None,
    require_sha256: bool = False,
) -> list[str]:
    """One ``<field>: <problem>`` line per problem; empty when the object is admitted."""
    return review(kind, obj, old, namespace, promql, require_sha256).errors

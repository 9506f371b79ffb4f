"""The semantic mistakes of issue 19, refused by `kubectl apply` with no webhook: the CRDs' CEL rules.

Issue 19 found 13 of 33 invalid objects accepted without the validating webhook; those it named are
decreasing canary weights, `storageUri` together with `source`, an AnomalyRule with no query, a threshold
detector with no bounds, a scale action with no settings, min > max replicas, bad PromQL and an impossible
cron. Every cross-field rule of the webhook that a schema can state is now a CEL rule in crds/; each has
its invalid example below, applied with the real kubectl against the sandbox (which runs the rules like
kube-apiserver), refused with a message that names the field, and nothing stored. The same objects are
refused by the webhook too (the rules must keep its semantics). Bad PromQL and impossible crons cannot be
said in CEL: they pass the schema and stay the webhook's and the operator's job (last test).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from mlaiops.admission.validate import validate as webhook_validate

ROOT = Path(__file__).resolve().parents[3]
CRDS, EXAMPLES = ROOT / "crds", ROOT / "examples"
PLURALS = {
    "ModelDeployment": "modeldeployments",
    "AnomalyRule": "anomalyrules",
    "RemediationPlaybook": "remediationplaybooks",
    "RetrainPolicy": "retrainpolicies",
}


def _example(kind: str, name: str | None = None) -> dict[str, Any]:
    for path in sorted(EXAMPLES.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc and doc.get("kind") == kind and (name is None or doc["metadata"]["name"] == name):
                doc = copy.deepcopy(doc)
                doc["metadata"].pop("namespace", None)
                return doc
    raise LookupError(kind)


def _set(**values: Any) -> Callable[[dict[str, Any]], None]:
    return lambda spec: spec.update(values)


def _steps(spec: dict[str, Any]) -> None:
    spec["rollout"]["canary"]["steps"] = [{"weight": 50, "pause": "1m"}, {"weight": 25, "pause": "1m"}]


def _metric(index: int, **values: Any) -> Callable[[dict[str, Any]], None]:
    return lambda spec: spec["analysis"]["metrics"][index].update(values)


def _no_query(spec: dict[str, Any]) -> None:
    del spec["analysis"]["metrics"][1]["query"]


def _model(**values: Any) -> Callable[[dict[str, Any]], None]:
    return lambda spec: spec["model"].update(values)


def _detector(**values: Any) -> Callable[[dict[str, Any]], None]:
    return lambda spec: spec.__setitem__("detector", values)


def _drop(*path: str | int) -> Callable[[dict[str, Any]], None]:
    def edit(spec: dict[str, Any]) -> None:
        node: Any = spec
        for part in path[:-1]:
            node = node[part]
        del node[path[-1]]

    return edit


def _action(index: int, **values: Any) -> Callable[[dict[str, Any]], None]:
    return lambda spec: spec["actions"][index].update(values)


def _trigger(index: int, **values: Any) -> Callable[[dict[str, Any]], None]:
    return lambda spec: spec["triggers"][index].update(values)


def _multivariate(spec: dict[str, Any]) -> None:
    del spec["query"]
    spec["queries"] = [{"name": "a", "query": "up"}, {"name": "b", "query": "up"}]


def _both_queries(spec: dict[str, Any]) -> None:
    spec["queries"] = [{"name": "a", "query": "up"}, {"name": "b", "query": "up"}]
    spec["detector"] = {"type": "isolationForest"}


def _query_and_drift(spec: dict[str, Any]) -> None:
    spec["drift"] = {"model": "fraud"}


def _no_rules(spec: dict[str, Any]) -> None:
    spec["triggers"]["onAnomaly"] = {"consecutiveFirings": 2}


# (kind, example name, edit of its spec, field the refusal names, text of the message)
MISTAKES: list[tuple[str, str | None, Callable[[dict[str, Any]], None], str, str]] = [
    ("ModelDeployment", None, _steps, "spec.rollout.canary.steps", "weights must strictly increase from step to step, got 50, 25"),
    ("ModelDeployment", None, _model(storageUri="file:///models/m.joblib"), "spec.model", "set exactly one of storageUri and source"),
    ("ModelDeployment", None, _drop("model", "source"), "spec.model", "set exactly one of storageUri and source"),
    ("ModelDeployment", None, _model(sha256="a" * 64), "spec.model.sha256", "sha256 comes from the RetrainPolicy"),
    ("ModelDeployment", None, _set(autoscaling={"minReplicas": 5, "maxReplicas": 2}), "spec.autoscaling", "minReplicas (5) must not exceed maxReplicas (2)"),
    ("ModelDeployment", None, _metric(1, thresholdRange={}), "spec.analysis.metrics[1].thresholdRange", "set min, max or both"),
    ("ModelDeployment", None, _metric(1, thresholdRange={"min": 2, "max": 1}), "spec.analysis.metrics[1].thresholdRange", "min (2) must not exceed max (1)"),
    ("ModelDeployment", None, _no_query, "spec.analysis.metrics[1]", "query is required unless name is one of"),
    ("ModelDeployment", None, _metric(1, name="model-roc-auc"), "spec.analysis.metrics[1]", "model-accuracy and model-roc-auc need thresholdRange and take minSampleSize (no query or alpha)"),
    ("ModelDeployment", None, _metric(1, name="model-accuracy"), "spec.analysis.metrics[1]", "model-accuracy and model-roc-auc need thresholdRange and take minSampleSize (no query or alpha)"),
    ("ModelDeployment", None, _metric(0, name="model-accuracy", alpha=0.01), "spec.analysis.metrics[0]", "model-accuracy and model-roc-auc need thresholdRange and take minSampleSize (no query or alpha)"),
    ("ModelDeployment", None, _metric(0, minSampleSize=50), "spec.analysis.metrics[0]", "every other metric needs thresholdRange and takes no minSampleSize or alpha"),
    ("ModelDeployment", None, _metric(1, name="request-success-rate"), "spec.analysis.metrics", "metric names must be unique: request-success-rate"),
    ("AnomalyRule", None, _drop("query"), "spec", "set exactly one of query, queries and drift"),
    ("AnomalyRule", None, _both_queries, "spec", "set exactly one of query, queries and drift"),
    ("AnomalyRule", None, _query_and_drift, "spec", "set exactly one of query, queries and drift"),
    ("AnomalyRule", None, _multivariate, "spec", "queries (multivariate) needs detector.type isolationForest"),
    ("AnomalyRule", None, _detector(type="threshold"), "spec.detector", "detector type threshold needs upper, lower or both"),
    ("AnomalyRule", None, _detector(type="forecast", horizon="10m"), "spec.detector", "detector type forecast needs upper, lower or both"),
    ("AnomalyRule", None, _detector(type="mad", upper=3), "spec.detector.upper", "does not apply to detector type mad"),
    ("AnomalyRule", None, _detector(type="threshold", upper=1, season="1d"), "spec.detector.season", "does not apply to detector type threshold"),
    ("AnomalyRule", None, _detector(type="threshold", upper=1, lower=2), "spec.detector", "lower (2) must be less than upper (1)"),
    ("AnomalyRule", None, _detector(type="threshold", upper=1, sensitivity=2), "spec.detector.sensitivity", "not used by detector type threshold"),
    ("AnomalyRule", None, _detector(type="mad", dataRange={"min": 1, "max": 0}), "spec.detector.dataRange", "min (1) must be less than max (0)"),
    ("RemediationPlaybook", "fraud-latency", _drop("actions", 0, "scale"), "spec.actions[0]", "type scale needs its settings in scale"),
    ("RemediationPlaybook", "fraud-latency", _drop("actions", 2, "notify"), "spec.actions[2]", "type notify needs its settings in notify"),
    ("RemediationPlaybook", "fraud-latency", _action(0, scale={"delta": 1, "replicas": 3}), "spec.actions[0].scale", "set exactly one of replicas, delta and factor"),
    ("RemediationPlaybook", "fraud-latency", _action(0, scale={"delta": 1, "min": 9, "max": 8}), "spec.actions[0].scale", "min (9) must not exceed max (8)"),
    ("RemediationPlaybook", "fraud-latency", _action(1, scale={"delta": 1}), "spec.actions[1].scale", "scale is set but type is rollback"),
    ("RemediationPlaybook", "fraud-latency", _action(2, name="scale-out"), "spec.actions", "action names must be unique"),
    ("RemediationPlaybook", "fraud-latency", _set(target={"kind": "Deployment", "name": "web"}), "spec.actions", "rollback acts only on a ModelDeployment"),
    ("RemediationPlaybook", "fraud-latency", _drop("triggers", 0, "selector"), "spec.triggers[0]", "an AnomalyRule trigger needs rules, selector or both"),
    ("RemediationPlaybook", "fraud-latency", _trigger(1, rules=[{"name": "x"}]), "spec.triggers[1]", "rules and selector apply only to source AnomalyRule"),
    (
        "RemediationPlaybook",
        "fraud-latency",
        _trigger(0, selector={"matchExpressions": [{"key": "team", "operator": "In"}]}),
        "spec.triggers[0].selector.matchExpressions[0].values",
        "must be specified when operator is In",
    ),
    (
        "RemediationPlaybook",
        "fraud-latency",
        _trigger(0, selector={"matchExpressions": [{"key": "team", "operator": "Exists", "values": ["a"]}]}),
        "spec.triggers[0].selector.matchExpressions[0].values",
        "must be empty when operator is Exists",
    ),
    ("RetrainPolicy", None, _no_rules, "spec.triggers.onAnomaly", "set rules, selector or both"),
    ("RetrainPolicy", None, lambda spec: spec["validation"]["fairness"].pop("maxDemographicParityDifference"), "spec.validation.fairness", "set maxDemographicParityDifference, maxEqualOpportunityDifference or both"),
    ("RetrainPolicy", None, lambda spec: spec["validation"]["fairness"].update(sensitiveAttribute="is_fraud"), "spec.validation.fairness.sensitiveAttribute", "must not be the target column is_fraud"),
]  # fmt: skip
IDS = [f"{kind}:{field}:{text[:30]}" for kind, _, _, field, text in MISTAKES]


def _broken(kind: str, example: str | None, edit: Callable[[dict[str, Any]], None], index: int) -> dict[str, Any]:
    obj = _example(kind, example)
    edit(obj["spec"])
    obj["metadata"]["name"] = f"mistake-{index}"
    return obj


@pytest.fixture(scope="module")
def project_crds(kubectl) -> None:
    kubectl("apply", "-f", str(CRDS))
    names = [f"crd/{plural}.mlaiops.dev" for plural in PLURALS.values()]
    kubectl("wait", "--for=condition=Established", *names, "--timeout=20s")


@pytest.mark.parametrize(("kind", "example", "edit", "field", "text"), MISTAKES, ids=IDS)
def test_kubectl_apply_refuses_the_mistake_naming_the_field(
    project_crds: None, kubectl, namespace: str, tmp_path: Path, kind: str, example, edit, field: str, text: str
) -> None:
    obj = _broken(kind, example, edit, MISTAKES.index((kind, example, edit, field, text)))
    manifest = tmp_path / "obj.yaml"
    manifest.write_text(yaml.safe_dump(obj))
    result = kubectl("apply", "-n", namespace, "-f", str(manifest), check=False)
    assert result.returncode != 0, result.stdout
    assert f'The {kind} "{obj["metadata"]["name"]}" is invalid' in result.stderr, result.stderr
    assert f"{field}: Invalid value: " in result.stderr and text in result.stderr, result.stderr
    got = kubectl("get", PLURALS[kind], obj["metadata"]["name"], "-n", namespace, check=False)
    assert got.returncode != 0 and "NotFound" in got.stderr


@pytest.mark.parametrize(("kind", "example", "edit", "field", "text"), MISTAKES, ids=IDS)
def test_the_webhook_refuses_the_same_objects(kind: str, example, edit, field: str, text: str) -> None:
    """The rules say no more than the webhook: each object the CRD refuses, the webhook refuses too."""
    obj = _broken(kind, example, edit, 0)
    assert webhook_validate(kind, obj, namespace="default"), "the webhook admits what the CRD refuses"


def test_the_examples_pass_every_rule(project_crds: None, kubectl, namespace: str) -> None:
    """Server-side dry run of every example: the rules refuse nothing valid."""
    for kind in PLURALS:
        for path in sorted(EXAMPLES.glob("*.yaml")):
            for doc in yaml.safe_load_all(path.read_text()):
                if doc and doc.get("kind") == kind:
                    doc["metadata"].pop("namespace", None)
                    manifest = Path(kubectl.cache_dir) / f"{kind}-{doc['metadata']['name']}.yaml"
                    manifest.write_text(yaml.safe_dump(doc))
                    out = kubectl("apply", "--dry-run=server", "-n", namespace, "-f", str(manifest))
                    assert "(server dry run)" in out.stdout


def test_the_label_metrics_take_a_min_sample_size(project_crds: None, kubectl, namespace: str, tmp_path: Path) -> None:
    """model-accuracy and model-roc-auc with thresholdRange and minSampleSize pass the rules and the webhook."""
    obj = _example("ModelDeployment")
    obj["spec"]["analysis"]["metrics"] = [
        {"name": "model-accuracy", "thresholdRange": {"min": 0.9}, "minSampleSize": 200},
        {"name": "model-roc-auc", "thresholdRange": {"min": 0.8}, "minSampleSize": 200},
    ]
    manifest = tmp_path / "obj.yaml"
    manifest.write_text(yaml.safe_dump(obj))
    out = kubectl("apply", "--dry-run=server", "-n", namespace, "-f", str(manifest))
    assert "(server dry run)" in out.stdout
    assert webhook_validate("ModelDeployment", obj, namespace=namespace) == []


@pytest.mark.parametrize(
    ("kind", "edit"),
    [
        ("AnomalyRule", _set(query="sum(rate(x[5m])")),
        ("RetrainPolicy", lambda spec: spec["triggers"]["schedule"].update(cron="99 25 * * *")),
    ],
    ids=["bad-promql", "impossible-cron"],
)
def test_what_cel_cannot_say_passes_the_schema(
    project_crds: None, kubectl, namespace: str, tmp_path: Path, kind: str, edit
) -> None:
    """PromQL parsing and cron semantics are not expressible in CEL: the schema admits them; the webhook
    refuses them and the operator reports them in a Ready=False condition."""
    obj = _broken(kind, None, edit, 99)
    manifest = tmp_path / "obj.yaml"
    manifest.write_text(yaml.safe_dump(obj))
    out = kubectl("apply", "--dry-run=server", "-n", namespace, "-f", str(manifest))
    assert "(server dry run)" in out.stdout
    assert webhook_validate(kind, obj, namespace=namespace)


@pytest.mark.parametrize(
    ("kind", "name", "message"),
    [
        ("ModelDeployment", "1-fraud", 'metadata.name: Invalid value: "1-fraud": metadata.name in body should match'),
        ("RemediationPlaybook", "p" * 44, "metadata.name: Too long: may not be more than 43 bytes"),
        ("AnomalyRule", "r" * 52, "metadata.name: Too long: may not be more than 51 bytes"),
    ],
    ids=["modeldeployment-dns1035", "playbook-too-long", "rule-too-long"],
)
def test_names_the_children_cannot_carry_are_refused(
    project_crds: None, kubectl, namespace: str, tmp_path: Path, kind: str, name: str, message: str
) -> None:
    """Children carry the label mlaiops.dev/owner=<Kind>.<name> (at most 63 characters) and a ModelDeployment's
    Services are named after it (DNS-1035): the CRD's metadata schema refuses such names, as the webhook does."""
    obj = _example(kind, "fraud-latency" if kind == "RemediationPlaybook" else None)
    obj["metadata"]["name"] = name
    assert any(line.startswith("metadata.name: ") for line in webhook_validate(kind, obj, namespace=namespace))
    manifest = tmp_path / "obj.yaml"
    manifest.write_text(yaml.safe_dump(obj))
    result = kubectl("apply", "-n", namespace, "-f", str(manifest), check=False)
    assert result.returncode != 0 and message in result.stderr, result.stderr

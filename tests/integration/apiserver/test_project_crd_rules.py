"""The semantic mistakes of issue 19, refused by `kubectl apply` with no webhook: the CRDs' CEL rules.

Issue 19 found 13 of 33 invalid objects accepted without the validating webhook; those it named are
decreasing canary weights, `storageUri` together with `source`, an AnomalyRule with no query, a threshold
detector with no bounds, a scale action with no settings, min > max replicas, bad PromQL and an impossible
cron. Every cross-field rule of the webhook that a schema can state is now a CEL rule in crds/; each has
its invalid example below, applied with the real kubectl against the sandbox (which runs the rules like
kube-apiserver), refused with a message that names the field, and nothing stored. The same objects are
refused by the webhook too (the rules must keep its semantics). Bad PromQL and impossible crons cannot be
said in CEL: they pass the schema and stay the webhook's and the operator's job.

kubectl runs twice for all the refusals (one `apply` of every mistake in one file, which reports one
error per refused object and goes on with the others, then one `get` of what got stored) and once
for all the objects that must pass (one server-side dry run); each test reads its own object's part.
"""

from __future__ import annotations

import copy
import functools
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import kubernetes
import pytest
import yaml
from apiserver_support import Http, unique

from mlaiops.admission.validate import validate as webhook_validate

ROOT = Path(__file__).resolve().parents[3]
CRDS, EXAMPLES = ROOT / "crds", ROOT / "examples"
# libyaml's dumper when PyYAML has it: the batches are some fifty documents.
DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
PLURALS = {
    "ModelDeployment": "modeldeployments",
    "AnomalyRule": "anomalyrules",
    "RemediationPlaybook": "remediationplaybooks",
    "RetrainPolicy": "retrainpolicies",
}


@functools.cache
def _example_docs() -> tuple[dict[str, Any], ...]:
    """The examples' documents, parsed once (callers get deep copies)."""
    docs = []
    for path in sorted(EXAMPLES.glob("*.yaml")):
        docs += [doc for doc in yaml.safe_load_all(path.read_text()) if doc]
    return tuple(docs)


def _example(kind: str, name: str | None = None) -> dict[str, Any]:
    for doc in _example_docs():
        if doc.get("kind") == kind and (name is None or doc["metadata"]["name"] == name):
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

# (kind, name, message): names the children cannot carry, refused by the CRDs' metadata schema.
BAD_NAMES = [
    ("ModelDeployment", "1-fraud", 'metadata.name: Invalid value: "1-fraud": metadata.name in body should match'),
    ("RemediationPlaybook", "p" * 44, "metadata.name: Too long: may not be more than 43 bytes"),
    ("AnomalyRule", "r" * 52, "metadata.name: Too long: may not be more than 51 bytes"),
]
BAD_NAME_IDS = ["modeldeployment-dns1035", "playbook-too-long", "rule-too-long"]

# (kind, edit, test id = object name): what CEL cannot say; the schema admits it.
CANNOT_SAY = [
    ("AnomalyRule", _set(query="sum(rate(x[5m])"), "bad-promql"),
    ("RetrainPolicy", lambda spec: spec["triggers"]["schedule"].update(cron="99 25 * * *"), "impossible-cron"),
]


def _broken(kind: str, example: str | None, edit: Callable[[dict[str, Any]], None], index: int) -> dict[str, Any]:
    obj = _example(kind, example)
    edit(obj["spec"])
    obj["metadata"]["name"] = f"mistake-{index}"
    return obj


def _badly_named(kind: str, name: str) -> dict[str, Any]:
    obj = _example(kind, "fraud-latency" if kind == "RemediationPlaybook" else None)
    obj["metadata"]["name"] = name
    return obj


def _label_metrics() -> dict[str, Any]:
    """model-accuracy and model-roc-auc with thresholdRange and minSampleSize."""
    obj = _example("ModelDeployment")
    obj["metadata"]["name"] = "label-metrics"
    obj["spec"]["analysis"]["metrics"] = [
        {"name": "model-accuracy", "thresholdRange": {"min": 0.9}, "minSampleSize": 200},
        {"name": "model-roc-auc", "thresholdRange": {"min": 0.8}, "minSampleSize": 200},
    ]
    return obj


def _cannot_say(kind: str, edit: Callable[[dict[str, Any]], None], name: str) -> dict[str, Any]:
    obj = _broken(kind, None, edit, 0)
    obj["metadata"]["name"] = name
    return obj


def _examples() -> list[dict[str, Any]]:
    """Every example of the four kinds, without its namespace."""
    docs = [copy.deepcopy(doc) for kind in PLURALS for doc in _example_docs() if doc.get("kind") == kind]
    for doc in docs:
        doc["metadata"].pop("namespace", None)
    return docs


def _valid() -> list[dict[str, Any]]:
    """Every object that must pass the rules: the examples, the label metrics, what CEL cannot say."""
    return [*_examples(), _label_metrics(), *(_cannot_say(*params) for params in CANNOT_SAY)]


def _resource(kind: str, name: str) -> str:
    """How `kubectl apply/get -o name` names the object."""
    return f"{kind.lower()}.mlaiops.dev/{name}"


# One refusal of a batch: `Error from server (Invalid): error when creating "<file>": <Kind>.<group> "<name>"
# is invalid: ...` (kubectl prints `The <Kind> "<name>" is invalid: ...` instead when only one object fails).
REFUSAL = re.compile(
    r'(?:Error from server \(Invalid\): error when creating "[^"]*": (?P<kind>\w+)\.mlaiops\.dev|The (?P<lone>\w+))'
    r' "(?P<name>[^"]+)" is invalid: '
)


@dataclass
class Batch:
    """One `kubectl apply` of many objects: its exit code and output, kubectl's error block for each refused
    object (by name) with the blocks naming no object, and (after a real apply) what one `get` listed."""

    returncode: int
    stdout: str
    stderr: str
    refusals: dict[str, tuple[str, str]]  # name -> (kind, its error block)
    unparsed: list[str]
    stored: set[str]

    @classmethod
    def apply(cls, kubectl, namespace: str, manifest: Path, *flags: str) -> Batch:
        result = kubectl("apply", *flags, "-n", namespace, "-f", str(manifest), check=False, timeout=120)
        refusals: dict[str, tuple[str, str]] = {}
        unparsed: list[str] = []
        for block in re.split(r"(?m)^(?=Error from server |The |error: )", result.stderr):
            if not block.strip():
                continue
            found = REFUSAL.match(block)
            if found is None or found["name"] in refusals:
                unparsed.append(block)
            else:
                refusals[found["name"]] = (found["kind"] or found["lone"], block)
        return cls(result.returncode, result.stdout, result.stderr, refusals, unparsed, set())

    def lines(self) -> set[str]:
        return set(self.stdout.splitlines())

    def said(self) -> str:
        return f"kubectl apply exited {self.returncode}:\n{self.stdout}\n{self.stderr}"


@pytest.fixture(scope="module")
def project_crds(kubectl) -> None:
    kubectl("apply", "-f", str(CRDS))
    names = [f"crd/{plural}.mlaiops.dev" for plural in PLURALS.values()]
    kubectl("wait", "--for=condition=Established", *names, "--timeout=20s")


@pytest.fixture(scope="module")
def module_namespace(api_client: kubernetes.client.ApiClient) -> Iterator[str]:
    """One namespace for the module's batches (each object in it has its own name)."""
    name = unique("crd-rules")
    core = kubernetes.client.CoreV1Api(api_client)
    core.create_namespace({"metadata": {"name": name}})
    yield name
    core.delete_namespace(name)


# One valid object of each kind in the refused batch: kubectl goes on past the refusals and the `get`
# lists every kind (so "not listed" means "not stored").
CONTROLS = [(kind, f"control-{kind.lower()}") for kind in PLURALS]


@pytest.fixture(scope="module")
def refused(project_crds: None, kubectl, module_namespace: str, tmp_path_factory: pytest.TempPathFactory) -> Batch:
    """Every mistake and every bad name in one `kubectl apply`, then one `kubectl get` of what got stored."""
    docs = [_broken(kind, example, edit, index) for index, (kind, example, edit, _, _) in enumerate(MISTAKES)]
    docs += [_badly_named(kind, name) for kind, name, _ in BAD_NAMES]
    for kind, name in CONTROLS:
        control = _example(kind)
        control["metadata"]["name"] = name
        docs.append(control)
    manifest = tmp_path_factory.mktemp("refused") / "objects.yaml"
    manifest.write_text(yaml.dump_all(docs, Dumper=DUMPER))
    batch = Batch.apply(kubectl, module_namespace, manifest)
    listed = kubectl("get", ",".join(PLURALS.values()), "-n", module_namespace, "-o", "name")
    batch.stored = set(listed.stdout.split())
    return batch


@pytest.fixture(scope="module")
def dry_run(project_crds: None, kubectl, module_namespace: str, tmp_path_factory: pytest.TempPathFactory) -> Batch:
    """Every object that must pass the rules in one server-side dry run."""
    docs = _valid()
    manifest = tmp_path_factory.mktemp("valid") / "objects.yaml"
    manifest.write_text(yaml.dump_all(docs, Dumper=DUMPER))
    return Batch.apply(kubectl, module_namespace, manifest, "--dry-run=server")


def _passed_the_dry_run(batch: Batch, kind: str, name: str) -> None:
    assert f"{_resource(kind, name)} created (server dry run)" in batch.lines(), batch.said()
    assert name not in batch.refusals, batch.said()


def _refused_and_not_stored(batch: Batch, kind: str, name: str) -> str:
    """kubectl's error block for this object alone, once its refusal names it and it is not stored."""
    assert batch.returncode != 0, batch.said()
    assert name in batch.refusals, f"{kind} {name!r} was not refused\n{batch.said()}"
    refused_kind, block = batch.refusals[name]
    assert refused_kind == kind, block
    assert not any(line.startswith(f"{_resource(kind, name)} ") for line in batch.lines()), batch.stdout
    assert _resource(kind, name) not in batch.stored, sorted(batch.stored)
    return block


def test_one_apply_refused_each_mistake_and_stored_the_rest(refused: Batch) -> None:
    """The refused batch itself: each bad object has exactly one error block and nothing else failed; the valid
    controls were created past the refusals and are the only objects stored."""
    expected = {f"mistake-{index}" for index in range(len(MISTAKES))} | {name for _, name, _ in BAD_NAMES}
    assert set(refused.refusals) == expected and not refused.unparsed, refused.said()
    assert refused.lines() == {f"{_resource(kind, name)} created" for kind, name in CONTROLS}, refused.said()
    assert refused.stored == {_resource(kind, name) for kind, name in CONTROLS}


def test_one_dry_run_passed_every_valid_object(dry_run: Batch) -> None:
    """The dry-run batch itself: one "created (server dry run)" line per object, and no error at all."""
    docs = _valid()
    expected = {f"{_resource(doc['kind'], doc['metadata']['name'])} created (server dry run)" for doc in docs}
    assert len(expected) == len(docs) and dry_run.lines() == expected, dry_run.said()
    assert dry_run.returncode == 0 and not dry_run.stderr.strip(), dry_run.said()


@pytest.mark.parametrize(("kind", "example", "edit", "field", "text"), MISTAKES, ids=IDS)
def test_kubectl_apply_refuses_the_mistake_naming_the_field(
    refused: Batch, http: Http, module_namespace: str, kind: str, example, edit, field: str, text: str
) -> None:
    obj = _broken(kind, example, edit, MISTAKES.index((kind, example, edit, field, text)))
    name = obj["metadata"]["name"]
    block = _refused_and_not_stored(refused, kind, name)
    assert f'{kind}.mlaiops.dev "{name}" is invalid: ' in block, block
    assert f"{field}: Invalid value: " in block and text in block, block
    # What kubectl prints for a lone refusal (`The <Kind> "<name>" is invalid: <field>: <message>`) comes from
    # the Status details: the same object, dry run, straight to the API.
    response = http.post(f"/apis/mlaiops.dev/v1alpha1/namespaces/{module_namespace}/{PLURALS[kind]}?dryRun=All", obj)
    assert response.status_code == 422, response.text
    status = response.json()
    assert status["reason"] == "Invalid", status
    details = status["details"]
    assert (details["kind"], details["name"], details["group"]) == (kind, name, "mlaiops.dev"), details
    assert any(
        cause["field"] == field and cause["message"].startswith("Invalid value: ") and text in cause["message"]
        for cause in details["causes"]
    ), details


@pytest.mark.parametrize(("kind", "example", "edit", "field", "text"), MISTAKES, ids=IDS)
def test_the_webhook_refuses_the_same_objects(kind: str, example, edit, field: str, text: str) -> None:
    """The rules say no more than the webhook: each object the CRD refuses, the webhook refuses too."""
    obj = _broken(kind, example, edit, 0)
    assert webhook_validate(kind, obj, namespace="default"), "the webhook admits what the CRD refuses"


def test_the_examples_pass_every_rule(dry_run: Batch) -> None:
    """Server-side dry run of every example: the rules refuse nothing valid."""
    examples = _examples()
    assert {doc["kind"] for doc in examples} == set(PLURALS)
    for doc in examples:
        _passed_the_dry_run(dry_run, doc["kind"], doc["metadata"]["name"])


def test_the_label_metrics_take_a_min_sample_size(dry_run: Batch, module_namespace: str) -> None:
    """model-accuracy and model-roc-auc with thresholdRange and minSampleSize pass the rules and the webhook."""
    obj = _label_metrics()
    _passed_the_dry_run(dry_run, "ModelDeployment", obj["metadata"]["name"])
    assert webhook_validate("ModelDeployment", obj, namespace=module_namespace) == []


@pytest.mark.parametrize(("kind", "edit", "name"), CANNOT_SAY, ids=[name for _, _, name in CANNOT_SAY])
def test_what_cel_cannot_say_passes_the_schema(dry_run: Batch, module_namespace: str, kind: str, edit, name) -> None:
    """PromQL parsing and cron semantics are not expressible in CEL: the schema admits them; the webhook
    refuses them and the operator reports them in a Ready=False condition."""
    obj = _cannot_say(kind, edit, name)
    _passed_the_dry_run(dry_run, kind, name)
    assert webhook_validate(kind, obj, namespace=module_namespace)


@pytest.mark.parametrize(("kind", "name", "message"), BAD_NAMES, ids=BAD_NAME_IDS)
def test_names_the_children_cannot_carry_are_refused(
    refused: Batch, module_namespace: str, kind: str, name: str, message: str
) -> None:
    """Children carry the label mlaiops.dev/owner=<Kind>.<name> (at most 63 characters) and a ModelDeployment's
    Services are named after it (DNS-1035): the CRD's metadata schema refuses such names, as the webhook does."""
    obj = _badly_named(kind, name)
    assert any(line.startswith("metadata.name: ") for line in webhook_validate(kind, obj, namespace=module_namespace))
    block = _refused_and_not_stored(refused, kind, name)
    assert message in block, block

"""Status that tells the truth without the webhook: what only the operator can judge (PromQL that Prometheus
cannot parse, an impossible cron, objects a spec names that do not exist) shows in ``kubectl get`` and as a
Ready=False condition listing every problem; a missing object that appears clears it within a pass.

The session operator runs without the validating webhook, as a cluster whose webhook is not installed would.
The bad objects here are ones no CRD schema can refuse, so kubectl stores them and only the operator can tell.
"""

from __future__ import annotations

from typing import Any

from tests.e2e.conftest import Cluster, wait_for

API = "mlaiops.dev/v1alpha1"
# Balanced brackets (the local check passes) but not PromQL: only Prometheus's parser can say so.
BAD_QUERY = "sum(rate(up[5m])) oops"
PROMETHEUS_SAYS = 'parse error: unexpected identifier "oops"'


def table(cluster: Cluster, plural: str, namespace: str) -> dict[str, dict[str, str]]:
    """``kubectl get`` as the user reads it: row name -> column header -> cell (blank cells stay blank)."""
    lines = cluster.kubectl("get", plural, "-n", namespace).stdout.splitlines()
    header = lines[0]
    starts = [i for i, char in enumerate(header) if char != " " and (i == 0 or header[i - 1] == " ")]
    names = header.split()
    rows = {}
    for line in lines[1:]:
        cells = [line[start:end].strip() for start, end in zip(starts, [*starts[1:], None], strict=True)]
        rows[cells[0]] = dict(zip(names, cells, strict=True))
    return rows


def ready(cluster: Cluster, plural: str, namespace: str, name: str, reason: str) -> dict[str, Any] | None:
    """The Ready condition once it has ``reason``."""
    condition = cluster.condition(cluster.get(plural, namespace, name), "Ready")
    return condition if condition and condition["reason"] == reason else None


def problems(condition: dict[str, Any]) -> list[str]:
    return str(condition["message"]).split("; ")


def rule(name: str, query: str = "vector(1)", **spec: Any) -> dict[str, Any]:
    detector = {"type": "threshold", "upper": 10}
    return {
        "apiVersion": API,
        "kind": "AnomalyRule",
        "metadata": {"name": name},
        "spec": {"query": query, "interval": "5s", "detector": detector, **spec},
    }


def retrain_policy(name: str, model_deployment: str, **triggers: Any) -> dict[str, Any]:
    return {
        "apiVersion": API,
        "kind": "RetrainPolicy",
        "metadata": {"name": name},
        "spec": {
            "modelDeploymentRef": {"name": model_deployment},
            "triggers": {"minInterval": "1s", **triggers},
            "dataset": {"uri": "pvc://data/train.csv", "target": "label"},
            "trainer": {"estimator": "LogisticRegression"},
            "output": {"uri": "pvc://models/out"},
            "validation": {"metric": "accuracy", "minimum": 0.5},
        },
    }


def model_deployment(name: str, policy: str, metrics: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {"model": {"source": {"retrainPolicyRef": {"name": policy}}}, "replicas": 1}
    if metrics:
        spec["analysis"] = {"metrics": metrics}
    return {"apiVersion": API, "kind": "ModelDeployment", "metadata": {"name": name}, "spec": spec}


def test_what_only_the_operator_can_judge_is_invalid_in_kubectl_get_with_every_problem(cluster: Cluster) -> None:
    ns = cluster.namespace("truth-invalid")  # deleted after the module by the harness
    bad_metrics = [
        {"name": "errors", "query": BAD_QUERY, "thresholdRange": {"max": 1}},
        {"name": "latency", "query": "max(up) by", "thresholdRange": {"max": 1}},
    ]
    cluster.apply(
        [
            rule("bad-query", BAD_QUERY),
            retrain_policy("bad-cron", "nowhere", schedule={"cron": "99 25 * * *"}),
            model_deployment("bad-analysis", "nowhere", bad_metrics),
        ],
        ns,
    )
    # Nothing stays blank: each kind's STATE/PHASE column says Invalid.
    wait_for(lambda: table(cluster, "anomalyrules", ns)["bad-query"]["STATE"] == "Invalid", timeout=15, what="AR")
    wait_for(lambda: table(cluster, "retrainpolicies", ns)["bad-cron"]["PHASE"] == "Invalid", timeout=15, what="RTP")
    wait_for(
        lambda: table(cluster, "modeldeployments", ns)["bad-analysis"]["PHASE"] == "Invalid", timeout=15, what="MD"
    )

    condition = wait_for(lambda: ready(cluster, "anomalyrules", ns, "bad-query", "InvalidSpec"), what="AR refused")
    assert condition["status"] == "False"
    [problem] = problems(condition)
    assert problem.startswith("spec.query: invalid PromQL: ") and PROMETHEUS_SAYS in problem  # decoded, not b'...'
    assert "b'" not in problem and "HTTP" not in problem

    condition = wait_for(lambda: ready(cluster, "retrainpolicies", ns, "bad-cron", "InvalidSpec"), what="RTP refused")
    [problem] = problems(condition)
    assert problem.startswith("spec.triggers.schedule.cron: ") and "99 25 * * *" in problem

    # Two problems in one object: both listed, each naming its field (not the first only).
    condition = wait_for(lambda: ready(cluster, "modeldeployments", ns, "bad-analysis", "InvalidSpec"), what="MD")
    listed = problems(condition)
    assert len(listed) == 2, listed
    assert listed[0].startswith("spec.analysis.metrics[0].query: invalid PromQL: ") and PROMETHEUS_SAYS in listed[0]
    assert listed[1].startswith("spec.analysis.metrics[1].query: invalid PromQL: ")
    assert cluster.apps.list_namespaced_deployment(ns).items == []  # refused: nothing half-applied

    # Fixing the query recovers on the next pass, without restarting anything.
    cluster.kubectl("patch", "-n", ns, "ar/bad-query", "--type=merge", "-p", '{"spec":{"query":"vector(1)"}}')
    wait_for(lambda: table(cluster, "anomalyrules", ns)["bad-query"]["STATE"] == "Normal", timeout=20, what="fixed")


def test_dangling_references_are_listed_and_clear_when_the_objects_appear(cluster: Cluster) -> None:
    ns = cluster.namespace("truth-refs")
    playbook = {
        "apiVersion": API,
        "kind": "RemediationPlaybook",
        "metadata": {"name": "fix"},
        "spec": {
            "triggers": [{"rules": [{"name": "latency"}]}],
            "target": {"kind": "Deployment", "name": "web"},
            "actions": [
                {"name": "retrain", "type": "retrain", "retrain": {"policyRef": {"name": "churn"}}},
                {
                    "name": "page",
                    "type": "notify",
                    "notify": {"urlSecretRef": {"name": "mlaiops-notify", "key": "url"}},
                },
            ],
        },
    }
    cluster.apply([playbook, model_deployment("churn-model", "churn"), retrain_policy("lonely", "ghost")], ns)

    condition = wait_for(lambda: ready(cluster, "remediationplaybooks", ns, "fix", "DanglingReference"), what="rpb")
    assert condition["status"] == "False"
    assert problems(condition) == [
        f'spec.triggers[0].rules[0].name: AnomalyRule "latency" not found in namespace "{ns}"',
        f'spec.target: Deployment "web" not found in namespace "{ns}"',
        f'spec.actions[0].retrain.policyRef.name: RetrainPolicy "churn" not found in namespace "{ns}"',
        f'spec.actions[1].notify.urlSecretRef: Secret "mlaiops-notify" not found in namespace "{ns}"',
    ]
    refs = cluster.condition(cluster.get("remediationplaybooks", ns, "fix"), "ResolvedRefs")
    assert refs is not None and (refs["status"], refs["reason"]) == ("False", "RefNotFound")
    assert table(cluster, "remediationplaybooks", ns)["fix"]["STATE"] == "Idle"  # it still acts on what exists

    condition = wait_for(lambda: ready(cluster, "modeldeployments", ns, "churn-model", "DanglingReference"), what="md")
    assert problems(condition) == [
        f'spec.model.source.retrainPolicyRef.name: RetrainPolicy "churn" not found in namespace "{ns}"'
    ]
    assert table(cluster, "modeldeployments", ns)["churn-model"]["PHASE"] == "Pending"
    condition = wait_for(lambda: ready(cluster, "retrainpolicies", ns, "lonely", "DanglingReference"), what="rtp")
    assert problems(condition) == [
        f'spec.modelDeploymentRef.name: ModelDeployment "ghost" not found in namespace "{ns}"'
    ]

    web = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web"},
        "spec": {
            "replicas": 0,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]},
            },
        },
    }
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "mlaiops-notify"},
        "stringData": {"url": "http://127.0.0.1:9/hook"},
    }
    cluster.apply([rule("latency"), web, secret, retrain_policy("churn", "churn-model")], ns)

    def resolved(plural: str, name: str) -> dict[str, Any] | None:
        obj = cluster.get(plural, ns, name)
        refs = cluster.condition(obj, "ResolvedRefs")
        return obj if refs and refs["status"] == "True" else None

    # A freshly created object has a STATE on the operator's first look (no blank column meanwhile).
    wait_for(lambda: table(cluster, "anomalyrules", ns)["latency"]["STATE"], timeout=5, what="a new rule's STATE")
    # The operator re-checks every pass (1 s here; 5 s by default): a few seconds, not a restart.
    fixed = wait_for(lambda: resolved("remediationplaybooks", "fix"), timeout=10, what="playbook resolved")
    assert (cluster.condition(fixed, "Ready") or {}).get("status") == "True"
    md = wait_for(lambda: resolved("modeldeployments", "churn-model"), timeout=10, what="model resolved")
    # The policy exists now but has promoted nothing: the model waits for one, which is the truth.
    assert ((cluster.condition(md, "Ready") or {}).get("reason"), md["status"]["phase"]) == (
        "WaitingForModel",
        "Pending",
    )
    policy = wait_for(lambda: resolved("retrainpolicies", "churn"), timeout=10, what="policy resolved")
    assert (cluster.condition(policy, "Ready") or {}).get("status") == "True"

"""Install manifests: kustomize renders them, Kubernetes' schemas accept them, and they are locked down."""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[3]
CLUSTER_SCOPED = ("Namespace", "ClusterRole", "ClusterRoleBinding", "ValidatingWebhookConfiguration")
SELF_SIGNED = "components/webhook-self-signed"


def _kustomize(directory: Path | str) -> list[dict[str, Any]]:
    result = subprocess.run(["kubectl", "kustomize", str(directory)], capture_output=True, text=True, check=True)
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def _with_component(component: str) -> list[dict[str, Any]]:
    """An overlay as a user writes it: manifests/ plus one of its components."""
    with tempfile.TemporaryDirectory() as overlay:
        base = os.path.relpath(ROOT / "manifests", overlay)  # kustomize refuses absolute paths
        kustomization = {"resources": [base], "components": [f"{base}/{component}"]}
        (Path(overlay) / "kustomization.yaml").write_text(yaml.safe_dump(kustomization))
        return _kustomize(overlay)


RENDERED = _kustomize(ROOT / "manifests")
SELF_SIGNED_RENDERED = _with_component(SELF_SIGNED)


def _one(kind: str, docs: list[dict[str, Any]] = RENDERED, name: str | None = None) -> dict[str, Any]:
    (found,) = [doc for doc in docs if doc["kind"] == kind and name in (None, doc["metadata"]["name"])]
    return found


def _container(docs: list[dict[str, Any]] = RENDERED) -> dict[str, Any]:
    (container,) = _one("Deployment", docs)["spec"]["template"]["spec"]["containers"]
    return container


def _env(docs: list[dict[str, Any]] = RENDERED) -> dict[str, Any]:
    return {item["name"]: item.get("value", item.get("valueFrom")) for item in _container(docs)["env"]}


# cert-manager's kinds are not in Kubernetes' schemas: the fields of cert-manager.io/v1 these manifests
# may use (from its API reference), closed so that a misspelt or unknown field fails like strict validation.
_STRING_LIST = {"type": "array", "items": {"type": "string"}}
_META = {"type": "object", "required": ["name", "namespace"]}
CERT_MANAGER_SCHEMAS: dict[str, dict[str, Any]] = {
    "Issuer": {
        "type": "object",
        "additionalProperties": False,
        "required": ["apiVersion", "kind", "metadata", "spec"],
        "properties": {
            "apiVersion": {"const": "cert-manager.io/v1"},
            "kind": {"const": "Issuer"},
            "metadata": _META,
            "spec": {
                "type": "object",
                "additionalProperties": False,
                "minProperties": 1,
                "maxProperties": 1,
                "properties": {
                    "selfSigned": {
                        "type": "object",
                        "additionalProperties": False,
                        "properties": {"crlDistributionPoints": _STRING_LIST},
                    },
                    "ca": {
                        "type": "object",
                        "additionalProperties": False,
                        "required": ["secretName"],
                        "properties": {"secretName": {"type": "string"}},
                    },
                },
            },
        },
    },
    "Certificate": {
        "type": "object",
        "additionalProperties": False,
        "required": ["apiVersion", "kind", "metadata", "spec"],
        "properties": {
            "apiVersion": {"const": "cert-manager.io/v1"},
            "kind": {"const": "Certificate"},
            "metadata": _META,
            "spec": {
                "type": "object",
                "additionalProperties": False,
                "required": ["secretName", "issuerRef"],
                "properties": {
                    "secretName": {"type": "string"},
                    "commonName": {"type": "string"},
                    "dnsNames": _STRING_LIST,
                    "ipAddresses": _STRING_LIST,
                    "duration": {"type": "string"},
                    "renewBefore": {"type": "string"},
                    "usages": _STRING_LIST,
                    "isCA": {"type": "boolean"},
                    "privateKey": {
                        "type": "object",
                        "additionalProperties": False,
                        "properties": {
                            "algorithm": {"enum": ["RSA", "ECDSA", "Ed25519"]},
                            "encoding": {"enum": ["PKCS1", "PKCS8"]},
                            "rotationPolicy": {"enum": ["Never", "Always"]},
                            "size": {"type": "integer"},
                        },
                    },
                    "issuerRef": {
                        "type": "object",
                        "additionalProperties": False,
                        "required": ["name"],
                        "properties": {
                            "name": {"type": "string"},
                            "kind": {"type": "string"},
                            "group": {"type": "string"},
                        },
                    },
                },
            },
        },
    },
}


def test_kustomize_renders_the_expected_objects() -> None:
    assert sorted(doc["kind"] for doc in RENDERED) == [
        "Certificate",
        "ClusterRole",
        "ClusterRoleBinding",
        "Deployment",
        "Issuer",
        "Namespace",
        "PodDisruptionBudget",
        "Role",
        "Role",
        "RoleBinding",
        "RoleBinding",
        "Service",
        "Service",
        "ServiceAccount",
        "ValidatingWebhookConfiguration",
    ]
    for doc in RENDERED + SELF_SIGNED_RENDERED:
        if doc["kind"] not in CLUSTER_SCOPED:
            assert doc["metadata"]["namespace"] == "mlaiops-system", doc["metadata"]


@pytest.mark.parametrize(
    "doc",
    RENDERED + [doc for doc in SELF_SIGNED_RENDERED if doc not in RENDERED],
    ids=lambda doc: f"{doc['kind']}/{doc['metadata']['name']}",
)
def test_rendered_object_validates_strictly(doc: dict[str, Any]) -> None:
    if doc["apiVersion"].startswith("cert-manager.io/"):
        jsonschema.validate(doc, CERT_MANAGER_SCHEMAS[doc["kind"]])
    else:
        kubernetes_validate.validate(doc, kubernetes_validate.latest_version(), strict=True)


def test_the_cert_manager_schema_refuses_unknown_fields() -> None:
    certificate = _one("Certificate")
    broken = {**certificate, "spec": {**certificate["spec"], "dnsName": ["x"]}}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, CERT_MANAGER_SCHEMAS["Certificate"])


ROLE_FILES = ["clusterrole.yaml", "role.yaml", f"{SELF_SIGNED}/clusterrole.yaml"]


@pytest.mark.parametrize("path", ROLE_FILES)
def test_roles_have_no_wildcards_and_every_rule_has_a_reason(path: str) -> None:
    (role,) = yaml.safe_load_all((ROOT / "manifests" / path).read_text())
    for rule in role["rules"]:
        for key in ("apiGroups", "resources", "verbs"):
            assert "*" not in rule[key], rule
        if rule.get("resourceNames"):
            # The API server cannot limit these verbs by name (no name in the URL or a list of all).
            assert not {"create", "list", "watch", "deletecollection"} & set(rule["verbs"]), rule
    # Each rule is preceded by a comment saying why the operator needs it.
    text = (ROOT / "manifests" / path).read_text().splitlines()
    rule_lines = [i for i, line in enumerate(text) if line.strip().startswith("- apiGroups:")]
    assert rule_lines
    for index in rule_lines:
        assert text[index - 1].strip().startswith("#"), f"{path}: rule at line {index + 1} has no comment"


@pytest.mark.parametrize(
    ("kind", "role_kind", "name", "docs"),
    [
        ("ClusterRoleBinding", "ClusterRole", "mlaiops-operator", RENDERED),
        ("RoleBinding", "Role", "mlaiops-operator-leader-election", RENDERED),
        ("RoleBinding", "Role", "mlaiops-operator-slack-approvals", RENDERED),
        ("ClusterRoleBinding", "ClusterRole", "mlaiops-operator-webhook", SELF_SIGNED_RENDERED),
    ],
)
def test_bindings_point_at_the_operator_service_account(
    kind: str, role_kind: str, name: str, docs: list[dict[str, Any]]
) -> None:
    binding = _one(kind, docs, name)
    account = _one("ServiceAccount")
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": role_kind, "name": name}
    _one(role_kind, docs, name)  # the role exists
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": account["metadata"]["name"], "namespace": "mlaiops-system"}
    ]


def test_leader_election_is_a_namespaced_role_on_one_lease() -> None:
    """The Lease permissions stay in the operator's namespace, limited to its Lease where the API allows."""
    role = _one("Role", name="mlaiops-operator-leader-election")
    assert role["metadata"]["namespace"] == "mlaiops-system"
    granted = {(verb, tuple(rule.get("resourceNames", []))) for rule in role["rules"] for verb in rule["verbs"]}
    assert granted == {("create", ()), ("get", ("mlaiops-operator",)), ("update", ("mlaiops-operator",))}
    assert all(
        rule["apiGroups"] == ["coordination.k8s.io"] and rule["resources"] == ["leases"] for rule in role["rules"]
    )
    cluster_rules = _one("ClusterRole")["rules"]
    assert not [rule for rule in cluster_rules if "leases" in rule["resources"]]


def test_slack_user_mapping_is_one_configmap_in_the_operators_namespace() -> None:
    """Approvals in chat read one ConfigMap by name, in mlaiops-system only; no ConfigMap cluster-wide."""
    role = _one("Role", name="mlaiops-operator-slack-approvals")
    assert role["metadata"]["namespace"] == "mlaiops-system"
    assert role["rules"] == [
        {"apiGroups": [""], "resources": ["configmaps"], "resourceNames": ["mlaiops-slack-users"], "verbs": ["get"]}
    ]
    assert not [rule for rule in _one("ClusterRole")["rules"] if "configmaps" in rule["resources"]]


def test_two_replicas_roll_and_spread_for_leader_election() -> None:
    deployment = _one("Deployment")
    spec = deployment["spec"]
    assert spec["replicas"] == 2
    assert spec["strategy"] == {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}
    container = _container()
    assert container["args"] == ["run", "--all-namespaces"]  # elected, not --standalone
    env = _env()
    assert env["POD_NAME"] == {"fieldRef": {"fieldPath": "metadata.name"}}
    assert env["POD_NAMESPACE"] == {"fieldRef": {"fieldPath": "metadata.namespace"}}
    (term,) = spec["template"]["spec"]["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"]
    assert term["podAffinityTerm"]["topologyKey"] == "kubernetes.io/hostname"
    assert term["podAffinityTerm"]["labelSelector"]["matchLabels"] == spec["selector"]["matchLabels"]
    budget = _one("PodDisruptionBudget")
    assert budget["spec"] == {"minAvailable": 1, "selector": spec["selector"]}


def test_the_webhook_reaches_the_operator_with_a_cert_manager_certificate() -> None:
    """Configuration -> Service -> container port 9443, TLS files from the Secret cert-manager fills."""
    container = _container()
    ports = {port["name"]: port["containerPort"] for port in container["ports"]}
    assert ports["webhook"] == 9443
    env = _env()
    assert env["MLAIOPS_WEBHOOK_PORT"] == "9443"
    service = _one("Service", name="mlaiops-webhook")
    assert service["spec"]["selector"] == _one("Deployment")["spec"]["selector"]["matchLabels"]
    assert service["spec"]["ports"] == [{"name": "webhook", "port": 9443, "targetPort": "webhook"}]
    certificate = _one("Certificate")
    assert "mlaiops-webhook.mlaiops-system.svc" in certificate["spec"]["dnsNames"]
    assert certificate["spec"]["issuerRef"]["name"] == _one("Issuer")["metadata"]["name"]
    mount = next(m for m in container["volumeMounts"] if m["mountPath"] == "/etc/mlaiops/webhook")
    assert mount["readOnly"] is True
    volume = next(v for v in _one("Deployment")["spec"]["template"]["spec"]["volumes"] if v["name"] == mount["name"])
    assert volume["secret"]["secretName"] == certificate["spec"]["secretName"]
    assert {env["MLAIOPS_WEBHOOK_CERT_FILE"], env["MLAIOPS_WEBHOOK_KEY_FILE"]} == {
        "/etc/mlaiops/webhook/tls.crt",
        "/etc/mlaiops/webhook/tls.key",
    }
    configuration = _one("ValidatingWebhookConfiguration")
    namespace, name = configuration["metadata"]["annotations"]["cert-manager.io/inject-ca-from"].split("/")
    assert (namespace, name) == ("mlaiops-system", certificate["metadata"]["name"])


def test_webhooks_cover_every_kind_safely() -> None:
    from mlaiops.controllers.admission import HANDLERS, handler_id

    webhooks = _one("ValidatingWebhookConfiguration")["webhooks"]
    assert len(webhooks) == len(HANDLERS)
    for webhook, (kind, plural) in zip(webhooks, HANDLERS.items(), strict=True):
        service = webhook["clientConfig"]["service"]
        assert service == {
            "name": "mlaiops-webhook",
            "namespace": "mlaiops-system",
            "path": f"/{handler_id(kind)}",
            "port": 9443,
        }
        (rule,) = webhook["rules"]
        assert rule["resources"] == [plural] and rule["operations"] == ["CREATE", "UPDATE"]
        assert webhook["failurePolicy"] == "Fail" and webhook["sideEffects"] == "None"
        assert 1 <= webhook["timeoutSeconds"] <= 10
        (expression,) = webhook["namespaceSelector"]["matchExpressions"]
        assert expression["key"] == "kubernetes.io/metadata.name" and expression["operator"] == "NotIn"
        assert "mlaiops-system" in expression["values"]  # never blocks the operator's own namespace


def test_self_signed_component_lets_the_operator_manage_the_webhook() -> None:
    kinds = [doc["kind"] for doc in SELF_SIGNED_RENDERED]
    assert "Certificate" not in kinds and "Issuer" not in kinds and "ValidatingWebhookConfiguration" not in kinds
    env = _env(SELF_SIGNED_RENDERED)
    assert env["MLAIOPS_WEBHOOK_MANAGED"] == "true"
    assert env["MLAIOPS_WEBHOOK_HOST"] == "mlaiops-webhook.mlaiops-system.svc"
    assert "MLAIOPS_WEBHOOK_CERT_FILE" not in env and "MLAIOPS_WEBHOOK_KEY_FILE" not in env
    pod = _one("Deployment", SELF_SIGNED_RENDERED)["spec"]["template"]["spec"]
    assert "webhook-tls" not in [v["name"] for v in pod["volumes"]]
    assert "webhook-tls" not in [m["name"] for m in _container(SELF_SIGNED_RENDERED)["volumeMounts"]]


def test_operator_pod_is_locked_down() -> None:
    deployment = _one("Deployment")
    pod = deployment["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == _one("ServiceAccount")["metadata"]["name"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    (container,) = pod["containers"]
    security = container["securityContext"]
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"]["drop"] == ["ALL"]
    assert container["resources"]["requests"] and container["resources"]["limits"]
    probe = container["livenessProbe"]["httpGet"]
    assert probe["path"] == "/healthz"
    ports = {port["name"]: port["containerPort"] for port in container["ports"]}
    assert probe["port"] == "health" and "metrics" in ports
    assert container["image"] == "mlaiops:0.1.0"
    service = _one("Service", name="mlaiops-operator-metrics")
    assert service["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]


def test_dockerfile_is_multi_stage_and_non_root() -> None:
    text = (ROOT / "Dockerfile").read_text()
    stages = [line.split() for line in text.splitlines() if line.startswith("FROM ")]
    names = [stage[3] for stage in stages[:-1]]
    # Every stage starts from the base or an earlier stage; the final one is the base itself, not a build stage.
    assert stages[-1] == ["FROM", "${BASE}"]
    assert all(stage[1] == "${BASE}" or stage[1] in names[:i] for i, stage in enumerate(stages))
    assert "ARG BASE=python:3.11-slim" in text  # docker build without arguments builds on the public image
    final = text.rsplit("\nFROM ${BASE}\n", 1)[1]
    assert "USER 10001" in final
    assert "pip install" not in final and "build-essential" not in final
    # The dependencies are a stage of their own, copied before the project: a code change reuses their layer.
    assert final.index("COPY --from=dependencies /venv") < final.index("COPY --from=project")

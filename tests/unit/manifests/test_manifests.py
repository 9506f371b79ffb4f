"""Install manifests: kustomize renders them, Kubernetes' schemas accept them, and they are locked down."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[3]


def _rendered() -> list[dict[str, Any]]:
    result = subprocess.run(
        ["kubectl", "kustomize", str(ROOT / "manifests")], capture_output=True, text=True, check=True
    )
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


RENDERED = _rendered()


def _one(kind: str) -> dict[str, Any]:
    (found,) = [doc for doc in RENDERED if doc["kind"] == kind]
    return found


def test_kustomize_renders_the_expected_objects() -> None:
    assert sorted(doc["kind"] for doc in RENDERED) == [
        "ClusterRole",
        "ClusterRoleBinding",
        "Deployment",
        "Namespace",
        "Service",
        "ServiceAccount",
    ]
    for doc in RENDERED:
        if doc["kind"] not in ("Namespace", "ClusterRole", "ClusterRoleBinding"):
            assert doc["metadata"]["namespace"] == "mlaiops-system"


@pytest.mark.parametrize("doc", RENDERED, ids=lambda doc: f"{doc['kind']}/{doc['metadata']['name']}")
def test_rendered_object_validates_strictly(doc: dict[str, Any]) -> None:
    kubernetes_validate.validate(doc, kubernetes_validate.latest_version(), strict=True)


def test_cluster_role_has_no_wildcards_and_every_rule_has_a_reason() -> None:
    role = _one("ClusterRole")
    for rule in role["rules"]:
        for key in ("apiGroups", "resources", "verbs"):
            assert "*" not in rule[key], rule
    # Each rule is preceded by a comment saying why the operator needs it.
    text = (ROOT / "manifests" / "clusterrole.yaml").read_text().splitlines()
    rule_lines = [i for i, line in enumerate(text) if line.strip().startswith("- apiGroups:")]
    assert rule_lines
    for index in rule_lines:
        assert text[index - 1].strip().startswith("#"), f"rule at line {index + 1} has no comment"


def test_cluster_role_binding_points_at_the_operator_service_account() -> None:
    binding = _one("ClusterRoleBinding")
    account = _one("ServiceAccount")
    assert binding["roleRef"]["name"] == _one("ClusterRole")["metadata"]["name"]
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": account["metadata"]["name"], "namespace": "mlaiops-system"}
    ]


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
    service = _one("Service")
    assert service["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]


def test_dockerfile_is_multi_stage_and_non_root() -> None:
    text = (ROOT / "Dockerfile").read_text()
    stages = [line for line in text.splitlines() if line.startswith("FROM ")]
    assert len(stages) == 2 and all("python:3.11-slim" in line for line in stages)
    final = text.rsplit(stages[-1], 1)[1]
    assert "USER 10001" in final
    assert "pip install" not in final and "build-essential" not in final

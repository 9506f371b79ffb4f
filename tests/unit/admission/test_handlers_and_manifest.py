"""The kopf side (configuration, the refusal kopf sends) and the shipped webhook manifest agree with the code."""

from __future__ import annotations

import shutil
import socket
import subprocess
from pathlib import Path
from typing import Any

import kopf
import kubernetes_validate
import pytest
import yaml

from mlaiops.admission import PrometheusParser
from mlaiops.api import KINDS_BY_NAME
from mlaiops.controllers import admission
from tests.unit.api.helpers import edited, example

ROOT = Path(__file__).resolve().parents[3]
MANIFEST = [doc for doc in yaml.safe_load_all((ROOT / "manifests" / "webhook.yaml").read_text()) if doc]


def _unreachable() -> PrometheusParser:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return PrometheusParser(f"http://127.0.0.1:{port}", timeout=1)


def test_webhook_is_off_unless_a_port_is_configured(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("PORT", "LISTEN", "HOST", "CERT_FILE", "KEY_FILE", "INSECURE", "MANAGED"):
        monkeypatch.delenv(f"MLAIOPS_WEBHOOK_{name}", raising=False)
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    monkeypatch.setattr("mlaiops.settings.SERVICE_ACCOUNT_TOKEN", "/nonexistent/token")
    assert not admission.webhook_config().enabled
    monkeypatch.setenv("MLAIOPS_WEBHOOK_PORT", "9443")
    monkeypatch.setenv("MLAIOPS_WEBHOOK_MANAGED", "true")
    monkeypatch.setenv("MLAIOPS_WEBHOOK_CERT_FILE", "/certs/tls.crt")
    config = admission.webhook_config()
    assert config.enabled and config.port == 9443 and config.managed and config.cert_file == "/certs/tls.crt"
    assert config.listen == "127.0.0.1" and not config.insecure  # outside a pod: loopback only
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1")
    assert admission.webhook_config().listen == "0.0.0.0"  # in a pod: where the Service reaches it
    server = admission.server(config)
    assert isinstance(server, kopf.WebhookServer) and server.port == 9443 and server.certfile == "/certs/tls.crt"


def test_refusal_carries_every_problem_one_per_line_with_code_422() -> None:
    obj = edited(example("ModelDeployment"), "spec.rollout.canary.steps.1.weight", 10)
    obj["spec"]["autoscaling"] = {"minReplicas": 3, "maxReplicas": 1}
    warnings: list[str] = []
    with pytest.raises(kopf.AdmissionError) as refused:
        admission.check("ModelDeployment", obj, None, warnings, promql=_unreachable())
    assert refused.value.code == 422
    assert str(refused.value).splitlines() == [
        "spec.autoscaling: minReplicas (3) must not exceed maxReplicas (1)",
        "spec.rollout.canary: steps[1].weight (10) must be greater than steps[0].weight (25)",
    ]


def test_admitted_with_a_warning_when_prometheus_is_unreachable() -> None:
    warnings: list[str] = []
    admission.check("AnomalyRule", example("AnomalyRule"), None, warnings, promql=_unreachable())
    assert len(warnings) == 1 and "unreachable" in warnings[0]


def test_unchanged_spec_on_update_passes_even_if_invalid() -> None:
    old = edited(example("RetrainPolicy"), "spec.triggers.schedule.cron", "61 * * * *")
    new = edited(old, "metadata.finalizers", ["mlaiops.dev/finalizer"])
    admission.check("RetrainPolicy", new, old, [], promql=_unreachable())


def _webhooks() -> list[dict[str, Any]]:
    (configuration,) = [doc for doc in MANIFEST if doc["kind"] == "ValidatingWebhookConfiguration"]
    return configuration["webhooks"]


def test_manifest_webhooks_point_at_the_handlers() -> None:
    by_path = {webhook["clientConfig"]["service"]["path"]: webhook for webhook in _webhooks()}
    assert sorted(by_path) == sorted(f"/{admission.handler_id(kind)}" for kind in admission.HANDLERS)
    for kind, plural in admission.HANDLERS.items():
        webhook = by_path[f"/{admission.handler_id(kind)}"]
        assert webhook["name"] == f"{admission.handler_id(kind)}.mlaiops.dev"
        assert KINDS_BY_NAME[kind].plural == plural
        (rule,) = webhook["rules"]
        assert rule["resources"] == [plural] and rule["apiGroups"] == ["mlaiops.dev"]
        assert rule["operations"] == ["CREATE", "UPDATE"]
        assert webhook["sideEffects"] == "None" and webhook["clientConfig"]["service"]["name"] == "mlaiops-webhook"


@pytest.mark.parametrize("kind", ["Service", "ValidatingWebhookConfiguration"])
def test_manifest_objects_validate_strictly(kind: str) -> None:
    (doc,) = [doc for doc in MANIFEST if doc["kind"] == kind]
    kubernetes_validate.validate(doc, kubernetes_validate.latest_version(), strict=True)


def test_manifest_service_selects_the_operator_pod() -> None:
    (service,) = [doc for doc in MANIFEST if doc["kind"] == "Service"]
    deployment = yaml.safe_load((ROOT / "manifests" / "deployment.yaml").read_text())
    assert service["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]


def test_kustomize_renders_the_webhook_into_the_operator_namespace(tmp_path: Path) -> None:
    for name in ("webhook.yaml", "certificate.yaml"):
        shutil.copy(ROOT / "manifests" / name, tmp_path / name)
    (tmp_path / "kustomization.yaml").write_text(
        yaml.safe_dump({"namespace": "mlaiops-system", "resources": ["webhook.yaml", "certificate.yaml"]})
    )
    rendered = subprocess.run(["kubectl", "kustomize", str(tmp_path)], capture_output=True, text=True, check=True)
    docs = {doc["kind"]: doc for doc in yaml.safe_load_all(rendered.stdout) if doc}
    assert docs["Service"]["metadata"]["namespace"] == "mlaiops-system"
    assert docs["Certificate"]["metadata"]["namespace"] == "mlaiops-system"
    namespace, name = docs["ValidatingWebhookConfiguration"]["metadata"]["annotations"][
        "cert-manager.io/inject-ca-from"
    ].split("/")
    assert (namespace, name) == ("mlaiops-system", docs["Certificate"]["metadata"]["name"])
    assert "mlaiops-webhook.mlaiops-system.svc" in docs["Certificate"]["spec"]["dnsNames"]

"""The validating webhook end to end: kubectl -> sandbox API server -> the operator's kopf webhook (https).

An operator of its own runs here with the webhook enabled (port, TLS files made by openssl, kopf's
managed ValidatingWebhookConfiguration pointing at 127.0.0.1); the session operator is not used.
Specs the CRD schema accepts but the webhook refuses are refused by kubectl with the field-level
message, and nothing is stored.
"""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client, config
from mlaiops_sandbox.cluster import Sandbox
from mlaiops_sandbox.testing import OperatorProcess
from mlaiops_sandbox.testing.plugin import operator_for

from tests.e2e.conftest import ROOT, free_port, wait_for

CONFIGURATION = "mlaiops.dev"
VWC = ("admissionregistration.k8s.io", "v1", "validatingwebhookconfigurations")


def _certificate(directory: Path) -> tuple[Path, Path]:
    cert, key = directory / "tls.crt", directory / "tls.key"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"),
            *("-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"),
            *("-keyout", str(key), "-out", str(cert)),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


@pytest.fixture(scope="module")
def webhook_operator(sandbox: Sandbox, tmp_path_factory: pytest.TempPathFactory) -> Iterator[OperatorProcess]:
    directory = tmp_path_factory.mktemp("webhook")
    cert, key = _certificate(directory)
    operator = operator_for(sandbox, directory / "operator.log")
    operator.env.update(
        {
            "MLAIOPS_WEBHOOK_PORT": str(free_port()),
            "MLAIOPS_WEBHOOK_LISTEN": "127.0.0.1",
            "MLAIOPS_WEBHOOK_HOST": "127.0.0.1",
            "MLAIOPS_WEBHOOK_CERT_FILE": str(cert),
            "MLAIOPS_WEBHOOK_KEY_FILE": str(key),
            "MLAIOPS_WEBHOOK_MANAGED": "true",
            "MLAIOPS_LEADER_ELECT": "false",  # a second operator beside the session one, acting at once
        }
    )
    operator.start()
    api = config.new_client_from_config(config_file=str(sandbox.kubeconfig_path))
    custom = client.CustomObjectsApi(api)
    try:
        yield operator
    finally:
        operator.stop()
        # A webhook configuration left behind would refuse every later write of these kinds.
        with contextlib.suppress(client.ApiException):
            custom.delete_cluster_custom_object(*VWC, CONFIGURATION)


def kubectl(sandbox: Sandbox, *args: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["kubectl", "--kubeconfig", str(sandbox.kubeconfig_path), *args],
        input=input,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def example(kind: str) -> dict[str, Any]:
    for path in sorted((ROOT / "examples").glob("*.yaml")):
        for document in yaml.safe_load_all(path.read_text()):
            if document and document.get("kind") == kind:
                document["metadata"].pop("namespace", None)
                return document
    raise LookupError(kind)


@pytest.fixture(scope="module")
def namespace(sandbox: Sandbox, webhook_operator: OperatorProcess) -> Iterator[str]:
    name = "admission-e2e"
    assert kubectl(sandbox, "create", "namespace", name).returncode == 0
    yield name
    kubectl(sandbox, "delete", "namespace", name, "--wait=false")


@pytest.fixture(scope="module")
def webhooks(sandbox: Sandbox, webhook_operator: OperatorProcess, namespace: str) -> dict[str, Any]:
    """kopf registered its webhooks, and they answer (a broken spec is refused by the webhook)."""
    api = client.CustomObjectsApi(config.new_client_from_config(config_file=str(sandbox.kubeconfig_path)))
    # kopf may create the configuration first and fill its webhooks in a later write.
    configuration = wait_for(
        lambda: (found := api.get_cluster_custom_object(*VWC, CONFIGURATION)).get("webhooks") and found,
        timeout=60,
        what=f"the ValidatingWebhookConfiguration {CONFIGURATION} (log: {webhook_operator.log})",
    )
    broken = example("RetrainPolicy")
    broken["spec"]["triggers"]["schedule"]["cron"] = "61 * * * *"
    wait_for(
        lambda: (
            "denied the request"
            in kubectl(sandbox, "apply", "-n", namespace, "-f", "-", input=yaml.safe_dump(broken)).stderr
        ),
        timeout=60,
        what="the webhook to answer",
    )
    return {webhook["name"]: webhook for webhook in configuration["webhooks"]}


def test_kopf_manages_one_https_webhook_per_kind(webhooks: dict[str, Any]) -> None:
    assert sorted(webhooks) == [
        "validate-anomalyrule.mlaiops.dev",
        "validate-modeldeployment.mlaiops.dev",
        "validate-remediationplaybook.mlaiops.dev",
        "validate-retrainpolicy.mlaiops.dev",
    ]
    for name, webhook in webhooks.items():
        assert webhook["clientConfig"]["url"].startswith("https://127.0.0.1:")
        assert webhook["clientConfig"]["url"].endswith("/" + name.removesuffix(".mlaiops.dev"))
        assert webhook["clientConfig"]["caBundle"]
        assert webhook["sideEffects"] == "None" and webhook["failurePolicy"] == "Fail"
        assert sorted(webhook["rules"][0]["operations"]) == ["CREATE", "UPDATE"]


REFUSED = [
    (
        "ModelDeployment",
        lambda spec: spec["analysis"]["metrics"][1].update(query="sum(rate(x[5m])"),
        "spec.analysis.metrics[1].query: invalid PromQL: ",
    ),
    (
        "AnomalyRule",
        lambda spec: spec.update(query="sum(rate(x[5m])"),
        "spec.query: invalid PromQL: ",
    ),
    (
        "RetrainPolicy",
        lambda spec: spec["triggers"]["schedule"].update(cron="61 * * * *"),
        "spec.triggers.schedule.cron: invalid cron expression '61 * * * *'",
    ),
]


@pytest.mark.parametrize(("kind", "edit", "message"), REFUSED, ids=[case[0] for case in REFUSED])
def test_kubectl_apply_is_refused_with_the_field_message_and_nothing_is_stored(
    sandbox: Sandbox, webhooks: dict[str, Any], namespace: str, kind: str, edit: Any, message: str
) -> None:
    obj = example(kind)
    edit(obj["spec"])
    obj["metadata"]["name"] = f"refused-{kind.lower()}"
    manifest = yaml.safe_dump(obj)
    # The CRD schema alone accepts it (client-side dry run validates nothing; a server dry run
    # without the webhook is what the schema says: shown by the session sandbox's own tests).
    result = kubectl(sandbox, "apply", "-n", namespace, "-f", "-", input=manifest)
    assert result.returncode != 0
    webhook = f"validate-{kind.lower()}.mlaiops.dev"
    assert f'admission webhook "{webhook}" denied the request: {message}' in result.stderr, result.stderr
    got = kubectl(sandbox, "get", kind.lower(), obj["metadata"]["name"], "-n", namespace)
    assert got.returncode != 0 and "NotFound" in got.stderr


def test_every_problem_is_listed(sandbox: Sandbox, webhooks: dict[str, Any], namespace: str) -> None:
    obj = example("ModelDeployment")
    obj["metadata"]["name"] = "two-problems"
    # Two problems the CRD's CEL rules cannot see (they would refuse the object before the webhook is asked).
    obj["spec"]["analysis"]["metrics"][1]["query"] = "sum(rate(x[5m])"
    obj["spec"]["runtime"]["env"] = [{"name": "A", "value": "1"}, {"name": "A", "value": "2"}]
    result = kubectl(sandbox, "apply", "-n", namespace, "-f", "-", input=yaml.safe_dump(obj))
    assert result.returncode != 0
    assert "spec.analysis.metrics[1].query: invalid PromQL: " in result.stderr
    assert "spec.runtime.env[1].name: duplicate name 'A' (also spec.runtime.env[0].name)" in result.stderr


def test_valid_specs_are_admitted(sandbox: Sandbox, webhooks: dict[str, Any], namespace: str) -> None:
    """Every example passes (server-side dry run: the webhook is asked with dryRun, nothing is stored)."""
    for kind in ("ModelDeployment", "RetrainPolicy", "AnomalyRule", "RemediationPlaybook"):
        result = kubectl(
            sandbox, "apply", "--dry-run=server", "-n", namespace, "-f", "-", input=yaml.safe_dump(example(kind))
        )
        assert result.returncode == 0, result.stderr
        assert "(server dry run)" in result.stdout


def test_promql_is_parsed_by_prometheus_itself(sandbox: Sandbox, webhooks: dict[str, Any], namespace: str) -> None:
    """Balanced brackets but an unknown function: only Prometheus's parser (the sandbox's real one) sees it."""
    if not sandbox.prometheus_url:
        pytest.skip("the sandbox runs without Prometheus")
    obj = example("AnomalyRule")
    obj["metadata"]["name"] = "unknown-function"
    obj["spec"]["query"] = "rat(x[5m])"
    result = kubectl(sandbox, "apply", "-n", namespace, "-f", "-", input=yaml.safe_dump(obj))
    assert result.returncode != 0
    expected = 'denied the request: spec.query: invalid PromQL: 1:1: parse error: unknown function with name "rat"'
    assert expected in result.stderr, result.stderr

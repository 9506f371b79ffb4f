"""MLAIOPS_REQUIRE_SHA256 on a running operator: a ModelDeployment that names an artifact without its
sha256 gets Ready=False InvalidSpec naming spec.model.sha256 and no children; pinning it deploys."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from kubernetes.client.exceptions import ApiException

from tests.e2e.conftest import Cluster, wait_for

pytestmark = pytest.mark.integration


@pytest.fixture
def strict(cluster: Cluster) -> Iterator[Cluster]:
    """The session's operator restarted with the setting on, and back to its default afterwards."""
    cluster.operator.env["MLAIOPS_REQUIRE_SHA256"] = "true"
    cluster.operator.restart(kill=False)
    try:
        yield cluster
    finally:
        del cluster.operator.env["MLAIOPS_REQUIRE_SHA256"]
        cluster.operator.restart(kill=False)


def test_an_unpinned_model_is_refused_until_it_is_pinned(strict: Cluster) -> None:
    ns = strict.namespace("md-require-sha256")
    strict.apply(
        {
            "apiVersion": "mlaiops.dev/v1alpha1",
            "kind": "ModelDeployment",
            "metadata": {"name": "unpinned"},
            "spec": {
                "model": {"storageUri": "file:///models/fraud-v1.joblib", "version": "v1"},
                "runtime": {"image": "registry.invalid/team/custom-server:1.0", "port": 9000},
                "replicas": 1,
            },
        },
        ns,
    )

    def refused() -> dict | None:
        md = strict.get("modeldeployments", ns, "unpinned")
        ready = strict.condition(md, "Ready")
        return ready if ready and ready["reason"] == "InvalidSpec" else None

    ready = wait_for(refused, what="Ready=False InvalidSpec")
    assert ready["status"] == "False"
    assert ready["message"].startswith("spec.model.sha256: required") and "MLAIOPS_REQUIRE_SHA256" in ready["message"]
    with pytest.raises(ApiException) as missing:
        strict.apps.read_namespaced_deployment("unpinned-stable", ns)
    assert missing.value.status == 404

    strict.kubectl(
        "patch", "-n", ns, "md/unpinned", "--type=merge", "-p", '{"spec":{"model":{"sha256":"' + "a" * 64 + '"}}}'
    )
    deployment = wait_for(lambda: _deployment(strict, ns, "unpinned-stable"), what="the stable Deployment")
    env = {item.name: item.value for item in deployment.spec.template.spec.containers[0].env}
    assert env["MLAIOPS_MODEL_SHA256"] == "a" * 64


def _deployment(cluster: Cluster, namespace: str, name: str) -> object | None:
    try:
        return cluster.apps.read_namespaced_deployment(name, namespace)
    except ApiException as error:
        if error.status == 404:
            return None
        raise

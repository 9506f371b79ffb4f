"""Builders of ModelDeployment children: valid Kubernetes objects, labelled, scraped, split by weight."""

from __future__ import annotations

import kubernetes_validate
import pytest

from mlaiops.api.modeldeployment import ModelDeploymentSpec
from mlaiops.resources import modelserver as ms

SPEC = ModelDeploymentSpec.model_validate(
    {
        "model": {"storageUri": "pvc://models/fraud/v3/model.joblib", "version": "v3", "sha256": "a" * 64},
        "replicas": 4,
        "runtime": {"resources": {"limits": {"memory": "512Mi", "cpu": 1}}, "env": [{"name": "LOG", "value": "1"}]},
        "autoscaling": {"minReplicas": 2, "maxReplicas": 6},
    }
)
MODEL = ms.ResolvedModel.from_spec(SPEC)
K8S = kubernetes_validate.latest_version()


def test_resolved_model_from_uri_and_from_a_promotion() -> None:
    assert MODEL == ms.ResolvedModel("pvc://models/fraud/v3/model.joblib", "v3", "a" * 64)
    by_source = ModelDeploymentSpec.model_validate({"model": {"source": {"retrainPolicyRef": {"name": "p"}}}})
    assert ms.ResolvedModel.from_spec(by_source) is None
    promoted = {"uri": "file:///m/run-7/model.joblib", "sha256": "b" * 64, "version": "run-7"}
    assert ms.ResolvedModel.from_spec(by_source, promoted) == ms.ResolvedModel(promoted["uri"], "run-7", "b" * 64)
    unversioned = ModelDeploymentSpec.model_validate({"model": {"storageUri": "file:///m.joblib"}})
    version = ms.ResolvedModel.from_spec(unversioned).version
    assert version == ms.default_version("file:///m.joblib") and version != ms.default_version("file:///n.joblib")


def test_deployment_is_valid_labelled_and_scraped() -> None:
    deployment = ms.model_server_deployment("fraud", "ns", SPEC, MODEL, "canary", 1, "mlaiops:0.1.0")
    kubernetes_validate.validate(deployment, K8S, strict=True)
    assert deployment["metadata"]["name"] == "fraud-canary"
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert labels["app.kubernetes.io/managed-by"] == "mlaiops"
    assert labels["mlaiops.dev/owner"] == "ModelDeployment.fraud"
    assert labels["mlaiops.dev/track"] == "canary" and labels["mlaiops.dev/version"] == "v3"
    selector = deployment["spec"]["selector"]["matchLabels"]
    assert selector.items() <= labels.items()
    annotations = deployment["spec"]["template"]["metadata"]["annotations"]
    assert annotations == {
        "prometheus.io/scrape": "true",
        "prometheus.io/port": "8080",
        "prometheus.io/path": "/metrics",
    }
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    env = {item["name"]: item["value"] for item in container["env"]}
    assert env["MLAIOPS_MODEL_URI"] == MODEL.storage_uri and env["MLAIOPS_TRACK"] == "canary"
    assert env["MLAIOPS_MODEL_SHA256"] == "a" * 64 and env["LOG"] == "1"
    assert env["MLAIOPS_PVC_MOUNT_MODELS"] == "/mnt/pvc/models"  # where pvc://models/... resolves
    assert container["command"] == ["mlaiops"] and container["args"][0] == "serve"
    assert container["resources"] == {"limits": {"memory": "512Mi", "cpu": 1}}
    # The claim is mounted read-only where the server looks for pvc:// models.
    assert {"name": "model-store", "mountPath": "/mnt/pvc/models", "readOnly": True} in container["volumeMounts"]
    assert {"name": "model-store", "persistentVolumeClaim": {"claimName": "models", "readOnly": True}} in pod["volumes"]


def test_custom_runtime_uses_the_users_image_and_ports() -> None:
    spec = SPEC.model_copy(
        update={
            "runtime": SPEC.runtime.model_copy(
                update={
                    "image": "seldonio/mlserver:1.7.1",
                    "args": ["mlserver", "start", "/m"],
                    "port": 9000,
                    "metrics_port": 8082,
                }
            )
        }
    )
    deployment = ms.model_server_deployment("fraud", "ns", spec, MODEL, "stable", 2, "mlaiops:0.1.0")
    kubernetes_validate.validate(deployment, K8S, strict=True)
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert container["image"] == "seldonio/mlserver:1.7.1" and container["args"] == ["mlserver", "start", "/m"]
    assert "command" not in container
    assert [port["containerPort"] for port in container["ports"]] == [9000, 8082]
    assert deployment["spec"]["template"]["metadata"]["annotations"]["prometheus.io/port"] == "8082"


def test_services_select_both_tracks_or_one() -> None:
    shared = ms.service("fraud", "ns", 8080)
    stable = ms.service("fraud", "ns", 8080, "stable")
    for obj in (shared, stable):
        kubernetes_validate.validate(obj, K8S, strict=True)
    assert shared["metadata"]["name"] == "fraud" and shared["spec"]["selector"] == {
        "mlaiops.dev/model-deployment": "fraud"
    }
    assert stable["spec"]["selector"] == {"mlaiops.dev/model-deployment": "fraud", "mlaiops.dev/track": "stable"}


def test_hpa_targets_the_stable_deployment() -> None:
    hpa = ms.horizontal_pod_autoscaler("fraud", "ns", SPEC)
    kubernetes_validate.validate(hpa, K8S, strict=True)
    assert hpa["spec"]["scaleTargetRef"]["name"] == "fraud-stable"
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (2, 6)
    assert (
        ms.horizontal_pod_autoscaler(
            "fraud", "ns", ModelDeploymentSpec.model_validate({"model": {"storageUri": "file:///m"}})
        )
        is None
    )


@pytest.mark.parametrize(
    ("total", "weight", "split"),
    [
        (4, 25, (3, 1)),
        (4, 50, (2, 2)),
        (4, 30, (3, 1)),
        (3, 50, (1, 2)),
        (1, 10, (1, 1)),
        (10, 5, (9, 1)),
        (4, 100, (0, 4)),
    ],
)
def test_split_replicas(total: int, weight: int, split: tuple[int, int]) -> None:
    assert ms.split_replicas(total, weight) == split


@pytest.mark.parametrize("total", range(1, 21))
def test_split_is_the_closest_integer_split(total: int) -> None:
    replicas = max(total, 2)
    for weight in range(1, 100):
        stable, canary = ms.split_replicas(total, weight)
        assert stable + canary == replicas and stable >= 1 and canary >= 1
        best = min(abs(100 * c / replicas - weight) for c in range(1, replicas))
        assert abs(100 * canary / replicas - weight) == pytest.approx(best)


def test_builtin_server_probes_leave_room_for_the_worst_measured_latency() -> None:
    container = ms.server_container("fraud", SPEC, MODEL, "stable", "mlaiops:test")
    for probe in (container["livenessProbe"], container["readinessProbe"]):
        assert probe["timeoutSeconds"] >= 3  # benchmarks/abuse.py: < 0.5 s with three maximum-size requests
    assert container["livenessProbe"]["failureThreshold"] * container["livenessProbe"]["periodSeconds"] >= 30


def test_the_batcher_reaches_the_built_in_server_and_is_refused_with_a_custom_image() -> None:
    def env_of(runtime: dict) -> dict[str, str]:
        spec = ModelDeploymentSpec.model_validate({"model": {"storageUri": "file:///m.joblib"}, "runtime": runtime})
        deployment = ms.model_server_deployment("fraud", "ns", spec, MODEL, "stable", 1, "mlaiops:0.1.0")
        (container,) = deployment["spec"]["template"]["spec"]["containers"]
        return {item["name"]: item["value"] for item in container["env"]}

    assert "MLAIOPS_MAX_BATCH_SIZE" not in env_of({})  # off unless asked for
    batched = env_of({"batcher": {"maxBatchSize": 16, "maxLatency": "20ms"}})
    assert (batched["MLAIOPS_MAX_BATCH_SIZE"], batched["MLAIOPS_MAX_BATCH_LATENCY"]) == ("16", "0.02")
    defaults = env_of({"batcher": {}})
    assert (defaults["MLAIOPS_MAX_BATCH_SIZE"], defaults["MLAIOPS_MAX_BATCH_LATENCY"]) == ("32", "0.005")
    with pytest.raises(ValueError, match="batcher configures the built-in server"):
        ModelDeploymentSpec.model_validate(
            {"model": {"storageUri": "file:///m"}, "runtime": {"image": "mlserver:1", "batcher": {}}}
        )
    with pytest.raises(ValueError, match="maxLatency 2s is longer than 1s"):
        ModelDeploymentSpec.model_validate(
            {"model": {"storageUri": "file:///m"}, "runtime": {"batcher": {"maxLatency": "2s"}}}
        )
    with pytest.raises(ValueError, match="greater than or equal to 2"):
        ModelDeploymentSpec.model_validate(
            {"model": {"storageUri": "file:///m"}, "runtime": {"batcher": {"maxBatchSize": 1}}}
        )

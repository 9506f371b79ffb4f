"""The training Job: valid, bounded, with the trainer contract in its environment."""

from __future__ import annotations

import ast

import kubernetes_validate

from mlaiops.api.retrainpolicy import RetrainPolicySpec
from mlaiops.resources.trainjob import job_name, training_job
from tests.unit.api.helpers import ROOT, example

K8S = kubernetes_validate.latest_version()
SPEC = RetrainPolicySpec.model_validate(example("RetrainPolicy")["spec"])


def env_of(container: dict) -> dict[str, str]:
    return {item["name"]: item["value"] for item in container["env"]}


def test_builtin_trainer_job() -> None:
    job = training_job(
        "fraud-retrain",
        "fraud",
        SPEC,
        "r20261127-0300",
        "mlaiops:0.1.0",
        "pvc://fraud-models/fraud-detector/r1/model.joblib",
        "c" * 64,
    )
    kubernetes_validate.validate(job, K8S, strict=True)
    assert job["metadata"]["name"] == "fraud-retrain-r20261127-0300"
    assert job["spec"]["backoffLimit"] == 1 and job["spec"]["activeDeadlineSeconds"] == 1800
    assert job["spec"]["ttlSecondsAfterFinished"] == 86400
    pod = job["spec"]["template"]["spec"]
    assert pod["restartPolicy"] == "Never"
    (container,) = pod["containers"]
    env = env_of(container)
    assert env["MLAIOPS_OUTPUT_URI"] == "pvc://fraud-models/fraud-detector/r20261127-0300"
    assert env["MLAIOPS_DATASET_TARGET"] == "is_fraud" and env["MLAIOPS_SENSITIVE_ATTRIBUTE"] == "region"
    assert env["MLAIOPS_PARAMS"] == '{"learning_rate":0.1,"max_iter":200}'
    assert env["MLAIOPS_CHAMPION_SHA256"] == "c" * 64
    assert env["MLAIOPS_PVC_MOUNT_FRAUD_DATA"] == "/mnt/pvc/fraud-data"
    # Each claim is mounted once, where pvc:// URIs resolve.
    assert [v["persistentVolumeClaim"]["claimName"] for v in pod["volumes"] if "persistentVolumeClaim" in v] == [
        "fraud-data",
        "fraud-models",
    ]
    assert {"name": "claim-fraud-data", "mountPath": "/mnt/pvc/fraud-data"} in container["volumeMounts"]
    assert job["spec"]["template"]["metadata"]["labels"]["mlaiops.dev/run"] == "r20261127-0300"


def test_custom_template_gets_the_same_contract() -> None:
    template = {
        "spec": {"containers": [{"name": "mine", "image": "team/trainer:2", "env": [{"name": "X", "value": "1"}]}]}
    }
    spec = SPEC.model_copy(update={"trainer": SPEC.trainer.model_copy(update={"template": template})})
    job = training_job("fraud-retrain", "fraud", spec, "r1", "mlaiops:0.1.0")
    kubernetes_validate.validate(job, K8S, strict=True)
    (container,) = job["spec"]["template"]["spec"]["containers"]
    assert container["image"] == "team/trainer:2"
    env = env_of(container)
    assert env["X"] == "1" and env["MLAIOPS_RUN_ID"] == "r1" and "MLAIOPS_CHAMPION_URI" not in env
    assert spec.trainer.template == template  # the spec's template is not modified


def test_job_names_fit_a_dns_label() -> None:
    name = job_name("a" * 80, "r20261127-030000")
    assert len(name) <= 63 and name.endswith("-r20261127-030000")


def test_resources_import_only_lower_layers() -> None:
    """resources/ sits below retrain, rollout and controllers: the Job's MLflow environment is built here."""
    higher = ("mlaiops.controllers", "mlaiops.rollout", "mlaiops.remediation", "mlaiops.retrain", "mlaiops.detection")
    for path in (ROOT / "operator" / "mlaiops" / "resources").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            names += [alias.name for alias in node.names] if isinstance(node, ast.Import) else []
            assert not [n for n in names if n.startswith(higher)], f"{path.name} imports {names}"


def test_the_job_carries_the_mlflow_contract() -> None:
    mlflow = {"trackingUri": "http://mlflow:5000"}
    spec = RetrainPolicySpec.model_validate({**example("RetrainPolicy")["spec"], "mlflow": mlflow})
    env = env_of(training_job("p", "ns", spec, "r1", "img")["spec"]["template"]["spec"]["containers"][0])
    assert env["MLFLOW_EXPERIMENT_NAME"] == "mlaiops/ns/p"
    assert env["MLAIOPS_MLFLOW_TAGS"] == '{"mlaiops.dev/policy":"ns/p","mlaiops.dev/run":"r1"}'
    assert "MLFLOW_TRACKING_URI" not in env_of(
        training_job("p", "ns", SPEC, "r1", "img")["spec"]["template"]["spec"]["containers"][0]
    )

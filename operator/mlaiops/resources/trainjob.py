"""Pure builder of a RetrainPolicy run's Job: the built-in trainer or the user's pod template.

Both get the same environment contract (``MLAIOPS_*``) and report through the termination
message, so the controller reads every run the same way.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from mlaiops.api.retrainpolicy import MlflowSpec, RetrainPolicySpec
from mlaiops.resources.modelserver import MANAGED_BY, PVC_ROOT, claim_mount_env

POLICY_LABEL = "mlaiops.dev/retrain-policy"
RUN_LABEL = "mlaiops.dev/run"

# The MLflow part of the trainer contract: the Job carries it, the retrain package and the trainer read it.
MLFLOW_TAGS_ENV = "MLAIOPS_MLFLOW_TAGS"
MLFLOW_RUN_TAG = "mlaiops.dev/run"
MLFLOW_POLICY_TAG = "mlaiops.dev/policy"
# A trainer that cannot reach MLflow gives up within seconds instead of MLflow's default minutes of retries.
MLFLOW_CLIENT_ENV = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2", "MLFLOW_HTTP_REQUEST_TIMEOUT": "20"}


def experiment_name(spec: MlflowSpec, namespace: str, policy: str) -> str:
    return spec.experiment or f"mlaiops/{namespace}/{policy}"


def mlflow_run_tags(namespace: str, policy: str, run_id: str) -> dict[str, str]:
    """Tags that tie an MLflow run and its model version back to the policy's run."""
    return {MLFLOW_POLICY_TAG: f"{namespace}/{policy}", MLFLOW_RUN_TAG: run_id}


def mlflow_env(spec: MlflowSpec | None, namespace: str, policy: str, run_id: str) -> list[dict[str, str]]:
    """MLflow's own variables, so a custom trainer that calls mlflow.start_run() logs to the right place too."""
    if spec is None:
        return []
    values = {
        "MLFLOW_TRACKING_URI": spec.tracking_uri,
        "MLFLOW_EXPERIMENT_NAME": experiment_name(spec, namespace, policy),
        MLFLOW_TAGS_ENV: json.dumps(mlflow_run_tags(namespace, policy, run_id), sort_keys=True, separators=(",", ":")),
        **MLFLOW_CLIENT_ENV,
    }
    return [{"name": name, "value": value} for name, value in values.items()]


def job_name(policy: str, run_id: str) -> str:
    """Job names are DNS labels of at most 63 characters."""
    return f"{policy[: 62 - len(run_id)]}-{run_id}"


def run_output_uri(spec: RetrainPolicySpec, run_id: str) -> str:
    return f"{spec.output.uri.rstrip('/')}/{run_id}"


def claims(*uris: str | None) -> list[str]:
    """PersistentVolumeClaims named by pvc:// URIs, each once, in order."""
    names: list[str] = []
    for uri in uris:
        if uri and uri.startswith("pvc://"):
            claim = uri[len("pvc://") :].split("/", 1)[0]
            if claim not in names:
                names.append(claim)
    return names


def trainer_env(
    spec: RetrainPolicySpec, run_id: str, champion_uri: str | None, champion_sha256: str | None
) -> list[dict[str, str]]:
    """The environment every trainer gets (documented in the README as the custom-trainer contract)."""
    values = {
        "MLAIOPS_RUN_ID": run_id,
        "MLAIOPS_DATASET_URI": spec.dataset.uri,
        "MLAIOPS_DATASET_TARGET": spec.dataset.target,
        "MLAIOPS_DATASET_FORMAT": spec.dataset.format,
        "MLAIOPS_DATASET_FEATURES": ",".join(spec.dataset.features or []),
        "MLAIOPS_ESTIMATOR": spec.trainer.estimator,
        "MLAIOPS_PARAMS": json.dumps(spec.trainer.params or {}, sort_keys=True, separators=(",", ":")),
        "MLAIOPS_TEST_SIZE": str(spec.trainer.test_size),
        "MLAIOPS_SEED": str(spec.trainer.seed),
        "MLAIOPS_OUTPUT_URI": run_output_uri(spec, run_id),
        "MLAIOPS_PVC_ROOT": PVC_ROOT,
        "MLAIOPS_SENSITIVE_ATTRIBUTE": spec.validation.fairness.sensitive_attribute if spec.validation.fairness else "",
        "MLAIOPS_CHAMPION_URI": champion_uri or "",
        "MLAIOPS_CHAMPION_SHA256": champion_sha256 or "",
    }
    return [{"name": name, "value": value} for name, value in values.items() if value != ""]


def training_job(
    policy: str,
    namespace: str,
    spec: RetrainPolicySpec,
    run_id: str,
    image: str,
    champion_uri: str | None = None,
    champion_sha256: str | None = None,
) -> dict[str, Any]:
    """The Job of one run: labelled, bounded (backoffLimit, activeDeadlineSeconds, TTL), claims mounted."""
    labels = {**MANAGED_BY, "mlaiops.dev/owner": f"RetrainPolicy.{policy}", POLICY_LABEL: policy, RUN_LABEL: run_id}
    volume_claims = claims(spec.dataset.uri, spec.output.uri, champion_uri)
    env = (
        trainer_env(spec, run_id, champion_uri, champion_sha256)
        + mlflow_env(spec.mlflow, namespace, policy, run_id)
        + [claim_mount_env(claim) for claim in volume_claims]
    )
    mounts = [{"name": f"claim-{claim}", "mountPath": f"{PVC_ROOT}/{claim}"} for claim in volume_claims]
    volumes = [{"name": f"claim-{claim}", "persistentVolumeClaim": {"claimName": claim}} for claim in volume_claims]
    if spec.trainer.template:
        template = copy.deepcopy(spec.trainer.template)
        pod = template.setdefault("spec", {})
        for container in pod.get("containers", []):
            container["env"] = [*env, *container.get("env", [])]
            container["volumeMounts"] = [*mounts, *container.get("volumeMounts", [])]
        pod["volumes"] = [*volumes, *pod.get("volumes", [])]
    else:
        template = {
            "spec": {
                "containers": [
                    {
                        "name": "trainer",
                        "image": image,
                        "command": ["mlaiops"],
                        "args": ["train"],
                        "env": env,
                        "volumeMounts": [*mounts, {"name": "tmp", "mountPath": "/tmp"}],
                        "terminationMessagePath": "/dev/termination-log",
                        "terminationMessagePolicy": "File",
                        "securityContext": {
                            "allowPrivilegeEscalation": False,
                            "readOnlyRootFilesystem": True,
                            "runAsNonRoot": True,
                            "capabilities": {"drop": ["ALL"]},
                        },
                    }
                ],
                "volumes": [*volumes, {"name": "tmp", "emptyDir": {}}],
            }
        }
    pod = template["spec"]
    pod["restartPolicy"] = "Never"
    template.setdefault("metadata", {}).setdefault("labels", {}).update(labels)
    job = spec.job
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": job_name(policy, run_id), "namespace": namespace, "labels": labels},
        "spec": {
            "backoffLimit": job.backoff_limit,
            "activeDeadlineSeconds": job.active_deadline_seconds,
            "ttlSecondsAfterFinished": job.ttl_seconds_after_finished,
            "template": template,
        },
    }

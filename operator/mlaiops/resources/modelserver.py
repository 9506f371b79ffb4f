"""Pure builders of a ModelDeployment's children: model server Deployments, Services, HPA.

No Kubernetes I/O here: the controller computes these dicts from the spec and applies them,
so running it twice changes nothing.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from typing import Any, Literal

from mlaiops.api.common import seconds
from mlaiops.api.modeldeployment import ModelDeploymentSpec

Track = Literal["stable", "canary"]

MANAGED_BY = {"app.kubernetes.io/managed-by": "mlaiops"}
MODEL_LABEL = "mlaiops.dev/model-deployment"
TRACK_LABEL = "mlaiops.dev/track"
VERSION_LABEL = "mlaiops.dev/version"
PVC_ROOT = "/mnt/pvc"
PROBE_TIMEOUT_SECONDS = 3
"""Probe timeout of the built-in server. Its health endpoints answer on the event loop, which parsing
and prediction never hold for long: benchmarks/abuse.py measures under 0.5 s with three maximum-size
requests in flight (the kubelet's default of 1 s would leave no margin on a loaded node)."""
LIVENESS_PERIOD_SECONDS = 10
LIVENESS_FAILURE_THRESHOLD = 3
"""The kubelet restarts the built-in server after this many liveness probes in a row failed, one every
period: only a server that stops answering for about (threshold - 1) x period is restarted."""


@dataclass(frozen=True)
class ResolvedModel:
    """A concrete model to serve: where it is, what it is called and which version it is."""

    storage_uri: str
    version: str
    sha256: str | None = None

    @classmethod
    def from_spec(cls, spec: ModelDeploymentSpec, promoted: dict[str, Any] | None = None) -> ResolvedModel | None:
        """The model the spec names, or the RetrainPolicy's promoted model; None while there is none yet."""
        model = spec.model
        if model.storage_uri is not None:
            return cls(model.storage_uri, model.version or default_version(model.storage_uri), model.sha256)
        if not promoted:
            return None
        return cls(promoted["uri"], promoted.get("version") or default_version(promoted["uri"]), promoted.get("sha256"))


def default_version(storage_uri: str) -> str:
    """A short, stable version label for a model that was not given one."""
    return "v-" + hashlib.sha256(storage_uri.encode()).hexdigest()[:10]


def owner_labels(name: str) -> dict[str, str]:
    """Labels every child of a ModelDeployment carries (DESIGN: managed-by and owner)."""
    return {**MANAGED_BY, "mlaiops.dev/owner": f"ModelDeployment.{name}", MODEL_LABEL: name}


def pod_labels(name: str, track: Track, version: str) -> dict[str, str]:
    return {
        **owner_labels(name),
        "app.kubernetes.io/name": name,
        "app.kubernetes.io/component": "model-server",
        TRACK_LABEL: track,
        VERSION_LABEL: version,
    }


def selector(name: str, track: Track | None = None) -> dict[str, str]:
    """Pods of one track, or of both when track is None (the shared Service)."""
    labels = {MODEL_LABEL: name}
    if track:
        labels[TRACK_LABEL] = track
    return labels


def selector_string(name: str) -> str:
    """The pod selector as a string, for status.selector (scale subresource)."""
    return ",".join(f"{key}={value}" for key, value in selector(name).items())


def deployment_name(name: str, track: Track) -> str:
    return f"{name}-{track}"


def split_replicas(total: int, weight: int) -> tuple[int, int]:
    """(stable, canary) replicas so that canary/(stable+canary) is as close to weight% as integers allow.

    Traffic follows the replica ratio behind the shared Service, so the split is exact to
    1/total: with 4 replicas, a 25% step is exactly 25%, a 30% step becomes 25%. At least two
    replicas are used during a canary so that both tracks serve; weight 100 moves everything.
    """
    total = max(total, 2)
    if weight >= 100:
        return 0, total
    canary = min(max(round(total * weight / 100), 1), total - 1)
    return total - canary, canary


def actual_weight(stable: int, canary: int) -> int:
    """The traffic percentage a replica split really gives the canary."""
    return 0 if stable + canary == 0 else math.floor(100 * canary / (stable + canary) + 0.5)


def claim_mount_env(claim: str) -> dict[str, str]:
    """Where a claim is mounted, as ``MLAIOPS_PVC_MOUNT_<CLAIM>``: the runtime resolves pvc:// URIs with it."""
    key = "".join(char if char.isalnum() else "_" for char in claim.upper())
    return {"name": f"MLAIOPS_PVC_MOUNT_{key}", "value": f"{PVC_ROOT}/{claim}"}


def _pvc_claim(uri: str) -> str | None:
    return uri[len("pvc://") :].split("/", 1)[0] if uri.startswith("pvc://") else None


def server_container(
    name: str, spec: ModelDeploymentSpec, model: ResolvedModel, track: Track, image: str
) -> dict[str, Any]:
    """The model server container: the built-in server, or the user's image with the same contract."""
    runtime = spec.runtime
    model_name = spec.model.name or name
    env = [
        {"name": "MLAIOPS_MODEL_URI", "value": model.storage_uri},
        {"name": "MLAIOPS_MODEL_NAME", "value": model_name},
        {"name": "MLAIOPS_MODEL_VERSION", "value": model.version},
        {"name": "MLAIOPS_MODEL_FORMAT", "value": spec.model.format},
        {"name": "MLAIOPS_TRACK", "value": track},
        {"name": "MLAIOPS_PVC_ROOT", "value": PVC_ROOT},
    ]
    if model.sha256:
        env.append({"name": "MLAIOPS_MODEL_SHA256", "value": model.sha256})
    claim = _pvc_claim(model.storage_uri)
    if claim:
        env.append(claim_mount_env(claim))
    if runtime.metrics_port and runtime.metrics_port != runtime.port:
        env.append({"name": "MLAIOPS_METRICS_PORT", "value": str(runtime.metrics_port)})
    if runtime.metrics_path != "/metrics":
        env.append({"name": "MLAIOPS_METRICS_PATH", "value": runtime.metrics_path})
    if runtime.batcher is not None:
        env.append({"name": "MLAIOPS_MAX_BATCH_SIZE", "value": str(runtime.batcher.max_batch_size)})
        env.append({"name": "MLAIOPS_MAX_BATCH_LATENCY", "value": f"{seconds(runtime.batcher.max_latency):g}"})
    env += [item.to_dict() for item in runtime.env or []]
    ports = [{"name": "http", "containerPort": runtime.port, "protocol": "TCP"}]
    if runtime.metrics_port and runtime.metrics_port != runtime.port:
        ports.append({"name": "metrics", "containerPort": runtime.metrics_port, "protocol": "TCP"})
    container: dict[str, Any] = {
        "name": "model-server",
        "image": runtime.image or image,
        "env": env,
        "ports": ports,
        # Custom servers that write no termination message still leave the end of their log there.
        "terminationMessagePolicy": "FallbackToLogsOnError",
        "readinessProbe": {
            "httpGet": {"path": runtime.readiness_path, "port": "http"},
            "periodSeconds": 2,
            "timeoutSeconds": PROBE_TIMEOUT_SECONDS,
            "failureThreshold": 3,
        },
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "runAsNonRoot": True,
            "capabilities": {"drop": ["ALL"]},
        },
    }
    if runtime.image:
        if runtime.args:
            container["args"] = list(runtime.args)
    else:
        container["command"] = ["mlaiops"]
        container["args"] = ["serve", "--port", str(runtime.port)]
        # A model that cannot load exits with its reason in the termination message: the pod's status
        # then says why, and the operator reports it (spec.runtime.env may set it back to false).
        env.insert(0, {"name": "MLAIOPS_EXIT_ON_LOAD_FAILURE", "value": "true"})
        # Restarted only after three missed answers in a row (30 s): a slow moment is not a dead server.
        container["livenessProbe"] = {
            "httpGet": {"path": "/v2/health/live", "port": "http"},
            "periodSeconds": LIVENESS_PERIOD_SECONDS,
            "timeoutSeconds": PROBE_TIMEOUT_SECONDS,
            "failureThreshold": LIVENESS_FAILURE_THRESHOLD,
        }
    resources = runtime.resources.to_dict()
    if resources:
        container["resources"] = resources
    # The root filesystem is read-only: downloads and caches go to an emptyDir.
    container["volumeMounts"] = [{"name": "tmp", "mountPath": "/tmp"}]
    claim = _pvc_claim(model.storage_uri)
    if claim:
        container["volumeMounts"].append({"name": "model-store", "mountPath": f"{PVC_ROOT}/{claim}", "readOnly": True})
    return container


def model_server_deployment(
    name: str,
    namespace: str,
    spec: ModelDeploymentSpec,
    model: ResolvedModel,
    track: Track,
    replicas: int,
    image: str,
) -> dict[str, Any]:
    """The Deployment of one track, carrying Prometheus scrape annotations on its pods."""
    runtime = spec.runtime
    labels = pod_labels(name, track, model.version)
    pod_spec: dict[str, Any] = {
        "containers": [server_container(name, spec, model, track, image)],
        "terminationGracePeriodSeconds": 10,
        "volumes": [{"name": "tmp", "emptyDir": {}}],
    }
    claim = _pvc_claim(model.storage_uri)
    if claim:
        pod_spec["volumes"].append(
            {"name": "model-store", "persistentVolumeClaim": {"claimName": claim, "readOnly": True}}
        )
    rolling = spec.rollout.rolling_update
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": deployment_name(name, track), "namespace": namespace, "labels": labels},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": selector(name, track)},
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxSurge": rolling.max_surge, "maxUnavailable": rolling.max_unavailable},
            },
            "template": {
                "metadata": {
                    "labels": labels,
                    "annotations": {
                        "prometheus.io/scrape": "true",
                        "prometheus.io/port": str(runtime.metrics_port or runtime.port),
                        "prometheus.io/path": runtime.metrics_path,
                    },
                },
                "spec": pod_spec,
            },
        },
    }


def service(name: str, namespace: str, port: int, track: Track | None = None) -> dict[str, Any]:
    """The shared Service (both tracks: traffic splits by replica ratio) or a per-track Service."""
    service_name = name if track is None else f"{name}-{track}"
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": service_name, "namespace": namespace, "labels": owner_labels(name)},
        "spec": {
            "selector": selector(name, track),
            "ports": [{"name": "http", "port": 80, "targetPort": port, "protocol": "TCP"}],
        },
    }


def horizontal_pod_autoscaler(name: str, namespace: str, spec: ModelDeploymentSpec) -> dict[str, Any] | None:
    """An autoscaling/v2 HPA on the stable Deployment, when autoscaling is set."""
    autoscaling = spec.autoscaling
    if autoscaling is None:
        return None
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": name, "namespace": namespace, "labels": owner_labels(name)},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": deployment_name(name, "stable")},
            "minReplicas": autoscaling.min_replicas,
            "maxReplicas": autoscaling.max_replicas,
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {
                        "name": "cpu",
                        "target": {"type": "Utilization", "averageUtilization": autoscaling.target_cpu_utilization},
                    },
                }
            ],
        },
    }


def endpoint(name: str, namespace: str) -> str:
    """In-cluster URL of the shared Service."""
    return f"http://{name}.{namespace}.svc"

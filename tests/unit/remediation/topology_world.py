"""A namespace as the operator observes it: a ModelDeployment ``fraud`` with its children, a RetrainPolicy,
three AnomalyRules, a workload that is not ours (``cache`` with its Service) and an unrelated ``billing``."""

from __future__ import annotations

from typing import Any

NS = "ns"
JSON = dict[str, Any]


def obj(kind: str, name: str, labels: dict[str, str] | None = None, **extra: Any) -> JSON:
    meta: JSON = {"name": name, "namespace": NS, "labels": labels or {}}
    if "owner" in extra:
        kind_, owner = extra.pop("owner")
        meta["ownerReferences"] = [{"kind": kind_, "name": owner, "uid": "u"}]
    if "annotations" in extra:
        meta["annotations"] = extra.pop("annotations")
    return {"kind": kind, "metadata": meta, **extra}


def ours(name: str) -> dict[str, str]:
    return {
        "app.kubernetes.io/managed-by": "mlaiops",
        "mlaiops.dev/owner": f"ModelDeployment.{name}",
        "mlaiops.dev/model-deployment": name,
    }


def pod_labels(track: str, version: str) -> dict[str, str]:
    return {**ours("fraud"), "mlaiops.dev/track": track, "mlaiops.dev/version": version}


def world(http_route: bool = True) -> list[JSON]:
    rollout = {"trafficRouting": {"gatewayAPI": {"httpRoute": "fraud-route"}}} if http_route else {}
    return [
        obj("ModelDeployment", "fraud", spec={"model": {"name": "fraud-model"}, "rollout": rollout}),
        obj(
            "Deployment",
            "fraud-stable",
            ours("fraud"),
            owner=("ModelDeployment", "fraud"),
            spec={
                "selector": {"matchLabels": {"mlaiops.dev/model-deployment": "fraud", "mlaiops.dev/track": "stable"}},
                "template": {"metadata": {"labels": pod_labels("stable", "v1")}},
            },
        ),
        obj(
            "Deployment",
            "fraud-canary",
            ours("fraud"),
            owner=("ModelDeployment", "fraud"),
            spec={
                "selector": {"matchLabels": {"mlaiops.dev/model-deployment": "fraud", "mlaiops.dev/track": "canary"}},
                "template": {"metadata": {"labels": pod_labels("canary", "v2")}},
            },
        ),
        obj("Pod", "fraud-stable-a", pod_labels("stable", "v1")),
        obj("Pod", "fraud-canary-a", pod_labels("canary", "v2")),
        obj(
            "Service",
            "fraud",
            ours("fraud"),
            owner=("ModelDeployment", "fraud"),
            spec={"selector": {"mlaiops.dev/model-deployment": "fraud"}},
        ),
        obj(
            "HorizontalPodAutoscaler",
            "fraud",
            ours("fraud"),
            spec={"scaleTargetRef": {"kind": "Deployment", "name": "fraud-stable"}},
            status={"lastScaleTime": "2026-11-27T11:40:00Z", "desiredReplicas": 3},
        ),
        obj("RetrainPolicy", "nightly", spec={"modelDeploymentRef": {"name": "fraud"}}),
        obj("AnomalyRule", "latency", spec={"target": {"kind": "ModelDeployment", "name": "fraud"}}),
        obj("AnomalyRule", "canary-errors", spec={"target": {"kind": "Deployment", "name": "fraud-canary"}}),
        obj("AnomalyRule", "drift", spec={}),  # no target: its series' labels say what it watches
        # not ours: a cache whose pods are found by its Deployment's and its Service's selectors
        obj(
            "Deployment",
            "cache",
            {"app": "cache"},
            spec={
                "selector": {"matchLabels": {"app": "cache"}},
                "template": {"metadata": {"labels": {"app": "cache"}}},
            },
        ),
        obj("Pod", "cache-xyz", {"app": "cache"}),
        obj("Service", "cache", spec={"selector": {"app": "cache"}}),
        obj(
            "Deployment",
            "billing",
            {"app": "billing"},
            annotations={"deployment.kubernetes.io/revision": "4"},
            spec={
                "selector": {"matchLabels": {"app": "billing"}},
                "template": {"spec": {"containers": [{"name": "b", "image": "billing:2"}]}},
            },
            status={"conditions": [{"type": "Progressing", "lastUpdateTime": "2026-11-27T11:59:00Z"}]},
        ),
    ]

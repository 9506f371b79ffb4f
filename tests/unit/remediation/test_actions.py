"""The action executors against an in-memory API: minHealthy for restart, and rollback/retrain requests sent once."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import pytest

from mlaiops import kube_requests
from mlaiops.api.annotations import RETRAIN_ANNOTATION, ROLLBACK_ANNOTATION
from mlaiops.api.remediationplaybook import RemediationPlaybookSpec
from mlaiops.remediation import actions, guardrails
from mlaiops.retrain.runs import PLAYBOOK_PREFIX

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
JSON = dict[str, Any]


class FakeKube:
    """get/list/patch/delete over a dict of objects keyed by (kind, name); records every patch."""

    def __init__(self, *objects: JSON) -> None:
        self.objects = {(o["kind"], o["metadata"]["name"]): copy.deepcopy(o) for o in objects}
        self.patches: list[tuple[str, str, Any]] = []

    def get(self, api_version: str, kind: str, namespace: str | None, name: str, sub: str | None = None) -> JSON | None:
        found = self.objects.get((kind, name))
        return copy.deepcopy(found) if found else None

    def list(self, api_version: str, kind: str, namespace: str | None, selector: str | None = None) -> list[JSON]:
        wanted = dict(part.split("=") for part in selector.split(",")) if selector else {}
        return [
            copy.deepcopy(o)
            for (k, _), o in self.objects.items()
            if k == kind and wanted.items() <= (o["metadata"].get("labels") or {}).items()
        ]

    def patch(self, api_version: str, kind: str, namespace: str | None, name: str, body: Any, **_: Any) -> JSON:
        self.patches.append((kind, name, body))
        target = self.objects[(kind, name)]
        annotations = (body.get("metadata") or {}).get("annotations")
        if annotations:
            target["metadata"].setdefault("annotations", {}).update(annotations)
        return copy.deepcopy(target)


def deployment(kind: str = "Deployment", replicas: int = 2, strategy: JSON | None = None) -> JSON:
    spec: JSON = {
        "replicas": replicas,
        "selector": {"matchLabels": {"app": "web"}},
        "template": {"metadata": {}, "spec": {"containers": [{"name": "web"}]}},
    }
    if strategy is not None:
        spec["strategy" if kind == "Deployment" else "updateStrategy"] = strategy
    return {"kind": kind, "metadata": {"name": "web", "namespace": "shop"}, "spec": spec}


def pod(name: str, ready: bool) -> JSON:
    condition = {"type": "Ready", "status": "True" if ready else "False"}
    return {"kind": "Pod", "metadata": {"name": name, "labels": {"app": "web"}}, "status": {"conditions": [condition]}}


def spec(action: JSON, min_healthy: int | str = 1) -> RemediationPlaybookSpec:
    return RemediationPlaybookSpec.model_validate(
        {"triggers": [{"rules": [{"name": "r"}]}], "actions": [action], "guardrails": {"minHealthy": min_healthy}}
    )


def context(kube: FakeKube, kind: str, playbook: RemediationPlaybookSpec, name: str = "web") -> actions.Context:
    return actions.Context(
        kube,  # type: ignore[arg-type]
        "shop",
        kind,
        name,
        playbook,
        playbook.actions[0],
        "fix-20261127120000",
        "playbook-fix-20261127120000",
        now=NOW,
    )


# --- restart honours minHealthy ------------------------------------------------------------------------


def test_a_statefulset_restart_that_would_leave_fewer_than_min_healthy_ready_is_refused() -> None:
    kube = FakeKube(deployment("StatefulSet", replicas=2), pod("web-0", True), pod("web-1", False))
    with pytest.raises(actions.ActionRefused, match=r"1 pods ready; a restart takes 1 at a time .* minHealthy 1"):
        actions.plan(context(kube, "StatefulSet", spec({"type": "restart"})))


def test_a_restart_that_keeps_min_healthy_ready_is_planned() -> None:
    kube = FakeKube(deployment("StatefulSet", replicas=2), pod("web-0", True), pod("web-1", True))
    assert actions.plan(context(kube, "StatefulSet", spec({"type": "restart"}))) == {
        "restartedAt": "2026-11-27T12:00:00Z"
    }


def test_a_percentage_min_healthy_counts_against_the_desired_replicas() -> None:
    kube = FakeKube(deployment(replicas=4), *(pod(f"web-{i}", True) for i in range(4)))
    ctx = context(kube, "Deployment", spec({"type": "restart"}, min_healthy="100%"))
    with pytest.raises(actions.ActionRefused, match="minHealthy 4"):
        actions.plan(ctx)  # 25% of 4 = 1 pod unavailable at a time: 3 < 4


def test_a_surge_only_restart_never_takes_ready_pods_away() -> None:
    surge = {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}
    kube = FakeKube(deployment(replicas=1, strategy=surge), pod("web-0", False))
    assert "restartedAt" in actions.plan(context(kube, "Deployment", spec({"type": "restart"})))


def test_a_model_deployment_restart_counts_the_pods_of_its_stable_deployment() -> None:
    stable = deployment(replicas=1, strategy={"type": "Recreate"})
    stable["metadata"]["name"] = "fraud-stable"
    kube = FakeKube(stable, pod("fraud-stable-0", True))
    with pytest.raises(actions.ActionRefused, match="a restart takes 1"):
        actions.plan(context(kube, "ModelDeployment", spec({"type": "restart"}), name="fraud"))


@pytest.mark.parametrize(
    ("kind", "strategy", "desired", "expected"),
    [
        ("Deployment", None, 4, 1),
        ("Deployment", None, 3, 0),
        ("Deployment", {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "50%"}}, 5, 2),
        ("Deployment", {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 2}}, 5, 2),
        ("Deployment", {"type": "Recreate"}, 3, 3),
        ("StatefulSet", None, 3, 1),
        ("StatefulSet", {"type": "OnDelete"}, 3, 0),
    ],
)
def test_restart_unavailable_follows_the_update_strategy(
    kind: str, strategy: JSON | None, desired: int, expected: int
) -> None:
    workload = {"strategy" if kind == "Deployment" else "updateStrategy": strategy} if strategy else {}
    assert guardrails.restart_unavailable(kind, workload, desired) == expected


# --- rollback and retrain go through kube_requests, once ----------------------------------------------


def model_deployment(annotation: str | None = None) -> JSON:
    annotations = {ROLLBACK_ANNOTATION: annotation} if annotation else {}
    return {"kind": "ModelDeployment", "metadata": {"name": "fraud", "annotations": annotations}, "spec": {}}


def test_rollback_requests_once_even_when_the_step_is_resumed() -> None:
    kube = FakeKube(model_deployment())
    ctx = context(kube, "ModelDeployment", spec({"type": "rollback"}), name="fraud")
    assert actions.run(ctx, {}) == "requested rollback of ModelDeployment/fraud"
    assert actions.run(ctx, {}) == "requested rollback of ModelDeployment/fraud"
    assert len(kube.patches) == 1
    value = kube.objects[("ModelDeployment", "fraud")]["metadata"]["annotations"][ROLLBACK_ANNOTATION]
    assert value.startswith("playbook-fix-20261127120000@")


def test_retrain_requests_carry_the_playbook_prefix_the_retrain_planner_reads() -> None:
    policy = {"kind": "RetrainPolicy", "metadata": {"name": "nightly"}, "spec": {}}
    kube = FakeKube(policy)
    ctx = context(kube, "Deployment", spec({"type": "retrain", "retrain": {"policyRef": {"name": "nightly"}}}))
    actions.run(ctx, {})
    actions.run(ctx, {})
    assert len(kube.patches) == 1
    value = kube.objects[("RetrainPolicy", "nightly")]["metadata"]["annotations"][RETRAIN_ANNOTATION]
    assert value.startswith(f"{PLAYBOOK_PREFIX}playbook-fix-20261127120000@")
    assert kube_requests.PLAYBOOK_PREFIX == PLAYBOOK_PREFIX


def test_a_missing_retrain_policy_fails_the_step() -> None:
    ctx = context(FakeKube(), "Deployment", spec({"type": "retrain", "retrain": {"policyRef": {"name": "gone"}}}))
    with pytest.raises(actions.ActionError, match="RetrainPolicy gone not found"):
        actions.run(ctx, {})

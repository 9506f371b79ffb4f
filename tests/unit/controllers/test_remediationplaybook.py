"""The RemediationPlaybook controller's shell against an in-memory API: clients from ``memo``, status written
before the step acts, errors turned into outcomes, events on the playbook, the rule and the target."""

from __future__ import annotations

import copy
import logging
from types import SimpleNamespace
from typing import Any

import kopf
import pytest
from kubernetes.client.exceptions import ApiException

from mlaiops.api.remediationplaybook import RemediationPlaybookSpec
from mlaiops.controllers import remediationplaybook as controller
from mlaiops.remediation.planner import Step

JSON = dict[str, Any]
NS = "shop"


class MemoryKube:
    """Just enough of ``Kube`` for one playbook: objects by (kind, name), a scale subresource, a call log."""

    def __init__(self, *objects: JSON) -> None:
        self.objects = {(o["kind"], o["metadata"]["name"]): copy.deepcopy(o) for o in objects}
        self.calls: list[str] = []
        self.fail_scale: ApiException | None = None

    def get(self, api_version: str, kind: str, namespace: str | None, name: str, sub: str | None = None) -> Any:
        found = self.objects.get((kind, name))
        if found is None:
            return None
        if sub == "scale":
            return {"spec": {"replicas": found["spec"]["replicas"]}}
        return copy.deepcopy(found)

    def list(self, api_version: str, kind: str, namespace: str | None, selector: str | None = None) -> list[JSON]:
        return [copy.deepcopy(o) for (k, _), o in self.objects.items() if k == kind]

    def patch(self, api_version: str, kind: str, namespace: str | None, name: str, body: Any, **kw: Any) -> JSON:
        obj = self.objects[(kind, name)]
        if kw.get("sub") == "status":
            self.calls.append(f"status:{[e['state'] for e in body['status'].get('executions') or []]}")
            obj["status"] = body["status"]
        elif kw.get("sub") == "scale":
            if self.fail_scale is not None:
                raise self.fail_scale
            self.calls.append(f"scale:{body['spec']['replicas']}")
            obj["spec"]["replicas"] = body["spec"]["replicas"]
        return copy.deepcopy(obj)

    def apply(self, obj: JSON, owner: JSON | None = None, current: Any = None) -> tuple[JSON, bool]:
        self.objects[(obj["kind"], obj["metadata"]["name"])] = copy.deepcopy(obj)
        self.calls.append(f"apply:{obj['kind']}")
        return copy.deepcopy(obj), True


def world() -> MemoryKube:
    rule = {
        "kind": "AnomalyRule",
        "metadata": {"name": "latency", "namespace": NS},
        "spec": {"severity": "warning"},
        "status": {
            "state": "Firing",
            "series": [{"fingerprint": "fp1", "state": "Firing", "since": "2026-11-27T12:00:00Z"}],
        },
    }
    book = {
        "kind": "RemediationPlaybook",
        "metadata": {"name": "fix", "namespace": NS, "generation": 1},
        "spec": {
            "triggers": [{"rules": [{"name": "latency"}]}],
            "target": {"kind": "Deployment", "name": "web"},
            "actions": [{"name": "scale-out", "type": "scale", "scale": {"delta": 1}}],
        },
    }
    web = {"kind": "Deployment", "metadata": {"name": "web", "namespace": NS}, "spec": {"replicas": 1}}
    return MemoryKube(rule, book, web)


@pytest.fixture
def events(monkeypatch: pytest.MonkeyPatch) -> list[tuple[list[str], str]]:
    posted: list[tuple[list[str], str]] = []
    monkeypatch.setattr(
        kopf, "event", lambda objs, type, reason, message: posted.append(([o["kind"] for o in objs], reason))
    )
    return posted


def reconcile(kube: MemoryKube) -> None:
    memo = SimpleNamespace(kube=kube, prometheus=None)
    controller.reconcile(namespace=NS, name="fix", memo=memo, logger=logging.getLogger("test"))  # type: ignore[arg-type]


def test_a_pass_writes_the_execution_before_it_scales_and_emits_events(events: list[tuple[list[str], str]]) -> None:
    kube = world()
    reconcile(kube)
    scaled = kube.calls.index("scale:2")
    assert any(c.startswith("status:['Running']") for c in kube.calls[:scaled])  # in status before acting
    status = kube.objects[("RemediationPlaybook", "fix")]["status"]
    execution = status["executions"][0]
    assert execution["state"] == "Verifying" and execution["steps"][0]["params"] == {"replicas": "2", "from": "1"}
    assert "apply:Incident" in kube.calls
    assert events == [
        (["RemediationPlaybook", "AnomalyRule"], "ExecutionStarted"),
        (["RemediationPlaybook", "Deployment"], "StepSucceeded"),
    ]
    calls = len(kube.calls)
    reconcile(kube)  # level-triggered: nothing new to do, nothing written
    assert kube.calls[calls:] == []


def test_a_transient_api_error_leaves_the_step_running_for_the_next_pass(events: list[Any]) -> None:
    kube = world()
    kube.fail_scale = ApiException(status=503, reason="Unavailable")
    reconcile(kube)
    step = kube.objects[("RemediationPlaybook", "fix")]["status"]["executions"][0]["steps"][0]
    assert step["result"] == "Running"
    kube.fail_scale = None
    reconcile(kube)
    step = kube.objects[("RemediationPlaybook", "fix")]["status"]["executions"][0]["steps"][0]
    assert step["result"] == "Succeeded" and kube.calls.count("scale:2") == 1


def test_an_invalid_spec_is_reported_in_status_and_nothing_acts(events: list[Any]) -> None:
    kube = world()
    kube.objects[("RemediationPlaybook", "fix")]["spec"]["actions"] = [{"type": "scale"}]
    reconcile(kube)
    condition = kube.objects[("RemediationPlaybook", "fix")]["status"]["conditions"][0]
    assert condition["reason"] == "InvalidSpec" and "scale" in condition["message"]
    assert not any(c.startswith("scale") for c in kube.calls)


@pytest.mark.parametrize(
    ("error", "result"),
    [
        (ApiException(status=503, reason="Unavailable"), "Retry"),
        (ApiException(status=409, reason="Conflict"), "Retry"),
        (ApiException(status=422, reason="Unprocessable"), "Failed"),
    ],
)
def test_api_errors_become_outcomes(error: ApiException, result: str) -> None:
    kube = world()
    kube.fail_scale = error
    spec = RemediationPlaybookSpec.model_validate(kube.objects[("RemediationPlaybook", "fix")]["spec"])
    step = Step("act", "e1", 0, spec.actions[0], (NS, "Deployment", "web"), "r", params={"replicas": "2", "from": "1"})
    outcome = controller.carry_out(step, kube, None, spec, controller.datetime.now(controller.UTC))  # type: ignore[arg-type]
    assert (outcome.result, outcome.message) == (result, f"API error {error.status}: {error.reason}")

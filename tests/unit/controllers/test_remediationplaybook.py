"""The RemediationPlaybook controller's shell against an in-memory API: clients from ``memo``, status written
before the step acts, errors turned into outcomes, events on the playbook, the rule and the target, posted
exactly once whatever pass is interrupted, and a step's effect read from the target before it is credited."""

from __future__ import annotations

import copy
import logging
from types import SimpleNamespace
from typing import Any

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
        self.events: dict[str, JSON] = {}
        """Events by name, as the API server keeps them (a second create of a name is a 409)."""
        self.fail_events: ApiException | None = None

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

    def create(self, obj: JSON) -> JSON:
        if obj["kind"] != "Event":  # an Incident
            self.objects[(obj["kind"], obj["metadata"]["name"])] = copy.deepcopy(obj)
            self.calls.append(f"create:{obj['kind']}")
            return copy.deepcopy(obj)
        if self.fail_events is not None:
            raise self.fail_events
        name = obj["metadata"]["name"]
        if name in self.events:
            raise ApiException(status=409, reason="AlreadyExists")
        self.events[name] = copy.deepcopy(obj)
        return obj

    def posted(self) -> list[tuple[str, str]]:
        """(involved kind, reason) of every Event, in the order they were created."""
        return [(e["involvedObject"]["kind"], e["reason"]) for e in self.events.values()]

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
        "apiVersion": "mlaiops.dev/v1alpha1",
        "kind": "RemediationPlaybook",
        "metadata": {"name": "fix", "namespace": NS, "generation": 1, "uid": "uid-fix"},
        "spec": {
            "triggers": [{"rules": [{"name": "latency"}]}],
            "target": {"kind": "Deployment", "name": "web"},
            "actions": [{"name": "scale-out", "type": "scale", "scale": {"delta": 1}}],
        },
    }
    web = {"kind": "Deployment", "metadata": {"name": "web", "namespace": NS}, "spec": {"replicas": 1}}
    return MemoryKube(rule, book, web)


def reconcile(kube: MemoryKube) -> None:
    memo = SimpleNamespace(kube=kube, prometheus=None)
    controller.reconcile(namespace=NS, name="fix", memo=memo, logger=logging.getLogger("test"))  # type: ignore[arg-type]


def test_a_pass_writes_the_execution_before_it_scales_and_emits_events() -> None:
    kube = world()
    reconcile(kube)
    scaled = kube.calls.index("scale:2")
    assert any(c.startswith("status:['Running']") for c in kube.calls[:scaled])  # in status before acting
    status = kube.objects[("RemediationPlaybook", "fix")]["status"]
    execution = status["executions"][0]
    assert execution["state"] == "Verifying" and execution["steps"][0]["params"] == {"replicas": "2", "from": "1"}
    assert "create:Incident" in kube.calls
    assert kube.posted() == [
        ("RemediationPlaybook", "ExecutionStarted"),
        ("AnomalyRule", "ExecutionStarted"),
        ("RemediationPlaybook", "StepSucceeded"),
        ("Deployment", "StepSucceeded"),
    ]
    assert "pendingEvents" not in without_nulls(status)  # posted, so no longer pending
    calls = len(kube.calls)
    reconcile(kube)  # level-triggered: nothing new to do, nothing written
    assert kube.calls[calls:] == []


def test_a_transient_api_error_leaves_the_step_running_for_the_next_pass() -> None:
    kube = world()
    kube.fail_scale = ApiException(status=503, reason="Unavailable")
    reconcile(kube)
    step = kube.objects[("RemediationPlaybook", "fix")]["status"]["executions"][0]["steps"][0]
    assert step["result"] == "Running"
    kube.fail_scale = None
    reconcile(kube)
    step = kube.objects[("RemediationPlaybook", "fix")]["status"]["executions"][0]["steps"][0]
    assert step["result"] == "Succeeded" and kube.calls.count("scale:2") == 1


def test_an_invalid_spec_is_reported_in_status_and_nothing_acts() -> None:
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


def without_nulls(status: JSON) -> JSON:
    return {k: v for k, v in status.items() if v is not None}


class Interrupted(Exception):
    """The operator was killed here."""


def playbook_status(kube: MemoryKube) -> JSON:
    return without_nulls(kube.objects[("RemediationPlaybook", "fix")]["status"])


def test_killed_after_the_status_write_before_posting_the_next_pass_posts_every_event_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    kube = world()

    def killed(*_: Any) -> Any:
        raise Interrupted

    with monkeypatch.context() as patched:
        patched.setattr(controller, "post_events", killed)
        with pytest.raises(Interrupted):
            reconcile(kube)
    pending = playbook_status(kube)["pendingEvents"]  # the transitions and their events, in one write
    assert [(p["reason"], p["key"].split("/", 1)[1]) for p in pending] == [
        ("ExecutionStarted", "ExecutionStarted"),
        ("StepSucceeded", "0/StepSucceeded"),
    ]
    assert kube.posted() == []
    reconcile(kube)  # the restarted operator
    assert [reason for _, reason in kube.posted()] == ["ExecutionStarted"] * 2 + ["StepSucceeded"] * 2
    assert "pendingEvents" not in playbook_status(kube)


def test_killed_after_posting_before_the_status_write_the_next_pass_posts_nothing_twice() -> None:
    kube = world()
    patch = kube.patch
    posted_then_killed = {"armed": True}

    def status_write_dies_after_posting(api_version: str, kind: str, namespace: Any, name: str, body: Any, **kw: Any):
        if kw.get("sub") == "status" and kube.events and posted_then_killed["armed"]:
            posted_then_killed["armed"] = False
            raise Interrupted
        return patch(api_version, kind, namespace, name, body, **kw)

    kube.patch = status_write_dies_after_posting  # type: ignore[method-assign]
    with pytest.raises(Interrupted):
        reconcile(kube)
    assert len(kube.events) == 4 and len(playbook_status(kube)["pendingEvents"]) == 2  # posted, still pending
    reconcile(kube)  # the same names again: 409 AlreadyExists counts as posted
    assert len(kube.events) == 4 and "pendingEvents" not in playbook_status(kube)


def test_a_transient_error_while_posting_keeps_the_event_pending_and_a_refused_one_is_dropped() -> None:
    kube = world()
    kube.fail_events = ApiException(status=503, reason="Unavailable")
    reconcile(kube)
    assert len(playbook_status(kube)["pendingEvents"]) == 2 and kube.events == {}
    kube.fail_events = ApiException(status=403, reason="Forbidden")
    reconcile(kube)
    assert "pendingEvents" not in playbook_status(kube) and kube.events == {}


def test_event_names_are_the_same_for_the_same_transition_and_object(monkeypatch: pytest.MonkeyPatch) -> None:
    """Two operators posting the same pending events name them alike: the second create is a 409."""
    kube = world()
    kube.objects[("RemediationPlaybook", "fix")]["metadata"]["uid"] = "uid-1"

    def killed(*_: Any) -> Any:
        raise Interrupted

    with monkeypatch.context() as patched:
        patched.setattr(controller, "post_events", killed)
        with pytest.raises(Interrupted):
            reconcile(kube)
    replicas = [copy.deepcopy(kube), copy.deepcopy(kube)]
    for replica in replicas:
        reconcile(replica)
    assert sorted(replicas[0].events) == sorted(replicas[1].events)
    names = sorted(replicas[0].events)
    assert len(names) == 4 and {name.split(".")[0] for name in names} == {"fix", "latency", "web"}
    event = next(e for e in replicas[0].events.values() if e["involvedObject"]["kind"] == "RemediationPlaybook")
    assert event["involvedObject"]["uid"] == "uid-1" and event["source"] == {"component": "mlaiops"}
    assert event["metadata"]["namespace"] == NS and event["count"] == 1


def test_a_step_is_credited_only_once_the_replicas_it_asked_for_are_ready() -> None:
    kube = world()
    playbook = kube.objects[("RemediationPlaybook", "fix")]
    playbook["spec"]["actions"][0]["verify"] = {"within": "1h"}
    reconcile(kube)  # scaled 1 -> 2
    kube.objects[("AnomalyRule", "latency")]["status"] = {"state": "Normal", "series": []}  # resolved
    web = kube.objects[("Deployment", "web")]
    web["metadata"]["generation"] = 2
    web["status"] = {"observedGeneration": 2, "replicas": 2, "readyReplicas": 1, "updatedReplicas": 2}
    reconcile(kube)
    execution = playbook_status(kube)["executions"][0]
    assert execution["state"] == "Verifying" and execution["steps"][0].get("verified") is None
    web["status"]["readyReplicas"] = 2
    reconcile(kube)
    execution = playbook_status(kube)["executions"][0]
    assert (execution["state"], execution["reason"]) == ("Succeeded", "Verified")


def test_a_target_that_cannot_be_read_is_not_credited_and_the_pass_goes_on() -> None:
    kube = world()
    kube.objects[("RemediationPlaybook", "fix")]["spec"]["actions"][0]["verify"] = {"within": "1h"}
    reconcile(kube)
    kube.objects[("AnomalyRule", "latency")]["status"] = {"state": "Normal", "series": []}
    kube.objects[("Deployment", "web")]["spec"]["replicas"] = "many"  # not a number
    reconcile(kube)
    assert playbook_status(kube)["executions"][0]["state"] == "Verifying"


def test_a_target_that_cannot_be_read_keeps_its_event_pending_and_a_vanished_one_is_left_out() -> None:
    """A passing API error reading the target must not count the target's Event as posted."""
    kube = world()
    body = kube.objects[("RemediationPlaybook", "fix")]
    about = [f"target:{NS}/Deployment/web"]

    def failing(error: ApiException) -> Any:
        def get(*_: Any, **__: Any) -> Any:
            raise error

        return get

    kube.get = failing(ApiException(status=503, reason="Unavailable"))  # type: ignore[method-assign]
    with pytest.raises(ApiException):
        controller.event_objects(kube, body, about, {})
    kube.get = failing(ApiException(status=404, reason="NotFound"))  # type: ignore[method-assign]
    assert controller.event_objects(kube, body, about, {}) == [body]

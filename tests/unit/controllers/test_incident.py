"""The Incident shell against an in-memory API: two rules on related objects make one Incident and one
execution, its notification is recorded Sending before it is POSTed and sent once across passes, and a
restart between the two writes does not send it again."""

from __future__ import annotations

import copy
import logging
from types import SimpleNamespace
from typing import Any

import pytest
from kubernetes.client.exceptions import ApiException

from mlaiops.controllers import incident as controller_incident
from mlaiops.controllers import remediationplaybook as controller
from tests.unit.controllers.test_remediationplaybook import NS, MemoryKube

JSON = dict[str, Any]


def rule(name: str, target: JSON) -> JSON:
    return {
        "kind": "AnomalyRule",
        "metadata": {"name": name, "namespace": NS, "labels": {"team": "fraud"}},
        "spec": {"severity": "warning", "target": target},
        "status": {
            "state": "Firing",
            "series": [{"fingerprint": f"fp-{name}", "state": "Firing", "since": "2026-11-27T12:00:00Z"}],
        },
    }


def world() -> MemoryKube:
    book = {
        "apiVersion": "mlaiops.dev/v1alpha1",
        "kind": "RemediationPlaybook",
        "metadata": {"name": "fix", "namespace": NS, "generation": 1, "uid": "uid-fix"},
        "spec": {
            "triggers": [{"selector": {"matchLabels": {"team": "fraud"}}}],
            "actions": [{"name": "bounce", "type": "restart", "verify": {"within": "10m"}}],
            "guardrails": {"suppressDuringRollout": False},
            "incident": {"notify": {"urlSecretRef": {"name": "mlaiops-notify", "key": "url"}}},
        },
    }
    md = {
        "kind": "ModelDeployment",
        "metadata": {"name": "fraud", "namespace": NS},
        "spec": {},
        "status": {"history": [{"version": "v2", "outcome": "Promoted", "startedAt": "2026-11-27T11:58:00Z"}]},
    }
    canary = {
        "kind": "Deployment",
        "metadata": {
            "name": "fraud-canary",
            "namespace": NS,
            "ownerReferences": [{"kind": "ModelDeployment", "name": "fraud", "uid": "u"}],
        },
        "spec": {"replicas": 1, "template": {"metadata": {}}},
    }
    return MemoryKube(
        book,
        md,
        canary,
        rule("latency", {"kind": "ModelDeployment", "name": "fraud"}),
        rule("errors", {"kind": "Deployment", "name": "fraud-canary"}),
    )


def reconcile(kube: MemoryKube, playbook: str = "fix") -> None:
    memo = SimpleNamespace(kube=kube, prometheus=None)
    controller.reconcile(namespace=NS, name=playbook, memo=memo, logger=logging.getLogger("test"))  # type: ignore[arg-type]


class Posts(list[tuple[str, JSON]]):
    """The POSTs of incident notifications, each with the Incident's stored status at that moment."""

    kube: MemoryKube | None = None


@pytest.fixture
def posts(monkeypatch: pytest.MonkeyPatch) -> Posts:
    sent = Posts()

    def notify(ctx: Any, text: str, details: JSON | None = None) -> str:
        assert sent.kube is not None
        stored = sent.kube.objects[("Incident", ctx.incident)]
        sent.append((text, dict(stored.get("status") or {})))
        return "notified (generic, HTTP 200)"

    monkeypatch.setattr(controller_incident.actions, "notify", notify)
    return sent


def incidents(kube: MemoryKube) -> list[JSON]:
    return [o for (kind, _), o in kube.objects.items() if kind == "Incident"]


def test_two_related_rules_make_one_incident_one_execution_and_one_notification(posts: Posts) -> None:
    kube = world()
    posts.kube = kube
    restarts: list[str] = []
    original = controller.carry_out

    def carry_out(step: Any, *args: Any, **kwargs: Any) -> Any:
        restarts.append(step.target_name)
        return original(step, *args, **kwargs)

    controller.carry_out = carry_out  # type: ignore[assignment]
    try:
        reconcile(kube)
        reconcile(kube)
    finally:
        controller.carry_out = original  # type: ignore[assignment]
    [found] = incidents(kube)
    status = found["status"]
    assert found["spec"]["target"] in ("ModelDeployment/fraud", "Deployment/fraud-canary")
    assert sorted(a["rule"] for a in status["anomalies"]) == [f"{NS}/errors", f"{NS}/latency"]
    joined = next(a for a in status["anomalies"] if a.get("path"))
    assert joined["path"][-1] in ("-owns-> ModelDeployment/fraud", "-owns-> Deployment/fraud-canary")
    assert status["objects"] == ["Deployment/fraud-canary", "ModelDeployment/fraud"]
    assert status["probableCauses"][0]["cause"].startswith("Rollout: rollout of v2 on ModelDeployment/fraud")
    executions = kube.objects[("RemediationPlaybook", "fix")]["status"]["executions"]
    assert [e["incident"] for e in executions] == [found["metadata"]["name"]]
    assert len(posts) == 1 and posts[0][0].startswith(f"Incident {NS}/{found['metadata']['name']} opened")
    assert "probable cause: Rollout" in posts[0][0]
    assert [(n["event"], n["result"]) for n in posts[0][1]["notifications"]] == [("Opened", "Sending")]  # before
    assert [(n["event"], n["result"]) for n in status["notifications"]] == [("Opened", "Succeeded")]  # after


def test_a_restart_between_recording_and_result_does_not_send_again(
    posts: list, monkeypatch: pytest.MonkeyPatch
) -> None:
    kube = world()
    posts.kube = kube

    def killed(*args: Any, **kwargs: Any) -> Any:
        raise SystemExit("operator killed during the POST")

    monkeypatch.setattr(controller_incident, "send", killed)
    with pytest.raises(SystemExit):
        reconcile(kube)
    monkeypatch.undo()
    monkeypatch.setattr(controller_incident.actions, "notify", lambda *a, **k: pytest.fail("sent twice"))
    reconcile(kube)
    [found] = incidents(kube)
    [record] = found["status"]["notifications"]
    assert (record["event"], record["result"]) == ("Opened", "Failed") and "not repeated" in record["message"]


def test_a_dry_run_playbook_records_its_notification_suppressed(posts: Posts) -> None:
    kube = world()
    posts.kube = kube
    kube.objects[("RemediationPlaybook", "fix")]["spec"]["dryRun"] = True
    reconcile(kube)
    [found] = incidents(kube)
    [record] = found["status"]["notifications"]
    assert (record["event"], record["result"], record["message"]) == (
        "Opened",
        "Suppressed",
        "dry run: recorded, not sent",
    )
    assert posts == []


def test_a_silence_is_said_in_the_incident_and_nothing_acts(posts: Posts) -> None:
    kube = world()
    posts.kube = kube
    kube.objects[("RemediationPlaybook", "fix")]["spec"]["incident"]["silences"] = [
        {"name": "db-move", "start": "2020-01-01T00:00:00Z", "end": "2999-01-01T00:00:00Z", "comment": "planned"}
    ]
    reconcile(kube)
    [found] = incidents(kube)
    status = found["status"]
    assert status["resolution"].startswith("no execution started: refused (Silenced: no action during silence db-move")
    assert [(n["event"], n["result"]) for n in status["notifications"]] == [("Opened", "Suppressed")]
    assert "silence db-move (until 2999-01-01T00:00:00+00:00): planned" == status["notifications"][0]["message"]
    executions = kube.objects[("RemediationPlaybook", "fix")]["status"]["executions"]
    assert {e["state"] for e in executions} == {"Refused"} and posts == []


def test_two_playbooks_on_related_rules_keep_their_incidents_linked_and_announce_once(posts: Posts) -> None:
    kube = world()
    posts.kube = kube
    fix = kube.objects[("RemediationPlaybook", "fix")]
    fix["spec"]["triggers"] = [{"rules": [{"name": "latency"}]}]
    canary = copy.deepcopy(fix)
    canary["metadata"].update(name="fix-canary", uid="uid-fix-canary")
    canary["spec"]["triggers"] = [{"rules": [{"name": "errors"}]}]
    kube.objects[("RemediationPlaybook", "fix-canary")] = canary
    reconcile(kube)
    reconcile(kube, "fix-canary")
    reconcile(kube, "fix-canary")
    mine = {o["metadata"]["labels"]["mlaiops.dev/owner"]: o for o in incidents(kube)}
    first, second = mine["RemediationPlaybook.fix"], mine["RemediationPlaybook.fix-canary"]
    assert second["status"]["related"] == {
        "name": first["metadata"]["name"],
        "playbook": "fix",
        "path": ["ModelDeployment/fraud", "-owns-> Deployment/fraud-canary"],
    }
    assert [(n["event"], n["result"]) for n in second["status"]["notifications"]] == [("Opened", "Suppressed")]
    assert [text.split(":")[0] for text, _ in posts] == [f"Incident {NS}/{first['metadata']['name']} opened"]
    executions = kube.objects[("RemediationPlaybook", "fix-canary")]["status"]["executions"]
    assert [e["incident"] for e in executions] == [second["metadata"]["name"]]  # each acts on its own


def test_an_incident_whose_create_failed_is_created_after_its_anomaly_stopped(
    posts: Posts, monkeypatch: pytest.MonkeyPatch
) -> None:
    kube = world()
    posts.kube = kube
    create = kube.create

    def failing(obj: JSON) -> JSON:
        if obj["kind"] == "Incident":
            raise ApiException(status=500, reason="InternalError")
        return create(obj)

    monkeypatch.setattr(kube, "create", failing)
    with pytest.raises(ApiException):
        reconcile(kube)
    [execution] = kube.objects[("RemediationPlaybook", "fix")]["status"]["executions"]
    assert incidents(kube) == []  # recorded by the execution, lost by the API
    monkeypatch.setattr(kube, "create", create)
    for name in ("latency", "errors"):
        kube.objects[("AnomalyRule", name)]["status"] = {"state": "Normal", "series": []}
    reconcile(kube)
    [found] = incidents(kube)
    assert found["metadata"]["name"] == execution["incident"] and found["status"]["phase"] == "Resolved"
    assert found["status"]["steps"][0]["execution"] == execution["id"]

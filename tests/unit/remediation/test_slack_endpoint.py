"""The Slack endpoint's decision against a recording API stand-in, and its place on the receiver's port."""

from __future__ import annotations

import asyncio
import json
import socket
import urllib.error
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from mlaiops.remediation import approvals
from mlaiops.remediation.alertmanager import AlertStore
from mlaiops.remediation.receiver import start
from mlaiops.remediation.slack_endpoint import Identity, decide, mapped_identity, routes
from mlaiops.remediation.slack_requests import Press
from mlaiops.settings import Settings

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
KEY = approvals.record_key(b"signing secret")
SETTINGS = Settings(slack_signing_secret="signing secret", lease_namespace="mlaiops-system")


class API:
    """Answers the endpoint's reads and records its writes, as the API server would for one playbook."""

    def __init__(self, allowed: bool = True, state: str = "AwaitingApproval", mapping: dict[str, str] | None = None):
        self.allowed = allowed
        self.mapping = {"U1": "alice@example.com", "U1.groups": "sre, oncall"} if mapping is None else mapping
        self.playbook: dict[str, Any] | None = {
            "metadata": {"namespace": "shop", "name": "fix", "resourceVersion": "7", "annotations": {}},
            "status": {"executions": [{"id": "e1", "state": state, "message": "waiting"}]},
        }
        self.reviews: list[dict[str, Any]] = []
        self.patches: list[dict[str, Any]] = []

    def get(self, api_version: str, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        if kind == "ConfigMap":
            assert (namespace, name) == ("mlaiops-system", "mlaiops-slack-users")
            return {"data": self.mapping}
        assert (kind, namespace, name) == ("RemediationPlaybook", "shop", "fix")
        return self.playbook

    def create(self, obj: dict[str, Any]) -> dict[str, Any]:
        self.reviews.append(obj)
        return {**obj, "status": {"allowed": self.allowed, **({} if self.allowed else {"reason": "no RBAC rule"})}}

    def patch(self, api_version: str, kind: str, namespace: str, name: str, body: dict[str, Any]) -> dict[str, Any]:
        self.patches.append(body)
        return {}


def press(user: str = "U1", approve: bool = True) -> Press:
    return Press(approve, "shop", "fix", "e1", user, "alice", "T1", None, "shop/fix/e1")


def run(api: API, pressed: Press | None = None) -> Any:
    return decide(api, SETTINGS, pressed or press(), KEY, NOW)  # type: ignore[arg-type]


def test_the_mapping_names_a_user_and_optional_groups() -> None:
    data = {"U1": " alice@example.com ", "U1.groups": "sre, ,oncall", "U2": "bob", "U3": "  "}
    assert mapped_identity(data, "U1") == Identity("alice@example.com", ("sre", "oncall"))
    assert mapped_identity(data, "U2") == Identity("bob")
    assert mapped_identity(data, "U3") is None and mapped_identity(data, "U9") is None


def test_an_authorized_press_writes_a_verifiable_decision_guarded_by_the_resource_version() -> None:
    api = API()
    answer = run(api)
    assert answer.status == 200 and answer.body["user"] == "alice@example.com"
    (review,) = api.reviews
    assert review["kind"] == "SubjectAccessReview" and review["spec"]["user"] == "alice@example.com"
    assert review["spec"]["groups"] == ["sre", "oncall"]
    assert review["spec"]["resourceAttributes"] == {
        "namespace": "shop",
        "verb": "update",
        "group": "mlaiops.dev",
        "resource": "remediationplaybooks",
        "subresource": "approval",
        "name": "fix",
    }
    (patch,) = api.patches
    assert patch["metadata"]["resourceVersion"] == "7"
    decisions = approvals.parse(patch["metadata"]["annotations"][approvals.APPROVALS_ANNOTATION], KEY)
    assert decisions["e1"].approved and decisions["e1"].user == "alice@example.com"
    assert answer.reply["replace_original"] is True


def test_an_unmapped_user_is_refused_before_any_review() -> None:
    api = API(mapping={})
    answer = run(api)
    assert answer.status == 403 and "Slack user U1 is not mapped" in answer.body["error"]
    assert "mlaiops-system/mlaiops-slack-users" in answer.body["error"]
    assert api.reviews == [] and api.patches == []
    assert answer.reply["response_type"] == "ephemeral"


def test_a_denied_review_is_refused_with_its_reason_and_nothing_written() -> None:
    api = API(allowed=False)
    answer = run(api)
    assert answer.status == 403
    assert answer.body["error"] == (
        "alice@example.com may not update remediationplaybooks/approval shop/fix: no RBAC rule"
    )
    assert api.patches == []


@pytest.mark.parametrize(("state", "status"), [("Running", 409), ("Expired", 409)])
def test_an_execution_no_longer_waiting_is_not_decided(state: str, status: int) -> None:
    api = API(state=state)
    answer = run(api)
    assert answer.status == status and f"execution e1 is {state}" in answer.body["error"] and api.patches == []
    assert answer.reply["replace_original"] is True  # the stale request is closed in place
    assert answer.reply["text"] == f"RemediationPlaybook shop/fix execution e1 is {state}: waiting"


def test_an_execution_decided_already_is_not_decided_again() -> None:
    api = API()
    run(api)
    api.playbook["metadata"]["annotations"] = api.patches[0]["metadata"]["annotations"]  # type: ignore[index]
    answer = run(api, press(approve=False))
    assert answer.status == 409 and "already approved by alice@example.com" in answer.body["error"]
    assert len(api.patches) == 1


def test_a_missing_playbook_or_execution_is_404() -> None:
    api = API()
    api.playbook["status"]["executions"] = []  # type: ignore[index]
    assert run(api).status == 404
    api.playbook = None
    assert run(api).status == 404


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_the_receivers_port_serves_slack_without_an_alertmanager_credential() -> None:
    port = free_port()
    settings = Settings(alertmanager_port=port, slack_signing_secret="signing secret")
    adder = routes(settings, lambda: None)  # type: ignore[arg-type,return-value]
    assert adder is not None

    def post(path: str) -> tuple[int, Any]:
        request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", b"payload=%7B%7D", method="POST")
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as error:
            return error.code, error.read()

    async def scenario() -> list[tuple[int, Any]]:
        runner = await start(settings, AlertStore(), [adder])
        assert runner is not None
        try:
            return [await asyncio.to_thread(post, path) for path in ("/slack/interactive", "/alertmanager")]
        finally:
            await runner.cleanup()

    (slack, slack_body), (alertmanager, _) = asyncio.run(scenario())
    assert (slack, json.loads(slack_body)) == (401, {"error": "missing X-Slack-Request-Timestamp or X-Slack-Signature"})
    assert alertmanager in (404, 405)  # no credential: no Alertmanager route at all


def test_an_unreadable_signing_secret_serves_no_slack_route(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    settings = Settings(alertmanager_port=9, slack_signing_secret_file=str(tmp_path / "missing"))
    assert routes(settings, lambda: None) is None  # type: ignore[arg-type,return-value]
    assert "Slack interactive endpoint not served" in caplog.text
    assert routes(Settings(), lambda: None) is None  # type: ignore[arg-type,return-value]
    no_port = Settings(slack_signing_secret="signing secret")
    assert routes(no_port, lambda: None) is None  # type: ignore[arg-type,return-value]
    assert "MLAIOPS_ALERTMANAGER_PORT is 0" in caplog.text

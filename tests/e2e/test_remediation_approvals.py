"""Approvals in chat on real parts: an execution awaiting approval posts one message with Approve / Reject
buttons to a local stand-in for Slack's incoming webhook; presses signed exactly as Slack signs them reach
the operator's /slack/interactive; the Slack user maps to a Kubernetes identity through the ConfigMap,
the sandbox's authorizer answers the SubjectAccessReview with RBAC, and the decision resumes (or ends)
the execution with who took it in status, and replaces the message in place through ``response_url``.
A bad signature, a stale timestamp, an unmapped user and a user without the right are each refused
with their reason, and nothing is approved.

The session operator serves no Slack endpoint (no signing secret): these tests run their own operator
with a signing secret (and an Alertmanager token: an alert posted to the receiver is the trigger).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import pytest
from mlaiops_sandbox.testing import OperatorProcess
from mlaiops_sandbox.testing.sink import JsonSink

from tests.e2e.conftest import LEASE_NAMESPACE, Cluster, receiver_operator, wait_for
from tests.e2e.test_remediation import playbook, secret, web_deployment

ALICE, BOB, CAROL = "U0ALICE01", "U0BOB0002", "U0CAROL03"  # approver, mapped without the right, unmapped


class Slack(JsonSink):
    """Stands in for Slack: an incoming webhook (/hook) and a response_url (/response/<n>) on 127.0.0.1."""

    def __init__(self) -> None:
        super().__init__(routes=("/hook", "/response/{n}"))

    @property
    def messages(self) -> list[dict[str, Any]]:
        return self.bodies("/hook")

    @property
    def responses(self) -> list[tuple[str, dict[str, Any]]]:
        return [(path.removeprefix("/response/"), body) for path, body in self.posts if path.startswith("/response/")]


@dataclass
class Operator:
    """The test's own operator: receiver port with an Alertmanager token and the Slack signing secret."""

    process: OperatorProcess
    port: int
    token: str
    signing_secret: str

    def alert(self, namespace: str) -> None:
        labels = {"alertname": "HighLatency", "namespace": namespace, "severity": "critical"}
        body = {
            "version": "4",
            "status": "firing",
            "alerts": [
                {
                    "status": "firing",
                    "labels": labels,
                    "startsAt": datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z"),
                }
            ],
        }
        status, _ = self.post("/alertmanager", json.dumps(body).encode(), {"Authorization": f"Bearer {self.token}"})
        assert status == 200

    def post(self, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", body, headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read() or b"{}")

    def press(
        self,
        user: str,
        value: str,
        response_url: str,
        approve: bool = True,
        age: float = 0,
        secret: str | None = None,
        signed: bool = True,
    ) -> tuple[int, dict[str, Any]]:
        """A button press as Slack sends it: form-encoded payload, signed with v0 HMAC-SHA256 over the raw body."""
        payload = {
            "type": "block_actions",
            "user": {"id": user, "username": user.lower(), "name": user.lower(), "team_id": "T0TEAM"},
            "team": {"id": "T0TEAM", "domain": "example"},
            "api_app_id": "A0APP",
            "trigger_id": "1.2.3",
            "response_url": response_url,
            "container": {"type": "message", "message_ts": "1.2", "channel_id": "C0OPS"},
            "actions": [
                {
                    "type": "button",
                    "block_id": "mlaiops_approval",
                    "action_id": "mlaiops_approve" if approve else "mlaiops_reject",
                    "value": value,
                    "action_ts": str(time.time()),
                }
            ],
        }
        body = urlencode({"payload": json.dumps(payload)}).encode()
        timestamp = str(int(time.time() - age))
        key = (secret or self.signing_secret).encode()
        signature = "v0=" + hmac.new(key, b"v0:" + timestamp.encode() + b":" + body, hashlib.sha256).hexdigest()
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        if signed:
            headers |= {"X-Slack-Request-Timestamp": timestamp, "X-Slack-Signature": signature}
        return self.post("/slack/interactive", body, headers)


@pytest.fixture(scope="module")
def slack() -> Iterator[Slack]:
    made = Slack()
    yield made
    made.close()


@pytest.fixture(scope="module")
def operator(cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Operator]:
    folder = tmp_path_factory.mktemp("approvals")
    signing_secret = secrets.token_hex(16)
    (folder / "signing-secret").write_text(signing_secret + "\n")
    mapping = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "mlaiops-slack-users"},
        "data": {ALICE: "alice@example.com", BOB: "bob@example.com", f"{BOB}.groups": "viewers"},
    }
    cluster.apply(mapping, LEASE_NAMESPACE)
    slack_env = {"MLAIOPS_SLACK_SIGNING_SECRET_FILE": str(folder / "signing-secret")}
    try:
        with receiver_operator(cluster, folder, slack_env) as (process, port, token):
            made = Operator(process, port, token, signing_secret)
            ping = json.dumps({"alerts": []}).encode()
            wait_for(
                lambda: made.post("/alertmanager", ping, {"Authorization": f"Bearer {token}"})[0] == 200,
                timeout=60,
                what="the receiver",
            )
            yield made
    finally:
        cluster.kubectl("-n", LEASE_NAMESPACE, "delete", "configmap", "mlaiops-slack-users", check=False)


def approver_rbac(namespace: str) -> list[dict[str, Any]]:
    """alice may approve playbook fix (update remediationplaybooks/approval); bob may only patch playbooks."""
    roles = [
        (
            "approve-fix",
            [{"resources": ["remediationplaybooks/approval"], "resourceNames": ["fix"], "verbs": ["update"]}],
        ),
        ("edit-playbooks", [{"resources": ["remediationplaybooks"], "verbs": ["get", "patch"]}]),
    ]
    made: list[dict[str, Any]] = []
    for (name, rules), user in zip(roles, ("alice@example.com", "bob@example.com"), strict=True):
        made.append(
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "Role",
                "metadata": {"name": name},
                "rules": [{"apiGroups": ["mlaiops.dev"], **rule} for rule in rules],
            }
        )
        made.append(
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "RoleBinding",
                "metadata": {"name": name},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
                "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user}],
            }
        )
    return made


@pytest.fixture
def awaiting(cluster: Cluster, operator: Operator, slack: Slack, request: pytest.FixtureRequest) -> Iterator[Any]:
    """A namespace whose playbook ``fix`` has one execution AwaitingApproval, and its message in Slack."""
    namespace = cluster.namespace("appr-" + request.node.name.removeprefix("test_").replace("_", "-")[:30].rstrip("-"))
    try:
        cluster.apply(web_deployment(), namespace)
        cluster.apply(secret(slack.url("/hook")), namespace)
        cluster.apply(approver_rbac(namespace), namespace)
        notify = {"urlSecretRef": {"name": "mlaiops-notify", "key": "url"}, "format": "slack"}
        cluster.apply(
            playbook(
                [
                    {"name": "page", "type": "notify", "notify": notify, "verify": {"within": "1s"}},
                    {
                        "name": "page-generic",
                        "type": "notify",
                        "notify": {**notify, "format": "generic"},
                        "verify": {"within": "1s"},
                    },
                    {"name": "scale-out", "type": "scale", "scale": {"replicas": 3}, "verify": {"within": "60s"}},
                ],
                triggers=[{"source": "Alertmanager", "matchers": ['alertname="HighLatency"']}],
                target={"kind": "Deployment", "name": "web"},
                approval={"required": True, "timeout": "10m"},
            ),
            namespace,
        )
        before = len(slack.messages)
        operator.alert(namespace)
        execution = wait_for(
            lambda: (e := executions(cluster, namespace)) and e[0]["state"] == "AwaitingApproval" and e[0],
            timeout=60,
            what="an execution awaiting approval",
        )
        message = wait_for(
            lambda: next((m for m in slack.messages[before:] if execution["id"] in m["text"] and "blocks" in m), None),
            timeout=30,
            what="the approval request in Slack",
        )
        yield namespace, execution, message
    finally:
        cluster.kubectl("delete", "namespace", namespace, "--wait=false", check=False)


def executions(cluster: Cluster, namespace: str) -> list[dict[str, Any]]:
    return (cluster.get("remediationplaybooks", namespace, "fix").get("status") or {}).get("executions") or []


def buttons(message: dict[str, Any]) -> dict[str, str]:
    (actions,) = [block for block in message["blocks"] if block["type"] == "actions"]
    return {element["action_id"]: element["value"] for element in actions["elements"]}


def test_a_signed_slack_approval_resumes_the_execution_and_records_who(
    cluster: Cluster, operator: Operator, slack: Slack, awaiting: Any
) -> None:
    namespace, execution, message = awaiting
    value = buttons(message)["mlaiops_approve"]
    assert value == f"{namespace}/fix/{execution['id']}" and buttons(message)["mlaiops_reject"] == value
    status, body = operator.press(ALICE, value, slack.url("/response/approve"))
    assert (status, body["decision"], body["user"]) == (200, "approved", "alice@example.com")
    done = wait_for(
        lambda: (e := executions(cluster, namespace)[0])["state"] not in ("AwaitingApproval",) and e,
        timeout=30,
        what="the execution resumed",
    )
    assert done["reason"] == "Approved" or done["state"] in ("Running", "Verifying")
    approval = done["approval"]
    assert (approval["decision"], approval["via"], approval["user"]) == ("Approved", "slack", "alice@example.com")
    assert approval["slackUser"] == f"{ALICE} {ALICE.lower()}"
    assert [(r["action"], r["result"]) for r in approval["requests"]] == [
        ("page", "Succeeded"),
        ("page-generic", "Succeeded"),
    ]
    wait_for(lambda: cluster.apps.read_namespaced_deployment("web", namespace).spec.replicas == 3, what="scaled")
    # One request message per pending approval (and notify action), replaced in place when decided.
    requests = [m for m in slack.messages if m.get("event") == "AwaitingApproval" or "blocks" in m]
    requests = [m for m in requests if m.get("execution") == execution["id"] or execution["id"] in m["text"]]
    assert len(requests) == 2, requests
    (generic,) = [m for m in requests if m.get("event") == "AwaitingApproval"]
    assert [(a["id"], a["value"]) for a in generic["approval"]["actions"]] == [
        ("mlaiops_approve", value),
        ("mlaiops_reject", value),
    ]
    replaced = wait_for(
        lambda: next((b for n, b in slack.responses if n == "approve"), None), timeout=10, what="message replaced"
    )
    assert replaced["replace_original"] is True and replaced["text"].startswith("Approved by alice@example.com")
    assert all(block["type"] != "actions" for block in replaced["blocks"])
    # A replay of the press (within the five minutes) finds the execution decided and changes nothing.
    status, body = operator.press(ALICE, value, slack.url("/response/replay"))
    assert status == 409 and f"execution {execution['id']} is " in body["error"]


def test_unsigned_stale_unmapped_and_unauthorized_presses_are_refused_and_nothing_is_approved(
    cluster: Cluster, operator: Operator, slack: Slack, awaiting: Any
) -> None:
    namespace, execution, message = awaiting
    value = buttons(message)["mlaiops_approve"]
    refusals = [
        (dict(signed=False), 401, "missing X-Slack-Request-Timestamp or X-Slack-Signature"),
        (dict(secret="not-the-signing-secret"), 401, "invalid signature"),
        (dict(age=301), 401, "stale timestamp"),
        (dict(user=CAROL), 403, f"Slack user {CAROL} is not mapped to a Kubernetes identity"),
        (dict(user=BOB), 403, f"bob@example.com may not update remediationplaybooks/approval {namespace}/fix"),
    ]
    for index, (changes, code, reason) in enumerate(refusals):
        press: dict[str, Any] = {"user": ALICE, "value": value, "response_url": slack.url(f"/response/r{index}")}
        status, body = operator.press(**{**press, **changes})
        assert (status, reason in body.get("error", "")) == (code, True), (changes, status, body)
    # The refused users are told why, ephemerally, once Slack's signature proved the press (not before).
    told = wait_for(
        lambda: (r := {n: b for n, b in slack.responses if n in ("r3", "r4")}) and len(r) == 2 and r,
        timeout=10,
        what="ephemeral refusals",
    )
    assert all(b["response_type"] == "ephemeral" and b["replace_original"] is False for b in told.values())
    assert not [n for n, _ in slack.responses if n in ("r0", "r1", "r2")]
    time.sleep(3)  # three reconcile passes: nothing was recorded, nothing resumes
    playbook = cluster.get("remediationplaybooks", namespace, "fix")
    assert "mlaiops.dev/approvals" not in (playbook["metadata"].get("annotations") or {})
    waiting = executions(cluster, namespace)[0]
    assert (waiting["id"], waiting["state"], waiting.get("steps")) == (execution["id"], "AwaitingApproval", None)
    assert cluster.apps.read_namespaced_deployment("web", namespace).spec.replicas == 1
    # The approver rejects: the execution ends Rejected, saying who, and nothing acts.
    status, body = operator.press(
        ALICE, buttons(message)["mlaiops_reject"], slack.url("/response/reject"), approve=False
    )
    assert (status, body["decision"]) == (200, "rejected")
    rejected = wait_for(
        lambda: (e := executions(cluster, namespace)[0])["state"] == "Rejected" and e, timeout=30, what="rejected"
    )
    assert rejected["message"] == f"rejected by alice@example.com (Slack {ALICE} {ALICE.lower()})"
    assert rejected["approval"]["decision"] == "Rejected" and rejected.get("steps") is None
    assert cluster.apps.read_namespaced_deployment("web", namespace).spec.replicas == 1

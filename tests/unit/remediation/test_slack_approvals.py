"""Approval decisions on the planner: chat and annotation take one path; requests go out once; records verify."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

from mlaiops.remediation import approval_messages, approvals
from mlaiops.remediation.approvals import Decision
from mlaiops.remediation.planner import Facts, Outcome, Step
from tests.unit.remediation.test_planner import NS, T0, Cluster, make_spec

KEY = approvals.record_key(b"signing secret")
NOTIFY = {"name": "page", "type": "notify", "notify": {"urlSecretRef": {"name": "mlaiops-notify", "key": "url"}}}
SCALE = {"name": "scale-out", "type": "scale", "scale": {"delta": 1}, "verify": {"within": "30s"}}


class ChatCluster(Cluster):
    """The planner's fake cluster, with the mlaiops.dev/approvals annotation as the controller reads it."""

    def __init__(self, **spec: Any) -> None:
        super().__init__(make_spec([NOTIFY, SCALE], approval={"required": True, "timeout": "5m"}, **spec))
        self.annotation: str | None = None

    def facts(self) -> Facts:
        base = super().facts()
        decisions = approvals.parse(self.annotation, KEY)
        return Facts(base.signals, base.rules, base.alerts, base.busy, base.approve, base.effects, decisions)

    def decide(self, verdict: str, user: str = "alice@example.com", key: bytes = KEY) -> None:
        decision = Decision(self.execution_id(), verdict, "slack", user, "U012ABCDEF alice", self.now)  # type: ignore[arg-type]
        self.annotation = approvals.merged(self.annotation, decision, key, {self.execution_id()})

    def execution_id(self) -> str:
        return (self.status.executions or [])[0].id

    def execution(self) -> Any:
        return (self.status.executions or [])[0]


def kinds(steps: list[Step]) -> list[tuple[str, int]]:
    return [(s.kind, s.index) for s in steps]


def test_an_approval_request_goes_out_once_per_notify_action_and_is_recorded_before() -> None:
    cluster = ChatCluster()
    cluster.fire()
    cluster.tick()
    assert kinds(cluster.steps) == [("approval", 0)]
    step = cluster.steps[0]
    assert step.params == {"playbook": "fix", "trigger": f"rule:{NS}/latency"}
    written = cluster.written[-1].executions[0]  # type: ignore[index]
    assert written.state == "AwaitingApproval"
    assert [(r.action, r.result) for r in written.approval.requests] == [("page", "Running")]
    for _ in range(5):
        cluster.tick()
    assert kinds(cluster.steps) == [("approval", 0)]  # never again while it waits
    assert [(r.action, r.result) for r in cluster.execution().approval.requests] == [("page", "Succeeded")]


def test_a_sent_request_records_the_outcome_s_message_and_time() -> None:
    cluster = ChatCluster()
    sent_at = T0 + timedelta(seconds=7)
    cluster.handlers["notify"] = lambda step: Outcome("Succeeded", "posted", at=sent_at)
    cluster.fire()
    passed_at = cluster.now
    cluster.tick()
    request = cluster.execution().approval.requests[0]
    assert (request.result, request.message, request.finished_at) == ("Succeeded", "posted", sent_at)
    assert request.started_at == passed_at


def test_a_request_left_running_by_a_stopped_operator_is_sent_again() -> None:
    cluster = ChatCluster()
    cluster.fire()
    cluster.tick()
    cluster.execution().approval.requests[0].result = "Running"  # the status written before the send
    cluster.tick()
    assert kinds(cluster.steps) == [("approval", 0), ("approval", 0)]


def test_a_failed_request_is_recorded_with_an_event_and_the_execution_still_waits() -> None:
    cluster = ChatCluster()
    cluster.handlers["notify"] = lambda step: Outcome(
        "Failed", "delivery failed (network)", at=T0 + timedelta(seconds=3)
    )
    cluster.fire()
    events = cluster.tick()
    request = cluster.execution().approval.requests[0]
    assert (request.result, request.message) == ("Failed", "delivery failed (network)")
    failed = [e for e in events if e.reason == "ApprovalRequestFailed"]
    run = cluster.execution_id()
    assert [(e.type, e.message, e.key) for e in failed] == [
        (
            "Warning",
            f"execution {run}: approval request through page not sent: delivery failed (network)",
            f"{run}/page/ApprovalRequestFailed",
        )
    ]
    assert request.finished_at == T0 + timedelta(seconds=3)
    assert cluster.execution().state == "AwaitingApproval"


def test_a_request_whose_send_was_refused_counts_as_failed() -> None:
    cluster = ChatCluster()
    cluster.handlers["notify"] = lambda step: Outcome("Refused", "refused by policy")
    cluster.fire()
    passed_at = cluster.now
    events = cluster.tick()
    request = cluster.execution().approval.requests[0]
    assert (request.result, request.message, request.finished_at) == ("Failed", "refused by policy", passed_at)
    assert [e.reason for e in events if e.reason == "ApprovalRequestFailed"] == ["ApprovalRequestFailed"]


def test_dry_run_records_the_request_without_sending_it() -> None:
    cluster = ChatCluster(dryRun=True)
    cluster.fire()
    passed_at = cluster.now
    cluster.tick()
    assert cluster.steps == []
    request = cluster.execution().approval.requests[0]
    assert (request.result, request.message) == ("DryRun", "dry run: approval request not sent")
    assert request.finished_at == passed_at


def test_dry_run_records_a_request_for_every_notify_action() -> None:
    second = {**NOTIFY, "name": "page-again"}
    cluster = ChatCluster(dryRun=True)
    cluster.spec = make_spec([NOTIFY, second, SCALE], approval={"required": True, "timeout": "5m"}, dryRun=True)
    cluster.fire()
    cluster.tick()
    requests = cluster.execution().approval.requests
    assert [(r.action, r.result) for r in requests] == [("page", "DryRun"), ("page-again", "DryRun")]


def test_an_unnamed_notify_action_s_request_is_recorded_under_its_step_name() -> None:
    unnamed = {key: value for key, value in NOTIFY.items() if key != "name"}
    cluster = ChatCluster()
    cluster.spec = make_spec([SCALE, unnamed], approval={"required": True, "timeout": "5m"})
    cluster.fire()
    cluster.tick()
    assert kinds(cluster.steps) == [("approval", 1)]
    assert [r.action for r in cluster.execution().approval.requests] == ["notify-1"]


def test_an_approval_in_chat_resumes_the_execution_and_records_who() -> None:
    cluster = ChatCluster()
    cluster.fire()
    cluster.tick()
    cluster.decide("approve")
    events = cluster.tick()
    execution = cluster.execution()
    assert (execution.reason, execution.message) == (
        "Approved",
        "approved by alice@example.com (Slack U012ABCDEF alice)",
    )
    assert execution.approval.decision == "Approved"
    assert (execution.approval.via, execution.approval.user, execution.approval.slack_user) == (
        "slack",
        "alice@example.com",
        "U012ABCDEF alice",
    )
    assert execution.state in ("Running", "Verifying")
    assert [s.action.name for s in cluster.steps if s.kind == "act"] == ["page"]  # the ladder runs from its start
    approved = next(e for e in events if e.reason == "Approved")
    assert approved.message.endswith("approved by alice@example.com (Slack U012ABCDEF alice)")


def test_a_rejection_in_chat_ends_the_execution_rejected_with_who_and_nothing_acts() -> None:
    cluster = ChatCluster()
    cluster.fire()
    cluster.tick()
    cluster.decide("reject", user="bob@example.com")
    events = cluster.tick()
    for _ in range(3):
        events += cluster.tick()
    execution = cluster.execution()
    assert (execution.state, execution.reason) == ("Rejected", "Rejected")
    assert execution.message == "rejected by bob@example.com (Slack U012ABCDEF alice)"
    assert execution.finished_at is not None and execution.approval.decision == "Rejected"
    assert [s.kind for s in cluster.steps] == ["approval"]  # no step acted
    assert len(cluster.status.executions or []) == 1  # the same incident does not start again
    assert [e.reason for e in events if e.reason == "ExecutionRejected"] == ["ExecutionRejected"]


def test_the_annotation_approves_through_the_same_path() -> None:
    cluster = ChatCluster()
    cluster.fire()
    cluster.tick()
    cluster.approve = cluster.execution_id()
    cluster.tick()
    execution = cluster.execution()
    assert (execution.reason, execution.message) == ("Approved", "approved by annotation")
    assert (execution.approval.decision, execution.approval.via, execution.approval.user) == (
        "Approved",
        "annotation",
        None,
    )


def test_a_record_without_a_valid_mac_is_ignored() -> None:
    cluster = ChatCluster()
    cluster.fire()
    cluster.tick()
    cluster.decide("approve", key=approvals.record_key(b"a guessed secret"))
    cluster.tick()
    assert cluster.execution().state == "AwaitingApproval"
    cluster.annotation = None
    cluster.decide("approve")
    edited = json.loads(cluster.annotation or "")
    edited[cluster.execution_id()]["user"] = "admin"  # signed for alice, edited to name someone else
    cluster.annotation = json.dumps(edited)
    cluster.tick()
    assert cluster.execution().state == "AwaitingApproval"


@pytest.mark.parametrize("value", ["", "not json", "[1, 2]", '{"x": 1}', '{"x": {"verdict": "maybe"}}'])
def test_a_malformed_annotation_is_no_decision(value: str) -> None:
    assert approvals.parse(value, KEY) == {}


def test_no_key_no_decisions() -> None:
    decision = Decision("e1", "approve", "slack", "alice", "U1", T0)
    assert approvals.parse(approvals.merged(None, decision, KEY, {"e1"}), None) == {}


def test_merged_keeps_only_executions_still_waiting() -> None:
    first = approvals.merged(None, Decision("e1", "approve", "slack", "a", "U1", T0), KEY, {"e1"})
    both = approvals.merged(first, Decision("e2", "reject", "slack", "b", "U2", T0), KEY, {"e1", "e2"})
    assert set(approvals.parse(both, KEY)) == {"e1", "e2"}
    later = approvals.merged(both, Decision("e3", "approve", "slack", "c", "U3", T0), KEY, {"e3"})
    assert set(approvals.parse(later, KEY)) == {"e3"}
    assert approvals.parse(later, KEY)["e3"] == Decision("e3", "approve", "slack", "c", "U3", T0)


def test_an_expired_execution_is_not_decided_later() -> None:
    cluster = ChatCluster()
    cluster.fire()
    cluster.tick()
    cluster.now += timedelta(minutes=6)
    cluster.tick()
    assert cluster.execution().state == "Expired"
    cluster.decide("approve")
    cluster.tick()
    assert cluster.execution().state == "Expired"


# --- the messages ---------------------------------------------------------------------------------


PENDING = approval_messages.Pending("shop", "fix", "fix-20261127120000", "Deployment/web", "rule:shop/latency", "1h")


def test_the_slack_request_carries_approve_and_reject_buttons_naming_the_execution() -> None:
    body = approval_messages.slack_request(PENDING)
    (actions,) = [b for b in body["blocks"] if b["type"] == "actions"]
    assert [(e["action_id"], e["value"], e["text"]["text"]) for e in actions["elements"]] == [
        ("mlaiops_approve", "shop/fix/fix-20261127120000", "Approve"),
        ("mlaiops_reject", "shop/fix/fix-20261127120000", "Reject"),
    ]
    assert "fix-20261127120000" in body["text"] and "Deployment/web" in body["text"]
    assert approval_messages.button_value(actions["elements"][0]["value"]) == ("shop", "fix", "fix-20261127120000")


def test_the_generic_request_carries_the_same_decisions() -> None:
    body = approval_messages.generic_request(PENDING)
    assert body["event"] == "AwaitingApproval" and body["execution"] == "fix-20261127120000"
    assert [a["id"] for a in body["approval"]["actions"]] == ["mlaiops_approve", "mlaiops_reject"]
    assert "mlaiops.dev/approve=fix-20261127120000" in body["approval"]["kubectl"]


def test_the_decided_message_replaces_the_request_without_buttons() -> None:
    body = approval_messages.slack_decided("shop/fix/e1", False, "bob (Slack U2 bob)")
    assert body["replace_original"] is True
    assert body["text"].startswith("Rejected by bob (Slack U2 bob)")
    assert all(block["type"] != "actions" for block in body["blocks"])

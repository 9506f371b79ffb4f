"""The approval request and its decided form, as Slack Block Kit and as generic JSON; pure.

The request is one message per pending execution and notify action. Its buttons carry
``<namespace>/<playbook>/<execution>`` as ``value`` (all three are DNS names, so ``/`` cannot occur in
them) and say what they do in ``action_id``; Slack sends both back, signed, when someone presses one.
When the decision is taken in Slack the endpoint replaces the message through the interaction's
``response_url`` (no token needed): the buttons go, the decision and who took it stay.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from mlaiops.api.annotations import APPROVE_ANNOTATION

APPROVE_ACTION = "mlaiops_approve"
REJECT_ACTION = "mlaiops_reject"
BLOCK_ID = "mlaiops_approval"
_NAME = r"[a-z0-9]([-a-z0-9.]*[a-z0-9])?"


class ButtonValueError(ValueError):
    """A button value that is not ``<namespace>/<playbook>/<execution>``."""


@dataclass(frozen=True)
class Pending:
    """An execution awaiting approval, as the message shows it."""

    namespace: str
    playbook: str
    execution: str
    target: str
    trigger: str
    expires: str

    @property
    def value(self) -> str:
        return f"{self.namespace}/{self.playbook}/{self.execution}"

    def kubectl(self) -> str:
        return f"kubectl -n {self.namespace} annotate rpb {self.playbook} {APPROVE_ANNOTATION}={self.execution}"


def button_value(value: str) -> tuple[str, str, str]:
    """(namespace, playbook, execution) of a button's value; ButtonValueError when it is not one of ours."""
    parts = value.split("/")
    if len(parts) != 3 or not all(re.fullmatch(_NAME, p) and len(p) <= 253 for p in parts):
        raise ButtonValueError(f"button value {value[:100]!r} is not <namespace>/<playbook>/<execution>")
    return parts[0], parts[1], parts[2]


def summary(pending: Pending) -> str:
    return (
        f"Approval needed: RemediationPlaybook {pending.namespace}/{pending.playbook} execution "
        f"{pending.execution} on {pending.target} (started by {pending.trigger}; expires after {pending.expires})"
    )


def slack_request(pending: Pending) -> dict[str, Any]:
    """An incoming-webhook body with the request and Approve / Reject buttons."""
    button = {"type": "button", "value": pending.value}
    return {
        "text": summary(pending),
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": f"*{summary(pending)}*"}},
            {
                "type": "actions",
                "block_id": BLOCK_ID,
                "elements": [
                    {
                        **button,
                        "action_id": APPROVE_ACTION,
                        "style": "primary",
                        "text": {"type": "plain_text", "text": "Approve"},
                    },
                    {
                        **button,
                        "action_id": REJECT_ACTION,
                        "style": "danger",
                        "text": {"type": "plain_text", "text": "Reject"},
                    },
                ],
            },
            {"type": "context", "elements": [{"type": "mrkdwn", "text": f"or: `{pending.kubectl()}`"}]},
        ],
    }


def generic_request(pending: Pending) -> dict[str, Any]:
    """The generic JSON body: the same facts, and the two decisions with the value a Slack button would carry."""
    return {
        "text": summary(pending),
        "event": "AwaitingApproval",
        "namespace": pending.namespace,
        "playbook": pending.playbook,
        "execution": pending.execution,
        "target": pending.target,
        "approval": {
            "actions": [
                {"id": APPROVE_ACTION, "label": "Approve", "value": pending.value},
                {"id": REJECT_ACTION, "label": "Reject", "value": pending.value},
            ],
            "kubectl": pending.kubectl(),
        },
    }


def slack_decided(value: str, approved: bool, who: str) -> dict[str, Any]:
    """The body posted to ``response_url`` that replaces the request in place (no buttons left)."""
    namespace, playbook, execution = button_value(value)
    verb = "Approved" if approved else "Rejected"
    text = f"{verb} by {who}: RemediationPlaybook {namespace}/{playbook} execution {execution}" + (
        " resumes" if approved else " ends Rejected"
    )
    return {
        "replace_original": True,
        "text": text,
        "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": text}}],
    }


def slack_closed(value: str, state: str, message: str) -> dict[str, Any]:
    """The body that replaces a request decided elsewhere (kubectl, expiry) when someone presses it."""
    namespace, playbook, execution = button_value(value)
    text = f"RemediationPlaybook {namespace}/{playbook} execution {execution} is {state}" + (
        f": {message}" if message else ""
    )
    return {
        "replace_original": True,
        "text": text,
        "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": text}}],
    }


def slack_refusal(reason: str) -> dict[str, Any]:
    """An ephemeral reply to the one who pressed (the request stays as it was)."""
    return {"response_type": "ephemeral", "replace_original": False, "text": f"Not done: {reason}"}

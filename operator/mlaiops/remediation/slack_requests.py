"""Slack's interactive requests, pure: the signature check Slack documents, and the payload we act on.

Slack signs each request with the app's signing secret: ``X-Slack-Signature`` is ``v0=`` and the hex
HMAC-SHA256 of ``v0:<X-Slack-Request-Timestamp>:<raw body>``. The raw body is what is signed (not a
re-encoding of the parsed form), the comparison is constant-time, and a timestamp more than five
minutes from now is refused so that a captured request cannot be replayed later. Within the window a
replay finds the execution already decided and changes nothing.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from urllib.parse import parse_qs

from mlaiops.remediation.approval_messages import APPROVE_ACTION, REJECT_ACTION, button_value

TOLERANCE = 300
"""Seconds a request's timestamp may be from now (Slack: five minutes)."""


class SignatureError(Exception):
    """The request is not proven to come from Slack; the message says why (answered 401)."""


class PayloadError(ValueError):
    """A signed request that is not a button press of ours; the message names the field (answered 400)."""


def signature(secret: bytes, timestamp: str, body: bytes) -> str:
    """``v0=<hex>``: what Slack puts in X-Slack-Signature for this timestamp and raw body."""
    base = b"v0:" + timestamp.encode() + b":" + body
    return "v0=" + hmac.new(secret, base, hashlib.sha256).hexdigest()


def verify(secret: bytes, timestamp: str | None, sent: str | None, body: bytes, now: float) -> None:
    """Raise SignatureError unless ``sent`` is Slack's signature of ``body`` at a ``timestamp`` near ``now``."""
    if not timestamp or not sent:
        raise SignatureError("missing X-Slack-Request-Timestamp or X-Slack-Signature")
    try:
        at = int(timestamp)
    except ValueError:
        raise SignatureError("X-Slack-Request-Timestamp is not a Unix time") from None
    if abs(now - at) > TOLERANCE:
        raise SignatureError(f"stale timestamp: {int(now - at)} s from now (more than {TOLERANCE} s)")
    if not hmac.compare_digest(signature(secret, timestamp, body).encode(), sent.encode()):
        raise SignatureError("invalid signature")


@dataclass(frozen=True)
class Press:
    """One press of an Approve or Reject button."""

    approve: bool
    namespace: str
    playbook: str
    execution: str
    slack_user: str
    """Slack user id (U...), the key of the mapping."""
    slack_name: str
    team: str
    response_url: str | None
    value: str

    @property
    def shown_user(self) -> str:
        return f"{self.slack_user} {self.slack_name}".strip()


def parse_interaction(body: bytes) -> Press:
    """The button press in a form-encoded ``payload=<JSON>`` body (Slack's block_actions)."""
    try:
        form = parse_qs(body.decode(), strict_parsing=True)
    except (UnicodeDecodeError, ValueError):
        raise PayloadError("the body is not form-encoded") from None
    if len(form.get("payload", [])) != 1:
        raise PayloadError("payload: expected exactly one form field 'payload'")
    try:
        payload = json.loads(form["payload"][0])
    except (ValueError, RecursionError):
        raise PayloadError("payload: not JSON") from None
    if not isinstance(payload, dict) or payload.get("type") != "block_actions":
        raise PayloadError("payload.type: only block_actions (a button press) is handled")
    user = payload.get("user")
    if not isinstance(user, dict) or not isinstance(user.get("id"), str) or not user["id"]:
        raise PayloadError("payload.user.id: missing")
    actions = payload.get("actions")
    ours = [
        a
        for a in (actions if isinstance(actions, list) else [])
        if isinstance(a, dict) and a.get("action_id") in (APPROVE_ACTION, REJECT_ACTION)
    ]
    if len(ours) != 1:
        raise PayloadError(f"payload.actions: expected one {APPROVE_ACTION} or {REJECT_ACTION} action")
    value = ours[0].get("value")
    if not isinstance(value, str):
        raise PayloadError("payload.actions[0].value: missing")
    try:
        namespace, playbook, execution = button_value(value)
    except ValueError as error:
        raise PayloadError(f"payload.actions[0].value: {error}") from None
    url = payload.get("response_url")
    team = payload.get("team")
    return Press(
        approve=ours[0]["action_id"] == APPROVE_ACTION,
        namespace=namespace,
        playbook=playbook,
        execution=execution,
        slack_user=user["id"],
        slack_name=str(user.get("username") or user.get("name") or ""),
        team=str(team.get("id") or "") if isinstance(team, dict) else "",
        response_url=url if isinstance(url, str) and url else None,
        value=value,
    )

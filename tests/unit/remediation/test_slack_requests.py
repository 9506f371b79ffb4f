"""Slack's request signature and the button-press payload, checked as Slack documents and sends them."""

from __future__ import annotations

import hashlib
import hmac
import json
from urllib.parse import urlencode

import pytest

from mlaiops.remediation.approval_messages import APPROVE_ACTION, REJECT_ACTION
from mlaiops.remediation.slack_requests import (
    TOLERANCE,
    PayloadError,
    SignatureError,
    parse_interaction,
    signature,
    verify,
)

SECRET = b"8f742231b10e8888abcd99yyyzzz85a5"
NOW = 1_800_000_000.0


def slack_signed(body: bytes, timestamp: str, secret: bytes = SECRET) -> str:
    """Slack's own recipe, written out independently of the code under test."""
    return "v0=" + hmac.new(secret, f"v0:{timestamp}:".encode() + body, hashlib.sha256).hexdigest()


def press(action: str = APPROVE_ACTION, value: str = "shop/fix/fix-20261127120000", **extra: object) -> bytes:
    payload = {
        "type": "block_actions",
        "user": {"id": "U012ABCDEF", "username": "alice", "name": "alice", "team_id": "T1"},
        "team": {"id": "T1", "domain": "example"},
        "response_url": "https://hooks.slack.com/actions/T1/1/abc",
        "actions": [{"action_id": action, "block_id": "mlaiops_approval", "value": value, "type": "button"}],
        **extra,
    }
    return urlencode({"payload": json.dumps(payload)}).encode()


def test_the_signature_is_slacks_v0_hmac_over_timestamp_and_raw_body() -> None:
    body = press()
    assert signature(SECRET, "1800000000", body) == slack_signed(body, "1800000000")
    verify(SECRET, "1800000000", slack_signed(body, "1800000000"), body, NOW)  # no exception


@pytest.mark.parametrize(
    ("timestamp", "sent", "body", "reason"),
    [
        ("1800000000", None, press(), "missing X-Slack-Request-Timestamp or X-Slack-Signature"),
        (None, slack_signed(press(), "1800000000"), press(), "missing"),
        ("1800000000", slack_signed(press(), "1800000000", b"another secret"), press(), "invalid signature"),
        ("1800000000", slack_signed(press(), "1800000001"), press(), "invalid signature"),  # timestamp not signed
        ("1800000000", slack_signed(press(), "1800000000"), press(REJECT_ACTION), "invalid signature"),  # body changed
        ("1800000000", slack_signed(press(), "1800000000").upper(), press(), "invalid signature"),
        ("soon", slack_signed(press(), "soon"), press(), "not a Unix time"),
    ],
)
def test_anything_but_slacks_signature_is_refused(
    timestamp: str | None, sent: str | None, body: bytes, reason: str
) -> None:
    with pytest.raises(SignatureError, match=reason):
        verify(SECRET, timestamp, sent, body, NOW)


@pytest.mark.parametrize("offset", [-(TOLERANCE + 1), TOLERANCE + 1, -3600])
def test_a_correctly_signed_request_outside_five_minutes_is_refused(offset: int) -> None:
    timestamp = str(int(NOW) + offset)
    body = press()
    with pytest.raises(SignatureError, match="stale timestamp"):
        verify(SECRET, timestamp, slack_signed(body, timestamp), body, NOW)


@pytest.mark.parametrize("offset", [-TOLERANCE, 0, TOLERANCE])
def test_within_five_minutes_a_signed_request_passes(offset: int) -> None:
    timestamp = str(int(NOW) + offset)
    verify(SECRET, timestamp, slack_signed(press(), timestamp), press(), NOW)


def test_a_press_names_the_execution_the_decision_and_who() -> None:
    parsed = parse_interaction(press(REJECT_ACTION))
    assert (parsed.approve, parsed.namespace, parsed.playbook, parsed.execution) == (
        False,
        "shop",
        "fix",
        "fix-20261127120000",
    )
    assert (parsed.slack_user, parsed.slack_name, parsed.team) == ("U012ABCDEF", "alice", "T1")
    assert parsed.response_url == "https://hooks.slack.com/actions/T1/1/abc"
    assert parse_interaction(press()).approve is True


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b"\xff\xfe", "form-encoded"),
        (b"payload=%7Bnot-json", "payload: not JSON"),
        (b"text=hello", "exactly one form field 'payload'"),
        (urlencode({"payload": json.dumps({"type": "view_submission"})}).encode(), "payload.type"),
        (press(user=None), "payload.user.id"),
        (press(actions=[]), "payload.actions"),
        (press(action="someone_elses_button"), "payload.actions"),
        (press(value="shop/fix"), r"payload.actions\[0\].value"),
        (press(value="shop/../x/y"), r"payload.actions\[0\].value"),
        (press(value="Shop/fix/X"), r"payload.actions\[0\].value"),
    ],
)
def test_a_payload_that_is_not_a_press_of_our_buttons_names_the_field(body: bytes, field: str) -> None:
    with pytest.raises(PayloadError, match=field):
        parse_interaction(body)

"""Approval decisions, pure: what the playbook's annotations say about executions awaiting approval.

Two ways in, one way through. ``kubectl annotate rpb <name> mlaiops.dev/approve=<execution-id>``
approves (who wrote the annotation is in the API server's audit log, not known here). A button in
Slack (``mlaiops.remediation.slack_endpoint``) writes a record into the annotation
``mlaiops.dev/approvals``: one entry per execution, each with the decision, the Slack user and the
Kubernetes identity it maps to, and a MAC keyed with the Slack signing secret. The controller reads
both into ``Facts`` and the planner applies a decision in one place (``apply``), whichever way it came.

Why an annotation and not a status write: the controller is the only writer of status (it writes
the whole execution list each pass), so a second writer's change would be lost; an annotation is
read at the next pass and survives a restart. Why a MAC: anyone who may patch the playbook may
approve through ``mlaiops.dev/approve`` anyway, but must not be able to put someone else's name
in status; an entry without a valid MAC is ignored.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from mlaiops import GROUP
from mlaiops.api.remediationplaybook import ApprovalRecord, ExecutionRecord, StepRecord
from mlaiops.remediation import ladder

log = logging.getLogger(__name__)

APPROVALS_ANNOTATION = f"{GROUP}/approvals"
"""JSON object: execution id -> decision record (written by the Slack endpoint only)."""
MAX_ENTRIES = 50
"""Entries kept in the annotation (as many as executions a playbook keeps)."""
_MAC_CONTEXT = b"mlaiops approval record v1"

Verdict = Literal["approve", "reject"]


@dataclass(frozen=True)
class Decision:
    """A human's decision on one execution."""

    execution: str
    verdict: Verdict
    via: Literal["annotation", "slack"]
    user: str | None = None
    """Kubernetes identity (Slack: the mapped one, authorized by a SubjectAccessReview)."""
    slack_user: str | None = None
    at: datetime | None = None

    @property
    def approved(self) -> bool:
        return self.verdict == "approve"

    def who(self) -> str:
        """``alice@example.com (Slack U123 alice)``, or ``annotation``."""
        if self.via == "annotation":
            return "annotation"
        return f"{self.user} (Slack {self.slack_user})"


def record_key(signing_secret: bytes) -> bytes:
    """The MAC key of decision records, derived from the Slack signing secret (never the secret itself)."""
    return hmac.new(signing_secret, _MAC_CONTEXT, hashlib.sha256).digest()


def _canonical(entry: dict[str, Any], execution: str) -> bytes:
    fields = {k: entry.get(k) for k in ("verdict", "user", "slackUser", "at")}
    return json.dumps({"execution": execution, **fields}, sort_keys=True, separators=(",", ":")).encode()


def signed_entry(decision: Decision, key: bytes) -> dict[str, Any]:
    """The annotation entry of ``decision`` (with its MAC)."""
    entry: dict[str, Any] = {
        "verdict": decision.verdict,
        "user": decision.user,
        "slackUser": decision.slack_user,
        "at": decision.at.isoformat() if decision.at else None,
    }
    entry["mac"] = hmac.new(key, _canonical(entry, decision.execution), hashlib.sha256).hexdigest()
    return entry


def parse(value: str | None, key: bytes | None) -> dict[str, Decision]:
    """The decisions in the ``mlaiops.dev/approvals`` annotation whose MAC verifies; the rest is ignored (logged)."""
    if not value or key is None:
        return {}
    try:
        entries = json.loads(value)
    except (ValueError, RecursionError):
        log.warning("%s is not JSON; ignored", APPROVALS_ANNOTATION)
        return {}
    if not isinstance(entries, dict):
        return {}
    found: dict[str, Decision] = {}
    for execution, entry in entries.items():
        if not isinstance(entry, dict) or entry.get("verdict") not in ("approve", "reject"):
            continue
        mac = hmac.new(key, _canonical(entry, str(execution)), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(mac, str(entry.get("mac") or "")):
            log.warning("%s: the entry for %s does not verify; ignored", APPROVALS_ANNOTATION, execution)
            continue
        try:
            at = datetime.fromisoformat(entry["at"]) if entry.get("at") else None
        except (TypeError, ValueError):
            at = None
        found[str(execution)] = Decision(
            str(execution), entry["verdict"], "slack", str(entry.get("user")), str(entry.get("slackUser")), at
        )
    return found


def merged(value: str | None, decision: Decision, key: bytes, waiting: set[str]) -> str:
    """The annotation with ``decision`` added; entries for executions no longer ``waiting`` are dropped."""
    try:
        entries = json.loads(value) if value else {}
    except (ValueError, RecursionError):
        entries = {}
    kept = {k: v for k, v in (entries if isinstance(entries, dict) else {}).items() if k in waiting}
    kept[decision.execution] = signed_entry(decision, key)
    return json.dumps(dict(list(kept.items())[-MAX_ENTRIES:]), separators=(",", ":"))


def decided(execution: str, approve_annotation: str | None, decisions: dict[str, Decision]) -> Decision | None:
    """The decision on ``execution``: a verified chat decision first (it names who), else the annotation."""
    if execution in decisions:
        return decisions[execution]
    if approve_annotation == execution:
        return Decision(execution, "approve", "annotation")
    return None


def apply(execution: ExecutionRecord, decision: Decision, now: datetime) -> None:
    """Record ``decision`` on an execution awaiting approval: Running when approved, Rejected (final) when not."""
    record = execution.approval or ApprovalRecord()
    record.decision = "Approved" if decision.approved else "Rejected"
    record.via, record.user, record.slack_user = decision.via, decision.user, decision.slack_user
    record.decided_at = decision.at or now
    execution.approval = record
    if decision.approved:
        execution.state, execution.reason = "Running", "Approved"
        execution.message = f"approved by {decision.who()}"
    else:
        ladder.finish(execution, "Rejected", "Rejected", f"rejected by {decision.who()}", now)


def unsent_requests(notify_steps: list[tuple[int, str]], execution: ExecutionRecord) -> list[tuple[int, str]]:
    """(action index, step name) of the notify actions whose approval request is not sent yet.

    A request left Running (the operator stopped while sending) is sent again: at least once."""
    done = (
        {r.action for r in (execution.approval.requests or []) if r.result != "Running"}
        if execution.approval
        else set()
    )
    return [(index, name) for index, name in notify_steps if name not in done]


def begin_request(execution: ExecutionRecord, name: str, now: datetime) -> StepRecord:
    """The request's record, Running (written to status before it is sent)."""
    approval = execution.approval = execution.approval or ApprovalRecord()
    kept = [r for r in approval.requests or [] if r.action != name]
    record = StepRecord(action=name, target=execution.target, started_at=now, result="Running")
    approval.requests = [*kept, record]
    return record

"""Annotations users (and the kubectl plugin, and remediation) set to ask the operator for something.

Each request is ``<reason>@<UTC timestamp>``: the operator acts once per distinct value, so the
same reason asked twice is two requests.
"""

from __future__ import annotations

from datetime import UTC, datetime

from mlaiops import GROUP

ROLLBACK_ANNOTATION = f"{GROUP}/rollback"
RETRAIN_ANNOTATION = f"{GROUP}/retrain"
APPROVE_ANNOTATION = f"{GROUP}/approve"


def request_value(reason: str, now: datetime | None = None) -> str:
    """The annotation value of one request."""
    return f"{reason}@{(now or datetime.now(UTC)).astimezone(UTC).strftime('%Y%m%dT%H%M%SZ')}"

"""Rollback and retrain requests: the annotations that ask the operator to roll a ModelDeployment back or run a
RetrainPolicy, for any layer (remediation actions, the kubectl plugin, tests) with the client it was handed.

Each request is ``<reason>@<UTC timestamp>`` (``mlaiops.api.annotations``) and the operator acts once per
distinct value; a retrain request from a playbook carries the ``playbook:`` prefix so the run records it.
A step resumed after a restart asks ``already_requested`` first, so it never sends a second request.
"""

from __future__ import annotations

from datetime import datetime

from mlaiops import API_VERSION
from mlaiops.api.annotations import RETRAIN_ANNOTATION, ROLLBACK_ANNOTATION, request_value
from mlaiops.kube import JSON, Kube

PLAYBOOK_PREFIX = "playbook:"
"""Marks a retrain request sent by a RemediationPlaybook (``mlaiops.retrain.runs`` reads it)."""


class InvalidReason(ValueError):
    """A request reason the annotation cannot carry."""


def rollback_value(reason: str, now: datetime | None = None) -> str:
    """The rollback annotation's value for ``reason``."""
    return request_value(_checked(reason), now)


def retrain_value(reason: str, source: str = "manual", now: datetime | None = None) -> str:
    """The retrain annotation's value for ``reason``; ``source`` ``playbook`` adds the playbook prefix."""
    return f"{PLAYBOOK_PREFIX if source == 'playbook' else ''}{request_value(_checked(reason), now)}"


def _checked(reason: str) -> str:
    if not reason or "@" in reason:
        raise InvalidReason(f"invalid reason {reason!r}: give a non-empty reason without '@'")
    return reason


def already_requested(obj: JSON, annotation: str, reason: str, source: str = "manual") -> bool:
    """Whether ``obj`` already carries a request for ``reason`` (with any timestamp)."""
    current = (obj.get("metadata", {}).get("annotations") or {}).get(annotation, "")
    prefix = PLAYBOOK_PREFIX if annotation == RETRAIN_ANNOTATION and source == "playbook" else ""
    return str(current).startswith(f"{prefix}{reason}@")


def request_rollback(kube: Kube, namespace: str, name: str, reason: str, now: datetime | None = None) -> str:
    """Ask a ModelDeployment to roll back; returns the annotation value sent."""
    value = rollback_value(reason, now)
    kube.patch(
        API_VERSION, "ModelDeployment", namespace, name, {"metadata": {"annotations": {ROLLBACK_ANNOTATION: value}}}
    )
    return value


def request_retrain(
    kube: Kube, namespace: str, name: str, reason: str, source: str = "manual", now: datetime | None = None
) -> str:
    """Ask a RetrainPolicy for a run; returns the annotation value sent."""
    value = retrain_value(reason, source, now)
    kube.patch(
        API_VERSION, "RetrainPolicy", namespace, name, {"metadata": {"annotations": {RETRAIN_ANNOTATION: value}}}
    )
    return value

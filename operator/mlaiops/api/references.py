"""The objects a spec names by name, and what it means when one is missing: pure, no I/O.

A schema cannot say that a named AnomalyRule, target, RetrainPolicy or Secret exists, and the
webhook cannot promise it will keep existing; so the controllers look the references up on every
pass and report, in Gateway API's words, a ``ResolvedRefs`` condition (True/ResolvedRefs, or
False with ``RefNotFound`` / ``RefNotPermitted`` and every problem in its message) plus
``Ready=False`` with reason ``DanglingReference``. A reference that appears later clears both on
the next pass. Lookups are the caller's (``controllers/references.py`` asks the API server).
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, Literal

from mlaiops import API_VERSION
from mlaiops.api.anomalyrule import AnomalyRuleSpec
from mlaiops.api.common import ApiModel, Condition, WorkloadReference, kept_condition
from mlaiops.api.modeldeployment import ModelDeploymentSpec
from mlaiops.api.remediationplaybook import RemediationPlaybookSpec
from mlaiops.api.retrainpolicy import RetrainPolicySpec

RESOLVED_REFS = "ResolvedRefs"
DANGLING = "DanglingReference"
NOT_FOUND: Final = "RefNotFound"
NOT_PERMITTED: Final = "RefNotPermitted"
# Ready reasons this module (and an invalid spec) writes: a pass that finds nothing wrong may replace them.
REFUSAL_REASONS = frozenset({"InvalidSpec", DANGLING, NOT_PERMITTED})
_API_VERSIONS = {"ModelDeployment": API_VERSION, "Deployment": "apps/v1", "StatefulSet": "apps/v1"}


@dataclass(frozen=True)
class Reference:
    """One object a spec names: where (field path), what (kind, name) and, for Secrets, which key."""

    path: str
    api_version: str
    kind: str
    name: str
    key: str | None = None


@dataclass(frozen=True)
class RefProblem:
    """A reference that does not resolve: ``reason`` is RefNotFound or RefNotPermitted."""

    reason: Literal["RefNotFound", "RefNotPermitted"]
    message: str


class Unreadable(Exception):
    """The lookup could not tell (API error): the reference is neither reported nor trusted."""


def _workload(path: str, target: WorkloadReference | None) -> list[Reference]:
    if target is None:
        return []
    return [Reference(path, _API_VERSIONS[target.kind], target.kind, target.name)]


def references(spec: ApiModel) -> list[Reference]:
    """Every object ``spec`` names, in field order (AnomalyRule specs name only their optional target)."""
    refs: list[Reference] = []
    if isinstance(spec, RemediationPlaybookSpec):
        for index, trigger in enumerate(spec.triggers):
            for position, rule in enumerate(trigger.rules or []):
                path = f"spec.triggers[{index}].rules[{position}].name"
                refs.append(Reference(path, API_VERSION, "AnomalyRule", rule.name))
        refs += _workload("spec.target", spec.target)
        for index, action in enumerate(spec.actions):
            if action.retrain is not None:
                path = f"spec.actions[{index}].retrain.policyRef.name"
                refs.append(Reference(path, API_VERSION, "RetrainPolicy", action.retrain.policy_ref.name))
            if action.notify is not None:
                secret = action.notify.url_secret_ref
                path = f"spec.actions[{index}].notify.urlSecretRef"
                refs.append(Reference(path, "v1", "Secret", secret.name, secret.key))
            if action.webhook is not None:
                secret = action.webhook.signing_secret_ref
                path = f"spec.actions[{index}].webhook.signingSecretRef"
                refs.append(Reference(path, "v1", "Secret", secret.name, secret.key))
    elif isinstance(spec, ModelDeploymentSpec):
        if spec.model.source is not None:
            path = "spec.model.source.retrainPolicyRef.name"
            refs.append(Reference(path, API_VERSION, "RetrainPolicy", spec.model.source.retrain_policy_ref.name))
    elif isinstance(spec, RetrainPolicySpec):
        if spec.model_deployment_ref is not None:
            path = "spec.modelDeploymentRef.name"
            refs.append(Reference(path, API_VERSION, "ModelDeployment", spec.model_deployment_ref.name))
        on_anomaly = spec.triggers.on_anomaly
        for position, rule in enumerate((on_anomaly.rules or []) if on_anomaly is not None else []):
            path = f"spec.triggers.onAnomaly.rules[{position}].name"
            refs.append(Reference(path, API_VERSION, "AnomalyRule", rule.name))
    elif isinstance(spec, AnomalyRuleSpec):
        refs += _workload("spec.target", spec.target)
    return refs


def _has_key(secret: dict[str, Any], key: str) -> bool:
    return key in (secret.get("data") or {}) or key in (secret.get("stringData") or {})


def problems(
    refs: list[Reference],
    namespace: str,
    get: Callable[[Reference], dict[str, Any] | None],
    readable_secrets: Collection[str],
) -> list[RefProblem]:
    """What is wrong with each reference, in the order given; ``get`` returns the object or None (raises Unreadable).

    Secrets the operator may not read (not in ``readable_secrets``, which is what its RBAC grants)
    are reported without being looked up.
    """
    found: list[RefProblem] = []
    for ref in refs:
        where = f'{ref.kind} "{ref.name}"'
        if ref.kind == "Secret" and ref.name not in readable_secrets:
            allowed = ", ".join(f'"{name}"' for name in readable_secrets) or "none"
            message = f"{ref.path}: the operator may read only the Secrets {allowed}, not {where}"
            found.append(RefProblem(NOT_PERMITTED, message))
            continue
        try:
            obj = get(ref)
        except Unreadable:
            continue
        if obj is None:
            found.append(RefProblem(NOT_FOUND, f'{ref.path}: {where} not found in namespace "{namespace}"'))
        elif ref.key is not None and not _has_key(obj, ref.key):
            message = f'{ref.path}.key: {where} in namespace "{namespace}" has no key "{ref.key}"'
            found.append(RefProblem(NOT_FOUND, message))
    return found


def with_references(
    conditions: list[Condition] | None,
    found: list[RefProblem],
    stored: list[Condition] | None,
    now: datetime,
    generation: int,
) -> list[Condition]:
    """``conditions`` (as a planner left them) with ResolvedRefs set and, when a reference fails, Ready=False.

    ``stored`` are the conditions on the server, whose transition times survive a pass that does
    not change a status. A Ready condition that still carries a refusal reason once everything
    resolves (a planner that does not write Ready kept it) becomes Ready=True.
    """
    stored = list(stored or [])
    kept = [c for c in conditions or [] if c.type not in (RESOLVED_REFS, "Ready")]
    ready = next((c for c in conditions or [] if c.type == "Ready"), None)
    message = "; ".join(problem.message for problem in found)
    if found:
        reason = NOT_FOUND if any(p.reason == NOT_FOUND for p in found) else NOT_PERMITTED
        refs = kept_condition(RESOLVED_REFS, False, reason, message, stored, now, generation)
        ready_reason = DANGLING if reason == NOT_FOUND else NOT_PERMITTED
        ready = kept_condition("Ready", False, ready_reason, message, stored, now, generation)
    else:
        refs = kept_condition(
            RESOLVED_REFS, True, RESOLVED_REFS, "every referenced object exists", stored, now, generation
        )
        if ready is None or ready.reason in REFUSAL_REASONS:
            ready = kept_condition("Ready", True, "Ready", "", stored, now, generation)
    return [ready, *kept, refs]

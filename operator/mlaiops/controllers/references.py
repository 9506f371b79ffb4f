"""Look a spec's references up on the API server and fold the answer into its status conditions.

The rules (which fields name which objects, what the conditions say) are ``mlaiops.api.references``;
this module is the I/O around them: one GET per distinct object per pass, with the operator's own
permissions (it may read only the notify Secrets its ClusterRole names, so it never asks for others).
Controllers run it on every timer pass, so a reference that appears clears within one interval.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from kubernetes.client.exceptions import ApiException

from mlaiops.api.common import ApiModel, Condition
from mlaiops.api.references import Reference, RefProblem, Unreadable, problems, references, with_references
from mlaiops.controllers import settings
from mlaiops.kube import JSON, Kube


def check(kube: Kube, spec: ApiModel, namespace: str) -> list[RefProblem]:
    """Every reference of ``spec`` that does not resolve in ``namespace`` (API errors are not reported)."""
    seen: dict[tuple[str, str, str], JSON | None] = {}

    def get(ref: Reference) -> JSON | None:
        key = (ref.api_version, ref.kind, ref.name)
        if key not in seen:
            try:
                seen[key] = kube.get(ref.api_version, ref.kind, namespace, ref.name)
            except ApiException as error:
                raise Unreadable(str(error.reason)) from error
        return seen[key]

    return problems(references(spec), namespace, get, settings().notify_secret_names)


def _stored(body: Any) -> list[Condition]:
    conditions = []
    for raw in ((body or {}).get("status") or {}).get("conditions") or []:
        try:
            conditions.append(Condition.model_validate(raw))
        except ValueError:
            continue
    return conditions


def mark(status: Any, found: list[RefProblem], body: Any, now: datetime) -> None:
    """Set ``status.conditions`` (a status model's) to report ``found``: ResolvedRefs, and Ready=False if any."""
    generation = int(((body or {}).get("metadata") or {}).get("generation", 0))
    status.conditions = with_references(status.conditions, found, _stored(body), now, generation)


def message(found: list[RefProblem]) -> str:
    """All problems in one condition message."""
    return "; ".join(problem.message for problem in found)

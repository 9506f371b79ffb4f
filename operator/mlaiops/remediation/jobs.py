"""The ``job`` action, pure: the Job a step runs (named after the step) and what its status says.

The name is derived from the playbook, the execution id and the step index only, so an operator
that is SIGKILLed after creating the Job and resumes the step computes the same name and finds that
Job (create answers 409; the existing Job is adopted) instead of starting a second run. The
``mlaiops.dev/execution`` and ``mlaiops.dev/step`` labels let the resumed step check that the Job of
that name really is this step's before it adopts it.
"""

from __future__ import annotations

import copy
import hashlib
from dataclasses import dataclass
from typing import Any, Literal

from mlaiops.api.remediationplaybook import JobAction
from mlaiops.resources.modelserver import MANAGED_BY

JSON = dict[str, Any]
EXECUTION_LABEL = "mlaiops.dev/execution"
STEP_LABEL = "mlaiops.dev/step"
MAX_NAME = 63  # a Job's name becomes its pods' job-name label: a DNS label


def job_name(playbook: str, execution: str, index: int) -> str:
    """The step's Job name: stable across restarts, unique per (execution, step), at most 63 characters."""
    digest = hashlib.sha256(f"{execution}/{index}".encode()).hexdigest()[:10]
    prefix = playbook[: MAX_NAME - len(digest) - 6].rstrip("-")
    return f"{prefix}-s{index}-{digest}"


def execution_label(execution: str) -> str:
    """The execution id as a label value (at most 63 characters; a longer id keeps its unique tail)."""
    return execution[-63:].lstrip("-._") or "execution"


@dataclass(frozen=True)
class StepContext:
    """The incident's context a step runs in; the job's containers get it as environment."""

    playbook: str
    namespace: str
    execution: str
    index: int
    step: str
    target_kind: str
    target_name: str
    trigger: str = ""
    fingerprint: str = ""
    incident: str = ""

    @property
    def rule(self) -> str:
        """namespace/name of the AnomalyRule (or the alert name) that started the execution."""
        return self.trigger.partition(":")[2]

    def env(self) -> list[JSON]:
        values = {
            "MLAIOPS_INCIDENT": self.incident,
            "MLAIOPS_EXECUTION": self.execution,
            "MLAIOPS_STEP": self.step,
            "MLAIOPS_STEP_INDEX": str(self.index),
            "MLAIOPS_RULE": self.rule,
            "MLAIOPS_TRIGGER": self.trigger,
            "MLAIOPS_FINGERPRINT": self.fingerprint,
            "MLAIOPS_TARGET_KIND": self.target_kind,
            "MLAIOPS_TARGET_NAME": self.target_name,
            "MLAIOPS_PLAYBOOK": self.playbook,
            "MLAIOPS_NAMESPACE": self.namespace,
        }
        return [{"name": key, "value": value} for key, value in values.items()]


def job_object(settings: JobAction, context: StepContext, timeout_seconds: float, owner: JSON | None) -> JSON:
    """The Job of one step: the user's pod template with the context as environment, bounded by the step's timeout.

    Our variables come first so a container's own ``env`` entry of the same name wins (as Kubernetes
    resolves duplicates: the last one). ``activeDeadlineSeconds`` is the action's timeout, so the
    cluster stops the Job when the step gives up on it.
    """
    labels = {
        **MANAGED_BY,
        "mlaiops.dev/owner": f"RemediationPlaybook.{context.playbook}"[:63],
        EXECUTION_LABEL: execution_label(context.execution),
        STEP_LABEL: str(context.index),
    }
    template = copy.deepcopy(settings.template)
    pod = template.setdefault("spec", {})
    pod.setdefault("restartPolicy", "Never")
    for container in pod.get("containers", []):
        container["env"] = [*context.env(), *(container.get("env") or [])]
    template.setdefault("metadata", {}).setdefault("labels", {}).update(labels)
    metadata: JSON = {
        "name": job_name(context.playbook, context.execution, context.index),
        "namespace": context.namespace,
        "labels": labels,
    }
    if owner is not None and owner.get("metadata", {}).get("uid"):
        metadata["ownerReferences"] = [
            {
                "apiVersion": owner["apiVersion"],
                "kind": owner["kind"],
                "name": owner["metadata"]["name"],
                "uid": owner["metadata"]["uid"],
                "controller": True,
                "blockOwnerDeletion": True,
            }
        ]
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": metadata,
        "spec": {
            "backoffLimit": settings.backoff_limit,
            "activeDeadlineSeconds": max(1, int(timeout_seconds)),
            "ttlSecondsAfterFinished": settings.ttl_seconds_after_finished,
            "template": template,
        },
    }


def belongs_to(job: JSON, context: StepContext) -> bool:
    """Whether an existing Job of the step's name was created for this very step (not a stranger's)."""
    labels = (job.get("metadata") or {}).get("labels") or {}
    return labels.get(EXECUTION_LABEL) == execution_label(context.execution) and labels.get(STEP_LABEL) == str(
        context.index
    )


@dataclass(frozen=True)
class JobState:
    """Where a Job is: still running, complete, or failed (with the reason the Job controller gave)."""

    phase: Literal["Running", "Complete", "Failed"]
    message: str


def job_state(job: JSON) -> JobState:
    """The Job's outcome from its conditions (Complete or Failed, status True), else Running."""
    name = (job.get("metadata") or {}).get("name", "")
    status = job.get("status") or {}
    for condition in status.get("conditions") or []:
        if condition.get("status") != "True":
            continue
        if condition.get("type") == "Complete":
            return JobState("Complete", f"Job {name} completed")
        if condition.get("type") == "Failed":
            why = ": ".join(p for p in (condition.get("reason"), condition.get("message")) if p)
            return JobState("Failed", f"Job {name} failed" + (f" ({why})" if why else ""))
    active, failed = int(status.get("active") or 0), int(status.get("failed") or 0)
    return JobState("Running", f"Job {name} running ({active} active, {failed} failed pods)")

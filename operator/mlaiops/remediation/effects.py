"""Whether a step's effect holds, pure: from what the controller observed on the target to a verdict.

A step is credited only when the anomaly resolved *and* what the step did is still true on the
cluster: the replicas a scale asked for are Ready, a restart's or an adjustResources' rollout is
complete with the values it set, the deleted pod is gone or replaced, a rollback or retrain request
was taken. Otherwise a surge that ended on its own would be credited to a step that did nothing yet.

The controller reads (``mlaiops.remediation.actions.observe``) only steps that had already finished
when it read, so an observation never predates the step it judges.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from mlaiops.api.remediationplaybook import Action

RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"
"""The pod template annotation a restart sets (as ``kubectl rollout restart``)."""
OBSERVED_TYPES = frozenset({"scale", "restart", "rollback", "retrain", "deletePod", "adjustResources"})
"""Action types with an effect on the cluster to re-check; notify and suspendRule have none."""


@dataclass(frozen=True)
class Workload:
    """A workload's replicas and pod template, as its object says (a ModelDeployment: all tracks)."""

    desired: int
    """spec.replicas."""
    replicas: int = 0
    """Pods that exist (status.replicas)."""
    ready: int = 0
    """Ready pods (status.readyReplicas)."""
    updated: int | None = None
    """Pods of the current template (status.updatedReplicas); None when the kind does not report it."""
    generation: int = 0
    observed_generation: int | None = None
    annotations: dict[str, str] = field(default_factory=dict)
    """The pod template's annotations."""
    limits: dict[str, str] = field(default_factory=dict)
    """``<container>.<resource>`` -> the pod template's limit."""


@dataclass(frozen=True)
class Observed:
    """What the controller read about one step's target after the step finished."""

    workload: Workload | None = None
    """The workload whose pods the step concerns; None when it is gone."""
    hpa_min: int | None = None
    """The HPA's minReplicas (a scale step that raised an HPA's bounds)."""
    pod_created: datetime | None = None
    """deletePod: when a pod of the deleted pod's name was created, if one exists now."""
    request: str | None = None
    """rollback: the request the ModelDeployment acted on; retrain: the one the RetrainPolicy took."""
    error: str | None = None
    """Why nothing could be read (the effect then does not count as holding)."""


@dataclass(frozen=True)
class Effect:
    """The verdict: whether the step's effect holds, and what was seen."""

    holds: bool
    message: str = ""


HOLDS = Effect(True)
NOT_OBSERVED = Effect(False, "its effect has not been observed yet")


def rollout_complete(workload: Workload) -> tuple[bool, str]:
    """As ``kubectl rollout status``: the current template observed, every pod updated and ready, no old pod left."""
    if workload.observed_generation is None or workload.observed_generation < workload.generation:
        return False, "the workload controller has not observed the change yet"
    if workload.updated is not None and workload.updated < workload.desired:
        return False, f"{workload.updated} of {workload.desired} replicas updated"
    if workload.ready < workload.desired:
        return False, f"{workload.ready} of {workload.desired} replicas ready"
    if workload.replicas > workload.desired:
        return False, f"{workload.replicas - workload.desired} old replicas still terminating"
    return True, f"{workload.ready} of {workload.desired} replicas ready"


def judge(action: Action, params: dict[str, str], reason: str, started: datetime | None, seen: Observed) -> Effect:
    """Whether the effect of a finished step of ``action`` (with the ``params`` it applied) holds."""
    kind = action.type
    if kind not in OBSERVED_TYPES:
        return HOLDS
    if seen.error is not None:
        return Effect(False, f"could not observe its effect: {seen.error}")
    if kind == "retrain":
        taken = (seen.request or "").startswith(f"playbook:{reason}@")
        return Effect(
            taken, "the RetrainPolicy took the request" if taken else "the RetrainPolicy has not taken it yet"
        )
    workload = seen.workload
    if workload is None:
        return Effect(False, "the target is gone")
    if kind == "scale":
        return _scaled(params, workload, seen.hpa_min)
    if kind == "rollback":
        if not (seen.request or "").startswith(f"{reason}@"):
            return Effect(False, "the ModelDeployment has not acted on the rollback request yet")
        done, message = rollout_complete(workload)
        return Effect(done, message)
    if kind == "deletePod":
        pod = params.get("pod", "")
        if seen.pod_created is not None and (started is None or seen.pod_created <= started):
            return Effect(False, f"pod {pod} is still there")
        if workload.ready < workload.desired:
            return Effect(False, f"{workload.ready} of {workload.desired} replicas ready")
        return Effect(True, f"pod {pod} replaced; {workload.ready} of {workload.desired} replicas ready")
    if kind == "restart" and workload.annotations.get(RESTARTED_AT) != params.get("restartedAt"):
        return Effect(False, "the pod template no longer carries this restart")
    if kind == "adjustResources":
        changed = sorted(k for k, v in params.items() if workload.limits.get(k) != v)
        if changed:
            return Effect(False, f"the pod template no longer sets {', '.join(changed)}")
    done, message = rollout_complete(workload)
    return Effect(done, message)


def _scaled(params: dict[str, str], workload: Workload, hpa_min: int | None) -> Effect:
    if "hpa" in params:
        wanted = int(params["minReplicas"])
        if hpa_min is None or hpa_min < wanted:
            return Effect(False, f"HPA {params['hpa']} minReplicas is {hpa_min}, not {wanted}")
    else:
        wanted = int(params["replicas"])
        if wanted < int(params.get("from") or wanted) and workload.replicas > wanted:
            return Effect(False, f"{workload.replicas} replicas still running, {wanted} asked")
    message = f"{workload.ready} of {wanted} replicas ready"
    return Effect(workload.ready >= wanted, message)

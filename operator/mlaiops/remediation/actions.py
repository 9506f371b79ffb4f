"""The actions, at the edge: each one first decides absolute values (``plan``), which the controller
records in status, then applies exactly those (``run``). A resumed step re-applies the same
absolute values, so running an action twice changes nothing the first run did not.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from mlaiops import API_VERSION, kube_requests
from mlaiops.api.annotations import RETRAIN_ANNOTATION, ROLLBACK_ANNOTATION
from mlaiops.api.common import seconds
from mlaiops.api.remediationplaybook import Action, RemediationPlaybookSpec
from mlaiops.kube import JSON, Kube
from mlaiops.metrics.provider import ProviderError
from mlaiops.remediation import guardrails, outbound, quantity
from mlaiops.remediation.effects import RESTARTED_AT, Observed, Workload
from mlaiops.remediation.matching import selector_matches
from mlaiops.resources import modelserver as ms


class ActionError(Exception):
    """The action could not be carried out; the message says why (the step is Failed)."""


class ActionRefused(Exception):
    """A guardrail forbids the action (the step is Refused)."""


class ActionPending(Exception):
    """The action started and is not done yet (a Job running): the step stays Running; the message says where it is."""


@dataclass
class Context:
    """Everything an action needs."""

    kube: Kube
    namespace: str
    kind: str
    name: str
    spec: RemediationPlaybookSpec
    action: Action
    execution: str
    reason: str
    prometheus: Any = None
    now: datetime | None = None
    outbound_policy: outbound.Policy = field(default_factory=outbound.Policy)
    playbook: JSON | None = None
    """The playbook object (its name and uid: a job's Job is owned by it)."""
    index: int = 0
    """The step's index in the ladder."""
    trigger: str = ""
    fingerprint: str = ""
    incident: str = ""

    @property
    def target(self) -> str:
        return f"{self.kind}/{self.name}"


def _api_version(kind: str) -> str:
    return API_VERSION if kind == "ModelDeployment" else "apps/v1"


def _pod_workload(ctx: Context) -> tuple[str, str]:
    """The apps/v1 workload whose pod template holds the pods (a ModelDeployment's stable Deployment)."""
    if ctx.kind == "ModelDeployment":
        return "Deployment", ms.deployment_name(ctx.name, "stable")
    return ctx.kind, ctx.name


def _get(ctx: Context, kind: str, name: str) -> JSON:
    obj = ctx.kube.get(_api_version(kind), kind, ctx.namespace, name)
    if obj is None:
        raise ActionError(f"{kind}/{name} not found in namespace {ctx.namespace}")
    return obj


def _hpa_for(ctx: Context) -> JSON | None:
    kind, name = _pod_workload(ctx)
    for hpa in ctx.kube.list("autoscaling/v2", "HorizontalPodAutoscaler", ctx.namespace):
        ref = hpa.get("spec", {}).get("scaleTargetRef", {})
        if (ref.get("kind"), ref.get("name")) in ((kind, name), (ctx.kind, ctx.name)):
            return hpa
    return None


# --- plan: decide absolute values ------------------------------------------------------------------


def plan(ctx: Context) -> dict[str, str]:
    """The absolute values the step will set, decided from the current state (recorded before acting)."""
    kind = ctx.action.type
    if kind == "scale":
        assert ctx.action.scale is not None
        hpa = _hpa_for(ctx)
        if hpa is not None:
            low = int(hpa["spec"].get("minReplicas", 1))
            high = int(hpa["spec"]["maxReplicas"])
            wanted = guardrails.scaled_replicas(ctx.action.scale, low)
            return {
                "hpa": hpa["metadata"]["name"],
                "minReplicas": str(wanted),
                "maxReplicas": str(max(high, wanted)),
                "from": f"{low}-{high}",
            }
        scale = ctx.kube.get(_api_version(ctx.kind), ctx.kind, ctx.namespace, ctx.name, sub="scale")
        if scale is None:
            raise ActionError(f"{ctx.target} not found in namespace {ctx.namespace}")
        current = int((scale.get("spec") or {}).get("replicas") or 0)
        return {"replicas": str(guardrails.scaled_replicas(ctx.action.scale, current)), "from": str(current)}
    if kind == "restart":
        _check_restart(ctx)
        return {"restartedAt": (ctx.now or datetime.now()).strftime("%Y-%m-%dT%H:%M:%SZ")}
    if kind == "deletePod":
        return {"pod": _worst_pod(ctx)}
    if kind == "adjustResources":
        return _raised_resources(ctx)
    return {}


def _pods(ctx: Context) -> tuple[list[JSON], int, JSON]:
    """The workload's live pods (deletePod: those its selector picks), its desired replicas, and the workload."""
    kind, name = _pod_workload(ctx)
    workload = {**_get(ctx, kind, name), "kind": kind}
    match = (workload["spec"].get("selector") or {}).get("matchLabels") or {}
    selector = ",".join(f"{k}={v}" for k, v in match.items())
    pods = [
        p for p in ctx.kube.list("v1", "Pod", ctx.namespace, selector) if not p["metadata"].get("deletionTimestamp")
    ]
    extra = ctx.action.delete_pod.selector if ctx.action.delete_pod else None
    if extra is not None:
        pods = [p for p in pods if selector_matches(extra, p["metadata"].get("labels") or {})]
    return pods, int(workload["spec"].get("replicas") or len(pods)), workload


def _ready(pod: JSON) -> bool:
    return any(
        c.get("type") == "Ready" and c.get("status") == "True" for c in (pod.get("status") or {}).get("conditions", [])
    )


def _worst_pod(ctx: Context) -> str:
    pods, desired, _ = _pods(ctx)
    if not pods:
        raise ActionError(f"no pods of {ctx.target} match")
    ready = sum(_ready(p) for p in pods)
    verdict = guardrails.may_disrupt(ctx.spec, ready, desired)
    if not verdict.allowed:
        raise ActionRefused(verdict.message)
    names = {p["metadata"]["name"] for p in pods}
    query = ctx.action.delete_pod.query if ctx.action.delete_pod else None
    if query and ctx.prometheus is not None:
        try:
            samples = ctx.prometheus.instant_sync(query)
        except ProviderError as error:
            raise ActionError(f"ranking query failed: {error}") from error
        ranked = sorted((s for s in samples if s.labels.get("pod") in names), key=lambda s: s.value, reverse=True)
        if ranked:
            return str(ranked[0].labels["pod"])
    unready = sorted(str(p["metadata"]["name"]) for p in pods if not _ready(p))
    return unready[0] if unready else str(sorted(names)[0])


def _check_restart(ctx: Context) -> None:
    """Refuse a restart whose rolling replacement would leave fewer than minHealthy pods ready."""
    pods, desired, workload = _pods(ctx)
    unavailable = guardrails.restart_unavailable(workload["kind"], workload["spec"], desired)
    verdict = guardrails.may_restart(ctx.spec, sum(_ready(p) for p in pods), desired, unavailable)
    if not verdict.allowed:
        raise ActionRefused(verdict.message)


def _raised_resources(ctx: Context) -> dict[str, str]:
    if ctx.kind == "ModelDeployment":
        raise ActionRefused(
            "adjustResources would be undone by the ModelDeployment controller; raise spec.runtime.resources instead"
        )
    settings = ctx.action.adjust_resources
    assert settings is not None
    workload = _get(ctx, ctx.kind, ctx.name)
    params: dict[str, str] = {}
    for container in workload["spec"]["template"]["spec"].get("containers", []):
        resources = container.get("resources") or {}
        for resource in settings.resources:
            current = (resources.get("limits") or {}).get(resource) or (resources.get("requests") or {}).get(resource)
            if current is None:
                continue
            cap = getattr(settings.max, resource) if settings.max else None
            params[f"{container['name']}.{resource}"] = quantity.raised(current, settings.factor, cap, resource)
    if not params:
        raise ActionError(f"no container of {ctx.target} sets {' or '.join(settings.resources)}")
    return params


# --- run: apply the planned values ----------------------------------------------------------------


def run(ctx: Context, params: dict[str, str]) -> str:
    """Apply the step; returns a message; raises ActionError or ActionRefused."""
    kind = ctx.action.type
    if kind == "scale":
        if "hpa" in params:
            ctx.kube.patch(
                "autoscaling/v2",
                "HorizontalPodAutoscaler",
                ctx.namespace,
                params["hpa"],
                {"spec": {"minReplicas": int(params["minReplicas"]), "maxReplicas": int(params["maxReplicas"])}},
            )
            return f"raised HPA {params['hpa']} bounds from {params['from']} to {params['minReplicas']}-{params['maxReplicas']}"
        body: JSON = {"spec": {"replicas": int(params["replicas"])}}
        scale = ctx.kube.get(_api_version(ctx.kind), ctx.kind, ctx.namespace, ctx.name, sub="scale") or {}
        if int((scale.get("spec") or {}).get("replicas") or 0) != int(params["replicas"]):  # a resumed step acts once
            ctx.kube.patch(_api_version(ctx.kind), ctx.kind, ctx.namespace, ctx.name, body, sub="scale")
        return f"scaled {ctx.target} from {params['from']} to {params['replicas']} replicas"
    if kind == "restart":
        pods_kind, pods_name = _pod_workload(ctx)
        body = {"spec": {"template": {"metadata": {"annotations": {RESTARTED_AT: params["restartedAt"]}}}}}
        template = (_get(ctx, pods_kind, pods_name).get("spec") or {}).get("template") or {}
        if ((template.get("metadata") or {}).get("annotations") or {}).get(RESTARTED_AT) != params["restartedAt"]:
            ctx.kube.patch("apps/v1", pods_kind, ctx.namespace, pods_name, body)  # a resumed step restarts once
        return f"rollout restart of {pods_kind}/{pods_name} (restartedAt {params['restartedAt']})"
    if kind == "rollback":
        if ctx.kind != "ModelDeployment":
            raise ActionRefused(f"rollback needs a ModelDeployment target, not {ctx.kind}")
        if not kube_requests.already_requested(_get(ctx, ctx.kind, ctx.name), ROLLBACK_ANNOTATION, ctx.reason):
            kube_requests.request_rollback(ctx.kube, ctx.namespace, ctx.name, ctx.reason)  # a resumed step asks once
        return f"requested rollback of {ctx.target}"
    if kind == "retrain":
        assert ctx.action.retrain is not None
        policy = ctx.action.retrain.policy_ref.name
        obj = ctx.kube.get(API_VERSION, "RetrainPolicy", ctx.namespace, policy)
        if obj is None:
            raise ActionError(f"RetrainPolicy {policy} not found")
        if not kube_requests.already_requested(obj, RETRAIN_ANNOTATION, ctx.reason, source="playbook"):
            kube_requests.request_retrain(ctx.kube, ctx.namespace, policy, ctx.reason, source="playbook")
        return f"requested a run of RetrainPolicy {policy}"
    if kind == "deletePod":
        deleted = ctx.kube.delete("v1", "Pod", ctx.namespace, params["pod"])
        return f"deleted pod {params['pod']}" if deleted else f"pod {params['pod']} was already gone"
    if kind == "adjustResources":
        containers: dict[str, dict[str, dict[str, str]]] = {}
        for key, value in params.items():
            container, resource = key.rsplit(".", 1)
            entry = containers.setdefault(container, {"limits": {}, "requests": {}})
            entry["limits"][resource] = value
            entry["requests"][resource] = value
        body = {
            "spec": {
                "template": {
                    "spec": {"containers": [{"name": n, "resources": r} for n, r in sorted(containers.items())]}
                }
            }
        }
        ctx.kube.patch(
            "apps/v1", ctx.kind, ctx.namespace, ctx.name, body, content_type="application/strategic-merge-patch+json"
        )
        return "raised " + ", ".join(f"{k} to {v}" for k, v in sorted(params.items()))
    if kind == "notify":
        return notify(ctx, f"{ctx.reason}: {ctx.target} — {ctx.execution}")
    if kind == "suspendRule":
        return "recorded in status"  # the controller records the suspension; the rule's spec is never touched
    raise ActionError(f"unknown action type {kind}")


# --- observe: read what a finished step changed ----------------------------------------------------


def observe(ctx: Context, params: dict[str, str]) -> Observed:
    """What the step's target shows now, for ``effects.judge`` (reads only; API errors propagate)."""
    kind = ctx.action.type
    if kind == "retrain":
        assert ctx.action.retrain is not None
        policy = ctx.kube.get(API_VERSION, "RetrainPolicy", ctx.namespace, ctx.action.retrain.policy_ref.name)
        return Observed(request=((policy or {}).get("status") or {}).get("lastRequest"))
    if kind in ("restart", "deletePod") or (kind == "scale" and "hpa" in params):
        workload_kind, workload_name = _pod_workload(ctx)
    else:
        workload_kind, workload_name = ctx.kind, ctx.name
    obj = ctx.kube.get(_api_version(workload_kind), workload_kind, ctx.namespace, workload_name)
    seen = Observed(workload=workload_of(obj) if obj is not None else None)
    # HPAs and pods are listed, never read one by one: the operator's role lists them and gets neither.
    if kind == "scale" and "hpa" in params:
        hpas = ctx.kube.list("autoscaling/v2", "HorizontalPodAutoscaler", ctx.namespace)
        hpa = next((h for h in hpas if h["metadata"]["name"] == params["hpa"]), None)
        low = ((hpa or {}).get("spec") or {}).get("minReplicas", 1)
        return Observed(workload=seen.workload, hpa_min=int(low) if hpa is not None else None)
    if kind == "rollback":
        return Observed(workload=seen.workload, request=((obj or {}).get("status") or {}).get("rollbackRequest"))
    if kind == "deletePod":
        match = (((obj or {}).get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
        selector = ",".join(f"{k}={v}" for k, v in match.items())
        pods = ctx.kube.list("v1", "Pod", ctx.namespace, selector) if obj is not None else []
        pod = next((p for p in pods if p["metadata"]["name"] == params["pod"]), None)
        created = ((pod or {}).get("metadata") or {}).get("creationTimestamp")
        return Observed(workload=seen.workload, pod_created=parse_time(created) if created else None)
    return seen


def workload_of(obj: JSON) -> Workload:
    """Replicas, generations and pod template of a Deployment, StatefulSet or ModelDeployment object."""
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    template = spec.get("template") or {}
    limits = {
        f"{c['name']}.{resource}": str(value)
        for c in (template.get("spec") or {}).get("containers") or []
        for resource, value in ((c.get("resources") or {}).get("limits") or {}).items()
    }
    return Workload(
        desired=int(spec["replicas"]) if spec.get("replicas") is not None else 1,
        replicas=int(status.get("replicas") or 0),
        ready=int(status.get("readyReplicas") or 0),
        updated=None if obj.get("kind") == "ModelDeployment" else int(status.get("updatedReplicas") or 0),
        generation=int(obj.get("metadata", {}).get("generation") or 0),
        observed_generation=status.get("observedGeneration"),
        annotations=dict((template.get("metadata") or {}).get("annotations") or {}),
        limits=limits,
    )


def parse_time(value: str) -> datetime:
    """An RFC 3339 time as Kubernetes writes it."""
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def notify(ctx: Context, text: str, details: dict[str, Any] | None = None) -> str:
    """POST a Slack-compatible or generic JSON body to the URL stored in the Secret."""
    settings = ctx.action.notify
    assert settings is not None
    if settings.format == "slack":
        body: dict[str, Any] = {"text": text}
    else:
        body = {
            "text": text,
            "playbook": ctx.reason,
            "execution": ctx.execution,
            "target": ctx.target,
            "namespace": ctx.namespace,
            **(details or {}),
        }
    ref = settings.url_secret_ref
    try:  # the policy (https, allowed hosts, public addresses, no redirects) lives in outbound.py
        url = outbound.secret_url(ctx.kube, ctx.namespace, ref.name, ref.key, ctx.outbound_policy)
        code = outbound.post_json(url, body, ctx.outbound_policy, seconds(ctx.action.timeout))
    except outbound.OutboundError as error:
        raise ActionError(str(error)) from error
    return f"notified ({settings.format}, HTTP {code})"

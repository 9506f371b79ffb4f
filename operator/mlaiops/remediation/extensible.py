"""The extensible actions at the edge: ``job`` runs the user's Job, ``webhook`` POSTs the incident, signed.

Both follow the built-in actions' contract (``plan`` decides values recorded before acting, ``run``
applies them, errors are ``ActionError``/``ActionRefused``) and so pass through the same guardrails,
dry run, verification (the anomaly must resolve within ``verify.within``) and audit in status.

A job step may take longer than a pass: while its Job runs, ``run`` raises ``ActionPending`` and the
step stays Running; each next pass reads the Job again (found by its deterministic name, so a
restarted operator adopts it rather than creating a second one) until it completes, fails or the
step's timeout runs out. A webhook step is carried out once, within one pass (see ``webhook``).
"""

from __future__ import annotations

import base64
import json

from kubernetes.client.exceptions import ApiException

from mlaiops.api.common import seconds
from mlaiops.remediation import jobs, outbound, webhook
from mlaiops.remediation.actions import ActionError, ActionPending, Context
from mlaiops.remediation.ladder import step_name

TYPES = frozenset({"job", "webhook"})


def step_context(ctx: Context) -> jobs.StepContext:
    """The incident's context of the step ``ctx`` carries out."""
    playbook = str(((ctx.playbook or {}).get("metadata") or {}).get("name") or "")
    return jobs.StepContext(
        playbook=playbook,
        namespace=ctx.namespace,
        execution=ctx.execution,
        index=ctx.index,
        step=step_name(ctx.action, ctx.index),
        target_kind=ctx.kind,
        target_name=ctx.name,
        trigger=ctx.trigger,
        fingerprint=ctx.fingerprint,
        incident=ctx.incident,
    )


def plan(ctx: Context) -> dict[str, str]:
    """What the step will use, recorded in status before it acts: the Job's name, the webhook's idempotency key."""
    context = step_context(ctx)
    if ctx.action.type == "job":
        return {"job": jobs.job_name(context.playbook, context.execution, context.index)}
    return {"idempotencyKey": webhook.idempotency_key(context.execution, context.index)}


def run(ctx: Context, params: dict[str, str]) -> str:
    """Carry out a job or webhook step; returns a message, raises ActionError, ActionPending."""
    if ctx.action.type == "job":
        return run_job(ctx, params)
    return run_webhook(ctx)


# --- job -----------------------------------------------------------------------------------------


def run_job(ctx: Context, params: dict[str, str]) -> str:
    """Create the step's Job unless it exists (a resumed step adopts it), then report where it is."""
    settings = ctx.action.job
    assert settings is not None
    context = step_context(ctx)
    name = params.get("job") or jobs.job_name(context.playbook, context.execution, context.index)
    job = ctx.kube.get("batch/v1", "Job", ctx.namespace, name)
    if job is None:
        wanted = jobs.job_object(settings, context, seconds(ctx.action.timeout), ctx.playbook)
        try:
            job = ctx.kube.create(wanted)
        except ApiException as error:
            if error.status in (400, 403, 422):  # the template (or a policy) refuses this Job: say why, do not retry
                raise ActionError(f"Job {name} refused by the API server: {api_message(error)}") from None
            if error.status != 409:
                raise
            job = ctx.kube.get("batch/v1", "Job", ctx.namespace, name)  # created meanwhile: adopt it
            if job is None:
                raise ActionPending(f"Job {name} is being replaced") from None
    if not jobs.belongs_to(job, context):
        raise ActionError(f"a Job named {name} exists and was not created for this step; not adopted")
    state = jobs.job_state(job)
    if state.phase == "Complete":
        return state.message
    if state.phase == "Failed":
        raise ActionError(state.message)
    raise ActionPending(state.message)


def api_message(error: ApiException) -> str:
    """The API server's own explanation of a refusal (its Status message), else the HTTP reason."""
    try:
        message = json.loads(error.body or "{}").get("message")
    except (ValueError, AttributeError):
        message = None
    return str(message or f"HTTP {error.status} {error.reason}")[:500]


# --- webhook -------------------------------------------------------------------------------------


def payload(ctx: Context) -> dict[str, object]:
    """The incident as the receiver gets it: the same bytes for every attempt of one step."""
    context = step_context(ctx)
    return {
        "kind": "RemediationStep",
        "apiVersion": "mlaiops.dev/v1alpha1",
        "playbook": {"namespace": context.namespace, "name": context.playbook},
        "execution": context.execution,
        "step": {"index": context.index, "name": context.step},
        "incident": context.incident,
        "trigger": context.trigger,
        "rule": context.rule,
        "fingerprint": context.fingerprint,
        "target": {"namespace": context.namespace, "kind": context.target_kind, "name": context.target_name},
    }


def signing_secret(ctx: Context) -> bytes:
    """The shared secret, from a Secret the operator may read (its outbound policy's names)."""
    settings = ctx.action.webhook
    assert settings is not None
    ref = settings.signing_secret_ref
    if ref.name not in ctx.outbound_policy.secret_names:
        raise ActionError(
            f"refused by policy: the operator reads only Secrets named {', '.join(ctx.outbound_policy.secret_names)}, "
            f"not {ref.name} (MLAIOPS_NOTIFY_SECRET_NAMES; see SECURITY.md)"
        )
    try:
        secret = ctx.kube.get("v1", "Secret", ctx.namespace, ref.name)
    except ApiException as error:  # not retried at the next pass: a webhook step runs once
        raise ActionError(f"could not read Secret {ref.name}: API error {error.status}") from None
    if secret is None:
        raise ActionError(f"Secret {ref.name} not found")
    data = (secret.get("data") or {}).get(ref.key)
    value = base64.b64decode(data) if data else str((secret.get("stringData") or {}).get(ref.key, "")).encode()
    if not value.strip():
        raise ActionError(f"Secret {ref.name} has no key {ref.key}")
    return value.strip()


def run_webhook(ctx: Context) -> str:
    """Sign the incident and POST it: up to 1 + retries attempts, all within the action's timeout."""
    settings = ctx.action.webhook
    assert settings is not None
    secret = signing_secret(ctx)
    policy = ctx.outbound_policy
    try:
        outbound.check_url(settings.url, policy)  # refused before anything is sent
    except outbound.OutboundError as error:
        raise ActionError(str(error)) from None
    context = step_context(ctx)

    def post(data: bytes, headers: dict[str, str], timeout: float) -> int:
        return outbound.post_bytes(settings.url, data, headers, policy, timeout)

    delivery = webhook.deliver(
        post,
        secret,
        webhook.body_bytes(payload(ctx)),
        webhook.idempotency_key(context.execution, context.index),
        settings.retries,
        seconds(settings.backoff),
        seconds(ctx.action.timeout),
    )
    attempts = f"{delivery.attempts} attempt{'s' if delivery.attempts != 1 else ''}"
    if not delivery.ok:
        raise ActionError(f"{delivery.error} ({attempts})")
    return f"posted the incident (HTTP {delivery.status}, {attempts})"

"""Send an approval request through a notify action: its Secret's URL, its format, the outbound policy."""

from __future__ import annotations

from mlaiops.api.common import seconds
from mlaiops.remediation import outbound
from mlaiops.remediation.actions import ActionError, Context
from mlaiops.remediation.approval_messages import Pending, generic_request, slack_request


def pending(ctx: Context, playbook: str, trigger: str | None) -> Pending:
    """What the message shows about the execution."""
    return Pending(
        namespace=ctx.namespace,
        playbook=playbook,
        execution=ctx.execution,
        target=ctx.target,
        trigger=trigger or "a trigger",
        expires=ctx.spec.approval.timeout,
    )


def send(ctx: Context, request: Pending) -> str:
    """POST the request with Approve / Reject buttons (Slack) or the generic JSON; ActionError when it fails."""
    settings = ctx.action.notify
    if settings is None:
        raise ActionError(f"step {ctx.action.name or ctx.action.type} is not a notify action")
    body = slack_request(request) if settings.format == "slack" else generic_request(request)
    ref = settings.url_secret_ref
    try:  # the same policy as every notify (https, allowed hosts, public addresses, no redirects)
        url = outbound.secret_url(ctx.kube, ctx.namespace, ref.name, ref.key, ctx.outbound_policy)
        code = outbound.post_json(url, body, ctx.outbound_policy, seconds(ctx.action.timeout))
    except outbound.OutboundError as error:
        raise ActionError(str(error)) from error
    return f"approval request sent ({settings.format}, HTTP {code})"

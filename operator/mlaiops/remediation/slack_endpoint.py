"""POST /slack/interactive: an Approve or Reject pressed in Slack, checked, then recorded as a decision.

Served on the receiver's port beside /alertmanager (``receiver.start``). In order, each refusal
answered with its status and reason and nothing recorded:

1. Slack's signature over the raw body, within five minutes (``slack_requests.verify``): 401.
2. The payload is a press of one of our buttons: 400.
3. The Slack user id maps to a Kubernetes identity in the ConfigMap ``slack_users_configmap`` of the
   operator's namespace: key ``<Slack user id>`` = user name, optional key ``<Slack user id>.groups`` =
   comma-separated groups. Unmapped: 403. The mapping is a statement of who is who, so it lives
   where only the operator's admins write, never in a tenant's namespace.
4. A SubjectAccessReview asks the API server whether that identity may ``update`` the subresource
   ``remediationplaybooks/approval`` of that playbook (RBAC grants it like any subresource; the API
   serves no such path, as for ``certificatesigningrequests/approval``): denied, 403 with its reason.
   ``patch`` on the playbook would also let the approver rewrite the actions it approves; a verb of
   its own can be granted alone, per playbook with resourceNames.
5. The playbook and execution exist (404) and the execution is still AwaitingApproval, undecided (409).

Then the decision is written to the playbook's ``mlaiops.dev/approvals`` annotation (with a MAC,
``remediation.approvals``), where the controller's next pass applies it exactly as it applies the
``mlaiops.dev/approve`` annotation, and the message in Slack is replaced through the press's
``response_url`` (a refusal gets an ephemeral reply there instead).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from aiohttp import web
from kubernetes.client.exceptions import ApiException

from mlaiops import API_VERSION, GROUP
from mlaiops.kube import JSON, Kube
from mlaiops.remediation import approval_messages, approvals, outbound
from mlaiops.remediation.receiver import ReceiverConfigError, _Secret
from mlaiops.remediation.slack_requests import PayloadError, Press, SignatureError, parse_interaction, verify
from mlaiops.settings import Settings

log = logging.getLogger(__name__)

PATH = "/slack/interactive"
APPROVAL_RESOURCE = "remediationplaybooks"
APPROVAL_SUBRESOURCE = "approval"
APPROVAL_VERB = "update"
MAX_BODY = 64 * 1024
RESPONSE_TIMEOUT = 5.0


@dataclass(frozen=True)
class Identity:
    """The Kubernetes user (and groups) a Slack user maps to."""

    user: str
    groups: tuple[str, ...] = ()


@dataclass(frozen=True)
class Answer:
    """The HTTP answer to Slack, and what to post to the press's response_url."""

    status: int
    body: JSON
    reply: JSON | None = None


# --- the signing secret ---------------------------------------------------------------------------


@functools.cache
def _secret(value: str | None, path: str | None) -> _Secret:
    return _Secret(value, path, "Slack signing secret")


def signing_secret(settings: Settings) -> _Secret | None:
    """The configured signing secret (read from its file, re-read when it changes); None when Slack is off."""
    if not settings.slack_enabled:
        return None
    value = settings.slack_signing_secret.get_secret_value() if settings.slack_signing_secret else None
    return _secret(value, settings.slack_signing_secret_file)


def decision_key(settings: Settings) -> bytes | None:
    """The MAC key of decision records; None when Slack is off or its secret unreadable (records are ignored)."""
    try:
        secret = signing_secret(settings)
        return approvals.record_key(secret.get()) if secret is not None else None
    except ReceiverConfigError as error:
        log.warning("Slack decisions ignored: %s", error)
        return None


# --- identity and authorization -------------------------------------------------------------------


def mapped_identity(data: dict[str, str], slack_user: str) -> Identity | None:
    """The identity the ConfigMap's ``data`` maps ``slack_user`` to (key = Slack user id), if any."""
    user = (data.get(slack_user) or "").strip()
    if not user:
        return None
    groups = tuple(g.strip() for g in (data.get(f"{slack_user}.groups") or "").split(",") if g.strip())
    return Identity(user, groups)


def may_approve(kube: Kube, identity: Identity, namespace: str, playbook: str) -> tuple[bool, str]:
    """Whether ``identity`` may approve executions of the playbook, and the authorizer's reason."""
    review = kube.create(
        {
            "apiVersion": "authorization.k8s.io/v1",
            "kind": "SubjectAccessReview",
            "metadata": {},
            "spec": {
                "user": identity.user,
                "groups": list(identity.groups),
                "resourceAttributes": {
                    "namespace": namespace,
                    "verb": APPROVAL_VERB,
                    "group": GROUP,
                    "resource": APPROVAL_RESOURCE,
                    "subresource": APPROVAL_SUBRESOURCE,
                    "name": playbook,
                },
            },
        }
    )
    status = review.get("status") or {}
    allowed = bool(status.get("allowed")) and not status.get("denied")
    return allowed, str(status.get("reason") or status.get("evaluationError") or "")


# --- the decision ---------------------------------------------------------------------------------


def _refused(status: int, reason: str) -> Answer:
    return Answer(status, {"error": reason}, approval_messages.slack_refusal(reason))


def decide(kube: Kube, settings: Settings, press: Press, key: bytes, now: datetime) -> Answer:
    """Steps 3 to 5 of the module's list, then the decision written; blocking (runs in a thread)."""
    where = f"ConfigMap {settings.slack_users_namespace}/{settings.slack_users_configmap}"
    mapping = kube.get("v1", "ConfigMap", settings.slack_users_namespace, settings.slack_users_configmap)
    identity = mapped_identity((mapping or {}).get("data") or {}, press.slack_user)
    if identity is None:
        return _refused(403, f"Slack user {press.slack_user} is not mapped to a Kubernetes identity ({where})")
    allowed, why = may_approve(kube, identity, press.namespace, press.playbook)
    if not allowed:
        return _refused(
            403,
            f"{identity.user} may not {APPROVAL_VERB} {APPROVAL_RESOURCE}/{APPROVAL_SUBRESOURCE} "
            f"{press.namespace}/{press.playbook}" + (f": {why}" if why else ""),
        )
    decision = approvals.Decision(
        press.execution, "approve" if press.approve else "reject", "slack", identity.user, press.shown_user, now
    )
    for _ in range(3):  # a conflicting write (another press, kopf's own annotations) is read again
        playbook = kube.get(API_VERSION, "RemediationPlaybook", press.namespace, press.playbook)
        if playbook is None:
            return _refused(404, f"RemediationPlaybook {press.namespace}/{press.playbook} not found")
        executions = ((playbook.get("status") or {}).get("executions")) or []
        execution = next((e for e in executions if e.get("id") == press.execution), None)
        if execution is None:
            return _refused(404, f"execution {press.execution} not found in {press.namespace}/{press.playbook}")
        if execution.get("state") != "AwaitingApproval":  # decided elsewhere, or expired: the message says so now
            state, message = str(execution.get("state")), str(execution.get("message") or "")
            reason = f"execution {press.execution} is {state} ({message})"
            return Answer(409, {"error": reason}, approval_messages.slack_closed(press.value, state, message))
        annotations = playbook["metadata"].get("annotations") or {}
        earlier = approvals.parse(annotations.get(approvals.APPROVALS_ANNOTATION), key).get(press.execution)
        if earlier is not None:
            return _refused(409, f"execution {press.execution} was already {earlier.verdict}d by {earlier.who()}")
        waiting = {str(e.get("id")) for e in executions if e.get("state") == "AwaitingApproval"}
        value = approvals.merged(annotations.get(approvals.APPROVALS_ANNOTATION), decision, key, waiting)
        patch = {
            "metadata": {
                "resourceVersion": playbook["metadata"]["resourceVersion"],
                "annotations": {approvals.APPROVALS_ANNOTATION: value},
            }
        }
        try:
            kube.patch(API_VERSION, "RemediationPlaybook", press.namespace, press.playbook, patch)
        except ApiException as error:
            if error.status == 409:
                continue
            raise
        verb = "approved" if press.approve else "rejected"
        log.info(
            "execution %s of %s/%s %s by %s", press.execution, press.namespace, press.playbook, verb, decision.who()
        )
        body = {"decision": verb, "execution": press.execution, "user": identity.user, "slackUser": press.shown_user}
        return Answer(200, body, approval_messages.slack_decided(press.value, press.approve, decision.who()))
    return _refused(409, "the playbook kept changing; press again")


# --- the route ------------------------------------------------------------------------------------


def add_routes(made: web.Application, settings: Settings, kube_of: Callable[[], Kube]) -> None:
    """Add POST /slack/interactive to the receiver's application."""
    secret = signing_secret(settings)
    assert secret is not None, "add_routes needs a signing secret (settings.slack_enabled)"
    policy = outbound.Policy.from_settings(settings)
    replies: set[asyncio.Task[None]] = set()

    def post_reply(url: str, body: JSON) -> None:
        try:
            outbound.post_json(url, body, policy, RESPONSE_TIMEOUT)
        except outbound.OutboundError as error:
            log.warning("Slack response_url not updated: %s", error)

    async def interactive(request: web.Request) -> web.Response:
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            body = b"\0" * (MAX_BODY + 1)
        if not body or len(body) > MAX_BODY:
            return web.json_response({"error": f"an empty body or one larger than {MAX_BODY} bytes"}, status=413)
        try:
            secret_bytes = secret.get()
        except ReceiverConfigError as error:
            log.error("Slack request refused: %s", error)
            return web.json_response({"error": "the signing secret is unreadable"}, status=503)
        headers = request.headers
        try:
            verify(
                secret_bytes,
                headers.get("X-Slack-Request-Timestamp"),
                headers.get("X-Slack-Signature"),
                body,
                time.time(),
            )
        except SignatureError as error:
            log.warning("Slack request refused: %s", error)
            return web.json_response({"error": str(error)}, status=401)
        try:
            press = parse_interaction(body)
        except PayloadError as error:
            return web.json_response({"error": str(error)[:300]}, status=400)
        key = approvals.record_key(secret_bytes)
        try:
            answer = await asyncio.to_thread(decide, kube_of(), settings, press, key, datetime.now(UTC))
        except ApiException as error:
            log.warning("Slack request for %s/%s: API error %s", press.namespace, press.playbook, error.status)
            answer = _refused(502, f"API error {error.status}: {error.reason}")
        except (KeyError, TypeError, ValueError) as error:  # an object we cannot read: refuse, never crash
            log.warning("Slack request for %s/%s: unreadable object: %r", press.namespace, press.playbook, error)
            answer = _refused(502, "the playbook could not be read")
        if answer.status != 200:
            log.warning("Slack %s by %s refused: %s", press.value, press.shown_user, answer.body.get("error"))
        if press.response_url and answer.reply is not None:
            task = asyncio.create_task(asyncio.to_thread(post_reply, press.response_url, answer.reply))
            replies.add(task)
            task.add_done_callback(replies.discard)
        return web.json_response(answer.body, status=answer.status)

    made.router.add_post(PATH, interactive)


def routes(settings: Settings, kube_of: Callable[[], Kube]) -> Callable[[web.Application], None] | None:
    """The route adder when Slack is configured, else None (the receiver serves no Slack path)."""
    if not settings.slack_enabled:
        return None
    if settings.alertmanager_port == 0:
        log.warning("a Slack signing secret is set but MLAIOPS_ALERTMANAGER_PORT is 0: %s is not served", PATH)
        return None
    try:
        signing_secret(settings)
    except ReceiverConfigError as error:  # the operator runs on without approvals in chat
        log.error("Slack interactive endpoint not served: %s", error)
        return None

    def adder(made: web.Application) -> None:
        add_routes(made, settings, kube_of)

    return adder

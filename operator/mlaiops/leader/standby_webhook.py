"""The validating webhook on a standby replica: the Service in front of the webhook reaches every
replica, so a standby must answer too (with ``failurePolicy: Fail`` an unanswered review refuses
the user's request).

Validation only reads the review (and asks Prometheus to parse PromQL): a standby can do it
without acting on anything. It uses kopf's own WebhookServer (same certificate files, same
paths) and the same ``check`` as the leader's handlers, but never manages the
ValidatingWebhookConfiguration; in managed mode (a self-signed certificate per process) only
the leader serves, because the configuration trusts the leader's certificate alone.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, cast

import kopf

from mlaiops.controllers import admission

logger = logging.getLogger("mlaiops.leader")


async def review(request: dict[str, Any], **_: Any) -> dict[str, Any]:
    """One AdmissionReview, answered as kopf's handlers would (same messages, code and warnings)."""
    body = request.get("request") or {}
    kind = (body.get("kind") or {}).get("kind", "")
    response: dict[str, Any] = {"uid": body.get("uid", ""), "allowed": True}
    warnings: list[str] = []
    if kind in admission.HANDLERS and body.get("operation") in ("CREATE", "UPDATE"):
        try:
            await asyncio.to_thread(admission.check, kind, body.get("object"), body.get("oldObject"), warnings)
        except kopf.AdmissionError as error:
            response["allowed"] = False
            response["status"] = {"message": str(error), "code": error.code or 500}
    if warnings:
        response["warnings"] = warnings
    return {
        "apiVersion": request.get("apiVersion", "admission.k8s.io/v1"),
        "kind": request.get("kind", "AdmissionReview"),
        "response": response,
    }


async def serve() -> None:
    """Serve until cancelled (on election: the leader's kopf takes the port over)."""
    config = admission.webhook_config()
    if not config.enabled or config.managed:
        return
    server = admission.server(config)
    async with server:
        # kopf types the review as its own TypedDicts of the same JSON; ``review`` reads plain dicts.
        async for _ in server(cast(kopf.WebhookFn, review)):  # the client configuration is the leader's business
            logger.info("standby serves the validating webhook on port %d", config.port)

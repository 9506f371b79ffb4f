"""Validating admission webhooks, called the way kube-apiserver calls them.

For every create, update, patch and delete (and their ``status``/``scale`` subresources) the server
finds the webhooks of the stored ValidatingWebhookConfigurations whose ``rules`` match (operations,
apiGroups, apiVersions, resources with ``plural/subresource`` and ``*`` forms, scope), whose
``namespaceSelector`` matches the namespace's labels and whose ``objectSelector`` matches the
new or old object's labels. It computes the object as it would be stored (a dry run of the same
write: pruned, defaulted, schema-validated), POSTs an ``admission.k8s.io/v1`` AdmissionReview to each
webhook in order and only then writes. What the real server does and this module copies
(``k8s.io/apiserver/pkg/admission/plugin/webhook``):

- a denial is an error with the webhook's ``status.code`` (at least 400; 400 when absent), its
  ``reason`` and ``details``, and the message ``admission webhook "<name>" denied the request: <message>``
  (``... denied the request without explanation`` when it gave none);
- a webhook that cannot be called (refused, timed out after ``timeoutSeconds`` (default 10), TLS not
  verified against ``caBundle``, a non-200 answer, a reply that is not an AdmissionReview of the same
  ``apiVersion`` and ``uid``) fails the request with 500 ``InternalError``
  ``Internal error occurred: failed calling webhook "<name>": failed to call webhook: ...`` when its
  ``failurePolicy`` is ``Fail`` (the default), and is skipped when it is ``Ignore``;
- ``dryRun=All`` requests reach only webhooks with ``sideEffects: None`` or ``NoneOnDryRun`` and carry
  ``dryRun: true``; any other webhook makes such a request fail with 400
  ``admission webhook "<name>" does not support dry run``;
- ``response.warnings`` come back to the client as ``Warning`` headers;
- webhook configurations themselves are never sent to webhooks.

Sandbox differences: ``clientConfig.url`` may be ``http://`` (the real server insists on https);
``clientConfig.service`` has no DNS here, so it is reached through the Service's local proxy recorded
in its ``sandbox.mlaiops.dev/endpoints`` annotation (set by the pod runtime, or by hand for a Service
without selector), with TLS verified for ``<name>.<namespace>.svc`` as the real server does;
the object is computed before the webhooks are called, so a create of an existing name is a 409
before any webhook sees it (the real server asks the webhooks first);
``matchConditions`` (CEL) and ``matchPolicy: Equivalent`` are ignored (every webhook whose rules
match exactly is called); webhooks run one after another rather than in parallel; a
``deletecollection`` does not call webhooks; MutatingWebhookConfigurations are stored, never called.
"""

from __future__ import annotations

import base64
import binascii
import copy
import dataclasses
import json
import ssl
import uuid
from collections.abc import Callable
from typing import Any

import aiohttp

from .errors import ApiError
from .objects import NAMESPACES, Cluster, Result, WriteOptions
from .resources import ResourceInfo

VWC = ("admissionregistration.k8s.io", "validatingwebhookconfigurations")
ENDPOINTS_ANNOTATION = "sandbox.mlaiops.dev/endpoints"
REVIEW_VERSION = "admission.k8s.io/v1"
USER = {"username": "sandbox-admin", "groups": ["system:masters", "system:authenticated"]}
MAX_ATTEMPTS = 5


class CallError(Exception):
    """The webhook could not be called or answered nonsense (what failurePolicy decides about)."""


@dataclasses.dataclass
class Request:
    """One write under admission."""

    info: ResourceInfo
    namespace: str | None
    name: str | None
    subresource: str | None
    operation: str  # CREATE, UPDATE, DELETE
    options: dict[str, Any]


def _labels(obj: Any) -> dict[str, str]:
    labels = ((obj or {}).get("metadata") or {}).get("labels") if isinstance(obj, dict) else None
    return labels if isinstance(labels, dict) else {}


def selector_matches(selector: Any, labels: dict[str, str]) -> bool:
    """A metav1.LabelSelector; a missing or empty one matches everything."""
    if not isinstance(selector, dict):
        return True
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for requirement in selector.get("matchExpressions") or []:
        key, operator, values = requirement.get("key"), requirement.get("operator"), requirement.get("values") or []
        if operator == "In" and labels.get(key) not in values:
            return False
        if operator == "NotIn" and key in labels and labels[key] in values:
            return False
        if operator == "Exists" and key not in labels:
            return False
        if operator == "DoesNotExist" and key in labels:
            return False
    return True


def _resource_matches(patterns: list[str], plural: str, subresource: str | None) -> bool:
    for pattern in patterns:
        if pattern in ("*/*",):
            return True
        if pattern == "*":
            if subresource is None:
                return True
            continue
        head, _, tail = pattern.partition("/")
        if subresource is None:
            if not tail and head == plural:
                return True
        elif tail and (head in (plural, "*")) and (tail in (subresource, "*")):
            return True
    return False


def rule_matches(rule: dict[str, Any], request: Request) -> bool:
    info = request.info
    if not any(op in ("*", request.operation) for op in rule.get("operations") or []):
        return False
    if not any(group in ("*", info.group) for group in rule.get("apiGroups") or []):
        return False
    if not any(version in ("*", info.version) for version in rule.get("apiVersions") or []):
        return False
    if not _resource_matches(rule.get("resources") or [], info.plural, request.subresource):
        return False
    scope = rule.get("scope") or "*"
    return scope == "*" or (scope == "Namespaced") == info.namespaced


class Admission:
    """The validating admission chain of one API server."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster

    # --- selection ------------------------------------------------------------------------------

    def _candidates(self, request: Request) -> list[dict[str, Any]]:
        """Webhooks whose rules match the request (selectors need the objects: checked later)."""
        if (request.info.group, request.info.plural) == VWC or request.info.group == "admissionregistration.k8s.io":
            return []
        found = []
        for config in self.cluster.store.list(VWC):
            for webhook in config.get("webhooks") or []:
                if any(rule_matches(rule, request) for rule in webhook.get("rules") or []):
                    found.append(webhook)
        return found

    def _selected(self, webhook: dict[str, Any], request: Request, obj: Any, old: Any) -> bool:
        if request.info.namespaced or request.info.gr == NAMESPACES:
            if request.info.gr == NAMESPACES:
                namespace_labels = _labels(obj or old)
            else:
                namespace = self.cluster.store.get(NAMESPACES, "", request.namespace or "")
                namespace_labels = _labels(namespace)
            if not selector_matches(webhook.get("namespaceSelector"), namespace_labels):
                return False
        selector = webhook.get("objectSelector")
        return selector_matches(selector, _labels(obj)) or (
            old is not None and selector_matches(selector, _labels(old))
        )

    # --- the chain ------------------------------------------------------------------------------

    async def admit(
        self,
        request: Request,
        opts: WriteOptions,
        write: Callable[[WriteOptions], Result],
        body: dict[str, Any] | None = None,
    ) -> Result:
        """Run ``write`` after every matching webhook allowed what it would store.

        The object is computed by a dry run of the same write; if the stored object changes while the
        webhooks think (the loop is free meanwhile), admission runs again on the new state.
        """
        webhooks = self._candidates(request)
        if not webhooks:
            return write(opts)
        store, info = self.cluster.store, request.info
        for _ in range(MAX_ATTEMPTS):
            old = store.get(info.gr, request.namespace or "", request.name or "") if request.name else None
            before = (old or {}).get("metadata", {}).get("resourceVersion")
            if request.operation == "DELETE":
                if old is None:
                    return write(opts)  # the real 404
                obj, dry = None, None
            else:
                dry = write(dataclasses.replace(opts, dry_run=True))
                obj = dry.body
                if request.operation == "CREATE" and body is not None and not (body.get("metadata") or {}).get("name"):
                    body.setdefault("metadata", {})["name"] = obj["metadata"]["name"]  # keep the reviewed name
            if request.operation == "CREATE" and request.name is None:
                request = dataclasses.replace(request, name=obj["metadata"]["name"] if obj else None)
            warnings = await self._call_all(webhooks, request, obj, old, opts.dry_run)
            current = store.get(info.gr, request.namespace or "", request.name or "") if request.name else None
            if (current or {}).get("metadata", {}).get("resourceVersion") == before and (current is None) == (
                old is None
            ):
                break
        else:
            raise ApiError(409, "the object changed repeatedly while admission webhooks were called; try again")
        result = dry if opts.dry_run and dry is not None else write(opts)
        result.warnings = [*result.warnings, *warnings]
        return result

    async def _call_all(
        self, webhooks: list[dict[str, Any]], request: Request, obj: Any, old: Any, dry_run: bool
    ) -> list[str]:
        warnings: list[str] = []
        for webhook in webhooks:
            if not self._selected(webhook, request, obj, old):
                continue
            name = webhook.get("name", "")
            if dry_run and webhook.get("sideEffects") not in ("None", "NoneOnDryRun"):
                raise ApiError(400, f'admission webhook "{name}" does not support dry run', reason="BadRequest")
            review = self._review(request, obj, old, dry_run)
            try:
                response = await self._call(webhook, review)
            except CallError as error:
                if webhook.get("failurePolicy", "Fail") == "Ignore":
                    continue
                cause = f'failed calling webhook "{name}": {error}'
                raise ApiError(
                    500,
                    f"Internal error occurred: {cause}",
                    reason="InternalError",
                    details={"causes": [{"message": cause}]},
                ) from None
            warnings += [str(w) for w in response.get("warnings") or []]
            if not response.get("allowed"):
                raise denial(name, response.get("status"))
        return warnings

    def _review(self, request: Request, obj: Any, old: Any, dry_run: bool) -> dict[str, Any]:
        info = request.info
        kind = {"group": info.group, "version": info.version, "kind": info.kind}
        if request.subresource == "scale":
            kind = {"group": "autoscaling", "version": "v1", "kind": "Scale"}
        resource = {"group": info.group, "version": info.version, "resource": info.plural}
        body: dict[str, Any] = {
            "uid": str(uuid.uuid4()),
            "kind": kind,
            "resource": resource,
            "requestKind": kind,
            "requestResource": resource,
            "name": request.name or "",
            "operation": request.operation,
            "userInfo": copy.deepcopy(USER),
            "object": copy.deepcopy(obj),
            "oldObject": copy.deepcopy(old) if request.operation != "CREATE" else None,
            "dryRun": dry_run,
            "options": request.options,
        }
        if request.subresource:
            body["subResource"] = body["requestSubResource"] = request.subresource
        if request.namespace:
            body["namespace"] = request.namespace
        return {"apiVersion": REVIEW_VERSION, "kind": "AdmissionReview", "request": body}

    # --- one call -------------------------------------------------------------------------------

    def _endpoint(self, webhook: dict[str, Any]) -> tuple[str, str, str | None]:
        """(URL to post to, URL to name in errors, TLS server name) from clientConfig."""
        config = webhook.get("clientConfig") or {}
        timeout = f"timeout={int(webhook.get('timeoutSeconds') or 10)}s"
        if config.get("url"):
            url = config["url"]
            url = f"{url}{'&' if '?' in url else '?'}{timeout}"
            return url, url, None
        service = config.get("service") or {}
        namespace, name = service.get("namespace", ""), service.get("name", "")
        port, path = int(service.get("port") or 443), service.get("path") or ""
        host = f"{name}.{namespace}.svc"
        shown = f"https://{host}:{port}{path}?{timeout}"
        svc = self.cluster.store.get(("", "services"), namespace, name)
        if svc is None:
            raise CallError(f'failed to call webhook: service "{name}" not found')
        try:
            endpoints = json.loads((svc["metadata"].get("annotations") or {}).get(ENDPOINTS_ANNOTATION) or "{}")
        except ValueError:
            endpoints = {}
        keys = [
            str(p.get("name") or p.get("port"))
            for p in (svc.get("spec") or {}).get("ports") or []
            if p.get("port") == port
        ]
        local = next((endpoints[key] for key in [*keys, str(port)] if key in endpoints), None)
        if local is None:
            raise CallError(f'failed to call webhook: Post "{shown}": no endpoints available for service "{name}"')
        return f"https://{local}{path}?{timeout}", shown, host

    @staticmethod
    def _ssl(webhook: dict[str, Any]) -> ssl.SSLContext:
        bundle = (webhook.get("clientConfig") or {}).get("caBundle")
        context = ssl.create_default_context()
        if bundle:
            try:
                context = ssl.create_default_context(cadata=base64.b64decode(bundle).decode())
            except (binascii.Error, UnicodeDecodeError, ssl.SSLError, ValueError) as error:
                raise CallError(f"failed to call webhook: invalid caBundle: {error}") from None
        return context

    async def _call(self, webhook: dict[str, Any], review: dict[str, Any]) -> dict[str, Any]:
        url, shown, server_name = self._endpoint(webhook)
        timeout = float(webhook.get("timeoutSeconds") or 10)
        tls: dict[str, Any] = {}
        if url.startswith("https://"):
            tls["ssl"] = self._ssl(webhook)
            if server_name:
                tls["server_hostname"] = server_name
        try:
            async with (
                aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as session,
                session.post(url, json=review, **tls) as response,
            ):
                raw = await response.read()
                status = response.status
        except TimeoutError:
            raise CallError(f'failed to call webhook: Post "{shown}": context deadline exceeded') from None
        except aiohttp.ClientConnectorCertificateError as error:
            raise CallError(f'failed to call webhook: Post "{shown}": tls: {error.certificate_error}') from None
        except (aiohttp.ClientError, OSError) as error:
            raise CallError(f'failed to call webhook: Post "{shown}": {error}') from None
        if status != 200:
            raise CallError(f"failed to call webhook: the server responded with the status code {status}")
        try:
            answer = json.loads(raw)
        except ValueError as error:
            raise CallError(f"received invalid webhook response: {error}") from None
        if not isinstance(answer, dict) or answer.get("apiVersion") != REVIEW_VERSION:
            got = answer.get("apiVersion") if isinstance(answer, dict) else None
            raise CallError(f"expected webhook response of {REVIEW_VERSION}, got {got}")
        response_body = answer.get("response")
        if not isinstance(response_body, dict):
            raise CallError("webhook response was absent")
        uid = review["request"]["uid"]
        if response_body.get("uid") != uid:
            raise CallError(f'expected response.uid="{uid}", got "{response_body.get("uid", "")}"')
        return response_body


def denial(name: str, status: Any) -> ApiError:
    """What the client gets when webhook ``name`` denies (webhookerrors.ToStatusErr)."""
    status = status if isinstance(status, dict) else {}
    denied = f'admission webhook "{name}" denied the request'
    code = status.get("code") if isinstance(status.get("code"), int) else 0
    code = max(code, 400)
    if status.get("message"):
        message = f"{denied}: {status['message']}"
    elif status.get("reason"):
        message = f"{denied}: {status['reason']}"
    else:
        message = f"{denied} without explanation"
    error = ApiError(code, message, reason=status.get("reason") or "", details=status.get("details") or None)
    if not status.get("reason"):
        error.body.pop("reason", None)  # the real Status carries the webhook's reason, here none
    return error

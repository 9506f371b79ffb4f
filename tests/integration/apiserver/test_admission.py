"""Validating admission webhooks: the sandbox calls them like kube-apiserver does.

Each test starts from a tiny aiohttp webhook on 127.0.0.1 (plain http, or https with a self-signed
certificate made by openssl) and registers a ValidatingWebhookConfiguration for it. The reference
for each behaviour is k8s.io/apiserver/pkg/admission/plugin/webhook (dispatcher, errors.ToStatusErr)
as summarised in each docstring. The module has its own API server so that no webhook it registers
can reach other tests.
"""

from __future__ import annotations

import asyncio
import base64
import json
import shutil
import ssl
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml
from aiohttp import web
from apiserver_support import APPLY, Http, load, poll, unique
from mlaiops_sandbox.apiserver import ApiServerThread, kubeconfig
from mlaiops_sandbox.testing import free_port

VWC_PATH = "/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations"
Responder = Callable[[dict[str, Any]], Any]


def allow(review: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "response": {"uid": review["request"]["uid"], "allowed": True, **extra},
    }


def deny(review: dict[str, Any], status: dict[str, Any] | None = None) -> dict[str, Any]:
    answer = allow(review)
    answer["response"]["allowed"] = False
    if status is not None:
        answer["response"]["status"] = status
    return answer


class Webhook:
    """An aiohttp webhook on its own loop: records every AdmissionReview, answers with ``respond``."""

    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        self.reviews: list[dict[str, Any]] = []
        self.respond: Responder = allow
        self.delay = 0.0
        self.tls = tls
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.port = 0

    async def handle(self, request: web.Request) -> web.Response:
        review = await request.json()
        self.reviews.append({**review, "path": request.path_qs})
        if self.delay:
            await asyncio.sleep(self.delay)
        answer = self.respond(review)
        if asyncio.iscoroutine(answer):
            answer = await answer
        if isinstance(answer, web.Response):
            return answer
        return web.json_response(answer)

    async def _start(self) -> None:
        app = web.Application()
        app.router.add_post("/{tail:.*}", self.handle)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0, ssl_context=self.tls)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    def start(self) -> Webhook:
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self.loop).result(10)
        return self

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}/validate"


@pytest.fixture(scope="module")
def server() -> Iterator[ApiServerThread]:
    with ApiServerThread() as srv:
        yield srv


@pytest.fixture(scope="module")
def api(server: ApiServerThread) -> Http:
    http = Http(server.url)
    response = http.post("/apis/apiextensions.k8s.io/v1/customresourcedefinitions", load("widgets-crd.yaml"))
    assert response.status_code == 201, response.text
    poll(lambda: http.get("/apis/test.sandbox.dev/v1").status_code == 200, what="widget discovery")
    return http


@pytest.fixture
def ns(api: Http) -> Iterator[str]:
    name = unique("adm")
    assert api.post("/api/v1/namespaces", {"metadata": {"name": name, "labels": {"team": "a"}}}).status_code == 201
    yield name
    api.delete(f"/api/v1/namespaces/{name}")


@pytest.fixture
def hook() -> Iterator[Webhook]:
    webhook = Webhook().start()
    yield webhook
    webhook.stop()


@pytest.fixture
def register(api: Http) -> Iterator[Callable[..., str]]:
    """Register a ValidatingWebhookConfiguration with one webhook; removed after the test."""
    names: list[str] = []

    def make(client_config: dict[str, Any], name: str = "widgets.test.dev", **webhook: Any) -> str:
        config_name = unique("vwc")
        rules = webhook.pop(
            "rules",
            [
                {
                    "apiGroups": ["test.sandbox.dev"],
                    "apiVersions": ["v1"],
                    "resources": ["widgets"],
                    "operations": ["CREATE", "UPDATE"],
                    "scope": "Namespaced",
                }
            ],
        )
        body = {
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "ValidatingWebhookConfiguration",
            "metadata": {"name": config_name},
            "webhooks": [
                {
                    "name": name,
                    "clientConfig": client_config,
                    "rules": rules,
                    "sideEffects": "None",
                    "admissionReviewVersions": ["v1"],
                    **webhook,
                }
            ],
        }
        response = api.post(VWC_PATH, body)
        assert response.status_code == 201, response.text
        names.append(config_name)
        return config_name

    yield make
    for name in names:
        api.delete(f"{VWC_PATH}/{name}")


def widget(name: str = "", **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "test.sandbox.dev/v1",
        "kind": "Widget",
        "metadata": {"name": name or unique("w"), "labels": {"tier": "web"}},
        "spec": {"image": "nginx", **spec},
    }


def widgets(ns: str) -> str:
    return f"/apis/test.sandbox.dev/v1/namespaces/{ns}/widgets"


# --- denial and allowance ------------------------------------------------------------------------


def test_denial_uses_the_webhooks_code_and_says_which_webhook_denied(
    api: Http, ns: str, hook: Webhook, register: Callable[..., str]
) -> None:
    """ToStatusErr: the webhook's status (code, reason, details) with the message
    'admission webhook "<name>" denied the request: <message>'; nothing is stored."""
    hook.respond = lambda r: deny(r, {"code": 422, "reason": "Invalid", "message": "spec.image: not allowed"})
    register({"url": hook.url})
    body = widget()
    response = api.post(widgets(ns), body)
    assert response.status_code == 422
    status = response.json()
    assert status["kind"] == "Status" and status["status"] == "Failure" and status["reason"] == "Invalid"
    assert status["message"] == 'admission webhook "widgets.test.dev" denied the request: spec.image: not allowed'
    assert api.get(f"{widgets(ns)}/{body['metadata']['name']}").status_code == 404


def test_denial_without_code_is_400_and_without_message_says_so(
    api: Http, ns: str, hook: Webhook, register: Callable[..., str]
) -> None:
    """A code below 400 becomes 400; no message and no reason gives '... denied the request without explanation'."""
    hook.respond = lambda r: deny(r)
    register({"url": hook.url})
    response = api.post(widgets(ns), widget())
    assert response.status_code == 400
    assert response.json()["message"] == 'admission webhook "widgets.test.dev" denied the request without explanation'
    hook.respond = lambda r: deny(r, {"code": 200, "message": "nope"})
    response = api.post(widgets(ns), widget())
    assert response.status_code == 400
    assert response.json()["message"] == 'admission webhook "widgets.test.dev" denied the request: nope'


def test_allowed_create_is_stored_and_the_review_carries_the_defaulted_object(
    api: Http, ns: str, hook: Webhook, register: Callable[..., str]
) -> None:
    """The webhook sees the object after pruning and defaulting, with an AdmissionReview v1 request."""
    register({"url": hook.url}, timeoutSeconds=7)
    body = widget()
    response = api.post(widgets(ns) + "?fieldManager=me", body)
    assert response.status_code == 201, response.text
    assert len(hook.reviews) == 1
    review = hook.reviews[0]
    assert review["path"] == "/validate?timeout=7s"
    assert review["apiVersion"] == "admission.k8s.io/v1" and review["kind"] == "AdmissionReview"
    request = review["request"]
    assert request["uid"]
    assert request["kind"] == {"group": "test.sandbox.dev", "version": "v1", "kind": "Widget"}
    assert request["resource"] == {"group": "test.sandbox.dev", "version": "v1", "resource": "widgets"}
    assert request["requestKind"] == request["kind"] and request["requestResource"] == request["resource"]
    assert request["name"] == body["metadata"]["name"] and request["namespace"] == ns
    assert request["operation"] == "CREATE" and request["dryRun"] is False
    assert request["oldObject"] is None and "subResource" not in request
    assert request["options"] == {"kind": "CreateOptions", "apiVersion": "meta.k8s.io/v1", "fieldManager": "me"}
    assert request["userInfo"]["username"]
    assert request["object"]["spec"] == {"image": "nginx", "replicas": 1, "size": "small"}  # CRD defaults applied
    assert request["object"]["metadata"]["uid"]


def test_generated_names_are_reviewed_as_stored(
    api: Http, ns: str, hook: Webhook, register: Callable[..., str]
) -> None:
    register({"url": hook.url})
    body = widget()
    body["metadata"] = {"generateName": "gen-"}
    response = api.post(widgets(ns), body)
    assert response.status_code == 201
    assert hook.reviews[-1]["request"]["name"] == response.json()["metadata"]["name"]


def test_update_and_patch_send_the_old_and_the_new_object(
    api: Http, ns: str, hook: Webhook, register: Callable[..., str]
) -> None:
    """UPDATE carries oldObject (stored) and object (after the patch, defaulted); a denied patch changes nothing."""
    register({"url": hook.url})
    body = widget(replicas=2)
    path = f"{widgets(ns)}/{body['metadata']['name']}"
    assert api.post(widgets(ns), body).status_code == 201
    assert api.patch(path, {"spec": {"replicas": 3}}).status_code == 200
    request = hook.reviews[-1]["request"]
    assert request["operation"] == "UPDATE"
    assert request["options"]["kind"] == "PatchOptions"
    assert request["oldObject"]["spec"]["replicas"] == 2 and request["object"]["spec"]["replicas"] == 3
    hook.respond = lambda r: deny(r, {"code": 403, "message": "frozen"})
    response = api.patch(path, {"spec": {"replicas": 4}})
    assert response.status_code == 403
    assert response.json()["message"] == 'admission webhook "widgets.test.dev" denied the request: frozen'
    assert api.get(path).json()["spec"]["replicas"] == 3
    stored = api.get(path).json()
    assert api.put(path, {**stored, "spec": {**stored["spec"], "replicas": 5}}).status_code == 403


def test_server_side_apply_of_a_new_object_is_a_create(
    api: Http, ns: str, hook: Webhook, register: Callable[..., str]
) -> None:
    register({"url": hook.url})
    body = widget()
    path = f"{widgets(ns)}/{body['metadata']['name']}?fieldManager=kubectl"
    assert api.patch(path, yaml.safe_dump(body), ctype=APPLY).status_code == 201
    assert hook.reviews[-1]["request"]["operation"] == "CREATE"


def test_delete_is_reviewed_only_when_a_rule_names_it(
    api: Http, ns: str, hook: Webhook, register: Callable[..., str]
) -> None:
    """DELETE is an operation like the others: oldObject is the stored object, object is null."""
    register({"url": hook.url})
    body = widget()
    path = f"{widgets(ns)}/{body['metadata']['name']}"
    assert api.post(widgets(ns), body).status_code == 201
    hook.reviews.clear()
    hook.respond = lambda r: deny(r, {"code": 403, "message": "keep"})
    assert api.delete(path).status_code == 200
    assert hook.reviews == []

    register(
        {"url": hook.url},
        name="deletes.test.dev",
        rules=[{"apiGroups": ["*"], "apiVersions": ["*"], "resources": ["widgets"], "operations": ["DELETE"]}],
    )
    body = widget()
    path = f"{widgets(ns)}/{body['metadata']['name']}"
    hook.respond = allow
    assert api.post(widgets(ns), body).status_code == 201
    hook.respond = lambda r: deny(r, {"code": 403, "message": "keep"})
    response = api.delete(path)
    assert response.status_code == 403
    assert response.json()["message"] == 'admission webhook "deletes.test.dev" denied the request: keep'
    request = hook.reviews[-1]["request"]
    assert request["operation"] == "DELETE" and request["object"] is None
    assert request["oldObject"]["metadata"]["name"] == body["metadata"]["name"]
    assert request["options"]["kind"] == "DeleteOptions"
    assert api.get(path).status_code == 200


def test_warnings_reach_the_client(api: Http, ns: str, hook: Webhook, register: Callable[..., str]) -> None:
    hook.respond = lambda r: allow(r, warnings=["spec.image: consider pinning a digest"])
    register({"url": hook.url})
    response = api.post(widgets(ns), widget())
    assert response.status_code == 201
    assert response.headers.get("Warning") == '299 - "spec.image: consider pinning a digest"'


def test_a_write_racing_the_webhook_is_reviewed_again_on_the_new_state(
    api: Http, ns: str, hook: Webhook, register: Callable[..., str]
) -> None:
    """The webhook is slow and the object changes meanwhile: admission runs again on the new stored
    object, so what is written is always what a webhook saw (never a half-reviewed merge)."""
    register({"url": hook.url})
    body = widget(replicas=1)
    path = f"{widgets(ns)}/{body['metadata']['name']}"
    assert api.post(widgets(ns), body).status_code == 201
    raced = []

    async def respond(review: dict[str, Any]) -> dict[str, Any]:
        obj = review["request"]["object"]
        if obj["spec"].get("replicas") == 2 and not raced:
            raced.append(True)  # while the replicas change is under review, someone labels the object
            async with (
                aiohttp.ClientSession() as session,
                session.patch(
                    api.base + path,
                    data=json.dumps({"metadata": {"labels": {"raced": "yes"}}}),
                    headers={"Content-Type": "application/merge-patch+json"},
                ) as response,
            ):
                assert response.status == 200
        return allow(review)

    hook.respond = respond
    hook.reviews.clear()
    assert api.patch(path, {"spec": {"replicas": 2}}).status_code == 200
    stored = api.get(path).json()
    assert stored["spec"]["replicas"] == 2 and stored["metadata"]["labels"]["raced"] == "yes"
    replicas_reviews = [r["request"] for r in hook.reviews if r["request"]["object"]["spec"]["replicas"] == 2]
    assert len(hook.reviews) == 3  # the replicas patch, the racing label patch, the replicas patch again
    assert len(replicas_reviews) == 2
    assert "raced" not in replicas_reviews[0]["oldObject"]["metadata"].get("labels", {})
    last = replicas_reviews[-1]
    assert last["oldObject"]["metadata"]["labels"]["raced"] == "yes"
    assert last["object"]["metadata"]["labels"]["raced"] == "yes"


# --- which requests reach a webhook ------------------------------------------------------------------


def test_rules_select_group_version_resource_subresource_and_operation(
    api: Http, ns: str, hook: Webhook, register: Callable[..., str]
) -> None:
    """A rule on 'widgets' does not cover widgets/status; 'widgets/status' does; other kinds never match."""
    hook.respond = lambda r: deny(r, {"code": 403, "message": "no"})
    register({"url": hook.url})
    assert api.post(f"/api/v1/namespaces/{ns}/configmaps", {"metadata": {"name": "c"}}).status_code == 201
    hook.respond = allow
    body = widget()
    path = f"{widgets(ns)}/{body['metadata']['name']}"
    assert api.post(widgets(ns), body).status_code == 201
    hook.respond = lambda r: deny(r, {"code": 403, "message": "no"})
    assert api.patch(f"{path}/status", {"status": {"replicas": 1}}).status_code == 200
    register(
        {"url": hook.url},
        name="status.test.dev",
        rules=[
            {
                "apiGroups": ["test.sandbox.dev"],
                "apiVersions": ["v1"],
                "resources": ["widgets/status"],
                "operations": ["*"],
            }
        ],
    )
    response = api.patch(f"{path}/status", {"status": {"replicas": 2}})
    assert response.status_code == 403
    assert hook.reviews[-1]["request"]["subResource"] == "status"
    assert api.get(path).json()["status"]["replicas"] == 1


def test_namespace_and_object_selectors(api: Http, ns: str, hook: Webhook, register: Callable[..., str]) -> None:
    """namespaceSelector matches the namespace's labels; objectSelector the new or the old object's labels."""
    hook.respond = lambda r: deny(r, {"code": 403, "message": "no"})
    register({"url": hook.url}, namespaceSelector={"matchLabels": {"team": "b"}})
    assert api.post(widgets(ns), widget()).status_code == 201
    register({"url": hook.url}, name="objects.test.dev", objectSelector={"matchLabels": {"tier": "db"}})
    assert api.post(widgets(ns), widget()).status_code == 201
    db = widget()
    db["metadata"]["labels"] = {"tier": "db"}
    assert api.post(widgets(ns), db).status_code == 403
    register(
        {"url": hook.url},
        name="namespaces.test.dev",
        namespaceSelector={"matchExpressions": [{"key": "team", "operator": "In", "values": ["a"]}]},
    )
    assert api.post(widgets(ns), widget()).status_code == 403


# --- when the webhook cannot be called ---------------------------------------------------------------


def test_unreachable_webhook_fails_closed_by_default_and_open_when_ignored(
    api: Http, ns: str, register: Callable[..., str]
) -> None:
    """failurePolicy Fail (the v1 default): 500 InternalError 'failed calling webhook'; Ignore: the write proceeds."""
    url = f"http://127.0.0.1:{free_port()}/validate"
    config = register({"url": url})
    response = api.post(widgets(ns), widget())
    assert response.status_code == 500
    status = response.json()
    assert status["reason"] == "InternalError"
    assert status["message"].startswith(
        f'Internal error occurred: failed calling webhook "widgets.test.dev": failed to call webhook: Post "{url}?timeout=10s": '
    )
    assert status["details"]["causes"][0]["message"].startswith('failed calling webhook "widgets.test.dev"')
    api.delete(f"{VWC_PATH}/{config}")
    register({"url": url}, failurePolicy="Ignore")
    assert api.post(widgets(ns), widget()).status_code == 201


def test_timeout_seconds_bounds_the_call(api: Http, ns: str, hook: Webhook, register: Callable[..., str]) -> None:
    hook.delay = 3.0
    register({"url": hook.url}, timeoutSeconds=1)
    began = time.monotonic()
    response = api.post(widgets(ns), widget())
    assert time.monotonic() - began < 2.5
    assert response.status_code == 500
    assert response.json()["message"].endswith("context deadline exceeded")


def test_a_reply_for_another_request_is_a_call_failure(
    api: Http, ns: str, hook: Webhook, register: Callable[..., str]
) -> None:
    hook.respond = lambda r: {**allow(r), "response": {"uid": "someone-else", "allowed": True}}
    register({"url": hook.url})
    response = api.post(widgets(ns), widget())
    assert response.status_code == 500
    assert 'expected response.uid="' in response.json()["message"]
    hook.respond = lambda r: web.Response(status=503, text="busy")
    response = api.post(widgets(ns), widget())
    assert response.status_code == 500
    assert "the server responded with the status code 503" in response.json()["message"]


# --- TLS and service references ----------------------------------------------------------------------


def _certificate(directory: Path, name: str, sans: str) -> tuple[Path, Path]:
    cert, key = directory / f"{name}.crt", directory / f"{name}.key"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            f"/CN={name}",
            "-addext",
            f"subjectAltName={sans}",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, Path]]:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    directory = tmp_path_factory.mktemp("tls")
    return {
        "hook": _certificate(directory, "hook", "IP:127.0.0.1,DNS:hook.webhooks.svc"),
        "other": _certificate(directory, "other", "IP:127.0.0.1"),
    }


@pytest.fixture
def tls_hook(certificates: dict[str, tuple[Path, Path]]) -> Iterator[Webhook]:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*certificates["hook"])
    webhook = Webhook(tls=context).start()
    yield webhook
    webhook.stop()


def _bundle(path: Path) -> str:
    return base64.b64encode(path.read_bytes()).decode()


def test_https_webhook_is_verified_against_the_ca_bundle(
    api: Http, ns: str, tls_hook: Webhook, certificates: dict[str, tuple[Path, Path]], register: Callable[..., str]
) -> None:
    """caBundle is the only trust for the call: the right CA works, another CA is a failed call."""
    tls_hook.respond = lambda r: deny(r, {"code": 403, "message": "over tls"})
    config = register({"url": tls_hook.url, "caBundle": _bundle(certificates["hook"][0])})
    response = api.post(widgets(ns), widget())
    assert response.status_code == 403 and response.json()["message"].endswith("over tls")
    api.delete(f"{VWC_PATH}/{config}")
    calls = len(tls_hook.reviews)
    register({"url": tls_hook.url, "caBundle": _bundle(certificates["other"][0])})
    response = api.post(widgets(ns), widget())
    assert response.status_code == 500
    assert "certificate verify failed" in response.json()["message"]
    assert len(tls_hook.reviews) == calls


def test_service_reference_goes_through_the_services_local_endpoint(
    api: Http, tls_hook: Webhook, certificates: dict[str, tuple[Path, Path]], register: Callable[..., str]
) -> None:
    """clientConfig.service: https to <name>.<namespace>.svc, reached here through the Service's
    sandbox.mlaiops.dev/endpoints annotation; the certificate must be valid for the service's DNS name."""
    if api.get("/api/v1/namespaces/webhooks").status_code == 404:
        assert api.post("/api/v1/namespaces", {"metadata": {"name": "webhooks"}}).status_code == 201
    service = {
        "metadata": {
            "name": "hook",
            "annotations": {"sandbox.mlaiops.dev/endpoints": json.dumps({"https": f"127.0.0.1:{tls_hook.port}"})},
        },
        "spec": {"ports": [{"name": "https", "port": 443, "targetPort": 9443}]},
    }
    api.delete("/api/v1/namespaces/webhooks/services/hook")
    assert api.post("/api/v1/namespaces/webhooks/services", service).status_code == 201
    tls_hook.respond = lambda r: deny(r, {"code": 403, "message": "via service"})
    reference = {"namespace": "webhooks", "name": "hook", "path": "/validate", "port": 443}
    register({"service": reference, "caBundle": _bundle(certificates["hook"][0])})
    ns = unique("adm")
    assert api.post("/api/v1/namespaces", {"metadata": {"name": ns}}).status_code == 201
    response = api.post(widgets(ns), widget())
    assert response.status_code == 403 and response.json()["message"].endswith("via service")
    assert tls_hook.reviews[-1]["path"] == "/validate?timeout=10s"


# --- dry run -----------------------------------------------------------------------------------------


def test_dry_run_reaches_only_side_effect_free_webhooks(
    api: Http, ns: str, hook: Webhook, register: Callable[..., str]
) -> None:
    """dryRun=All: a webhook with sideEffects None is called with dryRun true (and can deny);
    one with sideEffects Some fails the request with 400 'does not support dry run'."""
    config = register({"url": hook.url})
    body = widget()
    response = api.post(widgets(ns) + "?dryRun=All", body)
    assert response.status_code == 201
    assert hook.reviews[-1]["request"]["dryRun"] is True
    assert hook.reviews[-1]["request"]["options"]["dryRun"] == ["All"]
    assert api.get(f"{widgets(ns)}/{body['metadata']['name']}").status_code == 404
    hook.respond = lambda r: deny(r, {"code": 422, "message": "bad even in a dry run"})
    assert api.post(widgets(ns) + "?dryRun=All", widget()).status_code == 422
    api.delete(f"{VWC_PATH}/{config}")
    register({"url": hook.url}, sideEffects="Some")
    response = api.post(widgets(ns) + "?dryRun=All", widget())
    assert response.status_code == 400
    assert response.json()["message"] == 'admission webhook "widgets.test.dev" does not support dry run'


# --- kubectl -----------------------------------------------------------------------------------------


def test_kubectl_prints_the_denial(
    server: ApiServerThread, api: Http, ns: str, hook: Webhook, register: Callable[..., str], tmp_path: Path
) -> None:
    if shutil.which("kubectl") is None:
        pytest.skip("kubectl is not installed")
    hook.respond = lambda r: deny(r, {"code": 400, "message": "spec.image: latest is not allowed"})
    register({"url": hook.url})
    config = tmp_path / "kubeconfig"
    config.write_text(yaml.safe_dump(kubeconfig(server.url, ns)))
    manifest = tmp_path / "w.yaml"
    manifest.write_text(yaml.safe_dump(widget("from-kubectl")))
    result = subprocess.run(
        ["kubectl", "--kubeconfig", str(config), "--cache-dir", str(tmp_path / "cache"), "apply", "-f", str(manifest)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0
    assert 'admission webhook "widgets.test.dev" denied the request: spec.image: latest is not allowed' in result.stderr
    assert api.get(f"{widgets(ns)}/from-kubectl").status_code == 404


# --- rule matching, pure -----------------------------------------------------------------------------

MATCHES = [
    # resources pattern, subresource of the request, matches (admissionregistration/v1 Rule.resources)
    (["widgets"], None, True),
    (["widgets"], "status", False),
    (["widgets/status"], "status", True),
    (["widgets/status"], None, False),
    (["widgets/*"], "scale", True),
    (["*"], None, True),
    (["*"], "status", False),
    (["*/status"], "status", True),
    (["*/*"], "scale", True),
    (["gadgets"], None, False),
]


@pytest.mark.parametrize(("resources", "subresource", "expected"), MATCHES)
def test_resource_patterns(
    resources: list[str], subresource: str | None, expected: bool, server: ApiServerThread
) -> None:
    """'*' is every resource but no subresource, '*/*' everything, 'x/*' every subresource of x."""
    from mlaiops_sandbox.apiserver.admission import Request, rule_matches

    info = server.server.cluster.registry.get("apps", "v1", "deployments")  # type: ignore[union-attr]
    assert info is not None
    resources = [r.replace("widgets", "deployments") for r in resources]
    rule = {"apiGroups": ["apps"], "apiVersions": ["*"], "operations": ["UPDATE"], "resources": resources}
    request = Request(info, "ns", "d", subresource, "UPDATE", {})
    assert rule_matches(rule, request) is expected
    assert not rule_matches({**rule, "operations": ["CREATE"]}, request)
    assert not rule_matches({**rule, "apiGroups": [""]}, request)
    assert rule_matches({**rule, "scope": "Namespaced"}, request) is expected
    assert not rule_matches({**rule, "scope": "Cluster"}, request)

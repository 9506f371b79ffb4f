"""The job and webhook actions against an in-memory API and a local receiver: one Job per step (a resumed
step adopts it), a stranger's Job is not adopted, and the webhook's POST is signed as documented."""

from __future__ import annotations

import base64
import copy
import json
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from ipaddress import ip_network
from typing import Any

import pytest
from kubernetes.client.exceptions import ApiException

from mlaiops.api.references import references
from mlaiops.api.remediationplaybook import RemediationPlaybookSpec
from mlaiops.remediation import actions, extensible, jobs, outbound, webhook

JSON = dict[str, Any]
PLAYBOOK = {
    "apiVersion": "mlaiops.dev/v1alpha1",
    "kind": "RemediationPlaybook",
    "metadata": {"name": "fix", "uid": "u1"},
}
JOB = {"template": {"spec": {"containers": [{"name": "fix", "image": "fixer:1"}]}}}


class FakeKube:
    """get/create over Jobs and Secrets by name; records creates; ``race`` makes the next create answer 409."""

    def __init__(self, *objects: JSON) -> None:
        self.objects = {(o["kind"], o["metadata"]["name"]): copy.deepcopy(o) for o in objects}
        self.created: list[JSON] = []
        self.race: JSON | None = None

    def get(self, api_version: str, kind: str, namespace: str | None, name: str, sub: str | None = None) -> JSON | None:
        found = self.objects.get((kind, name))
        return copy.deepcopy(found) if found else None

    def create(self, obj: JSON) -> JSON:
        key = (obj["kind"], obj["metadata"]["name"])
        if self.race is not None:
            self.objects[key], self.race = self.race, None
        if key in self.objects:
            raise ApiException(status=409, reason="AlreadyExists")
        self.created.append(copy.deepcopy(obj))
        self.objects[key] = copy.deepcopy(obj)
        return copy.deepcopy(obj)

    def finish(self, name: str, kind: str) -> None:
        self.objects[("Job", name)]["status"] = {"conditions": [{"type": kind, "status": "True", "reason": "Why"}]}


def context(kube: FakeKube, action: JSON, policy: outbound.Policy | None = None) -> actions.Context:
    spec = RemediationPlaybookSpec.model_validate(
        {"triggers": [{"rules": [{"name": "latency"}]}], "actions": [{"type": "scale", "scale": {"delta": 1}}, action]}
    )
    return actions.Context(
        kube,  # type: ignore[arg-type]
        "shop",
        "Deployment",
        "web",
        spec,
        spec.actions[1],
        "fix-20261127120000",
        "playbook-fix-20261127120000",
        now=datetime(2026, 11, 27, 12, 0, tzinfo=UTC),
        outbound_policy=policy or outbound.Policy(),
        playbook=PLAYBOOK,
        index=1,
        trigger="rule:shop/latency",
        fingerprint="fp1",
        incident="web-20261127-120000-abcdef",
    )


def test_a_job_step_creates_its_job_once_and_follows_it_to_completion() -> None:
    kube = FakeKube()
    ctx = context(kube, {"name": "repair", "type": "job", "job": JOB})
    params = extensible.plan(ctx)
    assert params == {"job": jobs.job_name("fix", "fix-20261127120000", 1)}
    with pytest.raises(actions.ActionPending, match="running"):
        extensible.run(ctx, params)
    with pytest.raises(actions.ActionPending):
        extensible.run(ctx, params)  # the next pass (or a restarted operator): the same Job, not a second
    assert len(kube.created) == 1
    created = kube.created[0]
    assert created["metadata"]["ownerReferences"][0]["name"] == "fix"
    env = {e["name"]: e["value"] for e in created["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["MLAIOPS_STEP"] == "repair" and env["MLAIOPS_INCIDENT"] == "web-20261127-120000-abcdef"
    kube.finish(params["job"], "Complete")
    assert extensible.run(ctx, params) == f"Job {params['job']} completed"


def test_a_failed_job_fails_the_step() -> None:
    kube = FakeKube()
    ctx = context(kube, {"type": "job", "job": JOB})
    params = extensible.plan(ctx)
    with pytest.raises(actions.ActionPending):
        extensible.run(ctx, params)
    kube.finish(params["job"], "Failed")
    with pytest.raises(actions.ActionError, match=r"failed \(Why\)"):
        extensible.run(ctx, params)


def test_a_job_created_meanwhile_answers_409_and_is_adopted() -> None:
    kube = FakeKube()
    ctx = context(kube, {"type": "job", "job": JOB})
    params = extensible.plan(ctx)
    theirs = jobs.job_object(ctx.action.job, extensible.step_context(ctx), 60, PLAYBOOK)  # type: ignore[arg-type]
    theirs["status"] = {"conditions": [{"type": "Complete", "status": "True"}]}
    kube.race = theirs
    assert extensible.run(ctx, params).endswith("completed")
    assert kube.created == []


def test_a_strangers_job_of_that_name_is_not_adopted() -> None:
    name = jobs.job_name("fix", "fix-20261127120000", 1)
    kube = FakeKube({"kind": "Job", "metadata": {"name": name, "labels": {}}, "status": {}})
    ctx = context(kube, {"type": "job", "job": JOB})
    with pytest.raises(actions.ActionError, match="not created for this step"):
        extensible.run(ctx, extensible.plan(ctx))


# --- webhook ---------------------------------------------------------------------------------------


class Receiver:
    def __init__(self, codes: list[int]) -> None:
        self.codes = codes
        self.requests: list[tuple[dict[str, str], bytes]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append((dict(self.headers), body))
                self.send_response(receiver.codes.pop(0) if receiver.codes else 200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_: Any) -> None:
                pass

        self.http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.http.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http.server_address[1]}/hook"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    made = Receiver([503, 204])
    yield made
    made.http.shutdown()


LOCAL = outbound.Policy(allow_http=True, allowed_networks=(ip_network("127.0.0.0/8"),))


def secret(value: bytes = b"topsecret\n") -> JSON:
    return {
        "kind": "Secret",
        "metadata": {"name": "mlaiops-notify"},
        "data": {"hmac": base64.b64encode(value).decode()},
    }


def hook(url: str, **extra: Any) -> JSON:
    settings = {"url": url, "signingSecretRef": {"name": "mlaiops-notify", "key": "hmac"}, "backoff": "100ms", **extra}
    return {"name": "tell", "type": "webhook", "webhook": settings}


def test_the_incident_is_posted_signed_retried_after_a_5xx_with_one_idempotency_key(receiver: Receiver) -> None:
    ctx = context(FakeKube(secret()), hook(receiver.url), LOCAL)
    params = extensible.plan(ctx)
    assert params == {"idempotencyKey": "fix-20261127120000/1"}
    assert extensible.run(ctx, params) == "posted the incident (HTTP 204, 2 attempts)"
    assert len(receiver.requests) == 2
    for headers, body in receiver.requests:
        assert headers["Idempotency-Key"] == "fix-20261127120000/1"
        assert webhook.verify(
            b"topsecret", headers["X-Mlaiops-Timestamp"], body, headers["X-Mlaiops-Signature"], time.time()
        )
    incident = json.loads(receiver.requests[0][1])
    assert incident["incident"] == "web-20261127-120000-abcdef" and incident["rule"] == "shop/latency"
    assert incident["step"] == {"index": 1, "name": "tell"}
    assert incident["target"] == {"namespace": "shop", "kind": "Deployment", "name": "web"}


def test_a_url_the_policy_refuses_is_never_contacted(receiver: Receiver) -> None:
    ctx = context(FakeKube(secret()), hook(receiver.url), outbound.Policy())  # https only, public addresses only
    with pytest.raises(actions.ActionError, match="refused by policy"):
        extensible.run(ctx, extensible.plan(ctx))
    assert receiver.requests == []


@pytest.mark.parametrize(
    ("objects", "ref", "message"),
    [
        ((), "mlaiops-notify", "Secret mlaiops-notify not found"),
        ((secret(b""),), "mlaiops-notify", "has no key hmac"),
        ((), "other", "refused by policy: the operator reads only Secrets named mlaiops-notify, not other"),
    ],
)
def test_a_missing_or_forbidden_signing_secret_fails_without_posting(
    receiver: Receiver, objects: tuple[JSON, ...], ref: str, message: str
) -> None:
    action = hook(receiver.url)
    action["webhook"]["signingSecretRef"]["name"] = ref
    ctx = context(FakeKube(*objects), action, LOCAL)
    with pytest.raises(actions.ActionError, match=message):
        extensible.run(ctx, extensible.plan(ctx))
    assert receiver.requests == []


def test_a_4xx_fails_the_step_after_one_attempt() -> None:
    made = Receiver([401, 200])
    try:
        ctx = context(FakeKube(secret()), hook(made.url), LOCAL)
        with pytest.raises(actions.ActionError, match=r"delivery failed \(HTTP 4xx\) \(1 attempt\)"):
            extensible.run(ctx, extensible.plan(ctx))
        assert len(made.requests) == 1
    finally:
        made.http.shutdown()


def test_a_job_the_api_server_refuses_fails_the_step_with_its_message() -> None:
    class Refusing(FakeKube):
        def create(self, obj: JSON) -> JSON:
            error = ApiException(status=422, reason="Unprocessable Entity")
            error.body = json.dumps({"message": 'Job.batch "x" is invalid: spec.template.spec.containers[0].image'})
            raise error

    ctx = context(Refusing(), {"type": "job", "job": JOB})
    with pytest.raises(actions.ActionError, match=r"refused by the API server: Job.batch \"x\" is invalid"):
        extensible.run(ctx, extensible.plan(ctx))


def test_the_signing_secret_is_a_reference_checked_like_the_notify_secret() -> None:
    spec = context(FakeKube(), hook("https://hooks.example.com/x")).spec
    (ref,) = [r for r in references(spec) if r.kind == "Secret"]
    assert (ref.path, ref.name, ref.key) == ("spec.actions[1].webhook.signingSecretRef", "mlaiops-notify", "hmac")

"""The extensible actions on real parts: ``job`` steps run Jobs on the sandbox (a failing one escalates to the
next step, a succeeding one sees the incident's context as environment), a ``webhook`` step reaches a
local receiver that checks the signature as docs/remediation-actions.md tells a receiver to, and the
operator SIGKILLed while each of them is in flight: the restarted operator adopts the running Job
(no second Job, the command ran once) and never POSTs the interrupted webhook step again. And a
firing rule and an Alertmanager alert wake their playbooks at once, with the timer 120 s away.

The planner's decisions (a Pending job step, an interrupted webhook step, timeouts) and the signing
and retry rules are unit tests (tests/unit/remediation/test_planner_extensible.py, test_webhook.py).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client
from mlaiops_sandbox.testing import OperatorProcess
from mlaiops_sandbox.testing.plugin import operator_for

from tests.e2e.conftest import Cluster, free_port, wait_for
from tests.e2e.test_remediation import World, make_world, playbook, step, web_deployment, world_for

pytestmark = pytest.mark.integration

SIGNING_KEY = "a shared secret"
SLOW_TIMER = 120.0  # seconds between two timer passes of a playbook in the wake test
WOKEN_WITHIN = 5.0  # seconds from the firing (or the alert) to the scale: only a wake explains it
WRITE_CONTEXT = (
    "import json, os, sys\n"
    "path = os.environ['OUT']\n"
    "with open(path, 'a') as out: out.write(json.dumps({k: v for k, v in os.environ.items() "
    "if k.startswith('MLAIOPS_') and not k.startswith('MLAIOPS_SANDBOX')}) + '\\n')\n"
    "import time; time.sleep(float(os.environ.get('SLEEP', '0')))\n"
    "sys.exit(int(os.environ.get('EXIT', '0')))\n"
)


def job_step(name: str, out: Path, exit_code: int = 0, sleep: float = 0, **extra: Any) -> dict[str, Any]:
    """A job step whose process appends the MLAIOPS_* environment it got to ``out`` and exits ``exit_code``."""
    env = [{"name": "OUT", "value": str(out)}, {"name": "EXIT", "value": str(exit_code)}]
    env.append({"name": "SLEEP", "value": str(sleep)})
    container = {"name": "fix", "image": "mlaiops:test", "command": ["python", "-c", WRITE_CONTEXT], "env": env}
    return {
        "name": name,
        "type": "job",
        "job": {"template": {"spec": {"containers": [container]}}},
        "verify": {"within": "60s"},
        **extra,
    }


def runs(out: Path) -> list[dict[str, str]]:
    """The environments the job's process ran with, one per run."""
    return [json.loads(line) for line in out.read_text().splitlines()] if out.exists() else []


def jobs_of(cluster: Cluster, namespace: str) -> list[Any]:
    return client.BatchV1Api(cluster.api).list_namespaced_job(namespace).items


@pytest.fixture
def world(cluster: Cluster, request: pytest.FixtureRequest) -> Iterator[World]:
    yield from world_for(cluster, request, "ra-")


# --- job ------------------------------------------------------------------------------------------


def test_a_failing_job_escalates_to_a_job_that_completes_with_the_incidents_context(
    world: World, tmp_path: Path
) -> None:
    failing, fixing = tmp_path / "failing.jsonl", tmp_path / "fixing.jsonl"
    ladder = [job_step("try", failing, exit_code=3), job_step("repair", fixing)]
    world.cluster.apply(playbook(ladder), world.namespace)
    world.high()
    done = wait_for(
        lambda: (e := world.executions()) and (s := step(e[0], "repair")) and s["result"] != "Running" and e[0],
        timeout=90,
        what="both job steps finished",
    )
    first, second = step(done, "try"), step(done, "repair")
    assert first is not None and second is not None
    assert first["result"] == "Failed" and "failed (BackoffLimitExceeded" in first["message"], first
    assert second["result"] == "Succeeded" and second["message"] == f"Job {second['params']['job']} completed"
    assert len(runs(failing)) == 1  # backoffLimit 0: one pod, one failure, the ladder moved on
    (context,) = runs(fixing)
    assert context["MLAIOPS_INCIDENT"] == done["incident"]
    assert context["MLAIOPS_EXECUTION"] == done["id"]
    assert (context["MLAIOPS_STEP"], context["MLAIOPS_STEP_INDEX"]) == ("repair", "1")
    assert context["MLAIOPS_RULE"] == f"{world.namespace}/latency"
    assert (context["MLAIOPS_TARGET_KIND"], context["MLAIOPS_TARGET_NAME"]) == ("Deployment", "web")
    assert context["MLAIOPS_FINGERPRINT"] == done["fingerprint"]
    names = sorted(j.metadata.name for j in jobs_of(world.cluster, world.namespace))
    assert names == sorted([first["params"]["job"], second["params"]["job"]])  # one Job per step
    for job in jobs_of(world.cluster, world.namespace):
        assert job.metadata.owner_references[0].kind == "RemediationPlaybook"
    world.low()
    verified = wait_for(lambda: (e := world.executions()[0])["state"] == "Succeeded" and e, timeout=60, what="verified")
    assert verified["reason"] == "Verified" and step(verified, "repair")["verified"] is True  # type: ignore[index]


def test_a_job_step_in_dry_run_creates_no_job(world: World, tmp_path: Path) -> None:
    out = tmp_path / "never.jsonl"
    world.cluster.apply(playbook([job_step("repair", out)], dryRun=True), world.namespace)
    world.high()
    done = wait_for(lambda: (e := world.executions()) and e[0]["state"] == "DryRun" and e[0], timeout=60, what="dry")
    assert step(done, "repair")["message"].startswith("would job Deployment/web job=")  # type: ignore[index]
    assert jobs_of(world.cluster, world.namespace) == [] and runs(out) == []


# --- webhook --------------------------------------------------------------------------------------


class Receiver:
    """A local webhook receiver that verifies requests as the docs tell a receiver to; with ``hold``, it
    answers the first request only once ``release`` is set (the operator can be killed while it waits)."""

    def __init__(self, hold: bool = False) -> None:
        self.requests: list[dict[str, Any]] = []
        self.hold = hold
        self.release = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append(
                    {"headers": dict(self.headers), "body": body, "valid": receiver.valid(dict(self.headers), body)}
                )
                if len(receiver.requests) == 1 and receiver.hold:
                    receiver.release.wait(30)
                try:
                    self.send_response(200)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                except OSError:  # the operator was killed while we held the answer
                    pass

            def log_message(self, *_: Any) -> None:
                pass

        self.http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.http.serve_forever, daemon=True).start()

    @staticmethod
    def valid(headers: dict[str, str], body: bytes) -> bool:
        """The documented check: v1=hex(HMAC-SHA256(secret, timestamp + "." + body)), timestamp within 5 minutes."""
        stamp = headers.get("X-Mlaiops-Timestamp", "")
        digest = hmac.new(SIGNING_KEY.encode(), stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
        fresh = stamp.isdigit() and abs(time.time() - int(stamp)) < 300
        return fresh and hmac.compare_digest(headers.get("X-Mlaiops-Signature", ""), f"v1={digest}")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http.server_address[1]}/hook"

    def close(self) -> None:
        self.release.set()
        self.http.shutdown()


def signing_secret() -> dict[str, Any]:
    # The operator reads only Secrets named mlaiops-notify (its ClusterRole's resourceNames).
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "mlaiops-notify"},
        "stringData": {"signing": SIGNING_KEY},
    }


def webhook_step(url: str, **extra: Any) -> dict[str, Any]:
    settings = {"url": url, "signingSecretRef": {"name": "mlaiops-notify", "key": "signing"}, **extra}
    return {"name": "tell", "type": "webhook", "webhook": settings, "timeout": "30s", "verify": {"within": "60s"}}


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    made = Receiver()
    yield made
    made.close()


def test_the_incident_reaches_the_webhook_signed_once(world: World, receiver: Receiver) -> None:
    world.cluster.apply(signing_secret(), world.namespace)
    world.cluster.apply(playbook([webhook_step(receiver.url)]), world.namespace)
    world.high()
    done = wait_for(
        lambda: (e := world.executions()) and (s := step(e[0], "tell")) and s["result"] != "Running" and e[0],
        timeout=60,
        what="the webhook step finished",
    )
    assert step(done, "tell")["result"] == "Succeeded", done  # type: ignore[index]
    assert step(done, "tell")["message"] == "posted the incident (HTTP 200, 1 attempt)"  # type: ignore[index]
    (request,) = receiver.requests
    assert request["valid"], request["headers"]
    assert request["headers"]["Idempotency-Key"] == f"{done['id']}/0"
    incident = json.loads(request["body"])
    assert incident["incident"] == done["incident"] and incident["execution"] == done["id"]
    assert incident["rule"] == f"{world.namespace}/latency" and incident["step"] == {"index": 0, "name": "tell"}
    assert incident["target"] == {"namespace": world.namespace, "kind": "Deployment", "name": "web"}
    world.low()
    wait_for(lambda: world.executions()[0]["reason"] == "Verified", timeout=60, what="verified")
    assert len(receiver.requests) == 1


# --- SIGKILL while a job and a webhook step are in flight --------------------------------------------


def test_sigkill_mid_action_neither_creates_a_second_job_nor_posts_twice(cluster: Cluster, tmp_path: Path) -> None:
    receiver = Receiver(hold=True)
    jobs_world = make_world(cluster, "ra-kill-job")
    hook_world = make_world(cluster, "ra-kill-hook")
    try:
        out = tmp_path / "slow.jsonl"
        cluster.apply(web_deployment(), jobs_world.namespace)
        cluster.apply(playbook([job_step("repair", out, sleep=12, timeout="2m")]), jobs_world.namespace)
        cluster.apply(web_deployment(), hook_world.namespace)
        cluster.apply(signing_secret(), hook_world.namespace)
        scale = {"name": "scale-out", "type": "scale", "scale": {"delta": 1, "max": 5}, "verify": {"within": "60s"}}
        # No retry: an attempt that waits out its 10 s for the held answer must not POST again before the kill.
        cluster.apply(playbook([webhook_step(receiver.url, retries=0), scale]), hook_world.namespace)
        jobs_world.high()
        hook_world.high()

        def in_flight() -> bool:
            job = step((jobs_world.executions() or [{}])[0], "repair") or {}
            hook = step((hook_world.executions() or [{}])[0], "tell") or {}
            return (
                job.get("result") == "Running"
                and len(runs(out)) == 1  # the Job's process has started
                and hook.get("result") == "Running"
                and len(receiver.requests) == 1  # the POST is out, its answer held
            )

        wait_for(in_flight, timeout=60, interval=0.1, what="a Job running and a POST in flight")
        (before,) = jobs_of(cluster, jobs_world.namespace)
        cluster.operator.stop(kill=True)  # SIGKILL
        receiver.release.set()  # the answer goes nowhere: the operator that asked is gone
        cluster.operator.start()
        cluster.operator.wait_healthy()

        job_done = wait_for(
            lambda: (s := step(jobs_world.executions()[0], "repair")) and s["result"] != "Running" and s,
            timeout=90,
            what="the job step finished after the restart",
        )
        assert job_done["result"] == "Succeeded", job_done
        (after,) = jobs_of(cluster, jobs_world.namespace)  # adopted, not created again
        assert after.metadata.uid == before.metadata.uid and after.metadata.name == job_done["params"]["job"]
        assert len(runs(out)) == 1  # its command ran once

        hook_done = wait_for(
            lambda: (
                (e := hook_world.executions()[0]) and (s := step(e, "scale-out")) and s["result"] == "Succeeded" and e
            ),
            timeout=60,
            what="the ladder went on after the interrupted webhook step",
        )
        tell = step(hook_done, "tell")
        assert tell is not None and tell["result"] == "Failed"
        assert tell["message"] == "interrupted: the operator stopped while the webhook step ran; not repeated"
        assert hook_world.replicas() == 2
        for world in (jobs_world, hook_world):
            world.low()
        for world in (jobs_world, hook_world):
            wait_for(lambda w=world: w.executions()[0]["state"] == "Succeeded", timeout=60, what="verified")
        assert len(receiver.requests) == 1 and receiver.requests[0]["valid"]  # one POST for the step, ever
    finally:
        receiver.close()
        for world in (jobs_world, hook_world):
            cluster.kubectl("delete", "namespace", world.namespace, "--wait=false", check=False)


# --- wake on firing: a playbook acts long before its timer ---------------------------------------------


@dataclass
class SlowOperator:
    """An operator whose playbooks' timer is 120 s, serving the Alertmanager receiver with a token."""

    operator: OperatorProcess
    port: int
    token: str

    def post_alerts(self, body: dict[str, Any]) -> int:
        headers = {"Content-Type": "application/json", "Authorization": f"Bearer {self.token}"}
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}/alertmanager", json.dumps(body).encode(), headers, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                return int(response.status)
        except urllib.error.URLError:
            return 0


@pytest.fixture
def slow_operator(cluster: Cluster, tmp_path: Path) -> Iterator[SlowOperator]:
    token = secrets.token_urlsafe(32)
    (tmp_path / "token").write_text(token + "\n")
    port = free_port()
    env = {
        "MLAIOPS_ALERTMANAGER_PORT": str(port),
        "MLAIOPS_ALERTMANAGER_HOST": "127.0.0.1",
        "MLAIOPS_ALERTMANAGER_TOKEN_FILE": str(tmp_path / "token"),
    }
    cluster.operator.stop()  # graceful: the session operator releases the Lease
    operator = operator_for(cluster.sandbox, tmp_path / "operator.log", extra_env=env, reconcile_interval=SLOW_TIMER)
    operator.start()
    try:
        made = SlowOperator(operator, port, token)
        wait_for(lambda: made.post_alerts({"alerts": []}) == 200, timeout=60, what="the receiver")
        yield made
    finally:
        operator.stop()
        cluster.operator.start()


def first_pass_done(cluster: Cluster, namespace: str) -> bool:
    return bool(cluster.get("remediationplaybooks", namespace, "fix").get("status"))


def test_a_firing_rule_and_an_alert_wake_their_playbooks_long_before_the_timer(
    cluster: Cluster, slow_operator: SlowOperator
) -> None:
    scale = {"name": "scale-out", "type": "scale", "scale": {"delta": 1, "max": 5}, "verify": {"within": "60s"}}
    ruled = make_world(cluster, "ra-wake-rule")
    alerted = cluster.namespace("ra-wake-alert")
    try:
        cluster.apply(web_deployment(), ruled.namespace)
        cluster.apply(playbook([scale]), ruled.namespace)
        cluster.apply(web_deployment(), alerted)
        trigger = {"source": "Alertmanager", "matchers": ['alertname="HighLatency"']}
        cluster.apply(playbook([scale], triggers=[trigger], target={"kind": "Deployment", "name": "web"}), alerted)
        for namespace in (ruled.namespace, alerted):
            wait_for(lambda n=namespace: first_pass_done(cluster, n), timeout=60, what=f"{namespace}: first pass")
        time.sleep(1)  # the next timer pass is now 119 s away

        ruled.high()
        firing = wait_for(lambda: ruled.rule_state() == "Firing" and time.monotonic(), interval=0.05, what="Firing")
        wait_for(lambda: ruled.replicas() == 2, timeout=30, interval=0.05, what="scaled after the firing")
        assert time.monotonic() - firing < WOKEN_WITHIN

        labels = {"alertname": "HighLatency", "namespace": alerted, "severity": "critical"}
        sent = time.monotonic()
        assert slow_operator.post_alerts({"version": "4", "status": "firing", "alerts": [{"labels": labels}]}) == 200
        wait_for(
            lambda: cluster.apps.read_namespaced_deployment("web", alerted).spec.replicas == 2,
            timeout=30,
            interval=0.05,
            what="scaled after the alert",
        )
        assert time.monotonic() - sent < WOKEN_WITHIN
    finally:
        for namespace in (ruled.namespace, alerted):
            cluster.kubectl("delete", "namespace", namespace, "--wait=false", check=False)

"""The operator SIGKILLed at every phase boundary of a RemediationPlaybook execution: no step is credited
wrongly, no step acts twice, and every Event that describes an execution exists exactly once.

One operator, six playbooks on six targets (one namespace each), one kill:

- ``after``: the execution already ended Verified before the kill: nothing changes after it;
- ``before-act``: killed after the execution was written, before its step (the step's read is held
  by an injected API delay): the restarted operator plans and acts once, and posts ExecutionStarted;
- ``acting``: killed while the step is Running (its scale request is held in flight): the step is
  resumed with the same absolute value, so replicas grow once;
- ``unready``: the anomaly resolves while the operator is up, but the pods never become Ready, so the
  step waits in Verifying; killed, resumed after ``verify.within``: Failed, Unverified (the issue's case);
- ``expired``: the anomaly's end is first seen after the window ran out: Expired, never Verified;
- ``within``: resolved while the operator is down, resumed inside the window: Verified.

The planner's decisions themselves (windows, effects, keys) are unit tests
(tests/unit/remediation/test_verification.py, test_events.py); here they meet real restarts.
"""

from __future__ import annotations

import json
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from mlaiops_sandbox.testing.exporters import knob_exporter

from tests.e2e.conftest import Cluster, wait_for
from tests.e2e.test_remediation import World, at, latency_rule, playbook, step, web_deployment

pytestmark = pytest.mark.integration

SCENARIOS = ("after", "before-act", "acting", "unready", "expired", "within")
SHORT_WINDOW = 12  # seconds: outlasts the wait for the kill, then runs out while the operator is down
# seconds: outlasts the restart and the rule's next evaluation. 60 once ran out for `within` beside the whole
# suite on a machine loaded twice over (Expired instead of Verified); a wider window costs nothing when it is quick.
LONG_WINDOW = 150
HELD = 25.0  # seconds an injected delay holds the operator's request in flight
OUR_REASONS = {"ExecutionStarted", "StepSucceeded", "ExecutionSucceeded", "ExecutionFailed", "ExecutionExpired"}


def admin(cluster: Cluster, method: str, path: str, body: Any = None) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(cluster.sandbox.api_url + path, data=data, method=method)
    request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read() or b"null")


def hold(namespace: str, verb: str) -> dict[str, Any]:
    """Delay the operator's first ``verb`` of a Deployment's scale subresource in ``namespace``."""
    return {
        "verb": verb,
        "group": "apps",
        "resource": "deployments",
        "subresource": "scale",
        "namespace": namespace,
        "userAgent": "OpenAPI-Generator/",
        "latencySeconds": HELD,
        "statusCode": 0,
        "count": 1,
    }


def unready(deployment: dict[str, Any]) -> dict[str, Any]:
    """Pods of a real local process whose readiness probe never passes (nothing listens on port 1)."""
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    container["image"] = "mlaiops:test"  # simulated images are always Ready; the project's image runs
    container["command"] = ["python", "-c", "import time; time.sleep(3600)"]
    container["readinessProbe"] = {"tcpSocket": {"port": 1}, "periodSeconds": 1}
    return deployment


@pytest.fixture(scope="module")
def worlds(cluster: Cluster) -> Iterator[dict[str, World]]:
    made: dict[str, World] = {}
    for scenario in SCENARIOS:
        namespace = cluster.namespace(f"rr-{scenario}")
        folder = cluster.sandbox.dir / "volumes" / namespace / "knob"
        folder.mkdir(parents=True, exist_ok=True)
        world = World(cluster, namespace, folder / "value")
        world.low()
        cluster.apply(knob_exporter(), namespace)
        cluster.apply(latency_rule(namespace, {"kind": "Deployment", "name": "web"}), namespace)
        web = web_deployment()
        cluster.apply(unready(web) if scenario == "unready" else web, namespace)
        within = f"{SHORT_WINDOW}s" if scenario in ("unready", "expired") else f"{LONG_WINDOW}s"
        action = {"name": "add-one", "type": "scale", "scale": {"delta": 1, "max": 5}, "verify": {"within": within}}
        cluster.apply(playbook([action]), namespace)
        made[scenario] = world
    for world in made.values():  # the exporter's pod is scraped first: slow on a loaded machine
        wait_for(
            lambda w=world: w.rule_state() == "Normal",
            timeout=240,
            what=f"rule Normal in {world.namespace} (state: {world.rule_state()!r} when the wait began)",
        )
    try:
        yield made
    finally:
        admin(cluster, "DELETE", "/sandbox/faults")
        if cluster.operator.process is None:
            cluster.operator.start()
        for world in made.values():
            cluster.kubectl("delete", "namespace", world.namespace, "--wait=false", check=False)


def ours(world: World) -> list[tuple[str, str, str, str]]:
    """(involved kind, name, reason, message) of the namespace's Events about executions."""
    items = world.cluster.core.list_namespaced_event(world.namespace).items
    return [
        (e.involved_object.kind, e.involved_object.name, e.reason, e.message or "")
        for e in items
        if e.reason in OUR_REASONS
    ]


def only(world: World) -> dict[str, Any]:
    executions = world.executions()
    assert len(executions) == 1, f"{world.namespace}: {len(executions)} executions"
    return executions[0]


def ended(world: World) -> dict[str, Any] | None:
    execution = (world.executions() or [{}])[0]
    return execution if execution.get("finishedAt") else None


def test_sigkill_at_every_phase_boundary(cluster: Cluster, worlds: dict[str, World]) -> None:
    after, before_act, acting = worlds["after"], worlds["before-act"], worlds["acting"]
    stuck, expired, within = worlds["unready"], worlds["expired"], worlds["within"]

    # after: an execution that ended Verified before the kill
    after.high()
    wait_for(lambda: (e := after.executions()) and e[0]["state"] == "Verifying", timeout=60, what="after: acted")
    after.low()
    done_before = wait_for(lambda: ended(after), timeout=60, what="after: verified")
    assert done_before["reason"] == "Verified"

    # the others fire together; two of them meet a held request
    admin(
        cluster,
        "POST",
        "/sandbox/faults",
        {"rules": [hold(before_act.namespace, "get"), hold(acting.namespace, "patch")]},
    )
    for world in (before_act, acting, stuck, expired, within):
        world.high()

    def at_the_boundaries() -> bool:
        if (e := stuck.executions()) and e[0]["state"] == "Verifying" and stuck.knob.read_text() != "10":
            stuck.low()  # resolves while the operator is up; its pods never become Ready
        first = (before_act.executions() or [{}])[0]
        running = (step(e[0], "add-one") or {}) if (e := acting.executions()) else {}
        return (
            first.get("state") == "Running"
            and not first.get("steps")
            and running.get("result") == "Running"
            and all((w.executions() or [{}])[0].get("state") == "Verifying" for w in (stuck, expired, within))
            and (stuck.executions() or [{}])[0].get("reason") == "AwaitingEffect"  # saw it resolve, held back
        )

    wait_for(at_the_boundaries, timeout=HELD - 3, interval=0.2, what="every scenario at its phase boundary")
    cluster.operator.stop(kill=True)  # SIGKILL
    killed_at = datetime.now(UTC)
    pending = [p["reason"] for p in before_act.status().get("pendingEvents") or []]
    assert pending == ["ExecutionStarted"], "written with the execution, not yet posted"
    waiting = stuck.executions()[0]
    assert waiting["steps"][0].get("verified") is None  # resolved, but not credited, and status says why
    assert (waiting["reason"], waiting["message"]) == (
        "AwaitingEffect",
        "add-one: the anomaly resolved; its effect does not hold yet (0 of 2 replicas ready)",
    )

    # while the operator is down: two anomalies end, one of them where the rule's status already says so
    within.low()
    expired.low()
    cluster.custom.patch_namespaced_custom_object_status(
        "mlaiops.dev",
        "v1alpha1",
        expired.namespace,
        "anomalyrules",
        "latency",
        {"status": {"state": "Normal", "series": []}},
    )
    windows_end = (
        max(at(step(w.executions()[0], "add-one")["finishedAt"]) for w in (stuck, expired)).timestamp() + SHORT_WINDOW
    )
    time.sleep(max(0.0, windows_end + 1 - time.time()))
    admin(cluster, "DELETE", "/sandbox/faults")
    cluster.operator.start()
    cluster.operator.wait_healthy()

    # after the restart
    for world in (before_act, acting):
        wait_for(
            lambda w=world: (s := step(only(w), "add-one")) and s["result"] == "Succeeded",
            timeout=60,
            what=f"{world.namespace}: the step acted after the restart",
        )
        assert world.replicas() == 2  # 1 + delta 1, once (a held request landing late sets the same value)
        world.low()
    finals = {name: wait_for(lambda w=w: ended(w), timeout=60, what=f"{name}: ended") for name, w in worlds.items()}

    assert (finals["before-act"]["state"], finals["before-act"]["reason"]) == ("Succeeded", "Verified")
    assert (finals["acting"]["state"], finals["acting"]["reason"]) == ("Succeeded", "Verified")
    assert (finals["within"]["state"], finals["within"]["reason"]) == ("Succeeded", "Verified")
    assert at(finals["within"]["finishedAt"]) > killed_at
    assert (finals["unready"]["state"], finals["unready"]["reason"]) == ("Failed", "Unverified")
    assert "0 of 2 replicas ready" in finals["unready"]["message"]
    assert (finals["expired"]["state"], finals["expired"]["reason"]) == ("Expired", "VerificationExpired")
    for name in ("unready", "expired"):
        assert step(finals[name], "add-one")["verified"] is False
    assert only(after) == done_before  # untouched by the restart
    for name, world in worlds.items():
        execution = only(world)
        assert [s["action"] for s in execution["steps"]] == ["add-one"], name
        assert step(execution, "add-one")["params"] == {"replicas": "2", "from": "1"}, name
        assert world.replicas() == 2, name

    # every Event about an execution exactly once, on the playbook and on the rule or the target
    for name, world in worlds.items():
        wait_for(lambda w=world: not w.status().get("pendingEvents"), timeout=30, what=f"{name}: events posted")
        seen = ours(world)
        repeated = {event: count for event, count in Counter(seen).items() if count > 1}
        assert repeated == {}, f"{name}: posted more than once: {repeated}"
        reasons = Counter((kind, reason) for kind, _, reason, _ in seen)
        end = f"Execution{finals[name]['state']}"
        assert reasons == {
            ("RemediationPlaybook", "ExecutionStarted"): 1,
            ("AnomalyRule", "ExecutionStarted"): 1,
            ("RemediationPlaybook", "StepSucceeded"): 1,
            ("Deployment", "StepSucceeded"): 1,
            ("RemediationPlaybook", end): 1,
            ("AnomalyRule", end): 1,
        }, name

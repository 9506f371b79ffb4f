"""RemediationPlaybook on real parts: an exporter pod whose value the test sets, real Prometheus, the
operator's AnomalyRule firing, and the playbook acting on real workloads of the sandbox: scale verified,
escalation to rollback, notify steps and the circuit breaker's notice delivered to a local receiver,
an operator SIGKILLed between two steps, scope, approval and the operator-wide dry run, a StatefulSet
target, and a rule deleted while a step is verified. The rules themselves (cooldown, rate limit, the
breaker's count, approval expiry, dry run, timeouts, minHealthy) are unit tests of the planner.

The test plays the world: it resolves the anomaly by writing the exporter's value once the action it
expects happened, and asserts the order from status timestamps.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import joblib
import pytest
from mlaiops_sandbox.testing.exporters import knob_exporter
from mlaiops_sandbox.testing.sink import JsonSink
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression

from tests.e2e.conftest import Cluster, wait_for

pytestmark = pytest.mark.integration


@dataclass
class World:
    cluster: Cluster
    namespace: str
    knob: Path

    def high(self) -> None:
        self.knob.write_text("100")

    def low(self) -> None:
        self.knob.write_text("10")

    def playbook(self, name: str = "fix") -> dict[str, Any]:
        return self.cluster.get("remediationplaybooks", self.namespace, name)

    def status(self, name: str = "fix") -> dict[str, Any]:
        return self.playbook(name).get("status") or {}

    def executions(self, name: str = "fix") -> list[dict[str, Any]]:
        return [e for e in self.status(name).get("executions") or [] if e["state"] != "Refused"]

    def rule_state(self) -> str | None:
        return (self.cluster.get("anomalyrules", self.namespace, "latency").get("status") or {}).get("state")

    def replicas(self, name: str = "web") -> int:
        return self.cluster.apps.read_namespaced_deployment(name, self.namespace).spec.replicas

    def events(self, name: str) -> list[tuple[str, str]]:
        items = self.cluster.core.list_namespaced_event(
            self.namespace, field_selector=f"involvedObject.name={name}"
        ).items
        return [(e.reason, e.message or "") for e in items]


def posted(world: World, name: str, reason: str) -> None:
    """An Event arrives right after the status write that records its transition (pending in status until
    posted, so it survives a kill): a test that has just read that status waits a moment for it."""
    wait_for(lambda: any(r == reason for r, _ in world.events(name)), timeout=30, what=f"a {reason} Event on {name}")


def web_deployment(replicas: int = 1) -> dict[str, Any]:
    labels = {"app.kubernetes.io/name": "web"}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web"},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "containers": [
                        {
                            "name": "web",
                            "image": "nginx:1.27",
                            "resources": {"limits": {"memory": "256Mi"}, "requests": {"memory": "256Mi"}},
                        }
                    ]
                },
            },
        },
    }


def latency_rule(namespace: str, target: dict[str, str] | None, labels: dict[str, str] | None = None) -> dict:
    return {
        "apiVersion": "mlaiops.dev/v1alpha1",
        "kind": "AnomalyRule",
        "metadata": {"name": "latency", "labels": labels or {}},
        "spec": {
            "query": f'demo_value{{namespace="{namespace}"}}',
            "interval": "1s",
            "fitWindow": "1m",
            "detector": {"type": "threshold", "upper": 50, "direction": "up"},
            "severity": "critical",
            **({"target": target} if target else {}),
        },
    }


def playbook(actions: list[dict[str, Any]], **spec: Any) -> dict[str, Any]:
    guardrails = {"cooldown": "1s", "maxExecutions": 20, "window": "10m", **spec.pop("guardrails", {})}
    return {
        "apiVersion": "mlaiops.dev/v1alpha1",
        "kind": "RemediationPlaybook",
        "metadata": {"name": spec.pop("name", "fix")},
        "spec": {
            "triggers": spec.pop("triggers", [{"rules": [{"name": "latency"}], "severity": "warning"}]),
            "actions": actions,
            "guardrails": guardrails,
            **spec,
        },
    }


def make_world(cluster: Cluster, namespace: str, target: dict[str, str] | None = None, **rule: Any) -> World:
    cluster.namespace(namespace)
    folder = cluster.sandbox.dir / "volumes" / namespace / "knob"
    folder.mkdir(parents=True, exist_ok=True)
    world = World(cluster, namespace, folder / "value")
    world.low()
    cluster.apply(knob_exporter(), namespace)
    cluster.apply(latency_rule(namespace, target or {"kind": "Deployment", "name": "web"}, **rule), namespace)
    wait_for(lambda: world.rule_state() == "Normal", timeout=60, what=f"rule Normal in {namespace}")
    return world


def world_for(cluster: Cluster, request: pytest.FixtureRequest, prefix: str) -> Iterator[World]:
    """A world with the ``web`` Deployment in a namespace named after the test (``prefix`` tells the
    files apart), deleted afterwards: the body of each file's ``world`` fixture."""
    namespace = prefix + request.node.name.removeprefix("test_").replace("_", "-")[:40].rstrip("-")
    made = make_world(cluster, namespace)
    cluster.apply(web_deployment(), namespace)
    try:
        yield made
    finally:
        cluster.kubectl("delete", "namespace", namespace, "--wait=false", check=False)


@pytest.fixture
def world(cluster: Cluster, request: pytest.FixtureRequest) -> Iterator[World]:
    yield from world_for(cluster, request, "rem-")


def at(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def step(execution: dict[str, Any], name: str) -> dict[str, Any] | None:
    return next((s for s in execution.get("steps") or [] if s["action"] == name), None)


# --- scale, verified ---------------------------------------------------------------------------------


def test_scale_resolves_the_anomaly_and_is_verified(world: World) -> None:
    world.cluster.apply(
        playbook(
            [{"name": "scale-out", "type": "scale", "scale": {"delta": 2, "max": 5}, "verify": {"within": "30s"}}]
        ),
        world.namespace,
    )
    world.high()
    scaled = wait_for(
        lambda: (
            (e := world.executions())
            and step(e[0], "scale-out")
            and step(e[0], "scale-out")["result"] == "Succeeded"
            and e[0]
        ),
        timeout=60,
        what="scale step done",
    )
    assert scaled["state"] == "Verifying" and scaled["trigger"] == f"rule:{world.namespace}/latency"
    assert world.replicas() == 3 and step(scaled, "scale-out")["params"] == {"replicas": "3", "from": "1"}
    world.low()  # more replicas: latency is back to normal
    done = wait_for(
        lambda: (e := world.executions()[0])["state"] == "Succeeded" and e, timeout=60, what="execution verified"
    )
    record = step(done, "scale-out")
    assert done["reason"] == "Verified" and record["verified"] is True
    assert at(record["startedAt"]) <= at(record["finishedAt"]) <= at(done["finishedAt"])
    status = world.status()
    assert status["verifiedExecutions"] == 1 and status["totalExecutions"] == 1
    assert status.get("consecutiveUnverified", 0) == 0
    assert world.replicas() == 3  # nothing more happened
    posted(world, "web", "StepSucceeded")  # an Event on the target
    posted(world, "latency", "ExecutionStarted")  # an Event on the rule
    incident = world.cluster.get("incidents", world.namespace, done["incident"])
    assert incident["spec"] == {"target": "Deployment/web", "playbook": "fix"}
    wait_for(
        lambda: world.cluster.get("incidents", world.namespace, done["incident"])["status"].get("phase") == "Resolved",
        what="incident resolved",
    )
    listed = world.cluster.kubectl("get", "inc", "-n", world.namespace).stdout  # short name, printer columns
    assert done["incident"] in listed and "Resolved" in listed and "Deployment/web" in listed


# --- escalation: scale does not help, rollback does ----------------------------------------------------


@pytest.fixture
def model_world(cluster: Cluster, tmp_path: Path) -> Iterator[World]:
    namespace = "rem-ladder"
    x, y = make_classification(n_samples=200, n_features=4, random_state=0)
    claim = cluster.sandbox.dir / "volumes" / namespace / "models" / "v1"
    claim.mkdir(parents=True, exist_ok=True)
    joblib.dump(LogisticRegression().fit(x, y), claim / "model.joblib")
    made = make_world(cluster, namespace, {"kind": "ModelDeployment", "name": "fraud"})
    cluster.apply(
        {
            "apiVersion": "mlaiops.dev/v1alpha1",
            "kind": "ModelDeployment",
            "metadata": {"name": "fraud"},
            "spec": {"model": {"storageUri": "pvc://models/v1/model.joblib", "version": "v1"}, "replicas": 1},
        },
        namespace,
    )
    wait_for(
        lambda: cluster.get("modeldeployments", namespace, "fraud")["status"].get("phase") == "Ready",
        timeout=90,
        what="ModelDeployment Ready",
    )
    try:
        yield made
    finally:
        cluster.kubectl("delete", "namespace", namespace, "--wait=false", check=False)


def test_scale_does_not_help_so_the_ladder_rolls_back(model_world: World) -> None:
    world = model_world
    world.cluster.apply(
        playbook(
            [
                {"name": "scale-out", "type": "scale", "scale": {"replicas": 2, "max": 3}, "verify": {"within": "3s"}},
                {"name": "roll-back", "type": "rollback", "verify": {"within": "60s"}},
            ]
        ),
        world.namespace,
    )
    world.high()
    md = lambda: world.cluster.get("modeldeployments", world.namespace, "fraud")  # noqa: E731
    rolled = wait_for(
        lambda: (
            (e := world.executions())
            and step(e[0], "roll-back")
            and step(e[0], "roll-back")["result"] == "Succeeded"
            and e[0]
        ),
        timeout=60,
        what="rollback step done",
    )
    scale = step(rolled, "scale-out")
    assert scale["result"] == "Succeeded" and scale["verified"] is False  # did not help within 3s
    assert at(scale["finishedAt"]) <= at(step(rolled, "roll-back")["startedAt"])
    assert md()["spec"]["replicas"] == 2  # through the ModelDeployment's /scale subresource
    annotation = md()["metadata"]["annotations"]["mlaiops.dev/rollback"]
    assert annotation.startswith("playbook-fix-")
    wait_for(lambda: md()["status"].get("rollbackRequest") == annotation, what="ModelDeployment acted on the request")
    world.low()  # the rollback fixed it
    done = wait_for(lambda: (e := world.executions()[0])["state"] == "Succeeded" and e, timeout=60, what="verified")
    assert done["reason"] == "Verified" and step(done, "roll-back")["verified"] is True
    assert [s["action"] for s in done["steps"]] == ["scale-out", "roll-back"]

    def incident() -> dict[str, Any]:
        found = world.cluster.get("incidents", world.namespace, done["incident"])["status"]
        return found if found.get("phase") == "Resolved" and found.get("resolution", "").startswith("Succeeded") else {}

    status = wait_for(incident, what="incident resolved with both steps")
    assert [(s["action"], s["result"], s.get("verified")) for s in status["steps"]] == [
        ("scale-out", "Succeeded", False),
        ("roll-back", "Succeeded", True),
    ]
    assert status["anomalies"][0]["rule"] == f"{world.namespace}/latency"
    kinds = {c["kind"] for c in status.get("changes") or []}
    # v1 is the model's first deployment: its creation, not a change (remediation/causes.py); the playbook's
    # own steps are the changes this incident records
    assert "Remediation" in kinds and "Rollout" not in kinds, status.get("changes")
    assert status["probableCauses"][0]["rank"] == 1 and status["probableCauses"][0]["why"]


# --- notify and the circuit breaker on real parts -----------------------------------------------------------


@pytest.fixture
def receiver() -> Iterator[JsonSink]:
    made = JsonSink()
    yield made
    made.close()


def secret(url: str) -> dict[str, Any]:
    # The operator reads only Secrets named mlaiops-notify (its ClusterRole's resourceNames).
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "mlaiops-notify"}, "stringData": {"url": url}}


def episode(world: World, until: Any, what: str) -> Any:
    """One anomaly episode: fire, wait for ``until``, resolve, wait for Normal."""
    world.high()
    result = wait_for(until, timeout=60, what=what)
    world.low()
    wait_for(lambda: world.rule_state() == "Normal", timeout=30, what="rule Normal")
    return result


def test_notify_steps_and_the_open_circuit_reach_the_webhook(world: World, receiver: JsonSink) -> None:
    """Cooldown, rate limit and the breaker's arithmetic are unit tests (tests/unit/remediation/test_planner.py);
    here the breaker opens on real parts and both the ladder's notify step and its own notice are delivered."""
    world.cluster.apply(secret(receiver.url()), world.namespace)
    notify = {"urlSecretRef": {"name": "mlaiops-notify", "key": "url"}, "format": "slack"}
    ladder = [{"name": "page", "type": "notify", "notify": notify, "verify": {"within": "1s"}}]
    world.cluster.apply(playbook(ladder, guardrails={"circuitBreaker": {"maxUnverified": 1}}), world.namespace)
    world.high()
    suspended = wait_for(
        lambda: (s := world.status()).get("state") == "Suspended" and s, timeout=60, what="circuit open"
    )
    assert suspended["consecutiveUnverified"] == 1 and world.executions()[0]["reason"] == "Exhausted"
    wait_for(lambda: (world.status().get("notifications") or [{}])[0].get("result") == "Succeeded", what="notified")
    world.low()
    circuit = [b for b in receiver.bodies() if "suspended" in b["text"]]
    assert len(circuit) == 1 and set(circuit[0]) == {"text"}  # Slack-compatible, sent once
    assert len([b for b in receiver.bodies() if "suspended" not in b["text"]]) == 1  # the ladder's own notify step
    posted(world, "fix", "CircuitOpen")


# --- the operator is killed between two steps ------------------------------------------------------------


def test_operator_killed_between_steps_resumes_without_repeating(world: World) -> None:
    world.cluster.apply(
        playbook(
            [
                {"name": "scale-out", "type": "scale", "scale": {"delta": 1, "max": 5}, "verify": {"within": "4s"}},
                {"name": "bounce", "type": "restart", "verify": {"within": "60s"}},
            ]
        ),
        world.namespace,
    )
    world.high()
    first = wait_for(
        lambda: (e := world.executions()) and e[0]["state"] == "Verifying" and e[0],
        timeout=60,
        what="first step done, verifying",
    )
    world.cluster.operator.restart(kill=True)  # SIGKILL between the two steps
    done = wait_for(
        lambda: (e := world.executions()[0]) and step(e, "bounce") and step(e, "bounce")["result"] == "Succeeded" and e,
        timeout=60,
        what="second step after the restart",
    )
    assert done["id"] == first["id"] and len(world.executions()) == 1
    assert step(done, "scale-out") == {**step(first, "scale-out"), "verified": False}  # not run again
    assert world.replicas() == 2  # scaled once (delta 1), not twice
    template = world.cluster.apps.read_namespaced_deployment("web", world.namespace).spec.template
    assert (
        template.metadata.annotations["kubectl.kubernetes.io/restartedAt"]
        == step(done, "bounce")["params"]["restartedAt"]
    )
    # Events are posted right after the status write that records their transition (a pending event
    # survives the kill in status): the first step's Event arrives once, though maybe just after.
    wait_for(
        lambda: [r for r, m in world.events("web") if "scale-out" in m] == ["StepSucceeded"],
        timeout=30,
        what="the first step's StepSucceeded Event, once",
    )
    world.low()
    wait_for(lambda: world.executions()[0]["state"] == "Succeeded", timeout=60, what="verified after the restart")
    assert [r for r, m in world.events("web") if "scale-out" in m] == ["StepSucceeded"]  # still once


# --- scope ------------------------------------------------------------------------------------------------


def test_a_playbook_cannot_touch_another_namespace(cluster: Cluster) -> None:
    other = make_world(cluster, "rem-scope-b", labels={"signal": "scope-test"})
    cluster.apply(web_deployment(), other.namespace)
    home = cluster.namespace("rem-scope-a")
    try:
        cluster.apply(
            playbook(
                [{"type": "scale", "scale": {"replicas": 4}}],
                triggers=[{"selector": {"matchLabels": {"signal": "scope-test"}}}],
            ),
            home,
        )
        other.high()
        refused = wait_for(
            lambda: (cluster.get("remediationplaybooks", home, "fix").get("status") or {}).get("executions"),
            timeout=60,
            what="refused execution",
        )[0]
        assert refused["state"] == "Refused" and refused["reason"] == "OutOfScope"
        assert "'rem-scope-b'" in refused["message"] and "'rem-scope-a'" in refused["message"]
        assert refused["target"] == "rem-scope-b/Deployment/web"
        assert other.replicas() == 1 and not refused.get("steps")
        other.low()
    finally:
        cluster.kubectl("delete", "namespace", home, other.namespace, "--wait=false", check=False)


# --- approval ----------------------------------------------------------------------------------------------


def test_approval_waits_then_proceeds(world: World) -> None:
    """Expiry without approval is a unit test (tests/unit/remediation/test_planner.py)."""
    world.cluster.apply(
        playbook(
            [{"name": "scale-out", "type": "scale", "scale": {"replicas": 3}, "verify": {"within": "30s"}}],
            approval={"required": True, "timeout": "10m"},
        ),
        world.namespace,
    )
    world.high()
    waiting = wait_for(
        lambda: (e := world.executions()) and e[0]["state"] == "AwaitingApproval" and e[0], timeout=60, what="waiting"
    )
    assert world.status()["state"] == "AwaitingApproval" and waiting["id"] in waiting["message"]
    evaluations = world.cluster.get("anomalyrules", world.namespace, "latency")["status"]["evaluations"]
    wait_for(
        lambda: (
            world.cluster.get("anomalyrules", world.namespace, "latency")["status"]["evaluations"] >= evaluations + 2
        ),
        what="a few more ticks",
    )
    assert world.replicas() == 1 and world.executions()[0]["state"] == "AwaitingApproval"
    world.cluster.kubectl("annotate", "-n", world.namespace, "rpb/fix", f"mlaiops.dev/approve={waiting['id']}")
    wait_for(lambda: world.replicas() == 3, timeout=30, what="scaled after approval")
    world.low()
    done = wait_for(lambda: (e := world.executions()[0])["state"] == "Succeeded" and e, timeout=30, what="verified")
    assert done["id"] == waiting["id"] and step(done, "scale-out")["verified"] is True
    wait_for(lambda: world.rule_state() == "Normal", timeout=30, what="Normal")


# --- deletePod and adjustResources ---------------------------------------------------------------------------


def test_delete_pod_keeps_min_healthy_and_adjust_resources_raises_to_the_cap(world: World) -> None:
    world.cluster.apps.patch_namespaced_deployment_scale("web", world.namespace, {"spec": {"replicas": 2}})
    pods = lambda: {  # noqa: E731
        p.metadata.name
        for p in world.cluster.core.list_namespaced_pod(
            world.namespace, label_selector="app.kubernetes.io/name=web"
        ).items
        if p.status.phase == "Running"
    }
    before = wait_for(lambda: len(p := pods()) == 2 and p, what="two web pods")
    world.cluster.apply(
        playbook(
            [
                {"name": "kill-worst", "type": "deletePod", "deletePod": {}, "verify": {"within": "2s"}},
                {
                    "name": "more-memory",
                    "type": "adjustResources",
                    "adjustResources": {"factor": 2, "max": {"memory": "384Mi"}},
                },
            ],
            guardrails={"minHealthy": 1},
        ),
        world.namespace,
    )
    world.high()
    done = wait_for(
        lambda: (
            (e := world.executions())
            and step(e[0], "more-memory")
            and step(e[0], "more-memory")["result"] != "Running"
            and e[0]
        ),
        timeout=60,
        what="both steps",
    )
    world.low()
    killed = step(done, "kill-worst")
    assert killed["result"] == "Succeeded" and killed["params"]["pod"] in before
    wait_for(lambda: killed["params"]["pod"] not in pods(), what="pod deleted")
    raised = step(done, "more-memory")
    assert raised["result"] == "Succeeded" and raised["params"] == {"web.memory": "384Mi"}
    container = world.cluster.apps.read_namespaced_deployment("web", world.namespace).spec.template.spec.containers[0]
    assert container.resources.limits["memory"] == "384Mi" and container.resources.requests["memory"] == "384Mi"


def test_scale_raises_the_hpa_bounds_when_an_hpa_owns_replicas(world: World) -> None:
    world.cluster.apply(
        {
            "apiVersion": "autoscaling/v2",
            "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": "web"},
            "spec": {
                "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
                "minReplicas": 1,
                "maxReplicas": 2,
            },
        },
        world.namespace,
    )
    world.cluster.apply(
        playbook([{"name": "scale-out", "type": "scale", "scale": {"replicas": 3, "max": 4}}]), world.namespace
    )
    world.high()
    done = wait_for(
        lambda: (
            (e := world.executions())
            and step(e[0], "scale-out")
            and step(e[0], "scale-out")["result"] == "Succeeded"
            and e[0]
        ),
        timeout=60,
        what="scale step",
    )
    world.low()
    hpa = json.loads(world.cluster.kubectl("get", "hpa", "web", "-n", world.namespace, "-o", "json").stdout)
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (3, 3)
    assert "raised HPA web bounds from 1-2 to 3-3" in step(done, "scale-out")["message"]
    assert world.replicas() == 1  # the HPA owns replicas; the playbook did not fight it


@pytest.fixture
def operator_dry_run(cluster: Cluster) -> Iterator[None]:
    cluster.operator.env["MLAIOPS_DRY_RUN"] = "true"
    cluster.operator.restart(kill=False)
    try:
        yield
    finally:
        del cluster.operator.env["MLAIOPS_DRY_RUN"]
        cluster.operator.restart(kill=False)


def test_the_operator_wide_dry_run_switch_changes_nothing(operator_dry_run: None, world: World) -> None:
    world.cluster.apply(playbook([{"name": "scale-out", "type": "scale", "scale": {"replicas": 4}}]), world.namespace)
    world.high()
    done = wait_for(
        lambda: (e := world.executions()) and e[0]["state"] == "DryRun" and e[0], timeout=60, what="dry run"
    )
    world.low()
    assert step(done, "scale-out")["result"] == "DryRun" and world.replicas() == 1


def test_suspend_rule_mutes_the_rule_in_the_playbook_without_touching_it(world: World) -> None:
    world.cluster.apply(
        playbook([{"name": "mute", "type": "suspendRule", "suspendRule": {"duration": "5m"}}]), world.namespace
    )
    world.high()
    done = wait_for(
        lambda: (
            (e := world.executions()) and step(e[0], "mute") and step(e[0], "mute")["result"] == "Succeeded" and e[0]
        ),
        timeout=60,
        what="suspendRule step",
    )
    muted = world.status()["suspendedRules"]
    assert [m["rule"] for m in muted] == [f"{world.namespace}/latency"]
    assert at(muted[0]["until"]) - at(step(done, "mute")["startedAt"]) == timedelta(minutes=5)
    rule = world.cluster.get("anomalyrules", world.namespace, "latency")
    assert not rule["spec"].get("suspend") and "mlaiops.dev/suspended-until" not in (
        rule["metadata"].get("annotations") or {}
    )
    world.low()
    wait_for(lambda: world.rule_state() == "Normal", timeout=30, what="Normal")
    world.high()  # fires again: a new incident, but the rule is muted for this playbook
    wait_for(lambda: world.rule_state() == "Firing", timeout=30, what="Firing again")
    evaluations = world.cluster.get("anomalyrules", world.namespace, "latency")["status"]["evaluations"]
    wait_for(
        lambda: (
            world.cluster.get("anomalyrules", world.namespace, "latency")["status"]["evaluations"] >= evaluations + 3
        ),
        what="a few more evaluations",
    )
    assert len(world.status()["executions"]) == 1  # neither a new execution nor a refusal
    world.low()


# --- a StatefulSet target; the rule deleted while a step is verified --------------------------------------


def test_a_statefulset_is_scaled_restarted_and_resized_and_a_deleted_rule_counts_as_resolved(cluster: Cluster) -> None:
    world = make_world(cluster, "rem-statefulset", {"kind": "StatefulSet", "name": "db"})
    try:
        db = web_deployment()  # the same pod template, as a StatefulSet (the sandbox simulates nginx)
        db["kind"], db["metadata"]["name"], db["spec"]["serviceName"] = "StatefulSet", "db", "db"
        cluster.apply(db, world.namespace)
        cluster.apply(
            playbook(
                [
                    {"name": "scale-out", "type": "scale", "scale": {"delta": 2, "max": 5}, "verify": {"within": "1s"}},
                    {"name": "bounce", "type": "restart", "verify": {"within": "1s"}},
                    {
                        "name": "more-memory",
                        "type": "adjustResources",
                        "adjustResources": {"factor": 2},
                        "verify": {"within": "3s"},
                    },
                ],
                # The two new pods are not ready yet when bounce runs, and a restart that would take one of
                # too few ready pods away is refused by minHealthy (a unit test); here the actions are the point.
                guardrails={"minHealthy": 0},
            ),
            world.namespace,
        )
        world.high()
        resized = wait_for(
            lambda: (
                (e := world.executions())
                and step(e[0], "more-memory")
                and step(e[0], "more-memory")["result"] != "Running"
                and e[0]
            ),
            timeout=60,
            what="the third step",
        )
        assert [(s["action"], s["result"], s.get("verified")) for s in resized["steps"]] == [
            ("scale-out", "Succeeded", False),
            ("bounce", "Succeeded", False),
            ("more-memory", "Succeeded", None),
        ]
        sts = cluster.apps.read_namespaced_stateful_set("db", world.namespace)
        assert sts.spec.replicas == 3 and step(resized, "scale-out")["params"] == {"replicas": "3", "from": "1"}
        annotations = sts.spec.template.metadata.annotations or {}
        assert annotations["kubectl.kubernetes.io/restartedAt"] == step(resized, "bounce")["params"]["restartedAt"]
        assert sts.spec.template.spec.containers[0].resources.limits["memory"] == "512Mi"
        # The rule is deleted while the last step waits for it to resolve: nothing fires any more. The sandbox
        # runs no StatefulSet controller, so no pod ever runs with the raised memory: the resolution is not
        # credited to the step (Unverified, not Exhausted: the deleted rule did count as resolved).
        cluster.kubectl("delete", "-n", world.namespace, "anomalyrule/latency")
        done = wait_for(
            lambda: (e := world.executions()[0])["state"] in ("Succeeded", "Failed") and e, timeout=30, what="the end"
        )
        assert (done["state"], done["reason"]) == ("Failed", "Unverified")
        assert "its effect did not hold" in done["message"] and step(done, "more-memory")["verified"] is False
    finally:
        cluster.kubectl("delete", "namespace", world.namespace, "--wait=false", check=False)

"""Closed-loop scenarios the fault harness plays: a quick loop (retrain -> promote -> serve, then
anomaly pending -> firing -> scale -> verified -> incident resolved).

A scenario is set up without faults, then played as named acts; each act drives the cluster the way
a user would and waits for its outcome. Acts must tolerate a slow or failing operator: they only
wait longer, never act twice. The demo story is played as a scenario by ``benchmarks/faults.py``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import yaml
from kubernetes import config

from mlaiops_sandbox.testing.exporters import knob_exporter
from mlaiops_sandbox.testing.fault_checks import Clients, poll
from mlaiops_sandbox.testing.kubectl import Kubectl

HARNESS_AGENT = "mlaiops-faults-harness"
JSON = dict[str, Any]


class Operator(Protocol):
    """The operator process: the e2e suite's or the benchmark's."""

    def restart(self, kill: bool = True) -> None: ...


class SandboxLike(Protocol):
    api_url: str
    dir: Path
    kubeconfig_path: Path

    def stop_prometheus(self, seconds: float | None = None) -> None: ...

    def start_prometheus(self) -> None: ...

    @property
    def prometheus_running(self) -> bool: ...


@dataclass
class Env:
    """The cluster as the harness sees it: clients under their own User-Agent (faults aim elsewhere)."""

    sandbox: SandboxLike
    operator: Operator

    def __post_init__(self) -> None:
        api = config.new_client_from_config(config_file=str(self.sandbox.kubeconfig_path))
        api.user_agent = HARNESS_AGENT
        self.kube = Clients.from_api(api)

    def kubectl(self, *args: str, input: str | None = None) -> str:
        return Kubectl(self.sandbox.kubeconfig_path)(*args, input=input)

    def apply(self, namespace: str, *objects: JSON) -> None:
        self.kubectl("apply", "-n", namespace, "-f", "-", input=yaml.safe_dump_all(objects))

    def get(self, plural: str, namespace: str, name: str) -> JSON:
        return self.kube.custom.get_namespaced_custom_object("mlaiops.dev", "v1alpha1", namespace, plural, name)


@dataclass
class Act:
    name: str
    run: Callable[[], None]


class Scenario(Protocol):
    name: str
    namespace: str
    outage_act: str  # the act during which a Prometheus outage is injected: a decision must be pending then

    def setup(self) -> None: ...

    def acts(self) -> list[Act]: ...

    def close(self) -> None: ...


# --- the quick loop ------------------------------------------------------------------------------


def dataset(rows: int = 1500, seed: int = 1) -> str:
    # imported here: scikit-learn costs 1.5 s of CPU to import, and the benchmarks that import this module
    # check their arguments (and may refuse them) before any scenario builds a dataset
    from sklearn.datasets import make_classification

    x, y = make_classification(n_samples=rows, n_features=6, n_informative=4, flip_y=0.02, random_state=seed)
    region = np.where(x[:, 5] > 0, "north", "south")
    lines = ["amount,hour,merchant,age,distance,velocity,region,is_fraud"]
    lines += [",".join(f"{v:.4f}" for v in row) + f",{r},{label}" for row, r, label in zip(x, region, y, strict=True)]
    return "\n".join(lines) + "\n"


def deployment(name: str, image: str, replicas: int = 1, **pod: Any) -> JSON:
    """A one-container Deployment selecting ``app.kubernetes.io/name: <name>``; ``pod`` goes into its pod spec
    (``container`` into the container, ``annotations`` onto the template)."""
    labels = {"app.kubernetes.io/name": name}
    annotations = pod.pop("annotations", {})
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels, "annotations": annotations},
                "spec": {"containers": [{"name": name, "image": image, **pod.pop("container", {})}], **pod},
            },
        },
    }


PENDING_FOR = "10s"
"""The loop rule's ``for``: shorter than the e2e outage (15 s), so an operator that kept counting
anomalous evaluations through the outage (stale data taken for fresh) would fire while it lasts."""


def retrain_policy(minimum: float) -> JSON:
    """``fraud-retrain``: LogisticRegression on ``pvc://fraud-data/transactions.csv`` (``dataset()``) into
    ``pvc://fraud-models/fraud``, for ModelDeployment ``fraud``, gated on accuracy >= ``minimum`` with a loose
    fairness check on ``region`` (the sensitive attribute, not a feature)."""
    return {
        "apiVersion": "mlaiops.dev/v1alpha1",
        "kind": "RetrainPolicy",
        "metadata": {"name": "fraud-retrain"},
        "spec": {
            "modelDeploymentRef": {"name": "fraud"},
            "triggers": {"minInterval": "1s"},
            "dataset": {"uri": "pvc://fraud-data/transactions.csv", "target": "is_fraud"},
            "trainer": {"estimator": "LogisticRegression", "seed": 3},
            "output": {"uri": "pvc://fraud-models/fraud"},
            "validation": {
                "metric": "accuracy",
                "minimum": minimum,
                "fairness": {"sensitiveAttribute": "region", "maxDemographicParityDifference": 0.9},
            },
        },
    }


def loop_objects(namespace: str) -> list[JSON]:
    exporter = knob_exporter("faults_value")
    mlaiops = "mlaiops.dev/v1alpha1"
    return [
        exporter,
        deployment("web", "nginx:1.27"),
        retrain_policy(minimum=0.7),
        {
            "apiVersion": mlaiops,
            "kind": "ModelDeployment",
            "metadata": {"name": "fraud"},
            "spec": {
                "model": {"source": {"retrainPolicyRef": {"name": "fraud-retrain"}}},
                "replicas": 1,
                "rollout": {"strategy": "RollingUpdate"},
            },
        },
        {
            "apiVersion": mlaiops,
            "kind": "AnomalyRule",
            "metadata": {"name": "latency"},
            "spec": {
                "query": f'faults_value{{namespace="{namespace}"}}',
                "interval": "1s",
                "fitWindow": "1m",
                "for": PENDING_FOR,  # long enough to catch it Pending and stop Prometheus before it fires
                "detector": {"type": "threshold", "upper": 50, "direction": "up"},
                "severity": "critical",
                "target": {"kind": "Deployment", "name": "web"},
            },
        },
        {
            "apiVersion": mlaiops,
            "kind": "RemediationPlaybook",
            "metadata": {"name": "fix"},
            "spec": {
                "triggers": [{"rules": [{"name": "latency"}], "severity": "warning"}],
                "actions": [
                    {"name": "scale-out", "type": "scale", "scale": {"delta": 2, "max": 5}, "verify": {"within": "2m"}}
                ],
                "guardrails": {"cooldown": "1s", "maxExecutions": 20, "window": "10m"},
            },
        },
    ]


class Loop:
    """The quick closed loop, in its own namespace (so one sandbox can play it many times).

    The anomaly is raised in two acts: ``pending`` lifts the value over the rule's bound and waits
    for the rule to say Pending, ``hold`` is where the outage strikes (while the rule would fire if
    it took missing data for data), ``anomaly`` then waits for the firing, the scale-out and the
    recovery.
    """

    outage_act = "hold"

    def __init__(self, env: Env, namespace: str, timeout: float = 150) -> None:
        self.env, self.namespace, self.timeout = env, namespace, timeout
        self.name = "loop"
        self.knob = env.sandbox.dir / "volumes" / namespace / "knob" / "value"

    def rule(self) -> JSON:
        return self.env.get("anomalyrules", self.namespace, "latency").get("status") or {}

    def executions(self) -> list[JSON]:
        status = self.env.get("remediationplaybooks", self.namespace, "fix").get("status") or {}
        return [e for e in status.get("executions") or [] if e["state"] != "Refused"]

    def runs(self) -> list[JSON]:
        return (self.env.get("retrainpolicies", self.namespace, "fraud-retrain").get("status") or {}).get("runs") or []

    def setup(self) -> None:
        env, ns = self.env, self.namespace
        env.kubectl("create", "namespace", ns)
        data = env.sandbox.dir / "volumes" / ns / "fraud-data"
        data.mkdir(parents=True, exist_ok=True)
        (data / "transactions.csv").write_text(dataset())
        self.knob.parent.mkdir(parents=True, exist_ok=True)
        self.knob.write_text("10")
        env.apply(ns, *loop_objects(ns))
        poll(lambda: self.rule().get("state") == "Normal", 90)

    def acts(self) -> list[Act]:
        return [
            Act("retrain", self.retrain),
            Act("pending", self.pending),
            Act("hold", lambda: None),
            Act("anomaly", self.anomaly),
        ]

    def outage_pending(self) -> bool:
        """Whether a decision is pending as Prometheus stops: the rule saw the value over its bound."""
        return self.rule().get("state") == "Pending"

    def retrain(self) -> None:
        """A requested run trains, passes the gate, is promoted and served."""
        ns = self.namespace
        self.env.kubectl("annotate", "-n", ns, "rtp/fraud-retrain", "mlaiops.dev/retrain=faults", "--overwrite")
        run = poll(lambda: _decided(self.runs()), self.timeout)

        def served() -> bool:
            status = self.env.get("modeldeployments", ns, "fraud").get("status") or {}
            return status.get("phase") == "Ready" and (status.get("stableModel") or {}).get("version") == run["id"]

        poll(served, self.timeout)
        poll(lambda: self.runs()[0].get("rolloutOutcome") == "Promoted", self.timeout)

    def pending(self) -> None:
        """The value goes over the bound; the rule counts towards its ``for`` (a slow operator may
        already be past it: Firing is accepted too, the outage run checks it was Pending)."""
        self.knob.write_text("100")
        poll(lambda: self.rule().get("state") in ("Pending", "Firing"), self.timeout)

    def anomaly(self) -> None:
        """The rule fires, the playbook scales web out; the value comes down, the execution is
        verified and the incident resolved."""
        self.knob.write_text("100")

        def scaled() -> bool:
            executions = self.executions()
            steps = (executions[0].get("steps") or []) if executions else []
            return bool(steps) and steps[0].get("result") == "Succeeded"

        poll(scaled, self.timeout)
        self.knob.write_text("10")
        poll(lambda: self.executions()[0]["state"] == "Succeeded", self.timeout)
        incident = self.executions()[0]["incident"]
        poll(
            lambda: (
                (self.env.get("incidents", self.namespace, incident).get("status") or {}).get("phase") == "Resolved"
            ),
            self.timeout,
        )
        poll(lambda: self.rule().get("state") == "Normal", self.timeout)

    def close(self) -> None:
        self.env.kubectl("delete", "namespace", self.namespace, "--wait=false", "--ignore-not-found")


def _decided(runs: list[JSON]) -> JSON | None:
    """The newest run once promoted; a failed or rejected one ends the act at once."""
    if runs and runs[0]["phase"] in ("Failed", "Rejected"):
        raise RuntimeError(f"run {runs[0]['id']} {runs[0]['phase']}: {runs[0].get('decision')}")
    return runs[0] if runs and runs[0]["phase"] == "Promoted" else None

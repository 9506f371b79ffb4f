"""The demo story, step by step, on a running sandbox and operator.

Each step acts the way a user or a team would (kubectl apply, annotate, patch), then waits for
the cluster to show the expected outcome and records when it happened. ``make demo`` prints the
steps as they happen; the e2e test runs the same functions and asserts on the cluster state.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import yaml
from kubernetes import client, config

from mlaiops.demo.data import FEATURES, fraud_table, slow_model
from mlaiops.demo.traffic import Traffic

T = TypeVar("T")
NAMESPACE = "fraud-detection"


class StepFailed(Exception):
    """A step of the story did not reach its expected outcome in time."""


@dataclass
class Step:
    name: str
    started: float
    finished: float | None = None
    outcome: str = ""


@dataclass
class Story:
    """The cluster handles and the record of what happened."""

    kubeconfig: Path
    sandbox_dir: Path
    echo: Callable[[str], None] = print
    steps: list[Step] = field(default_factory=list)
    traffic: Traffic | None = None

    def __post_init__(self) -> None:
        api = config.new_client_from_config(config_file=str(self.kubeconfig))
        self.core = client.CoreV1Api(api)
        self.custom = client.CustomObjectsApi(api)
        self.t0 = time.monotonic()

    # --- plumbing -----------------------------------------------------------------------------
    def say(self, text: str) -> None:
        self.echo(f"[{datetime.now(UTC):%H:%M:%S}] +{time.monotonic() - self.t0:6.1f}s  {text}")

    def kubectl(self, *args: str, input: str | None = None) -> str:
        result = subprocess.run(
            ["kubectl", "--kubeconfig", str(self.kubeconfig), *args],
            input=input,
            capture_output=True,
            text=True,
            timeout=60,
        )
        if result.returncode != 0:
            raise StepFailed(f"kubectl {' '.join(args)}: {result.stderr.strip()}")
        return result.stdout

    def apply(self, *objects: dict[str, Any]) -> None:
        self.kubectl("apply", "-f", "-", input=yaml.safe_dump_all(objects))

    def get(self, plural: str, name: str) -> dict[str, Any]:
        return self.custom.get_namespaced_custom_object("mlaiops.dev", "v1alpha1", NAMESPACE, plural, name)

    def wait(self, what: str, condition: Callable[[], T], timeout: float) -> T:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                value = condition()
            except client.ApiException:
                value = None
            if value:
                return value
            time.sleep(0.5)
        raise StepFailed(f"timed out after {timeout:.0f}s waiting for {what}")

    def step(self, name: str) -> Step:
        self.say(f"== {name}")
        record = Step(name, time.monotonic() - self.t0)
        self.steps.append(record)
        return record

    def done(self, record: Step, outcome: str) -> None:
        record.finished, record.outcome = time.monotonic() - self.t0, outcome
        self.say(f"   {outcome}")

    def claim(self, name: str) -> Path:
        folder = self.sandbox_dir / "volumes" / NAMESPACE / name
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    # --- the story ------------------------------------------------------------------------------
    def first_model(self) -> dict[str, Any]:
        """A RetrainPolicy trains the first fraud model; the ModelDeployment that follows it serves it."""
        record = self.step("1. Train the fraud model with a RetrainPolicy Job and serve it")
        (self.claim("fraud-data") / "transactions.csv").write_text(fraud_table(rows=3000, seed=1))
        # The team's next model is built now, before traffic flows, so that building it does not
        # compete with the servers for the CPU later in the story.
        slow_model(self.claim("fraud-models") / "forest" / "model.joblib")
        self.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}})
        self.apply(retrain_policy(), model_deployment())
        self.kubectl(
            "annotate", "-n", NAMESPACE, "rtp/fraud-retrain", "mlaiops.dev/retrain=initial-model", "--overwrite"
        )
        run = self.wait(
            "the first training run", lambda: _first_run(self.get("retrainpolicies", "fraud-retrain"), "Promoted"), 120
        )
        self.say(
            f"   trained {run['id']}: accuracy {run['candidateMetrics']['accuracy']:.3f}, roc_auc {run['candidateMetrics']['roc_auc']:.3f}"
        )
        md = self.wait(
            "the model to serve", lambda: _phase(self.get("modeldeployments", "fraud-detector"), "Ready"), 90
        )
        endpoint = self.core.read_namespaced_service("fraud-detector", NAMESPACE).metadata.annotations[
            "sandbox.mlaiops.dev/endpoint"
        ]
        self.traffic = Traffic(f"{endpoint}/v2/models/fraud-detector/infer", len(FEATURES)).start()
        self.wait("traffic", lambda: self.traffic and self.traffic.codes[200] >= 10, 30)
        self.done(
            record,
            f"serving {md['status']['stableModel']['version']} on {md['status']['ready']} replicas; traffic flows",
        )
        return md

    def bad_model(self) -> dict[str, Any]:
        """A team pushes a model that is accurate offline but slow online; the canary catches it."""
        record = self.step("2. Roll out a model that is genuinely slow online; the canary analysis rolls it back")
        stable = self.get("modeldeployments", "fraud-detector")["status"]["stableModel"]["version"]
        patch = {
            "spec": {
                "model": {
                    "source": None,
                    "storageUri": "pvc://fraud-models/forest/model.joblib",
                    "version": "forest-v1",
                }
            }
        }
        self.kubectl(
            "patch",
            "-n",
            NAMESPACE,
            "md/fraud-detector",
            "--type=merge",
            "-p",
            json.dumps(patch),
        )
        self.wait(
            "the canary",
            lambda: (
                (self.get("modeldeployments", "fraud-detector")["status"].get("canaryModel") or {}).get("version")
                == "forest-v1"
            ),
            60,
        )
        self.say("   canary forest-v1 is taking traffic; analysing latency and errors on Prometheus")
        md = self.wait(
            "the rollback", lambda: _failed(self.get("modeldeployments", "fraud-detector"), "forest-v1"), 180
        )
        last = md["status"]["history"][0]
        if md["status"]["stableModel"]["version"] != stable:
            raise StepFailed(f"stable changed from {stable} to {md['status']['stableModel']['version']}")
        self.done(record, f"rolled back: {last['message']}")
        return md


def retrain_policy() -> dict[str, Any]:
    return {
        "apiVersion": "mlaiops.dev/v1alpha1",
        "kind": "RetrainPolicy",
        "metadata": {"name": "fraud-retrain", "namespace": NAMESPACE},
        "spec": {
            "modelDeploymentRef": {"name": "fraud-detector"},
            "triggers": {"minInterval": "10s"},
            "dataset": {"uri": "pvc://fraud-data/transactions.csv", "target": "is_fraud"},
            "trainer": {"estimator": "HistGradientBoostingClassifier", "params": {"max_iter": 60}, "seed": 7},
            "output": {"uri": "pvc://fraud-models/fraud-detector"},
            "validation": {
                "metric": "roc_auc",
                "minimum": 0.8,
                "fairness": {"sensitiveAttribute": "region", "maxDemographicParityDifference": 0.1},
            },
        },
    }


def model_deployment() -> dict[str, Any]:
    return {
        "apiVersion": "mlaiops.dev/v1alpha1",
        "kind": "ModelDeployment",
        "metadata": {"name": "fraud-detector", "namespace": NAMESPACE},
        "spec": {
            "model": {"source": {"retrainPolicyRef": {"name": "fraud-retrain"}}},
            "replicas": 2,
            "rollout": {"strategy": "Canary", "canary": {"steps": [{"weight": 50, "pause": "5s"}]}},
            "analysis": {
                "interval": "2s",
                "failureLimit": 1,
                "metrics": [
                    {"name": "request-success-rate", "thresholdRange": {"min": 0.99}},
                    {"name": "request-duration", "thresholdRange": {"max": 0.03}},
                ],
            },
        },
    }


def _first_run(policy: dict[str, Any], phase: str) -> dict[str, Any] | None:
    runs = (policy.get("status") or {}).get("runs") or []
    if runs and runs[0]["phase"] == "Failed":
        raise StepFailed(f"training failed: {runs[0].get('decision')}")
    return runs[0] if runs and runs[0]["phase"] == phase else None


def _phase(md: dict[str, Any], phase: str) -> dict[str, Any] | None:
    return md if (md.get("status") or {}).get("phase") == phase else None


def _failed(md: dict[str, Any], version: str) -> dict[str, Any] | None:
    status = md.get("status") or {}
    if (status.get("stableModel") or {}).get("version") == version:
        results = "; ".join(f"{r['name']}={r.get('value')} ({r['phase']})" for r in status.get("analysis") or [])
        raise StepFailed(f"{version} was promoted although it is slow; last analysis: {results}")
    return md if (status.get("failedModel") or {}).get("version") == version else None

"""The demo story, step by step, on a running sandbox and operator.

Each step acts the way a user or a team would (kubectl apply, annotate, patch), then waits for
the cluster to show the expected outcome and records when it happened. ``make demo`` prints the
steps as they happen; the e2e test runs the same functions and asserts on the cluster state.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar, cast

import yaml
from kubernetes import client, config
from mlaiops_sandbox.testing import Kubectl, WaitTimeout, wait_for
from mlaiops_sandbox.testing.kubectl import KubectlError

from mlaiops.report.model import parse_time
from mlaiops_demo import checks
from mlaiops_demo import objects as manifests
from mlaiops_demo.checks import StepFailed
from mlaiops_demo.data import DRIFTING, FEATURES, fraud_table, slow_fraud_model
from mlaiops_demo.objects import LABEL_METRIC, NAMESPACE, model_deployment, retrain_policy
from mlaiops_demo.traffic import Surge, Traffic

T = TypeVar("T")
DRIFT = 4.0
"""How far (in standard deviations) merchant risk moves when its provider re-scales it in step 3."""
SURGE_RATE = 28.0
"""Requests per second of the step-4 surge, on top of the steady 12: far more than two replicas are sized for."""
TRAFFIC_IN_FLIGHT = 4
"""The steady traffic's requests open at once: its 12 requests/s hold while answers take under 330 ms. One at
a time, slow answers on a loaded machine cut it to 2.5 requests/s (two stories and two busy loops on 2 cores),
and the drift rule, which needs 300 rows in its 40 s window, stayed NoData."""

__all__ = ["NAMESPACE", "Step", "StepFailed", "Story"]


@dataclass
class Step:
    """One step of the story, timed in seconds from the story's start."""

    name: str
    started: float
    finished: float | None = None
    outcome: str = ""
    detection: float | None = None
    """Seconds from the trouble starting (drift, surge) to the AnomalyRule firing, from cluster timestamps."""
    remediation: float | None = None
    """Seconds from the rule firing to the fix being in place (model promoted, scale-out verified)."""


@dataclass
class Story:
    """The cluster handles and the record of what happened."""

    kubeconfig: Path
    sandbox_dir: Path
    echo: Callable[[str], None] = field(default=lambda text: print(text, flush=True))
    steps: list[Step] = field(default_factory=list)
    traffic: Traffic | None = None
    surge: Surge | None = None
    drift_at_rest: float | None = None
    """merchant_risk's PSI against the training reference while traffic still looks like the training data."""
    drift_fired: list[dict[str, Any]] = field(default_factory=list)
    """The drift rule's series when it fired (step 3)."""
    labelled: dict[str, dict[str, Any]] = field(default_factory=dict)
    """The label metric's last result (status.analysis) of each canary, by version, as its rollout ended."""
    url: str = ""

    def __post_init__(self) -> None:
        api = config.new_client_from_config(config_file=str(self.kubeconfig))
        self.core = client.CoreV1Api(api)
        self.apps = client.AppsV1Api(api)
        self.custom = client.CustomObjectsApi(api)
        self.t0 = time.monotonic()

    # --- plumbing -----------------------------------------------------------------------------
    def say(self, text: str) -> None:
        self.echo(f"[{datetime.now(UTC):%H:%M:%S}] +{time.monotonic() - self.t0:6.1f}s  {text}")

    def kubectl(self, *args: str, input: str | None = None) -> str:
        try:
            return Kubectl(self.kubeconfig)(*args, input=input)
        except KubectlError as error:
            raise StepFailed(str(error)) from error

    def apply(self, *objects: dict[str, Any]) -> None:
        self.kubectl("apply", "-f", "-", input=yaml.safe_dump_all(objects))

    def get(self, plural: str, name: str) -> dict[str, Any]:
        return cast(
            dict[str, Any], self.custom.get_namespaced_custom_object("mlaiops.dev", "v1alpha1", NAMESPACE, plural, name)
        )

    def wait(
        self, what: str, condition: Callable[[], T | None], timeout: float, detail: Callable[[], str] | None = None
    ) -> T:
        """Poll ``condition`` until it is truthy; a timeout fails the step, with ``detail()`` when given."""
        try:
            return wait_for(condition, timeout, interval=0.5, what=what, ignore=(client.ApiException,))
        except WaitTimeout:
            raise StepFailed(
                f"timed out after {timeout:.0f}s waiting for {what}" + (f"; {detail()}" if detail else "")
            ) from None

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
        slow_fraud_model(self.claim("fraud-models") / "forest" / "model.joblib")
        self.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}})
        self.apply(retrain_policy(), model_deployment())
        self.kubectl(
            "annotate", "-n", NAMESPACE, "rtp/fraud-retrain", "mlaiops.dev/retrain=initial-model", "--overwrite"
        )
        run = self.wait(
            "the first training run",
            lambda: checks.first_run(self.get("retrainpolicies", "fraud-retrain"), "Promoted"),
            120,
        )
        self.say(
            f"   trained {run['id']}: accuracy {run['candidateMetrics']['accuracy']:.3f}, roc_auc {run['candidateMetrics']['roc_auc']:.3f}"
        )
        md = self.wait(
            "the model to serve", lambda: checks.phase(self.get("modeldeployments", "fraud-detector"), "Ready"), 90
        )
        service = self.core.read_namespaced_service("fraud-detector", NAMESPACE)
        annotations = (service.metadata.annotations if service.metadata else None) or {}
        endpoint = annotations["sandbox.mlaiops.dev/endpoint"]
        self.url = f"{endpoint}/v2/models/fraud-detector/infer"
        # A quarter of the transactions get their fraud label 5 s later, by prediction id (docs/feedback.md).
        self.traffic = Traffic(
            self.url,
            len(FEATURES),
            drift_column=FEATURES.index(DRIFTING),
            label_share=0.25,
            label_delay=5.0,
            in_flight=TRAFFIC_IN_FLIGHT,
        ).start()
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
        self.say(
            "   canary forest-v1 is taking traffic; analysing its errors and CPU cost per request on Prometheus,"
            f" and showing its accuracy on the delayed labels ({LABEL_METRIC}, dry run)"
        )
        md = self.wait(
            "the rollback", lambda: checks.failed(self.get("modeldeployments", "fraud-detector"), "forest-v1"), 180
        )
        last = md["status"]["history"][0]
        if md["status"]["stableModel"]["version"] != stable:
            raise StepFailed(f"stable changed from {stable} to {md['status']['stableModel']['version']}")
        labels = self.labels_said(md, "forest-v1")
        self.done(record, f"rolled back: {last['message']}; labels (not deciding): {labels}")
        return md

    def drifted_inputs(self) -> dict[str, Any]:
        """Merchant risk drifts; the drift rule fires, the playbook retrains on fresh data, the better model ships."""
        record = self.step(
            "3. Inputs drift; the drift rule fires, a playbook retrains, the new model is canaried and promoted"
        )
        if self.traffic is None:
            raise StepFailed("no traffic: step 1 did not run")
        # The team reverts its slow model: the ModelDeployment follows the RetrainPolicy again (same stable model).
        follow = {"storageUri": None, "version": None, "source": {"retrainPolicyRef": {"name": "fraud-retrain"}}}
        self.kubectl(
            "patch", "-n", NAMESPACE, "md/fraud-detector", "--type=merge", "-p", json.dumps({"spec": {"model": follow}})
        )
        self.apply(manifests.drift_rule(), manifests.drift_playbook())
        rule = self.wait(
            "the drift rule to score the traffic",
            lambda: checks.rule_ready(self.rule("fraud-input-drift")),
            60,
            self.rule_state("fraud-input-drift"),
        )
        champion = self.get("modeldeployments", "fraud-detector")["status"]["stableModel"]["version"]
        self.drift_at_rest = max(s["value"] for s in rule["series"])
        self.say(
            f"   drift rule Normal: {DRIFTING} PSI {self.drift_at_rest:.3f} against the training reference"
            f" over the last {manifests.DRIFT_WINDOW} (drift from {rule['series'][0]['upper']:g})"
        )
        # The risk provider re-scales its score; this week's labelled transactions already carry the new scale.
        (self.claim("fraud-data") / "transactions.csv").write_text(fraud_table(rows=3000, seed=2, drift=DRIFT))
        began = _now()
        self.traffic.drift = DRIFT
        self.say(f"   merchant risk moved by +{DRIFT:g} standard deviations in live traffic and in the fresh data")
        firing = self.wait(
            "the drift rule to fire",
            lambda: checks.firing_since(self.rule("fraud-input-drift")),
            90,
            self.rule_state("fraud-input-drift"),
        )
        record.detection = (firing - began).total_seconds()
        series = self.rule("fraud-input-drift")["status"]["series"]
        self.drift_fired = series  # as it fired: once the retrained model serves, its version starts from NoData
        psi = next(s["value"] for s in series if s.get("state") == "Firing")
        self.say(
            f"   AnomalyRule fraud-input-drift Firing, {record.detection:.1f}s after the drift: {DRIFTING} PSI {psi:.2f}"
        )
        step = self.wait(
            "the playbook's retrain step", lambda: checks.step_done(self.playbook("fraud-drift"), "retrain"), 60
        )
        self.say(f"   RemediationPlaybook fraud-drift: {step['message']}")
        run = self.wait(
            "the retraining run", lambda: checks.playbook_run(self.get("retrainpolicies", "fraud-retrain")), 180
        )
        candidate, previous = run["candidateMetrics"]["roc_auc"], (run.get("championMetrics") or {}).get("roc_auc")
        if previous is None or candidate <= previous:
            raise StepFailed(
                f"run {run['id']}: the candidate (roc_auc {candidate}) did not beat the champion ({previous})"
            )
        self.say(
            f"   run {run['id']} promoted: roc_auc {candidate:.3f} vs champion {previous:.3f} on the same fresh test split"
        )
        md = self.wait(
            "the canary of the retrained model",
            lambda: checks.promoted(self.get("modeldeployments", "fraud-detector"), run["id"]),
            180,
        )
        promoted = parse_time(md["status"]["history"][0]["finishedAt"]) or _now()
        record.remediation = (promoted - firing).total_seconds()
        labels = self.labels_said(md, run["id"])
        self.done(
            record,
            f"drift caught after {record.detection:.0f}s; {run['id']} replaced {champion} (roc_auc {previous:.3f} -> "
            f"{candidate:.3f}) through the canary, {record.remediation:.0f}s after the rule fired; "
            f"labels (not deciding): {labels}",
        )
        return md

    def load_surge(self) -> dict[str, Any]:
        """A surge saturates the replicas; the playbook scales out and verifies, the Incident records it all."""
        record = self.step("4. A load surge saturates the replicas; the playbook scales out and verifies the fix")
        self.wait("the stable replicas to settle", lambda: self.settled(), 60)
        # While step 3's model rolled out, one replica could carry all 12 requests/s, above the 10 it is sized
        # for: the rule starts once its rate window holds only the settled replicas (and a scrape after that).
        time.sleep(manifests.LOAD_WINDOW_SECONDS + 2)
        self.apply(manifests.load_rule(), manifests.load_playbook())
        self.wait("the load rule to evaluate", lambda: checks.rule_ready(self.rule("fraud-load")), 60)
        before = self.get("modeldeployments", "fraud-detector")["spec"]["replicas"]
        began = _now()
        self.surge = Surge(
            self.url, len(FEATURES), SURGE_RATE, drift=DRIFT, drift_column=FEATURES.index(DRIFTING)
        ).start()
        self.say(
            f"   surge: +{SURGE_RATE:g} requests/s on {before} replicas sized for {manifests.PER_REPLICA_LIMIT:g}/s each"
        )
        firing = self.wait(
            "the load rule to fire",
            lambda: checks.firing_since(self.rule("fraud-load")),
            120,
            self.rule_state("fraud-load"),
        )
        record.detection = (firing - began).total_seconds()
        value = self.rule("fraud-load")["status"]["series"][0]["value"]
        self.say(
            f"   AnomalyRule fraud-load Firing, {record.detection:.1f}s after the surge: busiest replica at {value:.0f} requests/s"
        )
        step = self.wait("the scale-out step", lambda: checks.step_done(self.playbook("fraud-load"), "scale-out"), 60)
        self.say(f"   RemediationPlaybook fraud-load: {step['message']}")
        execution = self.wait("the scale-out to be verified", lambda: checks.verified(self.playbook("fraud-load")), 150)
        record.remediation = ((parse_time(execution["finishedAt"]) or _now()) - firing).total_seconds()
        self.say(f"   verified: {execution['message']}")
        incident = self.wait(
            "the Incident to be resolved", lambda: checks.resolved(self.get("incidents", execution["incident"])), 90
        )
        codes = self.surge.stop()
        self.say(f"   the surge is over: {codes[200]} requests answered, {sum(codes.values()) - codes[200]} not")
        replicas = self.wait("the new replicas to be ready", lambda: self.settled(), 90)
        status = incident["status"]
        anomalies = ", ".join(a["rule"] for a in status.get("anomalies") or [])
        steps = ", ".join(f"{s['action']} {'verified' if s.get('verified') else s['result']}" for s in status["steps"])
        self.done(
            record,
            f"surge caught after {record.detection:.0f}s; scaled {before} -> {replicas} ready replicas, verified "
            f"{record.remediation:.0f}s after the rule fired; Incident {execution['incident']} {status['phase']} "
            f"(anomaly: {anomalies}; steps: {steps})",
        )
        return incident

    def labels_said(self, md: dict[str, Any], version: str) -> str:
        """Record and print what the label metric said of a canary whose rollout just ended (dry run: it is
        shown, never deciding; objects.model_deployment says why)."""
        result = checks.label_result(md)
        if result is not None:
            self.labelled[version] = result
        said = checks.describe_labels(result)
        phase = result["phase"] if result is not None else "missing"
        self.say(f"   on delayed labels ({LABEL_METRIC}, dry run, {phase}): {(result or {}).get('message') or said}")
        return said

    def rule_state(self, name: str) -> Callable[[], str]:
        """What a rule last saw, for a failure message."""

        def describe() -> str:
            status = self.rule(name).get("status") or {}
            series = (status.get("series") or [{}])[0]
            seen = ", ".join(f"{k} {series.get(k)}" for k in ("value", "expected", "lower", "upper", "score"))
            said = f": {status['message']}" if status.get("message") else ""
            sent = f"; the demo's traffic so far: {self.traffic.answered()}" if self.traffic is not None else ""
            return (
                f"AnomalyRule {name} is {status.get('state')} after {status.get('evaluations')} evaluations ({seen})"
                f"{said}{sent}"
            )

        return describe

    def settled(self) -> int | None:
        """Ready replicas of the stable track once they are all ready and up to date, and no canary runs."""
        status = self.apps.read_namespaced_deployment("fraud-detector-stable", NAMESPACE).status
        if status is None:
            return None
        wanted: int = self.get("modeldeployments", "fraud-detector")["spec"]["replicas"]
        names = {d.metadata.name for d in self.apps.list_namespaced_deployment(NAMESPACE).items if d.metadata}
        steady = status.ready_replicas == status.updated_replicas == status.replicas == wanted
        return wanted if steady and "fraud-detector-canary" not in names else None

    def rule(self, name: str) -> dict[str, Any]:
        return self.get("anomalyrules", name)

    def playbook(self, name: str) -> dict[str, Any]:
        return self.get("remediationplaybooks", name)

    def stop_load(self) -> None:
        """Stop the steady traffic and the surge (the demo's end, or a test's)."""
        if self.surge is not None:
            self.surge.stop()
        if self.traffic is not None:
            self.traffic.stop()


def _now() -> datetime:
    return datetime.now(UTC)

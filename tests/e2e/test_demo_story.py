"""The demo story (the same code as `make demo`), asserted on the cluster state, not on its output."""

from __future__ import annotations

import re
from datetime import datetime

import pytest
from mlaiops_demo.objects import LABEL_METRIC, LABEL_MIN_SAMPLES, LABEL_TTL, PER_REPLICA_LIMIT
from mlaiops_demo.story import NAMESPACE, Story

from tests.e2e.conftest import Cluster

pytestmark = pytest.mark.integration


def at(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def live(playbook: dict) -> list[dict]:
    return [e for e in (playbook.get("status") or {}).get("executions") or [] if e["state"] != "Refused"]


COMPARED = re.compile(r"canary accuracy ([\d.]+)% \((\d+)/(\d+)\) vs stable ([\d.]+)% \((\d+)/(\d+)\)")
TOO_FEW = re.compile(r"inconclusive: (\d+) canary and (\d+) stable labelled predictions")


def labelled(result: dict) -> tuple[int, int, float | None, float | None]:
    """(canary labels, stable labels, canary accuracy, stable accuracy) of the label metric's result, from its
    message (its value is the test's p-value; the accuracies only when both tracks had minSampleSize)."""
    if compared := COMPARED.search(result["message"]):
        return int(compared[3]), int(compared[6]), float(compared[1]), float(compared[4])
    too_few = TOO_FEW.search(result["message"])
    assert too_few, result
    return int(too_few[1]), int(too_few[2]), None, None


def test_the_whole_story_plays_out(cluster: Cluster) -> None:
    lines: list[str] = []  # the story as `make demo` prints it: pytest shows it when the test fails
    story = Story(cluster.sandbox.kubeconfig_path, cluster.sandbox.dir, echo=lines.append)
    md = lambda: cluster.get("modeldeployments", NAMESPACE, "fraud-detector")  # noqa: E731
    policy = lambda: cluster.get("retrainpolicies", NAMESPACE, "fraud-retrain")  # noqa: E731
    try:
        # 1. trained by a RetrainPolicy Job, served, traffic flows
        story.first_model()
        served = md()["status"]
        first = policy()["status"]
        assert served["stableModel"]["version"] == first["promoted"]["version"] == first["runs"][0]["id"]
        assert story.traffic is not None and story.traffic.codes[200] >= 10

        # 2. a slow model is canaried and rolled back
        story.bad_model()
        status = md()["status"]
        assert status["failedModel"]["version"] == "forest-v1"
        assert status["stableModel"]["version"] == served["stableModel"]["version"]
        assert status["history"][0]["reason"] == "AnalysisFailed"
        # the labels were shown, not deciding: recorded in status.analysis as a dry run, absent from the rollback
        forest = story.labelled["forest-v1"]
        assert forest["dryRun"] is True and forest["phase"] != "Error", forest
        assert LABEL_METRIC not in status["history"][0]["message"]

        # 3. drift -> rule fires -> playbook retrains -> better candidate -> canary -> stable
        story.drifted_inputs()
        drift_rule = cluster.get("anomalyrules", NAMESPACE, "fraud-input-drift")
        assert drift_rule["spec"]["drift"]["method"] == "psi" and "query" not in drift_rule["spec"]
        rule = drift_rule["status"]
        assert (rule.get("firings") or 0) >= 1
        # the firing is merchant_risk's PSI against the training reference, per feature, in the rule's status as it
        # fired (read now, the promoted model's new version may have too few rows yet: NoData, no series)
        scored = [s for s in story.drift_fired if s["labels"].get("feature") == "merchant_risk"]
        assert scored and all(s["labels"]["track"] == "stable" and s["upper"] == 0.25 for s in scored), rule
        assert any(s["state"] == "Firing" and s["value"] >= 0.25 for s in scored), scored
        assert story.drift_at_rest is not None and story.drift_at_rest < 0.15  # stationary: far under 0.25
        assert story.steps[2].detection is not None and story.steps[2].detection < 60
        execution = live(cluster.get("remediationplaybooks", NAMESPACE, "fraud-drift"))[0]
        assert execution["trigger"] == f"rule:{NAMESPACE}/fraud-input-drift"
        assert [(s["action"], s["result"]) for s in execution["steps"]] == [("retrain", "Succeeded")]
        run = next(r for r in policy()["status"]["runs"] if r["trigger"] == "playbook")
        assert run["phase"] == "Promoted" and "fraud-drift" in run["reason"]
        assert run["candidateMetrics"]["roc_auc"] > run["championMetrics"]["roc_auc"] + 0.02
        first_run = next(r for r in policy()["status"]["runs"] if r["trigger"] == "manual")
        assert len({run["profileSha256"], first_run["profileSha256"]}) == 2  # a new reference with the new model
        assert all(len(r["profileSha256"]) == 64 for r in (run, first_run))
        assert at(execution["steps"][0]["startedAt"]) <= at(run["startedAt"])  # asked for before it began
        status = md()["status"]
        assert status["stableModel"]["version"] == run["id"] == policy()["status"]["promoted"]["version"]
        promoted = status["history"][0]
        assert (promoted["version"], promoted["outcome"]) == (run["id"], "Promoted")  # through the canary
        # the canary was also judged on delayed labels (dry run): real joined labels of both tracks, and the
        # retrained model right more often than the drifted champion (about 83% against 32%)
        result = next(r for r in status["analysis"] if r["name"] == LABEL_METRIC)
        assert result == story.labelled[run["id"]] and result["dryRun"] is True, result
        assert result["phase"] in ("Successful", "Inconclusive"), result
        canary, stable, canary_accuracy, stable_accuracy = labelled(result)
        assert canary >= 1 and stable >= LABEL_MIN_SAMPLES, result
        if result["phase"] == "Successful":
            assert canary >= LABEL_MIN_SAMPLES and canary_accuracy > stable_accuracy, result
        pod = cluster.apps.read_namespaced_deployment("fraud-detector-stable", NAMESPACE).spec.template.spec
        env = {e.name: e.value for e in pod.containers[0].env}
        assert env["MLAIOPS_FEEDBACK_TTL"] == str(LABEL_TTL)  # a prediction waits 30 s for its label, not an hour

        # 4. surge -> load rule fires -> scale out -> verified -> Incident records it
        before = md()["spec"]["replicas"]
        story.load_surge()
        execution = live(cluster.get("remediationplaybooks", NAMESPACE, "fraud-load"))[0]
        assert execution["trigger"] == f"rule:{NAMESPACE}/fraud-load"
        assert (execution["state"], execution["reason"]) == ("Succeeded", "Verified")
        scale = execution["steps"][0]
        assert (scale["action"], scale["result"], scale["verified"]) == ("scale-out", "Succeeded", True)
        assert scale["params"] == {"replicas": str(before + 4), "from": str(before)}
        assert md()["spec"]["replicas"] == before + 4
        assert cluster.apps.read_namespaced_deployment("fraud-detector-stable", NAMESPACE).spec.replicas == before + 4
        incident = cluster.get("incidents", NAMESPACE, execution["incident"])
        assert incident["spec"] == {"target": "ModelDeployment/fraud-detector", "playbook": "fraud-load"}
        record = incident["status"]
        assert record["phase"] == "Resolved"
        assert [a["rule"] for a in record["anomalies"]] == [f"{NAMESPACE}/fraud-load"]
        assert [(s["action"], s["result"], s["verified"]) for s in record["steps"]] == [
            ("scale-out", "Succeeded", True)
        ]
        load = cluster.get("anomalyrules", NAMESPACE, "fraud-load")["status"]
        assert load["state"] == "Normal" and load["series"][0]["value"] < PER_REPLICA_LIMIT

        assert [step.finished is not None for step in story.steps] == [True] * 4
        assert all(step.detection is not None and step.remediation is not None for step in story.steps[2:])
        # a quarter of the traffic got its label 5 s later (docs/feedback.md); most of it joined its prediction
        assert story.traffic.labels["joined"] >= 10 and story.traffic.labels["failed"] == 0, story.traffic.labels
    finally:
        story.stop_load()
        print("\n".join(lines))

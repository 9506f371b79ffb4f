"""RetrainPolicy on real parts: the Job runs `mlaiops train` as a process, the controller reads its
termination message, gates the candidate against the champion, promotes it, and the ModelDeployment that
follows the policy rolls the promoted model out; a schedule with concurrencyPolicy Replace deletes the running
Job of the run it replaces."""

from __future__ import annotations

import numpy as np
import pytest
from kubernetes import client
from mlaiops_sandbox.testing.fault_scenarios import retrain_policy as policy
from sklearn.datasets import make_classification

from tests.e2e.conftest import Cluster, wait_for

pytestmark = pytest.mark.integration


def dataset(rows: int, seed: int, noise: float) -> str:
    x, y = make_classification(n_samples=rows, n_features=6, n_informative=4, flip_y=noise, random_state=seed)
    region = np.where(x[:, 5] > 0, "north", "south")
    lines = ["amount,hour,merchant,age,distance,velocity,region,is_fraud"]
    lines += [",".join(f"{v:.4f}" for v in row) + f",{r},{label}" for row, r, label in zip(x, region, y, strict=True)]
    return "\n".join(lines) + "\n"


MODEL_DEPLOYMENT = {
    "apiVersion": "mlaiops.dev/v1alpha1",
    "kind": "ModelDeployment",
    "metadata": {"name": "fraud"},
    "spec": {
        "model": {"source": {"retrainPolicyRef": {"name": "fraud-retrain"}}},
        "replicas": 1,
        "rollout": {"strategy": "RollingUpdate"},
    },
}


def runs(cluster: Cluster, namespace: str) -> list[dict]:
    return cluster.get("retrainpolicies", namespace, "fraud-retrain").get("status", {}).get("runs", [])


def request(cluster: Cluster, namespace: str, reason: str) -> None:
    cluster.kubectl("annotate", "-n", namespace, "rtp/fraud-retrain", f"mlaiops.dev/retrain={reason}", "--overwrite")


def test_requested_run_trains_promotes_and_deploys(cluster: Cluster) -> None:
    ns = cluster.namespace("retrain-loop")
    data = cluster.sandbox.dir / "volumes" / ns / "fraud-data"
    data.mkdir(parents=True, exist_ok=True)
    (data / "transactions.csv").write_text(dataset(1500, seed=1, noise=0.02))
    cluster.apply(policy(minimum=0.7), ns)
    cluster.apply(MODEL_DEPLOYMENT, ns)
    waiting = wait_for(
        lambda: cluster.condition(cluster.get("modeldeployments", ns, "fraud"), "Ready"), what="md condition"
    )
    assert waiting["reason"] == "WaitingForModel"

    request(cluster, ns, "first-model")
    first = wait_for(
        lambda: (r := runs(cluster, ns)) and r[0]["phase"] == "Promoted" and r[0], timeout=90, what="run promoted"
    )
    assert first["trigger"] == "manual" and first["reason"] == "first-model"
    assert first["candidateMetrics"]["accuracy"] > 0.7 and first.get("championMetrics") is None
    assert first["modelSha256"] and first["datasetSha256"] and first["topFeatures"]
    promoted = cluster.get("retrainpolicies", ns, "fraud-retrain")["status"]["promoted"]
    assert promoted["version"] == first["id"] and promoted["uri"].endswith(f"/{first['id']}/model.joblib")
    # What the trainer measured is in status, not only in metrics.json.
    assert promoted["topFeatures"] == first["topFeatures"]
    assert set(first["fairness"]) == {"demographic_parity_difference", "equal_opportunity_difference"}
    assert promoted["fairness"] == first["fairness"]
    assert (cluster.sandbox.dir / "volumes" / ns / "fraud-models" / "fraud" / first["id"] / "model.joblib").exists()
    md = wait_for(
        lambda: (o := cluster.get("modeldeployments", ns, "fraud"))["status"].get("phase") == "Ready" and o,
        timeout=60,
        what="md Ready",
    )
    assert md["status"]["stableModel"]["version"] == first["id"]
    wait_for(
        lambda: (r := runs(cluster, ns)) and r[0].get("rolloutOutcome") == "Promoted", what="rollout outcome recorded"
    )

    # The same data and seed again give the same model: it cannot beat the champion by the required 0.05.
    patch = '{"spec":{"validation":{"minImprovement":{"absolute":0.05}}}}'
    cluster.kubectl("patch", "-n", ns, "rtp/fraud-retrain", "--type=merge", "-p", patch)
    request(cluster, ns, "no-better")
    second = wait_for(
        lambda: (
            (r := runs(cluster, ns))
            and r[0]["id"] != first["id"]
            and r[0]["phase"] in ("Rejected", "Promoted")
            and r[0]
        ),
        timeout=90,
        what="second run decided",
    )
    assert second["phase"] == "Rejected" and "is less than the required 0.05" in second["decision"]
    assert second["championMetrics"]["accuracy"] == pytest.approx(first["candidateMetrics"]["accuracy"])
    assert second["candidateMetrics"]["accuracy"] == pytest.approx(second["championMetrics"]["accuracy"])
    assert cluster.get("retrainpolicies", ns, "fraud-retrain")["status"]["promoted"]["version"] == first["id"]
    assert cluster.get("modeldeployments", ns, "fraud")["status"]["stableModel"]["version"] == first["id"]
    events = {
        e.reason
        for e in cluster.core.list_namespaced_event(ns, field_selector="involvedObject.name=fraud-retrain").items
    }
    assert {"RunStarted", "Promoted", "CandidateRejected"} <= events


def test_failing_job_is_reported_with_the_pods_message(cluster: Cluster) -> None:
    ns = cluster.namespace("retrain-fail")
    broken = policy(minimum=0.5)
    broken["spec"]["dataset"]["uri"] = "pvc://fraud-data/missing.csv"
    broken["spec"]["job"] = {"backoffLimit": 0}
    cluster.apply(broken, ns)
    request(cluster, ns, "try")
    failed = wait_for(
        lambda: (r := runs(cluster, ns)) and r[0]["phase"] == "Failed" and r[0], timeout=60, what="run failed"
    )
    assert "missing.csv" in failed["decision"]
    policy_now = wait_for(
        lambda: (
            (o := cluster.get("retrainpolicies", ns, "fraud-retrain")) and cluster.condition(o, "LastRunFailed") and o
        ),
        what="LastRunFailed",
    )
    status = policy_now["status"]
    assert status.get("promoted") is None and status["phase"] == "Failed"  # not Idle
    condition = cluster.condition(policy_now, "LastRunFailed")
    assert condition is not None and (condition["status"], condition["reason"]) == ("True", "RunFailed")
    assert condition["message"].startswith(f"run {failed['id']} failed: ") and "missing.csv" in condition["message"]


def prepare(cluster: Cluster, name: str) -> str:
    ns = cluster.namespace(name)
    data = cluster.sandbox.dir / "volumes" / ns / "fraud-data"
    data.mkdir(parents=True, exist_ok=True)
    (data / "transactions.csv").write_text(dataset(600, seed=2, noise=0.02))
    return ns


def test_schedule_of_seconds_starts_runs(cluster: Cluster) -> None:
    ns = prepare(cluster, "retrain-schedule")
    scheduled = policy(minimum=0.5)
    scheduled["spec"]["triggers"]["schedule"] = {"cron": "* * * * * */4"}  # every 4 seconds (sixth field: seconds)
    cluster.apply(scheduled, ns)
    run = wait_for(
        lambda: (r := runs(cluster, ns)) and r[-1]["trigger"] == "schedule" and r[-1],
        timeout=60,
        what="a scheduled run",
    )
    assert run["reason"].startswith("schedule * * * * * */4 (UTC)")
    status = cluster.get("retrainpolicies", ns, "fraud-retrain")["status"]
    assert status["lastScheduleTime"] and status["nextScheduleTime"] > status["lastScheduleTime"]
    cluster.kubectl("patch", "-n", ns, "rtp/fraud-retrain", "--type=merge", "-p", '{"spec":{"suspend":true}}')
    wait_for(
        lambda: cluster.get("retrainpolicies", ns, "fraud-retrain")["status"].get("phase") == "Suspended",
        what="suspended",
    )


def test_anomaly_firing_many_times_starts_exactly_one_run(cluster: Cluster) -> None:
    from mlaiops_sandbox.testing.exporters import knob_exporter

    from tests.e2e.test_anomalyrule import rule

    ns = prepare(cluster, "retrain-anomaly")
    knob = cluster.sandbox.dir / "volumes" / ns / "knob"
    knob.mkdir(parents=True, exist_ok=True)
    (knob / "value").write_text("10")
    cluster.apply(knob_exporter(), ns)
    firing_rule = rule(ns)
    firing_rule["spec"]["for"] = "0s"
    cluster.apply(firing_rule, ns)
    triggered = policy(minimum=0.5)
    triggered["spec"]["triggers"] = {
        "minInterval": "1h",
        "onAnomaly": {"rules": [{"name": "value-high"}], "consecutiveFirings": 1},
    }
    cluster.apply(triggered, ns)

    def ar_status() -> dict:
        return cluster.get("anomalyrules", ns, "value-high").get("status", {})

    wait_for(lambda: ar_status().get("state") == "Normal", timeout=60, what="rule Normal")
    wait_for(
        lambda: cluster.get("retrainpolicies", ns, "fraud-retrain").get("status", {}).get("firingsSeen") is not None,
        what="policy saw the rule",
    )
    for _ in range(3):  # fire, resolve, fire again...
        firings = ar_status().get("firings") or 0
        (knob / "value").write_text("100")
        wait_for(lambda f=firings: (ar_status().get("firings") or 0) > f, timeout=30, what="firing")
        (knob / "value").write_text("10")
        wait_for(lambda: ar_status().get("state") == "Normal", timeout=30, what="resolved")
    wait_for(
        lambda: any(
            e.reason == "RunSkipped"
            for e in cluster.core.list_namespaced_event(ns, field_selector="involvedObject.name=fraud-retrain").items
        ),
        what="later firings skipped",
    )
    started = [r for r in runs(cluster, ns) if r["trigger"] == "anomaly"]
    assert len(started) == 1 and "AnomalyRule value-high fired" in started[0]["reason"]


def test_operator_restart_during_a_job_picks_the_run_up(cluster: Cluster) -> None:
    ns = prepare(cluster, "retrain-restart")
    slow = policy(minimum=0.5)
    slow["spec"]["trainer"]["template"] = {
        "spec": {
            "containers": [
                {"name": "trainer", "image": "mlaiops:test", "command": ["sh", "-c", "sleep 6 && exec mlaiops train"]}
            ]
        }
    }
    cluster.apply(slow, ns)
    request(cluster, ns, "slow-run")
    run = wait_for(
        lambda: (r := runs(cluster, ns)) and r[0]["phase"] == "Running" and r[0], timeout=30, what="run running"
    )
    cluster.operator.restart(kill=True)
    done = wait_for(
        lambda: (r := runs(cluster, ns)) and r[0]["phase"] == "Promoted" and r[0],
        timeout=90,
        what="run finished after restart",
    )
    assert done["id"] == run["id"] and len(runs(cluster, ns)) == 1
    listed = cluster.kubectl("get", "jobs", "-n", ns, "-o", "name").stdout.split()
    assert listed == [f"job.batch/fraud-retrain-{run['id']}"]


def test_concurrency_policy_replace_deletes_the_running_job_of_the_replaced_run(cluster: Cluster) -> None:
    ns = prepare(cluster, "retrain-replace")
    replacing = policy(minimum=0.5)
    replacing["spec"]["triggers"]["schedule"] = {"cron": "* * * * * */6", "concurrencyPolicy": "Replace"}
    replacing["spec"]["trainer"]["template"] = {  # a run that outlasts the schedule's period
        "spec": {"containers": [{"name": "trainer", "image": "mlaiops:test", "command": ["sh", "-c", "sleep 300"]}]}
    }
    cluster.apply(replacing, ns)
    try:
        pods = lambda run: cluster.core.list_namespaced_pod(ns, label_selector=f"mlaiops.dev/run={run}").items  # noqa: E731
        first = wait_for(lambda: (r := runs(cluster, ns)) and pods(r[-1]["id"]) and r[-1], what="the first run's pod")
        replaced = wait_for(
            lambda: next(
                (r for r in runs(cluster, ns) if r["id"] == first["id"] and r["phase"] not in ("Pending", "Running")),
                None,
            ),
            timeout=30,
            what="the first run replaced",
        )
        assert (replaced["phase"], replaced["decision"]) == ("Failed", "Failed: replaced by a newer scheduled run")
        cluster.kubectl("patch", "-n", ns, "rtp/fraud-retrain", "--type=merge", "-p", '{"spec":{"suspend":true}}')
        wait_for(
            lambda: cluster.get("retrainpolicies", ns, "fraud-retrain")["status"].get("phase") == "Suspended",
            what="no more runs",
        )
        newest, *older = runs(cluster, ns)
        assert newest["trigger"] == "schedule" and newest["phase"] == "Running" and older[-1]["id"] == first["id"]
        assert {r["decision"] for r in older} == {"Failed: replaced by a newer scheduled run"}
        jobs = {job.metadata.name for job in client.BatchV1Api(cluster.api).list_namespaced_job(ns).items}
        assert jobs == {newest["job"]}  # the replaced runs' Jobs were deleted, the newest one runs
        wait_for(lambda: not pods(first["id"]), what="the replaced run's pod deleted with its Job")
    finally:
        cluster.kubectl("delete", "namespace", ns, "--wait=false", check=False)

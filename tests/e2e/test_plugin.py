"""`kubectl mlaiops` on the sandbox through the real kubectl binary: status tree, rollback, retrain,
approve, plot and incidents against objects the operator has given real status.

kubectl finds the plugin as `kubectl-mlaiops` on PATH: the console script next to the test's Python
when it is installed, else a two-line script that runs the same entry point.
"""

from __future__ import annotations

import base64
import json
import os
import re
import stat
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import joblib
import numpy as np
import pytest
from matplotlib import image
from mlaiops_sandbox.testing.exporters import knob_exporter
from sklearn.datasets import make_classification
from sklearn.dummy import DummyClassifier

from tests.e2e.conftest import Cluster, wait_for

pytestmark = pytest.mark.integration
NS = "plugin"

MODEL_DEPLOYMENT = {
    "apiVersion": "mlaiops.dev/v1alpha1",
    "kind": "ModelDeployment",
    "metadata": {"name": "fraud"},
    "spec": {
        "model": {"storageUri": "pvc://models/v1/model.joblib", "version": "v1"},
        "runtime": {"image": "registry.invalid/team/custom-server:1.0", "port": 9000},
        "replicas": 2,
    },
}

RULE = {
    "apiVersion": "mlaiops.dev/v1alpha1",
    "kind": "AnomalyRule",
    "metadata": {"name": "value-high"},
    "spec": {
        "query": f'demo_value{{namespace="{NS}"}}',
        "interval": "2s",
        "fitWindow": "5m",
        "detector": {"type": "threshold", "upper": 50, "direction": "up"},
        "for": "0s",
        "target": {"name": "fraud"},
    },
}

POLICY = {
    "apiVersion": "mlaiops.dev/v1alpha1",
    "kind": "RetrainPolicy",
    "metadata": {"name": "fraud-retrain"},
    "spec": {
        "modelDeploymentRef": {"name": "fraud"},
        "triggers": {"minInterval": "1s"},
        "dataset": {"uri": "pvc://fraud-data/transactions.csv", "target": "is_fraud"},
        "trainer": {"estimator": "LogisticRegression", "seed": 3},
        "output": {"uri": "pvc://models/retrained"},
        "promotion": {"mode": "manual"},
    },
}

PLAYBOOK = {
    "apiVersion": "mlaiops.dev/v1alpha1",
    "kind": "RemediationPlaybook",
    "metadata": {"name": "scale-out"},
    "spec": {
        "triggers": [{"rules": [{"name": "value-high"}]}],
        "actions": [{"name": "add-one", "type": "scale", "scale": {"delta": 1, "max": 3}, "verify": {"within": "30s"}}],
        "guardrails": {"cooldown": "1s"},
    },
}


def publish_data(cluster: Cluster) -> None:
    """A small table for the trainer, and a weak champion (always the majority class) to beat."""
    x, y = make_classification(n_samples=600, n_features=4, n_informative=3, n_redundant=0, random_state=1)
    data = cluster.sandbox.dir / "volumes" / NS / "fraud-data"
    data.mkdir(parents=True, exist_ok=True)
    rows = ["a,b,c,d,is_fraud"] + [
        ",".join(f"{v:.4f}" for v in row) + f",{label}" for row, label in zip(x, y, strict=True)
    ]
    (data / "transactions.csv").write_text("\n".join(rows) + "\n")
    champion = cluster.sandbox.dir / "volumes" / NS / "models" / "v1"
    champion.mkdir(parents=True, exist_ok=True)
    joblib.dump(DummyClassifier(strategy="most_frequent").fit(x, y), champion / "model.joblib")


@pytest.fixture(scope="module")
def plugin_bin(tmp_path_factory: pytest.TempPathFactory) -> Path:
    installed = Path(sys.executable).parent / "kubectl-mlaiops"
    if installed.exists():
        return installed.parent
    folder = tmp_path_factory.mktemp("bin")
    script = folder / "kubectl-mlaiops"
    script.write_text(f"#!{sys.executable}\nimport sys\nfrom mlaiops.plugin.cli import main\nsys.exit(main())\n")
    script.chmod(script.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return folder


@pytest.fixture(scope="module")
def setup(cluster: Cluster) -> Iterator[Path]:
    cluster.namespace(NS)
    knob = cluster.sandbox.dir / "volumes" / NS / "knob"
    knob.mkdir(parents=True, exist_ok=True)
    (knob / "value").write_text("10")
    publish_data(cluster)
    for manifest in (MODEL_DEPLOYMENT, knob_exporter(), RULE, POLICY, PLAYBOOK):
        cluster.apply(manifest, NS)
    wait_for(lambda: cluster.get("modeldeployments", NS, "fraud")["status"].get("phase") == "Ready", what="md Ready")
    wait_for(
        lambda: (
            (s := cluster.get("anomalyrules", NS, "value-high").get("status", {})).get("state") == "Normal"
            and s.get("series")
        ),
        what="rule Normal with data",
    )
    yield knob / "value"


@pytest.fixture(scope="module")
def fired(cluster: Cluster, setup: Path) -> dict:
    """The rule fires, the playbook scales the ModelDeployment, the value drops back: one verified execution."""

    def executions() -> list[dict]:
        return cluster.get("remediationplaybooks", NS, "scale-out").get("status", {}).get("executions") or []

    def evaluations() -> int:
        return cluster.get("anomalyrules", NS, "value-high").get("status", {}).get("evaluations") or 0

    setup.write_text("100")
    wait_for(
        lambda: (e := executions()) and e[0].get("steps") and e[0]["steps"][-1]["result"] != "Running",
        what="the playbook's step done",
    )
    seen = evaluations()
    wait_for(lambda: evaluations() >= seen + 2, what="two more evaluations of the anomaly")
    setup.write_text("10")
    done = wait_for(
        lambda: (e := executions()) and e[0]["state"] in ("Succeeded", "Failed") and e[0], what="execution finished"
    )
    wait_for(
        lambda: cluster.get("anomalyrules", NS, "value-high").get("status", {}).get("state") == "Normal",
        what="rule resolved",
    )
    return done


def mlaiops(cluster: Cluster, plugin_bin: Path, *args: str, direct: bool = False) -> subprocess.CompletedProcess[str]:
    """`kubectl mlaiops ARGS` (KUBECONFIG from the environment), or `kubectl-mlaiops ARGS --kubeconfig ...`."""
    env = {
        **os.environ,
        "PATH": f"{plugin_bin}{os.pathsep}{os.environ.get('PATH', '')}",
        "KUBECONFIG": cluster.kubeconfig,
        "MLAIOPS_PROMETHEUS_URL": cluster.prometheus_url or "",
    }
    command = (
        ["kubectl-mlaiops", *args, "--kubeconfig", cluster.kubeconfig] if direct else ["kubectl", "mlaiops", *args]
    )
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)


def annotations(cluster: Cluster, plural: str, name: str) -> dict[str, str]:
    return cluster.get(plural, NS, name)["metadata"].get("annotations") or {}


def test_status_tree_shows_the_deployment_with_its_rule_and_policy(
    cluster: Cluster, setup: Path, plugin_bin: Path
) -> None:
    result = mlaiops(cluster, plugin_bin, "status", "-n", NS)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == f"ModelDeployment {NS}/fraud  ✔ Ready"
    assert "├── Model:     stable v1" in lines and "├── Replicas:  2/2 ready" in lines
    assert any(
        re.match(r"├── AnomalyRule value-high  ✔ Normal  0 firing, \d+ firings, \d+ evaluations", ln) for ln in lines
    )
    assert any(re.match(r"[├└]── RetrainPolicy fraud-retrain  ✔ Idle  promoted ", ln) for ln in lines)
    assert "\033[" not in result.stdout  # not a TTY: no colour

    direct = mlaiops(cluster, plugin_bin, "status", "md/fraud", "-n", NS, "-o", "json", direct=True)
    assert direct.returncode == 0, direct.stderr
    item = json.loads(direct.stdout)["modelDeployments"][0]
    assert (item["name"], item["phase"], item["ready"], item["stable"]) == ("fraud", "Ready", "2/2", "v1")
    assert [r["name"] for r in item["anomalyRules"]] == ["value-high"]
    assert [p["name"] for p in item["retrainPolicies"]] == ["fraud-retrain"]

    everywhere = mlaiops(cluster, plugin_bin, "status", "-A")
    assert everywhere.returncode == 0 and f"ModelDeployment {NS}/fraud" in everywhere.stdout


def test_rollback_sets_the_annotation_and_the_operator_takes_it(
    cluster: Cluster, setup: Path, plugin_bin: Path
) -> None:
    result = mlaiops(cluster, plugin_bin, "rollback", "md/fraud", "--reason", "e2e-check", "-n", NS)
    assert result.returncode == 0, result.stderr
    value = annotations(cluster, "modeldeployments", "fraud")["mlaiops.dev/rollback"]
    assert re.fullmatch(r"e2e-check@\d{8}T\d{6}Z", value) and value in result.stdout
    wait_for(
        lambda: cluster.get("modeldeployments", NS, "fraud")["status"].get("rollbackRequest") == value,
        what="status.rollbackRequest",
    )

    def reasons() -> set[str]:
        events = cluster.core.list_namespaced_event(NS, field_selector="involvedObject.name=fraud").items
        return {e.reason for e in events}

    # v1 is the only version there has been. kopf posts Events from a queue, after the status patch: wait.
    wait_for(lambda: "RollbackImpossible" in reasons(), what="a RollbackImpossible Event")
    assert f"├── Rollback:  {value} (taken)" in mlaiops(cluster, plugin_bin, "status", "-n", NS).stdout

    wrong = mlaiops(cluster, plugin_bin, "rollback", "ar/value-high", "-n", NS)
    assert wrong.returncode == 1 and "expected NAME or TYPE/NAME with TYPE one of md" in wrong.stderr
    missing = mlaiops(cluster, plugin_bin, "rollback", "nope", "-n", NS)  # a bare name
    assert missing.returncode == 1 and "ModelDeployment 'nope' not found in namespace 'plugin'" in missing.stderr


def test_retrain_starts_a_run_and_approve_promotes_it(cluster: Cluster, setup: Path, plugin_bin: Path) -> None:
    result = mlaiops(cluster, plugin_bin, "retrain", "fraud-retrain", "--reason", "e2e", "-n", NS)  # a bare name
    assert result.returncode == 0, result.stderr
    value = annotations(cluster, "retrainpolicies", "fraud-retrain")["mlaiops.dev/retrain"]
    assert re.fullmatch(r"e2e@\d{8}T\d{6}Z", value)

    def run() -> dict:
        runs = cluster.get("retrainpolicies", NS, "fraud-retrain").get("status", {}).get("runs") or []
        assert not runs or runs[0]["phase"] != "Failed", runs[0].get("decision")
        return runs[0] if runs else {}

    waiting = wait_for(lambda: run().get("phase") == "AwaitingApproval" and run(), timeout=60, what="run passed")
    assert (waiting["trigger"], waiting["reason"]) == ("manual", value)

    unknown = mlaiops(cluster, plugin_bin, "approve", "r-unknown", "-n", NS)
    assert unknown.returncode == 1
    assert "no RemediationPlaybook execution or RetrainPolicy run with id 'r-unknown'" in unknown.stderr

    approved = mlaiops(cluster, plugin_bin, "approve", waiting["id"], "-n", NS)
    assert approved.returncode == 0, approved.stderr
    assert f"approved run {waiting['id']} of RetrainPolicy/fraud-retrain in {NS}" in approved.stdout
    assert annotations(cluster, "retrainpolicies", "fraud-retrain")["mlaiops.dev/approve"] == waiting["id"]
    wait_for(lambda: run().get("phase") == "Promoted", what="run promoted after approval")

    again = mlaiops(cluster, plugin_bin, "approve", waiting["id"], "-n", NS)
    assert again.returncode == 1 and f"run {waiting['id']} of rtp/fraud-retrain is Promoted" in again.stderr


def test_plot_draws_the_rule_with_its_anomalies_and_the_actions(
    cluster: Cluster, fired: dict, plugin_bin: Path, tmp_path: Path
) -> None:
    output = tmp_path / "rule.png"
    result = mlaiops(cluster, plugin_bin, "plot", "ar/value-high", "-n", NS, "-o", str(output), "--since", "5m")
    assert result.returncode == 0, result.stderr
    found = re.search(r"1 series \(band: (\w+)\), (\d+) anomalous points, (\d+) actions", result.stdout)
    assert found, result.stdout
    assert found.group(1) in ("operator", "replay") and int(found.group(2)) >= 1 and int(found.group(3)) >= 3
    pixels = image.imread(output)
    assert pixels.shape[:2] == (400, 1000) and float(np.std(pixels[..., :3])) > 0.05

    no_url = subprocess.run(
        ["kubectl", "mlaiops", "plot", "ar/value-high", "-n", NS, "-o", str(output)],
        env={
            **{k: v for k, v in os.environ.items() if k != "MLAIOPS_PROMETHEUS_URL"},
            "PATH": f"{plugin_bin}{os.pathsep}{os.environ.get('PATH', '')}",
            "KUBECONFIG": cluster.kubeconfig,
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert no_url.returncode == 1 and "no Prometheus URL" in no_url.stderr


def test_incidents_list_and_describe_the_remediated_incident(cluster: Cluster, fired: dict, plugin_bin: Path) -> None:
    assert fired["state"] == "Succeeded" and fired.get("incident"), fired
    name = fired["incident"]
    listed = mlaiops(cluster, plugin_bin, "incidents", "-n", NS)
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert lines[0].split() == ["NAME", "STATE", "TARGET", "TRIGGER", "STEPS", "AGE"]
    row = next(line.split() for line in lines[1:] if line.startswith(name))
    assert row[2:5] == ["ModelDeployment/fraud", f"{NS}/value-high", "1"]

    described = mlaiops(cluster, plugin_bin, "incidents", "describe", name, "-n", NS)
    assert described.returncode == 0, described.stderr
    text = described.stdout
    assert f"Name:       {name}" in text and "Playbook:   scale-out" in text
    timeline = text[text.index("Timeline:") :]
    for reason in ("AnomalyFiring", "step add-one Succeeded", "AnomalyResolved"):
        assert reason in timeline, text
    assert timeline.index("AnomalyFiring") < timeline.index("step add-one Succeeded")
    bare = mlaiops(cluster, plugin_bin, "incidents", name, "-n", NS)  # what users type first
    assert bare.returncode == 0 and f"Name:       {name}" in bare.stdout, bare.stderr

    tree = mlaiops(cluster, plugin_bin, "status", "md/fraud", "-n", NS).stdout
    assert f"Incident {name}  " in tree
    assert re.search(r"RemediationPlaybook scale-out  \S+ \w+  1 executions, 1 verified", tree), tree
    assert re.search(rf"last execution {fired['id']}  ✔ Succeeded", tree), tree

    missing = mlaiops(cluster, plugin_bin, "incidents", "describe", "nope", "-n", NS)
    assert missing.returncode == 1 and f"incident 'nope' not found in namespace '{NS}'" in missing.stderr


def test_report_of_the_namespace_embeds_the_rule_chart_and_the_timeline(
    cluster: Cluster, fired: dict, tmp_path: Path
) -> None:
    from mlaiops.report import TimelineEntry, write_report

    started = datetime.now(UTC) - timedelta(minutes=2)
    page = write_report(
        tmp_path / "report",
        [TimelineEntry(started, "story", "the test began")],
        cluster.prometheus_url,
        kubeconfig=cluster.kubeconfig,
        namespace=NS,
    )
    text = page.read_text()
    charts = sorted((tmp_path / "report").glob("*.png"))
    assert charts[0].name == "01-anomalyrule-value-high-demo-value-namespace-plugin.png"
    assert base64.b64encode(charts[0].read_bytes()).decode() in text
    assert image.imread(charts[0]).shape[:2] == (400, 1000)
    for expected in ("the test began", "AnomalyFiring", "AnomalyResolved", "ExecutionStarted", "step add-one"):
        assert expected in text, expected
    assert "not plotted" not in text.split("fraud: p90")[0]  # the rule's chart has data

"""Drift on named features against the training reference, on real parts: a model trained the way
`mlaiops train` trains it, its profile.json beside it on a claim, the sandbox's model server counting
live rows over the profile's bins, real Prometheus scraping them, and the operator's drift rule.

A change of spread that keeps the mean fires the rule (a detector on the feature's running mean cannot
see it); a stationary replay of the same length fires nothing; a model served without a profile is an
Error saying so.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import joblib
import numpy as np
import pytest
from matplotlib import image

from mlaiops.plugin.cluster import connect
from mlaiops.plugin.plot import plot_drift
from mlaiops.runtime.training import Table, train
from tests.e2e.conftest import Cluster, wait_for

pytestmark = pytest.mark.integration
FEATURES = ["amount", "merchant_risk", "account_age"]
PHASE_SECONDS = 30.0


def write_model(folder: Path, with_profile: bool = True) -> None:
    rng = np.random.default_rng(4)
    n = 3000
    columns = {
        "amount": rng.lognormal(3, 0.5, n),
        "merchant_risk": rng.normal(0, 1, n),
        "account_age": rng.uniform(0, 10, n),
    }
    columns["is_fraud"] = (columns["merchant_risk"] + 0.5 * rng.normal(size=n) > 1).astype(float)
    result = train(Table(columns), target="is_fraud", estimator="LogisticRegression", features=FEATURES)
    folder.mkdir(parents=True, exist_ok=True)
    joblib.dump(result.model, folder / "model.joblib")
    if with_profile:
        assert result.profile is not None
        (folder / "profile.json").write_text(result.profile.to_json())


def deployment(name: str, uri: str) -> dict:
    return {
        "apiVersion": "mlaiops.dev/v1alpha1",
        "kind": "ModelDeployment",
        "metadata": {"name": name},
        "spec": {"model": {"storageUri": uri, "version": "v1"}, "replicas": 1},
    }


def drift_rule(name: str, model: str, namespace: str) -> dict:
    return {
        "apiVersion": "mlaiops.dev/v1alpha1",
        "kind": "AnomalyRule",
        "metadata": {"name": name, "labels": {"mlaiops.dev/signal": "drift"}},
        "spec": {
            "drift": {
                "model": model,
                "track": "stable",
                "selector": f'namespace="{namespace}"',
                "method": "psi",
                "features": ["merchant_risk"],
                "window": "20s",
                "minSamples": 500,
            },
            "interval": "2s",
            "for": "4s",
            "severity": "warning",
        },
    }


def mean_rule(namespace: str) -> dict:
    """Today's demo rule: a MAD detector on the running mean of the feature (blind to a change of spread)."""
    selector = f'namespace="{namespace}", model="fraud", feature="merchant_risk"'
    return {
        "apiVersion": "mlaiops.dev/v1alpha1",
        "kind": "AnomalyRule",
        "metadata": {"name": "fraud-mean", "labels": {"mlaiops.dev/signal": "drift"}},
        "spec": {
            "query": f"sum(delta(mlaiops_model_input_feature_sum{{{selector}}}[20s])) / "
            f"sum(delta(mlaiops_model_input_feature_count{{{selector}}}[20s]))",
            "interval": "2s",
            "fitWindow": "5m",
            "detector": {"type": "mad", "window": "1m", "minDeviation": {"absolute": 0.5}},
            "for": "4s",
        },
    }


class Traffic:
    """V2 requests of 40 named rows, about ten a second, in a thread; ``spread`` scales merchant_risk."""

    def __init__(self, endpoint: str, model: str) -> None:
        self.url = f"{endpoint}/v2/models/{model}/infer"
        self.spread = 1.0
        self.rows = 0
        self._stop = threading.Event()
        self._rng = np.random.default_rng(21)
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            rows = 40
            data = {
                "amount": self._rng.lognormal(3, 0.5, rows),
                "merchant_risk": self._rng.normal(0, self.spread, rows),  # mean 0 whatever the spread
                "account_age": self._rng.uniform(0, 10, rows),
            }
            body = {
                "inputs": [
                    {"name": name, "shape": [rows, 1], "datatype": "FP64", "data": data[name].tolist()}
                    for name in FEATURES
                ]
            }
            request = urllib.request.Request(
                self.url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
            )
            try:
                with urllib.request.urlopen(request, timeout=5) as response:
                    response.read()
                self.rows += rows
            except OSError:
                pass
            self._stop.wait(0.1)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)


def endpoint_of(cluster: Cluster, namespace: str, name: str) -> str:
    def ready() -> str | None:
        md = cluster.get("modeldeployments", namespace, name)
        if (md.get("status") or {}).get("phase") != "Ready":
            return None
        service = cluster.core.read_namespaced_service(name, namespace)
        return (service.metadata.annotations or {}).get("sandbox.mlaiops.dev/endpoint")

    return wait_for(ready, timeout=90, what=f"{name} Ready")


def rule_status(cluster: Cluster, namespace: str, name: str) -> dict:
    return cluster.get("anomalyrules", namespace, name).get("status") or {}


@pytest.fixture(scope="module")
def served(cluster: Cluster) -> Iterator[tuple[str, Traffic]]:
    namespace = cluster.namespace("drift")
    write_model(cluster.sandbox.dir / "volumes" / namespace / "models" / "v1")
    cluster.apply(deployment("fraud", "pvc://models/v1/model.joblib"), namespace)
    endpoint = endpoint_of(cluster, namespace, "fraud")
    cluster.apply(drift_rule("fraud-drift", "fraud", namespace), namespace)
    cluster.apply(mean_rule(namespace), namespace)
    # Before any traffic the window has no rows: NoData, naming minSamples, never a firing.
    # (Until Prometheus has scraped the server's reference the query itself is empty: NoData too.)
    quiet = wait_for(
        lambda: (
            (s := rule_status(cluster, namespace, "fraud-drift")).get("state") == "NoData"
            and "minSamples" in s.get("message", "")
            and s
        ),
        timeout=60,
        what="NoData naming minSamples before traffic",
    )
    assert "minSamples 500" in quiet["message"], quiet
    traffic = Traffic(endpoint, "fraud")
    yield namespace, traffic
    traffic.stop()
    cluster.kubectl("delete", "namespace", namespace, "--wait=false")


def watch(cluster: Cluster, namespace: str, seconds: float) -> tuple[set[str], list[float]]:
    """States and merchant_risk scores the rule shows over ``seconds``."""
    states: set[str] = set()
    scores: list[float] = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        status = rule_status(cluster, namespace, "fraud-drift")
        states.add(status.get("state") or "")
        scores += [s["value"] for s in status.get("series") or [] if s.get("value") is not None]
        time.sleep(0.5)
    return states, scores


def test_a_stationary_replay_fires_nothing_and_a_change_of_spread_fires(
    cluster: Cluster, served: tuple[str, Traffic], tmp_path: Path
) -> None:
    namespace, traffic = served
    wait_for(
        lambda: rule_status(cluster, namespace, "fraud-drift").get("state") == "Normal",
        timeout=60,
        what="Normal once the window has rows",
    )
    states, stationary = watch(cluster, namespace, PHASE_SECONDS)
    assert states <= {"Normal", "NoData"} and "Normal" in states, states
    assert stationary and max(stationary) < 0.1, stationary  # PSI well under the 0.25 threshold
    normal = rule_status(cluster, namespace, "fraud-drift")
    (series,) = normal["series"]
    assert series["labels"] == {"track": "stable", "version": "v1", "feature": "merchant_risk"}
    firings = normal.get("firings") or 0

    traffic.spread = 2.0  # same mean, twice the spread
    started = time.monotonic()
    fired = wait_for(
        lambda: (s := rule_status(cluster, namespace, "fraud-drift")).get("state") == "Firing" and s,
        timeout=PHASE_SECONDS + 30,
        interval=0.5,
        what="the drift rule Firing",
    )
    assert time.monotonic() - started < PHASE_SECONDS + 30
    (series,) = fired["series"]
    assert series["state"] == "Firing" and series["value"] >= 0.25 and series["score"] > 1
    assert fired["firings"] == firings + 1
    reasons = [
        e.reason
        for e in cluster.core.list_namespaced_event(namespace, field_selector="involvedObject.name=fraud-drift").items
    ]
    assert "AnomalyFiring" in reasons
    mean = rule_status(cluster, namespace, "fraud-mean")
    assert mean.get("state") == "Normal" and mean.get("series") and not mean.get("firings"), mean  # blind to spread
    exported = cluster.operator.metric("mlaiops_drift_score")
    mine = [v for k, v in exported.items() if f'namespace="{namespace}"' in k and 'feature="merchant_risk"' in k]
    assert mine and max(mine) >= 0.25, exported

    # kubectl mlaiops plot --feature: the live histogram against the reference, with the rule's score
    drawn = plot_drift(
        connect(cluster.kubeconfig, namespace=namespace),
        "fraud-drift",
        "merchant_risk",
        tmp_path / "h.png",
        cluster.prometheus_url,
    )
    assert drawn.series == 1 and drawn.anomalous_points == 1, drawn
    assert image.imread(drawn.path).shape[:2] == (320, 1000)


def test_a_model_served_without_a_profile_is_an_error_saying_so(cluster: Cluster) -> None:
    namespace = cluster.namespace("drift-noprofile")
    write_model(cluster.sandbox.dir / "volumes" / namespace / "models" / "v1", with_profile=False)
    cluster.apply(deployment("plain", "pvc://models/v1/model.joblib"), namespace)
    endpoint_of(cluster, namespace, "plain")
    cluster.apply(drift_rule("plain-drift", "plain", namespace), namespace)

    def errored() -> dict | None:
        rule = cluster.get("anomalyrules", namespace, "plain-drift")
        ready = cluster.condition(rule, "Ready") or {}
        return rule if ready.get("reason") == "NoProfile" else None

    rule = wait_for(errored, timeout=60, what="Ready=False NoProfile")
    ready = cluster.condition(rule, "Ready") or {}
    assert ready["status"] == "False" and "serves no reference profile" in ready["message"], ready
    assert rule["status"]["state"] == "Error"
    cluster.kubectl("delete", "namespace", namespace, "--wait=false")

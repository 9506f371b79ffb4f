"""The objects the demo applies: the team's GitOps folder (examples/), with intervals of seconds.

The examples are tuned for production (rules every 15 s to 1 min over hours of history); the demo
plays the same story in minutes, so its rules evaluate every 2 s over the history it has.
"""

from __future__ import annotations

from typing import Any

from mlaiops_demo.data import DRIFTING

NAMESPACE = "fraud-detection"
MODEL = "fraud-detector"
SELECTOR = f'namespace="{NAMESPACE}", model="{MODEL}"'
PER_REPLICA_LIMIT = 10.0
"""Requests per second one replica is sized for (the team's capacity plan): above it, scale out."""

LABEL_METRIC = "accuracy-vs-stable"
"""The canary analysis metric on delayed labels (docs/feedback.md): shown in the demo, not deciding."""
LABEL_MIN_SAMPLES = 5
"""Joined labels each track needs before the label metric compares accuracies; fewer is Inconclusive."""
LABEL_TTL = 30
"""Seconds a prediction waits for its label in the model server (MLAIOPS_FEEDBACK_TTL, default an hour)."""
CANARY_PAUSE = "20s"
"""The canary step's pause: the labels of its first 15 s of predictions arrive before it ends."""

JSON = dict[str, Any]


def _meta(name: str, **labels: str) -> JSON:
    return {"name": name, "namespace": NAMESPACE, **({"labels": labels} if labels else {})}


def retrain_policy() -> JSON:
    """Trains on whatever the data pipeline last wrote to the claim; promotes only a better model."""
    return {
        "apiVersion": "mlaiops.dev/v1alpha1",
        "kind": "RetrainPolicy",
        "metadata": _meta("fraud-retrain"),
        "spec": {
            "modelDeploymentRef": {"name": MODEL},
            "triggers": {"minInterval": "10s"},
            "dataset": {"uri": "pvc://fraud-data/transactions.csv", "target": "is_fraud"},
            "trainer": {"estimator": "HistGradientBoostingClassifier", "params": {"max_iter": 60}, "seed": 7},
            "output": {"uri": "pvc://fraud-models/fraud-detector"},
            "validation": {
                "metric": "roc_auc",
                "minimum": 0.8,
                "minImprovement": {"absolute": 0.02},
                "fairness": {"sensitiveAttribute": "region", "maxDemographicParityDifference": 0.1},
            },
        },
    }


def model_deployment() -> JSON:
    """Two replicas; a canary takes half the traffic and may spend at most 30 ms of CPU per request.

    CPU seconds per request, not wall-clock latency: on a shared two-core machine a fresh canary
    process waits for the CPU for many seconds, while the CPU a prediction costs does not depend on
    who else runs. A slow model fails every check (each of its predictions costs about 80 ms); a
    fresh process fails only while its model load is in the 6 s window, which ``failureLimit`` allows.

    The canary is also judged on delayed labels (``accuracy-vs-stable``), in dry run: recorded in
    status.analysis, never deciding. A quarter of its ~5 requests/s is labelled 5 s later and about half
    of those labels reach its pod through the Service (the others land on stable's, counted
    ``other-server``): from its 5th second a canary gains under a joined label a second, 10-20 by the end
    of a 20 s step (measured 10 and 16). A test on so few can only catch a model that is nearly always wrong;
    deciding on it would either pass on no evidence or hold the step for minutes of labels. In production
    the same metric decides, with pauses of hours and minSampleSize 200. The server keeps a prediction
    LABEL_TTL seconds for its label (the labels come after 5 s), not an hour.
    """
    cpu = (
        'sum(rate(process_cpu_seconds_total{namespace="{{namespace}}", '
        'mlaiops_dev_model_deployment="{{name}}", mlaiops_dev_track="{{track}}"}[6s]))'
        ' / sum(rate(mlaiops_model_requests_total{namespace="{{namespace}}", model="{{model}}", track="{{track}}"}[6s]))'
    )
    return {
        "apiVersion": "mlaiops.dev/v1alpha1",
        "kind": "ModelDeployment",
        "metadata": _meta(MODEL),
        "spec": {
            "model": {"source": {"retrainPolicyRef": {"name": "fraud-retrain"}}},
            "replicas": 2,
            "runtime": {"env": [{"name": "MLAIOPS_FEEDBACK_TTL", "value": str(LABEL_TTL)}]},
            "rollout": {"strategy": "Canary", "canary": {"steps": [{"weight": 50, "pause": CANARY_PAUSE}]}},
            "analysis": {
                "interval": "2s",
                "failureLimit": 6,
                "metrics": [
                    {"name": "request-success-rate", "thresholdRange": {"min": 0.99}},
                    {
                        "name": "cpu-per-request",
                        "query": cpu,
                        "thresholdRange": {"max": 0.03},
                        "onNoData": "inconclusive",
                    },
                    {"name": LABEL_METRIC, "minSampleSize": LABEL_MIN_SAMPLES, "dryRun": True},
                ],
            },
        },
    }


DRIFT_WINDOW = "40s"
"""The live window compared with the training reference: about 400 rows at the demo's steady 10-12 requests/s."""
DRIFT_MIN_SAMPLES = 300
"""Fewer rows is NoData. With 10 bins, a stationary window of n rows scores a PSI of about 9/n (chi-square
noise): 0.03 at 300 rows, one window in 2,000 near 0.13, under the 0.25 at which a feature has drifted."""


def drift_rule() -> JSON:
    """Fires when merchant risk in production no longer looks like the training data (PSI at 0.25 or above).

    The trainer writes the reference profile (quantile bins of each named feature) beside the model; the
    server counts live rows over those bins and exports the reference with them, so the rule needs only
    Prometheus. Stable track only: a canary has its own analysis, and half the traffic during one.
    """
    return {
        "apiVersion": "mlaiops.dev/v1alpha1",
        "kind": "AnomalyRule",
        "metadata": _meta("fraud-input-drift", **{"mlaiops.dev/signal": "drift"}),
        "spec": {
            "drift": {
                "model": MODEL,
                "track": "stable",
                "selector": f'namespace="{NAMESPACE}"',
                "method": "psi",
                "features": [DRIFTING],
                "window": DRIFT_WINDOW,
                "minSamples": DRIFT_MIN_SAMPLES,
            },
            "interval": "2s",
            "for": "6s",
            "severity": "warning",
            "target": {"kind": "ModelDeployment", "name": MODEL},
        },
    }


LOAD_WINDOW_SECONDS = 10
"""The load rule's rate window: the busiest replica's requests per second over the last 10 s."""


def load_query() -> str:
    """Requests per second of the busiest replica over the last ``LOAD_WINDOW_SECONDS``."""
    return f"max(sum by (pod) (rate(mlaiops_model_requests_total{{{SELECTOR}}}[{LOAD_WINDOW_SECONDS}s])))"


def load_rule() -> JSON:
    """Fires when the busiest replica serves more than it is sized for."""
    return {
        "apiVersion": "mlaiops.dev/v1alpha1",
        "kind": "AnomalyRule",
        "metadata": _meta("fraud-load", **{"mlaiops.dev/signal": "saturation"}),
        "spec": {
            "query": load_query(),
            "interval": "2s",
            "fitWindow": "1m",
            "detector": {"type": "threshold", "direction": "up", "upper": PER_REPLICA_LIMIT},
            "for": "4s",
            "keepFiringFor": "6s",  # a scrape that times out under load must not look like a fix
            "severity": "critical",
            "target": {"kind": "ModelDeployment", "name": MODEL},
        },
    }


def drift_playbook() -> JSON:
    """Drift: retrain on fresh data (the RetrainPolicy's gate and the canary decide what ships)."""
    return {
        "apiVersion": "mlaiops.dev/v1alpha1",
        "kind": "RemediationPlaybook",
        "metadata": _meta("fraud-drift"),
        "spec": {
            "triggers": [{"source": "AnomalyRule", "rules": [{"name": "fraud-input-drift"}]}],
            "actions": [
                {
                    "name": "retrain",
                    "type": "retrain",
                    "retrain": {"policyRef": {"name": "fraud-retrain"}},
                    "verify": {"within": "5m"},
                }
            ],
            "guardrails": {"cooldown": "10m", "maxExecutions": 2, "window": "1h"},
        },
    }


def load_playbook() -> JSON:
    """Saturation: scale out by 4 replicas (at most 8), verified when the busiest replica is back under its limit."""
    return {
        "apiVersion": "mlaiops.dev/v1alpha1",
        "kind": "RemediationPlaybook",
        "metadata": _meta("fraud-load"),
        "spec": {
            "triggers": [{"source": "AnomalyRule", "selector": {"matchLabels": {"mlaiops.dev/signal": "saturation"}}}],
            "target": {"kind": "ModelDeployment", "name": MODEL},
            "actions": [
                {
                    "name": "scale-out",
                    "type": "scale",
                    "scale": {"delta": 4, "min": 2, "max": 8},
                    "verify": {"within": "90s"},
                }
            ],
            "guardrails": {"cooldown": "2m", "maxExecutions": 3, "window": "1h", "minHealthy": 1},
        },
    }

"""Project-image pods that export metrics for a real Prometheus to scrape.

The "knob" exporter publishes one gauge whose value is the number in a file of a PVC's sandbox
folder: a test, a benchmark or a fault scenario turns the knob by writing that file.
"""

from __future__ import annotations

from typing import Any

KNOB_EXPORTER = """
import os, time
from prometheus_client import Gauge, start_http_server
path = os.environ["VALUE_FILE"]
gauge = Gauge(os.environ["METRIC"], "a value the harness sets through a file")
gauge.set_function(lambda: float(open(path).read()))
start_http_server(int(os.environ["PORT"]))
while True:
    time.sleep(3600)
"""


def exporter(
    name: str, script: str, env: dict[str, str], image: str = "mlaiops:test", claim: str | None = None
) -> dict[str, Any]:
    """A Deployment of one project-image pod running ``script``, scraped by Prometheus on port 8000;
    with ``claim``, the sandbox folder of that PVC is mounted at ``/<claim>``."""
    labels = {"app.kubernetes.io/name": name}
    container: dict[str, Any] = {
        "name": name,
        "image": image,
        "command": ["python", "-c", script],
        "env": [{"name": k, "value": v} for k, v in {"PORT": "8000", **env}.items()],
        "ports": [{"containerPort": 8000, "name": "metrics"}],
    }
    pod: dict[str, Any] = {"containers": [container]}
    if claim:
        container["volumeMounts"] = [{"name": claim, "mountPath": f"/{claim}"}]
        pod["volumes"] = [{"name": claim, "persistentVolumeClaim": {"claimName": claim}}]
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {
                    "labels": labels,
                    "annotations": {"prometheus.io/scrape": "true", "prometheus.io/port": "8000"},
                },
                "spec": pod,
            },
        },
    }


def knob_exporter(
    metric: str = "demo_value", name: str = "exporter", image: str = "mlaiops:test", claim: str = "knob"
) -> dict[str, Any]:
    """Exports ``metric``: the number in the file ``value`` of the namespace's PVC ``claim``."""
    return exporter(name, KNOB_EXPORTER, {"VALUE_FILE": f"/{claim}/value", "METRIC": metric}, image, claim)

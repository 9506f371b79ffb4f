"""What the scale benchmarks share: a sandbox cluster with the CRDs, the operator as a real process,
and readings of the sandbox's request audit and the operator's memory.

The benchmarks run the operator exactly as the e2e suite does (``python -m mlaiops run``, a
subprocess with the sandbox kubeconfig), so the numbers include kopf, the kubernetes client and
real HTTP. Images other than the project's own are simulated by the sandbox runtime (Running and
Ready at once), so a thousand model servers cost no thousand processes.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from mlaiops.sandbox.cluster import Sandbox
from mlaiops.sandbox.runtime import RuntimeConfig

ROOT = Path(__file__).resolve().parents[1]
BENCH_AGENT = "mlaiops-benchmark"
SIMULATED_IMAGE = "example.invalid/model-server:1"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def sandbox(directory: Path, prometheus: bool = True) -> Iterator[Sandbox]:
    """A started sandbox with the project's CRDs installed (through kubectl, as a user would)."""
    config = RuntimeConfig(images={SIMULATED_IMAGE: "run"})
    with Sandbox(directory, prometheus=prometheus, config=config) as running:
        subprocess.run(
            ["kubectl", "--kubeconfig", str(running.kubeconfig_path), "apply", "-f", str(ROOT / "crds")],
            check=True,
            capture_output=True,
        )
        yield running


class OperatorProcess:
    """``mlaiops run`` against the sandbox; reports its peak resident memory."""

    def __init__(self, cluster: Sandbox, log: Path, **env: str) -> None:
        self.log = log
        self.env = {
            **os.environ,
            "KUBECONFIG": str(cluster.kubeconfig_path),
            "MLAIOPS_PROMETHEUS_URL": cluster.prometheus_url or "http://127.0.0.1:9",
            "MLAIOPS_HEALTH_PORT": str(free_port()),
            "MLAIOPS_METRICS_PORT": str(free_port()),
            "MLAIOPS_ALERTMANAGER_PORT": str(free_port()),
            "MLAIOPS_IMAGE": "mlaiops:bench",
            "MLAIOPS_LEADER_ELECT": "false",
            **env,
        }
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.env['MLAIOPS_METRICS_PORT']}/metrics"

    def __enter__(self) -> OperatorProcess:
        with self.log.open("ab") as output:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "mlaiops", "run", "--standalone", "-A"],
                env=self.env,
                stdout=output,
                stderr=subprocess.STDOUT,
            )
        return self

    def __exit__(self, *exc: object) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def wait_healthy(self, timeout: float = 60) -> float:
        """Seconds until kopf's liveness endpoint answers (the operator has started its watches)."""
        url = f"http://127.0.0.1:{self.env['MLAIOPS_HEALTH_PORT']}/healthz"

        def healthy() -> bool:
            try:
                return urllib.request.urlopen(url, timeout=2).status == 200
            except OSError:
                return False

        return wait_until(healthy, timeout, interval=0.2)

    def peak_rss_mib(self) -> float:
        """VmHWM: the largest resident set the process has had so far."""
        assert self.process is not None
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def cpu_seconds(self) -> float:
        """User + system CPU time the operator has used so far."""
        assert self.process is not None
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def metric(self, name: str) -> dict[str, float]:
        """Samples of one metric family from the operator's /metrics, keyed by their label text."""
        text = urllib.request.urlopen(self.metrics_url, timeout=10).read().decode()
        samples: dict[str, float] = {}
        for line in text.splitlines():
            if line.startswith(name) and not line.startswith("#"):
                key, _, value = line.rpartition(" ")
                samples[key] = float(value)
        return samples


def audit(cluster: Sandbox, clear: bool = False) -> list[dict[str, Any]]:
    """The sandbox's record of every API request so far (optionally forgetting it afterwards)."""
    url = f"{cluster.api_url}/sandbox/audit"
    items = json.load(urllib.request.urlopen(url, timeout=30))["items"]
    if clear:
        urllib.request.urlopen(urllib.request.Request(url, method="DELETE"), timeout=30).read()
    return items


def operator_requests(records: list[dict[str, Any]]) -> Counter[str]:
    """The operator's requests by verb: what kopf and the kubernetes client sent, not the sandbox's
    own controllers, kubectl or this benchmark."""
    counts: Counter[str] = Counter()
    for record in records:
        agent = record.get("userAgent", "")
        if agent.startswith(("kopf/", "OpenAPI-Generator/")):
            counts[record["verb"]] += 1
    return counts


def wait_until(condition: Callable[[], bool], timeout: float, interval: float = 0.5) -> float:
    """Seconds until ``condition()`` holds; raises after ``timeout``."""
    began = time.monotonic()
    while not condition():
        if time.monotonic() - began > timeout:
            raise TimeoutError(f"not reached within {timeout:.0f}s")
        time.sleep(interval)
    return time.monotonic() - began


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


KNOB_EXPORTER = """
import os, time
from prometheus_client import Gauge, start_http_server
path = os.environ["VALUE_FILE"]
gauge = Gauge("knob_value", "a value the benchmark sets through a file")
gauge.set_function(lambda: float(open(path).read()))
start_http_server(int(os.environ["PORT"]))
while True:
    time.sleep(3600)
"""


def exporter(name: str, script: str, env: dict[str, str], claim: str | None = None) -> dict[str, Any]:
    """A Deployment of one project-image pod running ``script``, scraped by Prometheus on port 8000;
    with ``claim``, the sandbox folder of that PVC is mounted at ``/<claim>``."""
    labels = {"app.kubernetes.io/name": name}
    container: dict[str, Any] = {
        "name": "exporter",
        "image": "mlaiops:bench",
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


def knob_exporter() -> dict[str, Any]:
    """Exports ``knob_value``: the number in the sandbox folder of the namespace's PVC ``knob``."""
    return exporter("knob-exporter", KNOB_EXPORTER, {"VALUE_FILE": "/knob/value"}, claim="knob")

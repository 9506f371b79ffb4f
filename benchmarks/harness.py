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
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from mlaiops_sandbox.cluster import Sandbox
from mlaiops_sandbox.runtime import RuntimeConfig
from mlaiops_sandbox.testing import Kubectl, exporters
from mlaiops_sandbox.testing import OperatorProcess as Operator
from mlaiops_sandbox.testing.wait import seconds_until

ROOT = Path(__file__).resolve().parents[1]
BENCH_AGENT = "mlaiops-benchmark"
SIMULATED_IMAGE = "example.invalid/model-server:1"


@contextlib.contextmanager
def sandbox(directory: Path, prometheus: bool = True, images: dict[str, str] | None = None) -> Iterator[Sandbox]:
    """A started sandbox with the project's CRDs installed (through kubectl, as a user would); ``images``:
    more simulated outcomes by image glob (first match wins), e.g. ``{"*:broken": "crash"}``."""
    config = RuntimeConfig(images={**(images or {}), SIMULATED_IMAGE: "run"})
    with Sandbox(directory, prometheus=prometheus, config=config) as running:
        Kubectl(running.kubeconfig_path).apply_path(ROOT / "crds")
        yield running


def OperatorProcess(cluster: Sandbox, log: Path, **env: str) -> Operator:
    """The operator as the e2e suite runs it, with the sandbox's admin kubeconfig, no leader election
    unless asked, and kopf's default reconcile interval (what a user's install would have)."""
    return Operator(
        cluster.kubeconfig_path,
        cluster.prometheus_url,
        log,
        identity=None,
        image="mlaiops:bench",
        reconcile_interval=None,
        extra_env={"MLAIOPS_LEADER_ELECT": "false", **env},
    )


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
    return seconds_until(condition, timeout, interval)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def knob_exporter() -> dict[str, Any]:
    """Exports ``knob_value``: the number in the sandbox folder of the namespace's PVC ``knob``."""
    return exporters.knob_exporter("knob_value", name="knob-exporter", image="mlaiops:bench")


def exporter(name: str, script: str, env: dict[str, str]) -> dict[str, Any]:
    """A Deployment of one project-image pod running ``script``, scraped by Prometheus on port 8000."""
    return exporters.exporter(name, script, env, image="mlaiops:bench")

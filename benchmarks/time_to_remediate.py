"""Time to remediate: from a fault's onset in a metric to the remediation applied, over 10 runs.

    python benchmarks/time_to_remediate.py               # 10 runs
    python benchmarks/time_to_remediate.py --runs 3
    python benchmarks/time_to_remediate.py --runs 6 --rule-interval 30s   # the API's default interval

Each run gets a fresh namespace: an exporter pod whose gauge this script sets through a file,
a Deployment to act on, an AnomalyRule on the gauge (threshold detector, 5 s interval unless
``--rule-interval``, no ``for``) and a RemediationPlaybook that scales the Deployment out.
Prometheus scrapes every second; the operator runs with its defaults (a playbook's pass runs every
5 s, and at once when a rule it triggers on fires: the in-process wake). The clock starts
when the file is written (the fault's onset, at a seeded random point of the rule's cycle) and stops when the Deployment's replicas change
on the API server (polled every 50 ms); detection is when the rule's status says Firing.

For comparison, a Prometheus alerting rule with default settings (1 m evaluation interval) plus
Alertmanager (30 s group_wait) takes 30 to 90 s before a webhook receiver even hears of it.
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from harness import BENCH_AGENT, OperatorProcess, knob_exporter, sandbox, wait_until
from kubernetes import client, config

from mlaiops.api.common import seconds

GROUP, VERSION = "mlaiops.dev", "v1alpha1"


def web() -> dict[str, Any]:
    labels = {"app.kubernetes.io/name": "web"}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web"},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}, "spec": {"containers": [{"name": "web", "image": "nginx"}]}},
        },
    }


def rule(namespace: str, interval: str) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "AnomalyRule",
        "metadata": {"name": "latency"},
        "spec": {
            "query": f'knob_value{{namespace="{namespace}"}}',
            "interval": interval,
            "fitWindow": "1m",
            "detector": {"type": "threshold", "upper": 50, "direction": "up"},
            "severity": "critical",
            "target": {"kind": "Deployment", "name": "web"},
        },
    }


def playbook() -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "RemediationPlaybook",
        "metadata": {"name": "scale-out"},
        "spec": {
            "triggers": [{"rules": [{"name": "latency"}]}],
            "actions": [{"name": "scale-out", "type": "scale", "scale": {"delta": 1, "max": 3}}],
        },
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--rule-interval", default="5s", help="the AnomalyRule's interval (the API default is 30s)")
    args = parser.parse_args(argv)

    phase = random.Random(0)
    cycle = seconds(args.rule_interval)
    detected: list[float] = []
    remediated: list[float] = []
    with tempfile.TemporaryDirectory(prefix="mlaiops-ttr-") as tmp, sandbox(Path(tmp) / "sandbox") as sb:
        api = config.new_client_from_config(config_file=str(sb.kubeconfig_path))
        api.user_agent = BENCH_AGENT
        core, apps, custom = client.CoreV1Api(api), client.AppsV1Api(api), client.CustomObjectsApi(api)
        with OperatorProcess(sb, Path(tmp) / "operator.log") as operator:
            operator.wait_healthy()
            for run in range(args.runs):
                namespace = f"ttr-{run}"
                core.create_namespace({"metadata": {"name": namespace}})
                knob = sb.dir / "volumes" / namespace / "knob" / "value"
                knob.parent.mkdir(parents=True, exist_ok=True)
                knob.write_text("10")
                apps.create_namespaced_deployment(namespace, knob_exporter())
                apps.create_namespaced_deployment(namespace, web())
                custom.create_namespaced_custom_object(
                    GROUP, VERSION, namespace, "anomalyrules", rule(namespace, args.rule_interval)
                )

                def state(ns: str = namespace) -> str | None:
                    body = custom.get_namespaced_custom_object(GROUP, VERSION, ns, "anomalyrules", "latency")
                    return (body.get("status") or {}).get("state")

                wait_until(lambda: state() == "Normal", 120)
                # The playbook's 5 s timer starts when it is created: a random offset from the rule's
                # cycle, as in a real cluster (else every run would see the same phase).
                time.sleep(phase.uniform(0, 5))
                custom.create_namespaced_custom_object(GROUP, VERSION, namespace, "remediationplaybooks", playbook())

                def reconciled(ns: str = namespace) -> bool:
                    body = custom.get_namespaced_custom_object(GROUP, VERSION, ns, "remediationplaybooks", "scale-out")
                    return bool(body.get("status"))

                wait_until(reconciled, 60, interval=0.1)  # the playbook is watching before the fault
                time.sleep(phase.uniform(0, cycle))  # a fault starts at any point of the rule's cycle
                onset = time.monotonic()
                knob.write_text("100")
                firing_at = None
                while True:
                    now = time.monotonic()
                    if firing_at is None and state() == "Firing":
                        firing_at = now
                    if apps.read_namespaced_deployment(namespace=namespace, name="web").spec.replicas != 1:
                        break
                    if now - onset > 120:
                        found = custom.get_namespaced_custom_object(
                            GROUP, VERSION, namespace, "remediationplaybooks", "scale-out"
                        )
                        print(operator.log.read_text()[-3000:])
                        raise TimeoutError(f"run {run}: no remediation within 120 s; rule {state()}, {found}")
                    time.sleep(0.05)
                remediated.append(now - onset)
                detected.append((firing_at or now) - onset)
                print(f"run {run}: detected after {detected[-1]:.1f} s, remediated after {remediated[-1]:.1f} s")
                core.delete_namespace(namespace)

    print(
        f"{args.runs} runs, 1 s scrape, {args.rule_interval} rule interval, 5 s playbook reconcile and wake on firing"
    )
    print("| | median | worst |")
    print("|---|---|---|")
    print(f"| onset → rule Firing | {statistics.median(detected):.1f} s | {max(detected):.1f} s |")
    print(f"| onset → Deployment scaled | {statistics.median(remediated):.1f} s | {max(remediated):.1f} s |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

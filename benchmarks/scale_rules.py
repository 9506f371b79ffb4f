"""1,000 AnomalyRules at a 10 s interval against real Prometheus: CPU per cycle, lag, queries per second.

    python benchmarks/scale_rules.py                     # 1000 rules, 10 s, 120 s measured
    python benchmarks/scale_rules.py --rules 200 --measure 60

An exporter pod (the project image, scraped every second by the sandbox's Prometheus) serves 100
noisy gauges; rule i watches gauge i mod 100 with a MAD detector (1 h window, warm start from
10 min of history). After every rule has evaluated once, the operator's CPU time, its
``mlaiops_rule_evaluation_delay_seconds`` histogram (how late each evaluation started after it
was due), ``mlaiops_rule_evaluations_missed_total`` and Prometheus's own count of instant and
range queries are read twice, ``--measure`` seconds apart. The goal is no rule late by more than
one interval.
"""

from __future__ import annotations

import argparse
import re
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from harness import BENCH_AGENT, OperatorProcess, exporter, sandbox, wait_until
from kubernetes import client, config

GROUP, VERSION = "mlaiops.dev", "v1alpha1"
NAMESPACE = "rules-bench"
SERIES = 100

EXPORTER = """
import os, random, time
from prometheus_client import Gauge, start_http_server
gauge = Gauge("bench_value", "a noisy level per series", ["series"])
start_http_server(int(os.environ["PORT"]))
rng = random.Random(0)
while True:
    for i in range(int(os.environ["SERIES"])):
        gauge.labels(str(i)).set(50 + rng.gauss(0, 5))
    time.sleep(1)
"""


def rule(i: int, interval: int) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "AnomalyRule",
        "metadata": {"name": f"rule-{i:04d}"},
        "spec": {
            "query": f'bench_value{{series="{i % SERIES}"}}',
            "interval": f"{interval}s",
            "fitWindow": "10m",
            "detector": {"type": "mad", "window": "1h", "direction": "both"},
            "for": f"{2 * interval}s",
        },
    }


def prometheus_queries(url: str) -> float:
    """Instant and range queries Prometheus has answered so far (its own HTTP handler counters)."""
    text = urllib.request.urlopen(f"{url}/metrics", timeout=10).read().decode()
    total = 0.0
    for line in text.splitlines():
        if line.startswith("prometheus_http_requests_total") and re.search(r'handler="/api/v1/query(_range)?"', line):
            total += float(line.rsplit(" ", 1)[1])
    return total


def histogram(samples: dict[str, float], name: str) -> tuple[dict[float, float], float]:
    """Cumulative bucket counts by upper bound, and the total count."""
    buckets: dict[float, float] = {}
    count = 0.0
    for key, value in samples.items():
        if key.startswith(f"{name}_bucket"):
            bound = re.search(r'le="([^"]+)"', key)
            assert bound is not None
            buckets[float(bound.group(1))] = value
        elif key.startswith(f"{name}_count"):
            count = value
    return buckets, count


def evaluated(custom: client.CustomObjectsApi, count: int) -> bool:
    items = custom.list_namespaced_custom_object(GROUP, VERSION, NAMESPACE, "anomalyrules")["items"]
    return sum(bool((item.get("status") or {}).get("evaluations")) for item in items) >= count


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rules", type=int, default=1000)
    parser.add_argument("--interval", type=int, default=10, help="seconds between evaluations of each rule")
    parser.add_argument("--measure", type=float, default=120, help="seconds measured once all rules run")
    parser.add_argument("--timeout", type=float, default=900)
    args = parser.parse_args(argv)

    name = "mlaiops_rule_evaluation_delay_seconds"
    with tempfile.TemporaryDirectory(prefix="mlaiops-rules-") as tmp, sandbox(Path(tmp) / "sandbox") as sb:
        assert sb.prometheus_url is not None
        api = config.new_client_from_config(config_file=str(sb.kubeconfig_path))
        api.user_agent = BENCH_AGENT
        core, apps, custom = client.CoreV1Api(api), client.AppsV1Api(api), client.CustomObjectsApi(api)
        core.create_namespace({"metadata": {"name": NAMESPACE}})
        apps.create_namespaced_deployment(NAMESPACE, exporter("bench-exporter", EXPORTER, {"SERIES": str(SERIES)}))
        query = f"{sb.prometheus_url}/api/v1/query?query=count(bench_value)"

        def scraped() -> bool:
            result = urllib.request.urlopen(query, timeout=5).read().decode()
            return f'"{SERIES}"' in result

        wait_until(scraped, 120)
        with OperatorProcess(sb, Path(tmp) / "operator.log") as operator:
            operator.wait_healthy()
            began = time.monotonic()
            with ThreadPoolExecutor(16) as pool:
                list(
                    pool.map(
                        lambda i: custom.create_namespaced_custom_object(
                            GROUP, VERSION, NAMESPACE, "anomalyrules", rule(i, args.interval)
                        ),
                        range(args.rules),
                    )
                )
            wait_until(lambda: evaluated(custom, args.rules), args.timeout, interval=2)
            all_running = time.monotonic() - began
            cpu0, queries0 = operator.cpu_seconds(), prometheus_queries(sb.prometheus_url)
            samples0 = operator.metric(name)
            missed0 = sum(operator.metric("mlaiops_rule_evaluations_missed_total").values())
            time.sleep(args.measure)
            cpu1, queries1 = operator.cpu_seconds(), prometheus_queries(sb.prometheus_url)
            samples1 = operator.metric(name)
            missed1 = sum(operator.metric("mlaiops_rule_evaluations_missed_total").values())
            durations = operator.metric("mlaiops_rule_evaluation_duration_seconds")
            rss = operator.peak_rss_mib()

    before, count0 = histogram(samples0, name)
    after, count1 = histogram(samples1, name)
    evaluations = count1 - count0
    cycles = args.measure / args.interval
    on_time = {bound: (after[bound] - before.get(bound, 0)) / evaluations for bound in sorted(after)}
    within_interval = max((share for bound, share in on_time.items() if bound <= args.interval), default=0.0)
    mean_duration = sum(v for k, v in durations.items() if "_sum" in k) / max(
        1.0, sum(v for k, v in durations.items() if "_count" in k)
    )
    worst = min((bound for bound, share in on_time.items() if share >= 1.0), default=float("inf"))
    print(f"{args.rules} AnomalyRules (MAD) every {args.interval}s, {SERIES} real series, {args.measure:.0f}s measured")
    print(
        "| all rules evaluating | evaluations/s | operator CPU per cycle | started within 1 s of due | "
        "within one interval | worst delay (bucket) | missed | mean evaluation | Prometheus queries/s | operator peak RSS |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    print(
        f"| {all_running:.0f} s | {evaluations / args.measure:.0f} | {(cpu1 - cpu0) / cycles:.2f} s "
        f"({(cpu1 - cpu0) / args.measure * 100:.0f}% of a core) | {on_time.get(1.0, 0) * 100:.1f}% | "
        f"{within_interval * 100:.1f}% | ≤ {worst:g} s | {missed1 - missed0:.0f} | {mean_duration * 1000:.0f} ms | "
        f"{(queries1 - queries0) / args.measure:.0f} | {rss:.0f} MiB |"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""1,000 ModelDeployments created at once: time until all are Ready, API requests per object, operator RSS.

    python benchmarks/scale_modeldeployments.py                  # 1000 objects in 10 namespaces
    python benchmarks/scale_modeldeployments.py --count 200 --steady 60

The objects are created by 16 client threads as fast as the sandbox takes them, each with two
replicas of a simulated model server image (Running and Ready at once), so what is measured is the
control loop: kopf's watch and timers, the operator building and applying children (Deployment,
three Services), the sandbox's Deployment/ReplicaSet controllers and the status write-back. The
requests counted are the operator's own (kopf and the kubernetes client), from the sandbox's audit:
once for the rollout (creation to all Ready) and once per minute of steady state afterwards.
The sandbox (API server, runtime controllers) runs in this process: its CPU time is this
process's, which includes the client threads creating and polling the objects.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from harness import (
    BENCH_AGENT,
    SIMULATED_IMAGE,
    OperatorProcess,
    audit,
    operator_requests,
    sandbox,
    wait_until,
)
from kubernetes import client, config

GROUP, VERSION = "mlaiops.dev", "v1alpha1"


def model_deployment(name: str) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "ModelDeployment",
        "metadata": {"name": name},
        "spec": {
            "model": {"format": "sklearn", "storageUri": f"file:///models/{name}/model.joblib", "version": "v1"},
            "runtime": {"image": SIMULATED_IMAGE, "port": 8080},
            "replicas": 2,
        },
    }


def ready_count(custom: client.CustomObjectsApi) -> int:
    items = custom.list_cluster_custom_object(GROUP, VERSION, "modeldeployments")["items"]
    return sum((item.get("status") or {}).get("phase") == "Ready" for item in items)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--namespaces", type=int, default=10)
    parser.add_argument("--steady", type=float, default=60, help="seconds of steady state to count requests over")
    parser.add_argument("--timeout", type=float, default=1200)
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="mlaiops-scale-") as tmp, sandbox(Path(tmp) / "sandbox", False) as sb:
        api = config.new_client_from_config(config_file=str(sb.kubeconfig_path))
        api.user_agent = BENCH_AGENT
        core, custom = client.CoreV1Api(api), client.CustomObjectsApi(api)
        namespaces = [f"scale-{i}" for i in range(args.namespaces)]
        for namespace in namespaces:
            core.create_namespace({"metadata": {"name": namespace}})
        with OperatorProcess(sb, Path(tmp) / "operator.log") as operator:
            operator.wait_healthy()
            audit(sb, clear=True)
            began, sandbox_cpu = time.monotonic(), time.process_time()

            def create(i: int) -> None:
                body = model_deployment(f"model-{i:04d}")
                custom.create_namespaced_custom_object(
                    GROUP, VERSION, namespaces[i % len(namespaces)], "modeldeployments", body
                )

            with ThreadPoolExecutor(16) as pool:
                list(pool.map(create, range(args.count)))
            created = time.monotonic() - began
            wait_until(lambda: ready_count(custom) == args.count, args.timeout, interval=1.0)
            all_ready = time.monotonic() - began
            sandbox_cpu = time.process_time() - sandbox_cpu
            rollout = operator_requests(audit(sb, clear=True))
            rss_rollout = operator.peak_rss_mib()
            cpu_rollout = operator.cpu_seconds()
            time.sleep(args.steady)
            steady = operator_requests(audit(sb))
            cpu_steady = operator.cpu_seconds() - cpu_rollout
            rss_peak = operator.peak_rss_mib()

    per_object = sum(rollout.values()) / args.count
    per_minute = sum(steady.values()) / args.count * 60 / args.steady
    print(f"{args.count} ModelDeployments in {args.namespaces} namespaces, 2 simulated replicas each")
    print(
        "| created (client side) | all Ready | operator requests per object (rollout) | per object per minute (steady) | operator CPU (rollout / steady per min) | sandbox CPU (rollout) | operator peak RSS |"
    )
    print("|---|---|---|---|---|---|---|")
    print(
        f"| {created:.1f} s | {all_ready:.1f} s | {per_object:.1f} ({_verbs(rollout, args.count)}) | "
        f"{per_minute:.1f} ({_verbs(steady, args.count * args.steady / 60)}) | "
        f"{cpu_rollout:.0f} s / {cpu_steady * 60 / args.steady:.0f} s | {sandbox_cpu:.0f} s | {rss_peak:.0f} MiB (at Ready: {rss_rollout:.0f}) |"
    )
    return 0


def _verbs(counts: Any, per: float) -> str:
    return ", ".join(f"{verb} {n / per:.1f}" for verb, n in counts.most_common())


if __name__ == "__main__":
    raise SystemExit(main())

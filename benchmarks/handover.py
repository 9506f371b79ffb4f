"""Leader handover: how long after the leader dies does the standby hold the Lease and act?

Two `mlaiops run` replicas (default election timings unless given) against the sandbox. Each
round stops the leader — SIGKILL (the Lease must expire) or SIGTERM (the leader releases it) —
creates a ModelDeployment at the same moment, and times until (a) the Lease names the standby
and (b) the new leader has created the ModelDeployment's Deployment. The killed replica is then
started again and stands by for the next round.

    python benchmarks/handover.py --runs 5
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from kubernetes import client, config

sys.path.insert(0, str(Path(__file__).parent))
from harness import SIMULATED_IMAGE, OperatorProcess, sandbox, wait_until

NAMESPACE = "mlaiops-system"
WORK = "handover"


def model_deployment(name: str) -> dict:
    return {
        "apiVersion": "mlaiops.dev/v1alpha1",
        "kind": "ModelDeployment",
        "metadata": {"name": name, "namespace": WORK},
        "spec": {
            "model": {"storageUri": "file:///models/m.joblib", "version": "v1"},
            "runtime": {"image": SIMULATED_IMAGE, "port": 9000},
            "replicas": 1,
        },
    }


class Bench:
    def __init__(self, cluster, directory: Path, timing: dict[str, str]) -> None:
        api = config.new_client_from_config(config_file=str(cluster.kubeconfig_path))
        self.leases = client.CoordinationV1Api(api)
        self.apps = client.AppsV1Api(api)
        self.custom = client.CustomObjectsApi(api)
        self.replicas = {
            name: OperatorProcess(
                cluster, directory / f"{name}.log", MLAIOPS_LEADER_ELECT="true", POD_NAME=name, **timing
            )
            for name in ("replica-a", "replica-b")
        }
        self.round = 0

    def holder(self) -> str | None:
        try:
            return self.leases.read_namespaced_lease("mlaiops-operator", NAMESPACE).spec.holder_identity
        except client.ApiException:
            return None

    def deployed(self, name: str) -> bool:
        try:
            self.apps.read_namespaced_deployment(f"{name}-stable", WORK)
        except client.ApiException:
            return False
        return True

    def standing_by(self, name: str) -> bool:
        try:
            return any(v == 0 for k, v in self.replicas[name].metric("mlaiops_leader").items() if name in k)
        except OSError:
            return False

    def one_round(self, kill: bool) -> tuple[float, float]:
        leader = self.holder()
        assert leader in self.replicas, f"no leader: {leader!r}"
        standby = next(name for name in self.replicas if name != leader)
        wait_until(lambda: self.standing_by(standby), 60, interval=0.1)
        self.round += 1
        name = f"md-{self.round}"
        process = self.replicas[leader].process
        assert process is not None
        began = time.monotonic()
        process.kill() if kill else process.terminate()
        self.custom.create_namespaced_custom_object(
            "mlaiops.dev", "v1alpha1", WORK, "modeldeployments", model_deployment(name)
        )
        wait_until(lambda: self.holder() == standby, 120, interval=0.05)
        lease = time.monotonic() - began
        wait_until(lambda: self.deployed(name), 120, interval=0.05)
        acted = time.monotonic() - began
        process.wait(30)
        self.replicas[leader].__enter__()  # restarted, as the kubelet would
        return lease, acted


def report(label: str, samples: list[tuple[float, float]]) -> None:
    for index, title in ((0, "Lease held by the standby"), (1, "standby created the Deployment")):
        values = [sample[index] for sample in samples]
        print(
            f"{label:8} {title:32} median {statistics.median(values):6.2f} s   worst {max(values):6.2f} s   "
            f"best {min(values):6.2f} s   ({len(values)} runs)"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="rounds per way of stopping the leader")
    parser.add_argument("--lease-duration", default="15")
    parser.add_argument("--renew-deadline", default="10")
    parser.add_argument("--retry-period", default="2")
    args = parser.parse_args()
    timing = {
        "MLAIOPS_LEASE_DURATION": args.lease_duration,
        "MLAIOPS_RENEW_DEADLINE": args.renew_deadline,
        "MLAIOPS_RETRY_PERIOD": args.retry_period,
    }
    print(f"lease {args.lease_duration} s, renew deadline {args.renew_deadline} s, retry {args.retry_period} s")
    with tempfile.TemporaryDirectory() as directory, sandbox(Path(directory), prometheus=False) as cluster:
        for namespace in (NAMESPACE, WORK):
            subprocess.run(
                ["kubectl", "--kubeconfig", str(cluster.kubeconfig_path), "create", "namespace", namespace],
                check=True,
                capture_output=True,
            )
        bench = Bench(cluster, Path(directory), timing)
        for replica in bench.replicas.values():
            replica.__enter__()
        try:
            wait_until(lambda: bench.holder() in bench.replicas, 60, interval=0.1)
            results = {"SIGKILL": [bench.one_round(kill=True) for _ in range(args.runs)]}
            results["SIGTERM"] = [bench.one_round(kill=False) for _ in range(args.runs)]
        finally:
            for replica in bench.replicas.values():
                replica.__exit__()
        for label, samples in results.items():
            report(label, samples)
    return 0


if __name__ == "__main__":
    sys.exit(main())

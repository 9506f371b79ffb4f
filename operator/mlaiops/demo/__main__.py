"""`python -m mlaiops.demo` (what `make demo` runs): sandbox + operator + the story, then a summary.

Exit status 0 when every step reached its expected outcome, 1 (naming the step) otherwise.
``--keep`` leaves everything running and prints how to explore it with kubectl.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from mlaiops.demo.story import NAMESPACE, StepFailed, Story
from mlaiops.demo.summary import summary_table
from mlaiops.report import story_timeline, write_report

OPERATOR_NAMESPACE = "mlaiops-system"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_operator(kubeconfig: Path, prometheus_url: str, log: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "KUBECONFIG": str(kubeconfig),
        "MLAIOPS_PROMETHEUS_URL": prometheus_url,
        "MLAIOPS_RECONCILE_INTERVAL": "1",
        "MLAIOPS_HEALTH_PORT": str(_free_port()),
        "MLAIOPS_METRICS_PORT": str(_free_port()),
        "MLAIOPS_ALERTMANAGER_PORT": str(_free_port()),
        "MLAIOPS_IMAGE": "mlaiops:demo",
        # One replica, as a pod would name itself: it takes the Lease in the operator's namespace at once.
        "POD_NAME": "mlaiops-demo-operator",
        "POD_NAMESPACE": OPERATOR_NAMESPACE,
    }
    with log.open("wb") as output:
        return subprocess.Popen(
            [sys.executable, "-m", "mlaiops", "run", "--standalone", "-A"],
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="mlaiops-demo", description=__doc__)
    parser.add_argument("--dir", help="state folder (default: a new temporary folder)")
    parser.add_argument("--keep", action="store_true", help="leave the sandbox and the operator running")
    args = parser.parse_args(argv)
    from mlaiops.sandbox.cluster import Sandbox

    directory = Path(args.dir or tempfile.mkdtemp(prefix="mlaiops-demo-")).resolve()
    if args.dir and directory.exists():
        shutil.rmtree(directory)
    crds = Path(__file__).resolve().parents[3] / "crds"
    print(f"mlaiops demo: state in {directory}")
    with Sandbox(directory) as sandbox:
        assert sandbox.prometheus_url is not None
        subprocess.run(
            ["kubectl", "--kubeconfig", str(sandbox.kubeconfig_path), "apply", "-f", str(crds)],
            check=True,
            capture_output=True,
        )
        subprocess.run(  # where the operator keeps its leader-election Lease, as the manifests install it
            ["kubectl", "--kubeconfig", str(sandbox.kubeconfig_path), "create", "namespace", OPERATOR_NAMESPACE],
            check=True,
            capture_output=True,
        )
        operator = start_operator(sandbox.kubeconfig_path, sandbox.prometheus_url, directory / "operator.log")
        story = Story(sandbox.kubeconfig_path, sandbox.dir)
        failed = None
        try:
            story.first_model()
            story.bad_model()
            story.drifted_inputs()
            story.load_surge()
        except StepFailed as error:
            failed = f"step '{story.steps[-1].name}' failed: {error}"
        finally:
            if story.surge is not None:
                story.surge.stop()  # a step that failed may have left it running
            print(summary_table(story.steps))
            print(f"\nthe story took {time.monotonic() - story.t0:.0f}s")
            page = write_report(
                directory / "report",
                story_timeline(story),
                sandbox.prometheus_url,
                kubeconfig=sandbox.kubeconfig_path,
                namespace=NAMESPACE,
                title="mlaiops demo: fraud detection",
            )
            print(f"\nreport: {page}")
            if story.traffic is not None:
                print(f"\ninference responses: {dict(story.traffic.codes)}")
        if failed:
            print(f"\n{failed}\noperator log: {directory / 'operator.log'}", file=sys.stderr)
        if args.keep:
            print(
                f"\nexport KUBECONFIG={sandbox.kubeconfig_path}\nkubectl get mlaiops -A\nkubectl get md fraud-detector -n fraud-detection -o yaml"
            )
            print(f"Prometheus: {sandbox.prometheus_url}\nCtrl-C stops everything.")
            stop = threading.Event()
            signal.signal(signal.SIGINT, lambda *_: stop.set())
            signal.signal(signal.SIGTERM, lambda *_: stop.set())
            stop.wait()
        story.stop_load()
        operator.terminate()
        try:
            operator.wait(20)
        except subprocess.TimeoutExpired:
            operator.kill()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

"""`python -m mlaiops_demo` (what `make demo` runs): sandbox + operator + the story, then a summary.

Exit status 0 when every step reached its expected outcome, 1 (naming the step) otherwise.
``--keep`` leaves everything running and prints how to explore it with kubectl.
"""

from __future__ import annotations

import argparse
import shutil
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path

from mlaiops_sandbox.cluster import Sandbox
from mlaiops_sandbox.testing import Kubectl, OperatorProcess
from mlaiops_sandbox.testing.operator import OPERATOR_NAMESPACE

from mlaiops.report import story_timeline, write_report
from mlaiops_demo.story import NAMESPACE, StepFailed, Story
from mlaiops_demo.summary import summary_table


def crd_manifests() -> str:
    """The CustomResourceDefinitions of the installed operator, rendered from its models: the demo
    needs no checkout, and the CRDs always match the operator it runs."""
    from mlaiops.api import KINDS
    from mlaiops.crdgen import render

    return "---\n".join(render(info) for info in KINDS)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="mlaiops-demo", description=__doc__)
    parser.add_argument("--dir", help="state folder (default: a new temporary folder)")
    parser.add_argument("--keep", action="store_true", help="leave the sandbox and the operator running")
    args = parser.parse_args(argv)

    directory = Path(args.dir or tempfile.mkdtemp(prefix="mlaiops-demo-")).resolve()
    if args.dir and directory.exists():
        shutil.rmtree(directory)
    print(f"mlaiops demo: state in {directory}")
    with Sandbox(directory) as sandbox:
        assert sandbox.prometheus_url is not None
        admin = Kubectl(sandbox.kubeconfig_path)
        admin.apply(crd_manifests())
        admin.ensure_namespace(OPERATOR_NAMESPACE)  # where the operator keeps its Lease, as the manifests install it
        # One replica, as a pod would name itself: it takes the Lease in the operator's namespace at once.
        operator = OperatorProcess(
            sandbox.kubeconfig_path,
            sandbox.prometheus_url,
            directory / "operator.log",
            identity="mlaiops-demo-operator",
            image="mlaiops:demo",
        ).start()
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
                print(f"delayed labels (docs/feedback.md): {dict(story.traffic.labels)}")
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
        operator.stop()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

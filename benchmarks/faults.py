"""Faults on the closed loop: play a scenario without faults, then under each fault, and compare.

    python benchmarks/faults.py                          # quick loop, every fault, 20 SIGKILLs
    python benchmarks/faults.py --scenario story --kill-every 2,8   # the demo story (every step it has)
    python benchmarks/faults.py --faults sigkill --kills 20 --seed 3 --outage 60

Faults (the sandbox's fault injection aims at the operator's clients, kopf and the kubernetes
client, by User-Agent; the user's kubectl and the harness are not touched):

- api-errors: 500 on 10% of the operator's requests, 409 on 10% of its writes;
- latency: 2 s added to half of the operator's requests;
- watch-drops: every operator watch ends after 5 s, 30% of its resumes get 410 Gone;
- prometheus-down: Prometheus stopped for ``--outage`` seconds while a decision is pending: in the loop
  the rule is Pending over its bound (the run fails if it was not), in the story the bad model's canary
  starts as Prometheus stops and waits for its analysis;
- sigkill: the operator SIGKILLed ``--kills`` times at seeded random points, restarted each time.

Each run is judged on: the same end state as the run without faults (converged), no action done
twice (Jobs per run, Events per run/execution/step, scale writes in the request audit), no record lost
(Jobs, Events and incidents without their status record), and for the outage no firing, remediation,
retrain or rollout decision while the data was missing (the rules must say Error meanwhile). Prints a
Markdown table; exit status 1 if any fault run failed one of them.
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mlaiops_sandbox.cluster import Sandbox
from mlaiops_sandbox.testing import Kubectl
from mlaiops_sandbox.testing.fault_scenarios import HARNESS_AGENT, Act, Env, Loop, Scenario
from mlaiops_sandbox.testing.faults import Fault, Outcome, catalogue, details, play, table
from mlaiops_sandbox.testing.operator import OPERATOR_NAMESPACE, OperatorProcess, install_operator_identity

ROOT = Path(__file__).resolve().parents[1]
JSON = dict[str, Any]
# --- the demo story as a scenario ------------------------------------------------------------------


def story_steps(story_class: type) -> list[str]:
    """The Story's steps in order: its ``STEPS`` if it declares them, else every public method that
    records a step (calls ``self.step(``), in source order. New steps are picked up unchanged."""
    declared = getattr(story_class, "STEPS", None)
    if declared:
        return list(declared)
    found = []
    for name, member in vars(story_class).items():
        if name.startswith("_") or not inspect.isfunction(member):
            continue
        if "self.step(" in inspect.getsource(member):
            found.append((member.__code__.co_firstlineno, name))
    return [name for _, name in sorted(found)]


class StoryScenario:
    """The demo story, step by step, as `make demo` plays it (namespace fixed: one sandbox per play)."""

    name = "story"
    outage_act = "bad_model"  # Prometheus stops as the slow canary starts: its analysis decision is pending

    def __init__(self, env: Env, steps: list[str] | None = None) -> None:
        from mlaiops_demo.story import NAMESPACE, Story

        self.env, self.namespace = env, NAMESPACE
        self.story = Story(env.sandbox.kubeconfig_path, env.sandbox.dir, echo=lambda _: None)
        self.story.core.api_client.user_agent = HARNESS_AGENT  # faults aim at the operator, not the user
        self.steps = steps or story_steps(Story)

    def setup(self) -> None:
        return None

    def acts(self) -> list[Act]:
        return [Act(name, getattr(self.story, name)) for name in self.steps]

    def close(self) -> None:
        if self.story.traffic is not None:
            self.story.traffic.stop()


# --- the benchmark's own cluster and operator --------------------------------------------------------------


def start_operator(sandbox: Sandbox, log: Path) -> OperatorProcess:
    """The operator exactly as the e2e suite runs it: its ServiceAccount, the manifests' RBAC, its environment."""
    admin = Kubectl(sandbox.kubeconfig_path)
    assert sandbox.server is not None
    kubeconfig = install_operator_identity(
        admin,
        sandbox.server.secure_url,
        sandbox.server.certificate.ca_pem,
        ROOT / "manifests",
        sandbox.dir / "operator-kubeconfig",
        ("components/webhook-self-signed",),
    )
    admin.ensure_namespace(OPERATOR_NAMESPACE)
    return OperatorProcess(kubeconfig, sandbox.prometheus_url, log).start()


def run_all(
    scenario_name: str,
    names: list[str],
    faults: dict[str, Fault],
    seed: int,
    directory: Path,
    echo: Callable[[str], None],
    steps: list[str] | None = None,
) -> list[Outcome]:
    outcomes: list[Outcome] = []
    reference: JSON | None = None
    for index, name in enumerate(["none", *[n for n in names if n != "none"]]):
        with Sandbox(directory / f"{index}-{name}") as sandbox:
            Kubectl(sandbox.kubeconfig_path).apply_path(ROOT / "crds")
            operator = start_operator(sandbox, directory / f"{index}-{name}.operator.log")
            env = Env(sandbox, operator)
            scenario: Scenario = StoryScenario(env, steps) if scenario_name == "story" else Loop(env, f"faults-{name}")
            try:
                echo(f"-- {name}: {faults[name].how}")
                outcome = play(env, scenario, faults[name], reference, seed)
            finally:
                scenario.close()
                operator.stop()
        if reference is None:
            reference = outcome.state
            echo(f"   reference end state: {json.dumps(reference, default=str)}")
        outcomes.append(outcome)
        echo(table([outcome]).splitlines()[-1])
    return outcomes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="faults", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--scenario", choices=("loop", "story"), default="loop")
    parser.add_argument("--faults", default="api-errors,latency,watch-drops,prometheus-down,sigkill")
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--kill-every", default="0.5,1.5", help="seconds between kills: MIN,MAX (seeded uniform)")
    parser.add_argument("--outage", type=float, default=60.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--steps", help="story steps to play, e.g. first_model,bad_model (default: all)")
    parser.add_argument("--dir", help="state folder (default: a new temporary folder)")
    args = parser.parse_args(argv)
    low, high = (float(v) for v in args.kill_every.split(","))
    faults = catalogue(args.outage, args.kills, (low, high))
    names = [n.strip() for n in args.faults.split(",") if n.strip()]
    unknown = [n for n in names if n not in faults]
    if unknown:
        parser.error(f"unknown faults {unknown}; known: {sorted(faults)}")
    directory = Path(args.dir or tempfile.mkdtemp(prefix="mlaiops-faults-")).resolve()
    directory.mkdir(parents=True, exist_ok=True)
    print(f"faults: scenario {args.scenario}, state in {directory}, cores {os.cpu_count()}", flush=True)
    steps = [s.strip() for s in args.steps.split(",")] if args.steps else None
    outcomes = run_all(args.scenario, names, faults, args.seed, directory, lambda s: print(s, flush=True), steps)
    print("\n" + table(outcomes) + "\n")
    found = details(outcomes)
    if found:
        print(found)
    return 0 if all(o.ok for o in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())

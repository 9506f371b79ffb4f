"""Faults on the closed loop: play a scenario under a fault and judge it against the run without faults.

The command line that plays every fault is ``benchmarks/faults.py``; the e2e suite plays short
versions of the same scenarios through ``play``.

    python benchmarks/faults.py                          # quick loop, every fault, 20 SIGKILLs
    python benchmarks/faults.py --scenario story --kill-every 2,8   # the demo story (every step it has)
    python benchmarks/faults.py --faults sigkill --kills 20 --seed 3 --outage 60

Faults (the sandbox's fault injection aims at the operator's clients, kopf and the kubernetes
client, by User-Agent; the user's kubectl and the harness are not touched):

- api-errors: 500 on 10% of the operator's requests, 409 on 10% of its writes;
- latency: 2 s added to half of the operator's requests;
- watch-drops: every operator watch ends after 5 s, 30% of its resumes get 410 Gone;
- prometheus-down: Prometheus stopped for ``--outage`` seconds during one act;
- sigkill: the operator SIGKILLed ``--kills`` times at seeded random points, restarted each time.

Each run is judged on: the same end state as the run without faults (converged), no action done
twice (Jobs per run, Events per run/execution/step, scale writes in the request audit), no record lost
(Jobs, Events and incidents without their status record), and for the outage no firing, remediation,
retrain or rollout decision while the data was missing (the rules must say Error meanwhile). The outage
strikes while a decision is pending (the loop's rule Pending over its bound, the story's canary about
to be analysed), so an operator that decided on missing data would be caught; a loop whose rule was
not Pending as Prometheus stopped fails the run (the outage would have proved nothing). Prints a
Markdown table (n/a where a column cannot be non-zero: decisions without data exist only under the
outage); exit status 1 if any fault run failed one of them.
"""

from __future__ import annotations

import json
import random
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from mlaiops_sandbox.testing.fault_checks import JSON, differences, end_state, ledger, poll
from mlaiops_sandbox.testing.fault_scenarios import Env, Scenario

OPERATOR_AGENTS = ("kopf/", "OpenAPI-Generator/")
WRITES = ("create", "update", "patch", "delete")
# The operator's renew deadline plus one retry period (mlaiops.leader.lease.Timing's defaults): how long after
# the API faults end a renewal they delayed can still make it give up its lease and exit.
LEASE_AFTERMATH = 12.0


def for_operator(rules: list[JSON]) -> list[JSON]:
    return [{**rule, "userAgent": agent} for rule in rules for agent in OPERATOR_AGENTS]


@dataclass
class Fault:
    name: str
    how: str
    rules: list[JSON] = field(default_factory=list)
    drop_watches: bool = False
    outage: float = 0.0
    kills: int = 0
    kill_every: tuple[float, float] = (1.0, 3.0)


def catalogue(outage: float = 60.0, kills: int = 20, kill_every: tuple[float, float] = (1.0, 3.0)) -> dict[str, Fault]:
    return {
        "none": Fault("none", "no fault (the reference end state)"),
        "api-errors": Fault(
            "api-errors",
            "500 on 10% of operator requests, 409 on 10% of its writes",
            for_operator(
                [{"errorRate": 0.1, "statusCode": 500}]
                + [{"verb": verb, "errorRate": 0.1, "statusCode": 409} for verb in WRITES]
            ),
        ),
        "latency": Fault(
            "latency",
            "2 s on 50% of operator requests",
            for_operator([{"errorRate": 0.5, "latencySeconds": 2.0, "statusCode": 0}]),
        ),
        "watch-drops": Fault(
            "watch-drops",
            "operator watches dropped after 5 s; 30% of resumes 410 Gone",
            for_operator(
                [
                    {"verb": "watch", "dropAfterSeconds": 5.0},
                    {"verb": "watch", "errorRate": 0.3, "statusCode": 410},
                ]
            ),
            drop_watches=True,
        ),
        "prometheus-down": Fault("prometheus-down", f"Prometheus stopped for {outage:.0f} s", outage=outage),
        "sigkill": Fault(
            "sigkill",
            f"operator SIGKILLed {kills} times, every {kill_every[0]:g}-{kill_every[1]:g} s (seeded)",
            kills=kills,
            kill_every=kill_every,
        ),
    }


# --- injection -------------------------------------------------------------------------------------


def admin(env: Env, method: str, path: str, body: Any = None) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(env.sandbox.api_url + path, data=data, method=method)
    request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read() or b"null")


class Supervisor(threading.Thread):
    """Plays the Deployment's restartPolicy: an operator that exits (it gives up a lease it could not
    renew, say) is started again. Also serialises restarts with the killer."""

    def __init__(self, env: Env) -> None:
        super().__init__(name="fault-supervisor", daemon=True)
        self.env = env
        self.lock = threading.Lock()
        self.done = threading.Event()
        self.exits = 0

    def run(self) -> None:
        while not self.done.wait(0.5):
            with self.lock:
                process = getattr(self.env.operator, "process", None)
                if process is not None and process.poll() is not None:
                    self.exits += 1
                    self.env.operator.restart(kill=True)

    def kill(self) -> None:
        with self.lock:
            self.env.operator.restart(kill=True)

    def stop(self, not_before: float = 0.0) -> None:
        """Stop supervising, not before the monotonic time ``not_before``; an operator that exited meanwhile
        is started again first, so the next test does not meet a dead operator."""
        self.done.wait(max(0.0, not_before - time.monotonic()))
        self.done.set()
        self.join()
        with self.lock:
            process = getattr(self.env.operator, "process", None)
            if process is not None and process.poll() is not None:
                self.exits += 1
                self.env.operator.restart(kill=True)


class Killer(threading.Thread):
    """SIGKILLs and restarts the operator at seeded random intervals until told to stop."""

    def __init__(self, supervisor: Supervisor, kills: int, every: tuple[float, float], seed: int) -> None:
        super().__init__(name="fault-killer", daemon=True)
        self.supervisor, self.kills, self.every = supervisor, kills, every
        self.rng = random.Random(seed)
        self.done = threading.Event()
        self.times: list[float] = []

    def run(self) -> None:
        began = time.monotonic()
        while len(self.times) < self.kills and not self.done.wait(self.rng.uniform(*self.every)):
            self.supervisor.kill()
            self.times.append(time.monotonic() - began)

    def stop(self) -> None:
        self.done.set()
        self.join()


@dataclass
class OutageReport:
    violations: list[str] = field(default_factory=list)
    rule_states: dict[str, set[str]] = field(default_factory=dict)
    states_at_stop: dict[str, str | None] = field(default_factory=dict)  # rule states as Prometheus stopped
    pending_at_stop: bool | None = None  # the scenario's own answer, when it has one


class Outage(threading.Thread):
    """Stops Prometheus for ``seconds`` and watches that nothing acts on the missing data: no rule
    firing, no new execution, no new retrain run, no rollout decision, until ``grace`` seconds after
    Prometheus is back (scraping restarts, rules see data again)."""

    def __init__(
        self,
        env: Env,
        namespace: str,
        seconds: float,
        grace: float = 5.0,
        lag: float = 3.0,
        pending: Callable[[], bool] | None = None,
    ) -> None:
        super().__init__(name="fault-outage", daemon=True)
        self.lag = lag  # rules notice the outage at their next evaluation: states are sampled after that
        self.stopped_at = 0.0
        self.env, self.namespace, self.seconds, self.grace = env, namespace, seconds, grace
        self.pending = pending  # asked just before Prometheus stops: is a decision waiting on its data?
        self.report = OutageReport()

    def snapshot(self) -> JSON:
        kube = self.env.kube
        return {
            "firing": {
                r["metadata"]["name"]: (r.get("status") or {}).get("state")
                for r in kube.mlaiops("anomalyrules", self.namespace)
            },
            "executions": sum(
                len((b.get("status") or {}).get("executions") or [])
                for b in kube.mlaiops("remediationplaybooks", self.namespace)
            ),
            "runs": sum(
                len((p.get("status") or {}).get("runs") or []) for p in kube.mlaiops("retrainpolicies", self.namespace)
            ),
            "rollouts": {
                m["metadata"]["name"]: (
                    len((m.get("status") or {}).get("history") or []),
                    ((m.get("status") or {}).get("stableModel") or {}).get("version"),
                    ((m.get("status") or {}).get("failedModel") or {}).get("version"),
                )
                for m in kube.mlaiops("modeldeployments", self.namespace)
            },
        }

    def run(self) -> None:
        before = poll(self.snapshot, 30)
        if self.pending is not None:
            self.report.pending_at_stop = self.pending()
        self.report.states_at_stop = dict(before["firing"])
        self.env.sandbox.stop_prometheus(self.seconds)
        self.stopped_at = time.monotonic()
        back_at: float | None = None
        while back_at is None or time.monotonic() < back_at + self.grace:
            if back_at is None and self.env.sandbox.prometheus_running:
                back_at = time.monotonic()
            try:
                now = self.snapshot()
            except Exception:  # a read failing now is not a finding
                time.sleep(0.5)
                continue
            self.judge(before, now, down=back_at is None)
            time.sleep(0.5)

    def judge(self, before: JSON, now: JSON, down: bool) -> None:
        report = self.report
        for rule, state in now["firing"].items():
            if down and time.monotonic() - self.stopped_at > self.lag:
                report.rule_states.setdefault(rule, set()).add(state or "")
            if state == "Firing" and before["firing"].get(rule) != "Firing":
                report.violations.append(f"rule {rule} fired while data was missing")
        if now["executions"] > before["executions"]:
            report.violations.append(f"{now['executions'] - before['executions']} executions started during the outage")
        if now["runs"] > before["runs"]:
            report.violations.append("a retrain run started during the outage")
        for md, seen in now["rollouts"].items():
            if down and before["rollouts"].get(md) not in (None, seen):
                report.violations.append(f"{md}: rollout decision {seen} while Prometheus was down")
        before.update(now)  # report each change once


@contextmanager
def injected(env: Env, fault: Fault, seed: int) -> Iterator[None]:
    if fault.rules:
        admin(env, "POST", "/sandbox/faults", {"seed": seed, "rules": fault.rules})
    if fault.drop_watches:
        admin(env, "POST", "/sandbox/watches/drop")
    try:
        yield
    finally:
        if fault.rules:
            admin(env, "DELETE", "/sandbox/faults")


# --- one run ----------------------------------------------------------------------------------------


@dataclass
class Outcome:
    fault: Fault
    state: JSON | None = None
    converged: bool | None = None
    differences: list[str] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)
    lost: list[str] = field(default_factory=list)
    spurious: list[str] = field(default_factory=list)
    rule_states_in_outage: dict[str, list[str]] = field(default_factory=dict)
    rule_states_at_outage: dict[str, str | None] = field(default_factory=dict)
    kills: int = 0
    exits: int = 0  # the operator exited on its own (and was started again)
    faults_hit: int = 0
    seconds: float = 0.0
    error: str | None = None

    @property
    def ok(self) -> bool:
        return (
            self.error is None and self.converged is not False and not (self.duplicates or self.lost or self.spurious)
        )


def play(
    env: Env,
    scenario: Scenario,
    fault: Fault,
    reference: JSON | None = None,
    seed: int = 1,
    settle: float = 120.0,
) -> Outcome:
    """Play ``scenario`` under ``fault`` and judge it against ``reference`` (None: record it)."""
    outcome = Outcome(fault)
    scenario.setup()  # the audit is not cleared (others may read it): the ledger reads this namespace only
    supervisor = Supervisor(env)
    killer = Killer(supervisor, fault.kills, fault.kill_every, seed) if fault.kills else None
    outage: Outage | None = None
    began = cleared = time.monotonic()
    supervisor.start()
    try:
        with injected(env, fault, seed):
            if killer:
                killer.start()
            try:
                for act in scenario.acts():
                    if fault.outage and act.name == scenario.outage_act:
                        outage = Outage(
                            env, scenario.namespace, fault.outage, pending=getattr(scenario, "outage_pending", None)
                        )
                        outage.start()
                    act.run()
                    if outage is not None:
                        outage.join()
            except Exception as error:  # the table reports it
                outcome.error = f"{type(error).__name__}: {error}"
            finally:
                if killer:
                    killer.stop()
                    outcome.kills = len(killer.times)
                if outage is not None:
                    outage.join()
                if fault.rules:
                    outcome.faults_hit = sum(r["hits"] for r in admin(env, "GET", "/sandbox/faults")["rules"])
        cleared = time.monotonic()
        judge(env, scenario, outcome, outage, reference, settle)
        outcome.seconds = time.monotonic() - began
    finally:
        # A lease renewal slowed or failed by the fault can still cost the lease up to its renew deadline
        # after the fault is gone, and the operator then exits (as it must): keep restarting it until then.
        aftermath = LEASE_AFTERMATH if fault.rules else 0.0
        supervisor.stop(not_before=cleared + aftermath)
        outcome.exits = supervisor.exits
    return outcome


def judge(
    env: Env, scenario: Scenario, outcome: Outcome, outage: Outage | None, reference: JSON | None, settle: float
) -> None:
    """Fill in ``outcome``'s verdict: the outage's report, convergence on ``reference``, the ledger."""
    if outage is not None:
        outcome.spurious = outage.report.violations
        outcome.rule_states_in_outage = {k: sorted(v) for k, v in outage.report.rule_states.items()}
        outcome.rule_states_at_outage = outage.report.states_at_stop
        if outage.report.pending_at_stop is False and outcome.error is None:
            outcome.error = (
                f"nothing was pending as Prometheus stopped (rules: {outage.report.states_at_stop}): "
                "the outage proved nothing"
            )
        if (
            not any("Error" in states for states in outcome.rule_states_in_outage.values())
            and outcome.rule_states_in_outage
        ):
            outcome.spurious.append("no rule said Error while Prometheus was down")
    if reference is None:
        outcome.state = settled(env, scenario.namespace)
    else:
        try:
            outcome.state = poll(lambda: (s := end_state(env.kube, scenario.namespace)) == reference and s, settle)
            outcome.converged = True
        except (TimeoutError, AssertionError):  # poll's WaitTimeout is an AssertionError: report the differences
            outcome.state = end_state(env.kube, scenario.namespace)
            outcome.converged = False
            outcome.differences = differences(reference, outcome.state)
    books = ledger(env.kube, scenario.namespace, admin(env, "GET", "/sandbox/audit")["items"])
    outcome.duplicates, outcome.lost = books.duplicates, books.lost


def settled(env: Env, namespace: str, quiet: float = 3.0, timeout: float = 60.0) -> JSON:
    """The end state once two reads ``quiet`` seconds apart agree."""
    deadline = time.monotonic() + timeout
    last = end_state(env.kube, namespace)
    while time.monotonic() < deadline:
        time.sleep(quiet)
        now = end_state(env.kube, namespace)
        if now == last:
            return now
        last = now
    return last


# --- the table ----------------------------------------------------------------------------------------


def table(outcomes: list[Outcome]) -> str:
    lines = [
        "| fault | injected how | converged | duplicates | lost records | decisions without data | time to converge |",
        "|---|---|---|---:|---:|---:|---:|",
    ]
    for o in outcomes:
        extra = f" ({o.kills} kills)" if o.fault.kills else (f" ({o.faults_hit} hits)" if o.fault.rules else "")
        extra += f" ({o.exits} operator exits)" if o.exits else ""
        converged = "reference" if o.converged is None else ("yes" if o.converged else "NO")
        if o.error:
            converged += f" — {o.error[:80]}"
        # Only an outage leaves the operator without data: elsewhere the column is zero by construction.
        spurious = str(len(o.spurious)) if o.fault.outage else "n/a"
        lines.append(
            f"| {o.fault.name} | {o.fault.how}{extra} | {converged} | {len(o.duplicates)} | {len(o.lost)} "
            f"| {spurious} | {o.seconds:.0f} s |"
        )
    return "\n".join(lines)


def details(outcomes: list[Outcome]) -> str:
    out = []
    for o in outcomes:
        for label, items in (
            ("differs", o.differences),
            ("duplicate", o.duplicates),
            ("lost", o.lost),
            ("spurious", o.spurious),
        ):
            out += [f"{o.fault.name}: {label}: {item}" for item in items]
        if o.rule_states_at_outage:
            out.append(f"{o.fault.name}: rule states as Prometheus stopped: {o.rule_states_at_outage}")
        if o.rule_states_in_outage:
            out.append(f"{o.fault.name}: rule states while Prometheus was down: {o.rule_states_in_outage}")
    return "\n".join(out)

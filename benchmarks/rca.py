"""Probable cause, measured: inject faults whose cause is known, and check where the Incident ranks it.

    python benchmarks/rca.py                                  # 6 fault types x 5 runs = 30 runs
    python benchmarks/rca.py --runs-per-type 2 --types bad-rollout,load-surge --seed 3

One sandbox, one operator (its defaults: a playbook's pass every 5 s and at once when a rule fires), one
real Prometheus scraping every second, for every run; each run gets a fresh namespace, deleted after it
(an Incident ranks the changes of its own namespace only, so nothing of one run can be a candidate in
another), and up to ``--parallel`` runs go at once. Each namespace holds:

- ModelDeployment ``fraud`` (RollingUpdate; its pods are simulated: Running and Ready at once) whose model
  server calls the ``features`` service (``FEATURES_URL=http://features:8080`` in its runtime env);
- Deployment + Service ``features`` (the model server's dependency) and Deployment + Service ``web``
  (unrelated to the model);
- four AnomalyRules (1 s interval, threshold, ``for: 2s``): ``latency`` and ``requests`` on the
  ModelDeployment, ``features-errors`` on Deployment ``features``, ``restarts`` on every pod of the
  namespace (``kube_pod_container_status_restarts_total``, no target: it anchors on the pod's labels);
- a RemediationPlaybook on them (a harmless scale-out, ``spec.incident`` with a 10 s correlation window
  and notify to a local JSON receiver, one per run).

Symptoms other than restarts are gauges (``rca_signal{run, signal}``) of one shared exporter pod that this
script sets through files, at the moment the fault would show: the changes are real API operations the
operator observes, the pods' crash loop is real (the sandbox restarts the container), the latency, request
rate and error rate are not produced by real requests. Fault types and what counts as the true cause:

- bad-rollout: the ModelDeployment goes v1 -> v2; 1-5 s after v2 is rolled out, latency rises.
  True cause: ``Rollout: rollout of v2 on ModelDeployment/fraud``.
- bad-retrain: the ModelDeployment follows RetrainPolicy ``fraud-retrain`` (a real trainer Job); a second
  run is requested, promoted and rolled out; 1-5 s later latency rises. True cause: the RetrainPolicy's
  run or promotion of that version (``Retrain: RetrainPolicy fraud-retrain ... <run id>``), not the
  rollout it triggered.
- load-surge: the request rate rises tenfold, 2-5 s later latency rises; no change. True cause: the
  ``requests`` anomaly.
- dependency-down: ``features`` starts failing (error rate up), 2-5 s later the model's latency rises; no
  change. True cause: the ``features-errors`` anomaly.
- crash-loop: Deployment ``features`` (strategy Recreate) gets an image that crashes: its pod crash-loops
  and 2-5 s later the model's latency rises. True cause: ``Config: Deployment/features template changed``.
- unrelated-change: the bad rollout above, and 0-1 s before latency rises Deployment ``web`` gets a new
  image. True cause: the rollout (``web``'s change is closer in time but unrelated).

A run waits for an Incident holding the ``latency`` rule (the user's symptom) and its notification, lets
later anomalies join for ``--settle`` seconds and records the rank of the true cause among that Incident's
probable causes, the incidents opened and the notifications each sent; then it turns the symptoms off,
undoes the crash loop and waits for the resolution notification. A run that times out counts as a miss
(and is listed with what it waited for). Prints a Markdown table per fault type and
overall; with ``--show-misses`` the ranked causes of every run whose true cause was not first and the members
of every extra incident. ``RCA_DEBUG=1`` prints a failed run's ModelDeployment and RetrainPolicy status,
``RCA_SHOW_LOG=1`` the end of the operator's log.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness import BENCH_AGENT, SIMULATED_IMAGE, OperatorProcess, sandbox
from kubernetes import client, config
from mlaiops_demo.data import fraud_table
from mlaiops_sandbox.testing import Kubectl, exporters, fault_scenarios, wait_for
from mlaiops_sandbox.testing.sink import JsonSink

GROUP, VERSION = "mlaiops.dev", "v1alpha1"
FAULTS = ("bad-rollout", "bad-retrain", "load-surge", "dependency-down", "crash-loop", "unrelated-change")
BROKEN_IMAGE = "example.invalid/features:broken"
IMAGES = {BROKEN_IMAGE: "crash", "example.invalid/*": "run"}
SIGNALS_NAMESPACE = "rca-signals"
NORMAL = {"latency": 0.1, "requests": 10.0, "features_errors": 0.0}
FAULTY = {"latency": 1.0, "requests": 100.0, "features_errors": 1.0}
SIGNALS_EXPORTER = """
import os, time
from prometheus_client import start_http_server
from prometheus_client.core import GaugeMetricFamily, REGISTRY
root = os.environ["ROOT"]
class Signals:
    def collect(self):
        family = GaugeMetricFamily("rca_signal", "a symptom the RCA benchmark sets", labels=["run", "signal"])
        for run in sorted(os.listdir(root)):
            folder = os.path.join(root, run)
            for name in sorted(os.listdir(folder)) if os.path.isdir(folder) else []:
                try:
                    family.add_metric([run, name], float(open(os.path.join(folder, name)).read()))
                except (OSError, ValueError):
                    pass
        yield family
REGISTRY.register(Signals())
start_http_server(int(os.environ["PORT"]))
while True:
    time.sleep(3600)
"""
JSON = dict[str, Any]
RULES = ("latency", "requests", "features-errors", "restarts")


# --- scoring (pure) ------------------------------------------------------------------------------------


def true_cause(fault: str, namespace: str, retrain_run: str = "") -> Callable[[str], bool]:
    """Whether a probable cause's text names the injected fault's true cause."""
    if fault in ("bad-rollout", "unrelated-change"):
        return lambda cause: cause.startswith("Rollout: rollout of v2 on ModelDeployment/fraud")
    if fault == "bad-retrain":
        return lambda cause: (
            cause.startswith("Retrain: RetrainPolicy fraud-retrain") and bool(retrain_run) and retrain_run in cause
        )
    if fault == "load-surge":
        return lambda cause: cause.startswith(f"Anomaly: {namespace}/requests ")
    if fault == "dependency-down":
        return lambda cause: cause.startswith(f"Anomaly: {namespace}/features-errors ")
    if fault == "crash-loop":
        return lambda cause: cause.startswith("Config: Deployment/features template changed")
    raise ValueError(f"unknown fault type {fault!r}; known: {', '.join(FAULTS)}")


def rank_of(causes: list[str], is_true: Callable[[str], bool]) -> int | None:
    """1-based rank of the first cause that is the true one, or None when it is not listed."""
    return next((i + 1 for i, cause in enumerate(causes) if is_true(cause)), None)


@dataclass
class Result:
    """One run: where the true cause ranked and what the incident sent."""

    fault: str
    namespace: str
    rank: int | None = None
    causes: list[str] = field(default_factory=list)
    notified_cause: str | None = None
    incidents: int = 0
    opened: int = 0
    """Opened notifications of the run's incidents (one per incident is the target)."""
    resolved: bool = False
    """The incident's resolution was announced (one Resolved notification)."""
    resolutions: int = 0
    seconds: float = 0.0
    error: str = ""
    others: list[str] = field(default_factory=list)
    """The run's other incidents: their members (rule@since), for --show-misses."""


def summary(results: list[Result]) -> list[str]:
    """Markdown rows: per fault type and overall, top-1, top-3, notifications per incident, resolved."""
    rows = [
        "| fault type | runs | top-1 | top-3 | notified cause right | incidents per fault | opened notifications"
        " per incident | resolved (announced once) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    groups = [(f, [r for r in results if r.fault == f]) for f in FAULTS]
    for name, group in [*[(f, g) for f, g in groups if g], ("all", results)]:
        n = len(group)
        top1 = sum(1 for r in group if r.rank == 1)
        top3 = sum(1 for r in group if r.rank is not None and r.rank <= 3)
        notified = sum(1 for r in group if r.rank is not None and r.notified_cause == (r.causes or [None])[r.rank - 1])
        incidents = sum(r.incidents for r in group)
        opened = sum(r.opened for r in group)
        resolved = sum(1 for r in group if r.resolved and r.resolutions == 1)
        rows.append(
            f"| {'**all**' if name == 'all' else name} | {n} | {_pct(top1, n)} | {_pct(top3, n)} |"
            f" {_pct(notified, n)} | {incidents / n:.2f} | {opened / incidents if incidents else 0:.2f} |"
            f" {resolved}/{n} |"
        )
    return rows


def _pct(part: int, whole: int) -> str:
    return f"{part}/{whole} ({100 * part / whole:.0f}%)" if whole else "-"


# --- the objects of one run ----------------------------------------------------------------------------


def model_deployment(version: str | None, retrain: bool = False) -> JSON:
    model: JSON = (
        {"source": {"retrainPolicyRef": {"name": "fraud-retrain"}}}
        if retrain
        else {"storageUri": f"pvc://models/{version}/model.joblib", "version": version}
    )
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "ModelDeployment",
        "metadata": {"name": "fraud"},
        "spec": {
            "model": model,
            "replicas": 1,
            "runtime": {"image": SIMULATED_IMAGE, "env": [{"name": "FEATURES_URL", "value": "http://features:8080"}]},
            "rollout": {"strategy": "RollingUpdate"},
        },
    }


def workload(name: str, image: str, recreate: bool = False) -> list[JSON]:
    labels = {"app.kubernetes.io/name": name}
    deployment = fault_scenarios.deployment(name, image)
    if recreate:
        deployment["spec"]["strategy"] = {"type": "Recreate"}
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name},
        "spec": {"selector": labels, "ports": [{"port": 8080}]},
    }
    return [deployment, service]


def rules(namespace: str) -> list[JSON]:
    def rule(name: str, query: str, upper: float, target: JSON | None) -> JSON:
        return {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "AnomalyRule",
            "metadata": {"name": name, "labels": {"team": "rca"}},
            "spec": {
                "query": query,
                "interval": "1s",
                "fitWindow": "1m",
                "detector": {"type": "threshold", "upper": upper, "direction": "up"},
                "severity": "critical",
                "for": "2s",
                **({"target": target} if target else {}),
            },
        }

    def signal(name: str) -> str:
        return f'max(rca_signal{{run="{namespace}", signal="{name}"}})'

    model = {"kind": "ModelDeployment", "name": "fraud"}
    restarts = f'max by (namespace, pod) (kube_pod_container_status_restarts_total{{namespace="{namespace}"}})'
    return [
        rule("latency", signal("latency"), 0.5, model),
        rule("requests", signal("requests"), 50, model),
        rule("features-errors", signal("features_errors"), 0.5, {"kind": "Deployment", "name": "features"}),
        rule("restarts", restarts, 0.5, None),
    ]


def playbook() -> JSON:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "RemediationPlaybook",
        "metadata": {"name": "fix"},
        "spec": {
            # by name: a selector would match the rules of every namespace (the other runs' too)
            "triggers": [{"rules": [{"name": r} for r in RULES]}],
            "actions": [
                {"name": "scale-out", "type": "scale", "scale": {"delta": 1, "max": 3}, "verify": {"within": "10m"}}
            ],
            "guardrails": {"cooldown": "1s", "maxExecutions": 20, "window": "10m", "suppressDuringRollout": False},
            "incident": {
                "correlationWindow": "10s",
                "notify": {"urlSecretRef": {"name": "mlaiops-notify", "key": "url"}, "format": "generic"},
            },
        },
    }


def notify_secret(url: str) -> JSON:
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "mlaiops-notify"}, "stringData": {"url": url}}


# --- one run ---------------------------------------------------------------------------------------------


class Run:
    """One fault in its own namespace, from setup to the resolution's notification."""

    def __init__(self, bench: Bench, fault: str, namespace: str, rng: random.Random, settle: float) -> None:
        self.bench, self.fault, self.ns, self.rng, self.settle = bench, fault, namespace, rng, settle
        self.signals = bench.signals_dir / namespace
        self.result = Result(fault, namespace)
        self.sink = JsonSink()
        self.incident: str | None = None

    # helpers
    def set(self, **values: float) -> None:
        self.signals.mkdir(parents=True, exist_ok=True)
        for name, value in values.items():
            path = self.signals / name
            path.with_suffix(".tmp").write_text(str(value))
            path.with_suffix(".tmp").replace(path)  # the exporter never reads half a file

    def get(self, plural: str, name: str) -> JSON:
        obj: JSON = self.bench.custom.get_namespaced_custom_object(GROUP, VERSION, self.ns, plural, name)
        return obj

    def status(self, plural: str, name: str) -> JSON:
        return self.get(plural, name).get("status") or {}

    def incidents(self) -> list[JSON]:
        items = self.bench.custom.list_namespaced_custom_object(GROUP, VERSION, self.ns, "incidents")["items"]
        return sorted(items, key=lambda i: (i.get("status") or {}).get("startedAt") or "")

    def notifications(self) -> list[JSON]:
        return [b for b in self.sink.bodies() if str(b.get("event", "")).startswith("Incident")]

    # phases
    def setup(self) -> None:
        kubectl, ns = self.bench.kubectl, self.ns
        kubectl.ensure_namespace(ns)
        self.set(**NORMAL)
        retrain = self.fault == "bad-retrain"
        objects = [
            notify_secret(self.sink.url()),
            *workload("features", "example.invalid/features:1", recreate=True),
            *workload("web", "example.invalid/web:1"),
        ]
        if retrain:
            data = self.bench.sandbox_dir / "volumes" / ns / "fraud-data"
            data.mkdir(parents=True, exist_ok=True)
            (data / "transactions.csv").write_text(fraud_table(1500, seed=1))
            objects.append(fault_scenarios.retrain_policy(minimum=0.5))  # a loose gate: it passes
        objects.append(model_deployment("v1", retrain=retrain))
        kubectl.apply(objects, ns)
        if retrain:
            self.request_retrain("first-model")
        wait_for(lambda: self.status("modeldeployments", "fraud").get("phase") == "Ready", 150, what=f"{ns}: model")
        kubectl.apply([*rules(ns), playbook()], ns)

        def normal() -> bool:
            return all(self.status("anomalyrules", r["metadata"]["name"]).get("state") == "Normal" for r in rules(ns))

        wait_for(normal, 120, what=f"{ns}: every rule Normal")
        wait_for(lambda: bool(self.status("remediationplaybooks", "fix")), 60, what=f"{ns}: the playbook reconciled")

    def request_retrain(self, reason: str) -> None:
        self.bench.kubectl.run(
            "annotate", "-n", self.ns, "rtp/fraud-retrain", f"mlaiops.dev/retrain={reason}", "--overwrite"
        )

    def inject(self) -> str:
        """The fault; returns the id of the retrain run it promoted (bad-retrain), else ''."""
        ns, kubectl, fault, rng = self.ns, self.bench.kubectl, self.fault, self.rng
        if fault in ("bad-rollout", "unrelated-change"):
            kubectl.apply(model_deployment("v2"), ns)
            wait_for(
                lambda: (self.status("modeldeployments", "fraud").get("stableModel") or {}).get("version") == "v2",
                120,
                what=f"{ns}: v2 rolled out",
            )
            time.sleep(rng.uniform(1, 5))
            if fault == "unrelated-change":
                kubectl.apply(workload("web", "example.invalid/web:2")[0], ns)
                time.sleep(rng.uniform(0, 1))
            self.set(latency=FAULTY["latency"])
            return ""
        if fault == "bad-retrain":
            before = (self.status("retrainpolicies", "fraud-retrain").get("promoted") or {}).get("version")
            self.request_retrain("new-data")
            version = wait_for(
                lambda: (
                    (v := (self.status("retrainpolicies", "fraud-retrain").get("promoted") or {}).get("version"))
                    != before
                    and v
                ),
                150,
                what=f"{ns}: the second run promoted",
            )
            wait_for(
                lambda: (self.status("modeldeployments", "fraud").get("stableModel") or {}).get("version") == version,
                120,
                what=f"{ns}: the promoted model rolled out",
            )
            time.sleep(rng.uniform(1, 5))
            self.set(latency=FAULTY["latency"])
            return str(version)
        if fault in ("load-surge", "dependency-down"):
            self.set(**({"requests": FAULTY["requests"]} if fault == "load-surge" else {"features_errors": 1.0}))
            time.sleep(rng.uniform(2, 5))
            self.set(latency=FAULTY["latency"])
            return ""
        if fault == "crash-loop":
            kubectl.apply(workload("features", BROKEN_IMAGE, recreate=True)[0], ns)
            time.sleep(rng.uniform(2, 5))
            self.set(latency=FAULTY["latency"])
            return ""
        raise ValueError(f"unknown fault type {fault!r}")

    def the_incident(self) -> JSON | None:
        for incident in self.incidents():
            members = (incident.get("status") or {}).get("anomalies") or []
            if any(m.get("rule") == f"{self.ns}/latency" for m in members):
                return incident
        return None

    def observe(self, retrain_run: str) -> None:
        incident = wait_for(self.the_incident, 120, what=f"{self.ns}: an incident holding the latency anomaly")
        name = incident["metadata"]["name"]
        wait_for(lambda: any(b.get("incident") == name for b in self.notifications()), 60, what=f"{self.ns}: notified")
        time.sleep(self.settle)  # later anomalies join; the ranking is read after them
        final = self.get("incidents", name)
        causes = [c["cause"] for c in (final.get("status") or {}).get("probableCauses") or []]
        opened = next((b for b in self.notifications() if b.get("incident") == name), {})
        self.result.causes = causes
        self.result.notified_cause = opened.get("probableCause")
        self.result.rank = rank_of(causes, true_cause(self.fault, self.ns, retrain_run))
        self.incident = name

    def resolve(self) -> None:
        self.set(**NORMAL)
        if self.fault == "crash-loop":
            self.bench.kubectl.apply(workload("features", "example.invalid/features:1", recreate=True)[0], self.ns)

        def announced() -> bool:
            return any(
                b.get("event") == "IncidentResolved" and b.get("incident") == self.incident
                for b in self.notifications()
            )

        try:
            wait_for(announced, 90, what=f"{self.ns}: the resolution announced")
        except Exception as error:  # recorded as not resolved, the run still counts
            self.result.error = f"resolution: {error}"
        time.sleep(2)  # a second resolution (or a late Opened) would be counted

    def play(self) -> Result:
        began = time.monotonic()
        try:
            self.setup()
            retrain_run = self.inject()
            self.observe(retrain_run)
            self.resolve()
        except Exception as error:  # one run's failure is reported, the others go on
            self.result.error = self.result.error or f"{type(error).__name__}: {error}"[:300]
            if os.environ.get("RCA_DEBUG"):
                for plural in ("modeldeployments", "retrainpolicies"):
                    for item in self.bench.custom.list_namespaced_custom_object(GROUP, VERSION, self.ns, plural)[
                        "items"
                    ]:
                        print(f"{self.ns} {plural}/{item['metadata']['name']}: {item.get('status')}", flush=True)
        finally:
            sent = self.notifications()
            found = self.incidents()
            self.result.incidents = len(found)
            self.result.others = [
                ", ".join(
                    f"{m['rule'].rpartition('/')[2]}@{m['since'][11:19]}" for m in i["status"].get("anomalies") or []
                )
                for i in found
                if i["metadata"]["name"] != self.incident
            ]
            self.result.opened = sum(1 for b in sent if b.get("event") == "IncidentOpened")
            self.result.resolutions = sum(
                1 for b in sent if b.get("event") == "IncidentResolved" and b.get("incident") == self.incident
            )
            self.result.resolved = self.result.resolutions >= 1
            self.result.seconds = time.monotonic() - began
            self.sink.close()
            self.bench.kubectl.run("delete", "namespace", self.ns, "--wait=false", check=False)
            shutil.rmtree(self.signals, ignore_errors=True)
        return self.result


# --- the benchmark ----------------------------------------------------------------------------------------


@dataclass
class Bench:
    kubectl: Kubectl
    custom: client.CustomObjectsApi
    sandbox_dir: Path
    signals_dir: Path
    lock: threading.Lock = field(default_factory=threading.Lock)


def plan(types: list[str], runs_per_type: int, seed: int) -> list[tuple[str, str]]:
    """(fault, namespace) for every run, fault types interleaved in a seeded order."""
    runs = [(fault, i) for i in range(runs_per_type) for fault in types]
    random.Random(seed).shuffle(runs)
    return [(fault, f"rca-{n:02d}-{fault}") for n, (fault, _) in enumerate(runs)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--types", default=",".join(FAULTS), help=f"comma-separated, from {', '.join(FAULTS)}")
    parser.add_argument("--runs-per-type", type=int, default=5)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--parallel", type=int, default=3, help="runs at once (each in its own namespace)")
    parser.add_argument("--settle", type=float, default=8.0, help="seconds after the notification before reading")
    parser.add_argument("--show-misses", action="store_true", help="print the ranked causes of every miss")
    args = parser.parse_args(argv)
    types = [t.strip() for t in args.types.split(",") if t.strip()]
    unknown = [t for t in types if t not in FAULTS]
    if unknown or not types:
        parser.error(f"--types: unknown {unknown}; known: {', '.join(FAULTS)}")
    for flag, value in (("--runs-per-type", args.runs_per_type), ("--parallel", args.parallel)):
        if value < 1:
            parser.error(f"{flag} must be at least 1, not {value}")
    runs = plan(types, args.runs_per_type, args.seed)
    command = "python benchmarks/rca.py " + " ".join(argv if argv is not None else sys.argv[1:])
    print(f"{command.strip()}: {len(runs)} runs over {len(types)} fault types, {os.cpu_count()} cores", flush=True)

    results: list[Result] = []
    began = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="mlaiops-rca-") as tmp, sandbox(Path(tmp) / "sandbox", images=IMAGES) as sb:
        api = config.new_client_from_config(config_file=str(sb.kubeconfig_path))
        api.user_agent = BENCH_AGENT
        kubectl = Kubectl(sb.kubeconfig_path)
        signals_dir = sb.dir / "volumes" / SIGNALS_NAMESPACE / "signals"
        signals_dir.mkdir(parents=True, exist_ok=True)
        kubectl.ensure_namespace(SIGNALS_NAMESPACE)
        kubectl.apply(
            exporters.exporter(
                "signals", SIGNALS_EXPORTER, {"ROOT": "/signals"}, image="mlaiops:bench", claim="signals"
            ),
            SIGNALS_NAMESPACE,
        )
        bench = Bench(kubectl, client.CustomObjectsApi(api), sb.dir, signals_dir)
        with OperatorProcess(sb, Path(tmp) / "operator.log") as operator:
            operator.wait_healthy()

            def one(item: tuple[int, tuple[str, str]]) -> Result:
                index, (fault, namespace) = item
                time.sleep(index * 2.0 if index < args.parallel else 0)  # staggered start
                result = Run(bench, fault, namespace, random.Random(f"{args.seed}/{namespace}"), args.settle).play()
                with bench.lock:
                    where = f"rank {result.rank}" if result.rank else "not ranked"
                    print(
                        f"{namespace}: {where}, {result.incidents} incident(s), {result.opened} opened,"
                        f" resolved {result.resolved} ({result.seconds:.0f} s){' ' + result.error if result.error else ''}",
                        flush=True,
                    )
                return result

            with ThreadPoolExecutor(args.parallel) as pool:
                results = list(pool.map(one, enumerate(runs)))
            if os.environ.get("RCA_SHOW_LOG"):
                print(operator.log.read_text()[-5000:])
    elapsed = time.monotonic() - began
    print(
        f"\n{command.strip()}\n{len(results)} runs, {len(types)} fault types, seed {args.seed}, {args.parallel} at once,"
        f" 1 s scrape, 1 s rule interval (for 2s), 10 s correlation window, settle {args.settle:g} s;"
        f" {elapsed / 60:.1f} min\n"
    )
    print("\n".join(summary(results)))
    failed = [r for r in results if r.error]
    for r in failed:
        print(f"- {r.namespace}: {r.error}")
    if args.show_misses:
        for r in results:
            if r.others:
                print(f"\n{r.namespace}: {len(r.others)} more incident(s): " + "; ".join(r.others))
            if r.rank != 1:
                print(f"\nmiss {r.namespace} (true cause at rank {r.rank}):")
                for i, cause in enumerate(r.causes[:5], 1):
                    print(f"  {i}. {cause}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

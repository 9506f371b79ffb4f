"""What a fault run is judged on, read from the cluster and the sandbox's request audit.

The end state is everything a user would look at once the loop has settled (model versions, runs,
executions, incidents, workload sizes) with run ids replaced by their order, so that two runs of
the same scenario compare equal. Duplicates and lost records are counted from Jobs, Events and the
audit of writes that reached the server, which a restarted or retrying operator cannot hide.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from kubernetes import client

from mlaiops_sandbox.testing.wait import wait_for

JSON = dict[str, Any]
GROUP, VERSION = "mlaiops.dev", "v1alpha1"
RUN_LABEL = "mlaiops.dev/run"
# Requests of these clients are the harness's and the user's (kubectl), not the operator's.
NOT_OPERATOR = ("kubectl/", "mlaiops-faults-harness")


@dataclass
class Clients:
    core: client.CoreV1Api
    apps: client.AppsV1Api
    batch: client.BatchV1Api
    custom: client.CustomObjectsApi

    @classmethod
    def from_api(cls, api: client.ApiClient) -> Clients:
        return cls(client.CoreV1Api(api), client.AppsV1Api(api), client.BatchV1Api(api), client.CustomObjectsApi(api))

    def mlaiops(self, plural: str, namespace: str) -> list[JSON]:
        return self.custom.list_namespaced_custom_object(GROUP, VERSION, namespace, plural)["items"]


def _status(obj: JSON) -> JSON:
    return obj.get("status") or {}


def run_names(policies: list[JSON]) -> dict[str, str]:
    """Run id -> `<policy>#<n>` (n counts from the oldest run): stable across repeated scenarios."""
    names: dict[str, str] = {}
    for policy in policies:
        runs = list(reversed(_status(policy).get("runs") or []))
        for index, run in enumerate(runs, 1):
            names[run["id"]] = f"{policy['metadata']['name']}#{index}"
    return names


def end_state(kube: Clients, namespace: str) -> JSON:
    """The outcome of a scenario in one comparable document."""
    policies = kube.mlaiops("retrainpolicies", namespace)
    names = run_names(policies)

    def version(model: JSON | None) -> str | None:
        ver = (model or {}).get("version")
        return names.get(ver, ver) if ver else None

    state: JSON = {"modelDeployments": {}, "retrainPolicies": {}, "anomalyRules": {}, "playbooks": {}}
    for md in kube.mlaiops("modeldeployments", namespace):
        status = _status(md)
        state["modelDeployments"][md["metadata"]["name"]] = {
            "phase": status.get("phase"),
            "stable": version(status.get("stableModel")),
            "canary": version(status.get("canaryModel")),
            "failed": version(status.get("failedModel")),
        }
    for policy in policies:
        status = _status(policy)
        runs = list(reversed(status.get("runs") or []))
        state["retrainPolicies"][policy["metadata"]["name"]] = {
            "runs": [(run["phase"], run.get("rolloutOutcome")) for run in runs],
            "promoted": version(status.get("promoted")),
        }
    for rule in kube.mlaiops("anomalyrules", namespace):
        state["anomalyRules"][rule["metadata"]["name"]] = _status(rule).get("state")
    for book in kube.mlaiops("remediationplaybooks", namespace):
        executions = [e for e in reversed(_status(book).get("executions") or []) if e["state"] != "Refused"]
        state["playbooks"][book["metadata"]["name"]] = [
            (e["state"], e.get("reason"), [(s["action"], s.get("result")) for s in e.get("steps") or []])
            for e in executions
        ]
    state["incidents"] = sorted(
        ((i.get("spec") or {}).get("target"), _status(i).get("phase")) for i in kube.mlaiops("incidents", namespace)
    )
    state["workloads"] = {
        d.metadata.name: d.spec.replicas
        for d in kube.apps.list_namespaced_deployment(namespace).items
        if not d.metadata.owner_references
    }
    return state


def differences(expected: JSON, actual: JSON) -> list[str]:
    """Human-readable paths where two end states differ."""
    out: list[str] = []

    def walk(path: str, a: Any, b: Any) -> None:
        if isinstance(a, dict) and isinstance(b, dict):
            for key in sorted(set(a) | set(b), key=str):
                walk(f"{path}.{key}" if path else str(key), a.get(key), b.get(key))
        elif a != b:
            out.append(f"{path}: expected {a!r}, got {b!r}")

    walk("", expected, actual)
    return out


@dataclass
class Ledger:
    """Duplicated actions and lost records of one run, each with what it was."""

    duplicates: list[str] = field(default_factory=list)
    lost: list[str] = field(default_factory=list)


def _event_counts(kube: Clients, namespace: str) -> Counter[tuple[str, str, str]]:
    """(involved object, reason, message) -> how many times it was posted (Events aggregate by count)."""
    counts: Counter[tuple[str, str, str]] = Counter()
    for event in kube.core.list_namespaced_event(namespace).items:
        involved = f"{event.involved_object.kind}/{event.involved_object.name}"
        counts[(involved, event.reason or "", event.message or "")] += event.count or 1
    return counts


def _per_key(counts: Counter[tuple[str, str, str]], reason: str, pattern: str) -> Counter[str]:
    """How many times each id (first group of ``pattern`` in the message) was announced with ``reason``.
    One announcement goes to several objects (the playbook and the rule, say): the count of an id is
    its largest count on any one object."""
    keyed: Counter[str] = Counter()
    for (_, why, message), count in counts.items():
        if why == reason and (found := re.match(pattern, message)):
            keyed[found.group(1)] = max(keyed[found.group(1)], count)
    return keyed


def ledger(kube: Clients, namespace: str, audit: list[JSON]) -> Ledger:
    """Count what happened more than once and what happened without a record."""
    result = Ledger()
    policies = kube.mlaiops("retrainpolicies", namespace)
    recorded_runs = {run["id"] for p in policies for run in _status(p).get("runs") or []}
    jobs = kube.batch.list_namespaced_job(namespace).items
    per_run = Counter(
        (j.metadata.labels or {}).get(RUN_LABEL) for j in jobs if (j.metadata.labels or {}).get(RUN_LABEL)
    )
    result.duplicates += [f"{n} Jobs for run {run}" for run, n in per_run.items() if n > 1]
    result.lost += [f"Job of run {run} has no run record" for run in per_run if run not in recorded_runs]

    ours = [r for r in audit if r["namespace"] == namespace and 200 <= r["code"] < 300]
    ours = [r for r in ours if not any(agent in r["userAgent"] for agent in NOT_OPERATOR)]
    job_creates = sum(1 for r in ours if r["verb"] == "create" and r["resource"] == "jobs")
    if job_creates > len(per_run):
        result.duplicates.append(f"{job_creates} Job creations for {len(per_run)} runs")

    books = kube.mlaiops("remediationplaybooks", namespace)
    executions = {e["id"]: e for b in books for e in _status(b).get("executions") or []}
    scale_steps: Counter[str] = Counter()
    for execution in executions.values():
        for step in execution.get("steps") or []:
            if step.get("result") == "Succeeded" and "replicas" in (step.get("params") or {}):
                scale_steps[(execution.get("target") or "").split("/")[-1]] += 1
    scale_writes = Counter(r["name"] for r in ours if r["subresource"] == "scale" and r["verb"] in ("patch", "update"))
    for name, writes in scale_writes.items():
        if writes > scale_steps[name]:
            result.duplicates.append(f"{writes} scale writes on {name} for {scale_steps[name]} scale steps")

    events = _event_counts(kube, namespace)
    starts = _per_key(events, "RunStarted", r"run (\S+) started")
    result.duplicates += [f"run {run} started {n} times" for run, n in starts.items() if n > 1]
    result.lost += [f"run {run} announced but not recorded" for run in starts if run not in recorded_runs]
    promoted = _per_key(events, "Promoted", r"run (\S+) promoted")
    result.duplicates += [f"run {run} promoted {n} times" for run, n in promoted.items() if n > 1]
    started = _per_key(events, "ExecutionStarted", r"execution (\S+) on ")
    result.duplicates += [f"execution {e} started {n} times" for e, n in started.items() if n > 1]
    result.lost += [f"execution {e} announced but not recorded" for e in started if e not in executions]
    steps = _per_key(events, "StepSucceeded", r"(\S+ \S+) on ")
    result.duplicates += [f"step {s} succeeded {n} times" for s, n in steps.items() if n > 1]
    incidents = {i["metadata"]["name"] for i in kube.mlaiops("incidents", namespace)}
    result.lost += [
        f"incident {e['incident']} of execution {e['id']} missing"
        for e in executions.values()
        if e.get("incident") and e["state"] not in ("Refused",) and e["incident"] not in incidents
    ]
    return result


def poll(condition: Callable[[], Any], timeout: float, interval: float = 0.5) -> Any:
    """The first truthy value of ``condition()`` within ``timeout`` (API errors count as "not yet")."""
    return wait_for(
        condition, timeout, interval, ignore=(client.ApiException, OSError, KeyError, TypeError, IndexError)
    )

"""What each step of the story waits for, read from objects as the API server returns them (pure).

Each check returns the object (or time) that shows the expected outcome, None while it is not there
yet, and raises ``StepFailed`` as soon as the cluster shows the step cannot succeed any more.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from mlaiops.report.model import parse_time
from mlaiops_demo.objects import LABEL_METRIC


class StepFailed(Exception):
    """A step of the story did not reach its expected outcome in time."""


def rule_ready(rule: dict[str, Any]) -> dict[str, Any] | None:
    """The rule's status once it evaluated a few times and found nothing; a rule that fires already fails."""
    status = rule.get("status") or {}
    if status.get("state") in ("Firing", "Pending"):
        seen = "; ".join(f"{s.get('value')} against {s.get('upper')}" for s in status.get("series") or [])
        raise StepFailed(
            f"AnomalyRule {rule['metadata']['name']} is {status['state']} before anything happened (value {seen})"
        )
    return status if status.get("state") == "Normal" and (status.get("evaluations") or 0) >= 3 else None


def firing_since(rule: dict[str, Any]) -> datetime | None:
    """When the rule's first series started firing."""
    series = [s for s in (rule.get("status") or {}).get("series") or [] if s.get("state") == "Firing"]
    return parse_time(series[0]["since"]) if series else None


def latest_execution(playbook: dict[str, Any]) -> dict[str, Any] | None:
    """The newest execution that acted (refusals are records, not executions)."""
    live = [e for e in (playbook.get("status") or {}).get("executions") or [] if e["state"] != "Refused"]
    return live[0] if live else None


def step_done(playbook: dict[str, Any], action: str) -> dict[str, Any] | None:
    execution = latest_execution(playbook)
    step = next((s for s in (execution or {}).get("steps") or [] if s["action"] == action), None)
    if step is not None and step["result"] in ("Failed", "Refused"):
        raise StepFailed(f"{action}: {step['result']}: {step.get('message')}")
    return step if step is not None and step["result"] == "Succeeded" else None


def verified(playbook: dict[str, Any]) -> dict[str, Any] | None:
    execution = latest_execution(playbook) or {}
    if execution.get("state") in ("Failed", "Expired", "DryRun"):
        raise StepFailed(f"execution {execution['id']} {execution['state']}: {execution.get('message')}")
    return execution if execution.get("state") == "Succeeded" else None


def playbook_run(policy: dict[str, Any]) -> dict[str, Any] | None:
    run = next((r for r in (policy.get("status") or {}).get("runs") or [] if r["trigger"] == "playbook"), None)
    if run is not None and run["phase"] in ("Failed", "Rejected", "Expired"):
        raise StepFailed(f"retraining run {run['id']} {run['phase']}: {run.get('decision')}")
    return run if run is not None and run["phase"] == "Promoted" else None


def promoted(md: dict[str, Any], version: str) -> dict[str, Any] | None:
    status = md.get("status") or {}
    last = (status.get("history") or [{}])[0]
    if last.get("version") == version and last.get("outcome") != "Promoted":
        raise StepFailed(f"the canary of {version} ended {last.get('outcome')}: {last.get('message')}")
    promoted = (status.get("stableModel") or {}).get("version") == version and last.get("version") == version
    return md if promoted and status.get("phase") == "Ready" else None


def resolved(incident: dict[str, Any]) -> dict[str, Any] | None:
    return incident if (incident.get("status") or {}).get("phase") == "Resolved" else None


def first_run(policy: dict[str, Any], wanted: str) -> dict[str, Any] | None:
    """The newest run once it reached ``wanted``; a failed training fails the step."""
    runs = (policy.get("status") or {}).get("runs") or []
    if runs and runs[0]["phase"] == "Failed":
        raise StepFailed(f"training failed: {runs[0].get('decision')}")
    return runs[0] if runs and runs[0]["phase"] == wanted else None


def phase(md: dict[str, Any], wanted: str) -> dict[str, Any] | None:
    """The ModelDeployment once its phase is ``wanted``."""
    return md if (md.get("status") or {}).get("phase") == wanted else None


def failed(md: dict[str, Any], version: str) -> dict[str, Any] | None:
    """The ModelDeployment once ``version`` was rolled back; promoting it fails the step."""
    status = md.get("status") or {}
    if (status.get("stableModel") or {}).get("version") == version:
        results = "; ".join(f"{r['name']}={r.get('value')} ({r['phase']})" for r in status.get("analysis") or [])
        raise StepFailed(f"{version} was promoted although it is slow; last analysis: {results}")
    return md if (status.get("failedModel") or {}).get("version") == version else None


def label_result(md: dict[str, Any]) -> dict[str, Any] | None:
    """The label metric's last evaluation in the canary's analysis (kept in status.analysis after the rollout
    ends, until the next canary starts), or None when it was never evaluated."""
    results = (md.get("status") or {}).get("analysis") or []
    return next((r for r in results if r.get("name") == LABEL_METRIC), None)


def describe_labels(result: dict[str, Any] | None) -> str:
    """What the label metric said, short: both tracks' labelled accuracy and counts, or why it could not say."""
    if result is None:
        return f"{LABEL_METRIC} not evaluated"
    message = str(result.get("message") or result.get("phase"))
    return message.split(": sequential p=")[0]  # the p-value is for the record, the accuracies are the news

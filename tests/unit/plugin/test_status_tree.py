"""`kubectl mlaiops status`: which objects belong under which ModelDeployment, and how the tree reads."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from mlaiops.plugin.tree import age, overview, render, summarize
from tests.unit.plugin.fixtures import anomaly_rule, execution, model_deployment, playbook, retrain_policy

NOW = datetime(2026, 11, 27, 8, 10, tzinfo=UTC)


def cluster() -> tuple[list, list, list, list]:
    rules = [
        anomaly_rule("latency-high", team="fraud"),
        anomaly_rule("elsewhere", target=None, state="Normal"),
    ]
    playbooks = [
        playbook("by-name", [{"rules": [{"name": "latency-high"}]}], [execution("e1", "AwaitingApproval")]),
        playbook("by-selector", [{"selector": {"matchLabels": {"team": "fraud"}}}]),
        playbook("unrelated", [{"rules": [{"name": "elsewhere"}]}]),
    ]
    return [model_deployment()], rules, playbooks, [retrain_policy()]


def test_rules_playbooks_and_policy_are_attached_to_their_model_deployment() -> None:
    mds, rules, playbooks, policies = cluster()
    item = summarize(mds[0], rules, playbooks, policies)
    assert [r["name"] for r in item["anomalyRules"]] == ["latency-high"]
    assert [p["name"] for p in item["remediationPlaybooks"]] == ["by-name", "by-selector"]
    assert [p["name"] for p in item["retrainPolicies"]] == ["fraud-retrain"]
    assert (item["stable"], item["canary"], item["canaryWeight"], item["currentStep"], item["steps"]) == (
        "v1",
        "v2",
        25,
        0,
        2,
    )
    assert item["remediationPlaybooks"][0]["lastExecution"]["id"] == "e1"


def test_objects_of_another_namespace_are_not_attached() -> None:
    mds, rules, playbooks, policies = cluster()
    rules[0]["metadata"]["namespace"] = "other"
    policies[0]["metadata"]["namespace"] = "other"
    item = summarize(mds[0], rules, playbooks, policies)
    assert item["anomalyRules"] == [] and item["retrainPolicies"] == []


def test_objects_attached_to_nothing_are_listed_apart() -> None:
    view = overview(*cluster())
    assert [r["name"] for r in view.other_rules] == ["elsewhere"]
    assert [p["name"] for p in view.other_playbooks] == ["unrelated"]
    assert view.other_policies == []


def test_tree_shows_rollout_analysis_rules_playbooks_runs_and_history() -> None:
    text = render(overview(*cluster()), colour=False, now=NOW)
    lines = text.splitlines()
    assert lines[0] == "ModelDeployment shop/fraud  ◌ Progressing"
    assert "├── Model:     stable v1  canary v2 (25%, step 1/2)" in lines
    assert "├── Replicas:  3/3 ready" in lines
    assert "│   ├── request-duration  0.2  ✖ Failed  (1 passed, 1 failed)" in lines
    assert any(
        line.startswith("├── AnomalyRule latency-high  ✖ Firing  1 firing, 2 firings, 40 evaluations, last 10s ago")
        for line in lines
    )
    assert '│   └── {pod="fraud-stable-1"}  ✖ Firing  value 0.9  expected 0.1  score 3.5  since 1m' in lines
    assert "│   └── last execution e1  ◌ AwaitingApproval  AnomalyRule/latency-high  50s ago" in lines
    assert "│       └── restart-0  ✔ Succeeded  verified" in lines
    assert any("run r20261127-080000  manual  ✔ Promoted  Promoted: roc_auc 0.93  10m ago" in line for line in lines)
    assert "    └── v1  ✔ Promoted  AnalysisPassed  10m ago  all steps passed" in lines
    assert "Not attached to a ModelDeployment" in lines
    assert "\033[" not in text


def test_colour_marks_states_only_when_asked() -> None:
    text = render(overview(*cluster()), colour=True, now=NOW)
    assert "\033[31m✖ Firing\033[0m" in text and "\033[32m✔ Promoted\033[0m" in text


def test_json_output_is_the_summary() -> None:
    data = json.loads(json.dumps(overview(*cluster()).to_json()))
    assert data["modelDeployments"][0]["name"] == "fraud"
    assert data["unattached"]["anomalyRules"][0]["namespace"] == "shop"


def test_empty_cluster_says_so() -> None:
    assert render(overview([], [], [], [])) == "No mlaiops objects found.\n"


def test_model_deployment_without_status_renders() -> None:
    md = model_deployment()
    md["status"] = {}
    assert render(overview([md], [], [], []), now=NOW).splitlines()[:3] == [
        "ModelDeployment shop/fraud  • Unknown",
        "├── Model:     stable -",
        "└── Replicas:  - ready",
    ]


def test_age() -> None:
    assert age("2026-11-27T08:09:55Z", NOW) == "5s"
    assert age("2026-11-27T05:09:30.123456Z", NOW) == "3h"
    assert age("2026-11-25T08:10:00+00:00", NOW) == "2d"
    assert age(None, NOW) == "-"


def test_incidents_on_the_deployment_show_open_ones_with_their_probable_cause() -> None:
    from tests.unit.plugin.test_timeline_incidents import incident

    resolved = incident()
    opened = incident()
    opened["metadata"]["name"] = "inc-8"
    opened["status"].update(phase="Open", startedAt="2026-11-27T08:09:50Z", resolution=None)
    elsewhere = incident()
    elsewhere["spec"]["target"] = "Deployment/web"
    mds, rules, playbooks, policies = cluster()
    text = render(overview(mds, rules, playbooks, policies, [resolved, opened, elsewhere]), now=NOW)
    lines = text.splitlines()
    first = next(i for i, line in enumerate(lines) if "Incident inc-8" in line)
    assert lines[first].endswith("Incident inc-8  ✖ Open  shop/latency-high, 1 steps, 10s ago")
    assert lines[first + 1].endswith("probable cause: rollout of v2 (Promoted: AnalysisPassed)")
    assert any(line.endswith("Incident inc-7  ✔ Resolved  shop/latency-high, 1 steps, 1m ago") for line in lines)
    assert sum("Incident inc-7" in line for line in lines) == 1  # the one on Deployment/web is not here


def test_a_rollback_request_the_operator_took_is_shown() -> None:
    md = model_deployment(rollbackRequest="bad-predictions@20261127T080000Z")
    assert "├── Rollback:  bad-predictions@20261127T080000Z (taken)" in render(overview([md], [], [], []), now=NOW)

"""``kubectl mlaiops status``, pure: relate objects to their ModelDeployment, summarise, draw a tree.

``summarize`` turns what the API server returned into one plain dict per ModelDeployment (that
is the ``-o json`` output); ``render`` draws that dict as a tree, like ``kubectl argo rollouts get``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from mlaiops.api.common import LabelSelector
from mlaiops.remediation import topology
from mlaiops.remediation.matching import selector_matches
from mlaiops.report.model import parse_time

JSON = dict[str, Any]
HISTORY_SHOWN = 5
RUNS_SHOWN = 3
INCIDENTS_SHOWN = 3
TOPOLOGY_HOPS = 2
"""How far ``status`` looks around a ModelDeployment in the topology (its Deployments' pods are two hops away)."""
TOPOLOGY_SHOWN = 20

GOOD = frozenset({"Ready", "Normal", "Idle", "Successful", "Succeeded", "Promoted", "True", "Resolved"})
WARN = frozenset(
    {"Progressing", "Pending", "AwaitingApproval", "Training", "CoolingDown", "Running", "Verifying", "DryRun"}
)
BAD = frozenset(
    {
        "Degraded",
        "Failed",
        "RolledBack",
        "Firing",
        "Error",
        "NoData",
        "Suspended",
        "Rejected",
        "Expired",
        "Refused",
        "Open",
    }
)
ICONS = {"good": "✔", "warn": "◌", "bad": "✖", "": "•"}
COLOURS = {"good": "\033[32m", "warn": "\033[33m", "bad": "\033[31m", "": ""}
RESET = "\033[0m"


def tone(word: str | None) -> str:
    if word in GOOD:
        return "good"
    if word in WARN:
        return "warn"
    if word in BAD:
        return "bad"
    return ""


def age(stamp: str | None, now: datetime) -> str:
    """``42s``, ``5m``, ``3h``, ``2d`` since a Kubernetes timestamp; ``-`` when unknown."""
    when = parse_time(stamp)
    if when is None:
        return "-"
    total = max(0, int((now - when).total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if total >= size:
            return f"{total // size}{unit}"
    return f"{total}s"


# --- relations ------------------------------------------------------------------------------------


def _name(obj: JSON) -> str:
    return obj["metadata"]["name"]


def _ns(obj: JSON) -> str:
    return obj["metadata"].get("namespace", "")


def targets(obj: JSON, md: JSON) -> bool:
    """Whether an AnomalyRule or RemediationPlaybook names this ModelDeployment as its target."""
    target = (obj.get("spec") or {}).get("target") or {}
    return (
        _ns(obj) == _ns(md)
        and target.get("kind", "ModelDeployment") == "ModelDeployment"
        and target.get("name") == _name(md)
    )


def triggered_by(playbook: JSON, rule: JSON) -> bool:
    """Whether one of the playbook's AnomalyRule triggers names or selects this rule."""
    if _ns(playbook) != _ns(rule):
        return False
    labels = rule["metadata"].get("labels") or {}
    for trigger in (playbook.get("spec") or {}).get("triggers") or []:
        if trigger.get("source", "AnomalyRule") != "AnomalyRule":
            continue
        if any(ref.get("name") == _name(rule) for ref in trigger.get("rules") or []):
            return True
        if trigger.get("selector") is not None and selector_matches(
            LabelSelector.model_validate(trigger["selector"]), labels
        ):
            return True
    return False


def follows(policy: JSON, md: JSON) -> bool:
    """Whether the ModelDeployment serves this RetrainPolicy's model or the policy names the ModelDeployment."""
    if _ns(policy) != _ns(md):
        return False
    source = (((md.get("spec") or {}).get("model") or {}).get("source") or {}).get("retrainPolicyRef") or {}
    ref = (policy.get("spec") or {}).get("modelDeploymentRef") or {}
    return source.get("name") == _name(policy) or ref.get("name") == _name(md)


# --- summaries ------------------------------------------------------------------------------------


def _ref_version(ref: JSON | None) -> str | None:
    return (ref or {}).get("version") or (ref or {}).get("storageUri")


def summarize_rule(rule: JSON) -> JSON:
    status = rule.get("status") or {}
    return {
        "name": _name(rule),
        "state": status.get("state"),
        "firingSeries": status.get("firingSeries", 0),
        "evaluations": status.get("evaluations", 0),
        "firings": status.get("firings", 0),
        "lastEvaluation": status.get("lastEvaluation"),
        "message": status.get("message"),
        "series": [
            {key: s.get(key) for key in ("labels", "state", "value", "expected", "score", "since")}
            for s in status.get("series") or []
            if s.get("state") in ("Firing", "Pending")
        ],
    }


def summarize_playbook(playbook: JSON) -> JSON:
    status = playbook.get("status") or {}
    executions = status.get("executions") or []
    last = executions[0] if executions else None
    return {
        "name": _name(playbook),
        "state": status.get("state"),
        "totalExecutions": status.get("totalExecutions", 0),
        "verifiedExecutions": status.get("verifiedExecutions", 0),
        "lastExecution": None
        if last is None
        else {
            "id": last.get("id"),
            "state": last.get("state"),
            "trigger": last.get("trigger"),
            "startedAt": last.get("startedAt"),
            "steps": [
                {k: step.get(k) for k in ("action", "result", "verified", "message")}
                for step in last.get("steps") or []
            ],
        },
    }


def summarize_policy(policy: JSON) -> JSON:
    status = policy.get("status") or {}
    return {
        "name": _name(policy),
        "phase": status.get("phase"),
        "promoted": (status.get("promoted") or {}).get("version"),
        "runs": [
            {k: run.get(k) for k in ("id", "trigger", "phase", "decision", "startedAt", "rolloutOutcome")}
            for run in (status.get("runs") or [])[:RUNS_SHOWN]
        ],
    }


def summarize_incident(incident: JSON) -> JSON:
    status = incident.get("status") or {}
    causes = sorted(status.get("probableCauses") or [], key=lambda c: c.get("rank", 0))
    return {
        "name": _name(incident),
        "phase": status.get("phase"),
        "startedAt": status.get("startedAt"),
        "rules": sorted({a.get("rule", "?") for a in status.get("anomalies") or []}),
        "steps": len(status.get("steps") or []),
        "resolution": status.get("resolution"),
        "probableCause": causes[0].get("cause") if causes else None,
    }


def _started(incident: JSON) -> str:
    return (incident.get("status") or {}).get("startedAt") or incident["metadata"].get("creationTimestamp") or ""


def concerns(incident: JSON, md: JSON) -> bool:
    """Whether an Incident is about the ModelDeployment: its target, or one of the objects it joined."""
    me = f"ModelDeployment/{_name(md)}"
    about = {(incident.get("spec") or {}).get("target"), *((incident.get("status") or {}).get("objects") or [])}
    return _ns(incident) == _ns(md) and me in about


def incidents_of(md: JSON, incidents: Iterable[JSON]) -> list[JSON]:
    """Open incidents on the ModelDeployment (all), then the newest resolved ones, INCIDENTS_SHOWN in all at least."""
    mine = [i for i in incidents if concerns(i, md)]
    opened = sorted((i for i in mine if (i.get("status") or {}).get("phase") == "Open"), key=_started, reverse=True)
    rest = sorted((i for i in mine if i not in opened), key=_started, reverse=True)
    return [summarize_incident(i) for i in (opened + rest)[: max(INCIDENTS_SHOWN, len(opened))]]


def neighbours(md: JSON, graph: topology.Graph | None) -> list[JSON]:
    """The objects within TOPOLOGY_HOPS of the ModelDeployment (the graph incidents are correlated on), each with
    the path to it."""
    if graph is None:
        return []
    node = (_ns(md), "ModelDeployment", _name(md))
    return [
        {
            "object": topology.node_text(found, _ns(md)),
            "hops": len(route) - 1,
            "path": " ".join(topology.describe(graph, route, _ns(md))[1:]),
        }
        for found, route in topology.around(graph, node, TOPOLOGY_HOPS)[:TOPOLOGY_SHOWN]
    ]


def loop_numbers(md: JSON, incidents: Iterable[JSON]) -> JSON:
    """The loop's numbers for one ModelDeployment, from the statuses the operator's metrics are counted from:
    rollouts by outcome and the change failure rate (rolled back over finished), incidents open and in all."""
    history = (md.get("status") or {}).get("history") or []
    outcomes = [r.get("outcome") for r in history]
    finished = len(outcomes)
    rolled_back = outcomes.count("RolledBack")
    mine = [i for i in incidents if concerns(i, md)]
    return {
        "rollouts": finished,
        "promoted": outcomes.count("Promoted"),
        "rolledBack": rolled_back,
        "changeFailureRate": round(rolled_back / finished, 3) if finished else None,
        "incidentsOpen": sum(1 for i in mine if (i.get("status") or {}).get("phase") == "Open"),
        "incidents": len(mine),
    }


def summarize(
    md: JSON,
    rules: Iterable[JSON],
    playbooks: Iterable[JSON],
    policies: Iterable[JSON],
    incidents: Iterable[JSON] = (),
    graph: topology.Graph | None = None,
) -> JSON:
    """Everything ``status`` shows about one ModelDeployment, as a plain dict (the JSON output)."""
    incidents = list(incidents)
    spec, status = md.get("spec") or {}, md.get("status") or {}
    steps = ((spec.get("rollout") or {}).get("canary") or {}).get("steps") or []
    mine = [rule for rule in rules if targets(rule, md)]
    related = [pb for pb in playbooks if targets(pb, md) or any(triggered_by(pb, rule) for rule in mine)]
    return {
        "name": _name(md),
        "namespace": _ns(md),
        "phase": status.get("phase"),
        "ready": status.get("ready"),
        "stable": _ref_version(status.get("stableModel")),
        "canary": _ref_version(status.get("canaryModel")),
        "canaryWeight": status.get("canaryWeight"),
        "currentStep": status.get("currentStep"),
        "steps": len(steps) if (spec.get("rollout") or {}).get("strategy", "Canary") == "Canary" else 0,
        "failed": _ref_version(status.get("failedModel")),
        "lastAction": status.get("lastAction"),
        "rollbackRequest": status.get("rollbackRequest"),
        "conditions": [
            {k: c.get(k) for k in ("type", "status", "reason", "message")} for c in status.get("conditions") or []
        ],
        "analysis": [
            {k: m.get(k) for k in ("name", "phase", "value", "successes", "failures", "message")}
            for m in status.get("analysis") or []
        ],
        "anomalyRules": [summarize_rule(rule) for rule in mine],
        "remediationPlaybooks": [summarize_playbook(pb) for pb in related],
        "retrainPolicies": [summarize_policy(p) for p in policies if follows(p, md)],
        "incidents": incidents_of(md, incidents),
        "loop": loop_numbers(md, incidents),
        "topology": neighbours(md, graph),
        "history": [
            {k: r.get(k) for k in ("version", "outcome", "reason", "message", "finishedAt")}
            for r in (status.get("history") or [])[:HISTORY_SHOWN]
        ],
    }


@dataclass
class Overview:
    """All ModelDeployments in scope with what relates to them, and what relates to none."""

    deployments: list[JSON] = field(default_factory=list)
    other_rules: list[JSON] = field(default_factory=list)
    other_playbooks: list[JSON] = field(default_factory=list)
    other_policies: list[JSON] = field(default_factory=list)

    def to_json(self) -> JSON:
        return {
            "modelDeployments": self.deployments,
            "unattached": {
                "anomalyRules": self.other_rules,
                "remediationPlaybooks": self.other_playbooks,
                "retrainPolicies": self.other_policies,
            },
        }


def overview(
    mds: list[JSON],
    rules: list[JSON],
    playbooks: list[JSON],
    policies: list[JSON],
    incidents: list[JSON] | None = None,
    workloads: list[JSON] | None = None,
) -> Overview:
    """``summarize`` for every ModelDeployment, plus the objects that relate to none of them. ``workloads``
    (Deployments, Pods, Services, HPAs) complete the topology; without them it is not shown."""
    graph = topology.build([*mds, *rules, *policies, *workloads]) if workloads is not None else None
    result = Overview(
        deployments=[summarize(md, rules, playbooks, policies, incidents or [], graph) for md in sorted(mds, key=_key)]
    )
    used = {
        (kind, item["namespace"], child["name"])
        for item in result.deployments
        for kind, key in (("ar", "anomalyRules"), ("rpb", "remediationPlaybooks"), ("rtp", "retrainPolicies"))
        for child in item[key]
    }

    def unused(kind: str, objects: list[JSON]) -> list[JSON]:
        return [obj for obj in sorted(objects, key=_key) if (kind, _ns(obj), _name(obj)) not in used]

    result.other_rules = [{"namespace": _ns(r), **summarize_rule(r)} for r in unused("ar", rules)]
    result.other_playbooks = [{"namespace": _ns(p), **summarize_playbook(p)} for p in unused("rpb", playbooks)]
    result.other_policies = [{"namespace": _ns(p), **summarize_policy(p)} for p in unused("rtp", policies)]
    return result


def _key(obj: JSON) -> tuple[str, str]:
    return _ns(obj), _name(obj)


# --- rendering ------------------------------------------------------------------------------------


@dataclass
class Node:
    text: str
    children: list[Node] = field(default_factory=list)

    def add(self, text: str) -> Node:
        child = Node(text)
        self.children.append(child)
        return child


class Painter:
    """Colours a state word (ANSI when enabled) and prefixes its icon."""

    def __init__(self, colour: bool) -> None:
        self.colour = colour

    def state(self, word: str | None) -> str:
        kind = tone(word)
        text = f"{ICONS[kind]} {word or 'Unknown'}"
        return f"{COLOURS[kind]}{text}{RESET}" if self.colour and COLOURS[kind] else text


def _number(value: Any) -> str:
    return "-" if value is None else f"{value:.4g}" if isinstance(value, float) else str(value)


def _labels(labels: JSON | None) -> str:
    return "{" + ", ".join(f'{k}="{v}"' for k, v in sorted((labels or {}).items())) + "}"


def deployment_tree(item: JSON, paint: Painter, now: datetime) -> Node:
    root = Node(f"ModelDeployment {item['namespace']}/{item['name']}  {paint.state(item['phase'])}")
    model = f"stable {item['stable'] or '-'}"
    if item["canary"]:
        step = item["currentStep"]
        where = f", step {step + 1}/{item['steps']}" if step is not None and item["steps"] else ""
        model += f"  canary {item['canary']} ({item['canaryWeight'] or 0}%{where})"
    if item["failed"]:
        model += f"  failed {item['failed']}"
    root.add(f"Model:     {model}")
    root.add(f"Replicas:  {item['ready'] or '-'} ready")
    if item["lastAction"]:
        root.add(f"Last:      {item['lastAction']}")
    if item["rollbackRequest"]:
        root.add(f"Rollback:  {item['rollbackRequest']} (taken)")
    not_ready = [c for c in item["conditions"] if c["type"] == "Ready" and c["status"] != "True"]
    for condition in not_ready:
        root.add(f"Ready=False {condition['reason']}: {condition['message']}")
    if item["analysis"]:
        analysis = root.add("Analysis")
        for metric in item["analysis"]:
            extra = f"  {metric['message']}" if metric.get("message") else ""
            analysis.add(
                f"{metric['name']}  {_number(metric.get('value'))}  {paint.state(metric['phase'])}"
                f"  ({metric.get('successes') or 0} passed, {metric.get('failures') or 0} failed){extra}"
            )
    for rule in item["anomalyRules"]:
        root.children.append(rule_node(rule, paint, now))
    for playbook in item["remediationPlaybooks"]:
        root.children.append(playbook_node(playbook, paint, now))
    for policy in item["retrainPolicies"]:
        root.children.append(policy_node(policy, paint, now))
    for incident in item.get("incidents") or []:
        root.children.append(incident_node(incident, paint, now))
    loop = item.get("loop")
    if loop and (loop["rollouts"] or loop["incidents"]):
        rate = loop["changeFailureRate"]
        root.add(
            f"Loop:      {loop['rollouts']} rollouts ({loop['promoted']} promoted, {loop['rolledBack']} rolled back;"
            f" change failure rate {'-' if rate is None else f'{rate:.0%}'}),"
            f" {loop['incidentsOpen']} open of {loop['incidents']} incidents"
        )
    if item.get("topology"):
        related = root.add("Topology")
        for neighbour in item["topology"]:
            related.add(
                f"{neighbour['object']}  ({neighbour['hops']} hop{'s' if neighbour['hops'] > 1 else ''}: {neighbour['path']})"
            )
    if item["history"]:
        history = root.add("History")
        for record in item["history"]:
            history.add(
                f"{record.get('version') or '-'}  {paint.state(record['outcome'])}  {record.get('reason') or ''}"
                f"  {age(record.get('finishedAt'), now)} ago  {record.get('message') or ''}".rstrip()
            )
    return root


def rule_node(rule: JSON, paint: Painter, now: datetime) -> Node:
    node = Node(
        f"AnomalyRule {rule['name']}  {paint.state(rule['state'])}  {rule['firingSeries'] or 0} firing,"
        f" {rule['firings'] or 0} firings, {rule['evaluations'] or 0} evaluations,"
        f" last {age(rule['lastEvaluation'], now)} ago"
    )
    if rule.get("message"):
        node.add(rule["message"])
    for series in rule["series"]:
        node.add(
            f"{_labels(series['labels'])}  {paint.state(series['state'])}  value {_number(series['value'])}"
            f"  expected {_number(series['expected'])}  score {_number(series['score'])}"
            f"  since {age(series['since'], now)}"
        )
    return node


def playbook_node(playbook: JSON, paint: Painter, now: datetime) -> Node:
    node = Node(
        f"RemediationPlaybook {playbook['name']}  {paint.state(playbook['state'])}"
        f"  {playbook['totalExecutions'] or 0} executions, {playbook['verifiedExecutions'] or 0} verified"
    )
    last = playbook["lastExecution"]
    if last:
        execution = node.add(
            f"last execution {last['id']}  {paint.state(last['state'])}  {last.get('trigger') or ''}"
            f"  {age(last.get('startedAt'), now)} ago"
        )
        for step in last["steps"]:
            verified = {True: "  verified", False: "  not verified"}.get(step.get("verified"), "")
            execution.add(
                f"{step['action']}  {paint.state(step['result'])}{verified}  {step.get('message') or ''}".rstrip()
            )
    return node


def policy_node(policy: JSON, paint: Painter, now: datetime) -> Node:
    node = Node(f"RetrainPolicy {policy['name']}  {paint.state(policy['phase'])}  promoted {policy['promoted'] or '-'}")
    for run in policy["runs"]:
        outcome = f"  rollout {run['rolloutOutcome']}" if run.get("rolloutOutcome") else ""
        node.add(
            f"run {run['id']}  {run['trigger']}  {paint.state(run['phase'])}  {run.get('decision') or ''}"
            f"{outcome}  {age(run.get('startedAt'), now)} ago".rstrip()
        )
    return node


def incident_node(incident: JSON, paint: Painter, now: datetime) -> Node:
    node = Node(
        f"Incident {incident['name']}  {paint.state(incident['phase'])}  {', '.join(incident['rules']) or '-'},"
        f" {incident['steps']} steps, {age(incident['startedAt'], now)} ago"
    )
    if incident.get("probableCause"):
        node.add(f"probable cause: {incident['probableCause']}")
    if incident.get("resolution"):
        node.add(f"resolution: {incident['resolution']}")
    return node


def draw(node: Node) -> list[str]:
    """The tree's lines with box-drawing connectors."""
    lines = [node.text]

    def walk(children: list[Node], prefix: str) -> None:
        for index, child in enumerate(children):
            last = index == len(children) - 1
            lines.append(f"{prefix}{'└── ' if last else '├── '}{child.text}")
            walk(child.children, prefix + ("    " if last else "│   "))

    walk(node.children, "")
    return lines


def render(view: Overview, colour: bool = False, now: datetime | None = None) -> str:
    """The whole ``status`` output as text."""
    now = now or datetime.now(UTC)
    paint = Painter(colour)
    blocks = ["\n".join(draw(deployment_tree(item, paint, now))) for item in view.deployments]
    others = Node("Not attached to a ModelDeployment")
    others.children += [rule_node(r, paint, now) for r in view.other_rules]
    others.children += [playbook_node(p, paint, now) for p in view.other_playbooks]
    others.children += [policy_node(p, paint, now) for p in view.other_policies]
    if others.children:
        blocks.append("\n".join(draw(others)))
    if not blocks:
        return "No mlaiops objects found.\n"
    return "\n\n".join(blocks) + "\n"

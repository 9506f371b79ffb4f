"""``write_report``: gather panels and the timeline of a namespace, draw them, write one HTML file."""

from __future__ import annotations

import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol, cast

from mlaiops.report.html import render_html
from mlaiops.report.model import Panel, TimelineEntry
from mlaiops.report.timeline import (
    event_entries,
    execution_entries,
    incident_entries,
    merged,
    rollout_entries,
    run_entries,
)

GROUP_VERSION = ("mlaiops.dev", "v1alpha1")


class StepLike(Protocol):
    name: str
    started: float
    finished: float | None
    outcome: str


class StoryLike(Protocol):
    """What ``story_timeline`` reads from the demo's Story: steps timed relative to ``t0`` (monotonic)."""

    t0: float

    @property
    def steps(self) -> Sequence[StepLike]:
        """Read-only here, so a Story whose steps are a list of its own Step class fits."""


def story_timeline(
    story: StoryLike, now: datetime | None = None, monotonic: float | None = None
) -> list[TimelineEntry]:
    """The story's steps as wall-clock entries (start and outcome of each step)."""
    now = now or datetime.now(UTC)
    monotonic = time.monotonic() if monotonic is None else monotonic
    origin = now - timedelta(seconds=monotonic - story.t0)
    entries = []
    for step in story.steps:
        entries.append(TimelineEntry(origin + timedelta(seconds=step.started), "story", step.name, "", "info"))
        if step.finished is not None:
            entries.append(
                TimelineEntry(origin + timedelta(seconds=step.finished), "story", "step done", step.outcome, "good")
            )
        else:
            entries.append(TimelineEntry(now, "story", "step failed", step.name, "bad"))
    return entries


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:60] or "panel"


def model_queries(model_deployment: Mapping[str, Any]) -> dict[str, str]:
    """Latency and success rate by version and track, from the metrics the built-in server exports."""
    namespace = model_deployment["metadata"]["namespace"]
    name = model_deployment["metadata"]["name"]
    model = ((model_deployment.get("spec") or {}).get("model") or {}).get("name") or name
    selector = f'namespace="{namespace}", model="{model}"'
    return {
        f"{name}: p90 latency (s) by version and track": (
            "histogram_quantile(0.9, sum by (le, version, track) "
            f"(rate(mlaiops_model_request_duration_seconds_bucket{{{selector}}}[10s])))"
        ),
        f"{name}: request success rate by version and track": (
            f'sum by (version, track) (rate(mlaiops_model_requests_total{{{selector}, code!~"5.."}}[10s]))'
            f" / sum by (version, track) (rate(mlaiops_model_requests_total{{{selector}}}[10s]))"
        ),
        f"{name}: requests per second by track": (
            f"sum by (track) (rate(mlaiops_model_requests_total{{{selector}}}[10s]))"
        ),
    }


def write_report(
    directory: str | Path,
    timeline: Sequence[TimelineEntry],
    prometheus_url: str | None,
    *,
    kubeconfig: str | Path | None = None,
    namespace: str | None = None,
    queries: Mapping[str, str] | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    title: str = "mlaiops report",
) -> Path:
    """Write ``report.html`` (charts embedded) and each chart as a PNG into ``directory``; return the HTML path.

    ``timeline`` is what the caller knows happened (e.g. ``story_timeline(story)``). With ``kubeconfig`` and
    ``namespace``, the namespace's Events, playbook executions, rollouts, retraining runs and resolved
    Incidents join the timeline (an execution is also drawn on its rule's chart), and every AnomalyRule
    (its query, band and anomalies) and ModelDeployment (latency and success rate by version and track)
    gets a chart. ``queries`` adds charts of any PromQL (title -> query). The window defaults to the
    timeline's span plus a margin, ending now. Prometheus or cluster failures become notes, never exceptions.
    """
    from mlaiops.api.anomalyrule import AnomalyRuleSpec
    from mlaiops.metrics.prometheus import PrometheusProvider
    from mlaiops.metrics.provider import ProviderError
    from mlaiops.report.chart import draw_panel
    from mlaiops.report.sources import query_series, rule_series, step_for

    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    end = end or datetime.now(UTC)
    known = [entry.time for entry in timeline]
    start = start or (min(known) - timedelta(seconds=30) if known else end - timedelta(minutes=15))
    entries = list(timeline)
    panels: list[Panel] = []
    problems: list[str] = []
    rules: list[dict[str, Any]] = []
    deployments: list[dict[str, Any]] = []
    if kubeconfig is not None and namespace is not None:
        try:
            rules, deployments, cluster_entries = _cluster(kubeconfig, namespace)
            entries.extend(cluster_entries)
        except Exception as error:  # a report is still worth writing without the cluster
            problems.append(f"cluster not read: {error}")
    entries = merged(entries)
    provider = PrometheusProvider(prometheus_url) if prometheus_url else None
    actions = [entry for entry in entries if start <= entry.time <= end]
    for rule in rules:
        name = rule["metadata"]["name"]
        panel = Panel(f"AnomalyRule {name}: {rule['spec'].get('query', '')}")
        panel.actions = [a for a in actions if _concerns(a, f"AnomalyRule/{name}") or _about_target(a, rule)]
        if provider is None:
            panel.note = "no Prometheus URL given"
        else:
            try:
                spec = AnomalyRuleSpec.model_validate(rule["spec"])
                panel.series, panel.note = rule_series(provider, namespace or "", name, spec, start, end)
            except (ProviderError, ValueError) as error:
                panel.note = f"not plotted: {error}"
        panels.append(panel)
    extra = dict(queries or {})
    for md in deployments:
        for caption, query in model_queries(md).items():
            extra.setdefault(caption, query)
    for caption, query in extra.items():
        owner = caption.split(":", 1)[0]
        panel = Panel(caption)
        panel.actions = [a for a in actions if _concerns(a, f"ModelDeployment/{owner}")]
        if provider is None:
            panel.note = "no Prometheus URL given"
        else:
            try:
                panel.series = query_series(provider, query, start, end, step_for(start, end))
            except ProviderError as error:
                panel.note = f"not plotted: {error}"
        panels.append(panel)
    images = []
    for index, panel in enumerate(panels):
        png = draw_panel(panel)
        (folder / f"{index + 1:02d}-{_slug(panel.title)}.png").write_bytes(png)
        images.append((panel.title + (f" — {panel.note}" if panel.note else ""), png))
    summary = "; ".join(problems)
    page = folder / "report.html"
    page.write_text(render_html(title, images, entries, summary=summary, generated=end), encoding="utf-8")
    return page


def _concerns(entry: TimelineEntry, subject: str) -> bool:
    """Whether ``entry`` is about ``subject`` (``kind/name``): its source, an object it names, or the story."""
    return entry.source in (subject, "story") or subject in entry.about


def _about_target(entry: TimelineEntry, rule: Mapping[str, Any]) -> bool:
    target = (rule.get("spec") or {}).get("target") or {}
    return bool(target) and _concerns(entry, f"{target.get('kind', 'ModelDeployment')}/{target.get('name')}")


def _cluster(
    kubeconfig: str | Path, namespace: str
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[TimelineEntry]]:
    from kubernetes import client, config

    api = config.new_client_from_config(config_file=str(kubeconfig))
    custom = client.CustomObjectsApi(api)

    def items(plural: str) -> list[dict[str, Any]]:
        body = cast(dict[str, Any], custom.list_namespaced_custom_object(*GROUP_VERSION, namespace, plural))
        return list(body.get("items", []))

    rules, deployments, playbooks = items("anomalyrules"), items("modeldeployments"), items("remediationplaybooks")
    policies, incidents = items("retrainpolicies"), items("incidents")
    objects = {(obj.get("kind", ""), obj["metadata"]["name"]) for obj in [*rules, *deployments, *playbooks, *policies]}
    events = [api.sanitize_for_serialization(e) for e in client.CoreV1Api(api).list_namespaced_event(namespace).items]
    entries = event_entries(events, objects)
    for playbook in playbooks:
        entries.extend(execution_entries(playbook))
    for md in deployments:
        entries.extend(rollout_entries(md))
    for policy in policies:
        target = ((policy.get("spec") or {}).get("modelDeploymentRef") or {}).get("name")
        about = (f"ModelDeployment/{target}",) if target else ()
        entries.extend(replace(entry, about=about) for entry in run_entries(policy))
    for incident in incidents:  # its anomalies and steps are already there (rule Events, executions)
        target = (incident.get("spec") or {}).get("target") or ""
        entries.extend(replace(e, about=(target,)) for e in incident_entries(incident) if e.reason == "Resolved")
    return rules, deployments, entries

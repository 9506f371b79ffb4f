"""``kubectl mlaiops plot ar/<name>``: the rule's series with band, anomalies and the actions taken, as a PNG."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlaiops.plugin.cluster import Connection, PluginError
from mlaiops.plugin.tree import triggered_by
from mlaiops.report.model import Panel, TimelineEntry
from mlaiops.report.timeline import event_entries, execution_entries, merged

if TYPE_CHECKING:
    from mlaiops.api.anomalyrule import AnomalyRuleSpec

JSON = dict[str, Any]


@dataclass(frozen=True)
class PlotResult:
    path: Path
    series: int
    anomalous_points: int
    actions: int
    band: str
    note: str


def related_objects(rule: JSON) -> set[tuple[str, str]]:
    """(kind, name) of the rule and of its target: whose Events are actions on the chart."""
    objects = {("AnomalyRule", rule["metadata"]["name"])}
    target = (rule.get("spec") or {}).get("target")
    if target:
        objects.add((target.get("kind", "ModelDeployment"), target["name"]))
    return objects


def actions_for(rule: JSON, events: list[JSON], playbooks: list[JSON]) -> list[TimelineEntry]:
    """Events of the rule and its target, and the steps of playbooks the rule triggers or that act on its target."""
    entries = event_entries(events, related_objects(rule))
    target = (rule.get("spec") or {}).get("target") or {}
    target_ref = f"{target.get('kind', 'ModelDeployment')}/{target.get('name')}" if target else None
    for playbook in playbooks:
        acts_on_target = (
            target_ref is not None
            and (
                f"{(playbook.get('spec') or {}).get('target', {}).get('kind', 'ModelDeployment')}/"
                f"{(playbook.get('spec') or {}).get('target', {}).get('name')}"
            )
            == target_ref
        )
        if triggered_by(playbook, rule) or acts_on_target:
            entries.extend(e for e in execution_entries(playbook) if e.reason.startswith(("step", "Execution")))
    return merged(entries)


def _rule(connection: Connection, name: str) -> tuple[JSON, str, AnomalyRuleSpec]:
    """The AnomalyRule, its namespace and its parsed spec; a spec the API would refuse is one clear error."""
    from mlaiops.api.anomalyrule import AnomalyRuleSpec

    rule = connection.get("AnomalyRule", name)
    try:
        spec = AnomalyRuleSpec.model_validate(rule["spec"])
    except ValueError as error:
        raise PluginError(f"AnomalyRule {name!r} has an invalid spec: {error}") from None
    return rule, rule["metadata"]["namespace"], spec


def plot_rule(
    connection: Connection, name: str, output: Path, since: timedelta, prometheus_url: str, now: datetime | None = None
) -> PlotResult:
    from mlaiops.metrics.prometheus import PrometheusProvider
    from mlaiops.metrics.provider import ProviderError
    from mlaiops.report.sources import rule_series

    try:
        from mlaiops.report.chart import draw_panel
    except ImportError as error:
        raise PluginError(str(error)) from None

    rule, namespace, spec = _rule(connection, name)
    end = now or datetime.now(UTC)
    start = end - since
    try:
        series, note = rule_series(PrometheusProvider(prometheus_url), namespace, name, spec, start, end)
    except ProviderError as error:
        raise PluginError(f"cannot query Prometheus at {prometheus_url}: {error}") from None
    playbooks = [pb for pb in connection.list("RemediationPlaybook") if pb["metadata"].get("namespace") == namespace]
    actions = [a for a in actions_for(rule, connection.events(namespace), playbooks) if start <= a.time <= end]
    if not series:
        note = f"the query returned no data between {start:%H:%M:%S} and {end:%H:%M:%S} UTC"
    panel = Panel(f"AnomalyRule {namespace}/{name}: {spec.query}", series, actions, note)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_bytes(draw_panel(panel))
    bands = sorted({s.band_source for s in series if s.band_source}) or ["none"]
    return PlotResult(
        output, len(series), sum(int(s.anomalous().sum()) for s in series), len(actions), ", ".join(bands), note
    )


def plot_drift(
    connection: Connection, name: str, feature: str, output: Path, prometheus_url: str, now: datetime | None = None
) -> PlotResult:
    """A drift rule's feature: per (track, version) the live window's share per bin against the
    reference profile's (or the baseline window's), titled with the score the rule gives it."""
    from mlaiops.detection.driftrule import DriftSpecError, histograms
    from mlaiops.metrics.prometheus import PrometheusProvider
    from mlaiops.metrics.provider import ProviderError
    from mlaiops.report.model import Histogram

    try:
        from mlaiops.report.chart import draw_histograms
    except ImportError as error:
        raise PluginError(str(error)) from None

    _, namespace, spec = _rule(connection, name)
    if spec.drift is None:
        raise PluginError(f"AnomalyRule {name!r} is not a drift rule: --feature applies to drift rules only")
    drift = spec.drift
    provider = PrometheusProvider(prometheus_url)
    at = now or datetime.now(UTC)

    def query(text: str) -> list[tuple[dict[str, str], float]]:
        return [(dict(sample.labels), sample.value) for sample in provider.instant_sync(text, at)]

    try:
        reference = query(drift.reference_query())
        live = query(drift.live_query())
        baseline = query(drift.baseline_query()) if drift.baseline is not None else []
        shown = histograms(drift, feature, live, reference, baseline)
    except ProviderError as error:
        raise PluginError(f"cannot query Prometheus at {prometheus_url}: {error}") from None
    except DriftSpecError as error:
        raise PluginError(f"AnomalyRule {name!r}: {error}") from None
    against = f"the {drift.window} ending {drift.baseline.offset} ago" if drift.baseline else "the reference"
    panels = [
        Histogram(
            title=f"{h.track}/{h.version}: {h.rows:.0f} rows, {drift.method} "
            + (
                f"{h.score:.3f} (threshold {drift.drift_threshold:g})"
                if h.score is not None
                else "not scored (too few rows)"
            ),
            reference=h.reference,
            live=h.live,
            reference_label="baseline" if drift.baseline else "reference",
            live_label=f"last {drift.window}",
        )
        for h in shown
    ]
    title = f"AnomalyRule {namespace}/{name}: {feature}, last {drift.window} against {against}"
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_bytes(draw_histograms(title, panels))
    scored = [h.score for h in shown if h.score is not None]
    note = "" if scored else f"fewer than minSamples {drift.min_samples} rows: nothing scored"
    return PlotResult(output, len(shown), sum(s >= drift.drift_threshold for s in scored), 0, "none", note)

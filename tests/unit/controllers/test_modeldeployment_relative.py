"""The controller's side of the relative metrics: both tracks queried over the same window, errors kept apart."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from mlaiops.api.modeldeployment import ModelDeploymentSpec, ModelDeploymentStatus, ModelRef
from mlaiops.controllers.modeldeployment import run_analysis
from mlaiops.metrics.provider import ProviderError, Sample

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


class FakePrometheus:
    """Answers by track, records every query; ``down`` raises as an unreachable Prometheus does."""

    def __init__(self, answers: dict[str, dict[str, list[Sample]]], down: bool = False) -> None:
        self.answers, self.down, self.queries = answers, down, []

    def instant_sync(self, query: str) -> list[Sample]:
        self.queries.append(query)
        if self.down:
            raise ProviderError("connection refused")
        track = "canary" if 'track="canary"' in query else "stable"
        kind = "buckets" if "bucket" in query else ("errors" if 'code=~"5.."' in query else "requests")
        return self.answers[track][kind]


def spec() -> ModelDeploymentSpec:
    return ModelDeploymentSpec.model_validate(
        {
            "model": {"storageUri": "file:///m/v2.joblib"},
            "analysis": {"metrics": [{"name": "error-rate-vs-stable"}, {"name": "latency-vs-stable", "dryRun": True}]},
        }
    )


STATUS = ModelDeploymentStatus(
    stable_model=ModelRef(version="v1"),
    canary_model=ModelRef(version="v2"),
    rollout_started_at=NOW - timedelta(minutes=2),
)


def value(v: float) -> list[Sample]:
    return [Sample({}, v)]


def buckets(*counts: float) -> list[Sample]:
    return [Sample({"le": le}, c) for le, c in zip(("0.05", "0.1", "+Inf"), counts, strict=True)]


def test_both_tracks_are_queried_with_their_own_version_over_the_rollout_window() -> None:
    prometheus = FakePrometheus(
        {
            "canary": {"requests": value(400), "errors": value(40), "buckets": buckets(100, 350, 400)},
            "stable": {"requests": value(1200), "errors": value(12), "buckets": buckets(1000, 1150, 1200)},
        }
    )
    errors, latency = run_analysis(prometheus, spec(), STATUS, "prod", "fraud", NOW)  # type: ignore[arg-type]
    assert errors.outcome == "Failed" and "10.00% (40/400) vs stable 1.00% (12/1200)" in errors.message
    assert latency.outcome == "Failed" and latency.message.startswith("canary slower than stable")
    assert all("[120s]" in q for q in prometheus.queries) and len(prometheus.queries) == 6
    assert sum('version="v2", track="canary"' in q for q in prometheus.queries) == 3
    assert sum('version="v1", track="stable"' in q for q in prometheus.queries) == 3


def test_no_series_yet_is_inconclusive_and_a_provider_error_is_an_error() -> None:
    empty = FakePrometheus({t: {"requests": [], "errors": [], "buckets": []} for t in ("canary", "stable")})
    outcomes = run_analysis(empty, spec(), STATUS, "prod", "fraud", NOW)  # type: ignore[arg-type]
    assert [o.outcome for o in outcomes] == ["Inconclusive", "Inconclusive"]
    down = FakePrometheus({}, down=True)
    outcomes = run_analysis(down, spec(), STATUS, "prod", "fraud", NOW)  # type: ignore[arg-type]
    assert [(o.outcome, o.message) for o in outcomes] == [("Error", "connection refused")] * 2

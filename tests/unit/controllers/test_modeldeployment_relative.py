"""The controller's side of the relative metrics: both tracks queried over the same window, errors kept apart."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from mlaiops.api.modeldeployment import ModelDeploymentSpec, ModelDeploymentStatus, ModelRef
from mlaiops.controllers.modeldeployment import run_analysis
from mlaiops.metrics.provider import ProviderError, Sample

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


class FakePrometheus:
    """Answers by track (a query evaluated at a past time: ``before``), records every query and the time it is
    evaluated at; ``down`` raises as an unreachable Prometheus does, ``down_before`` only for past times."""

    def __init__(
        self, answers: dict[str, dict[str, list[Sample]]], down: bool = False, down_before: bool = False
    ) -> None:
        self.answers, self.down, self.down_before = answers, down, down_before
        self.queries: list[str] = []
        self.times: list[datetime | None] = []

    def instant_sync(self, query: str, at: datetime | None = None) -> list[Sample]:
        self.queries.append(query)
        self.times.append(at)
        if self.down or (self.down_before and at is not None):
            raise ProviderError("connection refused")
        if at is not None:
            return self.answers["stable"]["before"]
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
            "stable": {
                "requests": value(1200),
                "errors": value(12),
                "buckets": buckets(1000, 1150, 1200),
                "before": buckets(5000, 5900, 6000),
            },
        }
    )
    errors, latency = run_analysis(prometheus, spec(), STATUS, "prod", "fraud", NOW)  # type: ignore[arg-type]
    assert errors.outcome == "Failed" and "10.00% (40/400) vs stable 1.00% (12/1200)" in errors.message
    assert latency.outcome == "Failed" and latency.message.startswith("canary slower than stable")
    assert sum("[120s]" in q for q in prometheus.queries) == 6 and len(prometheus.queries) == 7
    assert sum('version="v2", track="canary"' in q for q in prometheus.queries) == 3
    assert sum('version="v1", track="stable"' in q for q in prometheus.queries) == 4
    # latency-vs-stable's weights: stable's histogram over the 10 minutes that ENDED when the rollout began.
    before = [(q, at) for q, at in zip(prometheus.queries, prometheus.times, strict=True) if at is not None]
    assert before == [
        (
            'sum by (le) (increase(mlaiops_model_request_duration_seconds_bucket{namespace="prod", model="fraud", '
            'version="v1", track="stable"}[10m]))',
            STATUS.rollout_started_at,
        )
    ]
    assert (
        "; 75% of the weight on stable's tail before the rollout: 100 ms (p95, p99)): sequential p=" in latency.message
    )


def test_no_stable_traffic_before_the_rollout_weighs_the_bounds_equally() -> None:
    answers = {
        "canary": {"requests": value(400), "errors": value(4), "buckets": buckets(100, 350, 400)},
        "stable": {"requests": value(1200), "errors": value(12), "buckets": buckets(1000, 1150, 1200), "before": []},
    }
    _, latency = run_analysis(FakePrometheus(answers), spec(), STATUS, "prod", "fraud", NOW)  # type: ignore[arg-type]
    assert latency.outcome == "Failed"
    assert "; bounds weighted equally (no stable requests before the rollout)): sequential p=" in latency.message


def test_no_series_yet_is_inconclusive_and_a_provider_error_is_an_error() -> None:
    empty = FakePrometheus(
        {t: {"requests": [], "errors": [], "buckets": [], "before": []} for t in ("canary", "stable")}
    )
    outcomes = run_analysis(empty, spec(), STATUS, "prod", "fraud", NOW)  # type: ignore[arg-type]
    assert [o.outcome for o in outcomes] == ["Inconclusive", "Inconclusive"]
    down = FakePrometheus({}, down=True)
    outcomes = run_analysis(down, spec(), STATUS, "prod", "fraud", NOW)  # type: ignore[arg-type]
    assert [(o.outcome, o.message) for o in outcomes] == [("Error", "connection refused")] * 2


def test_an_error_on_the_histogram_before_the_rollout_is_an_error_not_equal_weights() -> None:
    # Equal weights at one look and stable's at another would be two tests, not one fixed in advance.
    answers = {
        "canary": {"requests": value(400), "errors": value(4), "buckets": buckets(100, 350, 400)},
        "stable": {"requests": value(1200), "errors": value(12), "buckets": buckets(1000, 1150, 1200)},
    }
    prometheus = FakePrometheus(answers, down_before=True)
    errors, latency = run_analysis(prometheus, spec(), STATUS, "prod", "fraud", NOW)  # type: ignore[arg-type]
    assert errors.outcome == "Successful" and (latency.outcome, latency.message) == ("Error", "connection refused")

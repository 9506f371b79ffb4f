"""Behaviours of the rollout state machine that hand-made mutants of canary.py survived before.

Each test states one behaviour and fails when the line that gives it is changed; the mutants
they kill are listed in the comment of each test.
"""

from __future__ import annotations

from datetime import timedelta

from mlaiops.api.modeldeployment import ModelRef
from mlaiops.resources.modelserver import ResolvedModel
from mlaiops.rollout.canary import HISTORY_LIMIT, Observed, analysis_due, desired_replicas, same
from tests.unit.rollout.test_canary import V1, V2, Cluster, deployed, make_spec


def at_step_one() -> Cluster:
    """A canary that passed step 0 and just moved to step 1 (50%)."""
    cluster = deployed()
    cluster.tick(V2)
    cluster.tick(V2)
    cluster.tick(V2, "Successful")
    plan = cluster.tick(V2, "Successful")
    assert plan.status.current_step == 1
    return cluster


def test_a_rollback_request_held_on_the_object_acts_once_not_every_tick() -> None:
    # Mutant: drop `rollback_request != status.rollback_request` -> stable flips v1, v2, v1, ... every tick.
    cluster = deployed(make_spec(rollout={"strategy": "RollingUpdate"}))
    cluster.tick(V2)
    stables = []
    for _ in range(4):  # the annotation stays on the object
        plan = cluster.tick(V2, rollback="latency@20261127T120000Z")
        stables.append(plan.status.stable_model.version)
    assert stables == ["v1", "v1", "v1", "v1"]
    assert cluster.events().count("RollbackRequested") == 1 and "RollbackImpossible" not in cluster.events()
    assert plan.status.rollback_request == "latency@20261127T120000Z"


def test_each_step_needs_its_own_passing_analysis() -> None:
    # Mutant: drop the `step_successes = 0` reset -> step 1 advances (and promotes) on step 0's pass.
    cluster = at_step_one()
    for _ in range(6):  # three minutes at step 1, pods ready, no analysis result
        plan = cluster.tick(V2)
    assert plan.status.current_step == 1 and plan.status.canary_model is not None
    assert [r.step_successes for r in plan.status.analysis] == [0]
    assert [r.successes for r in plan.status.analysis] == [2]  # the total is kept


def test_a_failed_evaluation_is_never_counted_as_a_pass() -> None:
    # Mutants: count Failed in successes/step_successes; `elif` -> `if` for failures; Error counted as a pass.
    spec = make_spec(
        analysis={
            "interval": "30s",
            "failureLimit": 10,
            "consecutiveErrorLimit": 10,
            "metrics": [{"name": "request-success-rate", "thresholdRange": {"min": 0.99}}],
        }
    )
    cluster = deployed(spec)
    cluster.tick(V2)
    cluster.tick(V2)
    for outcome in ("Failed", "Failed", "Error", "Failed", "Inconclusive", "Failed"):
        plan = cluster.tick(V2, outcome)
    (result,) = plan.status.analysis
    assert (result.successes, result.step_successes, result.failures) == (0, 0, 4)
    assert plan.status.current_step == 0 and plan.status.stable_model.version == "v1"


def test_consecutive_errors_up_to_the_limit_are_tolerated() -> None:
    # Mutant: `consecutive_errors > consecutiveErrorLimit` -> `>=` (limit 2: the second error would degrade).
    cluster = deployed()
    cluster.tick(V2)
    cluster.tick(V2)
    cluster.tick(V2, "Error")
    plan = cluster.tick(V2, "Error")
    assert plan.status.phase == "Progressing" and cluster.condition("Degraded") == ("False", "AnalysisHealthy")
    plan = cluster.tick(V2, "Error")
    assert plan.status.phase == "Degraded" and cluster.condition("Degraded") == ("True", "AnalysisError")
    cluster.tick(V2, "Successful")  # a success resets the count
    cluster.tick(V2, "Error")
    plan = cluster.tick(V2, "Error")
    assert plan.status.phase == "Progressing"


def test_failures_up_to_the_limit_are_tolerated() -> None:
    # Mutant: `failures > failureLimit` -> `>=`.
    cluster = deployed()
    cluster.tick(V2)
    cluster.tick(V2)
    plan = cluster.tick(V2, "Failed")
    assert plan.status.canary_model is not None and plan.status.failed_model is None


def test_analysis_runs_once_per_interval() -> None:
    # Mutant: `last_analysis_at` never set -> analysis.interval (30s) ignored, queries every tick.
    cluster = deployed()
    cluster.tick(V2)
    cluster.tick(V2)
    analysed_at = cluster.now
    plan = cluster.tick(V2, "Successful", seconds=10)
    assert plan.status.last_analysis_at == analysed_at
    assert not analysis_due(cluster.spec, plan.status, analysed_at + timedelta(seconds=10))
    assert not analysis_due(cluster.spec, plan.status, analysed_at + timedelta(seconds=29))
    assert analysis_due(cluster.spec, plan.status, analysed_at + timedelta(seconds=30))
    plan = cluster.tick(V2, seconds=10)  # a tick without analysis keeps the time of the last one
    assert plan.status.last_analysis_at == analysed_at


def test_no_analysis_before_the_canary_pods_are_ready() -> None:
    # Mutants: start the step without `canary_ready`; `analysis_due` without the step_started_at check.
    cluster = deployed()
    plan = cluster.tick(V2, ready=False)
    for _ in range(4):
        plan = cluster.tick(V2, ready=False)
        assert plan.status.step_started_at is None
        assert not analysis_due(cluster.spec, plan.status, cluster.now)
    assert plan.status.current_step == 0 and cluster.condition("Ready")[0] == "False"
    started = cluster.now
    plan = cluster.tick(V2)  # the pods became ready during the last tick's wait
    assert plan.status.step_started_at is None  # they are seen ready at the next tick
    plan = cluster.tick(V2)
    assert plan.status.step_started_at == started + timedelta(seconds=30)
    assert analysis_due(cluster.spec, plan.status, cluster.now)


def test_a_canary_with_too_few_replicas_is_not_ready() -> None:
    # Mutant: drop `observed.canary_replicas == canary_count` (a Deployment still scaling counts as ready).
    cluster = deployed()
    cluster.tick(V2)
    cluster.observed = Observed(stable_ready=3, canary_ready=1, stable_replicas=3, canary_replicas=2)
    plan = cluster.tick(V2)
    assert plan.status.step_started_at is None


def test_autoscaled_stable_track_keeps_at_least_the_hpa_minimum() -> None:
    # Mutants: drop `max(...)` (only observed, or only minReplicas) in desired_replicas.
    spec = make_spec(autoscaling={"minReplicas": 3, "maxReplicas": 10})
    assert desired_replicas(spec, Observed(stable_replicas=0)) == 3
    assert desired_replicas(spec, Observed(stable_replicas=2)) == 3
    assert desired_replicas(spec, Observed(stable_replicas=8)) == 8  # what the HPA scaled to is kept
    assert desired_replicas(make_spec(), Observed(stable_replicas=8)) == 4  # no HPA: spec.replicas
    cluster = deployed(spec)
    cluster.observed = Observed(stable_ready=8, stable_replicas=8)
    plan = cluster.tick(V2)
    assert (plan.stable_replicas, plan.canary_replicas) == (6, 2)  # 25% of the 8 the HPA runs


def test_history_is_bounded_newest_first() -> None:
    # Mutants: drop the `[:HISTORY_LIMIT]` slice, or append instead of prepend.
    cluster = deployed(make_spec(rollout={"strategy": "RollingUpdate"}))
    for index in range(HISTORY_LIMIT + 5):
        plan = cluster.tick(ResolvedModel(f"file:///m/{index}.joblib", f"r{index}"))
    plan = cluster.tick(ResolvedModel(f"file:///m/{index}.joblib", f"r{index}"))  # recorded once Ready
    assert HISTORY_LIMIT == 20 and len(plan.status.history) == HISTORY_LIMIT
    assert plan.status.history[0].version == f"r{HISTORY_LIMIT + 4}" and plan.status.history[-1].version == "r5"


def test_a_rollback_emits_a_warning_event_naming_the_cause() -> None:
    # Mutant: drop the Event of a canary rollback.
    cluster = deployed()
    cluster.tick(V2)
    cluster.tick(V2)
    cluster.tick(V2, "Failed")
    plan = cluster.tick(V2, "Failed")
    (event,) = plan.events
    assert (event.type, event.reason) == ("Warning", "AnalysisFailed") and "canary v2 failed analysis" in event.message
    assert plan.status.last_action == "RolledBack v2"
    cluster = deployed()
    cluster.tick(V2)
    (event,) = cluster.tick(V2, rollback="incident-1").events
    assert (event.type, event.reason) == ("Warning", "RollbackRequested") and "incident-1" in event.message


def test_a_new_artifact_under_the_same_version_label_is_a_new_model() -> None:
    # Mutant: `same()` without comparing storage_uri -> a retrained artifact named v1 is never rolled out.
    retrained = ResolvedModel("file:///m/v1-retrained.joblib", "v1")
    assert not same(retrained, ModelRef(version="v1", storage_uri=V1.storage_uri))
    assert same(V1, ModelRef(version="v1", storage_uri=V1.storage_uri))
    assert not same(V1, ModelRef(version="v2", storage_uri=V1.storage_uri))
    assert not same(None, ModelRef(version="v1", storage_uri=V1.storage_uri)) and not same(V1, None)
    cluster = deployed()
    plan = cluster.tick(retrained)
    assert plan.status.canary_model is not None and plan.status.canary_model.storage_uri == retrained.storage_uri
    assert plan.canary == retrained and plan.stable == V1

"""A model that cannot load, spelled out: the records' reasons, sentences and times, the Events' words, and the
stable track failing while a canary runs.

Mutation testing (benchmarks/mutation.py) showed the behaviour tests in ``test_canary.py`` checked outcomes and
reasons but not a pending model replaced without a failure, the finish times of the records, the Ready condition
of a canary rollout whose stable track fails, or a server that cannot even start.
"""

from __future__ import annotations

from dataclasses import replace

from mlaiops.rollout.canary import Event
from mlaiops.rollout.servers import ServerFailure
from tests.unit.rollout.test_canary import NOT_FOUND, T0, V1, V2, Cluster, crash, deployed, failing_cluster, make_spec


def ready(cluster: Cluster) -> tuple[str, str, str]:
    assert cluster.status is not None
    found = next(c for c in cluster.status.conditions or [] if c.type == "Ready")
    return found.status, found.reason, found.message or ""


def test_a_spec_change_before_the_first_model_is_ready_aborts_it_and_deploys_the_new_one() -> None:
    """Not failing, just not Ready yet: the pending model is recorded Aborted/SpecChanged, finished now."""
    cluster = Cluster(make_spec())
    cluster.tick(V1, ready=False)
    at = cluster.now
    plan = cluster.tick(V2, ready=False)
    record = plan.status.history[0]
    assert (record.version, record.outcome, record.reason) == ("v1", "Aborted", "SpecChanged")
    assert record.message == "the spec named another model before this one was ready"
    assert (record.started_at, record.finished_at) == (T0, at)
    assert plan.status.last_action == "Deploying v2" and plan.status.rollout_started_at == at
    assert plan.events == [Event("Normal", "Deployed", "deploying v2 in place of a model never ready")]


def test_a_failing_pending_model_replaced_by_the_spec_is_recorded_failed_when_it_was_replaced() -> None:
    cluster = Cluster(make_spec())
    cluster.tick(V1)
    failing_cluster(cluster, crash("stable", "v1"))
    cluster.tick(V1)
    failing_cluster(cluster, crash("stable", "v1"))
    at = cluster.now
    record = cluster.tick(V2).status.history[0]
    assert (record.outcome, record.reason, record.started_at, record.finished_at) == (
        "Failed",
        "ModelLoadFailed",
        T0,
        at,
    )


def test_a_canary_that_cannot_load_is_recorded_rolled_back_at_that_tick() -> None:
    cluster = deployed()
    cluster.tick(V2)
    cluster.observed = replace(cluster.observed, canary_ready=0, failures=(crash("canary", "v2"),))
    at = cluster.now
    record = cluster.tick(V2).status.history[0]
    assert (record.outcome, record.finished_at) == ("RolledBack", at)
    assert record.message == f"canary {crash('canary', 'v2').describe()}"


def test_a_stable_track_failing_during_a_canary_makes_ready_false_with_the_servers_words_once() -> None:
    """The canary goes on; Ready says the stable model cannot load, and the Warning is emitted once, not every tick."""
    cluster = deployed()
    cluster.tick(V2)
    failure = crash("stable", "v1")
    failing_cluster(cluster, failure)
    plan = cluster.tick(V2)
    words = failure.describe()
    assert words == (f"stable model v1 cannot load: {NOT_FOUND} (Error, exit code 3, 2 restarts, pod m-stable-1)")
    assert plan.status.canary_model is not None and plan.status.phase == "Degraded"
    assert ready(cluster) == ("False", "ModelLoadFailed", words)
    assert cluster.condition("Progressing") == ("True", "CanaryProgressing")
    assert plan.events == [Event("Warning", "ModelLoadFailed", words)]
    failing_cluster(cluster, failure)
    assert cluster.tick(V2).events == []


def test_a_server_that_cannot_start_is_said_once_with_its_own_reason_and_words() -> None:
    cluster = Cluster(make_spec())
    cluster.tick(V1)
    failure = ServerFailure("stable", "v1", "m-stable-1", "ErrImagePull", "pull access denied", started=False)
    failing_cluster(cluster, failure)
    plan = cluster.tick(V1)
    message = f"{failure.describe()}; 0/4 replicas ready"
    assert ready(cluster) == ("False", "ServerStartFailed", message)
    assert plan.events == [Event("Warning", "ServerStartFailed", message)]


def test_stalled_sorts_between_degraded_and_rolled_back() -> None:
    """Conditions keep one fixed order (Ready, Progressing, Degraded, Stalled, RolledBack), Stalled included."""
    cluster = Cluster(make_spec())
    cluster.tick(V1)
    failing_cluster(cluster, crash("stable", "v1"))
    plan = cluster.tick(V1)
    assert [c.type for c in plan.status.conditions or []] == [
        "Ready",
        "Progressing",
        "Degraded",
        "Stalled",
        "RolledBack",
    ]

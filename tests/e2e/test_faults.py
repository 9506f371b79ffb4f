"""The closed loop under faults: API errors, API latency, dropped watches and 410 Gone, Prometheus down,
and the operator SIGKILLed. Each test plays the quick loop of the fault harness (retrain -> promote ->
serve, then anomaly pending -> firing -> scale -> verified -> incident resolved) in its own namespace and compares it
with the same loop played without faults: the same end state, no action done twice, no record lost,
and nothing decided while Prometheus was down. `benchmarks/faults.py` plays the long versions."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from mlaiops_sandbox.testing.fault_checks import JSON
from mlaiops_sandbox.testing.fault_scenarios import Env, Loop
from mlaiops_sandbox.testing.faults import Fault, Outcome, catalogue, details, play

from tests.e2e.conftest import Cluster

pytestmark = pytest.mark.integration

FAULTS = catalogue(outage=15.0, kills=4, kill_every=(1.0, 3.0))
# The session's cluster still runs earlier tests' pods: give convergence room (it is not a timing test). Alone,
# the api-errors loop converges in about a minute; beside the whole suite on a slower 2-core machine it twice
# needed more than 300 s (the incident still Open at the end, all else converged): benchmarks/faults.py times it.
CONVERGE_WITHIN = 600.0


@pytest.fixture(scope="module")
def env(cluster: Cluster) -> Env:
    return Env(cluster.sandbox, cluster.operator)


@pytest.fixture(scope="module")
def reference(env: Env) -> Iterator[JSON]:
    """The loop's end state without faults."""
    loop = Loop(env, "faults-reference", timeout=CONVERGE_WITHIN)
    try:
        outcome = play(env, loop, FAULTS["none"])
    finally:
        loop.close()
    assert outcome.error is None, outcome.error
    assert outcome.state is not None
    yield outcome.state


def played(env: Env, reference: JSON, fault: Fault) -> Outcome:
    loop = Loop(env, f"faults-{fault.name}", timeout=CONVERGE_WITHIN)
    try:
        outcome = play(env, loop, fault, reference, seed=7)
    finally:
        loop.close()
    assert outcome.error is None, f"{outcome.error}\n{details([outcome])}"
    assert outcome.converged, details([outcome])
    assert outcome.duplicates == [] and outcome.lost == [] and outcome.spurious == []
    return outcome


def test_the_reference_loop_ends_as_expected(reference: JSON) -> None:
    """Without faults: the run is promoted and served, the scale-out verified, the incident resolved."""
    assert reference["retrainPolicies"]["fraud-retrain"] == {
        "runs": [("Promoted", "Promoted")],
        "promoted": "fraud-retrain#1",
    }
    assert reference["modelDeployments"]["fraud"]["stable"] == "fraud-retrain#1"
    assert reference["playbooks"]["fix"] == [("Succeeded", "Verified", [("scale-out", "Succeeded")])]
    assert reference["incidents"] == [("Deployment/web", "Resolved")] and reference["workloads"]["web"] == 3


def test_api_500s_and_409s(env: Env, reference: JSON) -> None:
    outcome = played(env, reference, FAULTS["api-errors"])
    assert outcome.faults_hit >= 5  # the operator really met errors


def test_api_latency(env: Env, reference: JSON) -> None:
    outcome = played(env, reference, FAULTS["latency"])
    assert outcome.faults_hit >= 5


def test_dropped_watches_and_410_gone(env: Env, reference: JSON) -> None:
    outcome = played(env, reference, FAULTS["watch-drops"])
    assert outcome.faults_hit >= 3


def test_prometheus_down_fires_nothing(env: Env, reference: JSON) -> None:
    """Prometheus stops while the rule is Pending over its bound (it would fire within its 10 s `for`
    if the operator took missing data for data: the outage lasts 15 s). Meanwhile the rule says Error
    (never a silent Normal, never Firing) and no execution, run or rollout decision happens;
    afterwards the rule fires and the loop goes on as without the outage."""
    outcome = played(env, reference, FAULTS["prometheus-down"])
    assert outcome.rule_states_at_outage == {"latency": "Pending"}
    assert outcome.rule_states_in_outage == {"latency": ["Error"]}
    assert env.sandbox.prometheus_running


def test_operator_sigkilled_at_random_points(env: Env, reference: JSON) -> None:
    outcome = played(env, reference, FAULTS["sigkill"])
    assert outcome.kills >= 2

"""The last step of a ladder is verified like any other: its effect is observed and must hold.

Mutation testing (benchmarks/mutation.py) showed the effect tests only ever verified a first step of two, so an
off-by-one that skipped observing (or judging) the last step went unnoticed.
"""

from __future__ import annotations

from mlaiops.remediation.planner import Outcome
from tests.unit.remediation.test_planner import Cluster, make_spec
from tests.unit.remediation.test_verification import scale_spec


def test_the_only_step_is_credited_only_once_its_effect_holds() -> None:
    spec = make_spec([{"name": "add-four", "type": "scale", "scale": {"delta": 4}, "verify": {"within": "30s"}}])
    cluster = Cluster(spec)
    cluster.handlers["prepare:add-four"] = lambda step: Outcome("Succeeded", params={"replicas": "6", "from": "2"})
    cluster.fire()
    cluster.tick()
    cluster.ready = 2  # scaled to 6, only 2 pods ready
    cluster.resolve()
    cluster.tick()
    assert (cluster.execution().state, cluster.execution().reason) == ("Verifying", "AwaitingEffect")
    assert "2 of 6 replicas ready" in cluster.execution().message
    cluster.ready = None  # every pod ready
    cluster.tick()
    assert (cluster.execution().state, cluster.execution().reason) == ("Succeeded", "Verified")


def test_a_ladder_shortened_while_its_last_step_verifies_ends_exhausted() -> None:
    """The playbook is edited down to one action while the second step verifies: no crash, the execution is
    Failed/Exhausted and the removed step is never judged (it has no verify.within left)."""
    cluster = Cluster(scale_spec())
    cluster.fire()
    for seconds in (10, 31, 31):
        cluster.tick(seconds)
    assert cluster.results() == [("add-four", "Succeeded", False), ("bounce", "Succeeded", None)]
    cluster.spec = make_spec(
        [{"name": "add-four", "type": "scale", "scale": {"delta": 4}, "verify": {"within": "30s"}}]
    )
    cluster.tick()
    execution = cluster.status.executions[0]  # type: ignore[index]
    assert (execution.state, execution.reason) == ("Failed", "Exhausted")
    assert [step.verified for step in execution.steps or []] == [False, None]

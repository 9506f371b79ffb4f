"""The pure lease decision: who may take or renew the Lease, judged on local durations only."""

from __future__ import annotations

import pytest

from mlaiops.leader.lease import (
    Decision,
    LeaseRecord,
    Observation,
    Timing,
    decide,
    microtime,
    next_record,
    observe,
    released,
    renew_lost,
)

HELD = LeaseRecord("pod-a", 15, "2030-01-01T00:00:00.000000Z", "2030-01-01T00:00:10.000000Z", 3)


def test_no_lease_is_created_with_zero_transitions() -> None:
    assert decide(None, "pod-b", now=0) is Decision.CREATE
    record = next_record(Decision.CREATE, None, "pod-b", 15, "T0")
    assert record == LeaseRecord("pod-b", 15, "T0", "T0", 0)


def test_a_live_lease_of_another_holder_is_waited_for() -> None:
    seen = observe(None, HELD, now=100.0)
    assert decide(seen, "pod-b", now=100.0) is Decision.WAIT
    assert decide(seen, "pod-b", now=114.9) is Decision.WAIT


def test_a_lease_unchanged_for_its_duration_is_taken_over_with_one_more_transition() -> None:
    seen = observe(None, HELD, now=100.0)
    assert decide(seen, "pod-b", now=115.0) is Decision.ACQUIRE
    taken = next_record(Decision.ACQUIRE, HELD, "pod-b", 15, "T1")
    assert taken == LeaseRecord("pod-b", 15, "T1", "T1", 4)


def test_each_renewal_restarts_the_local_expiry_clock() -> None:
    seen = observe(None, HELD, now=100.0)
    renewed = LeaseRecord(HELD.holder, 15, HELD.acquire_time, "2030-01-01T00:00:12.000000Z", 3)
    seen = observe(seen, renewed, now=112.0)
    assert seen.since == 112.0
    assert decide(seen, "pod-b", now=126.0) is Decision.WAIT
    assert decide(seen, "pod-b", now=127.0) is Decision.ACQUIRE


def test_an_unchanged_record_keeps_its_first_sighting() -> None:
    first = observe(None, HELD, now=100.0)
    assert observe(first, HELD, now=110.0) is first


@pytest.mark.parametrize("renew_time", ["1970-01-01T00:00:00.000000Z", "2999-12-31T23:59:59.000000Z"])
def test_the_holders_clock_is_never_compared_with_ours(renew_time: str) -> None:
    """Skew: a renewTime far in the past or future neither expires the lease nor extends it."""
    record = LeaseRecord("pod-a", 15, renew_time, renew_time, 0)
    seen = observe(None, record, now=5.0)
    assert decide(seen, "pod-b", now=19.9) is Decision.WAIT
    assert decide(seen, "pod-b", now=20.0) is Decision.ACQUIRE


def test_the_holders_own_duration_counts_not_ours() -> None:
    short = LeaseRecord("pod-a", 3, "T", "T", 0)
    assert decide(observe(None, short, now=0.0), "pod-b", now=3.0) is Decision.ACQUIRE


def test_own_identity_renews_at_once_even_when_it_looks_expired() -> None:
    """A restarted container of the same pod takes its lease back without waiting."""
    seen = observe(None, HELD, now=0.0)
    assert decide(seen, "pod-a", now=0.0) is Decision.RENEW
    assert decide(seen, "pod-a", now=1000.0) is Decision.RENEW
    renewed = next_record(Decision.RENEW, HELD, "pod-a", 15, "T2")
    assert renewed == LeaseRecord("pod-a", 15, HELD.acquire_time, "T2", 3)


def test_a_released_lease_is_taken_at_once() -> None:
    free = released(HELD, "T3")
    assert free == LeaseRecord("", 1, "T3", "T3", 3)
    assert decide(observe(None, free, now=50.0), "pod-b", now=50.0) is Decision.ACQUIRE
    assert next_record(Decision.ACQUIRE, free, "pod-b", 15, "T4").transitions == 4


def test_waiting_writes_nothing() -> None:
    with pytest.raises(ValueError):
        next_record(Decision.WAIT, HELD, "pod-b", 15, "T")


def test_renew_deadline() -> None:
    assert not renew_lost(last_renewed=100.0, now=109.9, renew_deadline=10.0)
    assert renew_lost(last_renewed=100.0, now=110.0, renew_deadline=10.0)


def test_timing_must_let_a_leader_give_up_before_others_take_over() -> None:
    Timing(15, 10, 2)
    for bad in ((10, 10, 2), (15, 2, 2), (15, 10, 0)):
        with pytest.raises(ValueError):
            Timing(*bad)


def test_spec_round_trip_and_free_holder() -> None:
    assert LeaseRecord.from_spec(HELD.to_spec()) == HELD
    free = LeaseRecord.from_spec({"leaseDurationSeconds": 1})
    assert free.holder == "" and free.transitions == 0
    assert LeaseRecord("", 1).to_spec()["holderIdentity"] is None


def test_microtime_is_kubernetes_microtime() -> None:
    from datetime import UTC, datetime

    assert microtime(datetime(2030, 1, 2, 3, 4, 5, 6, tzinfo=UTC)) == "2030-01-02T03:04:05.000006Z"


def test_observation_expiry_is_inclusive() -> None:
    assert Observation(HELD, since=0.0).expired(15.0)
    assert not Observation(HELD, since=0.0).expired(14.999)

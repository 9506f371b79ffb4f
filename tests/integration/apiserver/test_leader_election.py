"""The Lease elector against the sandbox API server: real HTTP, real resourceVersion conflicts.

Expiry uses an injected monotonic clock, so no test waits for a lease to run out.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import kubernetes
import pytest

from mlaiops.leader.client import LeaseClient
from mlaiops.leader.elector import LeaderElector
from mlaiops.leader.lease import Timing

LEASE = "mlaiops-operator"
FAST = Timing(lease_duration=3, renew_deadline=0.6, retry_period=0.05)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def elector(api: kubernetes.client.ApiClient, namespace: str, identity: str, clock: Any = None) -> LeaderElector:
    lease = LeaseClient(api, namespace, LEASE, timeout=2)
    return LeaderElector(lease, identity, FAST, clock=clock or Clock())


def spec(api: kubernetes.client.ApiClient, namespace: str) -> dict[str, Any]:
    return kubernetes.client.CoordinationV1Api(api).read_namespaced_lease(LEASE, namespace).to_dict()["spec"]


def test_of_many_racing_candidates_exactly_one_wins(api_client: kubernetes.client.ApiClient, namespace: str) -> None:
    candidates = [elector(api_client, namespace, f"pod-{i}") for i in range(6)]

    async def race() -> list[bool]:
        return list(await asyncio.gather(*(c.try_acquire_or_renew() for c in candidates)))

    first = asyncio.run(race())
    assert first.count(True) == 1
    winner = candidates[first.index(True)].identity
    assert spec(api_client, namespace)["holder_identity"] == winner
    again = asyncio.run(race())
    assert again == first  # only the holder renews; the others wait for a live lease
    assert spec(api_client, namespace)["lease_transitions"] == 0


def test_a_stale_lease_is_taken_over_and_the_old_leader_learns_it(
    api_client: kubernetes.client.ApiClient, namespace: str
) -> None:
    clock = Clock()
    old, new = elector(api_client, namespace, "pod-a"), elector(api_client, namespace, "pod-b", clock)

    async def scenario() -> str:
        assert await old.try_acquire_or_renew()
        assert not await new.try_acquire_or_renew()  # first sighting of pod-a's record
        clock.now += FAST.lease_duration - 0.5
        assert not await new.try_acquire_or_renew()
        clock.now += 0.5  # unchanged for the whole lease duration: pod-a is presumed dead
        assert await new.try_acquire_or_renew()
        old.leading = True
        return await asyncio.wait_for(old.keep_leading(), 10)

    reason = asyncio.run(scenario())
    assert reason == "lease taken by pod-b" and not old.leading
    record = spec(api_client, namespace)
    assert record["holder_identity"] == "pod-b" and record["lease_transitions"] == 1


def test_a_leader_that_cannot_reach_the_server_gives_up_within_the_renew_deadline(
    api_client: kubernetes.client.ApiClient, namespace: str, unreachable: kubernetes.client.ApiClient
) -> None:
    leader = elector(api_client, namespace, "pod-a", clock=time.monotonic)

    async def scenario() -> str:
        assert await leader.try_acquire_or_renew()
        leader.leading = True
        leader.lease.api = unreachable  # the API server is gone from this replica's point of view
        return await asyncio.wait_for(leader.keep_leading(), 10)

    assert asyncio.run(scenario()) == "failed to renew lease within 0.6s"


def test_a_released_lease_goes_to_the_next_candidate_at_once(
    api_client: kubernetes.client.ApiClient, namespace: str
) -> None:
    leader, standby = elector(api_client, namespace, "pod-a"), elector(api_client, namespace, "pod-b")

    async def scenario() -> None:
        assert await leader.try_acquire_or_renew()
        leader.leading = True
        assert not await standby.try_acquire_or_renew()
        await leader.release()
        assert await standby.try_acquire_or_renew()  # same clock reading: no waiting for expiry

    asyncio.run(scenario())
    record = spec(api_client, namespace)
    assert record["holder_identity"] == "pod-b" and record["lease_transitions"] == 1


def test_a_restarted_process_with_the_same_identity_takes_its_lease_back_at_once(
    api_client: kubernetes.client.ApiClient, namespace: str
) -> None:
    async def scenario() -> None:
        assert await elector(api_client, namespace, "pod-a").try_acquire_or_renew()
        assert await elector(api_client, namespace, "pod-a").try_acquire_or_renew()  # fresh process, no history
        assert not await elector(api_client, namespace, "pod-b").try_acquire_or_renew()

    asyncio.run(scenario())
    record = spec(api_client, namespace)
    assert record["holder_identity"] == "pod-a" and record["lease_transitions"] == 0


@pytest.fixture
def unreachable() -> kubernetes.client.ApiClient:
    import socket

    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    config = kubernetes.client.Configuration()
    config.host = f"http://127.0.0.1:{port}"
    config.retries = False
    return kubernetes.client.ApiClient(config)


def test_a_failed_renewal_is_retried_after_a_quarter_of_the_retry_period() -> None:
    """Scripted attempts (success, two failures, success, then failures) on a fake clock: a failure is
    followed by a quarter of the retry period, a success by a whole one; a leader whose attempts keep
    failing still gives up once the renew deadline has passed since its last renewal."""
    clock = Clock()
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)
        clock.now += seconds

    class Scripted(LeaderElector):
        async def _attempt(self) -> bool:
            return outcomes.pop(0) if outcomes else False

    outcomes = [True, False, False, True]
    timing = Timing(lease_duration=3, renew_deadline=1.0, retry_period=0.2)
    leader = Scripted(None, "pod-a", timing, clock=clock, sleep=sleep)  # type: ignore[arg-type]
    leader.leading = True
    reason = asyncio.run(leader.keep_leading())
    assert waits[:5] == [0.2, 0.2, 0.05, 0.05, 0.2]  # before each attempt: after leading, a success, two
    # failures, then the fourth attempt's success
    assert all(wait == 0.05 for wait in waits[5:])  # every later attempt failed
    assert reason == "failed to renew lease within 1s"
    assert 1.0 <= sum(waits[4:]) <= 1.0 + 0.05 + 1e-9  # it stopped at the deadline of the last renewal, not later

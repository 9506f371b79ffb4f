"""The elector's failures as a user meets them: a missing namespace stops the election with the fix,
a refusal that repeats every retry period is logged once."""

from __future__ import annotations

import asyncio
import logging
from typing import Any, cast

import pytest
from kubernetes.client.exceptions import ApiException

from mlaiops.leader.client import JSON, LeaseClient
from mlaiops.leader.elector import LeaderElector
from mlaiops.leader.lease import LeaseRecord, Timing
from mlaiops.leader.namespace import LeaseNamespaceMissing


class Lease:
    """A Lease API that answers every call with ``error`` (or nothing when there is none)."""

    namespace, name = "mlaiops-system", "mlaiops-operator"

    def __init__(self, error: ApiException | None = None, on_get: bool = False) -> None:
        self.error, self.on_get, self.calls = error, on_get, 0

    async def get(self) -> JSON | None:
        self.calls += 1
        if self.on_get and self.error:
            raise self.error
        return None

    async def create(self, record: LeaseRecord) -> JSON:
        if self.error:
            raise self.error
        return {"metadata": {"resourceVersion": "1"}, "spec": record.to_spec()}


def api_error(status: int, message: str) -> ApiException:
    error = ApiException(status=status, reason="Error")
    error.body = f'{{"kind":"Status","message":"{message}"}}'
    return error


def elector(lease: Lease) -> LeaderElector:
    return LeaderElector(cast(LeaseClient, lease), "me@laptop", Timing(3, 2, 0.01))


def test_a_missing_namespace_stops_the_election_with_the_fix() -> None:
    lease = Lease(api_error(404, 'namespaces \\"mlaiops-system\\" not found'))
    with pytest.raises(LeaseNamespaceMissing, match="kubectl create namespace mlaiops-system"):
        asyncio.run(elector(lease).acquire(asyncio.Event()))


def test_a_refusal_is_logged_once_with_what_to_grant(caplog: pytest.LogCaptureFixture) -> None:
    lease = Lease(api_error(403, "leases is forbidden"), on_get=True)
    candidate = elector(lease)

    async def stand_for_a_while() -> None:
        stop = asyncio.Event()
        asyncio.get_running_loop().call_later(0.2, stop.set)
        assert not await candidate.acquire(stop)

    with caplog.at_level(logging.DEBUG, logger="mlaiops.leader"):
        asyncio.run(stand_for_a_while())
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert lease.calls > 3 and len(warnings) == 1, warnings
    assert "(403) leases is forbidden" in warnings[0] and "leases in mlaiops-system" in warnings[0]
    assert "HTTP response headers" not in warnings[0]


def test_winning_clears_the_failure_so_the_next_one_is_warned_again() -> None:
    lease: Any = Lease()
    candidate = elector(lease)
    candidate._last_failure = "old"
    assert asyncio.run(candidate.acquire(asyncio.Event()))
    assert candidate._last_failure == ""

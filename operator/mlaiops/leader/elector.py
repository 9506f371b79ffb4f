"""Lease-based leader election (client-go's leaderelection): acquire, keep renewing, release.

Two candidates cannot both win: every write carries the resourceVersion that was read, and the
API server refuses the second writer with 409. A leader that cannot renew within the renew
deadline reports the loss; the caller must stop acting at once (``mlaiops run`` exits).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable

from kubernetes.client.exceptions import ApiException

from mlaiops.leader.client import JSON, LeaseClient, LeaseConflict
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
from mlaiops.leader.namespace import LeaseNamespaceMissing, api_error, missing_namespace_message

logger = logging.getLogger("mlaiops.leader")


class LeaderElector:
    def __init__(
        self,
        lease: LeaseClient,
        identity: str,
        timing: Timing,
        on_change: Callable[[bool], None] = lambda leading: None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.lease = lease
        self.identity = identity
        self.timing = timing
        self.on_change = on_change
        self.clock = clock
        self.sleep = sleep  # injectable with the clock: tests check the schedule without waiting for it
        self.observation: Observation | None = None
        self.current: JSON | None = None  # the Lease as last read or written by us
        self.leading = False
        self.last_attempt = clock()
        self._last_failure = ""

    @property
    def holder(self) -> str:
        return self.observation.record.holder if self.observation else ""

    def _set_leading(self, leading: bool) -> None:
        if leading != self.leading:
            self.leading = leading
            self.on_change(leading)

    async def try_acquire_or_renew(self) -> bool:
        """One attempt; True when we hold the lease afterwards."""
        now = self.clock()
        self.last_attempt = now
        current = await self.lease.get()
        stamp = microtime()
        if current is None:
            record = next_record(Decision.CREATE, None, self.identity, self.timing.lease_duration, stamp)
            try:
                self.current = await self.lease.create(record)
            except LeaseConflict:
                return False
            except ApiException as error:
                if error.status == 404:  # its namespace is missing: retrying cannot help
                    raise LeaseNamespaceMissing(missing_namespace_message(self.lease.namespace, error)) from None
                raise
            self.observation = Observation(record, now)
            return True
        record = LeaseRecord.from_spec(current.get("spec"))
        self.current = current
        self.observation = observe(self.observation, record, now)
        decision = decide(self.observation, self.identity, now)
        if decision is Decision.WAIT:
            return False
        wanted = next_record(decision, record, self.identity, self.timing.lease_duration, stamp)
        try:
            self.current = await self.lease.update(current, wanted)
        except LeaseConflict:
            return False
        if decision is Decision.ACQUIRE:
            previous = f"from {record.holder!r}" if record.holder else "(it was free)"
            logger.info("took over lease %s/%s %s", self.lease.namespace, self.lease.name, previous)
        self.observation = Observation(wanted, now)
        return True

    async def _attempt(self) -> bool:
        try:
            return await self.try_acquire_or_renew()
        except LeaseNamespaceMissing as error:
            if not self.leading:  # standing for election: retrying cannot help, the caller says how to fix it
                raise
            self._warn(str(error))  # leading: the watchdog's renew deadline decides
            return False
        except ApiException as error:  # the API server refuses: one line, never the HTTP headers
            message = api_error(error)
            if error.status == 403:
                message += (
                    f"; grant get, create and update on leases in {self.lease.namespace} "
                    "(manifests/rbac.yaml) or pass --no-leader-elect"
                )
            self._warn(message)
            return False
        except Exception as error:  # the API server is unreachable: try again later
            self._warn(str(error))
            return False

    def _warn(self, message: str) -> None:
        """A failed attempt once at WARNING; the same failure every retry period after that at DEBUG."""
        logger.log(
            logging.DEBUG if message == self._last_failure else logging.WARNING,
            "leader election attempt failed: %s",
            message,
        )
        self._last_failure = message

    async def acquire(self, stop: asyncio.Event) -> bool:
        """Try every retry period until we lead (True) or ``stop`` is set (False)."""
        announced = ""
        while not stop.is_set():
            if await self._attempt():
                self._last_failure = ""
                self._set_leading(True)
                return True
            if self.holder and self.holder != announced:
                announced = self.holder
                logger.info(
                    "standing by: lease %s/%s is held by %s", self.lease.namespace, self.lease.name, self.holder
                )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.timing.retry_period)
        return False

    async def keep_leading(self) -> str:
        """Renew every retry period; return why leadership was lost (never returns while we lead).

        A failed renewal is tried again after a quarter of the retry period, not a whole one: with a get and
        an update per attempt, a flaky API server (a few percent of 500s or 409s) fails an attempt far more
        often than a request, and four attempts in the renew deadline would lose a healthy lease every few
        minutes. The deadline is unchanged, so a leader that really cannot renew still stops in time.
        """
        last_renewed = self.last_attempt  # when the winning attempt started: others saw it later
        renewed = True
        while True:
            await self.sleep(self.timing.retry_period if renewed else self.timing.retry_period / 4)
            started = self.clock()
            remaining = last_renewed + self.timing.renew_deadline - started
            try:
                renewed = await asyncio.wait_for(self._attempt(), max(remaining, 0.001))
            except TimeoutError:
                renewed = False
            if renewed:
                last_renewed = started
            elif self.holder and self.holder != self.identity:
                reason = f"lease taken by {self.holder}"
                break
            if renew_lost(last_renewed, self.clock(), self.timing.renew_deadline):
                reason = f"failed to renew lease within {self.timing.renew_deadline:g}s"
                break
        self._set_leading(False)
        return reason

    async def release(self) -> None:
        """Give the lease up (clear the holder) so a standby takes over at its next try; best effort."""
        if not self.leading or self.current is None or self.observation is None:
            return
        self._set_leading(False)
        try:
            try:
                await self.lease.update(self.current, released(self.observation.record, microtime()))
            except LeaseConflict:  # a renewal cut short by shutdown may still have landed: read again
                current = await self.lease.get()
                record = LeaseRecord.from_spec((current or {}).get("spec"))
                if current is None or record.holder != self.identity:
                    return
                await self.lease.update(current, released(record, microtime()))
        except Exception as error:  # it expires on its own
            logger.warning("could not release lease %s/%s: %s", self.lease.namespace, self.lease.name, error)
        else:
            logger.info("released lease %s/%s", self.lease.namespace, self.lease.name)

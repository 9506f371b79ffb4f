"""The lease decision, free of I/O: may this candidate take or renew the lease now?

Follows client-go's leaderelection. Expiry is judged on the local monotonic clock only: a
candidate notes *when it first saw* the current record and treats the lease as expired once the
record has not changed for ``leaseDurationSeconds``. The holder's ``renewTime`` is written for
humans and is only compared for change, never against our clock, so clock skew between hosts
cannot hand the lease over early or late.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

RELEASED_DURATION = 1  # what client-go writes when it gives the lease up


@dataclass(frozen=True)
class Timing:
    """How long a lease lasts, how long a leader keeps trying to renew, and how often candidates try."""

    lease_duration: int = 15
    renew_deadline: float = 10.0
    retry_period: float = 2.0

    def __post_init__(self) -> None:
        # A leader must give up (renew deadline) before anyone else may consider its lease expired.
        if not self.lease_duration > self.renew_deadline > self.retry_period > 0:
            raise ValueError(
                "leader election needs lease duration > renew deadline > retry period > 0, got "
                f"{self.lease_duration}/{self.renew_deadline}/{self.retry_period}"
            )


@dataclass(frozen=True)
class LeaseRecord:
    """The ``spec`` of a coordination.k8s.io/v1 Lease; ``holder`` is empty when the lease is free."""

    holder: str = ""
    lease_duration: int = 15
    acquire_time: str | None = None
    renew_time: str | None = None
    transitions: int = 0

    @classmethod
    def from_spec(cls, spec: dict[str, Any] | None) -> LeaseRecord:
        spec = spec or {}
        return cls(
            holder=spec.get("holderIdentity") or "",
            lease_duration=int(spec.get("leaseDurationSeconds") or 0),
            acquire_time=spec.get("acquireTime"),
            renew_time=spec.get("renewTime"),
            transitions=int(spec.get("leaseTransitions") or 0),
        )

    def to_spec(self) -> dict[str, Any]:
        return {
            "holderIdentity": self.holder or None,
            "leaseDurationSeconds": self.lease_duration,
            "acquireTime": self.acquire_time,
            "renewTime": self.renew_time,
            "leaseTransitions": self.transitions,
        }


@dataclass(frozen=True)
class Observation:
    """A record and the local monotonic time at which it was first seen with this content."""

    record: LeaseRecord
    since: float

    def expired(self, now: float) -> bool:
        return now >= self.since + self.record.lease_duration


def observe(previous: Observation | None, record: LeaseRecord, now: float) -> Observation:
    """Restart the expiry clock only when the record changed (the holder renewed or someone took over)."""
    if previous is not None and previous.record == record:
        return previous
    return Observation(record, now)


class Decision(enum.Enum):
    CREATE = "create"  # no lease yet
    ACQUIRE = "acquire"  # free or expired: take it over
    RENEW = "renew"  # ours (also after a restart with the same identity)
    WAIT = "wait"  # another candidate holds a live lease


def decide(observation: Observation | None, identity: str, now: float) -> Decision:
    if observation is None:
        return Decision.CREATE
    holder = observation.record.holder
    if holder == identity:
        return Decision.RENEW
    if not holder or observation.expired(now):
        return Decision.ACQUIRE
    return Decision.WAIT


def microtime(moment: datetime | None = None) -> str:
    """Kubernetes MicroTime (RFC 3339 with microseconds, UTC)."""
    return (moment or datetime.now(UTC)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def next_record(
    decision: Decision, current: LeaseRecord | None, identity: str, lease_duration: int, stamp: str
) -> LeaseRecord:
    """The record a candidate writes for ``decision``; WAIT writes nothing."""
    if decision is Decision.WAIT:
        raise ValueError("a waiting candidate writes no record")
    if decision is Decision.CREATE or current is None:
        return LeaseRecord(identity, lease_duration, stamp, stamp, 0)
    if decision is Decision.RENEW:
        return replace(
            current, lease_duration=lease_duration, renew_time=stamp, acquire_time=current.acquire_time or stamp
        )
    return LeaseRecord(identity, lease_duration, stamp, stamp, current.transitions + 1)


def released(current: LeaseRecord, stamp: str) -> LeaseRecord:
    """The record a leader writes on graceful shutdown: no holder, so a standby takes it at its next try."""
    return LeaseRecord("", RELEASED_DURATION, stamp, stamp, current.transitions)


def renew_lost(last_renewed: float, now: float, renew_deadline: float) -> bool:
    """A leader that has not renewed for ``renew_deadline`` must stop acting: others may soon take over."""
    return now - last_renewed >= renew_deadline

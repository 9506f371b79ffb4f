"""The ``webhook`` action: the incident as signed JSON, delivered with bounded retries in a bounded time.

Signing (what a receiver checks, see docs/remediation-actions.md)::

    X-Mlaiops-Timestamp: <Unix seconds when the attempt was made>
    X-Mlaiops-Signature: v1=<hex HMAC-SHA256(secret, timestamp + "." + body)>
    Idempotency-Key: <execution id>/<step index>

The body is the exact bytes signed. The timestamp lets a receiver refuse replays (``verify`` takes a
tolerance); the key is the same for every attempt of one step, so a receiver that remembers keys
processes a step once even when a retry follows an attempt whose answer was lost.

Delivery is at most one sequence of attempts per step: the planner never runs a webhook step again
once it was recorded Running (``planner.NOT_REPEATABLE``), so an operator killed after the POST does
not POST again for that step. Within the sequence, a retry follows only a network error, a 429 or a
5xx, and every attempt and pause fits in the action's ``timeout``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from mlaiops.remediation import outbound

SIGNATURE_HEADER = "X-Mlaiops-Signature"
TIMESTAMP_HEADER = "X-Mlaiops-Timestamp"
IDEMPOTENCY_HEADER = "Idempotency-Key"
SIGNATURE_VERSION = "v1"
MAX_ATTEMPT_SECONDS = 10.0
"""Longest one attempt may wait for an answer (less when the step's timeout leaves less)."""

Post = Callable[[bytes, dict[str, str], float], int]
"""Sends the body with the headers within the timeout; returns the 2xx status or raises outbound errors."""


def body_bytes(payload: dict[str, Any]) -> bytes:
    """The canonical JSON of the payload: the bytes that are signed and sent."""
    return json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()


def signature(secret: bytes, timestamp: int, body: bytes) -> str:
    """``v1=<hex>``: HMAC-SHA256 over the timestamp, a dot and the body."""
    digest = hmac.new(secret, str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"{SIGNATURE_VERSION}={digest}"


def headers(secret: bytes, timestamp: int, body: bytes, key: str) -> dict[str, str]:
    """The headers of one attempt."""
    return {
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: signature(secret, timestamp, body),
        IDEMPOTENCY_HEADER: key,
    }


def verify(secret: bytes, timestamp: str, body: bytes, signed: str, now: float, tolerance: float = 300.0) -> bool:
    """What a receiver does: the signature matches (constant time) and the timestamp is recent."""
    try:
        stamp = int(timestamp)
    except ValueError:
        return False
    if abs(now - stamp) > tolerance:
        return False
    return hmac.compare_digest(signature(secret, stamp, body), signed)


def idempotency_key(execution: str, index: int) -> str:
    return f"{execution}/{index}"


@dataclass(frozen=True)
class Delivery:
    """How the sequence went: the answer's status, or the last error; and how many attempts it took."""

    status: int | None
    attempts: int
    error: str = ""

    @property
    def ok(self) -> bool:
        return self.status is not None


def retryable(error: outbound.OutboundError) -> bool:
    """Network errors, 429 and 5xx may pass; a refusal by policy or any other 4xx will not."""
    if not isinstance(error, outbound.DeliveryFailed):
        return False
    status = error.status
    return status is None or status == 429 or status >= 500


def deliver(
    post: Post,
    secret: bytes,
    body: bytes,
    key: str,
    retries: int,
    backoff: float,
    timeout: float,
    clock: Callable[[], float] = time.monotonic,
    wall: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
) -> Delivery:
    """POST up to ``1 + retries`` times, pausing ``backoff``, then twice that, ...; never past ``timeout``."""
    deadline = clock() + timeout
    pause = backoff
    attempts = 0
    last = "not attempted: no time left"
    while attempts <= retries:
        left = deadline - clock()
        if left <= 0:
            break
        attempts += 1
        try:
            status = post(body, headers(secret, int(wall()), body, key), min(left, MAX_ATTEMPT_SECONDS))
            return Delivery(status, attempts)
        except outbound.OutboundError as error:
            last = str(error)
            if not retryable(error):
                return Delivery(None, attempts, last)
        if attempts > retries or clock() + pause >= deadline:
            break
        sleep(pause)
        pause *= 2
    return Delivery(None, attempts, last)

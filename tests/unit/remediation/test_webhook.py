"""The webhook action's pure parts: the signature a receiver checks, and delivery with bounded retries."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from mlaiops.remediation import outbound, webhook

SECRET = b"s3cret"
BODY = webhook.body_bytes({"b": 1, "a": "x"})


def test_the_body_is_canonical_json() -> None:
    assert BODY == b'{"a":"x","b":1}'


def test_the_signature_is_hmac_sha256_of_timestamp_dot_body_as_documented() -> None:
    # docs/remediation-actions.md: v1=hex(HMAC-SHA256(secret, "<timestamp>.<body>"))
    expected = hmac.new(SECRET, b'1700000000.{"a":"x","b":1}', hashlib.sha256).hexdigest()
    assert webhook.signature(SECRET, 1700000000, BODY) == f"v1={expected}"
    headers = webhook.headers(SECRET, 1700000000, BODY, "exec-1/2")
    assert headers == {
        "X-Mlaiops-Timestamp": "1700000000",
        "X-Mlaiops-Signature": f"v1={expected}",
        "Idempotency-Key": "exec-1/2",
    }


def test_a_receiver_accepts_the_signature_and_refuses_tampering_other_secrets_and_stale_timestamps() -> None:
    signed = webhook.signature(SECRET, 1000, BODY)
    assert webhook.verify(SECRET, "1000", BODY, signed, now=1010)
    assert not webhook.verify(SECRET, "1000", BODY + b" ", signed, now=1010)
    assert not webhook.verify(b"other", "1000", BODY, signed, now=1010)
    assert not webhook.verify(SECRET, "1001", BODY, signed, now=1010)
    assert not webhook.verify(SECRET, "1000", BODY, signed, now=1000 + 301)
    assert not webhook.verify(SECRET, "soon", BODY, signed, now=1010)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0
        self.pauses: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.pauses.append(seconds)
        self.now += seconds


def poster(clock: Clock, answers: list[object], took: float = 0.0):  # type: ignore[no-untyped-def]
    calls: list[tuple[dict[str, str], float]] = []

    def post(body: bytes, headers: dict[str, str], timeout: float) -> int:
        calls.append((headers, timeout))
        clock.now += took
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return int(answer)  # type: ignore[call-overload]

    return post, calls


def send(clock: Clock, post, retries: int = 2, backoff: float = 1.0, timeout: float = 60.0) -> webhook.Delivery:  # type: ignore[no-untyped-def]
    return webhook.deliver(
        post,
        SECRET,
        BODY,
        "e/0",
        retries,
        backoff,
        timeout,
        clock=lambda: clock.now,
        wall=lambda: 1000 + clock.now,
        sleep=clock.sleep,
    )


def test_network_errors_429_and_5xx_are_retried_with_doubling_pauses_and_the_same_key() -> None:
    clock = Clock()
    network = outbound.DeliveryFailed("delivery failed (network)")
    busy = outbound.DeliveryFailed("delivery failed (HTTP 5xx)", 503)
    post, calls = poster(clock, [network, busy, 204])
    delivery = send(clock, post, retries=3)
    assert (delivery.ok, delivery.status, delivery.attempts) == (True, 204, 3)
    assert clock.pauses == [1.0, 2.0]
    assert {headers["Idempotency-Key"] for headers, _ in calls} == {"e/0"}
    assert [headers["X-Mlaiops-Timestamp"] for headers, _ in calls] == ["1000", "1001", "1003"]  # per attempt


def test_retries_are_bounded() -> None:
    clock = Clock()
    post, calls = poster(clock, [outbound.DeliveryFailed("delivery failed (HTTP 4xx)", 429)] * 3)
    delivery = send(clock, post, retries=2)
    assert (delivery.ok, delivery.attempts, delivery.error) == (False, 3, "delivery failed (HTTP 4xx)")
    assert len(calls) == 3


@pytest.mark.parametrize(
    "error", [outbound.DeliveryFailed("delivery failed (HTTP 4xx)", 401), outbound.Refused("host x is not allowed")]
)
def test_a_refusal_or_a_4xx_is_not_retried(error: outbound.OutboundError) -> None:
    clock = Clock()
    post, _calls = poster(clock, [error, 200])
    delivery = send(clock, post)
    assert (delivery.ok, delivery.attempts, delivery.error) == (False, 1, str(error))
    assert clock.pauses == []


def test_every_attempt_and_pause_fits_in_the_timeout() -> None:
    clock = Clock()
    post, calls = poster(clock, [outbound.DeliveryFailed("delivery failed (network)")] * 5, took=3.0)
    delivery = send(clock, post, retries=5, backoff=2.0, timeout=10.0)
    # attempt at 0 (3 s), pause 2 -> attempt at 5 (3 s), pause 4 would end at 12 > 10: stop
    assert (delivery.ok, delivery.attempts) == (False, 2)
    assert [timeout for _, timeout in calls] == [10.0, 5.0]
    assert clock.now <= 10.0


def test_one_attempt_waits_at_most_ten_seconds() -> None:
    clock = Clock()
    post, calls = poster(clock, [200])
    send(clock, post, timeout=120.0)
    assert calls[0][1] == webhook.MAX_ATTEMPT_SECONDS

"""The Alertmanager receiver over real HTTP (aiohttp's test server): credentials, limits, 400 never 500."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from mlaiops.remediation.alertmanager import AlertStore
from mlaiops.remediation.receiver import Credentials, ReceiverConfigError, app
from mlaiops.settings import Settings

BODY = {"version": "4", "alerts": [{"labels": {"alertname": "HighLatency", "namespace": "shop"}}]}
TOKEN = "s3cret-token"


def call(
    credentials: Credentials, scenario: Callable[[TestClient, AlertStore], Awaitable[None]], max_body: int = 1 << 20
) -> AlertStore:
    store = AlertStore()

    async def run() -> None:
        async with TestClient(TestServer(app(store, credentials, max_body))) as client:
            await scenario(client, store)

    asyncio.run(run())
    return store


def bearer(token: str = TOKEN) -> Credentials:
    return Credentials.from_settings(Settings(alertmanager_token=token))


async def post(client: TestClient, body: Any, headers: dict[str, str] | None = None) -> tuple[int, Any]:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    response = await client.post("/alertmanager", data=data, headers=headers or {})
    return response.status, await response.json()


def test_a_receiver_without_credentials_is_refused() -> None:
    with pytest.raises(ReceiverConfigError, match="MLAIOPS_ALERTMANAGER_TOKEN_FILE"):
        Credentials.from_settings(Settings(alertmanager_port=9095))


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong"},
        {"Authorization": f"Bearer {TOKEN}x"},
        {"Authorization": f"Basic {TOKEN}"},
        {"Authorization": TOKEN},
    ],
)
def test_requests_without_the_token_get_401_and_change_nothing(headers: dict[str, str]) -> None:
    async def scenario(client: TestClient, store: AlertStore) -> None:
        status, answer = await post(client, BODY, headers)
        assert (status, answer) == (401, {"error": "unauthorized"})

    assert call(bearer(), scenario).all() == []


def test_the_bearer_token_admits_the_alert() -> None:
    async def scenario(client: TestClient, store: AlertStore) -> None:
        status, answer = await post(client, BODY, {"Authorization": f"Bearer {TOKEN}"})
        assert (status, answer) == (200, {"received": 1, "dropped": 0})

    assert [s.rule for s in call(bearer(), scenario).all()] == ["HighLatency"]


def test_the_token_file_is_read_again_when_it_changes(tmp_path: Path) -> None:
    path = tmp_path / "token"
    path.write_text("first\n")
    credentials = Credentials.from_settings(Settings(alertmanager_token_file=str(path)))
    assert credentials.allows("Bearer first")
    path.write_text("second")
    import os

    os.utime(path, (1, 1))  # a new mtime, as a rotated Secret volume has
    assert credentials.allows("Bearer second") and not credentials.allows("Bearer first")


def test_a_missing_token_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ReceiverConfigError, match="cannot read"):
        Credentials.from_settings(Settings(alertmanager_token_file=str(tmp_path / "absent")))


def test_basic_auth() -> None:
    credentials = Credentials.from_settings(Settings(alertmanager_username="am", alertmanager_password="pw"))

    def basic(user: str, password: str) -> str:
        return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()

    assert credentials.allows(basic("am", "pw"))
    assert not credentials.allows(basic("am", "pW")) and not credentials.allows(basic("root", "pw"))
    assert not credentials.allows("Basic !!!not-base64") and not credentials.allows("Bearer pw")


def nested(depth: int) -> bytes:
    return b'{"alerts": ' + b"[" * depth + b"]" * depth + b"}"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (nested(100_000), "nested too deeply"),
        (b"{not json", "Expecting"),
        (b"\xff\xfe\x00", ""),
        (json.dumps({"alerts": [{"labels": {"a": {"b": 1}}}]}).encode(), "alerts[0].labels"),
        (json.dumps([1, 2]).encode(), "alerts"),
    ],
)
def test_malformed_bodies_get_400_never_500(body: bytes, message: str) -> None:
    async def scenario(client: TestClient, store: AlertStore) -> None:
        status, answer = await post(client, body, {"Authorization": f"Bearer {TOKEN}"})
        assert status == 400 and message in answer["error"]

    call(bearer(), scenario, max_body=4 << 20)


def test_a_body_over_the_limit_gets_413() -> None:
    async def scenario(client: TestClient, store: AlertStore) -> None:
        status, _ = await post(client, b"[" + b" " * 5000 + b"]", {"Authorization": f"Bearer {TOKEN}"})
        assert status == 413

    call(bearer(), scenario, max_body=2048)


def test_the_settings_validate_tls_and_basic_auth_pairs() -> None:
    with pytest.raises(ValueError, match="go together"):
        Settings(alertmanager_tls_cert_file="/c.pem")
    with pytest.raises(ValueError, match="needs alertmanager_password"):
        Settings(alertmanager_username="am")
    with pytest.raises(ValueError, match="mutual TLS"):
        Settings(alertmanager_client_ca_file="/ca.pem")

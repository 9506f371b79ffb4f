"""The Alertmanager receiver over real HTTP (aiohttp's test server): credentials, limits, 400 never 500."""

from __future__ import annotations

import asyncio
import base64
import json
import socket
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


def _issue(common: str, usage: Any, issuer: tuple[Any, Any] | None = None) -> tuple[Any, Any]:
    """A certificate and its key: a CA when ``issuer`` is None, else a leaf with ``usage`` signed by it."""
    import datetime as dt

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer[0].subject if issuer else name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
    )
    if issuer is None:
        builder = builder.add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
    else:
        import ipaddress

        builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False).add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False
        )
    return builder.sign(issuer[1] if issuer else key, hashes.SHA256()), key


def _write(folder: Path, name: str, pair: tuple[Any, Any]) -> tuple[str, str]:
    from cryptography.hazmat.primitives import serialization

    cert, key = folder / f"{name}.crt", folder / f"{name}.key"
    cert.write_bytes(pair[0].public_bytes(serialization.Encoding.PEM))
    key.write_bytes(
        pair[1].private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return str(cert), str(key)


def test_mutual_tls_admits_only_clients_with_a_certificate_of_the_ca(tmp_path: Path) -> None:
    import ssl
    import urllib.error
    import urllib.request

    from cryptography.x509.oid import ExtendedKeyUsageOID

    from mlaiops.remediation.receiver import start

    ca = _issue("test-ca", None)
    ca_file, _ = _write(tmp_path, "ca", ca)
    server_cert, server_key = _write(tmp_path, "server", _issue("receiver", ExtendedKeyUsageOID.SERVER_AUTH, ca))
    client_cert, client_key = _write(tmp_path, "client", _issue("alertmanager", ExtendedKeyUsageOID.CLIENT_AUTH, ca))
    stranger_ca = _issue("other-ca", None)
    stranger = _write(tmp_path, "stranger", _issue("pod", ExtendedKeyUsageOID.CLIENT_AUTH, stranger_ca))
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    settings = Settings(
        alertmanager_port=port,
        alertmanager_tls_cert_file=server_cert,
        alertmanager_tls_key_file=server_key,
        alertmanager_client_ca_file=ca_file,
    )

    def post(cert: tuple[str, str] | None) -> int | str:
        context = ssl.create_default_context(cafile=ca_file)
        if cert:
            context.load_cert_chain(*cert)
        request = urllib.request.Request(
            f"https://127.0.0.1:{port}/alertmanager", json.dumps(BODY).encode(), method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=5, context=context) as response:
                return response.status
        except urllib.error.HTTPError as error:
            return error.code
        except (urllib.error.URLError, ssl.SSLError, ConnectionError) as error:
            return type(error).__name__

    store = AlertStore()

    async def scenario() -> list[int | str]:
        runner = await start(settings, store)
        assert runner is not None
        try:
            return [await asyncio.to_thread(post, cert) for cert in ((client_cert, client_key), None, stranger)]
        finally:
            await runner.cleanup()

    admitted, anonymous, foreign = asyncio.run(scenario())
    assert admitted == 200 and anonymous != 200 and foreign != 200
    assert [s.rule for s in store.all()] == ["HighLatency"]


def test_start_without_a_credential_serves_nothing(caplog: pytest.LogCaptureFixture) -> None:
    from mlaiops.remediation.receiver import start

    assert asyncio.run(start(Settings(alertmanager_port=9), AlertStore())) is None
    assert "Alertmanager receiver not started" in caplog.text and "needs a credential" in caplog.text

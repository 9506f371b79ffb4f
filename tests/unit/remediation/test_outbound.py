"""Outbound calls of notify against a real local HTTP server (127.0.0.1, loopback allowed explicitly)."""

from __future__ import annotations

import ipaddress
import json
import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from mlaiops.remediation.outbound import (
    DeliveryFailed,
    Policy,
    Refused,
    address_refusal,
    check_url,
    post_json,
    secret_url,
)
from mlaiops.settings import Settings

LOOPBACK = Policy(allow_http=True, allowed_networks=(ipaddress.ip_network("127.0.0.0/8"),))


class Server:
    """Answers /ok with 200, /fail with 503, /moved with a 302 to /internal, and records every request."""

    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        self.requests: list[tuple[str, str, dict[str, Any]]] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                owner.requests.append((self.path, self.headers["Host"], body))
                if self.path == "/moved":
                    self.send_response(302)
                    self.send_header("Location", "/internal")
                elif self.path == "/fail":
                    self.send_response(503)
                else:
                    self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_GET = do_POST

            def log_message(self, *_: Any) -> None:
                pass

        self.http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        if tls is not None:
            self.http.socket = tls.wrap_socket(self.http.socket, server_side=True)
        self.port = self.http.server_address[1]
        threading.Thread(target=self.http.serve_forever, daemon=True).start()

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"


@pytest.fixture
def server() -> Iterator[Server]:
    made = Server()
    yield made
    made.http.shutdown()
    made.http.server_close()


def test_a_2xx_is_delivered(server: Server) -> None:
    assert post_json(server.url("/ok"), {"text": "hi"}, LOOPBACK, timeout=5) == 200
    assert server.requests == [("/ok", f"127.0.0.1:{server.port}", {"text": "hi"})]


def test_a_302_is_not_followed(server: Server) -> None:
    with pytest.raises(DeliveryFailed, match=r"^delivery failed \(HTTP 3xx\)$"):
        post_json(server.url("/moved"), {"text": "hi"}, LOOPBACK, timeout=5)
    assert [path for path, _, _ in server.requests] == ["/moved"]  # /internal was never requested


def test_a_5xx_says_only_its_class(server: Server) -> None:
    with pytest.raises(DeliveryFailed, match=r"^delivery failed \(HTTP 5xx\)$"):
        post_json(server.url("/fail"), {}, LOOPBACK, timeout=5)


def test_a_closed_port_and_an_open_one_that_fails_look_the_same() -> None:
    """No "connection refused" in status: notify is not a port scanner."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = sock.getsockname()[1]
    with pytest.raises(DeliveryFailed) as error:
        post_json(f"http://127.0.0.1:{closed}/x", {}, LOOPBACK, timeout=5)
    assert str(error.value) == "delivery failed (network)"


def test_loopback_is_refused_unless_allowed(server: Server) -> None:
    with pytest.raises(Refused, match=r"refused by policy: 127\.0\.0\.1 resolves to a loopback address"):
        post_json(server.url("/ok"), {}, Policy(allow_http=True), timeout=5)
    assert server.requests == []


@pytest.mark.parametrize(
    "url",
    ["file:///etc/passwd", "ftp://files.example.com/x", "gopher://example.com/", "//example.com/x", "example.com"],
)
def test_other_schemes_are_refused(url: str) -> None:
    with pytest.raises(Refused, match="refused by policy: scheme"):
        check_url(url, LOOPBACK)


def test_http_needs_the_operator_setting() -> None:
    with pytest.raises(Refused, match=r"scheme http is not allowed \(https only\)"):
        check_url("http://hooks.example.com/x", Policy())
    assert check_url("https://hooks.example.com/a?b=1", Policy()).path == "/a?b=1"


def test_the_host_allowlist() -> None:
    policy = Policy(allowed_hosts=("hooks.slack.com", "*.example.com"))
    for allowed in ("https://hooks.slack.com/services/x", "https://chat.example.com/", "https://A.B.example.com."):
        check_url(allowed, policy)
    for refused in ("https://slack.com/", "https://example.com/", "https://evil-example.com/", "https://x.slack.com/"):
        with pytest.raises(Refused, match="not in the allowed hosts"):
            check_url(refused, policy)


def test_credentials_in_urls_are_refused() -> None:
    with pytest.raises(Refused, match="credentials"):
        check_url("https://user:pw@hooks.example.com/", Policy())


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("127.0.0.1", "loopback"),
        ("::1", "loopback"),
        ("169.254.169.254", "link-local"),  # cloud metadata
        ("fe80::1", "link-local"),
        ("10.96.0.1", "private"),
        ("192.168.1.1", "private"),
        ("::ffff:10.0.0.1", "private"),  # IPv4-mapped IPv6
        ("100.64.0.1", "not public"),  # shared address space
        ("0.0.0.0", "unspecified"),
        ("224.0.0.1", "multicast"),
        ("8.8.8.8", None),
        ("2606:4700::1111", None),
    ],
)
def test_addresses(address: str, reason: str | None) -> None:
    assert address_refusal(ipaddress.ip_address(address), Policy()) == reason


def test_cluster_cidrs_are_refused_even_when_public_and_allowed_networks_win() -> None:
    policy = Policy.from_settings(
        Settings(outbound_cluster_cidrs="34.118.224.0/20", outbound_allowed_networks="10.20.0.0/16")
    )
    assert address_refusal(ipaddress.ip_address("34.118.230.1"), policy) == "in the cluster's networks"
    assert address_refusal(ipaddress.ip_address("10.20.3.4"), policy) is None
    assert address_refusal(ipaddress.ip_address("10.21.3.4"), policy) == "private"


def test_every_resolved_address_is_checked_and_the_connection_goes_to_a_checked_one(server: Server) -> None:
    """DNS rebinding: one private answer refuses the call; an allowed name is connected to the address
    checked, never resolved a second time, and keeps its name in the Host header."""
    answers = iter([["127.0.0.1"], ["10.0.0.1"]])
    calls: list[str] = []

    def resolver(host: str, port: int) -> list[str]:
        calls.append(host)
        return next(answers)

    assert post_json(server.url("/ok", host="hooks.test"), {}, LOOPBACK, timeout=5, resolver=resolver) == 200
    assert calls == ["hooks.test"] and server.requests[0][1] == f"hooks.test:{server.port}"
    with pytest.raises(Refused, match=r"hooks\.test resolves to a private address"):
        post_json(server.url("/ok", host="hooks.test"), {}, LOOPBACK, timeout=5, resolver=resolver)
    mixed = Policy(allow_http=True, allowed_networks=(ipaddress.ip_network("127.0.0.0/8"),))
    with pytest.raises(Refused, match="link-local"):
        post_json(server.url("/ok", host="both.test"), {}, mixed, 5, lambda h, p: ["127.0.0.1", "169.254.169.254"])
    assert len(server.requests) == 1


def test_an_unresolvable_host_is_a_network_failure() -> None:
    def resolver(host: str, port: int) -> list[str]:
        raise OSError("Name or service not known")

    with pytest.raises(DeliveryFailed, match=r"^delivery failed \(network\)$"):
        post_json("https://nowhere.invalid/", {}, Policy(), timeout=5, resolver=resolver)


class FakeKube:
    def __init__(self, secrets: dict[str, dict[str, Any]]) -> None:
        self.secrets = secrets
        self.read: list[str] = []

    def get(self, api_version: str, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        self.read.append(f"{namespace}/{name}")
        return self.secrets.get(name)


def test_only_secrets_with_an_allowed_name_are_read() -> None:
    kube = FakeKube({"mlaiops-notify": {"data": {"url": "aHR0cHM6Ly9ob29rcy5leGFtcGxlLmNvbS94"}}, "db": {}})
    assert secret_url(kube, "shop", "mlaiops-notify", "url", Policy()) == "https://hooks.example.com/x"  # type: ignore[arg-type]
    with pytest.raises(Refused, match="reads only Secrets named mlaiops-notify, not db"):
        secret_url(kube, "shop", "db", "url", Policy())  # type: ignore[arg-type]
    assert kube.read == ["shop/mlaiops-notify"]


def test_https_goes_to_the_checked_address_and_verifies_the_host_name() -> None:
    """The connection is pinned to the checked IP, yet TLS still checks the certificate against the
    URL's host name (SNI), so pinning does not weaken verification."""
    from mlaiops_sandbox.apiserver.tls import ServingCert

    certificate = ServingCert.create()  # valid for localhost and 127.0.0.1, from its own CA
    server = Server(tls=certificate.context())
    client = ssl.create_default_context(cadata=certificate.ca_pem.decode())
    policy = Policy(allowed_networks=(ipaddress.ip_network("127.0.0.0/8"),))  # https only
    try:
        url = f"https://localhost:{server.port}/ok"
        assert post_json(url, {"a": 1}, policy, 5, lambda h, p: ["127.0.0.1"], context=client) == 200
        with pytest.raises(DeliveryFailed, match=r"^delivery failed \(network\)$"):  # name not in the certificate
            post_json(f"https://hooks.test:{server.port}/ok", {}, policy, 5, lambda h, p: ["127.0.0.1"], context=client)
        with pytest.raises(DeliveryFailed, match=r"^delivery failed \(network\)$"):  # CA not trusted
            post_json(url, {}, policy, 5, lambda h, p: ["127.0.0.1"])
        assert [(path, host) for path, host, _ in server.requests] == [("/ok", f"localhost:{server.port}")]
    finally:
        server.http.shutdown()
        server.http.server_close()

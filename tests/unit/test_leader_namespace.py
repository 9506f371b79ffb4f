"""The Lease's namespace: created when missing and allowed, else one line that says what to do."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from kubernetes import client

from mlaiops.leader.namespace import ClusterUnreachable, LeaseNamespaceMissing, ensure_namespace


class FakeApi(BaseHTTPRequestHandler):
    """Answers namespace reads with ``read`` and creations with ``create`` (status codes), as the API server."""

    read = 404
    create = 201
    created: list[str] = []

    def _answer(self, status: int, message: str) -> None:
        body = json.dumps({"kind": "Status", "code": status, "message": message}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        name = self.path.rsplit("/", 1)[-1]
        self._answer(self.read, f'namespaces "{name}" not found' if self.read == 404 else "ok")

    def do_POST(self) -> None:
        name = json.loads(self.rfile.read(int(self.headers["Content-Length"])))["metadata"]["name"]
        if self.create == 201:
            FakeApi.created.append(name)
            self._answer(201, "created")
        else:
            self._answer(self.create, 'namespaces is forbidden: User "me" cannot create resource "namespaces"')

    def log_message(self, *_: object) -> None:
        pass


@pytest.fixture
def api() -> Iterator[client.ApiClient]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeApi)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    configuration = client.Configuration(host=f"http://127.0.0.1:{server.server_address[1]}")
    try:
        yield client.ApiClient(configuration)
    finally:
        server.shutdown()
        FakeApi.read, FakeApi.create, FakeApi.created = 404, 201, []


def test_a_missing_namespace_is_created(api: client.ApiClient) -> None:
    assert ensure_namespace(api, "mlaiops-system") is True
    assert FakeApi.created == ["mlaiops-system"]


def test_an_existing_namespace_is_left_alone(api: client.ApiClient) -> None:
    FakeApi.read = 200
    assert ensure_namespace(api, "mlaiops-system") is False
    assert FakeApi.created == []


def test_a_namespace_we_may_not_create_is_one_line_with_the_fix(api: client.ApiClient) -> None:
    FakeApi.create = 403
    with pytest.raises(LeaseNamespaceMissing) as raised:
        ensure_namespace(api, "mlaiops-system")
    message = str(raised.value)
    assert "\n" not in message and "(403)" in message
    assert "kubectl create namespace mlaiops-system" in message and "MLAIOPS_LEASE_NAMESPACE" in message


def test_an_unreachable_api_server_is_named() -> None:
    configuration = client.Configuration(host="http://127.0.0.1:9")
    configuration.retries = 0
    with pytest.raises(ClusterUnreachable, match=r"cannot reach the Kubernetes API at http://127\.0\.0\.1:9"):
        ensure_namespace(client.ApiClient(configuration), "mlaiops-system", timeout=2)

"""`mlaiops serve` under abuse: limits answer with their own status codes, never a counted 500,
and liveness keeps answering while the largest accepted requests are in flight."""

from __future__ import annotations

import contextlib
import json
import re
import socket
import threading
import time
from collections.abc import Iterator

import pytest
from serve_support import N_FEATURES, ModelFile, ServeProcess, Servers

from mlaiops.resources.modelserver import LIVENESS_FAILURE_THRESHOLD, LIVENESS_PERIOD_SECONDS, PROBE_TIMEOUT_SECONDS

pytestmark = pytest.mark.integration

MAX_BYTES = 100_000
MAX_ROWS = 50
INFER = "/v2/models/m/infer"
PREDICT = "/v1/models/m:predict"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, model_file: ModelFile) -> Iterator[ServeProcess]:
    group = Servers(tmp_path_factory)
    process = group.start(
        "--model-uri", model_file.uri, "--model-name", "m", "--sha256", model_file.sha256,
        "--max-request-bytes", str(MAX_BYTES), "--max-rows", str(MAX_ROWS),
        "--body-timeout", "1", "--header-timeout", "1",
    )  # fmt: skip
    try:
        process.wait_ready()
        yield process
    finally:
        group.stop_all()


def rows_body(rows: int) -> dict:
    return {
        "inputs": [{"name": "x", "shape": [rows, N_FEATURES], "datatype": "FP64", "data": [0.5] * rows * N_FEATURES}]
    }


def raw_exchange(port: int, payload: bytes, pause: float = 0.0, more: bytes = b"") -> bytes:
    """Send ``payload``, wait ``pause`` seconds, send ``more``; return whatever the server answers."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(payload)
        if pause:
            time.sleep(pause)
        if more:
            with contextlib.suppress(OSError):
                sock.sendall(more)
        answer = b""
        try:
            while chunk := sock.recv(65536):
                answer += chunk
                head, _, body = answer.partition(b"\r\n\r\n")
                length = re.search(rb"(?i)content-length: (\d+)", head)
                if length and len(body) >= int(length.group(1)):
                    break
        except OSError:
            pass
        return answer


def request_counts(server: ServeProcess) -> dict[str, float]:
    text = server.get("/metrics").body.decode()
    return {
        code: float(value)
        for code, value in re.findall(r'^mlaiops_model_requests_total\{[^}]*code="(\d+)"[^}]*\} (\S+)$', text, re.M)
    }


def test_a_body_over_the_limit_is_413_before_it_is_read(server: ServeProcess) -> None:
    head = f"POST {INFER} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {64 << 20}\r\n\r\n"
    started = time.monotonic()
    answer = raw_exchange(server.port, head.encode() + b"[" * 1000)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert b"--max-request-bytes" in answer
    assert time.monotonic() - started < 5


def test_a_chunked_body_over_the_limit_is_413(server: ServeProcess) -> None:
    chunk = b"[" * 60_000
    body = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(3)) + b"0\r\n\r\n"
    head = f"POST {INFER} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    answer = raw_exchange(server.port, head.encode() + body)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]


@pytest.mark.parametrize("path,key", [(INFER, "inputs"), (PREDICT, "instances")])
def test_deep_nesting_is_a_400(server: ServeProcess, path: str, key: str) -> None:
    depth = 40_000
    response = server.post(path, raw=f'{{"{key}": {"[" * depth}{"]" * depth}}}'.encode())
    assert response.status == 400, response.body
    assert "nested too deeply" in response.json()["error"]


def test_shallower_nesting_past_numpy_is_a_400(server: ServeProcess) -> None:
    nested: object = [0.0]
    for _ in range(100):
        nested = [nested]
    body = {"inputs": [{"name": "x", "shape": [1], "datatype": "FP64", "data": nested}]}
    assert server.post(INFER, body).status == 400
    assert server.post(PREDICT, {"instances": nested}).status == 400


def test_bad_bytes_and_huge_rank_are_400s(server: ServeProcess) -> None:
    objects = {
        "inputs": [{"name": "x", "shape": [1, N_FEATURES], "datatype": "BYTES", "data": [{"a": 1}] * N_FEATURES}]
    }
    response = server.post(INFER, objects)
    assert response.status == 400
    assert "must be strings for datatype BYTES" in response.json()["error"]
    strings = {"inputs": [{"name": "x", "shape": [1, N_FEATURES], "datatype": "BYTES", "data": ["a"] * N_FEATURES}]}
    assert server.post(INFER, strings).status == 400  # the model cannot take strings: still the client's fault
    rank = {"inputs": [{"name": "x", "shape": [1] * 1000, "datatype": "FP64", "data": [0.0]}]}
    response = server.post(INFER, rank)
    assert response.status == 400
    assert "at most 8" in response.json()["error"]
    digits = b'{"instances": [[' + b"9" * 5000 + b"]]}"
    assert server.post(PREDICT, raw=digits).status == 400


def test_rows_over_the_limit_are_a_400_naming_the_flag(server: ServeProcess) -> None:
    assert server.post(INFER, rows_body(MAX_ROWS)).status == 200
    response = server.post(INFER, rows_body(MAX_ROWS + 1))
    assert response.status == 400
    assert "--max-rows" in response.json()["error"]
    columns = {
        "inputs": [
            {"name": f"c{i}", "shape": [MAX_ROWS + 1], "datatype": "FP64", "data": [0.1] * (MAX_ROWS + 1)}
            for i in range(N_FEATURES)
        ]
    }
    assert server.post(INFER, columns).status == 400
    response = server.post(PREDICT, {"instances": [[0.5] * N_FEATURES] * (MAX_ROWS + 1)})
    assert response.status == 400
    assert f"at most {MAX_ROWS}" in response.json()["error"]


def test_a_slow_body_is_408(server: ServeProcess) -> None:
    body = json.dumps(rows_body(1)).encode()
    head = f"POST {INFER} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n\r\n".encode()
    started = time.monotonic()
    answer = raw_exchange(server.port, head + body[:10], pause=2.5, more=body[10:])
    assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
    assert time.monotonic() - started < 8


def test_slow_headers_are_cut_off(server: ServeProcess) -> None:
    started = time.monotonic()
    answer = raw_exchange(server.port, b"GET /v2/health/live HTTP/1.1\r\nHost: x\r\n")  # never finishes
    assert b"200" not in answer
    assert time.monotonic() - started < 8


def test_http_errors_keep_their_status(server: ServeProcess) -> None:
    assert server.get("/nope").status == 404
    response = server.get(INFER)
    assert response.status == 405
    assert "POST" in response.headers.get("Allow", "")
    response = server.post("/v2/models/other/infer", rows_body(1))
    assert response.status == 404
    assert "other" in response.json()["error"]


def test_only_the_models_faults_are_counted_as_5xx(server: ServeProcess) -> None:
    server.post(INFER, raw=b"{" * 10)
    counts = request_counts(server)
    assert not [code for code in counts if code.startswith("5")], counts
    assert counts.get("400", 0) >= 1
    assert counts.get("413", 0) >= 1


def test_liveness_answers_while_the_largest_requests_are_in_flight(servers: Servers, model_file: ModelFile) -> None:
    """Defaults (8 MiB, 10,000 rows): three bodies at the byte limit in flight, liveness polled. The
    contract is the generated probe's: the kubelet restarts the server only after ``failureThreshold`` probes
    in a row, one every ``periodSeconds``, each took longer than ``timeoutSeconds``, so no stretch of slow
    answers may last that long, and a busy server is never restarted. How fast liveness answers is a
    benchmark (benchmarks/abuse.py): on a loaded test machine one answer can take longer than the timeout
    (3.7 s measured beside the whole suite on 2 cores), which the kubelet forgives."""
    process = servers.start("--model-uri", model_file.uri, "--model-name", "m")
    process.wait_ready()
    row = json.dumps([0.123456] * N_FEATURES)
    count = (8 * 1024 * 1024 - 32) // (len(row) + 1)
    body = ('{"instances":[' + ",".join([row] * count) + "]}").encode()
    statuses: list[int] = []

    def send() -> None:
        statuses.append(process.post(PREDICT, raw=body).status)

    polls: list[tuple[float, float]] = []  # (sent, answered)
    for _ in range(2):
        senders = [threading.Thread(target=send) for _ in range(3)]
        for thread in senders:
            thread.start()
        while any(thread.is_alive() for thread in senders):
            started = time.monotonic()
            assert process.get("/v2/health/live").status == 200
            polls.append((started, time.monotonic()))
            time.sleep(0.05)
        for thread in senders:
            thread.join()
    assert statuses == [400] * 6
    restart_after = (LIVENESS_FAILURE_THRESHOLD - 1) * LIVENESS_PERIOD_SECONDS
    assert longest_slow_stretch(polls, PROBE_TIMEOUT_SECONDS) < restart_after, polls


def longest_slow_stretch(polls: list[tuple[float, float]], timeout: float) -> float:
    """Seconds from the first to the end of the last of consecutive polls that each took ``timeout`` or
    longer (the kubelet would have failed a probe sent at any moment of it); 0 if none did."""
    longest, began = 0.0, None
    for sent, answered in polls:
        if answered - sent < timeout:
            began = None
            continue
        began = sent if began is None else began
        longest = max(longest, answered - began)
    return longest


def test_a_slow_stretch_is_measured_from_its_first_slow_poll_to_its_last_answer() -> None:
    polls = [(0.0, 0.1), (0.2, 3.5), (3.6, 7.0), (7.1, 7.2), (8.0, 12.0)]
    assert longest_slow_stretch(polls, 3) == pytest.approx(6.8)
    assert longest_slow_stretch(polls[:2], 3) == pytest.approx(3.3)
    assert longest_slow_stretch([(0.0, 2.9)], 3) == 0.0

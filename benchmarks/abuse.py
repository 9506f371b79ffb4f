"""Abuse benchmark: replay the requests that used to knock the model server over, and measure it.

    PYTHONPATH=operator python benchmarks/abuse.py

Starts ``mlaiops serve`` as a subprocess on 127.0.0.1 (loopback only) with a small
LogisticRegression (8 features) and its sha256, then sends, one attack at a time:

* an oversized body (64 MiB declared, more than ``--max-request-bytes``): expect 413, not 500;
* a 100,000-deep nested JSON body on the V2 and the V1 endpoint: expect 400, not 500;
* BYTES data that is not strings, and a tensor of rank 1,000: expect 400;
* one more row than ``--max-rows``: expect 400;
* three maximum-size requests in flight at once, a few rounds, while liveness is polled every 50 ms:
  valid requests of ``--max-rows`` rows (expect 200), and bodies just under the byte limit
  (expect 400: too many rows, refused only after the JSON is parsed, the costly part).

For each it prints the status codes, the server's RSS before and at its peak (sampled every
10 ms from /proc) and the slowest liveness answer; then the ``mlaiops_model_requests_total``
series by code, which must hold no 5xx. Bounded: every request has a timeout and the whole run
takes well under a minute. The byte and row limits are the server's defaults unless given.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

N_FEATURES = 8
MODEL = "abuse"
LIVENESS_TARGET = 1.0
TIMEOUT = 30.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def make_model(folder: Path) -> tuple[Path, str]:
    """A small classifier saved with joblib, and its sha256."""
    import joblib
    from sklearn.datasets import make_classification
    from sklearn.linear_model import LogisticRegression

    features, labels = make_classification(n_samples=500, n_features=N_FEATURES, random_state=1)
    path = folder / "model.joblib"
    joblib.dump(LogisticRegression(max_iter=500).fit(features, labels), path)
    return path, hashlib.sha256(path.read_bytes()).hexdigest()


def rss_mib(pid: int) -> float:
    text = Path(f"/proc/{pid}/status").read_text()
    match = re.search(r"^VmRSS:\s+(\d+) kB", text, re.MULTILINE)
    return int(match.group(1)) / 1024 if match else 0.0


@contextlib.contextmanager
def rss_peak(pid: int) -> Iterator[list[float]]:
    """Yield [before, peak] in MiB; the peak is sampled every 10 ms until the block ends."""
    result = [rss_mib(pid), 0.0]
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            result[1] = max(result[1], rss_mib(pid))
            time.sleep(0.01)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        yield result
    finally:
        stop.set()
        thread.join()
        result[1] = max(result[1], rss_mib(pid))


# --- raw HTTP/1.1 over asyncio streams (no client library limits in the way) -------------------


async def send(port: int, path: str, body: bytes, declared: int | None = None) -> int:
    """POST ``body`` (``declared`` bytes announced) and return the status; 0 when the server hangs up first."""
    reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), TIMEOUT)
    length = len(body) if declared is None else declared
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {length}\r\nConnection: close\r\n\r\n"
    )
    try:
        writer.write(head.encode())
        for start in range(0, len(body), 1 << 20):
            writer.write(body[start : start + (1 << 20)])
            await asyncio.wait_for(writer.drain(), TIMEOUT)
        line = await asyncio.wait_for(reader.readline(), TIMEOUT)
    except (ConnectionError, TimeoutError):
        line = await _pending_status(reader)
    finally:
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()
    return int(line.split()[1]) if line.startswith(b"HTTP/") else 0


async def _pending_status(reader: asyncio.StreamReader) -> bytes:
    """The status line the server sent before it stopped reading (a 413 sent early), if any."""
    with contextlib.suppress(Exception):
        return await asyncio.wait_for(reader.readline(), 2)
    return b""


async def poll_liveness(port: int, stop: asyncio.Event, latencies: list[float]) -> None:
    """GET /v2/health/live every 50 ms over a fresh connection (as the kubelet does); record each latency."""
    while not stop.is_set():
        started = time.perf_counter()
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), TIMEOUT)
            writer.write(b"GET /v2/health/live HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            line = await asyncio.wait_for(reader.readline(), TIMEOUT)
            writer.close()
            ok = b" 200 " in line
        except (ConnectionError, TimeoutError):
            ok = False
        latencies.append(time.perf_counter() - started if ok else float("inf"))
        await asyncio.sleep(0.05)


# --- request bodies ----------------------------------------------------------------------------


def v2_rows(rows: int) -> bytes:
    import numpy as np

    data = np.random.default_rng(0).normal(size=(rows, N_FEATURES)).round(6)
    tensor = {"name": "x", "shape": [rows, N_FEATURES], "datatype": "FP64", "data": data.ravel().tolist()}
    return json.dumps({"inputs": [tensor]}).encode()


def v1_near_limit(limit: int) -> bytes:
    """A V1 body of valid rows just under ``limit`` bytes (far more rows than any sane row limit)."""
    row = json.dumps([0.123456] * N_FEATURES)
    count = (limit - 32) // (len(row) + 1)
    return ('{"instances":[' + ",".join([row] * count) + "]}").encode()


def deep(depth: int, v1: bool) -> bytes:
    nested = "[" * depth + "]" * depth
    return (f'{{"instances":{nested}}}' if v1 else f'{{"inputs":{nested}}}').encode()


def bad_bytes() -> bytes:
    tensor = {"name": "x", "shape": [1, N_FEATURES], "datatype": "BYTES", "data": [{"a": 1}] * N_FEATURES}
    return json.dumps({"inputs": [tensor]}).encode()


def huge_rank() -> bytes:
    return json.dumps({"inputs": [{"name": "x", "shape": [1] * 1000, "datatype": "FP64", "data": [0.0]}]}).encode()


# --- the run -----------------------------------------------------------------------------------


@dataclass
class Row:
    attack: str
    expected: str
    statuses: list[int]
    rss: list[float]
    liveness: list[float] = field(default_factory=list)

    def markdown(self) -> str:
        counts: dict[int, int] = {}
        for status in self.statuses:
            counts[status] = counts.get(status, 0) + 1
        codes = ", ".join(f"{count} x {status}" for status, count in sorted(counts.items()))
        live = f"{max(self.liveness) * 1000:.0f} ms" if self.liveness else "-"
        if self.liveness and max(self.liveness) == float("inf"):
            live = "no answer"
        return f"| {self.attack} | {self.expected} | {codes} | {self.rss[0]:.0f} / {self.rss[1]:.0f} MiB | {live} |"


async def attack(
    pid: int,
    port: int,
    name: str,
    expected: str,
    requests: Callable[[], list[tuple[str, bytes, int | None]]],
    rounds: int = 1,
    poll: bool = False,
) -> Row:
    """Send ``requests()`` concurrently, ``rounds`` times, optionally polling liveness meanwhile."""
    statuses: list[int] = []
    latencies: list[float] = []
    batch = requests()
    with rss_peak(pid) as rss:
        stop = asyncio.Event()
        poller = asyncio.create_task(poll_liveness(port, stop, latencies)) if poll else None
        for _ in range(rounds):
            statuses += await asyncio.gather(*(send(port, path, body, declared) for path, body, declared in batch))
        stop.set()
        if poller is not None:
            await poller
    return Row(name, expected, statuses, rss, latencies)


async def run(pid: int, port: int, max_bytes: int, max_rows: int, rounds: int) -> list[Row]:
    v2 = f"/v2/models/{MODEL}/infer"
    v1 = f"/v1/models/{MODEL}:predict"
    oversized = 64 * 1024 * 1024
    rows = [
        await attack(pid, port, "oversized body (64 MiB declared)", "413", lambda: [(v2, b"[" * (1 << 20), oversized)]),
        await attack(
            pid,
            port,
            "100,000-deep nesting, V2 and V1",
            "400",
            lambda: [(v2, deep(100_000, False), None), (v1, deep(100_000, True), None)],
        ),
        await attack(
            pid, port, "BYTES of objects; rank 1,000", "400", lambda: [(v2, bad_bytes(), None), (v2, huge_rank(), None)]
        ),
        await attack(
            pid, port, f"{max_rows + 1} rows (one over --max-rows)", "400", lambda: [(v2, v2_rows(max_rows + 1), None)]
        ),
        await attack(
            pid,
            port,
            f"3 x {max_rows} rows in flight, {rounds} rounds, liveness polled",
            "200",
            lambda: [(v2, v2_rows(max_rows), None)] * 3,
            rounds,
            poll=True,
        ),
        await attack(
            pid,
            port,
            f"3 x {max_bytes / 2**20:.0f} MiB bodies in flight, {rounds} rounds, liveness polled",
            "400 (rows)",
            lambda: [(v1, v1_near_limit(max_bytes), None)] * 3,
            rounds,
            poll=True,
        ),
    ]
    return rows


def request_counts(port: int) -> dict[str, float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=TIMEOUT) as response:
        text = response.read().decode()
    counts: dict[str, float] = {}
    for match in re.finditer(r'^mlaiops_model_requests_total\{[^}]*code="(\d+)"[^}]*\} (\S+)$', text, re.MULTILINE):
        counts[match.group(1)] = float(match.group(2))
    return counts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--max-request-bytes", type=int, default=8 * 1024 * 1024, help="the server's byte limit")
    parser.add_argument("--max-rows", type=int, default=10_000, help="the server's row limit")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of three concurrent maximum-size requests")
    parser.add_argument("--rss-bound", type=float, default=512.0, help="MiB the server's RSS must stay under")
    parser.add_argument(
        "--pass-limits", action="store_true", help="pass the limits to the server as flags (default: its defaults)"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="mlaiops-abuse-") as tmp:
        path, digest = make_model(Path(tmp))
        port = free_port()
        command = [sys.executable, "-m", "mlaiops", "serve", "--host", "127.0.0.1", "--port", str(port)]
        command += ["--model-uri", path.as_uri(), "--model-name", MODEL, "--sha256", digest, "--file-root", tmp]
        if args.pass_limits:
            command += ["--max-request-bytes", str(args.max_request_bytes), "--max-rows", str(args.max_rows)]
        env = {k: v for k, v in os.environ.items() if not k.startswith("MLAIOPS_")}
        log = Path(tmp) / "serve.log"
        with log.open("wb") as out:
            server = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env)
        try:
            deadline = time.monotonic() + TIMEOUT
            while True:
                ready = f"http://127.0.0.1:{port}/v2/health/ready"
                with contextlib.suppress(OSError), urllib.request.urlopen(ready, timeout=2) as response:
                    if response.status == 200:
                        break
                if server.poll() is not None or time.monotonic() > deadline:
                    print(log.read_text(), file=sys.stderr)
                    return 1
                time.sleep(0.1)
            rows = asyncio.run(run(server.pid, port, args.max_request_bytes, args.max_rows, args.rounds))
            counts = request_counts(port)
        finally:
            server.terminate()
            server.wait(10)
    print("| attack | expected | status codes | RSS before / peak | liveness max |")
    print("|---|---|---|---|---|")
    for row in rows:
        print(row.markdown())
    print()
    print("mlaiops_model_requests_total by code:", ", ".join(f"{code}: {n:.0f}" for code, n in sorted(counts.items())))
    worst_live = max((max(row.liveness) for row in rows if row.liveness), default=0.0)
    peak = max(row.rss[1] for row in rows)
    fives = sum(n for code, n in counts.items() if code.startswith("5"))
    ok = worst_live < LIVENESS_TARGET and peak < args.rss_bound and fives == 0
    print(
        f"liveness max {worst_live * 1000:.0f} ms (target < {LIVENESS_TARGET * 1000:.0f} ms), "
        f"RSS peak {peak:.0f} MiB (bound {args.rss_bound:.0f} MiB), 5xx counted: {fives:.0f} -> "
        + ("PASS" if ok else "FAIL")
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

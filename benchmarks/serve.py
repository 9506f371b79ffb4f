"""Model server benchmark: `mlaiops serve` against MLServer's scikit-learn runtime, same model, same load.

    python benchmarks/serve.py --mlserver /path/to/mlserver-venv/bin/mlserver

MLServer is not a project dependency; install it in a venv of its own, e.g.
``python3 -m venv /tmp/mlserver-venv && /tmp/mlserver-venv/bin/pip install mlserver==1.7.1
mlserver-sklearn==1.7.1``. Without ``--mlserver`` (or when the path does not exist) only our
server is measured. MLServer runs with ``parallel_workers: 0`` (inference in the server process;
its default worker pool fails to start on some Python builds) and ``debug: false`` (no access log,
like ours). Both answer the same V2 request (one row, 20 FP64 features, output ``predict_proba`` only: one
model call in either server) for the same joblib model trained here on a synthetic fraud-like data set.
``--max-batch-size`` runs each server once per value (1: no batching), each with adaptive batching of that
many rows (``--max-batch-latency``; MLServer's ``max_batch_size`` / ``max_batch_time``). Before measuring,
every server must answer the same probabilities as the first for 20 requests (to 1e-9).

Each server is pinned to CPU 0 and this load generator to CPU 1 (``sched_setaffinity``). The
generator speaks HTTP/1.1 over keep-alive asyncio streams (an aiohttp client tops out below what
the servers can do on one core) and measures:

* saturation: ``--concurrency`` connections sending back to back; completed requests per second;
* fixed rate: an open-loop schedule of ``--rate`` requests per second (default: half the lower
  saturation throughput); each request is due at its scheduled time whether or not earlier ones
  have returned, and latency runs from that scheduled time, so a stalled server is not hidden
  (no coordinated omission).

Every measurement lasts ``--duration`` seconds and is repeated ``--repeats`` times; the table
shows medians.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from mlaiops_sandbox.testing import free_port

SERVER_CPU = 0
CLIENT_CPU = 1
MODEL_NAME = "fraud"


# --- model -------------------------------------------------------------------------------------


def make_model(kind: str, folder: Path) -> tuple[Path, list[list[float]]]:
    """Train ``kind`` on a fraud-like data set (2% positives), save it with joblib, return sample rows."""
    import joblib
    from sklearn.datasets import make_classification
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression

    features, labels = make_classification(
        n_samples=20_000,
        n_features=20,
        n_informative=8,
        n_redundant=4,
        weights=[0.98],
        flip_y=0.01,
        random_state=7,
    )
    if kind == "logreg":
        estimator = LogisticRegression(max_iter=1000)
    else:
        estimator = RandomForestClassifier(n_estimators=50, max_depth=10, random_state=0, n_jobs=1)
    estimator.fit(features, labels)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "model.joblib"
    joblib.dump(estimator, path)
    return path, features[:256].tolist()


def v2_body(row: Sequence[float]) -> bytes:
    return json.dumps(
        {
            "inputs": [{"name": "input-0", "shape": [1, len(row)], "datatype": "FP64", "data": list(row)}],
            "outputs": [{"name": "predict_proba"}],
        }
    ).encode()


# --- servers -----------------------------------------------------------------------------------


def _pin(cpu: int) -> Callable[[], None]:
    def pin() -> None:
        with contextlib.suppress(AttributeError, OSError):
            os.sched_setaffinity(0, {cpu})

    return pin


@dataclass
class Server:
    label: str
    process: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v2/models/{MODEL_NAME}/infer"

    def wait_ready(self, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.label} exited with {self.process.returncode}; see {self.log}")
            url = f"http://127.0.0.1:{self.port}/v2/models/{MODEL_NAME}/ready"
            with contextlib.suppress(OSError), urllib.request.urlopen(url, timeout=2):
                return
            time.sleep(0.2)
        raise RuntimeError(f"{self.label} not ready after {timeout}s; see {self.log}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_ours(model: Path, workdir: Path, batch: int = 1, latency: float = 0.005) -> Server:
    """``mlaiops serve``; with ``batch`` above 1, adaptive batching of that many rows, ``latency`` s at most."""
    port = free_port()
    log = workdir / f"mlaiops-serve-{batch}.log"
    command = [sys.executable, "-m", "mlaiops", "serve", "--model-uri", model.as_uri()]
    command += ["--file-root", str(model.parent)]
    command += ["--model-name", MODEL_NAME, "--model-version", "v1", "--host", "127.0.0.1", "--port", str(port)]
    label = "mlaiops serve"
    if batch > 1:
        command += ["--max-batch-size", str(batch), "--max-batch-latency", str(latency)]
        label += f" (batch {batch}, {latency * 1000:g} ms)"
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, preexec_fn=_pin(SERVER_CPU))
    return Server(label, process, port, log)


def start_mlserver(executable: Path, model: Path, workdir: Path, batch: int = 1, latency: float = 0.005) -> Server:
    """MLServer's scikit-learn runtime on ``model``; ``batch`` above 1 turns on its adaptive batching
    (``max_batch_size`` rows, waiting at most ``max_batch_time`` seconds), as ours with ``--max-batch-size``."""
    port = free_port()
    folder = workdir / f"mlserver-{batch}"
    model_dir = folder / MODEL_NAME
    model_dir.mkdir(parents=True, exist_ok=True)
    shutil.copy(model, model_dir / "model.joblib")
    settings = {
        "debug": False,
        "parallel_workers": 0,
        "host": "127.0.0.1",
        "http_port": port,
        "grpc_port": free_port(),
        "metrics_port": free_port(),
    }
    (folder / "settings.json").write_text(json.dumps(settings))
    model_settings = {
        "name": MODEL_NAME,
        "implementation": "mlserver_sklearn.SKLearnModel",
        "parameters": {"uri": "./model.joblib", "version": "v1"},
        **({"max_batch_size": batch, "max_batch_time": latency} if batch > 1 else {}),
    }
    (model_dir / "model-settings.json").write_text(json.dumps(model_settings))
    log = workdir / f"mlserver-{batch}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(executable), "start", str(folder)],
            stdout=out,
            stderr=subprocess.STDOUT,
            preexec_fn=_pin(SERVER_CPU),
            cwd=folder,
        )
    label = "MLServer 1.7.1 (sklearn)" + (f", batch {batch}" if batch > 1 else "")
    return Server(label, process, port, log)


# --- load generator ----------------------------------------------------------------------------


class Connection:
    """One keep-alive HTTP/1.1 connection with at most one request in flight."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, port: int) -> Connection:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.transport.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return cls(reader, writer)

    async def send(self, request: bytes) -> int:
        self.writer.write(request)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        lower = head.lower()
        start = lower.find(b"content-length:")
        if start < 0:
            raise RuntimeError(f"response without Content-Length: {head[:200]!r}")
        end = lower.find(b"\r\n", start)
        await self.reader.readexactly(int(lower[start + 15 : end]))
        return status

    def close(self) -> None:
        self.writer.close()


def http_request(port: int, body: bytes) -> bytes:
    path = f"/v2/models/{MODEL_NAME}/infer"
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


@dataclass
class Result:
    completed: int
    errors: int
    seconds: float
    latencies: list[float]
    client_cpu: float

    @property
    def throughput(self) -> float:
        return self.completed / self.seconds

    def percentile(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


async def saturate(port: int, requests: list[bytes], concurrency: int, duration: float) -> Result:
    """Closed loop: ``concurrency`` connections, each sending its next request as soon as one returns."""
    connections = [await Connection.open(port) for _ in range(concurrency)]
    loop = asyncio.get_running_loop()
    end = loop.time() + duration
    counts = [0, 0]

    async def worker(index: int, connection: Connection) -> None:
        i = index
        while loop.time() < end:
            status = await connection.send(requests[i % len(requests)])
            counts[0 if status == 200 else 1] += 1
            i += concurrency

    cpu, started = time.process_time(), loop.time()
    await asyncio.gather(*(worker(i, c) for i, c in enumerate(connections)))
    seconds = loop.time() - started
    cpu = (time.process_time() - cpu) / seconds
    for connection in connections:
        connection.close()
    return Result(counts[0], counts[1], seconds, [], cpu)


async def fixed_rate(port: int, requests: list[bytes], rate: float, duration: float, connections: int) -> Result:
    """Open loop: request ``i`` is due at ``start + i / rate``; latency is measured from that time."""
    pool: asyncio.Queue[Connection] = asyncio.Queue()
    for _ in range(connections):
        pool.put_nowait(await Connection.open(port))
    loop = asyncio.get_running_loop()
    latencies: list[float] = []
    counts = [0, 0]

    async def one(due: float, request: bytes) -> None:
        connection = await pool.get()
        try:
            status = await connection.send(request)
        finally:
            pool.put_nowait(connection)
        latencies.append(loop.time() - due)
        counts[0 if status == 200 else 1] += 1

    total = int(rate * duration)
    start = loop.time() + 0.05
    cpu = time.process_time()
    tasks = []
    for i in range(total):
        due = start + i / rate
        delay = due - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.ensure_future(one(due, requests[i % len(requests)])))
    await asyncio.gather(*tasks)
    seconds = loop.time() - start
    cpu = (time.process_time() - cpu) / seconds
    while not pool.empty():
        pool.get_nowait().close()
    return Result(counts[0], counts[1], seconds, latencies, cpu)


# --- driver ------------------------------------------------------------------------------------


@dataclass
class Summary:
    server: str
    model: str
    saturation: list[Result]
    fixed: list[Result]
    rate: float


def answer(server: Server, body: bytes) -> list[float]:
    """The server's ``predict_proba`` for one request (it must answer that output only)."""
    request = urllib.request.Request(server.url, data=body, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        outputs = {o["name"]: o for o in json.load(response)["outputs"]}
    if set(outputs) != {"predict_proba"}:
        raise RuntimeError(f"{server.label} answered outputs {sorted(outputs)}")
    return [float(v) for v in outputs["predict_proba"]["data"]]


def check_answers(servers: list[Server], bodies: list[bytes], tolerance: float = 1e-9) -> None:
    """Every server answers the same probabilities as the first, row by row (to ``tolerance``): the servers
    compared do the same work."""
    for body in bodies:
        expected = answer(servers[0], body)
        for server in servers[1:]:
            got = answer(server, body)
            if len(got) != len(expected) or any(abs(a - b) > tolerance for a, b in zip(got, expected, strict=True)):
                raise RuntimeError(f"{server.label} answered {got}, {servers[0].label} {expected}")


def measure(server: Server, requests: list[bytes], rate: float | None, args: argparse.Namespace) -> Result:
    """One saturation run (``rate`` None) or one fixed-rate run, logged to stderr."""
    if rate is None:
        result = asyncio.run(saturate(server.port, requests, args.concurrency, args.duration))
        print(
            f"  {server.label}: saturation {result.throughput:8.0f} req/s  errors {result.errors}  "
            f"generator cpu {result.client_cpu:.0%}",
            file=sys.stderr,
        )
        if result.client_cpu > 0.9:
            print("  warning: the load generator used its whole CPU; saturation is a lower bound", file=sys.stderr)
    else:
        result = asyncio.run(fixed_rate(server.port, requests, rate, args.duration, args.concurrency))
        print(
            f"  {server.label}: {rate:.0f} req/s  p50 {result.percentile(0.5) * 1000:.2f} ms  "
            f"p99 {result.percentile(0.99) * 1000:.2f} ms  errors {result.errors}",
            file=sys.stderr,
        )
    return result


def table(summaries: list[Summary], args: argparse.Namespace) -> str:
    lines = [
        f"Model server benchmark: 1-row V2 requests (20 FP64 features, output predict_proba), "
        f"{args.duration:g} s per measurement, median of {args.repeats}; server on CPU {SERVER_CPU}, "
        f"load generator on CPU {CLIENT_CPU}; saturation with {args.concurrency} connections.",
        "",
        "| model | server | saturation req/s | fixed rate req/s | p50 ms | p99 ms | errors |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for s in summaries:
        sat = statistics.median(r.throughput for r in s.saturation)
        p50 = statistics.median(r.percentile(0.5) for r in s.fixed) * 1000
        p99 = statistics.median(r.percentile(0.99) for r in s.fixed) * 1000
        errors = sum(r.errors for r in s.saturation + s.fixed)
        lines.append(f"| {s.model} | {s.server} | {sat:.0f} | {s.rate:.0f} | {p50:.2f} | {p99:.2f} | {errors} |")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    mlserver = Path(args.mlserver) if args.mlserver else None
    if mlserver is None or not mlserver.exists():
        print(
            f"MLServer executable {'not given' if mlserver is None else f'{mlserver} not found'}: measuring "
            "mlaiops serve only (pass --mlserver PATH to compare)",
            file=sys.stderr,
        )
        mlserver = None
    summaries: list[Summary] = []
    with tempfile.TemporaryDirectory(prefix="mlaiops-bench-") as tmp:
        workdir = Path(tmp)
        for kind in args.models:
            model, rows = make_model(kind, workdir / kind)
            bodies = [v2_body(row) for row in rows]
            _pin(CLIENT_CPU)()
            # Both servers run at once (both on the server CPU; the idle one costs nothing) and the
            # measurements alternate between them, so background noise hits both alike.
            servers = [start_ours(model, workdir, batch, args.max_batch_latency) for batch in args.max_batch_size]
            if mlserver is not None:
                servers += [
                    start_mlserver(mlserver, model, workdir, b, args.max_batch_latency) for b in args.max_batch_size
                ]
            try:
                requests: dict[str, list[bytes]] = {}
                for server in servers:
                    server.wait_ready()
                check_answers(servers, bodies[:20])
                for server in servers:
                    requests[server.label] = [http_request(server.port, body) for body in bodies]
                    asyncio.run(saturate(server.port, requests[server.label], args.concurrency, 2.0))  # warm-up
                saturation: dict[str, list[Result]] = {server.label: [] for server in servers}
                for _ in range(args.repeats):
                    for server in servers:
                        saturation[server.label].append(measure(server, requests[server.label], None, args))
                rate = args.rate or 0.5 * min(statistics.median(r.throughput for r in v) for v in saturation.values())
                fixed: dict[str, list[Result]] = {server.label: [] for server in servers}
                for _ in range(args.repeats):
                    for server in servers:
                        fixed[server.label].append(measure(server, requests[server.label], rate, args))
                for server in servers:
                    summaries.append(Summary(server.label, kind, saturation[server.label], fixed[server.label], rate))
            finally:
                for server in servers:
                    server.stop()
    print(table(summaries, args))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mlserver", help="path to the mlserver executable (its own venv); omit to skip MLServer")
    parser.add_argument("--models", nargs="+", default=["logreg", "forest"], choices=["logreg", "forest"])
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per measurement (default 10)")
    parser.add_argument("--repeats", type=int, default=3, help="measurements per number; the median is shown")
    parser.add_argument("--concurrency", type=int, default=32, help="connections (default 32)")
    parser.add_argument(
        "--rate", type=float, default=0.0, help="fixed rate in req/s (default: half the lower saturation)"
    )
    parser.add_argument(
        "--max-batch-size",
        type=int,
        nargs="+",
        default=[1, 32],
        help="each server once per value: 1 is no batching (default: 1 32)",
    )
    parser.add_argument("--max-batch-latency", type=float, default=0.005, help="with batching (default 0.005 s)")
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())

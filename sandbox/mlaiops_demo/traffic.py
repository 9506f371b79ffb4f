"""Inference load through a Service: one new connection per request, as most clients make.

``Traffic`` is the steady background load (a daemon thread of the demo); with ``label_share`` it also
sends the true fraud label of that share of its requests ``label_delay`` seconds later, to the model's
feedback endpoint, by prediction id (docs/feedback.md): ground truth that arrives late. ``Surge`` is a load surge
run as its own process (``python -m mlaiops_demo.traffic``), so that its many concurrent clients
compete with the model servers for the CPU, not with the sandbox's API server for the GIL.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from mlaiops_demo.data import transactions


def infer_body(rng: np.random.Generator, features: int, drift: float = 0.0, column: int = 0) -> bytes:
    """One V2 infer request of one standard-normal row; ``drift`` moves column ``column``."""
    row = rng.normal(size=features)
    row[column] += drift
    tensor = {"name": "x", "shape": [1, features], "datatype": "FP64", "data": row.tolist()}
    return json.dumps({"inputs": [tensor]}).encode()


def labelled_body(rng: np.random.Generator, drift: float = 0.0) -> tuple[bytes, int]:
    """One V2 infer request of one demo transaction, and whether it is fraud (the label learnt later)."""
    rows, labels = transactions(rng, 1, drift)
    tensor = {"name": "x", "shape": [1, rows.shape[1]], "datatype": "FP64", "data": rows[0].tolist()}
    return json.dumps({"inputs": [tensor]}).encode(), int(labels[0])


def post(url: str, body: bytes, timeout: float = 5) -> tuple[int, bytes]:
    """POST one request; its HTTP status (0 when the connection failed) and body."""
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return int(response.status), response.read()
    except urllib.error.HTTPError as error:
        try:
            return int(error.code), error.read()
        except OSError:
            return int(error.code), b""
    except OSError:
        return 0, b""


def send(url: str, body: bytes, timeout: float = 5) -> int:
    """POST one request; its HTTP status, or 0 when the connection failed."""
    return post(url, body, timeout)[0]


def next_due(due: float, now: float, interval: float, max_lag: float = 1.0) -> float:
    """When to send the next request: one ``interval`` after the last one was due. The rate then stays
    1/``interval`` while answers take less than an interval (``in_flight`` intervals with that many
    requests open at once); a pause after each answer would send at
    1/(interval + latency), half the rate once a loaded server takes one interval to answer, and a drift rule
    counting rows in a window would see too few. More than ``max_lag`` behind (a stalled server, a paused
    process), the schedule restarts from ``now`` instead of sending what it missed in one burst."""
    due += interval
    return now if due < now - max_lag else due


class Traffic:
    """Sends V2 infer requests at ``rate`` per second from a daemon thread until ``stop()``, at most
    ``in_flight`` at once (each on a worker thread): the rate holds while answers take less than
    ``in_flight`` intervals.

    Setting ``drift`` moves column ``drift_column`` of every row sent from then on. With ``label_share``
    (0..1), that share of the requests are demo transactions whose fraud label is sent ``label_delay``
    seconds after the answer, in batches, to ``<model>/feedback``; ``labels`` counts what became of them
    (``joined``, or the reason the server gave, or ``failed``).
    """

    def __init__(
        self,
        url: str,
        features: int,
        rate: float = 12.0,
        seed: int = 0,
        drift_column: int = 0,
        label_share: float = 0.0,
        label_delay: float = 5.0,
        in_flight: int = 1,
    ) -> None:
        self.url, self.interval = url, 1 / rate
        self.feedback_url = url.rsplit("/infer", 1)[0] + "/feedback"
        self.features = features
        self.drift = 0.0
        self.drift_column = drift_column
        self.label_share, self.label_delay = label_share, label_delay
        self.codes: Counter[int] = Counter()
        self.labels: Counter[str] = Counter()
        self._due: list[tuple[float, str, int]] = []  # (when to send, prediction id, label), in time order
        self._rng = np.random.default_rng(seed)
        self._stop = threading.Event()
        self._lock = threading.Lock()  # codes, labels and _due, written by the workers
        self._slots = threading.BoundedSemaphore(in_flight)
        self._pool = ThreadPoolExecutor(in_flight, thread_name_prefix="traffic-request")
        self._thread = threading.Thread(target=self._run, name="traffic", daemon=True)

    def start(self) -> Traffic:
        self._thread.start()
        return self

    def answered(self) -> dict[int, int]:
        """A copy of ``codes`` (requests by HTTP status, 0 for a failed connection), safe while it runs."""
        with self._lock:
            return dict(self.codes)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _run(self) -> None:
        due = time.monotonic()
        while True:
            while not self._slots.acquire(timeout=0.5):  # in_flight answers outstanding: the schedule waits
                if self._stop.is_set():
                    return
            due = next_due(due, time.monotonic(), self.interval)
            if self._stop.wait(max(0.0, due - time.monotonic())):
                return
            if self.label_share and self._rng.random() < self.label_share:
                body, label = labelled_body(self._rng, self.drift)
                self._pool.submit(self._request, body, label)
            else:
                self._pool.submit(self._request, infer_body(self._rng, self.features, self.drift, self.drift_column))
            if self._due and self._due[0][0] <= time.monotonic():
                self._send_labels()

    def _request(self, body: bytes, label: int | None = None) -> None:
        """On a worker: one request; a labelled one's label is due ``label_delay`` after its answer."""
        try:
            status, answer = post(self.url, body)
            with self._lock:
                self.codes[status] += 1
                if label is not None and status == 200:
                    self._due.append((time.monotonic() + self.label_delay, json.loads(answer)["id"], label))
        finally:
            self._slots.release()

    def _send_labels(self) -> None:
        now = time.monotonic()
        with self._lock:
            due = [item for item in self._due if item[0] <= now]
            self._due = self._due[len(due) :]
        body = json.dumps({"ids": [i for _, i, _ in due], "labels": [label for _, _, label in due]}).encode()
        for attempt in range(3):  # a pod being replaced drops a connection: a label sender tries again
            status, answer = post(self.feedback_url, body)
            if status == 200 or 400 <= status < 500:
                break
            time.sleep(0.5 * (attempt + 1))
        try:
            outcome = json.loads(answer) if status in (200, 404) else {}
        except ValueError:
            outcome = {}
        with self._lock:
            if "unmatched" not in outcome:  # a 404 that says why no label joined is an answer, not a failure
                self.labels["failed"] += len(due)
                return
            self.labels["joined"] += outcome["joined"]
            self.labels.update(outcome["unmatched"])


class Surge:
    """An open-loop surge of ``rate`` requests per second in a child process, until ``stop()``."""

    def __init__(self, url: str, features: int, rate: float, drift: float = 0.0, drift_column: int = 0) -> None:
        self.command = [
            sys.executable,
            "-m",
            "mlaiops_demo.traffic",
            url,
            f"--features={features}",
            f"--rate={rate}",
            f"--drift={drift}",
            f"--drift-column={drift_column}",
        ]
        self.process: subprocess.Popen[str] | None = None
        self.codes: Counter[int] = Counter()

    def start(self) -> Surge:
        from mlaiops_sandbox.runtime.process import die_with_parent  # never outlive the demo that started it

        self.process = subprocess.Popen(self.command, stdout=subprocess.PIPE, text=True, preexec_fn=die_with_parent)
        return self

    def stop(self) -> Counter[int]:
        """End the surge; returns the responses by HTTP status (0: connection failed)."""
        if self.process is None:
            return self.codes
        self.process.terminate()
        try:
            output, _ = self.process.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            output, _ = self.process.communicate()
        self.process = None
        for line in output.splitlines()[-1:]:
            self.codes.update({int(k): v for k, v in json.loads(line).items()})
        return self.codes


def run_open_loop(url: str, features: int, rate: float, drift: float, column: int, stop: threading.Event) -> Counter:
    """Start one request every 1/rate seconds whatever the responses take (open loop), until ``stop``."""
    codes: Counter[int] = Counter()
    rng = np.random.default_rng(1)
    bodies = [infer_body(rng, features, drift, column) for _ in range(256)]
    pool = ThreadPoolExecutor(max_workers=64)
    began, sent = time.monotonic(), 0
    while not stop.is_set():
        delay = began + sent / rate - time.monotonic()
        if delay > 0 and stop.wait(delay):
            break
        future = pool.submit(send, url, bodies[sent % len(bodies)])
        future.add_done_callback(lambda done: codes.update([done.result()]) if not done.cancelled() else None)
        sent += 1
    pool.shutdown(wait=False, cancel_futures=True)  # report at once; requests still in flight are not counted
    return Counter(codes)


def main(argv: list[str] | None = None) -> None:
    """Run a surge until SIGTERM; print the responses by status as one JSON line."""
    import signal

    parser = argparse.ArgumentParser(prog="python -m mlaiops_demo.traffic", description=__doc__)
    parser.add_argument("url")
    parser.add_argument("--features", type=int, required=True)
    parser.add_argument("--rate", type=float, required=True)
    parser.add_argument("--drift", type=float, default=0.0)
    parser.add_argument("--drift-column", type=int, default=0)
    args = parser.parse_args(argv)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    codes = run_open_loop(args.url, args.features, args.rate, args.drift, args.drift_column, stop)
    print(json.dumps(dict(codes)), flush=True)


if __name__ == "__main__":
    main()

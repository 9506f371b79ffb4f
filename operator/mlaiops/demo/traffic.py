"""A steady inference load through a Service: one new connection per request, as most clients make."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from collections import Counter

import numpy as np


class Traffic:
    """Sends V2 infer requests at ``rate`` per second from a daemon thread until ``stop()``."""

    def __init__(self, url: str, features: int, rate: float = 12.0, seed: int = 0) -> None:
        self.url, self.interval = url, 1 / rate
        self.features = features
        self.shift = 0.0
        self.codes: Counter[int] = Counter()
        self._rng = np.random.default_rng(seed)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="traffic", daemon=True)

    def start(self) -> Traffic:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)

    def _body(self) -> bytes:
        row = self._rng.normal(size=self.features)
        row[0] += self.shift
        tensor = {"name": "x", "shape": [1, self.features], "datatype": "FP64", "data": row.tolist()}
        return json.dumps({"inputs": [tensor]}).encode()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            request = urllib.request.Request(self.url, data=self._body(), headers={"Content-Type": "application/json"})
            try:
                with urllib.request.urlopen(request, timeout=5) as response:
                    self.codes[response.status] += 1
            except urllib.error.HTTPError as error:
                self.codes[error.code] += 1
            except OSError:
                self.codes[0] += 1

"""Helpers for the model server tests: `mlaiops serve` as a subprocess on a free port, HTTP, polling."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pytest
from mlaiops_sandbox.testing import free_port, warm
from mlaiops_sandbox.testing.wait import wait_for as harness_wait_for
from sklearn.linear_model import LogisticRegression

T = TypeVar("T")
N_FEATURES = 8


def wait_for(check: Callable[[], T | None], timeout: float = 30.0, what: str = "condition") -> T:
    """The harness's poll loop; an exception from ``check`` fails at once."""
    return harness_wait_for(check, timeout, 0.05, what, ignore=())  # type: ignore[arg-type]


@dataclass
class Response:
    status: int
    body: bytes
    headers: dict[str, str]

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class ServeProcess:
    """One `mlaiops serve` subprocess and a tiny HTTP helper for it."""

    process: subprocess.Popen[bytes] | warm.WarmPopen
    port: int
    log_path: Path

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def request(self, method: str, path: str, body: Any = None, raw: bytes | None = None) -> Response:
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        request = urllib.request.Request(self.base + path, data=data, method=method)
        if data is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return Response(response.status, response.read(), dict(response.headers))
        except urllib.error.HTTPError as error:
            return Response(error.code, error.read(), dict(error.headers))

    def get(self, path: str) -> Response:
        return self.request("GET", path)

    def post(self, path: str, body: Any = None, raw: bytes | None = None) -> Response:
        return self.request("POST", path, body, raw)

    def status_of(self, path: str) -> int | None:
        try:
            return self.get(path).status
        except OSError:
            return None

    def wait_live(self, timeout: float = 30.0) -> None:
        def live() -> bool:
            if self.process.poll() is not None:
                raise AssertionError(f"server exited with {self.process.returncode}:\n{self.log()}")
            return self.status_of("/v2/health/live") == 200

        wait_for(live, timeout, "/v2/health/live to answer 200")

    def wait_ready(self, timeout: float = 30.0) -> None:
        def ready() -> bool:
            if self.process.poll() is not None:
                raise AssertionError(f"server exited with {self.process.returncode}:\n{self.log()}")
            return self.status_of("/v2/health/ready") == 200

        wait_for(ready, timeout, f"/v2/health/ready to answer 200; log:\n{self.log()}")

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode


class Servers:
    """Starts `mlaiops serve` processes (``--port`` gets a free port) and stops them all at the end."""

    def __init__(self, tmp: pytest.TempPathFactory) -> None:
        self.tmp = tmp
        self.started: list[ServeProcess] = []

    def start(self, *args: str, env: dict[str, str] | None = None, port_flag: bool = True) -> ServeProcess:
        port = free_port()
        log_path = self.tmp.mktemp("serve") / "serve.log"
        command = [sys.executable, "-m", "mlaiops", "serve", "--host", "127.0.0.1", *args]
        environment = {k: v for k, v in os.environ.items() if not k.startswith("MLAIOPS_") and k != "PORT"}
        environment["MLAIOPS_FILE_ROOT"] = str(self.tmp.getbasetemp())  # the models are made under it
        environment.update(env or {})
        if port_flag:
            command += ["--port", str(port)]
        else:
            environment["PORT"] = str(port)
        process = warm.popen(command, environment, log_path)  # forked from a warm interpreter: testing/warm.py
        server = ServeProcess(process, port, log_path)
        self.started.append(server)
        return server

    def stop_all(self) -> None:
        for server in self.started:
            server.stop()


@dataclass(frozen=True)
class ModelFile:
    path: Path
    estimator: LogisticRegression
    rows: np.ndarray

    @property
    def uri(self) -> str:
        return self.path.as_uri()

    @property
    def sha256(self) -> str:
        import hashlib

        return hashlib.sha256(self.path.read_bytes()).hexdigest()

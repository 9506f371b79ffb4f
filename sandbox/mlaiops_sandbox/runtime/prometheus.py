"""The sandbox's Prometheus: Debian's ``prometheus`` binary plus pod discovery through ``file_sd``.

Target convention (what kubernetes_sd + the usual relabelling would give): pods annotated
``prometheus.io/scrape: "true"`` are scraped at ``prometheus.io/port`` (a containerPort, mapped to its
local port; without it, every declared port) and ``prometheus.io/path`` (default ``/metrics``), every 1 s.
Target labels: ``namespace``, ``pod``, ``container``, and every pod label under ``app.kubernetes.io/`` or
``mlaiops.dev/`` with each character outside ``[a-zA-Z0-9_]`` replaced by ``_`` (``app.kubernetes.io/name``
-> ``app_kubernetes_io_name``, ``mlaiops.dev/model`` -> ``mlaiops_dev_model``), as a ``labelmap`` of
``__meta_kubernetes_pod_label_(.+)`` produces. Scrape job name: ``kubernetes-pods``.

A second job, ``kube-state-metrics`` (``honor_labels``), scrapes the runtime's kube-state-metrics-style
endpoint (state_metrics.py) from ``targets/kube-state-metrics.json``.

Prometheus 2.42 applies new targets at most every 5 s: poll for them, never sleep.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from mlaiops_sandbox.runtime.informer import Informer
from mlaiops_sandbox.runtime.pods import local_ports
from mlaiops_sandbox.runtime.process import die_with_parent
from mlaiops_sandbox.runtime.util import JSON, free_port, is_terminating, meta

LABEL_PREFIXES = ("app.kubernetes.io/", "mlaiops.dev/")
JOB_NAME = "kubernetes-pods"
STATE_METRICS_JOB = "kube-state-metrics"
STATE_METRICS_FILE = "kube-state-metrics.json"  # beside the pods' targets file

CONFIG = """\
global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: {job}
    file_sd_configs:
      - files: ["{targets}"]
        refresh_interval: 1s
  - job_name: {state_job}
    honor_labels: true
    file_sd_configs:
      - files: ["{state_targets}"]
        refresh_interval: 1s
"""


def label_name(key: str) -> str:
    return re.sub(r"[^a-zA-Z0-9_]", "_", key)


def pod_targets(pod: JSON) -> list[JSON]:
    """file_sd target groups for one pod (empty unless it asks to be scraped and has a local port)."""
    annotations = meta(pod).get("annotations") or {}
    if annotations.get("prometheus.io/scrape") != "true" or is_terminating(pod):
        return []
    if (pod.get("status") or {}).get("phase") != "Running":
        return []
    mapped = local_ports(pod)
    containers = (pod.get("spec") or {}).get("containers") or []
    declared = [(c["name"], int(p["containerPort"])) for c in containers for p in c.get("ports") or []]
    wanted = annotations.get("prometheus.io/port")
    if wanted:
        owner = next((name for name, port in declared if str(port) == str(wanted)), "")
        declared = [(owner, int(wanted))]
    labels = {
        "namespace": meta(pod).get("namespace") or "default",
        "pod": meta(pod)["name"],
        "__metrics_path__": annotations.get("prometheus.io/path") or "/metrics",
        "__scheme__": annotations.get("prometheus.io/scheme") or "http",
    }
    for key, value in (meta(pod).get("labels") or {}).items():
        if key.startswith(LABEL_PREFIXES):
            labels[label_name(key)] = str(value)
    return [
        {"targets": [f"127.0.0.1:{mapped[port]}"], "labels": {**labels, **({"container": c} if c else {})}}
        for c, port in declared
        if port in mapped
    ]


class TargetWriter:
    """Rewrites the file_sd JSON whenever a pod's scrape-relevant state changes (atomic rename)."""

    def __init__(self, pods: Informer, path: Path, state_metrics: str | None = None) -> None:
        """``state_metrics``: ``host:port`` of the runtime's kube-state-metrics endpoint, if any."""
        self.pods, self.path = pods, path
        self._last = ""
        path.parent.mkdir(parents=True, exist_ok=True)
        groups = [{"targets": [state_metrics], "labels": {}}] if state_metrics else []
        (path.parent / STATE_METRICS_FILE).write_text(json.dumps(groups))
        self.write()
        pods.add_handler(lambda _k, _o, _p: self.write())

    def write(self) -> None:
        groups = [g for pod in sorted(self.pods.items(), key=lambda p: meta(p)["name"]) for g in pod_targets(pod)]
        text = json.dumps(groups, indent=1, sort_keys=True)
        if text == self._last:
            return
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(text)
        os.replace(tmp, self.path)
        self._last = text


class PortTaken(RuntimeError):
    """Prometheus exited because another process holds its port."""


class Prometheus:
    """Starts/stops the ``prometheus`` process on ``127.0.0.1:<port>`` (the port survives restarts)."""

    def __init__(self, directory: Path, port: int = 0, binary: str | None = None) -> None:
        self.dir = directory
        self.port = port or free_port()
        # A port we picked may be taken by another process before Prometheus binds it (parallel test
        # workers do): until its first start succeeds, a taken port is swapped for a new one.
        self._may_move = not port
        self.binary = binary or shutil.which("prometheus") or "prometheus"
        self.targets_file = directory / "targets" / "pods.json"
        self.config_file = directory / "prometheus.yml"
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def write_config(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        self.targets_file.parent.mkdir(parents=True, exist_ok=True)
        state_targets = self.targets_file.parent / STATE_METRICS_FILE
        for path in (self.targets_file, state_targets):
            if not path.exists():
                path.write_text("[]")
        self.config_file.write_text(
            CONFIG.format(
                job=JOB_NAME, targets=self.targets_file, state_job=STATE_METRICS_JOB, state_targets=state_targets
            )
        )

    def start(self, timeout: float = 30.0) -> None:
        """Start and wait until ``/-/ready`` answers (blocking; use :meth:`astart` inside a loop)."""
        for attempt in range(3):
            self.spawn()
            try:
                self.wait_ready(timeout)
            except PortTaken:
                self._move(attempt)
                continue
            self._may_move = False  # the URL is out now: restarts keep it
            return

    def spawn(self) -> None:
        """Start the process (fast). It dies with the thread that spawned it if we crash."""
        if self.running:
            return
        self.write_config()
        with (self.dir / "prometheus.log").open("ab") as log:
            self._proc = subprocess.Popen(
                [
                    self.binary,
                    f"--config.file={self.config_file}",
                    f"--storage.tsdb.path={self.dir / 'data'}",
                    f"--web.listen-address=127.0.0.1:{self.port}",
                    "--web.enable-lifecycle",
                    "--storage.tsdb.retention.time=1d",
                ],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=die_with_parent if sys.platform == "linux" else None,
            )

    def wait_ready(self, timeout: float = 30.0) -> None:
        proc = self._proc
        assert proc is not None, "spawn() first"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                log = self.dir / "prometheus.log"
                if "address already in use" in log.read_text(errors="replace")[-2000:]:
                    raise PortTaken(f"prometheus could not bind 127.0.0.1:{self.port}; see {log}")
                raise RuntimeError(f"prometheus exited with {proc.returncode}; see {log}")
            with contextlib.suppress(OSError), urllib.request.urlopen(f"{self.url}/-/ready", timeout=1) as resp:
                if resp.status == 200:
                    return
            time.sleep(0.05)
        self.stop()
        raise TimeoutError("prometheus did not become ready")

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM the process group, SIGKILL after ``timeout``; queries fail from now on."""
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()

    async def astart(self) -> None:
        for attempt in range(3):
            self.spawn()  # from the loop's thread, which lives as long as the sandbox
            try:
                await asyncio.to_thread(self.wait_ready)
            except PortTaken:
                self._move(attempt)
                continue
            self._may_move = False
            return

    def _move(self, attempt: int) -> None:
        """After PortTaken: to a new port if we chose this one and it is not handed out yet; else re-raise."""
        if not self._may_move or attempt == 2:
            raise
        self.port = free_port()

    async def astop(self) -> None:
        await asyncio.to_thread(self.stop)

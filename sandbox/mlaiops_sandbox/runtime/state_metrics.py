"""What kube-state-metrics (v2) exports about pods, served from the runtime's pod informer.

``/metrics`` on ``127.0.0.1:<free port>``, scraped by the sandbox's Prometheus as job
``kube-state-metrics`` with ``honor_labels`` (so ``namespace``/``pod`` are the pod's, as in the usual
set-up). Series, with kube-state-metrics' names and labels: ``kube_pod_info``, ``kube_pod_labels`` (every
label as ``label_<name>``: as with ``--metric-labels-allowlist=pods=[*]``), ``kube_pod_status_phase``,
``kube_pod_status_ready``, ``kube_pod_container_info``, ``kube_pod_container_status_{ready,running,
waiting,terminated}``, ``..._waiting_reason``, ``..._terminated_reason``, ``..._last_terminated_reason``,
``..._last_terminated_exitcode``, ``kube_pod_container_status_restarts_total`` and
``kube_pod_container_resource_{requests,limits}`` (``unit`` ``core``/``byte``/``integer``). Init containers
and every other object kind are not exported.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterable

from aiohttp import web

from mlaiops_sandbox.runtime.informer import Informer
from mlaiops_sandbox.runtime.security import quantity
from mlaiops_sandbox.runtime.util import JSON, free_port, meta

PHASES = ("Pending", "Running", "Succeeded", "Failed", "Unknown")
TYPES = {
    "kube_pod_info": ("gauge", "Information about pod."),
    "kube_pod_labels": ("gauge", "Kubernetes labels converted to Prometheus labels."),
    "kube_pod_status_phase": ("gauge", "The pods current phase."),
    "kube_pod_status_ready": ("gauge", "Describes whether the pod is ready to serve requests."),
    "kube_pod_container_info": ("gauge", "Information about a container in a pod."),
    "kube_pod_container_status_ready": ("gauge", "Describes whether the containers readiness check succeeded."),
    "kube_pod_container_status_running": ("gauge", "Describes whether the container is currently in running state."),
    "kube_pod_container_status_waiting": ("gauge", "Describes whether the container is currently in waiting state."),
    "kube_pod_container_status_terminated": ("gauge", "Describes whether the container is currently in terminated state."),
    "kube_pod_container_status_waiting_reason": ("gauge", "Describes the reason the container is currently in waiting state."),
    "kube_pod_container_status_terminated_reason": ("gauge", "Describes the reason the container is currently in terminated state."),
    "kube_pod_container_status_last_terminated_reason": ("gauge", "Describes the last reason the container was in terminated state."),
    "kube_pod_container_status_last_terminated_exitcode": ("gauge", "Describes the exit code for the last container in terminated state."),
    "kube_pod_container_status_restarts_total": ("counter", "The number of container restarts per container."),
    "kube_pod_container_resource_requests": ("gauge", "The number of requested request resource by a container."),
    "kube_pod_container_resource_limits": ("gauge", "The number of requested limit resource by a container."),
}  # fmt: skip


def _escape(value: object) -> str:
    return str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _unit(resource: str) -> str:
    if resource == "cpu":
        return "core"
    if resource in ("memory", "ephemeral-storage") or resource.startswith("hugepages-"):
        return "byte"
    return "integer"


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def pod_samples(pod: JSON) -> Iterable[tuple[str, dict[str, str], float]]:
    """(metric, labels, value) for one pod."""
    m, spec, status = meta(pod), pod.get("spec") or {}, pod.get("status") or {}
    base = {"namespace": m.get("namespace") or "default", "pod": m.get("name", ""), "uid": m.get("uid", "")}
    owner: JSON = next(iter(m.get("ownerReferences") or []), {})
    yield (
        "kube_pod_info",
        base
        | {
            "host_ip": status.get("hostIP", ""),
            "pod_ip": status.get("podIP", ""),
            "node": spec.get("nodeName", ""),
            "created_by_kind": owner.get("kind", ""),
            "created_by_name": owner.get("name", ""),
        },
        1,
    )
    labels = {"label_" + re.sub(r"[^a-zA-Z0-9_]", "_", k): str(v) for k, v in (m.get("labels") or {}).items()}
    yield "kube_pod_labels", base | labels, 1
    phase = status.get("phase") or "Pending"
    for name in PHASES:
        yield "kube_pod_status_phase", base | {"phase": name}, float(name == phase)
    ready = next((c.get("status") for c in status.get("conditions") or [] if c.get("type") == "Ready"), None)
    if ready is not None:
        for name in ("true", "false", "unknown"):
            yield "kube_pod_status_ready", base | {"condition": name}, float(str(ready).lower() == name)
    specs = {c["name"]: c for c in spec.get("containers") or []}
    for container in status.get("containerStatuses") or []:
        labels = base | {"container": container["name"]}
        yield (
            "kube_pod_container_info",
            labels
            | {
                "image": container.get("image", ""),
                "image_id": container.get("imageID", ""),
                "container_id": container.get("containerID", ""),
            },
            1,
        )
        state, last = container.get("state") or {}, (container.get("lastState") or {}).get("terminated")
        yield "kube_pod_container_status_ready", labels, float(bool(container.get("ready")))
        for name in ("running", "waiting", "terminated"):
            yield f"kube_pod_container_status_{name}", labels, float(name in state)
        for name in ("waiting", "terminated"):
            if (state.get(name) or {}).get("reason"):
                yield f"kube_pod_container_status_{name}_reason", labels | {"reason": state[name]["reason"]}, 1
        if last:
            if last.get("reason"):
                yield "kube_pod_container_status_last_terminated_reason", labels | {"reason": last["reason"]}, 1
            yield "kube_pod_container_status_last_terminated_exitcode", labels, float(last.get("exitCode", 0))
        yield "kube_pod_container_status_restarts_total", labels, float(container.get("restartCount", 0))
    for name, container in specs.items():
        resources = container.get("resources") or {}
        for kind in ("requests", "limits"):
            for resource, value in (resources.get(kind) or {}).items():
                with contextlib.suppress(ValueError):  # a bad quantity: the series is left out
                    amount = float(quantity(value))
                    extra = {"container": name, "node": spec.get("nodeName", ""), "resource": resource}
                    yield f"kube_pod_container_resource_{kind}", base | extra | {"unit": _unit(resource)}, amount


def render(pods: Iterable[JSON]) -> str:
    """The Prometheus text format for all pods, grouped by metric."""
    by_metric: dict[str, list[str]] = {name: [] for name in TYPES}
    for pod in pods:
        for metric, labels, value in pod_samples(pod):
            text = ",".join(f'{key}="{_escape(val)}"' for key, val in labels.items())
            by_metric[metric].append(f"{metric}{{{text}}} {_number(value)}")
    lines: list[str] = []
    for metric, samples in by_metric.items():
        kind, help_text = TYPES[metric]
        lines += [f"# HELP {metric} {help_text}", f"# TYPE {metric} {kind}", *samples]
    return "\n".join(lines) + "\n"


class StateMetricsServer:
    """Serves :func:`render` of the informer's pods on ``127.0.0.1:<port>/metrics``, rendered again only
    after a pod changed (Prometheus scrapes every second; a thousand pods would otherwise cost)."""

    def __init__(self, pods: Informer, port: int = 0) -> None:
        self.pods, self.port = pods, port or free_port()
        self._runner: web.AppRunner | None = None
        self._text: str | None = None
        pods.add_handler(self._changed)

    def _changed(self, _kind: str, _obj: JSON, _old: JSON | None) -> None:
        self._text = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    async def _metrics(self, _request: web.Request) -> web.Response:
        if self._text is None:
            self._text = render(self.pods.items())
        return web.Response(text=self._text, content_type="text/plain", charset="utf-8")

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/metrics", self._metrics)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

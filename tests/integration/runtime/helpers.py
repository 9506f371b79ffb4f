"""Helpers for the local runtime's integration tests: a tiny synchronous REST client, polling with a
deadline, process checks, and the manifests the tests deploy."""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from mlaiops_sandbox.testing.wait import wait_for as harness_wait_for

T = TypeVar("T")
JSON = dict[str, Any]
OWN_IMAGE = "ghcr.io/example/mlaiops:test"


def wait_for(fn: Callable[[], T], timeout: float = 30.0, interval: float = 0.1, what: str = "condition") -> T:
    """The harness's poll loop; an exception from ``fn`` fails at once."""
    return harness_wait_for(fn, timeout, interval, what, ignore=())


class Kube:
    """Synchronous JSON-over-HTTP access to the sandbox API server (what a test needs, nothing more)."""

    def __init__(self, url: str) -> None:
        self.url = url

    def request(
        self, method: str, path: str, body: Any = None, content_type: str = "application/json", **params: str
    ) -> JSON:
        url = self.url + path + (("?" + urllib.parse.urlencode(params)) if params else "")
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": content_type})
        with urllib.request.urlopen(req, timeout=30) as resp:
            return json.loads(resp.read() or b"{}")

    def get(self, path: str, **params: str) -> JSON:
        return self.request("GET", path, **params)

    def get_or_none(self, path: str) -> JSON | None:
        try:
            return self.get(path)
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                return None
            raise

    def create(self, path: str, body: JSON) -> JSON:
        return self.request("POST", path, body)

    def patch(self, path: str, body: JSON) -> JSON:
        return self.request("PATCH", path, body, "application/merge-patch+json")

    def delete(self, path: str) -> JSON:
        return self.request("DELETE", path)

    def namespace(self, name: str) -> str:
        self.create("/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
        return name

    def pods(self, namespace: str, selector: str = "") -> list[JSON]:
        params = {"labelSelector": selector} if selector else {}
        return self.get(f"/api/v1/namespaces/{namespace}/pods", **params).get("items") or []


def pids_of(pod: JSON) -> list[int]:
    """Local process ids, from ``containerStatuses[].containerID`` (``sandbox://<pid>``)."""
    return [
        int(c["containerID"].split("://", 1)[1])
        for c in (pod.get("status") or {}).get("containerStatuses") or []
        if (c.get("containerID") or "").startswith("sandbox://") and "running" in (c.get("state") or {})
    ]


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is dead for our purposes
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0] != "Z"
    except (OSError, IndexError):
        return False


def ready(pod: JSON) -> bool:
    return any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in (pod.get("status") or {}).get("conditions") or []
    )


def http_get(url: str, timeout: float = 5.0) -> str:
    with urllib.request.urlopen(url, timeout=timeout) as resp:
        return resp.read().decode()


SERVER_SCRIPT = """\
import http.server, os, sys
port = int(sys.argv[sys.argv.index("--port") + 1])
reply = sys.argv[sys.argv.index("--reply") + 1]

class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = f"{reply} {os.environ['POD_NAME']} {os.environ['POD_NAMESPACE']}".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass

http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()
"""


def server_configmap(namespace: str) -> JSON:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "scripts", "namespace": namespace},
        "data": {"server.py": SERVER_SCRIPT},
    }


def server_deployment(namespace: str, name: str, replicas: int, labels: JSON, reply: str, **spec: Any) -> JSON:
    """A Deployment of the project's image running a small HTTP server from a mounted ConfigMap.

    Uses Kubernetes features the runtime must honour: a configMap volume (path rewriting), fieldRef env,
    ``$(VAR)`` expansion in args, a named containerPort (port rewriting) and an httpGet readiness probe.
    """
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"deploy": name}},
            "template": {
                "metadata": {"labels": {"deploy": name, **labels}},
                "spec": {
                    "terminationGracePeriodSeconds": 5,
                    "containers": [
                        {
                            "name": "server",
                            "image": OWN_IMAGE,
                            "command": ["python", "/opt/scripts/server.py"],
                            "args": ["--port", "8080", "--reply", "$(REPLY)"],
                            "env": [
                                {"name": "REPLY", "value": reply},
                                {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                                {
                                    "name": "POD_NAMESPACE",
                                    "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}},
                                },
                            ],
                            "ports": [{"name": "http", "containerPort": 8080}],
                            "readinessProbe": {"httpGet": {"path": "/", "port": "http"}, "periodSeconds": 1},
                            "volumeMounts": [{"name": "scripts", "mountPath": "/opt/scripts"}],
                        }
                    ],
                    "volumes": [{"name": "scripts", "configMap": {"name": "scripts"}}],
                },
            },
            **spec,
        },
    }


def deployment_available(kube: Kube, namespace: str, name: str, replicas: int) -> JSON | None:
    d = kube.get(f"/apis/apps/v1/namespaces/{namespace}/deployments/{name}")
    st = d.get("status") or {}
    conditions = {c["type"]: c for c in st.get("conditions") or []}
    ok = (
        st.get("observedGeneration") == d["metadata"].get("generation")
        and st.get("replicas") == replicas
        and st.get("readyReplicas") == replicas
        and st.get("availableReplicas") == replicas
        and st.get("updatedReplicas") == replicas
        and conditions.get("Available", {}).get("status") == "True"
    )
    return d if ok else None

"""Node registration: the kubelet creates its Node object at start and keeps its status true.

A real kubelet registers ``metadata.name`` = its hostname override, with the well-known labels, then
reports status: conditions (``Ready`` plus the pressure conditions, all healthy here), ``capacity`` /
``allocatable``, ``addresses``, ``nodeInfo`` and ``daemonEndpoints``. The sandbox reports the host it
runs on (CPU count, memory, kernel) as its one node, with the runtime's name and IP.
"""

from __future__ import annotations

import os
import platform
import uuid
from datetime import UTC, datetime
from typing import Any

from mlaiops_sandbox.runtime.client import NODES, ApiClient, ApiError
from mlaiops_sandbox.runtime.config import RuntimeConfig

JSON = dict[str, Any]
KUBELET_VERSION = "v1.32.0-mlaiops-sandbox"
MAX_PODS = "110"  # the kubelet's default --max-pods
ARCHES = {"x86_64": "amd64", "aarch64": "arm64", "arm64": "arm64"}


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _memory_kib() -> int:
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 4 * 1024 * 1024


def _storage_kib(path: str) -> int:
    try:
        stat = os.statvfs(path)
        return stat.f_blocks * stat.f_frsize // 1024
    except OSError:
        return 20 * 1024 * 1024


def _condition(kind: str, status: str, reason: str, message: str, now: str) -> JSON:
    return {
        "type": kind,
        "status": status,
        "lastHeartbeatTime": now,
        "lastTransitionTime": now,
        "reason": reason,
        "message": message,
    }


def node_object(config: RuntimeConfig) -> JSON:
    """The Node as the kubelet registers it, with the status it reports on a healthy machine."""
    now = _now()
    arch = ARCHES.get(platform.machine(), platform.machine())
    cpus = str(os.cpu_count() or 1)
    memory = f"{_memory_kib()}Ki"
    storage = f"{_storage_kib(str(config.sandbox_dir))}Ki"
    capacity = {"cpu": cpus, "ephemeral-storage": storage, "hugepages-2Mi": "0", "memory": memory, "pods": MAX_PODS}
    release = (
        platform.freedesktop_os_release().get("PRETTY_NAME", "Linux")
        if hasattr(platform, "freedesktop_os_release")
        else "Linux"
    )
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": config.node_name,
            "labels": {
                "beta.kubernetes.io/arch": arch,
                "beta.kubernetes.io/os": "linux",
                "kubernetes.io/arch": arch,
                "kubernetes.io/hostname": config.node_name,
                "kubernetes.io/os": "linux",
                "node-role.kubernetes.io/control-plane": "",
            },
            "annotations": {"volumes.kubernetes.io/controller-managed-attach-detach": "true"},
        },
        "spec": {"podCIDR": "10.244.0.0/24", "podCIDRs": ["10.244.0.0/24"]},
        "status": {
            "capacity": capacity,
            "allocatable": dict(capacity),
            "conditions": [
                _condition("MemoryPressure", "False", "KubeletHasSufficientMemory", "kubelet has sufficient memory available", now),
                _condition("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure", now),
                _condition("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available", now),
                _condition("Ready", "True", "KubeletReady", "kubelet is posting ready status", now),
            ],
            "addresses": [
                {"type": "InternalIP", "address": config.host_ip},
                {"type": "Hostname", "address": config.node_name},
            ],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
            "nodeInfo": {
                "machineID": uuid.uuid5(uuid.NAMESPACE_DNS, platform.node()).hex,
                "systemUUID": str(uuid.uuid5(uuid.NAMESPACE_URL, platform.node())),
                "bootID": str(uuid.uuid4()),
                "kernelVersion": platform.release(),
                "osImage": release,
                "containerRuntimeVersion": "sandbox://1.0.0",
                "kubeletVersion": KUBELET_VERSION,
                "kubeProxyVersion": KUBELET_VERSION,
                "operatingSystem": "linux",
                "architecture": arch,
            },
            "images": [],
        },
    }  # fmt: skip


async def register_node(client: ApiClient, config: RuntimeConfig) -> JSON:
    """Create the Node, or (after a restart on the same API server) write its status afresh."""
    node = node_object(config)
    try:
        await client.create(NODES, None, {k: v for k, v in node.items() if k != "status"})
    except ApiError as exc:
        if exc.status != 409:
            raise
    return await client.patch_status(NODES, None, config.node_name, node["status"])

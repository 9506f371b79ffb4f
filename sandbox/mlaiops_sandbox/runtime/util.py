"""Small helpers shared by the controllers: timestamps, owner references, pod state, free ports."""

from __future__ import annotations

import collections
import datetime as dt
import secrets
import socket
import string
from typing import Any

JSON = dict[str, Any]

# Kubernetes' utilrand alphabet: no vowels, no confusable characters.
SAFE_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def timestamp(when: dt.datetime | None = None) -> str:
    """RFC 3339 with second precision and a ``Z``, as the API server writes it."""
    return (when or now()).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(value: str | None) -> dt.datetime | None:
    if not value:
        return None
    try:
        return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def random_suffix(length: int = 5) -> str:
    return "".join(secrets.choice(SAFE_ALPHABET) for _ in range(length))


def safe_encode(value: str) -> str:
    """Kubernetes' ``rand.SafeEncodeString``: map each byte onto the safe alphabet."""
    return "".join(SAFE_ALPHABET[b % len(SAFE_ALPHABET)] for b in value.encode())


def fnv32a(data: bytes) -> int:
    h = 0x811C9DC5
    for b in data:
        h ^= b
        h = (h * 0x01000193) & 0xFFFFFFFF
    return h


def meta(obj: JSON) -> JSON:
    return obj.get("metadata") or {}


def owner_ref(obj: JSON, kind: str, api_version: str) -> JSON:
    return {
        "apiVersion": api_version,
        "kind": kind,
        "name": meta(obj)["name"],
        "uid": meta(obj)["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


def controller_uid(obj: JSON) -> str | None:
    for ref in meta(obj).get("ownerReferences") or []:
        if ref.get("controller"):
            return ref.get("uid")
    return None


def controller_ref(obj: JSON) -> JSON | None:
    for ref in meta(obj).get("ownerReferences") or []:
        if ref.get("controller"):
            return ref
    return None


def is_terminating(obj: JSON) -> bool:
    return bool(meta(obj).get("deletionTimestamp"))


def pod_condition(pod: JSON, kind: str) -> JSON | None:
    for cond in (pod.get("status") or {}).get("conditions") or []:
        if cond.get("type") == kind:
            return cond
    return None


def pod_ready(pod: JSON) -> bool:
    cond = pod_condition(pod, "Ready")
    return bool(cond and cond.get("status") == "True")


def pod_available(pod: JSON, min_ready_seconds: int, at: dt.datetime | None = None) -> bool:
    """Ready for at least ``minReadySeconds``, like ``podutil.IsPodAvailable``."""
    if not pod_ready(pod):
        return False
    if min_ready_seconds <= 0:
        return True
    since = parse_time((pod_condition(pod, "Ready") or {}).get("lastTransitionTime"))
    return since is not None and (at or now()) - since >= dt.timedelta(seconds=min_ready_seconds)


def pod_active(pod: JSON) -> bool:
    """Counts towards a controller's replicas: not terminating and not finished."""
    phase = (pod.get("status") or {}).get("phase")
    return not is_terminating(pod) and phase not in ("Succeeded", "Failed")


def condition(kind: str, status: bool, reason: str, message: str, previous: list[JSON] | None) -> JSON:
    """A condition whose ``lastTransitionTime`` only moves when ``status`` flips."""
    value = "True" if status else "False"
    stamp = timestamp()
    for old in previous or []:
        if old.get("type") == kind and old.get("status") == value and old.get("lastTransitionTime"):
            stamp = old["lastTransitionTime"]
    return {
        "type": kind,
        "status": value,
        "reason": reason,
        "message": message,
        "lastTransitionTime": stamp,
    }


_handed_out: collections.deque[int] = collections.deque(maxlen=4096)


def free_port(host: str = "127.0.0.1") -> int:
    """A currently free TCP port on ``host``, never one handed out recently by this process (so two
    ports of one pod cannot collide before their processes bind them)."""
    for _ in range(100):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind((host, 0))
            port = int(sock.getsockname()[1])
        if port not in _handed_out:
            _handed_out.append(port)
            return port
    raise OSError("no free port found")


def env_name(value: str) -> str:
    """``my-port.x`` -> ``MY_PORT_X``: a valid environment variable suffix."""
    allowed = string.ascii_letters + string.digits
    return "".join(ch if ch in allowed else "_" for ch in value).upper()

"""What the local runtime does with each image, and the timings it shortens for a laptop.

The project's own image runs the container's command as a local process, or, with ``container_image``
set (``runtime: containers``), as a real container of that local image; any other image gets a
simulated outcome, chosen by the first matching glob in ``images``.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# Outcomes: "process" (run the command locally), "run" (Running and Ready until deleted),
# "succeed"/"fail" (exit 0/1 at once), "succeed-after: 2s"/"fail-after: 2s", "crash" (exit 1, for
# CrashLoopBackOff), "default" (run for restartPolicy Always, succeed otherwise).
OUTCOME_RE = re.compile(r"^(process|run|succeed|fail|crash|default)(?:-after)?(?::\s*([0-9.]+)s?)?$")

RUNTIMES = ("processes", "containers")
DEFAULT_CONTAINER_IMAGE = "mlaiops:dev"  # what `make image` builds

OWN_IMAGES = ("mlaiops", "mlaiops:*", "mlaiops@*", "*/mlaiops", "*/mlaiops:*", "*/mlaiops@*")


@dataclass(frozen=True)
class Outcome:
    kind: str  # process | run | succeed | fail | crash
    after: float = 0.0

    @property
    def exit_code(self) -> int:
        return 0 if self.kind == "succeed" else 1


def parse_outcome(text: str) -> Outcome:
    match = OUTCOME_RE.match(text.strip())
    if not match:
        raise ValueError(f"unknown simulated outcome {text!r}")
    return Outcome(match.group(1), float(match.group(2) or 0))


@dataclass
class RuntimeConfig:
    """Knobs of the runtime; defaults follow Kubernetes except where noted."""

    sandbox_dir: Path = Path(".sandbox")
    own_images: tuple[str, ...] = OWN_IMAGES
    images: dict[str, str] = field(default_factory=dict)
    # Kubernetes: 10 s doubling up to 300 s. Shortened so that crash loops are visible in seconds.
    crash_backoff_base: float = 1.0
    crash_backoff_max: float = 30.0
    # Kubernetes: 10 s doubling up to 6 min between failed Job pods.
    job_backoff_base: float = 1.0
    job_backoff_max: float = 30.0
    pod_ip: str = "127.0.0.1"
    host_ip: str = "127.0.0.1"
    node_name: str = "sandbox"
    # None: own-image containers run as local processes (fast). An image name: they run as podman
    # containers of that local image, whatever tag the pod names (the sandbox pulls nothing).
    container_image: str | None = None
    # Own-image pods that run `python -m mlaiops` are forked from a warm interpreter that imported their
    # libraries once (runtime/zygote.py): about 1.5 to 2 s less CPU per model server or trainer pod.
    warm_start: bool = True

    def outcome(self, image: str, restart_policy: str) -> Outcome:
        for pattern in self.own_images:
            if fnmatch.fnmatchcase(image, pattern):
                return Outcome("process")
        chosen = Outcome("default")
        for pattern, text in self.images.items():
            if fnmatch.fnmatchcase(image, pattern):
                chosen = parse_outcome(text)
                break
        if chosen.kind == "default":
            return Outcome("run") if restart_policy == "Always" else Outcome("succeed")
        return chosen

    @classmethod
    def from_mapping(cls, data: dict[str, Any], sandbox_dir: Path) -> RuntimeConfig:
        """Build from a YAML document: ``ownImages: [...]``, ``images: {glob: outcome}``, timings,
        ``runtime: processes|containers``, ``containerImage`` (default ``mlaiops:dev``) and ``warmStart``."""
        config = cls(sandbox_dir=sandbox_dir)
        runtime = str(data.get("runtime") or "processes")
        if runtime not in RUNTIMES:
            raise ValueError(f"runtime: {runtime!r} is not one of {', '.join(RUNTIMES)}")
        if data.get("containerImage") and runtime != "containers":
            raise ValueError("containerImage: only used with runtime: containers")
        if runtime == "containers":
            config.container_image = str(data.get("containerImage") or DEFAULT_CONTAINER_IMAGE)
        if data.get("ownImages"):
            config.own_images = tuple(data["ownImages"])
        for pattern, text in (data.get("images") or {}).items():
            parse_outcome(str(text))
            config.images[str(pattern)] = str(text)
        for key, attr in (
            ("crashBackoffBase", "crash_backoff_base"),
            ("crashBackoffMax", "crash_backoff_max"),
            ("jobBackoffBase", "job_backoff_base"),
            ("jobBackoffMax", "job_backoff_max"),
        ):
            if key in data:
                setattr(config, attr, float(data[key]))
        if "warmStart" in data:
            if not isinstance(data["warmStart"], bool):
                raise ValueError(f"warmStart: must be true or false, got {data['warmStart']!r}")
            config.warm_start = data["warmStart"]
        return config

"""What a model server pod's status says about its model, pure: serving, starting, or failing and why.

The kubelet records why a container stopped in ``state``/``lastState.terminated`` (``exitCode``,
``reason`` such as ``Error`` or ``OOMKilled``, and ``message``: the file at ``terminationMessagePath``,
or the end of the log with ``FallbackToLogsOnError``), and why it cannot start in ``state.waiting``
(``ErrImagePull``, ``CreateContainerConfigError``, ...). The built-in server writes
``<Reason>: <message>`` there before it exits on a model it cannot load, so the rollout can say
``ModelLoadFailed`` with the server's own words instead of looking like a deploy in progress.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from mlaiops.api.modeldeployment import ModelRef
from mlaiops.resources.modelserver import TRACK_LABEL, VERSION_LABEL

MESSAGE_LIMIT = 512
"""Characters of the server's message kept in a condition (a log fallback can be 80 lines)."""

START_FAILURES = frozenset(
    {
        "ErrImagePull",
        "ImagePullBackOff",
        "InvalidImageName",
        "ErrImageNeverPull",
        "CreateContainerConfigError",
        "CreateContainerError",
        "RunContainerError",
        "PreStartHookError",
    }
)
"""``state.waiting`` reasons of a container that cannot even start: no back-off will fix them."""


@dataclass(frozen=True)
class ServerFailure:
    """A model server container that stopped (or cannot start) before serving its model."""

    track: str
    version: str
    pod: str
    reason: str
    """The kubelet's reason: ``Error``, ``OOMKilled``, ``ErrImagePull``, ..."""
    message: str = ""
    """The server's own words: its termination message (last line), or the kubelet's waiting message."""
    exit_code: int | None = None
    restarts: int = 0
    started: bool = True
    """False when the container never ran (image, configuration): not a model that failed to load."""

    @property
    def condition_reason(self) -> str:
        """CamelCase reason for the ModelDeployment's conditions."""
        return "ModelLoadFailed" if self.started else "ServerStartFailed"

    def describe(self) -> str:
        """One line for a condition message and an Event."""
        details = [self.reason]
        if self.exit_code is not None:
            details.append(f"exit code {self.exit_code}")
        if self.restarts:
            details.append(f"{self.restarts} restart{'s' if self.restarts != 1 else ''}")
        details.append(f"pod {self.pod}")
        what = f"{self.track} model {self.version}" + (" cannot load" if self.started else " server cannot start")
        return f"{what}: {self.message or self.reason} ({', '.join(details)})"


def _last_line(message: str) -> str:
    lines = [line.strip() for line in message.splitlines() if line.strip()]
    text = lines[-1] if lines else ""
    return text if len(text) <= MESSAGE_LIMIT else text[: MESSAGE_LIMIT - 1] + "…"


def _terminated_badly(state: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
    terminated: Mapping[str, Any] | None = (state or {}).get("terminated")
    if terminated and int(terminated.get("exitCode") or 0) != 0:
        return terminated
    return None


def failure_of(pod: Mapping[str, Any]) -> ServerFailure | None:
    """Why this pod's server is not serving, when its status says it failed; None when it serves or is starting.

    A container that is not Ready and whose current or last run ended with a non-zero exit code is
    failing (restarted or backing off, the last attempt failed, and the new one has not proven
    otherwise); one waiting on a reason in :data:`START_FAILURES` cannot start. A terminating pod says nothing.
    """
    metadata = pod.get("metadata") or {}
    if metadata.get("deletionTimestamp"):
        return None
    labels = metadata.get("labels") or {}
    for container in (pod.get("status") or {}).get("containerStatuses") or []:
        if container.get("ready"):
            continue
        state = container.get("state") or {}
        restarts = int(container.get("restartCount") or 0)
        common = {
            "track": labels.get(TRACK_LABEL, ""),
            "version": labels.get(VERSION_LABEL, ""),
            "pod": metadata.get("name", ""),
            "restarts": restarts,
        }
        waiting = state.get("waiting") or {}
        if waiting.get("reason") in START_FAILURES:
            message = _last_line(waiting.get("message") or "")
            return ServerFailure(reason=waiting["reason"], message=message, started=False, **common)
        terminated = _terminated_badly(state) or _terminated_badly(container.get("lastState"))
        if terminated is not None:
            return ServerFailure(
                reason=terminated.get("reason") or "Error",
                message=_last_line(terminated.get("message") or ""),
                exit_code=int(terminated.get("exitCode") or 0),
                **common,
            )
    return None


def failures_of(pods: Iterable[Mapping[str, Any]]) -> tuple[ServerFailure, ...]:
    """Every failing pod's failure, by pod name (a stable order for stable messages)."""
    found = (failure_of(pod) for pod in pods)
    return tuple(sorted((f for f in found if f is not None), key=lambda f: f.pod))


def failing(failures: Iterable[ServerFailure], track: str, model: ModelRef | None) -> ServerFailure | None:
    """The first failure of a pod of this track that runs this model (pods of older versions do not count)."""
    if model is None:
        return None
    return next((f for f in failures if f.track == track and f.version == model.version), None)

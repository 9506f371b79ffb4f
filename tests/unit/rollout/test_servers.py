"""Reading a model server pod's status the way the kubelet writes it."""

from __future__ import annotations

from typing import Any

from mlaiops.api.modeldeployment import ModelRef
from mlaiops.rollout.servers import failing, failure_of, failures_of

LABELS = {"mlaiops.dev/track": "stable", "mlaiops.dev/version": "v1"}


def pod(container: dict[str, Any], name: str = "m-stable-1", **metadata: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "labels": LABELS, **metadata},
        "status": {"containerStatuses": [{"name": "model-server", "ready": False, "restartCount": 0, **container}]},
    }


CRASH_LOOP = {
    "restartCount": 2,
    "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 2s restarting failed container"}},
    "lastState": {
        "terminated": {
            "exitCode": 3,
            "reason": "Error",
            "message": "NotFound: model file /models/m.joblib does not exist",
        }
    },
}


def test_a_crash_loop_carries_the_termination_message_exit_code_and_restarts() -> None:
    failure = failure_of(pod(CRASH_LOOP))
    assert failure is not None
    assert (failure.track, failure.version, failure.pod, failure.reason) == ("stable", "v1", "m-stable-1", "Error")
    assert (failure.exit_code, failure.restarts, failure.condition_reason) == (3, 2, "ModelLoadFailed")
    assert failure.describe() == (
        "stable model v1 cannot load: NotFound: model file /models/m.joblib does not exist "
        "(Error, exit code 3, 2 restarts, pod m-stable-1)"
    )


def test_a_restarted_container_not_yet_ready_still_counts_its_last_failure() -> None:
    running = {**CRASH_LOOP, "state": {"running": {"startedAt": "2026-12-06T07:00:00Z"}}}
    assert failure_of(pod(running)) is not None
    assert failure_of(pod({**running, "ready": True})) is None  # it loaded this time


def test_a_starting_or_cleanly_stopped_container_is_no_failure() -> None:
    assert failure_of(pod({"state": {"waiting": {"reason": "ContainerCreating"}}})) is None
    assert failure_of(pod({"state": {"running": {}}})) is None
    assert failure_of(pod({"state": {"running": {}}, "lastState": {"terminated": {"exitCode": 0}}})) is None
    assert failure_of(pod(CRASH_LOOP, deletionTimestamp="2026-12-06T07:00:00Z")) is None


def test_oom_and_log_fallback_keep_the_last_line() -> None:
    oom = {"state": {"terminated": {"exitCode": 137, "reason": "OOMKilled"}}}
    failure = failure_of(pod(oom))
    assert (
        failure is not None
        and failure.message == ""
        and "cannot load: OOMKilled (OOMKilled, exit code 137" in (failure.describe())
    )
    log = {"state": {"terminated": {"exitCode": 1, "reason": "Error", "message": "Traceback\n  ...\nKeyError: 'x'\n"}}}
    assert failure_of(pod(log)).message == "KeyError: 'x'"  # type: ignore[union-attr]


def test_a_container_that_cannot_start_is_not_a_model_load_failure() -> None:
    pull = {"state": {"waiting": {"reason": "ErrImagePull", "message": 'pull access denied for "acme/srv"'}}}
    failure = failure_of(pod(pull))
    assert failure is not None and not failure.started and failure.condition_reason == "ServerStartFailed"
    assert failure.describe().startswith('stable model v1 server cannot start: pull access denied for "acme/srv"')


def test_only_failures_of_the_track_and_version_count() -> None:
    failures = failures_of([pod(CRASH_LOOP, name="b"), pod(CRASH_LOOP, name="a"), pod({"ready": True})])
    assert [f.pod for f in failures] == ["a", "b"]
    assert failing(failures, "stable", ModelRef(version="v1")) is failures[0]
    assert failing(failures, "stable", ModelRef(version="v2")) is None
    assert failing(failures, "canary", ModelRef(version="v1")) is None
    assert failing(failures, "stable", None) is None

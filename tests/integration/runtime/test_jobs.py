"""Jobs run to Complete or Failed with the batch controller's conditions and counts."""

from __future__ import annotations

from typing import Any

import pytest

from tests.integration.runtime.helpers import OWN_IMAGE, Kube, alive, pids_of, wait_for

pytestmark = pytest.mark.integration
NS = "rt-jobs"


@pytest.fixture(scope="module")
def ns(kube: Kube) -> str:
    return kube.namespace(NS)


def job(name: str, command: list[str], image: str = OWN_IMAGE, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "namespace": NS},
        "spec": {
            "template": {
                "metadata": {"labels": {"job": name}},
                "spec": {
                    "restartPolicy": "Never",
                    "terminationGracePeriodSeconds": 2,
                    "containers": [{"name": "main", "image": image, "command": command}],
                },
            },
            **spec,
        },
    }


def finished(kube: Kube, name: str) -> dict[str, Any] | None:
    obj = kube.get(f"/apis/batch/v1/namespaces/{NS}/jobs/{name}")
    conditions = {c["type"]: c for c in (obj.get("status") or {}).get("conditions") or []}
    if any(conditions.get(t, {}).get("status") == "True" for t in ("Complete", "Failed")):
        return obj
    return None


def conditions_of(obj: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["type"]: c for c in obj["status"]["conditions"]}


def test_job_completes_with_the_termination_message(kube: Kube, ns: str) -> None:
    script = "echo trained model v7 > /dev/termination-log; exit 0"
    kube.create(f"/apis/batch/v1/namespaces/{ns}/jobs", job("ok", ["sh", "-c", script]))
    done = wait_for(lambda: finished(kube, "ok"), 30, what="job ok finished")
    conditions = conditions_of(done)
    assert conditions["Complete"]["status"] == "True"
    assert "Failed" not in conditions
    assert done["status"]["succeeded"] == 1 and not done["status"].get("failed")
    assert done["status"].get("completionTime") and done["status"].get("startTime")
    (pod,) = kube.pods(ns, "job-name=ok")
    assert pod["status"]["phase"] == "Succeeded"
    terminated = pod["status"]["containerStatuses"][0]["state"]["terminated"]
    assert terminated["exitCode"] == 0 and terminated["reason"] == "Completed"
    assert terminated["message"] == "trained model v7\n"


def test_failing_job_honours_backoff_limit(kube: Kube, ns: str) -> None:
    body = job("bad", ["python", "-c", "import sys; print('boom'); sys.exit(3)"], backoffLimit=1)
    kube.create(f"/apis/batch/v1/namespaces/{ns}/jobs", body)
    done = wait_for(lambda: finished(kube, "bad"), 30, what="job bad finished")
    conditions = conditions_of(done)
    assert conditions["Failed"]["reason"] == "BackoffLimitExceeded"
    assert "Complete" not in conditions
    assert done["status"]["failed"] == 2  # backoffLimit 1: one retry, then give up
    pods = kube.pods(ns, "job-name=bad")
    assert len(pods) == 2 and {p["status"]["phase"] for p in pods} == {"Failed"}
    assert {p["status"]["containerStatuses"][0]["state"]["terminated"]["exitCode"] for p in pods} == {3}


def test_active_deadline_fails_the_job_and_kills_its_pod(kube: Kube, ns: str) -> None:
    body = job("slow", ["python", "-c", "import time; time.sleep(60)"], activeDeadlineSeconds=2)
    kube.create(f"/apis/batch/v1/namespaces/{ns}/jobs", body)

    def running_pids() -> list[int]:
        return [pid for p in kube.pods(ns, "job-name=slow") for pid in pids_of(p)]

    pids = wait_for(running_pids, 15, what="the slow job's process")
    done = wait_for(lambda: finished(kube, "slow"), 20, what="job slow finished")
    assert conditions_of(done)["Failed"]["reason"] == "DeadlineExceeded"
    wait_for(lambda: not any(alive(pid) for pid in pids), 10, what="the slow job's process killed")


def test_ttl_after_finished_deletes_the_job(kube: Kube, ns: str) -> None:
    body = job("ttl", [], image="example.com/slow:1", ttlSecondsAfterFinished=1)
    kube.create(f"/apis/batch/v1/namespaces/{ns}/jobs", body)
    wait_for(
        lambda: finished(kube, "ttl") or kube.get_or_none(f"/apis/batch/v1/namespaces/{ns}/jobs/ttl") is None,
        20,
        what="job ttl finished",
    )
    wait_for(lambda: kube.get_or_none(f"/apis/batch/v1/namespaces/{ns}/jobs/ttl") is None, 20, what="job ttl deleted")
    wait_for(lambda: not kube.pods(ns, "job-name=ttl"), 20, what="job ttl's pod garbage-collected")


def test_project_trainer_style_code_default_path_reaches_the_termination_message(kube: Kube, ns: str) -> None:
    # like `mlaiops train`: the path is a default inside the program, not in the manifest
    code = (
        "import os, pathlib; "
        "pathlib.Path(os.environ.get('MLAIOPS_TERMINATION_LOG', '/dev/termination-log')).write_text('{\"ok\": 1}')"
    )
    kube.create(f"/apis/batch/v1/namespaces/{ns}/jobs", job("coded", ["python", "-c", code]))
    done = wait_for(lambda: finished(kube, "coded"), 30, what="job coded finished")
    assert conditions_of(done)["Complete"]["status"] == "True"
    (pod,) = kube.pods(ns, "job-name=coded")
    assert pod["status"]["containerStatuses"][0]["state"]["terminated"]["message"] == '{"ok": 1}'

"""Job controller: run pods to ``completions``, count successes and failures, finish with conditions.

Failure handling follows the batch controller: more failed pods than ``backoffLimit`` (or, with
``restartPolicy: OnFailure``, that many container restarts) -> ``Failed``/``BackoffLimitExceeded``; active
longer than ``activeDeadlineSeconds`` -> ``Failed``/``DeadlineExceeded``. Finished Jobs get the 1.31+
condition pairs (``SuccessCriteriaMet`` + ``Complete``, ``FailureTarget`` + ``Failed``); running pods of a
failed Job are deleted; ``ttlSecondsAfterFinished`` deletes the Job (background propagation).
"""

from __future__ import annotations

from mlaiops_sandbox.runtime.client import JOBS, PODS, ApiClient
from mlaiops_sandbox.runtime.config import RuntimeConfig
from mlaiops_sandbox.runtime.informer import Informer, key_of
from mlaiops_sandbox.runtime.replicasets import new_pod, owned_pods
from mlaiops_sandbox.runtime.util import (
    JSON,
    controller_ref,
    is_terminating,
    meta,
    now,
    parse_time,
    pod_active,
    pod_ready,
    timestamp,
)
from mlaiops_sandbox.runtime.workqueue import Controller


def finished(job: JSON) -> str | None:
    for cond in (job.get("status") or {}).get("conditions") or []:
        if cond.get("type") in ("Complete", "Failed") and cond.get("status") == "True":
            return str(cond["type"])
    return None


def _cond(kind: str, reason: str, message: str) -> JSON:
    stamp = timestamp()
    return {
        "type": kind,
        "status": "True",
        "reason": reason,
        "message": message,
        "lastProbeTime": stamp,
        "lastTransitionTime": stamp,
    }


class JobController(Controller):
    name = "job-controller"

    def __init__(self, client: ApiClient, jobs: Informer, pods: Informer, config: RuntimeConfig) -> None:
        super().__init__()
        self.client, self.jobs, self.pods, self.config = client, jobs, pods, config
        jobs.add_handler(lambda _k, obj, _o: self.enqueue(key_of(obj)))
        pods.add_handler(self._on_pod)

    def _on_pod(self, _kind: str, pod: JSON, _old: JSON | None) -> None:
        ref = controller_ref(pod)
        if ref and ref.get("kind") == "Job":
            self.enqueue(f"{meta(pod).get('namespace')}/{ref['name']}")

    async def _delete_active(self, pods: list[JSON]) -> None:
        for pod in pods:
            if not is_terminating(pod) and (pod.get("status") or {}).get("phase") not in ("Succeeded", "Failed"):
                await self.client.delete(PODS, meta(pod)["namespace"], meta(pod)["name"], uid=meta(pod)["uid"])

    async def reconcile(self, key: str) -> None:
        job = self.jobs.store.get(key)
        if job is None or meta(job).get("deletionTimestamp"):
            return
        namespace, name = meta(job)["namespace"], meta(job)["name"]
        spec, status = job.get("spec") or {}, dict(job.get("status") or {})
        pods = owned_pods(self.pods, job)
        done = finished(job)
        if done:
            await self._delete_active(pods)
            await self._ttl(job)
            return
        start = parse_time(status.get("startTime")) or now()
        status.setdefault("startTime", timestamp(start))
        template = spec.get("template") or {}
        restart_policy = (template.get("spec") or {}).get("restartPolicy") or "Never"
        succeeded = sum(1 for p in pods if (p.get("status") or {}).get("phase") == "Succeeded")
        failed_pods = [p for p in pods if (p.get("status") or {}).get("phase") == "Failed"]
        failed = len(failed_pods)
        active = [p for p in pods if pod_active(p)]
        restarts = sum(
            c.get("restartCount", 0) for p in active for c in (p.get("status") or {}).get("containerStatuses") or []
        )
        completions = spec.get("completions")
        parallelism = int(spec.get("parallelism", 1))
        backoff_limit = int(spec.get("backoffLimit", 6))
        deadline = spec.get("activeDeadlineSeconds")
        elapsed = (now() - start).total_seconds()
        conditions: list[JSON] = []
        if deadline is not None and elapsed >= int(deadline):
            message = "Job was active longer than specified deadline"
            conditions = [
                _cond("FailureTarget", "DeadlineExceeded", message),
                _cond("Failed", "DeadlineExceeded", message),
            ]
        elif failed > backoff_limit or (
            restart_policy == "OnFailure" and (restarts > 0 if backoff_limit == 0 else restarts >= backoff_limit)
        ):
            message = "Job has reached the specified backoff limit"
            conditions = [
                _cond("FailureTarget", "BackoffLimitExceeded", message),
                _cond("Failed", "BackoffLimitExceeded", message),
            ]
        elif (completions is not None and succeeded >= int(completions)) or (
            completions is None and succeeded > 0 and not active
        ):
            conditions = [
                _cond("SuccessCriteriaMet", "CompletionsReached", "Reached expected number of succeeded pods"),
                _cond("Complete", "CompletionsReached", "Reached expected number of succeeded pods"),
            ]
        if conditions:
            last = conditions[-1]
            if last["type"] == "Complete":
                self.events.record(job, "Job", "Completed", "Job completed", self.name)
            else:
                self.events.record(job, "Job", last["reason"], last["message"], self.name, warning=True)
            await self._delete_active(active)
            active = []
            status["conditions"] = (status.get("conditions") or []) + conditions
            if conditions[-1]["type"] == "Complete":
                status["completionTime"] = timestamp()
        else:
            remaining = (int(completions) - succeeded) if completions is not None else (0 if succeeded else 1)
            want = min(parallelism, max(remaining, 0))
            if failed and len(active) < want:
                last_failure = max((parse_time(self._finished_at(p)) or start for p in failed_pods), default=start)
                delay = min(self.config.job_backoff_base * 2 ** (failed - 1), self.config.job_backoff_max)
                wait = delay - (now() - last_failure).total_seconds()
                if wait > 0:
                    self.enqueue_after(key, wait)
                    want = len(active)
            for _ in range(want - len(active)):
                labels = {
                    "batch.kubernetes.io/controller-uid": meta(job)["uid"],
                    "batch.kubernetes.io/job-name": name,
                    "controller-uid": meta(job)["uid"],
                    "job-name": name,
                }
                pod_template = {**template, "spec": {**(template.get("spec") or {}), "restartPolicy": restart_policy}}
                created = await self.client.create(
                    PODS, namespace, new_pod(job, pod_template, "Job", "batch/v1", labels)
                )
                message = f"Created pod: {meta(created)['name']}"
                self.events.record(job, "Job", "SuccessfulCreate", message, self.name)
                await self.pods.wait_for_write(created)
                active.append(created)
            if deadline is not None:
                self.enqueue_after(key, int(deadline) - elapsed)
        status |= {
            "active": len(active) or None,
            "succeeded": succeeded or None,
            "failed": failed or None,
            "ready": sum(1 for p in active if pod_ready(p)),
        }
        current = job.get("status") or {}
        if all(current.get(k) == v for k, v in status.items()):
            return
        written = await self.client.patch_status(JOBS, namespace, name, status)
        await self.jobs.wait_for_write(written)
        if conditions:
            await self._ttl(written)

    @staticmethod
    def _finished_at(pod: JSON) -> str | None:
        for c in (pod.get("status") or {}).get("containerStatuses") or []:
            finished_at = ((c.get("state") or {}).get("terminated") or {}).get("finishedAt")
            if finished_at:
                return str(finished_at)
        return None

    async def _ttl(self, job: JSON) -> None:
        ttl = (job.get("spec") or {}).get("ttlSecondsAfterFinished")
        if ttl is None:
            return
        ended = None
        for cond in (job.get("status") or {}).get("conditions") or []:
            if cond.get("type") in ("Complete", "Failed") and cond.get("status") == "True":
                ended = parse_time(cond.get("lastTransitionTime"))
        left = int(ttl) - ((now() - ended).total_seconds() if ended else 0)
        if left > 0:
            self.enqueue_after(key_of(job), left)
            return
        await self.client.delete(
            JOBS, meta(job)["namespace"], meta(job)["name"], propagation="Background", uid=meta(job)["uid"]
        )

"""Run the operator only while this replica holds the Lease; stand by (healthz, metrics) until then.

The leader runs kopf standalone: the Lease already guarantees one active replica, so kopf
peering is not needed. Losing the Lease (no renewal within the renew deadline, or another
holder) exits the process at once, as controller-runtime does, so nothing is still acting when
a standby takes over; the kubelet restarts the container, which then stands by. On SIGTERM the
leader stops kopf, then clears the Lease's holder so a standby takes over at its next try.
A standby answers /healthz, /metrics and the validating webhook (see ``standby_webhook``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import Awaitable, Callable
from typing import Any

from mlaiops.leader.client import LeaseClient
from mlaiops.leader.elector import LeaderElector
from mlaiops.leader.health import HealthServer
from mlaiops.leader.identity import IdentityLock
from mlaiops.leader.lease import Timing
from mlaiops.leader.namespace import ensure_namespace
from mlaiops.metrics import operator as operator_metrics
from mlaiops.settings import Settings, in_pod

logger = logging.getLogger("mlaiops.leader")
LOST_EXIT_CODE = 1


def elector_for(settings: Settings, api: Any) -> LeaderElector:
    timing = Timing(settings.lease_duration, settings.renew_deadline, settings.retry_period)
    lease = LeaseClient(api, settings.lease_namespace, settings.lease_name, timeout=settings.renew_deadline)
    where = f"{settings.lease_namespace}/{settings.lease_name}"

    def changed(leading: bool) -> None:
        operator_metrics.record_leadership(settings.lease_name, settings.identity, leading)
        logger.info("%s %s lease %s", settings.identity, "now leads with" if leading else "no longer holds", where)

    operator_metrics.record_leadership(settings.lease_name, settings.identity, False)
    return LeaderElector(lease, settings.identity, timing, on_change=changed)


def _health(elector: LeaderElector) -> Callable[[], tuple[bool, dict[str, Any]]]:
    """Healthy while the election loop keeps running (a wedged loop gets the container restarted)."""

    def status() -> tuple[bool, dict[str, Any]]:
        stale = elector.clock() - elector.last_attempt
        limit = elector.timing.lease_duration + 2 * elector.timing.retry_period
        body = {"identity": elector.identity, "leader": elector.leading, "holder": elector.holder}
        return stale < limit, body

    return status


async def _exit_when_lost(elector: LeaderElector, exit: Callable[[int], Any]) -> None:
    reason = await elector.keep_leading()
    logger.critical("leadership lost (%s): exiting so that nothing acts without the lease", reason)
    for handler in logging.getLogger().handlers:
        handler.flush()
    exit(LOST_EXIT_CODE)


async def run_elected(
    settings: Settings,
    operate: Callable[[asyncio.Event | None], Awaitable[None]],
    stop_flag: asyncio.Event | None = None,
    exit: Callable[[int], Any] = os._exit,
) -> None:
    """Stand by until elected, then ``operate(stop_flag)`` while a watchdog renews the Lease.

    ``stop_flag`` goes to kopf untouched: kopf leaves the waiter of a stop flag pending after a
    signal, which costs five seconds of shutdown, so the signal-only path passes none.
    """
    from mlaiops.kube import load_api_client

    api = load_api_client()
    lock = None
    if not in_pod():  # a stable local identity: refuse a second live process that shares it
        lock = IdentityLock(
            settings.identity, f"{settings.lease_namespace}/{settings.lease_name}", api.configuration.host
        )
        lock.acquire()
    # The namespace a pod runs in exists (POD_NAMESPACE, from the downward API): no request, no RBAC for it.
    runs_in_it = os.environ.get("POD_NAMESPACE") == settings.lease_namespace
    if not runs_in_it and await asyncio.to_thread(ensure_namespace, api, settings.lease_namespace):
        logger.info("created namespace %s for the leader Lease", settings.lease_namespace)

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)  # kopf installs its own once it runs
    forward = asyncio.create_task(_forward(stop_flag, stop)) if stop_flag is not None else None

    operator_metrics.serve(settings.metrics_port, settings.bind_address)
    elector = elector_for(settings, api)
    health = HealthServer(settings.health_port, _health(elector), address=settings.bind_address)
    await health.start()
    logger.info("%s standing for lease %s/%s", settings.identity, settings.lease_namespace, settings.lease_name)
    webhook = asyncio.create_task(_standby_webhook(settings), name="standby webhook")
    try:
        elected = await elector.acquire(stop)
        webhook.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await webhook
        if not elected:
            return
        watchdog = asyncio.create_task(_exit_when_lost(elector, exit), name="leader election watchdog")
        try:
            await _until_stopped(operate(stop_flag), stop)
        finally:
            watchdog.cancel()
            await elector.release()
    finally:
        if forward is not None:
            forward.cancel()
        await health.stop()
        elector.lease.close()
        if lock is not None:
            lock.release()


async def _standby_webhook(settings: Settings) -> None:
    from mlaiops import controllers
    from mlaiops.leader import standby_webhook

    controllers.configure(settings)  # registers nothing in the API server: kopf is not running yet
    await standby_webhook.serve()


async def _until_stopped(operating: Awaitable[None], stop: asyncio.Event) -> None:
    """Run ``operating``; cancel it if a signal reached our handler before kopf installed its own."""
    task = asyncio.ensure_future(operating)
    stopped = asyncio.create_task(stop.wait(), name="leader stop waiter")
    try:
        await asyncio.wait({task, stopped}, return_when=asyncio.FIRST_COMPLETED)
        if not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        else:
            task.result()
    finally:
        stopped.cancel()


async def _forward(source: asyncio.Event, target: asyncio.Event) -> None:
    await source.wait()
    target.set()

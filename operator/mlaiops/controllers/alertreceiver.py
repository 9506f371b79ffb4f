"""The Alertmanager webhook receiver's life cycle: started with the operator, stopped with it.

The receiver itself (``remediation/receiver.py``) is authenticated, namespace-scoped and off unless a
port and a credential are configured; the alerts it accepts live in ``remediation.alertmanager.ALERTS``.
"""

from __future__ import annotations

import asyncio
from typing import Any

import kopf

from mlaiops.controllers import settings
from mlaiops.remediation import receiver, slack_endpoint
from mlaiops.remediation.alertmanager import ALERTS


@kopf.on.startup(retries=3, backoff=1)  # a failing start exits (and restarts), never 60 s loops
async def start_receiver(memo: kopf.Memo, **_: Any) -> None:
    """Serve the Alertmanager webhook receiver when a port and a credential are configured, and Slack's
    interactive callbacks on the same port when a signing secret is (memo.kube is read per request:
    the client is made by another startup handler)."""
    slack = slack_endpoint.routes(settings(), lambda: memo.kube)
    runner = await receiver.start(settings(), ALERTS, [slack] if slack else [])
    if runner is not None:
        memo["alertmanager_runner"] = runner


@kopf.on.cleanup(retries=1, backoff=1)
async def stop_receiver(memo: kopf.Memo, **_: Any) -> None:
    runner = memo.get("alertmanager_runner")
    if runner is not None:
        await asyncio.wait_for(runner.cleanup(), timeout=5)

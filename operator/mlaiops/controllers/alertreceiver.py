"""The Alertmanager webhook receiver: alerts POSTed to ``/alertmanager`` become signals RemediationPlaybooks read.

Started with the operator (``MLAIOPS_ALERTMANAGER_PORT``; 0 disables it); the alerts live in memory
(``mlaiops.remediation.alertmanager.ALERTS``), as Alertmanager re-sends firing alerts on its own.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import kopf
from aiohttp import web
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from mlaiops.remediation.alertmanager import ALERTS, PayloadError
from mlaiops.remediation.alertmanager import parse as parse_alerts


class ReceiverSettings(BaseSettings):
    """The Alertmanager webhook receiver (``MLAIOPS_ALERTMANAGER_PORT``; 0 disables it)."""

    model_config = SettingsConfigDict(env_prefix="MLAIOPS_ALERTMANAGER_", extra="ignore")

    port: int = Field(default=9095, ge=0, le=65535)
    host: str = "0.0.0.0"


async def receive(request: web.Request) -> web.Response:
    """POST /alertmanager: an Alertmanager webhook (version 4)."""
    try:
        payload = await request.json()
        signals = parse_alerts(payload, datetime.now(UTC))
    except (ValueError, PayloadError) as error:
        return web.json_response({"error": str(error)}, status=400)
    ALERTS.update(signals)
    return web.json_response({"received": len(signals)})


@kopf.on.startup(retries=3, backoff=1)  # a failing start exits (and restarts), never 60 s loops
async def start_receiver(memo: kopf.Memo, logger: kopf.Logger, **_: Any) -> None:
    """Serve the Alertmanager webhook receiver unless its port is 0."""
    config = ReceiverSettings()
    if config.port == 0:
        return
    app = web.Application()
    app.router.add_post("/alertmanager", receive)
    app.router.add_get("/healthz", lambda _: web.Response(text="ok"))
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, config.host, config.port).start()
    except OSError as error:  # a busy port must not stop the operator: playbooks on AnomalyRules still work
        logger.error("Alertmanager receiver not started on port %d: %s", config.port, error)
        await runner.cleanup()
        return
    memo["alertmanager_runner"] = runner
    logger.info("Alertmanager receiver on %s:%d/alertmanager", config.host, config.port)


@kopf.on.cleanup(retries=1, backoff=1)
async def stop_receiver(memo: kopf.Memo, **_: Any) -> None:
    runner = memo.get("alertmanager_runner")
    if runner is not None:
        await asyncio.wait_for(runner.cleanup(), timeout=5)

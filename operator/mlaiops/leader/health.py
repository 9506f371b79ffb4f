"""/healthz for an elected operator: served from start to exit, on standby as well as when leading.

kopf's own liveness endpoint only exists while kopf runs, i.e. on the leader; a standby must
still answer the kubelet's liveness probe or it would be restarted forever.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aiohttp import web


class HealthServer:
    def __init__(
        self, port: int, status: Callable[[], tuple[bool, dict[str, Any]]], address: str = "127.0.0.1"
    ) -> None:
        self.port = port
        self.address = address
        self.status = status
        self._runner: web.AppRunner | None = None

    async def _healthz(self, _: web.Request) -> web.Response:
        healthy, body = self.status()
        return web.json_response(body, status=200 if healthy else 500)

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/healthz", self._healthz)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, self.address, self.port).start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

"""A JSON receiver on 127.0.0.1 that the operator posts to: notify webhooks, Slack's incoming webhook and
its response_url. It records every POST's body by the path that received it (the e2e tests and the RCA
benchmark share it)."""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from mlaiops_sandbox.testing.ports import free_port


@dataclass
class JsonSink:
    """An aiohttp server in its own thread; each POST to one of ``routes`` answers 200 and is recorded
    as ``(path, body)`` in arrival order."""

    routes: tuple[str, ...] = ("/hook",)
    port: int = field(default_factory=free_port)
    posts: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        ready = threading.Event()

        async def record(request: web.Request) -> web.Response:
            self.posts.append((request.path, await request.json()))
            return web.Response(text="ok")

        async def serve() -> None:
            app = web.Application()
            for route in self.routes:
                app.router.add_post(route, record)
            self.runner = web.AppRunner(app)
            await self.runner.setup()
            await web.TCPSite(self.runner, "127.0.0.1", self.port).start()
            ready.set()

        threading.Thread(target=self.loop.run_forever, daemon=True).start()
        asyncio.run_coroutine_threadsafe(serve(), self.loop)
        assert ready.wait(10)

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def bodies(self, path: str = "/hook") -> list[dict[str, Any]]:
        """The bodies posted to ``path``, oldest first."""
        return [body for where, body in self.posts if where == path]

    def close(self) -> None:
        asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop).result(5)
        self.loop.call_soon_threadsafe(self.loop.stop)

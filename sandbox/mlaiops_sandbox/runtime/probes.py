"""Readiness, liveness and startup probes: httpGet, tcpSocket and exec, against the mapped ports."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import aiohttp

JSON = dict[str, Any]


def resolve_port(port: Any, container: JSON, mapped: Mapping[int, int]) -> int | None:
    """A probe's port (number or name) -> the local port the process really listens on."""
    if isinstance(port, str) and not port.isdigit():
        for declared in container.get("ports") or []:
            if declared.get("name") == port:
                port = declared["containerPort"]
                break
        else:
            return None
    number = int(port)
    return mapped.get(number, number)


async def run_probe(
    probe: JSON,
    container: JSON,
    mapped: Mapping[int, int],
    session: aiohttp.ClientSession,
    exec_argv: list[str] | None = None,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
) -> bool:
    """One probe attempt; True on success. Unsupported kinds (grpc) count as success."""
    timeout = float(probe.get("timeoutSeconds") or 1)
    try:
        if "httpGet" in probe:
            spec = probe["httpGet"]
            port = resolve_port(spec.get("port"), container, mapped)
            if port is None:
                return False
            scheme = str(spec.get("scheme") or "HTTP").lower()
            path = spec.get("path") or "/"
            headers = {h["name"]: h["value"] for h in spec.get("httpHeaders") or []}
            url = f"{scheme}://127.0.0.1:{port}{path if path.startswith('/') else '/' + path}"
            async with session.get(
                url, headers=headers, timeout=aiohttp.ClientTimeout(total=timeout), ssl=False
            ) as resp:
                await resp.read()
                return 200 <= resp.status < 400
        if "tcpSocket" in probe:
            port = resolve_port(probe["tcpSocket"].get("port"), container, mapped)
            if port is None:
                return False
            _, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), timeout)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()
            return True
        if "exec" in probe and exec_argv:
            proc = await asyncio.create_subprocess_exec(
                *exec_argv,
                env=env,
                cwd=str(cwd) if cwd else None,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.DEVNULL,
                start_new_session=True,
            )
            try:
                return await asyncio.wait_for(proc.wait(), timeout) == 0
            except TimeoutError:
                proc.kill()
                await proc.wait()
                return False
        return True
    except (aiohttp.ClientError, OSError, TimeoutError, ValueError):
        return False

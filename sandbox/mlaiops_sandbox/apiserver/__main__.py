"""`python -m mlaiops_sandbox.apiserver --port 8001`: run the API server in the foreground."""

from __future__ import annotations

import argparse
import asyncio
import contextlib

from .server import start


async def _main(host: str, port: int) -> None:
    server = await start(host, port)
    print(f"sandbox API server listening on {server.url}", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001)
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_main(args.host, args.port))


if __name__ == "__main__":
    main()

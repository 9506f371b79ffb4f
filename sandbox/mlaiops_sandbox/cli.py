"""`mlaiops-sandbox up`: the embedded cluster (API server, local runtime, Prometheus) in the foreground."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mlaiops-sandbox", description="run the embedded Kubernetes sandbox")
    commands = parser.add_subparsers(dest="sandbox_command", metavar="COMMAND", required=True)
    up = commands.add_parser(
        "up",
        help="start API server, local runtime and Prometheus; write kubeconfigs (http, https); run until SIGINT/SIGTERM",
    )
    up.add_argument("--dir", default=".sandbox", help="state folder: kubeconfig, pod folders, Prometheus data")
    up.add_argument("--port", type=int, default=0, help="API server port on 127.0.0.1 (default: a free one)")
    up.add_argument("--prometheus-port", type=int, default=0, help="Prometheus port (default: a free one)")
    up.add_argument("--no-prometheus", action="store_true", help="do not start Prometheus")
    up.add_argument("--config", help="YAML runtime config: ownImages, images (glob: outcome), back-off timings")
    up.add_argument(
        "--containers",
        nargs="?",
        const="mlaiops:dev",
        metavar="IMAGE",
        help="run the project's pods as podman containers of this local image (default: mlaiops:dev, from make image)",
    )
    up.add_argument(
        "--with-operator",
        action="store_true",
        help="also install the CRDs and run the installed operator with its validating webhook (log: DIR/operator.log)",
    )
    up.add_argument("-v", "--verbose", action="store_true", help="log the runtime's decisions")
    up.set_defaults(func=_up)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


def _pods_as(config: object) -> str:
    image = getattr(config, "container_image", None)
    return f"podman containers of {image}" if image else "local processes"


def _data_plane() -> str:
    from mlaiops_sandbox.gateway.nginx import nginx_binary

    found = nginx_binary()
    return (
        f"one nginx per Gateway ({found}; URL in the Gateway's sandbox.mlaiops.dev/port)"
        if found
        else ("nginx not installed: Gateways are not Programmed (make setup)")
    )


def _up(args: argparse.Namespace) -> int:
    import asyncio
    import logging
    import signal
    from pathlib import Path

    import yaml

    from mlaiops_sandbox.cluster import Sandbox
    from mlaiops_sandbox.local_operator import LocalOperator, OperatorUnavailable, start_operator
    from mlaiops_sandbox.runtime import RuntimeConfig
    from mlaiops_sandbox.runtime.podman import ContainerEngineError

    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )
    directory = Path(args.dir).resolve()
    config = RuntimeConfig(sandbox_dir=directory)
    if args.config:
        config = RuntimeConfig.from_mapping(yaml.safe_load(Path(args.config).read_text()) or {}, directory)

    failed: list[Exception] = []

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        sandbox = Sandbox(
            directory,
            port=args.port,
            prometheus=not args.no_prometheus,
            prometheus_port=args.prometheus_port,
            config=config,
            containers=args.containers,
        )
        operator: LocalOperator | None = None
        try:
            try:
                await sandbox.start()
            except ContainerEngineError as error:
                print(f"mlaiops-sandbox: {error}", file=sys.stderr, flush=True)
                failed.append(error)
                return
            if args.with_operator:
                try:
                    operator = await asyncio.to_thread(
                        start_operator, directory, sandbox.kubeconfig_path, sandbox.prometheus_url
                    )
                except OperatorUnavailable as error:
                    print(f"mlaiops-sandbox: {error}", file=sys.stderr, flush=True)
                    failed.append(error)
                    return
            lines = [
                f"mlaiops-sandbox is up ({sandbox.startup_seconds:.2f}s)",
                f"  API server: {sandbox.api_url} (no credentials: cluster admin)",
                f"  API server (HTTPS): {sandbox.secure_url}",
                f"  CA certificate: {sandbox.ca_path}",
                f"  Prometheus: {sandbox.prometheus_url or 'disabled'}",
                f"  pods of the project's image: {_pods_as(config)}",
                f"  Gateway API: GatewayClass sandbox, {_data_plane()}",
                f"  kubeconfig: {sandbox.kubeconfig_path}",
                f"  kubeconfig (HTTPS, CA, a cluster-admin ServiceAccount's token): {sandbox.secure_kubeconfig_path}",
                "",
                f"  export KUBECONFIG={sandbox.kubeconfig_path}; kubectl get ns",
                "",
            ]
            if operator is not None:
                lines += [
                    f"  operator: running, CRDs installed, validating webhook on 127.0.0.1:{operator.webhook_port}",
                    f"  operator log: {operator.log}",
                    f"  operator metrics: http://127.0.0.1:{operator.metrics_port}/metrics",
                    "",
                ]
            lines += [
                "Stop with Ctrl-C (SIGINT) or SIGTERM.",
            ]
            print("\n".join(lines), flush=True)
            await stop.wait()
        finally:
            if operator is not None:
                await asyncio.to_thread(operator.stop)
            await sandbox.stop()
            print("mlaiops-sandbox stopped", flush=True)

    asyncio.run(main())
    return 2 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

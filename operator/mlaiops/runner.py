"""`mlaiops run`: start the operator (kopf with the mlaiops handlers)."""

from __future__ import annotations

import argparse
import asyncio
import errno
import logging
import re
import socket
import sys
from typing import Any

from pydantic import ValidationError

from mlaiops.settings import Settings

EXIT_CONFIG = 2  # invalid settings, or the cluster lacks what the operator needs and it may not create it
EXIT_PORT_IN_USE = 3  # a port the operator listens on is taken (often: another operator already runs)


class PortInUse(Exception):
    """A port the operator must listen on is taken; the message names it and the setting that moves it."""


def check_ports(settings: Settings) -> None:
    """Bind every listening port once before anything starts, so a taken one is one line, not a traceback."""
    wanted = [
        ("health", settings.health_port, settings.bind_address, "--health-port / MLAIOPS_HEALTH_PORT"),
        ("metrics", settings.metrics_port, settings.bind_address, "--metrics-port / MLAIOPS_METRICS_PORT"),
        ("webhook", settings.webhook_port, settings.webhook_listen, "MLAIOPS_WEBHOOK_PORT"),
        ("alertmanager", settings.alertmanager_port, settings.alertmanager_host, "MLAIOPS_ALERTMANAGER_PORT"),
    ]
    for name, port, address, setting in wanted:
        if not port:
            continue
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the servers do: TIME_WAIT is free
            try:
                probe.bind((address, port))
            except OSError as error:
                if error.errno != errno.EADDRINUSE:
                    raise PortInUse(f"cannot listen on {address}:{port} ({name}): {error.strerror}") from None
                raise PortInUse(
                    f"{name} port {address}:{port} is already in use (another operator running?); "
                    f"choose another with {setting}"
                ) from None


ROUTINE = re.compile(
    r"^(?:(?:Handler|Timer|Daemon|Activity|Webhook|Indexer) '[^']*' succeeded\.|"
    r"(?:Creation|Updating|Deletion|Resuming|Handling) is processed: \d+ succeeded; 0 failed\.)$"
)


class QuietSuccess(logging.Filter):
    """kopf's "Timer 'reconcile' succeeded." at DEBUG: it was 93% of the log and a Kubernetes Event each time.

    Installed on kopf's per-object logger, before its handlers (the stream and the Event poster), so a
    routine success is neither printed at INFO nor posted; our own decision lines and every failure stay.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno == logging.INFO and ROUTINE.match(record.getMessage()):
            record.levelno, record.levelname = logging.DEBUG, "DEBUG"
            return logging.getLogger().isEnabledFor(logging.DEBUG)
        return True


def quiet_routine_successes() -> None:
    """Demote kopf's success lines to DEBUG (``-v`` shows them again); idempotent."""
    objects = logging.getLogger("kopf.objects")
    if not any(isinstance(existing, QuietSuccess) for existing in objects.filters):
        objects.addFilter(QuietSuccess())


def settings_from_args(args: argparse.Namespace) -> Settings:
    """Merge flags over ``MLAIOPS_*`` variables; only flags the user gave override."""
    overrides = {
        key: value
        for key, value in {
            "namespaces": args.namespace or None,
            "dry_run": True if args.dry_run else None,
            "standalone": True if args.standalone else None,
            "prometheus_url": args.prometheus_url,
            "log_format": args.log_format,
            "health_port": args.health_port,
            "metrics_port": args.metrics_port,
            "bind_address": args.bind_address,
            "lease_namespace": args.lease_namespace,
            "leader_elect": False if args.no_leader_elect else None,
        }.items()
        if value is not None
    }
    if args.all_namespaces:
        overrides["namespaces"] = []
    return Settings(**overrides)


async def operate(settings: Settings, stop_flag: asyncio.Event | None = None) -> None:
    """Run the operator until ``stop_flag`` is set or the process is signalled.

    With leader election (the default) this replica acts only while it holds the Lease; without
    it, kopf runs at once, peering with other replicas unless ``standalone``.
    """
    if not settings.leader_elect:
        await run_kopf(settings, stop_flag, standalone=settings.standalone, liveness=True)
        return
    from mlaiops.leader.elected import run_elected

    async def lead(stop: asyncio.Event | None) -> None:
        await run_kopf(settings, stop, standalone=True, liveness=False)

    await run_elected(settings, lead, stop_flag)


async def run_kopf(settings: Settings, stop_flag: asyncio.Event | None, standalone: bool, liveness: bool) -> None:
    """kopf with every mlaiops handler; /healthz is kopf's own unless the election serves it."""
    import kopf

    from mlaiops import controllers

    controllers.configure(settings)
    # Passing a peering name makes kopf require the peering CRDs: only do so when replicas peer.
    peering: dict[str, Any] = (
        {} if standalone else {"peering_name": settings.peering_name, "priority": settings.priority}
    )
    await kopf.operator(
        standalone=standalone,
        namespaces=settings.namespaces,
        clusterwide=settings.clusterwide,
        liveness_endpoint=f"http://{_host(settings.bind_address)}:{settings.health_port}/healthz" if liveness else None,
        stop_flag=stop_flag,
        **peering,
    )


def _host(address: str) -> str:
    return f"[{address}]" if ":" in address else address


def _run(args: argparse.Namespace) -> int:
    try:
        settings = settings_from_args(args)
    except ValidationError as error:
        print(f"mlaiops run: invalid configuration:\n{error}", file=sys.stderr)
        return EXIT_CONFIG
    try:
        check_ports(settings)
    except PortInUse as error:
        print(f"mlaiops run: {error}", file=sys.stderr)
        return EXIT_PORT_IN_USE
    import kopf

    kopf.configure(
        verbose=args.verbose,
        log_format=kopf.LogFormat.JSON if settings.log_format == "json" else kopf.LogFormat.FULL,
    )
    quiet_routine_successes()
    logging.getLogger("mlaiops").info("starting with %s", settings.model_dump(mode="json"))
    from kubernetes.config import ConfigException

    from mlaiops.leader.identity import IdentityInUse
    from mlaiops.leader.namespace import ClusterUnreachable, LeaseNamespaceMissing

    try:
        asyncio.run(operate(settings))
    except ConfigException as error:
        print(
            f"mlaiops run: no usable kubeconfig ({error}): set KUBECONFIG or `kubectl config use-context`",
            file=sys.stderr,
        )
        return EXIT_CONFIG
    except (ClusterUnreachable, LeaseNamespaceMissing, IdentityInUse) as error:
        print(f"mlaiops run: {error}", file=sys.stderr)
        return EXIT_CONFIG
    except OSError as error:
        if error.errno != errno.EADDRINUSE:
            raise
        print(f"mlaiops run: a port is already in use ({error.strerror}); see --health-port, --metrics-port")
        return EXIT_PORT_IN_USE
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "run",
        help="start the operator",
        description="Start the operator against the current kubeconfig context (or in-cluster). Every flag can "
        "also be set as an MLAIOPS_* environment variable. Exit status: 2 when the configuration or the cluster "
        "lacks something (the message says what), 3 when a port is in use.",
    )
    scope = parser.add_mutually_exclusive_group()
    scope.add_argument("-n", "--namespace", action="append", metavar="NS", help="watch this namespace (repeatable)")
    scope.add_argument("-A", "--all-namespaces", action="store_true", help="watch all namespaces (default)")
    parser.add_argument(
        "--no-leader-elect",
        action="store_true",
        help="act at once, without the Lease election (MLAIOPS_LEADER_ELECT=false)",
    )
    parser.add_argument(
        "--standalone", action="store_true", help="no kopf peering; only matters with --no-leader-elect"
    )
    parser.add_argument("--dry-run", action="store_true", help="record every action, perform none")
    parser.add_argument("--prometheus-url", help="Prometheus HTTP API base URL (MLAIOPS_PROMETHEUS_URL)")
    parser.add_argument("--log-format", choices=["json", "text"], help="log format (MLAIOPS_LOG_FORMAT)")
    parser.add_argument("--health-port", type=int, help="liveness endpoint port, default 8080 (MLAIOPS_HEALTH_PORT)")
    parser.add_argument(
        "--metrics-port", type=int, help="operator metrics port, default 8383, 0 disables (MLAIOPS_METRICS_PORT)"
    )
    parser.add_argument(
        "--bind-address",
        help="address of the health, metrics and webhook ports; default 127.0.0.1 outside a pod, 0.0.0.0 in one "
        "(MLAIOPS_BIND_ADDRESS)",
    )
    parser.add_argument(
        "--lease-namespace",
        help="namespace of the leader Lease, created if missing and allowed (MLAIOPS_LEASE_NAMESPACE; "
        "default mlaiops-system)",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="verbose logging")
    parser.set_defaults(func=_run)

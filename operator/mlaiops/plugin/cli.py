"""The ``kubectl-mlaiops`` console script (``kubectl mlaiops ...`` once it is on PATH).

Flags follow kubectl: ``--kubeconfig``, ``--context``, ``-n/--namespace``, ``-A/--all-namespaces``,
accepted before or after the subcommand. Errors print one line to stderr and exit 1.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

from mlaiops.plugin.cluster import JSON, Connection, PluginError, connect

PROG = "kubectl mlaiops"


def _common(defaults: bool) -> argparse.ArgumentParser:
    """kubectl's connection flags; subcommands use SUPPRESS so they do not reset what came before them."""
    parser = argparse.ArgumentParser(add_help=False)
    default = None if defaults else argparse.SUPPRESS
    parser.add_argument("--kubeconfig", default=default, help="path to the kubeconfig file (default: $KUBECONFIG)")
    parser.add_argument("--context", default=default, help="kubeconfig context to use")
    parser.add_argument("-n", "--namespace", default=default, help="namespace (default: the context's)")
    parser.add_argument("-A", "--all-namespaces", action="store_true", default=False if defaults else argparse.SUPPRESS)
    parser.add_argument(
        "--no-color", action="store_true", default=False if defaults else argparse.SUPPRESS, help="plain text"
    )
    return parser


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__, parents=[_common(True)])
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    common = _common(False)

    status = sub.add_parser("status", parents=[common], help="a tree per ModelDeployment with what acts on it")
    status.add_argument("name", nargs="?", help="only this ModelDeployment (NAME or md/NAME)")
    status.add_argument("-o", "--output", choices=("text", "json"), default="text")
    status.set_defaults(func=cmd_status)

    incidents = sub.add_parser(
        "incidents", parents=[common], help="list incidents, or describe one (incidents NAME = incidents describe NAME)"
    )
    incidents.add_argument("-o", "--output", choices=("text", "json"), default="text")
    actions = incidents.add_subparsers(dest="incident_command", metavar="describe")
    describe = actions.add_parser("describe", parents=[common], help="one incident with its timeline")
    describe.add_argument("incident", help="incident name, incident/NAME, or execution id")
    incidents.set_defaults(func=cmd_incidents)

    approve = sub.add_parser(
        "approve", parents=[common], help="approve a playbook execution or a retraining run awaiting approval"
    )
    approve.add_argument("id", help="execution id (RemediationPlaybook) or run id (RetrainPolicy)")
    approve.set_defaults(func=cmd_approve)

    rollback = sub.add_parser("rollback", parents=[common], help="ask a ModelDeployment to roll back")
    rollback.add_argument("target", metavar="NAME", help="the ModelDeployment (NAME or md/NAME)")
    rollback.add_argument("--reason", default="manual", help="why (recorded in status and events)")
    rollback.add_argument("--wait", action="store_true", help="wait until the operator has taken the request")
    rollback.add_argument("--timeout", type=float, default=60.0, help="seconds --wait waits (default 60)")
    rollback.set_defaults(func=cmd_rollback)

    retrain = sub.add_parser("retrain", parents=[common], help="ask a RetrainPolicy for a run")
    retrain.add_argument("target", metavar="NAME", help="the RetrainPolicy (NAME or rtp/NAME)")
    retrain.add_argument("--reason", default="manual", help="why (recorded in the run)")
    retrain.add_argument("--wait", action="store_true", help="wait until the operator has started the run")
    retrain.add_argument("--timeout", type=float, default=60.0, help="seconds --wait waits (default 60)")
    retrain.set_defaults(func=cmd_retrain)

    plot = sub.add_parser("plot", parents=[common], help="draw an AnomalyRule's series, band, anomalies and actions")
    plot.add_argument("target", metavar="NAME", help="the AnomalyRule (NAME or ar/NAME)")
    plot.add_argument("-o", "--output", required=True, help="PNG file to write")
    plot.add_argument("--since", default="1h", help="window ending now, e.g. 15m, 1h (default 1h)")
    plot.add_argument(
        "--feature",
        help="drift rules: draw this feature's live histogram against its reference (the rule's own window)",
    )
    plot.add_argument(
        "--prometheus-url",
        default=os.environ.get("MLAIOPS_PROMETHEUS_URL"),
        help="Prometheus base URL (default: $MLAIOPS_PROMETHEUS_URL)",
    )
    plot.set_defaults(func=cmd_plot)
    return parser


def _connect(args: argparse.Namespace) -> Connection:
    return connect(args.kubeconfig, args.context, args.namespace, args.all_namespaces)


def _colour(args: argparse.Namespace) -> bool:
    return not args.no_color and "NO_COLOR" not in os.environ and sys.stdout.isatty()


# --- status ---------------------------------------------------------------------------------------


def cmd_status(args: argparse.Namespace) -> int:
    from mlaiops.plugin.tree import overview, render

    connection = _connect(args)
    mds = connection.list("ModelDeployment")
    if args.name:
        name = args.name.split("/", 1)[-1]
        mds = [md for md in mds if md["metadata"]["name"] == name]
        if not mds:
            raise PluginError(f"ModelDeployment {name!r} not found in namespace {connection.namespace_or_default!r}")
    rules, playbooks, policies = (
        connection.list(kind) for kind in ("AnomalyRule", "RemediationPlaybook", "RetrainPolicy")
    )
    incidents = connection.list("Incident") if "incidents" in connection.served_kinds() else []
    view = overview(mds, rules, playbooks, policies, incidents, connection.workloads())
    if args.name:
        view.other_rules, view.other_playbooks, view.other_policies = [], [], []
    if args.output == "json":
        print(json.dumps(view.to_json(), indent=2))
    else:
        sys.stdout.write(render(view, colour=_colour(args)))
    return 0


# --- incidents ------------------------------------------------------------------------------------


def cmd_incidents(args: argparse.Namespace) -> int:
    from mlaiops.plugin import incidents

    connection = _connect(args)
    if "incidents" in connection.served_kinds():
        rows = incidents.from_objects(connection.list("Incident"))
    else:
        print(f"note: {incidents.NOT_INSTALLED}", file=sys.stderr)
        rows = incidents.from_playbooks(connection.list("RemediationPlaybook"))
    if args.incident_command == "describe":
        wanted = (
            args.incident.split("/", 1)[1] if args.incident.startswith(("incident/", "incidents/")) else args.incident
        )
        row = next((r for r in rows if r["name"] == wanted), None)
        if row is None:
            raise PluginError(f"incident {args.incident!r} not found in {_scope(connection)}")
        if args.output == "json":
            print(json.dumps(row, indent=2, default=str))
        else:
            sys.stdout.write(incidents.describe(row, connection.events(row["namespace"])))
        return 0
    if args.output == "json":
        print(json.dumps(rows, indent=2, default=str))
    elif not rows:
        print(f"No incidents in {_scope(connection)}.")
    else:
        sys.stdout.write(incidents.table(rows, all_namespaces=connection.namespace is None))
    return 0


def _scope(connection: Connection) -> str:
    return "any namespace" if connection.namespace is None else f"namespace {connection.namespace!r}"


# --- approve, rollback, retrain ------------------------------------------------------------------------


def cmd_approve(args: argparse.Namespace) -> int:
    from mlaiops.plugin.actions import APPROVE_ANNOTATION, find_approval

    connection = _connect(args)
    try:
        found = find_approval(args.id, connection.list("RemediationPlaybook"), connection.list("RetrainPolicy"))
    except PluginError as error:
        raise PluginError(f"{error} in {_scope(connection)}") from None
    scoped = Connection(connection.api, found.namespace)
    scoped.annotate(found.kind, found.name, {APPROVE_ANNOTATION: args.id})
    print(f"approved {found.what} {args.id} of {found.kind}/{found.name} in {found.namespace}")
    return 0


def _wait(
    connection: Connection, kind: str, name: str, done: str, check: Callable[[JSON], bool], timeout: float
) -> None:
    """Poll the object until ``check`` holds (the operator took the request) or ``timeout`` passes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        obj = connection.get(kind, name)
        if check(obj):
            print(done)
            return
        time.sleep(0.5)
    raise PluginError(f"the operator did not take the request within {timeout:g}s (is it running?)")


def _request(args: argparse.Namespace, kinds: dict[str, str], annotation: str, status_field: str, what: str) -> int:
    """Set a request annotation and, with --wait, poll until the operator records it in status."""
    from mlaiops.plugin.actions import parse_ref, request_value, send_request

    kind, name = parse_ref(args.target, kinds)
    request_value(args.reason)  # a bad reason is refused before connecting
    connection = _connect(args)
    value = send_request(connection, kind, name, args.reason)
    print(f"{kind.lower()}.mlaiops.dev/{name} {what} requested ({annotation}={value})")
    if args.wait:
        _wait(
            connection,
            kind,
            name,
            "the operator took the request",
            lambda obj: (obj.get("status") or {}).get(status_field) == value,
            args.timeout,
        )
    return 0


def cmd_rollback(args: argparse.Namespace) -> int:
    from mlaiops.plugin.actions import MODEL_DEPLOYMENT, ROLLBACK_ANNOTATION

    return _request(args, MODEL_DEPLOYMENT, ROLLBACK_ANNOTATION, "rollbackRequest", "rollback")


def cmd_retrain(args: argparse.Namespace) -> int:
    from mlaiops.plugin.actions import RETRAIN_ANNOTATION, RETRAIN_POLICY

    return _request(args, RETRAIN_POLICY, RETRAIN_ANNOTATION, "lastRequest", "retraining")


# --- plot -------------------------------------------------------------------------------------------


def cmd_plot(args: argparse.Namespace) -> int:
    from mlaiops.api.common import parse_duration
    from mlaiops.plugin.actions import ANOMALY_RULE, parse_ref
    from mlaiops.plugin.plot import plot_drift, plot_rule

    _, name = parse_ref(args.target, ANOMALY_RULE)
    if not args.prometheus_url:
        raise PluginError("no Prometheus URL: pass --prometheus-url or set MLAIOPS_PROMETHEUS_URL")
    try:
        since = parse_duration(args.since)
    except ValueError as error:
        raise PluginError(f"--since: {error}") from None
    if args.feature:
        drawn = plot_drift(
            _connect(args), name, args.feature, Path(args.output), args.prometheus_url, datetime.now(UTC)
        )
        print(f"wrote {drawn.path}: {drawn.series} histograms of {args.feature}, {drawn.anomalous_points} drifted")
        if drawn.note:
            print(f"note: {drawn.note}")
        return 0
    result = plot_rule(_connect(args), name, Path(args.output), since, args.prometheus_url, datetime.now(UTC))
    print(
        f"wrote {result.path}: {result.series} series (band: {result.band}), "
        f"{result.anomalous_points} anomalous points, {result.actions} actions"
    )
    if result.note:
        print(f"note: {result.note}")
    return 0


VALUED_FLAGS = {"--kubeconfig", "--context", "-n", "--namespace", "-o", "--output"}


def bare_incident(argv: Sequence[str]) -> list[str]:
    """``incidents NAME`` means ``incidents describe NAME``: the word users type first."""
    words = list(argv)
    positions = _positionals(words)
    if len(positions) >= 2 and words[positions[0]] == "incidents" and words[positions[1]] != "describe":
        words.insert(positions[1], "describe")
    return words


def _positionals(words: list[str]) -> list[int]:
    """Indexes of the words that are neither flags nor the values of flags."""
    found, index = [], 0
    while index < len(words):
        word = words[index]
        if word in VALUED_FLAGS:
            index += 2
            continue
        if not word.startswith("-"):
            found.append(index)
        index += 1
    return found


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(bare_incident(sys.argv[1:] if argv is None else argv))
    try:
        return int(args.func(args) or 0)
    except PluginError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except Exception as error:  # API and network failures: one line, not a traceback
        from kubernetes.client.exceptions import ApiException
        from urllib3.exceptions import HTTPError

        if isinstance(error, ApiException):
            print(f"error: the API server answered {error.status} {error.reason}", file=sys.stderr)
            return 1
        if isinstance(error, HTTPError):
            print(f"error: cannot reach the API server: {error}", file=sys.stderr)
            return 1
        raise


if __name__ == "__main__":
    sys.exit(main())

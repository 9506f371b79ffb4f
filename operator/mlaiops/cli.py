"""The `mlaiops` command line: one console script, one subcommand per job.

Each subcommand lives beside the code it drives and exposes ``register(subparsers)``,
which adds its parser and sets ``func`` (``args -> exit code``). Heavy imports happen
inside ``func`` so that ``mlaiops version`` and ``--help`` stay fast, and a named subcommand
imports only its own module: a model server (``mlaiops serve``, one process per replica) never
pays for the API models that ``crds`` and ``docs`` import.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from mlaiops import __version__

# Each subcommand and the module that provides it, in the order `mlaiops --help` lists them.
COMMANDS: dict[str, str] = {
    "run": "mlaiops.runner",
    "crds": "mlaiops.crdgen",
    "docs": "mlaiops.apidocs",
    "metrics-doc": "mlaiops.metricsdoc",
    "train": "mlaiops.runtime.train",
    "detect": "mlaiops.detection.cli",
    "drift": "mlaiops.runtime.drift_cli",
    "serve": "mlaiops.runtime.serve",
}


def _version(_: argparse.Namespace) -> int:
    print(f"mlaiops {__version__}")
    return 0


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The parser for ``argv``: with only the named subcommand's module when ``argv`` names one,
    with every subcommand otherwise (``--help``, or a name argparse must refuse with the choices)."""
    named = argv[0] if argv else ""
    modules = [COMMANDS[named]] if named in COMMANDS else list(COMMANDS.values())
    parser = argparse.ArgumentParser(
        prog="mlaiops",
        description="Kubernetes operator for model rollout, anomaly detection, retraining and remediation.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in modules:
        importlib.import_module(module).register(subparsers)
    version = subparsers.add_parser("version", help="print the version and exit")
    version.set_defaults(func=_version)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser(argv).parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())

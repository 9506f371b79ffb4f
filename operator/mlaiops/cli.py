"""The `mlaiops` command line: one console script, one subcommand per job.

Each subcommand lives beside the code it drives and exposes ``register(subparsers)``,
which adds its parser and sets ``func`` (``args -> exit code``). Heavy imports happen
inside ``func`` so that ``mlaiops version`` and ``--help`` stay fast.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from mlaiops import __version__

# Modules that provide a subcommand, in the order `mlaiops --help` lists them.
COMMAND_MODULES: tuple[str, ...] = (
    "mlaiops.runner",
    "mlaiops.crdgen",
    "mlaiops.apidocs",
    "mlaiops.metricsdoc",
    "mlaiops.runtime.train",
    "mlaiops.detection.cli",
    "mlaiops.runtime.drift_cli",
    "mlaiops.runtime.serve",
)


def _version(_: argparse.Namespace) -> int:
    print(f"mlaiops {__version__}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mlaiops",
        description="Kubernetes operator for model rollout, anomaly detection, retraining and remediation.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in COMMAND_MODULES:
        importlib.import_module(module).register(subparsers)
    version = subparsers.add_parser("version", help="print the version and exit")
    version.set_defaults(func=_version)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())

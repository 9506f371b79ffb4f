"""The command line: kubectl's flags before or after the subcommand, and one-line errors with exit 1."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from mlaiops.plugin.cli import bare_incident, build_parser, main
from tests.unit.plugin.test_cluster import kubeconfig


def test_connection_flags_are_accepted_before_and_after_the_subcommand() -> None:
    parser = build_parser()
    before = parser.parse_args(["-n", "ns", "--context", "c", "status"])
    after = parser.parse_args(["status", "-n", "ns", "--context", "c"])
    for args in (before, after):
        assert (args.namespace, args.context, args.all_namespaces, args.output) == ("ns", "c", False, "text")
    assert parser.parse_args(["status", "-A"]).all_namespaces is True
    plot = parser.parse_args(["plot", "ar/x", "-o", "f.png", "--since", "15m", "--prometheus-url", "http://p:9090"])
    assert (plot.target, plot.output, plot.since, plot.prometheus_url) == ("ar/x", "f.png", "15m", "http://p:9090")
    describe = parser.parse_args(["incidents", "describe", "inc-1", "-n", "ns"])
    assert (describe.incident_command, describe.incident, describe.namespace) == ("describe", "inc-1", "ns")


def test_bad_arguments_fail_before_any_request(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["rollback", "deploy/web"]) == 1
    assert "expected NAME or TYPE/NAME with TYPE one of md, modeldeployment" in capsys.readouterr().err
    assert main(["plot", "ar/x", "-o", "x.png", "--prometheus-url", "http://p", "--since", "soon"]) == 1
    assert "--since: invalid duration 'soon'" in capsys.readouterr().err


def test_an_unreachable_api_server_is_one_line_and_exit_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = kubeconfig(tmp_path / "config", "c", {"c": None}, "http://127.0.0.1:9")
    started = time.monotonic()
    assert main(["status", "--kubeconfig", str(path)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: cannot reach the API server") and err.count("\n") == 1
    assert time.monotonic() - started < 20


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["incidents", "inc-1"], ["incidents", "describe", "inc-1"]),
        (["incidents", "-n", "ns", "inc-1"], ["incidents", "-n", "ns", "describe", "inc-1"]),
        (["-n", "incidents", "incidents", "x"], ["-n", "incidents", "incidents", "describe", "x"]),
        (["incidents", "describe", "inc-1"], ["incidents", "describe", "inc-1"]),
        (["incidents", "-o", "json"], ["incidents", "-o", "json"]),
        (["incidents", "-A"], ["incidents", "-A"]),
        (["status", "incidents"], ["status", "incidents"]),
        (
            ["--context", "c", "incidents", "--kubeconfig", "k", "inc-1"],
            ["--context", "c", "incidents", "--kubeconfig", "k", "describe", "inc-1"],
        ),
    ],
)
def test_incidents_name_means_describe(argv: list[str], expected: list[str]) -> None:
    assert bare_incident(argv) == expected
    build_parser().parse_args(bare_incident(argv))  # parses

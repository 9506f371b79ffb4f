"""Kubeconfig resolution like kubectl's: flag, then KUBECONFIG (several paths), context, namespace."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from mlaiops.plugin.cluster import PluginError, connect


def kubeconfig(path: Path, current: str, contexts: dict[str, str | None], server: str, cluster: str = "c") -> Path:
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": cluster, "cluster": {"server": server}}],
                "users": [{"name": "u", "user": {"token": "t"}}],
                "contexts": [
                    {"name": name, "context": {"cluster": cluster, "user": "u", **({"namespace": ns} if ns else {})}}
                    for name, ns in contexts.items()
                ],
                "current-context": current,
            }
        )
    )
    return path


def test_namespace_comes_from_the_flag_then_the_context_then_default(tmp_path: Path) -> None:
    path = str(kubeconfig(tmp_path / "config", "team", {"team": "team-a", "bare": None}, "http://127.0.0.1:1"))
    assert connect(path).namespace == "team-a"
    assert connect(path, context="bare").namespace == "default"
    assert connect(path, namespace="x").namespace == "x"
    assert connect(path, namespace="x", all_namespaces=True).namespace is None


def test_context_selects_the_server(tmp_path: Path) -> None:
    path = str(kubeconfig(tmp_path / "config", "team", {"team": None}, "http://127.0.0.1:4321"))
    assert connect(path).api.configuration.host == "http://127.0.0.1:4321"


def test_kubeconfig_environment_is_read_at_call_time_and_may_list_several_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = kubeconfig(tmp_path / "a", "one", {"one": "ns-one"}, "http://127.0.0.1:1111", cluster="c1")
    second = kubeconfig(tmp_path / "b", "two", {"two": "ns-two"}, "http://127.0.0.1:2222", cluster="c2")
    monkeypatch.setenv("KUBECONFIG", f"{first}:{second}")
    connection = connect()  # as kubectl: the first file that sets current-context wins
    assert connection.namespace == "ns-one" and connection.api.configuration.host == "http://127.0.0.1:1111"
    other = connect(context="two")  # contexts of every file are available
    assert other.namespace == "ns-two" and other.api.configuration.host == "http://127.0.0.1:2222"


def test_a_missing_context_is_a_clear_error(tmp_path: Path) -> None:
    path = str(kubeconfig(tmp_path / "config", "team", {"team": None}, "http://127.0.0.1:1"))
    with pytest.raises(PluginError, match="cannot load kubeconfig"):
        connect(path, context="nope")

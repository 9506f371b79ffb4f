"""Pure pieces of the runtime: Kubernetes ``$(VAR)`` expansion, path/port rewriting, rollout arithmetic,
Prometheus target labels and image outcomes. No sandbox needed."""

from __future__ import annotations

import sys

import pytest
from mlaiops_sandbox.runtime.config import RuntimeConfig, parse_outcome
from mlaiops_sandbox.runtime.deployments import surge_and_unavailable, template_hash
from mlaiops_sandbox.runtime.podspec import PathMap, expand, resolve_argv, resolve_env_values, rewrite_port_token
from mlaiops_sandbox.runtime.prometheus import pod_targets


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("$(A)-$(B)", "1-two"),
        ("$(MISSING)", "$(MISSING)"),
        ("$$(A)", "$(A)"),
        ("$$$(A)", "$1"),
        ("cost $5", "cost $5"),
        ("$(A", "$(A"),
        ("trailing $", "trailing $"),
    ],
)
def test_expand_follows_kubernetes(text: str, expected: str) -> None:
    assert expand(text, {"A": "1", "B": "two"}) == expected


def test_path_map_rewrites_only_at_path_boundaries() -> None:
    paths = PathMap({"/data": "/tmp/p/data", "/data/models": "/tmp/p/models", "/dev/termination-log": "/tmp/p/t"})
    assert paths.rewrite("/data/x.csv") == "/tmp/p/data/x.csv"
    assert paths.rewrite("--model=/data/models/m.pkl") == "--model=/tmp/p/models/m.pkl"
    assert paths.rewrite("echo ok > /dev/termination-log") == "echo ok > /tmp/p/t"
    assert paths.rewrite("/database") == "/database"
    assert paths.rewrite("/srv/data") == "/srv/data"


@pytest.mark.parametrize(
    ("token", "expected"),
    [
        ("8080", "41000"),
        ("--port=8080", "--port=41000"),
        ("0.0.0.0:8080", "0.0.0.0:41000"),
        ("18080", "18080"),
        ("9090", "9090"),
        ("v8080", "v8080"),
    ],
)
def test_declared_ports_are_rewritten_in_tokens(token: str, expected: str) -> None:
    assert rewrite_port_token(token, {8080: 41000}) == expected


def test_resolve_argv_runs_python_and_mlaiops_from_this_interpreter() -> None:
    env = {"MODEL": "iris"}
    argv = resolve_argv(["python", "-m", "x"], ["$(MODEL)", "8080"], env, PathMap({}), {8080: 5})
    assert argv == [sys.executable, "-m", "x", "iris", "5"]
    assert resolve_argv(None, ["serve"], env, PathMap({}), {})[:4] == [sys.executable, "-m", "mlaiops", "serve"]


def test_template_hash_is_stable_and_template_sensitive() -> None:
    a = {"metadata": {"labels": {"app": "a"}}, "spec": {"containers": [{"name": "c", "image": "i"}]}}
    b = {"spec": {"containers": [{"image": "i", "name": "c"}]}, "metadata": {"labels": {"app": "a"}}}
    assert template_hash(a) == template_hash(b)
    assert template_hash(a) != template_hash({**a, "metadata": {"labels": {"app": "b"}}})
    assert template_hash(a) != template_hash(a, collision_count=1)
    assert set(template_hash(a)) <= set("bcdfghjklmnpqrstvwxz2456789")


@pytest.mark.parametrize(
    ("rolling", "replicas", "expected"),
    [
        ({}, 4, (1, 1)),
        ({}, 10, (3, 2)),
        ({"maxSurge": 0, "maxUnavailable": 0}, 3, (0, 1)),
        ({"maxSurge": "50%", "maxUnavailable": "50%"}, 3, (2, 1)),
        ({"maxSurge": 2, "maxUnavailable": 0}, 3, (2, 0)),
    ],
)
def test_surge_and_unavailable_round_like_kubernetes(rolling: dict, replicas: int, expected: tuple) -> None:
    deployment = {"spec": {"strategy": {"type": "RollingUpdate", "rollingUpdate": rolling}}}
    assert surge_and_unavailable(deployment, replicas) == expected


def test_pod_targets_use_mapped_port_and_sanitised_labels() -> None:
    pod = {
        "metadata": {
            "name": "p",
            "namespace": "ns",
            "labels": {"app.kubernetes.io/name": "srv", "mlaiops.dev/model-version": "v2", "team": "x"},
            "annotations": {
                "prometheus.io/scrape": "true",
                "prometheus.io/port": "8080",
                "sandbox.mlaiops.dev/ports": '{"8080": 40001, "9000": 40002}',
            },
        },
        "spec": {"containers": [{"name": "c", "ports": [{"containerPort": 8080}, {"containerPort": 9000}]}]},
        "status": {"phase": "Running"},
    }
    (group,) = pod_targets(pod)
    assert group["targets"] == ["127.0.0.1:40001"]
    assert group["labels"] == {
        "namespace": "ns",
        "pod": "p",
        "container": "c",
        "__metrics_path__": "/metrics",
        "__scheme__": "http",
        "app_kubernetes_io_name": "srv",
        "mlaiops_dev_model_version": "v2",
    }
    pod["status"]["phase"] = "Succeeded"
    assert pod_targets(pod) == []


def test_image_outcomes() -> None:
    config = RuntimeConfig(images={"busybox*": "succeed-after: 2s", "bad/*": "crash"})
    assert config.outcome("registry.example/team/mlaiops:1.2", "Always").kind == "process"
    assert config.outcome("mlaiops", "Never").kind == "process"
    assert config.outcome("busybox:1", "Always") == parse_outcome("succeed-after: 2s")
    assert parse_outcome("succeed-after: 2s").after == 2.0
    assert config.outcome("bad/x", "Always").kind == "crash"
    assert config.outcome("nginx", "Always").kind == "run"
    assert config.outcome("nginx", "Never").kind == "succeed"
    assert config.outcome("not-mlaiops", "Always").kind == "run"
    with pytest.raises(ValueError):
        parse_outcome("explode")


def test_a_rewritten_path_is_not_rewritten_again() -> None:
    """Kubernetes mounts are independent: /tmp mounted elsewhere must not touch a claim's local folder under /tmp."""
    paths = PathMap({"/tmp": "/sbx/pod/volumes/tmp", "/mnt/pvc/models": "/tmp/sbx/volumes/ns/models"})
    assert paths.rewrite("/mnt/pvc/models/v1/model.joblib") == "/tmp/sbx/volumes/ns/models/v1/model.joblib"
    assert paths.rewrite("/tmp/cache") == "/sbx/pod/volumes/tmp/cache"


def test_sandbox_env_is_not_rewritten_but_usable() -> None:
    paths = PathMap({"/tmp": "/sbx/pod/volumes/tmp"})
    env = resolve_env_values(
        [("LOG", "$(MLAIOPS_TERMINATION_LOG)"), ("CACHE", "/tmp/c")],
        paths,
        {},
        preset={"MLAIOPS_TERMINATION_LOG": "/tmp/sbx/term"},
    )
    assert env == {
        "MLAIOPS_TERMINATION_LOG": "/tmp/sbx/term",
        "LOG": "/tmp/sbx/term",
        "CACHE": "/sbx/pod/volumes/tmp/c",
    }

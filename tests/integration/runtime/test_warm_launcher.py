"""The harness's processes forked from a warm interpreter (testing/warm.py) behave as the same command run by
subprocess.Popen: exit status, output, environment, working directory, signals and timeouts; exec when the
command is not eligible or the zygote is gone."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from mlaiops_sandbox.runtime.zygote import OPENMP_RUNTIMES
from mlaiops_sandbox.testing import warm

pytestmark = pytest.mark.integration

PROBE = """
import json, os, signal, sys, time
if sys.argv[1:] == ["sleep"]:
    time.sleep(60)
print(json.dumps({"argv": sys.argv[1:], "cwd": os.getcwd(), "variable": os.environ.get("PROBE_VARIABLE"),
                  "own_session": os.getsid(0) == os.getpid(), "stdin": sys.stdin.read()}))
sys.exit(int(sys.argv[1]) if sys.argv[1:] and sys.argv[1].isdigit() else 0)
"""


@pytest.fixture
def launcher() -> Iterator[warm.WarmLauncher]:
    made = warm.WarmLauncher(preload=("json",))
    assert made.start()
    try:
        yield made
    finally:
        made.close()


@pytest.fixture
def probe_dir(tmp_path: Path) -> Path:
    (tmp_path / "probe.py").write_text(textwrap.dedent(PROBE))
    return tmp_path


def probe(launcher: warm.WarmLauncher, folder: Path, *args: str, **env: str) -> warm.WarmPopen:
    argv = [sys.executable, "-m", "probe", *args]
    return launcher.spawn(argv, {**launcher.env, **env}, folder / "probe.log", cwd=folder)


def test_a_forked_command_runs_as_python_dash_m_would(launcher: warm.WarmLauncher, probe_dir: Path) -> None:
    process = probe(launcher, probe_dir, "3", "x", PROBE_VARIABLE="from the request")
    assert process.wait(30) == 3 and process.poll() == 3 and process.returncode == 3
    out = (probe_dir / "probe.log").read_text()
    assert '"argv": ["3", "x"]' in out and f'"cwd": "{probe_dir}"' in out
    assert '"variable": "from the request"' in out and '"own_session": true' in out and '"stdin": ""' in out
    again = probe(launcher, probe_dir, "0")  # the log is appended to, as the harness's restarts expect
    assert again.wait(30) == 0 and (probe_dir / "probe.log").read_text().count('"argv"') == 2


def test_signals_and_timeouts_are_popens(launcher: warm.WarmLauncher, probe_dir: Path) -> None:
    sleeper = probe(launcher, probe_dir, "sleep")
    assert (probe_dir / "probe.log").exists()  # at once, as with Popen: the child may not have opened it yet
    assert sleeper.poll() is None
    with pytest.raises(subprocess.TimeoutExpired):
        sleeper.wait(0.3)
    sleeper.terminate()
    assert sleeper.wait(30) == -signal.SIGTERM
    killed = probe(launcher, probe_dir, "sleep")
    killed.kill()
    assert killed.wait(30) == -signal.SIGKILL
    killed.kill()  # again, after it exited: nothing to do, no error


def test_its_processes_die_with_it_and_then_commands_are_execd(
    launcher: warm.WarmLauncher, probe_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sleeper = probe(launcher, probe_dir, "sleep")
    launcher.close()
    assert sleeper.wait(30) == -signal.SIGKILL
    with pytest.raises(OSError):
        probe(launcher, probe_dir, "0")
    monkeypatch.setattr(warm, "_launcher", launcher)  # gone: exec
    monkeypatch.setattr(warm, "_enabled", True)
    process = warm.popen([sys.executable, "-m", "mlaiops", "version"], launcher.env, probe_dir / "exec.log")
    assert isinstance(process, subprocess.Popen) and process.wait(60) == 0
    assert (probe_dir / "exec.log").read_text().startswith("mlaiops ")


def test_what_a_preloaded_module_prints_is_not_taken_for_the_ready_message(probe_dir: Path) -> None:
    (probe_dir / "chatty.py").write_text('print("importing chatty")\nprint("{not json")\nprint(\'["a list"]\')\n')
    env = {**os.environ, "PYTHONPATH": str(probe_dir)}
    launcher = warm.WarmLauncher(env, preload=("chatty",))
    try:
        assert launcher.start()
        process = launcher.spawn([sys.executable, "-m", "probe", "4"], env, probe_dir / "probe.log", cwd=probe_dir)
        assert process.wait(30) == 4
    finally:
        launcher.close()


def test_only_commands_whose_interpreter_starts_the_same_are_forked() -> None:
    mlaiops, env = [sys.executable, "-m", "mlaiops", "run"], dict(os.environ)
    assert warm.forkable(mlaiops, env)
    assert warm.forkable(mlaiops, {**env, "MLAIOPS_IMAGE": "x:1"})  # read when it runs
    assert not warm.forkable(mlaiops, {**env, "PYTHONHASHSEED": "7"})  # read at start-up
    assert not warm.forkable(mlaiops, {**env, "LC_ALL": "C"})
    assert not warm.forkable(["python3", "-m", "mlaiops", "run"], env)  # another interpreter
    assert not warm.forkable([sys.executable, "-m", "other"], env)
    assert not warm.forkable(["podman", "run", "mlaiops:dev"], env)


def test_popen_execs_unless_enabled(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(warm, "_enabled", False)
    monkeypatch.setattr(warm, "_launcher", None)
    monkeypatch.setattr(warm, "_asked", False)
    for _ in range(2):
        process = warm.popen([sys.executable, "-m", "mlaiops", "version"], {}, tmp_path / "log")
        assert isinstance(process, subprocess.Popen) and process.wait(60) == 0
    assert warm._launcher is None  # nothing started


def test_one_zygote_from_the_second_command_serves_every_kubeconfig_with_no_openmp_runtime(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A single command is cheaper exec'd: the zygote starts with the second, and then serves every
    kubeconfig. The shipped preload maps no OpenMP runtime, which would make forked servers slow
    (runtime/zygote.py)."""
    monkeypatch.setattr(warm, "_enabled", True)
    monkeypatch.setattr(warm, "_launcher", None)
    monkeypatch.setattr(warm, "_asked", False)
    version = [sys.executable, "-m", "mlaiops", "version"]
    here, there = {**os.environ, "KUBECONFIG": str(tmp_path / "a")}, {**os.environ, "KUBECONFIG": str(tmp_path / "b")}
    try:
        kinds = [type(warm.popen(version, env, tmp_path / "log")) for env in (here, here, there, here)]
        assert kinds == [subprocess.Popen, warm.WarmPopen, warm.WarmPopen, warm.WarmPopen]
        assert warm._launcher is not None and warm._launcher._process is not None
        maps = Path(f"/proc/{warm._launcher._process.pid}/maps").read_text()
        assert not any(runtime in maps for runtime in OPENMP_RUNTIMES)
        not_ours = warm.popen(
            [sys.executable, "-m", "mlaiops", "version"], {**here, "PYTHONHASHSEED": "3"}, tmp_path / "x"
        )
        assert isinstance(not_ours, subprocess.Popen) and not_ours.wait(60) == 0
    finally:
        warm.close()
    assert (tmp_path / "log").read_text().count("mlaiops ") == 4


KUBECONFIG_PROBE = """
import kubernetes.config, kubernetes.config.kube_config
print(kubernetes.config.KUBE_CONFIG_DEFAULT_LOCATION, kubernetes.config.kube_config.KUBE_CONFIG_DEFAULT_LOCATION)
"""


def test_a_fork_takes_its_own_kubeconfig_as_its_import_of_the_kubernetes_client_would(probe_dir: Path) -> None:
    """The client reads KUBECONFIG once, at import, which happened in the zygote: each fork sets that copy
    from its own environment (unset: the client's default), whatever the zygote started with."""
    (probe_dir / "kubeprobe.py").write_text(KUBECONFIG_PROBE)
    env = {**os.environ, "PYTHONPATH": str(probe_dir), "KUBECONFIG": "/the/zygote/s"}
    launcher = warm.WarmLauncher(env, preload=("kubernetes.config",))
    unset = {k: v for k, v in env.items() if k != "KUBECONFIG"}
    try:
        assert launcher.start()
        for environment in ({**env, "KUBECONFIG": "/a/config"}, {**env, "KUBECONFIG": "/b/config"}, unset):
            process = launcher.spawn(
                [sys.executable, "-m", "kubeprobe"], environment, probe_dir / "k.log", cwd=probe_dir
            )
            assert process.wait(30) == 0
    finally:
        launcher.close()
    lines = (probe_dir / "k.log").read_text().splitlines()
    assert lines == ["/a/config /a/config", "/b/config /b/config", "~/.kube/config ~/.kube/config"]

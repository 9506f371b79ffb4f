"""Own-image pods forked from the runtime's warm interpreter behave as the same command exec'd: the same
exit codes and output, the pod's environment, working directory and session, and exec when the zygote is
gone (runtime/zygote.py)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import pytest
from mlaiops_sandbox.runtime.config import RuntimeConfig
from mlaiops_sandbox.runtime.process import LocalProcess
from mlaiops_sandbox.runtime.zygote import OPENMP_RUNTIMES, PRELOAD, WarmProcess, Zygote, warm_module

pytestmark = pytest.mark.integration

MLAIOPS = [sys.executable, "-m", "mlaiops"]
T = TypeVar("T")


def run(body: Callable[[Zygote], Awaitable[T]], home: Path, preload: tuple[str, ...] = ()) -> T:
    async def main() -> T:
        zygote = Zygote(home, preload)
        try:
            return await body(zygote)
        finally:
            await zygote.close()

    return asyncio.run(main())


def pod_env(zygote: Zygote, **extra: str) -> dict[str, str]:
    return {**zygote.env, "POD_VARIABLE": "from the pod", **extra}


async def both_ways(zygote: Zygote, argv: list[str], folder: Path, **extra: str) -> list[tuple[int, str]]:
    """Run ``argv`` exec'd and forked: each one's exit code and log."""
    results = []
    for name, kind in (("exec", LocalProcess), ("warm", None)):
        log = folder / f"{name}.log"
        env = pod_env(zygote, **extra)
        process = kind(argv, env, folder, log) if kind else WarmProcess(zygote, argv, env, folder, log)
        await process.start()
        code = await asyncio.wait_for(process.wait(), 60)
        results.append((code, log.read_text()))
    return results


def test_a_forked_pod_exits_and_prints_as_the_exec_one(tmp_path: Path) -> None:
    async def body(zygote: Zygote) -> None:
        (exec_code, exec_log), (warm_code, warm_log) = await both_ways(zygote, [*MLAIOPS, "version"], tmp_path)
        assert (warm_code, warm_log) == (exec_code, exec_log) == (0, exec_log)
        assert exec_log.startswith("mlaiops ")
        (exec_code, exec_log), (warm_code, warm_log) = await both_ways(zygote, [*MLAIOPS, "serve", "--bogus"], tmp_path)
        assert warm_code == exec_code == 2
        assert warm_log == exec_log and "unrecognized arguments: --bogus" in warm_log

    run(body, tmp_path / "zygote")


SHOW_POD = """
import json, os, sys, tempfile
print(json.dumps({"env": dict(os.environ), "cwd": os.getcwd(), "own_session": os.getsid(0) == os.getpid(),
                  "tmp": tempfile.gettempdir(), "argv": sys.argv[1:], "path0": sys.path[0], "name": __name__}))
sys.exit(3)
"""


def test_a_forked_pod_sees_the_pods_environment_folder_arguments_and_session_as_the_exec_one(tmp_path: Path) -> None:
    (tmp_path / "show_pod.py").write_text(SHOW_POD)
    (tmp_path / "tmp").mkdir()
    argv = [sys.executable, "-m", "show_pod", "--flag", "value"]

    async def body(zygote: Zygote) -> list[tuple[int, str]]:
        zygote.modules = ("show_pod",)
        assert warm_module(argv, pod_env(zygote), zygote)
        return await both_ways(zygote, argv, tmp_path, TMPDIR=str(tmp_path / "tmp"))

    (exec_code, exec_log), (warm_code, warm_log) = run(body, tmp_path / "zygote")
    assert warm_code == exec_code == 3
    assert json.loads(warm_log) == json.loads(exec_log)
    seen = json.loads(warm_log)
    assert seen["env"]["POD_VARIABLE"] == "from the pod" and seen["tmp"] == str(tmp_path / "tmp")
    assert (seen["cwd"], seen["own_session"], seen["argv"]) == (str(tmp_path), True, ["--flag", "value"])


def test_a_forked_model_server_stops_on_sigterm_as_the_exec_one(tmp_path: Path) -> None:
    """A model server that stays live (its model cannot load), stopped by the runtime with SIGTERM."""
    argv = [*MLAIOPS, "serve", "--port", "0", "--model-uri", "file:///none/m.joblib", "--file-root", str(tmp_path)]

    async def body(zygote: Zygote) -> list[int]:
        codes = []
        for process in (
            LocalProcess(argv, pod_env(zygote), tmp_path, tmp_path / "exec.log"),
            WarmProcess(zygote, argv, pod_env(zygote), tmp_path, tmp_path / "warm.log"),
        ):
            await process.start()
            assert process.pid is not None
            for _ in range(300):
                if "serving model" in process.log_path.read_text():
                    break
                await asyncio.sleep(0.1)
            if isinstance(process, WarmProcess):
                assert zygote._process is not None
                assert parent_of(process.pid) == zygote._process.pid  # forked, not exec'd
            await process.terminate(grace=10)
            codes.append(await process.wait())
        return codes

    exec_code, warm_code = run(body, tmp_path / "zygote")
    assert warm_code == exec_code
    assert "shutting down" in (tmp_path / "warm.log").read_text()


def test_a_pod_killed_by_a_signal_reports_it_as_a_container_runtime_does(tmp_path: Path) -> None:
    argv = [*MLAIOPS, "serve", "--port", "0", "--model-uri", "file:///none/m.joblib", "--file-root", str(tmp_path)]

    async def body(zygote: Zygote) -> int:
        process = WarmProcess(zygote, argv, pod_env(zygote), tmp_path, tmp_path / "warm.log")
        await process.start()
        assert process.pid is not None
        os.kill(process.pid, signal.SIGKILL)
        return await asyncio.wait_for(process.wait(), 30)

    assert run(body, tmp_path / "zygote") == 128 + signal.SIGKILL


def test_without_its_zygote_a_pod_is_execd_and_a_running_one_is_reported_killed(tmp_path: Path) -> None:
    argv = [*MLAIOPS, "serve", "--port", "0", "--model-uri", "file:///none/m.joblib", "--file-root", str(tmp_path)]

    async def body(zygote: Zygote) -> tuple[int, int]:
        running = WarmProcess(zygote, argv, pod_env(zygote), tmp_path, tmp_path / "a.log")
        await running.start()
        assert zygote._process is not None
        zygote._process.kill()
        killed = await asyncio.wait_for(running.wait(), 30)
        after = WarmProcess(zygote, [*MLAIOPS, "version"], pod_env(zygote), tmp_path, tmp_path / "b.log")
        await after.start()
        assert after.pid is not None and parent_of(after.pid) == os.getpid()  # exec'd by the runtime
        return killed, await asyncio.wait_for(after.wait(), 60)

    killed, code = run(body, tmp_path / "zygote")
    assert killed == 128 + signal.SIGKILL
    assert code == 0 and (tmp_path / "b.log").read_text().startswith("mlaiops ")


def test_the_preloaded_libraries_are_there_before_the_pod_runs_and_no_openmp_runtime(tmp_path: Path) -> None:
    """The point of the zygote: a forked model server starts with numpy and SciPy imported. Not the OpenMP
    runtime scikit-learn loads: forked after it, a pod's OpenMP work costs three times the CPU."""
    argv = [*MLAIOPS, "serve", "--port", "0", "--model-uri", "file:///none/m.joblib", "--file-root", str(tmp_path)]

    async def body(zygote: Zygote) -> tuple[set[str], str]:
        process = WarmProcess(zygote, argv, pod_env(zygote), tmp_path, tmp_path / "warm.log")
        await process.start()
        assert process.pid is not None and zygote._process is not None
        maps = Path(f"/proc/{process.pid}/maps").read_text()
        zygote_maps = Path(f"/proc/{zygote._process.pid}/maps").read_text()
        await process.terminate(grace=10)
        await process.wait()
        return {library for library in ("numpy", "scipy") if f"/{library}/" in maps}, zygote_maps

    preloaded, zygote_maps = run(body, tmp_path / "zygote", PRELOAD)
    assert preloaded == {"numpy", "scipy"}
    assert not [runtime for runtime in OPENMP_RUNTIMES if runtime in zygote_maps]


def test_a_zygote_whose_preload_loads_openmp_refuses_to_start_and_its_pods_are_execd(tmp_path: Path) -> None:
    async def body(zygote: Zygote) -> int:
        process = WarmProcess(zygote, [*MLAIOPS, "version"], pod_env(zygote), tmp_path, tmp_path / "b.log")
        await process.start()
        assert process.pid is not None and parent_of(process.pid) == os.getpid()  # exec'd by the runtime
        return await asyncio.wait_for(process.wait(), 60)

    assert run(body, tmp_path / "zygote", ("sklearn.ensemble",)) == 0
    assert (tmp_path / "b.log").read_text().startswith("mlaiops ")


def parent_of(pid: int) -> int:
    stat = Path(f"/proc/{pid}/stat").read_text()
    return int(stat[stat.rfind(")") + 2 :].split()[1])


@pytest.mark.parametrize(
    ("argv", "extra", "warm"),
    [
        ([*MLAIOPS, "serve"], {}, True),
        ([*MLAIOPS, "train"], {"MLAIOPS_X": "1"}, True),
        ([sys.executable, "-m", "other"], {}, False),
        ([sys.executable, "-c", "print(1)"], {}, False),
        (["/usr/bin/python3", "-m", "mlaiops"], {}, False),
        ([*MLAIOPS, "serve"], {"PYTHONPATH": "/elsewhere"}, False),
        ([*MLAIOPS, "serve"], {"PYTHONUNBUFFERED": "1"}, False),
        ([*MLAIOPS, "serve"], {"OMP_NUM_THREADS": "1"}, False),
        ([*MLAIOPS, "serve"], {"LANG": "de_DE.UTF-8"}, False),
    ],
)
def test_only_a_pod_whose_interpreter_would_start_as_the_zygotes_is_forked(
    tmp_path: Path, argv: list[str], extra: dict[str, str], warm: bool
) -> None:
    zygote = Zygote(tmp_path)
    assert warm_module(argv, pod_env(zygote, **extra), zygote) is warm


def test_warm_start_is_on_by_default_and_a_config_can_turn_it_off(tmp_path: Path) -> None:
    assert RuntimeConfig.from_mapping({}, tmp_path).warm_start is True
    assert RuntimeConfig.from_mapping({"warmStart": False}, tmp_path).warm_start is False
    with pytest.raises(ValueError, match="warmStart: must be true or false, got 'no'"):
        RuntimeConfig.from_mapping({"warmStart": "no"}, tmp_path)

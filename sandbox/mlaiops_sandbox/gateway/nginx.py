"""One real nginx master process per Gateway, in its own folder, reloaded in place.

A new configuration is written beside the live one and checked with ``nginx -t`` first; only then does
it replace the live file and the master get SIGHUP (nginx's graceful reload: new workers take new
connections, old workers finish the requests they have). A configuration nginx refuses never reaches
the running process, so a bad render cannot take the old configuration down.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import grp
import os
import pwd
import shutil
import signal
import sys
from collections.abc import Callable
from pathlib import Path

from mlaiops_sandbox.runtime.process import PR_SET_PDEATHSIG
from mlaiops_sandbox.runtime.util import free_port

CHECKS_KEPT = 64


def stop_with_parent() -> None:
    """In nginx's master: SIGTERM (fast shutdown: the master takes its workers along) when the sandbox
    dies without stopping it (Linux only, best effort)."""
    with contextlib.suppress(Exception):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def stop_leftovers(state_dir: Path) -> list[int]:
    """Stop the nginx masters a killed sandbox left in ``state_dir`` (pid file, and a command line that
    names that folder): a restarted sandbox in the same folder starts clean, as the kubelet does."""
    stopped: list[int] = []
    for pid_file in state_dir.glob("*/nginx.pid"):
        with contextlib.suppress(OSError, ValueError):
            pid = int(pid_file.read_text().strip())
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
            if "nginx" in cmdline and str(pid_file.parent) in cmdline:
                os.kill(pid, signal.SIGTERM)
                stopped.append(pid)
    return stopped


class NginxError(Exception):
    """nginx refused a configuration or did not start; the message is nginx's own."""


def nginx_binary() -> str | None:
    """Debian installs nginx in /usr/sbin, which an unprivileged user's PATH may not hold."""
    found = shutil.which("nginx")
    if found:
        return found
    return "/usr/sbin/nginx" if os.access("/usr/sbin/nginx", os.X_OK) else None


def worker_user() -> str | None:
    """Run as root (CI), nginx would switch its workers to ``nobody``, who cannot enter a private
    state folder: keep them as the sandbox's own user. Unprivileged, nginx keeps the user anyway."""
    if os.geteuid() != 0:
        return None
    return f"{pwd.getpwuid(os.getuid()).pw_name} {grp.getgrgid(os.getgid()).gr_name}"


class Nginx:
    """nginx for one Gateway, in ``prefix`` (nginx.conf, logs/, tmp/, nginx.pid)."""

    def __init__(self, prefix: Path) -> None:
        self.prefix = prefix
        self.conf = prefix / "nginx.conf"
        self.error_ports = (free_port(), free_port())
        self.process: asyncio.subprocess.Process | None = None
        self.applied = ""
        self.generation = 0
        self.verdicts: dict[str, str] = {}  # configuration text -> nginx -t's refusal ("" when accepted)

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.returncode is None

    async def check(self, text: str, name: str = "check.conf") -> None:
        """Raise NginxError with nginx's message when ``nginx -t`` refuses ``text`` (verdicts are kept:
        the controller re-plans on every change and must not run nginx -t each time for the same text)."""
        if text in self.verdicts:
            verdict = self.verdicts[text]
            if verdict:
                raise NginxError(verdict)
            (self.prefix / name).write_text(text)
            return
        try:
            await self._check(text, name)
            self._keep(text, "")
        except NginxError as exc:
            self._keep(text, str(exc))
            raise

    def _keep(self, text: str, verdict: str) -> None:
        if len(self.verdicts) >= CHECKS_KEPT:
            self.verdicts.pop(next(iter(self.verdicts)))
        self.verdicts[text] = verdict

    async def _check(self, text: str, name: str) -> None:
        binary = nginx_binary()
        if binary is None:
            raise NginxError("nginx is not installed (make setup installs Debian's nginx)")
        self._folders()
        path = self.prefix / name
        path.write_text(text)
        proc = await asyncio.create_subprocess_exec(
            binary, "-t", "-q", "-p", str(self.prefix), "-c", str(path),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
        out, _ = await proc.communicate()
        if proc.returncode != 0:
            lines = [
                line for line in out.decode(errors="replace").splitlines() if "[emerg]" in line or "[crit]" in line
            ]
            message = (lines[0] if lines else out.decode(errors="replace").strip()).split("] ", 1)[-1]
            raise NginxError(message.replace(str(path), "nginx.conf"))

    async def apply(self, render: Callable[[str], str], timeout: float = 10.0) -> bool:
        """Check, then start nginx or reload it with ``render(generation)``; returns once nginx's workers
        serve it (so a status written next is true). False when nothing changed."""
        text = render("")
        if text == self.applied and self.running:
            return False
        if self.verdicts.get(text):
            raise NginxError(self.verdicts[text])
        self.generation += 1
        generation = f"{self.generation}"
        try:
            await self.check(render(generation), "next.conf")
        except NginxError as exc:
            self._keep(text, str(exc))
            raise
        os.replace(self.prefix / "next.conf", self.conf)
        old_workers: set[int] = set()
        if self.running:
            assert self.process is not None
            old_workers = set(self.workers())
            self.process.send_signal(signal.SIGHUP)
        else:
            await self._start()
        self.applied = text
        await self._serving(generation, old_workers, timeout)
        return True

    def workers(self) -> dict[int, str]:
        """The master's children (pid -> process title); an old worker that stopped accepting calls
        itself ``nginx: worker process is shutting down``."""
        if self.process is None:
            return {}
        found: dict[int, str] = {}
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
                ppid = int(stat.rsplit(")", 1)[1].split()[1])
                if ppid == self.process.pid:
                    found[int(entry.name)] = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
            except (OSError, ValueError, IndexError):
                continue
        return found

    async def _serving(self, generation: str, old_workers: set[int], timeout: float) -> None:
        """Wait until every old worker stopped accepting and new connections get ``generation``: from
        then on no new request meets the previous configuration."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline:
            if not self.running:
                raise NginxError(f"nginx exited: see {self.prefix / 'logs' / 'error.log'}")
            current = self.workers()
            if any(pid in current and "shutting down" not in current[pid] for pid in old_workers):
                await asyncio.sleep(0.01)
                continue
            with contextlib.suppress(OSError, TimeoutError, asyncio.IncompleteReadError):
                reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", self.error_ports[0]), 1)
                try:
                    writer.write(b"GET /generation HTTP/1.0\r\nHost: x\r\n\r\n")
                    answer = await asyncio.wait_for(reader.read(), 1)
                finally:
                    writer.close()
                if answer.split(b"\r\n\r\n", 1)[-1] == generation.encode():
                    return
            await asyncio.sleep(0.02)
        raise NginxError(f"nginx did not serve the new configuration within {timeout:.0f}s")

    async def _start(self) -> None:
        binary = nginx_binary()
        assert binary is not None
        if self.process is not None:  # a master that died: its workers still hold the ports
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.process.pid, signal.SIGKILL)
            await asyncio.sleep(0.1)
        log = (self.prefix / "logs" / "stderr.log").open("ab")
        try:
            self.process = await asyncio.create_subprocess_exec(
                binary, "-p", str(self.prefix), "-c", str(self.conf),
                stdin=asyncio.subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True,
                preexec_fn=stop_with_parent if sys.platform == "linux" else None,
            )  # fmt: skip
        finally:
            log.close()
        await asyncio.sleep(0.05)
        if self.process.returncode is not None:
            raise NginxError(f"nginx exited with {self.process.returncode}: see {self.prefix / 'logs'}")

    def _folders(self) -> None:
        for folder in ("logs", "tmp"):
            (self.prefix / folder).mkdir(parents=True, exist_ok=True)

    async def stop(self, grace: float = 5.0) -> None:
        """SIGQUIT (graceful shutdown), then SIGKILL of the whole process group after ``grace``."""
        process, self.process = self.process, None
        self.applied = ""
        if process is None or process.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGQUIT)
        try:
            await asyncio.wait_for(process.wait(), grace)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            await process.wait()

"""Turning a container spec into a local command line: pure functions, no I/O.

Contract for processes run by the sandbox (the "port and path conventions"):

* ``$(VAR)`` in command, args and env values expands exactly as in Kubernetes (``$$`` escapes).
* Every declared ``containerPort`` gets a free local port. The process learns it three ways:
  env ``MLAIOPS_SANDBOX_PORT_<containerPort>`` and ``MLAIOPS_SANDBOX_PORT_<NAME>`` (port name upper-cased,
  ``-`` -> ``_``); any command/args token that *is* the port number or ends in ``=<port>`` / ``:<port>``
  is rewritten; and env values that are exactly the port number are rewritten. So an unchanged manifest
  such as ``args: ["--port", "8080"]`` listens on the mapped port.
* Volume ``mountPath``s and the ``terminationMessagePath`` are folders/files under the pod's directory;
  any occurrence of such a path at a path boundary in command, args or env values is rewritten to the
  local location. ``MLAIOPS_SANDBOX_MOUNTS`` holds the JSON map ``{mountPath: localPath}`` for code
  that reads paths from elsewhere (config files), and ``MLAIOPS_SANDBOX_TERMINATION_LOG`` (also exported as
  ``MLAIOPS_TERMINATION_LOG``, the project's own variable) is the local termination-message file.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path

PORT_ENV_PREFIX = "MLAIOPS_SANDBOX_PORT_"
MOUNTS_ENV = "MLAIOPS_SANDBOX_MOUNTS"
POD_DIR_ENV = "MLAIOPS_SANDBOX_POD_DIR"
TERMINATION_ENV = "MLAIOPS_SANDBOX_TERMINATION_LOG"
DEFAULT_ENTRYPOINT = ("mlaiops",)


def expand(text: str, env: Mapping[str, str]) -> str:
    """Kubernetes ``$(VAR)`` expansion: defined names are replaced, undefined ones kept, ``$$`` -> ``$``."""
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch != "$" or i + 1 >= n:
            out.append(ch)
            i += 1
            continue
        nxt = text[i + 1]
        if nxt == "$":
            out.append("$")
            i += 2
        elif nxt == "(":
            end = text.find(")", i + 2)
            if end == -1:
                out.append(text[i:])
                break
            name = text[i + 2 : end]
            out.append(env[name] if name in env else text[i : end + 1])
            i = end + 1
        else:
            out.append("$" + nxt)
            i += 2
    return "".join(out)


class PathMap:
    """Rewrites container paths (mount points, termination log) to local paths, longest prefix first."""

    def __init__(self, mapping: Mapping[str, str]) -> None:
        self.mapping = {src.rstrip("/"): dst for src, dst in mapping.items() if src.rstrip("/")}
        # One pass over one alternation, longest path first: a rewritten path (which may itself start
        # with another mount path, such as /tmp) is never rewritten again.
        sources = sorted(self.mapping, key=len, reverse=True)
        self._rule = (
            re.compile(r"(?<![\w.\-/])(" + "|".join(re.escape(src) for src in sources) + r")(?=/|$|[^\w.\-])")
            if sources
            else None
        )

    def rewrite(self, text: str) -> str:
        if self._rule is None:
            return text
        return self._rule.sub(lambda match: self.mapping[match.group(1)], text)


_PORT_TOKEN = re.compile(r"^(?P<prefix>.*[=:])?(?P<port>\d{1,5})$")


def rewrite_port_token(token: str, ports: Mapping[int, int]) -> str:
    """``8080``, ``--port=8080``, ``0.0.0.0:8080`` -> the mapped port when 8080 is a declared port."""
    match = _PORT_TOKEN.match(token)
    if not match or int(match.group("port")) not in ports:
        return token
    return (match.group("prefix") or "") + str(ports[int(match.group("port"))])


def port_env(container_ports: Iterable[Mapping[str, object]], ports: Mapping[int, int]) -> dict[str, str]:
    env: dict[str, str] = {}
    for port in container_ports:
        number = int(port["containerPort"])  # type: ignore[arg-type]
        if number not in ports:
            continue
        env[f"{PORT_ENV_PREFIX}{number}"] = str(ports[number])
        if port.get("name"):
            name = re.sub(r"[^A-Za-z0-9]", "_", str(port["name"])).upper()
            env[f"{PORT_ENV_PREFIX}{name}"] = str(ports[number])
    return env


def resolve_argv(
    command: list[str] | None,
    args: list[str] | None,
    env: Mapping[str, str],
    paths: PathMap,
    ports: Mapping[int, int],
    entrypoint: tuple[str, ...] = DEFAULT_ENTRYPOINT,
) -> list[str]:
    """The local argv: Kubernetes' command/args semantics, then path and port rewriting.

    ``python``/``python3`` run this interpreter and ``mlaiops`` runs ``python -m mlaiops``, so pods use the
    installed package exactly as the container image would.
    """
    argv = list(command) if command else list(entrypoint)
    argv += list(args or [])
    argv = [rewrite_port_token(expand(paths.rewrite(part), env), ports) for part in argv]
    if not argv:
        raise ValueError("container has no command")
    head = argv[0].rsplit("/", 1)[-1]
    if head in ("python", "python3") or re.fullmatch(r"python3\.\d+", head):
        argv[0] = sys.executable
    elif head == "mlaiops":
        argv[:1] = [sys.executable, "-m", "mlaiops"]
    return argv


def interpreter_env(home: Path, tmp: Path, environ: Mapping[str, str]) -> dict[str, str]:
    """What every local pod's process starts with before its own env (the runtime's ``environ`` gives
    ``PATH`` and ``PYTHONPATH``): also the warm interpreter's (runtime/zygote.py), so that the two agree on
    every variable read at start-up."""
    env = {
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), environ.get("PATH", "/usr/bin:/bin")]),
        "HOME": str(home),
        "TMPDIR": str(tmp),
        "LANG": "C.UTF-8",
    }
    if "PYTHONPATH" in environ:  # the image's code is the code under test (a worktree's, not the venv's)
        env["PYTHONPATH"] = environ["PYTHONPATH"]
    return env


def resolve_env_values(
    pairs: list[tuple[str, str]], paths: PathMap, ports: Mapping[int, int], preset: Mapping[str, str] | None = None
) -> dict[str, str]:
    """Env in declaration order: each value may refer to earlier ones with ``$(VAR)``; paths are
    rewritten in the literal text before expansion, so an expanded (already local) value stays as it is.

    ``preset`` values are the sandbox's own (already local paths): visible to ``$(VAR)``, never rewritten.
    """
    env: dict[str, str] = dict(preset or {})
    for name, raw in pairs:
        value = expand(paths.rewrite(raw), env)
        if value.isdigit() and int(value) in ports:
            value = str(ports[int(value)])
        env[name] = value
    return env

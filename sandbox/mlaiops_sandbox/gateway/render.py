"""A GatewayPlan as nginx configuration.

How the Gateway API's semantics map onto nginx:

* **Paths.** ``Exact /p`` is ``location = /p``; ``PathPrefix /p`` matches at path-element boundaries, so
  it is ``location = /p`` plus ``location /p/``. Every location lists *all* matches that can apply to a
  request reaching it (a ``PathPrefix /`` match applies under ``/a/`` too), in the spec's precedence order.
  A request no match takes answers 404.
* **Headers, method, query.** Each test is a ``map`` to 0/1 (exact values as anchored, case-sensitive
  regular expressions, since plain ``map`` strings ignore case); a match's tests are joined by a second
  ``map``, and the location's ``map`` picks the first match that holds, in precedence order. The location
  then rewrites to the chosen rule's internal location.
* **Hostnames.** One ``server`` per hostname of a listener port (``""``: the default server for routes
  without hostnames), like Envoy's virtual hosts: nginx picks the exact name, then the longest
  wildcard, then the default, and only that server's routes are considered.
* **Weights.** A rule's backends are one ``upstream`` with nginx's smooth weighted round-robin: each pod
  weighs ``backend weight x L / pods of its backend`` (``L`` the least common multiple of the pod counts),
  so every cycle of ``sum(weights)`` requests splits exactly by weight (one worker process). A backend
  whose reference is invalid takes its share to a local server answering 500, one without ready pods to
  one answering 503. All weights 0 (or no backendRefs) answers 500.
* **Mirrors.** ``mirror`` to an internal location that proxies a copy; nginx drops the mirror's answer.
  ``percent`` below 100 is a ``split_clients`` on ``$request_id`` (random, not exact). As nginx does,
  a keep-alive connection's next request waits until the mirror of the previous one has answered. A client
  that closes its connection does not cancel a copy on its way (``proxy_ignore_client_abort``), as in Envoy.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from functools import reduce
from pathlib import Path

from mlaiops_sandbox.gateway.model import Backend, Condition, GatewayPlan, Match, Mirror, Server, Target

INTERNAL = "/__sandbox_gateway__"


def quote(value: str) -> str:
    """An nginx double-quoted string (backslash and quote escaped; ``$`` as a literal is left alone:
    callers only quote values nginx does not interpolate or regexes escaped by :func:`literal_regex`)."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def literal_regex(value: str) -> str:
    """A PCRE that matches exactly ``value`` (every non-alphanumeric byte as ``\\xHH``)."""
    out = []
    for byte in value.encode():
        char = chr(byte)
        out.append(char if char.isascii() and char.isalnum() else f"\\x{byte:02x}")
    return "^" + "".join(out) + "$"


def _variable(condition: Condition) -> str:
    if condition.source == "method":
        return "$request_method"
    if condition.source == "query":
        return "$arg_" + condition.name
    return "$http_" + condition.name.lower().replace("-", "_")


def _regex(condition: Condition) -> str:
    return condition.value if condition.kind == "RegularExpression" else literal_regex(condition.value)


def _path_applies(match: Match, path: str, exact_location: bool) -> bool:
    """Whether ``match`` can apply to a request reaching the location for ``path``."""
    if match.path_type == "Exact":
        return exact_location and match.path == path
    prefix = match.path
    return prefix == "/" or path == prefix or path.startswith(prefix + "/")


def _locations(matches: list[Match]) -> list[tuple[str, str, list[Match]]]:
    """(nginx modifier, location path, applicable matches in precedence order)."""
    exact = {m.path for m in matches}  # every match's own path needs an exact location
    prefixes = {m.path for m in matches if m.path_type == "PathPrefix"}
    out: list[tuple[str, str, list[Match]]] = []
    for path in sorted(exact):
        applicable = sorted((m for m in matches if _path_applies(m, path, True)), key=Match.precedence)
        out.append(("=", path, applicable))
    for prefix in sorted(prefixes):
        applicable = sorted((m for m in matches if _path_applies(m, prefix, False)), key=Match.precedence)
        out.append(("", prefix if prefix == "/" else prefix + "/", applicable))
    if "/" not in prefixes:
        out.append(("", "/", []))
    return out


class _Writer:
    """Accumulates the http-level maps and upstreams while the server blocks are written."""

    def __init__(self, error_ports: tuple[int, int]) -> None:
        self.http: list[str] = []
        self.upstreams: set[str] = set()
        self.counter = 0
        self.error_ports = {500: error_ports[0], 503: error_ports[1]}

    def var(self, stem: str) -> str:
        self.counter += 1
        return f"$gw_{stem}{self.counter}"

    def condition_var(self, condition: Condition) -> str:
        name = self.var("c")
        self.http += [
            f"map {_variable(condition)} {name} {{",
            f"  {quote('~' + _regex(condition))} 1;",
            "  default 0;",
            "}",
        ]
        return name

    def match_var(self, match: Match) -> str | None:
        """A variable that is 1 when all of the match's tests hold; None when it has none."""
        tests = [self.condition_var(c) for c in match.conditions]
        if not tests:
            return None
        if len(tests) == 1:
            return tests[0]
        name = self.var("m")
        self.http += [f"map {quote(''.join(tests))} {name} {{", f"  {quote('1' * len(tests))} 1;", "  default 0;", "}"]
        return name

    def location(self, modifier: str, path: str, matches: list[Match]) -> list[str]:
        head = f"location {modifier} {quote(path)} {{" if modifier else f"location {quote(path)} {{"
        choices: list[tuple[str, str]] = []  # (match variable, target)
        fallback = "404"
        for match in matches:
            variable = self.match_var(match)
            if variable is None:
                fallback = match.target
                break
            choices.append((variable, match.target))
        if not choices:
            return [head, f"    rewrite ^ {INTERNAL}/{fallback} last;", "  }"]
        selector = self.var("sel")
        key = "".join(v for v, _ in choices)
        lines = [f"map {quote(key)} {selector} {{"]
        for index, (_, target) in enumerate(choices):
            lines.append(f"  {quote('~^' + '.' * index + '1')} {target};")
        lines += [f"  default {fallback};", "}"]
        self.http += lines
        return [head, f"    rewrite ^ {INTERNAL}/{selector} last;", "  }"]

    def upstream(self, name: str, backends: list[Backend]) -> bool:
        """An upstream splitting exactly by weight; False when no backend has weight."""
        live = [b for b in backends if b.weight > 0]
        if not live:
            return False
        if name in self.upstreams:
            return True
        self.upstreams.add(name)
        counts = [len(b.servers) if b.error is None and b.servers else 1 for b in live]
        lcm = reduce(math.lcm, counts, 1)
        weighted: list[tuple[Server, int]] = []
        for backend, count in zip(live, counts, strict=True):
            if backend.error is not None or not backend.servers:
                status = backend.error if backend.error is not None else 503
                weighted.append((("127.0.0.1", self.error_ports[status]), backend.weight * lcm))
            else:
                weighted += [(server, backend.weight * lcm // count) for server in backend.servers]
        divisor = reduce(math.gcd, (w for _, w in weighted))
        merged: dict[Server, int] = {}
        for server, weight in weighted:  # the same pod behind two backendRefs is one server
            merged[server] = merged.get(server, 0) + weight // divisor
        self.http.append(f"upstream {name} {{")
        self.http += [f"  server {host}:{port} weight={weight};" for (host, port), weight in merged.items()]
        self.http += ["  keepalive 16;", "}"]
        return True

    def target(self, target: Target) -> list[str]:
        lines = [f"location = {INTERNAL}/{target.name} {{", "    internal;"]
        upstream = f"gw_{target.name}"
        if target.status is not None or not self.upstream(upstream, target.backends):
            return [*lines, f"    return {target.status or 500};", "  }"]
        mirrors: list[str] = []
        for index, mirror in enumerate(target.mirrors):
            mirrored = self.mirror(f"{target.name}_m{index}", mirror)
            if mirrored:
                lines.append(f"    mirror {INTERNAL}/{target.name}_m{index};")
                mirrors += mirrored
        if target.mirrors:
            lines.append("    mirror_request_body on;")
        # Envoy sends the copy whatever the client does next; nginx would cancel a mirror still talking to its
        # upstream once the client's connection closes, so the mirror location ignores client aborts.
        lines += ["    proxy_ignore_client_abort on;", f"    proxy_pass http://{upstream}$request_uri;", "  }"]
        return lines + mirrors

    def mirror(self, name: str, mirror: Mirror) -> list[str]:
        share = f"{mirror.percent:.2f}".rstrip("0").rstrip(".")  # split_clients takes two decimals at most
        if not mirror.servers or float(share) <= 0:
            return []
        upstream = f"gw_{name}"
        self.upstream(upstream, [Backend(weight=1, servers=mirror.servers)])
        lines = [f"  location = {INTERNAL}/{name} {{", "    internal;"]
        if mirror.percent < 100:
            chosen = self.var("mirror")
            self.http += [
                f'split_clients "${{request_id}}" {chosen} {{',
                f"  {share}% 1;",
                '  * "";',
                "}",
            ]
            lines.append(f'    if ({chosen} = "") {{ return 204; }}')
        # Envoy sends the copy whatever the client does next; nginx would cancel a mirror still talking to its
        # upstream once the client's connection closes, so the mirror location ignores client aborts.
        lines += ["    proxy_ignore_client_abort on;", f"    proxy_pass http://{upstream}$request_uri;", "  }"]
        return lines


def _server(writer: _Writer, port: int, host: str, matches: list[Match], targets: Iterable[Target]) -> list[str]:
    listen = f"127.0.0.1:{port}" + (" default_server" if not host else "")
    lines = ["server {", f"  listen {listen};", f"  server_name {quote(host)};"]
    for modifier, path, applicable in _locations(matches):
        lines += ["  " + line if i == 0 else line for i, line in enumerate(writer.location(modifier, path, applicable))]
    lines.append(f"  location = {INTERNAL}/404 {{ internal; return 404; }}")
    for target in targets:
        lines += ["  " + line if i == 0 else line for i, line in enumerate(writer.target(target))]
    lines.append("}")
    return lines


def render(
    plan: GatewayPlan, prefix: Path, error_ports: tuple[int, int], user: str | None = None, generation: str = ""
) -> str:
    """The whole nginx.conf for one Gateway (``prefix``: its folder; ``user``: workers' user when root;
    ``generation``: what ``GET /generation`` answers on the error ports)."""
    writer = _Writer(error_ports)
    servers: list[str] = []
    by_port: dict[int, dict[str, list[Match]]] = {}
    for listener in plan.listeners:
        hosts = by_port.setdefault(listener.port, {"": []})
        for host, matches in listener.hosts.items():
            hosts.setdefault(host, []).extend(matches)
    for port, hosts in sorted(by_port.items()):
        for host in sorted(hosts):
            matches = hosts[host]
            used = {m.target for m in matches}
            targets = [plan.targets[name] for name in sorted(used)]
            # Each server gets its own copies of the maps and upstreams: names are unique per server.
            servers += _server(writer, port, host, matches, targets)
    for status, port in sorted(writer.error_ports.items()):
        servers += ["server {", f"  listen 127.0.0.1:{port};", f"  location / {{ return {status}; }}"]
        # The configuration's identity, for the reload to tell when new workers serve it.
        servers += [f"  location = /generation {{ return 200 {quote(generation)}; }}", "}"]
    head = [
        *([f"user {user};"] if user else []),
        "worker_processes 1;",
        "daemon off;",
        f"pid {prefix / 'nginx.pid'};",
        f"error_log {prefix / 'logs' / 'error.log'} warn;",
        "events { worker_connections 1024; }",
        "http {",
        "  access_log off;",
        f"  client_body_temp_path {prefix / 'tmp' / 'body'};",
        f"  proxy_temp_path {prefix / 'tmp' / 'proxy'};",
        f"  fastcgi_temp_path {prefix / 'tmp' / 'fastcgi'};",
        f"  uwsgi_temp_path {prefix / 'tmp' / 'uwsgi'};",
        f"  scgi_temp_path {prefix / 'tmp' / 'scgi'};",
        "  map_hash_bucket_size 256;",
        "  server_names_hash_bucket_size 256;",
        "  client_max_body_size 64m;",
        "  client_body_buffer_size 1m;",
        "  proxy_http_version 1.1;",
        '  proxy_set_header Connection "";',
        "  proxy_set_header Host $http_host;",
        "  proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;",
        "  proxy_set_header X-Forwarded-Proto $scheme;",
        "  proxy_set_header X-Request-Id $request_id;",
        "  proxy_buffering off;",
        "  proxy_connect_timeout 5s;",
    ]
    body = ["  " + line for line in writer.http] + ["  " + line for line in servers]
    return "\n".join([*head, *body, "}", ""])

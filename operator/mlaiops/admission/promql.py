"""PromQL syntax checks: a local bracket/quote check, and Prometheus's own parser over HTTP.

The local check never needs a server and never rejects valid PromQL: every valid expression has
balanced ``()``, ``[]`` and ``{}`` and closed string literals outside comments. Everything else
(function names, operators, label matchers, durations) is left to Prometheus's parser, reached
through ``/api/v1/parse_query`` on servers that have it or else ``/api/v1/format_query``: Debian's
Prometheus 2.42 answers 404 to the first and parses with the second (checked on these machines).
Both parse without evaluating anything.
"""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.parse
import urllib.request
from typing import Protocol

_PAIRS = {")": "(", "]": "[", "}": "{"}


class PromqlUnavailable(Exception):
    """The parser could not be asked (Prometheus down, timed out, or answering garbage)."""


class PromqlChecker(Protocol):
    """Returns None for a query that parses, else the parser's message; raises PromqlUnavailable."""

    def check(self, query: str) -> str | None: ...


def local_error(query: str) -> str | None:
    """A parse error every PromQL parser would report, found without a server; None if none found."""
    stack: list[tuple[str, int]] = []
    index, length = 0, len(query)
    while index < length:
        char = query[index]
        if char == "#":  # a comment runs to the end of the line
            newline = query.find("\n", index)
            index = length if newline < 0 else newline + 1
            continue
        if char in "\"'`":
            end = index + 1
            while end < length and query[end] != char:
                if query[end] == "\\" and char != "`":
                    end += 1
                elif query[end] == "\n" and char != "`":
                    break
                end += 1
            if end >= length or query[end] != char:
                return f"unterminated quoted string at position {index + 1}"
            index = end + 1
            continue
        if char in "([{":
            stack.append((char, index))
        elif char in ")]}":
            if not stack or stack[-1][0] != _PAIRS[char]:
                return f"unexpected {char!r} at position {index + 1}"
            stack.pop()
        index += 1
    if stack:
        opener, position = stack[-1]
        name = {"(": "parenthesis", "[": "bracket", "{": "brace"}[opener]
        return f"unclosed left {name} at position {position + 1}"
    return None


class PrometheusParser:
    """Asks a Prometheus server to parse queries; answers are cached (queries are small and reused)."""

    def __init__(self, url: str, timeout: float = 2.0, cache_size: int = 1024) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout
        self.cache_size = cache_size
        self._endpoint: str | None = None
        self._cache: dict[str, str | None] = {}
        self._lock = threading.Lock()

    def _post(self, endpoint: str, query: str) -> tuple[int, dict[str, object]]:
        data = urllib.parse.urlencode({"query": query}).encode()
        request = urllib.request.Request(
            f"{self.url}{endpoint}",
            data=data,
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return response.status, json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as error:
            body = error.read()
            try:
                return error.code, json.loads(body or b"{}")
            except ValueError:
                return error.code, {}
        except (OSError, ValueError) as error:
            raise PromqlUnavailable(f"Prometheus at {self.url} is unreachable: {error}") from error

    def check(self, query: str) -> str | None:
        with self._lock:
            if query in self._cache:
                return self._cache[query]
        endpoints = [self._endpoint] if self._endpoint else ["/api/v1/parse_query", "/api/v1/format_query"]
        for endpoint in endpoints:
            status, body = self._post(endpoint, query)
            if status == 404 and body.get("status") != "error":
                continue  # this Prometheus has no such endpoint: try the older one
            if status == 200 and body.get("status") == "success":
                answer = None
            elif status == 400 and body.get("errorType") == "bad_data":
                answer = str(body.get("error", "parse error")).removeprefix('invalid parameter "query": ')
            else:
                raise PromqlUnavailable(f"Prometheus at {self.url} answered {status} to {endpoint}")
            self._endpoint = endpoint
            with self._lock:
                if len(self._cache) >= self.cache_size:
                    self._cache.clear()
                self._cache[query] = answer
            return answer
        raise PromqlUnavailable(f"Prometheus at {self.url} has neither /api/v1/parse_query nor /api/v1/format_query")

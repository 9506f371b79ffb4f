"""Files rendered from code (API reference, metrics reference): write them, or check they are current."""

from __future__ import annotations

import sys
from pathlib import Path


def write_or_check(path: Path, text: str, command: str, check: bool) -> int:
    """Write ``text`` to ``path``; with ``check``, write nothing and return 1 when the file differs."""
    if check:
        if not path.exists() or path.read_text() != text:
            print(f"{path} is stale: run `{command}` and commit the result", file=sys.stderr)
            return 1
        print(f"{path} is up to date")
        return 0
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    print(f"wrote {path}")
    return 0

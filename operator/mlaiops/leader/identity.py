"""One local operator per identity: a lock file held for the life of the process.

Outside a pod the identity is stable (``<user>@<host>``) so that a restarted operator renews its
own Lease at once. Two live processes with one identity would both think they lead; the lock
refuses the second. The kernel drops the lock when the process dies, even on SIGKILL.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import tempfile
from pathlib import Path
from typing import IO


class IdentityInUse(Exception):
    """Another live process on this host already stands for the same Lease with the same identity."""


class IdentityLock:
    def __init__(self, identity: str, lease: str, cluster: str, directory: str | None = None) -> None:
        key = hashlib.sha256(f"{cluster}\n{lease}\n{identity}".encode()).hexdigest()[:16]
        base = directory or os.environ.get("XDG_RUNTIME_DIR") or tempfile.gettempdir()
        self.path = Path(base) / f"mlaiops-operator-{key}.lock"
        self.identity = identity
        self.lease = lease
        self._file: IO[str] | None = None

    def acquire(self) -> None:
        """Take the lock or raise IdentityInUse naming the holder's pid and the way out."""
        handle = self.path.open("a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            pid = handle.read().strip() or "?"
            handle.close()
            raise IdentityInUse(
                f"another operator (pid {pid}) already runs as {self.identity!r} for lease {self.lease} "
                "against this cluster; stop it, or give this one its own identity with MLAIOPS_IDENTITY"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        self._file = handle

    def release(self) -> None:
        if self._file is not None:
            fcntl.flock(self._file, fcntl.LOCK_UN)
            self._file.close()
            self._file = None

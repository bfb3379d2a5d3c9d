"""One server per data directory: `serve` holds an exclusive lock on DATA_DIR/serve.lock for
the life of its process. A second `serve` on the same directory refuses at once and touches
nothing; without the lock it would fail to bind its port and then, cleaning up, stop the
embedded PostgreSQL that the first server is using. The kernel drops the lock when the
holder dies, however it dies, so a crash never leaves a stale lock behind."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path


class DataDirectoryInUse(RuntimeError):
    """Another process holds the data directory."""


def lock(data_dir: Path) -> int:
    """Take the directory's lock (a file descriptor to keep open); raise if another holds it."""
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / "serve.lock"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
        os.close(fd)
        raise DataDirectoryInUse(f"another fhirserver (pid {holder}) is serving from {data_dir}; "
                                 "stop it first, or give this one another --data-dir") from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, str(os.getpid()).encode(), 0)
    return fd

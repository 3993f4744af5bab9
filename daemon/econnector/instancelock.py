"""One daemon per set of folders: an exclusive lock on ``work/daemon.lock``.

Two daemons on one outbox claim the same drops twice and double count
(``status`` said "delivered 17" for 9 documents). The lock is an advisory
``flock`` held by an open descriptor for the life of the process: the kernel
releases it when the process ends, however it ends (SIGKILL, power cut), so a
crash never leaves a stale lock behind. The file holds the owner's pid, for
people and for ``econnector status``.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from .errors import ConfigError

LOCK_NAME = "daemon.lock"

try:  # POSIX
    import fcntl

    def _try_lock(fd: int) -> bool:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True
except ImportError:  # pragma: no cover - Windows (not run here)
    import msvcrt

    def _try_lock(fd: int) -> bool:
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)  # type: ignore[attr-defined]
        except OSError:
            return False
        return True


def acquire(work: Path) -> int:
    """Take the lock (the returned descriptor holds it; keep it open), or raise a
    ConfigError that says which process holds it."""
    path = work / LOCK_NAME
    fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0)
                 | getattr(os, "O_NOFOLLOW", 0), 0o600)
    if not _try_lock(fd):
        holder = "?"
        with contextlib.suppress(OSError, ValueError):
            holder = str(int(os.pread(fd, 32, 0).decode().strip()))
        os.close(fd)
        raise ConfigError(
            f"another econnector (pid {holder}) is already running on these folders "
            f"({path} is locked); stop it first, or give this one its own folders")
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return fd

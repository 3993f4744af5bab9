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
import time
from pathlib import Path

from .errors import ConfigError

LOCK_NAME = "daemon.lock"

# A probe (``holder``) holds a shared lock for microseconds; a daemon starting at
# that instant tries again for this long before it says another one runs.
ACQUIRE_PATIENCE = 0.5

try:  # POSIX
    import fcntl

    def _try_lock(fd: int, shared: bool = False) -> bool:
        try:
            fcntl.flock(fd, (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    def _unlock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_UN)
except ImportError:  # pragma: no cover - Windows (not run here)
    import msvcrt

    def _try_lock(fd: int, shared: bool = False) -> bool:
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)  # type: ignore[attr-defined]
        except OSError:
            return False
        return True

    def _unlock(fd: int) -> None:
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)  # type: ignore[attr-defined]


def _pid(fd: int) -> int:
    with contextlib.suppress(OSError, ValueError):
        return int(os.pread(fd, 32, 0).decode().strip())
    return 0


def holder(work: Path) -> int | None:
    """The pid of the econnector running on these folders (0 if its file names none),
    or None when none runs. Tests the lock without keeping it and creates nothing."""
    try:
        fd = os.open(work / LOCK_NAME, (os.O_RDONLY if os.name == "posix" else os.O_RDWR)
                     | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOFOLLOW", 0))
    except OSError:
        return None
    try:
        if _try_lock(fd, shared=True):
            _unlock(fd)
            return None
        return _pid(fd)
    finally:
        os.close(fd)


def acquire(work: Path, name: str = LOCK_NAME) -> int:
    """Take the lock (the returned descriptor holds it; keep it open), or raise a
    ConfigError that says which process holds it. ``name``: another lock file in
    ``work`` (a node's lock on a shared outbox, :mod:`.claims`)."""
    path = work / name
    fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0)
                 | getattr(os, "O_NOFOLLOW", 0), 0o600)
    deadline = time.monotonic() + ACQUIRE_PATIENCE
    while not _try_lock(fd):
        if time.monotonic() < deadline:
            time.sleep(0.05)
            continue
        pid = _pid(fd)
        os.close(fd)
        raise ConfigError(
            f"another econnector (pid {pid or '?'}) is already running on these folders "
            f"({path} is locked); stop it first, or give this one its own folders")
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return fd

"""The vault's files on disk: private to its user, and durable before anything points at them.

Folders are 0700 and files 0600, set explicitly rather than left to the umask
(the database holds full matricules and names). An upload is staged to a temp
file in its destination folder and fsynced, so the caller can put it in place
with one ``os.replace`` and persist that with :func:`fsync_dir`.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path
from typing import BinaryIO

from econnector_vault.errors import StoreError

__all__ = ["DIR_MODE", "FILE_MODE", "fsync_dir", "private_dir", "private_file", "stage"]

DIR_MODE = 0o700
FILE_MODE = 0o600
_CHUNK = 1024 * 1024


def private_dir(path: Path) -> None:
    """Create ``path`` (and parents) and set it to 0700 whatever the umask."""
    path.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    os.chmod(path, DIR_MODE)


def private_file(path: Path) -> None:
    """Create ``path`` if absent and set it to 0600 whatever the umask."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, FILE_MODE)
    try:
        os.fchmod(fd, FILE_MODE)
    finally:
        os.close(fd)


def fsync_dir(path: Path) -> None:
    """Persist a directory entry change (POSIX; Windows has no directory fsync)."""
    if os.name == "nt":
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def stage(pdf: BinaryIO, folder: Path, max_bytes: int) -> tuple[Path, str, int]:
    """Copy ``pdf`` to a durable temp file in ``folder``; its path, SHA-256 and size.

    ``pdf`` is read in chunks from its current position, never whole into
    memory; past ``max_bytes`` the copy stops with ``too-large`` and the temp
    file is removed.
    """
    digest = hashlib.sha256()
    size = 0
    fd, name = tempfile.mkstemp(prefix=".incoming-", suffix=".part", dir=folder)
    tmp = Path(name)
    try:
        with os.fdopen(fd, "wb") as out:
            while chunk := pdf.read(_CHUNK):
                size += len(chunk)
                if size > max_bytes:
                    raise StoreError(
                        413,
                        "too-large",
                        "Document too large",
                        f"The document exceeds the limit of {max_bytes} bytes.",
                    )
                digest.update(chunk)
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return tmp, digest.hexdigest(), size

"""File-system edge: atomic writes and moves the practice can rely on.

Everything the practice reads appears whole or not at all: a temp file named
``.<name>.<random>.tmp`` in the same folder (hidden, and ``*.tmp``, so neither
vendors nor our own scanner pick it up), fsync, ``os.replace``, fsync of the
folder (as borg's ``SaveFile`` does).
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from . import filemodes
from .crashpoints import reached

CHUNK = 1024 * 1024


def fsync_dir(path: Path) -> None:
    """Make a rename or create inside ``path`` durable (no-op where unsupported)."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def temp_name(target: Path) -> Path:
    return target.with_name(f".{target.name}.{secrets.token_hex(4)}.tmp")


@contextlib.contextmanager
def atomic_writer(
    target: Path, crash_point: str | None = None, durable_dir: bool = True
) -> Iterator[IO[bytes]]:
    """Yield a binary file that replaces ``target`` atomically when the block succeeds."""
    tmp = temp_name(target)
    # With a mode policy (the daemon), the temp file is private from its first byte
    # and gets its final mode and group (filemodes) before anything is written.
    policy = filemodes.current()
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0),
                 0o600 if policy is not None else 0o666)
    f = os.fdopen(fd, "wb")
    try:
        filemodes.fix_fd(fd, target)
        yield f
        f.flush()
        os.fsync(f.fileno())
        f.close()
        if crash_point:
            reached(crash_point)
        os.replace(tmp, target)
    except BaseException:
        f.close()
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    if durable_dir:
        fsync_dir(target.parent)


def write_bytes(
    target: Path, data: bytes, crash_point: str | None = None, durable_dir: bool = True
) -> None:
    with atomic_writer(target, crash_point, durable_dir) as f:
        f.write(data)


def write_text(target: Path, text: str, durable_dir: bool = True) -> None:
    write_bytes(target, text.encode("utf-8"), durable_dir=durable_dir)


def write_json(
    target: Path, obj: Any, crash_point: str | None = None, durable_dir: bool = True
) -> None:
    data = (json.dumps(obj, indent=2, ensure_ascii=False) + "\n").encode("utf-8")
    write_bytes(target, data, crash_point, durable_dir)


def copy_atomic(src: Path, target: Path, durable_dir: bool = True) -> None:
    """Copy ``src`` to ``target`` atomically (used for the signed PDF in the inbox)."""
    with open(src, "rb") as fin, atomic_writer(target, durable_dir=durable_dir) as fout:
        shutil.copyfileobj(fin, fout, CHUNK)


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            h.update(chunk)
    return h.hexdigest()


def sha256_prefix(f: IO[bytes], size: int) -> str:
    """The hash of the first ``size`` bytes of the open file ``f`` (from its start)."""
    h = hashlib.sha256()
    left = size
    f.seek(0)
    while left > 0:
        chunk = f.read(min(CHUNK, left))
        if not chunk:
            break
        h.update(chunk)
        left -= len(chunk)
    return h.hexdigest()


def free_name(folder: Path, name: str) -> Path:
    """``folder/name``, or ``stem.N.ext`` if taken, so nothing is ever overwritten."""
    target = folder / name
    if not target.exists():
        return target
    base, dot, ext = name.rpartition(".")
    if not dot:
        base, ext = name, ""
    n = 1
    while True:
        cand = folder / (f"{base}.{n}.{ext}" if ext else f"{base}.{n}")
        if not cand.exists():
            return cand
        n += 1


def move(src: Path, target: Path, durable_dir: bool = True) -> None:
    """Move durably; across file systems copy+fsync first, then remove the source.

    The source is removed only after the copy is durable, so a crash in between
    leaves two copies, never none. ``durable_dir=False`` leaves the final folder
    sync to the caller, who moves several files into one folder and syncs once.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.replace(src, target)
    except OSError as e:
        if e.errno != errno.EXDEV:
            raise
        copy_atomic(src, target)
        src.unlink()
        fsync_dir(src.parent)
    filemodes.fix_moved(target)  # archive/failed: the practice group's mode, not the source's
    if durable_dir:
        fsync_dir(target.parent)

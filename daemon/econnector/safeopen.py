"""Reading files another user can swap under us: by descriptor, never by path twice.

Anyone who may write the outbox can replace a name between two of our calls:
with a FIFO (a plain ``open`` blocks forever), a symbolic link (followed to a
file they could not read themselves, which we would sign with the doctor's
key) or a new inode. So every outbox file is opened once, with ``O_NOFOLLOW``
(a link is refused, not followed) and ``O_NONBLOCK`` (a FIFO opens at once
instead of waiting for a writer), checked with ``fstat`` on that descriptor to
be a regular file and to be the very file (device, inode, and where asked size
and mtime) recorded when the pair was claimed, and then read through that
descriptor only.

``O_NOFOLLOW`` guards the last component only: the folders themselves must not
be replaceable by the other user (docs/security.md). On Windows neither flag
exists; the checks on the descriptor still run, and a file another program holds
(sharing or lock violation) is a PermissionError, so file-busy (:mod:`.winpaths`).

Errors are translated here into catalog codes: ``file-not-regular`` (a link,
FIFO, folder, socket or device) and ``file-replaced`` (another file, or this
one changed, since the claim).
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import IO, Any

from . import winpaths
from .errors import Rejected

_FLAGS = (os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
          | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_BINARY", 0))


@dataclass(frozen=True, slots=True)
class FileId:
    """What a claim recorded of a file; ``None`` fields are not compared."""

    dev: int | None
    ino: int | None
    size: int | None = None
    mtime_ns: int | None = None

    @classmethod
    def from_record(cls, rec: Mapping[str, Any] | None, content: bool = True) -> FileId | None:
        """From a drop's ``pdf_stat``/``sidecar_stat``; ``content=False`` compares the
        inode only (a file that may legitimately be re-read after a change check)."""
        if not rec:
            return None
        return cls(rec.get("dev"), rec.get("ino"),
                   rec.get("size") if content else None,
                   rec.get("mtime_ns") if content else None)

    def matches(self, st: os.stat_result) -> bool:
        return all(want is None or want == got for want, got in (
            (self.dev, st.st_dev), (self.ino, st.st_ino), (self.size, st.st_size),
            (self.mtime_ns, st.st_mtime_ns)))


def kind_of(mode: int) -> str:
    """What a non-regular file is, in words for the error file."""
    for test, word in ((stat.S_ISLNK, "a symbolic link"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
                       (stat.S_ISDIR, "a folder"), (stat.S_ISSOCK, "a socket"),
                       (stat.S_ISCHR, "a device"), (stat.S_ISBLK, "a device")):
        if test(mode):
            return word
    return "not a regular file"


def open_fd(path: str | os.PathLike[str], expect: FileId | None = None) -> int:
    """A read descriptor on the regular file at ``path``, which must be ``expect``."""
    name = os.path.basename(os.fspath(path))
    try:
        fd = os.open(path, _FLAGS)
    except OSError as e:
        if e.errno in (errno.ELOOP, errno.EMLINK):  # O_NOFOLLOW met a link (EMLINK: BSD)
            raise Rejected("file-not-regular", name=name, kind="a symbolic link") from None
        if winpaths.open_error_kind(e) == "busy" and not isinstance(e, PermissionError):
            # Another program holds it (Windows sharing or lock violation): the callers'
            # PermissionError path says file-busy and looks again, never refuses.
            raise PermissionError(errno.EACCES, e.strerror, e.filename) from e
        raise
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise Rejected("file-not-regular", name=name, kind=kind_of(st.st_mode))
        if expect is not None and not expect.matches(st):
            raise Rejected("file-replaced", name=name)
    except BaseException:
        os.close(fd)
        raise
    return fd


@contextlib.contextmanager
def opened(path: str | os.PathLike[str], expect: FileId | None = None) -> Iterator[IO[bytes]]:
    """:func:`open_fd` as a binary file object, closed on leaving the block."""
    f = os.fdopen(open_fd(path, expect), "rb")
    try:
        yield f
    finally:
        f.close()


def read_limited(path: str | os.PathLike[str], limit: int,
                 expect: FileId | None = None) -> bytes:
    """At most ``limit + 1`` bytes (so the caller can tell "too large")."""
    with opened(path, expect) as f:
        return f.read(limit + 1)


# -- the outbox scan's file-system half (runs on a thread, never on the event loop) --


@dataclass(frozen=True, slots=True)
class Entry:
    """One outbox name as ``lstat`` saw it (a link is described, not followed)."""

    name: str
    size: int
    mtime_ns: int
    ino: int
    dev: int
    regular: bool
    kind: str  # for a non-regular entry: what it is, in words
    tag: Any = None  # what ``keep`` said of the name


def list_dir(folder: str | os.PathLike[str],
             keep: Any = None) -> tuple[tuple[int, int], list[Entry]]:
    """The folder's identity (dev, ino) and its entries for whose names ``keep(name)``
    is truthy (kept as the entry's ``tag``); entries that vanish while listed are
    left out."""
    st = os.stat(folder)
    out: list[Entry] = []
    with os.scandir(folder) as it:
        for e in it:
            tag = keep(e.name) if keep is not None else None
            if keep is not None and not tag:
                continue
            try:
                est = e.stat(follow_symlinks=False)
            except OSError:
                continue
            regular = stat.S_ISREG(est.st_mode)
            out.append(Entry(e.name, est.st_size, est.st_mtime_ns, est.st_ino, est.st_dev,
                             regular, "" if regular else kind_of(est.st_mode), tag))
    return (st.st_dev, st.st_ino), out


@dataclass(frozen=True, slots=True)
class PdfProbe:
    has_header: bool  # "%PDF-" in the first KiB
    has_eof: bool  # "%%EOF" in the last KiB


def probe_pdf(path: str | os.PathLike[str], expect: FileId, window: int = 1024) -> PdfProbe:
    """Head and tail of the PDF, read through one descriptor that must be ``expect``
    (so a marker is only believed for the file as it was judged settled)."""
    with opened(path, expect) as f:
        head = f.read(window)
        size = expect.size if expect.size is not None else os.fstat(f.fileno()).st_size
        f.seek(max(0, size - window))
        tail = f.read(min(window, size))
    return PdfProbe(b"%PDF-" in head, size > 0 and b"%%EOF" in tail)


def unchanged(path: str | os.PathLike[str], expect: FileId) -> bool:
    """Is ``path`` still that file (by ``lstat``: nothing is opened)?"""
    try:
        return expect.matches(os.lstat(path))
    except OSError:
        return False

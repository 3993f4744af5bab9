"""Modes of econnector's folders and files, set explicitly, never left to the umask.

What gets which mode (``G`` = ``folders.group``, the practice's group)::

    what                                    with folders.group     without
    folders.root                            0750, group G          0700
    work/, work/signed/                     0700                   0700
    state.sqlite(-wal, -shm), work files    0600                   0600
    inbox/, archive/ (+ YYYY/MM), failed/   2750, group G          0700
    files written or moved there            0640, group G          0600
    outbox/ (only when econnector makes it) 2770, group G          0700

Only ``folders.root`` (when its parent exists) and the folders inside it are
ever created (:func:`prepare_folders`); a folder configured elsewhere must
exist (an unmounted share is never replaced by an empty local folder).

The setgid bit on the shared folders makes what is created in them inherit G.
``econnector run`` also sets the process umask to 0077 (:mod:`.hardening`), so
whatever is not listed here (SQLite's files, the signing workers' output, the
local vault) is private whatever umask the service was started with; the
group-readable modes are set on purpose by :func:`fix_fd` (``fsio.atomic_writer``),
:func:`fix_moved` (``fsio.move``) and :func:`prepare_folders`.

Only what econnector owns is changed: a folder or file owned by another user
(an outbox on a share, an original the practice software wrote) keeps its mode,
and an existing outbox keeps its mode even when econnector owns it (the
practice's IT set it up). Nothing here runs on Windows (ACLs are the
installer's job).
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .config import Folders

PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600
GROUP_DIR = 0o2750
GROUP_FILE = 0o640
GROUP_OUTBOX = 0o2770
GROUP_ROOT = 0o750

POSIX = os.name == "posix"


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


@dataclass(frozen=True)
class Policy:
    """Which folder trees are shared with the practice group, which are private."""

    shared: tuple[str, ...]   # inbox, archive, failed (absolute, normalised)
    private: tuple[str, ...]  # work
    gid: int | None

    def _top(self, path: str) -> tuple[str, bool] | None:
        """The managed folder holding ``path`` (the deepest) and whether it is shared."""
        best: tuple[str, bool] | None = None
        for roots, shared in ((self.shared, True), (self.private, False)):
            for r in roots:
                if _inside(path, r) and (best is None or len(r) > len(best[0])):
                    best = (r, shared)
        return best

    def file_mode(self, path: Path) -> tuple[int, int | None] | None:
        top = self._top(os.path.abspath(path.parent))
        if top is None:
            return None
        if top[1] and self.gid is not None:
            return GROUP_FILE, self.gid
        return PRIVATE_FILE, None

    def dir_mode(self, path: Path) -> tuple[int, int | None] | None:
        top = self._top(os.path.abspath(path))
        if top is None:
            return None
        if top[1] and self.gid is not None:
            return GROUP_DIR, self.gid
        return PRIVATE_DIR, None

    def top(self, path: Path) -> str | None:
        t = self._top(os.path.abspath(path))
        return t[0] if t else None


def policy_for(folders: Folders, gid: int | None) -> Policy:
    def norm(p: Path) -> str:
        return os.path.abspath(p)

    return Policy(
        shared=tuple(norm(p) for p in (folders.inbox, folders.archive, folders.failed)),
        private=(norm(folders.work),),
        gid=gid,
    )


_policy: Policy | None = None


def set_policy(policy: Policy | None) -> None:
    """Set once at start (``econnector run``); None: leave modes to the umask."""
    global _policy
    _policy = policy


def current() -> Policy | None:
    return _policy


def resolve_group(group: str | int | None) -> int | None:
    """``folders.group`` (a name or a gid) as a gid; ValueError with a one-line reason."""
    if group is None:
        return None
    if not POSIX:
        raise ValueError("folders.group is not supported on this system (use folder ACLs)")
    if isinstance(group, int) or group.isdigit():
        return int(group)
    import grp

    try:
        return grp.getgrnam(group).gr_gid
    except KeyError:
        raise ValueError(f"folders.group: no such group {group!r}") from None


def group_usable(gid: int) -> bool:
    """Can this process give files to ``gid``? (root, or a member of the group)."""
    return os.geteuid() == 0 or gid == os.getegid() or gid in os.getgroups()


def _owned(st: os.stat_result) -> bool:
    return st.st_uid == os.geteuid()


def _apply(target: int | str, st: os.stat_result, mode: int, gid: int | None) -> None:
    """chgrp then chmod (chown may clear the setgid bit); only what differs."""
    regrouped = False
    if gid is not None and st.st_gid != gid:
        try:
            if isinstance(target, str):
                os.chown(target, -1, gid)
            else:
                os.fchown(target, -1, gid)
            regrouped = True
        except PermissionError:  # checked at start; a setgid folder gives the group anyway
            pass
    if regrouped or stat.S_IMODE(st.st_mode) != mode:
        if isinstance(target, str):
            os.chmod(target, mode)
        else:
            os.fchmod(target, mode)


def fix_fd(fd: int, target: Path) -> None:
    """The mode (and group) a file about to be renamed to ``target`` must have."""
    pol = _policy
    if pol is None or not POSIX:
        return
    want = pol.file_mode(target)
    if want is not None:
        _apply(fd, os.fstat(fd), *want)


def fix_dirs(folder: Path) -> None:
    """Folders below a managed folder (archive/YYYY/MM), up to it, get their mode.

    ``mkdir`` under the service's umask 0077 makes them 0700, which would hide
    the archive from the practice group.
    """
    pol = _policy
    if pol is None or not POSIX:
        return
    top = pol.top(folder)
    if top is None:
        return
    path = os.path.abspath(folder)
    while path != top and _inside(path, top):
        want = pol.dir_mode(Path(path))
        with contextlib.suppress(FileNotFoundError):
            st = os.lstat(path)
            if want is not None and stat.S_ISDIR(st.st_mode) and _owned(st):
                _apply(path, st, *want)
        path = os.path.dirname(path)


def fix_moved(target: Path) -> None:
    """A file just moved to ``target`` (an original, a signed PDF) gets its mode.

    A file another user owns (the original as the practice software wrote it)
    cannot be changed by the service user and keeps its mode; its owner reads it.
    """
    pol = _policy
    if pol is None or not POSIX:
        return
    fix_dirs(target.parent)
    want = pol.file_mode(target)
    if want is None:
        return
    st = os.lstat(target)
    if stat.S_ISREG(st.st_mode) and (_owned(st) or os.geteuid() == 0):
        _apply(str(target), st, *want)


def ensure_dir(folder: Path) -> None:
    """``mkdir -p`` with the policy's modes, for a managed folder (inbox/ recreated
    after it was deleted) or one below it (archive/YYYY/MM); plain ``mkdir -p``
    for anything else (the outbox: its mode is set only by :func:`prepare_folders`)."""
    folder.mkdir(parents=True, exist_ok=True)
    fix_dirs(folder)
    pol = _policy
    if pol is None or not POSIX:
        return
    want = pol.dir_mode(folder)
    st = os.lstat(folder)
    if want is not None and stat.S_ISDIR(st.st_mode) and _owned(st):
        _apply(str(folder), st, *want)


# -- at start --------------------------------------------------------------------------


def _inside_root(path: Path, root: Path | None) -> bool:
    return root is not None and _inside(os.path.abspath(path), os.path.abspath(root))


def _missing(name: str, path: Path, root: Path | None, may_wait: Collection[str]) -> str | None:
    """Why a missing folder must not be created, or None when econnector creates it.

    Only ``folders.root`` (when its parent exists) and what lies inside it are
    created: an outbox on an unmounted share must not be invented as an empty
    local folder that the daemon would watch while the practice writes elsewhere.
    """
    if name == "root":
        if path.parent.is_dir():
            return None
        return (f"folders.root: {path} does not exist, nor does {path.parent}; econnector "
                "creates folders.root only inside an existing folder (is the share "
                "mounted?): create it or correct folders.root")
    if _inside_root(path, root):
        assert root is not None
        return None if root.is_dir() else ""  # "": reported for folders.root already
    if name in may_wait:
        return ""  # the daemon starts and waits for it (outbox-missing, inbox-missing)
    return (f"folders.{name}: {path} does not exist; econnector creates only folders.root "
            f"and the folders inside it (is the share mounted?): create it or correct "
            f"folders.{name}")


def prepare_folders(folders: Folders, root: Path | None, gid: int | None,
                    may_wait: Collection[str] = ()) -> list[str]:
    """Create what is missing inside ``root``, with its mode; fix the modes of what
    econnector owns.

    Returns one line per problem (the caller exits 2 on any). A folder outside
    ``root`` that does not exist is a problem, unless its name is in ``may_wait``
    (``econnector run`` waits for an outbox or inbox on a share). Sets nothing
    global: :func:`set_policy` does that.
    """
    problems: list[str] = []
    shared_dir = GROUP_DIR if gid is not None else PRIVATE_DIR
    plan: list[tuple[str, Path, int, int | None, bool]] = []  # name, path, mode, gid, fix existing
    if root is not None:
        # The root holds econnector's folders: the practice group must pass through it.
        plan.append(("root", root, GROUP_ROOT if gid is not None else PRIVATE_DIR, gid, True))
    plan += [
        ("outbox", folders.outbox, GROUP_OUTBOX if gid is not None else PRIVATE_DIR, gid, False),
        ("inbox", folders.inbox, shared_dir, gid, True),
        ("archive", folders.archive, shared_dir, gid, True),
        ("failed", folders.failed, shared_dir, gid, True),
        ("work", folders.work, PRIVATE_DIR, None, True),
    ]
    for name, path, mode, g, fix_existing in plan:
        try:
            created = False
            if not path.exists():
                why = _missing(name, path, root, may_wait)
                if why is not None:
                    if why:
                        problems.append(why)
                    continue
                path.parent.mkdir(parents=True, exist_ok=True)
                try:
                    os.mkdir(path, 0o700)  # private until its mode is set
                    created = True
                except FileExistsError:
                    pass
            st = os.lstat(path)
            if not stat.S_ISDIR(st.st_mode):
                problems.append(f"folders.{name}: {path} is not a folder")
                continue
            if POSIX and (created or (fix_existing and _owned(st))):
                _apply(str(path), st, mode, g)
            if name == "work":
                signed = path / "signed"  # econnector's own, always created
                if not signed.exists():
                    os.mkdir(signed, 0o700)
                st = os.lstat(signed)
                if POSIX and stat.S_ISDIR(st.st_mode) and _owned(st):
                    _apply(str(signed), st, PRIVATE_DIR, None)
        except OSError as e:
            problems.append(f"folders.{name}: cannot prepare {path}: {e.strerror or e}")
    if POSIX:
        problems += _fix_private_files(folders.work)
    return problems


# The state store, the audit trail, the assistants' grants and the fee ledger (and
# their -wal, -shm and damaged copies).
_PRIVATE_DATABASES = ("state.sqlite", "audit.sqlite", "assistants.sqlite", "ledger.sqlite")


def _fix_private_files(work: Path) -> list[str]:
    """The state database (and -wal, -shm, damaged copies), status, signed PDFs: 0600."""
    problems: list[str] = []
    names = [work / n for n in ("daemon-status.json",)]
    with contextlib.suppress(OSError):
        names += [p for p in work.iterdir() if p.name.startswith(_PRIVATE_DATABASES)]
    with contextlib.suppress(OSError):
        names += list((work / "signed").iterdir())
    for p in names:
        try:
            st = os.lstat(p)
        except FileNotFoundError:
            continue
        except OSError as e:
            problems.append(f"folders.work: cannot read {p}: {e.strerror}")
            continue
        if stat.S_ISREG(st.st_mode) and _owned(st) and stat.S_IMODE(st.st_mode) != PRIVATE_FILE:
            try:
                os.chmod(p, PRIVATE_FILE)
            except OSError as e:
                problems.append(f"folders.work: cannot make {p} private: {e.strerror}")
    return problems

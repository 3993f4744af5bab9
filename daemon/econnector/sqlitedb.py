"""Opening the daemon's private SQLite files beside the state store (the audit trail,
the assistants' grants, the fee ledger): one way, for the daemon and the commands;
and the schema versions of every SQLite file of the daemon, the state store's too
(:func:`migrate`: forward steps; a file from a newer release is refused untouched).

Each is created 0600 before SQLite opens it (its -wal and -shm take the database's
mode, whatever the umask of the command that created it). That is the only time a
descriptor of the file is opened outside SQLite: closing any descriptor of a file
drops every POSIX lock the process holds on it, SQLite's included, and another
process's last close would then take the WAL away under this connection, which
would go on reading a stale snapshot. WAL with ``synchronous=NORMAL``, as the state
store (statestore.py says why that is enough); a 5 s busy timeout, since the daemon
and a command may write at the same time.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from . import filemodes
from .errors import ConfigError, render


def connect_private(path: Path, schema: Schema | None = None) -> sqlite3.Connection:
    """An autocommit connection (``BEGIN IMMEDIATE`` where a write must be atomic),
    usable from the event loop's thread and worker threads (callers serialise).

    With ``schema``, a file written by a newer econnector is refused before anything
    is written to it (:class:`StoreTooNew`), and an older one is migrated."""
    filemodes.ensure_dir(path.parent)
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT, filemodes.PRIVATE_FILE))
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=5.0)
    if schema is not None:
        refuse_newer(conn, path, schema)
    conn.execute("PRAGMA journal_mode=WAL").fetchall()
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA busy_timeout=5000")
    if schema is not None:
        try:
            migrate(conn, path, schema)
        except StoreTooNew:
            raise
        except BaseException:
            conn.close()
            raise
    _same_owner(path)
    return conn


def _same_owner(path: Path) -> None:
    """Run as root (IT's ``sudo econnector report``), the files go to whoever owns the
    folder (the service user), who must go on writing them. Only ``chown``: no
    descriptor is opened (see above)."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return
    st = os.stat(path.parent)
    for p in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        with contextlib.suppress(FileNotFoundError):
            os.chown(p, st.st_uid, st.st_gid)


# -- schema versions (docs/install-linux.md, "Upgrade") -------------------------------------
# Each file's schema is a list of forward steps, the version in ``PRAGMA user_version``.
# A step runs in its own transaction with the version it reaches, so a crash leaves
# the file at a version it had; steps are written so that they also apply to a file
# whose columns are ahead of its number (files changed in place before this mechanism).

Step = tuple[int, str | Callable[[sqlite3.Connection], None]]


@dataclass(frozen=True)
class Schema:
    """What a file is (for the message) and its steps, versions 1, 2, ... in order."""

    what: str
    steps: tuple[Step, ...]

    @property
    def version(self) -> int:
        """The highest version this release knows (what migrate brings a file to)."""
        return self.steps[-1][0]


class StoreTooNew(ConfigError):
    """A newer econnector wrote the file (its schema version is above what this release
    knows): the daemon and the commands refuse it, untouched (``store-too-new``)."""

    def __init__(self, path: Path, what: str, version: int, known: int) -> None:
        # The catalog's parameters: value is the file's version, limit the highest known.
        params = {"path": str(path), "what": what, "value": version, "limit": known}
        message, hint = render("store-too-new", params)
        super().__init__(f"store-too-new: {message} {hint}")
        self.code = "store-too-new"
        self.hint = hint
        self.params = {"field": None, **params}
        self.path, self.version, self.known = path, version, known


def user_version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def refuse_newer(conn: sqlite3.Connection, path: Path, schema: Schema) -> int:
    """The file's version; a newer one closes ``conn`` and raises :class:`StoreTooNew`.
    Only reads: call it before anything that could write (``journal_mode=WAL``)."""
    version = user_version(conn)
    if version > schema.version:
        conn.close()
        raise StoreTooNew(path, schema.what, version, schema.version)
    return version


def _statements(script: str) -> list[str]:
    """``script`` split into statements (``executescript`` would commit first)."""
    out, part = [], ""
    for line in script.splitlines(keepends=True):
        part += line
        if sqlite3.complete_statement(part):
            out.append(part.strip())
            part = ""
    if part.strip():
        out.append(part.strip())
    return out


def migrate(conn: sqlite3.Connection, path: Path, schema: Schema) -> int:
    """Bring the file to ``schema.version``, one step per transaction; the version it
    ends at. ``conn`` is in autocommit mode (``isolation_level=None``). Another
    process migrating at the same time waits (``BEGIN IMMEDIATE``) and skips what
    the first one did."""
    current = refuse_newer(conn, path, schema)
    for version, step in schema.steps:
        if version <= current:
            continue
        conn.execute("BEGIN IMMEDIATE")
        try:
            current = user_version(conn)
            if current > schema.version:
                conn.execute("ROLLBACK")
                conn.close()
                raise StoreTooNew(path, schema.what, current, schema.version)
            if current < version:
                if callable(step):
                    step(conn)
                else:
                    for statement in _statements(step):
                        conn.execute(statement)
                conn.execute(f"PRAGMA user_version = {int(version)}")
                current = version
        except StoreTooNew:
            raise
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
    return current


def add_columns(conn: sqlite3.Connection, table: str, columns: Iterable[str]) -> None:
    """``ALTER TABLE ... ADD COLUMN`` (TEXT) for each of ``columns`` the table lacks."""
    have = {str(r[1]) for r in conn.execute(f"PRAGMA table_info({table})")}
    for col in columns:
        if col not in have:
            conn.execute(f"ALTER TABLE {table} ADD COLUMN {col} TEXT")

"""Opening the daemon's private SQLite files beside the state store (the audit trail,
the assistants' grants, the fee ledger): one way, for the daemon and the commands.

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
from pathlib import Path

from . import filemodes


def connect_private(path: Path) -> sqlite3.Connection:
    """An autocommit connection (``BEGIN IMMEDIATE`` where a write must be atomic),
    usable from the event loop's thread and worker threads (callers serialise)."""
    filemodes.ensure_dir(path.parent)
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT, filemodes.PRIVATE_FILE))
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=5.0)
    conn.execute("PRAGMA journal_mode=WAL").fetchall()
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA busy_timeout=5000")
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

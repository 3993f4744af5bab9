"""The vault's SQLite database: document rows and fee records, one connection per thread.

``DATA/vault.sqlite`` in WAL mode with ``synchronous = FULL``. A document row
and its fee record commit in one transaction (no fee without a receipt), and a
UNIQUE index over (provider code, idempotency key) makes concurrent duplicate
submissions, from threads or processes, fail with ``sqlite3.IntegrityError``
instead of creating two records. A database made by an older version is
migrated when it opens (forward steps, ``PRAGMA user_version``); one made by a
newer version is refused untouched (:class:`SchemaTooNew`).
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlite_utils

from econnector_vault.billing import CURRENCY

__all__ = ["DocumentRecord", "SchemaTooNew", "VaultDatabase"]

# -- the schema's versions ------------------------------------------------------------------------
# Forward steps, the version in ``PRAGMA user_version``, each step in its own transaction.
# The vault does not depend on the daemon, so this is its own small copy of
# econnector.sqlitedb.migrate. Version 1 is the first release's schema as sqlite-utils
# wrote it; the steps also apply to files whose schema is ahead of their number.
_V1 = """
CREATE TABLE IF NOT EXISTS "documents" (
   "vault_document_id" TEXT PRIMARY KEY,
   "idempotency_key" TEXT NOT NULL,
   "sha256" TEXT NOT NULL,
   "size" INTEGER NOT NULL,
   "received_at" TEXT NOT NULL,
   "provider_code" TEXT,
   "type" TEXT,
   "metadata" TEXT NOT NULL,
   "fee_amount" TEXT,
   "fee_currency" TEXT,
   "path" TEXT NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS "documents_idempotency_key"
    ON "documents" ("idempotency_key");
CREATE TABLE IF NOT EXISTS "fees" (
   "id" INTEGER PRIMARY KEY,
   "provider_code" TEXT NOT NULL,
   "vault_document_id" TEXT NOT NULL REFERENCES "documents"("vault_document_id"),
   "type" TEXT,
   "amount" TEXT NOT NULL,
   "currency" TEXT,
   "recorded_at" TEXT,
   "quarter" TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS "fees_quarter_provider" ON "fees" ("quarter", "provider_code");
"""
# 2: idempotency keys are unique per provider code, no longer globally (another
# practice's token cannot register a key that this practice's upload would then hit).
_V2 = """
DROP INDEX IF EXISTS documents_idempotency_key;
CREATE UNIQUE INDEX IF NOT EXISTS documents_provider_idempotency_key
    ON documents (provider_code, idempotency_key);
"""


def _v3(conn: sqlite3.Connection) -> None:
    """3: documents.opened_at, when the patient first opened the document."""
    if "opened_at" not in {str(r[1]) for r in conn.execute("PRAGMA table_info(documents)")}:
        conn.execute("ALTER TABLE documents ADD COLUMN opened_at TEXT")


_STEPS: tuple[tuple[int, str | Callable[[sqlite3.Connection], None]], ...] = (
    (1, _V1), (2, _V2), (3, _v3))
SCHEMA_VERSION = _STEPS[-1][0]


class SchemaTooNew(Exception):
    """A newer vault wrote the database: refused, and left as it is."""

    def __init__(self, path: Path, version: int) -> None:
        super().__init__(
            f"{path} has schema version {version}, written by a newer econnector-vault; this "
            f"release knows versions up to {SCHEMA_VERSION} and has not changed the file. "
            "Install the release that wrote it (or a newer one), or restore the backup "
            "taken before the upgrade.")
        self.path, self.version, self.known = path, version, SCHEMA_VERSION


def _user_version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def _refuse_newer(conn: sqlite3.Connection, path: Path) -> int:
    version = _user_version(conn)
    if version > SCHEMA_VERSION:
        raise SchemaTooNew(path, version)
    return version


def _statements(script: str) -> list[str]:
    out, part = [], ""
    for line in script.splitlines(keepends=True):
        part += line
        if sqlite3.complete_statement(part):
            out.append(part.strip())
            part = ""
    return out


def _migrate(conn: sqlite3.Connection, path: Path) -> None:
    """Each missing step in its own ``BEGIN IMMEDIATE`` transaction; another process
    migrating at the same time waits, then skips what the first one did."""
    current = _refuse_newer(conn, path)
    for version, step in _STEPS:
        if version <= current:
            continue
        conn.execute("BEGIN IMMEDIATE")
        try:
            current = _refuse_newer(conn, path)
            if current < version:
                if callable(step):
                    step(conn)
                else:
                    for statement in _statements(step):
                        conn.execute(statement)
                conn.execute(f"PRAGMA user_version = {version}")
                current = version
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")


@dataclass(frozen=True)
class DocumentRecord:
    """One document row and its fee, as committed together."""

    vault_document_id: str
    idempotency_key: str
    sha256: str
    size: int
    received_at: str
    quarter: str
    provider_code: str
    doc_type: str
    metadata: Mapping[str, Any]
    fee: str
    path: str


class VaultDatabase:
    """The rows behind a :class:`~econnector_vault.store.VaultStore`; thread-safe.

    Each thread gets its own connection, and SQLite arbitrates between threads
    and processes. The database file must exist (the store creates it 0600).
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._local = threading.local()
        self._conns: list[sqlite3.Connection] = []
        self._conns_lock = threading.Lock()
        self._init_schema()

    def _db(self) -> sqlite_utils.Database:
        db: sqlite_utils.Database | None = getattr(self._local, "db", None)
        if db is None:
            # Autocommit mode: transactions are explicit BEGIN IMMEDIATE/COMMIT.
            conn = sqlite3.connect(
                self.path, timeout=30.0, isolation_level=None, check_same_thread=False
            )
            conn.execute("PRAGMA busy_timeout = 30000")
            conn.execute("PRAGMA synchronous = FULL")
            conn.execute("PRAGMA foreign_keys = ON")
            db = sqlite_utils.Database(conn)
            self._local.db = db
            with self._conns_lock:
                self._conns.append(conn)
        return db

    def close(self) -> None:
        """Close every thread's connection; the database must not be used afterwards."""
        with self._conns_lock:
            conns, self._conns = self._conns, []
        for conn in conns:
            with contextlib.suppress(sqlite3.Error):
                conn.close()
        self._local = threading.local()

    def _init_schema(self) -> None:
        db = self._db()
        try:
            # A file from a newer vault is refused before anything is written to it.
            _refuse_newer(db.conn, self.path)
            db.enable_wal()
            _migrate(db.conn, self.path)
        except BaseException:
            self.close()
            raise

    # -- writes -----------------------------------------------------------------------------------

    def insert(self, record: DocumentRecord) -> None:
        """Document row and fee record in one transaction; IntegrityError on a taken key."""
        conn = self._db().conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.execute(
                "INSERT INTO documents (vault_document_id, idempotency_key, sha256, size,"
                " received_at, provider_code, type, metadata, fee_amount, fee_currency, path)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    record.vault_document_id,
                    record.idempotency_key,
                    record.sha256,
                    record.size,
                    record.received_at,
                    record.provider_code,
                    record.doc_type,
                    json.dumps(dict(record.metadata), ensure_ascii=False, separators=(",", ":")),
                    record.fee,
                    CURRENCY,
                    record.path,
                ),
            )
            conn.execute(
                "INSERT INTO fees (provider_code, vault_document_id, type, amount, currency,"
                " recorded_at, quarter) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    record.provider_code,
                    record.vault_document_id,
                    record.doc_type,
                    record.fee,
                    CURRENCY,
                    record.received_at,
                    record.quarter,
                ),
            )
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def mark_opened(self, vault_document_id: str, opened_at: str) -> None:
        """Record the patient's first opening; a later one changes nothing."""
        self._db().conn.execute(
            "UPDATE documents SET opened_at = ? WHERE vault_document_id = ? AND opened_at IS NULL",
            (opened_at, vault_document_id),
        )

    # -- reads ------------------------------------------------------------------------------------

    def by_key(self, provider_code: str, idempotency_key: str) -> dict[str, Any] | None:
        """The document row holding this provider's idempotency key, if any."""
        rows = list(
            self._db()
            .table("documents")
            .rows_where(
                "provider_code = ? AND idempotency_key = ?",
                [provider_code, idempotency_key],
                limit=1,
            )
        )
        return rows[0] if rows else None

    def by_id(self, vault_document_id: str) -> dict[str, Any] | None:
        rows = list(
            self._db()
            .table("documents")
            .rows_where("vault_document_id = ?", [vault_document_id], limit=1)
        )
        return rows[0] if rows else None

    def count_documents(self) -> int:
        return self._db().table("documents").count

    def fees(self, quarter: str, provider_code: str) -> list[dict[str, Any]]:
        """One provider's fee records in one quarter, oldest first."""
        rows = self._db().query(
            "SELECT provider_code, vault_document_id, type, amount, currency, recorded_at,"
            " quarter FROM fees WHERE quarter = ? AND provider_code = ? ORDER BY id",
            [quarter, provider_code],
        )
        return [dict(r) for r in rows]

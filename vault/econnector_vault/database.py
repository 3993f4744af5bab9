"""The vault's SQLite database: document rows and fee records, one connection per thread.

``DATA/vault.sqlite`` in WAL mode with ``synchronous = FULL``. A document row
and its fee record commit in one transaction (no fee without a receipt), and a
UNIQUE index over (provider code, idempotency key) makes concurrent duplicate
submissions, from threads or processes, fail with ``sqlite3.IntegrityError``
instead of creating two records. A database made by an older version is
migrated when it opens (columns added, never removed).
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlite_utils

from econnector_vault.billing import CURRENCY

__all__ = ["DocumentRecord", "VaultDatabase"]

# 2: idempotency keys are unique per provider code, no longer globally.
# 3: documents.opened_at, when the patient first opened the document.
SCHEMA_VERSION = 3


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
        db.enable_wal()
        db.table("documents").create(
            {
                "vault_document_id": str,
                "idempotency_key": str,
                "sha256": str,
                "size": int,
                "received_at": str,
                "provider_code": str,
                "type": str,
                "metadata": str,
                "fee_amount": str,
                "fee_currency": str,
                "path": str,
                "opened_at": str,
            },
            pk="vault_document_id",
            not_null={"idempotency_key", "sha256", "size", "received_at", "metadata", "path"},
            if_not_exists=True,
        )
        self._add_column(db, "documents", "opened_at")  # version 2 had none
        # Keys are scoped by provider code: another practice's token cannot
        # register a key that this practice's genuine upload would then hit.
        db.execute("DROP INDEX IF EXISTS documents_idempotency_key")
        db.table("documents").create_index(
            ["provider_code", "idempotency_key"],
            index_name="documents_provider_idempotency_key",
            unique=True,
            if_not_exists=True,
        )
        db.table("fees").create(
            {
                "id": int,
                "provider_code": str,
                "vault_document_id": str,
                "type": str,
                "amount": str,
                "currency": str,
                "recorded_at": str,
                "quarter": str,
            },
            pk="id",
            foreign_keys=[("vault_document_id", "documents", "vault_document_id")],
            not_null={"provider_code", "vault_document_id", "amount", "quarter"},
            if_not_exists=True,
        )
        db.table("fees").create_index(
            ["quarter", "provider_code"], index_name="fees_quarter_provider", if_not_exists=True
        )
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    @staticmethod
    def _add_column(db: sqlite_utils.Database, table: str, column: str) -> None:
        """Add a TEXT column an older database lacks (another process may add it first)."""
        if column in db.table(table).columns_dict:
            return
        try:
            db.execute(f"ALTER TABLE {table} ADD COLUMN {column} TEXT")
        except sqlite3.OperationalError as exc:
            if "duplicate column" not in str(exc):
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

"""The reference vault's storage engine: PDFs on disk, receipts and fees in SQLite.

One implementation serves both the HTTP server and the daemon's in-process
``local`` vault kind, so both behave identically. The decisions it applies are
pure functions in their own modules (:mod:`.metadata` for the schema and
identifiers, :mod:`.signatures` for the signature policy, :mod:`.billing` for
fees and quarters); :class:`VaultStore` does the I/O.

Durability contract: a document's file is written atomically (temp file in the
destination folder, fsync, ``os.replace``, fsync of the folder; see
:mod:`.files`) *before* its SQLite row commits, so a committed receipt always
points at a complete file. A crash between the two leaves an orphan file and no
receipt; the client retries with the same idempotency key and gets a fresh,
complete record.

Idempotency is enforced by a UNIQUE index in SQLite over (provider code, key)
(:mod:`.database`), so concurrent duplicate submissions (threads or processes)
can never create two records or two fees, and one practice cannot squat
another practice's keys.

Everything under the data folder is private to the vault's user (folders 0700,
files 0600): the database holds full matricules and names.
"""

from __future__ import annotations

import json
import os
import sqlite3
import uuid
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, BinaryIO

from asn1crypto import x509 as asn1_x509

from econnector_vault.billing import CURRENCY, BillingActivity, fee_for, parse_quarter, quarter_of
from econnector_vault.database import DocumentRecord, VaultDatabase
from econnector_vault.errors import StoreError
from econnector_vault.files import FILE_MODE, fsync_dir, private_dir, private_file, stage
from econnector_vault.metadata import (
    is_vault_document_id,
    metadata_invalid,
    require_idempotency_key,
    validate_metadata,
)
from econnector_vault.signatures import check_pdf_signature, trust_policy

__all__ = [
    "DEFAULT_MAX_DOCUMENT_BYTES",
    "Receipt",
    "StoredDocument",
    "VaultStore",
    "format_rfc3339",
]

DEFAULT_MAX_DOCUMENT_BYTES = 256 * 1024 * 1024


def format_rfc3339(moment: datetime) -> str:
    """UTC RFC 3339 with milliseconds and ``Z``, e.g. ``2026-11-25T09:15:02.123Z``."""
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


# -- results --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Receipt:
    """The vault's answer to a submission; ``replayed`` means an earlier identical one."""

    vault_document_id: str
    received_at: str
    sha256: str
    fee_amount: str
    fee_currency: str
    idempotency_key: str
    replayed: bool = False

    def as_json(self) -> dict[str, Any]:
        return {
            "vault_document_id": self.vault_document_id,
            "received_at": self.received_at,
            "sha256": self.sha256,
            "fee": {"amount": self.fee_amount, "currency": self.fee_currency},
            "idempotency_key": self.idempotency_key,
        }


@dataclass(frozen=True)
class StoredDocument:
    vault_document_id: str
    received_at: str
    sha256: str
    size: int
    metadata: dict[str, Any]
    fee_amount: str
    fee_currency: str
    path: Path
    provider_code: str = ""
    opened_at: str | None = None  # when the patient first opened it

    def as_json(self) -> dict[str, Any]:
        return {
            "vault_document_id": self.vault_document_id,
            "state": "stored",
            "received_at": self.received_at,
            "sha256": self.sha256,
            "size": self.size,
            "metadata": self.metadata,
            "fee": {"amount": self.fee_amount, "currency": self.fee_currency},
            "opened_at": self.opened_at,
        }


def _receipt(record: DocumentRecord) -> Receipt:
    return Receipt(
        vault_document_id=record.vault_document_id,
        received_at=record.received_at,
        sha256=record.sha256,
        fee_amount=record.fee,
        fee_currency=CURRENCY,
        idempotency_key=record.idempotency_key,
        replayed=False,
    )


def _replay(row: Mapping[str, Any], sha256: str) -> Receipt:
    """The earlier receipt for this key, or ``idempotency-conflict`` when the bytes differ."""
    if row["sha256"] != sha256:
        raise StoreError(
            409,
            "idempotency-conflict",
            "Idempotency key conflict",
            "This Idempotency-Key was already used for a document with other content.",
        )
    return Receipt(
        vault_document_id=row["vault_document_id"],
        received_at=row["received_at"],
        sha256=row["sha256"],
        fee_amount=row["fee_amount"],
        fee_currency=row["fee_currency"],
        idempotency_key=row["idempotency_key"],
        replayed=True,
    )


def _patient_opted_out() -> StoreError:
    return StoreError(
        422,
        "patient-opted-out",
        "Patient opted out",
        "The patient has opted out of the digital vault (status red); "
        "deliver this document on paper.",
    )


# -- the store ------------------------------------------------------------------------------------


class VaultStore:
    """Documents under ``DATA/documents/<aa>/<id>.pdf``, rows in ``DATA/vault.sqlite`` (WAL).

    Thread-safe: each thread gets its own SQLite connection, and SQLite
    arbitrates between threads and processes. All methods are synchronous;
    async callers run :meth:`submit` in a worker thread (it validates the
    signature, which is CPU work).
    """

    def __init__(
        self,
        data_dir: Path,
        *,
        max_document_bytes: int = DEFAULT_MAX_DOCUMENT_BYTES,
        trust_roots: Sequence[asn1_x509.Certificate] | None = None,
    ) -> None:
        if max_document_bytes < 1:
            raise ValueError("max_document_bytes must be positive")
        self.data_dir = Path(data_dir)
        self.documents_dir = self.data_dir / "documents"
        self.db_path = self.data_dir / "vault.sqlite"
        self.max_document_bytes = max_document_bytes
        self.trust_roots = list(trust_roots) if trust_roots else None
        # Parsed and indexed once for the store's life, not per upload.
        self.trust = trust_policy(self.trust_roots)
        private_dir(self.data_dir)
        private_dir(self.documents_dir)
        # SQLite gives -wal and -shm the database file's mode, so the file is made first.
        private_file(self.db_path)
        self._rows = VaultDatabase(self.db_path)
        for suffix in ("-wal", "-shm"):
            sidecar = self.db_path.with_name(self.db_path.name + suffix)
            if sidecar.exists():
                os.chmod(sidecar, FILE_MODE)

    def close(self) -> None:
        """Close every thread's connection; the store must not be used afterwards."""
        self._rows.close()

    # -- paths ------------------------------------------------------------------------------------

    def _relative_path(self, vault_document_id: str) -> str:
        shard = vault_document_id[3:5]
        return f"documents/{shard}/{vault_document_id}.pdf"

    def document_path(self, vault_document_id: str) -> Path:
        return self.data_dir / self._relative_path(vault_document_id)

    # -- submit -----------------------------------------------------------------------------------

    def submit(
        self,
        metadata: Mapping[str, Any],
        pdf: BinaryIO,
        idempotency_key: str,
        *,
        patient_opted_out: bool = False,
    ) -> Receipt:
        """Store a signed PDF with its metadata and record its fee, exactly once per key.

        ``pdf`` is read in chunks from its current position (never whole into
        memory). The same key with the same bytes returns the original receipt
        (``replayed=True``); with other bytes it is a conflict. A replay wins
        over ``patient_opted_out`` so a retry after a lost answer never turns a
        delivered document into a refusal.
        """
        require_idempotency_key(idempotency_key)
        errors = validate_metadata(metadata)
        if errors:
            raise metadata_invalid(errors)
        provider_code = str(metadata["author"]["provider_code"])

        final = self.document_path("vd_" + uuid.uuid4().hex)
        folder = final.parent
        if not folder.is_dir():
            private_dir(folder)
            fsync_dir(folder.parent)
        staged: Path | None = None
        try:
            staged, sha256, size = stage(pdf, folder, self.max_document_bytes)
            existing = self._rows.by_key(provider_code, idempotency_key)
            if existing is not None:
                return _replay(existing, sha256)
            if patient_opted_out:
                raise _patient_opted_out()
            check_pdf_signature(staged, self.trust)
            os.replace(staged, final)
            staged = None
        finally:
            if staged is not None:
                staged.unlink(missing_ok=True)
        return self._commit(final, metadata, idempotency_key, sha256, size)

    def _commit(
        self,
        final: Path,
        metadata: Mapping[str, Any],
        idempotency_key: str,
        sha256: str,
        size: int,
    ) -> Receipt:
        """Persist the placed file's name and record it; a file no row owns is removed."""
        owned = False
        try:
            fsync_dir(final.parent)
            now = datetime.now(UTC)
            doc_type = str(metadata["type"])
            record = DocumentRecord(
                vault_document_id=final.stem,
                idempotency_key=idempotency_key,
                sha256=sha256,
                size=size,
                received_at=format_rfc3339(now),
                quarter=quarter_of(now),
                provider_code=str(metadata["author"]["provider_code"]),
                doc_type=doc_type,
                metadata=metadata,
                fee=f"{fee_for(doc_type):.2f}",
                path=self._relative_path(final.stem),
            )
            try:
                self._rows.insert(record)
            except sqlite3.IntegrityError:
                # A concurrent submission with the same key committed first.
                winner = self._rows.by_key(record.provider_code, idempotency_key)
                if winner is None:
                    raise
                return _replay(winner, sha256)
            owned = True  # committed: the file now belongs to the row
            return _receipt(record)
        finally:
            if not owned:
                final.unlink(missing_ok=True)

    # -- reads ------------------------------------------------------------------------------------

    def get(
        self, vault_document_id: str, providers: Collection[str] | None = None
    ) -> StoredDocument | None:
        """The stored document, or None when the id is unknown.

        With ``providers``, a document of any other provider is None too: a
        practice cannot even learn that another practice's id exists.
        """
        if not is_vault_document_id(vault_document_id):
            return None
        row = self._rows.by_id(vault_document_id)
        if row is None or (providers is not None and row["provider_code"] not in providers):
            return None
        return StoredDocument(
            vault_document_id=row["vault_document_id"],
            received_at=row["received_at"],
            sha256=row["sha256"],
            size=int(row["size"]),
            metadata=json.loads(row["metadata"]),
            fee_amount=row["fee_amount"],
            fee_currency=row["fee_currency"],
            path=self.data_dir / row["path"],
            provider_code=str(row["provider_code"]),
            opened_at=row.get("opened_at"),
        )

    def open_document(
        self,
        vault_document_id: str,
        providers: Collection[str] | None = None,
        now: datetime | None = None,
    ) -> StoredDocument | None:
        """The patient opens the document (the simulator): the first opening is kept.

        None, as :meth:`get`, when the id is unknown or belongs to another provider.
        """
        if self.get(vault_document_id, providers) is None:
            return None
        self._rows.mark_opened(vault_document_id, format_rfc3339(now or datetime.now(UTC)))
        return self.get(vault_document_id, providers)

    def count_documents(self) -> int:
        return self._rows.count_documents()

    def billing_activity(self, quarter: str, provider_code: str) -> BillingActivity:
        """The fee records of one provider in one quarter, oldest first, with their total."""
        if parse_quarter(quarter) is None:
            raise ValueError(f"not a quarter: {quarter!r}")
        records = self._rows.fees(quarter, provider_code)
        total = sum((Decimal(r["amount"]) for r in records), Decimal("0"))
        return BillingActivity(
            quarter=quarter, provider_code=provider_code, records=records, total=f"{total:.2f}"
        )

"""The reference vault's storage engine: PDFs on disk, receipts and fees in SQLite.

One implementation serves both the HTTP server and the daemon's in-process
``local`` vault kind, so both behave identically. The module has two halves:
pure decision functions (metadata schema, idempotency-key syntax, fee schedule,
quarters, signature verdict) and :class:`VaultStore`, which does the I/O.

Durability contract: a document's file is written atomically (temp file in the
destination folder, fsync, ``os.replace``, fsync of the folder) *before* its
SQLite row commits, so a committed receipt always points at a complete file. A
crash between the two leaves an orphan file and no receipt; the client retries
with the same idempotency key and gets a fresh, complete record.

Idempotency is enforced by a UNIQUE index in SQLite over (provider code, key),
so concurrent duplicate submissions (threads or processes) can never create two
records or two fees, and one practice cannot squat another practice's keys.

Everything under the data folder is private to the vault's user (folders 0700,
files 0600, set explicitly rather than left to the umask): the database holds
full matricules and names.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import sqlite3
import tempfile
import threading
import uuid
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, BinaryIO

import sqlite_utils
from asn1crypto import x509 as asn1_x509

from . import sigcheck

__all__ = [
    "CURRENCY",
    "DEFAULT_MAX_DOCUMENT_BYTES",
    "DOCUMENT_TYPES",
    "INSURERS",
    "REFERENCE_FEES",
    "BillingActivity",
    "FieldError",
    "Receipt",
    "StoreError",
    "StoredDocument",
    "VaultStore",
    "fee_for",
    "format_rfc3339",
    "is_vault_document_id",
    "parse_quarter",
    "quarter_of",
    "require_idempotency_key",
    "signature_problem",
    "validate_metadata",
]

DEFAULT_MAX_DOCUMENT_BYTES = 256 * 1024 * 1024
CURRENCY = "EUR"
DOCUMENT_TYPES = ("invoice", "prescription", "certificate", "sick-leave-certificate")
INSURERS = ("CNS", "CMFEP", "CMFEC", "EMCFL", "RCAM")

# Reference values so the billing flow can be exercised end to end. They are
# NOT official tariffs of the national eHealth platform.
REFERENCE_FEES: Mapping[str, Decimal] = {
    "invoice": Decimal("0.30"),
    "prescription": Decimal("0.20"),
    "certificate": Decimal("0.20"),
    "sick-leave-certificate": Decimal("0.20"),
}

_CHUNK = 1024 * 1024
_IDEMPOTENCY_KEY_RE = re.compile(r"[A-Za-z0-9._:-]{1,128}")
_DOCUMENT_ID_RE = re.compile(r"[A-Za-z0-9._-]{1,64}")
_MATRICULE_RE = re.compile(r"[0-9]{13}")
_PROVIDER_CODE_RE = re.compile(r"[0-9]{8}")
_SHA256_RE = re.compile(r"[0-9a-fA-F]{64}")
_LANGUAGE_RE = re.compile(r"[a-z]{2}")
_TOTAL_RE = re.compile(r"(0|[1-9][0-9]{0,11})(\.[0-9]{1,2})?")
_QUARTER_RE = re.compile(r"([0-9]{4})Q([1-4])")
_VAULT_ID_RE = re.compile(r"vd_[0-9a-f]{32}")
_MAX_TEXT = 200


# -- errors ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FieldError:
    """One validation failure; ``field`` is a dotted path such as ``patient.matricule``."""

    field: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"field": self.field, "message": self.message}


class StoreError(Exception):
    """A refusal with its HTTP status and stable problem ``code``.

    Messages never echo submitted values: they end up in logs and error files
    on the practice side, and metadata carries the patient's matricule.
    """

    def __init__(
        self,
        status: int,
        code: str,
        title: str,
        detail: str,
        errors: Sequence[FieldError] = (),
    ) -> None:
        super().__init__(f"{code}: {detail}")
        self.status = status
        self.code = code
        self.title = title
        self.detail = detail
        self.errors = list(errors)


def _metadata_invalid(errors: Sequence[FieldError]) -> StoreError:
    names = ", ".join(e.field for e in errors)
    return StoreError(
        422, "metadata-invalid", "Invalid metadata", f"The metadata is invalid: {names}.", errors
    )


# -- pure decisions -------------------------------------------------------------------------------


def require_idempotency_key(key: str | None) -> str:
    """``key`` when it is a well-formed Idempotency-Key, else raise ``idempotency-key-invalid``."""
    if key is not None and _IDEMPOTENCY_KEY_RE.fullmatch(key):
        return key
    raise StoreError(
        400,
        "idempotency-key-invalid",
        "Invalid Idempotency-Key",
        "The Idempotency-Key header is required: 1 to 128 characters of A-Z a-z 0-9 . _ : -.",
        [FieldError("Idempotency-Key", "required; 1-128 characters of [A-Za-z0-9._:-]")],
    )


def is_vault_document_id(value: str) -> bool:
    return _VAULT_ID_RE.fullmatch(value) is not None


def is_matricule(value: str) -> bool:
    return _MATRICULE_RE.fullmatch(value) is not None


def is_provider_code(value: str) -> bool:
    return _PROVIDER_CODE_RE.fullmatch(value) is not None


def fee_for(document_type: str) -> Decimal:
    """The reference fee for one stored document of ``document_type``."""
    return REFERENCE_FEES[document_type]


def format_rfc3339(moment: datetime) -> str:
    """UTC RFC 3339 with milliseconds and ``Z``, e.g. ``2026-11-25T09:15:02.123Z``."""
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def quarter_of(moment: datetime) -> str:
    """The calendar quarter (UTC) that bills a fee recorded at ``moment``, e.g. ``2026Q4``."""
    utc = moment.astimezone(UTC)
    return f"{utc.year:04d}Q{(utc.month - 1) // 3 + 1}"


def parse_quarter(value: str | None) -> str | None:
    """``value`` when it is a quarter like ``2026Q4`` (year 2000-9999), else None."""
    if value is None:
        return None
    m = _QUARTER_RE.fullmatch(value)
    if m is None or int(m.group(1)) < 2000:
        return None
    return value


def _text(value: Any) -> bool:
    return isinstance(value, str) and 0 < len(value) <= _MAX_TEXT


def _key_name(key: Any) -> str:
    """A printable field name for an unknown key (an empty key would name nothing)."""
    return str(key) if key != "" else '""'


def _check_object(
    value: Any,
    path: str,
    required: Sequence[str],
    optional: Sequence[str],
    errors: list[FieldError],
) -> dict[str, Any] | None:
    """The mapping at ``path`` after recording missing and unknown keys, or None if not one."""
    if not isinstance(value, dict):
        errors.append(FieldError(path, "must be an object"))
        return None
    for key in required:
        if key not in value:
            errors.append(FieldError(f"{path}.{key}", "is required"))
    allowed = set(required) | set(optional)
    for key in value:
        if key not in allowed:
            errors.append(FieldError(f"{path}.{_key_name(key)}", "is not part of the schema"))
    return value


def validate_metadata(meta: Any) -> list[FieldError]:
    """Every schema violation in a document's metadata (empty when valid).

    Unknown keys are errors so typos cannot silently drop data; vendors put
    their own data under top-level keys starting with ``x-``.
    """
    if not isinstance(meta, dict):
        return [FieldError("metadata", "must be a JSON object")]
    errors: list[FieldError] = []
    required = ("document_id", "type", "issued_at", "patient", "author", "original_sha256")
    optional = ("submitted_by", "language", "invoice")
    for key in required:
        if key not in meta:
            errors.append(FieldError(key, "is required"))
    for key in meta:
        if key not in required and key not in optional and not str(key).startswith("x-"):
            errors.append(
                FieldError(_key_name(key), "is not part of the schema (prefix custom keys x-)")
            )

    if "document_id" in meta and not (
        isinstance(meta["document_id"], str) and _DOCUMENT_ID_RE.fullmatch(meta["document_id"])
    ):
        errors.append(FieldError("document_id", "must be 1-64 characters of [A-Za-z0-9._-]"))

    doc_type = meta.get("type")
    if "type" in meta and doc_type not in DOCUMENT_TYPES:
        errors.append(FieldError("type", "must be one of " + ", ".join(DOCUMENT_TYPES)))

    if "issued_at" in meta and not _is_offset_datetime(meta["issued_at"]):
        errors.append(FieldError("issued_at", "must be an ISO 8601 date-time with a UTC offset"))

    if "patient" in meta:
        patient = _check_object(
            meta["patient"],
            "patient",
            ("matricule", "insurer"),
            ("last_name", "first_name"),
            errors,
        )
        if patient is not None:
            if "matricule" in patient and not (
                isinstance(patient["matricule"], str) and is_matricule(patient["matricule"])
            ):
                errors.append(FieldError("patient.matricule", "must be a string of 13 digits"))
            if "insurer" in patient and patient["insurer"] not in INSURERS:
                errors.append(
                    FieldError("patient.insurer", "must be one of " + ", ".join(INSURERS))
                )
            for name in ("last_name", "first_name"):
                if name in patient and not _text(patient[name]):
                    errors.append(
                        FieldError(
                            f"patient.{name}", f"must be a string of 1-{_MAX_TEXT} characters"
                        )
                    )

    if "author" in meta:
        author = _check_object(meta["author"], "author", ("provider_code",), (), errors)
        if (
            author is not None
            and "provider_code" in author
            and not (
                isinstance(author["provider_code"], str)
                and is_provider_code(author["provider_code"])
            )
        ):
            errors.append(FieldError("author.provider_code", "must be a string of 8 digits"))

    if "submitted_by" in meta and not _text(meta["submitted_by"]):
        errors.append(FieldError("submitted_by", f"must be a string of 1-{_MAX_TEXT} characters"))
    if "language" in meta and not (
        isinstance(meta["language"], str) and _LANGUAGE_RE.fullmatch(meta["language"])
    ):
        errors.append(FieldError("language", "must be a two-letter lowercase ISO 639-1 code"))

    if doc_type == "invoice" and "invoice" not in meta:
        errors.append(FieldError("invoice", "is required when type is invoice"))
    if "invoice" in meta:
        if doc_type in DOCUMENT_TYPES and doc_type != "invoice":
            errors.append(FieldError("invoice", "is only allowed when type is invoice"))
        invoice = _check_object(
            meta["invoice"], "invoice", ("total", "currency", "paid"), (), errors
        )
        if invoice is not None:
            if "total" in invoice and not (
                isinstance(invoice["total"], str) and _TOTAL_RE.fullmatch(invoice["total"])
            ):
                errors.append(
                    FieldError("invoice.total", "must be a decimal string with at most 2 decimals")
                )
            if "currency" in invoice and invoice["currency"] != CURRENCY:
                errors.append(FieldError("invoice.currency", "must be EUR"))
            if "paid" in invoice and not isinstance(invoice["paid"], bool):
                errors.append(FieldError("invoice.paid", "must be true or false"))

    if "original_sha256" in meta and not (
        isinstance(meta["original_sha256"], str) and _SHA256_RE.fullmatch(meta["original_sha256"])
    ):
        errors.append(FieldError("original_sha256", "must be 64 hexadecimal characters"))
    return errors


def _is_offset_datetime(value: Any) -> bool:
    if not isinstance(value, str) or "T" not in value.upper():
        return False
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return False
    return parsed.tzinfo is not None


def signature_problem(
    intact: bool, valid: bool, entire_file: bool, trusted: bool | None
) -> str | None:
    """Why the last signature is unacceptable, or None when it is acceptable.

    ``trusted`` is None when no trust roots are configured (trust not required).
    """
    if not intact:
        return "the signed bytes were modified after signing"
    if not valid:
        return "the cryptographic signature does not verify"
    if not entire_file:
        return "the signature does not cover the whole file (bytes were added after signing)"
    if trusted is False:
        return "the signer's certificate does not chain to a trusted root"
    return None


# -- signature checking (pyHanko) -----------------------------------------------------------------

_quiet = threading.local()


class _QuietPathBuilding(logging.Filter):
    """Drops pyHanko's chain-of-trust warnings while trust is deliberately not required.

    Without trust roots every signer looks untrusted; logging a traceback per
    upload for that would drown the useful lines.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno > logging.WARNING or not getattr(_quiet, "on", False)


logging.getLogger("pyhanko.sign.validation.generic_cms").addFilter(_QuietPathBuilding())


@contextlib.contextmanager
def _quiet_trust_warnings(enabled: bool) -> Iterator[None]:
    previous = getattr(_quiet, "on", False)
    _quiet.on = enabled
    try:
        yield
    finally:
        _quiet.on = previous


def _signature_error(detail: str) -> StoreError:
    return StoreError(
        422,
        "signature-invalid",
        "Invalid signature",
        f"The PDF signature is not acceptable: {detail}.",
    )


def check_pdf_signature(path: Path, trust_roots: Sequence[asn1_x509.Certificate] | None) -> None:
    """Raise ``pdf-invalid``/``signature-invalid`` unless the file's last signature is sound.

    CPU-bound (hashes the whole file): call it from a worker thread. Without
    trust roots, the direct check of :mod:`.sigcheck` accepts the common shape
    in about a tenth of the time; whatever it cannot prove goes to pyHanko.
    """
    if not trust_roots and sigcheck.verified(path):
        return
    check_with_pyhanko(path, trust_roots)


def check_with_pyhanko(path: Path, trust_roots: Sequence[asn1_x509.Certificate] | None) -> None:
    """pyHanko's full validation of the last signature; its verdict decides every refusal."""
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.validation import validate_pdf_signature, validate_pdf_timestamp
    from pyhanko.sign.validation.status import SignatureCoverageLevel
    from pyhanko_certvalidator import ValidationContext

    with path.open("rb") as fh:
        try:
            reader = PdfFileReader(fh, strict=False)
            signatures = reader.embedded_signatures
        except Exception as exc:  # pyHanko raises many types for damaged files
            raise StoreError(
                422,
                "pdf-invalid",
                "Invalid PDF",
                f"The file cannot be read as a PDF ({type(exc).__name__}).",
            ) from exc
        if not signatures:
            raise _signature_error("the PDF has no embedded signature")
        require_trust = bool(trust_roots)
        vc = ValidationContext(trust_roots=list(trust_roots or ()), allow_fetching=False)
        last = signatures[-1]
        try:
            with _quiet_trust_warnings(not require_trust):
                if last.sig_object_type == "/DocTimeStamp":
                    # PAdES B-LTA ends with a document timestamp; an approval
                    # signature must still exist and be sound underneath it.
                    approvals = [s for s in signatures if s.sig_object_type == "/Sig"]
                    if not approvals:
                        raise _signature_error("the PDF has only document timestamps")
                    inner = validate_pdf_signature(approvals[-1], vc)
                    inner_problem = signature_problem(
                        inner.intact, inner.valid, True, inner.trusted if require_trust else None
                    )
                    if inner_problem:
                        raise _signature_error(inner_problem)
                    ts = validate_pdf_timestamp(last, vc)
                    status: Any = ts
                else:
                    status = validate_pdf_signature(last, vc)
        except StoreError:
            raise
        except Exception as exc:
            raise _signature_error(f"it cannot be validated ({type(exc).__name__})") from exc
    problem = signature_problem(
        bool(status.intact),
        bool(status.valid),
        status.coverage == SignatureCoverageLevel.ENTIRE_FILE,
        bool(status.trusted) if require_trust else None,
    )
    if problem:
        raise _signature_error(problem)


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

    def as_json(self) -> dict[str, Any]:
        return {
            "vault_document_id": self.vault_document_id,
            "state": "stored",
            "received_at": self.received_at,
            "sha256": self.sha256,
            "size": self.size,
            "metadata": self.metadata,
            "fee": {"amount": self.fee_amount, "currency": self.fee_currency},
        }


@dataclass(frozen=True)
class BillingActivity:
    quarter: str
    provider_code: str
    records: list[dict[str, Any]] = field(default_factory=list)
    total: str = "0.00"

    def as_json(self) -> dict[str, Any]:
        return {
            "quarter": self.quarter,
            "provider_code": self.provider_code,
            "records": self.records,
            "total": self.total,
            "currency": CURRENCY,
        }


# -- the store ------------------------------------------------------------------------------------

# 2: idempotency keys are unique per provider code, no longer globally.
_SCHEMA_VERSION = 2
_DIR_MODE = 0o700
_FILE_MODE = 0o600


def _private_dir(path: Path) -> None:
    """Create ``path`` (and parents) and set it to 0700 whatever the umask."""
    path.mkdir(mode=_DIR_MODE, parents=True, exist_ok=True)
    os.chmod(path, _DIR_MODE)


def _private_file(path: Path) -> None:
    """Create ``path`` if absent and set it to 0600 whatever the umask."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, _FILE_MODE)
    try:
        os.fchmod(fd, _FILE_MODE)
    finally:
        os.close(fd)


def _fsync_dir(path: Path) -> None:
    """Persist a directory entry change (POSIX; Windows has no directory fsync)."""
    if os.name == "nt":
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


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
        self._local = threading.local()
        self._conns: list[sqlite3.Connection] = []
        self._conns_lock = threading.Lock()
        _private_dir(self.data_dir)
        _private_dir(self.documents_dir)
        # SQLite gives -wal and -shm the database file's mode, so the file is made first.
        _private_file(self.db_path)
        self._init_schema()
        for suffix in ("-wal", "-shm"):
            sidecar = self.db_path.with_name(self.db_path.name + suffix)
            if sidecar.exists():
                os.chmod(sidecar, _FILE_MODE)

    # -- connections ------------------------------------------------------------------------------

    def _db(self) -> sqlite_utils.Database:
        db: sqlite_utils.Database | None = getattr(self._local, "db", None)
        if db is None:
            # Autocommit mode: transactions are explicit BEGIN IMMEDIATE/COMMIT.
            conn = sqlite3.connect(
                self.db_path, timeout=30.0, isolation_level=None, check_same_thread=False
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
        """Close every thread's connection; the store must not be used afterwards."""
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
            },
            pk="vault_document_id",
            not_null={"idempotency_key", "sha256", "size", "received_at", "metadata", "path"},
            if_not_exists=True,
        )
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
        db.execute(f"PRAGMA user_version = {_SCHEMA_VERSION}")

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
            raise _metadata_invalid(errors)
        provider_code = str(metadata["author"]["provider_code"])

        vault_document_id = "vd_" + uuid.uuid4().hex
        final = self.document_path(vault_document_id)
        folder = final.parent
        if not folder.is_dir():
            _private_dir(folder)
            _fsync_dir(folder.parent)
        tmp_path: Path | None = None
        placed = False
        try:
            tmp_path, sha256, size = self._stage(pdf, folder)

            existing = self._by_key(provider_code, idempotency_key)
            if existing is not None:
                return self._replay(existing, sha256)
            if patient_opted_out:
                raise StoreError(
                    422,
                    "patient-opted-out",
                    "Patient opted out",
                    "The patient has opted out of the digital vault (status red); "
                    "deliver this document on paper.",
                )
            check_pdf_signature(tmp_path, self.trust_roots)

            os.replace(tmp_path, final)
            tmp_path = None
            placed = True
            _fsync_dir(folder)

            now = datetime.now(UTC)
            received_at = format_rfc3339(now)
            doc_type = str(metadata["type"])
            fee = f"{fee_for(doc_type):.2f}"
            try:
                self._insert(
                    vault_document_id=vault_document_id,
                    idempotency_key=idempotency_key,
                    sha256=sha256,
                    size=size,
                    received_at=received_at,
                    quarter=quarter_of(now),
                    provider_code=provider_code,
                    doc_type=doc_type,
                    metadata=metadata,
                    fee=fee,
                )
            except sqlite3.IntegrityError:
                # A concurrent submission with the same key committed first.
                winner = self._by_key(provider_code, idempotency_key)
                if winner is None:
                    raise
                return self._replay(winner, sha256)
            placed = False  # committed: the file now belongs to the row
            return Receipt(
                vault_document_id=vault_document_id,
                received_at=received_at,
                sha256=sha256,
                fee_amount=fee,
                fee_currency=CURRENCY,
                idempotency_key=idempotency_key,
                replayed=False,
            )
        finally:
            if tmp_path is not None:
                tmp_path.unlink(missing_ok=True)
            if placed:
                final.unlink(missing_ok=True)

    def _stage(self, pdf: BinaryIO, folder: Path) -> tuple[Path, str, int]:
        """Copy ``pdf`` to a durable temp file in ``folder``, hashing and bounding it."""
        digest = hashlib.sha256()
        size = 0
        fd, name = tempfile.mkstemp(prefix=".incoming-", suffix=".part", dir=folder)
        tmp = Path(name)
        try:
            with os.fdopen(fd, "wb") as out:
                while chunk := pdf.read(_CHUNK):
                    size += len(chunk)
                    if size > self.max_document_bytes:
                        raise StoreError(
                            413,
                            "too-large",
                            "Document too large",
                            f"The document exceeds the limit of {self.max_document_bytes} bytes.",
                        )
                    digest.update(chunk)
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return tmp, digest.hexdigest(), size

    def _replay(self, row: Mapping[str, Any], sha256: str) -> Receipt:
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

    def _insert(
        self,
        *,
        vault_document_id: str,
        idempotency_key: str,
        sha256: str,
        size: int,
        received_at: str,
        quarter: str,
        provider_code: str,
        doc_type: str,
        metadata: Mapping[str, Any],
        fee: str,
    ) -> None:
        """Document row and fee record in one transaction: no fee without a receipt."""
        conn = self._db().conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.execute(
                "INSERT INTO documents (vault_document_id, idempotency_key, sha256, size,"
                " received_at, provider_code, type, metadata, fee_amount, fee_currency, path)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    vault_document_id,
                    idempotency_key,
                    sha256,
                    size,
                    received_at,
                    provider_code,
                    doc_type,
                    json.dumps(dict(metadata), ensure_ascii=False, separators=(",", ":")),
                    fee,
                    CURRENCY,
                    self._relative_path(vault_document_id),
                ),
            )
            conn.execute(
                "INSERT INTO fees (provider_code, vault_document_id, type, amount, currency,"
                " recorded_at, quarter) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (provider_code, vault_document_id, doc_type, fee, CURRENCY, received_at, quarter),
            )
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def _by_key(self, provider_code: str, idempotency_key: str) -> dict[str, Any] | None:
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
        rows = list(
            self._db()
            .table("documents")
            .rows_where("vault_document_id = ?", [vault_document_id], limit=1)
        )
        if not rows or (providers is not None and rows[0]["provider_code"] not in providers):
            return None
        row = rows[0]
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
        )

    def count_documents(self) -> int:
        return self._db().table("documents").count

    def billing_activity(self, quarter: str, provider_code: str) -> BillingActivity:
        """The fee records of one provider in one quarter, oldest first, with their total."""
        if parse_quarter(quarter) is None:
            raise ValueError(f"not a quarter: {quarter!r}")
        rows = self._db().query(
            "SELECT provider_code, vault_document_id, type, amount, currency, recorded_at,"
            " quarter FROM fees WHERE quarter = ? AND provider_code = ? ORDER BY id",
            [quarter, provider_code],
        )
        records = [dict(r) for r in rows]
        total = sum((Decimal(r["amount"]) for r in records), Decimal("0"))
        return BillingActivity(
            quarter=quarter, provider_code=provider_code, records=records, total=f"{total:.2f}"
        )

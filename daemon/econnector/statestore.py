"""The state store: one SQLite database (WAL) with a row per drop and its history.

A *drop* is one claimed PDF + sidecar pair. Its row says where it is in the
state machine (:mod:`econnector.states`) and holds everything needed to resume
after a crash: the validated metadata, hashes, the vault's answer. Every
transition is appended to ``transitions`` with its time.

``synchronous=NORMAL`` (WAL): a commit is safe against a process crash at
once and against a power cut from the next checkpoint on. That is enough
because no step depends on a commit surviving a power cut: every step is
idempotent, and what must not be redone differently is fsynced on its own
(the signed bytes in ``work/signed/<idempotency key>.pdf`` are reused, never
re-signed; the vault replays an upload with the same key). Losing the last
commits on a power cut therefore repeats work, never sends twice. FULL would
add one WAL fsync per transition, several per document.
The database is the daemon's private file under ``work/``; it holds patient
metadata because resuming needs it, and is never shown to vendors.
"""

from __future__ import annotations

import dataclasses
import json
import sqlite3
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NotRequired, TypedDict

import sqlite_utils

from . import filemodes, sqlitedb
from .names import from_db, to_db
from .states import ACTIVE, Event, State, next_state

# -- the schema's versions (sqlitedb.migrate) -----------------------------------------
# Version 1 is the first release's schema, as sqlite-utils wrote it (IF NOT EXISTS: a
# file that crashed while being created is completed). Versions 2 and 3 add what later
# releases added in place under version 1, by ALTER TABLE when a file lacked it: a
# version-1 file may already have those columns, so the steps add only what is missing.
_V1 = """
CREATE TABLE IF NOT EXISTS "drops" (
   "id" INTEGER PRIMARY KEY,
   "stem" TEXT NOT NULL,
   "pdf_name" TEXT NOT NULL,
   "sidecar_name" TEXT NOT NULL,
   "state" TEXT NOT NULL,
   "pdf_stat" TEXT,
   "reason" TEXT,
   "message" TEXT,
   "attempts" INTEGER NOT NULL DEFAULT 0,
   "next_attempt_at" REAL,
   "provider_code" TEXT,
   "document_id" TEXT,
   "doc_key" TEXT,
   "content_hash" TEXT,
   "original_sha256" TEXT,
   "meta" TEXT,
   "language" TEXT,
   "signed_sha256" TEXT,
   "signature" TEXT,
   "signed_at" TEXT,
   "delivery" TEXT,
   "delivered_at" TEXT,
   "error" TEXT,
   "duplicate_of" INTEGER,
   "signed_archive" TEXT,
   "receipt" TEXT,
   "finalized_at" REAL,
   "created_at" REAL NOT NULL,
   "updated_at" REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS "idx_drops_doc_key" ON "drops" ("doc_key");
CREATE INDEX IF NOT EXISTS "idx_drops_state" ON "drops" ("state");
CREATE INDEX IF NOT EXISTS "idx_drops_finalized_at" ON "drops" ("finalized_at");
CREATE TABLE IF NOT EXISTS "transitions" (
   "id" INTEGER PRIMARY KEY,
   "drop_id" INTEGER REFERENCES "drops"("id"),
   "from_state" TEXT,
   "to_state" TEXT,
   "event" TEXT,
   "at" REAL,
   "detail" TEXT
);
CREATE INDEX IF NOT EXISTS "idx_transitions_drop_id" ON "transitions" ("drop_id");
"""


def _v2(conn: sqlite3.Connection) -> None:
    """Issue 8: the sidecar's identity at claim."""
    sqlitedb.add_columns(conn, "drops", ["sidecar_stat"])


def _v3(conn: sqlite3.Connection) -> None:
    """Issue 12: the patient's status, the invoice QR code, the follow-up; the cache
    of the patients' statuses."""
    sqlitedb.add_columns(conn, "drops", ["patient_status", "invoice_qr", "followup"])
    conn.execute("CREATE TABLE IF NOT EXISTS patient_status (matricule TEXT PRIMARY KEY,"
                 " status TEXT NOT NULL, checked_at REAL NOT NULL)")


SCHEMA = sqlitedb.Schema("state store", ((1, _V1), (2, _v2), (3, _v3)))
SCHEMA_VERSION = SCHEMA.version

# -- the JSON columns, typed ------------------------------------------------------
# TypedDicts: stored as the same JSON as before (old databases load unchanged), and
# mypy checks every key read.

# The validated sidecar as the vault receives it (contract.DocumentMeta.canonical):
# open-ended, as the vault allows top-level ``x-`` extensions.
Meta = dict[str, Any]


class FileStat(TypedDict):
    """A file's identity when the claim judged it settled (``pdf_stat``,
    ``sidecar_stat``); the sidecar's also holds the hash of what was validated."""

    size: int
    mtime_ns: int
    ino: int
    dev: int
    sha256: NotRequired[str]


class Signature(TypedDict):
    level: str  # the level the self-check found (PAdES-B-B ... PAdES-B-LTA)
    subfilter: str
    signer_subject: str
    certificate_serial: str
    digest_algorithm: str
    # The self-check before upload (issue 11); absent in rows written before it.
    validation: NotRequired[dict[str, Any]]


class Delivery(TypedDict):
    """The vault's answer to the upload (a row rebuilt from a receipt knows only the
    id and the fee)."""

    vault_document_id: str
    fee_amount: str
    fee_currency: str
    received_at: NotRequired[str]
    sha256: NotRequired[str]
    replayed: NotRequired[bool]


class ErrorRecord(TypedDict):
    """Why a drop was refused (errors.EconnectorError.as_dict): ``params`` render it
    again in the staff's language; records older than params carry English text."""

    code: str
    message: str
    hint: str
    params: NotRequired[dict[str, Any]]
    field: NotRequired[str]


class Fee(TypedDict):
    amount: str
    currency: str


class MaskedPatient(TypedDict):
    matricule_masked: str
    insurer: str


class PatientStatus(TypedDict):
    """The digital status that decided this drop (``green``, ``blue``, ``red``), when the
    vault said so (ISO time), and whether it came from the cache."""

    status: str
    checked_at: str


class InvoiceQr(TypedDict):
    """The QR code on an invoice (docs/invoice-qr.md): its reference and full payload."""

    reference: str
    payload: str


class Receipt(TypedDict):
    """``<stem>.receipt.json`` (receipts.receipt_doc), kept to write it again."""

    schema: str
    document_id: str
    type: str
    provider_code: str
    submitted_by: str | None
    patient: MaskedPatient
    vault_document_id: str
    signed_at: str
    delivered_at: str
    signature: Signature
    original_sha256: str
    signed_sha256: str
    fee: Fee
    # Issue 12: the status that decided the delivery, the invoice's QR code, the
    # assistant's name from their grant.
    patient_status: NotRequired[PatientStatus]
    invoice_qr: NotRequired[InvoiceQr]
    submitted_by_name: NotRequired[str]
    node: NotRequired[str]  # the PC that delivered it (several on one shared outbox)


class Followup(TypedDict):
    """What the vault last said about a delivered document (followup.py)."""

    checked_at: float
    opened_at: NotRequired[str | None]


@dataclass(frozen=True, slots=True)
class Drop:
    id: int
    stem: str
    pdf_name: str
    sidecar_name: str
    state: State
    pdf_stat: FileStat | None
    sidecar_stat: FileStat | None
    reason: str | None
    message: str | None
    attempts: int
    next_attempt_at: float | None
    provider_code: str | None
    document_id: str | None
    doc_key: str | None
    content_hash: str | None
    original_sha256: str | None
    meta: Meta | None
    language: str | None
    signed_sha256: str | None
    signature: Signature | None
    signed_at: str | None
    delivery: Delivery | None
    delivered_at: str | None
    error: ErrorRecord | None
    duplicate_of: int | None
    signed_archive: str | None
    receipt: Receipt | None
    finalized_at: float | None
    created_at: float
    updated_at: float
    # Issue 12 (absent in older rows): the patient's digital status that decided the
    # delivery, the invoice QR code placed before signing, what the vault says
    # happened after delivery.
    patient_status: PatientStatus | None = None
    invoice_qr: InvoiceQr | None = None
    followup: Followup | None = None

    @property
    def signed(self) -> bool:
        return self.signed_sha256 is not None


_COLUMNS = frozenset(Drop.__dataclass_fields__)
CACHE_SIZE = 512  # more than the claimed drops (256 at most)
_JSON_COLS = ("meta", "signature", "delivery", "error", "pdf_stat", "sidecar_stat", "receipt",
              "patient_status", "invoice_qr", "followup")


def _row_to_drop(row: dict[str, Any]) -> Drop:
    d = dict(row)
    for c in _JSON_COLS:
        d[c] = json.loads(d[c]) if d[c] else None
    d["state"] = State(d["state"])
    d["pdf_name"], d["sidecar_name"] = from_db(d["pdf_name"]), from_db(d["sidecar_name"])
    return Drop(**d)


class Store:
    def __init__(self, path: Path) -> None:
        filemodes.ensure_dir(path.parent)
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        conn.row_factory = sqlite3.Row
        # A file from a newer release is refused before anything is written to it.
        sqlitedb.refuse_newer(conn, path, SCHEMA)
        self.conn = conn
        self.db = sqlite_utils.Database(conn)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.execute("PRAGMA busy_timeout=5000")
        # The drops being worked on, as last written: this process is the only
        # writer, so a write-through cache is exact, and ``get`` (several per
        # document per step) no longer re-reads and re-decodes the row. Bounded,
        # so a backlog of thousands does not sit in memory twice.
        self._cache: OrderedDict[int, Drop] = OrderedDict()
        # The id of the transition this process committed last: what the listeners,
        # called right after the commit, record it under (the audit trail).
        self.last_transition_id: int | None = None
        self.fresh = "drops" not in self.db.table_names()
        sqlitedb.migrate(conn, path, SCHEMA)

    def integrity_ok(self) -> bool:
        return self.db.execute("PRAGMA quick_check").fetchone()[0] == "ok"

    # -- writes ------------------------------------------------------------
    # The hot paths use plain SQL on the connection: sqlite-utils' Table.get and
    # Table.update re-read the table's schema on every call, which cost more than
    # all the rest of the store (docs/performance.md). The schema is plain SQL too
    # (SCHEMA, its versions).
    def _insert(self, table: str, row: dict[str, Any]) -> int:
        cols = ", ".join(row)
        marks = ", ".join("?" for _ in row)
        cur = self.conn.execute(f"INSERT INTO {table} ({cols}) VALUES ({marks})",
                                list(row.values()))
        return int(cur.lastrowid or 0)

    def create(
        self, stem: str, pdf_name: str, sidecar_name: str, pdf_stat: FileStat | None,
        now: float, sidecar_stat: FileStat | None = None,
    ) -> Drop:
        """Claim a pair. ``stem`` must be an output stem (names.out_stem); the file
        names may be anything the file system allows (stored reversibly)."""
        with self.conn:
            self.conn.execute("BEGIN IMMEDIATE")
            drop_id = self._insert("drops", {
                "stem": stem, "pdf_name": to_db(pdf_name), "sidecar_name": to_db(sidecar_name),
                "state": State.RECEIVED.value, "attempts": 0,
                "pdf_stat": json.dumps(pdf_stat) if pdf_stat is not None else None,
                "sidecar_stat": json.dumps(sidecar_stat) if sidecar_stat is not None else None,
                "created_at": now, "updated_at": now})
            self.last_transition_id = self._insert("transitions", {
                "drop_id": drop_id, "from_state": None, "to_state": State.RECEIVED.value,
                "event": Event.CLAIM.value, "at": now, "detail": stem})
        return self.get(drop_id)

    def update(self, drop_id: int, now: float, **fields: Any) -> Drop:
        before = self.get(drop_id)
        with self.conn:
            self._update(drop_id, now, fields)
        return self._remember(dataclasses.replace(before, **fields, updated_at=now))

    def _update(self, drop_id: int, now: float, fields: dict[str, Any]) -> None:
        row: dict[str, Any] = {"updated_at": now}
        for k, v in fields.items():
            if k not in _COLUMNS:
                raise KeyError(f"no column {k}")
            row[k] = json.dumps(v, sort_keys=True) if k in _JSON_COLS and v is not None else v
            if isinstance(v, State):
                row[k] = v.value
        sets = ", ".join(f"{k} = ?" for k in row)
        self.conn.execute(f"UPDATE drops SET {sets} WHERE id = ?", [*row.values(), drop_id])

    def _remember(self, d: Drop) -> Drop:
        self._cache[d.id] = d
        self._cache.move_to_end(d.id)
        while len(self._cache) > CACHE_SIZE:
            self._cache.popitem(last=False)
        return d

    def transition(
        self, drop_id: int, event: Event, now: float, detail: str | None = None, **fields: Any
    ) -> Drop:
        """Apply ``event`` (validated against the pure table) and ``fields`` atomically."""
        with self.conn:
            self.conn.execute("BEGIN IMMEDIATE")
            before = self.get(drop_id)  # exact: this process is the only writer
            cur_state = before.state
            signed = fields.get("signed_sha256", before.signed_sha256) is not None
            new = next_state(cur_state, event, signed=signed)
            self._update(drop_id, now, {**fields, "state": new})
            self.last_transition_id = self._insert("transitions", {
                "drop_id": drop_id, "from_state": cur_state.value, "to_state": new.value,
                "event": event.value, "at": now, "detail": detail})
        return self._remember(dataclasses.replace(before, **fields, state=new, updated_at=now))

    def import_delivered(self, stem: str, receipt: Receipt, now: float,
                         signed_archive: str | None) -> Drop:
        """Record a delivery known only from its receipt (rebuilding a lost database)."""
        with self.db.conn:
            self.db.execute("BEGIN IMMEDIATE")
            table = self.db.table("drops")
            table.insert({
                "stem": stem, "pdf_name": f"{stem}.pdf", "sidecar_name": "",
                "state": State.DELIVERED.value, "attempts": 0,
                "provider_code": receipt["provider_code"],
                "document_id": receipt["document_id"],
                "doc_key": f"{receipt['provider_code']}/{receipt['document_id']}",
                "original_sha256": receipt["original_sha256"],
                "signed_sha256": receipt["signed_sha256"],
                "signature": json.dumps(receipt["signature"], sort_keys=True),
                "signed_at": receipt["signed_at"], "delivered_at": receipt["delivered_at"],
                "delivery": json.dumps({
                    "vault_document_id": receipt["vault_document_id"],
                    "fee_amount": receipt["fee"]["amount"],
                    "fee_currency": receipt["fee"]["currency"],
                }, sort_keys=True),
                "receipt": json.dumps(receipt, sort_keys=True),
                "signed_archive": signed_archive,
                "created_at": now, "updated_at": now, "finalized_at": now,
            })
            drop_id = table.last_pk
            self.db.table("transitions").insert(
                {"drop_id": drop_id, "from_state": None, "to_state": State.DELIVERED.value,
                 "event": "rebuilt-from-receipt", "at": now, "detail": stem}
            )
        return self.get(int(drop_id))  # type: ignore[arg-type]

    # -- reads -------------------------------------------------------------
    def get(self, drop_id: int) -> Drop:
        cached = self._cache.get(drop_id)
        if cached is not None:
            return cached
        row = self.conn.execute("SELECT * FROM drops WHERE id = ?", [drop_id]).fetchone()
        if row is None:
            raise KeyError(drop_id)
        return self._remember(_row_to_drop(dict(row)))

    def _query(
        self, where: str, params: Iterable[Any] = (), order: str = "id", limit: int | None = None
    ) -> Iterator[Drop]:
        sql = f"SELECT * FROM drops WHERE {where} ORDER BY {order}"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        for row in self.conn.execute(sql, list(params)).fetchall():
            yield _row_to_drop(dict(row))

    def unfinished(self) -> list[Drop]:
        """Drops that need work: active ones, and terminal ones not yet finalized."""
        states = ",".join(f"'{s.value}'" for s in ACTIVE)
        return list(self._query(f"state IN ({states}) OR finalized_at IS NULL"))

    def by_doc_key(self, doc_key: str) -> list[Drop]:
        return list(self._query("doc_key = ?", [doc_key]))

    def latest(self, limit: int = 50) -> list[Drop]:
        return list(self._query("1=1", order="updated_at DESC, id DESC", limit=limit))

    def waiting(self, limit: int = 50) -> list[Drop]:
        """Documents that wait (``waiting-retry``) or are held for a person, oldest first
        (for ``econnector status``)."""
        return list(self._query("state IN (?, ?)", [State.WAITING_RETRY.value,
                                                     State.HELD.value],
                                order="updated_at, id", limit=limit))

    def counts(self) -> dict[str, int]:
        return {
            r[0]: r[1]
            for r in self.db.execute("SELECT state, COUNT(*) FROM drops GROUP BY state")
        }

    def followup_due(self, delivered_after: str, checked_before: float,
                     limit: int) -> list[Drop]:
        """Delivered drops since ``delivered_after`` (ISO, like ``delivered_at``) the
        patient has not opened yet, last asked about before ``checked_before`` (never
        asked first, then the longest ago)."""
        return list(self._query(
            "state = ? AND delivered_at >= ? AND delivery IS NOT NULL"
            " AND json_extract(coalesce(followup, '{}'), '$.opened_at') IS NULL"
            " AND coalesce(json_extract(followup, '$.checked_at'), 0) < ?",
            [State.DELIVERED.value, delivered_after, checked_before],
            order="coalesce(json_extract(followup, '$.checked_at'), 0), delivered_at DESC",
            limit=limit))

    def set_followup(self, drop_id: int, followup: Followup) -> Drop:
        """Record what the vault said about a delivered drop (no state change, no
        ``updated_at`` change: the document's own history is unchanged)."""
        before = self.get(drop_id)
        with self.conn:
            self.conn.execute("UPDATE drops SET followup = ? WHERE id = ?",
                              [json.dumps(followup, sort_keys=True), drop_id])
        return self._remember(dataclasses.replace(before, followup=followup))

    def opened_count(self) -> int:
        """Delivered documents the patient has opened (for ``econnector status``)."""
        row = self.conn.execute(
            "SELECT COUNT(*) FROM drops WHERE json_extract(followup, '$.opened_at')"
            " IS NOT NULL").fetchone()
        return int(row[0])

    # -- the patients' digital status (a cache of the vault's answers) ---------
    def cached_status(self, matricule: str) -> tuple[str, float] | None:
        row = self.conn.execute("SELECT status, checked_at FROM patient_status"
                                " WHERE matricule = ?", [matricule]).fetchone()
        return (str(row[0]), float(row[1])) if row is not None else None

    def cache_status(self, matricule: str, status: str, checked_at: float) -> None:
        with self.conn:
            self.conn.execute("INSERT OR REPLACE INTO patient_status (matricule, status,"
                              " checked_at) VALUES (?, ?, ?)", [matricule, status, checked_at])

    def history(self, drop_id: int) -> list[dict[str, Any]]:
        rows = self.conn.execute(
            "SELECT * FROM transitions WHERE drop_id = ? ORDER BY id", [drop_id]).fetchall()
        return [dict(r) for r in rows]

    def close(self) -> None:
        self.db.conn.close()

"""The fee ledger: the fee the vault recorded for each delivered document, and the
quarterly statement's grouping and reconciliation with the vault's billing (docs/fees.md).

One SQLite file, ``work/ledger.sqlite``, private like the state store and apart from it:
the state store is the daemon's working memory (a lost one is rebuilt from receipts), the
ledger is the practice's record of what it owes. One row per vault document id: the vault
bills a document once, however often it was dropped (an identical re-drop is replayed
with the first delivery's id, an upload the vault had already taken answers with the
first receipt), so ``INSERT OR IGNORE`` on that id never counts a document twice.

The daemon fills it from its transitions (:class:`LedgerListener`, after the state
store's commit); :func:`catch_up` records what a crash between the two commits left out.
The quarter is computed as the vault computes it (``econnector_vault.billing.quarter_of``:
the calendar quarter in UTC of the moment the vault received the document), so the
statement and the vault's ``GET /v1/billing/activity`` cover the same documents. Patient
identifiers are never in the ledger: the insurer is, not the patient.

Grouping (:func:`summarize`) and reconciliation (:func:`reconcile`) are pure.
"""

from __future__ import annotations

import datetime as dt
import re
import sqlite3
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import structlog

from .sqlitedb import Schema, connect_private
from .states import State

if TYPE_CHECKING:
    from .config import Config
    from .states import Event
    from .statestore import Drop, Store

log = structlog.get_logger("econnector.ledger")

FILE_NAME = "ledger.sqlite"
NONE = "-"  # the summary's key for what a document does not say (no ``submitted_by``)
CENT = Decimal("0.01")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS fees (
    vault_document_id TEXT PRIMARY KEY, provider_code TEXT NOT NULL, document_id TEXT,
    type TEXT, insurer TEXT, submitted_by TEXT, amount TEXT NOT NULL, currency TEXT NOT NULL,
    recorded_at TEXT NOT NULL, quarter TEXT NOT NULL, drop_id INTEGER);
CREATE INDEX IF NOT EXISTS fees_quarter_provider ON fees (quarter, provider_code);
"""
# The ledger's versions (sqlitedb.migrate): 1 is the schema above.
SCHEMA = Schema("fee ledger", ((1, _SCHEMA),))
_COLS = ("vault_document_id", "provider_code", "document_id", "type", "insurer",
         "submitted_by", "amount", "currency", "recorded_at", "quarter", "drop_id")
_QUARTER_RE = re.compile(r"([0-9]{4})Q([1-4])")


def ledger_path(cfg: Config) -> Path:
    return cfg.folders.work / FILE_NAME


# -- time and quarters (pure) --------------------------------------------------------------


def parse_time(text: str) -> dt.datetime | None:
    """An ISO 8601 / RFC 3339 time as an aware UTC datetime; a time without an offset is
    UTC (the vault and the receipts always write ``Z``); None when unreadable."""
    try:
        moment = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00")
                                           .replace("z", "+00:00"))
    except (ValueError, AttributeError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(dt.UTC)


def utc_text(moment: dt.datetime) -> str:
    """UTC with milliseconds and ``Z``, as the vault writes ``received_at``."""
    utc = moment.astimezone(dt.UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def quarter_of(moment: dt.datetime) -> str:
    """The calendar quarter (UTC) that bills a fee recorded at ``moment``, e.g. ``2026Q4``:
    the vault's own rule (econnector_vault.billing.quarter_of)."""
    utc = moment.astimezone(dt.UTC)
    return f"{utc.year:04d}Q{(utc.month - 1) // 3 + 1}"


def parse_quarter(value: str | None) -> str | None:
    """``value`` when it is a quarter like ``2026Q4`` (year 2000-9999, as the vault
    accepts), else None."""
    if value is None:
        return None
    m = _QUARTER_RE.fullmatch(value)
    if m is None or int(m.group(1)) < 2000:
        return None
    return value


def current_quarter(now: dt.datetime | None = None) -> str:
    return quarter_of(now or dt.datetime.now(dt.UTC))


def decimal_of(text: object) -> Decimal | None:
    """A fee amount as a finite Decimal, else None (never a float: money)."""
    try:
        value = Decimal(str(text))
    except (InvalidOperation, ValueError):
        return None
    return value if value.is_finite() else None


def money(amount: Decimal) -> str:
    """``0.30``: two decimals, as the vault writes fees."""
    return f"{amount.quantize(CENT):.2f}"


# -- one fee ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Fee:
    """One delivered document's fee, as the vault recorded it."""

    vault_document_id: str
    provider_code: str
    document_id: str | None
    type: str | None
    insurer: str | None
    submitted_by: str | None
    amount: Decimal
    currency: str
    recorded_at: str  # the vault's received_at, UTC (utc_text)
    quarter: str
    drop_id: int | None = None

    def row(self) -> tuple[Any, ...]:
        return (self.vault_document_id, self.provider_code, self.document_id, self.type,
                self.insurer, self.submitted_by, str(self.amount), self.currency,
                self.recorded_at, self.quarter, self.drop_id)


def _fee_from_row(row: Sequence[Any]) -> Fee:
    vid, pc, doc, typ, insurer, by, amount, currency, at, quarter, drop_id = tuple(row)
    value = decimal_of(amount)
    return Fee(str(vid), str(pc), doc, typ, insurer, by,
               value if value is not None else Decimal(0), str(currency), str(at),
               str(quarter), drop_id)


def fee_of(drop: Drop) -> Fee | None:
    """The fee of a delivered drop (pure): the vault's answer in ``drop.delivery``, the
    sidecar's type, insurer and submitter (``drop.meta``; a drop rebuilt from its receipt
    has only the receipt). None when the drop carries no usable fee."""
    dv = drop.delivery
    if drop.state is not State.DELIVERED or dv is None or not drop.provider_code:
        return None
    amount = decimal_of(dv.get("fee_amount"))
    vid = dv.get("vault_document_id")
    if amount is None or not vid:
        return None
    moment = parse_time(dv.get("received_at") or "") or parse_time(drop.delivered_at or "")
    if moment is None:
        return None
    meta: Mapping[str, Any] = drop.meta or {}
    receipt: Mapping[str, Any] = drop.receipt or {}
    patient = meta.get("patient") or receipt.get("patient")
    insurer = patient.get("insurer") if isinstance(patient, Mapping) else None
    submitted = meta.get("submitted_by") if drop.meta is not None else receipt.get(
        "submitted_by")
    return Fee(
        vault_document_id=str(vid), provider_code=drop.provider_code,
        document_id=drop.document_id,
        type=str(meta.get("type") or receipt.get("type") or "") or None,
        insurer=str(insurer) if insurer else None,
        submitted_by=str(submitted) if submitted else None,
        amount=amount, currency=str(dv.get("fee_currency") or ""),
        recorded_at=utc_text(moment), quarter=quarter_of(moment), drop_id=drop.id)


# -- the file -----------------------------------------------------------------------------


class Ledger:
    """``work/ledger.sqlite``: appends (once per vault document) and queries."""

    def __init__(self, path: Path) -> None:
        self.path = path
        conn = connect_private(path, SCHEMA)
        self.conn = conn
        self._lock = threading.Lock()  # one connection, from the loop and from threads

    def close(self) -> None:
        self.conn.close()

    def record(self, fee: Fee) -> bool:
        """Record ``fee``; False when the ledger already has its vault document."""
        return self.record_all([fee]) == 1

    def record_all(self, fees: Iterable[Fee]) -> int:
        """Record ``fees`` in one transaction; how many were new."""
        marks = ", ".join("?" for _ in _COLS)
        added = 0
        with self._lock, self.conn:
            self.conn.execute("BEGIN IMMEDIATE")
            for fee in fees:
                cur = self.conn.execute(
                    f"INSERT OR IGNORE INTO fees ({', '.join(_COLS)}) VALUES ({marks})",
                    fee.row())
                added += cur.rowcount
        return added

    def known_ids(self) -> set[str]:
        with self._lock:
            return {str(r[0]) for r in self.conn.execute("SELECT vault_document_id FROM fees")}

    def fees(self, quarter: str, provider_code: str | None = None) -> list[Fee]:
        """The fees of ``quarter`` (of one provider), oldest first."""
        sql = f"SELECT {', '.join(_COLS)} FROM fees WHERE quarter = ?"
        params: list[Any] = [quarter]
        if provider_code is not None:
            sql += " AND provider_code = ?"
            params.append(provider_code)
        with self._lock:
            rows = self.conn.execute(sql + " ORDER BY recorded_at, vault_document_id",
                                     params).fetchall()
        return [_fee_from_row(r) for r in rows]


class LedgerListener:
    """Records the fee of each drop that becomes ``delivered`` (confirmed by the vault, or
    replayed: then the first delivery's vault id, already in the ledger, adds nothing).

    A failed write (the disk, a lock held too long) never stops the pipeline: it is
    logged, and the next transition first catches up with the state store."""

    def __init__(self, ledger: Ledger, store: Store) -> None:
        self.ledger = ledger
        self.store = store
        self.behind = False

    def on_transition(self, drop: Drop, old: State | None, event: Event) -> None:
        if drop.state is not State.DELIVERED or old is State.DELIVERED:
            return
        try:
            if self.behind:
                catch_up(self.ledger, self.store)
                self.behind = False
                return
            fee = fee_of(drop)
            if fee is None:
                log.error("ledger-no-fee", drop=drop.id)
                return
            if self.ledger.record(fee):
                log.debug("fee-recorded", drop=drop.id, quarter=fee.quarter)
        except Exception as e:  # never the pipeline's failure; no data in the log line
            self.behind = True
            log.error("ledger-write-failed", drop=drop.id, error=type(e).__name__,
                      detail=str(e)[:120] if isinstance(e, (sqlite3.Error, OSError)) else "")


def catch_up(ledger: Ledger, store: Store) -> int:
    """Record the delivered drops of the state store the ledger lacks (a crash between the
    state commit and the listener, a database rebuilt from receipts); how many were
    added. Run at start, after the store's recovery, before the pipeline."""
    have = ledger.known_ids()
    missing: list[int] = [
        int(r[0]) for r in store.conn.execute(
            "SELECT id, json_extract(delivery, '$.vault_document_id') FROM drops"
            " WHERE state = ? AND delivery IS NOT NULL ORDER BY id",
            [State.DELIVERED.value]).fetchall()
        if r[1] is not None and str(r[1]) not in have]
    fees: dict[str, Fee] = {}
    for drop_id in missing:
        fee = fee_of(store.get(drop_id))
        if fee is not None:
            fees.setdefault(fee.vault_document_id, fee)  # a replay: the first drop's row
    added = ledger.record_all(fees.values()) if fees else 0
    if added:
        log.warning("ledger-caught-up", added=added)
    return added


# -- the statement (pure) -----------------------------------------------------------------


@dataclass(frozen=True)
class Group:
    """One line of a summary table: a key, its documents and fees (per currency)."""

    key: str
    count: int
    totals: dict[str, Decimal]


@dataclass(frozen=True)
class Summary:
    quarter: str
    provider_code: str | None  # None: every doctor
    count: int
    totals: dict[str, Decimal]
    by_doctor: list[Group] = field(default_factory=list)
    by_type: list[Group] = field(default_factory=list)
    by_insurer: list[Group] = field(default_factory=list)
    by_assistant: list[Group] = field(default_factory=list)


def _group(fees: Sequence[Fee], key: Any) -> list[Group]:
    counts: dict[str, int] = {}
    totals: dict[str, dict[str, Decimal]] = {}
    for f in fees:
        k = key(f)
        counts[k] = counts.get(k, 0) + 1
        per = totals.setdefault(k, {})
        per[f.currency] = per.get(f.currency, Decimal(0)) + f.amount
    return [Group(k, counts[k], totals[k]) for k in sorted(counts)]


def summarize(fees: Sequence[Fee], quarter: str, provider_code: str | None = None) -> Summary:
    """Counts and fees by doctor, document type, insurer and assistant (``-`` when the
    sidecar named none), and the totals."""
    total: dict[str, Decimal] = {}
    for f in fees:
        total[f.currency] = total.get(f.currency, Decimal(0)) + f.amount
    return Summary(
        quarter=quarter, provider_code=provider_code, count=len(fees), totals=total,
        by_doctor=_group(fees, lambda f: f.provider_code),
        by_type=_group(fees, lambda f: f.type or NONE),
        by_insurer=_group(fees, lambda f: f.insurer or NONE),
        by_assistant=_group(fees, lambda f: f.submitted_by or NONE))


MismatchKind = Literal["not-billed", "not-in-ledger", "different-fee"]
MISMATCH_KINDS: tuple[MismatchKind, ...] = ("not-billed", "not-in-ledger", "different-fee")


@dataclass(frozen=True)
class Mismatch:
    """A difference between the ledger and the vault's billing for one vault document:
    ``not-billed`` (in the ledger, the vault bills nothing), ``not-in-ledger`` (the vault
    bills a document the ledger does not have), ``different-fee``."""

    kind: MismatchKind
    vault_document_id: str
    provider_code: str
    document_id: str | None
    type: str | None
    recorded_at: str | None
    ledger_amount: str | None  # as text, with the currency beside it
    ledger_currency: str | None
    vault_amount: str | None
    vault_currency: str | None


def reconcile(fees: Sequence[Fee], billed: Sequence[Mapping[str, Any]]) -> list[Mismatch]:
    """Every difference between the ledger's ``fees`` and the vault's billing ``records``
    (``GET /v1/billing/activity``) for the same quarter and doctors, matched by vault
    document id; sorted by doctor, kind and time. Empty when they agree exactly."""
    ours = {f.vault_document_id: f for f in fees}
    theirs: dict[str, Mapping[str, Any]] = {}
    for r in billed:
        theirs.setdefault(str(r.get("vault_document_id")), r)
    out: list[Mismatch] = []
    for vid, f in ours.items():
        mine = theirs.get(vid)
        if mine is None:
            out.append(Mismatch("not-billed", vid, f.provider_code, f.document_id, f.type,
                                f.recorded_at, money(f.amount), f.currency, None, None))
            continue
        amount = decimal_of(mine.get("amount"))
        currency = str(mine.get("currency") or "")
        if amount != f.amount or currency != f.currency:
            out.append(Mismatch("different-fee", vid, f.provider_code, f.document_id, f.type,
                                f.recorded_at, money(f.amount), f.currency,
                                str(mine.get("amount")), currency))
    for vid, r in theirs.items():
        if vid in ours:
            continue
        amount = decimal_of(r.get("amount"))
        out.append(Mismatch(
            "not-in-ledger", vid, str(r.get("provider_code") or ""), None,
            str(r.get("type")) if r.get("type") else None,
            str(r.get("recorded_at")) if r.get("recorded_at") else None, None, None,
            money(amount) if amount is not None else str(r.get("amount")),
            str(r.get("currency") or "")))
    order = {k: i for i, k in enumerate(MISMATCH_KINDS)}
    out.sort(key=lambda m: (m.provider_code, order[m.kind], m.recorded_at or "",
                            m.vault_document_id))
    return out

"""The audit trail: what happened to each document, and who did what, in a log that shows
it when someone edits it afterwards (docs/audit.md).

One SQLite file, ``work/audit.sqlite``, private like the state store, apart from it: the
state store is the daemon's working memory (rows change), the trail only grows. Each
entry holds the hash of the one before it (a hash chain), so an edited, deleted, inserted
or reordered entry breaks the chain where it happened; from time to time the head's hash
is timestamped by the configured TSA (RFC 3161), so even a rewrite of the whole log with
recomputed hashes no longer matches what the TSA signed.

Several processes append (the daemon, the CLI for assistants): an append reads the head
and inserts after it in one ``BEGIN IMMEDIATE`` transaction. The daemon's entries come
from its transitions (:class:`AuditListener`, after the state store's commit);
:func:`catch_up` appends what a crash between the two commits left out. The full patient
matricule is in this protected store only; the export masks it, logs never carry it.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import json
import sqlite3
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import structlog

from . import names
from .matricule import mask, mask_text
from .sqlitedb import Schema, connect_private
from .states import Event, State

if TYPE_CHECKING:
    from .config import Config, Tsa
    from .statestore import Drop, Store

log = structlog.get_logger("econnector.audit")

FILE_NAME = "audit.sqlite"
GENESIS = "0" * 64

# The kinds of entries. From the transitions (AuditListener, catch_up):
CLAIMED = "claimed"  # a pair was claimed from the outbox (only the stem's reference)
RECEIVED = "received"  # its sidecar was read: document, provider, type, submitter, patient
STATE_CHANGED = "state-changed"  # any other transition (waiting, resumed, uploading)
SIGNED = "signed"
DELIVERED = "delivered"
REJECTED = "rejected"
HELD = "held"
RELEASED = "released"
OPTED_OUT = "patient-opted-out"
# Appended by explicit calls:
UNLOCKED = "unlocked"
LOCKED = "locked"
ASSISTANT_ADDED = "assistant-added"
ASSISTANT_REVOKED = "assistant-revoked"
CONFIG_LOADED = "config-loaded"
ANCHOR = "anchor"  # the head was timestamped (anchors table)

_KIND_OF_EVENT = {
    Event.SIGNED.value: SIGNED, Event.CONFIRMED.value: DELIVERED,
    Event.REPLAYED.value: DELIVERED, "rebuilt-from-receipt": DELIVERED,
    Event.REJECT.value: REJECTED, Event.HOLD.value: HELD, Event.RELEASE.value: RELEASED,
    Event.OPTED_OUT.value: OPTED_OUT,
}

Defect = Literal["edited", "deleted", "inserted", "reordered", "anchor-mismatch",
                 "anchor-invalid"]
DEFECTS: tuple[Defect, ...] = ("edited", "deleted", "inserted", "reordered",
                               "anchor-mismatch", "anchor-invalid")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS entries (
    seq INTEGER PRIMARY KEY, at REAL NOT NULL, kind TEXT NOT NULL, drop_id INTEGER,
    transition_id INTEGER, provider_code TEXT, document_id TEXT, data TEXT NOT NULL,
    prev_hash TEXT NOT NULL, hash TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS entries_drop ON entries (drop_id);
CREATE INDEX IF NOT EXISTS entries_document ON entries (document_id);
CREATE INDEX IF NOT EXISTS entries_transition ON entries (transition_id);
CREATE INDEX IF NOT EXISTS entries_at ON entries (at);
CREATE TABLE IF NOT EXISTS anchors (
    seq INTEGER PRIMARY KEY, head_hash TEXT NOT NULL, at REAL NOT NULL,
    token BLOB NOT NULL, tsa_url TEXT NOT NULL, entry_seq INTEGER);
"""
# The trail's versions (sqlitedb.migrate): 1 is the schema above.
SCHEMA = Schema("audit trail", ((1, _SCHEMA),))
_COLS = "seq, at, kind, drop_id, transition_id, provider_code, document_id, data, prev_hash, hash"


def trail_path(cfg: Config) -> Path:
    return cfg.folders.work / FILE_NAME


def canonical(obj: Any) -> str:
    """Compact JSON with sorted keys: one text for one value, what the hashes cover."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False)


def entry_hash(seq: int, at: float, kind: str, drop_id: int | None,
               transition_id: int | None, provider_code: str | None,
               document_id: str | None, data: str, prev_hash: str) -> str:
    """sha256 over every field but the hash itself, ``data`` as its stored text; the
    position (``seq``) and the link (``prev_hash``) are covered, so a row moved
    elsewhere or relinked no longer matches its hash."""
    doc = {"seq": seq, "at": at, "kind": kind, "drop_id": drop_id,
           "transition_id": transition_id, "provider_code": provider_code,
           "document_id": document_id, "data": data, "prev_hash": prev_hash}
    return hashlib.sha256(canonical(doc).encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Record:
    """An entry to append (its position and hashes are given by :meth:`AuditTrail.append_all`)."""

    kind: str
    at: float
    data: dict[str, Any]
    drop_id: int | None = None
    transition_id: int | None = None
    provider_code: str | None = None
    document_id: str | None = None


@dataclass(frozen=True)
class Entry:
    seq: int
    at: float
    kind: str
    drop_id: int | None
    transition_id: int | None
    provider_code: str | None
    document_id: str | None
    data: dict[str, Any]
    prev_hash: str
    hash: str

    def as_json(self) -> dict[str, Any]:
        return {"seq": self.seq, "at": iso(self.at), "kind": self.kind,
                "drop_id": self.drop_id, "transition_id": self.transition_id,
                "provider_code": self.provider_code, "document_id": self.document_id,
                "data": self.data, "prev_hash": self.prev_hash, "hash": self.hash}


def iso(at: float) -> str:
    return dt.datetime.fromtimestamp(at, dt.UTC).isoformat().replace("+00:00", "Z")


def _entry(row: sqlite3.Row | tuple[Any, ...]) -> Entry:
    seq, at, kind, drop_id, tid, pc, doc, data, prev, h = tuple(row)
    try:
        parsed = json.loads(data)
    except (TypeError, ValueError):
        parsed = {"unreadable": str(data)[:200]}
    return Entry(seq, at, kind, drop_id, tid, pc, doc,
                 parsed if isinstance(parsed, dict) else {"value": parsed}, prev, h)


@dataclass(frozen=True)
class Finding:
    """The first defect: the entry it concerns and what happened to it."""

    seq: int
    what: Defect


@dataclass(frozen=True)
class Report:
    entries: int
    anchors: int
    head_seq: int
    last_anchored_at: dt.datetime | None  # the TSA's time of the newest valid anchor
    defect: Finding | None = None

    @property
    def ok(self) -> bool:
        return self.defect is None

    def as_json(self) -> dict[str, Any]:
        return {"ok": self.ok, "entries": self.entries, "anchors": self.anchors,
                "head_seq": self.head_seq,
                "last_anchored_at": (self.last_anchored_at.isoformat().replace("+00:00", "Z")
                                     if self.last_anchored_at else None),
                "defect": ({"seq": self.defect.seq, "what": self.defect.what}
                           if self.defect else None)}


class AuditTrail:
    """The trail's file: appends (chained), queries, and :meth:`verify`."""

    def __init__(self, path: Path) -> None:
        self.path = path
        conn = connect_private(path, SCHEMA)
        self.conn = conn
        # One connection, used from the event loop and from to_thread calls.
        self._lock = threading.Lock()

    def close(self) -> None:
        self.conn.close()

    # -- appending ---------------------------------------------------------------------
    def append(self, kind: str, now: float, *, drop_id: int | None = None,
               transition_id: int | None = None, provider_code: str | None = None,
               document_id: str | None = None, data: dict[str, Any]) -> Entry:
        return self.append_all([Record(kind, now, data, drop_id, transition_id,
                                       provider_code, document_id)])[-1]

    def append_all(self, records: Sequence[Record]) -> list[Entry]:
        """Append ``records`` in order, in one transaction after the current head."""
        out: list[Entry] = []
        if not records:
            return out
        with self._lock, self.conn:
            self.conn.execute("BEGIN IMMEDIATE")
            self._append_locked(records, out)
        return out

    def _append_locked(self, records: Sequence[Record], out: list[Entry]) -> None:
        head = self.conn.execute(
            "SELECT seq, hash FROM entries ORDER BY seq DESC LIMIT 1").fetchone()
        seq, prev = (int(head[0]), str(head[1])) if head else (0, GENESIS)
        for r in records:
            seq += 1
            at = float(r.at)
            data = canonical(r.data)
            h = entry_hash(seq, at, r.kind, r.drop_id, r.transition_id, r.provider_code,
                           r.document_id, data, prev)
            self.conn.execute(
                f"INSERT INTO entries ({_COLS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [seq, at, r.kind, r.drop_id, r.transition_id, r.provider_code,
                 r.document_id, data, prev, h])
            out.append(Entry(seq, at, r.kind, r.drop_id, r.transition_id, r.provider_code,
                             r.document_id, json.loads(data), prev, h))
            prev = h

    # -- reading -----------------------------------------------------------------------
    def head(self) -> Entry | None:
        row = self.conn.execute(
            f"SELECT {_COLS} FROM entries ORDER BY seq DESC LIMIT 1").fetchone()
        return _entry(row) if row else None

    def max_transition_id(self) -> int:
        row = self.conn.execute("SELECT max(transition_id) FROM entries").fetchone()
        return int(row[0] or 0)

    def kinds_of_drop(self, drop_id: int) -> set[str]:
        """The lifecycle entries (claimed, received) a drop already has."""
        rows = self.conn.execute("SELECT DISTINCT kind FROM entries WHERE drop_id = ? AND"
                                 " kind IN (?, ?)", [drop_id, CLAIMED, RECEIVED]).fetchall()
        return {str(r[0]) for r in rows}

    def entries(self, document_id: str | None = None, provider_code: str | None = None,
                since: float | None = None, until: float | None = None) -> list[Entry]:
        """Entries in time order (then append order). With ``document_id``: that
        document's whole trail, including its drops' entries from before the sidecar
        was read (the claim), and any other entry naming it."""
        where: list[str] = []
        params: list[Any] = []
        if document_id is not None:
            sub = "SELECT drop_id FROM entries WHERE document_id = ? AND drop_id IS NOT NULL"
            params += [document_id]
            if provider_code is not None:
                sub += " AND provider_code = ?"
                params.append(provider_code)
            where.append(f"(drop_id IN ({sub}) OR (document_id = ?"
                         + (" AND provider_code = ?" if provider_code is not None else "")
                         + "))")
            params += [document_id] + ([provider_code] if provider_code is not None else [])
        elif provider_code is not None:
            where.append("provider_code = ?")
            params.append(provider_code)
        if since is not None:
            where.append("at >= ?")
            params.append(since)
        if until is not None:
            where.append("at < ?")
            params.append(until)
        sql = f"SELECT {_COLS} FROM entries"
        if where:
            sql += " WHERE " + " AND ".join(where)
        return [_entry(r) for r in self.conn.execute(sql + " ORDER BY at, seq", params)]

    def anchor_state(self) -> tuple[float | None, int]:
        """(when the last anchor was taken, the seq of its own ``anchor`` entry): what
        :func:`anchor_due` compares the head with (an anchor entry alone is not news)."""
        row = self.conn.execute("SELECT at, coalesce(entry_seq, seq) FROM anchors"
                                " ORDER BY seq DESC LIMIT 1").fetchone()
        return (float(row[0]), int(row[1])) if row else (None, 0)

    def _store_anchor(self, head: Entry, token: bytes, tsa_url: str, now: float,
                      gen_time: str | None) -> Entry:
        out: list[Entry] = []
        with self._lock, self.conn:
            self.conn.execute("BEGIN IMMEDIATE")
            self._append_locked([Record(ANCHOR, now, {
                "seq": head.seq, "head_hash": head.hash, "tsa_url": tsa_url,
                "gen_time": gen_time})], out)
            self.conn.execute("INSERT INTO anchors (seq, head_hash, at, token, tsa_url,"
                              " entry_seq) VALUES (?, ?, ?, ?, ?, ?)",
                              [head.seq, head.hash, now, token, tsa_url, out[0].seq])
        return out[0]

    # -- verifying ---------------------------------------------------------------------
    def verify(self, roots: Sequence[bytes] = ()) -> Report:
        """Walk the chain and the anchors; the first defect, by position. ``roots``
        (DER certificates): the anchors' tokens must also chain to them."""
        with self._lock, self.conn:
            self.conn.execute("BEGIN")  # one snapshot of both tables
            rows = [_Row(*tuple(r)) for r in self.conn.execute(
                f"SELECT {_COLS} FROM entries ORDER BY seq")]
            anchors = [tuple(r) for r in self.conn.execute(
                "SELECT seq, head_hash, at, token, tsa_url FROM anchors ORDER BY seq")]
        found = _chain_defect(rows)
        anchor_found, last = _anchor_defect(rows, anchors, roots)
        if anchor_found is not None and (found is None or anchor_found.seq < found.seq):
            found = anchor_found
        return Report(entries=len(rows), anchors=len(anchors),
                      head_seq=rows[-1].seq if rows else 0, last_anchored_at=last,
                      defect=found)


# -- verification ----------------------------------------------------------------------


@dataclass
class _Row:
    seq: int
    at: Any
    kind: Any
    drop_id: Any
    transition_id: Any
    provider_code: Any
    document_id: Any
    data: Any
    prev_hash: Any
    hash: Any
    _own: str | None = field(default=None, repr=False)

    def recomputed(self, seq: int | None = None) -> str:
        """The hash this row's content gives at ``seq`` (default: where it is)."""
        if seq is None and self._own is not None:
            return self._own
        try:
            h = entry_hash(self.seq if seq is None else seq, self.at, self.kind, self.drop_id,
                           self.transition_id, self.provider_code, self.document_id,
                           self.data, self.prev_hash)
        except (TypeError, ValueError):  # a value no entry of ours can hold
            h = ""
        if seq is None:
            self._own = h
        return h


def _chain_defect(rows: list[_Row]) -> Finding | None:
    """The first break of the chain and what most plausibly broke it: every row must sit
    at the next seq, match its own hash, and name its predecessor's hash."""
    where = {r.hash: i for i, r in enumerate(rows)}
    for i, r in enumerate(rows):
        expected_seq = rows[i - 1].seq + 1 if i else 1
        expected_prev = rows[i - 1].hash if i else GENESIS
        if r.seq != expected_seq:
            return Finding(expected_seq, "deleted")  # a gap: the first missing entry
        own = r.recomputed() == r.hash
        links = r.prev_hash == expected_prev
        if own and links:
            continue
        # The hash of the row before the predecessor: a row that names it skips one.
        past = (rows[i - 2].hash if i >= 2 else GENESIS) if i >= 1 else None
        j = where.get(r.prev_hash)  # where the row it names as its predecessor is now
        if own:
            if i + 1 < len(rows) and rows[i + 1].prev_hash == expected_prev:
                return Finding(r.seq, "inserted")  # the next row links past it
            if past is not None and r.prev_hash == past:
                return Finding(rows[i - 1].seq, "inserted")
            if j is not None and j > i:
                return Finding(r.seq, "reordered")
            if j is not None:
                return Finding(r.seq, "inserted")  # well formed, but does not fit here
            # It names a hash no row has: its predecessor was rewritten and rehashed.
            return Finding(rows[i - 1].seq if i else r.seq, "edited")
        if links:
            return Finding(r.seq, "edited")
        if past is not None and r.prev_hash == past:
            return Finding(rows[i - 1].seq, "inserted")  # later rows renumbered up
        if j is not None and j > i:
            return Finding(r.seq, "reordered")
        if r.recomputed(r.seq + 1) == r.hash:
            return Finding(r.seq, "deleted")  # later rows renumbered down
        if j is not None and r.recomputed(rows[j].seq + 1) == r.hash:
            return Finding(r.seq, "reordered")  # an entry moved back from later
        return Finding(r.seq, "edited")
    return None


def _token_parts(token: bytes) -> tuple[Any, str, bytes, dt.datetime]:
    """(SignedData, imprint algorithm, imprint, time) of an RFC 3161 token; ValueError
    for anything else."""
    from asn1crypto import cms, tsp

    try:
        ci = cms.ContentInfo.load(token)
        sd = ci["content"]
        tst = sd["encap_content_info"]["content"].parsed
        if not isinstance(tst, tsp.TSTInfo):
            raise ValueError("not a timestamp token")
        imprint = tst["message_imprint"]
        return (sd, str(imprint["hash_algorithm"]["algorithm"].native),
                bytes(imprint["hashed_message"].native), tst["gen_time"].native)
    except (ValueError, TypeError, KeyError, AttributeError) as e:
        raise ValueError(f"unreadable timestamp token: {e}") from None


def _token_trusted(sd: Any, imprint: bytes, roots: Sequence[bytes],
                   when: dt.datetime) -> bool:
    """The token's signature is intact and its TSA chains to ``roots`` (judged at the
    token's own time: a TSA certificate that expired since does not void old anchors)."""
    from asn1crypto import x509 as asn1_x509
    from pyhanko.sign.validation.generic_cms import validate_tst_signed_data
    from pyhanko.sign.validation.status import TimestampSignatureStatus
    from pyhanko_certvalidator import ValidationContext

    async def check() -> TimestampSignatureStatus:
        vc = ValidationContext(trust_roots=[asn1_x509.Certificate.load(r) for r in roots],
                               moment=when, allow_fetching=False)
        kwargs = await validate_tst_signed_data(sd, vc, lambda _algo: imprint)
        return TimestampSignatureStatus(**kwargs)

    try:
        status = asyncio.run(check())
    except Exception:  # pyHanko's refusals of a bad token are several types
        return False
    return bool(status.intact and status.valid and status.trusted)


def _anchor_defect(rows: list[_Row], anchors: list[tuple[Any, ...]],
                   roots: Sequence[bytes]) -> tuple[Finding | None, dt.datetime | None]:
    """The first anchor that does not hold, and the time of the newest one that does.

    The token is the authority: its message imprint must be the hash that the entry
    now at the anchored seq gives (recomputed, not as stored), so a log rewritten with
    recomputed hashes, or an anchors row edited to match, is caught."""
    by_seq = {r.seq: r for r in rows}
    anchored = {int(a[0]) for a in anchors}
    found: Finding | None = None
    last: dt.datetime | None = None
    for seq, head_hash, _at, token, _url in anchors:
        row = by_seq.get(seq)
        if row is None:
            found = found or Finding(int(seq), "deleted")  # anchored, then removed
            continue
        try:
            sd, algo, imprint, when = _token_parts(bytes(token))
        except (ValueError, TypeError):
            found = found or Finding(row.seq, "anchor-invalid")
            continue
        if algo != "sha256":
            found = found or Finding(row.seq, "anchor-invalid")
            continue
        if imprint != bytes.fromhex(row.recomputed() or "00") or head_hash != row.hash:
            found = found or Finding(row.seq, "anchor-mismatch")
            continue
        if roots and not _token_trusted(sd, imprint, roots, when):
            found = found or Finding(row.seq, "anchor-invalid")
            continue
        last = when if last is None or when > last else last
    # Every anchor the chain records must still be in the anchors table.
    for r in rows:
        if r.kind == ANCHOR and found is None:
            try:
                seq = json.loads(r.data).get("seq")
            except (TypeError, ValueError, AttributeError):
                continue  # an edited entry: the chain says so
            if isinstance(seq, int) and seq not in anchored:
                found = Finding(seq, "anchor-mismatch")
    return found, last


# -- anchoring -------------------------------------------------------------------------


def anchor_due(now: float, last_anchor_at: float | None, head_seq: int, anchored_seq: int,
               every: float) -> bool:
    """Whether to timestamp the head now: something was appended since the last anchor
    (``anchored_seq``: that anchor's own entry) and ``every`` seconds have passed."""
    if every <= 0 or head_seq <= anchored_seq:
        return False
    return last_anchor_at is None or now - last_anchor_at >= every


class AnchorFailed(Exception):
    """The TSA gave no usable timestamp (unreachable, refused, a bad answer, no secret):
    the next round tries again; the entries stay chained meanwhile."""


def _shown_url(url: str) -> str:
    """The TSA's address without any user:password in it."""
    parts = urllib.parse.urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = host + (f":{parts.port}" if parts.port else "")
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc))


async def anchor(trail: AuditTrail, tsa: Tsa, now: float) -> Entry | None:
    """Timestamp the head's hash with the configured TSA (pyHanko's client, basic auth
    when configured) and record it: a row in ``anchors`` and an ``anchor`` entry.
    None when the trail is empty; raises :class:`AnchorFailed`."""
    import aiohttp
    from pyhanko.sign.timestamps import HTTPTimeStamper

    head = trail.head()
    if head is None:
        return None
    try:
        headers = None
        password = tsa.password()
        if tsa.username is not None or password is not None:
            headers = {"Authorization": aiohttp.encode_basic_auth(
                tsa.username or "", (password or b"").decode("utf-8", "replace"))}
        stamper = HTTPTimeStamper(tsa.url, timeout=tsa.timeout, headers=headers)
        token = await stamper.async_timestamp(bytes.fromhex(head.hash), "sha256")
        der = token.dump()
        _, _, imprint, when = _token_parts(der)
    except Exception as e:  # the client's, the secret's and the token's failures alike
        raise AnchorFailed(f"{type(e).__name__}: {str(e)[:160]}") from None
    if imprint != bytes.fromhex(head.hash):
        raise AnchorFailed("the TSA timestamped another digest")
    entry = trail._store_anchor(head, der, _shown_url(tsa.url), now,
                                when.isoformat().replace("+00:00", "Z"))
    log.info("audit-anchored", seq=head.seq)
    return entry


# -- entries from the drops' transitions -----------------------------------------------


def _received_data(d: Drop) -> dict[str, Any]:
    """What the sidecar said (names left out); the full matricule, in this store only."""
    meta = d.meta or {}
    patient = meta.get("patient") or {}
    out: dict[str, Any] = {
        "stem": names.ref(d.stem), "type": meta.get("type"),
        "issued_at": meta.get("issued_at"), "submitted_by": meta.get("submitted_by"),
        "patient": {"matricule": patient.get("matricule"), "insurer": patient.get("insurer")},
        "original_sha256": d.original_sha256,
    }
    if isinstance(meta.get("invoice"), dict):
        out["invoice"] = meta["invoice"]
    return out


def _event_data(kind: str, d: Drop, event: str) -> dict[str, Any]:
    if kind == SIGNED:
        sig: dict[str, Any] = dict(d.signature or {})
        return {"signer_subject": sig.get("signer_subject"),
                "certificate_serial": sig.get("certificate_serial"),
                "level": sig.get("level"), "original_sha256": d.original_sha256,
                "signed_sha256": d.signed_sha256, "signed_at": d.signed_at}
    if kind == DELIVERED:
        dl: dict[str, Any] = dict(d.delivery or {})
        out: dict[str, Any] = {
            "vault_document_id": dl.get("vault_document_id"),
            "fee": {"amount": dl.get("fee_amount"), "currency": dl.get("fee_currency")},
            "replayed": bool(dl.get("replayed")) or event == Event.REPLAYED.value,
            "signed_sha256": d.signed_sha256, "delivered_at": d.delivered_at}
        if d.duplicate_of is not None:
            out["duplicate_of"] = d.duplicate_of
        return out
    if kind == REJECTED:
        err: dict[str, Any] = dict(d.error or {})
        return {"code": err.get("code"), "field": err.get("field")}
    if kind == OPTED_OUT:
        return {"sent": False, "signed_sha256": d.signed_sha256}
    return {}


def transition_records(d: Drop, old: str | None, new: str, event: str, at: float,
                       transition_id: int | None, reason: str | None,
                       have: set[str]) -> list[Record]:
    """The entries one transition of ``d`` adds; ``have``: the lifecycle kinds the drop
    already has in the trail (updated here). A claim gives ``claimed``; the first
    transition after the sidecar was read also gives ``received``."""
    cols: dict[str, Any] = {"drop_id": d.id, "transition_id": transition_id,
                            "provider_code": d.provider_code, "document_id": d.document_id}
    out: list[Record] = []
    if CLAIMED not in have:  # a pair refused at intake is heard only as its reject
        out.append(Record(CLAIMED, d.created_at, {"stem": names.ref(d.stem)}, d.id,
                          transition_id if event == Event.CLAIM.value else None))
        have.add(CLAIMED)
    if event == Event.CLAIM.value:
        return out
    if RECEIVED not in have and d.meta is not None:
        out.append(Record(RECEIVED, at, _received_data(d), **{**cols, "transition_id": None}))
        have.add(RECEIVED)
    kind = _KIND_OF_EVENT.get(event, STATE_CHANGED)
    data = {"from": old, "to": new, "event": event, "reason": reason,
            **_event_data(kind, d, event)}
    out.append(Record(kind, at, data, **cols))
    return out


class AuditListener:
    """Appends each transition's entries once the state store committed it (one
    transaction, on the event loop: a few indexed reads and inserts).

    A failed append (the disk, a lock held too long) never stops the pipeline: it is
    logged, and the next transition first catches up with everything since."""

    def __init__(self, trail: AuditTrail, store: Store) -> None:
        self.trail = trail
        self.store = store
        self.behind = False

    def on_transition(self, drop: Drop, old: State | None, event: Event) -> None:
        try:
            if self.behind:
                catch_up(self.trail, self.store, drop.updated_at)
                self.behind = False
                return
            tid = self.store.last_transition_id  # committed just before this call
            at = drop.created_at if event is Event.CLAIM else drop.updated_at
            self.trail.append_all(transition_records(
                drop, old.value if old is not None else None, drop.state.value, event.value,
                at, tid, drop.reason, self.trail.kinds_of_drop(drop.id)))
        except Exception as e:  # never the pipeline's failure; no data in the log line
            self.behind = True
            log.error("audit-append-failed", drop=drop.id, error=type(e).__name__,
                      detail=str(e)[:120] if isinstance(e, (sqlite3.Error, OSError)) else "")


def catch_up(trail: AuditTrail, store: Store, now: float, batch: int = 500) -> int:
    """Append the entries of the state store's transitions the trail does not have (those
    above its highest ``transition_id``: a crash between the two commits); how many
    transitions were added. Run at start, before the pipeline. Each entry says when it
    was caught up; a reason no longer in the drop's row is unknown (None)."""
    after = trail.max_transition_id()
    have: dict[int, set[str]] = {}
    last_of: dict[int, int] = {}
    added = 0
    while True:
        rows = store.conn.execute(
            "SELECT id, drop_id, from_state, to_state, event, at FROM transitions"
            " WHERE id > ? ORDER BY id LIMIT ?", [after, batch]).fetchall()
        if not rows:
            return added
        records: list[Record] = []
        for tid, drop_id, from_state, to_state, event, at in (tuple(r) for r in rows):
            try:
                d = store.get(int(drop_id))
            except KeyError:
                continue
            if drop_id not in have:
                have[drop_id] = trail.kinds_of_drop(drop_id)
            if drop_id not in last_of:
                row = store.conn.execute("SELECT max(id) FROM transitions WHERE drop_id = ?",
                                         [drop_id]).fetchone()
                last_of[drop_id] = int(row[0])
            reason = d.reason if tid == last_of[drop_id] else None
            for rec in transition_records(d, from_state, to_state, str(event), float(at), tid,
                                          reason, have[drop_id]):
                records.append(Record(rec.kind, rec.at, {**rec.data, "caught_up_at": iso(now)},
                                      rec.drop_id, rec.transition_id, rec.provider_code,
                                      rec.document_id))
            added += 1
        trail.append_all(records)
        after = int(rows[-1][0])


# -- explicit events -------------------------------------------------------------------


def record_config(trail: AuditTrail, path: Path | None, now: float) -> Entry:
    """``config-loaded``: which file, and its sha256 (what the daemon ran with)."""
    digest = None
    if path is not None:
        try:
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
        except OSError:
            digest = None
    return trail.append(CONFIG_LOADED, now, data={"path": str(path) if path else None,
                                                  "sha256": digest})


def cli_recorder(cfg: Config,
                 clock: Callable[[], float] = time.time) -> Callable[[str, dict[str, Any]], None]:
    """For a command run beside the daemon (``assistant add`` / ``revoke``): each call
    appends one entry (kind, data; the provider code from ``data``) to the trail, which
    it opens and closes around the append (the daemon may be appending too)."""
    def record(kind: str, data: dict[str, Any]) -> None:
        trail = AuditTrail(trail_path(cfg))
        try:
            pc = data.get("provider_code")
            trail.append(kind, clock(), provider_code=pc if isinstance(pc, str) else None,
                         data=data)
        finally:
            trail.close()
    return record


# -- the export ------------------------------------------------------------------------

_NAME_KEYS = frozenset({"name", "first_name", "last_name"})


def masked(value: Any) -> Any:
    """``value`` for the export: matricules masked (also inside free text), names out."""
    if isinstance(value, dict):
        return {k: (mask(v) if k == "matricule" and isinstance(v, str) else masked(v))
                for k, v in value.items() if k not in _NAME_KEYS}
    if isinstance(value, list):
        return [masked(v) for v in value]
    if isinstance(value, str):
        return mask_text(value)
    return value


def export_lines(entries: Sequence[Entry]) -> Iterator[str]:
    """One JSON line per entry, masked (:func:`masked`)."""
    for e in entries:
        doc = e.as_json()
        doc["data"] = masked(doc["data"])
        yield canonical(doc)

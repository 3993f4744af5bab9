"""The audit trail (econnector.audit): the hash chain, every kind of tampering found and
named at the first affected entry (the database file edited directly with sqlite3), the
entries derived from a drop's transitions, catching up after a crash, when to anchor,
and the masked export. Anchors with a real TSA: tests/e2e/test_audit_cli.py."""

from __future__ import annotations

import hashlib
import json
import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from econnector import audit
from econnector.audit import GENESIS, AuditListener, AuditTrail, catch_up, entry_hash
from econnector.messages.audit_command import AUDIT_TEXTS, KIND_TEXTS
from econnector.states import Event, State
from econnector.statestore import Drop, Store
from econnector_testsupport.english import english_words

MATRICULE = "1893120105732"


@pytest.fixture
def trail(tmp_path: Path) -> Iterator[AuditTrail]:
    t = AuditTrail(tmp_path / "work" / "audit.sqlite")
    yield t
    t.close()


def _fill(t: AuditTrail, n: int = 6) -> None:
    for i in range(1, n + 1):
        t.append("state-changed", 1000.0 + i, drop_id=i, provider_code="90812100",
                 document_id=f"D-{i}", data={"i": i, "to": "signed"})


def _db(t: AuditTrail) -> sqlite3.Connection:
    """Another connection to the file, as someone editing it would open it."""
    return sqlite3.connect(t.path, isolation_level=None)


def _rows(t: AuditTrail) -> dict[int, tuple[Any, ...]]:
    return {r[0]: tuple(r) for r in _db(t).execute(f"SELECT {audit._COLS} FROM entries")}


def _rehash(row: tuple[Any, ...], seq: int | None = None,
            prev: str | None = None) -> tuple[Any, ...]:
    """``row`` at ``seq`` after ``prev``, with the hash a forger would recompute."""
    s = row[0] if seq is None else seq
    p = row[8] if prev is None else prev
    return (s, *row[1:8], p,
            entry_hash(s, row[1], row[2], row[3], row[4], row[5], row[6], row[7], p))


def _put(db: sqlite3.Connection, row: tuple[Any, ...]) -> None:
    db.execute(f"INSERT OR REPLACE INTO entries ({audit._COLS}) VALUES (?,?,?,?,?,?,?,?,?,?)",
               row)


def _found(t: AuditTrail) -> tuple[int, str] | None:
    d = t.verify().defect
    return (d.seq, d.what) if d else None


# -- the chain ---------------------------------------------------------------------------


def test_each_entry_holds_the_hash_of_the_one_before(trail: AuditTrail) -> None:
    _fill(trail, 3)
    rows = _rows(trail)
    assert rows[1][8] == GENESIS
    assert rows[2][8] == rows[1][9] and rows[3][8] == rows[2][9]
    head = trail.head()
    assert head is not None and head.seq == 3 and head.hash == rows[3][9]
    report = trail.verify()
    assert report.ok and report.entries == 3 and report.anchors == 0 and report.head_seq == 3


def test_an_empty_trail_is_intact(trail: AuditTrail) -> None:
    assert trail.head() is None and trail.verify().ok


def test_appends_from_two_connections_keep_one_chain(tmp_path: Path) -> None:
    """The daemon and the CLI append to the same file: each append reads the head in
    its own write transaction."""
    a = AuditTrail(tmp_path / "audit.sqlite")
    b = AuditTrail(tmp_path / "audit.sqlite")
    for i in range(5):
        (a if i % 2 else b).append("unlocked", float(i), provider_code="90812100", data={})
    assert a.verify().ok and [e.seq for e in b.entries()] == [1, 2, 3, 4, 5]


def test_the_file_is_private(trail: AuditTrail) -> None:
    _fill(trail, 1)
    assert trail.path.stat().st_mode & 0o777 == 0o600


# -- tampering, found at the first affected entry -----------------------------------------


@pytest.mark.parametrize("column, value", [("data", '{"i":3,"to":"rejected"}'),
                                           ("kind", "delivered"), ("at", 5.0),
                                           ("document_id", "D-X"), ("hash", "ab" * 32),
                                           ("prev_hash", "cd" * 32)])
def test_an_edited_field_names_its_entry(trail: AuditTrail, column: str, value: Any) -> None:
    _fill(trail)
    _db(trail).execute(f"UPDATE entries SET {column} = ? WHERE seq = 3", [value])
    assert _found(trail) == (3, "edited")


def test_an_edit_with_its_hash_recomputed_still_names_its_entry(trail: AuditTrail) -> None:
    _fill(trail)
    row = list(_rows(trail)[3])
    row[7] = '{"i":3,"to":"rejected"}'
    _put(_db(trail), _rehash(tuple(row)))
    assert _found(trail) == (3, "edited")


@pytest.mark.parametrize("seq", [1, 3, 5])
def test_a_deleted_entry_is_named(trail: AuditTrail, seq: int) -> None:
    _fill(trail)
    _db(trail).execute("DELETE FROM entries WHERE seq = ?", [seq])
    assert _found(trail) == (seq, "deleted")


def test_a_deleted_entry_is_named_even_when_the_rest_is_renumbered(trail: AuditTrail) -> None:
    _fill(trail)
    rows = _rows(trail)
    db = _db(trail)
    db.execute("DELETE FROM entries")
    for s in (1, 2, 4, 5, 6):
        _put(db, (s if s < 3 else s - 1, *rows[s][1:]))
    assert _found(trail) == (3, "deleted")


@pytest.mark.parametrize("a, b", [(2, 5), (3, 4)])
def test_two_swapped_entries_are_named_at_the_first(trail: AuditTrail, a: int, b: int) -> None:
    _fill(trail)
    rows = _rows(trail)
    db = _db(trail)
    _put(db, (a, *rows[b][1:]))
    _put(db, (b, *rows[a][1:]))
    assert _found(trail) == (a, "reordered")


def test_a_forged_entry_appended_after_the_head_is_named(trail: AuditTrail) -> None:
    """Well formed, its own hash recomputed, but linked to an older entry than the head."""
    _fill(trail)
    rows = _rows(trail)
    forged = (7, 2000.0, "delivered", 2, None, "90812100", "D-2", '{"forged":true}',
              rows[2][9], "")
    _put(_db(trail), _rehash(forged))
    assert _found(trail) == (7, "inserted")


def test_a_forged_entry_inserted_in_the_middle_is_named(trail: AuditTrail) -> None:
    """The later entries moved up one place to make room, the forged one linked to its
    predecessor and its hash recomputed: the entry after it still links past it."""
    _fill(trail)
    rows = _rows(trail)
    db = _db(trail)
    db.execute("DELETE FROM entries WHERE seq >= 3")
    for s in range(3, 7):
        _put(db, (s + 1, *rows[s][1:]))
    forged = (3, 1002.5, "rejected", 9, None, "90812100", "D-9", '{"code":"x"}', rows[2][9], "")
    _put(db, _rehash(forged))
    assert _found(trail) == (3, "inserted")


def test_a_whole_rewrite_with_recomputed_hashes_passes_the_chain_alone(
        trail: AuditTrail) -> None:
    """What only an anchor catches (tests/e2e/test_audit_cli.py): the chain checks out."""
    _fill(trail)
    rows = _rows(trail)
    db = _db(trail)
    prev = GENESIS
    for s in range(1, 7):
        row = list(rows[s])
        row[7] = json.dumps({"i": s, "to": "rejected"})
        new = _rehash(tuple(row), prev=prev)
        _put(db, new)
        prev = new[9]
    assert trail.verify().ok


# -- entries from the drops ------------------------------------------------------------------


def _meta(doc: str = "INV-1") -> dict[str, Any]:
    return {"document_id": doc, "type": "invoice", "issued_at": "2026-11-30T10:00:00+01:00",
            "patient": {"matricule": MATRICULE, "last_name": "Muller", "first_name": "Anna",
                        "insurer": "CNS"},
            "author": {"provider_code": "90812100"}, "submitted_by": "anna",
            "invoice": {"total": "45.00", "currency": "EUR", "paid": False}}


class _Drops:
    """The store's commit, then the listener: what drops.Drops.transition does."""

    def __init__(self, store: Store, listener: AuditListener | None) -> None:
        self.store, self.listener, self.now = store, listener, 100.0

    def tick(self) -> float:
        self.now += 1.0
        return self.now

    def claim(self, stem: str) -> Drop:
        d = self.store.create(stem, f"{stem}.pdf", f"{stem}.yaml", None, self.tick())
        if self.listener:
            self.listener.on_transition(d, None, Event.CLAIM)
        return d

    def read(self, d: Drop, doc: str = "INV-1") -> Drop:
        return self.store.update(d.id, self.tick(), meta=_meta(doc), provider_code="90812100",
                                 document_id=doc, original_sha256="aa" * 32)

    def go(self, d: Drop, event: Event, **fields: Any) -> Drop:
        old = self.store.get(d.id).state
        d = self.store.transition(d.id, event, self.tick(), **fields)
        if self.listener:
            self.listener.on_transition(d, old, event)
        return d


def _deliver(drops: _Drops, stem: str, doc: str) -> Drop:
    d = drops.read(drops.claim(stem), doc)
    d = drops.go(d, Event.SIGNED, signed_sha256="bb" * 32, signed_at="2026-11-30T10:00:01Z",
                 signature={"level": "B-T", "subfilter": "ETSI.CAdES.detached",
                            "signer_subject": "CN=Dr T", "certificate_serial": "0a1b",
                            "digest_algorithm": "sha256"})
    d = drops.go(d, Event.UPLOAD)
    return drops.go(d, Event.CONFIRMED, delivery={
        "vault_document_id": "vd_1", "fee_amount": "0.50", "fee_currency": "EUR",
        "replayed": False}, delivered_at="2026-11-30T10:00:02Z")


def test_a_delivered_document_leaves_its_whole_story(tmp_path: Path, trail: AuditTrail) -> None:
    store = Store(tmp_path / "state.sqlite")
    drops = _Drops(store, AuditListener(trail, store))
    d = _deliver(drops, "inv-1", "INV-1")
    entries = trail.entries(document_id="INV-1")
    assert [e.kind for e in entries] == ["claimed", "received", "signed", "state-changed",
                                         "delivered"]
    claimed, received, signed, upload, delivered = entries
    assert claimed.data == {"stem": audit.names.ref("inv-1")} and claimed.document_id is None
    assert received.data["patient"] == {"matricule": MATRICULE, "insurer": "CNS"}
    assert "Muller" not in json.dumps(received.data) and "Anna" not in json.dumps(received.data)
    assert received.data["submitted_by"] == "anna" and received.data["type"] == "invoice"
    assert signed.data["certificate_serial"] == "0a1b" and signed.data["level"] == "B-T"
    assert signed.data["from"] == "received" and signed.data["to"] == "signed"
    assert signed.data["original_sha256"] == "aa" * 32
    assert upload.data["event"] == "upload" and upload.data["to"] == "delivering"
    assert delivered.data["vault_document_id"] == "vd_1"
    assert delivered.data["fee"] == {"amount": "0.50", "currency": "EUR"}
    assert delivered.data["replayed"] is False
    tids = [h["id"] for h in store.history(d.id)]
    assert [e.transition_id for e in entries] == [tids[0], None, *tids[1:]]
    assert trail.verify().ok


def test_rejected_held_released_and_opted_out(tmp_path: Path, trail: AuditTrail) -> None:
    store = Store(tmp_path / "state.sqlite")
    drops = _Drops(store, AuditListener(trail, store))
    a = drops.read(drops.claim("a"), "A")
    drops.go(a, Event.REJECT, reason="duplicate-document-id",
             error={"code": "duplicate-document-id", "message": "m", "hint": "h"})
    b = drops.read(drops.claim("b"), "B")
    b = drops.go(b, Event.HOLD, reason="identity-locked")
    b = drops.go(b, Event.RELEASE, reason=None)
    b = drops.go(b, Event.SIGNED, signed_sha256="cc" * 32)
    b = drops.go(b, Event.UPLOAD)
    drops.go(b, Event.OPTED_OUT, reason="patient-opted-out")
    assert [(e.kind, e.data.get("code")) for e in trail.entries(document_id="A")][-1] == \
        ("rejected", "duplicate-document-id")
    kinds = [(e.kind, e.data.get("reason")) for e in trail.entries(document_id="B")]
    assert kinds == [("claimed", None), ("received", None), ("held", "identity-locked"),
                     ("released", None), ("signed", None), ("state-changed", None),
                     ("patient-opted-out", "patient-opted-out")]
    assert trail.entries(document_id="B")[-1].data["sent"] is False


def test_a_pair_refused_at_intake_is_claimed_and_rejected(tmp_path: Path,
                                                          trail: AuditTrail) -> None:
    """Listeners hear only its reject (listeners.py): the trail still says it was taken."""
    store = Store(tmp_path / "state.sqlite")
    listener = AuditListener(trail, store)
    d = store.create("bad", "bad.pdf", "bad.yaml", None, 5.0)
    d = store.transition(d.id, Event.REJECT, 6.0, reason="sidecar-missing",
                         error={"code": "sidecar-missing", "message": "m", "hint": "h"})
    listener.on_transition(d, State.RECEIVED, Event.REJECT)
    assert [(e.kind, e.at) for e in trail.entries()] == [("claimed", 5.0), ("rejected", 6.0)]


def test_catch_up_adds_what_a_crash_left_out_once(tmp_path: Path, trail: AuditTrail) -> None:
    store = Store(tmp_path / "state.sqlite")
    listener = AuditListener(trail, store)
    _deliver(_Drops(store, listener), "one", "ONE")
    before = [e.hash for e in trail.entries()]
    # Committed by the store, never heard by the listener (a crash in between).
    later = _Drops(store, None)
    later.now = 200.0
    _deliver(later, "two", "TWO")
    assert trail.entries(document_id="TWO") == []
    assert catch_up(trail, store, 5000.0) == 4  # claim, signed, upload, confirmed
    kinds = [e.kind for e in trail.entries(document_id="TWO")]
    assert kinds == ["claimed", "received", "signed", "state-changed", "delivered"]
    late = trail.entries(document_id="TWO")[-1]
    assert late.data["caught_up_at"] == audit.iso(5000.0)
    assert late.data["vault_document_id"] == "vd_1"
    assert catch_up(trail, store, 6000.0) == 0
    assert [e.hash for e in trail.entries()][:len(before)] == before
    assert len(trail.entries()) == len(before) + 5 and trail.verify().ok


def test_a_failed_append_is_caught_up_by_the_next_transition(
        tmp_path: Path, trail: AuditTrail) -> None:
    store = Store(tmp_path / "state.sqlite")
    listener = AuditListener(trail, store)
    drops = _Drops(store, listener)
    d = drops.read(drops.claim("x"), "X")
    good, broken = trail.conn, sqlite3.connect(":memory:")
    broken.close()
    trail.conn = broken  # the disk is gone for a moment
    d = drops.go(d, Event.SIGNED, signed_sha256="dd" * 32)
    assert listener.behind
    trail.conn = good
    drops.go(d, Event.UPLOAD)
    assert not listener.behind
    assert [e.kind for e in trail.entries(document_id="X")] == [
        "claimed", "received", "signed", "state-changed"]
    assert trail.verify().ok


# -- explicit events --------------------------------------------------------------------------


def test_config_loaded_records_the_file_hash(tmp_path: Path, trail: AuditTrail) -> None:
    cfg = tmp_path / "econnector.yaml"
    cfg.write_text("schema: econnector.config/v1\n")
    e = audit.record_config(trail, cfg, 1.0)
    assert e.kind == "config-loaded" and e.data["path"] == str(cfg)
    assert e.data["sha256"] == hashlib.sha256(cfg.read_bytes()).hexdigest()


def test_the_cli_recorder_appends_beside_the_daemon(tmp_path: Path) -> None:
    """What ``econnector assistant add`` hands its events to, while the daemon appends."""
    from econnector import config
    from econnector_testsupport.configs import MINIMAL

    cfg = config.parse(MINIMAL, tmp_path)
    daemon = AuditTrail(audit.trail_path(cfg))
    daemon.append("unlocked", 1.0, provider_code="90812100", data={})
    audit.cli_recorder(cfg, clock=lambda: 2.0)(
        "assistant-added", {"provider_code": "90812100", "login": "anna", "name": "Anna W"})
    assert [(e.kind, e.provider_code, e.at) for e in daemon.entries()] == [
        ("unlocked", "90812100", 1.0), ("assistant-added", "90812100", 2.0)]
    assert daemon.verify().ok
    daemon.close()


# -- anchoring ----------------------------------------------------------------------------------


@pytest.mark.parametrize("now, last_at, head, anchored, every, due", [
    (100.0, None, 0, 0, 60.0, False),  # nothing to anchor
    (100.0, None, 1, 0, 60.0, True),  # never anchored
    (100.0, 50.0, 5, 3, 60.0, False),  # too soon
    (110.0, 50.0, 5, 3, 60.0, True),  # due
    (1e6, 50.0, 3, 3, 60.0, False),  # nothing new since (only the anchor's own entry)
    (1e6, None, 3, 0, 0.0, False),  # anchoring off
])
def test_anchor_due(now: float, last_at: float | None, head: int, anchored: int,
                    every: float, due: bool) -> None:
    assert audit.anchor_due(now, last_at, head, anchored, every) is due


def test_shown_tsa_url_drops_credentials() -> None:
    assert audit._shown_url("https://u:p@tsa.example:8443/tsr") == "https://tsa.example:8443/tsr"
    assert audit._shown_url("http://127.0.0.1:1/tsa") == "http://127.0.0.1:1/tsa"


# -- the export ---------------------------------------------------------------------------------


def test_the_export_masks_patients_and_leaves_names_out(tmp_path: Path,
                                                        trail: AuditTrail) -> None:
    trail.append("received", 1.0, drop_id=1, document_id="INV-1", data={
        "patient": {"matricule": MATRICULE, "insurer": "CNS", "last_name": "Muller"},
        "note": f"for {MATRICULE}"})
    trail.append("assistant-added", 2.0, provider_code="90812100",
                 data={"login": "anna", "name": "Anna Weber"})
    lines = list(audit.export_lines(trail.entries()))
    text = "\n".join(lines)
    assert MATRICULE not in text and "Muller" not in text and "Anna Weber" not in text
    first = json.loads(lines[0])
    assert first["data"]["patient"] == {"matricule": "1893********2", "insurer": "CNS"}
    assert first["data"]["note"] == "for 1893********2"
    assert json.loads(lines[1])["data"] == {"login": "anna"}
    # the protected store keeps the full number
    assert trail.entries()[0].data["patient"]["matricule"] == MATRICULE


def test_entries_by_time(trail: AuditTrail) -> None:
    _fill(trail, 5)
    assert [e.seq for e in trail.entries(since=1002.0, until=1004.0)] == [2, 3]


# -- texts --------------------------------------------------------------------------------------


def test_every_language_has_every_text() -> None:
    assert set(AUDIT_TEXTS) == set(KIND_TEXTS) == {"fr", "de", "en"}
    for table in (AUDIT_TEXTS, KIND_TEXTS):
        assert table["fr"].keys() == table["de"].keys() == table["en"].keys()
    assert set(audit.DEFECTS) <= AUDIT_TEXTS["en"].keys()
    for lang in ("fr", "de"):
        for key, text in {**AUDIT_TEXTS[lang], **KIND_TEXTS[lang]}.items():
            assert not english_words(re.sub(r"--\w+", " ", text)), (lang, key)

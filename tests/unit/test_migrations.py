"""Schema versions (issue 13, upgrades): every SQLite file a release writes (the state
store, the audit trail, the assistants' grants, the fee ledger, the reference vault's
database) carries its version in ``PRAGMA user_version``; an older file is migrated
forward when it opens, keeping its rows; a file from a newer release is refused with
``store-too-new`` and left byte for byte as it was."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from econnector import assistants, audit, ledger, runtime, sqlitedb, statestore
from econnector.errors import ConfigError, render
from econnector.statestore import Store
from econnector_vault import database as vault_db

# -- the first releases' files, as they wrote them ----------------------------------------
# The state store of the first release (user_version 1), exactly as sqlite-utils created
# it then: without sidecar_stat (issue 8), the patient's status, the invoice QR code and
# the follow-up (issue 12), and without the patient_status table.
STATE_V1 = """
CREATE TABLE "drops" (
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
CREATE INDEX "idx_drops_doc_key"
    ON "drops" ("doc_key");
CREATE INDEX "idx_drops_state"
    ON "drops" ("state");
CREATE INDEX "idx_drops_finalized_at"
    ON "drops" ("finalized_at");
CREATE TABLE "transitions" (
   "id" INTEGER PRIMARY KEY,
   "drop_id" INTEGER REFERENCES "drops"("id"),
   "from_state" TEXT,
   "to_state" TEXT,
   "event" TEXT,
   "at" REAL,
   "detail" TEXT
);
CREATE INDEX "idx_transitions_drop_id"
    ON "transitions" ("drop_id");
PRAGMA user_version = 1;
INSERT INTO drops (stem, pdf_name, sidecar_name, state, pdf_stat, attempts, provider_code,
    document_id, doc_key, delivered_at, created_at, updated_at, finalized_at)
  VALUES ('doc-1', 'doc-1.pdf', 'doc-1.yaml', 'delivered',
    '{"size": 10, "mtime_ns": 1, "ino": 2, "dev": 3}', 1, '90812100', 'INV-1',
    '90812100/INV-1', '2026-01-02T10:00:00Z', 100.0, 200.0, 200.0);
INSERT INTO transitions (drop_id, from_state, to_state, event, at, detail)
  VALUES (1, NULL, 'received', 'claim', 100.0, 'doc-1');
"""

# The daemon's other files had no version before issue 13 (user_version 0): their
# first releases' tables, with a row each.
AUDIT_V0 = """
CREATE TABLE entries (
    seq INTEGER PRIMARY KEY, at REAL NOT NULL, kind TEXT NOT NULL, drop_id INTEGER,
    transition_id INTEGER, provider_code TEXT, document_id TEXT, data TEXT NOT NULL,
    prev_hash TEXT NOT NULL, hash TEXT NOT NULL);
CREATE TABLE anchors (
    seq INTEGER PRIMARY KEY, head_hash TEXT NOT NULL, at REAL NOT NULL,
    token BLOB NOT NULL, tsa_url TEXT NOT NULL, entry_seq INTEGER);
INSERT INTO entries VALUES (1, 1.0, 'k', NULL, NULL, NULL, NULL, '{}', 'p', 'h');
"""
LEDGER_V0 = """
CREATE TABLE fees (
    vault_document_id TEXT PRIMARY KEY, provider_code TEXT NOT NULL, document_id TEXT,
    type TEXT, insurer TEXT, submitted_by TEXT, amount TEXT NOT NULL, currency TEXT NOT NULL,
    recorded_at TEXT NOT NULL, quarter TEXT NOT NULL, drop_id INTEGER);
INSERT INTO fees VALUES ('VD-1', '90812100', 'INV-1', 'invoice', 'CNS', NULL, '0.30',
    'EUR', '2026-01-02T10:00:00Z', '2026Q1', 1);
"""
GRANTS_V0 = """
CREATE TABLE grants (id INTEGER PRIMARY KEY, provider_code TEXT NOT NULL, login TEXT
    NOT NULL, name TEXT NOT NULL, granted_at TEXT NOT NULL, grant_json TEXT NOT NULL,
    grant_cms BLOB NOT NULL, revoked_at TEXT, revocation_json TEXT, revocation_cms BLOB);
INSERT INTO grants VALUES (1, '90812100', 'anna', 'Anna', '2026-01-02T10:00:00Z', '{}',
    x'00', NULL, NULL, NULL);
"""
# The reference vault's first release (user_version 1): idempotency keys unique over
# all practices, no opened_at.
VAULT_V1 = """
CREATE TABLE "documents" (
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
CREATE UNIQUE INDEX "documents_idempotency_key"
    ON "documents" ("idempotency_key");
CREATE TABLE "fees" (
   "id" INTEGER PRIMARY KEY,
   "provider_code" TEXT NOT NULL,
   "vault_document_id" TEXT NOT NULL REFERENCES "documents"("vault_document_id"),
   "type" TEXT,
   "amount" TEXT NOT NULL,
   "currency" TEXT,
   "recorded_at" TEXT,
   "quarter" TEXT NOT NULL
);
CREATE INDEX "fees_quarter_provider"
    ON "fees" ("quarter", "provider_code");
PRAGMA user_version = 1;
INSERT INTO documents VALUES ('vd_0001', 'key-1', 'ab', 10, '2026-01-02T10:00:00Z',
    '90812100', 'invoice', '{}', '0.30', 'EUR', 'documents/00/vd_0001.pdf');
INSERT INTO fees VALUES (1, '90812100', 'vd_0001', 'invoice', '0.30', 'EUR',
    '2026-01-02T10:00:00Z', '2026Q1');
"""


def write_db(path: Path, script: str) -> Path:
    conn = sqlite3.connect(path)
    conn.executescript(script)
    conn.commit()
    conn.close()
    return path


def version_of(path: Path) -> int:
    conn = sqlite3.connect(path)
    try:
        return int(conn.execute("PRAGMA user_version").fetchone()[0])
    finally:
        conn.close()


def schema_of(path: Path) -> list[tuple[str, str]]:
    conn = sqlite3.connect(path)
    try:
        return [(str(n), str(s)) for n, s in conn.execute(
            "SELECT name, sql FROM sqlite_master WHERE sql IS NOT NULL ORDER BY name")]
    finally:
        conn.close()


def columns(path: Path, table: str) -> list[str]:
    conn = sqlite3.connect(path)
    try:
        return [str(r[1]) for r in conn.execute(f"PRAGMA table_info({table})")]
    finally:
        conn.close()


# -- the state store -----------------------------------------------------------------------


def test_a_first_release_state_store_is_migrated_and_keeps_its_rows(tmp_path: Path) -> None:
    path = write_db(tmp_path / "state.sqlite", STATE_V1)
    store = Store(path)
    drop = store.get(1)
    assert (drop.stem, drop.state.value, drop.doc_key) == ("doc-1", "delivered", "90812100/INV-1")
    assert drop.pdf_stat == {"size": 10, "mtime_ns": 1, "ino": 2, "dev": 3}
    assert drop.sidecar_stat is None and drop.followup is None
    assert [h["event"] for h in store.history(1)] == ["claim"]
    assert not store.fresh
    # What the later columns and the status cache are for works on the migrated file.
    store.set_followup(1, {"checked_at": 5.0, "opened_at": "2026-01-03T09:00:00Z"})
    store.cache_status("1893120105732", "green", 7.0)
    store.close()
    assert version_of(path) == statestore.SCHEMA_VERSION == 3
    assert {"sidecar_stat", "patient_status", "invoice_qr", "followup"} <= set(
        columns(path, "drops"))
    before = schema_of(path)
    again = Store(path)  # at the current version: opening changes nothing
    assert again.opened_count() == 1 and again.cached_status("1893120105732") == ("green", 7.0)
    again.close()
    assert schema_of(path) == before and version_of(path) == 3


def test_a_version_1_file_already_altered_in_place_is_migrated(tmp_path: Path) -> None:
    """Releases before issue 13 added columns under version 1 (ALTER TABLE when absent):
    the steps add only what such a file lacks."""
    path = write_db(tmp_path / "state.sqlite", STATE_V1 + """
        ALTER TABLE drops ADD COLUMN sidecar_stat TEXT;
        ALTER TABLE drops ADD COLUMN patient_status TEXT;
        CREATE TABLE patient_status (matricule TEXT PRIMARY KEY, status TEXT NOT NULL,
            checked_at REAL NOT NULL);
        """)
    Store(path).close()
    assert version_of(path) == 3
    cols = columns(path, "drops")
    assert len(cols) == len(set(cols)) and {"invoice_qr", "followup"} <= set(cols)


def test_a_new_state_store_is_created_at_the_current_version(tmp_path: Path) -> None:
    store = Store(tmp_path / "state.sqlite")
    assert store.fresh
    store.create("doc", "doc.pdf", "doc.yaml", None, now=1.0)
    store.close()
    assert version_of(tmp_path / "state.sqlite") == statestore.SCHEMA_VERSION


def newer(path: Path, make: Callable[[Path], object], schema: sqlitedb.Schema) -> bytes:
    """A file of the current schema that a release one version ahead marked as its own;
    in rollback-journal mode, so that even switching it to WAL would show."""
    obj = make(path)
    obj.close()  # type: ignore[attr-defined]
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=DELETE")
    conn.execute(f"PRAGMA user_version = {schema.version + 1}")
    conn.close()
    return path.read_bytes()


def assert_untouched(path: Path, data: bytes, mtime_ns: int) -> None:
    assert path.read_bytes() == data
    assert path.stat().st_mtime_ns == mtime_ns
    assert not path.with_name(path.name + "-wal").exists()


STORES: list[tuple[str, Callable[[Path], object], sqlitedb.Schema]] = [
    ("state.sqlite", Store, statestore.SCHEMA),
    ("audit.sqlite", audit.AuditTrail, audit.SCHEMA),
    ("ledger.sqlite", ledger.Ledger, ledger.SCHEMA),
    ("assistants.sqlite", assistants.Grants, assistants.SCHEMA),
]


@pytest.mark.parametrize(("name", "make", "schema"), STORES, ids=[s[0] for s in STORES])
def test_a_file_from_a_newer_release_is_refused_untouched(
        tmp_path: Path, name: str, make: Callable[[Path], object],
        schema: sqlitedb.Schema) -> None:
    path = tmp_path / name
    data = newer(path, make, schema)
    mtime = path.stat().st_mtime_ns
    with pytest.raises(sqlitedb.StoreTooNew) as info:
        make(path)
    err = info.value
    assert isinstance(err, ConfigError)  # the CLI's exit 2, no restart by systemd
    assert err.code == "store-too-new"
    assert (err.version, err.known) == (schema.version + 1, schema.version)
    assert err.message.startswith("store-too-new: ")
    assert str(path) in err.message and f"version {schema.version + 1}" in err.message
    assert f"up to {schema.version}" in err.message and "backup" in err.message
    assert_untouched(path, data, mtime)


def test_the_daemon_does_not_set_a_newer_state_store_aside_as_damaged(tmp_path: Path) -> None:
    """open_store rebuilds a damaged database; a newer one is not damaged: it stays."""
    path = tmp_path / "state.sqlite"
    data = newer(path, Store, statestore.SCHEMA)
    with pytest.raises(sqlitedb.StoreTooNew):
        runtime.open_store(path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.sqlite"]
    assert path.read_bytes() == data


def test_the_refusal_is_in_the_three_languages() -> None:
    params = {"path": "/var/lib/econnector/work/state.sqlite", "value": 4, "limit": 3}
    for lang, words in (("en", "newer"), ("fr", "récente"), ("de", "neuere")):
        message, hint = render("store-too-new", params, lang)
        assert "/var/lib/econnector/work/state.sqlite" in message and words in message
        assert "4" in message and "3" in message and hint


# -- the daemon's other files --------------------------------------------------------------


@pytest.mark.parametrize(("name", "script", "make", "table"), [
    ("audit.sqlite", AUDIT_V0, audit.AuditTrail, "entries"),
    ("ledger.sqlite", LEDGER_V0, ledger.Ledger, "fees"),
    ("assistants.sqlite", GRANTS_V0, assistants.Grants, "grants"),
], ids=["audit", "ledger", "grants"])
def test_an_unversioned_file_gets_version_1_and_keeps_its_rows(
        tmp_path: Path, name: str, script: str, make: Callable[[Path], object],
        table: str) -> None:
    path = write_db(tmp_path / name, script)
    assert version_of(path) == 0
    make(path).close()  # type: ignore[attr-defined]
    assert version_of(path) == 1
    conn = sqlite3.connect(path)
    assert conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0] == 1
    indexes = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='index'")}
    conn.close()
    assert indexes  # the indexes the first step adds when absent
    before = schema_of(path)
    make(path).close()  # type: ignore[attr-defined]
    assert schema_of(path) == before and version_of(path) == 1


def test_the_ledger_reads_its_migrated_rows(tmp_path: Path) -> None:
    path = write_db(tmp_path / "ledger.sqlite", LEDGER_V0)
    book = ledger.Ledger(path)
    try:
        assert [f.vault_document_id for f in book.fees("2026Q1")] == ["VD-1"]
    finally:
        book.close()


# -- the mechanism -------------------------------------------------------------------------


def test_a_failing_step_leaves_the_file_at_the_last_step_that_completed(
        tmp_path: Path) -> None:
    def boom(conn: sqlite3.Connection) -> None:
        conn.execute("CREATE TABLE half (x)")
        raise RuntimeError("power cut")

    schema = sqlitedb.Schema("test file", ((1, "CREATE TABLE a (x);\nCREATE TABLE b (y);"),
                                           (2, boom)))
    path = tmp_path / "t.sqlite"
    conn = sqlite3.connect(path, isolation_level=None)
    with pytest.raises(RuntimeError):
        sqlitedb.migrate(conn, path, schema)
    assert sqlitedb.user_version(conn) == 1
    names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
    assert names == {"a", "b"}  # step 2's table went with its transaction
    fixed = sqlitedb.Schema("test file", ((1, "CREATE TABLE a (x);\nCREATE TABLE b (y);"),
                                          (2, "CREATE TABLE c (z)")))
    assert sqlitedb.migrate(conn, path, fixed) == 2
    conn.close()


# -- the reference vault's database --------------------------------------------------------


def test_a_first_release_vault_database_is_migrated(tmp_path: Path) -> None:
    path = write_db(tmp_path / "vault.sqlite", VAULT_V1)
    db = vault_db.VaultDatabase(path)
    try:
        row = db.by_key("90812100", "key-1")
        assert row is not None and row["vault_document_id"] == "vd_0001"
        assert row["opened_at"] is None
        db.mark_opened("vd_0001", "2026-01-03T09:00:00Z")
        assert db.fees("2026Q1", "90812100")[0]["amount"] == "0.30"
    finally:
        db.close()
    assert version_of(path) == vault_db.SCHEMA_VERSION == 3
    indexes = {n for n, _ in schema_of(path)}
    assert "documents_provider_idempotency_key" in indexes
    assert "documents_idempotency_key" not in indexes  # keys are per practice now
    before = schema_of(path)
    vault_db.VaultDatabase(path).close()
    assert schema_of(path) == before


def newer_vault_database(folder: Path) -> Path:
    """A vault store as a newer release leaves it (rollback journal: even a switch to WAL
    would show)."""
    path = folder / "vault.sqlite"
    path.touch()
    vault_db.VaultDatabase(path).close()
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=DELETE")
    conn.execute(f"PRAGMA user_version = {vault_db.SCHEMA_VERSION + 1}")
    conn.close()
    return path


def test_a_vault_database_from_a_newer_release_is_refused_untouched(tmp_path: Path) -> None:
    path = newer_vault_database(tmp_path)
    data, mtime = path.read_bytes(), path.stat().st_mtime_ns
    with pytest.raises(vault_db.SchemaTooNew) as info:
        vault_db.VaultDatabase(path)
    assert str(path) in str(info.value) and "newer" in str(info.value)
    assert_untouched(path, data, mtime)


def test_the_embedded_vault_of_a_newer_release_is_a_configuration_error(tmp_path: Path) -> None:
    """vault.kind: local opens the vault's store in the daemon: a newer one stops the start
    as a configuration error (exit 2, one line), not an unexpected error."""
    from econnector.errors import ConfigError
    from econnector.vault_transport import local_transport

    path = newer_vault_database(tmp_path)
    data, mtime = path.read_bytes(), path.stat().st_mtime_ns
    with pytest.raises(ConfigError) as info:
        local_transport(tmp_path, ["90812100"])
    assert info.value.field == "vault.data_dir" and "newer" in str(info.value)
    assert_untouched(path, data, mtime)

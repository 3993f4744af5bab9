"""``econnector audit verify | show | export`` as the real CLI process against a config, and
the anchors with the real loopback TSA (certomancer): a trail tampered with directly in
its SQLite file is named at the first affected entry in the staff's language; a rewrite
of the whole log with recomputed hashes is caught by the RFC 3161 anchor."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from econnector import audit, config
from econnector.audit import GENESIS, AuditTrail, entry_hash
from econnector_testsupport.daemon import PROVIDER, make_identity, run_cli, write_config
from econnector_testsupport.pki import TestPki

MATRICULE = "1893120105732"
DAY = 86400.0
T0 = 1_796_000_000.0  # 2026-11-30 00:53:20 UTC (01:53 in Luxembourg): the same day in both


def _config(root: Path, signing: dict[str, Any] | None = None) -> Path:
    if signing is None:
        return write_config(root, [(PROVIDER, make_identity(root))])
    return write_config(root, [(PROVIDER, make_identity(root))], signing=signing)


def _trail(cfg_path: Path) -> AuditTrail:
    return AuditTrail(audit.trail_path(config.load(cfg_path)))


def _story(t: AuditTrail, drop_id: int, doc: str, at: float) -> None:
    """One document's entries as the daemon's listener writes them."""
    cols: dict[str, Any] = {"drop_id": drop_id, "provider_code": PROVIDER, "document_id": doc}
    t.append("claimed", at, drop_id=drop_id, data={"stem": f"s-{drop_id:010d}"})
    t.append("received", at + 1, **cols, data={
        "type": "invoice", "submitted_by": "anna",
        "patient": {"matricule": MATRICULE, "insurer": "CNS"}})
    t.append("signed", at + 2, **cols, data={"from": "received", "to": "signed",
                                             "certificate_serial": "0a1b", "level": "B-T"})
    t.append("delivered", at + 3, **cols, data={"from": "delivering", "to": "delivered",
                                                "vault_document_id": f"vd_{drop_id}",
                                                "fee": {"amount": "0.50", "currency": "EUR"}})


@pytest.fixture
def filled(tmp_path: Path) -> Path:
    """A config whose trail holds two documents a day apart."""
    cfg = _config(tmp_path / "practice")
    t = _trail(cfg)
    _story(t, 1, "INV-1", T0)
    _story(t, 2, "INV-2", T0 + DAY)
    t.close()
    return cfg


def _edit(cfg: Path, sql: str, *params: Any) -> None:
    db = sqlite3.connect(audit.trail_path(config.load(cfg)), isolation_level=None)
    db.execute(sql, params)
    db.close()


def test_verify_says_intact(filled: Path) -> None:
    r = run_cli("audit", "verify", "-c", str(filled), "--lang", "en")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == ("Audit trail intact: 8 entries, not timestamped by a "
                                "timestamp service yet.")
    j = json.loads(run_cli("audit", "verify", "-c", str(filled), "--json").stdout)
    assert j["ok"] is True and j["entries"] == 8 and j["defect"] is None


@pytest.mark.parametrize("tamper, seq, what, lang, words", [
    ("UPDATE entries SET data = '{\"fee\":\"0.00\"}' WHERE seq = 4", 4, "edited", "en",
     "entry 4 was changed"),
    ("DELETE FROM entries WHERE seq = 6", 6, "deleted", "fr", "l'entrée 6 a été supprimée"),
    ("swap 2 3", 2, "reordered", "de", "Eintrag 2 wurde verschoben"),
])
def test_verify_names_the_first_tampered_entry(filled: Path, tamper: str, seq: int, what: str,
                                              lang: str, words: str) -> None:
    if tamper.startswith("swap"):
        db = sqlite3.connect(audit.trail_path(config.load(filled)), isolation_level=None)
        a, b = (db.execute(f"SELECT {audit._COLS} FROM entries WHERE seq = ?", [s]).fetchone()
                for s in (2, 3))
        for s, row in ((2, b), (3, a)):
            db.execute("UPDATE entries SET at=?, kind=?, drop_id=?, transition_id=?, "
                       "provider_code=?, document_id=?, data=?, prev_hash=?, hash=? "
                       "WHERE seq=?", [*row[1:], s])
        db.close()
    else:
        _edit(filled, tamper)
    r = run_cli("audit", "verify", "-c", str(filled), "--lang", lang)
    assert r.returncode == 1, r.stderr
    lines = r.stdout.splitlines()
    assert len(lines) == 1 and words in lines[0], lines
    j = json.loads(run_cli("audit", "verify", "-c", str(filled), "--json").stdout)
    assert j["ok"] is False and j["defect"] == {"seq": seq, "what": what}


def test_show_prints_one_documents_trail_in_time_order(filled: Path) -> None:
    r = run_cli("audit", "show", "INV-2", "-c", str(filled), "--lang", "en")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == "Document INV-2: 4 entries"
    assert [ln.split()[0] for ln in lines[1:]] == ["#5", "#6", "#7", "#8"]
    assert "taken from the outbox" in lines[1] and "delivered" in lines[4]
    assert "patient.matricule=1893********2" in lines[2] and MATRICULE not in r.stdout
    assert "vault_document_id=vd_2" in lines[4]
    fr = run_cli("audit", "show", "INV-2", "-c", str(filled), "--lang", "fr").stdout
    assert "livré" in fr and "signé" in fr
    js = [json.loads(x) for x in run_cli("audit", "show", "INV-1", "-c", str(filled),
                                         "--json").stdout.splitlines()]
    assert [e["seq"] for e in js] == [1, 2, 3, 4] and MATRICULE not in json.dumps(js)
    none = run_cli("audit", "show", "NOPE", "-c", str(filled), "--lang", "en")
    assert none.returncode == 1 and "No audit entry for document NOPE" in none.stdout


def test_export_writes_masked_json_lines_of_the_period(filled: Path, tmp_path: Path) -> None:
    out = tmp_path / "export" / "audit.jsonl"
    out.parent.mkdir()
    first_day = audit.iso(T0)[:10]
    r = run_cli("audit", "export", "--from", first_day, "--to", first_day, "--output",
                str(out), "-c", str(filled), "--lang", "en")
    assert r.returncode == 0, r.stderr
    assert "4 audit entries" in r.stdout and str(out) in r.stdout
    rows = [json.loads(x) for x in out.read_text("utf-8").splitlines()]
    assert [e["document_id"] for e in rows[1:]] == ["INV-1"] * 3
    assert rows[1]["data"]["patient"]["matricule"] == "1893********2"
    assert MATRICULE not in out.read_text("utf-8")
    assert not list(out.parent.glob(".*.tmp"))  # written atomically, nothing left over
    both = run_cli("audit", "export", "--from", first_day, "--to", audit.iso(T0 + DAY)[:10],
                   "-c", str(filled))
    assert both.returncode == 0 and len(both.stdout.splitlines()) == 8
    bad = run_cli("audit", "export", "--from", "2026-12-31", "--to", "2026-01-01",
                  "-c", str(filled), "--lang", "en")
    assert bad.returncode == 2 and "--from" in bad.stderr


def test_no_trail_yet_is_a_config_answer(tmp_path: Path) -> None:
    cfg = _config(tmp_path / "practice")
    r = run_cli("audit", "verify", "-c", str(cfg), "--lang", "en")
    assert r.returncode == 2 and "No audit trail" in r.stderr
    assert not audit.trail_path(config.load(cfg)).exists()  # reading never creates it


# -- anchors with the real TSA ---------------------------------------------------------------


def _anchored(tmp_path: Path, pki: TestPki) -> Path:
    cfg = _config(tmp_path / "practice",
                  signing={"trust_roots": [str(pki.root_pem)]})
    t = _trail(cfg)
    _story(t, 1, "INV-1", T0)
    tsa = config.Tsa(url=pki.tsa_url, timeout=10.0)
    entry = asyncio.run(audit.anchor(t, tsa, T0 + 10))
    assert entry is not None and entry.kind == "anchor" and entry.data["seq"] == 4
    assert t.anchor_state() == (T0 + 10, 5)  # the anchor's own entry is seq 5
    _story(t, 2, "INV-2", T0 + DAY)  # after the anchor: chained, not yet anchored
    t.close()
    return cfg


def test_an_anchor_validates_with_the_trust_roots(tmp_path: Path, pki: TestPki) -> None:
    cfg = _anchored(tmp_path, pki)
    r = run_cli("audit", "verify", "-c", str(cfg), "--lang", "en")
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.startswith("Audit trail intact: 9 entries, 1 timestamps")
    j = json.loads(run_cli("audit", "verify", "-c", str(cfg), "--json").stdout)
    assert j["anchors"] == 1 and j["last_anchored_at"] is not None


def test_a_whole_rewrite_is_caught_by_the_anchor(tmp_path: Path, pki: TestPki) -> None:
    cfg = _anchored(tmp_path, pki)
    db = sqlite3.connect(audit.trail_path(config.load(cfg)), isolation_level=None)
    rows = db.execute(f"SELECT {audit._COLS} FROM entries ORDER BY seq").fetchall()
    prev = GENESIS
    for row in rows:  # the fee of INV-1 changed, every hash after it recomputed
        data = row[7].replace('"0.50"', '"5.00"')
        h = entry_hash(row[0], row[1], row[2], row[3], row[4], row[5], row[6], data, prev)
        db.execute("UPDATE entries SET data = ?, prev_hash = ?, hash = ? WHERE seq = ?",
                   [data, prev, h, row[0]])
        prev = h
    # even the anchors table made to agree: the token's imprint still does not
    db.execute("UPDATE anchors SET head_hash = (SELECT hash FROM entries WHERE seq = 4)")
    db.close()
    r = run_cli("audit", "verify", "-c", str(cfg), "--lang", "en")
    assert r.returncode == 1
    assert "entry 4, or one before it, is not what the timestamp service signed" in r.stdout
    j = json.loads(run_cli("audit", "verify", "-c", str(cfg), "--json").stdout)
    assert j["defect"] == {"seq": 4, "what": "anchor-mismatch"}


@pytest.mark.parametrize("tamper, found", [
    # the anchored entries cut off (the newest ones after the anchor would not be seen)
    ("DELETE FROM entries WHERE seq >= 4", {"seq": 4, "what": "deleted"}),
    ("UPDATE anchors SET token = substr(token, 1, 40)", {"seq": 4, "what": "anchor-invalid"}),
    ("DELETE FROM anchors", {"seq": 4, "what": "anchor-mismatch"}),
])
def test_a_damaged_anchor_is_named(tmp_path: Path, pki: TestPki, tamper: str,
                                   found: dict[str, Any]) -> None:
    cfg = _anchored(tmp_path, pki)
    _edit(cfg, tamper)
    j = json.loads(run_cli("audit", "verify", "-c", str(cfg), "--json").stdout)
    assert j["defect"] == found


def test_a_token_from_an_untrusted_tsa_is_invalid(tmp_path: Path, pki: TestPki) -> None:
    """The token is intact but its TSA does not chain to the configured roots (here the
    CA of a generated TEST identity instead of the test PKI's root)."""
    cfg = _anchored(tmp_path, pki)
    other = make_identity(tmp_path / "other", "90999900")
    bad = write_config(tmp_path / "practice", [(PROVIDER, other)],
                       signing={"trust_roots": [str(other.ca_cert)]})
    assert bad == cfg  # the same folders, other roots
    r = run_cli("audit", "verify", "-c", str(bad), "--lang", "en")
    assert r.returncode == 1 and "the timestamp of entry 4 is not valid" in r.stdout


def test_an_unreachable_tsa_fails_the_anchor_not_the_trail(tmp_path: Path,
                                                          pki: TestPki) -> None:
    cfg = _config(tmp_path / "practice")
    t = _trail(cfg)
    _story(t, 1, "INV-1", T0)
    with pki.outage("tsa"), pytest.raises(audit.AnchorFailed):
        asyncio.run(audit.anchor(t, config.Tsa(url=pki.tsa_url, timeout=3.0), T0))
    assert t.anchor_state() == (None, 0) and t.verify().ok
    t.close()

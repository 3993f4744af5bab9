"""The quarterly fee statement end to end: the real daemon delivers documents of two doctors
and several types to the real vault (over TLS), records each fee in its ledger, and
``econnector report`` (a subprocess) writes a statement that matches the vault's own
billing exactly; after one fee record is deleted in the vault's database file, the report
exits 1 and names that document. Also: ``--offline``, ``--provider``, a refused token and
a vault that cannot be asked (exit 2, one line, nothing written)."""

from __future__ import annotations

import csv
import datetime as dt
import sqlite3
import subprocess
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from econnector.ledger import quarter_of
from econnector.testid import TestIdentity
from econnector_testsupport.daemon import (
    PROVIDER,
    SECOND_PROVIDER,
    SIDECAR_MATRICULE,
    Daemon,
    drop,
    make_identity,
    run_cli,
    running_daemon,
    sidecar,
    wait_for,
    write_config,
)
from econnector_testsupport.vault import (
    TlsFiles,
    VaultProcess,
    free_port,
    running_vault,
    unsigned_pdf,
    verify_for,
)

pytestmark = pytest.mark.e2e


def _billing(vp: VaultProcess, quarter: str, provider: str) -> dict[str, Any]:
    """The vault's own answer to ``GET /v1/billing/activity``."""
    r = httpx.get(f"{vp.base_url}/v1/billing/activity",
                  params={"quarter": quarter, "provider_code": provider},
                  headers={"Authorization": f"Bearer {vp.token}"}, verify=verify_for(vp),
                  timeout=10)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def _ledger_count(d: Daemon) -> int:
    path = d.root / "work" / "ledger.sqlite"
    if not path.exists():
        return 0
    with sqlite3.connect(path) as conn:
        try:
            return int(conn.execute("SELECT COUNT(*) FROM fees").fetchone()[0])
        except sqlite3.OperationalError:  # the daemon is creating it
            return 0


def _report(cfg: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_cli("report", "-c", str(cfg), "--lang", "en", *args)


def test_the_statement_matches_the_vaults_billing_and_a_removed_record_is_listed(
    tmp_path: Path, tls: TlsFiles, identity: TestIdentity
) -> None:
    second = make_identity(tmp_path / "id2", SECOND_PROVIDER)
    with running_vault(tmp_path / "vault", tls=tls,
                       patients={SIDECAR_MATRICULE: "green"}) as vp:
        cfg = write_config(tmp_path / "practice", [(PROVIDER, identity),
                                                   (SECOND_PROVIDER, second)], vault=vp)
        no_assistant = sidecar("R-4", "invoice", SECOND_PROVIDER)
        del no_assistant["submitted_by"]
        docs = {
            "r-1": sidecar("R-1", "invoice", PROVIDER),
            "r-2": sidecar("R-2", "prescription", PROVIDER,
                           patient={"matricule": SIDECAR_MATRICULE, "last_name": "Weber",
                                    "first_name": "Anne", "insurer": "CMFEP"}),
            "r-3": sidecar("R-3", "certificate", SECOND_PROVIDER),
            "r-4": no_assistant,
        }
        pdfs = {stem: unsigned_pdf(f"Document {stem}") for stem in docs}
        with running_daemon(cfg) as d:
            for stem, meta in docs.items():
                drop(d.outbox, stem, pdfs[stem], meta)
            for stem in docs:
                assert d.wait_outcome(stem, 60)["state"] == "delivered", d.log()
            # An identical re-drop of a delivered document: replayed, billed once.
            drop(d.outbox, "r-1-again", pdfs["r-1"], docs["r-1"])
            assert d.wait_outcome("r-1-again", 60)["state"] == "delivered", d.log()
            # The daemon itself records each fee as the vault confirms it.
            wait_for(lambda: _ledger_count(d) == 4, 20, "four fees in the daemon's ledger",
                     on_fail=lambda: f"ledger={_ledger_count(d)}\n{d.log()}")
            receipts = {stem: d.receipt(stem) for stem in docs}
        quarter = quarter_of(dt.datetime.now(dt.UTC))

        # -- the statement matches the vault's billing exactly ------------------------
        out = tmp_path / "statements"
        res = _report(cfg, "--quarter", quarter, "--output", str(out))
        assert res.returncode == 0, res.stdout + res.stderr
        csv_path = out / f"econnector-fees-{quarter}.csv"
        txt_path = out / f"econnector-fees-{quarter}.txt"
        rows = _rows(csv_path)
        billed = {pc: _billing(vp, quarter, pc) for pc in (PROVIDER, SECOND_PROVIDER)}
        vault_rows = [r for b in billed.values() for r in b["records"]]
        assert len(rows) == len(vault_rows) == 4
        assert {(r["vault_document_id"], r["provider_code"], r["type"], r["amount"],
                 r["currency"], r["recorded_at"]) for r in rows} == {
            (r["vault_document_id"], r["provider_code"], r["type"], r["amount"],
             r["currency"], r["recorded_at"]) for r in vault_rows}
        for pc in (PROVIDER, SECOND_PROVIDER):
            mine = [r for r in rows if r["provider_code"] == pc]
            assert len(mine) == len(billed[pc]["records"]) == 2
            assert sum(Decimal(r["amount"]) for r in mine) == Decimal(billed[pc]["total"])
        by_doc = {r["document_id"]: r for r in rows}
        for stem, meta in docs.items():
            receipt = receipts[stem]
            assert receipt is not None
            row = by_doc[meta["document_id"]]
            assert row["vault_document_id"] == receipt["vault_document_id"]
            assert row["amount"] == receipt["fee"]["amount"]
            assert row["insurer"] == meta["patient"]["insurer"]
            assert row["submitted_by"] == meta.get("submitted_by", "")
            assert row["quarter"] == quarter
        total = sum(Decimal(b["total"]) for b in billed.values())
        text = txt_path.read_text("utf-8")
        assert f"Total: 4 delivered documents, fees {total:.2f} EUR" in text
        assert "every document and fee matches." in text
        mismatches = out / f"econnector-fees-{quarter}-mismatches.csv"
        assert mismatches.exists() and _rows(mismatches) == []
        assert SIDECAR_MATRICULE not in text + csv_path.read_text("utf-8") + res.stdout

        # -- one fee record removed in the vault's database --------------------------
        gone = by_doc["R-3"]["vault_document_id"]
        with sqlite3.connect(vp.data_dir / "vault.sqlite") as db:
            assert db.execute("DELETE FROM fees WHERE vault_document_id = ?",
                              [gone]).rowcount == 1
        assert len(_billing(vp, quarter, SECOND_PROVIDER)["records"]) == 1
        res = _report(cfg, "--quarter", quarter, "--output", str(out))
        assert res.returncode == 1, res.stdout + res.stderr
        [listed] = _rows(mismatches)
        assert (listed["kind"], listed["vault_document_id"], listed["provider_code"],
                listed["document_id"], listed["ledger_amount"], listed["vault_amount"]) == (
            "not-billed", gone, SECOND_PROVIDER, "R-3", by_doc["R-3"]["amount"], "")
        text = txt_path.read_text("utf-8")
        assert "1 difference." in text
        [line] = [x for x in text.splitlines() if x.startswith("- ")]
        assert "not billed by the vault" in line and gone in line and "R-3" in line
        assert line in res.stdout

        # -- one doctor; without the vault ------------------------------------------
        res = _report(cfg, "--quarter", quarter, "--output", str(out), "--provider", PROVIDER)
        assert res.returncode == 0, res.stdout + res.stderr
        assert len(_rows(out / f"econnector-fees-{quarter}-{PROVIDER}.csv")) == 2
        res = _report(cfg, "--quarter", quarter, "--output", str(out / "offline"), "--offline")
        assert res.returncode == 0, res.stdout + res.stderr
        assert len(_rows(out / "offline" / f"econnector-fees-{quarter}.csv")) == 4
        assert not (out / "offline" / f"econnector-fees-{quarter}-mismatches.csv").exists()

        # -- a token the vault refuses: exit 2, said in one line --------------------
        doc = yaml.safe_load(cfg.read_text())
        wrong = tmp_path / "wrong.token"
        wrong.write_text("not-a-token-of-this-vault\n")
        wrong.chmod(0o600)
        doc["vault"] = {**doc["vault"], "token_file": str(wrong)}
        refused = tmp_path / "refused.yaml"
        refused.write_text(yaml.safe_dump(doc))
        res = _report(refused, "--quarter", quarter, "--output", str(tmp_path / "none"))
        assert res.returncode == 2, res.stdout + res.stderr
        assert res.stderr.startswith("econnector: The vault refused econnector's token for "
                                     "doctor "), res.stderr
        assert "HTTP 401" in res.stderr and len(res.stderr.strip().splitlines()) == 1

    # -- a vault that cannot be asked: exit 2, one line, nothing written ----------------
    doc = yaml.safe_load(cfg.read_text())
    doc["vault"] = {**doc["vault"], "url": f"https://127.0.0.1:{free_port()}"}
    dead = tmp_path / "dead-vault.yaml"
    dead.write_text(yaml.safe_dump(doc))
    res = _report(dead, "--quarter", quarter, "--output", str(tmp_path / "none"))
    assert res.returncode == 2, res.stdout + res.stderr
    assert res.stderr.startswith("econnector: The vault's billing of doctor ")
    assert len(res.stderr.strip().splitlines()) == 1 and "Traceback" not in res.stderr
    assert not (tmp_path / "none").exists()
    res = _report(cfg, "--quarter", "2026Q5")
    assert res.returncode == 2 and "--quarter" in res.stderr

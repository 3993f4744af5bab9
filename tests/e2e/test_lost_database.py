"""The state database is deleted: a restart rebuilds what it can from the inbox, the
signed bytes in work/ and the vault's idempotent answers, and sends nothing twice."""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

import pytest

from econnector_testsupport.daemon import (
    PROVIDER,
    drop,
    econnector_cmd,
    make_identity,
    running_daemon,
    sidecar,
    wait_for,
    write_config,
)
from econnector_testsupport.vault import (
    free_port,
    running_vault,
    subprocess_env,
    unsigned_pdf,
    vault_records,
)

pytestmark = pytest.mark.e2e


def delete_db(root: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        (root / "work" / f"state.sqlite{suffix}").unlink(missing_ok=True)


def test_crash_after_upload_then_database_lost(tmp_path: Path) -> None:
    ident = make_identity(tmp_path / "id")
    with running_vault(tmp_path / "vault") as vp:
        cfg = write_config(tmp_path / "practice", [(PROVIDER, ident)], vault=vp)
        root = tmp_path / "practice"
        (root / "outbox").mkdir(parents=True, exist_ok=True)
        drop(root / "outbox", "doc", unsigned_pdf("lost db"), sidecar("LOST-1"))
        first = subprocess.run(
            econnector_cmd("run", "-c", str(cfg)), capture_output=True, timeout=60,
            env={**subprocess_env(), "ECONNECTOR_CRASH_AT": "after-upload-before-commit"})
        assert first.returncode == -9
        assert len(vault_records(vp, PROVIDER)) == 1  # the vault has it; we never recorded it
        delete_db(root)
        with running_daemon(cfg) as d:
            assert d.wait_outcome("doc")["state"] == "delivered"
        assert len(vault_records(vp, PROVIDER)) == 1  # the same bytes were replayed
        receipt = d.receipt("doc")
        assert receipt is not None
        assert receipt["vault_document_id"] == vault_records(vp, PROVIDER)[0]["vault_document_id"]


def test_signed_waiting_documents_survive_a_lost_database(tmp_path: Path) -> None:
    ident = make_identity(tmp_path / "id")
    port = free_port()
    token = "lost-db-token-0123456789"
    cfg = write_config(tmp_path / "practice", [(PROVIDER, ident)],
                       vault_url=f"http://127.0.0.1:{port}", token=token)
    root = tmp_path / "practice"
    (root / "outbox").mkdir(parents=True, exist_ok=True)
    for i in range(3):
        drop(root / "outbox", f"w{i}", unsigned_pdf(f"w{i}"), sidecar(f"LOST-W{i}"))
    proc = subprocess.Popen(econnector_cmd("run", "-c", str(cfg)), env=subprocess_env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: len(list((root / "work" / "signed").glob("*.pdf"))) == 3, 30,
                 "three signed documents waiting for the vault")
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    signed_before = {p.name: p.read_bytes() for p in (root / "work" / "signed").glob("*.pdf")}
    delete_db(root)
    with running_vault(tmp_path / "vault", token=token, port=port) as vp, \
            running_daemon(cfg) as d:
        for i in range(3):
            assert d.wait_outcome(f"w{i}")["state"] == "delivered"
        records = vault_records(vp, PROVIDER)
        assert len(records) == 3
        for i in range(3):
            signed = (d.inbox / f"w{i}.signed.pdf").read_bytes()
            assert signed in signed_before.values()  # not signed a second time


def test_redrop_after_database_lost_replays_the_receipt(tmp_path: Path) -> None:
    ident = make_identity(tmp_path / "id")
    with running_vault(tmp_path / "vault") as vp:
        cfg = write_config(tmp_path / "practice", [(PROVIDER, ident)], vault=vp)
        pdf = unsigned_pdf("again")
        with running_daemon(cfg) as d:
            drop(d.outbox, "a", pdf, sidecar("LOST-A"))
            assert d.wait_outcome("a")["state"] == "delivered"
        first = d.receipt("a")
        delete_db(d.root)
        with running_daemon(cfg) as d:
            drop(d.outbox, "a-again", pdf, sidecar("LOST-A"))
            assert d.wait_outcome("a-again")["state"] == "delivered"
            assert d.receipt("a-again") == first
            # other content under the same document_id is still refused
            drop(d.outbox, "a-other", unsigned_pdf("other"), sidecar("LOST-A"))
            st = d.wait_outcome("a-other")
            assert st["state"] == "rejected" and st["reason"] == "duplicate-document-id"
        assert len(vault_records(vp, PROVIDER)) == 1


def test_damaged_database_is_set_aside_and_rebuilt(tmp_path: Path) -> None:
    ident = make_identity(tmp_path / "id")
    with running_vault(tmp_path / "vault") as vp:
        cfg = write_config(tmp_path / "practice", [(PROVIDER, ident)], vault=vp)
        pdf = unsigned_pdf("damaged")
        with running_daemon(cfg) as d:
            drop(d.outbox, "a", pdf, sidecar("DAM-A"))
            assert d.wait_outcome("a")["state"] == "delivered"
        db = d.root / "work" / "state.sqlite"
        db.write_bytes(b"this is not a database" * 100)
        for suffix in ("-wal", "-shm"):
            (d.root / "work" / f"state.sqlite{suffix}").unlink(missing_ok=True)
        with running_daemon(cfg) as d:
            drop(d.outbox, "a2", pdf, sidecar("DAM-A"))
            assert d.wait_outcome("a2")["state"] == "delivered"
            assert d.receipt("a2") == d.receipt("a")
            assert '"state-database-damaged"' in d.log_path.read_text()
        assert list((d.root / "work").glob("state.sqlite.damaged-*"))
        assert len(vault_records(vp, PROVIDER)) == 1

"""Vault faults as the daemon lives them: an outage under load, refused credentials,
and injected failures; plus a disk or inbox that becomes unusable."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from econnector_testsupport.daemon import (
    PROVIDER,
    drop,
    make_identity,
    running_daemon,
    sidecar,
    unique_matricule,
    wait_for,
    write_config,
)
from econnector_testsupport.vault import free_port, running_vault, unsigned_pdf, vault_records

pytestmark = pytest.mark.e2e


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def test_outage_under_load_delivers_all_once_in_order_with_flat_memory(tmp_path: Path) -> None:
    n = 300
    ident = make_identity(tmp_path / "id")
    port = free_port()
    token = "outage-token-0123456789"
    cfg = write_config(tmp_path / "practice", [(PROVIDER, ident)],
                       vault_url=f"http://127.0.0.1:{port}", token=token,
                       watch={"rescan_interval_s": 2}, logging={"level": "info"})
    pdf = unsigned_pdf("outage")
    with running_daemon(cfg) as d:
        for i in range(n):
            drop(d.outbox, f"o{i:03d}", pdf, sidecar(f"OUT-{i:03d}", mat=unique_matricule(i)))
        wait_for(lambda: len(list((d.root / "work" / "signed").glob("*.pdf"))) == n, 120,
                 "all documents signed while the vault is down", on_fail=d.log)
        # Every document waits at the gate (a document still between its signature and
        # its first upload attempt when the vault returns would simply go first).
        wait_for(lambda: all((d.status(f"o{i:03d}") or {}).get("state") == "waiting-retry"
                             for i in range(n)), 60,
                 "every document waiting for the vault", on_fail=d.log)
        assert d.proc is not None
        rss_before = rss_kib(d.proc.pid)
        wait_for(lambda: d.health().get("vault", {}).get("state") == "outage", 10,
                 "the outage to show in daemon-status.json")
        # several backoff rounds (retry base 0.2 s, cap 1 s in tests)
        wait_for(lambda: '"failures": 4' in d.log_path.read_text(), 30,
                 "four failed probes", on_fail=d.log)
        st = d.status("o150")
        assert st is not None and st["state"] == "waiting-retry"
        assert st["reason"] == "vault-unavailable" and st["next_attempt_at"]
        with running_vault(tmp_path / "vault", token=token, port=port) as vp:
            for i in range(n):
                assert d.wait_outcome(f"o{i:03d}", timeout=120)["state"] == "delivered"
            records = vault_records(vp, PROVIDER)
        rss_after = rss_kib(d.proc.pid)
    assert len(records) == n
    assert len({r["vault_document_id"] for r in records}) == n
    # Uploads start in the order dropped, 4 at a time (vault.concurrency): a document
    # can overtake at most the 3 started before it that are still in flight. (It
    # can be overtaken by more: one slow upload lets the other 3 slots go on.)
    by_vault_id = {d.receipt(f"o{i:03d}")["vault_document_id"]: i for i in range(n)}  # type: ignore[index]
    order = [by_vault_id[r["vault_document_id"]] for r in records]
    early = [(pos, idx) for pos, idx in enumerate(order) if idx - pos > 3]
    assert not early, f"(position at the vault, drop index): {early}"
    assert rss_after - rss_before < 40 * 1024, (rss_before, rss_after)


def test_refused_credentials_pause_everything_until_the_token_is_fixed(tmp_path: Path) -> None:
    ident = make_identity(tmp_path / "id")
    with running_vault(tmp_path / "vault") as vp:
        cfg = write_config(tmp_path / "practice", [(PROVIDER, ident)], vault=vp,
                           token="a-wrong-token-0123456789")
        with running_daemon(cfg) as d:
            for i in range(3):
                drop(d.outbox, f"t{i}", unsigned_pdf(f"t{i}"), sidecar(f"TOK-{i}"))
            for i in range(3):
                wait_for(lambda i=i: (s := d.status(f"t{i}")) and s["state"] == "held"
                         and s["reason"] == "vault-unauthorized", 30, "held statuses",
                         on_fail=d.log)
            assert d.health()["vault"]["state"] == "unauthorized"
            assert '"vault-unauthorized"' in d.log_path.read_text()
            # IT fixes the token file: no restart needed
            (d.root / "vault.token").write_text(vp.token + "\n")
            for i in range(3):
                assert d.wait_outcome(f"t{i}", timeout=30)["state"] == "delivered"
            assert d.health()["vault"]["state"] == "open"
        assert len(vault_records(vp, PROVIDER)) == 3


@pytest.mark.parametrize("folder", ["inbox", "archive"])
def test_unusable_folder_pauses_and_resumes(tmp_path: Path, folder: str) -> None:
    """The inbox or the archive replaced by a file (as a full or read-only disk: writes
    fail): nothing is lost, the daemon says why it waits, and resumes by itself. An
    inbox that is not a folder is ``inbox-missing`` (nothing is claimed: no answer
    could be written); an archive that fails a write pauses storage."""
    ident = make_identity(tmp_path / "id")
    cfg = write_config(tmp_path / "practice", [(PROVIDER, ident)])
    with running_daemon(cfg) as d:
        drop(d.outbox, "before", unsigned_pdf("before"), sidecar("INB-0"))
        assert d.wait_outcome("before")["state"] == "delivered"
        target = d.root / folder
        moved = d.root / f"{folder}.moved"
        os.replace(target, moved)
        target.write_text("not a folder")
        drop(d.outbox, "during", unsigned_pdf("during"), sidecar("INB-1"))

        def paused() -> bool:
            h = d.health()
            if folder == "inbox":
                return bool(h.get("inbox_missing")) and h["folders"]["inbox"]["reason"] == \
                    "inbox-missing"
            return bool(h.get("storage", {}).get("paused"))

        wait_for(paused, 20, f"the pause for the {folder}", on_fail=d.log)
        assert (d.outbox / "during.pdf").exists()  # nothing lost
        assert d.alive()
        target.unlink()
        shutil.move(str(moved), str(target))
        assert d.wait_outcome("during", timeout=30)["state"] == "delivered"
        wait_for(lambda: not paused(), 10, "the pause to end")
        assert list(d.archive.rglob("during.pdf"))

"""End to end: the real ``econnector run`` and the real vault server over loopback,
driven through the folder contract as a vendor's software would."""

from __future__ import annotations

import datetime
import hashlib
import json
import ssl
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from econnector import names
from econnector.testid import TestIdentity
from econnector_testsupport.daemon import (
    PROVIDER,
    Daemon,
    assert_pdfsig_last_valid,
    drop,
    econnector_cmd,
    pyhanko_status,
    running_daemon,
    sidecar,
    slow_write,
    wait_for,
    write_config,
)
from econnector_testsupport.vault import VaultProcess, subprocess_env, unsigned_pdf

pytestmark = pytest.mark.e2e


@pytest.fixture
def daemon(tmp_path: Path, identity: TestIdentity, tls_vault: VaultProcess) -> Iterator[Daemon]:
    """A fresh practice per test on the shared identity and TLS vault (fixtures.py)."""
    cfg = write_config(tmp_path / "practice", [(PROVIDER, identity)], vault=tls_vault)
    with running_daemon(cfg) as d:
        yield d


def vault_get(vp: VaultProcess, path: str) -> httpx.Response:
    return httpx.get(
        f"{vp.base_url}{path}",
        headers={"Authorization": f"Bearer {vp.token}"},
        verify=ssl.create_default_context(cafile=str(vp.ca_bundle)) if vp.ca_bundle else True,
        timeout=10,
    )


def billing_records(vp: VaultProcess) -> list[dict]:  # type: ignore[type-arg]
    """All fee records of this quarter for the test provider (one per stored document)."""
    today = datetime.date.today()
    quarter = f"{today.year}Q{(today.month - 1) // 3 + 1}"
    r = vault_get(vp, f"/v1/billing/activity?quarter={quarter}&provider_code={PROVIDER}")
    assert r.status_code == 200, r.text
    return r.json()["records"]  # type: ignore[no-any-return]


def test_invoice_is_signed_delivered_receipted_and_archived(
    daemon: Daemon, tls_vault: VaultProcess, identity: TestIdentity
) -> None:
    pdf = unsigned_pdf("Invoice E2E-1")
    drop(daemon.outbox, "inv-e2e-1", pdf, sidecar("E2E-1"))
    status = daemon.wait_outcome("inv-e2e-1")
    assert status["state"] == "delivered", status
    assert status["document_id"] == "E2E-1"

    receipt = daemon.receipt("inv-e2e-1")
    assert receipt is not None
    signed = daemon.inbox / "inv-e2e-1.signed.pdf"
    signed_bytes = signed.read_bytes()
    assert receipt["schema"] == "econnector.receipt/v1"
    assert receipt["document_id"] == "E2E-1" and receipt["type"] == "invoice"
    assert receipt["provider_code"] == PROVIDER and receipt["submitted_by"] == "anna"
    assert receipt["patient"] == {"matricule_masked": "1893********2", "insurer": "CNS"}
    assert receipt["original_sha256"] == hashlib.sha256(pdf).hexdigest()
    assert receipt["signed_sha256"] == hashlib.sha256(signed_bytes).hexdigest()
    assert receipt["signature"]["level"] == "PAdES-B-B"
    assert receipt["signature"]["subfilter"] == "ETSI.CAdES.detached"
    assert receipt["signature"]["digest_algorithm"] == "sha256"
    assert "TEST" in receipt["signature"]["signer_subject"]
    assert receipt["fee"] == {"amount": "0.30", "currency": "EUR"}
    # incremental update: the original bytes are untouched at the start of the signed file
    assert signed_bytes[: len(pdf)] == pdf

    # the receipt for people, in the sidecar's language; no patient name anywhere
    text = (daemon.inbox / "inv-e2e-1.receipt.txt").read_text("utf-8")
    assert "Accusé de dépôt" in text and "1893********2" in text
    for f in daemon.inbox.iterdir():
        if f.suffix in (".json", ".txt"):
            body = f.read_text("utf-8")
            assert "Weber" not in body and "1893120105732" not in body, f.name

    # two independent validators
    last, earlier = pyhanko_status(signed, identity.ca_cert)
    assert last.intact and last.valid and last.trusted, last.pretty_print_details()
    assert last.coverage.name == "ENTIRE_FILE"
    assert earlier == []
    assert_pdfsig_last_valid(signed)

    # the vault holds exactly these bytes, once
    r = vault_get(tls_vault, f"/v1/documents/{receipt['vault_document_id']}")
    assert r.status_code == 200, r.text
    assert r.json()["sha256"] == receipt["signed_sha256"]
    assert r.json()["metadata"]["patient"]["matricule"] == "1893120105732"
    stored = list(tls_vault.data_dir.rglob(f"{receipt['vault_document_id']}.pdf"))
    assert len(stored) == 1 and stored[0].read_bytes() == signed_bytes

    # originals archived under YYYY/MM, outbox empty, no temp files for the practice
    names = sorted(p.name for p in daemon.archived())
    assert names == ["inv-e2e-1.pdf", "inv-e2e-1.signed.pdf", "inv-e2e-1.yaml"]
    assert list(daemon.outbox.iterdir()) == []
    assert not [p for p in daemon.inbox.iterdir() if p.name.startswith(".")]
    assert daemon.failed.exists() and list(daemon.failed.iterdir()) == []


def test_sidecar_first_json_and_a_slow_writer(daemon: Daemon) -> None:
    pdf = unsigned_pdf("Prescription slow", pages=3)
    meta = sidecar("E2E-SLOW", type_="prescription", language="de")
    (daemon.outbox / "slow.json").write_text(json.dumps(meta))
    # the sidecar alone: the daemon says it waits for the PDF
    wait_for(
        lambda: (daemon.status("slow") or {}).get("reason") == "awaiting-pdf",
        10,
        "awaiting-pdf status",
    )
    # a PDF written in bursts with pauses longer than settle (100 ms in tests)
    slow_write(daemon.outbox / "slow.pdf", pdf, chunks=4, pause=0.3)
    status = daemon.wait_outcome("slow")
    assert status["state"] == "delivered", status
    signed = (daemon.inbox / "slow.signed.pdf").read_bytes()
    assert signed[: len(pdf)] == pdf  # signed the complete file, not a prefix
    assert "Zustellbestätigung" in (daemon.inbox / "slow.receipt.txt").read_text("utf-8")


def test_pdf_without_sidecar_waits_and_says_so(daemon: Daemon) -> None:
    drop_pdf = daemon.outbox / "lonely.pdf"
    drop_pdf.write_bytes(unsigned_pdf("lonely"))
    st = wait_for(lambda: daemon.status("lonely"), 10, "a status file")
    assert st["state"] == "waiting" and st["reason"] == "awaiting-sidecar"
    assert "lonely.yaml" in st["message"]
    assert drop_pdf.exists()  # never taken without its sidecar
    (daemon.outbox / "lonely.yaml").write_text(
        __import__("yaml").safe_dump(sidecar("E2E-LONELY", type_="certificate"))
    )
    assert daemon.wait_outcome("lonely")["state"] == "delivered"


def test_identical_redrop_replays_the_receipt_and_sends_nothing(
    daemon: Daemon, tls_vault: VaultProcess
) -> None:
    pdf = unsigned_pdf("dup")
    drop(daemon.outbox, "dup-a", pdf, sidecar("E2E-DUP"))
    assert daemon.wait_outcome("dup-a")["state"] == "delivered"
    first = daemon.receipt("dup-a")
    assert first is not None
    records_before = billing_records(tls_vault)
    assert [r["vault_document_id"] for r in records_before].count(first["vault_document_id"]) == 1
    drop(daemon.outbox, "dup-b", pdf, sidecar("E2E-DUP"))
    assert daemon.wait_outcome("dup-b")["state"] == "delivered"
    second = daemon.receipt("dup-b")
    assert second == first  # the same receipt, written again
    assert (daemon.inbox / "dup-b.signed.pdf").read_bytes() == (
        daemon.inbox / "dup-a.signed.pdf"
    ).read_bytes()
    assert billing_records(tls_vault) == records_before  # nothing new stored, no new fee
    # other content under the same document_id: refused, original kept in failed/
    drop(daemon.outbox, "dup-c", unsigned_pdf("dup, changed"), sidecar("E2E-DUP"))
    st = daemon.wait_outcome("dup-c")
    assert st["state"] == "rejected" and st["reason"] == "duplicate-document-id"
    err = daemon.error("dup-c")
    assert err is not None and err["code"] == "duplicate-document-id"
    assert sorted(p.name for p in daemon.failed.iterdir()) == ["dup-c.pdf", "dup-c.yaml"]
    assert billing_records(tls_vault) == records_before


def test_bad_sidecar_is_rejected_with_field_and_a_fixed_redrop_goes_through(
    daemon: Daemon,
) -> None:
    pdf = unsigned_pdf("fixme")
    bad = sidecar("E2E-FIX")
    bad["patient"]["matricule"] = "1893120105733"  # wrong check digit
    drop(daemon.outbox, "fixme", pdf, bad)
    st = daemon.wait_outcome("fixme")
    assert st["state"] == "rejected"
    err = daemon.error("fixme")
    assert err is not None
    assert err["schema"] == "econnector.error/v1"
    assert err["code"] == "matricule-verhoeff" and err["field"] == "patient.matricule"
    assert err["hint"]
    assert "1893120105733" not in json.dumps(err)
    txt = (daemon.inbox / "fixme.error.txt").read_text("utf-8")
    assert "matricule-verhoeff" in txt and "failed/" in txt
    assert sorted(p.name for p in daemon.failed.iterdir()) == ["fixme.pdf", "fixme.yaml"]
    # the vendor fixes the sidecar and drops the pair again
    drop(daemon.outbox, "fixme", pdf, sidecar("E2E-FIX"))
    wait_for(lambda: daemon.receipt("fixme"), 30, "the receipt of the fixed drop")
    # the final status follows the receipt (receipt, originals archived, then status)
    wait_for(lambda: (daemon.status("fixme") or {}).get("state") == "delivered", 10,
             "the delivered status")
    # the stale error files of the first attempt are gone; the failed copy stays
    assert daemon.error("fixme") is None
    assert not (daemon.inbox / "fixme.error.txt").exists()
    assert (daemon.failed / "fixme.pdf").exists()


@pytest.mark.parametrize(
    "stem,meta,code,field",
    [
        ("med", sidecar("E2E-MED", type_="lab-result"), "document-type-medical", "type"),
        ("unk", sidecar("E2E-UNK", colour="red"), "field-unknown", "colour"),
        (
            "prov",
            sidecar("E2E-PROV", provider="90999999"),
            "provider-unknown",
            "author.provider_code",
        ),
        ("nosch", "document_id: x\n", "field-missing", "schema"),
        ("garb", b"\xff\xfe\x00garbage", "sidecar-encoding", None),
    ],
)
def test_sidecar_rejections_through_the_daemon(
    daemon: Daemon, stem: str, meta: object, code: str, field: str | None
) -> None:
    drop(daemon.outbox, stem, unsigned_pdf(stem), meta)  # type: ignore[arg-type]
    st = daemon.wait_outcome(stem)
    assert st["state"] == "rejected"
    err = daemon.error(stem)
    assert err is not None and err["code"] == code, err
    assert err.get("field") == field
    assert (daemon.failed / f"{stem}.pdf").exists()


def test_bad_stem_pair_gets_an_error_file_and_lone_bad_files_are_left_alone(
    daemon: Daemon,
) -> None:
    drop(daemon.outbox, "bad name", unsigned_pdf("bad"), sidecar("E2E-BADNAME"))
    (daemon.outbox / ".hidden.pdf").write_bytes(unsigned_pdf("hidden"))
    (daemon.outbox / "~$lock.pdf").write_bytes(b"x")
    (daemon.outbox / "alone name.pdf").write_bytes(unsigned_pdf("alone"))
    # A stem the contract refuses is answered under a name of our own (names.out_stem).
    out = names.out_stem("bad name")
    assert out.startswith("bad-name-")
    st = daemon.wait_outcome(out)
    assert st["state"] == "rejected"
    err = daemon.error(out)
    assert err is not None and err["code"] == "bad-file-name"
    assert err["files"] == ["bad name.pdf", "bad name.yaml"]
    assert sorted(p.name for p in daemon.failed.iterdir()) == [f"{out}.pdf", f"{out}.yaml"]
    left = sorted(p.name for p in daemon.outbox.iterdir())
    assert left == [".hidden.pdf", "alone name.pdf", "~$lock.pdf"]


def test_both_orders_and_many_documents_each_delivered_once(
    daemon: Daemon, tls_vault: VaultProcess
) -> None:
    stems = []
    threads = []
    for i in range(12):
        stem = f"batch-{i:02d}"
        stems.append(stem)
        fmt = "json" if i % 2 else "yaml"
        t = threading.Thread(
            target=drop,
            args=(
                daemon.outbox,
                stem,
                unsigned_pdf(stem),
                sidecar(f"E2E-B{i:02d}", type_="certificate"),
            ),
            kwargs={"fmt": fmt, "sidecar_first": i % 3 == 0},
        )
        threads.append(t)
        t.start()
    for t in threads:
        t.join()
    for stem in stems:
        assert daemon.wait_outcome(stem)["state"] == "delivered"
    ids = {daemon.receipt(s)["vault_document_id"] for s in stems}  # type: ignore[index]
    assert len(ids) == 12


def test_local_vault_kind_embedded_default(tmp_path: Path, identity: TestIdentity) -> None:
    cfg = write_config(tmp_path / "practice", [(PROVIDER, identity)])
    with running_daemon(cfg) as d:
        drop(d.outbox, "local-1", unsigned_pdf("local"), sidecar("E2E-LOCAL"), fmt="json")
        assert d.wait_outcome("local-1")["state"] == "delivered"
        receipt = d.receipt("local-1")
        assert receipt is not None
    stored = list(
        (tmp_path / "practice" / "work" / "vault").rglob(f"{receipt['vault_document_id']}.pdf")
    )
    assert len(stored) == 1
    assert stored[0].read_bytes() == (d.inbox / "local-1.signed.pdf").read_bytes()


def test_logs_never_show_patient_identity(daemon: Daemon) -> None:
    drop(daemon.outbox, "priv", unsigned_pdf("priv"), sidecar("E2E-PRIV"))
    bad = sidecar("E2E-PRIV2")
    bad["patient"]["matricule"] = "1893120105733"
    drop(daemon.outbox, "priv2", unsigned_pdf("priv2"), bad)
    assert daemon.wait_outcome("priv")["state"] == "delivered"
    assert daemon.wait_outcome("priv2")["state"] == "rejected"
    # the log is there and is JSON lines (the line follows the status file closely)
    wait_for(lambda: '"event": "delivered"' in daemon.log_path.read_text("utf-8"), 10, "log")
    log = daemon.log_path.read_text("utf-8")
    for secret in ("1893120105732", "1893120105733", "Weber", "Anne"):
        assert secret not in log, secret
    for line in log.splitlines():
        json.loads(line)


def test_status_command_lists_documents_newest_first(daemon: Daemon) -> None:
    drop(daemon.outbox, "st-1", unsigned_pdf("st-1"), sidecar("E2E-ST1"))
    assert daemon.wait_outcome("st-1")["state"] == "delivered"
    drop(daemon.outbox, "st-2", unsigned_pdf("st-2"), sidecar("E2E-ST2", colour="x"))
    assert daemon.wait_outcome("st-2")["state"] == "rejected"
    r = subprocess.run(econnector_cmd("status", "-c", str(daemon.config), "--json"),
                       capture_output=True, text=True, env=subprocess_env(), timeout=60)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["counts"] == {"delivered": 1, "rejected": 1}
    assert [d["file"] for d in out["documents"]] == ["st-2", "st-1"]
    assert out["documents"][0]["reason"] == "field-unknown"
    assert out["documents"][1]["vault_document_id"].startswith("vd_")
    human = subprocess.run(econnector_cmd("status", "-c", str(daemon.config), "--lang", "en"),
                           capture_output=True, text=True, env=subprocess_env(), timeout=60)
    assert "delivered 1" in human.stdout and "rejected 1" in human.stdout

"""Issue 12, the patient's digital status through the real daemon and the reference
vault (a patients file with green, blue and red patients): red patients' documents are
signed, not sent, not billed, and end with the not-sent answer; green and blue ones are
delivered with the status on the receipt; invoices of patients who opted in carry the
QR code, read back from the rendered signed page (pdftoppm + zbarimg) and compared
with the receipt; a status that changes between the cache and the delivery ends the
same way as a red one, never as an error."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import httpx
import pytest

from econnector import invoiceqr
from econnector_testsupport.daemon import (
    assert_pdfsig_last_valid,
    drop,
    make_identity,
    pyhanko_status,
    require_tool,
    running_daemon,
    sidecar,
    unique_matricule,
    wait_for,
    write_config,
)
from econnector_testsupport.vault import (
    running_vault,
    set_digital_status,
    unsigned_pdf,
    vault_records,
)

pytestmark = pytest.mark.e2e

GREEN, BLUE, RED = unique_matricule(21), unique_matricule(22), unique_matricule(23)
TURNING = unique_matricule(24)  # green when first asked, red before its second document


def decode_qr(pdf: Path, tmp: Path) -> list[str]:
    """The QR codes on page 1 as a phone would read them: rendered at 300 dpi, decoded."""
    out = tmp / f"{pdf.stem}-page"
    subprocess.run([require_tool("pdftoppm"), "-r", "300", "-f", "1", "-l", "1", "-png",
                    "-singlefile", str(pdf), str(out)], check=True, timeout=60)
    r = subprocess.run([require_tool("zbarimg"), "--raw", "-q", f"{out}.png"],
                       capture_output=True, text=True, timeout=60)
    return [line for line in r.stdout.splitlines() if line]


def signed_copy(root: Path, stem: str) -> Path:
    found = sorted((root / "archive").rglob(f"{stem}.signed.pdf")) + sorted(
        (root / "inbox").glob(f"{stem}.signed.pdf"))
    assert found, f"no signed copy of {stem}"
    return found[0]


@pytest.fixture(scope="module")
def vault(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    patients = {GREEN: "green", BLUE: "blue", RED: "red", TURNING: "green"}
    with running_vault(tmp_path_factory.mktemp("vault"), patients=patients,
                       patient_simulator=True) as vp:
        yield vp


def test_green_blue_red_patients_end_as_they_should(tmp_path: Path, vault) -> None:  # type: ignore[no-untyped-def]
    provider = "70000091"
    ident = make_identity(tmp_path / "id", provider)
    root = tmp_path / "practice"
    cfg = write_config(root, [(provider, ident)], vault=vault)
    (root / "outbox").mkdir(parents=True, exist_ok=True)
    docs = {"inv-green": (GREEN, "invoice"), "inv-blue": (BLUE, "invoice"),
            "inv-red": (RED, "invoice"), "cert-red": (RED, "certificate"),
            "cert-green": (GREEN, "certificate")}
    with running_daemon(cfg) as d:
        for stem, (mat, type_) in docs.items():
            drop(root / "outbox", stem, unsigned_pdf(stem),
                 sidecar(stem.upper(), type_=type_, provider=provider, mat=mat))
        for stem, (mat, _) in docs.items():
            want = "patient-opted-out" if mat == RED else "delivered"
            wait_for(lambda s=stem, w=want: (st := d.status(s)) and st["state"] == w
                     and (w != "delivered" or d.receipt(s)), 60, f"{stem} {want}",
                     on_fail=lambda: d.log()[-3000:])
    inbox = root / "inbox"
    # Red: signed, not sent, not billed; the answer tells staff to hand over the print.
    for stem in ("inv-red", "cert-red"):
        answer = json.loads((inbox / f"{stem}.opted-out.json").read_text())
        assert answer["outcome"] == "not-sent" and answer["code"] == "patient-opted-out"
        assert answer["patient_status"]["status"] == "red"
        assert "signed PDF" in answer["hint"] or "PDF" in answer["hint"]
        assert (inbox / f"{stem}.signed.pdf").exists()
        assert not (inbox / f"{stem}.receipt.json").exists()
        assert decode_qr(inbox / f"{stem}.signed.pdf", tmp_path) == []  # no QR for red
    records = vault_records(vault, provider)
    assert sorted(r["type"] for r in records) == ["certificate", "invoice", "invoice"]
    # Green and blue: delivered, the status on the receipt.
    for stem, status in (("inv-green", "green"), ("inv-blue", "blue"),
                         ("cert-green", "green")):
        receipt = d.receipt(stem)
        assert receipt is not None and receipt["patient_status"]["status"] == status
    # The QR code of opted-in patients' invoices: read back, equal to the receipt's.
    for stem in ("inv-green", "inv-blue"):
        receipt = d.receipt(stem)
        assert receipt is not None
        pdf = signed_copy(root, stem)
        assert decode_qr(pdf, tmp_path) == [receipt["invoice_qr"]["payload"]]
        fields = invoiceqr.parse(receipt["invoice_qr"]["payload"])
        assert fields.provider_code == provider and fields.total_cents == 8460
        assert receipt["invoice_qr"]["reference"] == fields.reference
        # ... and the vault's metadata carries the same reference.
        got = httpx.get(f"{vault.base_url}/v1/documents/{receipt['vault_document_id']}",
                        headers={"Authorization": f"Bearer {vault.token}"},
                        verify=str(vault.ca_bundle) if vault.ca_bundle else True)
        assert got.json()["metadata"]["invoice_qr_reference"] == fields.reference
        # Still a valid signature covering the whole file, QR included.
        assert_pdfsig_last_valid(pdf)
        last, _ = pyhanko_status(pdf, ident.ca_cert)
        assert last.intact and last.valid and last.coverage.name == "ENTIRE_FILE"
    # No QR code on a certificate.
    cert = d.receipt("cert-green")
    assert cert is not None and "invoice_qr" not in cert
    assert decode_qr(signed_copy(root, "cert-green"), tmp_path) == []


@pytest.mark.parametrize("ttl", [3600, 0])
def test_a_status_that_turns_red_after_caching(tmp_path: Path, vault, ttl: int) -> None:  # type: ignore[no-untyped-def]
    """With a long TTL the cached green lets the upload go, the vault answers 422
    patient-opted-out and the document ends not sent; with ``status_ttl_s: 0`` the
    status is asked again before the upload, and nothing is uploaded. Either way: no
    error file, no fee."""
    provider = "70000092" if ttl else "70000093"
    mat = unique_matricule(30 + ttl % 7)
    set_digital_status(vault, mat, "green")
    ident = make_identity(tmp_path / "id", provider)
    root = tmp_path / "practice"
    cfg = write_config(root, [(provider, ident)], vault=vault,
                       patients={"status_ttl_s": ttl})
    (root / "outbox").mkdir(parents=True, exist_ok=True)
    with running_daemon(cfg) as d:
        drop(root / "outbox", "one", unsigned_pdf("one"),
             sidecar("TURN-ONE", provider=provider, mat=mat, type_="certificate"))
        wait_for(lambda: d.receipt("one"), 60, "the first receipt")
        set_digital_status(vault, mat, "red")
        drop(root / "outbox", "two", unsigned_pdf("two"),
             sidecar("TURN-TWO", provider=provider, mat=mat, type_="certificate"))
        wait_for(lambda: (s := d.status("two")) and s["state"] == "patient-opted-out", 60,
                 "the second not sent", on_fail=lambda: d.log()[-3000:])
        log = d.log()
    inbox = root / "inbox"
    answer = json.loads((inbox / "two.opted-out.json").read_text())
    assert answer["outcome"] == "not-sent" and answer["patient_status"]["status"] == "red"
    assert not (inbox / "two.error.json").exists()
    assert len(vault_records(vault, provider)) == 1  # only the first was billed
    assert mat not in log  # never a matricule in the log


def test_status_is_not_asked_for_a_patient_twice_within_the_ttl_default(
        tmp_path: Path, vault) -> None:  # type: ignore[no-untyped-def]
    """Several documents of one patient: the vault's access log shows one status
    request (the cache, patients.status_ttl_s = 1 hour by default)."""
    provider = "70000094"
    mat = unique_matricule(41)
    ident = make_identity(tmp_path / "id", provider)
    root = tmp_path / "practice"
    cfg = write_config(root, [(provider, ident)], vault=vault)
    (root / "outbox").mkdir(parents=True, exist_ok=True)
    asked_before = vault.log().count("digital-status")
    with running_daemon(cfg) as d:
        for i in range(3):
            drop(root / "outbox", f"d{i}", unsigned_pdf(f"d{i}"),
                 sidecar(f"ONCE-{i}", provider=provider, mat=mat))
        for i in range(3):
            wait_for(lambda i=i: d.receipt(f"d{i}"), 60, f"receipt d{i}")
    assert len(vault_records(vault, provider)) == 3
    # Three invoices: the status asked once before the first was signed, then cached.
    assert vault.log().count("digital-status") - asked_before == 1

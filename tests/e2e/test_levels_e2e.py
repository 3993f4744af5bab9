"""Issue 11 end to end: the real daemon signs at each PAdES level with the loopback test
PKI (real TSA, OCSP and CRLs), checks every signature before upload, and delivers to
the reference vault started with ``--trust-roots``; each output is validated again here
by pyHanko (offline, against the test root) and by poppler's pdfsig. Services that go
down make documents wait, never fail; doctors whose certificate must not sign are held
with their own code."""

from __future__ import annotations

import asyncio
import io
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from asn1crypto import pem
from asn1crypto import x509 as asn1_x509
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import DocumentSecurityStore, async_validate_pdf_signature
from pyhanko_certvalidator import ValidationContext

from econnector_testsupport.daemon import (
    drop,
    pdfsig,
    run_cli,
    running_daemon,
    sidecar,
    wait_for,
    write_config,
)
from econnector_testsupport.pki import TestPki
from econnector_testsupport.vault import (
    VaultProcess,
    running_vault,
    unsigned_pdf,
    vault_records,
)

LEVELS = ("B-B", "B-T", "B-LT", "B-LTA")
GOOD = "90812100"


@pytest.fixture(scope="module")
def pki_vault(tmp_path_factory: pytest.TempPathFactory, pki: TestPki,
              tls: Any) -> Iterator[VaultProcess]:
    """The reference vault over TLS, refusing signatures that do not chain to the PKI."""
    with running_vault(tmp_path_factory.mktemp("vault"), tls=tls,
                       trust_roots=[pki.root_pem]) as v:
        yield v


def practice(root: Path, pki: TestPki, vault: VaultProcess, level: str,
             doctors: tuple[str, ...] = ("good",)) -> Path:
    signing: dict[str, Any] = {"level": level, "trust_roots": [str(pki.root_pem)],
                               "tsa": {"url": pki.tsa_url, "timeout_s": 5}}
    return write_config(root, [(pki.doctors[d].provider_code, pki.doctors[d])
                               for d in doctors], vault=vault, signing=signing)


def root_cert(pki: TestPki) -> asn1_x509.Certificate:
    return asn1_x509.Certificate.load(pem.unarmor(pki.root_pem.read_bytes())[2])


def validate_offline(path: Path, pki: TestPki, level: str) -> Any:
    """pyHanko, against the test root only, no fetching; revocation required from B-LT."""
    reader = PdfFileReader(io.BytesIO(path.read_bytes()))
    lt = level in ("B-LT", "B-LTA")
    kwargs = {"trust_roots": [root_cert(pki)], "allow_fetching": False,
              "revocation_mode": "hard-fail" if lt else "soft-fail"}
    dss = DocumentSecurityStore.read_dss(reader) if lt else None
    vc = dss.as_validation_context(kwargs) if dss else ValidationContext(**kwargs)
    status = asyncio.run(async_validate_pdf_signature(
        reader.embedded_regular_signatures[0], signer_validation_context=vc,
        ts_validation_context=vc))
    return status, dss, list(reader.embedded_timestamp_signatures)


@pytest.mark.parametrize("level", LEVELS)
def test_each_level_signs_checks_delivers_and_validates(tmp_path: Path, pki: TestPki,
                                                        pki_vault: VaultProcess,
                                                        level: str) -> None:
    stem = f"lvl-{level.lower()}"
    with running_daemon(practice(tmp_path / "p", pki, pki_vault, level)) as d:
        drop(d.outbox, stem, unsigned_pdf(stem), sidecar(f"LVL-{level}", provider=GOOD))
        status = d.wait_outcome(stem, timeout=60)
        assert status["state"] == "delivered", status
        receipt = d.receipt(stem)
        assert receipt is not None
        sig = receipt["signature"]
        assert sig["level"] == f"PAdES-{level}"
        check = sig["validation"]
        assert check["intact"] is True and check["trusted"] is True
        assert ("timestamp" in check) == (level != "B-B")
        assert ("revocation_data" in check) == (level in ("B-LT", "B-LTA"))
        assert ("document_timestamp" in check) == (level == "B-LTA")
        text = (d.inbox / f"{stem}.receipt.txt").read_text("utf-8")
        assert "Contrôle avant envoi" in text and "signature intacte" in text
        signed = d.inbox / f"{stem}.signed.pdf"
        status_ok, dss, doc_ts = validate_offline(signed, pki, level)
        assert status_ok.bottom_line, status_ok.pretty_print_details()
        assert (status_ok.timestamp_validity is not None) == (level != "B-B")
        if level in ("B-LT", "B-LTA"):
            assert dss is not None and len(dss.ocsps) >= 2  # the signer's and the TSA's
        assert bool(doc_ts) == (level == "B-LTA")
        out = pdfsig(signed)
        blocks = out.split("Signature #")[1:]
        assert "Signature Validation: Signature is Valid." in blocks[0], out
        assert "Total document signed" in blocks[-1], out


@pytest.mark.parametrize(("service", "code"), [("tsa", "tsa-unavailable"),
                                               ("revocation", "revocation-unavailable")])
def test_a_service_outage_makes_documents_wait_then_deliver_once(
        tmp_path: Path, pki: TestPki, pki_vault: VaultProcess, service: str,
        code: str) -> None:
    stems = [f"{service}-{i}" for i in range(3)]
    before = len(vault_records(pki_vault, GOOD))
    with running_daemon(practice(tmp_path / "p", pki, pki_vault, "B-LT")) as d:
        with pki.outage(service):
            for i, stem in enumerate(stems):
                drop(d.outbox, stem, unsigned_pdf(stem),
                     sidecar(f"OUT-{service}-{i}", provider=GOOD))

            def waiting() -> bool:
                states = [d.status(s) for s in stems]
                return all(s is not None and s["state"] == "waiting-retry"
                           and s.get("reason") == code for s in states)

            wait_for(waiting, 60, f"every document waiting-retry with {code}")
            st = d.status(stems[0])
            assert st is not None
            shown = pki.tsa_url if service == "tsa" else pki.revocation_base_url
            assert shown.split("//")[1].split("/")[0] in st["message"], st
            assert d.error(stems[0]) is None
        for stem in stems:
            assert d.wait_outcome(stem, timeout=90)["state"] == "delivered"
    # One fee record per stored document: each delivered once, none twice.
    assert len(vault_records(pki_vault, GOOD)) - before == len(stems)


def test_doctors_whose_certificate_must_not_sign_are_held_with_their_own_code(
        tmp_path: Path, pki: TestPki, pki_vault: VaultProcess) -> None:
    cases = {"revoked": "certificate-revoked", "expired": "certificate-expired",
             "not-yet-valid": "certificate-not-yet-valid",
             "wrong-key-usage": "certificate-key-usage"}
    cfg = practice(tmp_path / "p", pki, pki_vault, "B-B", doctors=("good", *cases))
    with running_daemon(cfg) as d:
        for label in cases:
            pc = pki.doctors[label].provider_code
            drop(d.outbox, f"held-{label}", unsigned_pdf(label), sidecar(f"H-{label}",
                                                                         provider=pc))
        drop(d.outbox, "fine", unsigned_pdf("fine"), sidecar("FINE", provider=GOOD))
        assert d.wait_outcome("fine", timeout=60)["state"] == "delivered"

        def held() -> dict[str, str] | None:
            got = {}
            for label in cases:
                s = d.status(f"held-{label}")
                if s is None or s["state"] != "held":
                    return None
                got[label] = s["reason"]
            return got

        reasons = wait_for(held, 60, "every wrong certificate held", on_fail=lambda: str(
            {label: d.status(f"held-{label}") for label in cases}))
        assert reasons == cases
        assert not list(d.inbox.glob("held-*.signed.pdf"))


def test_a_signature_the_vault_refuses_is_held_not_failed(
        tmp_path: Path, pki: TestPki, pki_vault: VaultProcess, identity: Any) -> None:
    """The TEST identity (not from the PKI the vault trusts), signing without trust roots
    of its own: the vault's 422 signature-invalid holds the document, with the reason in
    the staff's language; nothing goes to failed/."""
    cfg = write_config(tmp_path / "p", [(GOOD, identity)], vault=pki_vault)
    with running_daemon(cfg) as d:
        drop(d.outbox, "foreign", unsigned_pdf("foreign"), sidecar("FOREIGN", provider=GOOD))

        def held() -> dict[str, Any] | None:
            s = d.status("foreign")
            return s if s and s["state"] == "held" else None

        st = wait_for(held, 60, "the document held")
        assert st["reason"] == "signature-invalid"
        assert "ne remonte pas aux autorités de confiance" in st["message"]
        assert d.error("foreign") is None and not list(d.failed.iterdir())
    # IT installs the doctor's real certificate and restarts: signed again, delivered.
    cfg = practice(tmp_path / "p", pki, pki_vault, "B-T")
    with running_daemon(cfg) as d:
        assert d.wait_outcome("foreign", timeout=60)["state"] == "delivered"
        receipt = d.receipt("foreign")
        assert receipt is not None and receipt["signature"]["level"] == "PAdES-B-T"


# -- check-config: exit 0 means a document can be signed at its level now -----------------


def check_config(cfg: Path) -> subprocess.CompletedProcess[str]:
    return run_cli("check-config", "-c", str(cfg))


def test_check_config_passes_for_a_good_doctor_with_a_live_tsa(
        tmp_path: Path, pki: TestPki, pki_vault: VaultProcess) -> None:
    r = check_config(practice(tmp_path / "p", pki, pki_vault, "B-LTA"))
    assert r.returncode == 0, r.stderr
    assert f"signing.tsa: {pki.tsa_url} answers with a trusted timestamp" in r.stdout
    assert "signing: level B-LTA; 1 trust root" in r.stdout


@pytest.mark.parametrize(("doctor", "code"), [
    ("revoked", "certificate-revoked"), ("expired", "certificate-expired"),
    ("not-yet-valid", "certificate-not-yet-valid"),
    ("wrong-key-usage", "certificate-key-usage")])
def test_check_config_fails_for_each_certificate_that_must_not_sign(
        tmp_path: Path, pki: TestPki, pki_vault: VaultProcess, doctor: str,
        code: str) -> None:
    r = check_config(practice(tmp_path / "p", pki, pki_vault, "B-B", doctors=(doctor,)))
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert code in r.stderr
    assert "Traceback" not in r.stderr
    assert len([ln for ln in r.stderr.splitlines() if code in ln]) == 1  # said once


def test_check_config_fails_when_the_tsa_or_the_trust_roots_are_wrong(
        tmp_path: Path, pki: TestPki, pki_vault: VaultProcess, identity: Any) -> None:
    cfg = practice(tmp_path / "p", pki, pki_vault, "B-T")
    with pki.outage("tsa"):
        r = check_config(cfg)
    assert r.returncode == 2 and "tsa-unavailable" in r.stderr, r.stderr
    # Roots that are not the PKI's: the TSA's answer (and the doctor) are not trusted.
    other = write_config(tmp_path / "q", [(GOOD, pki.doctors["good"])], vault=pki_vault,
                         signing={"level": "B-T", "tsa": {"url": pki.tsa_url},
                                  "trust_roots": [str(identity.ca_cert)]})
    r = check_config(other)
    assert r.returncode == 2 and "signing.trust_roots" in r.stderr, r.stderr
    missing = write_config(tmp_path / "m", [(GOOD, pki.doctors["good"])], vault=pki_vault,
                           signing={"trust_roots": [str(tmp_path / "nope.pem")]})
    r = check_config(missing)
    assert r.returncode == 2 and "signing.trust_roots" in r.stderr and "nope.pem" in r.stderr


def test_the_visible_box_is_drawn_by_the_daemon_and_the_signature_stays_valid(
        tmp_path: Path, pki: TestPki, pki_vault: VaultProcess) -> None:
    cfg = write_config(tmp_path / "p", [(GOOD, pki.doctors["good"])], vault=pki_vault,
                       signing={"level": "B-T", "tsa": {"url": pki.tsa_url},
                                "trust_roots": [str(pki.root_pem)],
                                "visible": {"x_mm": 120, "y_mm": 15, "width_mm": 70,
                                            "height_mm": 22}})
    with running_daemon(cfg) as d:
        drop(d.outbox, "boxed", unsigned_pdf("boxed"),
             sidecar("BOXED", provider=GOOD, language="de"))
        assert d.wait_outcome("boxed", timeout=60)["state"] == "delivered"
        signed = d.inbox / "boxed.signed.pdf"
    reader = PdfFileReader(io.BytesIO(signed.read_bytes()))
    sig = reader.embedded_regular_signatures[0]
    widget = sig.sig_field
    rect = [float(x) for x in widget["/Rect"]]
    # 70 x 22 mm at (120, 15) mm, in points
    assert abs(rect[2] - rect[0] - 70 / 25.4 * 72) < 2
    assert abs(rect[3] - rect[1] - 22 / 25.4 * 72) < 2
    assert "/AP" in widget
    out = pdfsig(signed)
    assert "Signature is Valid" in out and "Total document signed" in out
    fonts = subprocess.run(["pdffonts", str(signed)], capture_output=True, text=True).stdout
    assert "DejaVu" in fonts and " yes " in fonts.split("DejaVu", 1)[1].splitlines()[0]

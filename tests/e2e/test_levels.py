"""PAdES levels as a signing worker makes them, against the loopback test PKI (real TSA,
OCSP and CRLs over HTTP): each level reached and checked, each service outage a wait,
each wrong certificate its own code. The daemon end to end: test_levels_e2e.py."""

from __future__ import annotations

import datetime as dt
import io
from pathlib import Path

import pytest
from asn1crypto import pem
from asn1crypto import x509 as asn1_x509
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import DocumentSecurityStore, async_validate_pdf_signature
from pyhanko_certvalidator import ValidationContext

from econnector import pades, signer, signworker
from econnector.errors import SignatureHeld
from econnector.signer import KeySpec, Policy, SignJob, read_check, read_trust_roots
from econnector_testsupport.daemon import pdfsig
from econnector_testsupport.pki import Doctor, TestPki
from econnector_testsupport.vault import unsigned_pdf

LEVELS = ("B-B", "B-T", "B-LT", "B-LTA")


def load(doctor: Doctor, level: str, pki: TestPki, tsa: bool = True) -> None:
    """This process becomes a signing worker holding ``doctor`` at ``level``."""
    signworker._SIGNERS.clear()
    signworker._KEYS.clear()
    secret = doctor.passphrase_file.read_bytes().rstrip(b"\r\n")
    policy = Policy(tsa_url=pki.tsa_url if tsa else None, tsa_timeout=5.0,
                    trust_roots=read_trust_roots([pki.root_pem]))
    signworker.init_worker([KeySpec(doctor.provider_code, level, secret, str(doctor.pkcs12))],
                           policy, 0)


def sign(tmp_path: Path, doctor: Doctor, name: str = "doc") -> signer.SignOutcome:
    src, dst = tmp_path / f"{name}.pdf", tmp_path / f"{name}.signed.pdf"
    src.write_bytes(unsigned_pdf(name))
    return signworker.sign_file(SignJob(doctor.provider_code, str(src), str(dst), 100, 16384,
                                        "Luxembourg"))


def assert_pdfsig(path: Path, level: str) -> None:
    """poppler's view of a file we signed at ``level``."""
    out = pdfsig(path)
    blocks = out.split("Signature #")[1:]
    assert len(blocks) == (2 if level == "B-LTA" else 1), out
    assert "Signature Validation: Signature is Valid." in blocks[0], out
    assert "Total document signed" in blocks[-1], out


def root(pki: TestPki) -> asn1_x509.Certificate:
    _, _, der = pem.unarmor(pki.root_pem.read_bytes())
    return asn1_x509.Certificate.load(der)


@pytest.mark.parametrize("level", LEVELS)
def test_each_level_is_reached_and_validates_offline(tmp_path: Path, pki: TestPki,
                                                     level: str) -> None:
    good = pki.doctors["good"]
    load(good, level, pki)
    out = sign(tmp_path, good)
    assert out.ok, out
    assert out.level == f"PAdES-{level}"
    signed = tmp_path / "doc.signed.pdf"
    # The self-check went beside the signed bytes, for the receipt (and a restart).
    assert read_check(signed) == (out.level, out.validation)
    assert out.validation["intact"] is True and out.validation["trusted"] is True
    # An independent validator: poppler. Our signature is valid; at B-LTA the document
    # timestamp after it covers the whole file (poppler does not verify timestamps).
    assert_pdfsig(signed, level)
    # pyHanko again, offline, against the test root only; revocation required from B-LT.
    reader = PdfFileReader(io.BytesIO(signed.read_bytes()))
    sig = reader.embedded_regular_signatures[0]
    lt = level in ("B-LT", "B-LTA")
    kwargs = {"trust_roots": [root(pki)], "allow_fetching": False,
              "revocation_mode": "hard-fail" if lt else "soft-fail"}
    dss = DocumentSecurityStore.read_dss(reader) if lt else None
    vc = dss.as_validation_context(kwargs) if dss else ValidationContext(**kwargs)
    before = pki.hits("ocsp") + pki.hits("crl")
    import asyncio

    status = asyncio.run(async_validate_pdf_signature(sig, signer_validation_context=vc,
                                                      ts_validation_context=vc))
    assert status.bottom_line, status.pretty_print_details()
    assert pki.hits("ocsp") + pki.hits("crl") == before  # no network fetches
    assert (status.timestamp_validity is not None) == (level != "B-B")
    if lt:
        assert dss is not None and dss.ocsps  # signer and TSA chains
    assert bool(list(reader.embedded_timestamp_signatures)) == (level == "B-LTA")


def test_validation_data_and_the_timestamp_client_are_reused(tmp_path: Path,
                                                             pki: TestPki) -> None:
    good = pki.doctors["good"]
    load(good, "B-LT", pki)
    assert sign(tmp_path, good, "first").ok
    ocsp = pki.hits("ocsp")
    for i in range(3):
        assert sign(tmp_path, good, f"more{i}").ok
    assert pki.hits("ocsp") == ocsp  # cached for its validity window
    # The self-check validated the chains and their revocation data once: one verdict.
    assert len(signworker.services().verdicts) == 1


def test_a_known_verdict_still_checks_each_documents_own_bytes(tmp_path: Path,
                                                               pki: TestPki) -> None:
    good = pki.doctors["good"]
    load(good, "B-LT", pki)
    assert sign(tmp_path, good, "a").ok and sign(tmp_path, good, "b").ok
    svc = signworker.services()
    assert len(svc.verdicts) == 1
    signed = bytearray((tmp_path / "b.signed.pdf").read_bytes())
    original = (tmp_path / "b.pdf").read_bytes()
    i = original.index(b"stream") + 10  # inside the page content: covered by the signature
    signed[i] ^= 0x01
    with pytest.raises(SignatureHeld) as e:
        svc.run(pades.self_check(io.BytesIO(bytes(signed)), len(original), "B-LT",
                                 svc.roots, svc.verdicts, svc.fresh_until))
    assert e.value.params["defect"] == pades.NOT_INTACT


@pytest.mark.parametrize(("service", "how", "code"), [
    ("tsa", "refuse", "tsa-unavailable"),
    ("tsa", "503", "tsa-unavailable"),
    ("revocation", "refuse", "revocation-unavailable"),
])
def test_a_service_that_is_down_makes_the_document_wait(tmp_path: Path, pki: TestPki,
                                                        service: str, how: str,
                                                        code: str) -> None:
    good = pki.doctors["good2"]
    load(good, "B-LT", pki)  # a fresh worker: nothing cached yet
    with pki.outage(service, how):
        out = sign(tmp_path, good, "down")
    assert (out.ok, out.code) == (False, code), out
    assert out.params["service"]
    assert not (tmp_path / "down.signed.pdf").exists()
    # Back up: the same worker signs (the failure was not cached).
    assert sign(tmp_path, good, "up").ok


@pytest.mark.parametrize(("doctor", "code"), [
    ("revoked", "certificate-revoked"),
    ("expired", "certificate-expired"),
    ("not-yet-valid", "certificate-not-yet-valid"),
])
def test_a_certificate_that_must_not_sign_is_refused_by_the_worker_too(
        tmp_path: Path, pki: TestPki, doctor: str, code: str) -> None:
    """The main process refuses these before any job (test_levels_e2e.py); the worker's
    own check before signing is the second line."""
    d = pki.doctors[doctor]
    load(d, "B-B", pki)
    out = sign(tmp_path, d)
    assert (out.ok, out.code) == (False, code), out
    assert not (tmp_path / "doc.signed.pdf").exists()


def test_the_main_process_sees_wrong_key_usage_and_dates_before_any_job(pki: TestPki) -> None:
    now = dt.datetime.now(dt.UTC)
    codes = {}
    for label, d in pki.doctors.items():
        info = signer.identity_info(d.provider_code, d.pkcs12,
                                    d.passphrase_file.read_bytes().rstrip(b"\r\n"))
        held = signer.validity(info, now)
        codes[label] = held.code if held else None
    assert codes == {"good": None, "good2": None, "revoked": None,
                     "expired": "certificate-expired",
                     "not-yet-valid": "certificate-not-yet-valid",
                     "wrong-key-usage": "certificate-key-usage"}


def test_untrusted_roots_hold_the_document_instead_of_sending_it(tmp_path: Path,
                                                                 pki: TestPki,
                                                                 identity: object) -> None:
    """Trust roots that do not include the doctor's CA: nothing is signed for upload."""
    good = pki.doctors["good"]
    signworker._SIGNERS.clear()
    signworker._KEYS.clear()
    other = read_trust_roots([Path(identity.ca_cert)])  # type: ignore[attr-defined]
    secret = good.passphrase_file.read_bytes().rstrip(b"\r\n")
    signworker.init_worker([KeySpec(good.provider_code, "B-B", secret, str(good.pkcs12))],
                           Policy(trust_roots=other), 0)
    out = sign(tmp_path, good)
    assert (out.ok, out.code) == (False, "signature-check-failed"), out
    assert "trust roots" in out.params["defect"]

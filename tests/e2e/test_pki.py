"""The loopback test PKI (econnector_testsupport.pki) proven with pyHanko alone, not the
daemon: a B-LTA signature made against it validates offline with revocation required,
the revoked doctor is revoked by OCSP and CRL, the bad doctors' dates and key usage are
what their names say, outages are real, and the benchmark's ``serve`` process works."""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import io
import json
import os
import selectors
import signal
import stat
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from asn1crypto import algos, core, crl, ocsp, x509
from pyhanko.keys import load_cert_from_pemder
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign import fields, signers
from pyhanko.sign.ades.report import AdESPassed
from pyhanko.sign.signers.pdf_signer import DSSContentSettings, SigDSSPlacementPreference
from pyhanko.sign.timestamps import HTTPTimeStamper
from pyhanko.sign.timestamps.common_utils import TimestampRequestError
from pyhanko.sign.validation import DocumentSecurityStore, validate_pdf_signature
from pyhanko.sign.validation.ades import ades_lta_validation
from pyhanko.sign.validation.policy_decl import (
    CertificateFetchingRule,
    PdfSignatureValidationSpec,
    RevinfoOnlineFetchingRule,
    RevocationInfoGatheringSpec,
    SignatureValidationSpec,
)
from pyhanko_certvalidator import CertificateValidator, ValidationContext
from pyhanko_certvalidator.context import CertValidationPolicySpec
from pyhanko_certvalidator.errors import RevokedError
from pyhanko_certvalidator.policy_decl import CertRevTrustPolicy, RevocationCheckingPolicy
from pyhanko_certvalidator.registry import SimpleTrustManager

from econnector.testid import is_test_identity
from econnector_testsupport.daemon import pdfsig
from econnector_testsupport.pki import Doctor, TestPki
from econnector_testsupport.vault import unsigned_pdf

DAY = dt.timedelta(days=1)


def _cert(path: Path) -> x509.Certificate:
    return load_cert_from_pemder(str(path))


def _sign_b_lta(pki: TestPki, doctor: Doctor) -> bytes:
    signer = signers.SimpleSigner.load_pkcs12(
        str(doctor.pkcs12), passphrase=doctor.passphrase_file.read_bytes().rstrip(b"\n"))
    assert signer is not None
    vc = ValidationContext(trust_roots=[_cert(pki.root_pem)], allow_fetching=True)
    meta = signers.PdfSignatureMetadata(
        field_name="Signature1", subfilter=fields.SigSeedSubFilter.PADES,
        embed_validation_info=True, use_pades_lta=True, validation_context=vc,
        # the DSS goes into the signature's own revision (and before the document
        # timestamp), so the last signature covers the whole file for pdfsig
        dss_settings=DSSContentSettings(
            include_vri=False, placement=SigDSSPlacementPreference.TOGETHER_WITH_SIGNATURE))
    out = io.BytesIO()
    signers.PdfSigner(meta, signer=signer, timestamper=HTTPTimeStamper(pki.tsa_url)).sign_pdf(
        IncrementalPdfFileWriter(io.BytesIO(unsigned_pdf("PKI test"))), output=out)
    return out.getvalue()


def _revocation_hits(pki: TestPki) -> tuple[int, int, int]:
    return pki.hits("ocsp"), pki.hits("crl"), pki.hits("cert")


def test_b_lta_signature_validates_offline_with_revocation_required(
        pki: TestPki, tmp_path: Path) -> None:
    signed = _sign_b_lta(pki, pki.doctors["good"])
    assert pki.hits("tsa") >= 2  # the signature timestamp and the document timestamp
    root = _cert(pki.root_pem)
    before = _revocation_hits(pki)

    reader = PdfFileReader(io.BytesIO(signed))
    assert len(reader.embedded_regular_signatures) == 1
    assert len(reader.embedded_timestamp_signatures) == 1  # B-LTA's document timestamp
    sig = reader.embedded_regular_signatures[0]

    # the AdES engine: long-term validation from what the PDF carries, no fetching
    policy = CertValidationPolicySpec(
        trust_manager=SimpleTrustManager.build(trust_roots=[root]),
        revinfo_policy=CertRevTrustPolicy(RevocationCheckingPolicy.from_legacy("hard-fail")))
    spec = PdfSignatureValidationSpec(SignatureValidationSpec(
        cert_validation_policy=policy,
        revinfo_gathering_policy=RevocationInfoGatheringSpec(
            online_fetching_rule=RevinfoOnlineFetchingRule.LOCAL_ONLY,
            certificate_fetching_rule=CertificateFetchingRule.NEVER_FETCH)))
    result = asyncio.run(ades_lta_validation(sig, spec))
    assert result.ades_subindic == AdESPassed.OK, result.failure_msg
    assert result.oldest_evidence_record_timestamp is not None
    status = result.api_status
    assert status is not None
    assert status.intact and status.valid and status.trusted, status.pretty_print_details()

    # the classic API with the DSS's data: hard-fail revocation at the current time
    vc = DocumentSecurityStore.read_dss(reader).as_validation_context(
        {"trust_roots": [root], "allow_fetching": False, "revocation_mode": "hard-fail"})
    classic = validate_pdf_signature(sig, vc)
    assert classic.intact and classic.valid and classic.trusted, classic.pretty_print_details()
    assert classic.timestamp_validity is not None and classic.timestamp_validity.trusted
    assert _revocation_hits(pki) == before, "validation fetched revocation data"

    # the DSS carries OCSP answers for the signer and for the TSA
    dss = DocumentSecurityStore.read_dss(reader)
    answered = {resp["tbs_response_data"]["responses"][0]["cert_id"]["serial_number"].native
                for resp in _dss_ocsp_responses(dss)}
    assert _cert(pki.doctors["good"].cert_pem).serial_number in answered
    assert _cert(pki.tsa_cert_pem).serial_number in answered

    # poppler: the signature is valid; the document timestamp (which poppler cannot
    # verify) is last and covers the whole file
    path = tmp_path / "signed.pdf"
    path.write_bytes(signed)
    report = pdfsig(path)
    signature, timestamp = report.split("Signature #")[1:]
    assert "Signature Validation: Signature is Valid." in signature, report
    assert "Total document signed" in timestamp, report


def _dss_ocsp_responses(dss: DocumentSecurityStore) -> list[ocsp.BasicOCSPResponse]:
    return [ocsp.OCSPResponse.load(ref.get_object().data).basic_ocsp_response
            for ref in dss.ocsps]


def _ocsp_status(doctor: Doctor, pki: TestPki) -> ocsp.SingleResponse:
    """Ask the doctor's AIA OCSP responder by hand (asn1crypto, urllib)."""
    cert, issuer = _cert(doctor.cert_pem), _cert(pki.intermediate_pem)
    cert_id = ocsp.CertId({
        "hash_algorithm": algos.DigestAlgorithm({"algorithm": "sha1"}),
        "issuer_name_hash": hashlib.sha1(issuer.subject.dump()).digest(),
        "issuer_key_hash": hashlib.sha1(issuer.public_key["public_key"].contents[1:]).digest(),
        "serial_number": cert.serial_number,
    })
    request = ocsp.OCSPRequest({"tbs_request": {"request_list": [{"req_cert": cert_id}]}})
    (url,) = cert.ocsp_urls
    assert url.startswith(pki.revocation_base_url + "/")
    post = urllib.request.Request(url, data=request.dump(),
                                  headers={"Content-Type": "application/ocsp-request"})
    with urllib.request.urlopen(post, timeout=10) as answer:
        response = ocsp.OCSPResponse.load(answer.read())
    assert response["response_status"].native == "successful"
    single: ocsp.SingleResponse = response.basic_ocsp_response["tbs_response_data"]["responses"][0]
    assert single["cert_id"]["serial_number"].native == cert.serial_number
    return single


def test_revoked_doctor_is_revoked_by_ocsp_and_crl(pki: TestPki) -> None:
    now = dt.datetime.now(dt.UTC)
    assert _ocsp_status(pki.doctors["good"], pki)["cert_status"].name == "good"
    revoked = _ocsp_status(pki.doctors["revoked"], pki)["cert_status"]
    assert revoked.name == "revoked"
    assert abs(revoked.chosen["revocation_time"].native - (now - DAY)) < dt.timedelta(hours=1)

    cert = _cert(pki.doctors["revoked"].cert_pem)
    (dp,) = cert.crl_distribution_points
    crl_url = dp.url
    assert crl_url.startswith(pki.revocation_base_url + "/")
    with urllib.request.urlopen(crl_url, timeout=10) as answer:
        certificate_list = crl.CertificateList.load(answer.read())
    listed = {entry["user_certificate"].native
              for entry in certificate_list["tbs_cert_list"]["revoked_certificates"]}
    assert cert.serial_number in listed
    assert _cert(pki.doctors["good"].cert_pem).serial_number not in listed

    # and a validator that must check revocation says so
    vc = ValidationContext(trust_roots=[_cert(pki.root_pem)], allow_fetching=True,
                           revocation_mode="hard-fail")
    validator = CertificateValidator(cert, intermediate_certs=[_cert(pki.intermediate_pem)],
                                     validation_context=vc)
    with pytest.raises(RevokedError):
        asyncio.run(validator.async_validate_usage({"digital_signature", "non_repudiation"}))


def test_doctors_are_what_their_names_say(pki: TestPki) -> None:
    now = dt.datetime.now(dt.UTC)
    codes = {label: d.provider_code for label, d in pki.doctors.items()}
    assert codes == {"good": "90812100", "good2": "90812101", "revoked": "90812102",
                     "expired": "90812103", "not-yet-valid": "90812104",
                     "wrong-key-usage": "90812105"}
    slack = dt.timedelta(minutes=10)  # the session's PKI started a little earlier
    for label, doctor in pki.doctors.items():
        cert = _cert(doctor.cert_pem)
        assert cert.dump() == doctor.cert_der.read_bytes()
        subject = cert.subject.native
        assert subject["common_name"] == (
            f"TEST {doctor.name} ({doctor.provider_code}) - NOT A REAL DOCTOR")
        assert subject["serial_number"] == f"TEST-EHEALTH-{doctor.provider_code}"
        assert cert.issuer == _cert(pki.intermediate_pem).subject
        assert cert.key_usage_value is not None
        assert cert.critical_extensions >= {"key_usage"}
        want = {"key_encipherment"} if label == "wrong-key-usage" else {
            "digital_signature", "non_repudiation"}
        assert set(cert.key_usage_value.native) == want, label
        for secret in (doctor.pkcs12, doctor.passphrase_file, doctor.key_pem):
            assert stat.S_IMODE(secret.stat().st_mode) == 0o600, secret
        passphrase = doctor.passphrase_file.read_bytes()
        assert passphrase.endswith(b"\n") and len(passphrase) > 16
        assert is_test_identity(doctor.pkcs12.read_bytes(), passphrase.rstrip(b"\n"))
        assert b"BEGIN PRIVATE KEY" in doctor.key_pem.read_bytes()  # unencrypted PKCS#8
        validity = cert["tbs_certificate"]["validity"]
        start, end = validity["not_before"].native, validity["not_after"].native
        if label == "expired":
            assert now - DAY - slack < end < now - DAY + slack
        elif label == "not-yet-valid":
            assert now + DAY - slack < start < now + DAY + slack
        else:
            assert start < now < end, label

    tsa = _cert(pki.tsa_cert_pem)
    assert tsa.extended_key_usage_value is not None
    assert tsa.extended_key_usage_value.native == ["time_stamping"]
    assert "extended_key_usage" in tsa.critical_extensions
    assert tsa.ocsp_urls and tsa.crl_distribution_points


def _timestamp(url: str) -> bytes:
    digest = hashlib.sha256(b"econnector").digest()
    token = asyncio.run(HTTPTimeStamper(url, timeout=5).async_timestamp(digest, "sha256"))
    data: bytes = token.dump()
    return data


def test_outages_are_real_and_end(pki: TestPki) -> None:
    _timestamp(pki.tsa_url)
    tokens = pki.hits("tsa")
    for how in ("refuse", "503"):
        pki.down("tsa", how)
        with pytest.raises(TimestampRequestError):
            _timestamp(pki.tsa_url)
        pki.up("tsa")
        _timestamp(pki.tsa_url)
    assert pki.hits("tsa") == tokens + 2

    crl_url = f"{pki.revocation_base_url}/econnector-test/crls/interm/latest.crl"
    with pki.outage("revocation"):
        with pytest.raises(urllib.error.URLError) as refused:
            urllib.request.urlopen(crl_url, timeout=5)
        assert isinstance(refused.value.reason, ConnectionRefusedError)
        _timestamp(pki.tsa_url)  # the TSA stays up on its own server
    with pki.outage("revocation", "503"):
        with pytest.raises(urllib.error.HTTPError) as unavailable:
            urllib.request.urlopen(crl_url, timeout=5)
        assert unavailable.value.code == 503
    with urllib.request.urlopen(crl_url, timeout=5) as answer:
        assert answer.status == 200


def test_a_test_that_leaves_the_tsa_down(pki: TestPki) -> None:
    """The fixture must bring it back for the next test (checked just below)."""
    pki.down("tsa")


def test_the_tsa_is_back_after_a_test_left_it_down(pki: TestPki) -> None:
    assert _timestamp(pki.tsa_url)


def _read_line(proc: subprocess.Popen[bytes], timeout: float) -> bytes:
    assert proc.stdout is not None
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ)
        if not sel.select(timeout):
            raise AssertionError(f"no line from the PKI process within {timeout} s")
    return proc.stdout.readline()


def test_serve_command_prints_its_json_line_serves_and_stops(tmp_path: Path) -> None:
    proc = subprocess.Popen([sys.executable, "-m", "econnector_testsupport.pki", "serve",
                             "--dir", str(tmp_path / "pki")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=dict(os.environ))
    try:
        line = _read_line(proc, 60)
        info = json.loads(line)
        assert set(info["doctors"]) >= {"good", "revoked", "expired"}
        assert Path(info["doctors"]["good"]["pkcs12"]).is_file()
        assert Path(info["root_pem"]).is_file() and Path(info["tsa_cert_pem"]).is_file()
        token = _timestamp(info["tsa_url"])
        assert core.load(token)  # a DER token came back
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.stderr is not None
    assert proc.stderr.read() == b""

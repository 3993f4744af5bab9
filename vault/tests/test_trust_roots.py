"""The vault's ``--trust-roots``: signatures must chain to a root and their signer must
have been valid (and not revoked, as far as the PDF shows) when it signed.

Real server processes on loopback, real certificates generated here, PDFs
signed by pyHanko: the expired and not-yet-valid doctors come from
``econnector.testid.make_identity``; the chains that need a CA key (an
intermediate, a CRL, a timestamp authority) are built here with ``cryptography``.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from asn1crypto import crl as asn1_crl
from asn1crypto import keys as asn1_keys
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from econnector.testid import TestIdentity, make_ca, make_identity
from econnector_testsupport.daemon import econnector_cmd
from econnector_testsupport.signing import sign_p12
from econnector_testsupport.vault import (
    VaultProcess,
    metadata,
    running_vault,
    server_command,
    sign_pdf,
    subprocess_env,
    unsigned_pdf,
)
from econnector_vault.store import VaultStore
from econnector_vault.transport import LocalTransport
from econnector_vault.trust import REASONS, TrustRootsError, load_trust_roots

NOW = dt.datetime.now(dt.UTC)
DAY = dt.timedelta(days=1)
Key = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


# -- certificates and signatures ------------------------------------------------------------------


@dataclass(frozen=True)
class Issued:
    cert: x509.Certificate
    key: Key


def _pem(*certs: x509.Certificate) -> bytes:
    return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs)


def _asn1(cert: x509.Certificate) -> asn1_x509.Certificate:
    return asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))


def _asn1_key(key: Key) -> asn1_keys.PrivateKeyInfo:
    return asn1_keys.PrivateKeyInfo.load(key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ))


def _issue(
    issuer: Issued,
    cn: str,
    *,
    ca: bool = False,
    not_before: dt.datetime = NOW - DAY,
    not_after: dt.datetime = NOW + 30 * DAY,
    non_repudiation: bool = True,
    tsa: bool = False,
) -> Issued:
    """A certificate issued by ``issuer``: a CA, a doctor (with a CRL distribution point,
    so a CRL in the PDF's DSS applies) or a timestamp authority (RSA: pyHanko's
    dummy timestamper signs with RSA only)."""
    key: Key = (rsa.generate_private_key(public_exponent=65537, key_size=2048) if tsa
                else ec.generate_private_key(ec.SECP256R1()))
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
        .issuer_name(issuer.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.key.public_key()), False
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
    )
    if ca:
        builder = builder.add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), True
        )
    elif tsa:
        builder = builder.add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]), critical=True
        )
    else:
        builder = builder.add_extension(
            x509.KeyUsage(True, non_repudiation, False, False, False, False, False, False, False),
            critical=True,
        ).add_extension(
            x509.CRLDistributionPoints([x509.DistributionPoint(
                [x509.UniformResourceIdentifier("http://127.0.0.1:9/test.crl")],
                None, None, None,
            )]),
            critical=False,
        )
    return Issued(builder.sign(issuer.key, hashes.SHA256()), key)


def _sign(
    data: bytes,
    signer: Issued,
    chain: tuple[x509.Certificate, ...] = (),
    *,
    timestamp_at: dt.datetime | None = None,
    tsa: Issued | None = None,
) -> bytes:
    """``data`` signed by ``signer`` (PAdES, the ``chain`` in the CMS); B-T with ``tsa``."""
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign import fields, signers
    from pyhanko.sign.timestamps.dummy_client import DummyTimeStamper
    from pyhanko_certvalidator.registry import SimpleCertificateStore

    pdf_signer = signers.SimpleSigner(
        signing_cert=_asn1(signer.cert),
        signing_key=_asn1_key(signer.key),
        cert_registry=SimpleCertificateStore.from_certs(
            [_asn1(signer.cert), *(_asn1(c) for c in chain)]
        ),
    )
    timestamper = None
    if tsa is not None:
        timestamper = DummyTimeStamper(
            _asn1(tsa.cert), _asn1_key(tsa.key), fixed_dt=timestamp_at
        )
    out = io.BytesIO()
    signers.PdfSigner(
        signers.PdfSignatureMetadata(field_name="Sig1", subfilter=fields.SigSeedSubFilter.PADES),
        pdf_signer,
        timestamper=timestamper,
    ).sign_pdf(IncrementalPdfFileWriter(io.BytesIO(data), strict=False), output=out)
    return out.getvalue()


def _sign_lt(
    data: bytes, signer: Issued, tsa: Issued, roots: tuple[Issued, ...], *, lta: bool
) -> bytes:
    """``data`` signed at B-LT (or B-LTA) the way the daemon asks pyHanko to; ``roots``
    are the signer's (it needs the chains of signer and TSA to embed them)."""
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign import fields, signers
    from pyhanko.sign.timestamps.dummy_client import DummyTimeStamper
    from pyhanko_certvalidator import ValidationContext
    from pyhanko_certvalidator.registry import SimpleCertificateStore

    pdf_signer = signers.SimpleSigner(
        signing_cert=_asn1(signer.cert), signing_key=_asn1_key(signer.key),
        cert_registry=SimpleCertificateStore.from_certs([_asn1(signer.cert)]),
    )
    out = io.BytesIO()
    signers.PdfSigner(
        signers.PdfSignatureMetadata(
            field_name="Sig1", subfilter=fields.SigSeedSubFilter.PADES,
            embed_validation_info=True, use_pades_lta=lta,
            validation_context=ValidationContext(trust_roots=[_asn1(r.cert) for r in roots]),
        ),
        pdf_signer,
        timestamper=DummyTimeStamper(_asn1(tsa.cert), _asn1_key(tsa.key)),
    ).sign_pdf(IncrementalPdfFileWriter(io.BytesIO(data), strict=False), output=out)
    return out.getvalue()




def _with_crl(signed: bytes, ca: Issued, revoked: x509.Certificate, at: dt.datetime) -> bytes:
    """``signed`` plus a DSS update holding ``ca``'s CRL that revokes ``revoked`` at ``at``."""
    from pyhanko.sign.validation.dss import DocumentSecurityStore

    crl = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(ca.cert.subject)
        .last_update(NOW - dt.timedelta(minutes=5))
        .next_update(NOW + 7 * DAY)
        .add_revoked_certificate(
            x509.RevokedCertificateBuilder()
            .serial_number(revoked.serial_number)
            .revocation_date(at)
            .build()
        )
        .sign(ca.key, hashes.SHA256())
    )
    out = io.BytesIO(signed)
    DocumentSecurityStore.add_dss(
        out, None, crls=[asn1_crl.CertificateList.load(crl.public_bytes(
            serialization.Encoding.DER))], force_write=True,
    )
    return out.getvalue()


@dataclass(frozen=True)
class Pki:
    root: Issued
    intermediate: Issued
    doctor: Issued
    tsa: Issued
    roots_pem: Path  # the root and the make_identity CAs, several in one file
    second_pem: Path  # one more file (the option is repeatable)
    good: TestIdentity
    expired: TestIdentity
    future: TestIdentity
    stranger: TestIdentity  # its CA is in no roots file


@pytest.fixture(scope="module")
def tp(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    folder = tmp_path_factory.mktemp("trust-pki")
    root_cert, root_key = make_ca("econnector TEST trust root", now=NOW - 400 * DAY)
    root = Issued(root_cert, root_key)
    intermediate = _issue(root, "econnector TEST intermediate", ca=True,
                          not_before=NOW - 400 * DAY, not_after=NOW + 400 * DAY)
    doctor = _issue(intermediate, "TEST Dr Chain (90812100)")
    tsa = _issue(root, "econnector TEST TSA", tsa=True,
                 not_before=NOW - 400 * DAY, not_after=NOW + 400 * DAY)
    good = make_identity(folder / "good")
    expired = make_identity(folder / "expired", now=NOW - 60 * DAY,
                            not_before=NOW - 60 * DAY, not_after=NOW - 30 * DAY)
    future = make_identity(folder / "future", not_before=NOW + 30 * DAY,
                           not_after=NOW + 400 * DAY)
    stranger = make_identity(folder / "stranger")
    roots_pem = folder / "roots.pem"
    roots_pem.write_bytes(_pem(root.cert) + good.ca_cert.read_bytes()
                          + expired.ca_cert.read_bytes())
    second_pem = folder / "more-roots.pem"
    second_pem.write_bytes(future.ca_cert.read_bytes())
    return Pki(root, intermediate, doctor, tsa, roots_pem, second_pem,
               good, expired, future, stranger)


@pytest.fixture(scope="module")
def strict_vault(tmp_path_factory: pytest.TempPathFactory, tp: Pki) -> Iterator[VaultProcess]:
    with running_vault(tmp_path_factory.mktemp("vault-trust"),
                       trust_roots=[tp.roots_pem, tp.second_pem]) as vp:
        yield vp


@pytest.fixture(scope="module")
def open_vault(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VaultProcess]:
    with running_vault(tmp_path_factory.mktemp("vault-open")) as vp:
        yield vp


_keys = iter(range(1_000_000))


def upload(vp: VaultProcess, data: bytes) -> httpx.Response:
    n = next(_keys)
    return httpx.post(
        f"{vp.base_url}/v1/documents",
        headers={"Authorization": f"Bearer {vp.token}", "Idempotency-Key": f"trust-{n}"},
        files={
            "metadata": (None, json.dumps(metadata(document_id=f"2026-9{n:05d}")).encode(),
                         "application/json"),
            "file": ("doc.pdf", data, "application/pdf"),
        },
        timeout=60,
    )


def refused(r: httpx.Response, reason: str) -> dict[str, Any]:
    """The answer is 422 ``signature-invalid`` with ``reason``, in the problem format."""
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = r.json()
    assert body["code"] == "signature-invalid", body
    assert body["type"] == "urn:econnector:vault:problem:signature-invalid"
    assert body["title"] == "Invalid signature" and body["status"] == 422
    assert body["reason"] == reason, body
    assert reason in REASONS
    assert body["detail"].startswith("The PDF signature is not acceptable: ")
    return body


# -- accepted -------------------------------------------------------------------------------------


def test_a_doctor_under_a_root_is_stored_and_a_replay_answers_200(
    strict_vault: VaultProcess, tp: Pki
) -> None:
    data = sign_p12(unsigned_pdf("trusted doctor"), tp.good)
    meta = json.dumps(metadata(document_id="2026-trusted")).encode()
    for expected in (201, 200):
        r = httpx.post(
            f"{strict_vault.base_url}/v1/documents",
            headers={"Authorization": f"Bearer {strict_vault.token}",
                     "Idempotency-Key": "trusted-once"},
            files={"metadata": (None, meta, "application/json"),
                   "file": ("doc.pdf", data, "application/pdf")},
            timeout=60,
        )
        assert r.status_code == expected, r.text
        assert r.json()["vault_document_id"].startswith("vd_")


def test_the_intermediate_comes_from_the_signature_and_the_second_roots_file_counts(
    strict_vault: VaultProcess, tp: Pki
) -> None:
    """Only the root is configured; the intermediate travels in the CMS."""
    chained = _sign(unsigned_pdf("chained"), tp.doctor, (tp.intermediate.cert,))
    assert upload(strict_vault, chained).status_code == 201
    # The not-yet-valid identity's CA sits alone in the second --trust-roots file:
    # its signature is refused for the time, not for the chain.
    future = refused(upload(strict_vault, sign_p12(unsigned_pdf(), tp.future)),
                     "signer-not-yet-valid-at-signing-time")
    assert "not-trusted" not in future["reason"]


def test_the_signature_timestamp_decides_the_signing_time(
    strict_vault: VaultProcess, tp: Pki
) -> None:
    """A doctor whose certificate has since expired: its B-T signature, timestamped while
    it was valid, is accepted; timestamped after it expired, it is refused."""
    lapsed = _issue(tp.root, "TEST Dr Lapsed", not_before=NOW - 20 * DAY,
                    not_after=NOW - 10 * DAY)
    in_time = _sign(unsigned_pdf("B-T in time"), lapsed, tsa=tp.tsa,
                    timestamp_at=NOW - 15 * DAY)
    assert upload(strict_vault, in_time).status_code == 201
    too_late = _sign(unsigned_pdf("B-T too late"), lapsed, tsa=tp.tsa,
                     timestamp_at=NOW - 5 * DAY)
    body = refused(upload(strict_vault, too_late), "signer-expired-at-signing-time")
    assert "according to the signature timestamp" in body["detail"]


# -- refused --------------------------------------------------------------------------------------


def test_a_doctor_under_another_ca_is_not_trusted(strict_vault: VaultProcess, tp: Pki) -> None:
    """Its CA even bears the same name as two configured roots: the name is not enough."""
    body = refused(upload(strict_vault, sign_p12(unsigned_pdf(), tp.stranger)), "not-trusted")
    assert "trusted root" in body["detail"]
    # A self-signed doctor (the default test identity) is no better.
    body = refused(upload(strict_vault, sign_pdf(unsigned_pdf())), "not-trusted")
    assert "trusted root" in body["detail"]
    assert "Traceback" not in strict_vault.log()  # the answer says it; no warning per upload


def test_a_doctor_signing_after_expiry_is_refused(strict_vault: VaultProcess, tp: Pki) -> None:
    body = refused(upload(strict_vault, sign_p12(unsigned_pdf(), tp.expired)),
                   "signer-expired-at-signing-time")
    assert "had expired when it signed" in body["detail"]
    assert "signing time the signer states" in body["detail"]


def test_a_doctor_signing_before_validity_is_refused(strict_vault: VaultProcess, tp: Pki) -> None:
    body = refused(upload(strict_vault, sign_p12(unsigned_pdf(), tp.future)),
                   "signer-not-yet-valid-at-signing-time")
    assert "was not yet valid when it signed" in body["detail"]


def test_a_revocation_in_the_dss_before_signing_is_refused_after_signing_is_not(
    strict_vault: VaultProcess, tp: Pki
) -> None:
    doctor = _issue(tp.root, "TEST Dr Revoked", not_before=NOW - 10 * DAY)
    signed = _sign(unsigned_pdf("revoked"), doctor)
    revoked = _with_crl(signed, tp.root, doctor.cert, NOW - dt.timedelta(hours=1))
    body = refused(upload(strict_vault, revoked), "revoked")
    assert "was revoked" in body["detail"]
    # Timestamped two days ago, revoked yesterday: it was good when it signed.
    early = _sign(unsigned_pdf("revoked later"), doctor, tsa=tp.tsa, timestamp_at=NOW - 2 * DAY)
    later = _with_crl(early, tp.root, doctor.cert, NOW - DAY)
    r = upload(strict_vault, later)
    assert r.status_code == 201, r.text


def test_a_certificate_without_non_repudiation_is_refused(
    strict_vault: VaultProcess, tp: Pki
) -> None:
    clerk = _issue(tp.root, "TEST Clerk", non_repudiation=False)
    body = refused(upload(strict_vault, _sign(unsigned_pdf(), clerk)), "key-usage")
    assert "non-repudiation" in body["detail"]


def test_integrity_and_missing_signatures_carry_their_reason(
    strict_vault: VaultProcess, open_vault: VaultProcess, tp: Pki
) -> None:
    signed = sign_p12(unsigned_pdf("tampered"), tp.good)
    for vp in (strict_vault, open_vault):
        refused(upload(vp, unsigned_pdf()), "missing")
        body = refused(upload(vp, signed + b"\n% appended\n"), "integrity")
        assert "whole file" in body["detail"]


# -- validation data after the signature (B-LT) ---------------------------------------------------


def test_validation_data_after_the_signature_is_accepted_other_bytes_are_not(
    strict_vault: VaultProcess, open_vault: VaultProcess, tp: Pki
) -> None:
    """A DSS update after the signature (what B-LT writes) is not "bytes added after
    signing"; a comment after it, or a page added after signing, still is."""
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

    doctor = _issue(tp.root, "TEST Dr LT")
    signed = _sign(unsigned_pdf("B-LT"), doctor, tsa=tp.tsa, timestamp_at=NOW)
    with_dss = _with_crl(signed, tp.root, tp.tsa.cert, NOW - DAY)  # revokes someone else
    writer = IncrementalPdfFileWriter(io.BytesIO(signed), strict=False)
    writer.root["/Extra"] = writer.add_object(writer.root["/Pages"])  # a change after signing
    changed = io.BytesIO()
    writer.write(changed)
    for vp in (strict_vault, open_vault):
        assert upload(vp, with_dss).status_code == 201
        refused(upload(vp, with_dss + b"% trailing\n"), "integrity")
        refused(upload(vp, changed.getvalue()), "integrity")


def test_pyhankos_own_b_lt_and_b_lta_are_accepted(
    strict_vault: VaultProcess, open_vault: VaultProcess, tp: Pki
) -> None:
    doctor = _issue(tp.root, "TEST Dr LTA")
    for lta in (False, True):
        data = _sign_lt(unsigned_pdf(f"level lta={lta}"), doctor, tp.tsa, (tp.root,), lta=lta)
        for vp in (strict_vault, open_vault):
            r = upload(vp, data)
            assert r.status_code == 201, r.text
    # A B-LTA whose document timestamp comes from an authority outside the roots.
    stranger_tsa_ca = Issued(*make_ca("econnector TEST other TSA root"))
    stranger_tsa = _issue(stranger_tsa_ca, "econnector TEST other TSA", tsa=True)
    sealed = _sign_lt(unsigned_pdf("foreign seal"), doctor, stranger_tsa,
                      (tp.root, stranger_tsa_ca), lta=True)
    body = refused(upload(strict_vault, sealed), "not-trusted")
    assert "timestamp's authority" in body["detail"]
    assert upload(open_vault, sealed).status_code == 201


# -- in-process and store options -----------------------------------------------------------------


def test_the_in_process_vault_takes_the_same_roots(tmp_path: Path, tp: Pki) -> None:
    import asyncio

    async def post(data: bytes) -> httpx.Response:
        transport = LocalTransport(tmp_path / "local", "tok", ["90812100"],
                                   trust_roots=[tp.roots_pem])
        async with httpx.AsyncClient(transport=transport, base_url="http://local") as client:
            return await client.post(
                "/v1/documents",
                headers={"Authorization": "Bearer tok", "Idempotency-Key": f"k{next(_keys)}"},
                files={"metadata": (None, json.dumps(metadata()).encode(), "application/json"),
                       "file": ("doc.pdf", data, "application/pdf")},
            )

    assert asyncio.run(post(sign_p12(unsigned_pdf(), tp.good))).status_code == 201
    refused(asyncio.run(post(sign_p12(unsigned_pdf(), tp.stranger))), "not-trusted")
    with pytest.raises(TrustRootsError, match="does not exist"):
        LocalTransport(tmp_path / "l2", "tok", ["90812100"], trust_roots=[tmp_path / "none"])


def test_the_trust_store_is_built_once_per_store(tmp_path: Path, tp: Pki) -> None:
    roots = load_trust_roots([tp.roots_pem, tp.second_pem])
    assert len(roots) == 4  # three in the first file, one in the second
    store = VaultStore(tmp_path / "v", trust_roots=roots)
    try:
        policy = store.trust
        assert policy is not None and len(policy.roots) == 4
        for n in range(2):
            data = sign_p12(unsigned_pdf(f"twice {n}"), tp.good)
            store.submit(metadata(document_id=f"2026-{n}"), io.BytesIO(data), f"k{n}")
        assert store.trust is policy
    finally:
        store.close()


# -- bad --trust-roots files ----------------------------------------------------------------------


def _start(tmp_path: Path, command: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, env=subprocess_env(),
                          timeout=60)


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (None, "does not exist"),
        (b"", "is not a PEM file"),
        (b"\x30\x82\x01\x00 not pem at all", "is not a PEM file"),
        (b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
         "holds a PRIVATE KEY block; give certificates only"),
        (b"-----BEGIN CERTIFICATE-----\nMIIBAAAA\n-----END CERTIFICATE-----\n",
         "holds a damaged certificate"),
    ],
    ids=["missing", "empty", "der-garbage", "private-key", "damaged"],
)
def test_a_bad_roots_file_exits_2_with_one_line(
    tmp_path: Path, tp: Pki, content: bytes | None, reason: str
) -> None:
    (tmp_path / "tok").write_text("t0ken 90812100\n", "utf-8")
    bad = tmp_path / "roots.pem"
    if content is not None:
        bad.write_bytes(content)
    args = ["--data", str(tmp_path / "d"), "--port", "1", "--token-file", str(tmp_path / "tok"),
            "--trust-roots", str(tp.roots_pem), "--trust-roots", str(bad)]
    done = _start(tmp_path, server_command(*args))
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr
    assert lines[0].startswith(f"econnector vault: trust roots file {bad} {reason}")
    assert not (tmp_path / "d").exists()  # refused before anything was created


def test_econnector_vault_serve_passes_the_option(tmp_path: Path) -> None:
    (tmp_path / "tok").write_text("t0ken 90812100\n", "utf-8")
    done = _start(tmp_path, econnector_cmd(
        "vault", "serve", "--data", str(tmp_path / "d"), "--port", "1",
        "--token-file", str(tmp_path / "tok"), "--trust-roots", str(tmp_path / "none.pem"),
    ))
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().splitlines() == [
        f"econnector vault: trust roots file {tmp_path / 'none.pem'} does not exist"
    ]

"""Generated TEST signing identities for the embedded default and the test suite.

Each call makes a throwaway CA and a doctor certificate whose subject says
loudly that it is a test identity; nothing here is trusted by any real
validator. Keys are generated at run time and never committed.
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

TEST_SERIAL_PREFIX = "TEST-EHEALTH-"  # the subject's serialNumber of every TEST identity


@dataclass(frozen=True)
class TestIdentity:
    __test__ = False  # not a pytest test class

    pkcs12: Path
    passphrase_file: Path
    ca_cert: Path
    subject: str


def _name(cn: str, serial: str | None = None) -> x509.Name:
    attrs = [
        x509.NameAttribute(NameOID.COUNTRY_NAME, "LU"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "econnector TEST PKI - not trusted"),
        x509.NameAttribute(NameOID.COMMON_NAME, cn),
    ]
    if serial:
        attrs.append(x509.NameAttribute(NameOID.SERIAL_NUMBER, serial))
    return x509.Name(attrs)


def make_ca(
    common_name: str,
    key_size: int = 2048,
    now: dt.datetime | None = None,
    days: int = 3650,
) -> tuple[x509.Certificate, rsa.RSAPrivateKey]:
    """A self-signed test root CA (for signing identities and for TLS in tests)."""
    now = now or dt.datetime.now(dt.UTC)
    ca_key = rsa.generate_private_key(public_exponent=65537, key_size=key_size)
    ca_name = _name(common_name)
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    return ca, ca_key


def make_identity(
    folder: Path,
    provider_code: str = "90812100",
    name: str = "Dr Test Demo",
    key_size: int = 2048,
    now: dt.datetime | None = None,
    not_before: dt.datetime | None = None,
    not_after: dt.datetime | None = None,
) -> TestIdentity:
    """Write ``<provider_code>.p12``, its passphrase file (0600) and the CA cert into ``folder``.

    The certificate is valid from ``now`` - 1 day to ``now`` + 730 days unless
    ``not_before``/``not_after`` say otherwise (expired or future certificates).
    """
    folder.mkdir(parents=True, exist_ok=True)
    now = now or dt.datetime.now(dt.UTC)
    not_before = not_before or now - dt.timedelta(days=1)
    not_after = not_after or now + dt.timedelta(days=730)
    ca_now = min(now, not_before + dt.timedelta(days=1))
    ca, ca_key = make_ca("econnector TEST root CA", key_size=key_size, now=ca_now,
                         days=max(3650, (not_after - ca_now).days + 1))
    ca_name = ca.subject
    key = rsa.generate_private_key(public_exponent=65537, key_size=key_size)
    cn = f"TEST {name} ({provider_code}) - NOT A REAL DOCTOR"
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(cn, serial=f"{TEST_SERIAL_PREFIX}{provider_code}"))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            # digitalSignature + nonRepudiation (content commitment), as pyHanko expects
            x509.KeyUsage(True, True, False, False, False, False, False, False, False),
            critical=True,
        )
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )
    passphrase = secrets.token_urlsafe(18)
    p12 = pkcs12.serialize_key_and_certificates(
        name=provider_code.encode(),
        key=key,
        cert=cert,
        cas=[ca],
        encryption_algorithm=serialization.BestAvailableEncryption(passphrase.encode()),
    )
    p12_path = folder / f"{provider_code}.p12"
    pass_path = folder / f"{provider_code}.passphrase"
    ca_path = folder / "test-ca.pem"
    _write_private(p12_path, p12)
    _write_private(pass_path, passphrase.encode() + b"\n")
    ca_path.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    return TestIdentity(p12_path, pass_path, ca_path, cn)


def is_test_identity(p12: bytes, passphrase: bytes) -> bool:
    """Is this PKCS#12 one of ours: "TEST" in the certificate's CN and a serialNumber
    ``TEST-EHEALTH-...`` (what ``demo-drop`` requires before it drops fake patients
    towards a real vault). False when it does not open."""
    try:
        _, cert, _ = pkcs12.load_key_and_certificates(p12, passphrase)
    except (ValueError, TypeError):
        return False
    if cert is None:
        return False
    cns = [str(a.value) for a in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
    serials = [str(a.value) for a in cert.subject.get_attributes_for_oid(NameOID.SERIAL_NUMBER)]
    return (any("TEST" in cn for cn in cns)
            and any(s.startswith(TEST_SERIAL_PREFIX) for s in serials))


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)

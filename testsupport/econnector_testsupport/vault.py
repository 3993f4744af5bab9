"""Test helpers for the vault: real PDFs, real certificates, a real server process.

Key material is generated at test time with ``cryptography``; nothing secret is
committed.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import io
import ipaddress
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from econnector.testid import make_ca
from econnector_testsupport import privacy

PROVIDER = "90812100"
MATRICULE = "1984123112345"
# The provider codes the default test tokens act for: every code the test suite
# and the benchmarks upload or bill under (the vault refuses all others).
TEST_PROVIDERS: tuple[str, ...] = (
    PROVIDER,
    "90555500",
    "90812200",
    "90812300",
    "90812400",
    "95000409",
    "95000422",
    "95000429",
    "55501234",
    *(f"7{n:07d}" for n in range(1, 100)),  # test_vault_faults: one code per test
    *(f"9{n:03d}0000" for n in range(100)),  # test_crash_points: one code per crash point
)


def token_file_text(tokens: Mapping[str, Iterable[str]]) -> str:
    """A vault token file: one line per token, then its comma-separated provider codes."""
    lines = ["# test tokens", ""]
    lines += [f"{token} {','.join(codes)}" for token, codes in tokens.items()]
    return "\n".join(lines) + "\n"

# -- PDFs -----------------------------------------------------------------------------------------


def unsigned_pdf(text: str = "Invoice 2026-000123", pages: int = 1) -> bytes:
    from fpdf import FPDF

    pdf = FPDF()
    for n in range(pages):
        pdf.add_page()
        pdf.set_font("Helvetica", size=12)
        pdf.cell(text=f"{text} (page {n + 1})")
    return bytes(pdf.output())


@dataclass(frozen=True)
class SigningIdentity:
    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey


def signing_identity(
    common_name: str = "Dr Test Example", rsa_key: bool = False
) -> SigningIdentity:
    """A self-signed document-signing certificate; the vault does not require trust yet."""
    key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey = (
        rsa.generate_private_key(public_exponent=65537, key_size=2048)
        if rsa_key else ec.generate_private_key(ec.SECP256R1())
    )
    usage = x509.KeyUsage(True, True, False, False, False, False, False, False, False)
    return SigningIdentity(_self_signed(key, common_name, usage), key)


_DEFAULT_IDENTITY: SigningIdentity | None = None


def _self_signed(key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey, common_name: str,
                 usage: x509.ExtensionType) -> x509.Certificate:
    """A 30-day self-signed certificate for ``key`` with one critical ``usage`` extension."""
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = dt.datetime.now(dt.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(usage, critical=True)
        .sign(key, hashes.SHA256())
    )


def sign_pdf(data: bytes, identity: SigningIdentity | None = None, pss: bool = False) -> bytes:
    """``data`` signed with a PAdES signature in field Sig1 (incremental update)."""
    from asn1crypto import keys as asn1_keys
    from asn1crypto import x509 as asn1_x509
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign import fields, signers
    from pyhanko_certvalidator.registry import SimpleCertificateStore

    global _DEFAULT_IDENTITY
    if identity is None:
        if _DEFAULT_IDENTITY is None:
            _DEFAULT_IDENTITY = signing_identity()
        identity = _DEFAULT_IDENTITY
    cert = asn1_x509.Certificate.load(identity.cert.public_bytes(serialization.Encoding.DER))
    key = asn1_keys.PrivateKeyInfo.load(
        identity.key.private_bytes(
            serialization.Encoding.DER,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    signer = signers.SimpleSigner(
        signing_cert=cert,
        signing_key=key,
        cert_registry=SimpleCertificateStore.from_certs([cert]),
        prefer_pss=pss,
    )
    writer = IncrementalPdfFileWriter(io.BytesIO(data), strict=False)
    out = io.BytesIO()
    signers.PdfSigner(
        signers.PdfSignatureMetadata(field_name="Sig1", subfilter=fields.SigSeedSubFilter.PADES),
        signer,
    ).sign_pdf(writer, output=out)
    return out.getvalue()


def add_document_timestamp(data: bytes) -> bytes:
    """``data`` with a PAdES document timestamp appended (as in B-LTA), from a throwaway TSA."""
    from asn1crypto import keys as asn1_keys
    from asn1crypto import x509 as asn1_x509
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign import signers
    from pyhanko.sign.timestamps.dummy_client import DummyTimeStamper

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)  # dummy TSA: RSA only
    cert = _self_signed(key, "econnector test TSA",
                        x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]))
    tsa = DummyTimeStamper(
        asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER)),
        asn1_keys.PrivateKeyInfo.load(
            key.private_bytes(
                serialization.Encoding.DER,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        ),
    )
    out = io.BytesIO()
    signers.PdfTimeStamper(tsa).timestamp_pdf(
        IncrementalPdfFileWriter(io.BytesIO(data), strict=False), "sha256", output=out
    )
    return out.getvalue()


def signed_pdf(text: str = "Invoice 2026-000123", pages: int = 1) -> bytes:
    return sign_pdf(unsigned_pdf(text, pages))


def metadata(
    document_id: str = "2026-000123",
    doc_type: str = "invoice",
    matricule: str = MATRICULE,
    provider_code: str = PROVIDER,
    **extra: Any,
) -> dict[str, Any]:
    """Valid vault metadata; ``extra`` keys override or add top-level keys."""
    meta: dict[str, Any] = {
        "document_id": document_id,
        "type": doc_type,
        "issued_at": "2026-11-25T10:15:00+01:00",
        "patient": {"matricule": matricule, "insurer": "CNS", "last_name": "Muller"},
        "author": {"provider_code": provider_code},
        "submitted_by": "econnector/test",
        "language": "fr",
        "original_sha256": hashlib.sha256(b"original").hexdigest(),
    }
    if doc_type == "invoice":
        meta["invoice"] = {"total": "84.60", "currency": "EUR", "paid": False}
    meta.update(extra)
    return meta


# -- TLS ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TlsFiles:
    ca_bundle: Path
    cert: Path
    key: Path


def make_tls(folder: Path, host: str = "127.0.0.1") -> TlsFiles:
    """A throwaway CA and a server certificate for ``host`` (an IP address), as PEM files."""
    folder.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.UTC)
    ca, ca_key = make_ca("econnector test TLS CA", days=2)
    ca_name = ca.subject
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(host))]), False
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )
    files = TlsFiles(folder / "ca.pem", folder / "server.pem", folder / "server.key")
    files.ca_bundle.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    files.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    files.key.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    files.key.chmod(0o600)
    return files


# -- the server process ---------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def subprocess_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONUNBUFFERED"] = "1"
    return env


def server_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "econnector_vault.server", *args]


@dataclass
class VaultProcess:
    proc: subprocess.Popen[str]
    base_url: str
    token: str
    data_dir: Path
    ca_bundle: Path | None
    log_path: Path
    patients_file: Path | None = None  # the --patients file, when one was given

    def log(self) -> str:
        return self.log_path.read_text("utf-8", errors="replace")

    def stop(self, timeout: float = 15.0) -> int:
        """SIGTERM, then wait; the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=timeout)


def verify_for(vp: VaultProcess) -> ssl.SSLContext | bool:
    """What httpx needs to trust ``vp``: its throwaway CA over HTTPS."""
    return ssl.create_default_context(cafile=str(vp.ca_bundle)) if vp.ca_bundle else True


def _wait_healthy(vp: VaultProcess, deadline: float) -> None:
    verify = verify_for(vp)
    while time.monotonic() < deadline:
        if vp.proc.poll() is not None:
            raise RuntimeError(f"vault exited with {vp.proc.returncode}:\n{vp.log()}")
        try:
            r = httpx.get(f"{vp.base_url}/v1/health", verify=verify, timeout=1.0)
            if r.status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"vault did not become healthy:\n{vp.log()}")


def _soft_nofile(soft: int) -> Callable[[], None]:
    def apply() -> None:
        import resource

        _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))

    return apply


@contextlib.contextmanager
def running_vault(
    folder: Path,
    *,
    tls: TlsFiles | None = None,
    patients: Mapping[str, str] | None = None,
    max_document_mb: float | None = None,
    token: str = "test-token-0123456789",
    port: int | None = None,
    enable_faults: bool = False,
    tokens: Mapping[str, Iterable[str]] | None = None,
    extra_args: Sequence[str] = (),
    nofile_soft: int | None = None,
    trust_roots: Sequence[Path] = (),
    patient_simulator: bool = False,
    patients_file: Path | None = None,
) -> Iterator[VaultProcess]:
    """The real ``python -m econnector_vault.server`` on a free loopback port, healthy.

    ``enable_faults`` passes ``--enable-faults``: drive it with :func:`add_fault`,
    :func:`clear_faults` and :func:`fault_counts`. ``tokens`` maps each token to
    its provider codes (default: ``token`` and ``second-token``, both acting for
    :data:`TEST_PROVIDERS`); ``extra_args`` go to the server as they are;
    ``nofile_soft`` starts it with that soft open-file limit (as a shell with
    ``ulimit -Sn`` would); each of ``trust_roots`` (PEM files) is passed as
    ``--trust-roots``, so the vault then requires trusted signatures.
    ``patient_simulator`` passes ``--patient-simulator``: play the patient with
    :func:`open_document` and :func:`set_digital_status`. ``patients_file`` is
    passed as ``--patients`` as it is (rewrite it with :func:`write_patients`,
    the vault rereads it); ``patients`` writes one instead.
    """
    folder.mkdir(parents=True, exist_ok=True)
    token_file = folder / "tokens.txt"
    grants = tokens if tokens is not None else {
        token: TEST_PROVIDERS, "second-token": TEST_PROVIDERS
    }
    token_file.write_text(token_file_text(grants), "utf-8")
    args = ["--data", str(folder / "data"), "--host", "127.0.0.1", "--token-file", str(token_file)]
    if tls:
        args += ["--tls-cert", str(tls.cert), "--tls-key", str(tls.key)]
    if patients is not None and patients_file is not None:
        raise ValueError("give patients or patients_file, not both")
    pfile: Path | None = patients_file
    if patients is not None:
        pfile = write_patients(folder / "patients.yaml", patients)
    if pfile is not None:
        args += ["--patients", str(pfile)]
    if max_document_mb is not None:
        args += ["--max-document-mb", str(max_document_mb)]
    if enable_faults:
        args.append("--enable-faults")
    if patient_simulator:
        args.append("--patient-simulator")
    for roots in trust_roots:
        args += ["--trust-roots", str(roots)]
    args += extra_args
    scheme = "https" if tls else "http"
    log_path = folder / "server.log"
    privacy.record_log(log_path)  # the vault's log is scanned too (privacy check)
    for _attempt in range(3):  # the free port may be taken between probe and bind
        port = port or free_port()
        with log_path.open("w", encoding="utf-8") as log:
            proc = subprocess.Popen(
                [*server_command(*args, "--port", str(port))],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=subprocess_env(),
                text=True,
                preexec_fn=_soft_nofile(nofile_soft) if nofile_soft else None,
            )
        vp = VaultProcess(
            proc,
            f"{scheme}://127.0.0.1:{port}",
            token,
            folder / "data",
            tls.ca_bundle if tls else None,
            log_path,
            pfile,
        )
        try:
            _wait_healthy(vp, time.monotonic() + 20)
            break
        except RuntimeError:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            if "already in use" not in vp.log().lower():
                raise
    else:
        raise RuntimeError("could not find a free port for the vault")
    try:
        yield vp
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


# -- the patients (the --patients file, the patient simulator) ----------------------------------


def write_patients(path: Path, patients: Mapping[str, str]) -> Path:
    """A ``--patients`` file (matricule to green/blue/red), replaced atomically so a vault
    that rereads it never sees half of it; ``path``."""
    text = "".join(f'"{m}": {s}\n' for m, s in patients.items())
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, "utf-8")
    os.replace(tmp, path)
    return path


def _simulator(vp: VaultProcess, method: str, path: str, token: str | None,
               body: Mapping[str, Any] | None = None) -> httpx.Response:
    return httpx.request(
        method,
        f"{vp.base_url}/v1/simulator{path}",
        headers={"Authorization": f"Bearer {token or vp.token}"},
        json=dict(body) if body is not None else None,
        verify=verify_for(vp),
        timeout=10.0,
    )


def open_document(vp: VaultProcess, vault_document_id: str, token: str | None = None
                  ) -> str:
    """The patient opens a document (a vault started with ``patient_simulator=True``);
    when they first opened it (RFC 3339)."""
    r = _simulator(vp, "POST", f"/documents/{vault_document_id}/open", token)
    if r.status_code != 200:
        raise RuntimeError(f"simulator answered {r.status_code}: {r.text}")
    return str(r.json()["opened_at"])


def set_digital_status(vp: VaultProcess, matricule: str, status: str,
                       token: str | None = None) -> None:
    """The patient's digital status becomes ``status`` for the rest of the vault's run
    (a vault started with ``patient_simulator=True``)."""
    r = _simulator(vp, "PUT", f"/patients/{matricule}/digital-status", token,
                   {"status": status})
    if r.status_code != 200:
        raise RuntimeError(f"simulator answered {r.status_code}: {r.text}")


def vault_digital_status(vp: VaultProcess, matricule: str) -> str:
    """What the vault answers now for ``matricule`` (``GET .../digital-status``)."""
    r = httpx.get(
        f"{vp.base_url}/v1/patients/{matricule}/digital-status",
        headers={"Authorization": f"Bearer {vp.token}"},
        verify=verify_for(vp),
        timeout=10.0,
    )
    assert r.status_code == 200, r.text
    return str(r.json()["status"])


# -- what the vault holds -------------------------------------------------------------------------


def vault_records(vp: VaultProcess, provider: str) -> list[dict[str, Any]]:
    """The billing records of ``provider`` this quarter: one per stored document, so the
    tests and benchmarks count deliveries (and duplicates) from the vault's side."""
    today = dt.date.today()
    quarter = f"{today.year}Q{(today.month - 1) // 3 + 1}"
    r = httpx.get(
        f"{vp.base_url}/v1/billing/activity",
        params={"quarter": quarter, "provider_code": provider},
        headers={"Authorization": f"Bearer {vp.token}"},
        verify=verify_for(vp),
        timeout=10,
    )
    assert r.status_code == 200, r.text
    records: list[dict[str, Any]] = r.json()["records"]
    return records


# -- fault injection (a vault started with enable_faults=True) ------------------------------------


def _faults(vp: VaultProcess, method: str, spec: Mapping[str, Any] | None = None) -> Any:
    r = httpx.request(
        method,
        f"{vp.base_url}/v1/_faults",
        headers={"Authorization": f"Bearer {vp.token}"},
        json=dict(spec) if spec is not None else None,
        verify=verify_for(vp),
        timeout=10.0,
    )
    if r.status_code not in (200, 201):
        raise RuntimeError(f"fault API answered {r.status_code}: {r.text}")
    return r.json()


def add_fault(vp: VaultProcess, **spec: Any) -> dict[str, Any]:
    """Queue one fault, e.g. ``add_fault(vp, kind="status", status=503, count=2)``.

    ``drop-after-commit`` is a value, so pass it as ``kind="drop-after-commit"``.
    Returns the queued fault as the vault normalized it (with its ``id``).
    """
    fault: dict[str, Any] = _faults(vp, "POST", spec)
    return fault


def clear_faults(vp: VaultProcess) -> int:
    """Drop every pending fault; how many were pending. The applied counters stay."""
    return int(_faults(vp, "DELETE")["cleared"])


def pending_faults(vp: VaultProcess) -> list[dict[str, Any]]:
    """The queued faults, head first, each with its ``remaining`` count."""
    pending: list[dict[str, Any]] = _faults(vp, "GET")["pending"]
    return pending


def fault_counts(vp: VaultProcess) -> dict[str, int]:
    """How many faults of each kind the vault applied since it started (every kind listed)."""
    return {str(k): int(v) for k, v in _faults(vp, "GET")["applied"].items()}

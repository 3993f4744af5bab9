"""Signing, main-process side: the pool of signing workers, and what crosses to them.

Why worker processes: a hostile PDF can make any parser loop or allocate
without bound. Each worker runs under an address-space limit, and each job
under a timeout after which the worker is killed and a new one started, so
the daemon stays up and answers with a specific code.

The signing itself (pyHanko) lives in :mod:`.signworker`, imported only by the
workers: the main process stays lighter (docs/performance.md). Jobs and
outcomes are plain data. The main process checks that an identity unlocks with ``cryptography``'s
PKCS#12 reader, the same one pyHanko uses.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import pickle
import subprocess
import sys
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import Encoding, pkcs12
from cryptography.x509.oid import NameOID

from .appearance import VisibleBox
from .codes import Code
from .config import Pkcs11Key, Signing
from .errors import IdentityHeld
from .hardening import child_env

SIGNATURE_LEVEL = "PAdES-B-B"
SUBFILTER = "ETSI.CAdES.detached"
DIGEST = "sha256"


@dataclass(frozen=True)
class SignerInfo:
    provider_code: str
    subject: str
    serial_hex: str
    not_after: str
    not_before: str = ""
    # Neither digitalSignature nor nonRepudiation (contentCommitment) in a key usage
    # extension: a certificate for encryption or authentication, not for signing.
    wrong_key_usage: str = ""  # the usages it has, when wrong
    # The certificate's SHA-256 fingerprint (hex): what an assistant's grant is pinned to.
    cert_sha256: str = ""


EXPIRY_WARNING_DAYS = 30


def validity(info: SignerInfo, now: datetime) -> IdentityHeld | None:
    """Why this certificate must not sign at ``now`` (``certificate-key-usage``,
    ``certificate-expired`` or ``certificate-not-yet-valid``), or None. A pure decision:
    the daemon holds the doctor's documents on it and ``check-config`` fails on it."""
    after = datetime.fromisoformat(info.not_after)
    before = datetime.fromisoformat(info.not_before) if info.not_before else None
    if info.wrong_key_usage:
        return IdentityHeld("certificate-key-usage", provider=info.provider_code,
                            usages=info.wrong_key_usage)
    if now >= after:
        return IdentityHeld("certificate-expired", provider=info.provider_code,
                    not_after=info.not_after, not_before=info.not_before)
    if before is not None and now < before:
        return IdentityHeld("certificate-not-yet-valid", provider=info.provider_code,
                    not_after=info.not_after, not_before=info.not_before)
    return None


def days_left(info: SignerInfo, now: datetime) -> float:
    """Days until the certificate expires (negative once expired)."""
    return (datetime.fromisoformat(info.not_after) - now).total_seconds() / 86400.0


def read_identity(provider_code: str, path: Path) -> bytes:
    """The PKCS#12 file's bytes; unreadable means the identity stays locked."""
    try:
        return path.read_bytes()
    except OSError as e:
        raise IdentityHeld("identity-locked", provider=provider_code, detail=e.strerror) from None


def identity_info(provider_code: str, path: Path, passphrase: bytes) -> SignerInfo:
    """Open a PKCS#12 identity; any failure means it stays locked."""
    data = read_identity(provider_code, path)
    try:
        key, cert, _ = pkcs12.load_key_and_certificates(data, passphrase)
    except (ValueError, TypeError):
        key = cert = None
    if key is None or cert is None:
        raise IdentityHeld(
            "identity-locked", provider=provider_code, detail="wrong passphrase or damaged key"
        ) from None
    return describe(provider_code, cert)


def describe(provider_code: str, cert: x509.Certificate) -> SignerInfo:
    """What receipts and ``check-config`` show of a signer certificate: its subject as an
    RFC 4514 name (``CN=...,O=...,C=LU``, as in the folder contract), serial, validity."""
    return SignerInfo(
        provider_code=provider_code,
        subject=cert.subject.rfc4514_string({NameOID.SERIAL_NUMBER: "serialNumber"}),
        serial_hex=format(cert.serial_number, "x"),
        not_after=cert.not_valid_after_utc.isoformat(),
        not_before=cert.not_valid_before_utc.isoformat(),
        wrong_key_usage=_wrong_key_usage(cert),
        cert_sha256=cert.fingerprint(hashes.SHA256()).hex(),
    )


_USAGES = ("digital_signature", "content_commitment", "key_encipherment", "data_encipherment",
           "key_agreement", "key_cert_sign", "crl_sign")


def _wrong_key_usage(cert: x509.Certificate) -> str:
    """The certificate's key usages when none allows a signature (else ""). A certificate
    without the extension may do anything (RFC 5280, 4.2.1.3)."""
    try:
        ku = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        return ""
    if ku.digital_signature or ku.content_commitment:
        return ""
    return ", ".join(u for u in _USAGES if getattr(ku, u)) or "none"


@dataclass(frozen=True)
class KeySpec:
    """One identity as a signing worker opens it. ``secret`` (passphrase or PIN) crosses
    only the worker's pipe: never argv, the environment, a file or a log."""

    provider_code: str
    level: str
    secret: bytes = field(repr=False)
    pkcs12: str | None = None
    pkcs11: Pkcs11Key | None = None


@dataclass(frozen=True)
class Policy:
    """What every signature of the pool needs beyond the key: the timestamp service and
    the trust roots the validation data and the self-check use (DER certificates)."""

    tsa_url: str | None = None
    tsa_auth: tuple[str, bytes] | None = field(default=None, repr=False)
    tsa_timeout: float = 15.0
    trust_roots: tuple[bytes, ...] = ()


def read_trust_roots(paths: Sequence[Path]) -> tuple[bytes, ...]:
    """The DER certificates in these PEM (or DER) files. Raises ValueError naming the
    file that cannot be read or holds no certificate (``check-config`` says it first)."""
    out: list[bytes] = []
    for path in paths:
        try:
            data = path.read_bytes()
        except OSError as e:
            raise ValueError(f"{path}: {e.strerror or e}") from None
        try:
            certs = (x509.load_pem_x509_certificates(data) if b"-----BEGIN" in data
                     else [x509.load_der_x509_certificate(data)])
        except ValueError:
            raise ValueError(f"{path}: not a PEM or DER certificate file") from None
        out.extend(c.public_bytes(Encoding.DER) for c in certs)
    return tuple(out)


def check_path(signed: Path) -> Path:
    """Where a signing worker writes its self-check of ``signed`` (before the signed
    file itself appears, so a signed file found after a crash has it)."""
    return signed.with_name(signed.name + ".check.json")


def read_check(signed: Path) -> tuple[str, dict[str, Any]]:
    """(level reached, findings) of the self-check of ``signed``; ("", {}) if none."""
    try:
        doc = json.loads(check_path(signed).read_bytes())
    except (OSError, ValueError):
        return "", {}
    if not isinstance(doc, dict) or not isinstance(doc.get("level"), str):
        return "", {}
    return doc["level"], {k: v for k, v in doc.items() if k != "level"}


def policy_for(signing: Signing) -> Policy:
    """The pool's policy, read now: the TSA password and the trust roots' files. Raises
    ValueError or SecretUnavailable (an OSError) naming what is missing."""
    tsa = signing.tsa
    auth = None
    if tsa is not None and tsa.username:
        auth = (tsa.username, tsa.password() or b"")
    return Policy(tsa_url=tsa.url if tsa else None, tsa_auth=auth,
                  tsa_timeout=tsa.timeout if tsa else 15.0,
                  trust_roots=read_trust_roots(signing.trust_roots))


@dataclass(frozen=True)
class QrStamp:
    """The invoice QR code (docs/invoice-qr.md), drawn on the page before signing so the
    signature covers it; the caption is the short reference printed under it."""

    payload: str
    caption: str
    page: int  # 1-based
    x_mm: float  # the code's lower-left corner, from the page's lower-left corner
    y_mm: float
    size_mm: float


@dataclass(frozen=True)
class SignJob:
    provider_code: str
    src: str
    dst: str
    max_pages: int
    bytes_reserved: int
    location: str
    # (dev, ino, size, mtime_ns) recorded at claim: the worker opens ``src`` by
    # descriptor and signs it only if it is still that regular file (safeopen).
    expect: tuple[int | None, int | None, int | None, int | None] | None = None
    language: str = "fr"  # the document's: the visible box's words
    visible: VisibleBox | None = None  # signing.visible
    qr: QrStamp | None = None  # invoices of patients who opted in
    # Where the temp files go (same file system as ``dst``); None: beside ``dst``. On a
    # shared outbox each node has its own, so a dead node's leftovers are known.
    tmp_dir: str | None = None


@dataclass(frozen=True)
class SignOutcome:
    ok: bool
    sha256: str = ""
    size: int = 0
    pages: int = 0
    input_size: int = 0  # the original's size when signing ended
    input_sha256: str = ""  # the hash of the signed file's first ``input_size`` bytes
    signed_at: str = ""
    level: str = ""  # the PAdES level the self-check found (PAdES-B-B ... PAdES-B-LTA)
    validation: dict[str, Any] = field(default_factory=dict)  # the self-check's findings
    code: Code | None = None  # why not, when not ``ok``
    params: dict[str, Any] = field(default_factory=dict)


# -- main-process side --------------------------------------------------------
#
# Why not pebble (used before): its pool runs three threads in the daemon's
# process that hand every job and result across with locks and queues, contending
# for the GIL with the event loop on every document, plus spawn's resource-tracker
# process (the figures: docs/performance.md). Here a worker is a plain child
# process speaking pickle over its stdin/stdout (pickle frames are
# self-delimiting); one job is in flight per worker, its round trip runs in a
# thread of a small executor (blocking pipe I/O works the same on Windows), and
# a worker that overruns its timeout is killed, which ends the blocked read.

# SIGINT is ignored first thing, before pyHanko's slow import: Ctrl-C in a terminal
# reaches the whole process group, and the workers must not print KeyboardInterrupt
# tracebacks; the main process stops them (end of their input) in its shutdown.
def _worker_cmd() -> str:
    """The worker's program: it knows its parent, to die with it (hardening)."""
    return ("import signal; signal.signal(signal.SIGINT, signal.SIG_IGN); "
            f"from econnector.signworker import serve; serve(parent={os.getpid()})")


class _Worker:
    """One signing process; its pipes are used by one job at a time."""

    def __init__(self, keys: Sequence[KeySpec], policy: Policy, memory_mb: int) -> None:
        # The environment is an allow-list (hardening.child_env): a passphrase_env
        # or token_env variable never shows in a worker's /proc/<pid>/environ.
        self.proc = subprocess.Popen(
            [sys.executable, "-c", _worker_cmd()],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, close_fds=True, env=child_env(),
        )
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self._in, self._out = self.proc.stdin, self.proc.stdout
        # The passphrases travel over the pipe, never in argv or the environment.
        # A worker that died at once (a broken installation) fails its first job.
        with contextlib.suppress(OSError):
            self._send((tuple(keys), policy, memory_mb))

    def _send(self, obj: Any) -> None:
        pickle.dump(obj, self._in, protocol=pickle.HIGHEST_PROTOCOL)
        self._in.flush()

    def roundtrip(self, job: SignJob) -> SignOutcome | None:
        """Blocking: the outcome, or None when the worker died (or was killed)."""
        try:
            self._send(job)
            out = pickle.load(self._out)
        except (OSError, EOFError, pickle.UnpicklingError, ValueError):
            return None
        return out if isinstance(out, SignOutcome) else None

    def kill(self) -> None:
        with contextlib.suppress(OSError):
            self.proc.kill()

    def close(self, wait: float) -> None:
        """Ask the worker to leave (end of its input); kill it if it does not."""
        with contextlib.suppress(OSError):
            self._in.close()
        try:
            self.proc.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            self.kill()
            self.proc.wait()
        with contextlib.suppress(OSError):
            self._out.close()


class SigningPool:
    """Worker processes holding the unlocked identities; one job per worker at a time."""

    def __init__(self, workers: int, memory_mb: int, timeout: float) -> None:
        self.workers = workers
        self.memory_mb = memory_mb
        self.timeout = timeout
        self._keys: tuple[KeySpec, ...] = ()
        self._policy = Policy()
        self._idle: list[_Worker] = []
        self._all: list[_Worker] = []
        self._generation = 0
        self._sem: asyncio.Semaphore | None = None
        self._exec = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="sign-io")

    def start(self, keys: Sequence[KeySpec], policy: Policy) -> None:
        """(Re)start the workers with these keys (their secrets go over the pipes).

        They start at once, so importing pyHanko (slow: docs/performance.md) overlaps
        the first scan and settle period instead of delaying the first signature.
        """
        self.stop()
        self._keys, self._policy = tuple(keys), policy
        self._generation += 1
        self._idle = [self._spawn() for _ in range(self.workers)]
        self._all = list(self._idle)
        self._sem = asyncio.Semaphore(self.workers)

    def _spawn(self) -> _Worker:
        return _Worker(self._keys, self._policy, self.memory_mb)

    async def sign(self, job: SignJob) -> SignOutcome:
        assert self._sem is not None, "SigningPool.start() first"
        sem, generation = self._sem, self._generation
        async with sem:
            worker = self._idle.pop()
            loop = asyncio.get_running_loop()
            fut = loop.run_in_executor(self._exec, worker.roundtrip, job)
            try:
                result = await asyncio.wait_for(asyncio.shield(fut), self.timeout)
            except TimeoutError:
                worker.kill()
                await fut  # the killed worker's pipe ends the blocked read
                self._replace(worker, generation)
                return SignOutcome(ok=False, code="pdf-processing-timeout",
                                   params={"seconds": int(self.timeout)})
            except asyncio.CancelledError:
                worker.kill()  # shutdown: the job is redone at the next start
                self._replace(worker, generation)
                raise
            if result is None:
                # The worker died (address-space limit, or a crash in native code).
                self._replace(worker, generation)
                return SignOutcome(ok=False, code="pdf-too-complex",
                                   params={"limit": self.memory_mb})
            if generation == self._generation:
                self._idle.append(worker)
            return result

    def _replace(self, dead: _Worker, generation: int) -> None:
        dead.kill()
        with contextlib.suppress(ValueError):
            self._all.remove(dead)
        dead.close(wait=1.0)
        if generation == self._generation:  # not restarted meanwhile
            fresh = self._spawn()
            self._all.append(fresh)
            self._idle.append(fresh)

    def stop(self, wait: float = 10.0) -> None:
        workers, self._all, self._idle = self._all, [], []
        for w in workers:
            w.close(wait=wait)

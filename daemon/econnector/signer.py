"""Signing, main-process side: the pool of signing workers, and what crosses to them.

Why worker processes: a hostile PDF can make any parser loop or allocate
without bound. Each worker runs under an address-space limit, and each job
under a timeout after which pebble kills the worker and starts a new one, so
the daemon stays up and answers with a specific code.

The signing itself (pyHanko) lives in :mod:`.signworker`, imported only by the
workers: the main process stays ~40 MiB lighter. Jobs and outcomes are plain
data. The main process checks that an identity unlocks with ``cryptography``'s
PKCS#12 reader, the same one pyHanko uses.
"""

from __future__ import annotations

import asyncio
import multiprocessing
from collections.abc import Sequence
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from asn1crypto import x509 as asn1_x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12
from pebble import ProcessExpired, ProcessPool

from .errors import Held

SIGNATURE_LEVEL = "PAdES-B-B"
SUBFILTER = "ETSI.CAdES.detached"
DIGEST = "sha256"


@dataclass(frozen=True)
class SignerInfo:
    provider_code: str
    subject: str
    serial_hex: str
    not_after: str


def identity_info(provider_code: str, path: Path, passphrase: bytes) -> SignerInfo:
    """Open a PKCS#12 identity; any failure means it stays locked."""
    try:
        data = path.read_bytes()
    except OSError as e:
        raise Held("identity-locked", provider=provider_code, detail=e.strerror) from None
    try:
        key, cert, _ = pkcs12.load_key_and_certificates(data, passphrase)
    except (ValueError, TypeError):
        key = cert = None
    if key is None or cert is None:
        raise Held(
            "identity-locked", provider=provider_code, detail="wrong passphrase or damaged key"
        ) from None
    return describe(provider_code, asn1_x509.Certificate.load(
        cert.public_bytes(serialization.Encoding.DER)))


def describe(provider_code: str, cert: asn1_x509.Certificate) -> SignerInfo:
    return SignerInfo(
        provider_code=provider_code,
        subject=cert.subject.human_friendly,
        serial_hex=format(cert.serial_number, "x"),
        not_after=cert["tbs_certificate"]["validity"]["not_after"].native.isoformat(),
    )


@dataclass(frozen=True)
class SignJob:
    provider_code: str
    src: str
    dst: str
    max_pages: int
    bytes_reserved: int
    location: str


@dataclass(frozen=True)
class SignOutcome:
    ok: bool
    sha256: str = ""
    size: int = 0
    pages: int = 0
    input_size: int = 0  # the original's size when signing ended
    signed_at: str = ""
    code: str = ""
    params: dict[str, Any] = field(default_factory=dict)


def _warm_up() -> None:
    return None


# Called by reference in the worker processes; they import pyHanko, we do not.
def _init_worker(identities: Sequence[tuple[str, str, bytes]], memory_mb: int) -> None:
    from . import signworker

    signworker.init_worker(identities, memory_mb)


def _sign_file(job: SignJob) -> SignOutcome:
    from . import signworker

    return signworker.sign_file(job)


# -- main-process side --------------------------------------------------------

class SigningPool:
    """Worker processes holding the unlocked identities; one job per document."""

    def __init__(self, workers: int, memory_mb: int, timeout: float) -> None:
        self.workers = workers
        self.memory_mb = memory_mb
        self.timeout = timeout
        self._pool: ProcessPool | None = None
        self._identities: tuple[tuple[str, str, bytes], ...] = ()

    def start(self, identities: Sequence[tuple[str, str, bytes]]) -> None:
        """(Re)start the workers with these (provider_code, pkcs12 path, passphrase)."""
        self.stop()
        self._identities = tuple(identities)
        self._pool = ProcessPool(
            max_workers=self.workers,
            initializer=_init_worker,
            initargs=(self._identities, self.memory_mb),
            context=multiprocessing.get_context("spawn"),
        )
        # pebble starts its workers at the first job; start them now, so importing
        # pyHanko (~1 s each) overlaps the first scan and settle period instead of
        # delaying the first signature.
        self._pool.schedule(_warm_up)

    async def sign(self, job: SignJob) -> SignOutcome:
        assert self._pool is not None, "SigningPool.start() first"
        fut = self._pool.schedule(_sign_file, args=(job,), timeout=self.timeout)
        try:
            return await asyncio.wrap_future(fut)
        except FutureTimeout:
            return SignOutcome(ok=False, code="pdf-processing-timeout",
                               params={"seconds": int(self.timeout)})
        except ProcessExpired:
            # The worker died (address-space limit, or a crash in native code).
            return SignOutcome(ok=False, code="pdf-too-complex",
                               params={"limit": self.memory_mb})

    def stop(self) -> None:
        if self._pool is not None:
            self._pool.stop()
            self._pool.join(timeout=10)
            self._pool = None

"""Signing, worker side: PAdES B-B with pyHanko, inside a signing worker process.

Why a held key: pyHanko's ``SimpleSigner`` re-parses the private key for every
signature (more than half the cost of a small document). ``HeldKeySigner``
parses it once per process; the signature itself is unchanged.

This is the only module that imports pyHanko's signing stack (tens of MiB per
process, docs/performance.md); the daemon's main process never imports it. pyHanko and OS
exceptions are translated to :mod:`econnector.errors` codes here and only
here; results cross the process boundary as plain data (:mod:`.signer`).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hashlib
import io
import os
import pickle
import resource
import secrets
import signal
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ec import ECDSA, EllipticCurvePrivateKey
from cryptography.hazmat.primitives.asymmetric.padding import PKCS1v15
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.misc import PdfError as HankoPdfError
from pyhanko.sign import fields, signers
from pyhanko.sign.general import SigningError, get_pyca_cryptography_hash

from . import fsio, pdfpolicy, safeopen
from .codes import as_code
from .errors import EconnectorError, IdentityHeld, PdfError
from .hardening import harden_worker
from .signer import DIGEST, SignJob, SignOutcome, read_identity


class HeldKeySigner(signers.SimpleSigner):
    """A SimpleSigner that keeps the parsed private key instead of re-parsing it."""

    _pyca_key: Any = None

    def sign_raw(self, data: bytes, digest_algorithm: str) -> bytes:
        if self._pyca_key is None:
            self._pyca_key = serialization.load_der_private_key(
                self.signing_key.dump(), password=None
            )
        mech = self.get_signature_mechanism_for_digest(digest_algorithm).signature_algo
        key = self._pyca_key
        if mech == "rsassa_pkcs1v15" and isinstance(key, RSAPrivateKey):
            return key.sign(data, PKCS1v15(), get_pyca_cryptography_hash(digest_algorithm))
        if mech == "ecdsa" and isinstance(key, EllipticCurvePrivateKey):
            return key.sign(data, ECDSA(get_pyca_cryptography_hash(digest_algorithm)))
        return super().sign_raw(data, digest_algorithm)  # other mechanisms: pyHanko's path


def load_signer(provider_code: str, pkcs12: Path, passphrase: bytes) -> HeldKeySigner:
    """Load a PKCS#12 identity; any failure means the identity stays locked."""
    data = read_identity(provider_code, pkcs12)
    try:
        # load_pkcs12_data builds a plain SimpleSigner whatever class it is called on,
        # so take its parts and keep the parsed key in a HeldKeySigner.
        plain = signers.SimpleSigner.load_pkcs12_data(data, other_certs=(), passphrase=passphrase)
    except (ValueError, TypeError):
        raise IdentityHeld(
            "identity-locked", provider=provider_code, detail="wrong passphrase or damaged key"
        ) from None
    held = HeldKeySigner(
        signing_cert=plain.signing_cert,
        signing_key=plain.signing_key,
        cert_registry=plain.cert_registry,
    )
    held._pyca_key = serialization.load_der_private_key(plain.signing_key.dump(), password=None)
    return held


_SIGNERS: dict[str, HeldKeySigner] = {}


def init_worker(identities: Sequence[tuple[str, str, bytes]], memory_mb: int) -> None:
    if memory_mb:
        limit = memory_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    for provider_code, path, passphrase in identities:
        # If one fails here its jobs answer identity-locked (the main process
        # checked it already, so this takes a file changed in between).
        with contextlib.suppress(IdentityHeld):
            _SIGNERS[provider_code] = load_signer(provider_code, Path(path), passphrase)


def _fail(e: EconnectorError) -> SignOutcome:
    params = {k: v for k, v in e.params.items() if k != "field"}
    return SignOutcome(ok=False, code=as_code(e.code), params=params)


def sign_file(job: SignJob) -> SignOutcome:
    """Check the policy and sign ``src`` into ``dst`` (fsynced). Runs in a worker."""
    try:
        return _sign(job)
    except EconnectorError as e:
        return _fail(e)
    except MemoryError:
        return SignOutcome(ok=False, code="pdf-too-complex", params={})
    except RecursionError:
        return SignOutcome(ok=False, code="pdf-damaged", params={"detail": "nesting too deep"})
    except FileNotFoundError:
        return SignOutcome(ok=False, code="drop-withdrawn", params={"name": Path(job.src).name})
    except PermissionError as e:
        return SignOutcome(ok=False, code="file-busy", params={"detail": e.strerror or "denied"})


# Up to this size the PDF is read whole and signed in memory: pyHanko is faster
# per small document on a buffer than on a file (it reads back and patches its
# output; docs/performance.md), and the hash comes from the bytes already in
# hand. Larger files are signed file to file, so memory stays flat whatever
# their size.
IN_MEMORY_BYTES = 8 * 1024 * 1024


def _sign(job: SignJob) -> SignOutcome:
    signer = _SIGNERS.get(job.provider_code)
    if signer is None:
        raise IdentityHeld("identity-locked", provider=job.provider_code, detail="not loaded")
    tmp = f"{job.dst}.{secrets.token_hex(4)}.tmp"
    try:
        expect = safeopen.FileId(*job.expect) if job.expect else None
        with safeopen.opened(job.src, expect) as fin:
            data = fin.read(IN_MEMORY_BYTES + 1)
            small = len(data) <= IN_MEMORY_BYTES
            writer, pages = _open_checked(io.BytesIO(data) if small else fin, data, small,
                                          job.max_pages)
            # The signed file starts with exactly these bytes (an incremental update):
            # their hash lets the daemon check they are the original it validated.
            input_sha256 = hashlib.sha256(data).hexdigest() if small else ""
            del data
            meta = signers.PdfSignatureMetadata(
                field_name=f"econnector-{secrets.token_hex(4)}",
                md_algorithm=DIGEST,
                subfilter=fields.SigSeedSubFilter.PADES,
                location=job.location or None,
            )
            pdf_signer = signers.PdfSigner(meta, signer=signer)
            signed_at = dt.datetime.now(dt.UTC).replace(microsecond=0)
            # A file output is opened readable and seekable, so pyHanko writes and
            # digests in place instead of building the whole output in memory.
            with open(tmp, "w+b") as fout:
                out: Any = io.BytesIO() if small else fout
                _sign_into(pdf_signer, writer, out, job.bytes_reserved)
                if small:
                    signed = out.getbuffer()
                    fout.write(signed)
                    size, sha256 = len(signed), hashlib.sha256(signed).hexdigest()
                    del signed
                fout.flush()
                os.fsync(fout.fileno())
            input_size = os.fstat(fin.fileno()).st_size
        os.replace(tmp, job.dst)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    if not small:
        sha256, size = fsio.sha256_file(Path(job.dst)), os.path.getsize(job.dst)
        with open(job.dst, "rb") as f:
            input_sha256 = fsio.sha256_prefix(f, input_size)
    return SignOutcome(
        ok=True, sha256=sha256, size=size, pages=pages, input_size=input_size,
        input_sha256=input_sha256, signed_at=signed_at.isoformat(),
    )


def _open_checked(src: Any, data: bytes, small: bool, max_pages: int
                  ) -> tuple[IncrementalPdfFileWriter, int]:
    """pyHanko's writer over the original, and its page count, once the policy
    passed; the walk is skipped when a byte search of a small PDF proves it
    cannot refuse (:func:`.pdfpolicy.may_hold_active_content`)."""
    try:
        writer = IncrementalPdfFileWriter(src, strict=False)
        if small and not pdfpolicy.may_hold_active_content(data):
            return writer, pdfpolicy.check_pages(writer.prev, max_pages)
        return writer, pdfpolicy.check(writer.prev, max_pages)
    except _PARSE_ERRORS as e:
        raise PdfError("pdf-damaged", detail=_short(e)) from None


def _sign_into(pdf_signer: signers.PdfSigner, writer: IncrementalPdfFileWriter, out: Any,
               bytes_reserved: int) -> None:
    """Append the signature to ``out``; pyHanko's failures as PdfError codes."""
    try:
        asyncio.run(pdf_signer.async_sign_pdf(writer, output=out, bytes_reserved=bytes_reserved))
    except SigningError as e:
        msg = str(e)
        if any(w in msg.lower() for w in ("forbids all changes", "docmdp", "certif")):
            raise PdfError("pdf-certified-no-changes") from None
        raise PdfError("pdf-signing-failed", detail=_short(e)) from None
    except _PARSE_ERRORS as e:
        raise PdfError("pdf-damaged", detail=_short(e)) from None


# What pyHanko raises on damaged input varies (its own PdfError, but also
# ValueError, KeyError, NotImplementedError for unknown filters, ...). Our own
# EconnectorError subclasses pass through untouched.
_PARSE_ERRORS = (
    HankoPdfError, ValueError, KeyError, TypeError, IndexError, AttributeError,
    NotImplementedError, AssertionError, UnicodeError, OverflowError, ZeroDivisionError,
)


def _short(e: BaseException) -> str:
    text = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
    return text[:200]


def serve() -> None:
    """A worker's life (see :mod:`.signer`): identities first, then jobs until the
    end of its input, each answered with its outcome, pickled over the pipes."""
    # Ctrl-C reaches the whole process group: the main process stops the workers
    # (end of their input), so they ignore it instead of printing a traceback.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    harden_worker()  # it holds the keys: no core dumps, not dumpable, private umask
    inp = os.fdopen(os.dup(0), "rb")
    out = os.fdopen(os.dup(1), "wb")
    # Only outcomes go to the parent: stray prints go to stderr, input is empty.
    os.dup2(2, 1)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    try:
        identities, memory_mb = pickle.load(inp)
    except (EOFError, pickle.UnpicklingError):
        return
    init_worker(identities, memory_mb)
    while True:
        try:
            job = pickle.load(inp)
        except (EOFError, pickle.UnpicklingError):
            return
        pickle.dump(sign_file(job), out, protocol=pickle.HIGHEST_PROTOCOL)
        out.flush()

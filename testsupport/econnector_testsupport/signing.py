"""Signing in this process, exactly as a signing worker does it, and small PDF edits.

For unit and contract tests of the signer and the PDF policy: the worker's own code
(``signworker.init_worker``, ``sign_file``) runs without a pool, so a test sees the
outcome of one document directly. The ``worker_signer`` fixture (fixtures.py) loads
the shared TEST identity this way.
"""

from __future__ import annotations

import io
from pathlib import Path

from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

from econnector import signer, signworker
from econnector.testid import TestIdentity
from econnector_testsupport.daemon import PROVIDER

PC = PROVIDER


def key_spec(identity: TestIdentity, provider: str = PC, level: str = "B-B") -> signer.KeySpec:
    """The PKCS#12 ``identity`` as a signing worker opens it."""
    secret = identity.passphrase_file.read_bytes().rstrip(b"\r\n")
    return signer.KeySpec(provider, level, secret, str(identity.pkcs12))


def sign_p12(data: bytes, identity: TestIdentity) -> bytes:
    """``data`` signed B-B with a ``make_identity`` PKCS#12 by pyHanko directly (no
    worker, no self-check): a good signature for the vault's own checks."""
    from pyhanko.sign import fields, signers

    signer = signers.SimpleSigner.load_pkcs12(
        str(identity.pkcs12), passphrase=identity.passphrase_file.read_bytes().strip()
    )
    assert signer is not None
    out = io.BytesIO()
    signers.PdfSigner(
        signers.PdfSignatureMetadata(field_name="Sig1", subfilter=fields.SigSeedSubFilter.PADES),
        signer,
    ).sign_pdf(IncrementalPdfFileWriter(io.BytesIO(data), strict=False), output=out)
    return out.getvalue()


def load_worker(identity: TestIdentity, provider: str = PC) -> None:
    """This process becomes a signing worker holding ``identity`` (and only it)."""
    signworker._SIGNERS.clear()
    signworker._KEYS.clear()
    signworker.init_worker([key_spec(identity, provider)], signer.Policy(), 0)


def job(src: Path, dst: Path, max_pages: int = 100) -> signer.SignJob:
    return signer.SignJob(PC, str(src), str(dst), max_pages, 16384, "Luxembourg")


def with_root_entry(pdf: bytes, key: str, value: generic.PdfObject) -> bytes:
    """``pdf`` with an extra catalog entry, as an incremental update."""
    w = IncrementalPdfFileWriter(io.BytesIO(pdf))
    w.root[generic.NameObject(key)] = value
    w.update_root()
    out = io.BytesIO()
    w.write(out)
    return out.getvalue()


def action(kind: str, **extra: generic.PdfObject) -> generic.DictionaryObject:
    """A PDF action dictionary ``/S kind`` with ``extra`` entries."""
    d = generic.DictionaryObject({generic.NameObject("/S"): generic.NameObject(kind)})
    for k, v in extra.items():
        d[generic.NameObject("/" + k)] = v
    return d

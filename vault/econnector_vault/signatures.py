"""Whether a stored PDF's last signature is acceptable: the vault's signature policy.

A document is refused (``pdf-invalid`` or ``signature-invalid``) unless its last
signature is intact, verifies, covers the whole file and, when trust roots are
configured, chains to one of them. Without trust roots the direct check of
:mod:`econnector_vault.sigcheck` accepts the common shape cheaply; whatever it
cannot prove goes to pyHanko, whose verdict and wording decide every refusal.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from asn1crypto import x509 as asn1_x509

from econnector_vault import sigcheck
from econnector_vault.errors import StoreError

__all__ = ["check_pdf_signature", "check_with_pyhanko", "signature_problem"]


def signature_problem(
    intact: bool, valid: bool, entire_file: bool, trusted: bool | None
) -> str | None:
    """Why the last signature is unacceptable, or None when it is acceptable.

    ``trusted`` is None when no trust roots are configured (trust not required).
    """
    if not intact:
        return "the signed bytes were modified after signing"
    if not valid:
        return "the cryptographic signature does not verify"
    if not entire_file:
        return "the signature does not cover the whole file (bytes were added after signing)"
    if trusted is False:
        return "the signer's certificate does not chain to a trusted root"
    return None


def check_pdf_signature(path: Path, trust_roots: Sequence[asn1_x509.Certificate] | None) -> None:
    """Raise ``pdf-invalid``/``signature-invalid`` unless the file's last signature is sound.

    CPU-bound (hashes the whole file): call it from a worker thread. Without
    trust roots the direct check answers first (what it costs against pyHanko:
    docs/performance.md); whatever it cannot prove goes to pyHanko.
    """
    if not trust_roots and sigcheck.verified(path):
        return
    check_with_pyhanko(path, trust_roots)


def check_with_pyhanko(path: Path, trust_roots: Sequence[asn1_x509.Certificate] | None) -> None:
    """pyHanko's full validation of the last signature; its verdict decides every refusal."""
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.validation.status import SignatureCoverageLevel
    from pyhanko_certvalidator import ValidationContext

    _install_quiet_filter()
    with path.open("rb") as fh:
        try:
            reader = PdfFileReader(fh, strict=False)
            signatures = reader.embedded_signatures
        except Exception as exc:  # pyHanko raises many types for damaged files
            raise StoreError(
                422,
                "pdf-invalid",
                "Invalid PDF",
                f"The file cannot be read as a PDF ({type(exc).__name__}).",
            ) from exc
        if not signatures:
            raise _signature_error("the PDF has no embedded signature")
        require_trust = bool(trust_roots)
        vc = ValidationContext(trust_roots=list(trust_roots or ()), allow_fetching=False)
        try:
            with _quiet_trust_warnings(not require_trust):
                status = _validate_last(signatures, vc, require_trust)
        except StoreError:
            raise
        except Exception as exc:
            raise _signature_error(f"it cannot be validated ({type(exc).__name__})") from exc
    problem = signature_problem(
        bool(status.intact),
        bool(status.valid),
        status.coverage == SignatureCoverageLevel.ENTIRE_FILE,
        bool(status.trusted) if require_trust else None,
    )
    if problem:
        raise _signature_error(problem)


def _validate_last(signatures: Sequence[Any], vc: Any, require_trust: bool) -> Any:
    """pyHanko's status of the last signature (a timestamp's, over a sound approval)."""
    from pyhanko.sign.validation import validate_pdf_signature, validate_pdf_timestamp

    last = signatures[-1]
    if last.sig_object_type != "/DocTimeStamp":
        return validate_pdf_signature(last, vc)
    # PAdES B-LTA ends with a document timestamp; an approval signature must
    # still exist and be sound underneath it.
    approvals = [s for s in signatures if s.sig_object_type == "/Sig"]
    if not approvals:
        raise _signature_error("the PDF has only document timestamps")
    inner = validate_pdf_signature(approvals[-1], vc)
    inner_problem = signature_problem(
        inner.intact, inner.valid, True, inner.trusted if require_trust else None
    )
    if inner_problem:
        raise _signature_error(inner_problem)
    return validate_pdf_timestamp(last, vc)


def _signature_error(detail: str) -> StoreError:
    return StoreError(
        422,
        "signature-invalid",
        "Invalid signature",
        f"The PDF signature is not acceptable: {detail}.",
    )


# -- pyHanko's trust warnings ---------------------------------------------------------------------

_quiet = threading.local()


class _QuietPathBuilding(logging.Filter):
    """Drops pyHanko's chain-of-trust warnings while trust is deliberately not required.

    Without trust roots every signer looks untrusted; logging a traceback per
    upload for that would drown the useful lines.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno > logging.WARNING or not getattr(_quiet, "on", False)


@functools.cache
def _install_quiet_filter() -> None:
    """Installed on first use rather than at import: importing changes no logger."""
    logging.getLogger("pyhanko.sign.validation.generic_cms").addFilter(_QuietPathBuilding())


@contextlib.contextmanager
def _quiet_trust_warnings(enabled: bool) -> Iterator[None]:
    previous = getattr(_quiet, "on", False)
    _quiet.on = enabled
    try:
        yield
    finally:
        _quiet.on = previous

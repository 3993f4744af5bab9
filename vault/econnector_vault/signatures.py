"""Whether a stored PDF's signature is acceptable: the vault's signature policy.

A document is refused (``pdf-invalid`` or ``signature-invalid``, the latter with
a stable ``reason`` from :data:`econnector_vault.trust.REASONS`) unless its
last signature is intact, verifies and covers the whole file. Validation data
added after the signature (a DSS update, as PAdES B-LT writes, and document
timestamps, as B-LTA writes) is part of "the whole file" when pyHanko's
difference analysis finds nothing else in those updates and the file ends
where its last revision does.

Without trust roots the direct check of :mod:`econnector_vault.sigcheck`
accepts the common shape cheaply; whatever it cannot prove goes to pyHanko,
whose verdict and wording decide every refusal. With trust roots
(:class:`~econnector_vault.trust.TrustPolicy`) the doctor's signature, the last
approval signature (``/Sig``; earlier ones may be other people's and are covered
by it), must also chain to a root and its signer must have been valid and not
revoked when it signed; a signature timestamp and a final document timestamp
must chain to a root too.
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
from econnector_vault.trust import (
    Reason,
    TrustPolicy,
    document_timestamp_time,
    signing_time,
)

__all__ = ["check_pdf_signature", "check_with_pyhanko", "signature_problem", "trust_policy"]

TrustInput = TrustPolicy | Sequence[asn1_x509.Certificate] | None


def trust_policy(trust: TrustInput) -> TrustPolicy | None:
    """``trust`` as a policy: None (or no roots) means trust is not required."""
    if trust is None or isinstance(trust, TrustPolicy):
        return trust
    return TrustPolicy(trust) if trust else None


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


def check_pdf_signature(path: Path, trust: TrustInput) -> None:
    """Raise ``pdf-invalid``/``signature-invalid`` unless the file's signature is sound.

    CPU-bound (hashes the whole file): call it from a worker thread. Without
    trust roots the direct check answers first (what it costs against pyHanko:
    docs/performance.md); whatever it cannot prove goes to pyHanko.
    """
    policy = trust_policy(trust)
    if policy is None and sigcheck.verified(path):
        return
    check_with_pyhanko(path, policy)


def check_with_pyhanko(path: Path, trust: TrustInput) -> None:
    """pyHanko's full validation; its verdict decides every refusal."""
    from pyhanko.pdf_utils.reader import PdfFileReader

    policy = trust_policy(trust)
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
            raise _signature_error("missing", "the PDF has no embedded signature")
        ends_cleanly = _ends_at_eof(fh)
        try:
            # Every refusal is answered with its reason; pyHanko's own warning (with a
            # traceback) per refused upload would only drown the access log.
            with _quiet_trust_warnings(True):
                if policy is None:
                    _check_untrusted(signatures, ends_cleanly)
                else:
                    _check_trusted(signatures, reader, policy, ends_cleanly)
        except StoreError:
            raise
        except Exception as exc:
            raise _signature_error(
                "integrity", f"it cannot be validated ({type(exc).__name__})"
            ) from exc


def _check_untrusted(signatures: Sequence[Any], ends_cleanly: bool) -> None:
    """The last signature is intact, valid and covers the file; trust is not asked."""
    from pyhanko_certvalidator import ValidationContext

    vc = ValidationContext(trust_roots=[], allow_fetching=False)
    status = _validate_last(signatures, vc)
    _refuse_if(signature_problem(
        bool(status.intact), bool(status.valid), _covers_file(status, ends_cleanly), None
    ))


def _validate_last(signatures: Sequence[Any], vc: Any) -> Any:
    """pyHanko's status of the last signature (a timestamp's, over a sound approval)."""
    from pyhanko.sign.validation import validate_pdf_signature, validate_pdf_timestamp

    last = signatures[-1]
    if last.sig_object_type != "/DocTimeStamp":
        return validate_pdf_signature(last, vc)
    # PAdES B-LTA ends with a document timestamp; an approval signature must
    # still exist and be sound underneath it.
    inner = validate_pdf_signature(_doctor_signature(signatures), vc)
    _refuse_if(signature_problem(inner.intact, inner.valid, True, None))
    return validate_pdf_timestamp(last, vc)


def _check_trusted(
    signatures: Sequence[Any], reader: Any, policy: TrustPolicy, ends_cleanly: bool
) -> None:
    """The doctor's signature is sound and trusted at its signing time; so is what seals it."""
    from pyhanko.sign.validation import validate_pdf_signature, validate_pdf_timestamp

    doctor = _doctor_signature(signatures)
    when = signing_time(doctor)
    status = validate_pdf_signature(doctor, policy.context(when.moment, reader))
    last = signatures[-1]
    covers = True if last is not doctor else _covers_file(status, ends_cleanly)
    _refuse_if(signature_problem(bool(status.intact), bool(status.valid), covers, None))
    tst = status.timestamp_validity
    if tst is not None:
        if not (tst.intact and tst.valid):
            raise _signature_error("integrity", "the signature timestamp does not verify")
        if not tst.trusted:
            raise _signature_error(
                "not-trusted", "the signature timestamp's authority does not chain to a "
                "trusted root or was not valid at the time it certifies"
            )
    refusal = policy.signer_refusal(status, when)
    if refusal is not None:
        raise _signature_error(refusal.reason, refusal.detail)
    if last is doctor:
        return
    # B-LTA: the document timestamp seals the file; judged at the time it certifies.
    sealed = validate_pdf_timestamp(last, policy.context(document_timestamp_time(last), reader))
    _refuse_if(signature_problem(
        bool(sealed.intact), bool(sealed.valid), _covers_file(sealed, ends_cleanly), None
    ))
    if not sealed.trusted:
        raise _signature_error(
            "not-trusted", "the document timestamp's authority does not chain to a trusted "
            "root or was not valid at the time it certifies"
        )


def _doctor_signature(signatures: Sequence[Any]) -> Any:
    """The last approval signature (``/Sig``): the one the practice made."""
    approvals = [s for s in signatures if s.sig_object_type == "/Sig"]
    if not approvals:
        raise _signature_error("missing", "the PDF has only document timestamps")
    return approvals[-1]


def _covers_file(status: Any, ends_cleanly: bool) -> bool:
    """The signature covers the file, or only validation data follows it (B-LT, B-LTA)."""
    from pyhanko.sign.diff_analysis import ModificationLevel
    from pyhanko.sign.validation.status import SignatureCoverageLevel

    if status.coverage == SignatureCoverageLevel.ENTIRE_FILE:
        return True
    return (
        ends_cleanly
        and status.coverage == SignatureCoverageLevel.ENTIRE_REVISION
        and getattr(status, "modification_level", None) == ModificationLevel.LTA_UPDATES
    )


def _ends_at_eof(fh: Any, tail: int = 64) -> bool:
    """The file ends with its last revision's ``%%EOF`` (end-of-line bytes aside).

    pyHanko's difference analysis looks at revisions; bytes after the last
    ``%%EOF`` belong to none, so they are refused here.
    """
    where = fh.tell()
    try:
        size = fh.seek(0, 2)
        fh.seek(max(0, size - tail))
        return bool(fh.read().rstrip(b"\r\n").endswith(b"%%EOF"))
    finally:
        fh.seek(where)  # the reader shares the handle


def _refuse_if(problem: str | None) -> None:
    if problem:
        raise _signature_error("integrity", problem)


def _signature_error(reason: Reason, detail: str) -> StoreError:
    return StoreError(
        422,
        "signature-invalid",
        "Invalid signature",
        f"The PDF signature is not acceptable: {detail}.",
        reason=reason,
    )


# -- pyHanko's trust warnings ---------------------------------------------------------------------

_quiet = threading.local()


class _QuietPathBuilding(logging.Filter):
    """Drops pyHanko's chain-of-trust warnings while the vault validates.

    Without trust roots every signer looks untrusted; with them each refusal
    already answers with its reason and detail. Logging a traceback per upload
    for either would drown the useful lines.
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

"""The vault's trust roots (``--trust-roots``) and what it asks of a signer against them.

With trust roots the doctor's signature must chain to one of them (the
intermediates come from the CMS's certificates and the PDF's DSS) and the
signer's certificate must have been valid *when the document was signed*: at
the signature timestamp's time when there is one (B-T and above), else at the
time the signer states (the CMS ``signingTime``, or the signature dictionary's
``/M``). Revocation data the PDF embeds (its DSS) is used, and a revocation
before that time refuses the document; data the PDF does not carry is never
fetched (the vault makes no network calls), so revocation checking is
otherwise soft.

The roots are read and checked once per process (:class:`TrustPolicy`) and
indexed once per worker thread: asn1crypto parses a certificate lazily and not
atomically (a sequence's children list is emptied, then appended to), so two
upload threads on the first use of shared root objects saw half-parsed
certificates and refused good signatures as ``integrity`` (``KeyError``). Each
upload gets a fresh, cheap ``ValidationContext`` on top of its thread's roots,
because a context collects every certificate it is shown and holds one
validation time.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Literal, get_args

from asn1crypto import pem
from asn1crypto import x509 as asn1_x509
from cryptography import x509 as crypto_x509

if TYPE_CHECKING:  # pyHanko is imported on first use: the server and the daemon start faster
    from pyhanko_certvalidator import ValidationContext

__all__ = [
    "REASONS",
    "Reason",
    "Refusal",
    "SigningTime",
    "TrustPolicy",
    "TrustRootsError",
    "document_timestamp_time",
    "load_trust_roots",
    "signing_time",
]

Reason = Literal[
    "missing",
    "integrity",
    "not-trusted",
    "signer-expired-at-signing-time",
    "signer-not-yet-valid-at-signing-time",
    "revoked",
    "key-usage",
]
# The stable ``reason`` values of a ``signature-invalid`` problem (docs/vault-api.md).
REASONS: Final[tuple[Reason, ...]] = get_args(Reason)


class TrustRootsError(ValueError):
    """A one-line reason a trust-roots file cannot be used."""


def load_trust_roots(paths: Iterable[Path]) -> list[asn1_x509.Certificate]:
    """Every certificate of the PEM files ``paths`` (each may hold several), in order.

    Raises :class:`TrustRootsError` for a file that cannot be read, is not PEM,
    holds a block other than ``CERTIFICATE`` (a key in a roots file is a
    mistake worth stopping for) or holds no certificate.
    """
    roots: list[asn1_x509.Certificate] = []
    for path in paths:
        roots.extend(_load_pem_file(Path(path)))
    return roots


def _load_pem_file(path: Path) -> list[asn1_x509.Certificate]:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise TrustRootsError(f"trust roots file {path} does not exist") from None
    except OSError as exc:
        raise TrustRootsError(f"trust roots file {path} cannot be read: {exc.strerror}") from None
    if not pem.detect(data):
        raise TrustRootsError(f"trust roots file {path} is not a PEM file")
    certs: list[asn1_x509.Certificate] = []
    try:
        for kind, _, der in pem.unarmor(data, multiple=True):
            if kind != "CERTIFICATE":
                raise TrustRootsError(
                    f"trust roots file {path} holds a {kind} block; give certificates only"
                )
            crypto_x509.load_der_x509_certificate(der)  # strict parse: damage shows here
            certs.append(asn1_x509.Certificate.load(der))
    except TrustRootsError:
        raise
    except ValueError as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise TrustRootsError(
            f"trust roots file {path} holds a damaged certificate: {reason}"
        ) from None
    if not certs:
        raise TrustRootsError(f"trust roots file {path} holds no certificate")
    return certs


# -- the signing time -----------------------------------------------------------------------------


@dataclass(frozen=True)
class SigningTime:
    """When a signature was made, as far as the file shows, and where that came from.

    ``moment`` is None when the signature states no time at all; it is then
    judged at the time of the upload.
    """

    moment: datetime | None
    source: str

    def describe(self) -> str:
        if self.moment is None:
            return "the signature states no signing time, so it was judged at upload"
        return f"signed {_iso(self.moment)} according to the {self.source}"


def signing_time(embedded_sig: Any) -> SigningTime:
    """The signature timestamp's time when the signature has one, else the signer's claim.

    ``embedded_sig`` is pyHanko's ``EmbeddedPdfSignature``. Only a timestamp
    is evidence from a third party; the claim (CMS ``signingTime`` or ``/M``) is
    all a B-B signature has.
    """
    from pyhanko.sign.validation.generic_cms import extract_tst_data_iter

    for tst in extract_tst_data_iter(embedded_sig.signer_info, signed=False):
        gen_time = tst["encap_content_info"]["content"].parsed["gen_time"].native
        return SigningTime(_aware(gen_time), "signature timestamp")
    claimed = embedded_sig.self_reported_timestamp
    if claimed is None:
        return SigningTime(None, "upload time")
    return SigningTime(_aware(claimed), "signing time the signer states")


def document_timestamp_time(embedded_sig: Any) -> datetime:
    """The time a document timestamp (``/DocTimeStamp``) certifies."""
    info = embedded_sig.signed_data["encap_content_info"]["content"].parsed
    return _aware(info["gen_time"].native)


def _aware(moment: datetime) -> datetime:
    return moment if moment.utcoffset() is not None else moment.replace(tzinfo=UTC)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# -- the trust store ------------------------------------------------------------------------------


@functools.cache
def _shared_trust_manager() -> Any:
    """pyHanko's trust manager class, made safe to share between the uploads of a thread.

    The stock one looks issuers up in a ``defaultdict``, so every unknown
    issuer name an uploaded certificate carries would add a key for the life
    of the thread; this one's lookups never write.
    """
    from pyhanko_certvalidator.registry import SimpleTrustManager

    class SharedTrustManager(SimpleTrustManager):
        @classmethod
        def of(cls, roots: Iterable[asn1_x509.Certificate]) -> SharedTrustManager:
            manager = cls()
            for root in roots:
                manager._register_root(root)
            manager._root_subject_map = dict(manager._root_subject_map)
            return manager

        def as_trust_anchor(self, authority: Any) -> Any:
            if authority.name.hashable not in self._root_subject_map:
                return None
            return super().as_trust_anchor(authority)

        def find_potential_issuers(self, cert: asn1_x509.Certificate) -> Any:
            if cert.issuer.hashable not in self._root_subject_map:
                return iter(())
            return super().find_potential_issuers(cert)

    return SharedTrustManager


@dataclass(frozen=True)
class Refusal:
    """Why a signer is not acceptable: a stable :data:`REASONS` value and a sentence."""

    reason: Reason
    detail: str


class TrustPolicy:
    """The trust roots, indexed once per thread; a validation context per check.

    Safe to share between threads: no asn1crypto object of one thread's checks
    is ever touched by another's. ``roots`` are the objects given, kept for
    callers to inspect; checks use per-thread copies made from their DER.
    """

    def __init__(self, roots: Sequence[asn1_x509.Certificate]) -> None:
        if not roots:
            raise ValueError("a trust policy needs at least one root")
        self.roots = tuple(roots)
        self._ders = tuple(root.dump() for root in self.roots)
        self._local = threading.local()

    def _manager(self) -> Any:
        """This thread's trust manager over its own parse of the roots, built on first use.

        Costs one parse and index of the roots per worker thread (a few
        certificates), against a lock that would serialize every check.
        """
        manager = getattr(self._local, "manager", None)
        if manager is None:
            copies = [asn1_x509.Certificate.load(der) for der in self._ders]
            manager = self._local.manager = _shared_trust_manager().of(copies)
        return manager

    def context(self, moment: datetime | None, reader: Any = None) -> ValidationContext:
        """A context judging at ``moment`` (None: now), with the DSS data of ``reader``.

        No fetching, soft revocation checking; revocation data produced after
        ``moment`` (as B-LT embeds it) still speaks for ``moment``.
        """
        from pyhanko_certvalidator import ValidationContext

        kwargs: dict[str, Any] = {
            "trust_manager": self._manager(),
            "moment": moment,
            "allow_fetching": False,
            "revocation_mode": "soft-fail",
            "retroactive_revinfo": True,
        }
        if reader is not None:
            from pyhanko.sign.validation.dss import DocumentSecurityStore, NoDSSFoundError

            try:
                dss = DocumentSecurityStore.read_dss(reader)
            except NoDSSFoundError:
                pass
            else:
                return dss.as_validation_context(kwargs)
        return ValidationContext(**kwargs)

    def signer_refusal(self, status: Any, when: SigningTime) -> Refusal | None:
        """Why pyHanko's ``status`` of the doctor's signature is not trusted, or None."""
        from pyhanko.sign.ades.report import AdESIndeterminate
        from pyhanko.sign.validation.status import PdfSignatureStatus

        if status.trusted:
            return None
        indic = status.trust_problem_indic
        cert = status.signing_cert
        if indic is AdESIndeterminate.NO_CERTIFICATE_CHAIN_FOUND:
            return Refusal(
                "not-trusted", "the signer's certificate does not chain to a trusted root"
            )
        if status.revoked or indic in (
            AdESIndeterminate.REVOKED_NO_POE, AdESIndeterminate.REVOKED_CA_NO_POE
        ):
            details = status.revocation_details
            whose = (
                "a CA certificate of its chain"
                if indic is AdESIndeterminate.REVOKED_CA_NO_POE
                else "the signer's certificate"
            )
            at = f" on {_iso(details.revocation_date)}" if details else ""
            return Refusal(
                "revoked",
                f"{whose} was revoked{at}, before it signed ({when.describe()})",
            )
        moment = when.moment or datetime.now(UTC)
        validity = cert["tbs_certificate"]["validity"]
        not_before = validity["not_before"].native
        not_after = validity["not_after"].native
        if moment < not_before:
            return Refusal(
                "signer-not-yet-valid-at-signing-time",
                f"the signer's certificate was not yet valid when it signed (valid from "
                f"{_iso(not_before)}; {when.describe()})",
            )
        if moment > not_after:
            return Refusal(
                "signer-expired-at-signing-time",
                f"the signer's certificate had expired when it signed (valid until "
                f"{_iso(not_after)}; {when.describe()})",
            )
        if indic is AdESIndeterminate.CHAIN_CONSTRAINTS_FAILURE:
            try:
                PdfSignatureStatus.default_usage_constraints().validate(cert)
            except Exception:  # pyhanko_certvalidator's InvalidCertificateError
                return Refusal(
                    "key-usage",
                    "the signer's certificate may not make signatures "
                    "(it lacks the non-repudiation key usage)",
                )
        name = indic.name if indic is not None else "no validation path"
        return Refusal(
            "not-trusted",
            f"the signer's certificate does not validate against a trusted root at the "
            f"signing time ({name}; {when.describe()})",
        )

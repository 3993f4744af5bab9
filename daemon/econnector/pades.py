"""PAdES levels and the self-check, worker side: the timestamp service, the validation
data cache, and the check every signed PDF passes before it may be uploaded.

Why one event loop per worker: pyHanko's HTTP clients (aiohttp) are bound to the
loop that first used them, and a validation context caches what it fetched (OCSP
responses, CRLs, certificates) only for as long as it lives. Keeping the loop and
the context across documents is what makes B-LT affordable: the signer's and the
TSA's revocation data are fetched once per validity window, not per document
(docs/performance.md). The context also caches *failures*, so one is dropped as
soon as a fetch failed: the next document asks the services again.

pyHanko and certvalidator exceptions are translated here into econnector codes;
``signworker`` turns them into outcomes.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hashlib
import io
import logging
import re
from collections.abc import Iterator
from typing import IO, Any

import aiohttp
from asn1crypto import cms
from asn1crypto import x509 as asn1_x509
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign import signers
from pyhanko.sign.general import SigningError
from pyhanko.sign.signers.pdf_signer import DSSContentSettings, SigDSSPlacementPreference
from pyhanko.sign.timestamps import HTTPTimeStamper, TimestampRequestError
from pyhanko.sign.validation import DocumentSecurityStore, async_validate_detached_cms
from pyhanko.sign.validation.generic_cms import validate_tst_signed_data
from pyhanko.sign.validation.settings import KeyUsageConstraints
from pyhanko.sign.validation.status import TimestampSignatureStatus
from pyhanko_certvalidator import ValidationContext
from pyhanko_certvalidator.errors import (
    ExpiredError,
    InsufficientRevinfoError,
    InvalidCertificateError,
    NotYetValidError,
    PathBuildingError,
    PathValidationError,
    RevokedError,
)
from pyhanko_certvalidator.fetchers.aiohttp_fetchers.util import LazySession

from .config import at_least
from .errors import EconnectorError, IdentityHeld, ServiceUnavailable, SignatureHeld, causes
from .signer import Policy

# certvalidator logs every failed fetch with a traceback at WARNING; our outcome
# names the service instead (and the workers' stderr is the daemon's log).
logging.getLogger("pyhanko_certvalidator").setLevel(logging.ERROR)
logging.getLogger("pyhanko").setLevel(logging.ERROR)


# A validation context is renewed after this long at most, even when the OCSP
# responses and CRLs it holds would stay fresh longer (a revocation is then seen
# within the hour, which is what a daily-updated CRL gives anyway).
MAX_CACHE = dt.timedelta(hours=1)

# A signature with a timestamp token (the TSA's certificates inside) needs room.
TIMESTAMP_RESERVE = 16384

# Either usage makes a signing certificate (signer.validity refuses one with neither).
_KEY_USAGE = KeyUsageConstraints(key_usage={"digital_signature", "non_repudiation"},
                                 match_all_key_usages=False)


class Services:
    """One worker's timestamp client, event loop and cached validation context."""

    def __init__(self, policy: Policy) -> None:
        self.policy = policy
        self.loop = asyncio.new_event_loop()
        self.roots = [asn1_x509.Certificate.load(der) for der in policy.trust_roots]
        self.tsa: HTTPTimeStamper | None = None
        if policy.tsa_url:
            headers = None
            if policy.tsa_auth is not None:  # HTTP basic authentication (aiohttp's own
                # BasicAuth object is deprecated): the header, built once
                user, password = policy.tsa_auth
                headers = {"Authorization": aiohttp.encode_basic_auth(
                    user, password.decode("utf-8", "replace"))}
            # One HTTP session for the worker's life: without it pyHanko opens one per
            # timestamp, and each loads the system's CA bundle (about 50 ms of CPU).
            self._tsa_session = LazySession()
            self.tsa = HTTPTimeStamper(policy.tsa_url, timeout=policy.tsa_timeout,
                                       headers=headers, session=self._tsa_session)
        self._vc: ValidationContext | None = None
        self._vc_until = dt.datetime.min.replace(tzinfo=dt.UTC)
        # The self-check's chain-and-revocation verdicts, as long as the context's data.
        self.verdicts: dict[bytes, dt.datetime] = {}

    def run(self, coro: Any) -> Any:
        return self.loop.run_until_complete(coro)

    def context(self, level: str, now: dt.datetime) -> ValidationContext | None:
        """The signing context (fetching allowed), reused until its data goes stale;
        None without trust roots (then nothing is validated before signing)."""
        if not self.roots:
            return None
        if self._vc is None or now >= self._vc_until:
            self.drop_context()
            self._vc = ValidationContext(
                trust_roots=self.roots, allow_fetching=True,
                # B-LT needs the data, so a status service that does not answer stops
                # the signature (the document waits); below B-LT a revoked answer still
                # refuses, a silent service does not.
                revocation_mode="hard-fail" if at_least(level, "B-LT") else "soft-fail",
            )
            self._vc_until = now + MAX_CACHE
        return self._vc

    def renew_after(self, now: dt.datetime) -> None:
        """The cached context stays until the first of its OCSP responses or CRLs
        would need a fresh one (their nextUpdate), at most :data:`MAX_CACHE`."""
        vc = self._vc
        if vc is None:
            return
        until = now + MAX_CACHE
        for when in _next_updates(vc):
            until = min(until, when)
        self._vc_until = min(self._vc_until, until)

    @property
    def fresh_until(self) -> dt.datetime:
        return self._vc_until

    def drop_context(self) -> None:
        self.verdicts.clear()
        vc, self._vc = self._vc, None
        if vc is not None:
            # closing a broken session must not fail a job
            with contextlib.suppress(Exception):
                self.run(vc.aclose())

    def close(self) -> None:
        self.drop_context()
        session = getattr(self, "_tsa_session", None)
        if session is not None:
            with contextlib.suppress(Exception):
                self.run(session.close())
        self.loop.close()


def _next_updates(vc: ValidationContext) -> Iterator[dt.datetime]:
    for resp in vc.ocsps:
        try:
            tbs = resp["response_bytes"]["response"].parsed["tbs_response_data"]
            for single in tbs["responses"]:
                nu = single["next_update"].native
                if nu is not None:
                    yield nu
        except (KeyError, ValueError, TypeError):
            continue
    for crl in vc.crls:
        try:
            nu = crl["tbs_cert_list"]["next_update"].native
        except (KeyError, ValueError, TypeError):
            continue
        if nu is not None:
            yield nu


def metadata(level: str, field_name: str, md_algorithm: str, location: str | None,
             signer: signers.Signer, vc: ValidationContext | None,
             subfilter: Any) -> signers.PdfSignatureMetadata:
    """pyHanko's metadata for ``level``: B-LT embeds the validation data, B-LTA adds a
    document timestamp."""
    usage = {"non_repudiation"}
    cert = signer.signing_cert
    if cert is not None and cert.key_usage_value is not None and (
            "non_repudiation" not in cert.key_usage_value.native):
        usage = {"digital_signature"}
    return signers.PdfSignatureMetadata(
        field_name=field_name, md_algorithm=md_algorithm, subfilter=subfilter,
        location=location, validation_context=vc,
        embed_validation_info=at_least(level, "B-LT"),
        use_pades_lta=level == "B-LTA", signer_key_usage=usage,
        # The validation data goes into the signature's own revision (no VRI), so a
        # B-LT signature still covers the whole file: what a reader such as pdfsig
        # shows as "Total document signed".
        dss_settings=DSSContentSettings(
            include_vri=False, placement=SigDSSPlacementPreference.TOGETHER_WITH_SIGNATURE),
    )


# -- exceptions as codes ---------------------------------------------------------------


def _status_urls(e: PathValidationError) -> list[str]:
    """The OCSP and CRL addresses of the certificates on the failing path."""
    urls: list[str] = []
    try:
        certs = list(e.current_path.iter_certs(include_root=False))
    except Exception:  # only for the message
        return urls
    for cert in certs:
        for url in list(cert.ocsp_urls) + [
                u for dp in (cert.crl_distribution_points or [])
                for u in _dp_urls(dp)]:
            if url not in urls:
                urls.append(url)
    return urls


def _dp_urls(dp: Any) -> list[str]:
    try:
        return [n.native for n in dp["distribution_point"].chosen
                if n.name == "uniform_resource_identifier"]
    except (KeyError, AttributeError, TypeError):
        return []


def translate(e: BaseException, provider: str, tsa_url: str | None) -> EconnectorError | None:
    """What a failed signature means for the document: the identity must stop, a
    service must be asked again later, or our own check failed. None: not ours to say
    (the caller treats it as a PDF problem)."""
    for err in causes(e):
        if isinstance(err, TimestampRequestError):
            return ServiceUnavailable("tsa-unavailable", service=tsa_url or "?",
                                      detail=_short(err.__cause__ or err))
        if isinstance(err, RevokedError):
            when = err.revocation_dt.date().isoformat()
            if err.is_ee_cert and not err.is_side_validation:
                return IdentityHeld("certificate-revoked", provider=provider,
                                    detail=f"revoked on {when}")
            return SignatureHeld("signature-check-failed",
                                 defect="a certificate of the chain or of the timestamp "
                                        "service is revoked")
        if isinstance(err, ExpiredError):
            return IdentityHeld("certificate-expired", provider=provider,
                                not_after="?", not_before="?")
        if isinstance(err, NotYetValidError):
            return IdentityHeld("certificate-not-yet-valid", provider=provider,
                                not_after="?", not_before="?")
        if isinstance(err, InsufficientRevinfoError):
            urls = _status_urls(err)
            return ServiceUnavailable("revocation-unavailable",
                                      service=", ".join(urls[:2]) or "OCSP/CRL",
                                      detail="no answer")
        if isinstance(err, PathBuildingError):
            return SignatureHeld("signature-check-failed",
                                 defect="the certificate does not chain to the trust roots")
        if isinstance(err, InvalidCertificateError):
            return IdentityHeld("certificate-key-usage", provider=provider,
                                usages=_short(err))
    if isinstance(e, SigningError) and "validated" in str(e):
        return SignatureHeld("signature-check-failed",
                             defect="the certificate could not be validated")
    return None


def _short(e: BaseException) -> str:
    text = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
    return text[:160]


# -- the self-check --------------------------------------------------------------------

# Fixed English phrases (messages/phrases.py translates them) naming each defect.
NOT_INTACT = "the signed content does not match the signature"
NOT_TRUSTED = "the certificate does not chain to the trust roots"
NO_TIMESTAMP = "the signature has no valid timestamp"
NO_REVOCATION_DATA = "the revocation data for the certificates is not embedded"
NO_DOC_TIMESTAMP = "the document timestamp is missing or invalid"
NOT_FOUND = "the signature was not found in the signed file"
NOT_WHOLE = "the signature does not cover the whole file"


class _Ranges(io.RawIOBase):
    """The bytes a signature's /ByteRange covers, read as one stream (large files are
    checked without loading them)."""

    def __init__(self, f: IO[bytes], ranges: list[tuple[int, int]]) -> None:
        self.f, self.ranges, self.i, self.pos = f, ranges, 0, 0

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        while self.i < len(self.ranges):
            start, length = self.ranges[self.i]
            if self.pos >= length:
                self.i, self.pos = self.i + 1, 0
                continue
            self.f.seek(start + self.pos)
            n = self.f.readinto(memoryview(b)[: min(len(b), length - self.pos)])  # type: ignore[attr-defined]
            if not n:
                raise ValueError("the signed file is shorter than its /ByteRange")
            self.pos += n
            return int(n)
        return 0


_BYTE_RANGE = re.compile(rb"/ByteRange\s*\[\s*(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s*\]")


def _signatures_after(f: IO[bytes], start: int) -> list[tuple[int, int, int, int]]:
    """The /ByteRange of each signature written after ``start`` (our own incremental
    updates: the signature, and at B-LTA the document timestamp), in file order.

    Why not pyHanko's reader: it parses a signature's /Contents one hex digit at a
    time (some 20 ms for the 16 KiB we reserve, 60 ms in its lenient mode), which
    would double the cost of a B-B signature; our own updates are the only ones
    searched here, and every value found is then checked cryptographically."""
    f.seek(start)
    tail = f.read()
    return [tuple(int(x) for x in m.groups())  # type: ignore[misc]
            for m in _BYTE_RANGE.finditer(tail)]


def _contents(f: IO[bytes], br: tuple[int, int, int, int]) -> cms.SignedData:
    f.seek(br[1])
    hexed = f.read(br[2] - br[1]).strip()
    if not (hexed.startswith(b"<") and hexed.endswith(b">")):
        raise ValueError("no signature contents between the byte ranges")
    info = cms.ContentInfo.load(bytes.fromhex(hexed[1:-1].decode("ascii")), strict=False)
    return info["content"]


def _verdict_key(signed_data: cms.SignedData, dss: DocumentSecurityStore | None,
                 level: str) -> bytes:
    """What a chain-and-revocation verdict depends on: the certificates in the signature
    and in its timestamp token, the revocation data embedded, the level."""
    h = hashlib.sha256(level.encode())
    parts = [c.chosen.dump()
             for c in (*signed_data["certificates"], *_tst_certs(signed_data))]
    if dss is not None:  # (references to the DSS's streams: their decoded bytes)
        parts += [ref.get_object().data for ref in (*dss.ocsps, *dss.crls)]
        parts += [c.dump() for c in dss.load_certs()]
    for part in sorted(parts):
        h.update(hashlib.sha256(part).digest())
    return h.digest()


def _anchored(certs: Any) -> ValidationContext:
    """A context that trusts the given certificates themselves: used when their chains
    and revocation data were already validated (see :func:`self_check`)."""
    return ValidationContext(trust_roots=[c.chosen for c in certs], allow_fetching=False)


def _tst_certs(signed_data: cms.SignedData) -> list[Any]:
    out: list[Any] = []
    for info in signed_data["signer_infos"]:
        for attr in info["unsigned_attrs"] or []:
            if attr["type"].native == "signature_time_stamp_token":
                for token in attr["values"]:
                    out += list(token["content"]["certificates"])
    return out


async def self_check(signed: IO[bytes], input_size: int, level: str,
                     roots: list[asn1_x509.Certificate],
                     verdicts: dict[bytes, dt.datetime] | None = None,
                     until: dt.datetime | None = None) -> tuple[str, dict[str, Any]]:
    """Validate our signature in ``signed`` offline (no fetching: what is in the file
    must be enough) and say the level reached. Raises SignatureHeld naming the defect
    when the signature does not validate or falls short of ``level``.

    Why ``verdicts``: the chains (the doctor's, the TSA's) and the revocation data are
    the same for every document of a doctor while the signing context's data stay
    fresh; validating them again for each document was most of the check's cost at
    B-LT (path building and revocation processing, docs/performance.md). A verdict is
    kept per exact set of certificates and revocation data, until ``until``; every
    document still gets its own integrity, signature value and timestamp checks."""
    size = signed.seek(0, io.SEEK_END)
    ranges = _signatures_after(signed, input_size)
    if not ranges or ranges[0][0] != 0:
        raise SignatureHeld("signature-check-failed", defect=NOT_FOUND)
    ours = ranges[0]
    signed_data = _contents(signed, ours)
    lt = at_least(level, "B-LT")
    kwargs: dict[str, Any] = {
        "trust_roots": roots, "allow_fetching": False,
        "revocation_mode": "hard-fail" if lt else "soft-fail",
    }
    dss = None
    if lt:
        signed.seek(0)
        reader = PdfFileReader(signed, strict=False)
        dss = DocumentSecurityStore.read_dss(reader)
        if not (dss.ocsps or dss.crls):
            raise SignatureHeld("signature-check-failed", defect=NO_REVOCATION_DATA)
    findings: dict[str, Any] = {"checked_at": _now(), "revocation_checked": lt}
    key = _verdict_key(signed_data, dss, level) if roots else b""
    known = (verdicts is not None and key in verdicts
             and dt.datetime.now(dt.UTC) < verdicts[key])
    ts_vc = None
    if known or not roots:
        # Chains already validated with these very data (or no roots: a B-B trial,
        # integrity only): the certificates are their own anchors.
        vc = _anchored(signed_data["certificates"])
        ts_vc = _anchored(_tst_certs(signed_data))
    else:
        vc = dss.as_validation_context(kwargs) if dss is not None else ValidationContext(
            **kwargs)
    covered = _Ranges(signed, [(ours[0], ours[1]), (ours[2], ours[3])])
    status = await async_validate_detached_cms(
        covered, signed_data, signer_validation_context=vc,
        ts_validation_context=ts_vc or vc, key_usage_settings=_KEY_USAGE)
    findings["intact"] = bool(status.intact and status.valid)
    findings["trusted"] = bool(status.trusted) if roots else None
    if not findings["intact"]:
        raise SignatureHeld("signature-check-failed", defect=NOT_INTACT)
    if roots and not status.trusted:
        raise SignatureHeld("signature-check-failed",
                            defect=NO_REVOCATION_DATA if lt and _revinfo_problem(status)
                            else NOT_TRUSTED)
    ts_ok = status.timestamp_validity is None or status.timestamp_validity.trusted
    if roots and not known and verdicts is not None and until is not None and ts_ok:
        verdicts[key] = until
    whole = ours[2] + ours[3] == size
    findings["covers_whole_file"] = whole
    reached = "B-B"
    ts = status.timestamp_validity
    if ts is not None and ts.intact and ts.valid and (not roots or ts.trusted):
        reached = "B-T"
        findings["timestamp"] = ts.timestamp.isoformat()
    elif at_least(level, "B-T"):
        raise SignatureHeld("signature-check-failed", defect=NO_TIMESTAMP)
    if lt:
        assert dss is not None
        reached = "B-LT"
        findings["revocation_data"] = {"ocsp": len(dss.ocsps), "crl": len(dss.crls)}
    if level == "B-LTA":
        last = ranges[-1]
        ok = len(ranges) > 1 and last[2] + last[3] == size
        if ok:
            doc_ts = await _document_timestamp(signed, last, roots)
            ok = doc_ts is not None
            if doc_ts is not None:
                findings["document_timestamp"] = doc_ts
        if not ok:
            raise SignatureHeld("signature-check-failed", defect=NO_DOC_TIMESTAMP)
        reached = "B-LTA"
    elif not whole:
        raise SignatureHeld("signature-check-failed", defect=NOT_WHOLE)
    return f"PAdES-{reached}", findings


async def _document_timestamp(signed: IO[bytes], br: tuple[int, int, int, int],
                              roots: list[asn1_x509.Certificate]) -> str | None:
    """The time of a valid, trusted document timestamp over ``br``, or None."""
    tst = _contents(signed, br)
    covered = _Ranges(signed, [(br[0], br[1]), (br[2], br[3])])
    digests: dict[str, bytes] = {}

    def imprint(md: str) -> bytes:
        if md not in digests:
            h = hashlib.new(md)
            covered.i = covered.pos = 0
            while chunk := covered.read(1 << 16):
                h.update(chunk)
            digests[md] = h.digest()
        return digests[md]

    vc = ValidationContext(trust_roots=roots, allow_fetching=False, revocation_mode="soft-fail")
    status = TimestampSignatureStatus(**await validate_tst_signed_data(tst, vc, imprint))
    if not status.trusted:  # (valid, intact, and chains to the roots)
        return None
    when = status.timestamp
    return when.isoformat()


def _revinfo_problem(status: Any) -> bool:
    indic = str(getattr(status, "trust_problem_indic", None) or "").upper()
    return "REVOCATION" in indic or "REVINFO" in indic


def _now() -> str:
    return dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat()


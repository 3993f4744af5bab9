"""``check-config`` for the signatures: the trust roots, the timestamp service, and
each doctor's certificate status (revoked or not) as a signing worker will see it.

Run only by ``check-config`` (it imports pyHanko's timestamp client and the
certificate validator, which the daemon's main process never needs). Every answer
is one line that names the key to fix; exit 0 means a document can be signed at its
level now.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
from collections.abc import Collection
from typing import TYPE_CHECKING

from cryptography.hazmat.primitives.serialization import Encoding, pkcs12

from .config import LEVELS, at_least
from .signer import read_trust_roots

if TYPE_CHECKING:
    from asn1crypto import x509 as asn1_x509

    from .config import Config, Identity

def check_signing(cfg: Config, now: dt.datetime, offline: bool = False,
                  skip: Collection[str] = ()) -> tuple[list[str], list[str], list[str]]:
    """(lines for stdout, problems, warnings) about the signing setup; the identities in
    ``skip`` already failed for another reason (said once)."""
    lines: list[str] = []
    problems: list[str] = []
    warnings: list[str] = []
    try:
        roots_der = read_trust_roots(cfg.signing.trust_roots)
    except ValueError as e:
        return lines, [f"signing.trust_roots: {e}; give the PEM files of the CAs that "
                       "issued the doctors' and the TSA's certificates"], warnings
    levels = sorted({i.level for i in cfg.identities}, key=LEVELS.index)
    said = ("level " if len(levels) == 1 else "levels ") + ", ".join(levels)
    if not roots_der:
        # Allowed at B-B (a trial): said, not warned.
        lines.append(f"signing: {said}; no signing.trust_roots, so signatures are checked "
                     "for integrity only before upload")
    else:
        lines.append(f"signing: {said}; {len(roots_der)} trust "
                     f"root{'s' if len(roots_der) != 1 else ''}")
    if offline or not roots_der:
        return lines, problems, warnings
    from asn1crypto import x509 as asn1_x509

    roots = [asn1_x509.Certificate.load(d) for d in roots_der]
    if cfg.signing.tsa is not None and any(at_least(lv, "B-T") for lv in levels):
        problem = _check_tsa(cfg, roots)
        if problem:
            problems.append(problem)
        else:
            lines.append(f"signing.tsa: {cfg.signing.tsa.url} answers with a trusted timestamp")
    for ident in cfg.identities:
        if ident.pkcs12 is None or ident.manual or ident.provider_code in skip:
            continue  # a token's certificate is judged when the doctor unlocks it
        problem = _check_status(ident, roots, now)
        if problem:
            problems.append(problem)
    return lines, problems, warnings


def _check_tsa(cfg: Config, roots: list[asn1_x509.Certificate]) -> str | None:
    """Ask the TSA for one timestamp and check that it chains to the roots."""
    from pyhanko.sign.timestamps import TimestampRequestError
    from pyhanko.sign.validation.generic_cms import validate_tst_signed_data
    from pyhanko.sign.validation.status import TimestampSignatureStatus
    from pyhanko_certvalidator import ValidationContext

    from .pades import Services
    from .signer import policy_for

    tsa = cfg.signing.tsa
    assert tsa is not None
    try:
        services = Services(policy_for(cfg.signing))  # the very client a worker builds
    except (OSError, ValueError) as e:
        return f"signing.tsa: {e}"
    services.close()
    stamper = services.tsa
    assert stamper is not None
    digest = hashlib.sha256(b"econnector check-config").digest()

    async def probe() -> TimestampSignatureStatus:
        token = await stamper.async_timestamp(digest, "sha256")
        vc = ValidationContext(trust_roots=roots, allow_fetching=True)
        kwargs = await validate_tst_signed_data(token["content"], vc, lambda _md: digest)
        return TimestampSignatureStatus(**kwargs)

    try:
        status = asyncio.run(probe())
    except TimestampRequestError as e:
        cause = e.__cause__ or e
        return (f"signing.tsa.url: tsa-unavailable: the timestamp service {tsa.url} does "
                f"not answer ({str(cause)[:120] or type(cause).__name__}); documents at "
                "B-T and above would wait: check the address and this computer's network")
    except Exception as e:  # a malformed answer: say it, never a traceback
        return f"signing.tsa.url: the timestamp service {tsa.url} gave an unusable answer ({e})"
    if not status.trusted:
        return (f"signing.trust_roots: the timestamps of {tsa.url} do not chain to the trust "
                "roots; add the TSA's root CA to signing.trust_roots")
    return None


def _check_status(ident: Identity, roots: list[asn1_x509.Certificate],
                  now: dt.datetime) -> str | None:
    """The certificate's chain and revocation status, fetched as a worker would."""
    from asn1crypto import x509 as asn1_x509
    from pyhanko_certvalidator import CertificateValidator, ValidationContext
    from pyhanko_certvalidator.errors import (
        InsufficientRevinfoError,
        PathBuildingError,
        PathValidationError,
        RevokedError,
    )

    assert ident.pkcs12 is not None
    try:
        _, cert, extra = pkcs12.load_key_and_certificates(ident.pkcs12.read_bytes(),
                                                          ident.passphrase())
    except (OSError, ValueError, TypeError, KeyError):
        return None  # said by check_identity (locked)
    if cert is None:
        return None
    leaf = asn1_x509.Certificate.load(cert.public_bytes(Encoding.DER))
    others = [asn1_x509.Certificate.load(c.public_bytes(Encoding.DER)) for c in extra]
    lt = at_least(ident.level, "B-LT")
    vc = ValidationContext(trust_roots=roots, other_certs=others, allow_fetching=True,
                           revocation_mode="hard-fail" if lt else "soft-fail", moment=now)
    key = f"identities[{ident.index}]"
    who = f"identity {ident.provider_code} ({ident.name})"

    async def validate() -> None:
        try:
            await CertificateValidator(leaf, intermediate_certs=others,
                                       validation_context=vc).async_validate_path()
        finally:
            await vc.aclose()

    try:
        asyncio.run(validate())
    except RevokedError as e:
        if e.is_ee_cert:
            return (f"{key}.pkcs12: certificate-revoked: the signing certificate of {who} "
                    f"was revoked on {e.revocation_dt:%Y-%m-%d}; econnector does not sign "
                    "with it: install the doctor's new certificate")
        return (f"{key}.pkcs12: a CA certificate above the signing certificate of {who} is "
                "revoked; econnector does not sign with it")
    except InsufficientRevinfoError:
        return (f"{key}: revocation-unavailable: the certificate status service (OCSP/CRL) "
                f"of {who} does not answer; level {ident.level} needs it: check this "
                "computer's network")
    except PathBuildingError:
        return (f"signing.trust_roots: the signing certificate of {who} does not chain to "
                "the trust roots; add its root CA (and intermediate) to signing.trust_roots")
    except PathValidationError as e:
        return f"{key}.pkcs12: the signing certificate of {who} is not valid: {e}"
    return None

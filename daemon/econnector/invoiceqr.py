"""The invoice QR code's reference and payload (docs/invoice-qr.md); pure functions.

Why this shape: the code is printed about 2 cm wide on page 1 of an invoice and read by
a phone or an insurer's scanner. Everything is written in the QR *alphanumeric*
character set (0-9 A-Z space $ % * + - . / :), which packs 5.5 bits per character
instead of 8, so even the longest payload fits version 3 (29 x 29 modules) at
error-correction level M. The reference is base32 (A-Z, 2-7: there is no 0 or 1 to
take for an O or an I when a person reads it aloud), derived from the delivery's
idempotency key, so the receipt, the vault metadata and the code name the same document
without storing anything new. The last character is an ISO 7064 Mod 37,36 check
character (python-stdnum): it catches every single misread character and every swap of
two neighbours.

This module draws nothing (the signing worker does, :mod:`.signworker`) and imports
neither pyHanko nor qrcode at import time: the daemon's main process builds payloads.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Final

from stdnum.iso7064 import mod_37_36

VERSION: Final = "EC1"  # the payload grammar's version; a new grammar gets a new prefix
SEP: Final = "*"
QR_ALPHANUMERIC: Final = frozenset("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:")
MAX_TOTAL_CENTS: Final = 99_999_999_999  # the sidecar's largest total, 999999999.99
MAX_QR_VERSION: Final = 3  # what the longest payload needs at level M (tests check it)
FIELDS: Final = 7  # version, provider, reference, date, cents, paid, check

_KEY = re.compile(r"ec1-([0-9a-f]{48})")
_PROVIDER = re.compile(r"[0-9]{8}")
_REFERENCE = re.compile(r"[A-Z2-7]{4}(?:-[A-Z2-7]{4}){3}")
_DATE = re.compile(r"[0-9]{8}")
_CENTS = re.compile(r"0|[1-9][0-9]{0,10}")
_CHECKED = re.compile(r"[0-9A-Z]")  # what the check character covers


@dataclass(frozen=True)
class Fields:
    """What a payload says."""

    provider_code: str
    reference: str
    issued: date
    total_cents: int
    paid: bool


def reference(idempotency_key: str) -> str:
    """The short reference of one delivery: the first 80 bits of the idempotency key
    (:func:`.vault_client.idempotency_key`, itself a SHA-256) in base32, grouped by
    four for reading, e.g. ``K7QF-2M4X-LA3P-Z3RB``."""
    m = _KEY.fullmatch(idempotency_key)
    if m is None:
        raise ValueError("an idempotency key is 'ec1-' and 48 lowercase hex digits")
    text = base64.b32encode(bytes.fromhex(m.group(1))).decode("ascii")[:16]
    return "-".join(text[i:i + 4] for i in range(0, 16, 4))


def check_character(body: str) -> str:
    """ISO 7064 Mod 37,36 over the letters and digits of ``body`` (separators and the
    reference's hyphens are structure, which :func:`parse` checks by itself)."""
    return mod_37_36.calc_check_digit("".join(_CHECKED.findall(body)))


def payload(provider_code: str, reference: str, issued: date, total_cents: int,
            paid: bool) -> str:
    """``EC1*PROVIDER*REFERENCE*YYYYMMDD*CENTS*PAID*C`` (docs/invoice-qr.md)."""
    if not _PROVIDER.fullmatch(provider_code):
        raise ValueError("the provider code is 8 digits")
    if not _REFERENCE.fullmatch(reference):
        raise ValueError("the reference is four groups of four base32 characters")
    if isinstance(total_cents, bool) or not 0 <= total_cents <= MAX_TOTAL_CENTS:
        raise ValueError(f"the total in cents is between 0 and {MAX_TOTAL_CENTS}")
    body = SEP.join((VERSION, provider_code, reference, issued.strftime("%Y%m%d"),
                     str(total_cents), "1" if paid else "0")) + SEP
    return body + check_character(body)


def parse(text: str) -> Fields:
    """The fields of a payload as scanned; ValueError saying what is wrong (an unknown
    version, a malformed field, or a check character that does not match: a misread)."""
    text = text.strip()  # scanners may add a line end
    parts = text.split(SEP)
    if not parts[0].startswith("EC") or len(parts[0]) < 3:
        raise ValueError("not an econnector invoice code (no EC version prefix)")
    if parts[0] != VERSION:
        raise ValueError(f"unknown payload version {parts[0][:8]!r} (this reads {VERSION})")
    if len(parts) != FIELDS:
        raise ValueError(f"{len(parts)} fields instead of {FIELDS}")
    _, provider, ref, day, cents, paid, check = parts
    for name, value, pattern in (("provider code", provider, _PROVIDER),
                                 ("reference", ref, _REFERENCE), ("issue date", day, _DATE),
                                 ("total in cents", cents, _CENTS)):
        if not pattern.fullmatch(value):
            raise ValueError(f"malformed {name}: {value[:24]!r}")
    if paid not in ("0", "1"):
        raise ValueError(f"malformed paid flag: {paid[:8]!r} (1 or 0)")
    if len(check) != 1 or not _CHECKED.fullmatch(check):
        raise ValueError("malformed check character")
    if check_character(text[:-1]) != check:
        raise ValueError("the check character does not match: the code was misread")
    try:
        issued = date(int(day[:4]), int(day[4:6]), int(day[6:]))
    except ValueError:
        raise ValueError(f"no such issue date: {day}") from None
    return Fields(provider, ref, issued, int(cents), paid == "1")


def from_meta(meta: dict[str, Any], idempotency_key: str) -> tuple[str, str]:
    """The reference and payload of an invoice from its validated sidecar
    (:meth:`.contract.DocumentMeta.canonical`). The issue date is the calendar day
    of ``issued_at`` in its own offset: the day printed on the invoice."""
    if meta.get("type") != "invoice" or not isinstance(meta.get("invoice"), dict):
        raise ValueError("only an invoice carries a QR code")
    invoice = meta["invoice"]
    try:
        cents = Decimal(str(invoice["total"])) * 100
        issued = datetime.fromisoformat(meta["issued_at"]).date()
        provider = meta["author"]["provider_code"]
    except (KeyError, TypeError, InvalidOperation) as e:
        raise ValueError(f"not a validated invoice sidecar: {type(e).__name__}") from None
    if cents != cents.to_integral_value():
        raise ValueError("the total has more than two decimals")
    if type(invoice.get("paid")) is not bool:
        raise ValueError("invoice.paid is true or false")
    ref = reference(idempotency_key)
    return ref, payload(provider, ref, issued, int(cents), invoice["paid"])


def qr_version(text: str) -> int:
    """The smallest QR version that holds ``text`` at level M (what the worker draws)."""
    import qrcode  # only for this and the drawing: not needed to build a payload

    qr = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=0)
    qr.add_data(text)
    qr.make(fit=True)
    return int(qr.version)

"""The Luxembourg national identification number (matricule) of the patient.

Thirteen digits: the birth date ``YYYYMMDD``, a 3-digit serial, a Luhn check
digit over the first 11 digits and a Verhoeff check digit over the same 11
digits. Two independent check digits mean every single mistyped digit and every
swap of two neighbouring digits is caught before a document reaches the wrong
vault.

Birth-date rules (documented in docs/folder-contract.md):

* year 1850 or later;
* month ``00`` when the month is unknown, and then the day must be ``00`` too
  (a day without its month means nothing);
* day ``00`` when only the day is unknown (with a real month 01-12);
* otherwise a real calendar date;
* never after ``today``: with unknown parts, the known part must not be later
  than today's year (and month).

The number is personal data: errors carry no value, and logs use :func:`mask`
(free text: :func:`mask_text`).
"""

from __future__ import annotations

import re
from datetime import date

from stdnum import luhn, verhoeff

from econnector.errors import SidecarError

FIELD = "patient.matricule"
MIN_YEAR = 1850

_MATRICULE = re.compile(r"[0-9]{13}")
_BIRTH = re.compile(r"[0-9]{8}")
_SERIAL = re.compile(r"[0-9]{3}")


def _birth_ok(birth: str, today: date | None) -> bool:
    """Whether ``YYYYMMDD`` (with 00 for unknown parts) is a possible birth date."""
    year, month, day = int(birth[:4]), int(birth[4:6]), int(birth[6:8])
    if year < MIN_YEAR or month > 12:
        return False
    if month == 0:
        return day == 0 and (today is None or year <= today.year)
    if day == 0:
        return today is None or (year, month) <= (today.year, today.month)
    try:
        born = date(year, month, day)
    except ValueError:
        return False
    return today is None or born <= today


def validate(value: object, today: date) -> str:
    """Return ``value`` if it is a valid matricule, else raise a matricule-* SidecarError.

    Checks run in a fixed order (format, date, Luhn, Verhoeff) so a given
    number always gets the same error. No error carries the number itself.
    """
    if not isinstance(value, str) or not _MATRICULE.fullmatch(value):
        raise SidecarError("matricule-format", field=FIELD)
    if not _birth_ok(value[:8], today):
        raise SidecarError("matricule-date", field=FIELD)
    if luhn.calc_check_digit(value[:11]) != value[11]:
        raise SidecarError("matricule-luhn", field=FIELD)
    if verhoeff.calc_check_digit(value[:11]) != value[12]:
        raise SidecarError("matricule-verhoeff", field=FIELD)
    return value


def is_valid(value: object, today: date | None = None) -> bool:
    """Whether ``value`` is a valid matricule; without ``today`` the future check is skipped."""
    if not isinstance(value, str) or not _MATRICULE.fullmatch(value):
        return False
    return (
        _birth_ok(value[:8], today)
        and luhn.calc_check_digit(value[:11]) == value[11]
        and verhoeff.calc_check_digit(value[:11]) == value[12]
    )


def make(birth: str, serial: str) -> str:
    """Build a matricule from ``YYYYMMDD`` and a 3-digit serial, computing both check digits.

    For test data and the demo. Only the shape is checked, not the date, so
    tests can build numbers whose check digits are right but whose date is not.
    """
    if not _BIRTH.fullmatch(birth) or not _SERIAL.fullmatch(serial):
        raise ValueError("birth must be 8 digits (YYYYMMDD) and serial 3 digits")
    base = birth + serial
    return base + luhn.calc_check_digit(base) + verhoeff.calc_check_digit(base)


def mask(matricule: str, *, reveal: bool = True) -> str:
    """The matricule for logs and receipts: birth year and last digit only.

    ``1893120105732`` -> ``1893********2``. Anything that is not 13 digits
    becomes 13 asterisks, so a malformed value never leaks, not even its length.
    ``reveal=False`` gives 13 asterisks always, for text that leaves the process
    (the vault client's errors and its HTTP log lines).
    """
    if reveal and isinstance(matricule, str) and _MATRICULE.fullmatch(matricule):
        return matricule[:4] + "*" * 8 + matricule[12]
    return "*" * 13


# A run of exactly 13 digits inside free text. Two alternatives so that both a
# run of any Unicode digits (``\d``) and an ASCII run next to a non-ASCII digit
# are caught; for plain ASCII text they are the same.
_IN_TEXT = re.compile(r"(?<!\d)\d{13}(?!\d)|(?<![0-9])[0-9]{13}(?![0-9])")


def mask_text(text: str, *, reveal: bool = True) -> str:
    """``text`` with every 13-digit run passed through :func:`mask`.

    The one masker of free text: the log privacy filter (``reveal=True``) and the
    vault client's redaction (``reveal=False``) both call it.
    """
    return _IN_TEXT.sub(lambda m: mask(m[0], reveal=reveal), text)
